//! The watcher: a small process outside the machine's cgroup that outlives
//! a killed launcher and removes what it left.

use crate::state::record::Record;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A small process outside the machine's cgroup that outlives a killed
/// launcher and removes what it left. The launcher holds one end of a
/// socket pair and never writes to it: the watcher sees it hang up when
/// the launcher exits, however that came about.
///
/// The pair also parks descriptors whose last close is slow (see
/// [`Parker::park`]): sent to the watcher and never read, they stay
/// queued in its end until it exits, after its clean-up.
pub struct Watcher {
    sock: OwnedFd,
}

impl Watcher {
    pub fn spawn(left: Record) -> std::io::Result<Watcher> {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (r, w) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        // SAFETY: the launcher is single-threaded here.
        match unsafe { crate::sys::clone3(0, None, false) }? {
            None => {
                let keep = r.as_raw_fd();
                // Drop every descriptor but the socket: above all the lock
                // files, which must be released when the launcher dies.
                // SAFETY: single-threaded child; dup2 onto fd 3.
                unsafe { libc::dup2(keep, 3) };
                crate::sys::close_from(4);
                if let Ok(null) = fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
                    for fd in 0..3 {
                        // SAFETY: replacing our own stdio.
                        unsafe { libc::dup2(null.as_raw_fd(), fd) };
                    }
                }
                let _ = nix::unistd::setsid();
                crate::sys::set_name("berth-watch");
                // SAFETY: fd 3 is the socket we just placed there.
                let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(3) };
                // A watcher that waits longer than a short command runs
                // waits without the launcher's start-up pages.
                if !hung_up(&sock, nix::poll::PollTimeout::from(1000u16)) {
                    crate::sys::trim::release();
                    while !hung_up(&sock, nix::poll::PollTimeout::NONE) {}
                }
                crate::state::cleanup::sweep_after_exit(&left);
                // The parked descriptors go with this process, now.
                // SAFETY: leave without the launcher's destructors.
                unsafe { libc::_exit(0) }
            }
            Some(_) => {
                drop(r);
                Ok(Watcher { sock: w })
            }
        }
    }

    /// A handle that parks descriptors with this watcher.
    pub fn parker(&self) -> std::io::Result<Parker> {
        Ok(Parker(self.sock.try_clone()?))
    }
}

/// Parks descriptors with the watcher (see [`Parker::park`]).
#[derive(Debug)]
pub struct Parker(OwnedFd);

impl Parker {
    /// Hands the watcher a reference to `fd`, so that when the launcher
    /// closes its own the kernel's release does not run in the launcher.
    /// Closing the last reference to a packet socket waits for an RCU
    /// grace period (10 to 15 ms here) in the closing process: parked, a
    /// zone member's exit no longer waits for it. Best effort: a failure
    /// only costs that time.
    pub fn park(&self, fd: BorrowedFd<'_>) {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let fds = [fd.as_raw_fd()];
        let iov = [std::io::IoSlice::new(b"p")];
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        if let Err(e) = sendmsg::<()>(self.0.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], flags, None) {
            tracing::debug!("parking a descriptor with the watcher: {e}");
        }
    }
}

/// Waits up to `timeout` for the launcher's end to close. Only the hang-up
/// is asked for: parked descriptors wait, unread, in the queue.
fn hung_up(sock: &OwnedFd, timeout: nix::poll::PollTimeout) -> bool {
    let mut fds = [nix::poll::PollFd::new(sock.as_fd(), nix::poll::PollFlags::empty())];
    match nix::poll::poll(&mut fds, timeout) {
        Ok(0) | Err(nix::Error::EINTR) => false,
        Ok(_) => true,
        // Nothing to wait on: behave as if the launcher were gone.
        Err(_) => true,
    }
}
