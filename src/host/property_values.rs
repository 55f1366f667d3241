//! The values `--property` takes, parsed: sizes, percentages, weights,
//! index lists and devices, resolved against the host's tables (RAM,
//! task ceiling, device numbers), which `HostTables::probe` reads once so
//! the parsing itself stays pure.

use std::collections::BTreeSet;

/// A cgroup device rule: type `c` or `b`, major, minor (`None`: any), and
/// the access letters among `rwm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub block: bool,
    pub major: u32,
    pub minor: Option<u32>,
    pub read: bool,
    pub write: bool,
    pub mknod: bool,
}

/// `infinity` (`None`), `N%` of `total`, or what `plain` parses.
pub fn parse_limit(raw: &str, total: u64, plain: fn(&str) -> Option<u64>) -> Option<Option<u64>> {
    if raw == "infinity" || raw == "max" {
        return Some(None);
    }
    if let Some(p) = raw.strip_suffix('%') {
        let p = p.parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p))?;
        return Some(Some((total as f64 * p / 100.0) as u64));
    }
    plain(raw).map(Some)
}

/// Bytes with an optional binary suffix; decimals allowed with a suffix.
pub fn parse_size(raw: &str) -> Option<u64> {
    let split = raw.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(raw.len());
    let (num, suffix) = raw.split_at(split);
    let shift = match suffix.trim_end_matches(['B', 'b']) {
        "" if suffix.len() <= 1 => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        "P" | "p" => 50,
        "E" | "e" => 60,
        _ => return None,
    };
    if num.is_empty() {
        return None;
    }
    if shift == 0 {
        return num.parse().ok();
    }
    let n = num.parse::<f64>().ok().filter(|n| n.is_finite())?;
    let bytes = n * (1u64 << shift) as f64;
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

pub fn parse_weight(raw: &str) -> Option<u64> {
    raw.parse::<u64>().ok().filter(|w| (1..=10_000).contains(w))
}

pub fn parse_index_list(raw: &str) -> Option<Vec<usize>> {
    let mut set = BTreeSet::new();
    for item in raw.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
                if a > b || b > 8191 {
                    return None;
                }
                set.extend(a..=b);
            }
            None => {
                set.insert(item.parse::<usize>().ok().filter(|n| *n <= 8191)?);
            }
        }
    }
    (!set.is_empty()).then(|| set.into_iter().collect())
}

/// `0-3,5` from a sorted list.
/// `/dev/PATH [rwm]`, `char-NAME [rwm]` or `block-NAME [rwm]` (NAME from
/// /proc/devices, or a major number).
pub fn parse_device(raw: &str, host: &HostTables) -> Result<Device, String> {
    let mut parts = raw.split_whitespace();
    let what = parts.next().ok_or("no device given; use /dev/PATH, char-NAME or block-NAME, then rwm")?;
    let acc = parts.next().unwrap_or("rwm");
    if parts.next().is_some() || acc.is_empty() || !acc.chars().all(|c| "rwm".contains(c)) {
        return Err(format!("access '{acc}' is invalid; use letters among r, w and m"));
    }
    let (read, write, mknod) = (acc.contains('r'), acc.contains('w'), acc.contains('m'));
    if what.starts_with("/dev/") {
        let (block, rdev) = host.dev_nodes.get(what).cloned().unwrap_or_else(|| Err("not looked at".into()))?;
        return Ok(Device { block, major: libc::major(rdev), minor: Some(libc::minor(rdev)), read, write, mknod });
    }
    let (block, name) = if let Some(n) = what.strip_prefix("char-") {
        (false, n)
    } else if let Some(n) = what.strip_prefix("block-") {
        (true, n)
    } else {
        return Err(format!("'{what}' is not a device; use /dev/PATH, char-NAME or block-NAME"));
    };
    let major = match name.parse::<u32>() {
        Ok(m) => m,
        Err(_) => device_major(&host.proc_devices, block, name).ok_or_else(|| format!("no {what} in /proc/devices"))?,
    };
    Ok(Device { block, major, minor: None, read, write, mknod })
}

/// Looks a driver name up in /proc/devices (glob `*` at the end allowed,
/// as in `char-pts*`... only the first match counts).
pub fn device_major(table: &str, block: bool, name: &str) -> Option<u32> {
    let mut section = "";
    for line in table.lines() {
        if line.ends_with(':') {
            section = line;
            continue;
        }
        if (section == "Block devices:") != block {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(major), Some(driver)) = (it.next(), it.next()) else { continue };
        let hit = match name.strip_suffix('*') {
            Some(prefix) => driver.starts_with(prefix),
            None => driver == name,
        };
        if hit {
            return major.parse().ok();
        }
    }
    None
}

/// What property values are resolved against: the host's RAM (for
/// percentages), its task ceiling, its device table and the device nodes
/// the properties name. Read once by `probe`, so parsing stays pure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTables {
    pub memory: u64,
    pub tasks_ceiling: u64,
    pub proc_devices: String,
    /// `/dev/PATH` named by DeviceAllow: (is a block device, rdev) or why not.
    pub dev_nodes: std::collections::BTreeMap<String, Result<(bool, u64), String>>,
}

impl HostTables {
    /// Reads only what the given properties need: most starts name no
    /// TasksMax or DeviceAllow, and then read neither table.
    pub fn probe(specs: &[String]) -> HostTables {
        let values = |key: &'static str| {
            specs.iter().filter_map(move |s| s.split_once('=').filter(|(n, _)| n.trim() == key).map(|(_, v)| v))
        };
        let dev_nodes = values("DeviceAllow")
            .filter_map(|v| v.split_whitespace().next().filter(|p| p.starts_with("/dev/")))
            .map(|p| (p.to_string(), dev_node(p)))
            .collect();
        let by_name = values("DeviceAllow").any(|v| {
            let v = v.trim_start();
            v.starts_with("char-") || v.starts_with("block-")
        });
        HostTables {
            memory: physical_memory(),
            tasks_ceiling: if values("TasksMax").next().is_some() { tasks_ceiling() } else { 0 },
            proc_devices: if by_name {
                std::fs::read_to_string("/proc/devices").unwrap_or_default()
            } else {
                String::new()
            },
            dev_nodes,
        }
    }
}

fn dev_node(path: &str) -> Result<(bool, u64), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
    let ft = md.file_type();
    if !(ft.is_char_device() || ft.is_block_device()) {
        return Err(format!("{path} is not a device node"));
    }
    Ok((ft.is_block_device(), md.rdev()))
}

fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages.max(0) as u64).saturating_mul(size.max(0) as u64)
}

/// systemd's ceiling for TasksMax percentages: the smaller of pid_max and
/// threads-max.
fn tasks_ceiling() -> u64 {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u64>().ok());
    read("/proc/sys/kernel/pid_max").unwrap_or(4_194_304).min(read("/proc/sys/kernel/threads-max").unwrap_or(u64::MAX))
}
