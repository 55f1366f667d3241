//! `berth run`: exit codes, PID 1 / --as-pid2, signal forwarding, reaping,
//! stdio in pipe mode. Real namespaces, the busybox fixture, as root.

mod common;

use common::*;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

fn run_cmd(tree: &std::path::Path, name: &str, extra: &[&str], cmd: &[&str]) -> Out {
    let mut c = berth();
    c.arg("run").arg("-D").arg(tree).arg("-M").arg(name).arg("-q").arg("-P");
    c.args(extra).arg("--").args(cmd);
    run_to_end(c, QUICK)
}

#[test]
fn exit_zero() {
    let (_s, tree) = busybox_setup("exit0");
    let _l = host_lock_shared();
    let name = unique_name("exit0");
    run_cmd(&tree, &name, &[], &["/bin/true"]).expect_code(0);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn exit_status_is_propagated() {
    let (_s, tree) = busybox_setup("exit3");
    let _l = host_lock_shared();
    for (script, want) in [("exit 3", 3), ("exit 1", 1), ("exit 200", 200), ("/bin/false", 1)] {
        let name = unique_name("exit3");
        run_sh(&tree, &name, &[], script).expect_code(want);
        let name = unique_name("exit3");
        run_sh(&tree, &name, &["--as-pid2"], script).expect_code(want);
    }
}

#[test]
fn not_executable_is_126() {
    let (_s, tree) = busybox_setup("e126");
    let _l = host_lock_shared();
    // /bin/not-executable is a mode-0644 script in the fixture; /tmp is a directory.
    for cmd in ["/bin/not-executable", "/tmp"] {
        for extra in [&[][..], &["--as-pid2"][..]] {
            let name = unique_name("e126");
            let out = run_cmd(&tree, &name, extra, &[cmd]);
            out.expect_code(126);
            assert_one_error_line(&out);
            assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
        }
    }
}

#[test]
fn missing_command_is_127() {
    let (_s, tree) = busybox_setup("e127");
    let _l = host_lock_shared();
    for cmd in ["/no/such/command", "no-such-command-in-path"] {
        for extra in [&[][..], &["--as-pid2"][..]] {
            let name = unique_name("e127");
            let out = run_cmd(&tree, &name, extra, &[cmd]);
            out.expect_code(127);
            assert_one_error_line(&out);
            assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
        }
    }
}

#[test]
fn command_found_via_path() {
    let (_s, tree) = busybox_setup("path");
    let _l = host_lock_shared();
    let name = unique_name("path");
    let out = run_cmd(&tree, &name, &[], &["echo", "found-in-path"]);
    out.expect_code(0);
    assert_eq!(out.stdout.trim(), "found-in-path", "{}", out.describe());
}

#[test]
fn self_kill_is_128_plus_signal() {
    let (_s, tree) = busybox_setup("kill9");
    let _l = host_lock_shared();
    // As PID 2 the shell can kill itself; the stub init reports it.
    let name = unique_name("kill9");
    run_sh(&tree, &name, &["--as-pid2"], "kill -9 $$").expect_code(128 + 9);
    let name = unique_name("kill9");
    run_sh(&tree, &name, &["--as-pid2"], "kill -TERM $$").expect_code(128 + 15);
}

#[test]
fn pid1_killed_from_host_is_137() {
    let (s, tree) = busybox_setup("hostkill");
    let _l = host_lock_shared();
    // A PID 1 cannot be SIGKILLed from inside its own namespace, only from
    // an ancestor one: kill the guest's PID 1 from the host.
    let name = unique_name("hostkill");
    let mut bg = spawn_run_ready(&tree, &name, &[], "exec /bin/sleep 1000", s.path("log"));
    let pid = guest_init_pid(&name).expect("guest PID 1");
    signal(pid, libc::SIGKILL);
    let st = bg.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(137), "{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn command_is_pid1_or_pid2() {
    let (_s, tree) = busybox_setup("pid1");
    let _l = host_lock_shared();
    let name = unique_name("pid1");
    let out = run_sh(&tree, &name, &[], "echo pid=$$");
    out.expect_code(0);
    assert_eq!(out.get("pid"), "1", "{}", out.describe());
    let name = unique_name("pid1");
    let out = run_sh(&tree, &name, &["--as-pid2"], "echo pid=$$; echo ppid=$PPID");
    out.expect_code(0);
    assert_eq!(out.get("pid"), "2", "{}", out.describe());
    assert_eq!(out.get("ppid"), "1", "{}", out.describe());
}

/// Starts a trapping shell, waits for `ready`, sends `sig` to berth, expects
/// the trap's exit status.
fn forwards(extra: &[&str], sig: i32, signame: &str, want: i32) {
    let (s, tree) = busybox_setup("fwd");
    let _l = host_lock_shared();
    let name = unique_name("fwd");
    let script = format!("trap 'echo got-{signame}; exit {want}' {signame}; echo ready; while :; do sleep 0.1; done");
    let mut c = berth();
    c.args(["run", "-q", "-P", "-M", &name, "-D"]).arg(&tree).args(extra);
    c.args(["--", "/bin/sh", "-c", &script]);
    let mut bg = Bg::spawn(c, s.path("log"));
    let ready = poll(QUICK, || (bg.output().contains("ready") || bg.try_status().is_some()).then_some(()));
    assert!(ready.is_some() && bg.try_status().is_none(), "guest never became ready\n{}", bg.describe());
    bg.signal(sig);
    let st = bg.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(want), "signal {signame} not forwarded as expected\n{}", bg.describe());
    assert!(bg.output().contains(&format!("got-{signame}")), "{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn sigterm_is_forwarded_to_pid2() {
    forwards(&["--as-pid2"], libc::SIGTERM, "TERM", 42);
}

#[test]
fn sigint_is_forwarded_to_pid2() {
    forwards(&["--as-pid2"], libc::SIGINT, "INT", 43);
}

#[test]
fn sigterm_is_forwarded_to_pid1() {
    forwards(&[], libc::SIGTERM, "TERM", 44);
}

#[test]
fn sigterm_kills_untrapping_pid2() {
    let (s, tree) = busybox_setup("fwdkill");
    let _l = host_lock_shared();
    let name = unique_name("fwdkill");
    let mut bg = spawn_run_ready(&tree, &name, &["--as-pid2"], "exec /bin/sleep 1000", s.path("log"));
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(128 + 15), "{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn as_pid2_reaps_orphans() {
    let (_s, tree) = busybox_setup("reap");
    let _l = host_lock_shared();
    let name = unique_name("reap");
    // The subshell exits at once, so its `sleep` is reparented to PID 1 (the
    // stub init) and exits 0.2 s later. The stub init must reap it: after a
    // second, no process in the guest may be a zombie.
    let script = r#"
        (sleep 0.2 &)
        sleep 1.2
        z=0
        for f in /proc/[0-9]*/stat; do
            s=$(cat "$f" 2>/dev/null) || continue
            case "$s" in *") Z "*) z=$((z+1)); echo "zombie: $s";; esac
        done
        echo zombies=$z
    "#;
    let out = run_sh(&tree, &name, &["--as-pid2"], script);
    out.expect_code(0);
    assert_eq!(out.get("zombies"), "0", "orphans are not reaped\n{}", out.describe());
}

