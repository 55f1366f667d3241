//! `-p/--port=[tcp|udp:]HOSTPORT[:GUESTPORT]`: what a forwarded port is
//! (pure), and its nf_tables rules: DNAT in table `ip berth` to the
//! guest's IPv4 address and in table `ip6 berth` to its IPv6 address, at
//! prerouting (from other hosts and namespaces) and at output (from this
//! host to its own addresses other than 127.0.0.0/8 and ::1, which the
//! launcher's relay serves, relay.rs), removed with the machine.

use super::error::Result;
use super::nft::{self, Attrs};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn number(self) -> u8 {
        match self {
            Proto::Tcp => libc::IPPROTO_TCP as u8,
            Proto::Udp => libc::IPPROTO_UDP as u8,
        }
    }
}

/// One forwarded port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub proto: Proto,
    pub host: u16,
    pub guest: u16,
}

/// Parses `[tcp|udp:]HOSTPORT[:GUESTPORT]` (GUESTPORT defaults to HOSTPORT).
pub fn parse(spec: &str) -> std::result::Result<Port, String> {
    let bad = || format!("--port={spec}: expected [tcp|udp:]HOSTPORT[:GUESTPORT], ports 1-65535");
    let (proto, rest) = match spec.split_once(':') {
        Some(("tcp", r)) => (Proto::Tcp, r),
        Some(("udp", r)) => (Proto::Udp, r),
        _ => (Proto::Tcp, spec),
    };
    let num = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    let (host, guest) = match rest.split_once(':') {
        Some((h, g)) => (num(h)?, num(g)?),
        None => (num(rest)?, num(rest)?),
    };
    Ok(Port { proto, host, guest })
}

const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_FIB_DREG: u16 = 1;
const NFTA_FIB_RESULT: u16 = 2;
const NFTA_FIB_FLAGS: u16 = 3;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 2;
const RTN_LOCAL: u32 = 2;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_NAT_TYPE: u16 = 1;
const NFTA_NAT_FAMILY: u16 = 2;
const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFT_NAT_DNAT: u32 = 1;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_IP_PRI_NAT_DST: i32 = -100;

fn payload(base: u32, offset: u32, len: u32) -> Attrs {
    let mut d = Attrs::default();
    d.u32(NFTA_PAYLOAD_DREG, NFT_REG_1)
        .u32(NFTA_PAYLOAD_BASE, base)
        .u32(NFTA_PAYLOAD_OFFSET, offset)
        .u32(NFTA_PAYLOAD_LEN, len);
    nft::expr("payload", Some(&d))
}

fn immediate(reg: u32, value: &[u8]) -> Attrs {
    let mut v = Attrs::default();
    v.raw(nft::NFTA_DATA_VALUE, value);
    let mut d = Attrs::default();
    d.u32(NFTA_IMMEDIATE_DREG, reg).nest(NFTA_IMMEDIATE_DATA, &v);
    nft::expr("immediate", Some(&d))
}

/// The family of table berth that holds the rules to `guest`.
pub fn family(guest: IpAddr) -> u8 {
    if guest.is_ipv6() {
        nft::NFPROTO_IPV6
    } else {
        nft::NFPROTO_IPV4
    }
}

