//! The guest's /proc and /sys views (src/views/): what `free`, `nproc`,
//! `getconf`, /proc/cpuinfo and `uptime` say inside a limited machine,
//! that booted Debian guests still reach `running` with them, that a
//! killed view server is replaced without the guest noticing, and that
//! nothing (FUSE connections, mounts, processes) outlives the machine.

mod common;

use common::*;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static N: AtomicU32 = AtomicU32::new(0);

fn name(tag: &str) -> String {
    format!("hv-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// `berth run -x` of `sh -c SCRIPT` in `tree`, output to a pipe.
fn run(tree: &Path, extra: &[&str], script: &str) -> Out {
    let n = name("run");
    let mut c = berth();
    c.args(["run", "-q", "-x", "-M", &n, "-D"]).arg(tree).args(extra).args(["--", "/bin/sh", "-c", script]);
    c.stdin(std::process::Stdio::null());
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), 0, "berth run {extra:?} -- {script}\n{}", out.describe());
    assert_clean(&n, "", &[tree], None, Duration::from_secs(3));
    out
}

fn host_cpus() -> usize {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    online
        .trim()
        .split(',')
        .map(|r| r.split_once('-').map_or(1, |(a, b)| 1 + b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap()))
        .sum()
}

/// The "Mem:" line of `free -m`: (total, used).
fn free_mem(text: &str, nth: usize) -> (u64, u64) {
    let l = text.lines().filter(|l| l.starts_with("Mem:")).nth(nth).unwrap_or_else(|| panic!("no Mem: line:\n{text}"));
    let f: Vec<u64> = l.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
    (f[0], f[1])
}

#[test]
fn free_shows_the_memory_limit_and_what_the_guest_uses() {
    let bookworm = fixture("bookworm");
    let _l = host_lock_shared();
    // dd's 100 MiB buffer stays filled while the pipe's reader sleeps.
    let script = "free -m; dd if=/dev/zero bs=100M count=1 2>/dev/null | (sleep 2; free -m; cat >/dev/null)";
    // The minbase tree has no procps: the host's (Debian 12's own) goes in.
    let lib = std::fs::canonicalize("/lib/x86_64-linux-gnu/libproc2.so.0")
        .unwrap_or_else(|e| missing(&format!("procps's libproc2.so.0 on the host ({e})")));
    let lib_bind = format!("--bind-ro={}:/usr/lib/x86_64-linux-gnu/libproc2.so.0", lib.display());
    let args = ["--property", "MemoryMax=256M", "--bind-ro=/usr/bin/free", &lib_bind];
    let out = run(&bookworm, &args, script);
    let (total, before) = free_mem(&out.stdout, 0);
    let (total2, during) = free_mem(&out.stdout, 1);
    assert_eq!((total, total2), (256, 256), "free -m in bookworm under MemoryMax=256M\n{}", out.stdout);
    let grew = during as i64 - before as i64;
    assert!((85..=130).contains(&grew), "100 MiB allocated, used grew by {grew} MiB\n{}", out.stdout);

    let busybox = fixture("busybox");
    // busybox free takes the total from sysinfo(2), the rest from the file.
    let script = "head -1 /proc/meminfo; free -m; dd if=/dev/zero bs=100M count=1 2>/dev/null | (sleep 2; free -m; cat >/dev/null)";
    let out = run(&busybox, &["--property", "MemoryMax=256M"], script);
    let first: Vec<&str> = out.stdout.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(first, ["MemTotal:", "262144", "kB"], "busybox\n{}", out.stdout);
    let ((total, before), (_, during)) = (free_mem(&out.stdout, 0), free_mem(&out.stdout, 1));
    assert_eq!(total, 256, "busybox free -m\n{}", out.stdout);
    let grew = during as i64 - before as i64;
    assert!((85..=130).contains(&grew), "busybox: used grew by {grew} MiB\n{}", out.stdout);
}

