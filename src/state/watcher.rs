//! The watcher: a small process outside the machine's cgroup that outlives
//! a killed launcher and removes what it left.

use crate::state::record::Record;
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

/// A small process outside the machine's cgroup that outlives a killed
/// launcher and removes what it left. The launcher holds the write end of
/// a pipe; it writes one byte after cleaning up itself, and EOF without
/// that byte means it died.
pub struct Watcher {
    _pipe: OwnedFd,
}

impl Watcher {
    pub fn spawn(left: Record) -> std::io::Result<Watcher> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // SAFETY: the launcher is single-threaded here.
        match unsafe { crate::sys::clone3(0, None, false) }? {
            None => {
                let keep = r.as_raw_fd();
                // Drop every descriptor but the pipe: above all the lock
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
                // SAFETY: fd 3 is the pipe we just placed there.
                let mut pipe = unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(3) };
                // The launcher never writes: EOF is its exit, however it
                // came about.
                let mut b = [0u8; 1];
                while matches!(pipe.read(&mut b), Ok(n) if n > 0) {}
                crate::state::cleanup::sweep_after_exit(&left);
                // SAFETY: leave without the launcher's destructors.
                unsafe { libc::_exit(0) }
            }
            Some(_) => {
                drop(r);
                Ok(Watcher { _pipe: w })
            }
        }
    }
}
