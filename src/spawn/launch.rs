//! A machine's start, top to bottom: lock the name and the tree, probe the
//! host, reserve the id range, plan, shift the tree if the plan says so,
//! create the layers, the record and the watcher, the scope and cgroups,
//! then hand over to the supervisor (supervisor.rs) until the guest ends.

use crate::error::{Context, Error, Result};
use crate::host::cgroup::{Cgroups, Owner};
use crate::host::machined;
use crate::ids::userns::{self, Ownership, Range};
use crate::mount::ephemeral::Layers;
use crate::plan::host::HostFacts;
use crate::plan::{Plan, TreeIds};
use crate::settings::config::Config;
use crate::spawn::supervisor::Supervisor;
use crate::state::cleanup;
use crate::state::record::{self, Class, Kind, Record};
use crate::state::watcher::Watcher;
use crate::{ids::shift, state::lock};
use std::time::{Duration, Instant};

/// What the launcher holds for the machine's lifetime. The clean-up of
/// everything it created (the scope it sits in itself, layers, the record,
/// lock files) is the watcher's, once the launcher has exited: that way
/// the launcher never migrates back out of its cgroup (an RCU grace period
/// on the critical path) and a killed launcher is cleaned up exactly like
/// one that exited.
struct Held {
    cgroups: Cgroups,
    watcher: Watcher,
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
    if let Some(t) = &cfg.template_copy {
        let _s = tracing::info_span!("template").entered();
        crate::settings::layers::from_template(t, &cfg.root).map_err(Error::Usage)?;
    }
    let (name_lock, tree) = {
        let _s = tracing::info_span!("lock").entered();
        (lock_name(&cfg.name)?, lock_tree(cfg)?)
    };
    // With the name lock held: is machined there, and is the name free
    // with it? A registration whose leader is dead is removed here.
    let machined = machined::prepare(cfg.register, &cfg.name)? == machined::Presence::Present;
    // The journal's directory exists before the bind sources are probed.
    crate::mount::guestfiles::link_journal_on_host(cfg)?;
    let facts = HostFacts::probe(cfg)?;
    let (range, range_lock) = reserve_ids(cfg, &facts)?;
    // Every decision, before anything exists: a limit this host cannot
    // apply stops the start here.
    let plan = {
        let _s = tracing::info_span!("plan").entered();
        Plan::new(cfg, &facts, range)?
    };
    tracing::debug!(?range, tree_ids = ?plan.tree_ids, owner = ?plan.cgroups.owner, mounts = plan.mounts.len(), "planned");
    if let (Some(r), TreeIds::Chown) = (range, plan.tree_ids) {
        shift_tree(cfg, r)?;
    }
    let cgroups = plan.cgroups.clone();
    let owner = cgroups.owner;
    let layers = Layers::create(cfg, range, plan.tree_ids == TreeIds::Idmap)?;
    let mut record =
        new_record(cfg, &plan, &layers, lock_files(cfg, &name_lock, range_lock.as_ref())?, machined, range);
    // The watcher first: from here on, a killed launcher is cleaned up.
    let watcher = match Watcher::spawn(record.clone()) {
        Ok(w) => w,
        Err(e) => {
            layers.remove();
            return Err(Error::sys("starting the clean-up watcher", e));
        }
    };
    // On failure the watcher, seeing the launcher's end of their socket close without a
    // word, removes what exists.
    record.write().ctx(|| format!("writing {}", record::record_path(&cfg.name).display()))?;
    let held = Held { cgroups, watcher, _tree: tree, _name_lock: name_lock, _range_lock: range_lock, layers };
    let mut registered = false;
    // Where the launcher was before systemd's scope took it in.
    let origin = crate::host::cgroup::own_path("self");
    let mut controller = None;
    let result = (|| {
        if owner == Owner::Systemd {
            controller = Some(start_scope(cfg, &held.cgroups, &plan)?);
        }
        {
            let _s = tracing::info_span!("cgroups").entered();
            held.cgroups.create(&plan.limits)?;
            if owner == Owner::Unit && facts.systemd() {
                crate::host::scope::set_properties(&held.cgroups.unit(), &plan.limits.dbus)?;
            }
        }
        let mut sup = Supervisor::start(cfg, &plan, range, machined, &held.layers)?;
        // Made after the outer child is cloned, which so never holds it.
        sup.parker = held.watcher.parker().ok();
        let r = sup.run(cfg, &mut record);
        registered = sup.registered;
        r
    })();
    end(cfg, held, &record, Ending { registered, controller, origin, owner }, result)
}

/// What the end of a start needs to know besides its result.
struct Ending {
    registered: bool,
    /// The scope berth created (None: a unit's own or cgroupfs).
    controller: Option<libc::pid_t>,
    origin: Option<std::path::PathBuf>,
    owner: Owner,
}

