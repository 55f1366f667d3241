//! The machine's numbers from cgroup v1 controllers, on hybrid hosts.
//! Limits count from whatever v1 cgroup the guest's PID 1 is in (its own,
//! made by host/cgroupv1.rs, or one it inherited); usage only from a
//! cgroup of the machine's own, since an inherited one holds others too.

use crate::views::cgroup2::keyed;
use crate::views::render::{diskstats::Io, meminfo, stat::CpuTime, swaps::Swap};
use std::fs;
use std::path::{Path, PathBuf};

/// The guest's cgroup in one v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub mount: PathBuf,
    pub dir: PathBuf,
    /// The machine's own (not the launcher's too).
    pub own: bool,
}

/// The guest's v1 cgroups, by controller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    pub memory: Option<Group>,
    pub cpu: Option<Group>,
    pub cpuacct: Option<Group>,
    pub cpuset: Option<Group>,
    pub blkio: Option<Group>,
}

/// The path of `controller` in /proc/PID/cgroup text.
pub fn path_of(cgroup: &str, controller: &str) -> Option<String> {
    cgroup.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls.split(',').any(|c| c == controller).then(|| path.to_string())
    })
}

/// Where the guest (`leader`'s /proc/PID/cgroup) sits in each hierarchy,
/// compared with the server itself (`ours`, the launcher's groups).
pub fn resolve(leader: &str, ours: &str, mount: impl Fn(&str) -> Option<PathBuf>) -> Groups {
    let group = |c: &str| {
        let path = path_of(leader, c)?;
        let mount = mount(c)?;
        let own = path_of(ours, c).is_some_and(|o| o != path);
        Some(Group { dir: mount.join(path.trim_start_matches('/')), mount, own })
    };
    Groups {
        memory: group("memory"),
        cpu: group("cpu"),
        cpuacct: group("cpuacct"),
        cpuset: group("cpuset"),
        blkio: group("blkio"),
    }
}

/// v1 reports "unlimited" as a huge page-aligned number.
fn limited(v: u64) -> Option<u64> {
    (v < (1 << 62)).then_some(v)
}

pub fn memory(g: &Group) -> Option<meminfo::Memory> {
    if !g.own {
        return None;
    }
    let usage: u64 = fs::read_to_string(g.dir.join("memory.usage_in_bytes")).ok()?.trim().parse().ok()?;
    let text = fs::read_to_string(g.dir.join("memory.stat")).ok()?;
    let s = keyed(&text);
    let t = |k: &str| s.get(format!("total_{k}").as_str()).copied().unwrap_or(0);
    let mem_limit = s.get("hierarchical_memory_limit").copied().and_then(limited);
    // memsw counts memory and swap together; what is left is swap.
    let swap = match (s.get("hierarchical_memsw_limit"), fs::read_to_string(g.dir.join("memory.memsw.usage_in_bytes")))
    {
        (Some(&sw), Ok(u)) => {
            let both: u64 = u.trim().parse().unwrap_or(usage);
            let total = limited(sw).map(|sw| sw.saturating_sub(mem_limit.unwrap_or(0))).unwrap_or(u64::MAX);
            Some(Swap { total, used: both.saturating_sub(usage) })
        }
        _ => None,
    };
    Some(meminfo::Memory {
        limit: mem_limit,
        usage,
        cache: t("cache"),
        shmem: t("shmem"),
        anon: t("rss"),
        mapped: t("mapped_file"),
        active_anon: t("active_anon"),
        inactive_anon: t("inactive_anon"),
        active_file: t("active_file"),
        inactive_file: t("inactive_file"),
        unevictable: t("unevictable"),
        slab: None,
        swap,
    })
}

