//! Resource limits through cgroup v1 controllers, for hybrid hosts whose
//! cgroup2 hierarchy has no controllers. The machine gets one cgroup per
//! v1 controller a `--property` needs, below the launcher's own cgroup in
//! that hierarchy (so limits and accounting the launcher already sits
//! under still apply), and only the guest's PID 1 is attached: limits bind
//! the guest, never the launcher. The guest never sees these hierarchies:
//! its view is cgroup2 only.

use crate::host::property::FileWrite;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a v1 controller's hierarchy is mounted, from mountinfo.
pub fn mountpoint(controller: &str) -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountpoint_in(&info, controller)
}

fn mountpoint_in(mountinfo: &str, controller: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mut r = right.split_whitespace();
        if r.next()? != "cgroup" {
            return None;
        }
        let opts = r.nth(1)?;
        let mount_point = left.split_whitespace().nth(4)?;
        opts.split(',').any(|o| o == controller).then(|| PathBuf::from(unescape(mount_point)))
    })
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// The calling process's path in the v1 hierarchy of `controller`.
pub fn own_path(controller: &str) -> Option<PathBuf> {
    memberships("self")
        .into_iter()
        .find(|(ctrls, _)| ctrls.split(',').any(|c| c == controller))
        .map(|(_, path)| PathBuf::from(path.trim_start_matches('/')))
}

/// The (controllers, path) pairs of /proc/PID/cgroup.
fn memberships(pid: &str) -> Vec<(String, String)> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            Some((ctrls.to_string(), path.to_string()))
        })
        .collect()
}

/// The v1 cgroups (their `cgroup.procs` files) that process `pid` is in
/// and the caller is not: where a process entering the machine must go to
/// share the guest's limits.
pub fn joinable(pid: i32) -> Vec<PathBuf> {
    let ours = memberships("self");
    let mut out = Vec::new();
    for (ctrls, path) in memberships(&pid.to_string()) {
        if ctrls.is_empty() || ctrls.starts_with("name=") || ours.contains(&(ctrls.clone(), path.clone())) {
            continue;
        }
        if let Some(mnt) = ctrls.split(',').next().and_then(mountpoint) {
            out.push(mnt.join(path.trim_start_matches('/')).join("cgroup.procs"));
        }
    }
    out
}

/// The blkio weight file this host's kernel offers, if any.
pub fn io_weight_file() -> Option<&'static str> {
    let mnt = mountpoint("blkio")?;
    ["blkio.bfq.weight", "blkio.weight"].into_iter().find(|f| mnt.join(f).exists())
}

/// One controller's cgroup for the machine and what to write there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub controller: &'static str,
    pub dir: PathBuf,
    pub writes: Vec<FileWrite>,
}

impl Group {
    /// Creates the cgroup (and the slice levels above it) and writes the
    /// limits. A new cpuset cgroup starts with no CPUs and no memory
    /// nodes: each level copies its parent's before anything can join.
    pub fn create(&self) -> io::Result<()> {
        let mut missing = Vec::new();
        let mut d = self.dir.as_path();
        while !d.exists() {
            missing.push(d.to_path_buf());
            d = d.parent().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        }
        for dir in missing.iter().rev() {
            match fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            if self.controller == "cpuset" {
                let parent = dir.parent().unwrap_or(Path::new("/"));
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let cur = fs::read_to_string(dir.join(f)).unwrap_or_default();
                    if cur.trim().is_empty() {
                        fs::write(dir.join(f), fs::read_to_string(parent.join(f))?.trim())?;
                    }
                }
            }
        }
        // The CFS period is the kernel's default; set it so the quota
        // means what systemd's CPUQuota means.
        if self.writes.iter().any(|w| w.file == "cpu.cfs_quota_us") {
            fs::write(self.dir.join("cpu.cfs_period_us"), "100000")?;
        }
        for w in &self.writes {
            fs::write(self.dir.join(w.file), &w.content).map_err(|e| {
                io::Error::new(e.kind(), format!("writing {} to {}: {e}", w.content, self.dir.join(w.file).display()))
            })?;
        }
        Ok(())
    }

    pub fn attach(&self, pid: i32) -> io::Result<()> {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }
}

/// Kills what is left in a machine's v1 cgroup and removes it and the
/// empty slice levels berth made above it. Returns whether it is gone.
pub fn remove(dir: &Path, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    loop {
        if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        match fs::remove_dir(dir) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return false,
        }
    }
    let mut up = dir.parent();
    while let Some(p) = up {
        if !p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".slice")) {
            break;
        }
        if fs::remove_dir(p).is_err() {
            break;
        }
        up = p.parent();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_mounts() {
        let info = "30 24 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    31 24 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                    32 24 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                    33 24 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n";
        assert_eq!(mountpoint_in(info, "memory"), Some(PathBuf::from("/sys/fs/cgroup/memory")));
        assert_eq!(mountpoint_in(info, "cpu"), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(mountpoint_in(info, "pids"), None);
        assert_eq!(mountpoint_in(info, "systemd"), None);
    }
}
