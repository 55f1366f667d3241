//! The container's cgroups: one directory per mounted hierarchy (every v1
//! controller and the cgroup2 one), the limits of `linux.resources`
//! written there, freezing, listing and killing what is inside, removal.
//! On a hybrid host limits go through the v1 controllers; a cgroup2 whose
//! controllers are enabled is used for whatever v1 does not offer.

use super::{Ctx, OciError, Result};
use oci_spec::runtime::LinuxResources;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A mounted hierarchy: its mount point and controllers (empty for cgroup2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub controllers: Vec<String>,
    pub v2: bool,
}

/// The hierarchies in a mountinfo text, first mount of each.
pub fn hierarchies_in(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for l in mountinfo.lines() {
        let Some((left, right)) = l.split_once(" - ") else { continue };
        let mut r = right.split_whitespace();
        let fstype = r.next().unwrap_or_default();
        let opts = r.nth(1).unwrap_or_default();
        let Some(mnt) = left.split_whitespace().nth(4) else { continue };
        let h = match fstype {
            "cgroup2" => Hierarchy { mount: mnt.into(), controllers: vec![], v2: true },
            "cgroup" => Hierarchy {
                mount: mnt.into(),
                controllers: opts
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro" | "xattr" | "nosuid" | "nodev" | "noexec" | "relatime"))
                    .map(String::from)
                    .collect(),
                v2: false,
            },
            _ => continue,
        };
        if !out.iter().any(|o| o.v2 == h.v2 && o.controllers == h.controllers) {
            out.push(h);
        }
    }
    out
}

pub fn hierarchies() -> Vec<Hierarchy> {
    hierarchies_in(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// The container's cgroup path below each hierarchy's root. Pure.
pub fn relative_path(cgroups_path: Option<&Path>, id: &str, systemd: bool) -> Result<PathBuf> {
    let Some(p) = cgroups_path.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(PathBuf::from("berth-oci").join(id));
    };
    let s = p.to_string_lossy();
    if systemd {
        let parts: Vec<&str> = s.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(OciError::unsupported(
                "linux.cgroupsPath",
                format!("'{s}' is not slice:prefix:name (--systemd-cgroup)"),
            ));
        };
        let mut out = expand_slice(if slice.is_empty() { "system.slice" } else { slice })?;
        let unit = if name.ends_with(".slice") { name.to_string() } else { format!("{prefix}-{name}.scope") };
        out.push(unit);
        return Ok(out);
    }
    if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(OciError::unsupported("linux.cgroupsPath", "must not contain '..'"));
    }
    Ok(p.strip_prefix("/").unwrap_or(p).to_path_buf())
}

/// systemd's slice nesting: a-b.slice lives in a.slice.
fn expand_slice(slice: &str) -> Result<PathBuf> {
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(OciError::unsupported("linux.cgroupsPath", format!("'{slice}' is not a slice")));
    };
    let mut out = PathBuf::new();
    if base == "-" {
        return Ok(out);
    }
    let mut acc = String::new();
    for part in base.split('-') {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(part);
        out.push(format!("{acc}.slice"));
    }
    Ok(out)
}

