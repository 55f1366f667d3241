//! A test that did not run must not look green.
//!
//! The harnesses (cargo test, cargo nextest) show a passing test's output
//! only on request, so a test that returned early with a SKIP line looked
//! like one that checked everything. Here:
//!
//! - What scripts/test provides (root, the tools it installs, the fixtures)
//!   is a precondition: its absence fails the test with one line
//!   ([`need_root`], [`missing`]).
//! - Only what the host's kernel or hardware lacks may skip ([`skip`]), and
//!   only for a reason named in `tests/allowed-skips` (or, to override that
//!   list, in `BERTH_TEST_ALLOW_SKIP=KEY,KEY...`; empty allows none). An
//!   allowed skip prints `SKIP:` and is appended to `test-skips.txt` in
//!   cargo's target tmp directory, which scripts/test lists at the end;
//!   any other skip fails the test.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The one line every root-only test fails with when not run as root.
pub const NEED_ROOT: &str = "integration tests need root: run scripts/test as root";

/// Where allowed skips are recorded (scripts/test empties it first and
/// prints it last).
pub fn skip_log() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-skips.txt")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Fails the test unless it runs as root.
pub fn need_root() {
    if !is_root() {
        panic!("{NEED_ROOT}");
    }
}

/// Fails the test for a missing precondition that scripts/test provides
/// (a tool, a package, a fixture).
pub fn missing(what: &str) -> ! {
    panic!("SKIP: {what}; a test that cannot run fails (scripts/test installs what the tests need)");
}

/// The reasons this run allows skips for.
fn allowed() -> Vec<String> {
    let text = match std::env::var("BERTH_TEST_ALLOW_SKIP") {
        Ok(v) => v.replace(',', "\n"),
        Err(_) => std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/allowed-skips"))
            .unwrap_or_default(),
    };
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").split_whitespace().next().unwrap_or("").to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

/// This test's name as the harness knows it: `BINARY::TEST`.
fn test_name() -> String {
    let exe = std::env::args().next().unwrap_or_default();
    let stem = Path::new(&exe).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    // cargo names test binaries NAME-HASH.
    let binary = match stem.rsplit_once('-') {
        Some((b, h)) if h.len() == 16 && h.bytes().all(|c| c.is_ascii_hexdigit()) => b.to_string(),
        _ => stem,
    };
    let thread = std::thread::current();
    format!("{binary}::{}", thread.name().unwrap_or("?"))
}

/// The host lacks something the test needs (`key` names the reason, e.g.
/// `x32-abi`). Allowed: a loud SKIP, recorded in [`skip_log`]; the caller
/// then returns. Not allowed: the test fails.
pub fn skip(key: &str, reason: &str) {
    let test = test_name();
    if !allowed().iter().any(|k| k == key) {
        panic!(
            "SKIP: {reason} [{key}]; not an allowed skip, so the test fails \
             (allowed reasons are in tests/allowed-skips; BERTH_TEST_ALLOW_SKIP={key} allows it for one run)"
        );
    }
    eprintln!("\n==================================================");
    eprintln!("SKIP: {test}: {reason} [{key}]");
    eprintln!("==================================================\n");
    let log = skip_log();
    let line = format!("{test}  [{key}] {reason}\n");
    let written =
        OpenOptions::new().create(true).append(true).open(&log).and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("SKIP: {reason} [{key}]; and recording it in {} failed: {e}", log.display());
    }
}
