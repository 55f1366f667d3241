//! What a machine's network holds on the host (`NetRecord`, kept in the
//! machine record before what it names exists), and its removal from
//! that record (`cleanup`): by the watcher once the launcher is gone
//! (however it ended) and by `berth gc`.

use super::{ipv6, link, moved, nft, ports, subnet, zone};
use std::path::PathBuf;

/// Writes fields into the machine record (before what they name exists).
pub type Persist<'a> = dyn FnMut(&NetRecord) -> std::io::Result<()> + 'a;

/// What a machine's network holds on the host, kept in its record so the
/// watcher and `berth gc` can remove it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetRecord {
    /// The host side of the veth pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The IPv4 subnet of the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// The subnet's lock file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<PathBuf>,
    /// The link whose masquerade chain is in table ip berth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nft: Option<String>,
    /// The link whose masquerade chain is in table ip6 berth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nft6: Option<String>,
    /// The zone the machine joined (`--network-zone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Its member file in the zone (its lease), held while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<PathBuf>,
    /// The link whose forwarded ports' chains are in table ip berth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
    /// The link whose forwarded ports' chains are in table ip6 berth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports6: Option<String>,
    /// The host sides of `--network-veth-extra` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// Host interfaces moved into the guest (`--network-interface`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<moved::MovedRecord>,
}

/// Hook 4: removes what the record says a machine's network holds; runs
/// in the host's network namespace after the launcher is gone. Returns
/// what was removed.
pub fn cleanup(rec: &NetRecord) -> Vec<String> {
    let mut removed = rec.moved.as_ref().map(moved::cleanup).unwrap_or_default();
    if let Some(link) = &rec.ports {
        if ports::remove(link).is_ok() {
            removed.push(format!("nf_tables chains {}", ports::chains(link).join(" ")));
        }
    }
    if let Some(link) = &rec.ports6 {
        if ports::remove_in(nft::NFPROTO_IPV6, link).is_ok() {
            removed.push(format!("nf_tables chains ip6 {}", ports::chains(link).join(" ")));
        }
    }
    if let Some(host) = &rec.nft {
        if nft::remove_masquerade(host).is_ok() {
            removed.push(format!("nf_tables chain {}", nft::chain_name(host)));
        }
    }
    if let Some(host) = &rec.nft6 {
        if ipv6::remove_masquerade(host).is_ok() {
            removed.push(format!("nf_tables chain ip6 {}", nft::chain_name(host)));
        }
    }
    for host in rec.extra.iter().chain(&rec.link) {
        // Normally gone with the guest's namespace already.
        if let Ok(mut nl) = link::Netlink::open() {
            if let Ok(Some(i)) = nl.index_of(host) {
                if nl.delete(i, host).is_ok() {
                    removed.push(format!("link {host}"));
                }
            }
        }
    }
    if let Some(p) = &rec.lock {
        if p.exists() && subnet::release_if_unheld(p) {
            removed.push(format!("lock {}", p.display()));
        }
    }
    if let (Some(z), Some(member)) = (&rec.zone, &rec.lease) {
        removed.extend(zone::leave(z, member));
    }
    removed
}