#[test]
fn pipe_mode_passes_stdio() {
    let (_s, tree) = busybox_setup("stdio");
    let _l = host_lock_shared();
    let name = unique_name("stdio");
    let mut c = berth();
    c.args(["run", "-q", "-P", "-M", &name, "-D"]).arg(&tree);
    c.args(["--", "/bin/sh", "-c", "cat; echo to-stderr >&2"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn berth");
    child.stdin.take().unwrap().write_all(b"from-stdin\n").unwrap();
    let mut child_out = child;
    let st = wait_deadline(&mut child_out, QUICK);
    let Some(st) = st else {
        let _ = child_out.kill();
        panic!("berth run with piped stdin did not finish");
    };
    let out = child_out.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(st.code(), Some(0), "stdout={stdout} stderr={stderr}");
    assert_eq!(stdout, "from-stdin\n");
    assert_eq!(stderr, "to-stderr\n");
}

#[test]
fn default_and_read_only_console_forward_output() {
    let (_s, tree) = busybox_setup("cons");
    let _l = host_lock_shared();
    // stdin is /dev/null, so the default console is not interactive; the
    // output must still reach berth's stdout.
    for extra in [&[][..], &["--console=read-only"][..]] {
        let name = unique_name("cons");
        let mut c = berth();
        c.args(["run", "-q", "-M", &name, "-D"]).arg(&tree).args(extra);
        c.args(["--", "/bin/echo", "hello-console"]);
        let out = run_to_end(c, QUICK);
        out.expect_code(0);
        assert!(out.stdout.contains("hello-console"), "{}", out.describe());
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
    }
    let name = unique_name("cons");
    let mut c = berth();
    c.args(["run", "-q", "--console=passive", "-M", &name, "-D"]).arg(&tree);
    c.args(["--", "/bin/sh", "-c", "exit 5"]);
    run_to_end(c, QUICK).expect_code(5);
}
