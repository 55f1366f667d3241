//! The management verbs against real running machines (from berth's own
//! runtime records: this host has neither systemd nor machined).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn verb(args: &[&str]) -> Out {
    let mut c = berth();
    c.args(args);
    run_to_end(c, QUICK)
}

#[test]
fn list_show_status_and_kill_a_running_command() {
    let (s, tree) = busybox_setup("mverbs");
    let name = unique_name("mverbs");
    let mut c = berth();
    c.args(["run", "-q", "-P", "--as-pid2", "-M", &name, "-D"]).arg(&tree).args(["--", "sleep", "100"]);
    let mut bg = Bg::spawn(c, s.path("run.log"));
    let leader = poll(Duration::from_secs(10), || guest_init_pid(&name)).expect("the guest runs");
    let list = verb(&["list"]);
    list.expect_code(0);
    let row = list.stdout.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_default().to_string();
    assert!(
        row.contains("container") && row.contains("running") && row.contains(&leader.to_string()),
        "{}",
        list.describe()
    );
    let json = verb(&["list", "--json"]);
    json.expect_code(0);
    assert!(
        json.stdout.contains(&format!("\"name\":\"{name}\"")) && json.stdout.contains(&format!("\"leader\":{leader}")),
        "{}",
        json.describe()
    );
    let show = verb(&["show", &name]);
    show.expect_code(0);
    assert_eq!(show.get("Leader"), leader.to_string(), "{}", show.describe());
    assert_eq!(show.get("Unit"), format!("machine-{name}.scope"), "{}", show.describe());
    // The stub init may not have started the command yet.
    let mut status = verb(&["status", &name]);
    poll(Duration::from_secs(10), || {
        status = verb(&["status", &name]);
        (status.code() != 0 || status.stdout.contains("sleep 100")).then_some(())
    });
    status.expect_code(0);
    assert!(status.stdout.contains("sleep 100") && status.stdout.contains("Tasks: 2"), "{}", status.describe());
    verb(&["kill", &name, "--signal", "SIGTERM"]).expect_code(0);
    let st = bg.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(143), "SIGTERM to all ends the command\n{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
    let gone = verb(&["list"]);
    assert!(!gone.stdout.contains(&name), "{}", gone.describe());
}

#[test]
fn unknown_and_invalid_machines_are_one_line_errors() {
    require(&[]);
    for (args, needle) in [
        (vec!["status", "no-such-machine"], "no machine named"),
        (vec!["poweroff", "no-such-machine"], "no machine named"),
        (vec!["show", "bad_name"], "invalid"),
        (vec!["kill", "no-such-machine", "--signal", "NOPE"], "unknown signal"),
    ] {
        let out = verb(&args);
        assert_eq!(out.code(), 1, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains(needle), "{}", out.describe());
    }
}

fn boot(s: &Scratch, tree: &std::path::Path, name: &str) -> (Bg, u32) {
    let mut c = berth();
    c.args(["boot", "-q", "--console=passive", "-M", name, "-D"]).arg(tree);
    let mut bg = Bg::spawn(c, s.path(&format!("{name}.log")));
    let pid = wait_guest_init(&mut bg, name, Duration::from_secs(60));
    // Wait until systemd is up, so it acts on the request.
    wait_running(&mut bg, pid);
    (bg, pid)
}

