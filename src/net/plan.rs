//! What the guest's network is made of, as data: link names, MAC
//! addresses, the candidate subnets. Pure; nspawn's derivations where it
//! has them (so a machine keeps its names and addresses moving between
//! berth and nspawn).

use std::net::Ipv4Addr;

/// The longest interface name the kernel takes (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// nspawn's key for shortening long interface names.
const SHORTEN_IFNAME_KEY: [u8; 16] =
    [0xe1, 0x90, 0xa4, 0x04, 0xa8, 0xef, 0x4b, 0x51, 0x8c, 0xcc, 0xc3, 0x3a, 0x9f, 0x11, 0xfc, 0xa2];
/// nspawn's keys for the host and the guest side's MAC addresses.
const HOST_MAC_KEY: [u8; 16] =
    [0x1a, 0x37, 0x6f, 0xc7, 0x46, 0xec, 0x45, 0x0b, 0xad, 0xa3, 0xd5, 0x31, 0x06, 0x60, 0x5d, 0xb1];
const GUEST_MAC_KEY: [u8; 16] =
    [0xc3, 0xc4, 0xf9, 0x19, 0xb5, 0x57, 0xb2, 0x1c, 0xe6, 0xcf, 0x14, 0x27, 0x03, 0x9c, 0xee, 0xa2];

/// SipHash-2-4 (as systemd's siphash24).
pub fn siphash24(data: &[u8], key: &[u8; 16]) -> u64 {
    let k0 = u64::from_le_bytes(key[0..8].try_into().unwrap());
    let k1 = u64::from_le_bytes(key[8..16].try_into().unwrap());
    let mut v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes(c.try_into().unwrap());
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    let b = u64::from_le_bytes(last) | ((data.len() as u64) << 56);
    v[3] ^= b;
    round(&mut v);
    round(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// An interface name the kernel takes: past 15 characters, the first 11
/// and four characters of a hash of the whole (nspawn's scheme).
pub fn shorten_ifname(name: &str) -> String {
    if name.len() <= IFNAME_MAX {
        return name.to_string();
    }
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let h = siphash24(name.as_bytes(), &SHORTEN_IFNAME_KEY);
    let mut s: String = name.chars().take(IFNAME_MAX - 4).collect();
    for shift in [18, 12, 6, 0] {
        s.push(B64[((h >> shift) & 63) as usize] as char);
    }
    s
}

/// The host side of a machine's veth pair: `ve-NAME`, shortened.
pub fn veth_host_name(machine: &str) -> String {
    shorten_ifname(&format!("ve-{machine}"))
}

/// The guest side of the pair.
pub const GUEST_IFNAME: &str = "host0";

/// Whether the kernel takes `name` as an interface name.
pub fn ifname_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b':' && b != b'%')
}

/// `HOSTIF[:GUESTIF]` of `--network-veth-extra` (GUESTIF defaults to HOSTIF).
pub fn parse_veth_extra(spec: &str) -> Result<(String, String), String> {
    let (h, g) = spec.split_once(':').unwrap_or((spec, spec));
    if ifname_valid(h) && ifname_valid(g) {
        Ok((h.to_string(), g.to_string()))
    } else {
        Err(format!("--network-veth-extra={spec}: expected HOSTIF[:GUESTIF], interface names of 1-15 characters"))
    }
}

/// A zone name: its bridge `vz-ZONE` must be a valid interface name
/// (so at most 12 characters), as under nspawn; no '.' so it is also a
/// plain file name under /run/berth/zones.
pub fn check_zone(zone: &str) -> Result<(), String> {
    let ok = ifname_valid(&format!("vz-{zone}"))
        && !zone.is_empty()
        && zone.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("--network-zone={zone}: a zone name is 1-12 letters, digits, '-' or '_'"))
    }
}

/// The bridge of zone `zone`.
pub fn zone_bridge(zone: &str) -> String {
    format!("vz-{zone}")
}

/// The host side of a machine's pair on a bridge or zone: `vb-NAME`,
/// shortened.
pub fn bridge_port_name(machine: &str) -> String {
    shorten_ifname(&format!("vb-{machine}"))
}

