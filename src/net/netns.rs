//! The guest's network namespace seen from the host: opening it, and
//! the addresses `berth list`/`status` show.

use super::error::{self, Result};
use super::link;
use std::os::fd::OwnedFd;

/// The addresses of the guest whose PID 1 is `leader`, IPv4 first, when
/// it has a network namespace of its own (none when it shares the host's).
pub fn guest_addresses(leader: libc::pid_t) -> Vec<std::net::IpAddr> {
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    let theirs = format!("/proc/{leader}/ns/net");
    if ino(&theirs).is_none() || ino(&theirs) == ino("/proc/self/ns/net") {
        return Vec::new();
    }
    let Ok(ns) = open_netns(leader) else { return Vec::new() };
    let mut v: Vec<std::net::IpAddr> = link::Netlink::open_in(&ns)
        .and_then(|mut nl| nl.all_addresses())
        .map(|a| a.into_iter().map(|(_, a)| a).collect())
        .unwrap_or_default();
    v.sort_by_key(|a| (a.is_ipv6(), *a));
    v
}

/// The network namespace of process `pid`.
pub fn open_netns(pid: libc::pid_t) -> Result<OwnedFd> {
    std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map(OwnedFd::from)
        .map_err(|e| error::NetError::netns(format!("opening the network namespace of process {pid}"), e))
}
