//! CPU lists as the kernel writes them (`0-3,6`): /sys/devices/system/cpu/online,
//! cpuset.cpus. And which CPUs a machine may count as its own.

/// Parses a CPU list; `None` if it is not one.
pub fn parse(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    let mut out = Vec::new();
    if text.is_empty() {
        return Some(out);
    }
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 65536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Writes a CPU list, with ranges, and the newline sysfs ends it with.
pub fn render(cpus: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        parts.push(if cpus[i] == start { start.to_string() } else { format!("{start}-{}", cpus[i]) });
        i += 1;
    }
    format!("{}\n", parts.join(","))
}

/// The CPUs the machine shows: those of its cpuset (within the host's
/// online ones), no more than its quota allows (ceil(quota), at least 1).
pub fn visible(online: &[u32], cpuset: Option<&[u32]>, quota: Option<f64>) -> Vec<u32> {
    let mut cpus: Vec<u32> = match cpuset {
        Some(set) => online.iter().copied().filter(|c| set.contains(c)).collect(),
        None => online.to_vec(),
    };
    if cpus.is_empty() {
        cpus = online.to_vec();
    }
    if let Some(q) = quota.filter(|q| q.is_finite() && *q > 0.0) {
        cpus.truncate((q.ceil() as usize).max(1));
    }
    cpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_cpu_lists() {
        assert_eq!(parse("0-3,6\n"), Some(vec![0, 1, 2, 3, 6]));
        assert_eq!(parse("1"), Some(vec![1]));
        assert_eq!(parse(""), Some(vec![]));
        assert_eq!(parse("x"), None);
        assert_eq!(parse("3-1"), None);
        assert_eq!(render(&[0, 1, 2, 3, 6]), "0-3,6\n");
        assert_eq!(render(&[0]), "0\n");
        assert_eq!(render(&[1, 3]), "1,3\n");
    }

    #[test]
    fn a_machine_sees_its_cpuset_cut_to_its_quota() {
        let online = [0, 1, 2, 3];
        assert_eq!(visible(&online, None, None), vec![0, 1, 2, 3]);
        assert_eq!(visible(&online, Some(&[2, 3]), None), vec![2, 3]);
        assert_eq!(visible(&online, None, Some(1.0)), vec![0]);
        assert_eq!(visible(&online, None, Some(1.5)), vec![0, 1], "ceil of the quota");
        assert_eq!(visible(&online, Some(&[1, 2, 3]), Some(0.1)), vec![1], "at least one");
        assert_eq!(visible(&online, Some(&[7]), None), vec![0, 1, 2, 3], "an odd cpuset shows the host's");
        assert_eq!(visible(&online, None, Some(8.0)), vec![0, 1, 2, 3]);
    }
}
