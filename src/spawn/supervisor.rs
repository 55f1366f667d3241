//! The launcher's supervisor: one single-threaded event loop over
//! signals, the setup socket, the notify socket and the console, from the
//! guest's creation until its PID 1 is gone. It answers the children's
//! reports (see protocol.rs for the order of the start), relays READY=1,
//! turns stop requests into what the guest's init understands, and
//! reports the guest's end as berth's exit status.

use crate::error::{Context, Error, Result};
use crate::host::cgroup::Cgroups;
use crate::host::machined::Register;
use crate::ids::userns::Range;
use crate::mount::ephemeral::Layers;
use crate::plan::{Plan, TreeIds};
use crate::settings::config::Config;
use crate::settings::config::ConsoleMode;
use crate::spawn::child::{self, ChildCtx};
use crate::spawn::console::{Console, Input};
use crate::spawn::exit;
use crate::spawn::protocol::{self};
use crate::state::record::Record;
use crate::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::WaitStatus;
use sd_notify::NotifyState;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

mod handlers;

/// What the poll said of the sysinfo listener.
enum Sysinfo {
    Idle,
    Call,
    Gone,
}

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
    /// views: the server of the guest's /proc views, once mounted.
    views: Option<crate::views::supervise::Views>,
    /// views: the listener answering the guest's sysinfo(2) calls.
    sysinfo: Option<crate::views::sysinfo::Listener>,
    /// Parks descriptors with the watcher, whose last close is slow.
    pub parker: Option<crate::state::watcher::Parker>,
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
        let boot_id = crate::settings::inputs::random_uuid()?;
        let filter = cfg.policy.seccomp()?;
        let launcher = std::process::id() as libc::pid_t;
        // net hook 1: what the guest's network needs, before it exists.
        let net = crate::net::Network::new(&plan.network.clone().unwrap_or_default(), &cfg.name);
        // views: opened here, outside the guest's device policy.
        let masks_inside = crate::plan::mounts::proc_masks_inside(cfg, range);
        let views =
            crate::views::mount::wanted(cfg.proc_views, masks_inside).then(crate::views::mount::open_device).flatten();
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
                views,
            });
        };
        // The outer child hands the connection back once it is mounted.
        drop(views);
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
            views: None,
            sysinfo: None,
            parker: None,
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
        let views_wake = self.views.as_ref().and_then(|v| v.wake());
        let wake = [self.deadline, self.migrate_at, self.trim_at, views_wake].into_iter().flatten().min();
        let timeout = match wake {
            Some(d) => {
                PollTimeout::try_from(d.saturating_duration_since(Instant::now()).as_millis().min(60_000) as u32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let stdin = std::io::stdin();
        let (sig_r, setup_r, notify_r, master_r, stdin_r, sysinfo_r, net_r) = {
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
            // views: the guest's sysinfo calls.
            let sysinfo_at = self.sysinfo.as_ref().map(|l| {
                fds.push(PollFd::new(l.fd(), PollFlags::POLLIN));
                fds.len() - 1
            });
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
            // views: POLLHUP once no process uses the filter any more.
            let sysinfo_r = sysinfo_at.and_then(|i| fds[i].revents()).map(|r| {
                if r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                    Sysinfo::Gone
                } else if r.contains(PollFlags::POLLIN) {
                    Sysinfo::Call
                } else {
                    Sysinfo::Idle
                }
            });
            (ready(Some(0)), ready(idx[0]), ready(idx[1]), ready(idx[2]), ready(idx[3]), sysinfo_r, net_r)
        };
        match sysinfo_r {
            Some(Sysinfo::Call) => {
                if let Some(l) = self.sysinfo.as_mut() {
                    l.serve();
                }
            }
            // Polling a hung-up listener would return at once, every time,
            // while the guest's last processes exit.
            Some(Sysinfo::Gone) => self.sysinfo = None,
            _ => {}
        }
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
        if let Some(v) = self.views.as_mut() {
            v.tick();
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
}
