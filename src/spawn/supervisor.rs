//! The launcher's supervisor: one single-threaded event loop over
//! signals, the setup socket, the notify socket and the console, from the
//! guest's creation until its PID 1 is gone. It answers the children's
//! reports (see protocol.rs for the order of the start), relays READY=1,
//! turns stop requests into what the guest's init understands, and
//! reports the guest's end as berth's exit status.

use crate::error::{Context, Error, Result};
use crate::host::cgroup::{Cgroups, Owner};
use crate::host::machined::{self, Register};
use crate::ids::userns::{self, Range};
use crate::mount::ephemeral::Layers;
use crate::plan::{Plan, TreeIds};
use crate::settings::config::Config;
use crate::settings::config::ConsoleMode;
use crate::spawn::child::{self, ChildCtx};
use crate::spawn::console::{Console, Input};
use crate::spawn::protocol::{self, Command, Report};
use crate::spawn::{exit, notify, stop};
use crate::state::record::Record;
use crate::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use sd_notify::NotifyState;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

const HANDLED: &[Signal] = &[
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGPIPE,
];

/// How long a booting guest may run before the launcher moves into
/// supervisor/ even without READY=1.
const MIGRATE_DELAY: Duration = Duration::from_secs(3);

/// How long after the start the supervisor gives back the pages of berth
/// that starting touched (sys/trim.rs): past the end of a short command,
/// long before anyone looks at a running machine.
const TRIM_DELAY: Duration = Duration::from_millis(100);

pub struct Supervisor {
    sigfd: SignalFd,
    setup: Option<OwnedFd>,
    notify: Option<OwnedFd>,
    console: Option<Console>,
    outer: libc::pid_t,
    range: Option<Range>,
    cgroups: Cgroups,
    inner: Option<(libc::pid_t, OwnedFd)>,
    error: Option<Error>,
    status: Option<WaitStatus>,
    started: bool,
    ready: bool,
    stop_requests: u32,
    deadline: Option<Instant>,
    killed: Option<&'static str>,
    last_signal_sent: Option<i32>,
    /// When the launcher moves into supervisor/ (see on_setup).
    migrate_at: Option<Instant>,
    /// When the launcher gives back its start-up pages (sys/trim.rs).
    trim_at: Option<Instant>,
    /// Register the guest with machined once its PID 1 exists.
    machined: bool,
    pub registered: bool,
    /// The v1 cgroups the guest's PID 1 joins (hybrid hosts' limits).
    v1: Vec<crate::host::cgroupv1::Group>,
    /// Make the launcher exempt from the OOM killer once the guest runs.
    protect: bool,
    /// net: the guest's network (links, addresses, rules) while it runs.
    net: crate::net::Network,
}

impl Supervisor {
    pub fn start(
        cfg: &Config,
        plan: &Plan,
        range: Option<Range>,
        machined: bool,
        layers: &Layers,
    ) -> Result<Supervisor> {
        let _s = tracing::info_span!("spawn").entered();
        let cgroups = &plan.cgroups;
        let mut mask = SigSet::empty();
        HANDLED.iter().for_each(|s| mask.add(*s));
        mask.thread_block().ctx(|| "blocking signals".into())?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .ctx(|| "creating a signalfd".into())?;
        let (ours, theirs) = protocol::pair().ctx(|| "creating the setup socket".into())?;
        let payload = cgroups.payload_fd()?;
        let boot_id = crate::settings::config::random_uuid()?;
        let filter = cfg.policy.seccomp()?;
        let launcher = std::process::id() as libc::pid_t;
        // net hook 1: what the guest's network needs, before it exists.
        let net = crate::net::Network::new(&cfg.net, &cfg.name);
        // SAFETY: the launcher is single-threaded.
        let cloned = unsafe { sys::clone3(libc::CLONE_NEWNS as u64, Some(payload.as_raw_fd()), false) }
            .ctx(|| "creating the container's mount namespace".into())?;
        let Some(outer) = cloned else {
            drop(ours);
            child::outer(ChildCtx {
                cfg,
                mounts: &plan.mounts,
                sock: theirs,
                launcher,
                boot_id,
                filter,
                range,
                idmap: plan.tree_ids == TreeIds::Idmap,
                layer: layers.layer.as_ref().map(|l| l.dir.clone()),
                upper_tmpfs: layers.layer.as_ref().is_some_and(|l| l.tmpfs),
                overlay_work: layers.overlay_work.clone(),
            });
        };
        drop(theirs);
        nix::fcntl::fcntl(ours.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
            .ctx(|| "configuring the setup socket".into())?;
        Ok(Supervisor {
            sigfd,
            setup: Some(ours),
            notify: None,
            console: None,
            outer: outer.pid,
            range,
            cgroups: cgroups.clone(),
            inner: None,
            error: None,
            status: None,
            started: false,
            ready: false,
            stop_requests: 0,
            deadline: None,
            killed: None,
            last_signal_sent: None,
            migrate_at: None,
            trim_at: None,
            machined,
            registered: false,
            v1: plan.limits.v1.clone(),
            // The scope's limits also count the launcher: an out-of-memory
            // guest must not take it along.
            protect: cfg.properties.iter().any(|p| p.controller() == Some("memory")),
            net,
        })
    }

    pub fn run(&mut self, cfg: &Config, record: &mut Record) -> Result<i32> {
        if !cfg.quiet {
            let hint = if cfg.console == ConsoleMode::Interactive {
                "\r\nPress ^] three times within 1s to kill the container."
            } else {
                ""
            };
            eprint!("Spawning container {} on {}.{hint}\r\n", cfg.name, cfg.root.display());
            if !self.machined && cfg.register == Register::Auto {
                eprint!("machined is not on the system bus; not registering.\r\n");
            }
        }
        while self.status.is_none() {
            self.step(cfg, record)?;
        }
        // The guest's last words (an exec failure, say) may still sit in
        // the socket when its exit is reaped first, or still be on their
        // way: a failing setup ends the guest's PID 1 (quietly) before it
        // reports why. Read until the setup side has closed the socket.
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Some(sock) = &self.setup {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.setup = None;
                break;
            }
            let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::try_from(left.as_millis() as u32 + 1).unwrap_or(PollTimeout::MAX);
            if matches!(poll(&mut fds, ms), Ok(n) if n > 0) {
                self.on_setup(cfg, record)?;
            }
        }
        if let Some(c) = self.console.as_mut() {
            c.finish();
            c.restore();
        }
        let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let status = self.status.expect("loop ends with a status");
        Ok(exit::status_of(cfg, status, self.killed))
    }

