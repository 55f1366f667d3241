//! Throw-away machines: -x leaves the tree exactly as it was, several run
//! side by side, read-only trees work, every --volatile mode boots Debian
//! as far as nspawn does, and failures are clear and leave nothing behind.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Waits for the watcher, which removes a machine's layers once its
/// launcher has exited.
fn layers_gone(name_prefix: &str) -> bool {
    poll(Duration::from_secs(5), || layers_of(name_prefix).is_empty().then_some(())).is_some()
}

fn layers_of(name_prefix: &str) -> Vec<PathBuf> {
    fs::read_dir("/var/tmp/berth-layers")
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().contains(name_prefix)).collect())
        .unwrap_or_default()
}

const VANDAL: &str = "echo new > /etc/berth-new; rm -f /etc/hostname /usr/bin/cmp; chmod 700 /usr/bin; \
                      chown 1234 /etc/passwd; touch -d 2001-01-01 /etc/os-release; mkdir -p /opt/x/y; \
                      rm -rf /usr/share/doc; echo changed >> /etc/issue; echo done";

#[test]
fn ephemeral_run_and_boot_leave_the_tree_identical() {
    require(&["nsenter", "timeout", "sha256sum"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("xident");
    let tree = tree_copy(&s, &fx, "bookworm");
    let before = fingerprint(&tree);
    let name = unique_name("xrun");
    let out = run_sh(&tree, &name, &["-x"], VANDAL);
    out.expect_code(0);
    assert!(out.stdout.contains("done"), "{}", out.describe());
    assert_same_tree(&before, &fingerprint(&tree), "an ephemeral run");

    let name = unique_name("xboot");
    let mut c = berth();
    c.args(["boot", "-q", "-x", "--console=passive", "-M", &name, "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, s.path("boot.log"));
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(60));
    let mut c = Command::new("timeout");
    c.args(["-s", "KILL", "60", "nsenter", "-t", &pid.to_string(), "-a", "-r", "-w", "--", "sh", "-c"]);
    c.arg(format!(
        "until systemctl is-system-running --wait 2>/dev/null | grep -qx running; do sleep 0.3; done; echo running; {VANDAL}"
    ));
    let out = run_to_end(c, Duration::from_secs(70));
    assert!(out.stdout.contains("running") && out.stdout.contains("done"), "{}", out.describe());
    bg.signal(libc::SIGTERM);
    assert_eq!(bg.wait(Duration::from_secs(15)).code(), Some(0), "{}", bg.describe());
    assert_same_tree(&before, &fingerprint(&tree), "an ephemeral boot");
    assert!(layers_gone(&name), "the layer is removed at exit");
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn two_ephemeral_machines_of_one_tree_run_side_by_side() {
    let (s, tree) = busybox_setup("xtwo");
    let spawn = |tag: &str| {
        let mut c = berth();
        c.args(["run", "-P", "-x", "--stop-timeout", "1", "-D"]).arg(&tree).args([
            "--",
            "sh",
            "-c",
            &format!("echo {tag} > /who; hostname; sleep 2; cat /who"),
        ]);
        Bg::spawn(c, s.path(&format!("{tag}.log")))
    };
    let mut a = spawn("first");
    let mut b = spawn("second");
    for (bg, tag) in [(&mut a, "first"), (&mut b, "second")] {
        let st = bg.wait(Duration::from_secs(20));
        assert_eq!(st.code(), Some(0), "{}", bg.describe());
        let out = bg.output();
        assert!(out.contains(tag), "each machine sees its own changes\n{out}");
    }
    let host = |bg: &Bg| bg.output().lines().find(|l| l.starts_with("tree-")).map(str::to_string);
    let (ha, hb) = (host(&a), host(&b));
    assert!(ha.is_some() && hb.is_some() && ha != hb, "names get distinct random suffixes: {ha:?} {hb:?}");
    assert!(!tree.join("who").exists());
}

#[test]
fn ephemeral_works_on_immutable_and_read_only_trees() {
    let (s, tree) = busybox_setup("xro");
    // Marked read-only the way the image store marks directory trees.
    let st = Command::new("chattr").arg("+i").arg(&tree).status();
    if !matches!(st, Ok(s) if s.success()) {
        skip("chattr-immutable", "the filesystem of /var/tmp has no immutable flag (chattr +i fails)");
        return;
    }
    let out = run_sh(&tree, &unique_name("ximm"), &["-x"], "touch /made && echo ok");
    let _ = Command::new("chattr").arg("-i").arg(&tree).status();
    out.expect_code(0);
    assert!(out.stdout.contains("ok"), "{}", out.describe());
    assert!(!tree.join("made").exists());

    // The tree on a read-only mount.
    let ro = s.path("ro");
    fs::create_dir(&ro).unwrap();
    let bind = TestMount::new(&["--bind", &tree.display().to_string()], &ro);
    assert!(Command::new("mount").args(["-o", "remount,ro,bind"]).arg(&ro).status().unwrap().success());
    let out = run_sh(&ro, &unique_name("xrofs"), &["-x"], "touch /made && echo ok");
    drop(bind);
    out.expect_code(0);
    assert!(out.stdout.contains("ok"), "{}", out.describe());
}

/// Boots with `--volatile=MODE` under berth (default user namespace) and
/// under nspawn (-U is impossible for nspawn on this host) and returns how
/// far each got.
fn boot_state(tree: &Path, s: &Scratch, mode: &str, nspawn: bool) -> String {
    let name = unique_name(&format!("vol{mode}"));
    let mut c = if nspawn {
        let mut c = Command::new("systemd-nspawn");
        c.args(["-q", "--register=no", "--keep-unit", "--console=passive", "-b", "-M", &name]);
        c
    } else {
        let mut c = berth();
        c.args(["boot", "-q", "--console=passive", "-M", &name]);
        c
    };
    c.stdin(std::process::Stdio::null());
    c.arg(format!("--volatile={mode}")).arg("-D").arg(tree).args(["--", "systemd.firstboot=off"]);
    let mut bg = Bg::spawn(c, s.path(&format!("{name}.log")));
    let pid = if nspawn {
        // nspawn's guest PID 1 is the child of nspawn's own pid.
        poll(Duration::from_secs(30), || {
            let kids = fs::read_to_string(format!("/proc/{}/task/{}/children", bg.pid(), bg.pid())).ok()?;
            kids.split_whitespace().next()?.parse::<u32>().ok()
        })
        .expect("nspawn's guest")
    } else {
        wait_guest_init(&mut bg, &name, Duration::from_secs(60))
    };
    let end = Instant::now() + Duration::from_secs(60);
    let mut state = String::new();
    while Instant::now() < end {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", "30", "nsenter", "-t", &pid.to_string(), "-a", "-r", "-w", "--"]);
        c.args(["systemctl", "is-system-running", "--wait"]);
        state = run_to_end(c, Duration::from_secs(40)).stdout.trim().to_string();
        if matches!(state.as_str(), "running" | "degraded") {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    bg.signal(libc::SIGTERM);
    bg.wait(Duration::from_secs(20));
    state
}

#[test]
fn every_volatile_mode_boots_as_far_as_nspawn() {
    require(&["nsenter", "timeout", "systemd-nspawn"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("vol");
    let tree = tree_copy(&s, &fx, "bookworm");
    for mode in ["yes", "state", "overlay"] {
        let nspawn = boot_state(&tree, &s, mode, true);
        let ours = boot_state(&tree, &s, mode, false);
        eprintln!(
            "--volatile={mode}: berth (user namespace) reached {ours:?}, systemd-nspawn (no user namespace) {nspawn:?}"
        );
        assert_eq!(ours, "running", "--volatile={mode} under berth (nspawn: {nspawn:?})");
    }
}

#[test]
fn overlay_and_template_options() {
    let (s, tree) = busybox_setup("xovl");
    let (lo1, lo2, up) = (s.path("lo1"), s.path("lo2"), s.path("up"));
    for d in [&lo1, &lo2, &up] {
        fs::create_dir(d).unwrap();
    }
    fs::write(lo1.join("a"), "from-lo1").unwrap();
    fs::write(lo2.join("b"), "from-lo2").unwrap();
    let spec = format!("{}:{}:{}:/mnt/ovl", lo1.display(), lo2.display(), up.display());
    let ro = format!("{}:{}:/mnt/ro", lo1.display(), lo2.display());
    let tmp_upper = format!("{}:{}::/mnt/t", lo1.display(), lo2.display());
    // A disk upper is written with the guest's ids, so a guest root that
    // maps to host root (-U no) owns this one.
    let out = run_sh(
        &tree,
        &unique_name("xovl"),
        &["-U", "no", "--overlay", &spec],
        "cat /mnt/ovl/a /mnt/ovl/b; echo w > /mnt/ovl/c && echo wrote",
    );
    out.expect_code(0);
    assert!(
        out.stdout.contains("from-lo1") && out.stdout.contains("from-lo2") && out.stdout.contains("wrote"),
        "{}",
        out.describe()
    );
    assert_eq!(fs::read_to_string(up.join("c")).unwrap().trim(), "w", "writes land in the upper directory");
    assert!(!lo1.join("c").exists() && !lo2.join("c").exists());
    // Under the default user namespace: a tmpfs upper the guest owns, and
    // a read-only overlay.
    let out = run_sh(
        &tree,
        &unique_name("xovl"),
        &["--overlay", &tmp_upper, "--overlay-ro", &ro],
        "cat /mnt/t/a; echo w > /mnt/t/d && echo wrote; touch /mnt/ro/x 2>/dev/null || echo ro-ok",
    );
    out.expect_code(0);
    assert!(
        out.stdout.contains("from-lo1") && out.stdout.contains("wrote") && out.stdout.contains("ro-ok"),
        "{}",
        out.describe()
    );
    assert!(!lo1.join("d").exists() && !lo2.join("d").exists() && !up.join("d").exists());
    // Under the default user namespace, a fresh empty disk upper is handed
    // to the guest's ids: its root writes there, shifted ids on disk.
    let up2 = s.path("up2");
    fs::create_dir(&up2).unwrap();
    let spec2 = format!("{}:{}:/mnt/ovl2", lo1.display(), up2.display());
    let out = run_default(&tree, &unique_name("xovl"), &["--overlay", &spec2], "echo w > /mnt/ovl2/e && echo wrote");
    out.expect_code(0);
    assert!(out.stdout.contains("wrote"), "the guest's root cannot write its disk upper\n{}", out.describe());
    let uid = std::os::unix::fs::MetadataExt::uid(&fs::metadata(up2.join("e")).unwrap());
    assert_ne!(uid, 0, "written with the guest's shifted ids");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&fs::metadata(&up2).unwrap()), uid);
    let strays: Vec<_> = fs::read_dir(&s.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".#berth-work"))
        .collect();
    assert!(strays.is_empty(), "overlay work directories are removed");

    // --template creates a missing tree as a copy.
    let made = s.path("from-template");
    let out = run_to_end(
        {
            let mut c = berth();
            c.args(["run", "-q", "-P", "-M", &unique_name("tmpl"), "--template"]).arg(&tree).arg("-D").arg(&made);
            c.args(["--", "cat", "/etc/os-release"]);
            c
        },
        QUICK,
    );
    out.expect_code(0);
    assert!(made.join("bin/busybox").exists(), "the tree was created from the template");
}

#[test]
fn failures_are_clear_and_leave_nothing() {
    let (s, tree) = busybox_setup("xfail");
    let expect_fail = |extra: &[&str], tree: &Path, needle: &str| {
        let name = unique_name("xfail");
        let mut c = berth();
        c.args(["run", "-q", "-P", "-M", &name]).args(extra).arg("-D").arg(tree).args(["--", "true"]);
        let out = run_to_end(c, QUICK);
        assert_eq!(out.code(), 125, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains(needle), "want {needle:?}\n{}", out.describe());
        assert!(layers_gone(&name), "no layer left\n{}", out.describe());
        // The stacked-overlay tree is itself a mount the test made.
        let watched: Vec<&Path> = if extra.contains(&"-U") { vec![] } else { vec![tree] };
        assert_clean(&name, "", &watched, None, Duration::from_secs(3));
    };
    // Upper layer on a read-only filesystem, and on a full one.
    let ro = s.path("ro-upper");
    fs::create_dir(&ro).unwrap();
    let ro_mount = TestMount::new(&["-t", "tmpfs", "-o", "ro", "tmpfs"], &ro);
    expect_fail(&["-x", &format!("--layer-dir={}", ro.display())], &tree, "writable layer");
    drop(ro_mount);
    let full = s.path("full-upper");
    fs::create_dir(&full).unwrap();
    let full_mount = TestMount::new(&["-t", "tmpfs", "-o", "nr_inodes=1", "tmpfs"], &full);
    expect_fail(&["-x", &format!("--layer-dir={}", full.display())], &tree, "writable layer");
    drop(full_mount);
    // -x with chown ownership.
    expect_fail(&["-x", "--private-users-ownership=chown"], &tree, "copy up every file");
    // A tree overlayfs cannot stack on (already two overlays deep).
    let (a, b, w1, w2, u1, u2) = (s.path("a"), s.path("b"), s.path("w1"), s.path("w2"), s.path("u1"), s.path("u2"));
    for d in [&a, &b, &w1, &w2, &u1, &u2] {
        fs::create_dir(d).unwrap();
    }
    let ovl = |lower: &Path, upper: &Path, work: &Path, at: &Path| {
        let o = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
        TestMount::new(&["-t", "overlay", "overlay", "-o", &o], at)
    };
    let _first = ovl(&tree, &u1, &w1, &a);
    let _second = ovl(&a, &u2, &w2, &b);
    expect_fail(&["-x", "-U", "no"], &b, "overlay");
}

#[test]
fn kill9_mid_run_leaves_no_layer_and_stale_layers_are_swept() {
    let (s, tree) = busybox_setup("xkill");
    let snap = MountSnapshot::take();
    let name = unique_name("xkill");
    let mut c = berth();
    c.args(["run", "-q", "-P", "-x", "-M", &name, "-D"]).arg(&tree).args(["--", "sleep", "60"]);
    let mut bg = Bg::spawn(c, s.path("k.log"));
    poll(Duration::from_secs(10), || (!layers_of(&name).is_empty()).then_some(())).expect("a layer while running");
    bg.kill9();
    assert_clean(&name, "", &[&tree], Some(&snap), Duration::from_secs(5));
    assert!(layers_gone(&name), "the watcher removes the layer of a killed launcher");
    // A layer nobody recorded (a launcher killed before it could) is swept
    // by the next start.
    let stale_name = unique_name("xstale");
    let stale = Path::new("/var/tmp/berth-layers").join(format!("{stale_name}.deadbeef"));
    fs::create_dir_all(stale.join("upper")).unwrap();
    run_sh(&tree, &unique_name("xnext"), &["-x"], "true").expect_code(0);
    assert!(!stale.exists(), "the next start sweeps stale layers");
}

const SYNC_PROBE: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    struct timespec a, b;
    int bad = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int fd = open("/var/sync-storm", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < 1000; i++) {
        if (write(fd, buf, sizeof buf) != sizeof buf) bad++;
        if (fsync(fd) != 0) bad++;
        if (fdatasync(fd) != 0) bad++;
    }
    sync();
    if (syncfs(fd) != 0) bad++;
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    int s = open("/var/osync", O_WRONLY | O_CREAT | O_SYNC, 0644);
    printf("ms=%ld\nfailures=%d\nosync=%s\n", ms, bad, s >= 0 ? "ok" : strerror(errno));
    /* The kernel refuses to fsync a pipe; a suppressed fsync never asks it. */
    int p[2];
    if (pipe(p) != 0) return 1;
    int r = fsync(p[1]);
    printf("pipe_fsync=%s\n", r == 0 ? "ok" : strerror(errno));
    return 0;
}
"#;

#[test]
fn suppress_sync_is_observable() {
    let (s, tree) = busybox_setup("xsync");
    let probe = tree.join("sync-probe");
    gcc_static(SYNC_PROBE, &probe, &[]);
    let run = |extra: &[&str]| {
        let mut c = berth();
        c.args(["run", "-q", "-P", "-x", "--layer-dir"]).arg(&s.dir).args(["-M", &unique_name("xsync")]);
        c.args(extra).arg("-D").arg(&tree).arg("--").arg("/sync-probe");
        let out = run_to_end(c, Duration::from_secs(120));
        out.expect_code(0);
        out
    };
    let normal = run(&[]);
    let fast = run(&["--suppress-sync"]);
    let ms = |o: &Out| o.get("ms").parse::<u64>().unwrap();
    eprintln!("1000 x (write+fsync+fdatasync): {} ms syncing, {} ms with --suppress-sync", ms(&normal), ms(&fast));
    assert_eq!(normal.get("failures"), "0", "{}", normal.describe());
    assert_eq!(fast.get("failures"), "0", "the sync calls still return success\n{}", fast.describe());
    assert_eq!(normal.get("osync"), "ok", "{}", normal.describe());
    assert_eq!(fast.get("osync"), "Invalid argument", "O_SYNC opens fail as under nspawn\n{}", fast.describe());
    // Proof that the kernel's fsync never ran (timings belong in benches/).
    assert_eq!(normal.get("pipe_fsync"), "Invalid argument", "{}", normal.describe());
    assert_eq!(fast.get("pipe_fsync"), "ok", "fsync reached the kernel under --suppress-sync\n{}", fast.describe());
}
