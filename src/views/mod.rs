//! The per-machine /proc and /sys views: files the guest reads to learn
//! its memory, CPUs, uptime and load, computed from the machine's own
//! cgroups instead of the host's totals (what lxcfs does for LXC, with
//! one small server per machine instead of one daemon for all).
//!
//! - `mount.rs`: the outer child mounts a FUSE filesystem, hands its
//!   /dev/fuse descriptor to the launcher and binds the files over the
//!   guest's /proc and /sys, read-only, before the guest's init starts;
//! - `supervise.rs`: the launcher starts the server as a child process
//!   (`berth-views`), watches it and restarts it on the same connection;
//!   `inflight.rs` lets a restarted server answer the request its
//!   predecessor died on, so no read inside ever hangs or fails;
//! - `server.rs` and `fuse.rs`: the server's loop and the wire protocol;
//! - `sysinfo.rs`: `sysinfo(2)` answered by the launcher through a seccomp
//!   listener, with the same numbers;
//! - `machine.rs`: the machine's numbers (`cgroup2.rs`, `cgroup1.rs`)
//!   and the files rendered from them (`render/`), with the host's file as
//!   the fallback for what cannot be computed.

pub mod cgroup1;
pub mod cgroup2;
pub mod fuse;
pub mod inflight;
pub mod machine;
pub mod mount;
pub mod render;
pub mod server;
pub mod supervise;
pub mod sysinfo;

/// A file the views serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    Meminfo,
    Cpuinfo,
    Stat,
    Uptime,
    Loadavg,
    Diskstats,
    Swaps,
    CpuOnline,
}

pub const FILES: [File; 8] = [
    File::Meminfo,
    File::Cpuinfo,
    File::Stat,
    File::Uptime,
    File::Loadavg,
    File::Diskstats,
    File::Swaps,
    File::CpuOnline,
];

impl File {
    /// Its name in the views' own filesystem.
    pub fn name(self) -> &'static str {
        match self {
            File::Meminfo => "meminfo",
            File::Cpuinfo => "cpuinfo",
            File::Stat => "stat",
            File::Uptime => "uptime",
            File::Loadavg => "loadavg",
            File::Diskstats => "diskstats",
            File::Swaps => "swaps",
            File::CpuOnline => "cpu-online",
        }
    }

    /// The path it covers in the guest, and its source on the host.
    pub fn path(self) -> &'static str {
        match self {
            File::CpuOnline => "/sys/devices/system/cpu/online",
            f => match f {
                File::Meminfo => "/proc/meminfo",
                File::Cpuinfo => "/proc/cpuinfo",
                File::Stat => "/proc/stat",
                File::Uptime => "/proc/uptime",
                File::Loadavg => "/proc/loadavg",
                File::Diskstats => "/proc/diskstats",
                _ => "/proc/swaps",
            },
        }
    }

    /// Its inode number (1 is the root directory).
    pub fn ino(self) -> u64 {
        FILES.iter().position(|f| *f == self).unwrap_or(0) as u64 + 2
    }

    pub fn from_ino(ino: u64) -> Option<File> {
        ino.checked_sub(2).and_then(|i| FILES.get(i as usize)).copied()
    }

    pub fn from_name(name: &[u8]) -> Option<File> {
        FILES.iter().copied().find(|f| f.name().as_bytes() == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ViewsError {
    #[error("{what}: {source}")]
    Sys { what: String, source: std::io::Error },
}

impl ViewsError {
    pub fn sys(what: impl Into<String>, source: impl Into<std::io::Error>) -> ViewsError {
        ViewsError::Sys { what: what.into(), source: source.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_have_distinct_names_inodes_and_paths() {
        for f in FILES {
            assert_eq!(File::from_ino(f.ino()), Some(f));
            assert_eq!(File::from_name(f.name().as_bytes()), Some(f));
            assert!(f.ino() >= 2);
        }
        assert_eq!(File::from_ino(1), None);
        assert_eq!(File::from_ino(99), None);
        assert_eq!(File::from_name(b"kcore"), None);
        let mut paths: Vec<_> = FILES.iter().map(|f| f.path()).collect();
        paths.dedup();
        assert_eq!(paths.len(), FILES.len());
    }
}
