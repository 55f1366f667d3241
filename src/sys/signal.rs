//! Signal names as users and nspawn spell them (`TERM`, `SIGTERM`, `15`,
//! `SIGRTMIN+3`).

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown signal '{0}'; use a name such as SIGTERM or RTMIN+3, or a number")]
pub struct BadSignal(pub String);

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

pub fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

pub fn rtmax() -> i32 {
    libc::SIGRTMAX()
}

/// Parses a signal name or number.
pub fn parse(s: &str) -> Result<i32, BadSignal> {
    let bad = || BadSignal(s.to_string());
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return if (1..=rtmax()).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let up = t.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(&(_, n)) = NAMES.iter().find(|(name, _)| *name == bare) {
        return Ok(n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Result<i32, BadSignal> {
        let off: i32 = if rest.is_empty() { 0 } else { rest.parse().map_err(|_| bad())? };
        let n = base + sign * off;
        if (rtmin()..=rtmax()).contains(&n) && off >= 0 {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        return rt(rtmin(), rest.strip_prefix('+').unwrap_or(if rest.is_empty() { "" } else { "x" }), 1);
    }
    if let Some(rest) = bare.strip_prefix("RTMAX") {
        return rt(rtmax(), rest.strip_prefix('-').unwrap_or(if rest.is_empty() { "" } else { "x" }), -1);
    }
    Err(bad())
}

/// A readable name for messages.
pub fn name(sig: i32) -> String {
    if let Some((n, _)) = NAMES.iter().find(|(_, v)| *v == sig) {
        return format!("SIG{n}");
    }
    if (rtmin()..=rtmax()).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - rtmin());
    }
    format!("signal {sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(parse("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse("sigkill"), Ok(libc::SIGKILL));
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("SIGRTMIN+3"), Ok(rtmin() + 3));
        assert_eq!(parse("RTMIN"), Ok(rtmin()));
        assert_eq!(parse("RTMAX-1"), Ok(rtmax() - 1));
        assert!(parse("0").is_err());
        assert!(parse("BOGUS").is_err());
        assert!(parse("RTMIN+99").is_err());
        assert!(parse("RTMINx").is_err());
        assert_eq!(name(rtmin() + 4), "SIGRTMIN+4");
        assert_eq!(name(libc::SIGINT), "SIGINT");
    }
}
