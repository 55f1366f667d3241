//! Machines as services and berth's own log, on this host (no systemd as
//! PID 1): `berth start|stop|enable|disable NAME` refuse in one line that
//! says what to run instead, after the name and the image were checked;
//! `--log-level` decides what a real `berth run` logs; `--version`.
//! The verbs' work on a systemd host is checked in the VM tier
//! (tests/vm/checks-services.sh).

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

const VERBS: [&str; 4] = ["start", "stop", "enable", "disable"];

fn name(tag: &str) -> String {
    format!("hs-{tag}-{}", std::process::id())
}

fn berth_out(args: &[&str]) -> Out {
    let mut c = berth();
    c.args(args);
    run_to_end(c, QUICK)
}

/// An image in the machine store, /var/lib/machines, removed on drop (the
/// verbs look there, where berth@.service boots from), with the store when
/// this made it.
struct StoreImage {
    path: PathBuf,
    made_store: bool,
}

impl StoreImage {
    fn new(name: &str) -> StoreImage {
        let store = Path::new("/var/lib/machines");
        let made_store = !store.exists();
        let path = store.join(name);
        fs::create_dir_all(&path).expect("create an image directory in /var/lib/machines");
        StoreImage { path, made_store }
    }
}

impl Drop for StoreImage {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
        if self.made_store {
            // Only when empty: someone else may have put an image there since.
            let _ = fs::remove_dir("/var/lib/machines");
        }
    }
}

#[test]
fn service_verbs_without_systemd_say_what_to_run() {
    require(&[]);
    assert!(
        !Path::new("/run/systemd/system").exists(),
        "this test needs a host whose PID 1 is not systemd; the VM tier (tests/vm.rs) checks a systemd host"
    );
    let n = name("svc");
    let _img = StoreImage::new(&n);
    for verb in VERBS {
        let out = berth_out(&[verb, &n]);
        assert_eq!(out.code(), 1, "berth {verb}\n{}", out.describe());
        assert_one_error_line(&out);
        let want = [format!("berth@{n}.service"), "needs systemd as the host's PID 1".into()];
        for w in want {
            assert!(out.stderr.contains(&w), "berth {verb}: want '{w}'\n{}", out.describe());
        }
        let fix = if verb == "stop" { format!("berth poweroff {n}") } else { format!("berth boot {n}") };
        assert!(out.stderr.contains(&fix), "berth {verb}: want the fix '{fix}'\n{}", out.describe());
        assert!(out.stdout.is_empty(), "berth {verb} printed\n{}", out.describe());
    }
}

#[test]
fn service_verbs_check_name_and_image_first() {
    require(&[]);
    let missing = name("nope");
    for verb in ["start", "enable"] {
        let out = berth_out(&[verb, &missing]);
        assert_eq!(out.code(), 1, "{}", out.describe());
        assert_one_error_line(&out);
        let want = format!("no image '{missing}' in /var/lib/machines");
        assert!(out.stderr.contains(&want), "berth {verb}: want '{want}'\n{}", out.describe());
    }
    for verb in VERBS {
        let out = berth_out(&[verb, "hs_bad"]);
        assert_eq!(out.code(), 1, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains("'hs_bad' is invalid"), "berth {verb} hs_bad\n{}", out.describe());
        // No name at all is a usage error, one line too.
        let out = berth_out(&[verb]);
        assert_eq!(out.code(), 1, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains("NAME"), "berth {verb} without a name\n{}", out.describe());
    }
}

/// `berth OPTS run -D TREE -M NAME -- /bin/true` next to a settings file
/// with a key an untrusted file may not set, which berth warns about.
fn run_logged(opts: &[&str], tag: &str) -> Out {
    let (scratch, tree) = busybox_setup(tag);
    let n = name(tag);
    write_file(&scratch.path(&format!("{n}.nspawn")), "[Exec]\nCapability=CAP_NET_ADMIN\n");
    let mut c = berth();
    c.args(opts).arg("run").arg("-D").arg(&tree).args(["-M", &n, "--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert_clean(&n, &n, &[&tree], None, std::time::Duration::from_secs(5));
    out
}

fn lines_with<'a>(out: &'a Out, level: &str) -> Vec<&'a str> {
    out.stderr.lines().filter(|l| l.split_whitespace().any(|w| w == level)).collect()
}

#[test]
fn log_level_decides_what_a_run_logs() {
    let out = run_logged(&[], "lvl-default");
    assert!(out.stderr.contains("Capability= ignored"), "the warning is shown by default\n{}", out.describe());
    assert!(lines_with(&out, "DEBUG").is_empty(), "no debug lines by default\n{}", out.describe());

    let out = run_logged(&["--log-level=error"], "lvl-error");
    // berth's status lines ("Spawning container ...") are not log events.
    assert!(!out.stderr.contains("ignored"), "--log-level=error hides the warning\n{}", out.describe());
    assert!(lines_with(&out, "WARN").is_empty(), "{}", out.describe());

    let out = run_logged(&["--log-level=debug"], "lvl-debug");
    let debug = lines_with(&out, "DEBUG");
    assert!(debug.len() >= 2, "--log-level=debug shows debug lines\n{}", out.describe());
    assert!(out.stderr.contains("Capability= ignored"), "and the warning\n{}", out.describe());
    assert!(debug.iter().any(|l| l.contains("start{machine=")), "with the start's span\n{}", out.describe());
    // The guest side's last line goes to stderr, not through the console
    // into the guest's output on stdout.
    assert!(debug.iter().any(|l| l.contains(" exec argv=")), "{}", out.describe());
    assert!(out.stdout.is_empty(), "log lines on stdout:\n{}", out.describe());

    // -v is info: the phases' timings, no debug lines; --log-level wins over it.
    let out = run_logged(&["-v"], "lvl-v");
    assert!(!lines_with(&out, "INFO").is_empty() && lines_with(&out, "DEBUG").is_empty(), "{}", out.describe());
    let out = run_logged(&["-vv", "--log-level=warn"], "lvl-vw");
    assert!(lines_with(&out, "INFO").is_empty() && lines_with(&out, "DEBUG").is_empty(), "{}", out.describe());
}

#[test]
fn bad_log_level_and_version() {
    require(&[]);
    let out = berth_out(&["--log-level=loud", "list"]);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("'loud'") && out.stderr.contains("--log-level"), "{}", out.describe());
    // After the verb too (a global option), with run's exit status.
    let out = berth_out(&["run", "--log-level=loud", "-D", "/nonexistent", "--", "/bin/true"]);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);

    let out = berth_out(&["--version"]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert_eq!(out.stdout, format!("berth {}\n", env!("CARGO_PKG_VERSION")), "{}", out.describe());
}