#[test]
fn cpus_follow_the_cpuset_and_the_quota() {
    let bookworm = fixture("bookworm");
    let _l = host_lock_shared();
    let script = "nproc; getconf _NPROCESSORS_ONLN; grep -c ^processor /proc/cpuinfo";
    let counts = |extra: &[&str]| -> Vec<usize> {
        run(&bookworm, extra, script).stdout.lines().map(|l| l.trim().parse().unwrap()).collect()
    };
    let host = host_cpus();
    assert_eq!(counts(&[]), [host, host, host], "without limits");
    assert_eq!(counts(&["--property", "AllowedCPUs=0"]), [1, 1, 1], "AllowedCPUs=0");
    let quota = counts(&["--property", "CPUQuota=100%"]);
    assert_eq!(quota[1..], [1, 1], "CPUQuota=100%: getconf and cpuinfo (nproc reads the affinity: {})", quota[0]);
    let out = run(&bookworm, &["--property", "CPUQuota=150%"], "cat /sys/devices/system/cpu/online");
    assert_eq!(out.stdout.trim(), if host >= 2 { "0-1" } else { "0" }, "ceil(1.5) CPUs");
}

#[test]
fn uptime_and_btime_count_from_the_machines_start() {
    let busybox = fixture("busybox");
    let _l = host_lock_shared();
    let out = run(&busybox, &[], "sleep 3; cat /proc/uptime; grep ^btime /proc/stat; date +%s");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let up: f64 = lines[0].split_whitespace().next().unwrap().parse().unwrap();
    assert!((2.9..6.0).contains(&up), "uptime of a machine started 3 s ago: {up}");
    let btime: f64 = lines[1].split_whitespace().nth(1).unwrap().parse().unwrap();
    let now: f64 = lines[2].trim().parse().unwrap();
    assert!((btime + up - now).abs() <= 2.0, "btime {btime} + uptime {up} should be now ({now})");
}

fn boots_to_running_with_views(suite: &str) {
    require(&["nsenter", "timeout"]);
    let fx = fixture(suite);
    let _l = host_lock_shared();
    let s = Scratch::new(suite);
    let tree = tree_copy(&s, &fx, suite);
    let n = name(suite);
    let mut c = berth();
    c.args(["boot", "-q", "-M", &n, "--property", "MemoryMax=512M", "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, s.path("boot.log"));
    let pid = wait_guest_init(&mut bg, &n, Duration::from_secs(60));
    wait_running(&mut bg, pid);
    let out = guest_sh(pid, "grep -c ' fuse.berth ' /proc/self/mountinfo; head -1 /proc/meminfo");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first().map(|l| l.trim()), Some("8"), "the views are mounted\n{}", out.describe());
    assert!(lines[1].contains(" 524288 kB"), "{}", out.stdout);
    let _ = guest_sh(pid, "systemctl poweroff");
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "poweroff\n{}", bg.describe());
    assert_clean(&n, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn bookworm_boots_to_running_with_views() {
    boots_to_running_with_views("bookworm");
}

#[test]
fn trixie_boots_to_running_with_views() {
    boots_to_running_with_views("trixie");
}

/// The view servers (berth-views) that are children of `launcher`.
fn servers_of(launcher: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let Some((comm, rest)) = stat.split_once(") ") else { return false };
            comm.ends_with("(berth-views") && rest.split_whitespace().nth(1) == Some(&launcher.to_string())
        })
        .collect()
}

fn memtotal(pid: u32) -> String {
    let out = guest_sh(pid, "head -1 /proc/meminfo");
    assert_eq!(out.code(), 0, "{}", out.describe());
    out.stdout.trim().to_string()
}

