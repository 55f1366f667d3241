//! What a running machine costs: once its start is over, berth's launcher
//! and watcher give back the pages of the binary that starting touched
//! (src/sys/trim.rs), so a launcher holds at most 2 MB while it supervises; and
//! what runs after that (console forwarding, signal forwarding, the exit
//! and the clean-up) still works.

mod common;

use common::*;
use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The bound: 50 machines' launchers in at most 100 MB.
const MAX_LAUNCHER_RSS: u64 = 2_000_000;

/// Prints a line after both trims (the launcher's 0.1 s after the start,
/// the watcher's after 1 s), then waits for SIGTERM.
const SCRIPT: &str = "echo early; sleep 2; echo late; trap \"echo stopping; exit 0\" TERM; sleep 1000 & wait";

/// (Rss, Pss) of a process in bytes, from smaps_rollup.
fn rollup(pid: u32) -> (u64, u64) {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/smaps_rollup: {e}"));
    let field = |k: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {k} in /proc/{pid}/smaps_rollup:\n{text}"))
            * 1024
    };
    (field("Rss"), field("Pss"))
}

/// The launcher's mappings that hold pages, largest first, one per line
/// (kB and the maps line), so a failure shows where the memory went.
fn resident_mappings(pid: u32) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut out: Vec<(u64, &str)> = Vec::new();
    let mut head = "";
    for l in text.lines() {
        if let Some(kb) = l.strip_prefix("Rss:") {
            let kb = kb.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
            if kb > 0 {
                out.push((kb, head));
            }
        } else if l.split_whitespace().next().is_some_and(|w| w.contains('-') && !w.ends_with(':')) {
            head = l;
        }
    }
    out.sort_by_key(|m| std::cmp::Reverse(m.0));
    out.iter().map(|(kb, m)| format!("  {kb:>6} kB {m}\n")).collect()
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string()
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let kids = fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(kids.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    out
}

/// The launcher's pid from the machine's record (JSON).
fn launcher_of(name: &str) -> u32 {
    let rec = fs::read_to_string(format!("/run/berth/machines/{name}")).expect("the machine's record");
    let at = rec.find("\"launcher\"").unwrap_or_else(|| panic!("no launcher in the record:\n{rec}"));
    let rest = rec[at + "\"launcher\"".len()..].trim_start().trim_start_matches(':').trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no launcher pid in the record:\n{rec}"))
}

/// The launcher and its watcher each hold at most 2 MB, and both together
/// account for at most 2 MB (PSS).
fn assert_small(launcher: u32) {
    let watcher = children(launcher)
        .into_iter()
        .find(|&p| comm(p) == "berth-watch")
        .unwrap_or_else(|| panic!("no berth-watch among the children of the launcher {launcher}"));
    let (lrss, lpss) = rollup(launcher);
    let (wrss, wpss) = rollup(watcher);
    let sizes = format!("launcher RSS {lrss} PSS {lpss}, watcher RSS {wrss} PSS {wpss} (bytes)");
    eprintln!("memory of a running machine: {sizes}");
    let what = format!("{sizes}\nthe launcher's mappings:\n{}", resident_mappings(launcher));
    assert!(lrss <= MAX_LAUNCHER_RSS, "the running launcher holds more than 2 MB: {what}");
    assert!(wrss <= MAX_LAUNCHER_RSS, "the watcher holds more than 2 MB: {what}");
    assert!(lpss + wpss <= MAX_LAUNCHER_RSS, "berth's processes hold more than 2 MB: {what}");
}

fn wait_for(bg: &mut Bg, words: &str) {
    let ok = poll(QUICK, || (bg.output().contains(words) || bg.try_status().is_some()).then_some(()));
    assert!(ok.is_some() && bg.try_status().is_none(), "no '{words}' from the running guest\n{}", bg.describe());
}

#[test]
fn a_running_ephemeral_machine_holds_little_and_still_works() {
    let (s, tree) = busybox_setup("mem");
    let _l = host_lock_shared();
    let name = unique_name("mem");
    let mut c = berth();
    c.args(["run", "-x", "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/sh", "-c", SCRIPT]);
    let mut bg = Bg::spawn(c, s.path("run.log"));
    wait_for(&mut bg, "late");
    assert_eq!(launcher_of(&name), bg.pid());
    assert_small(bg.pid());
    bg.signal(libc::SIGTERM);
    assert_eq!(bg.wait(Duration::from_secs(15)).code(), Some(0), "{}", bg.describe());
    assert!(bg.output().contains("stopping"), "the stop reached the guest and its words came back\n{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

#[test]
fn a_running_machine_on_a_terminal_holds_little_and_still_works() {
    require(&["script"]);
    let (s, tree) = busybox_setup("memtty");
    let _l = host_lock_shared();
    let name = unique_name("memtty");
    let mut c = Command::new("script");
    c.stdin(Stdio::null()).env_remove("NOTIFY_SOCKET");
    c.args(["-qec", &format!("{BERTH} run -x -M {name} -D {} -- /bin/sh -c '{SCRIPT}'", tree.display()), "/dev/null"]);
    let mut bg = Bg::spawn(c, s.path("tty.log"));
    wait_for(&mut bg, "late");
    let launcher = launcher_of(&name);
    assert_small(launcher);
    signal(launcher, libc::SIGTERM);
    assert_eq!(bg.wait(Duration::from_secs(15)).code(), Some(0), "{}", bg.describe());
    assert!(bg.output().contains("stopping"), "the stop reached the guest and its words came back\n{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}