/// A guest's address on a zone: the first one of `net` that no other
/// member uses, starting at a place derived from the machine's name (so
/// a machine tends to get the same address again). None when full.
pub fn pick_lease(net: &Net4, used: &[Ipv4Addr], machine: &str) -> Option<Ipv4Addr> {
    let n = net.guest_count();
    if n == 0 {
        return None;
    }
    let start = (siphash24(machine.as_bytes(), &HOST_MAC_KEY) % n as u64) as u32;
    (0..n).map(|i| net.nth(2 + (start + i) % n)).find(|a| !used.contains(a))
}

/// A stable, locally administered unicast MAC for `machine` on this host
/// (`machine_id`: /etc/machine-id's 16 bytes), as nspawn derives it.
pub fn mac(machine_id: &[u8; 16], machine: &str, host_side: bool) -> [u8; 6] {
    let mut v = machine_id.to_vec();
    v.extend_from_slice(machine.as_bytes());
    let key = if host_side { &HOST_MAC_KEY } else { &GUEST_MAC_KEY };
    let h = siphash24(&v, key).to_le_bytes();
    let mut m = [0u8; 6];
    m.copy_from_slice(&h[..6]);
    m[0] &= 0xfe; // unicast
    m[0] |= 0x02; // locally administered
    m
}

/// /etc/machine-id as 16 bytes (zeros where it is missing or odd).
pub fn parse_machine_id(text: &str) -> [u8; 16] {
    let t = text.trim();
    let mut id = [0u8; 16];
    if t.len() == 32 {
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
    }
    id
}

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net4 {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Net4 {
    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn overlaps(&self, o: &Net4) -> bool {
        let p = self.prefix.min(o.prefix);
        let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
        u32::from(self.addr) & m == u32::from(o.addr) & m
    }

    /// The n-th address of the network (1: the host side's).
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from((u32::from(self.addr) & self.mask()) + n)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// How many addresses there are for guests (all but network, host
    /// side and broadcast).
    pub fn guest_count(&self) -> u32 {
        (1u32 << (32 - self.prefix)).saturating_sub(3)
    }

    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }
}

impl std::fmt::Display for Net4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Net4 {
    type Err = ();
    fn from_str(s: &str) -> Result<Net4, ()> {
        let (a, p) = s.split_once('/').ok_or(())?;
        let prefix: u8 = p.parse().map_err(|_| ())?;
        if prefix > 32 {
            return Err(());
        }
        Ok(Net4 { addr: a.parse().map_err(|_| ())?, prefix })
    }
}

/// The private pools subnets are taken from, in order (address, prefix).
const POOLS: [(u32, u8); 3] = [(0x0a00_0000, 8), (0xac10_0000, 12), (0xc0a8_0000, 16)];

/// The subnets of size `prefix` of one pool, in the order to try them:
/// starting at a place derived from `seed`, so machines of different
/// names rarely meet.
pub fn candidates(seed: &str, prefix: u8, pool: (u32, u8)) -> impl Iterator<Item = Net4> {
    let (base, plen) = pool;
    let h = siphash24(seed.as_bytes(), &SHORTEN_IFNAME_KEY);
    let n = 1u64 << (prefix - plen);
    let start = h % n;
    (0..n).map(move |i| {
        let idx = ((start + i) % n) as u32;
        Net4 { addr: Ipv4Addr::from(base + (idx << (32 - prefix))), prefix }
    })
}

