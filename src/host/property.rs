//! `--property NAME=VALUE`: systemd's resource-control settings, parsed
//! into typed values once, and rendered three ways: as the typed D-Bus
//! properties systemd1 takes, as cgroup2 interface files, and as cgroup v1
//! controller files for hybrid hosts.

use thiserror::Error;

/// The names berth understands, for error messages.
pub const SUPPORTED: &str =
    "MemoryMax, MemoryHigh, MemoryLow, MemoryMin, MemorySwapMax, TasksMax, CPUQuota, CPUWeight, \
     StartupCPUWeight, IOWeight, AllowedCPUs, AllowedMemoryNodes, DeviceAllow";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PropertyError {
    #[error("--property={0}: expected NAME=VALUE, e.g. MemoryMax=512M")]
    Syntax(String),
    #[error("--property={spec}: unknown property '{name}'; berth supports {SUPPORTED}")]
    Unknown { spec: String, name: String },
    #[error("--property={spec}: {reason}")]
    Value { spec: String, reason: String },
    #[error("--property={spec}: {name} needs the cgroup v2 {controller} controller, which this host has only as a v1 hierarchy (v1 has no equivalent); drop the property or boot the host with cgroup v2")]
    NoV1 { spec: String, name: &'static str, controller: &'static str },
}

/// How much memory of which kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    Max,
    High,
    Low,
    Min,
    SwapMax,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Bytes; `None` is infinity.
    Memory(Memory, Option<u64>),
    /// `None` is infinity.
    Tasks(Option<u64>),
    /// CPU time per second of wall time, in µs; `None` is no quota.
    CpuQuota(Option<u64>),
    CpuWeight {
        startup: bool,
        weight: u64,
    },
    IoWeight(u64),
    Cpus(Vec<usize>),
    MemoryNodes(Vec<usize>),
    Device(Device),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// As the user wrote it, for messages.
    pub spec: String,
    pub value: Value,
}

/// One write to a cgroup interface file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub controller: &'static str,
    pub file: &'static str,
    pub content: String,
}

pub use crate::host::property_values::Device;
use crate::host::property_values::{parse_device, parse_index_list, parse_limit, parse_size, parse_weight, HostTables};

fn write(controller: &'static str, file: &'static str, content: impl Into<String>) -> FileWrite {
    FileWrite { controller, file, content: content.into() }
}

pub fn parse(spec: &str, host: &HostTables) -> Result<Property, PropertyError> {
    let (name, raw) = spec.split_once('=').ok_or_else(|| PropertyError::Syntax(spec.to_string()))?;
    let (name, raw) = (name.trim(), raw.trim());
    let bad = |reason: &str| PropertyError::Value { spec: spec.to_string(), reason: reason.to_string() };
    let value = match name {
        "MemoryMax" | "MemoryHigh" | "MemoryLow" | "MemoryMin" | "MemorySwapMax" => {
            let kind = match name {
                "MemoryMax" => Memory::Max,
                "MemoryHigh" => Memory::High,
                "MemoryLow" => Memory::Low,
                "MemoryMin" => Memory::Min,
                _ => Memory::SwapMax,
            };
            let bytes = parse_limit(raw, host.memory, parse_size).ok_or_else(|| {
                bad("not a size; give bytes with an optional K, M, G or T suffix, a percentage of RAM, or infinity")
            })?;
            Value::Memory(kind, bytes)
        }
        "TasksMax" => Value::Tasks(
            parse_limit(raw, host.tasks_ceiling, |r| r.parse::<u64>().ok().filter(|n| *n > 0))
                .ok_or_else(|| bad("not a task count; give a number, a percentage, or infinity"))?,
        ),
        "CPUQuota" => {
            let pct = raw
                .strip_suffix('%')
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|p| p.is_finite() && *p > 0.0)
                .ok_or_else(|| bad("not a quota; give a percentage of one CPU, e.g. 50% or 200%"))?;
            Value::CpuQuota(Some((pct * 10_000.0).round() as u64))
        }
        "CPUWeight" | "StartupCPUWeight" => Value::CpuWeight {
            startup: name == "StartupCPUWeight",
            weight: parse_weight(raw).ok_or_else(|| bad("not a weight; give a number from 1 to 10000"))?,
        },
        "IOWeight" => {
            Value::IoWeight(parse_weight(raw).ok_or_else(|| bad("not a weight; give a number from 1 to 10000"))?)
        }
        "AllowedCPUs" | "AllowedMemoryNodes" => {
            let list = parse_index_list(raw).ok_or_else(|| bad("not a list; give numbers and ranges like 0,2-3"))?;
            if name == "AllowedCPUs" {
                Value::Cpus(list)
            } else {
                Value::MemoryNodes(list)
            }
        }
        "DeviceAllow" => Value::Device(parse_device(raw, host).map_err(|r| bad(&r))?),
        _ => return Err(PropertyError::Unknown { spec: spec.to_string(), name: name.to_string() }),
    };
    Ok(Property { spec: spec.to_string(), value })
}

