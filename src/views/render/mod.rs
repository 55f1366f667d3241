//! The guest's files as pure functions of the host's file (its text) and
//! the machine's numbers. Each keeps the host file's lines, order and
//! format, and changes only the values the machine's cgroups decide.

pub mod cpuinfo;
pub mod cpulist;
pub mod diskstats;
pub mod loadavg;
pub mod meminfo;
pub mod stat;
pub mod swaps;
pub mod uptime;

/// The `n`th whitespace-separated field of the line starting with `key`.
pub fn field(text: &str, key: &str, n: usize) -> Option<u64> {
    text.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(n)?.parse().ok()
}