/// The first candidate (10.0.0.0/8, then 172.16.0.0/12, 192.168.0.0/16)
/// that overlaps none of `taken` (the host's routes and addresses) and
/// that `free` accepts (no other machine holds it).
pub fn pick_subnet(seed: &str, prefix: u8, taken: &[Net4], mut free: impl FnMut(&Net4) -> bool) -> Option<Net4> {
    let taken: Vec<&Net4> = taken.iter().filter(|t| t.prefix > 0).collect();
    for pool in POOLS {
        let whole = Net4 { addr: Ipv4Addr::from(pool.0), prefix: pool.1 };
        if taken.iter().any(|t| t.prefix <= whole.prefix && t.overlaps(&whole)) {
            continue;
        }
        let found = candidates(seed, prefix, pool).take(4096).find(|c| !taken.iter().any(|t| t.overlaps(c)) && free(c));
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_reference_vector() {
        // The SipHash paper's test vector: key 00..0f, message 00..0e.
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&msg, &key), 0xa129ca6149be45e5);
        assert_eq!(siphash24(&[], &key), 0x726fdb47dd0e0e31);
    }

    #[test]
    fn names_are_shortened_stably() {
        assert_eq!(veth_host_name("web"), "ve-web");
        assert_eq!(veth_host_name("abcdefghijkl"), "ve-abcdefghijkl");
        let long = veth_host_name("a-rather-long-machine-name");
        assert_eq!(long.len(), 15);
        assert!(long.starts_with("ve-a-rather"));
        assert_eq!(long, veth_host_name("a-rather-long-machine-name"));
        assert_ne!(long, veth_host_name("a-rather-long-machine-name2"));
        // What systemd-nspawn (v252) calls the same machine's link.
        assert_eq!(veth_host_name("hx-a-rather-long-name"), "ve-hx-a-ratmkpt");
    }

    #[test]
    fn zone_names_and_leases() {
        assert!(check_zone("lab").is_ok());
        assert!(check_zone("abcdefghijkl").is_ok());
        assert!(check_zone("abcdefghijklm").is_err(), "vz- and 13 characters is too long");
        assert!(check_zone("").is_err() && check_zone("a/b").is_err() && check_zone("a.b").is_err());
        assert_eq!(zone_bridge("lab"), "vz-lab");
        assert_eq!(bridge_port_name("web"), "vb-web");
        assert_eq!(bridge_port_name("a-rather-long-machine-name").len(), 15);
        assert!(!ifname_valid("a b") && !ifname_valid("a:b") && ifname_valid("br0"));
        assert_eq!(parse_veth_extra("hx0").unwrap(), ("hx0".into(), "hx0".into()));
        assert_eq!(parse_veth_extra("hx0:eth1").unwrap(), ("hx0".into(), "eth1".into()));
        assert!(parse_veth_extra("hx0:").is_err() && parse_veth_extra("a-name-far-too-long").is_err());
        let net: Net4 = "10.9.8.0/24".parse().unwrap();
        let mut used = Vec::new();
        for i in 0..253 {
            let a = pick_lease(&net, &used, &format!("m{i}")).expect("room");
            assert!(!used.contains(&a) && a != net.nth(1) && a != net.broadcast() && a != net.nth(0), "{a}");
            used.push(a);
        }
        assert_eq!(pick_lease(&net, &used, "one-more"), None);
        assert_eq!(pick_lease(&net, &[], "web"), pick_lease(&net, &[], "web"));
    }

    #[test]
    fn macs_are_stable_unicast_and_local() {
        let id = parse_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda4");
        let h = mac(&id, "web", true);
        let g = mac(&id, "web", false);
        assert_ne!(h, g);
        assert_eq!(h, mac(&id, "web", true));
        assert_ne!(h, mac(&id, "web2", true));
        for m in [h, g] {
            assert_eq!(m[0] & 1, 0, "unicast");
            assert_eq!(m[0] & 2, 2, "locally administered");
        }
    }

    #[test]
    fn subnets_avoid_the_hosts_routes() {
        let taken: Vec<Net4> = ["10.0.0.0/8", "172.16.5.0/24"].iter().map(|s| s.parse().unwrap()).collect();
        let s = pick_subnet("ve-web", 28, &taken, |_| true).unwrap();
        assert!(s.addr.octets()[0] == 172 && !s.overlaps(&taken[1]), "{s}");
        assert_eq!(s.prefix, 28);
        assert_eq!(s.nth(1).octets()[3] % 16, 1);
        assert_eq!(s.guest_count(), 13);
        // Another machine holding it: the next one.
        let t = pick_subnet("ve-web", 28, &taken, |c| *c != s).unwrap();
        assert_ne!(s, t);
        // A default route takes nothing.
        let d: Net4 = "0.0.0.0/0".parse().unwrap();
        assert!(pick_subnet("ve-web", 28, &[d], |_| true).unwrap().addr.octets()[0] == 10);
        let n: Net4 = "10.1.2.0/24".parse().unwrap();
        assert!(n.overlaps(&"10.1.2.16/28".parse().unwrap()));
        assert!(!n.overlaps(&"10.1.3.0/28".parse().unwrap()));
        assert_eq!(n.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
    }
}