impl Property {
    /// The systemd property name and its typed D-Bus value.
    pub fn dbus(&self) -> (&'static str, zbus::zvariant::Value<'static>) {
        use zbus::zvariant::Value as V;
        let inf = |v: Option<u64>| V::U64(v.unwrap_or(u64::MAX));
        match &self.value {
            Value::Memory(kind, bytes) => (
                match kind {
                    Memory::Max => "MemoryMax",
                    Memory::High => "MemoryHigh",
                    Memory::Low => "MemoryLow",
                    Memory::Min => "MemoryMin",
                    Memory::SwapMax => "MemorySwapMax",
                },
                inf(*bytes),
            ),
            Value::Tasks(n) => ("TasksMax", inf(*n)),
            Value::CpuQuota(us) => ("CPUQuotaPerSecUSec", inf(*us)),
            Value::CpuWeight { startup: false, weight } => ("CPUWeight", V::U64(*weight)),
            Value::CpuWeight { startup: true, weight } => ("StartupCPUWeight", V::U64(*weight)),
            Value::IoWeight(w) => ("IOWeight", V::U64(*w)),
            Value::Cpus(l) => ("AllowedCPUs", V::from(bitmask(l))),
            Value::MemoryNodes(l) => ("AllowedMemoryNodes", V::from(bitmask(l))),
            Value::Device(d) => ("DeviceAllow", V::from(vec![(d.systemd_spec(), d.access())])),
        }
    }

