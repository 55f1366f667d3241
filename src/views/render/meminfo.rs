//! /proc/meminfo from the machine's memory cgroup.

/// The machine's memory, in bytes, from memory.current/usage_in_bytes and
/// memory.stat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The effective limit; `None` when unlimited.
    pub limit: Option<u64>,
    pub usage: u64,
    /// Page cache, shmem included.
    pub cache: u64,
    pub shmem: u64,
    pub anon: u64,
    pub mapped: u64,
    pub active_anon: u64,
    pub inactive_anon: u64,
    pub active_file: u64,
    pub inactive_file: u64,
    pub unevictable: u64,
    /// Slab memory (cgroup v2 only; v1 does not split it out).
    pub slab: Option<Slab>,
    pub swap: Option<super::swaps::Swap>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Slab {
    pub reclaimable: u64,
    pub unreclaimable: u64,
}

/// The host's file with the machine's values in place of the host's.
/// MemTotal is the limit (the host's total when unlimited); MemFree and
/// MemAvailable never exceed what the host has available.
pub fn render(host: &str, m: &Memory) -> String {
    let kb = |b: u64| b / 1024;
    let host_total = super::field(host, "MemTotal:", 1).unwrap_or(u64::MAX);
    let host_avail = super::field(host, "MemAvailable:", 1).unwrap_or(host_total);
    let total = m.limit.map(kb).unwrap_or(host_total).min(host_total);
    let used = kb(m.usage).min(total);
    let free = (total - used).min(host_avail);
    let reclaimable = kb(m.active_file + m.inactive_file).min(kb(m.cache));
    let available = (free + reclaimable).min(total).min(host_avail.max(free));
    let slab = m.slab.unwrap_or_default();
    let mut values: Vec<(&str, u64)> = vec![
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", available),
        ("Buffers", 0),
        ("Cached", kb(m.cache).min(used)),
        ("SwapCached", 0),
        ("Active", kb(m.active_anon + m.active_file)),
        ("Inactive", kb(m.inactive_anon + m.inactive_file)),
        ("Active(anon)", kb(m.active_anon)),
        ("Inactive(anon)", kb(m.inactive_anon)),
        ("Active(file)", kb(m.active_file)),
        ("Inactive(file)", kb(m.inactive_file)),
        ("Unevictable", kb(m.unevictable)),
        ("AnonPages", kb(m.anon)),
        ("Mapped", kb(m.mapped)),
        ("Shmem", kb(m.shmem)),
        ("Slab", kb(slab.reclaimable + slab.unreclaimable)),
        ("SReclaimable", kb(slab.reclaimable)),
        ("SUnreclaim", kb(slab.unreclaimable)),
    ];
    if let Some(s) = m.swap {
        values.push(("SwapTotal", kb(s.total)));
        values.push(("SwapFree", kb(s.total.saturating_sub(s.used))));
    }
    replace_values(host, &values)
}

/// Replaces the value of each `Key:` line named in `values`, keeping the
/// line's layout: the number stays right-aligned in its column.
pub fn replace_values(host: &str, values: &[(&str, u64)]) -> String {
    let mut out = String::with_capacity(host.len() + 64);
    for line in host.lines() {
        let new = line.split_once(':').and_then(|(key, rest)| {
            let (_, v) = values.iter().find(|(k, _)| *k == key)?;
            let digits = rest.trim_start();
            let num_end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
            let width = rest.len() - digits.len() + num_end;
            Some(format!("{key}:{v:>width$}{}", &digits[num_end..]))
        });
        out.push_str(new.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "MemTotal:       24579396 kB\n\
                        MemFree:        20000000 kB\n\
                        MemAvailable:   22000000 kB\n\
                        Buffers:          123456 kB\n\
                        Cached:          1234567 kB\n\
                        SwapCached:            0 kB\n\
                        Active:          1000000 kB\n\
                        Dirty:               100 kB\n\
                        Shmem:              1000 kB\n\
                        SReclaimable:     500000 kB\n\
                        SwapTotal:       1000000 kB\n\
                        SwapFree:        1000000 kB\n\
                        HugePages_Total:       0\n\
                        Hugepagesize:       2048 kB\n";

    fn limited(mib: u64, used_mib: u64) -> Memory {
        Memory {
            limit: Some(mib << 20),
            usage: used_mib << 20,
            cache: 10 << 20,
            active_file: 4 << 20,
            inactive_file: 6 << 20,
            shmem: 1 << 20,
            ..Default::default()
        }
    }

    #[test]
    fn shows_the_limit_and_keeps_every_line_in_place() {
        let out = render(HOST, &limited(256, 40));
        assert_eq!(out.lines().count(), HOST.lines().count());
        for (a, b) in HOST.lines().zip(out.lines()) {
            assert_eq!(a.split(':').next(), b.split(':').next(), "same keys in the same order");
            assert_eq!(a.len(), b.len(), "same layout: {b}");
        }
        assert!(out.starts_with("MemTotal:         262144 kB\n"), "{out}");
        assert!(out.contains("MemFree:          221184 kB\n"));
        assert!(out.contains("MemAvailable:     231424 kB\n"), "free plus the reclaimable cache");
        assert!(out.contains("Buffers:               0 kB\n"));
        assert!(out.contains("Cached:            10240 kB\n"));
        assert!(out.contains("Dirty:               100 kB\n"), "what is not the machine's stays");
        assert!(out.contains("SReclaimable:          0 kB\n"));
        assert!(out.contains("SwapTotal:       1000000 kB\n"), "swap unknown: the host's");
        assert!(out.contains("HugePages_Total:       0\n"));
    }

    #[test]
    fn unlimited_means_the_hosts_total_and_swap_follows_its_limit() {
        let mut m = limited(0, 100);
        m.limit = None;
        m.swap = Some(crate::views::render::swaps::Swap { total: 64 << 20, used: 16 << 20 });
        let out = render(HOST, &m);
        assert!(out.starts_with("MemTotal:       24579396 kB\n"));
        assert!(out.contains("MemFree:        22000000 kB\n"), "capped at the host's available memory");
        assert!(out.contains("SwapTotal:         65536 kB\n"));
        assert!(out.contains("SwapFree:          49152 kB\n"));
    }

    #[test]
    fn a_number_wider_than_its_column_pushes_right() {
        assert_eq!(replace_values("A:  1 kB\nB: 2\n", &[("A", 123456)]), "A:123456 kB\nB: 2\n");
    }
}
