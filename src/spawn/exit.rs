//! berth's exit status for a guest's end: `run` passes the command's
//! status through (128+N for a signal), `boot` reports a poweroff as 0, a
//! reboot as 133 and anything else as a failure, as nspawn does.

use crate::settings::config::Config;
use crate::sys::signal;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

/// Exit status of `berth boot` when the guest asked for a reboot.
pub const EXIT_REBOOT: i32 = 133;

/// `killed`: why berth killed the guest itself, if it did.
pub fn status_of(cfg: &Config, status: WaitStatus, killed: Option<&'static str>) -> i32 {
    let say = |m: String| {
        if !cfg.quiet {
            eprint!("{m}\r\n");
        }
    };
    let (code, msg) = decide(cfg.is_run(), &cfg.name, status, killed);
    if let Some(m) = msg {
        say(m);
    }
    code
}

/// The status and the line to print, without printing it.
pub fn decide(run: bool, name: &str, status: WaitStatus, killed: Option<&'static str>) -> (i32, Option<String>) {
    if run {
        return match status {
            WaitStatus::Exited(_, c) => (c, None),
            WaitStatus::Signaled(_, s, _) => (128 + s as i32, None),
            _ => (1, None),
        };
    }
    match status {
        WaitStatus::Exited(_, 0) | WaitStatus::Signaled(_, Signal::SIGINT, _) if killed.is_none() => {
            (0, Some(format!("Container {name} exited successfully.")))
        }
        WaitStatus::Signaled(_, Signal::SIGHUP, _) if killed.is_none() => {
            (EXIT_REBOOT, Some(format!("Container {name} is being rebooted.")))
        }
        WaitStatus::Exited(_, c) => (c, Some(format!("Container {name} failed with error code {c}."))),
        WaitStatus::Signaled(_, s, _) => {
            let why = killed.map(|k| format!(" ({k})")).unwrap_or_default();
            (1, Some(format!("Container {name} terminated by signal {}{why}.", signal::name(s as i32))))
        }
        _ => (1, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Pid;

    #[test]
    fn boot_and_run_statuses() {
        let p = Pid::from_raw(1);
        assert_eq!(decide(true, "m", WaitStatus::Exited(p, 3), None), (3, None));
        assert_eq!(decide(true, "m", WaitStatus::Signaled(p, Signal::SIGKILL, false), None).0, 137);
        assert_eq!(decide(false, "m", WaitStatus::Exited(p, 0), None).0, 0);
        assert_eq!(decide(false, "m", WaitStatus::Signaled(p, Signal::SIGINT, false), None).0, 0, "halt");
        assert_eq!(decide(false, "m", WaitStatus::Signaled(p, Signal::SIGHUP, false), None).0, EXIT_REBOOT);
        let (c, m) = decide(false, "m", WaitStatus::Signaled(p, Signal::SIGKILL, false), Some("killed with ^]^]^]"));
        assert_eq!(c, 1);
        assert_eq!(m.unwrap(), "Container m terminated by signal SIGKILL (killed with ^]^]^]).");
        assert_eq!(decide(false, "m", WaitStatus::Signaled(p, Signal::SIGHUP, false), Some("x")).0, 1);
    }
}
