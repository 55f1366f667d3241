//! Network zones (`--network-zone=ZONE`): the bridge `vz-ZONE` shared by
//! the zone's machines, created by the first and removed when the last
//! leaves, with one subnet (a /24), one masquerade chain and, per
//! machine, one address.
//!
//! State under /run/berth/zones: `ZONE.lock` serialises joining and
//! leaving; the directory `ZONE/` holds `subnet` (the zone's subnet, when
//! berth addresses the bridge), `ula` (its IPv6 /64), `ra.lock` (held by
//! the member whose launcher sends the router advertisements, radv.rs),
//! `bridge` (berth created the bridge) and one
//! `NAME.member` file per machine, flocked by its launcher while it runs
//! and holding the guest's address: a file nobody holds is a member gone.
//! Addresses are picked under the zone's lock among those held, so two
//! members never get the same one.

use super::error::{NetError, Result};
use super::plan::{self, Net4};
use super::{forward6, ipv6, link, networkd, nft, subnet, ula};
use std::fs::{self, File};
use std::io::{self, Seek, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const ZONE_DIR: &str = "/run/berth/zones";

fn dir(zone: &str) -> PathBuf {
    Path::new(ZONE_DIR).join(zone)
}

fn lock_path(zone: &str) -> PathBuf {
    Path::new(ZONE_DIR).join(format!("{zone}.lock"))
}

/// The lock whose holder advertises the zone's IPv6 prefix.
pub fn ra_lock_path(zone: &str) -> PathBuf {
    dir(zone).join("ra.lock")
}

/// The member file of `machine` in `zone`.
pub fn member_path(zone: &str, machine: &str) -> PathBuf {
    dir(zone).join(format!("{machine}.member"))
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let what = what.into();
    move |e| NetError::netns(what, e)
}

/// The zone's lock, waited for (joins and leaves are short) up to 10 s.
pub fn lock(zone: &str) -> Result<File> {
    fs::create_dir_all(ZONE_DIR).map_err(io_err(format!("creating {ZONE_DIR}")))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match subnet::lock(&lock_path(zone), libc::LOCK_EX | libc::LOCK_NB) {
            Ok(f) => return Ok(f),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(NetError::netns(format!("locking zone {zone} ({})", lock_path(zone).display()), e)),
        }
    }
}

/// The zone as a joining member finds it (or makes it).
pub struct Zone {
    pub bridge: String,
    pub index: u32,
    /// The zone's subnet when berth addresses the bridge.
    pub net: Option<Net4>,
    /// This member's shared hold on the subnet.
    pub hold: Option<subnet::Held>,
    /// The zone's IPv6 /64 when berth addresses the bridge.
    pub net6: Option<Ipv6Addr>,
}

/// Finds or creates the zone's bridge (the caller holds the zone's lock).
pub fn ensure(nl: &mut link::Netlink, zone: &str, machine_id: &[u8; 16]) -> Result<Zone> {
    let bridge = plan::zone_bridge(zone);
    let d = dir(zone);
    fs::create_dir_all(&d).map_err(io_err(format!("creating {}", d.display())))?;
    if let Some((index, _)) = nl.kind_of(&bridge)? {
        let net = fs::read_to_string(d.join("subnet")).ok().and_then(|t| t.trim().parse::<Net4>().ok());
        let hold = match net {
            Some(n) => Some(subnet::hold_shared(&n).map_err(io_err(format!("holding the subnet {n} of zone {zone}")))?),
            None => None,
        };
        let net6 = fs::read_to_string(d.join("ula")).ok().and_then(|t| ula::parse_net(&t));
        return Ok(Zone { bridge, index, net, hold, net6 });
    }
    // Marked before it exists: a launcher killed right after leaves a
    // bridge the clean-up knows as berth's.
    fs::write(d.join("bridge"), &bridge).map_err(io_err(format!("writing {}", d.display())))?;
    nl.create_bridge(&bridge, plan::mac(machine_id, &bridge, true))?;
    let index = nl
        .index_of(&bridge)?
        .ok_or_else(|| NetError::netlink(format!("finding {bridge}"), io::Error::from_raw_os_error(libc::ENODEV)))?;
    let managed = networkd::manages(&bridge);
    if !managed && ipv6::available() {
        forward6::prepare_link(&bridge);
    }
    nl.set_up(index, &bridge)?;
    if managed {
        tracing::info!("systemd-networkd manages {bridge}; leaving its addresses to it");
        return Ok(Zone { bridge, index, net: None, hold: None, net6: None });
    }
    let taken = nl.taken4()?;
    let mut held = None;
    let net = plan::pick_subnet(&bridge, 24, &taken, |c| match subnet::hold(c) {
        Ok(l) => {
            held = Some(l);
            true
        }
        Err(_) => false,
    })
    .ok_or_else(|| {
        NetError::netlink(
            format!("finding a free private IPv4 subnet for {bridge}"),
            io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        )
    })?;
    fs::write(d.join("subnet"), net.to_string()).map_err(io_err(format!("writing {}/subnet", d.display())))?;
    nl.add_address4(index, net.nth(1), net, &format!("adding address {}/24 to {bridge}", net.nth(1)))?;
    super::nft::forward_and_masquerade(&bridge)?;
    // Other members share it from now on.
    if let Some(h) = &held {
        h.share();
    }
    let net6 = ensure_ipv6(nl, index, &bridge, &d, machine_id)?;
    Ok(Zone { bridge, index, net: Some(net), hold: held, net6 })
}

