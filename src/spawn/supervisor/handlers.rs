//! What the supervisor does for each event: a report from the setup, a
//! notify message, a signal, the guest's exit, a stop request or a
//! deadline.

use super::{Supervisor, MIGRATE_DELAY, TRIM_DELAY};
use crate::error::{Context, Error, Result};
use crate::host::cgroup::Owner;
use crate::host::machined;
use crate::ids::userns;
use crate::settings::config::Config;
use crate::spawn::console::Console;
use crate::spawn::protocol::{self, Command, Report};
use crate::spawn::{notify, stop};
use crate::state::record::Record;
use crate::sys;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use sd_notify::NotifyState;
use std::time::{Duration, Instant};

impl Supervisor {
    pub(super) fn on_setup(&mut self, cfg: &Config, record: &mut Record) -> Result<()> {
        let Some(sock) = &self.setup else {
            return Ok(());
        };
        match protocol::read_report(sock) {
            Ok(Some(Report::NotifySocket(fd))) => self.notify = Some(fd),
            Ok(Some(Report::Console { master, slave })) => {
                self.console = Some(Console::new(cfg.console, master, slave))
            }
            Ok(Some(Report::GuestCreated(pid))) => {
                let fd = sys::pidfd_open(pid).ctx(|| "watching the guest's PID 1".into())?;
                self.inner = Some((pid, fd));
                if let Err(e) = self.prepare_guest(cfg, pid, record) {
                    self.fail(e);
                    return Ok(());
                }
                record.leader = Some(pid as u32);
                let _ = record.write();
            }
            Ok(Some(Report::Sysinfo(fd))) => {
                let machine = crate::views::machine::Machine::new(self.views_spec(cfg));
                self.sysinfo = Some(crate::views::sysinfo::Listener::new(fd, machine));
            }
            Ok(Some(Report::Views(fuse))) => {
                // views: start the server; the outer child's lookups wait for it.
                let spec = self.views_spec(cfg);
                match crate::views::supervise::Views::start(fuse, spec, &self.cgroups.supervisor()) {
                    Ok(v) => self.views = Some(v),
                    Err(e) => self.fail(e.into()),
                }
            }
            Ok(Some(Report::Failed(f))) => self.fail(f.into()),
            // Nothing more right now (the socket is non-blocking).
            Err(nix::Error::EAGAIN) => {}
            Ok(None) | Err(_) => {
                self.setup = None;
                if self.error.is_none() {
                    if self.inner.is_none() {
                        self.fail(Error::Setup(
                            "the container's setup ended without starting the guest; run with -v for details".into(),
                        ));
                    } else if self.status.is_none() {
                        self.started = true;
                        // Moving into supervisor/ stalls every fork and exit
                        // on the host for an RCU grace period: not while an
                        // init boots (it forks a lot) nor for a short
                        // command, but once the guest is ready or has run
                        // a few seconds. In a unit of systemd's, the
                        // launcher is there already.
                        if self.cgroups.owner == Owner::Berth {
                            self.migrate_at = Some(Instant::now() + MIGRATE_DELAY);
                        }
                        self.trim_at = Some(Instant::now() + TRIM_DELAY);
                        if self.protect {
                            if let Err(e) = std::fs::write("/proc/self/oom_score_adj", "-1000") {
                                tracing::warn!("exempting the launcher from the OOM killer: {e}");
                            }
                        }
                        let status = format!("Container {} running.", cfg.name);
                        if cfg.notify_ready {
                            let _ = sd_notify::notify(false, &[NotifyState::Status(&status)]);
                        } else {
                            self.ready = true;
                            let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&status)]);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The sync points between the guest's creation and its start: id
    /// maps and cgroup ownership for a user namespace, then `Proceed`;
    /// the network and the registration (while the outer child builds
    /// the tree), then `Start`.
    pub(super) fn prepare_guest(&mut self, cfg: &Config, pid: i32, record: &mut Record) -> Result<()> {
        if let Some(r) = self.range {
            userns::write_maps(pid, r).ctx(|| format!("writing the id maps of the guest ({})", r.map_line().trim()))?;
            self.cgroups.delegate_payload(r.base, r.base)?;
        }
        for g in &self.v1 {
            g.attach(pid).ctx(|| format!("moving the guest into {}", g.dir.display()))?;
        }
        let sock = self.setup.as_ref().ok_or_else(|| Error::Setup("the setup socket closed early".into()))?;
        protocol::command(sock, Command::Proceed).ctx(|| "releasing the container's setup".into())?;
        // net hook 2: the guest's namespace exists; configure it.
        {
            let _span = tracing::info_span!("network").entered();
            self.net.attach(pid, &mut |net| {
                record.net = net.clone();
                record.write()
            })?;
            if let Some(p) = &self.parker {
                self.net.slow_to_close().into_iter().for_each(|fd| p.park(fd));
            }
        }
        // While the guest waits for `Start` it cannot have exited, and
        // machined reads the unit from its cgroup.
        if self.machined {
            machined::register(&machined::Machine {
                name: cfg.name.clone(),
                uuid: cfg.uuid.clone(),
                root: cfg.root.display().to_string(),
                leader: pid as u32,
                ifindices: self.net.ifindices(),
            })?;
            self.registered = true;
        }
        // An outer child that failed meanwhile has closed its end; its
        // report, still queued, says why, so a send that fails here adds
        // nothing.
        if let Some(sock) = &self.setup {
            if let Err(e) = protocol::command(sock, Command::Start) {
                tracing::debug!("sending Start to the outer child: {e}");
            }
        }
        Ok(())
    }

    fn views_spec(&self, cfg: &Config) -> crate::views::machine::Spec {
        crate::views::machine::Spec {
            name: cfg.name.clone(),
            payload: self.cgroups.payload(),
            hierarchy: self.cgroups.hierarchy.clone(),
            leader: self.inner.as_ref().map(|(p, _)| *p).unwrap_or(0),
        }
    }

    pub(super) fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
        // Whatever exists of the guest goes now.
        if let Some((_, fd)) = &self.inner {
            let _ = sys::pidfd_send_signal(fd, libc::SIGKILL);
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.outer), Signal::SIGKILL);
        if self.inner.is_none() {
            // No guest: the outer child's exit ends the loop.
            self.deadline.get_or_insert(Instant::now() + Duration::from_secs(5));
        }
    }

    pub(super) fn on_notify(&mut self, cfg: &Config) {
        let (Some(sock), Some((pid, _))) = (&self.notify, &self.inner) else {
            // Not knowing the leader yet, nothing can be trusted; drop it.
            if let Some(sock) = &self.notify {
                let _ = notify::drain(sock, -1);
            }
            return;
        };
        for n in notify::drain(sock, *pid) {
            if let Some(s) = &n.status {
                let _ = sd_notify::notify(false, &[NotifyState::Status(s)]);
            }
            if n.ready && !self.ready && cfg.notify_ready {
                self.ready = true;
                let _ = sd_notify::notify(false, &[NotifyState::Ready]);
            }
            if n.ready && self.migrate_at.is_some() {
                self.migrate_at = Some(Instant::now());
            }
        }
    }

    pub(super) fn on_signals(&mut self, cfg: &Config) {
        while let Ok(Some(si)) = self.sigfd.read_signal() {
            let sig = si.ssi_signo as i32;
            match sig {
                libc::SIGCHLD => self.reap(),
                libc::SIGWINCH => {
                    if let Some(c) = &self.console {
                        c.resize();
                    }
                }
                libc::SIGPIPE => {}
                libc::SIGTERM | libc::SIGINT => self.on_stop_request(cfg, sig),
                _ => {
                    if cfg.is_run() {
                        self.send(sig);
                    }
                }
            }
        }
    }

    pub(super) fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(st) => {
                    let pid = st.pid().map(|p| p.as_raw());
                    if let (Some(v), Some(p)) = (self.views.as_mut(), pid) {
                        if v.reaped(p, &st) {
                            continue;
                        }
                    }
                    if pid.is_some() && pid == self.inner.as_ref().map(|(p, _)| *p) {
                        self.status = Some(st);
                    } else if pid == Some(self.outer) && self.inner.is_none() {
                        if let WaitStatus::Exited(_, 0) = st {
                        } else if self.error.is_none() {
                            // Died without a word: drain the socket first.
                            self.error = Some(Error::Setup(format!("the container's setup process died ({st:?})")));
                        }
                        if self.error.is_some() {
                            self.status = Some(st);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn send(&mut self, sig: i32) {
        if let Some((_, fd)) = &self.inner {
            let _ = sys::pidfd_send_signal(fd, sig);
            self.last_signal_sent = Some(sig);
        }
    }

    pub(super) fn kill(&mut self, sig: i32, why: &'static str) {
        self.killed = Some(why);
        self.send(sig);
    }

    pub(super) fn on_stop_request(&mut self, cfg: &Config, sig: i32) {
        if !self.started || self.inner.is_none() {
            self.fail(Error::Setup("interrupted while starting the container".into()));
            return;
        }
        self.stop_requests += 1;
        if self.stop_requests > 1 {
            self.kill(libc::SIGKILL, "killed on a second stop request");
            return;
        }
        let _ = sd_notify::notify(false, &[NotifyState::Stopping, NotifyState::Status("Stopping the container.")]);
        self.deadline = Some(Instant::now() + cfg.stop_timeout);
        match stop::request(cfg, sig) {
            stop::Request::Signal(s) => self.send(s),
            stop::Request::Initctl => {
                let pid = self.inner.as_ref().map(|(p, _)| *p).unwrap_or(0);
                if let Err(e) = stop::initctl_halt(pid) {
                    tracing::warn!("asking sysvinit to halt through /run/initctl failed: {e}; sending SIGPWR");
                    self.send(libc::SIGPWR);
                }
            }
        }
    }

    pub(super) fn on_deadline(&mut self, cfg: &Config) {
        self.deadline = None;
        if self.inner.is_none() || self.status.is_some() {
            // Setup failed and the outer child is stuck: give up on it.
            if self.status.is_none() {
                self.status = Some(WaitStatus::Exited(nix::unistd::Pid::from_raw(self.outer), 1));
            }
            return;
        }
        let sig = if cfg.is_run() { cfg.kill_signal.unwrap_or(libc::SIGKILL) } else { libc::SIGKILL };
        let sig = if self.last_signal_sent == Some(sig) { libc::SIGKILL } else { sig };
        self.kill(sig, "did not stop within --stop-timeout");
        if sig != libc::SIGKILL {
            self.deadline = Some(Instant::now() + cfg.stop_timeout);
        }
    }
}
