//! The completion scripts work in the real shells: bash registers `berth`
//! after sourcing `berth completions bash`, an interactive bash (on a
//! terminal, under `script`) offers `shell` and `show` for `berth sh<TAB><TAB>`,
//! and zsh and fish accept their scripts (`zsh -n`, `fish -n`). No root
//! needed.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn berth_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_berth")).parent().unwrap().to_path_buf()
}

/// PATH with this build's berth first.
fn path() -> String {
    format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", berth_dir().display())
}

fn need(tool: &str) {
    if !common::have_tool(tool) {
        common::missing(&format!("`{tool}` is not installed"));
    }
}

#[test]
fn bash_registers_berth() {
    need("bash");
    let out = Command::new("bash")
        .args(["-c", "source <(berth completions bash); complete -p berth"])
        .env("PATH", path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.trim_end().ends_with(" berth") && text.contains("-F _berth"), "{text}");
}

/// Types `berth sh<TAB><TAB>` into an interactive bash on a terminal and
/// returns what the terminal showed.
fn tab_tab(rc: &Path) -> String {
    let mut child = Command::new("script")
        .args(["-qfec", &format!("bash --noprofile --rcfile {} -i", rc.display()), "/dev/null"])
        .env("PATH", path())
        .env("TERM", "dumb")
        .env_remove("PROMPT_COMMAND")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    std::thread::sleep(Duration::from_millis(500));
    stdin.write_all(b"berth sh\t\t").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // ^U clears the line, then leave.
    stdin.write_all(b"\x15exit\n").unwrap();
    drop(stdin);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the interactive bash did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn interactive_bash_completes_sh_to_shell_and_show() {
    need("bash");
    need("script");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("completions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rc = dir.join("bashrc");
    std::fs::write(&rc, "PS1='hd-prompt$ '\nsource <(berth completions bash)\n").unwrap();
    let shown = tab_tab(&rc);
    std::fs::remove_dir_all(&dir).unwrap();
    let words: Vec<&str> = shown.split_whitespace().collect();
    assert!(
        words.contains(&"shell") && words.contains(&"show"),
        "berth sh<TAB><TAB> did not offer shell and show:\n{shown}"
    );
}

/// The checked-in script and the one `berth completions SHELL` prints
/// (they are the same; tests/docs.rs checks that) parse in SHELL.
fn parses(shell: &str, checked_in: &str) {
    need(shell);
    let out = Command::new(env!("CARGO_BIN_EXE_berth")).args(["completions", shell]).output().unwrap();
    assert!(out.status.success() && !out.stdout.is_empty(), "{out:?}");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(checked_in);
    let check = Command::new(shell).arg("-n").arg(&file).output().unwrap();
    assert!(check.status.success(), "{shell} -n {checked_in}: {}", String::from_utf8_lossy(&check.stderr));
    let mut sh = Command::new(shell).arg("-n").stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    sh.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let res = sh.wait_with_output().unwrap();
    assert!(res.status.success(), "{shell} -n of berth completions {shell}: {}", String::from_utf8_lossy(&res.stderr));
}

#[test]
fn zsh_parses() {
    parses("zsh", "completions/_berth");
}

#[test]
fn fish_parses() {
    parses("fish", "completions/berth.fish");
}

#[test]
fn bash_parses() {
    parses("bash", "completions/berth.bash");
}

#[test]
fn unknown_shell_is_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth")).args(["completions", "tcsh"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("berth: ") && err.lines().count() == 1 && err.contains("tcsh"), "{err}");
}
