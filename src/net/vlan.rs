//! `--network-macvlan=IF` and `--network-ipvlan=IF`: `mv-IF` (a macvlan
//! in bridge mode, with a stable MAC of nspawn's derivation) and `iv-IF`
//! (an ipvlan in L2 mode) on top of the host's IF, created directly in
//! the guest's network namespace, so they go with it: nothing of them is
//! ever on the host or in the machine's record.

use super::error::{NetError, Result};
use super::hostif;
use super::link::Netlink;

/// Creates the guest's macvlans and ipvlans for the guest of `pid`.
pub fn attach(machine: &str, machine_id: &[u8; 16], macvlan: &[String], ipvlan: &[String], pid: u32) -> Result<()> {
    if macvlan.is_empty() && ipvlan.is_empty() {
        return Ok(());
    }
    let mut nl = Netlink::open()?;
    for (idx, parent) in macvlan.iter().enumerate() {
        let index = parent_index(&mut nl, "--network-macvlan", parent)?;
        let name = hostif::macvlan_name(parent);
        let mac = hostif::macvlan_mac(machine_id, machine, idx as u64);
        nl.create_vlan(&name, index, Some(mac), pid, &format!("--network-macvlan={parent}: creating {name}"))?;
    }
    for parent in ipvlan {
        let index = parent_index(&mut nl, "--network-ipvlan", parent)?;
        let name = hostif::ipvlan_name(parent);
        nl.create_vlan(&name, index, None, pid, &format!("--network-ipvlan={parent}: creating {name}")).map_err(
            |e| match e {
                NetError::Netlink { source, .. } if source.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    NetError::Refused(format!(
                        "--network-ipvlan={parent}: this kernel has no ipvlan support (CONFIG_IPVLAN, module ipvlan); load it or use --network-macvlan"
                    ))
                }
                e => e,
            },
        )?;
    }
    Ok(())
}

/// The index of the host's interface `parent`, or the error naming it.
fn parent_index(nl: &mut Netlink, opt: &str, parent: &str) -> Result<u32> {
    nl.index_of(parent)?.ok_or_else(|| {
        NetError::Refused(format!("{opt}={parent}: this host has no interface {parent}; name one `ip link` lists"))
    })
}
