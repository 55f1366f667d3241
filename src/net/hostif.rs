//! Host interfaces given to the guest, as data (pure): which names the
//! guest's links get, which of them clash, the macvlans' MAC addresses
//! and where the bookkeeping of moved interfaces lives. nspawn's names
//! and MAC derivation, so a machine keeps them between berth and nspawn.
//!
//! `--network-interface=IF[:NEWNAME]` moves IF itself in under its own
//! name (or NEWNAME, as newer nspawn does);
//! `--network-macvlan=IF` and `--network-ipvlan=IF` create `mv-IF` and
//! `iv-IF` on top of IF directly in the guest's namespace.

use super::plan::{ifname_valid, shorten_ifname, siphash24, GUEST_IFNAME};
use std::path::{Path, PathBuf};

/// nspawn's key for the macvlans' MAC addresses.
const MACVLAN_KEY: [u8; 16] =
    [0x00, 0x13, 0x6d, 0xbc, 0x66, 0x83, 0x44, 0x81, 0xbb, 0x0c, 0xf9, 0x51, 0x1f, 0x24, 0xa6, 0x6f];

/// Where the network namespaces a machine keeps alive are bind-mounted:
/// the guest's (`guest/NAME`) and the one its launcher ran in
/// (`host/NAME`).
pub const NETNS_DIR: &str = "/run/berth/netns";

/// The guest's side of `--network-macvlan=IF`.
pub fn macvlan_name(parent: &str) -> String {
    shorten_ifname(&format!("mv-{parent}"))
}

/// The guest's side of `--network-ipvlan=IF`.
pub fn ipvlan_name(parent: &str) -> String {
    shorten_ifname(&format!("iv-{parent}"))
}

/// The MAC of the `idx`th macvlan (counting from 0) of `machine` on the
/// host with /etc/machine-id `machine_id`: stable, unicast, locally
/// administered.
pub fn macvlan_mac(machine_id: &[u8; 16], machine: &str, idx: u64) -> [u8; 6] {
    let mut v = machine_id.to_vec();
    v.extend_from_slice(machine.as_bytes());
    if idx > 0 {
        v.extend_from_slice(&idx.to_le_bytes());
    }
    let h = siphash24(&v, &MACVLAN_KEY).to_le_bytes();
    let mut m = [0u8; 6];
    m.copy_from_slice(&h[..6]);
    m[0] &= 0xfe; // unicast
    m[0] |= 0x02; // locally administered
    m
}

/// The bind mounts keeping a machine's namespaces: (guest's, launcher's).
pub fn netns_paths(machine: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(NETNS_DIR);
    (dir.join("guest").join(machine), dir.join("host").join(machine))
}

/// The lock a launcher holds on an interface it moved, per network
/// namespace (`home`: the inode of the one it ran in) and name.
pub fn lock_path(home: u64, name: &str) -> PathBuf {
    Path::new(super::subnet::LOCK_DIR).join(format!("if-{home}-{name}.lock"))
}

/// Names to move an interface back under when the host has a link of
/// its old name meanwhile: `NAME0`, `NAME1`, ... (shortened to fit).
pub fn fallback_names(name: &str) -> impl Iterator<Item = String> + '_ {
    (0..100u32).map(move |n| {
        let suffix = n.to_string();
        let stem: String = name.chars().take(super::plan::IFNAME_MAX - suffix.len()).collect();
        format!("{stem}{suffix}")
    })
}

/// Parses `IF[:NEWNAME]` of `--network-interface`: (name on the host,
/// name in the guest).
pub fn parse_interface(spec: &str) -> Result<(String, String), String> {
    let (host, inside) = spec.split_once(':').unwrap_or((spec, spec));
    for (n, what) in [(host, "IF"), (inside, "NEWNAME")] {
        if !ifname_valid(n) {
            return Err(format!(
                "--network-interface={spec}: {what} '{n}' is not an interface name (1-15 characters, no '/', ':' or spaces)"
            ));
        }
        if n == "lo" {
            return Err(format!(
                "--network-interface={spec}: the loopback interface cannot be given to a machine or named so; name another"
            ));
        }
    }
    Ok((host.to_string(), inside.to_string()))
}

/// What the options ask for, by option: (option, interface) in order.
pub struct Asked<'a> {
    pub interfaces: &'a [String],
    pub macvlan: &'a [String],
    pub ipvlan: &'a [String],
}

/// Checks the options (pure): interface names the kernel takes, and no
/// two links of the same name in the guest (`others`: the names berth's
/// other options give the guest's links, with the option that does).
pub fn check(a: &Asked, others: &[(String, String)]) -> Result<(), String> {
    let all = [("--network-interface", a.interfaces), ("--network-macvlan", a.macvlan), ("--network-ipvlan", a.ipvlan)];
    let mut names: Vec<(String, String)> = others.to_vec();
    let mut moved = Vec::new();
    for (opt, list) in all {
        for spec in list {
            let (i, newname) = if opt == "--network-interface" {
                let (h, g) = parse_interface(spec)?;
                moved.push(h.clone());
                (h, Some(g))
            } else {
                (spec.clone(), None)
            };
            let i = &i;
            if !ifname_valid(i) {
                return Err(format!("{opt}={i}: not an interface name (1-15 characters, no '/', ':' or spaces)"));
            }
            if i == "lo" {
                return Err(format!("{opt}=lo: the loopback interface cannot be given to a machine; name another"));
            }
            let inside = match opt {
                "--network-macvlan" => macvlan_name(i),
                "--network-ipvlan" => ipvlan_name(i),
                _ => newname.unwrap_or_else(|| i.clone()),
            };
            let here = format!("{opt}={spec}");
            if opt == "--network-interface" && moved.iter().filter(|m| *m == i).count() > 1 {
                return Err(format!("{here}: {i} is moved into the guest twice; name it once"));
            }
            if let Some((other, _)) = names.iter().find(|(_, n)| *n == inside) {
                return Err(format!(
                    "{here} and {other} both give the guest a link called {inside}; drop one (or rename the host's interface)"
                ));
            }
            names.push((here, inside));
        }
    }
    for i in &moved {
        if a.macvlan.contains(i) || a.ipvlan.contains(i) {
            return Err(format!(
                "--network-interface={i} moves {i} into the guest, so no macvlan or ipvlan can sit on it on the host; drop one"
            ));
        }
    }
    Ok(())
}

