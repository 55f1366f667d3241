//! The machine's cgroups in the cgroup2 hierarchy (on a hybrid host, the
//! one at /sys/fs/cgroup/unified): `machine.slice/machine-NAME.scope` (or
//! another slice) with the launcher in `supervisor/` and the guest alone in
//! `payload/`. The scope is made by berth in cgroupfs, by systemd as a
//! transient unit, or is the unit berth runs in (`--keep-unit`).

use crate::error::{Context, Error, Result};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Who made the machine's cgroup, and so what berth removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// berth made it in cgroupfs and removes it.
    Berth,
    /// systemd made it (a transient scope) with berth in it; berth makes
    /// the two leaves, and systemd removes the scope once it is empty.
    Systemd,
    /// The unit berth runs in (`--keep-unit`): berth makes and removes
    /// only the two leaves.
    Unit,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Berth => "berth",
            Owner::Systemd => "systemd",
            Owner::Unit => "unit",
        }
    }

    pub fn parse(s: &str) -> Owner {
        match s {
            "systemd" => Owner::Systemd,
            "unit" => Owner::Unit,
            _ => Owner::Berth,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Cgroups {
    pub hierarchy: PathBuf,
    pub scope: PathBuf,
    pub owner: Owner,
    /// The machine's cgroups in v1 hierarchies (hybrid hosts' limits).
    pub v1: Vec<PathBuf>,
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
    Err(Error::Host(
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

/// A slice's place in the tree, as systemd lays it out: `a-b.slice` lives
/// at `a.slice/a-b.slice`; `-.slice` is the root.
pub fn slice_dir(slice: &str) -> PathBuf {
    let mut dir = PathBuf::new();
    let Some(stem) = slice.strip_suffix(".slice").filter(|s| *s != "-") else {
        return dir;
    };
    let parts: Vec<&str> = stem.split('-').collect();
    for i in 1..=parts.len() {
        dir.push(format!("{}.slice", parts[..i].join("-")));
    }
    dir
}

/// The machine's path below a cgroup root (cgroup2, or the launcher's own
/// cgroup in a v1 hierarchy).
pub fn machine_rel(machine: &str, slice: &str) -> PathBuf {
    slice_dir(slice).join(scope_name(machine))
}

impl Cgroups {
    pub fn for_machine(machine: &str, slice: &str, owner: Owner) -> Result<Cgroups> {
        let hierarchy = hierarchy()?;
        let scope = hierarchy.join(machine_rel(machine, slice));
        Ok(Cgroups { hierarchy, scope, owner, v1: Vec::new() })
    }

    /// `--keep-unit`: the unit's own cgroup, which must be a delegated
    /// service or scope, not the root.
    pub fn own_unit() -> Result<Cgroups> {
        let hierarchy = hierarchy()?;
        let own = own_path("self").unwrap_or_default();
        let unit = own.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !(unit.ends_with(".service") || unit.ends_with(".scope")) {
            return Err(Error::Host(format!(
                "--keep-unit: berth runs in cgroup '/{}', which is not a service or scope unit; start it from a unit with Delegate=yes (see berth@.service) or drop --keep-unit",
                own.display()
            )));
        }
        Ok(Cgroups { hierarchy: hierarchy.clone(), scope: hierarchy.join(own), owner: Owner::Unit, v1: Vec::new() })
    }

    /// The unit name systemd knows the machine's cgroup by.
    pub fn unit(&self) -> String {
        self.scope.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    pub fn payload(&self) -> PathBuf {
        self.scope.join("payload")
    }

    pub fn supervisor(&self) -> PathBuf {
        self.scope.join("supervisor")
    }

    /// Creates the cgroups and applies the limits: the scope (unless
    /// systemd made it or it is berth's unit) and its two leaves, the
    /// device program and cgroup2 limits on `payload/`, and the v1
    /// cgroups of a hybrid host. The caller holds the machine's name lock,
    /// so a scope of berth's that already exists was left by a dead
    /// launcher.
    pub fn create(&self, plan: &crate::host::limits::Plan) -> Result<()> {
        let r = match self.owner {
            Owner::Berth => self.create_scope(),
            Owner::Systemd | Owner::Unit => self.create_leaves(),
        };
        r.and_then(|_| self.restrict(plan)).inspect_err(|_| {
            if self.owner == Owner::Berth {
                self.remove(Duration::ZERO);
            } else {
                self.remove_leaves();
            }
        })
    }

    fn restrict(&self, plan: &crate::host::limits::Plan) -> Result<()> {
        let payload = fs::File::open(self.payload()).ctx(|| format!("opening {}", self.payload().display()))?;
        match crate::security::devices::restrict(&payload, &plan.devices) {
            Ok(()) => {}
            // In a container (a user namespace, or a seccomp filter without
            // bpf(2)) the outer machine's device policy binds this cgroup.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) && crate::host::nested::in_container() => tracing::info!(
                "the device policy cannot be attached inside a container ({e}); the outer machine's policy applies"
            ),
            Err(e) => return Err(Error::sys("attaching the device policy to the guest's cgroup", e)),
        }
        // On berth's own scope, above the guest's cgroup namespace; the
        // launcher is exempt from the OOM killer instead. In a unit of
        // someone else's only payload/ is berth's to write.
        let target = if self.owner == Owner::Berth { self.scope.clone() } else { self.payload() };
        crate::host::limits::apply_v2(plan, &target)?;
        for g in &plan.v1 {
            g.create()
                .map_err(|e| Error::sys(format!("creating the {} cgroup {}", g.controller, g.dir.display()), e))?;
        }
        Ok(())
    }

    /// In a cgroup that holds the launcher (systemd's scope, or berth's
    /// own unit): make the leaves and move the launcher, and whatever else
    /// of berth's sits there, into `supervisor/` at once, since cgroup2
    /// lets a cgroup with processes delegate no controllers.
    fn create_leaves(&self) -> Result<()> {
        for d in [self.payload(), self.supervisor()] {
            match fs::create_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::sys(format!("creating cgroup {}", d.display()), e)),
            }
        }
        let procs = fs::read_to_string(self.scope.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            match fs::write(self.supervisor().join("cgroup.procs"), pid) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    return Err(Error::sys(format!("moving process {pid} to {}", self.supervisor().display()), e))
                }
            }
        }
        self.enable_controllers(&self.scope);
        Ok(())
    }

    fn remove_leaves(&self) {
        kill_all(&self.payload());
        let _ = remove_tree(&self.payload());
        let _ = fs::remove_dir(self.supervisor());
    }

    fn create_scope(&self) -> Result<()> {
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
                Err(e) => return Err(Error::sys(format!("creating cgroup {}", self.scope.display()), e)),
            }
        }
        self.delegate_controllers();
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
    /// host offers them (none on a hybrid host's empty cgroup2), from the
    /// root down, in a tree nobody else manages.
    fn delegate_controllers(&self) {
        let mut dir = self.hierarchy.clone();
        let rel: Vec<_> =
            self.scope.strip_prefix(&self.hierarchy).map(|r| r.components().collect()).unwrap_or_default();
        for c in rel {
            self.enable_controllers(&dir);
            dir.push(c);
        }
        self.enable_controllers(&self.scope);
    }

    fn enable_controllers(&self, dir: &Path) {
        let ctrl = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        let enable: Vec<String> = ctrl.split_whitespace().map(|c| format!("+{c}")).collect();
        if !enable.is_empty() {
            if let Err(e) = fs::write(dir.join("cgroup.subtree_control"), enable.join(" ")) {
                tracing::debug!("enabling controllers in {}: {e}", dir.display());
            }
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

    /// Kills every process of the machine (berth's own leftovers in a
    /// scope berth or systemd made for it too), removing nothing.
    pub fn kill(&self) {
        kill_all(&if self.owner == Owner::Unit { self.payload() } else { self.scope.clone() });
    }

    /// Kills whatever is left of the machine and removes its cgroups,
    /// waiting up to `patience` for dying processes to leave. Returns
    /// whether they are gone.
    pub fn remove(&self, patience: Duration) -> bool {
        let v1_gone = self.v1.iter().all(|d| crate::host::cgroupv1::remove(d, patience));
        if self.owner == Owner::Unit {
            self.remove_leaves();
            return v1_gone;
        }
        if self.owner == Owner::Systemd {
            return self.end_systemd_scope(patience) && v1_gone;
        }
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
        // Slices are shared; remove the ones berth made once empty.
        if self.owner == Owner::Berth {
            let mut up = self.scope.parent();
            while let Some(slice) = up.filter(|p| *p != self.hierarchy && p.starts_with(&self.hierarchy)) {
                if fs::remove_dir(slice).is_err() {
                    break;
                }
                up = slice.parent();
            }
        }
        v1_gone
    }

    /// After a failed start: ends the scope's controller (else systemd's
    /// RequestStop would reach the launcher as a SIGTERM), moves the launcher
    /// out of the machine's scope (back to `origin`, its cgroup before the
    /// scope) and ends the scope, waiting until systemd has collected it.
    /// When the launcher cannot move, its watcher does the same once the
    /// launcher has exited.
    pub fn leave_and_end(&self, origin: Option<&std::path::Path>, controller: libc::pid_t) {
        let cgroups = self;
        let pid = nix::unistd::Pid::from_raw(controller);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok() {
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        let Some(origin) = origin else { return };
        let procs = cgroups.hierarchy.join(origin).join("cgroup.procs");
        if let Err(e) = std::fs::write(&procs, std::process::id().to_string()) {
            tracing::debug!("moving the launcher back to {}: {e}", procs.display());
            return;
        }
        if !cgroups.remove(Duration::from_secs(5)) {
            tracing::warn!("{} may still exist; 'berth gc' removes it later", cgroups.unit());
        }
    }
}

impl Cgroups {
    /// systemd's scope: kill what is left, remove berth's two leaves and
    /// have systemd stop the unit, leaving the scope's own directory to
    /// systemd (see scope_stop.rs). Returns whether the unit is gone.
    fn end_systemd_scope(&self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            kill_all(&self.scope);
            let populated = fs::read_to_string(self.scope.join("cgroup.events"))
                .is_ok_and(|t| t.lines().any(|l| l == "populated 1"));
            if !populated {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!("cgroup {} is still busy; 'berth gc' removes it later", self.scope.display());
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        remove_tree(&self.payload());
        remove_tree(&self.supervisor());
        match crate::host::scope_stop::stop_and_wait(&self.unit(), Duration::from_secs(10)) {
            Ok(()) => true,
            Err(e) => {
                // No systemd to ask (the bus is gone): remove it as berth's own.
                tracing::warn!("{e}");
                remove_tree(&self.scope)
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_nest_like_systemd() {
        assert_eq!(slice_dir("machine.slice"), PathBuf::from("machine.slice"));
        assert_eq!(slice_dir("a-b-c.slice"), PathBuf::from("a.slice/a-b.slice/a-b-c.slice"));
        assert_eq!(slice_dir("-.slice"), PathBuf::new());
        assert_eq!(machine_rel("x", "machine.slice"), PathBuf::from("machine.slice/machine-x.scope"));
    }
}