    /// The controller it needs, `None` for what berth applies itself
    /// (devices, through its BPF program).
    pub fn controller(&self) -> Option<&'static str> {
        match &self.value {
            Value::Memory(..) => Some("memory"),
            Value::Tasks(_) => Some("pids"),
            Value::CpuQuota(_) | Value::CpuWeight { .. } => Some("cpu"),
            Value::IoWeight(_) => Some("io"),
            Value::Cpus(_) | Value::MemoryNodes(_) => Some("cpuset"),
            Value::Device(_) => None,
        }
    }

    /// The cgroup2 file writes that apply it. StartupCPUWeight only
    /// matters while the host boots, so the plain weight stands for it.
    pub fn v2(&self) -> Option<FileWrite> {
        let max = |v: Option<u64>| v.map_or("max".to_string(), |n| n.to_string());
        Some(match &self.value {
            Value::Memory(kind, bytes) => write(
                "memory",
                match kind {
                    Memory::Max => "memory.max",
                    Memory::High => "memory.high",
                    Memory::Low => "memory.low",
                    Memory::Min => "memory.min",
                    Memory::SwapMax => "memory.swap.max",
                },
                max(*bytes),
            ),
            Value::Tasks(n) => write("pids", "pids.max", max(*n)),
            // Per 100 ms period, as systemd does.
            Value::CpuQuota(us) => write("cpu", "cpu.max", format!("{} 100000", max(us.map(|u| u / 10)))),
            Value::CpuWeight { startup: true, .. } => return None,
            Value::CpuWeight { weight, .. } => write("cpu", "cpu.weight", weight.to_string()),
            Value::IoWeight(w) => write("io", "io.weight", format!("default {w}")),
            Value::Cpus(l) => write("cpuset", "cpuset.cpus", ranges(l)),
            Value::MemoryNodes(l) => write("cpuset", "cpuset.mems", ranges(l)),
            Value::Device(_) => return None,
        })
    }

    /// The cgroup v1 controller and file writes that apply it, with
    /// systemd's conversions. `io_file` is the blkio weight file this host
    /// has (blkio.bfq.weight or blkio.weight).
    pub fn v1(&self, io_file: Option<&'static str>) -> Result<Option<FileWrite>, PropertyError> {
        let no_v1 = |name, controller| PropertyError::NoV1 { spec: self.spec.clone(), name, controller };
        Ok(Some(match &self.value {
            Value::Memory(Memory::Max, bytes) => {
                write("memory", "memory.limit_in_bytes", bytes.map_or("-1".to_string(), |b| b.to_string()))
            }
            Value::Memory(Memory::High, _) => return Err(no_v1("MemoryHigh", "memory")),
            Value::Memory(Memory::Low, _) => return Err(no_v1("MemoryLow", "memory")),
            Value::Memory(Memory::Min, _) => return Err(no_v1("MemoryMin", "memory")),
            Value::Memory(Memory::SwapMax, _) => return Err(no_v1("MemorySwapMax", "memory")),
            Value::Tasks(n) => write("pids", "pids.max", n.map_or("max".to_string(), |n| n.to_string())),
            Value::CpuQuota(us) => {
                write("cpu", "cpu.cfs_quota_us", us.map_or("-1".to_string(), |u| (u / 10).max(1000).to_string()))
            }
            Value::CpuWeight { startup: true, .. } => return Ok(None),
            Value::CpuWeight { weight, .. } => {
                write("cpu", "cpu.shares", (weight * 1024 / 100).clamp(2, 262_144).to_string())
            }
            Value::IoWeight(w) => {
                let file = io_file.ok_or_else(|| no_v1("IOWeight", "io"))?;
                // systemd maps 1..100..10000 onto 10..500..1000.
                let v1 = if *w <= 100 { 10 + (w - 1) * 490 / 99 } else { 500 + (w - 100) * 500 / 9900 };
                write("blkio", file, v1.to_string())
            }
            Value::Cpus(l) => write("cpuset", "cpuset.cpus", ranges(l)),
            Value::MemoryNodes(l) => write("cpuset", "cpuset.mems", ranges(l)),
            Value::Device(_) => return Ok(None),
        }))
    }
}

impl Device {
    fn access(&self) -> String {
        [(self.read, 'r'), (self.write, 'w'), (self.mknod, 'm')].iter().filter(|(on, _)| *on).map(|(_, c)| c).collect()
    }

    /// systemd's DeviceAllow spelling for it.
    fn systemd_spec(&self) -> String {
        let kind = if self.block { "block" } else { "char" };
        match self.minor {
            Some(minor) => format!("/dev/{kind}/{}:{minor}", self.major),
            None => format!("{kind}-{}", self.major),
        }
    }
}

fn ranges(list: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let start = list[i];
        while i + 1 < list.len() && list[i + 1] == list[i] + 1 {
            i += 1;
        }
        out.push(if list[i] == start { start.to_string() } else { format!("{start}-{}", list[i]) });
        i += 1;
    }
    out.join(",")
}

