//! berth's own log: tracing events at the level `--log-level` (or `-v`, or
//! `BERTH_LOG`) asks for, written to stderr; or, when stderr is the
//! journal's stream (systemd names it in JOURNAL_STREAM, as it does for a
//! service such as berth@NAME.service), sent to the journal by its native
//! protocol, so each line keeps its PRIORITY and carries the span's fields
//! (BERTH_MACHINE=, SPAN_NAME=). berth's own `berth: ...` error line is
//! not a log event: main prints it to stderr either way.

use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::{self, format::FmtSpan, time::Uptime};
use tracing_subscriber::prelude::*;

/// The levels `--log-level` takes, quietest first.
pub const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// The filter's directives: `--log-level` first, then `BERTH_LOG`, then
/// `-v` (none: warn, -v: info, -vv: debug).
pub fn directives(level: Option<&str>, verbose: u8, env: Option<&str>) -> String {
    let by_v = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    level.or(env.filter(|e| !e.trim().is_empty())).unwrap_or(by_v).to_string()
}

/// Whether phases are shown with their timings as they close: at info or
/// more detail.
pub fn timings(directives: &str) -> bool {
    LEVELS.iter().position(|l| *l == directives).is_some_and(|i| i >= 2)
}

/// Whether JOURNAL_STREAM (`DEVICE:INODE`, both decimal) names the file
/// whose device and inode these are.
pub fn names_stream(journal_stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = journal_stream.trim().split_once(':') else { return false };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

/// Whether berth's stderr is connected to the journal.
fn stderr_is_journal() -> bool {
    let Ok(js) = std::env::var("JOURNAL_STREAM") else { return false };
    match nix::sys::stat::fstat(libc::STDERR_FILENO) {
        Ok(st) => names_stream(&js, st.st_dev, st.st_ino),
        Err(_) => false,
    }
}

/// Sets up the log for this process and the ones it forks.
pub fn init(level: Option<&str>, verbose: u8) {
    let env = std::env::var("BERTH_LOG").ok();
    let d = directives(level, verbose, env.as_deref());
    let filter = EnvFilter::try_new(&d).unwrap_or_else(|_| EnvFilter::new("warn"));
    let timed = timings(&d) || (level.is_none() && verbose > 0);
    let journal = if stderr_is_journal() { tracing_journald::layer().ok() } else { None };
    let Some(journal) = journal else {
        // With timings, each phase of a start says how long it took as it
        // closes, with the time since berth started.
        let base = fmt::layer().with_writer(std::io::stderr);
        let registry = tracing_subscriber::registry().with(filter);
        if timed {
            registry.with(base.with_span_events(FmtSpan::CLOSE).with_timer(Uptime::default())).init();
        } else {
            registry.with(base.without_time()).init();
        }
        return;
    };
    // Only this process speaks the native protocol: the journal's socket
    // is found by its path, and the processes berth forks go on into the
    // guest's mount namespace. Their lines go to stderr, the same journal
    // as plain text.
    let me = std::process::id();
    let native = journal
        .with_syslog_identifier("berth".into())
        .with_field_prefix(Some("BERTH".into()))
        .with_filter(filter_fn(move |_| std::process::id() == me));
    let text = fmt::layer()
        .with_writer(std::io::stderr)
        .without_time()
        .with_filter(filter_fn(move |_| std::process::id() != me));
    tracing_subscriber::registry().with(filter).with(native).with(text).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_wins_over_env_and_verbose() {
        assert_eq!(directives(None, 0, None), "warn");
        assert_eq!(directives(None, 1, None), "info");
        assert_eq!(directives(None, 3, None), "debug");
        assert_eq!(directives(None, 2, Some("berth=trace")), "berth=trace");
        assert_eq!(directives(None, 1, Some(" ")), "info");
        assert_eq!(directives(Some("error"), 2, Some("debug")), "error");
    }

    #[test]
    fn timings_from_info_on() {
        assert!(!timings("error") && !timings("warn"));
        assert!(timings("info") && timings("debug") && timings("trace"));
        assert!(!timings("berth=debug"));
    }

    #[test]
    fn journal_stream_match() {
        assert!(names_stream("8:12345", 8, 12345));
        assert!(!names_stream("8:12345", 8, 1));
        assert!(!names_stream("8", 8, 12345));
        assert!(!names_stream("x:y", 0, 0));
    }
}
