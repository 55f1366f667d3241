//! berth's own runtime state under /run/berth: one record per running
//! machine (the management verbs read these where machined is absent), the
//! watcher that cleans up after a killed launcher, and the sweep that
//! removes what a dead launcher left behind.

use crate::cgroup::Cgroups;
use crate::lock;
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MACHINES_DIR: &str = "/run/berth/machines";

pub fn record_path(name: &str) -> PathBuf {
    Path::new(MACHINES_DIR).join(name)
}

/// Writes (atomically) the record of a running machine.
pub fn write_record(name: &str, fields: &[(&str, String)]) -> std::io::Result<()> {
    fs::create_dir_all(MACHINES_DIR)?;
    let path = record_path(name);
    // Hidden while incomplete: only this machine's own clean-up (or a gc
    // that holds its name lock) ever removes it.
    let tmp = Path::new(MACHINES_DIR).join(format!(".{name}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    for (k, v) in fields {
        writeln!(f, "{k}={v}")?;
    }
    fs::rename(&tmp, &path)
}

pub fn read_record(name: &str) -> Option<BTreeMap<String, String>> {
    let text = fs::read_to_string(record_path(name)).ok()?;
    Some(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// What a dead launcher's clean-up must remove.
#[derive(Debug, Clone)]
pub struct Leftovers {
    pub name: String,
    pub cgroups: Option<Cgroups>,
    pub lock_files: Vec<PathBuf>,
    /// Host directories the machine wrote (overlay layers).
    pub dirs: Vec<PathBuf>,
    /// Whether the machine was (to be) registered with machined.
    pub machined: bool,
    /// The launcher's pid (0: unknown).
    pub launcher: u32,
}

impl Leftovers {
    /// Removes everything, provided nobody holds the machine's name lock
    /// (a live launcher). Returns a description of what was removed.
    pub fn sweep(&self, patience: Duration, lock_wait: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + lock_wait;
        let name_lock = loop {
            match lock::lock_name(&self.name) {
                Ok(l) => break l,
                Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return Vec::new(),
            }
        };
        self.sweep_held(name_lock, patience)
    }

    /// The sweep, with the machine's name lock already held.
    fn sweep_held(&self, name_lock: lock::LockFile, patience: Duration) -> Vec<String> {
        let mut removed = Vec::new();
        if let Some(cg) = &self.cgroups {
            let mine = if cg.owner == crate::cgroup::Owner::Unit { cg.payload() } else { cg.scope.clone() };
            if (mine.exists() || cg.v1.iter().any(|d| d.exists())) && cg.remove(patience) {
                removed.push(format!("cgroup {}", cg.scope.display()));
            }
        }
        // machined without systemd keeps a dead machine registered.
        if self.machined && crate::machined::unregister_if_dead(&self.name) {
            removed.push(format!("machined registration {}", self.name));
        }
        for d in &self.dirs {
            if d.exists() && fs::remove_dir_all(d).is_ok() {
                removed.push(format!("layer {}", d.display()));
            }
        }
        let _ = fs::remove_file(Path::new(MACHINES_DIR).join(format!(".{}.tmp", self.name)));
        if fs::remove_file(record_path(&self.name)).is_ok() {
            removed.push(format!("record {}", record_path(&self.name).display()));
        }
        for l in &self.lock_files {
            if l.exists() && lock::remove_if_unheld(l) {
                removed.push(format!("lock {}", l.display()));
            }
        }
        drop(name_lock);
        removed
    }
}

impl Leftovers {
    /// The watcher's sweep, once its launcher is gone. Processes the
    /// launcher forked without exec (the guest's setup, helpers) inherit
    /// its lock descriptors; one still dying in the machine's cgroup would
    /// keep the name lock and make the sweep give up. No new launcher can
    /// own that cgroup meanwhile (it needs the name lock), so they are
    /// killed until the lock is free.
    pub fn sweep_after_exit(&self) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            match lock::lock_name(&self.name) {
                // Kept through the sweep: a new launcher of the name waits
                // until the old machine's scope is gone.
                Ok(l) => return self.sweep_held(l, Duration::from_secs(10)),
                Err(_) => {
                    // Unless a new launcher of the name has recorded itself.
                    let theirs = read_record(&self.name)
                        .and_then(|r| r.get("LAUNCHER").and_then(|p| p.parse::<u32>().ok()))
                        .is_some_and(|p| p != self.launcher);
                    if theirs {
                        break;
                    }
                    if let Some(cg) = &self.cgroups {
                        cg.kill();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.sweep(Duration::from_secs(10), Duration::from_secs(2))
    }
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
        let Some(rec) = read_record(&name) else {
            continue;
        };
        let cgroups = rec.get("CGROUP").map(|scope| Cgroups {
            hierarchy: PathBuf::from(rec.get("HIERARCHY").cloned().unwrap_or_default()),
            scope: PathBuf::from(scope),
            owner: crate::cgroup::Owner::parse(rec.get("CGROUP_OWNER").map_or("", |s| s.as_str())),
            v1: rec
                .get("V1CGROUPS")
                .map(|l| l.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect())
                .unwrap_or_default(),
        });
        let lock_files = rec
            .get("LOCKS")
            .map(|l| l.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect())
            .unwrap_or_default();
        let dirs = rec
            .get("LAYERS")
            .map(|l| l.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect())
            .unwrap_or_default();
        let machined = rec.get("MACHINED").is_some_and(|v| v == "yes");
        removed.extend(
            Leftovers { name, cgroups, lock_files, dirs, machined, launcher: 0 }
                .sweep(Duration::from_secs(2), Duration::ZERO),
        );
    }
    // Empty scopes of machines whose launcher and watcher were both killed
    // (no record left). Only empty ones: a scope with processes may be
    // another manager's machine.
    if let Ok(h) = crate::cgroup::hierarchy() {
        let slice = h.join("machine.slice");
        for e in fs::read_dir(&slice).into_iter().flatten().flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            let Some(name) = fname.strip_prefix("machine-").and_then(|n| n.strip_suffix(".scope")) else { continue };
            let empty =
                fs::read_to_string(e.path().join("cgroup.events")).is_ok_and(|t| t.lines().any(|l| l == "populated 0"));
            let ours = e.path().join("payload").is_dir();
            if empty && ours && !record_path(name).exists() {
                if let Ok(_l) = lock::lock_name(name) {
                    let cg = Cgroups {
                        hierarchy: h.clone(),
                        scope: e.path(),
                        owner: crate::cgroup::Owner::Berth,
                        v1: Vec::new(),
                    };
                    if cg.remove(Duration::ZERO) {
                        removed.push(format!("cgroup {}", e.path().display()));
                    }
                }
            }
        }
    }
    // Name lock files of launchers killed before their watcher existed.
    for e in fs::read_dir(lock::NAME_LOCK_DIR).into_iter().flatten().flatten() {
        let p = e.path();
        let stale = p.extension().is_some_and(|x| x == "lock")
            && p.file_stem().is_some_and(|n| !record_path(&n.to_string_lossy()).exists());
        if stale && lock::remove_if_unheld(&p) {
            removed.push(format!("lock {}", p.display()));
        }
    }
    // Layers whose launcher died before it could record them.
    // A running machine (its name lock held) keeps its layers, also while
    // it starts and has not recorded them yet.
    let is_stale = |name: &str, dir: &Path| -> bool {
        let running = matches!(lock::lock_name(name), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        if !running {
            return true;
        }
        match read_record(name).and_then(|r| r.get("LAYERS").cloned()) {
            Some(layers) => !layers.split(':').any(|l| Path::new(l) == dir),
            None => false,
        }
    };
    for dir in crate::ephemeral::stale_layers(Path::new(crate::ephemeral::DEFAULT_LAYER_PARENT), &is_stale) {
        if fs::remove_dir_all(&dir).is_ok() {
            removed.push(format!("layer {}", dir.display()));
        }
    }
    removed
}

/// A small process outside the machine's cgroup that outlives a killed
/// launcher and removes what it left. The launcher holds the write end of
/// a pipe; it writes one byte after cleaning up itself, and EOF without
/// that byte means it died.
pub struct Watcher {
    _pipe: OwnedFd,
}

impl Watcher {
    pub fn spawn(left: Leftovers) -> std::io::Result<Watcher> {
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
                left.sweep_after_exit();
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
