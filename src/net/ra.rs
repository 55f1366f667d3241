//! IPv6 router advertisements (RFC 4861) as data: what berth sends on
//! its links so guests form an address on the link's ULA /64 by SLAAC,
//! take a default route and learn the host's IPv6 DNS servers (RFC 8106
//! RDNSS). Pure: the socket is in radv.rs.

use std::net::Ipv6Addr;

pub const ROUTER_SOLICITATION: u8 = 133;
pub const ROUTER_ADVERTISEMENT: u8 = 134;

/// What one advertisement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// The link's /64 (on-link, autonomous).
    pub prefix: Ipv6Addr,
    /// The sender's hardware address, for the source link-layer option.
    pub mac: Option<[u8; 6]>,
    /// Seconds the guest keeps its default route through us; 0 where the
    /// host does not forward IPv6 (then the guest takes no default route).
    pub router_lifetime: u16,
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
    pub dns: Vec<Ipv6Addr>,
}

/// The ICMPv6 message (its checksum is the kernel's to fill in).
pub fn build(a: &Advert) -> Vec<u8> {
    let mut p = vec![ROUTER_ADVERTISEMENT, 0, 0, 0, 64, 0];
    p.extend_from_slice(&a.router_lifetime.to_be_bytes());
    p.extend_from_slice(&[0; 8]); // reachable time, retransmission timer: unspecified
    if let Some(mac) = a.mac {
        p.extend_from_slice(&[1, 1]);
        p.extend_from_slice(&mac);
    }
    p.extend_from_slice(&[3, 4, 64, 0x80 | 0x40]);
    p.extend_from_slice(&a.valid_lifetime.to_be_bytes());
    p.extend_from_slice(&a.preferred_lifetime.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&a.prefix.octets());
    if !a.dns.is_empty() {
        p.extend_from_slice(&[25, 1 + 2 * a.dns.len() as u8, 0, 0]);
        // RFC 8106: at least three times the advertising interval.
        p.extend_from_slice(&a.valid_lifetime.to_be_bytes());
        for d in &a.dns {
            p.extend_from_slice(&d.octets());
        }
    }
    p
}

/// Whether an ICMPv6 message is a well-formed router solicitation.
pub fn is_solicitation(p: &[u8]) -> bool {
    p.len() >= 8 && p[0] == ROUTER_SOLICITATION && p[1] == 0
}

/// The host's IPv6 DNS servers a guest can reach: not loopback, not
/// link-local (whose link is the host's), not unspecified.
pub fn host_dns6(resolv_conf: &str) -> Vec<Ipv6Addr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<Ipv6Addr>().ok())
        .filter(|a| !a.is_loopback() && !a.is_unspecified() && (a.segments()[0] & 0xffc0) != 0xfe80)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert(dns: Vec<Ipv6Addr>) -> Advert {
        Advert {
            prefix: "fd00:1:2:3::".parse().unwrap(),
            mac: Some([2, 1, 2, 3, 4, 5]),
            router_lifetime: 1800,
            valid_lifetime: 3600,
            preferred_lifetime: 1800,
            dns,
        }
    }

    #[test]
    fn an_advert_has_the_header_the_link_layer_and_the_prefix() {
        let p = build(&advert(vec![]));
        assert_eq!(p.len(), 16 + 8 + 32);
        assert_eq!((p[0], p[4]), (134, 64));
        assert_eq!(&p[6..8], &1800u16.to_be_bytes());
        assert_eq!(&p[16..24], &[1, 1, 2, 1, 2, 3, 4, 5]);
        let pi = &p[24..];
        assert_eq!(&pi[..4], &[3, 4, 64, 0xc0], "on-link and autonomous");
        assert_eq!(&pi[4..8], &3600u32.to_be_bytes());
        assert_eq!(&pi[8..12], &1800u32.to_be_bytes());
        assert_eq!(&pi[16..32], &"fd00:1:2:3::".parse::<Ipv6Addr>().unwrap().octets());
    }

    #[test]
    fn dns_servers_go_in_an_rdnss_option() {
        let d: Vec<Ipv6Addr> = vec!["2001:db8::53".parse().unwrap(), "fd00::53".parse().unwrap()];
        let p = build(&advert(d.clone()));
        let o = &p[56..];
        assert_eq!((o[0], o[1]), (25, 5));
        assert_eq!(o.len(), 40);
        assert_eq!(&o[8..24], &d[0].octets());
        let r = "nameserver ::1\nnameserver fe80::1%eth0\nnameserver fe80::1\nnameserver 2001:db8::53\nnameserver 9.9.9.9\n";
        assert_eq!(host_dns6(r), vec![d[0]]);
    }

    #[test]
    fn solicitations_are_recognised() {
        assert!(is_solicitation(&[133, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!is_solicitation(&[134, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!is_solicitation(&[133, 0, 0]));
    }
}
