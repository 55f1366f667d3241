//! /proc/uptime from the machine's start.

/// The machine's uptime in seconds: the host's, less the time the host
/// had been up when the machine's PID 1 started (`start_ticks`, field 22
/// of /proc/PID/stat, in clock ticks).
pub fn machine_uptime(host_uptime: &str, start_ticks: u64, hz: u64) -> Option<f64> {
    let up: f64 = host_uptime.split_whitespace().next()?.parse().ok()?;
    Some((up - start_ticks as f64 / hz.max(1) as f64).max(0.0))
}

/// `up` and the idle time of `ncpus` CPUs that spent `busy` seconds on
/// the machine's work (or, unknown, all of it idle).
pub fn render(up: f64, ncpus: usize, busy: Option<f64>) -> String {
    let idle = (up * ncpus as f64 - busy.unwrap_or(0.0)).max(0.0);
    format!("{up:.2} {idle:.2}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_the_machines_start() {
        let up = machine_uptime("1000.50 1900.00\n", 99_500, 100).unwrap();
        assert!((up - 5.5).abs() < 1e-9);
        assert_eq!(machine_uptime("10.0 1.0", 5000, 100), Some(0.0), "never negative");
        assert_eq!(machine_uptime("garbage", 1, 100), None);
        assert_eq!(render(5.5, 2, Some(1.0)), "5.50 10.00\n");
        assert_eq!(render(5.5, 1, None), "5.50 5.50\n");
    }
}
