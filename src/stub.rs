//! The stub init for `run --as-pid2`: PID 1 that starts the command as
//! PID 2, reaps every orphan, forwards the usual signals, and exits with
//! the command's status.

use crate::exec::Plan;
use crate::ipc::{self, Msg};
use crate::sys;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};

const FORWARDED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGQUIT,
    Signal::SIGCONT,
    Signal::SIGWINCH,
];

pub fn run(plan: Plan, sock: &OwnedFd) -> ! {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    let _ = set.thread_block();
    // SAFETY: single-threaded.
    let child = match unsafe { sys::clone3(0, None, false) } {
        Ok(None) => {
            // The command gets its own process group and, on a terminal,
            // the foreground, so ^C reaches it once, not twice.
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if nix::unistd::isatty(0).unwrap_or(false) {
                let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpid());
            }
            sys::reset_signals();
            let err = plan.exec();
            let msg = match &err {
                crate::error::Error::Exec { msg, missing } => {
                    Msg::ExecFailed(if *missing { libc::ENOENT } else { libc::EACCES }, msg.clone())
                }
                other => Msg::Error(other.to_string()),
            };
            let _ = ipc::send(sock, &msg);
            // SAFETY: leave without destructors.
            unsafe {
                libc::_exit(if matches!(err, crate::error::Error::Exec { missing: true, .. }) { 127 } else { 126 })
            }
        }
        Ok(Some(c)) => Pid::from_raw(c.pid),
        Err(_) => unsafe { libc::_exit(125) },
    };
    // The launcher learns the exec succeeded when the last copy of the
    // socket closes: ours must go now.
    // SAFETY: we own no Rust object over this fd past this point.
    unsafe { libc::close(sock.as_raw_fd()) };
    sys::set_name("berth-stub");
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => unsafe { libc::_exit(code) },
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => unsafe { libc::_exit(128 + s as i32) },
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
