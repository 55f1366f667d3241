//! /proc/diskstats from the machine's io.stat (or v1 blkio counters).

/// One device's I/O by the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Io {
    pub major: u32,
    pub minor: u32,
    pub rios: u64,
    pub wios: u64,
    pub rbytes: u64,
    pub wbytes: u64,
}

/// The host's lines of the devices the machine used, with its counts of
/// completed reads and writes and their sectors; the times and queue
/// fields, which cgroups do not keep per machine, are 0.
pub fn render(host: &str, io: &[Io]) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        let (Ok(major), Ok(minor)) = (f[0].parse::<u32>(), f[1].parse::<u32>()) else { continue };
        let Some(d) = io.iter().find(|d| d.major == major && d.minor == minor) else { continue };
        let mut v = vec![0u64; f.len() - 3];
        v[0] = d.rios;
        v[2] = d.rbytes / 512;
        v[4] = d.wios;
        v[6] = d.wbytes / 512;
        let nums: Vec<String> = v.iter().map(u64::to_string).collect();
        out.push_str(&format!("{major:>4} {minor:>7} {} {}\n", f[2], nums.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "   7       0 loop0 10 0 20 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n   \
                        8       0 sda 5000 100 80000 900 3000 50 40000 700 0 1200 1600 0 0 0 0 10 5\n   \
                        8       1 sda1 4000 90 70000 800 2000 40 30000 600 0 1000 1400 0 0 0 0 0 0\n";

    #[test]
    fn only_the_devices_the_machine_used_with_its_counts() {
        let io = [Io { major: 8, minor: 0, rios: 12, wios: 3, rbytes: 8192, wbytes: 1024 }];
        assert_eq!(render(HOST, &io), "   8       0 sda 12 0 16 0 3 0 2 0 0 0 0 0 0 0 0 0 0\n");
        assert_eq!(render(HOST, &[]), "");
    }
}