/// The guest link names berth's other options give: `host0` of a pair
/// (`-n`, zone, bridge) and the guest sides of `--network-veth-extra`.
pub fn other_names(pair: bool, veth_extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut v = Vec::new();
    if pair {
        v.push(("-n/--network-zone/--network-bridge".to_string(), GUEST_IFNAME.to_string()));
    }
    for (h, g) in veth_extra {
        v.push((format!("--network-veth-extra={h}:{g}"), g.clone()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_follow_nspawn() {
        assert_eq!(macvlan_name("eth0"), "mv-eth0");
        assert_eq!(ipvlan_name("enp3s0"), "iv-enp3s0");
        let long = macvlan_name("enp0s31f6abcdef");
        assert_eq!(long.len(), 15);
        assert!(long.starts_with("mv-enp0s31f"));
        let f: Vec<String> = fallback_names("enp0s31f6abcdef").take(11).collect();
        assert_eq!((f[0].as_str(), f[10].as_str()), ("enp0s31f6abcde0", "enp0s31f6abcd10"));
        assert_eq!(fallback_names("eth0").next().unwrap(), "eth00");
    }

    #[test]
    fn macvlan_macs_are_stable_unicast_local_and_distinct() {
        let id = [7u8; 16];
        let a = macvlan_mac(&id, "m", 0);
        assert_eq!(a, macvlan_mac(&id, "m", 0));
        assert_ne!(a, macvlan_mac(&id, "m", 1));
        assert_ne!(a, macvlan_mac(&id, "n", 0));
        for m in [a, macvlan_mac(&id, "m", 1)] {
            assert_eq!(m[0] & 1, 0);
            assert_eq!(m[0] & 2, 2);
        }
    }

    #[test]
    fn clashes_are_found() {
        let ok = Asked { interfaces: &s(&["eth1"]), macvlan: &s(&["eth0"]), ipvlan: &s(&["eth2"]) };
        assert!(check(&ok, &other_names(true, &[])).is_ok());
        let host0 = Asked { interfaces: &s(&["host0"]), macvlan: &[], ipvlan: &[] };
        let e = check(&host0, &other_names(true, &[])).unwrap_err();
        assert!(e.contains("host0") && e.contains("-n"), "{e}");
        assert!(check(&host0, &other_names(false, &[])).is_ok());
        let extra = other_names(false, &[("vx".into(), "eth1".into())]);
        assert!(check(&ok, &extra).unwrap_err().contains("--network-veth-extra=vx:eth1"));
        let twice = Asked { interfaces: &s(&["a", "a"]), macvlan: &[], ipvlan: &[] };
        assert!(check(&twice, &[]).is_err());
        let both = Asked { interfaces: &s(&["a"]), macvlan: &s(&["a"]), ipvlan: &[] };
        assert!(check(&both, &[]).unwrap_err().contains("no macvlan"));
        let mv = Asked { interfaces: &s(&["mv-a"]), macvlan: &s(&["a"]), ipvlan: &[] };
        assert!(check(&mv, &[]).unwrap_err().contains("mv-a"));
        for bad in ["lo", "a/b", "", "sixteen-chars-xx", "a:", "a:lo", "a:b/c", "a:b:c", ":b"] {
            let a = Asked { interfaces: &s(&[bad]), macvlan: &[], ipvlan: &[] };
            assert!(check(&a, &[]).is_err(), "{bad}");
        }
        let renamed = Asked { interfaces: &s(&["eth1:host0"]), macvlan: &[], ipvlan: &[] };
        assert!(check(&renamed, &other_names(true, &[])).unwrap_err().contains("eth1:host0"));
        assert!(check(&renamed, &[]).is_ok());
        let two = Asked { interfaces: &s(&["a:x", "b:x"]), macvlan: &[], ipvlan: &[] };
        assert!(check(&two, &[]).unwrap_err().contains("link called x"));
        let same = Asked { interfaces: &s(&["a:x", "a:y"]), macvlan: &[], ipvlan: &[] };
        assert!(check(&same, &[]).unwrap_err().contains("twice"));
        let under = Asked { interfaces: &s(&["a:x"]), macvlan: &s(&["a"]), ipvlan: &[] };
        assert!(check(&under, &[]).unwrap_err().contains("no macvlan"));
    }

    #[test]
    fn interface_specs() {
        assert_eq!(parse_interface("eth0").unwrap(), ("eth0".to_string(), "eth0".to_string()));
        assert_eq!(parse_interface("eth0:wan").unwrap(), ("eth0".to_string(), "wan".to_string()));
        let e = parse_interface("eth0:a/b").unwrap_err();
        assert!(e.starts_with("--network-interface=eth0:a/b: NEWNAME 'a/b'"), "{e}");
    }

    #[test]
    fn paths() {
        let (g, h) = netns_paths("m1");
        assert_eq!(g, Path::new("/run/berth/netns/guest/m1"));
        assert_eq!(h, Path::new("/run/berth/netns/host/m1"));
        assert_eq!(lock_path(4026531840, "eth0"), Path::new("/run/berth/net/if-4026531840-eth0.lock"));
    }
}
