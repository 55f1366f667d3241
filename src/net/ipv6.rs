//! IPv6 on the links berth addresses (a `ve-` link of its own, a zone's
//! bridge): a ULA /64 (ula.rs) with `::1` on the host side, IPv6
//! forwarding and masquerading in table ip6 berth (forward6.rs, nft.rs),
//! and router advertisements (ra.rs, radv.rs) from which the guest forms
//! its address by SLAAC and takes its default route. Every link also has
//! its link-local addresses, on both sides, from the kernel.

use super::error::Result;
use super::ra::Advert;
use super::{forward6, link, nft, ra, ula};
use std::net::Ipv6Addr;
use std::path::Path;

/// How long a guest's address stays valid / preferred without a new
/// advertisement.
const VALID: u32 = 3600;
const PREFERRED: u32 = 1800;

/// Whether this namespace has IPv6 at all (a kernel booted with
/// ipv6.disable=1 has none: then guests get IPv4 only).
pub fn available() -> bool {
    Path::new("/proc/sys/net/ipv6/conf/all").exists()
}

/// Picks a free ULA /64 for `ifname` and gives the host side (link
/// `index`) its `::1`. None (with one line said) where every candidate
/// is routed already.
pub fn address(nl: &mut link::Netlink, index: u32, ifname: &str, machine_id: &[u8; 16]) -> Result<Option<Ipv6Addr>> {
    let Some(net) = ula::pick(machine_id, ifname, &nl.taken6()?) else {
        eprint!("berth: every IPv6 ULA prefix berth would use for {ifname} is routed on this host already; the guest gets IPv6 link-local addresses only\r\n");
        return Ok(None);
    };
    let host = ula::host_address(net);
    nl.add_address6(index, host, 64, &format!("adding address {host}/64 to {ifname}"))?;
    Ok(Some(net))
}

/// Turns on IPv6 forwarding and masquerades what comes in by `ifname`;
/// whether the host forwards IPv6 (a host without nf_tables gets one
/// line and no NAT).
pub fn masquerade(ifname: &str) -> Result<bool> {
    let forwards = forward6::enable();
    match nft::add_masquerade_in(nft::NFPROTO_IPV6, ifname) {
        Ok(()) => Ok(forwards),
        Err(e) if nft::unsupported(&e) => {
            eprint!("berth: this host has no nf_tables (legacy ip6tables only?); {ifname} gets no IPv6 NAT\r\n");
            Ok(forwards)
        }
        Err(e) => Err(e),
    }
}

/// Whether the host forwards IPv6 now.
pub fn forwards() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding").is_ok_and(|s| s.trim() == "1")
}

/// What berth advertises on a link with prefix `net`, sent from `mac`.
pub fn advert(net: Ipv6Addr, mac: [u8; 6], forwards: bool) -> Advert {
    Advert {
        prefix: net,
        mac: Some(mac),
        // Without forwarding the guest still reaches the host's side.
        router_lifetime: if forwards { 1800 } else { 0 },
        valid_lifetime: VALID,
        preferred_lifetime: PREFERRED,
        dns: ra::host_dns6(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()),
    }
}

/// Removes the ip6 masquerade chain of `ifname`.
pub fn remove_masquerade(ifname: &str) -> Result<()> {
    nft::remove_chain_in(nft::NFPROTO_IPV6, &nft::chain_name(ifname))
}