/// The expressions of one DNAT rule: to a local address of this host
/// (not 127.0.0.0/8 or ::1 when `skip_loopback`), protocol and port, to
/// the guest's address and port.
pub fn dnat_rule(p: &Port, guest: IpAddr, skip_loopback: bool) -> Vec<Attrs> {
    let mut fib = Attrs::default();
    fib.u32(NFTA_FIB_DREG, NFT_REG_1)
        .u32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE)
        .u32(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR);
    let mut e = vec![nft::expr("fib", Some(&fib)), nft::cmp(nft::NFT_CMP_EQ, &RTN_LOCAL.to_ne_bytes())];
    if skip_loopback {
        // The destination address: at 16 in an IPv4 header (its first
        // byte tells 127.0.0.0/8), at 24 in an IPv6 one.
        match guest {
            IpAddr::V4(_) => {
                e.push(payload(NFT_PAYLOAD_NETWORK_HEADER, 16, 1));
                e.push(nft::cmp(nft::NFT_CMP_NEQ, &[127]));
            }
            IpAddr::V6(_) => {
                e.push(payload(NFT_PAYLOAD_NETWORK_HEADER, 24, 16));
                e.push(nft::cmp(nft::NFT_CMP_NEQ, &std::net::Ipv6Addr::LOCALHOST.octets()));
            }
        }
    }
    e.push(nft::meta(NFT_META_L4PROTO));
    e.push(nft::cmp(nft::NFT_CMP_EQ, &[p.proto.number()]));
    e.push(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2));
    e.push(nft::cmp(nft::NFT_CMP_EQ, &p.host.to_be_bytes()));
    let octets = match guest {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    e.push(immediate(NFT_REG_1, &octets));
    e.push(immediate(NFT_REG_2, &p.guest.to_be_bytes()));
    let mut nat = Attrs::default();
    nat.u32(NFTA_NAT_TYPE, NFT_NAT_DNAT)
        .u32(NFTA_NAT_FAMILY, family(guest) as u32)
        .u32(NFTA_NAT_REG_ADDR_MIN, NFT_REG_1)
        .u32(NFTA_NAT_REG_PROTO_MIN, NFT_REG_2);
    e.push(nft::expr("nat", Some(&nat)));
    e
}

/// The chains of link `ifname`'s forwarded ports (the same names in
/// table ip berth and table ip6 berth).
pub fn chains(ifname: &str) -> [String; 2] {
    [format!("dnat-{ifname}"), format!("dnatout-{ifname}")]
}

/// Adds the DNAT rules of `ports` to the guest at `guest` behind
/// `ifname`, in table berth of the address's family.
pub fn add(ifname: &str, guest: IpAddr, ports: &[Port]) -> Result<()> {
    let [pre, out] = chains(ifname);
    let family = family(guest);
    let mut b = nft::Batch::in_family(family);
    b.table();
    b.base_chain(&pre, NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST);
    b.base_chain(&out, NF_INET_LOCAL_OUT, NF_IP_PRI_NAT_DST);
    for p in ports {
        b.rule(&pre, &dnat_rule(p, guest, false));
        b.rule(&out, &dnat_rule(p, guest, true));
    }
    b.commit(&format!(
        "adding the forwarded ports of {ifname} to nf_tables table {} {}",
        nft::family_name(family),
        nft::TABLE
    ))
}

/// Removes the chains of `ifname`'s ports in table ip berth (and an
/// emptied table).
pub fn remove(ifname: &str) -> Result<()> {
    remove_in(nft::NFPROTO_IPV4, ifname)
}

/// The same in table berth of `family`.
pub fn remove_in(family: u8, ifname: &str) -> Result<()> {
    let [pre, out] = chains(ifname);
    let r = nft::remove_chain_in(family, &pre);
    nft::remove_chain_in(family, &out).and(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn port_specs() {
        assert_eq!(parse("8080").unwrap(), Port { proto: Proto::Tcp, host: 8080, guest: 8080 });
        assert_eq!(parse("udp:53:5353").unwrap(), Port { proto: Proto::Udp, host: 53, guest: 5353 });
        assert_eq!(parse("tcp:80:8080").unwrap(), Port { proto: Proto::Tcp, host: 80, guest: 8080 });
        assert_eq!(parse("80:8080").unwrap(), Port { proto: Proto::Tcp, host: 80, guest: 8080 });
        for bad in ["", "0", "sctp:80", "70000", "tcp:", "1:2:3", "x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_dnat_rule_checks_locality_then_port() {
        let p = parse("8080:80").unwrap();
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let r = dnat_rule(&p, v4, true);
        assert_eq!(r.len(), 11, "fib, 127/8, proto, port, address, port, nat");
        assert_eq!(dnat_rule(&p, v4, false).len(), 9);
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(dnat_rule(&p, v6, true).len(), 11, "fib, ::1, proto, port, address, port, nat");
        assert_eq!((family(v4), family(v6)), (nft::NFPROTO_IPV4, nft::NFPROTO_IPV6));
    }
}