/// systemd's CPU-set bytes: bit `n % 8` of byte `n / 8`.
fn bitmask(list: &[usize]) -> Vec<u8> {
    let mut bytes = vec![0u8; list.last().map_or(0, |m| m / 8 + 1)];
    for n in list {
        bytes[n / 8] |= 1 << (n % 8);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::property_values::{device_major, HostTables};

    /// A fixed host: 8 GiB, pid_max 4194304, /dev/null as char 1:3.
    fn host() -> HostTables {
        HostTables {
            memory: 8 << 30,
            tasks_ceiling: 4_194_304,
            proc_devices: "Character devices:\n  1 mem\n 10 misc\n136 pts\n\nBlock devices:\n  7 loop\n".into(),
            dev_nodes: [("/dev/null".to_string(), Ok((false, libc::makedev(1, 3))))].into(),
        }
    }

    fn parse(s: &str) -> Result<Property, PropertyError> {
        super::parse(s, &host())
    }

    #[test]
    fn devices_resolve_against_the_tables() {
        let d = |s: &str| match parse(s).unwrap().value {
            Value::Device(d) => (d.block, d.major, d.minor, d.read, d.write, d.mknod),
            other => panic!("{other:?}"),
        };
        assert_eq!(d("DeviceAllow=/dev/null r"), (false, 1, Some(3), true, false, false));
        assert_eq!(d("DeviceAllow=char-pts* rw"), (false, 136, None, true, true, false));
        assert_eq!(d("DeviceAllow=block-loop"), (true, 7, None, true, true, true));
        assert!(parse("DeviceAllow=/dev/zero").is_err(), "not probed, so refused");
        assert!(parse("DeviceAllow=char-nosuch").is_err());
        assert_eq!(v("MemoryMax=50%"), Value::Memory(Memory::Max, Some(4 << 30)));
        assert_eq!(v("TasksMax=1%"), Value::Tasks(Some(41_943)));
    }

    fn v(s: &str) -> Value {
        parse(s).unwrap().value
    }

    #[test]
    fn sizes() {
        assert_eq!(v("MemoryMax=64M"), Value::Memory(Memory::Max, Some(64 << 20)));
        assert_eq!(v("MemoryHigh=1.5G"), Value::Memory(Memory::High, Some(3 << 29)));
        assert_eq!(v("MemoryLow=4096"), Value::Memory(Memory::Low, Some(4096)));
        assert_eq!(v("MemoryMax=infinity"), Value::Memory(Memory::Max, None));
        assert_eq!(v("MemorySwapMax=0"), Value::Memory(Memory::SwapMax, Some(0)));
        assert!(matches!(v("MemoryMax=50%"), Value::Memory(Memory::Max, Some(n)) if n > 0));
        for bad in ["MemoryMax=", "MemoryMax=12Q", "MemoryMax=-1", "MemoryMax=M", "MemoryMax=1.5", "MemoryMax=150%"] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, PropertyError::Value { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains("not a size"), "{e}");
        }
    }

    #[test]
    fn tasks_cpu_io() {
        assert_eq!(v("TasksMax=50"), Value::Tasks(Some(50)));
        assert_eq!(v("TasksMax=infinity"), Value::Tasks(None));
        assert!(parse("TasksMax=0").is_err());
        assert_eq!(v("CPUQuota=50%"), Value::CpuQuota(Some(500_000)));
        assert_eq!(v("CPUQuota=250%"), Value::CpuQuota(Some(2_500_000)));
        assert!(parse("CPUQuota=50").is_err());
        assert_eq!(v("CPUWeight=200"), Value::CpuWeight { startup: false, weight: 200 });
        assert!(parse("CPUWeight=0").is_err() && parse("IOWeight=10001").is_err());
        assert_eq!(v("AllowedCPUs=0,2-3"), Value::Cpus(vec![0, 2, 3]));
        assert!(parse("AllowedCPUs=3-1").is_err());
    }

    #[test]
    fn errors_name_the_fix() {
        assert_eq!(
            parse("MemoryMax").unwrap_err().to_string(),
            "--property=MemoryMax: expected NAME=VALUE, e.g. MemoryMax=512M"
        );
        let e = parse("MemoryLimit=1G").unwrap_err().to_string();
        assert!(
            e.starts_with("--property=MemoryLimit=1G: unknown property 'MemoryLimit'; berth supports MemoryMax"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn cgroup2_files() {
        let f = |s: &str| parse(s).unwrap().v2().unwrap();
        assert_eq!(f("MemoryMax=64M"), write("memory", "memory.max", "67108864"));
        assert_eq!(f("MemoryMax=infinity").content, "max");
        assert_eq!(f("TasksMax=50"), write("pids", "pids.max", "50"));
        assert_eq!(f("CPUQuota=50%"), write("cpu", "cpu.max", "50000 100000"));
        assert_eq!(f("IOWeight=300"), write("io", "io.weight", "default 300"));
        assert_eq!(f("AllowedCPUs=0,1,2,5"), write("cpuset", "cpuset.cpus", "0-2,5"));
        assert_eq!(parse("StartupCPUWeight=5").unwrap().v2(), None);
    }

    #[test]
    fn cgroup1_files() {
        let f = |s: &str| parse(s).unwrap().v1(Some("blkio.bfq.weight")).unwrap().unwrap();
        assert_eq!(f("MemoryMax=64M"), write("memory", "memory.limit_in_bytes", "67108864"));
        assert_eq!(f("MemoryMax=infinity").content, "-1");
        assert_eq!(f("CPUQuota=50%"), write("cpu", "cpu.cfs_quota_us", "50000"));
        assert_eq!(f("CPUWeight=100"), write("cpu", "cpu.shares", "1024"));
        assert_eq!(f("IOWeight=100").content, "500");
        assert_eq!(f("IOWeight=10000").content, "1000");
        assert_eq!(f("IOWeight=1").content, "10");
        let e = parse("MemoryHigh=1G").unwrap().v1(None).unwrap_err().to_string();
        assert!(e.contains("MemoryHigh needs the cgroup v2 memory controller"), "{e}");
        assert!(parse("IOWeight=5").unwrap().v1(None).is_err());
    }

    #[test]
    fn dbus_types() {
        use zbus::zvariant::Value as V;
        assert_eq!(parse("MemoryMax=1K").unwrap().dbus(), ("MemoryMax", V::U64(1024)));
        assert_eq!(parse("TasksMax=infinity").unwrap().dbus(), ("TasksMax", V::U64(u64::MAX)));
        assert_eq!(parse("CPUQuota=50%").unwrap().dbus(), ("CPUQuotaPerSecUSec", V::U64(500_000)));
        let (n, mask) = parse("AllowedCPUs=0,9").unwrap().dbus();
        assert_eq!(n, "AllowedCPUs");
        assert_eq!(mask, V::from(vec![1u8, 2u8]));
        assert_eq!(mask.value_signature().to_string(), "ay");
        let (n, dev) = parse("DeviceAllow=char-10 rw").unwrap().dbus();
        assert_eq!((n, dev.value_signature().to_string()), ("DeviceAllow", "a(ss)".to_string()));
    }

    #[test]
    fn devices() {
        assert_eq!(
            v("DeviceAllow=/dev/null r"),
            Value::Device(Device { block: false, major: 1, minor: Some(3), read: true, write: false, mknod: false })
        );
        let table = "Character devices:\n  1 mem\n 10 misc\n136 pts\n\nBlock devices:\n  7 loop\n";
        assert_eq!(device_major(table, false, "pts"), Some(136));
        assert_eq!(device_major(table, true, "loop"), Some(7));
        assert_eq!(device_major(table, false, "loop"), None);
        assert!(parse("DeviceAllow=/dev/null rx").is_err());
        assert!(parse("DeviceAllow=/etc/passwd").is_err());
    }
}