#[test]
fn poweroff_reboot_and_terminate_a_booted_machine() {
    require(&["nsenter", "timeout"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("mpower");
    let tree = tree_copy(&s, &fx, "bookworm");
    for (verb_name, want) in [("poweroff", Some(0)), ("reboot", Some(133)), ("terminate", Some(1))] {
        let name = unique_name(&format!("m{verb_name}"));
        let (mut bg, _) = boot(&s, &tree, &name);
        verb(&[verb_name, &name]).expect_code(0);
        let st = bg.wait(Duration::from_secs(20));
        assert_eq!(st.code(), want, "berth {verb_name}\n{}", bg.describe());
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
    }
}

#[test]
fn freeze_stops_the_guest_and_thaw_resumes_it() {
    let (s, tree) = busybox_setup("mfreeze");
    let name = unique_name("mfreeze");
    let out = s.path("out");
    std::fs::create_dir(&out).unwrap();
    let mut c = berth();
    c.args(["run", "-q", "-P", "--as-pid2", "--bind", &format!("{}:/out:idmap", out.display()), "-M", &name, "-D"])
        .arg(&tree)
        .args(["--", "sh", "-c", "while :; do cat /proc/uptime > /out/tick; sleep 0.05; done"]);
    let mut bg = Bg::spawn(c, s.path("run.log"));
    let tick = out.join("tick");
    let read = || std::fs::read_to_string(&tick).unwrap_or_default();
    poll(Duration::from_secs(10), || (!read().is_empty()).then_some(())).expect("the guest ticks");
    verb(&["freeze", &name]).expect_code(0);
    std::thread::sleep(Duration::from_millis(100));
    let frozen_at = read();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(read(), frozen_at, "a frozen guest does not run");
    assert!(verb(&["status", &name]).code() == 0, "the launcher keeps answering while the guest is frozen");
    verb(&["thaw", &name]).expect_code(0);
    poll(Duration::from_secs(5), || (read() != frozen_at).then_some(())).expect("a thawed guest runs again");
    verb(&["terminate", &name]).expect_code(0);
    bg.wait(Duration::from_secs(10));
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn shell_runs_commands_inside_with_their_exit_status() {
    let (s, tree) = busybox_setup("mshell");
    let name = unique_name("mshell");
    let mut c = berth();
    c.args(["run", "-q", "-P", "--as-pid2", "-M", &name, "-D"]).arg(&tree).args(["--", "sleep", "100"]);
    let mut bg = Bg::spawn(c, s.path("run.log"));
    poll(Duration::from_secs(10), || guest_init_pid(&name)).expect("the guest runs");
    let out = verb(&["shell", &name, "sh", "-c", "hostname; id -u; ps -o comm | grep -c sleep; exit 7"]);
    assert_eq!(out.code(), 7, "{}", out.describe());
    let lines = out.lines();
    assert_eq!(lines[..3], [name.clone(), "0".into(), "1".into()], "{}", out.describe());
    let out = verb(&["shell", &format!("tester@{name}"), "id", "-un"]);
    out.expect_code(0);
    assert_eq!(out.stdout.trim(), "tester", "{}", out.describe());
    assert_eq!(verb(&["shell", &name, "sh", "-c", "kill -9 $$"]).code(), 137);
    let missing = verb(&["shell", &name, "no-such-command"]);
    assert_eq!(missing.code(), 127, "{}", missing.describe());
    assert_one_error_line(&missing);
    // With a terminal (a pty from script(1)): the guest's own pty.
    require(&["script"]);
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{} shell {name} sh -c 'tty; exit 4'", BERTH), "/dev/null"]);
    c.stdin(std::process::Stdio::null());
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), 4, "{}", out.describe());
    assert!(out.stdout.contains("/dev/pts/"), "the command runs on a pty of the guest\n{}", out.describe());
    verb(&["terminate", &name]).expect_code(0);
    bg.wait(Duration::from_secs(10));
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn shell_joins_a_booted_guest_in_its_init_scope() {
    require(&["nsenter", "timeout"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("mshboot");
    let tree = tree_copy(&s, &fx, "bookworm");
    let name = unique_name("mshboot");
    let (mut bg, _) = boot(&s, &tree, &name);
    let out = verb(&["shell", &name, "sh", "-c", "grep ^0:: /proc/self/cgroup; systemctl is-system-running"]);
    out.expect_code(0);
    assert!(out.stdout.contains("0::/init.scope") && out.stdout.contains("running"), "{}", out.describe());
    verb(&["poweroff", &name]).expect_code(0);
    assert_eq!(bg.wait(Duration::from_secs(20)).code(), Some(0), "{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}
