//! Nothing is left behind on the host: after a normal exit, after a signal,
//! and after `kill -9` of the launcher (given ~3 s): no machine-NAME.scope
//! directory, no new mount in the host's mount table, no process of the
//! guest, no berth process, nothing in /run/berth but the lock directory
//! structure.
//!
//! These tests hold the host lock exclusively, so the whole-host checks (any
//! new mount, any berth process) are not disturbed by parallel tests.

mod common;

use common::*;
use std::time::Duration;

/// A `sleep` argument unique to this call, so the guest's processes can be
/// found on the host by their command line.
fn marker() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("99999.{}{:03}", std::process::id(), n)
}

const KILL9_GRACE: Duration = Duration::from_secs(4);

#[test]
fn clean_after_normal_exit() {
    let (_s, tree) = busybox_setup("leaknorm");
    let _l = host_lock_exclusive();
    for extra in [&[][..], &["--as-pid2"][..]] {
        let snap = MountSnapshot::take();
        let name = unique_name("leaknorm");
        let m = marker();
        // Leave a background process behind when the command exits: the
        // namespace must take it down.
        let out = run_sh(&tree, &name, extra, &format!("sleep {m} & echo started"));
        out.expect_code(0);
        assert_clean(&name, &m, &[&tree], Some(&snap), Duration::from_secs(3));
    }
}

#[test]
fn clean_after_failure_exit() {
    let (_s, tree) = busybox_setup("leakfail");
    let _l = host_lock_exclusive();
    let snap = MountSnapshot::take();
    let name = unique_name("leakfail");
    run_sh(&tree, &name, &[], "exit 9").expect_code(9);
    assert_clean(&name, "", &[&tree], Some(&snap), Duration::from_secs(3));
    let name = unique_name("leakfail");
    let mut c = berth();
    c.args(["run", "-q", "-P", "-M", &name, "-D"]).arg(&tree).args(["--", "/no/such/cmd"]);
    run_to_end(c, QUICK).expect_code(127);
    assert_clean(&name, "", &[&tree], Some(&snap), Duration::from_secs(3));
}

fn start_sleeper(s: &Scratch, tree: &std::path::Path, name: &str, m: &str, extra: &[&str]) -> Bg {
    let bg = spawn_run_ready(tree, name, extra, &format!("sleep {m} & sleep {m}; :"), s.path(&format!("{name}.log")));
    // Both sleeps are up.
    let up = poll(QUICK, || (leftover_processes(name, m).len() >= 2).then_some(()));
    assert!(up.is_some(), "guest processes never appeared\n{}", bg.describe());
    bg
}

#[test]
fn clean_after_sigterm() {
    let (s, tree) = busybox_setup("leakterm");
    let _l = host_lock_exclusive();
    let snap = MountSnapshot::take();
    let name = unique_name("leakterm");
    let m = marker();
    let mut bg = start_sleeper(&s, &tree, &name, &m, &["--as-pid2"]);
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(10));
    assert!(st.code().is_some_and(|c| c != 0), "{st:?}\n{}", bg.describe());
    assert_clean(&name, &m, &[&tree], Some(&snap), Duration::from_secs(3));
}

#[test]
fn clean_after_kill9_of_launcher() {
    let (s, tree) = busybox_setup("leakkill");
    let _l = host_lock_exclusive();
    for extra in [&[][..], &["--as-pid2"][..]] {
        let snap = MountSnapshot::take();
        let name = unique_name("leakkill");
        let m = marker();
        let mut bg = start_sleeper(&s, &tree, &name, &m, extra);
        bg.kill9();
        assert_clean(&name, &m, &[&tree], Some(&snap), KILL9_GRACE);
        // And the machine name and tree are usable again right away.
        run_sh(&tree, &name, extra, "true").expect_code(0);
        assert_clean(&name, &m, &[&tree], Some(&snap), Duration::from_secs(3));
    }
}

#[test]
fn clean_after_kill9_during_setup() {
    let (s, tree) = busybox_setup("leakearly");
    let _l = host_lock_exclusive();
    // Kill the launcher at a few points early in its life; whatever it had
    // set up by then must go away.
    for delay_ms in [0u64, 2, 5, 10, 20, 40] {
        let snap = MountSnapshot::take();
        let name = unique_name("leakearly");
        let m = marker();
        let mut c = berth();
        c.args(["run", "-q", "-P", "-M", &name, "-D"]).arg(&tree);
        c.args(["--", "/bin/sh", "-c", &format!("sleep {m}; :")]);
        let mut bg = Bg::spawn(c, s.path(&format!("{name}.log")));
        std::thread::sleep(Duration::from_millis(delay_ms));
        bg.kill9();
        assert_clean(&name, &m, &[&tree], Some(&snap), KILL9_GRACE);
    }
    // The tree and names still work.
    let name = unique_name("leakearly");
    run_sh(&tree, &name, &[], "true").expect_code(0);
}