/// One write of a limit: (controller, file, content).
pub type Write = (&'static str, String, String);

fn has(hs: &[Hierarchy], c: &str) -> bool {
    hs.iter().any(|h| !h.v2 && h.controllers.iter().any(|x| x == c))
}

/// The writes for `r`, for v1 controllers where the host has them. Pure.
pub fn writes(r: &LinuxResources, hs: &[Hierarchy]) -> Result<Vec<Write>> {
    let mut w: Vec<Write> = Vec::new();
    let need = |c: &'static str, field: &str| -> Result<()> {
        if has(hs, c) {
            Ok(())
        } else {
            Err(OciError::unsupported(field, format!("this host has no v1 {c} controller for it")))
        }
    };
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            need("memory", "linux.resources.memory.limit")?;
            w.push(("memory", "memory.limit_in_bytes".into(), l.to_string()));
        }
        if let Some(s) = m.swap() {
            need("memory", "linux.resources.memory.swap")?;
            w.push(("memory", "memory.memsw.limit_in_bytes".into(), s.to_string()));
        }
        if let Some(s) = m.reservation() {
            need("memory", "linux.resources.memory.reservation")?;
            w.push(("memory", "memory.soft_limit_in_bytes".into(), s.to_string()));
        }
        if let Some(s) = m.swappiness() {
            need("memory", "linux.resources.memory.swappiness")?;
            w.push(("memory", "memory.swappiness".into(), s.to_string()));
        }
        if m.disable_oom_killer() == Some(true) {
            need("memory", "linux.resources.memory.disableOOMKiller")?;
            w.push(("memory", "memory.oom_control".into(), "1".into()));
        }
    }
    if let Some(p) = r.pids() {
        need("pids", "linux.resources.pids.limit")?;
        let l = p.limit();
        w.push(("pids", "pids.max".into(), if l > 0 { l.to_string() } else { "max".into() }));
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            need("cpu", "linux.resources.cpu.shares")?;
            w.push(("cpu", "cpu.shares".into(), s.to_string()));
        }
        if let Some(p) = c.period() {
            need("cpu", "linux.resources.cpu.period")?;
            w.push(("cpu", "cpu.cfs_period_us".into(), p.to_string()));
        }
        if let Some(q) = c.quota() {
            need("cpu", "linux.resources.cpu.quota")?;
            w.push(("cpu", "cpu.cfs_quota_us".into(), q.to_string()));
        }
        if let Some(s) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            need("cpuset", "linux.resources.cpu.cpus")?;
            w.push(("cpuset", "cpuset.cpus".into(), s.clone()));
        }
        if let Some(s) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            need("cpuset", "linux.resources.cpu.mems")?;
            w.push(("cpuset", "cpuset.mems".into(), s.clone()));
        }
    }
    if let Some(wt) = r.block_io().as_ref().and_then(|b| b.weight()) {
        need("blkio", "linux.resources.blockIO.weight")?;
        let file = ["blkio.weight", "blkio.bfq.weight"]
            .into_iter()
            .find(|f| hs.iter().any(|h| h.controllers.iter().any(|c| c == "blkio") && h.mount.join(f).exists()))
            .ok_or_else(|| {
                OciError::unsupported("linux.resources.blockIO.weight", "this kernel has no blkio weight")
            })?;
        w.push(("blkio", file.into(), wt.to_string()));
    }
    for h in r.hugepage_limits().iter().flatten() {
        need("hugetlb", "linux.resources.hugepageLimits")?;
        w.push(("hugetlb", format!("hugetlb.{}.limit_in_bytes", h.page_size()), h.limit().to_string()));
    }
    if let Some(devs) = r.devices() {
        need("devices", "linux.resources.devices")?;
        w.extend(super::devices::cgroup_rules(devs).into_iter().map(|(f, l)| ("devices", f.to_string(), l)));
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(OciError::unsupported(
            "linux.resources.unified",
            "this host's cgroup2 has no controllers (hybrid)",
        ));
    }
    Ok(w)
}

/// Creates the container's cgroup in every hierarchy and writes `w`.
/// Returns the directories, created ones last-to-remove order.
pub fn create(rel: &Path, w: &[Write]) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for h in hierarchies() {
        let dir = h.mount.join(rel);
        let made = make_dirs(&dir, h.controllers.iter().any(|c| c == "cpuset"));
        dirs.push(dir.clone());
        made.ctx(|| format!("creating cgroup {}", dir.display()))?;
        for (c, file, content) in w.iter().filter(|(c, _, _)| h.controllers.iter().any(|x| x == c)) {
            let _ = c;
            fs::write(dir.join(file), content).ctx(|| format!("writing {content} to {}", dir.join(file).display()))?;
        }
    }
    Ok(dirs)
}

fn make_dirs(dir: &Path, cpuset: bool) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(p) = dir.parent() {
        make_dirs(p, cpuset)?;
    }
    match fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    if cpuset {
        let parent = dir.parent().unwrap_or(Path::new("/"));
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if fs::read_to_string(dir.join(f)).unwrap_or_default().trim().is_empty() {
                fs::write(dir.join(f), fs::read_to_string(parent.join(f))?.trim())?;
            }
        }
    }
    Ok(())
}

pub fn attach(dirs: &[PathBuf], pid: i32) -> Result<()> {
    for d in dirs {
        fs::write(d.join("cgroup.procs"), pid.to_string()).ctx(|| format!("joining cgroup {}", d.display()))?;
    }
    Ok(())
}

/// Writes limits into existing cgroups (`update`).
pub fn update(dirs: &[PathBuf], w: &[Write]) -> Result<()> {
    for (c, file, content) in w {
        for d in dirs.iter().filter(|d| d.join(file).exists() || d.to_string_lossy().contains(c)) {
            if d.join(file).exists() {
                fs::write(d.join(file), content).ctx(|| format!("writing {content} to {}", d.join(file).display()))?;
            }
        }
    }
    Ok(())
}

fn freezer(dirs: &[PathBuf]) -> Option<(PathBuf, bool)> {
    dirs.iter().find_map(|d| {
        let v1 = d.join("freezer.state");
        if v1.exists() {
            return Some((v1, true));
        }
        let v2 = d.join("cgroup.freeze");
        v2.exists().then_some((v2, false))
    })
}

