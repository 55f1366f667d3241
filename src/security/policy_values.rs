//! The values of the security options, parsed: capability lists,
//! rlimits, the OOM score adjustment and CPU lists.

use crate::security::policy::{CpuList, PolicyError, Rlimit, RLIMITS};
use caps::Capability;
use std::collections::BTreeSet;
use std::str::FromStr;

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