/// Unregisters, removes the scope of a failed start, and leaves the rest
/// to the watcher (or, in a unit of its own, cleans up itself).
fn end(cfg: &Config, held: Held, record: &Record, e: Ending, result: Result<i32>) -> Result<i32> {
    let Ending { registered, controller, origin, owner } = e;
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
        held.cgroups.leave_and_end(origin.as_deref(), c);
    }
    if owner == Owner::Unit {
        // systemd kills what is left of the unit (the watcher too) once
        // the launcher exits, so the launcher cleans up itself; it only
        // removes the leaves, not the cgroup it sits in.
        drop(held);
        cleanup::sweep(record, Duration::from_secs(2), Duration::from_secs(1));
        return result;
    }
    // Locks and the watcher's socket are released by the kernel when this
    // process exits, not before: the watcher cleans up only once the
    // launcher is gone, so it must not see EOF or a free name lock while
    // the launcher still sits in the scope it removes.
    std::mem::forget(held);
    result
}

/// The guest's id range, reserved under its lock (None without a user
/// namespace).
fn reserve_ids(cfg: &Config, facts: &HostFacts) -> Result<(Option<Range>, Option<lock::LockFile>)> {
    // A tree shifted on disk before keeps its range if it is free.
    let prefer = match (cfg.ownership, facts.shift) {
        (Ownership::Chown | Ownership::Auto, shift::State::Done(b) | shift::State::Partial(b)) => Some(b),
        _ => None,
    };
    // Inside a user namespace with no room for a range of its own (berth
    // in a machine), pick maps the guest onto the same ids (see host/nested.rs).
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
    Ok(match reserved {
        Some((r, l)) => (Some(r), l),
        None => (None, None),
    })
}

/// Shifts the tree's owners on disk onto the range (the plan said chown).
fn shift_tree(cfg: &Config, r: Range) -> Result<()> {
    let _s = tracing::info_span!("shift").entered();
    let t0 = Instant::now();
    if shift::ensure(&cfg.root, r.base, cfg.read_only)? && !cfg.quiet {
        eprint!(
            "Shifted the ownership of {} to {} in {:.1}s.\r\n",
            cfg.root.display(),
            r.base,
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Asks systemd for the machine's scope and checks berth landed in it;
/// returns the pid of the scope's controller.
fn start_scope(cfg: &Config, cgroups: &Cgroups, plan: &Plan) -> Result<libc::pid_t> {
    let controller = crate::host::scope::start(&crate::host::scope::ScopeSpec {
        unit: cgroups.unit(),
        slice: &cfg.slice,
        description: format!("Container {} (berth)", cfg.name),
        stop_timeout: cfg.stop_timeout,
        properties: &plan.limits.dbus,
    })?;
    let own = crate::host::cgroup::own_path("self").map(|p| cgroups.hierarchy.join(p));
    if own.as_deref() != Some(cgroups.scope.as_path()) {
        return Err(Error::Setup(format!(
            "systemd placed berth in {}, not in {}",
            own.map(|p| p.display().to_string()).unwrap_or_else(|| "an unknown cgroup".into()),
            cgroups.scope.display()
        )));
    }
    Ok(controller)
}

/// Every lock file the machine's clean-up removes once nobody holds it.
fn lock_files(
    cfg: &Config,
    name_lock: &lock::LockFile,
    range_lock: Option<&lock::LockFile>,
) -> Result<Vec<std::path::PathBuf>> {
    let (local, global) = lock::tree_lock_paths(&cfg.root).ctx(|| "locating the tree's lock files".into())?;
    Ok(local
        .into_iter()
        .chain([global, name_lock.path().to_path_buf()])
        .chain(range_lock.map(|l| l.path().to_path_buf()))
        .collect())
}

/// The machine's record as it starts (the leader comes later).
fn new_record(
    cfg: &Config,
    plan: &Plan,
    layers: &Layers,
    locks: Vec<std::path::PathBuf>,
    machined: bool,
    range: Option<Range>,
) -> Record {
    Record {
        version: record::RECORD_VERSION,
        name: cfg.name.clone(),
        uuid: cfg.uuid.clone(),
        class: Class::Container,
        kind: if cfg.is_run() { Kind::Run } else { Kind::Boot },
        root: cfg.root.clone(),
        launcher: std::process::id(),
        leader: None,
        started_us: record::now_us(),
        cgroups: plan.cgroups.clone(),
        locks,
        layers: layers.dirs(),
        machined,
        ids: range,
        policy: cfg.policy.clone(),
        net: Default::default(),
    }
}
