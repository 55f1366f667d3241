//! Removing what a machine left behind: by the watcher once its launcher
//! is gone, by a `--keep-unit` launcher itself, and by `berth gc` (also
//! quietly before every start) for machines whose watcher died too.

use crate::host::cgroup::{Cgroups, Owner};
use crate::state::lock;
use crate::state::record::{record_path, temp_path, Record, MACHINES_DIR};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Removes everything the record names, provided nobody holds the
/// machine's name lock (a live launcher). Returns what was removed.
pub fn sweep(rec: &Record, patience: Duration, lock_wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + lock_wait;
    let name_lock = loop {
        match lock::lock_name(&rec.name) {
            Ok(l) => break l,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return Vec::new(),
        }
    };
    sweep_held(rec, name_lock, patience)
}

/// The sweep, with the machine's name lock already held.
fn sweep_held(rec: &Record, name_lock: lock::LockFile, patience: Duration) -> Vec<String> {
    let mut removed = Vec::new();
    let cg = &rec.cgroups;
    let mine = if cg.owner == Owner::Unit { cg.payload() } else { cg.scope.clone() };
    if (mine.exists() || cg.v1.iter().any(|d| d.exists())) && cg.remove(patience) {
        removed.push(format!("cgroup {}", cg.scope.display()));
    }
    // machined without systemd keeps a dead machine registered.
    if rec.machined && crate::host::machined::unregister_if_dead(&rec.name) {
        removed.push(format!("machined registration {}", rec.name));
    }
    for d in &rec.layers {
        if d.exists() && fs::remove_dir_all(d).is_ok() {
            removed.push(format!("layer {}", d.display()));
        }
    }
    // net hook 4: the machine's rules, links and subnet; the record on
    // disk is newer than the watcher's copy (written once they existed).
    let net = crate::state::record::Record::read(&rec.name).map(|r| r.net).unwrap_or_else(|| rec.net.clone());
    removed.extend(crate::net::cleanup(&net));
    let _ = fs::remove_file(temp_path(&rec.name));
    if fs::remove_file(record_path(&rec.name)).is_ok() {
        removed.push(format!("record {}", record_path(&rec.name).display()));
    }
    for l in &rec.locks {
        if l.exists() && lock::remove_if_unheld(l) {
            removed.push(format!("lock {}", l.display()));
        }
    }
    drop(name_lock);
    removed
}

/// The watcher's sweep, once its launcher is gone. Processes the launcher
/// forked without exec (the guest's setup, helpers) inherit its lock
/// descriptors; one still dying in the machine's cgroup would keep the
/// name lock and make the sweep give up. No new launcher can own that
/// cgroup meanwhile (it needs the name lock), so they are killed until
/// the lock is free.
pub fn sweep_after_exit(rec: &Record) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match lock::lock_name(&rec.name) {
            // Kept through the sweep: a new launcher of the name waits
            // until the old machine's scope is gone.
            Ok(l) => return sweep_held(rec, l, Duration::from_secs(10)),
            Err(_) => {
                // Unless a new launcher of the name has recorded itself.
                if Record::read(&rec.name).is_some_and(|r| r.launcher != rec.launcher) {
                    break;
                }
                rec.cgroups.kill();
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    sweep(rec, Duration::from_secs(10), Duration::from_secs(2))
}

/// Finds the records of machines whose launcher is gone and removes what
/// they left. Runs quietly before every start and loudly as `berth gc`.
pub fn gc() -> Vec<String> {
    let mut removed = Vec::new();
    for e in fs::read_dir(MACHINES_DIR).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(owner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) {
            // A record half written by a launcher that died at once.
            if let Ok(_l) = lock::lock_name(owner) {
                if fs::remove_file(e.path()).is_ok() {
                    removed.push(format!("record {}", e.path().display()));
                }
            }
            continue;
        }
        match Record::read(&name) {
            Some(rec) => removed.extend(sweep(&rec, Duration::from_secs(2), Duration::ZERO)),
            // Unreadable (another berth's format): the record goes once its
            // name lock is free; what it named is found by the sweeps below.
            None => {
                if let Ok(_l) = lock::lock_name(&name) {
                    if fs::remove_file(e.path()).is_ok() {
                        removed.push(format!("record {}", e.path().display()));
                    }
                }
            }
        }
    }
    removed.extend(empty_scopes());
    // Name lock files of launchers killed before their watcher existed.
    for e in fs::read_dir(lock::NAME_LOCK_DIR).into_iter().flatten().flatten() {
        let p = e.path();
        let stale = p.extension().is_some_and(|x| x == "lock")
            && p.file_stem().is_some_and(|n| !record_path(&n.to_string_lossy()).exists());
        if stale && lock::remove_if_unheld(&p) {
            removed.push(format!("lock {}", p.display()));
        }
    }
    // Layers whose launcher died before it could record them. A running
    // machine (its name lock held) keeps its layers, also while it starts
    // and has not recorded them yet.
    let is_stale = |name: &str, dir: &Path| -> bool {
        let running = matches!(lock::lock_name(name), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        if !running {
            return true;
        }
        match Record::read(name) {
            Some(r) => !r.layers.iter().any(|l| l == dir),
            None => false,
        }
    };
    for dir in
        crate::mount::ephemeral::stale_layers(Path::new(crate::mount::ephemeral::DEFAULT_LAYER_PARENT), &is_stale)
    {
        if fs::remove_dir_all(&dir).is_ok() {
            removed.push(format!("layer {}", dir.display()));
        }
    }
    removed
}

/// Empty scopes of machines whose launcher and watcher were both killed
/// (no record left). Only empty ones with berth's leaves: a scope with
/// processes may be another manager's machine.
fn empty_scopes() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(h) = crate::host::cgroup::hierarchy() else { return removed };
    for e in fs::read_dir(h.join("machine.slice")).into_iter().flatten().flatten() {
        let fname = e.file_name().to_string_lossy().into_owned();
        let Some(name) = fname.strip_prefix("machine-").and_then(|n| n.strip_suffix(".scope")) else { continue };
        let empty =
            fs::read_to_string(e.path().join("cgroup.events")).is_ok_and(|t| t.lines().any(|l| l == "populated 0"));
        let ours = e.path().join("payload").is_dir();
        if empty && ours && !record_path(name).exists() {
            if let Ok(_l) = lock::lock_name(name) {
                let cg = Cgroups { hierarchy: h.clone(), scope: e.path(), owner: Owner::Berth, v1: Vec::new() };
                if cg.remove(Duration::ZERO) {
                    removed.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
    }
    removed
}
