//! The values of the security options, parsed: capability lists,
//! rlimits, the OOM score adjustment and CPU lists, the types they
//! become, and the policy's error.

use crate::security::seccomp::SeccompError;
use caps::Capability;
use std::collections::BTreeSet;
use std::str::FromStr;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PolicyError {
    #[error("{flag}={value}: unknown capability '{name}'; use names like CAP_SYS_TIME separated by commas, or all")]
    UnknownCapability { flag: &'static str, value: String, name: String },
    #[error("--no-new-privileges={0} is invalid; use yes or no")]
    Bool(String),
    #[error("--rlimit={0}: expected NAME=SOFT[:HARD], e.g. NOFILE=1024:4096 or RLIMIT_CORE=infinity")]
    RlimitSyntax(String),
    #[error("--rlimit={spec}: unknown resource '{name}'; use one of {list}", list = rlimit_names())]
    UnknownRlimit { spec: String, name: String },
    #[error("--rlimit={spec}: '{value}' is not a number or 'infinity'")]
    RlimitValue { spec: String, value: String },
    #[error("--rlimit={0}: the soft limit is above the hard limit")]
    RlimitOrder(String),
    #[error("--oom-score-adjust={0} is invalid; give an integer from -1000 to 1000")]
    Oom(String),
    #[error("--cpu-affinity={value}: {reason}; give CPU numbers and ranges like 0,2-3")]
    CpuList { value: String, reason: String },
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A setting the host does not permit (one line with the fix).
    #[error("{0}")]
    NotPermitted(String),
    /// Applying a setting to the guest failed.
    #[error("{what}: {source}")]
    Apply { what: String, source: std::io::Error },
}

/// One resource limit as `setrlimit(2)` takes it; `u64::MAX` is infinity.
/// Recorded by name (`NOFILE`), the number is looked up again on reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub name: &'static str,
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

impl std::fmt::Display for Rlimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |x: u64| {
            if x == libc::RLIM_INFINITY {
                "infinity".to_string()
            } else {
                x.to_string()
            }
        };
        write!(f, "RLIMIT_{}={}:{}", self.name, v(self.soft), v(self.hard))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RlimitRecord {
    name: String,
    soft: u64,
    hard: u64,
}

impl From<Rlimit> for RlimitRecord {
    fn from(r: Rlimit) -> Self {
        RlimitRecord { name: r.name.into(), soft: r.soft, hard: r.hard }
    }
}

impl serde::Serialize for Rlimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        RlimitRecord::from(*self).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Rlimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let r = RlimitRecord::deserialize(d)?;
        let (name, resource) = RLIMITS
            .iter()
            .find(|(n, _)| *n == r.name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown resource limit {}", r.name)))?;
        Ok(Rlimit { name, resource: *resource, soft: r.soft, hard: r.hard })
    }
}

/// The limits `--rlimit` knows, by their names without `RLIMIT_`.
pub const RLIMITS: &[(&str, i32)] = &[
    ("AS", libc::RLIMIT_AS as i32),
    ("CORE", libc::RLIMIT_CORE as i32),
    ("CPU", libc::RLIMIT_CPU as i32),
    ("DATA", libc::RLIMIT_DATA as i32),
    ("FSIZE", libc::RLIMIT_FSIZE as i32),
    ("LOCKS", libc::RLIMIT_LOCKS as i32),
    ("MEMLOCK", libc::RLIMIT_MEMLOCK as i32),
    ("MSGQUEUE", libc::RLIMIT_MSGQUEUE as i32),
    ("NICE", libc::RLIMIT_NICE as i32),
    ("NOFILE", libc::RLIMIT_NOFILE as i32),
    ("NPROC", libc::RLIMIT_NPROC as i32),
    ("RSS", libc::RLIMIT_RSS as i32),
    ("RTPRIO", libc::RLIMIT_RTPRIO as i32),
    ("RTTIME", libc::RLIMIT_RTTIME as i32),
    ("SIGPENDING", libc::RLIMIT_SIGPENDING as i32),
    ("STACK", libc::RLIMIT_STACK as i32),
];

