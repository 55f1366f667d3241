//! Errors go to stderr as one `berth: error: ` line (engines and the
//! runtime-spec validation suite look for "error" in a failed verb's
//! stderr, as runc and crun print it) and, with `--log`, to the
//! log file engines read back (conmon and the containerd shim parse
//! runc's JSON lines: level, msg, time).

use super::cli::Global;
use std::io::Write;
use std::path::PathBuf;

pub struct Log {
    file: Option<PathBuf>,
    json: bool,
}

impl Log {
    pub fn new(g: &Global) -> Log {
        Log { file: g.log.clone(), json: g.log_format == "json" }
    }

    pub fn error(&self, msg: &str) {
        eprintln!("{}", stderr_line(msg));
        let Some(path) = &self.file else { return };
        let line = render(msg, self.json, now_rfc3339());
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// The line a failed verb prints on stderr.
pub fn stderr_line(msg: &str) -> String {
    format!("berth: error: {msg}")
}

/// A warning that does not fail the verb: to the log file when there is
/// one (an engine shows runc's warnings from there), else to stderr.
pub fn warn(g: &Global, msg: &str) {
    let Some(path) = &g.log else {
        eprintln!("berth: warning: {msg}");
        return;
    };
    let line = render_level("warning", msg, g.log_format == "json", now_rfc3339());
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}

fn render(msg: &str, json: bool, time: String) -> String {
    render_level("error", msg, json, time)
}

fn render_level(level: &str, msg: &str, json: bool, time: String) -> String {
    if json {
        serde_json::json!({"level": level, "msg": msg, "time": time}).to_string() + "\n"
    } else {
        format!("time=\"{time}\" level={level} msg=\"{}\"\n", msg.replace('"', "\\\""))
    }
}

/// The current UTC time as RFC 3339.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    rfc3339(secs)
}

/// RFC 3339 for seconds since the epoch (civil-from-days).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn stderr_says_error() {
        assert_eq!(stderr_line("container x does not exist"), "berth: error: container x does not exist");
    }

    #[test]
    fn json_line_is_what_engines_parse() {
        let l = render("exec failed", true, "T".into());
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "exec failed");
    }
}
