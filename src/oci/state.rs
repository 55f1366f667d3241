//! The state directory under `--root`: one directory per container with
//! berth's record (`berth.json`) and, between create and start, the
//! `exec.fifo` the waiting process opens. The runtime-spec state JSON is
//! computed from the record and the live process.

use super::{Ctx, OciError, Result};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// What berth keeps about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// The process's start time (field 22 of /proc/PID/stat), so a reused
    /// pid is never taken for the container.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub created: String,
    /// Every cgroup directory the container was put in.
    pub cgroups: Vec<PathBuf>,
    pub config: Spec,
    /// Set when the bundle runs as a machine (machine.rs).
    #[serde(default)]
    pub machine: Option<super::machine::Machine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// A container id is one path component of safe characters.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(OciError::State(format!("invalid container id '{id}'; use letters, digits and -_.+")))
    }
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

pub fn fifo(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("exec.fifo")
}

/// Makes the container's state directory; it must not exist yet.
pub fn reserve(root: &Path, id: &str) -> Result<PathBuf> {
    check_id(id)?;
    fs::create_dir_all(root).ctx(|| format!("creating the state root {}", root.display()))?;
    let d = dir(root, id);
    match fs::create_dir(&d) {
        Ok(()) => Ok(d),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(OciError::Exists(id.to_string())),
        Err(e) => Err(OciError::sys(format!("creating {}", d.display()), e)),
    }
}

/// One verb at a time per container: an exclusive flock on its state
/// directory, held until the file is dropped. `create` holds it from
/// `reserve` until it returns, so a `delete` never sees a create half
/// done (nor removes what a live create is still writing). None when the
/// directory does not exist (the verb then says so).
pub fn lock(root: &Path, id: &str) -> Result<Option<fs::File>> {
    check_id(id)?;
    let d = dir(root, id);
    let f = match fs::File::open(&d) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(OciError::sys(format!("opening {}", d.display()), e)),
    };
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } == 0 {
            return Ok(Some(f));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(OciError::sys(format!("locking {}", d.display()), e));
        }
    }
}

pub fn save(root: &Path, rec: &Record) -> Result<()> {
    let d = dir(root, &rec.id);
    let tmp = d.join("berth.json.tmp");
    let text = serde_json::to_vec(rec).map_err(|e| OciError::Bundle(format!("encoding the state: {e}")))?;
    fs::write(&tmp, text).ctx(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, d.join("berth.json")).ctx(|| format!("writing the state in {}", d.display()))
}

pub fn load(root: &Path, id: &str) -> Result<Record> {
    check_id(id)?;
    let p = dir(root, id).join("berth.json");
    let text = fs::read(&p).map_err(|_| OciError::NotFound(id.to_string()))?;
    serde_json::from_slice(&text)
        .map_err(|e| OciError::State(format!("{}: {e}; remove it with 'berth-oci delete --force {id}'", p.display())))
}

/// The start time of a live, non-zombie process.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let mut f = after.split_whitespace();
    let state = f.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    f.nth(18)?.parse().ok()
}

impl Record {
    pub fn alive(&self) -> bool {
        self.pid > 0 && start_time(self.pid) == Some(self.start_time)
    }

    pub fn status(&self, root: &Path) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if fifo(root, &self.id).exists() {
            return Status::Created;
        }
        if super::cgroup::frozen(&self.cgroups) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The runtime-spec state JSON.
    pub fn state_json(&self, status: Status) -> serde_json::Value {
        let annotations: HashMap<String, String> = self.config.annotations().clone().unwrap_or_default();
        let mut v = serde_json::json!({
            "ociVersion": self.config.version(),
            "id": self.id,
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.config.root().as_ref().map(|r| self.bundle.join(r.path())),
            "created": self.created,
            "annotations": annotations,
        });
        if status != Status::Stopped {
            v["pid"] = self.pid.into();
        } else {
            v["pid"] = 0.into();
        }
        v
    }
}

/// The state JSON while the container is being created.
pub fn creating_json(id: &str, spec: &Spec, bundle: &Path, pid: i32) -> serde_json::Value {
    serde_json::json!({"ociVersion": spec.version(), "id": id, "status": "creating", "pid": pid, "bundle": bundle,
        "annotations": spec.annotations().clone().unwrap_or_default()})
}

/// Every container id under `root`.
pub fn ids(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("berth.json").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_safe_component() {
        assert!(check_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "x\n"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_start_time_is_read() {
        assert!(start_time(std::process::id() as i32).is_some());
        assert!(start_time(i32::MAX).is_none());
    }
}