fn rlimit_names() -> String {
    RLIMITS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// A set of CPUs, sorted and without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CpuList(pub Vec<usize>);

impl std::fmt::Display for CpuList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        f.write_str(&s.join(","))
    }
}

/// `CAP_A,CAP_B` (case does not matter, the `CAP_` prefix is optional) or
/// `all`.
pub fn parse_capabilities(flag: &'static str, value: &str) -> std::result::Result<Vec<Capability>, PolicyError> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name.eq_ignore_ascii_case("all") {
            out.extend(caps::all());
            continue;
        }
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
        let cap = Capability::from_str(&full).map_err(|_| PolicyError::UnknownCapability {
            flag,
            value: value.to_string(),
            name: name.to_string(),
        })?;
        out.push(cap);
    }
    if out.is_empty() {
        return Err(PolicyError::UnknownCapability { flag, value: value.to_string(), name: String::new() });
    }
    Ok(out)
}

/// `NAME=SOFT[:HARD]`, NAME with or without `RLIMIT_`, values numbers or
/// `infinity`; one value sets both limits.
pub fn parse_rlimit(spec: &str) -> std::result::Result<Rlimit, PolicyError> {
    let (name, values) = spec.split_once('=').ok_or_else(|| PolicyError::RlimitSyntax(spec.to_string()))?;
    let upper = name.trim().to_ascii_uppercase();
    let short = upper.strip_prefix("RLIMIT_").unwrap_or(&upper);
    let (name, resource) = RLIMITS
        .iter()
        .find(|(n, _)| *n == short)
        .copied()
        .ok_or_else(|| PolicyError::UnknownRlimit { spec: spec.to_string(), name: name.to_string() })?;
    let value = |v: &str| -> std::result::Result<u64, PolicyError> {
        let v = v.trim();
        if v.eq_ignore_ascii_case("infinity") {
            return Ok(libc::RLIM_INFINITY);
        }
        v.parse::<u64>()
            .ok()
            .filter(|n| *n != libc::RLIM_INFINITY)
            .ok_or_else(|| PolicyError::RlimitValue { spec: spec.to_string(), value: v.to_string() })
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (value(s)?, value(h)?),
        None => {
            let v = value(values)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(PolicyError::RlimitOrder(spec.to_string()));
    }
    Ok(Rlimit { name, resource, soft, hard })
}

pub fn parse_oom_score_adjust(v: &str) -> std::result::Result<i32, PolicyError> {
    v.trim().parse::<i32>().ok().filter(|n| (-1000..=1000).contains(n)).ok_or_else(|| PolicyError::Oom(v.to_string()))
}

/// `0,2-3` (commas or spaces between items, `A-B` for a range).
pub fn parse_cpu_list(value: &str) -> std::result::Result<CpuList, PolicyError> {
    let err = |reason: String| PolicyError::CpuList { value: value.to_string(), reason };
    let max = nix::sched::CpuSet::count();
    let cpu = |s: &str| -> std::result::Result<usize, PolicyError> {
        let n = s.trim().parse::<usize>().map_err(|_| err(format!("'{s}' is not a CPU number")))?;
        if n >= max {
            return Err(err(format!("CPU {n} is out of range (at most {})", max - 1)));
        }
        Ok(n)
    };
    let mut set = BTreeSet::new();
    for item in value.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (cpu(a)?, cpu(b)?);
                if a > b {
                    return Err(err(format!("range {item} runs backwards")));
                }
                set.extend(a..=b);
            }
            None => {
                set.insert(cpu(item)?);
            }
        }
    }
    if set.is_empty() {
        return Err(err("no CPU given".into()));
    }
    Ok(CpuList(set.into_iter().collect()))
}
