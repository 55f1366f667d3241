//! /proc/swaps from the machine's swap limit.

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Swap {
    /// Bytes the machine may swap (its limit, within the host's swap).
    pub total: u64,
    pub used: u64,
}

/// The host's header, then one virtual entry of the machine's size, or
/// none when it may not swap.
pub fn render(host: &str, swap: Swap) -> String {
    let header = host.lines().next().unwrap_or("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority");
    let mut out = format!("{header}\n");
    if swap.total > 0 {
        out.push_str(&format!("{:<40}virtual\t\t{}\t\t{}\t\t-2\n", "none", swap.total / 1024, swap.used / 1024));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/sda2 partition\t8388604\t0\t-2\n";

    #[test]
    fn one_virtual_device_of_the_machines_size() {
        let out = render(HOST, Swap { total: 64 << 20, used: 1 << 20 });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], HOST.lines().next().unwrap());
        assert!(lines[1].starts_with("none "));
        assert!(lines[1].ends_with("virtual\t\t65536\t\t1024\t\t-2"));
        assert_eq!(render(HOST, Swap::default()).lines().count(), 1, "no swap: the header alone");
    }
}
