//! The host-side supervisor: validates and locks, creates the cgroups,
//! starts the children (see child.rs for the topology), then runs one
//! single-threaded event loop over signals, the setup socket, the notify
//! socket and the console until the guest's PID 1 is gone, and finally
//! removes everything it created.

use crate::cli::ConsoleMode;
use crate::error::{Context, Error, Result};
use crate::host::cgroup::{Cgroups, Owner};
use crate::host::machined::{self, Register};
use crate::ids::userns::{self, Ownership, Range};
use crate::mount::ephemeral::Layers;
use crate::plan::host::HostFacts;
use crate::plan::{Plan, TreeIds};
use crate::settings::config::{Config, InitKind, Mode};
use crate::spawn::child::{self, ChildCtx};
use crate::spawn::console::{Console, Input};
use crate::spawn::protocol::{self, Command, Report};
use crate::state::cleanup;
use crate::state::record::{self, Class, Kind, Record};
use crate::state::watcher::Watcher;
use crate::{ids::shift, spawn::notify, state::lock, sys, sys::signal};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use sd_notify::NotifyState;
use std::io::Write;
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

/// Exit status of `berth boot` when the guest asked for a reboot.
pub const EXIT_REBOOT: i32 = 133;

/// What the launcher holds for the machine's lifetime. The clean-up of
/// everything it created (the scope it sits in itself, layers, the record,
/// lock files) is the watcher's, once the launcher has exited: that way
/// the launcher never migrates back out of its cgroup (an RCU grace period
/// on the critical path) and a killed launcher is cleaned up exactly like
/// one that exited.
struct Held {
    cgroups: Cgroups,
    _watcher: Watcher,
    _tree: lock::TreeLock,
    _name_lock: lock::LockFile,
    _range_lock: Option<lock::LockFile>,
    layers: Layers,
}

/// Takes the machine's name lock. A lock held by a launcher that has
/// already exited (its watcher is still cleaning up) or that has not yet
/// recorded itself is waited for, briefly.
fn lock_name(name: &str) -> Result<lock::LockFile> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match lock::lock_name(name) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let holder_alive =
                    Record::read(name).is_some_and(|r| std::path::Path::new(&format!("/proc/{}", r.launcher)).exists());
                if holder_alive || Instant::now() >= deadline {
                    return Err(Error::Busy(format!(
                        "a machine named '{name}' is already running; stop it or pick another name with -M"
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(Error::sys(format!("locking machine name {name}"), e)),
        }
    }
}

/// Takes the tree's lock (shared when it is only read). A watcher
/// removing a lock file it found free holds it for an instant: retry
/// briefly before calling the tree busy.
fn lock_tree(cfg: &Config) -> Result<lock::TreeLock> {
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        match lock::lock_tree(&cfg.root, !cfg.tree_read_only()) {
            Ok(t) => return Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(busy_tree(cfg)),
            Err(e) => return Err(Error::sys(format!("locking tree {}", cfg.root.display()), e)),
        }
    }
}

fn busy_tree(cfg: &Config) -> Error {
    let how = if cfg.read_only { "read-write" } else { "already" };
    Error::Busy(format!(
        "tree {} is {how} in use by another machine (berth or systemd-nspawn); stop that machine first{}",
        cfg.root.display(),
        if cfg.read_only { "" } else { ", or start this one with --read-only" }
    ))
}