    fn step(&mut self, cfg: &Config, record: &mut Record) -> Result<()> {
        let wake = [self.deadline, self.migrate_at, self.trim_at].into_iter().flatten().min();
        let timeout = match wake {
            Some(d) => {
                PollTimeout::try_from(d.saturating_duration_since(Instant::now()).as_millis().min(60_000) as u32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let stdin = std::io::stdin();
        let (sig_r, setup_r, notify_r, master_r, stdin_r, net_r) = {
            let mut fds: Vec<PollFd> = vec![PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
            let mut idx = [None; 4];
            if let Some(s) = &self.setup {
                idx[0] = Some(fds.len());
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            }
            if let Some(n) = &self.notify {
                idx[1] = Some(fds.len());
                fds.push(PollFd::new(n.as_fd(), PollFlags::POLLIN));
            }
            if let Some(c) = &self.console {
                idx[2] = Some(fds.len());
                fds.push(PollFd::new(c.master_fd(), PollFlags::POLLIN));
                if c.wants_stdin() {
                    idx[3] = Some(fds.len());
                    fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
                }
            }
            // net hook 3: the network's descriptors (DHCP) go last.
            let net_at = fds.len();
            fds.extend(self.net.poll_fds().into_iter().map(|(fd, events)| PollFd::new(fd, events)));
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(Error::sys("waiting for events", e)),
            }
            let ready =
                |i: Option<usize>| i.map(|i| fds[i].revents().map(|r| !r.is_empty()).unwrap_or(false)).unwrap_or(false);
            let net_r: Vec<bool> = (net_at..fds.len()).map(|i| ready(Some(i))).collect();
            (ready(Some(0)), ready(idx[0]), ready(idx[1]), ready(idx[2]), ready(idx[3]), net_r)
        };
        self.net.service(&net_r);
        if setup_r {
            self.on_setup(cfg, record)?;
        }
        if notify_r {
            self.on_notify(cfg);
        }
        if master_r {
            if let Some(c) = self.console.as_mut() {
                c.pump_output();
            }
        }
        if stdin_r {
            if let Some(c) = self.console.as_mut() {
                if c.pump_input() == Input::KillRequested {
                    c.restore();
                    self.kill(libc::SIGKILL, "killed with ^]^]^]");
                }
            }
        }
        if sig_r {
            self.on_signals(cfg);
        }
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                self.on_deadline(cfg);
            }
        }
        if self.migrate_at.is_some_and(|t| Instant::now() >= t) {
            self.migrate()?;
        }
        if self.trim_at.is_some_and(|t| Instant::now() >= t) {
            self.trim_at = None;
            crate::sys::trim::release();
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        self.migrate_at = None;
        self.trim_at = Some(Instant::now());
        self.cgroups.enter_supervisor()
    }

    fn on_setup(&mut self, cfg: &Config, record: &mut Record) -> Result<()> {
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

    /// The sync point between the guest's creation and its setup: id maps
    /// and cgroup ownership for a user namespace, then the go-ahead.
    fn prepare_guest(&mut self, cfg: &Config, pid: i32, record: &mut Record) -> Result<()> {
        if let Some(r) = self.range {
            userns::write_maps(pid, r).ctx(|| format!("writing the id maps of the guest ({})", r.map_line().trim()))?;
            self.cgroups.delegate_payload(r.base, r.base)?;
        }
        for g in &self.v1 {
            g.attach(pid).ctx(|| format!("moving the guest into {}", g.dir.display()))?;
        }
        // net hook 2: the guest's namespace exists; configure it.
        self.net.attach(pid, &mut |net| {
            record.net = net.clone();
            record.write()
        })?;
        // While the guest waits here it cannot have exited, and machined
        // reads the unit from its cgroup.
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
        let sock = self.setup.as_ref().ok_or_else(|| Error::Setup("the setup socket closed early".into()))?;
        protocol::command(sock, Command::Proceed).ctx(|| "releasing the container's setup".into())
    }

    fn fail(&mut self, e: Error) {
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

    fn on_notify(&mut self, cfg: &Config) {
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

    fn on_signals(&mut self, cfg: &Config) {
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

    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(st) => {
                    let pid = st.pid().map(|p| p.as_raw());
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

    fn send(&mut self, sig: i32) {
        if let Some((_, fd)) = &self.inner {
            let _ = sys::pidfd_send_signal(fd, sig);
            self.last_signal_sent = Some(sig);
        }
    }

    fn kill(&mut self, sig: i32, why: &'static str) {
        self.killed = Some(why);
        self.send(sig);
    }

    fn on_stop_request(&mut self, cfg: &Config, sig: i32) {
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

    fn on_deadline(&mut self, cfg: &Config) {
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
