//! Bad input and contention: each failure exits non-zero (1 for boot, 125 for
//! run), prints exactly one `berth: ` line on stderr, and leaves nothing
//! behind (no scope dir, no mounts, no processes, nothing in /run/berth but
//! the lock directory structure).

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

const BOOT_FAIL: i32 = 1;
const RUN_FAIL: i32 = 125;

fn berth_args(args: &[&str], dir: Option<&Path>) -> Out {
    let mut c = berth();
    c.args(args);
    if let Some(d) = dir {
        c.arg("-D").arg(d);
    }
    run_to_end(c, QUICK)
}

/// Runs `berth run ... -- /bin/true` and `berth boot ...` with the given
/// options and tree; both must fail cleanly.
fn both_fail(opts: &[&str], dir: Option<&Path>, name_for_cleanup: &str, what: &str) {
    let mut run = vec!["run"];
    run.extend_from_slice(opts);
    let mut out = {
        let mut c = berth();
        c.args(run);
        if let Some(d) = dir {
            c.arg("-D").arg(d);
        }
        c.args(["--", "/bin/true"]);
        run_to_end(c, QUICK)
    };
    assert_eq!(out.code(), RUN_FAIL, "run with {what}: want exit {RUN_FAIL}\n{}", out.describe());
    assert_one_error_line(&out);
    let paths: Vec<&Path> = dir.into_iter().collect();
    assert_clean(name_for_cleanup, "", &paths, None, Duration::from_secs(3));

    let mut boot = vec!["boot"];
    boot.extend_from_slice(opts);
    out = berth_args(&boot, dir);
    assert_eq!(out.code(), BOOT_FAIL, "boot with {what}: want exit {BOOT_FAIL}\n{}", out.describe());
    assert_one_error_line(&out);
    assert_clean(name_for_cleanup, "", &paths, None, Duration::from_secs(3));
}

#[test]
fn missing_tree() {
    require(&[]);
    let _l = host_lock_shared();
    let scratch = Scratch::new("missing");
    let dir = scratch.path("does-not-exist");
    let name = unique_name("missing");
    both_fail(&["-M", &name], Some(&dir), &name, "a missing directory");
    assert!(!dir.exists(), "berth created the missing tree directory");
}

#[test]
fn missing_image_name() {
    require(&[]);
    let _l = host_lock_shared();
    let name = unique_name("noimage");
    // NAME alone means /var/lib/machines/NAME, which does not exist.
    let out = berth_args(&["run", "-q", &name, "--", "/bin/true"], None);
    assert_eq!(out.code(), RUN_FAIL, "{}", out.describe());
    assert_one_error_line(&out);
    let out = berth_args(&["boot", "-q", &name], None);
    assert_eq!(out.code(), BOOT_FAIL, "{}", out.describe());
    assert_one_error_line(&out);
    assert_clean(&name, "", &[], None, Duration::from_secs(3));
    assert!(!Path::new("/var/lib/machines").join(&name).exists());
}

#[test]
fn tree_is_a_file() {
    require(&[]);
    let _l = host_lock_shared();
    let scratch = Scratch::new("file");
    let f = scratch.path("not-a-dir");
    fs::write(&f, "x").unwrap();
    let name = unique_name("file");
    both_fail(&["-M", &name], Some(&f), &name, "a regular file as the tree");
}

#[test]
fn boot_without_init() {
    let (_s, tree) = busybox_setup("noinit");
    let _l = host_lock_shared();
    fs::remove_file(tree.join("sbin/init")).unwrap();
    let name = unique_name("noinit");
    let mut c = berth();
    c.args(["boot", "-M", &name, "-D"]).arg(&tree);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), BOOT_FAIL, "boot of a tree without an init\n{}", out.describe());
    assert_one_error_line(&out);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn bad_machine_names() {
    let (_s, tree) = busybox_setup("badname");
    let _l = host_lock_shared();
    let long = "a".repeat(65);
    for bad in ["a_b", "a..b", "-ab", "ab-", long.as_str(), ".host"] {
        let opt = format!("--machine={bad}");
        both_fail(&[&opt], Some(&tree), bad, &format!("machine name {bad:?}"));
    }
}

