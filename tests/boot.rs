//! `berth boot`: exit codes (0 on poweroff/halt, 133 on reboot), shutdown on
//! SIGTERM, --kill-signal, --stop-timeout, init arguments, and real Debian
//! trees (bookworm with systemd 252, trixie with systemd 257) booted to
//! `systemctl is-system-running` = `running` with no failed units.
//!
//! The state of a booted guest is read independently of berth: through
//! `nsenter` into the guest's PID 1, found in the payload cgroup. Every boot
//! uses its own copy of the cached tree (booting writes into it).

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const STOP_LIMIT: Duration = Duration::from_secs(10);
const BOOT_LIMIT: Duration = Duration::from_secs(60);

fn write_init(tree: &Path, script: &str) {
    let init = tree.join("sbin/init");
    let _ = fs::remove_file(&init);
    fs::write(&init, script).unwrap();
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755)).unwrap();
}

// ---------------------------------------------------------------------------
// Small inits from the busybox tree

/// A shell script as init: reports its arguments, pid and environment, then
/// calls reboot(2) through busybox (`-f`: no init to talk to, `-n`: no sync).
fn script_init_ends_with(action: &str, want: i32) {
    let (_s, tree) = busybox_setup("sinit");
    let _l = host_lock_shared();
    write_init(
        &tree,
        &format!(
            "#!/bin/sh\n\
             echo \"init-args:$*\"\n\
             echo \"init-pid:$$\"\n\
             tr '\\0' '\\n' < /proc/1/environ | grep -qx container=berth && echo init-env:ok\n\
             exec /sbin/{action} -n -f\n"
        ),
    );
    let name = unique_name("sinit");
    let mut c = berth();
    c.args(["boot", "-q", "-M", &name, "-D"]).arg(&tree).args(["--", "first", "second"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), want, "`{action} -f` in the guest\n{}", out.describe());
    let text = out.stdout.replace('\r', "");
    for want_line in ["init-args:first second", "init-pid:1", "init-env:ok"] {
        assert!(text.contains(want_line), "no `{want_line}` on the console\n{}", out.describe());
    }
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn guest_poweroff_exits_0() {
    script_init_ends_with("poweroff", 0);
}

#[test]
fn guest_halt_exits_0() {
    script_init_ends_with("halt", 0);
}

#[test]
fn guest_reboot_exits_133() {
    script_init_ends_with("reboot", 133);
}

fn busybox_inittab(tree: &Path, extra: &str) {
    write_file(
        &tree.join("etc/inittab"),
        &format!(
            "::sysinit:/bin/echo busybox-init-up\n\
             ::respawn:/bin/sleep 100000\n\
             ::shutdown:/bin/echo busybox-init-down\n\
             {extra}"
        ),
    );
}

#[test]
fn busybox_init_reboot_exits_133() {
    let (_s, tree) = busybox_setup("bbreboot");
    let _l = host_lock_shared();
    // busybox init reboots on SIGTERM: its shutdown path ends in reboot(2).
    busybox_inittab(&tree, "::once:/bin/sh -c 'sleep 0.3; kill -TERM 1'\n");
    let name = unique_name("bbreboot");
    let mut c = berth();
    c.args(["boot", "-q", "-M", &name, "-D"]).arg(&tree);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), 133, "{}", out.describe());
    assert!(out.stdout.contains("busybox-init-down"), "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn kill_signal_is_sent_on_sigterm() {
    let (s, tree) = busybox_setup("killsig");
    let _l = host_lock_shared();
    // busybox init powers off on SIGUSR2 (and ignores systemd's SIGRTMIN+3).
    busybox_inittab(&tree, "");
    let name = unique_name("killsig");
    let mut c = berth();
    c.args(["boot", "-q", "--kill-signal", "SIGUSR2", "--stop-timeout", "30", "-M", &name, "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, s.path("log"));
    wait_guest_init(&mut bg, &name, QUICK);
    poll(QUICK, || bg.output().contains("busybox-init-up").then_some(()))
        .unwrap_or_else(|| panic!("busybox init did not start\n{}", bg.describe()));
    let t = Instant::now();
    bg.signal(libc::SIGTERM);
    let st = bg.wait(STOP_LIMIT);
    assert_eq!(st.code(), Some(0), "{}", bg.describe());
    assert!(t.elapsed() < Duration::from_secs(8), "took {:?}: was the kill signal sent?", t.elapsed());
    assert!(bg.output().contains("busybox-init-down"), "{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn stop_timeout_kills_an_init_that_ignores_the_request() {
    let (s, tree) = busybox_setup("stoptmo");
    let _l = host_lock_shared();
    write_init(&tree, "#!/bin/sh\ntrap '' HUP INT TERM USR1 USR2 PWR\necho deaf-init-up\nwhile :; do sleep 1; done\n");
    let name = unique_name("stoptmo");
    let mut c = berth();
    c.args(["boot", "-q", "--stop-timeout", "2", "-M", &name, "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, s.path("log"));
    wait_guest_init(&mut bg, &name, QUICK);
    poll(QUICK, || bg.output().contains("deaf-init-up").then_some(()))
        .unwrap_or_else(|| panic!("init did not start\n{}", bg.describe()));
    let t = Instant::now();
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(2 + 4));
    let took = t.elapsed();
    eprintln!("deaf init: berth exited with {st:?} after {took:?}");
    assert!(took >= Duration::from_millis(1500), "killed after {took:?}, before --stop-timeout 2");
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

// ---------------------------------------------------------------------------
// Debian trees with systemd

fn nsenter(pid: u32, args: &[&str], timeout: Duration) -> Out {
    let mut c = Command::new("timeout");
    c.arg("-s").arg("KILL").arg(format!("{}", timeout.as_secs().max(1)));
    c.arg("nsenter").arg("-t").arg(pid.to_string()).args(["-a", "-r", "-w", "--"]).args(args);
    c.stdin(std::process::Stdio::null());
    run_to_end(c, timeout + Duration::from_secs(10))
}

fn start_boot(s: &Scratch, tree: &Path, name: &str, log: &str, notify: Option<&Path>) -> Bg {
    let mut c = berth();
    c.args(["boot", "-q"]);
    if let Some(sock) = notify {
        c.env("NOTIFY_SOCKET", sock);
        c.arg("--notify-ready");
    }
    c.args(["-M", name, "-D"]).arg(tree);
    Bg::spawn(c, s.path(log))
}

fn wait_ready_message(sock: &UnixDatagram, bg: &mut Bg) {
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let end = Instant::now() + BOOT_LIMIT;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            if msg.lines().any(|l| l == "READY=1") {
                return;
            }
            seen.push(msg);
        }
        if let Some(st) = bg.try_status() {
            panic!("berth exited ({st:?}) without READY=1; got {seen:?}\n{}", bg.describe());
        }
        if Instant::now() >= end {
            panic!("no READY=1 on $NOTIFY_SOCKET within {BOOT_LIMIT:?}; got {seen:?}\n{}", bg.describe());
        }
    }
}

fn expect_hostname(pid: u32, name: &str) {
    let out = nsenter(pid, &["cat", "/proc/sys/kernel/hostname"], Duration::from_secs(10));
    assert_eq!(out.stdout.trim(), name, "guest hostname after boot\n{}", out.describe());
}

/// Three boots of one copy of the tree: each reaches `running` with no
/// failed units; the first is stopped by SIGTERM to berth (exit 0 within
/// 10 s) and also checks READY=1 with --notify-ready, the second reboots
/// from inside (exit 133), the third powers off from inside (exit 0).
fn debian_cycle(suite: &str) {
    require(&["nsenter", "timeout"]);
    let fx = fixture(suite);
    let _l = host_lock_shared();
    let s = Scratch::new(suite);
    let tree = tree_copy(&s, &fx, suite);
    let name = unique_name(suite);

    // Boot 1.
    let sock_path = s.path("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    let t0 = Instant::now();
    let mut bg = start_boot(&s, &tree, &name, "boot1.log", Some(&sock_path));
    wait_ready_message(&sock, &mut bg);
    eprintln!("{suite}: READY=1 after {:?}", t0.elapsed());
    let pid = wait_guest_init(&mut bg, &name, BOOT_LIMIT);
    wait_running(&mut bg, pid);
    expect_hostname(pid, &name);
    let t = Instant::now();
    bg.signal(libc::SIGTERM);
    let st = bg.wait(STOP_LIMIT);
    eprintln!("{suite}: stopped after {:?}", t.elapsed());
    assert_eq!(st.code(), Some(0), "SIGTERM to berth must power the guest off\n{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
    drop(bg);

    // Boot 2: the same tree again, then `systemctl reboot` inside.
    let mut bg = start_boot(&s, &tree, &name, "boot2.log", None);
    let pid = wait_guest_init(&mut bg, &name, BOOT_LIMIT);
    wait_running(&mut bg, pid);
    let _ = nsenter(pid, &["systemctl", "reboot"], Duration::from_secs(20));
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(133), "a guest reboot must end berth with 133\n{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
    drop(bg);

    // Boot 3: `systemctl poweroff` inside.
    let mut bg = start_boot(&s, &tree, &name, "boot3.log", None);
    let pid = wait_guest_init(&mut bg, &name, BOOT_LIMIT);
    wait_running(&mut bg, pid);
    let _ = nsenter(pid, &["systemctl", "poweroff"], Duration::from_secs(20));
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "a guest poweroff must end berth with 0\n{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn bookworm_boots_and_stops() {
    debian_cycle("bookworm");
}

#[test]
fn trixie_boots_and_stops() {
    debian_cycle("trixie");
}

#[test]
fn booted_guest_survives_nothing_after_kill9() {
    require(&["nsenter", "timeout"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("bootkill");
    let tree = tree_copy(&s, &fx, "bookworm");
    let name = unique_name("bootkill");
    let mut bg = start_boot(&s, &tree, &name, "boot.log", None);
    let pid = wait_guest_init(&mut bg, &name, BOOT_LIMIT);
    wait_running(&mut bg, pid);
    let guest: Vec<(u32, String)> =
        pids_in_cgroup_tree(&scope_dir(&name).join("payload")).into_iter().map(|p| (p, cmdline(p))).collect();
    assert!(guest.len() >= 3, "a booted guest with only {guest:?}");
    bg.kill9();
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(4));
    let alive: Vec<&(u32, String)> = guest.iter().filter(|(p, cl)| !cl.is_empty() && cmdline(*p) == *cl).collect();
    assert!(alive.is_empty(), "guest processes survived kill -9 of the launcher: {alive:?}");
}
