//! The console the way a user meets it: `berth run`, `berth run --as-pid2`
//! and `berth boot` (busybox's own init) in every console mode (the
//! default, interactive, read-only, passive, pipe), started on a terminal
//! (`script` gives berth a real pty), with stdin from /dev/null and the
//! output to a pipe, and with the output to a file. Each must end with the
//! right exit code, show the guest's "hi" (passive mode shows nothing, so
//! there a file the command wrote is the proof it ran), and never hang:
//! every berth runs under `timeout`, so a hang fails the test.
//!
//! Also: ^C typed on the terminal reaches an `--as-pid2` command once, as
//! the terminal's foreground process group (the stub init stays out of it).

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one `run` may take before it counts as hung; a boot of
/// busybox's init takes a few seconds more (its shutdown pauses).
const RUN_LIMIT: u32 = 20;
const BOOT_LIMIT: u32 = 40;

/// The console modes: None is the default (no --console).
const MODES: [Option<&str>; 5] = [None, Some("interactive"), Some("read-only"), Some("passive"), Some("pipe")];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Run,
    AsPid2,
    Boot,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Place {
    /// berth on a terminal (`script -qec CMD /dev/null`) where nobody types.
    Terminal,
    /// stdin from /dev/null, stdout and stderr to pipes.
    Pipe,
    /// stdin from /dev/null, stdout to a file.
    File,
}

/// Quotes `s` for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `cmd` (a `berth()` command) run under `timeout --foreground` (which,
/// unlike plain `timeout`, leaves berth in the terminal's foreground
/// group): SIGTERM after `limit` seconds, SIGKILL 3 s later. Exit 124
/// means it hung.
fn under_timeout(cmd: &Command, limit: u32) -> Command {
    let mut c = Command::new("timeout");
    c.args(["--foreground", "-k", "3", &limit.to_string()]);
    c.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.stdin(Stdio::null());
    c
}

/// `cmd` run on a fresh terminal: `script -qec 'CMD' /dev/null`, whose
/// stdout carries everything berth wrote to the terminal.
fn on_terminal(cmd: &Command) -> Command {
    let mut line = sh_quote(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&sh_quote(&a.to_string_lossy()));
    }
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.env("SHELL", "/bin/sh").env("TERM", "xterm");
    c.stdin(Stdio::null());
    c
}

/// Runs `cmd` at `place`; the Out's stdout is what reached the terminal,
/// the pipe or the file.
fn run_at(cmd: &Command, place: Place, limit: u32, scratch: &Scratch) -> Out {
    let backstop = Duration::from_secs(limit as u64 + 15);
    let timed = under_timeout(cmd, limit);
    match place {
        Place::Terminal => {
            // A user who types nothing: script's stdin stays open (at EOF
            // script would type its own end-of-file character).
            let mut c = on_terminal(&timed);
            c.stdin(Stdio::piped());
            run_to_end(c, backstop)
        }
        Place::Pipe => run_to_end(timed, backstop),
        Place::File => {
            let path = scratch.path(&format!("out-{}", unique_name("f")));
            let mut c = timed;
            c.stdout(File::create(&path).expect("create the output file")).stderr(Stdio::piped());
            let cmdline = format!("{} >{}", cmdline_of(&c), path.display());
            let start = std::time::Instant::now();
            let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
            let status = wait_deadline(&mut child, backstop).unwrap_or_else(|| {
                let _ = child.kill();
                panic!("timed out after {backstop:?}: {cmdline}")
            });
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            let stdout = std::fs::read_to_string(&path).unwrap_or_default();
            Out { status, stdout, stderr, elapsed: start.elapsed(), cmdline }
        }
    }
}

/// The berth command of `kind` in console `mode` for machine `name`; the
/// guest says "hi" on its console and leaves `/ran-NAME` in the tree.
fn berth_cmd(kind: Kind, mode: Option<&str>, name: &str, tree: &Path) -> Command {
    let mut c = berth();
    c.arg(if kind == Kind::Boot { "boot" } else { "run" });
    c.args(["-M", name, "-D"]).arg(tree);
    if let Some(m) = mode {
        c.arg(format!("--console={m}"));
    }
    match kind {
        Kind::Boot => {
            // busybox's init: say hi, then power off (berth exits 0).
            write_file(
                &tree.join("etc/inittab"),
                &format!("::sysinit:/bin/sh -c 'echo hi; touch /ran-{name}'\n::once:/sbin/poweroff\n"),
            );
        }
        Kind::Run | Kind::AsPid2 => {
            if kind == Kind::AsPid2 {
                c.arg("--as-pid2");
            }
            c.args(["--", "/bin/sh", "-c", &format!("echo hi; touch /ran-{name}; exit 3")]);
        }
    }
    c
}

