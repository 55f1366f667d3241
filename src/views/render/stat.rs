//! /proc/stat: the machine's CPUs, its own CPU time and its start.

/// CPU time the machine used, in clock ticks (USER_HZ).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    pub user: u64,
    pub system: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Inputs<'a> {
    /// The CPUs the machine shows (see cpulist::visible).
    pub cpus: &'a [u32],
    /// Its own CPU time; `None`: the host's lines for those CPUs.
    pub time: Option<CpuTime>,
    /// How long it has run, in clock ticks.
    pub uptime_ticks: u64,
    /// Its start, in seconds since the epoch.
    pub btime: u64,
    /// Its runnable and blocked tasks, when counted.
    pub tasks: Option<(u64, u64)>,
}

/// The host's file with the machine's CPU lines, btime and task counts.
/// With the machine's own time, it is spread evenly over its CPUs and the
/// rest of their time is idle.
pub fn render(host: &str, i: &Inputs) -> String {
    let k = i.cpus.len().max(1) as u64;
    let mut out = String::with_capacity(host.len());
    let mut sum = [0u64; 10];
    let mut per_cpu = Vec::new();
    let mut rest = Vec::new();
    for line in host.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        if key == "cpu" {
            continue;
        } else if let Some(n) = key.strip_prefix("cpu").and_then(|n| n.parse::<u32>().ok()) {
            if !i.cpus.contains(&n) {
                continue;
            }
            let mut f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
            f.resize(10, 0);
            if let Some(t) = i.time {
                let idle = (i.uptime_ticks * k).saturating_sub(t.user + t.system) / k;
                f = vec![t.user / k, 0, t.system / k, idle, 0, 0, 0, 0, 0, 0];
            }
            sum.iter_mut().zip(&f).for_each(|(s, v)| *s += v);
            per_cpu.push(format!("{key} {}", join(&f)));
        } else if key == "btime" {
            rest.push(format!("btime {}", i.btime));
        } else if let (Some((r, b)), "procs_running" | "procs_blocked") = (i.tasks, key) {
            rest.push(format!("{key} {}", if key == "procs_running" { r } else { b }));
        } else {
            rest.push(line.to_string());
        }
    }
    out.push_str(&format!("cpu  {}\n", join(&sum)));
    for l in per_cpu.iter().chain(&rest) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn join(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "cpu  300 0 60 9000 5 0 1 0 0 0\n\
                        cpu0 100 0 20 4500 2 0 0 0 0 0\n\
                        cpu1 200 0 40 4500 3 0 1 0 0 0\n\
                        intr 12345 1 2\n\
                        ctxt 999\n\
                        btime 1700000000\n\
                        processes 500\n\
                        procs_running 3\n\
                        procs_blocked 0\n\
                        softirq 1 2 3\n";

    #[test]
    fn the_machines_cpus_with_their_host_times() {
        let out = render(HOST, &Inputs { cpus: &[1], time: None, uptime_ticks: 500, btime: 1700000100, tasks: None });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "cpu  200 0 40 4500 3 0 1 0 0 0");
        assert_eq!(lines[1], "cpu1 200 0 40 4500 3 0 1 0 0 0");
        assert!(!out.contains("cpu0"));
        assert!(out.contains("\nbtime 1700000100\n"));
        assert!(out.contains("\nprocs_running 3\n"), "uncounted: the host's");
        assert!(out.ends_with("softirq 1 2 3\n"));
        assert_eq!(lines.len(), HOST.lines().count() - 1);
    }

    #[test]
    fn the_machines_own_time_spread_over_its_cpus() {
        let i = Inputs {
            cpus: &[0, 1],
            time: Some(CpuTime { user: 100, system: 20 }),
            uptime_ticks: 1000,
            btime: 5,
            tasks: Some((2, 1)),
        };
        let out = render(HOST, &i);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "cpu0 50 0 10 940 0 0 0 0 0 0");
        assert_eq!(lines[2], "cpu1 50 0 10 940 0 0 0 0 0 0");
        assert_eq!(lines[0], "cpu  100 0 20 1880 0 0 0 0 0 0");
        assert!(out.contains("\nprocs_running 2\nprocs_blocked 1\n"));
    }
}
