//! `run` in the foreground: the signals the runtime gets (the engine's
//! stop, a terminal's ^C or ^\) go on to the container's process, as
//! runc's `run` forwards them, until it exits.

use std::os::fd::AsRawFd;

/// Every signal a process can catch, less the ones about ourselves:
/// SIGCHLD (our child's exit, seen through its pidfd) and the ones
/// the kernel sends for faults.
fn forwarded() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in Signal::iterator() {
        if !matches!(
            s,
            Signal::SIGCHLD
                | Signal::SIGKILL
                | Signal::SIGSTOP
                | Signal::SIGSEGV
                | Signal::SIGBUS
                | Signal::SIGFPE
                | Signal::SIGILL
                | Signal::SIGTRAP
                | Signal::SIGSYS
        ) {
            set.add(s);
        }
    }
    set
}

/// Blocks the forwarded signals before the container starts (so none is
/// lost in between); `wait` takes them from a signalfd.
pub struct Forwarder {
    fd: Option<nix::sys::signalfd::SignalFd>,
    old: nix::sys::signal::SigSet,
}

impl Forwarder {
    pub fn block() -> Forwarder {
        let set = forwarded();
        let mut old = nix::sys::signal::SigSet::empty();
        let _ = nix::sys::signal::pthread_sigmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
        let fd = nix::sys::signalfd::SignalFd::with_flags(&set, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC).ok();
        Forwarder { fd, old }
    }

    /// Waits for our child `pid` and forwards every signal we receive to
    /// it; its exit code, or 128+signal.
    pub fn wait(self, pid: i32) -> i32 {
        let (Some(sfd), Ok(pidfd)) = (self.fd.as_ref(), crate::sys::pidfd_open(pid)) else {
            return super::verbs::wait(pid);
        };
        loop {
            let mut fds = [
                libc::pollfd { fd: sfd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            // SAFETY: poll on two descriptors we own.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n < 0 {
                continue;
            }
            if fds[1].revents != 0 {
                return super::verbs::wait(pid);
            }
            if let Ok(Some(info)) = sfd.read_signal() {
                // SAFETY: plain kill(2) of our own child.
                unsafe { libc::kill(pid, info.ssi_signo as i32) };
            }
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = nix::sys::signal::pthread_sigmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}