#[test]
fn run_without_command() {
    let (_s, tree) = busybox_setup("nocmd");
    let _l = host_lock_shared();
    let name = unique_name("nocmd");
    let mut c = berth();
    c.args(["run", "-M", &name, "-D"]).arg(&tree);
    let out = run_to_end(c, QUICK);
    assert_ne!(out.code(), 0, "{}", out.describe());
    assert!(!out.stderr.trim().is_empty(), "no error message\n{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn unknown_option() {
    let (_s, tree) = busybox_setup("badopt");
    let _l = host_lock_shared();
    let name = unique_name("badopt");
    let mut c = berth();
    c.args(["run", "--no-such-option", "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), RUN_FAIL, "a usage error is berth's own failure\n{}", out.describe());
    let mut c = berth();
    c.args(["boot", "--no-such-option", "-M", &name, "-D"]).arg(&tree);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), BOOT_FAIL, "a usage error is berth's own failure\n{}", out.describe());
}

#[test]
fn bad_option_values() {
    let (_s, tree) = busybox_setup("badval");
    let _l = host_lock_shared();
    let cases: &[&[&str]] = &[
        &["--bind", "/nonexistent/berth-test-src:/mnt"],
        &["--bind-ro", "/nonexistent/berth-test-src"],
        &["--uuid", "not-a-uuid"],
        &["--kill-signal", "SIGNOPE"],
        &["-E", "NOEQUALSSIGN"],
        &["--chdir", "relative"],
    ];
    for opts in cases {
        let name = unique_name("badval");
        let mut all = vec!["-M", name.as_str()];
        all.extend_from_slice(opts);
        both_fail(&all, Some(&tree), &name, &format!("{opts:?}"));
    }
}

fn sleeper(tree: &Path, name: &str, extra: &[&str], log: std::path::PathBuf) -> Bg {
    let mut all = vec!["--as-pid2"];
    all.extend_from_slice(extra);
    spawn_run_ready(tree, name, &all, "exec /bin/sleep 1000", log)
}

fn stop(bg: &mut Bg) {
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(143), "{}", bg.describe());
}

#[test]
fn machine_name_in_use() {
    let (s, tree) = busybox_setup("nameuse");
    let _l = host_lock_shared();
    let other = tree_copy(&s, &fixture("busybox"), "other");
    let name = unique_name("nameuse");
    let mut bg = sleeper(&tree, &name, &[], s.path("log"));

    let mut c = berth();
    c.args(["run", "-M", &name, "-D"]).arg(&other).args(["--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), RUN_FAIL, "second run with a machine name in use\n{}", out.describe());
    assert_one_error_line(&out);
    let mut c = berth();
    c.args(["boot", "-M", &name, "-D"]).arg(&other);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), BOOT_FAIL, "boot with a machine name in use\n{}", out.describe());
    assert_one_error_line(&out);

    // The first machine is unharmed.
    assert!(bg.try_status().is_none(), "the running machine died\n{}", bg.describe());
    assert!(scope_dir(&name).join("payload").exists(), "the running machine lost its scope");
    assert!(mounts_mentioning("", &[&other]).is_empty(), "mounts left for the refused tree");
    stop(&mut bg);
    assert_clean(&name, "", &[&tree, &other], None, Duration::from_secs(3));
}

#[test]
fn tree_in_use() {
    let (s, tree) = busybox_setup("treeuse");
    let _l = host_lock_shared();
    let first = unique_name("treeuse");
    let mut bg = sleeper(&tree, &first, &[], s.path("log"));

    let second = unique_name("treeuse");
    let mut c = berth();
    c.args(["run", "-M", &second, "-D"]).arg(&tree).args(["--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), RUN_FAIL, "second writable run of a tree in use\n{}", out.describe());
    assert_one_error_line(&out);
    assert_clean(&second, "", &[], None, Duration::from_secs(3));

    let third = unique_name("treeuse");
    let mut c = berth();
    c.args(["boot", "-M", &third, "-D"]).arg(&tree);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), BOOT_FAIL, "boot of a tree in use\n{}", out.describe());
    assert_one_error_line(&out);
    assert_clean(&third, "", &[], None, Duration::from_secs(3));

    // A read-only user of a tree that is in use read-write is refused too.
    let fourth = unique_name("treeuse");
    let mut c = berth();
    c.args(["run", "--read-only", "-M", &fourth, "-D"]).arg(&tree).args(["--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), RUN_FAIL, "read-only run of a tree in use read-write\n{}", out.describe());
    assert_one_error_line(&out);

    assert!(bg.try_status().is_none(), "the running machine died\n{}", bg.describe());
    stop(&mut bg);
    assert_clean(&first, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn read_only_tree_can_be_shared() {
    let (s, tree) = busybox_setup("roshare");
    let _l = host_lock_shared();
    // Like nspawn, --read-only takes the tree's lock shared: two read-only
    // machines may use one tree; a writable one may not join them.
    let first = unique_name("roshare");
    let mut bg = sleeper(&tree, &first, &["--read-only"], s.path("log"));
    let second = unique_name("roshare");
    let out = run_sh(&tree, &second, &["--read-only"], "echo shared");
    out.expect_code(0);
    let third = unique_name("roshare");
    let mut c = berth();
    c.args(["run", "-M", &third, "-D"]).arg(&tree).args(["--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), RUN_FAIL, "writable run of a tree in use read-only\n{}", out.describe());
    assert_one_error_line(&out);
    stop(&mut bg);
    assert_clean(&first, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn locks_are_released_after_exit() {
    let (_s, tree) = busybox_setup("relock");
    let _l = host_lock_shared();
    let name = unique_name("relock");
    for _ in 0..3 {
        run_sh(&tree, &name, &[], "true").expect_code(0);
    }
    // Also after a failure inside the guest.
    run_sh(&tree, &name, &[], "exit 7").expect_code(7);
    run_sh(&tree, &name, &[], "true").expect_code(0);
}