/// Every mode of `kind` at `place`; fails with all that went wrong.
fn each_mode(kind: Kind, place: Place) {
    let tag = match kind {
        Kind::Run => "con-run",
        Kind::AsPid2 => "con-pid2",
        Kind::Boot => "con-boot",
    };
    let (s, tree) = busybox_setup(tag);
    if place == Place::Terminal {
        require(&["script"]);
    }
    let _l = host_lock_shared();
    let (want, limit) = if kind == Kind::Boot { (0, BOOT_LIMIT) } else { (3, RUN_LIMIT) };
    let mut failures = Vec::new();
    for mode in MODES {
        let name = unique_name(tag);
        let out = run_at(&berth_cmd(kind, mode, &name, &tree), place, limit, &s);
        let what = format!("{kind:?} {place:?} --console={}", mode.unwrap_or("(default)"));
        let mut problems = Vec::new();
        let code = out.status.code();
        if code == Some(124) || code.is_none() {
            problems.push(format!("hung (killed after {limit} s)"));
        } else {
            if code != Some(want) {
                problems.push(format!("exit {code:?}, want {want}"));
            }
            if !tree.join(format!("ran-{name}")).exists() {
                problems.push("the guest's command never ran".to_string());
            }
            // Passive mode shows nothing of the console; every other mode
            // shows the guest's line, as a line of its own.
            let lines: Vec<&str> = out.stdout.lines().map(|l| l.trim_end_matches('\r')).collect();
            match (mode == Some("passive"), lines.contains(&"hi")) {
                (true, true) => problems.push("passive mode showed the console".to_string()),
                (false, false) => problems.push("no line \"hi\" in the output".to_string()),
                _ => {}
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{what}: {}\n{}", problems.join("; "), out.describe()));
        }
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    }
    assert!(
        failures.is_empty(),
        "{} of {} console modes failed:\n\n{}",
        failures.len(),
        MODES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn as_pid2_on_a_terminal() {
    each_mode(Kind::AsPid2, Place::Terminal);
}

#[test]
fn as_pid2_to_a_pipe() {
    each_mode(Kind::AsPid2, Place::Pipe);
}

#[test]
fn as_pid2_to_a_file() {
    each_mode(Kind::AsPid2, Place::File);
}

#[test]
fn run_on_a_terminal() {
    each_mode(Kind::Run, Place::Terminal);
}

#[test]
fn run_to_a_pipe() {
    each_mode(Kind::Run, Place::Pipe);
}

#[test]
fn run_to_a_file() {
    each_mode(Kind::Run, Place::File);
}

#[test]
fn boot_on_a_terminal() {
    each_mode(Kind::Boot, Place::Terminal);
}

#[test]
fn boot_to_a_pipe() {
    each_mode(Kind::Boot, Place::Pipe);
}

#[test]
fn boot_to_a_file() {
    each_mode(Kind::Boot, Place::File);
}

/// ^C on the terminal of an interactive `run --as-pid2`: the command's
/// process group is the terminal's foreground group (PID 1's is not), and
/// the command sees SIGINT exactly once.
#[test]
fn ctrl_c_reaches_an_as_pid2_command_once() {
    let (_s, tree) = busybox_setup("con-intr");
    require(&["script"]);
    let _l = host_lock_shared();
    let name = unique_name("con-intr");
    // Fields 5 and 8 of /proc/PID/stat: process group, terminal's
    // foreground group (comm has no spaces here).
    let script = "n=0; trap 'n=$((n+1))' INT; \
                  read -r _ _ _ _ pg _ _ fg _ < /proc/$$/stat; read -r _ _ _ _ pg1 _ < /proc/1/stat; \
                  echo \"groups pg=$pg fg=$fg pid1=$pg1\"; echo ready; \
                  i=0; while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; echo \"ints=$n\"; exit 4";
    let mut c = berth();
    c.args(["run", "-M", &name, "-D"]).arg(&tree).args(["--console=interactive", "--as-pid2", "--"]);
    c.args(["/bin/sh", "-c", script]);
    let mut term = on_terminal(&under_timeout(&c, RUN_LIMIT));
    let cmdline = cmdline_of(&term);
    term.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = term.spawn().unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let mut so = child.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let seen2 = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = so.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let text = || seen.lock().unwrap().replace('\r', "");
    let ready = poll(Duration::from_secs(RUN_LIMIT as u64), || text().contains("ready\n").then_some(()));
    if ready.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the command never said ready\ncommand: {cmdline}\n--- terminal ---\n{}", text());
    }
    stdin.write_all(b"\x03").expect("type ^C");
    let status = wait_deadline(&mut child, Duration::from_secs(RUN_LIMIT as u64 + 15));
    drop(stdin);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = reader.join();
    let out = text();
    let describe = format!("command: {cmdline}\nstatus: {status:?}\n--- terminal ---\n{out}");
    assert_eq!(status.and_then(|s| s.code()), Some(4), "{describe}");
    let groups = out.lines().find(|l| l.starts_with("groups ")).unwrap_or_else(|| panic!("no groups line\n{describe}"));
    let field = |k: &str| {
        groups
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in {groups:?}"))
            .to_string()
    };
    assert_eq!(field("pg"), field("fg"), "the command is not the terminal's foreground group\n{describe}");
    assert_ne!(field("pg"), field("pid1"), "the command shares PID 1's group (^C would reach both)\n{describe}");
    // The guest's terminal echoes the ^C in front of the line.
    let ints = out.lines().find_map(|l| l.split("ints=").nth(1));
    assert_eq!(ints, Some("1"), "the command did not see SIGINT exactly once\n{describe}");
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}
