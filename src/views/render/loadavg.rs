//! /proc/loadavg from the machine's own runnable tasks, averaged the way
//! the kernel does (an exponential decay per 5 s sample).

/// How often the server samples.
pub const SAMPLE_SECS: u64 = 5;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    pub avg: [f64; 3],
}

impl Load {
    /// Folds in one sample of `active` (running or uninterruptible) tasks
    /// taken `secs` after the last.
    pub fn sample(&mut self, active: u64, secs: f64) {
        for (avg, window) in self.avg.iter_mut().zip([60.0, 300.0, 900.0]) {
            let e = (-secs / window).exp();
            *avg = *avg * e + active as f64 * (1.0 - e);
        }
    }
}

/// The machine's averages and task counts, and the host's last pid.
pub fn render(host: &str, load: &Load, running: u64, total: u64) -> String {
    let last_pid = host.split_whitespace().nth(4).unwrap_or("0");
    let [a, b, c] = load.avg;
    format!("{a:.2} {b:.2} {c:.2} {running}/{total} {last_pid}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_decay_like_the_kernels() {
        let mut l = Load::default();
        for _ in 0..12 {
            l.sample(1, 5.0);
        }
        // One busy task for a minute: about 1 - 1/e of one.
        assert!((l.avg[0] - 0.632).abs() < 0.01, "{:?}", l.avg);
        assert!(l.avg[1] < l.avg[0] && l.avg[2] < l.avg[1]);
        assert_eq!(render("0.50 0.40 0.30 2/300 4242\n", &l, 1, 7), "0.63 0.18 0.06 1/7 4242\n");
    }
}