pub fn frozen(dirs: &[PathBuf]) -> bool {
    match freezer(dirs) {
        Some((f, true)) => fs::read_to_string(f).unwrap_or_default().trim() == "FROZEN",
        Some((f, false)) => fs::read_to_string(f).unwrap_or_default().trim() == "1",
        None => false,
    }
}

pub fn freeze(dirs: &[PathBuf], on: bool) -> Result<()> {
    let (f, v1) =
        freezer(dirs).ok_or_else(|| OciError::State("this host has no cgroup freezer; pause needs one".into()))?;
    let text = match (v1, on) {
        (true, true) => "FROZEN",
        (true, false) => "THAWED",
        (false, true) => "1",
        (false, false) => "0",
    };
    fs::write(&f, text).ctx(|| format!("writing {text} to {}", f.display()))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while v1 && on && fs::read_to_string(&f).unwrap_or_default().trim() != "FROZEN" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// The pids in the container's cgroups (and any below).
pub fn pids(dirs: &[PathBuf]) -> Vec<i32> {
    let mut v = Vec::new();
    if let Some(d) = dirs.iter().find(|d| d.join("cgroup.procs").exists()) {
        collect(d, &mut v);
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn collect(d: &Path, v: &mut Vec<i32>) {
    v.extend(
        fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().lines().filter_map(|l| l.parse::<i32>().ok()),
    );
    for e in fs::read_dir(d).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&e.path(), v);
        }
    }
}

pub fn signal_all(dirs: &[PathBuf], sig: i32) {
    for pid in pids(dirs) {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(pid, sig) };
    }
}

/// Kills whatever is left, then removes the directories (deepest first).
pub fn remove(dirs: &[PathBuf]) -> Result<()> {
    if frozen(dirs) {
        signal_all(dirs, libc::SIGKILL);
        let _ = freeze(dirs, false);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids(dirs).is_empty() && Instant::now() < deadline {
        signal_all(dirs, libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(5));
    }
    for d in dirs {
        rmdir_tree(d).ctx(|| format!("removing cgroup {}", d.display()))?;
        // The default parent berth makes for itself.
        if let Some(p) = d.parent().filter(|p| p.ends_with("berth-oci")) {
            let _ = fs::remove_dir(p);
        }
    }
    Ok(())
}

fn rmdir_tree(d: &Path) -> std::io::Result<()> {
    if !d.exists() {
        return Ok(());
    }
    for e in fs::read_dir(d)?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            rmdir_tree(&e.path())?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(d) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:6 - cgroup cgroup rw,xattr,name=systemd
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:9 - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
37 30 0:33 / /sys/fs/cgroup/pids rw,nosuid shared:11 - cgroup cgroup rw,pids
";

    #[test]
    fn hybrid_hierarchies() {
        let hs = hierarchies_in(INFO);
        assert_eq!(hs.len(), 5);
        assert!(hs[0].v2);
        assert_eq!(hs[1].controllers, vec!["name=systemd"]);
        assert_eq!(hs[3].controllers, vec!["cpu", "cpuacct"]);
    }

    #[test]
    fn cgroup_paths() {
        assert_eq!(relative_path(None, "x", false).unwrap(), PathBuf::from("berth-oci/x"));
        assert_eq!(
            relative_path(Some(Path::new("/libpod_parent/libpod-1")), "x", false).unwrap(),
            PathBuf::from("libpod_parent/libpod-1")
        );
        assert_eq!(
            relative_path(Some(Path::new("machine-a.slice:libpod:abc")), "x", true).unwrap(),
            PathBuf::from("machine.slice/machine-a.slice/libpod-abc.scope")
        );
        assert!(relative_path(Some(Path::new("/a/../b")), "x", false).is_err());
        assert!(relative_path(Some(Path::new("/a/b")), "x", true).is_err());
    }

    #[test]
    fn limits_become_v1_writes() {
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864}, "pids": {"limit": 50}, "cpu": {"quota": 50000, "period": 100000}
        }))
        .unwrap();
        let w = writes(&r, &hierarchies_in(INFO)).unwrap();
        assert!(w.contains(&("memory", "memory.limit_in_bytes".into(), "67108864".into())));
        assert!(w.contains(&("pids", "pids.max".into(), "50".into())));
        assert!(w.contains(&("cpu", "cpu.cfs_quota_us".into(), "50000".into())));
        let r: LinuxResources = serde_json::from_value(serde_json::json!({"cpu": {"cpus": "0"}})).unwrap();
        let e = writes(&r, &hierarchies_in(INFO)).unwrap_err().to_string();
        assert!(e.contains("linux.resources.cpu.cpus"), "{e}");
    }
}