/// The new zone's IPv6 /64 on its bridge, recorded in the zone's state
/// (before its masquerade chain exists), forwarded and masqueraded.
fn ensure_ipv6(nl: &mut link::Netlink, index: u32, bridge: &str, d: &Path, id: &[u8; 16]) -> Result<Option<Ipv6Addr>> {
    if !ipv6::available() {
        return Ok(None);
    }
    let Some(net) = ipv6::address(nl, index, bridge, id)? else { return Ok(None) };
    fs::write(d.join("ula"), format!("{net}/64")).map_err(io_err(format!("writing {}/ula", d.display())))?;
    ipv6::masquerade(bridge)?;
    Ok(Some(net))
}

/// Takes this member's file (flocked while the launcher lives).
pub fn hold_member(zone: &str, machine: &str) -> Result<File> {
    let p = member_path(zone, machine);
    fs::create_dir_all(dir(zone)).map_err(io_err(format!("creating {}", dir(zone).display())))?;
    subnet::lock(&p, libc::LOCK_EX | libc::LOCK_NB).map_err(io_err(format!("taking {}", p.display())))
}

/// The addresses the zone's live members use (their files are held).
fn used_addresses(zone: &str, own: &Path) -> Vec<Ipv4Addr> {
    let mut used = Vec::new();
    for e in fs::read_dir(dir(zone)).into_iter().flatten().flatten() {
        let p = e.path();
        if p == own || p.extension().is_none_or(|x| x != "member") {
            continue;
        }
        if held(&p) {
            if let Ok(a) = fs::read_to_string(&p).unwrap_or_default().trim().parse() {
                used.push(a);
            }
        }
    }
    used
}

/// Whether someone holds the member file `p`.
fn held(p: &Path) -> bool {
    matches!(subnet::lock(p, libc::LOCK_EX | libc::LOCK_NB), Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK))
}

/// Picks this member's address on `net` and writes it to its file.
pub fn take_address(zone: &str, machine: &str, net: &Net4, member: &mut File) -> Result<Ipv4Addr> {
    let own = member_path(zone, machine);
    let used = used_addresses(zone, &own);
    let addr = plan::pick_lease(net, &used, machine).ok_or_else(|| {
        NetError::netlink(
            format!("zone {zone} has no free address left in {net}"),
            io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        )
    })?;
    let w = member.set_len(0).and_then(|_| member.rewind()).and_then(|_| writeln!(member, "{addr}"));
    w.map_err(io_err(format!("writing {}", own.display())))?;
    Ok(addr)
}

/// A member has gone (its launcher is dead): its file goes, and with the
/// last member the bridge, the zone's chain, subnet and state. Returns
/// what was removed.
pub fn leave(zone: &str, member: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(lock) = lock(zone) else { return removed };
    if member.exists() && subnet::release_if_unheld(member) {
        removed.push(format!("zone member {}", member.display()));
    }
    let d = dir(zone);
    let mut others = false;
    for e in fs::read_dir(&d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "member") {
            // A member whose launcher died and whose clean-up has not
            // come yet is gone as well.
            others |= held(&p) || !subnet::release_if_unheld(&p);
        }
    }
    if others {
        return removed;
    }
    let bridge = plan::zone_bridge(zone);
    if d.join("bridge").exists() {
        if let Ok(mut nl) = link::Netlink::open() {
            if let Ok(Some(i)) = nl.index_of(&bridge) {
                if nl.delete(i, &bridge).is_ok() {
                    removed.push(format!("bridge {bridge}"));
                }
            }
        }
    }
    if let Some(net) = fs::read_to_string(d.join("subnet")).ok().and_then(|t| t.trim().parse::<Net4>().ok()) {
        if nft::remove_masquerade(&bridge).is_ok() {
            removed.push(format!("nf_tables chain {}", nft::chain_name(&bridge)));
        }
        let p = subnet::lock_path(&net);
        if p.exists() && subnet::release_if_unheld(&p) {
            removed.push(format!("lock {}", p.display()));
        }
    }
    if d.join("ula").exists() && ipv6::remove_masquerade(&bridge).is_ok() {
        removed.push(format!("nf_tables chain ip6 {}", nft::chain_name(&bridge)));
    }
    if fs::remove_dir_all(&d).is_ok() {
        removed.push(format!("zone {}", d.display()));
    }
    // Whoever waits for the lock finds it removed and takes a new one.
    let _ = fs::remove_file(lock_path(zone));
    drop(lock);
    removed
}
