//! The machine's cgroups in the cgroup2 hierarchy (on a hybrid host, the
//! one at /sys/fs/cgroup/unified): `machine.slice/machine-NAME.scope` with
//! the launcher in `supervisor/` and the guest alone in `payload/`.

use crate::error::{Context, Error, Result};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[derive(Debug, Clone)]
pub struct Cgroups {
    pub hierarchy: PathBuf,
    pub scope: PathBuf,
}

fn is_cgroup2(p: &Path) -> bool {
    nix::sys::statfs::statfs(p).map(|s| s.filesystem_type().0 == CGROUP2_SUPER_MAGIC).unwrap_or(false)
}

/// Where the cgroup2 hierarchy is mounted on this host.
pub fn hierarchy() -> Result<PathBuf> {
    for p in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        if is_cgroup2(Path::new(p)) {
            return Ok(PathBuf::from(p));
        }
    }
    Err(Error::Usage(
        "this host has no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified; mount one (mount -t cgroup2 none /sys/fs/cgroup/unified)".into(),
    ))
}

/// The cgroup2 path of a process relative to the hierarchy, from
/// /proc/PID/cgroup's `0::` line.
pub fn own_path(pid: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| l.strip_prefix("0::")).map(|p| PathBuf::from(p.trim_start_matches('/')))
}

pub fn scope_name(machine: &str) -> String {
    format!("machine-{machine}.scope")
}

impl Cgroups {
    pub fn for_machine(machine: &str) -> Result<Cgroups> {
        let hierarchy = hierarchy()?;
        let scope = hierarchy.join("machine.slice").join(scope_name(machine));
        Ok(Cgroups { hierarchy, scope })
    }

    pub fn payload(&self) -> PathBuf {
        self.scope.join("payload")
    }

    pub fn supervisor(&self) -> PathBuf {
        self.scope.join("supervisor")
    }

    /// Creates the scope and its two leaves and moves the calling process
    /// into `supervisor/`. The caller holds the machine's name lock, so a
    /// scope that already exists was left by a dead launcher.
    pub fn create(&self) -> Result<()> {
        if self.scope.exists() {
            self.remove(Duration::from_secs(5));
        }
        // machine.slice may be removed by another machine's clean-up
        // between our mkdirs; retry then.
        let mut tries = 0;
        loop {
            let r = fs::create_dir_all(&self.scope)
                .and_then(|_| fs::create_dir(self.payload()))
                .and_then(|_| fs::create_dir(self.supervisor()));
            match r {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 5 => tries += 1,
                Err(e) => {
                    self.remove(Duration::ZERO);
                    return Err(Error::sys(format!("creating cgroup {}", self.scope.display()), e));
                }
            }
        }
        self.delegate_controllers();
        let payload = fs::File::open(self.payload()).ctx(|| format!("opening {}", self.payload().display()))?;
        if let Err(e) = crate::devices::restrict(&payload) {
            self.remove(Duration::ZERO);
            return Err(Error::sys("attaching the device policy to the guest's cgroup", e));
        }
        Ok(())
    }

    /// Moves the launcher into `supervisor/`. Migrating a process waits for
    /// an RCU grace period in the kernel (tens of milliseconds when the
    /// host is quiet) and holds up every fork meanwhile (CLONE_INTO_CGROUP
    /// included), so the launcher calls this once the guest runs, and a
    /// short-lived helper does it while the launcher goes on; the launcher
    /// reaps it like any child.
    pub fn enter_supervisor(&self) -> Result<()> {
        let procs = self.supervisor().join("cgroup.procs");
        let pid = std::process::id().to_string();
        // SAFETY: the launcher is single-threaded here.
        match unsafe { crate::sys::clone3(0, None, false) }.ctx(|| "starting the cgroup helper".into())? {
            None => {
                crate::sys::set_name("berth-cgroup");
                let code = if fs::write(&procs, pid).is_ok() { 0 } else { 1 };
                // SAFETY: leave without the launcher's destructors.
                unsafe { libc::_exit(code) }
            }
            Some(_) => Ok(()),
        }
    }

    /// Makes the controllers available to the guest's own subtree where the
    /// host offers them (none on a hybrid host's empty cgroup2).
    fn delegate_controllers(&self) {
        let mut dir = self.hierarchy.clone();
        let rel: Vec<_> =
            self.scope.strip_prefix(&self.hierarchy).map(|r| r.components().collect()).unwrap_or_default();
        for c in rel {
            let ctrl = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            let enable: Vec<String> = ctrl.split_whitespace().map(|c| format!("+{c}")).collect();
            if !enable.is_empty() {
                if let Err(e) = fs::write(dir.join("cgroup.subtree_control"), enable.join(" ")) {
                    tracing::debug!("enabling controllers in {}: {e}", dir.display());
                }
            }
            dir.push(c);
        }
    }

    /// Hands `payload/` to the guest's root in a user namespace, so its
    /// init can build its own tree there: the directory and the files the
    /// kernel lists as safe to delegate.
    pub fn delegate_payload(&self, uid: u32, gid: u32) -> Result<()> {
        let (u, g) = (Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid)));
        let listed = fs::read_to_string("/sys/kernel/cgroup/delegate")
            .unwrap_or_else(|_| "cgroup.procs\ncgroup.threads\ncgroup.subtree_control\n".into());
        let payload = self.payload();
        nix::unistd::chown(&payload, u, g).ctx(|| format!("handing {} to the guest's root", payload.display()))?;
        for f in listed.split_whitespace() {
            match nix::unistd::chown(&payload.join(f), u, g) {
                Ok(()) | Err(nix::Error::ENOENT) => {}
                Err(e) => {
                    return Err(Error::sys(format!("handing {} to the guest's root", payload.join(f).display()), e))
                }
            }
        }
        Ok(())
    }

    pub fn payload_fd(&self) -> Result<OwnedFd> {
        fs::File::open(self.payload()).map(OwnedFd::from).ctx(|| format!("opening {}", self.payload().display()))
    }

    /// Kills whatever is left in the scope and removes it, waiting up to
    /// `patience` for dying processes to leave. Returns whether it is gone.
    pub fn remove(&self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            kill_all(&self.scope);
            if remove_tree(&self.scope) {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!("cgroup {} is still busy; 'berth gc' removes it later", self.scope.display());
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The slice is shared; remove it only once it is empty.
        if let Some(slice) = self.scope.parent() {
            let _ = fs::remove_dir(slice);
        }
        true
    }
}

fn kill_all(dir: &Path) {
    if !dir.exists() {
        return;
    }
    if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    // Kernels before 5.14: signal every process below.
    for entry in subdirs_deepest_first(dir) {
        if let Ok(procs) = fs::read_to_string(entry.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Directories below `dir`, deepest first, `dir` last.
fn subdirs_deepest_first(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(subdirs_deepest_first(&e.path()));
            }
        }
    }
    out.push(dir.to_path_buf());
    out
}

fn remove_tree(dir: &Path) -> bool {
    if !dir.exists() {
        return true;
    }
    for d in subdirs_deepest_first(dir) {
        if let Err(e) = fs::remove_dir(&d) {
            if e.kind() != io::ErrorKind::NotFound {
                return false;
            }
        }
    }
    true
}
