//! The machine's numbers from cgroup2 files: memory, CPU limits and time,
//! I/O and tasks. On a hybrid host the cgroup2 hierarchy has no
//! controllers, but still its tasks and CPU time (cpu.stat).

use crate::views::render::{diskstats::Io, meminfo, stat::CpuTime, swaps::Swap};
use std::collections::HashMap;
use std::fs;
use std::path::Path;

/// `key value` lines (memory.stat, cpu.stat) as a map.
pub fn keyed(text: &str) -> HashMap<&str, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k, v.trim().parse().ok()?))
        })
        .collect()
}

/// A limit file: a number, or `max` (none).
pub fn limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        v => v.parse().ok().map(Some),
    }
}

/// cpu.max (`QUOTA PERIOD` or `max PERIOD`) as CPUs.
pub fn cpu_max(text: &str) -> Option<Option<f64>> {
    let mut it = text.split_whitespace();
    let (q, p) = (it.next()?, it.next()?.parse::<f64>().ok()?);
    match q {
        "max" => Some(None),
        q => Some(Some(q.parse::<f64>().ok()? / p.max(1.0))),
    }
}

/// The smallest limit in `file` from `dir` up to (not including) `root`.
fn tightest<T: PartialOrd + Copy>(
    dir: &Path,
    root: &Path,
    file: &str,
    parse: fn(&str) -> Option<Option<T>>,
) -> Option<Option<T>> {
    let mut best: Option<Option<T>> = None;
    let mut d = Some(dir);
    while let Some(cur) = d.filter(|c| c.starts_with(root) && *c != root) {
        if let Some(v) = fs::read_to_string(cur.join(file)).ok().and_then(|t| parse(&t)) {
            best = Some(match (best.flatten(), v) {
                (Some(a), Some(b)) => Some(if b < a { b } else { a }),
                (a, b) => a.or(b),
            });
        }
        d = cur.parent();
    }
    best
}

/// memory.current and memory.stat of `dir`, limits from it and above.
pub fn memory(dir: &Path, root: &Path) -> Option<meminfo::Memory> {
    let usage = fs::read_to_string(dir.join("memory.current")).ok()?.trim().parse().ok()?;
    let text = fs::read_to_string(dir.join("memory.stat")).ok()?;
    let s = keyed(&text);
    let g = |k: &str| s.get(k).copied().unwrap_or(0);
    let swap =
        match (tightest(dir, root, "memory.swap.max", limit), fs::read_to_string(dir.join("memory.swap.current"))) {
            (Some(max), Ok(cur)) => {
                Some(Swap { total: max.unwrap_or(u64::MAX), used: cur.trim().parse().unwrap_or(0) })
            }
            _ => None,
        };
    Some(meminfo::Memory {
        limit: tightest(dir, root, "memory.max", limit).flatten(),
        usage,
        cache: g("file"),
        shmem: g("shmem"),
        anon: g("anon"),
        mapped: g("file_mapped"),
        active_anon: g("active_anon"),
        inactive_anon: g("inactive_anon"),
        active_file: g("active_file"),
        inactive_file: g("inactive_file"),
        unevictable: g("unevictable"),
        slab: Some(meminfo::Slab { reclaimable: g("slab_reclaimable"), unreclaimable: g("slab_unreclaimable") }),
        swap,
    })
}

/// The CPU quota of `dir` and above, in CPUs: `None` unknown,
/// `Some(None)` unlimited.
pub fn quota(dir: &Path, root: &Path) -> Option<Option<f64>> {
    tightest(dir, root, "cpu.max", cpu_max)
}

/// The CPUs `dir` may use.
pub fn cpuset(dir: &Path) -> Option<Vec<u32>> {
    let t = fs::read_to_string(dir.join("cpuset.cpus.effective")).ok()?;
    crate::views::render::cpulist::parse(&t).filter(|v| !v.is_empty())
}

/// CPU time from cpu.stat (µs), in clock ticks.
pub fn cpu_time(dir: &Path, hz: u64) -> Option<CpuTime> {
    let text = fs::read_to_string(dir.join("cpu.stat")).ok()?;
    let s = keyed(&text);
    let ticks = |k: &str| s.get(k).map(|us| us * hz / 1_000_000);
    Some(CpuTime { user: ticks("user_usec")?, system: ticks("system_usec")? })
}

/// io.stat: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` lines.
pub fn io_stat(text: &str) -> Vec<Io> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (major, minor) = f.next()?.split_once(':')?;
            let mut io = Io { major: major.parse().ok()?, minor: minor.parse().ok()?, ..Default::default() };
            for kv in f {
                let (k, v) = kv.split_once('=')?;
                let v = v.parse().unwrap_or(0);
                match k {
                    "rbytes" => io.rbytes = v,
                    "wbytes" => io.wbytes = v,
                    "rios" => io.rios = v,
                    "wios" => io.wios = v,
                    _ => {}
                }
            }
            Some(io)
        })
        .collect()
}

pub fn io(dir: &Path) -> Option<Vec<Io>> {
    fs::read_to_string(dir.join("io.stat")).ok().map(|t| io_stat(&t))
}

/// Every thread of `dir` and the cgroups below it.
pub fn tasks(dir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).into_iter().filter_map(|e| e.ok()).filter(|e| e.file_type().is_dir()) {
        if let Ok(t) = fs::read_to_string(e.path().join("cgroup.threads")) {
            out.extend(t.lines().filter_map(|l| l.parse::<u32>().ok()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup2_files() {
        assert_eq!(limit("max\n"), Some(None));
        assert_eq!(limit("268435456\n"), Some(Some(268435456)));
        assert_eq!(limit("x"), None);
        assert_eq!(cpu_max("max 100000\n"), Some(None));
        assert_eq!(cpu_max("150000 100000\n"), Some(Some(1.5)));
        assert_eq!(keyed("anon 10\nfile 20\nbad\n").get("file"), Some(&20));
        let io = io_stat("8:0 rbytes=4096 wbytes=512 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(io, vec![Io { major: 8, minor: 0, rios: 1, wios: 2, rbytes: 4096, wbytes: 512 }]);
    }

    #[test]
    fn the_tightest_limit_of_a_cgroup_and_its_parents() {
        let t = std::env::temp_dir().join(format!("berth-views-cg2-{}", std::process::id()));
        let leaf = t.join("a/b");
        fs::create_dir_all(&leaf).unwrap();
        fs::write(t.join("a/memory.max"), "1000\n").unwrap();
        fs::write(leaf.join("memory.max"), "max\n").unwrap();
        fs::write(t.join("memory.max"), "10\n").unwrap(); // the root: not counted
        assert_eq!(tightest(&leaf, &t, "memory.max", limit), Some(Some(1000)));
        fs::write(leaf.join("cpu.max"), "max 100000\n").unwrap();
        assert_eq!(quota(&leaf, &t), Some(None));
        assert_eq!(quota(&t.join("a"), &t), None, "no file: unknown");
        fs::remove_dir_all(&t).unwrap();
    }
}
