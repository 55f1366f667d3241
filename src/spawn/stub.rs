//! The stub init for `run --as-pid2`: PID 1 that starts the command as
//! PID 2, reaps every orphan, forwards the usual signals, and exits with
//! the command's status. It runs as `berth-stub CMD ARGS...`, re-executed
//! from berth's sealed copy with the guest's environment (see
//! `exec::Plan::exec_stub`).

use crate::spawn::exec::{exec_in_path, STUB_REPORT_FD};
use crate::spawn::protocol;
use crate::sys;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::fd::{BorrowedFd, RawFd};

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

/// Entry point (from main, recognised by argv[0]); never returns.
pub fn main(args: Vec<OsString>) -> ! {
    let argv = sys::cstrings(args);
    let env = sys::environ_cstrings("");
    let path = std::env::var("PATH").unwrap_or_default();
    // SAFETY: the descriptor was placed there by the inner child.
    let report = unsafe { BorrowedFd::borrow_raw(STUB_REPORT_FD as RawFd) };
    if argv.is_empty() {
        protocol::fail(&report, &crate::error::Error::Setup("the stub init got no command".into()));
        // SAFETY: plain exit.
        unsafe { libc::_exit(125) }
    }
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    let _ = set.thread_block();
    // PID 2 is free again once the proc helper is gone; ask for it so the
    // command is PID 2 as documented, and take any pid if we cannot.
    // SAFETY: single-threaded.
    let cloned = match unsafe { sys::clone3_with_pid(2) } {
        Err(_) => unsafe { sys::clone3(0, None, false) },
        ok => ok,
    };
    let child = match cloned {
        Ok(None) => {
            // The command gets its own process group and, on a terminal,
            // the foreground, so ^C reaches it once, not twice. Its new
            // group is a background one until tcsetpgrp succeeds, and the
            // kernel answers TIOCSPGRP from a background group with
            // SIGTTOU, which would stop it for good (as shells do, the
            // signal is blocked around the call; reset before exec).
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if nix::unistd::isatty(0).unwrap_or(false) {
                let mut ttou = SigSet::empty();
                ttou.add(Signal::SIGTTOU);
                let _ = ttou.thread_block();
                let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpid());
            }
            sys::reset_signals();
            // The report socket closes when the exec succeeds.
            let _ = nix::fcntl::fcntl(STUB_REPORT_FD, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
            let err = exec_in_path(&argv, &env, &path);
            protocol::fail(&report, &err);
            let code = err.exit_code(true);
            // SAFETY: leave without destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(Some(c)) => Pid::from_raw(c.pid),
        Err(_) => unsafe { libc::_exit(125) },
    };
    // The launcher learns the exec succeeded when the last copy of the
    // socket closes: ours must go now.
    let _ = nix::unistd::close(STUB_REPORT_FD);
    sys::set_name("berth-stub");
    // It waits for the command's whole life.
    crate::sys::trim::release();
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                // SAFETY: plain exits.
                Ok(WaitStatus::Exited(pid, code)) if pid == child => unsafe { libc::_exit(code) },
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => unsafe { libc::_exit(128 + s as i32) },
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
