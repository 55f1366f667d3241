//! The launcher's side: it keeps the machine's /dev/fuse descriptor,
//! starts the server (`berth-views`, a child in the machine's
//! `supervisor/` cgroup) and, when it dies, starts another on the same
//! connection, so the guest's files go on working without a restart.
//! No thread: the launcher's event loop calls `reaped` and `tick`.

use crate::views::inflight::Inflight;
use crate::views::machine::{Machine, Spec};
use crate::views::server::Server;
use crate::views::ViewsError;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// A server that dies sooner than this after its start waits this long
/// before the next one (a crash loop must not eat the host's CPU).
const BACKOFF: Duration = Duration::from_secs(1);

pub struct Views {
    fuse: OwnedFd,
    inflight: Inflight,
    spec: Spec,
    cgroup: Option<OwnedFd>,
    child: Option<(libc::pid_t, Instant)>,
    restart_at: Option<Instant>,
}

impl Views {
    /// Starts serving the machine's views on `fuse`, from a process in the
    /// cgroup `cgroup_dir`.
    pub fn start(fuse: OwnedFd, spec: Spec, cgroup_dir: &Path) -> Result<Views, ViewsError> {
        let inflight = Inflight::new().map_err(|e| ViewsError::sys("mapping the views' shared page", e))?;
        let cgroup = std::fs::File::open(cgroup_dir).ok().map(OwnedFd::from);
        let mut v = Views { fuse, inflight, spec, cgroup, child: None, restart_at: None };
        v.spawn()?;
        Ok(v)
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<libc::pid_t> {
        self.child.map(|(p, _)| p)
    }

    fn spawn(&mut self) -> Result<(), ViewsError> {
        let launcher = std::process::id() as libc::pid_t;
        // SAFETY: the launcher is single-threaded.
        let cloned = unsafe { crate::sys::clone3(0, self.cgroup.as_ref().map(|c| c.as_raw_fd()), false) }
            .map_err(|e| ViewsError::sys("starting the views server", e))?;
        match cloned {
            None => self.serve(launcher),
            Some(c) => {
                self.child = Some((c.pid, Instant::now()));
                Ok(())
            }
        }
    }

    /// The server process; never returns.
    fn serve(&mut self, launcher: libc::pid_t) -> ! {
        crate::sys::set_name("berth-views");
        let _ = crate::sys::set_parent_death_signal(libc::SIGKILL);
        if nix::unistd::getppid().as_raw() != launcher {
            // SAFETY: the launcher is gone; so is the machine.
            unsafe { libc::_exit(0) }
        }
        crate::sys::reset_signals();
        // Nothing of the launcher's (its setup socket, the console) stays
        // open here but the connection and stdio for the log.
        let keep = self.fuse.as_raw_fd() as u32;
        // SAFETY: plain close_range around the one descriptor we keep.
        unsafe {
            libc::syscall(libc::SYS_close_range, 3u32, keep - 1, 0u32);
            libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32);
        }
        let fuse = self.fuse.try_clone().unwrap_or_else(|_| {
            // SAFETY: nothing to serve with.
            unsafe { libc::_exit(1) }
        });
        let machine = Machine::new(self.spec.clone());
        let code = Server::new(fuse, machine).run(&mut self.inflight);
        // SAFETY: leave without the launcher's destructors.
        unsafe { libc::_exit(code) }
    }

    /// Tells whether `pid` was the server; if so, plans its successor
    /// unless it ended because the machine's filesystem is gone.
    pub fn reaped(&mut self, pid: libc::pid_t, status: &nix::sys::wait::WaitStatus) -> bool {
        let Some((ours, since)) = self.child else { return false };
        if pid != ours {
            return false;
        }
        self.child = None;
        if matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)) {
            return true;
        }
        tracing::warn!("the views server of {} ended ({status:?}); starting another", self.spec.name);
        let wait = if since.elapsed() < BACKOFF { BACKOFF } else { Duration::ZERO };
        self.restart_at = Some(Instant::now() + wait);
        true
    }

    /// When `tick` has work to do.
    pub fn wake(&self) -> Option<Instant> {
        self.restart_at
    }

    pub fn tick(&mut self) {
        if self.restart_at.is_some_and(|t| Instant::now() >= t) {
            self.restart_at = None;
            if let Err(e) = self.spawn() {
                tracing::warn!("restarting the views server of {}: {e}", self.spec.name);
                self.restart_at = Some(Instant::now() + BACKOFF);
            }
        }
    }
}