#[test]
fn a_killed_view_server_is_replaced_and_reads_go_on() {
    require(&["nsenter", "timeout"]);
    let (s, tree) = busybox_setup("viewkill");
    let _l = host_lock_shared();
    let (a, b) = (name("ka"), name("kb"));
    let props = ["-x", "--property", "MemoryMax=200M"];
    let mut bg_a = spawn_run_ready(&tree, &a, &props, "sleep 1000", s.path("a.log"));
    let mut bg_b = spawn_run_ready(&tree, &b, &props, "sleep 1000", s.path("b.log"));
    let (pa, pb) = (wait_guest_init(&mut bg_a, &a, QUICK), wait_guest_init(&mut bg_b, &b, QUICK));
    let want = "MemTotal:         204800 kB";
    assert_eq!(memtotal(pa), want);
    let servers_b = servers_of(bg_b.pid());
    let old = servers_of(bg_a.pid());
    assert_eq!(old.len(), 1, "one view server per machine");
    signal(old[0], libc::SIGKILL);
    let t = Instant::now();
    assert_eq!(memtotal(pa), want, "the read right after the kill");
    eprintln!("read after the kill took {:?}", t.elapsed());
    let new = servers_of(bg_a.pid());
    assert!(new.len() == 1 && new != old, "a new server: {new:?} (was {old:?})");
    assert_eq!(servers_of(bg_b.pid()), servers_b, "the other machine's server is untouched");
    assert_eq!(memtotal(pb), want);
    for (bg, n) in [(&mut bg_a, &a), (&mut bg_b, &b)] {
        bg.signal(libc::SIGTERM);
        bg.wait(Duration::from_secs(15));
        assert_clean(n, "", &[&tree], None, Duration::from_secs(3));
    }
}

/// The FUSE connection of the guest's views (its device minor, the name
/// of its directory under /sys/fs/fuse/connections).
fn connection(pid: u32) -> String {
    let out = guest_sh(pid, "grep ' /proc/meminfo ' /proc/self/mountinfo");
    let dev = out.stdout.split_whitespace().nth(2).unwrap_or_else(|| panic!("no view mount\n{}", out.describe()));
    dev.split(':').nth(1).unwrap().to_string()
}

fn fusectl() -> TestMount {
    let dir = Path::new("/sys/fs/fuse/connections");
    let mounted = std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(" /sys/fs/fuse/connections ");
    if mounted {
        // Someone else's: leave it; unmounting ours later is harmless too.
        return TestMount::new(&["--bind", "/sys/fs/fuse/connections"], dir);
    }
    TestMount::new(&["-t", "fusectl", "fusectl"], dir)
}

#[test]
fn nothing_is_left_after_exit_or_kill9() {
    require(&["nsenter", "timeout"]);
    let (s, tree) = busybox_setup("viewleak");
    let _l = host_lock_shared();
    let _ctl = fusectl();
    let conns = Path::new("/sys/fs/fuse/connections");
    for kill9 in [false, true] {
        let n = name(if kill9 { "k9" } else { "exit" });
        let mut bg = spawn_run_ready(&tree, &n, &[], "sleep 1000", s.path("l.log"));
        let pid = wait_guest_init(&mut bg, &n, QUICK);
        let conn = connection(pid);
        assert!(conns.join(&conn).exists(), "connection {conn} is listed while the machine runs");
        let server = servers_of(bg.pid());
        assert_eq!(server.len(), 1);
        if kill9 {
            bg.kill9();
        } else {
            bg.signal(libc::SIGTERM);
            bg.wait(Duration::from_secs(15));
        }
        let gone = poll(Duration::from_secs(5), || (!conns.join(&conn).exists()).then_some(()));
        assert!(gone.is_some(), "FUSE connection {conn} left after {}", if kill9 { "kill -9" } else { "exit" });
        assert_clean(&n, "", &[&tree], None, Duration::from_secs(5));
        assert!(!Path::new(&format!("/proc/{}", server[0])).exists(), "view server {} left", server[0]);
    }
}

#[test]
fn proc_views_no_shows_the_kernels_files() {
    let busybox = fixture("busybox");
    let _l = host_lock_shared();
    let out = run(
        &busybox,
        &["--proc-views=no", "--property", "MemoryMax=256M"],
        "head -1 /proc/meminfo; grep -c fuse /proc/self/mountinfo || true",
    );
    let host = std::fs::read_to_string("/proc/meminfo").unwrap();
    assert_eq!(out.stdout.lines().next(), host.lines().next(), "the host's MemTotal");
    assert_eq!(out.stdout.lines().nth(1), Some("0"));
    let mut c = berth();
    c.args(["run", "-q", "--proc-views=maybe", "-D"]).arg(&busybox).args(["--", "true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
}