/// Runs one container to its end; returns berth's exit status.
pub fn launch(cfg: &Config) -> Result<i32> {
    let _start = tracing::info_span!("start", machine = %cfg.name).entered();
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Usage("berth needs root to create namespaces and mounts; run it as root".into()));
    }
    cleanup::gc();
    let (name_lock, tree) = {
        let _s = tracing::debug_span!("lock").entered();
        (lock_name(&cfg.name)?, lock_tree(cfg)?)
    };
    // With the name lock held: is machined there, and is the name free
    // with it? A registration whose leader is dead is removed here.
    let machined = machined::prepare(cfg.register, &cfg.name)? == machined::Presence::Present;
    let facts = HostFacts::probe(cfg)?;
    // A tree shifted on disk before keeps its range if it is free.
    let prefer = match (cfg.ownership, facts.shift) {
        (Ownership::Chown | Ownership::Auto, shift::State::Done(b) | shift::State::Partial(b)) => Some(b),
        _ => None,
    };
    // Inside a user namespace with no room for a range of its own (berth
    // in a machine), pick maps the guest onto the same ids (see nested.rs).
    let inside =
        crate::host::nested::pick_inside(crate::host::nested::own_ids()).filter(|_| cfg.userns == userns::Mode::Pick);
    let reserved = match inside {
        Some(r) => {
            if !cfg.quiet {
                eprint!(
                    "Running in a user namespace of {} ids: the guest gets its own user namespace on the same ids.\r\n",
                    r.size
                );
            }
            Some((r, None))
        }
        None => userns::reserve(cfg.userns, &cfg.name, prefer).map_err(|e| {
            Error::Busy(format!(
                "cannot reserve a user namespace id range: {e}; pick another with --private-users=BASE"
            ))
        })?,
    };
    let (range, range_lock) = match reserved {
        Some((r, l)) => (Some(r), l),
        None => (None, None),
    };
    // Every decision, before anything exists: a limit this host cannot
    // apply stops the start here.
    let plan = {
        let _s = tracing::debug_span!("plan").entered();
        Plan::new(cfg, &facts, range)?
    };
    tracing::debug!(?range, tree_ids = ?plan.tree_ids, owner = ?plan.cgroups.owner, mounts = plan.mounts.len(), "planned");
    if let (Some(r), TreeIds::Chown) = (range, plan.tree_ids) {
        let _s = tracing::debug_span!("shift").entered();
        let t0 = Instant::now();
        if shift::ensure(&cfg.root, r.base, cfg.read_only).map_err(|e| Error::Usage(e.to_string()))? && !cfg.quiet {
            eprint!(
                "Shifted the ownership of {} to {} in {:.1}s.\r\n",
                cfg.root.display(),
                r.base,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let cgroups = plan.cgroups.clone();
    let owner = cgroups.owner;
    let layers = Layers::create(cfg, range, plan.tree_ids == TreeIds::Idmap)?;
    let (local, global) = lock::tree_lock_paths(&cfg.root).ctx(|| "locating the tree's lock files".into())?;
    let lock_files: Vec<_> = local
        .into_iter()
        .chain([global, name_lock.path().to_path_buf()])
        .chain(range_lock.as_ref().map(|l| l.path().to_path_buf()))
        .collect();
    let mut record = Record {
        version: record::RECORD_VERSION,
        name: cfg.name.clone(),
        uuid: cfg.uuid.clone(),
        class: Class::Container,
        kind: if cfg.is_run() { Kind::Run } else { Kind::Boot },
        root: cfg.root.clone(),
        launcher: std::process::id(),
        leader: None,
        started_us: record::now_us(),
        cgroups: cgroups.clone(),
        locks: lock_files,
        layers: layers.dirs(),
        machined,
        ids: range,
        policy: cfg.policy.clone(),
    };
    // The watcher first: from here on, a killed launcher is cleaned up.
    let watcher = match Watcher::spawn(record.clone()) {
        Ok(w) => w,
        Err(e) => {
            layers.remove();
            return Err(Error::sys("starting the clean-up watcher", e));
        }
    };
    // On failure the watcher, seeing the launcher's pipe close without a
    // word, removes what exists.
    record.write().ctx(|| format!("writing {}", record::record_path(&cfg.name).display()))?;
    let held = Held { cgroups, _watcher: watcher, _tree: tree, _name_lock: name_lock, _range_lock: range_lock, layers };
    let mut registered = false;
    // Where the launcher was before systemd's scope took it in.
    let origin = crate::host::cgroup::own_path("self");
    let mut controller = None;
    let result = (|| {
        if owner == Owner::Systemd {
            controller = Some(crate::host::scope::start(&crate::host::scope::ScopeSpec {
                unit: held.cgroups.unit(),
                slice: &cfg.slice,
                description: format!("Container {} (berth)", cfg.name),
                stop_timeout: cfg.stop_timeout,
                properties: &plan.limits.dbus,
            })?);
            let own = crate::host::cgroup::own_path("self").map(|p| held.cgroups.hierarchy.join(p));
            if own.as_deref() != Some(held.cgroups.scope.as_path()) {
                return Err(Error::Setup(format!(
                    "systemd placed berth in {}, not in {}",
                    own.map(|p| p.display().to_string()).unwrap_or_else(|| "an unknown cgroup".into()),
                    held.cgroups.scope.display()
                )));
            }
        }
        {
            let _s = tracing::debug_span!("cgroups").entered();
            held.cgroups.create(&plan.limits)?;
            if owner == Owner::Unit && facts.systemd {
                crate::host::scope::set_properties(&held.cgroups.unit(), &plan.limits.dbus)?;
            }
        }
        let mut sup = Supervisor::start(cfg, &plan, range, machined, &held.layers)?;
        let r = sup.run(cfg, &mut record);
        registered = sup.registered;
        r
    })();
    // machined without systemd never notices the leader's end.
    if registered {
        if let Err(e) = machined::unregister(&cfg.name) {
            tracing::warn!("{e}; the watcher tries again");
        }
    }
    if let (Some(c), Err(_)) = (controller, &result) {
        // A failed start: the scope goes before berth exits, so nothing is
        // left and the name can be used again at once. The launcher steps
        // back out of it first, since it goes with the scope.
        crate::host::scope_stop::leave_and_end(&held.cgroups, origin.as_deref(), c);
    }
    if owner == Owner::Unit {
        // systemd kills what is left of the unit (the watcher too) once
        // the launcher exits, so the launcher cleans up itself; it only
        // removes the leaves, not the cgroup it sits in.
        drop(held);
        cleanup::sweep(&record, Duration::from_secs(2), Duration::from_secs(1));
        return result;
    }
    // Locks and the watcher's pipe are released by the kernel when this
    // process exits, not before: the watcher cleans up only once the
    // launcher is gone, so it must not see EOF or a free name lock while
    // the launcher still sits in the scope it removes.
    std::mem::forget(held);
    result
}

struct Supervisor {
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
    /// Register the guest with machined once its PID 1 exists.
    machined: bool,
    registered: bool,
    /// The v1 cgroups the guest's PID 1 joins (hybrid hosts' limits).
    v1: Vec<crate::host::cgroupv1::Group>,
    /// Make the launcher exempt from the OOM killer once the guest runs.
    protect: bool,
}

impl Supervisor {
    fn start(cfg: &Config, plan: &Plan, range: Option<Range>, machined: bool, layers: &Layers) -> Result<Supervisor> {
        let _s = tracing::debug_span!("spawn").entered();
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
            machined,
            registered: false,
            v1: plan.limits.v1.clone(),
            // The scope's limits also count the launcher: an out-of-memory
            // guest must not take it along.
            protect: cfg.properties.iter().any(|p| p.controller() == Some("memory")),
        })
    }

    fn run(&mut self, cfg: &Config, record: &mut Record) -> Result<i32> {
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
        Ok(self.exit_code(cfg, status))
    }

    fn exit_code(&self, cfg: &Config, status: WaitStatus) -> i32 {
        let say = |m: String| {
            if !cfg.quiet {
                eprint!("{m}\r\n");
            }
        };
        if cfg.is_run() {
            return match status {
                WaitStatus::Exited(_, c) => c,
                WaitStatus::Signaled(_, s, _) => 128 + s as i32,
                _ => 1,
            };
        }
        match status {
            WaitStatus::Exited(_, 0) | WaitStatus::Signaled(_, Signal::SIGINT, _) if self.killed.is_none() => {
                say(format!("Container {} exited successfully.", cfg.name));
                0
            }
            WaitStatus::Signaled(_, Signal::SIGHUP, _) if self.killed.is_none() => {
                say(format!("Container {} is being rebooted.", cfg.name));
                EXIT_REBOOT
            }
            WaitStatus::Exited(_, c) => {
                say(format!("Container {} failed with error code {c}.", cfg.name));
                c
            }
            WaitStatus::Signaled(_, s, _) => {
                let why = self.killed.map(|k| format!(" ({k})")).unwrap_or_default();
                say(format!("Container {} terminated by signal {}{why}.", cfg.name, signal::name(s as i32)));
                1
            }
            _ => 1,
        }
    }

    fn step(&mut self, cfg: &Config, record: &mut Record) -> Result<()> {
        let wake = [self.deadline, self.migrate_at].into_iter().flatten().min();
        let timeout = match wake {
            Some(d) => {
                PollTimeout::try_from(d.saturating_duration_since(Instant::now()).as_millis().min(60_000) as u32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let stdin = std::io::stdin();
        let (sig_r, setup_r, notify_r, master_r, stdin_r) = {
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
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(Error::sys("waiting for events", e)),
            }
            let ready =
                |i: Option<usize>| i.map(|i| fds[i].revents().map(|r| !r.is_empty()).unwrap_or(false)).unwrap_or(false);
            (ready(Some(0)), ready(idx[0]), ready(idx[1]), ready(idx[2]), ready(idx[3]))
        };
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
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        self.migrate_at = None;
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
                if let Err(e) = self.prepare_guest(cfg, pid) {
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
    fn prepare_guest(&mut self, cfg: &Config, pid: i32) -> Result<()> {
        if let Some(r) = self.range {
            userns::write_maps(pid, r).ctx(|| format!("writing the id maps of the guest ({})", r.map_line().trim()))?;
            self.cgroups.delegate_payload(r.base, r.base)?;
        }
        for g in &self.v1 {
            g.attach(pid).ctx(|| format!("moving the guest into {}", g.dir.display()))?;
        }
        // While the guest waits here it cannot have exited, and machined
        // reads the unit from its cgroup.
        if self.machined {
            machined::register(&machined::Machine {
                name: cfg.name.clone(),
                uuid: cfg.uuid.clone(),
                root: cfg.root.display().to_string(),
                leader: pid as u32,
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
        match &cfg.mode {
            Mode::Run { .. } => self.send(sig),
            Mode::Boot { kind, .. } => {
                if let Some(s) = cfg.kill_signal {
                    self.send(s);
                    return;
                }
                match kind {
                    InitKind::Systemd => self.send(signal::rtmin() + 3),
                    InitKind::Busybox => self.send(libc::SIGUSR2),
                    InitKind::SysV => {
                        if let Err(e) = self.initctl_halt() {
                            tracing::warn!("asking sysvinit to halt through /run/initctl failed: {e}; sending SIGPWR");
                            self.send(libc::SIGPWR);
                        }
                    }
                    InitKind::Unknown => self.send(libc::SIGTERM),
                }
            }
        }
    }

    /// sysvinit's request to switch to runlevel 0, written to its fifo.
    fn initctl_halt(&self) -> std::io::Result<()> {
        let (pid, _) = self.inner.as_ref().ok_or(std::io::ErrorKind::NotFound)?;
        let mut req = [0u8; 384];
        req[0..4].copy_from_slice(&0x0309_1969i32.to_ne_bytes()); // magic
        req[4..8].copy_from_slice(&1i32.to_ne_bytes()); // INIT_CMD_RUNLVL
        req[8..12].copy_from_slice(&(b'0' as i32).to_ne_bytes());
        // The fifo lives in the guest's /run; reach it through its root.
        let root = std::fs::File::open(format!("/proc/{pid}/root"))?;
        let fifo =
            sys::open_in_root(&root, std::path::Path::new("/run/initctl"), libc::O_WRONLY | libc::O_NONBLOCK, 0)?;
        std::fs::File::from(fifo).write_all(&req)
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
