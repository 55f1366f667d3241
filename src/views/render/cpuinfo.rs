//! /proc/cpuinfo: the host's blocks for the machine's CPUs only.

/// Keeps the blocks (one per CPU, separated by blank lines) whose
/// `processor` is one of `cpus`, unchanged.
pub fn render(host: &str, cpus: &[u32]) -> String {
    let mut out = String::with_capacity(host.len());
    for block in host.split("\n\n") {
        if block.trim().is_empty() {
            continue;
        }
        let n = block
            .lines()
            .find(|l| l.starts_with("processor"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<u32>().ok());
        // A block without a processor number (other architectures' header)
        // stays.
        if n.is_none_or(|n| cpus.contains(&n)) {
            out.push_str(block.trim_end_matches('\n'));
            out.push_str("\n\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme\n\n\
                        processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme\n\n";

    #[test]
    fn keeps_only_the_machines_cpus() {
        assert_eq!(render(HOST, &[0, 1]), HOST);
        let one = render(HOST, &[1]);
        assert_eq!(one, "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme\n\n");
        assert_eq!(one.lines().filter(|l| l.starts_with("processor")).count(), 1);
    }
}