/// The CFS quota of the group and its parents, in CPUs.
pub fn quota(g: &Group) -> Option<Option<f64>> {
    let mut best: Option<Option<f64>> = None;
    let mut d: Option<&Path> = Some(&g.dir);
    while let Some(cur) = d.filter(|c| c.starts_with(&g.mount)) {
        let read = |f: &str| fs::read_to_string(cur.join(f)).ok().and_then(|t| t.trim().parse::<i64>().ok());
        if let (Some(q), Some(p)) = (read("cpu.cfs_quota_us"), read("cpu.cfs_period_us")) {
            let v = (q > 0 && p > 0).then(|| q as f64 / p as f64);
            best = Some(match (best.flatten(), v) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            });
        }
        d = cur.parent();
    }
    best
}

pub fn cpuset(g: &Group) -> Option<Vec<u32>> {
    let t = fs::read_to_string(g.dir.join("cpuset.effective_cpus")).ok()?;
    crate::views::render::cpulist::parse(&t).filter(|v| !v.is_empty())
}

/// cpuacct.stat, already in clock ticks.
pub fn cpu_time(g: &Group) -> Option<CpuTime> {
    if !g.own {
        return None;
    }
    let text = fs::read_to_string(g.dir.join("cpuacct.stat")).ok()?;
    let s = keyed(&text);
    Some(CpuTime { user: *s.get("user")?, system: *s.get("system")? })
}

/// blkio's `MAJ:MIN Read N` / `MAJ:MIN Write N` lines into `io`.
pub fn blkio_lines(text: &str, io: &mut Vec<Io>, bytes: bool) {
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [dev, kind, n] = f[..] else { continue };
        let (Some((ma, mi)), Ok(n)) = (dev.split_once(':'), n.parse::<u64>()) else { continue };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else { continue };
        let i = match io.iter().position(|d| d.major == major && d.minor == minor) {
            Some(i) => i,
            None => {
                io.push(Io { major, minor, ..Default::default() });
                io.len() - 1
            }
        };
        match (kind, bytes) {
            ("Read", true) => io[i].rbytes = n,
            ("Write", true) => io[i].wbytes = n,
            ("Read", false) => io[i].rios = n,
            ("Write", false) => io[i].wios = n,
            _ => {}
        }
    }
}

pub fn io(g: &Group) -> Option<Vec<Io>> {
    if !g.own {
        return None;
    }
    let mut io = Vec::new();
    let bytes = fs::read_to_string(g.dir.join("blkio.throttle.io_service_bytes_recursive")).ok()?;
    let ios = fs::read_to_string(g.dir.join("blkio.throttle.io_serviced_recursive")).ok()?;
    blkio_lines(&bytes, &mut io, true);
    blkio_lines(&ios, &mut io, false);
    Some(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_guests_own_groups() {
        let leader = "4:memory:/x/machine.slice/machine-a.scope\n3:cpuset:/\n2:cpu,cpuacct:/x\n0::/machine.slice/machine-a.scope/payload\n";
        let ours = "4:memory:/x\n3:cpuset:/\n2:cpu,cpuacct:/x\n0::/\n";
        let g = resolve(leader, ours, |c| Some(PathBuf::from(format!("/sys/fs/cgroup/{c}"))));
        let m = g.memory.unwrap();
        assert!(m.own);
        assert_eq!(m.dir, PathBuf::from("/sys/fs/cgroup/memory/x/machine.slice/machine-a.scope"));
        assert!(!g.cpuset.unwrap().own);
        assert_eq!(g.cpu.unwrap().dir, PathBuf::from("/sys/fs/cgroup/cpu/x"));
        assert!(g.blkio.is_none());
    }

    #[test]
    fn reads_blkio_counters() {
        let mut io = Vec::new();
        blkio_lines("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 1\nTotal 4608\n", &mut io, true);
        blkio_lines("8:0 Read 1\n8:0 Write 2\n", &mut io, false);
        assert_eq!(io, vec![Io { major: 8, minor: 0, rios: 1, wios: 2, rbytes: 4096, wbytes: 512 }]);
        assert_eq!(limited(9223372036854771712), None);
        assert_eq!(limited(268435456), Some(268435456));
    }
}
