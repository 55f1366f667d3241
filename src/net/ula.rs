//! IPv6 unique local prefixes (fd00::/8, RFC 4193) for the links berth
//! addresses: one /64 per `ve-` link and per zone bridge, derived from
//! this host's machine id and the link's name (stable from one start to
//! the next, different from host to host), never one that overlaps a
//! route the host has. Pure: the caller lists the routes.

use super::plan::siphash24;
use std::net::Ipv6Addr;

/// Keys the prefix hash (apart from the MAC keys of plan.rs).
const ULA_KEY: [u8; 16] =
    [0x5e, 0x21, 0x8b, 0x0c, 0x77, 0xd4, 0x49, 0xa1, 0x93, 0x3f, 0xe2, 0x6a, 0x18, 0xc5, 0x0d, 0x7b];

/// How many candidates are tried before giving up.
const ATTEMPTS: u32 = 64;

/// Whether `a/alen` and `b/blen` share an address.
pub fn overlaps(a: Ipv6Addr, alen: u8, b: Ipv6Addr, blen: u8) -> bool {
    let n = alen.min(blen).min(128) as u32;
    if n == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - n);
    (u128::from(a) & mask) == (u128::from(b) & mask)
}

/// The n-th candidate /64 for `name`: fd, then 56 hashed bits.
pub fn candidate(machine_id: &[u8; 16], name: &str, n: u32) -> Ipv6Addr {
    let mut v = machine_id.to_vec();
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&n.to_le_bytes());
    let h = siphash24(&v, &ULA_KEY);
    let top = (0xfdu64 << 56) | (h >> 8);
    Ipv6Addr::from((top as u128) << 64)
}

/// The /64 for link `name` that no route in `taken` (network, prefix
/// length) overlaps; the default route (::/0) does not count.
pub fn pick(machine_id: &[u8; 16], name: &str, taken: &[(Ipv6Addr, u8)]) -> Option<Ipv6Addr> {
    (0..ATTEMPTS)
        .map(|n| candidate(machine_id, name, n))
        .find(|c| !taken.iter().any(|(t, len)| *len > 0 && overlaps(*c, 64, *t, *len)))
}

/// The host side's address on the /64 `net`: `net::1`.
pub fn host_address(net: Ipv6Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(net) | 1)
}

/// The address a guest with hardware address `mac` forms on `net` by
/// SLAAC with an EUI-64 interface identifier (the kernel's default and
/// systemd-networkd's).
pub fn eui64(net: Ipv6Addr, mac: [u8; 6]) -> Ipv6Addr {
    let iid = [mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]];
    Ipv6Addr::from(u128::from(net) | u64::from_be_bytes(iid) as u128)
}

/// Parses `fdxx:...::/64` as written in a zone's state.
pub fn parse_net(s: &str) -> Option<Ipv6Addr> {
    let a: Ipv6Addr = s.trim().strip_suffix("/64")?.parse().ok()?;
    (a.octets()[0] == 0xfd && u128::from(a) & u64::MAX as u128 == 0).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_ula_64s_stable_and_per_name() {
        let id = [7u8; 16];
        let a = candidate(&id, "ve-web", 0);
        assert_eq!(a.octets()[0], 0xfd);
        assert_eq!(u128::from(a) & u64::MAX as u128, 0, "a /64");
        assert_eq!(a, candidate(&id, "ve-web", 0));
        assert_ne!(a, candidate(&id, "ve-db", 0));
        assert_ne!(a, candidate(&[8u8; 16], "ve-web", 0));
        assert_eq!(parse_net(&format!("{a}/64")), Some(a));
        assert_eq!(parse_net("2001:db8::/64"), None);
    }

    #[test]
    fn pick_skips_routed_prefixes_but_not_the_default_route() {
        let id = [1u8; 16];
        let first = candidate(&id, "vz-z", 0);
        let taken = vec![(Ipv6Addr::UNSPECIFIED, 0), (first, 64), ("fe80::".parse().unwrap(), 64)];
        let got = pick(&id, "vz-z", &taken).unwrap();
        assert_eq!(got, candidate(&id, "vz-z", 1));
        assert_eq!(pick(&id, "vz-z", &[("fc00::".parse().unwrap(), 7)]), None);
        assert!(overlaps(first, 64, first, 48));
        assert!(!overlaps(first, 64, "2001:db8::".parse().unwrap(), 32));
    }

    #[test]
    fn host_and_guest_addresses() {
        let net: Ipv6Addr = "fd12:3456:789a:1::".parse().unwrap();
        assert_eq!(host_address(net), "fd12:3456:789a:1::1".parse::<Ipv6Addr>().unwrap());
        let g = eui64(net, [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(g, "fd12:3456:789a:1:11:22ff:fe33:4455".parse::<Ipv6Addr>().unwrap());
    }
}
