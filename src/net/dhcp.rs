//! A DHCPv4 server for one link: the packet logic (pure, tested as data)
//! and its socket, served from the launcher's own event loop. It answers
//! for the one guest on the link: the address it hands out is fixed.

use super::error::{NetError, Result};
use super::plan::Net4;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

const MAGIC: [u8; 4] = [99, 130, 83, 99];
pub const DISCOVER: u8 = 1;
pub const OFFER: u8 = 2;
pub const REQUEST: u8 = 3;
pub const DECLINE: u8 = 4;
pub const ACK: u8 = 5;
pub const NAK: u8 = 6;
pub const RELEASE: u8 = 7;
pub const INFORM: u8 = 8;

/// A client's message, as far as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: u8,
    pub xid: [u8; 4],
    pub flags: [u8; 2],
    pub ciaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub requested: Option<Ipv4Addr>,
    pub server: Option<Ipv4Addr>,
}

/// What the server hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub net: Net4,
    /// The host side's address: server, router.
    pub server: Ipv4Addr,
    pub address: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
    pub seconds: u32,
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// Parses a BOOTREQUEST; None for anything else.
pub fn parse(p: &[u8]) -> Option<Request> {
    if p.len() < 240 || p[0] != 1 || p[1] != 1 || p[2] != 6 || p[236..240] != MAGIC {
        return None;
    }
    let mut r = Request {
        kind: 0,
        xid: p[4..8].try_into().ok()?,
        flags: p[10..12].try_into().ok()?,
        ciaddr: ip(&p[12..16]),
        chaddr: p[28..44].try_into().ok()?,
        requested: None,
        server: None,
    };
    let mut i = 240;
    while i < p.len() {
        let code = p[i];
        if code == 255 {
            break;
        }
        if code == 0 {
            i += 1;
            continue;
        }
        let len = *p.get(i + 1)? as usize;
        let v = p.get(i + 2..i + 2 + len)?;
        match (code, len) {
            (53, 1) => r.kind = v[0],
            (50, 4) => r.requested = Some(ip(v)),
            (54, 4) => r.server = Some(ip(v)),
            _ => {}
        }
        i += 2 + len;
    }
    (r.kind != 0).then_some(r)
}

/// The server's answer to `r`, if it gives one.
pub fn answer(r: &Request, lease: &Lease) -> Option<Vec<u8>> {
    let kind = match r.kind {
        DISCOVER => OFFER,
        REQUEST => {
            if r.server.is_some_and(|s| s != lease.server) {
                // The client chose another server.
                return None;
            }
            let wanted = r.requested.unwrap_or(r.ciaddr);
            if wanted == lease.address {
                ACK
            } else {
                NAK
            }
        }
        INFORM => ACK,
        DECLINE | RELEASE => return None,
        _ => return None,
    };
    let mut p = vec![0u8; 240];
    p[0] = 2;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&r.xid);
    p[10..12].copy_from_slice(&r.flags);
    if r.kind == INFORM {
        p[12..16].copy_from_slice(&r.ciaddr.octets());
    } else if kind != NAK {
        p[16..20].copy_from_slice(&lease.address.octets());
    }
    p[20..24].copy_from_slice(&lease.server.octets());
    p[28..44].copy_from_slice(&r.chaddr);
    p[236..240].copy_from_slice(&MAGIC);
    let mut opt = |code: u8, v: &[u8]| {
        p.push(code);
        p.push(v.len() as u8);
        p.extend_from_slice(v);
    };
    opt(53, &[kind]);
    opt(54, &lease.server.octets());
    if kind != NAK {
        if r.kind != INFORM {
            opt(51, &lease.seconds.to_be_bytes());
            opt(58, &(lease.seconds / 2).to_be_bytes());
            opt(59, &(lease.seconds / 8 * 7).to_be_bytes());
        }
        opt(1, &lease.net.netmask().octets());
        opt(28, &lease.net.broadcast().octets());
        opt(3, &lease.server.octets());
        if !lease.dns.is_empty() {
            let d: Vec<u8> = lease.dns.iter().flat_map(|a| a.octets()).collect();
            opt(6, &d);
        }
    }
    p.push(255);
    // Some clients want at least a BOOTP-sized packet.
    if p.len() < 300 {
        p.resize(300, 0);
    }
    Some(p)
}

/// The host's DNS servers a guest can reach (none of the loopback ones).
pub fn host_dns(resolv_conf: &str) -> Vec<Ipv4Addr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<Ipv4Addr>().ok())
        .filter(|a| !a.is_loopback() && !a.is_unspecified())
        .collect()
}

/// The server's socket on one link.
pub struct Server {
    sock: OwnedFd,
    pub lease: Lease,
    /// On a zone's bridge: the one client (by MAC) this server answers.
    client: Option<[u8; 6]>,
    /// On a zone's bridge: where its requests come in (dhcp_packet.rs).
    packet: Option<OwnedFd>,
}

impl Server {
    /// A UDP socket on port 67 bound to link `ifname`.
    pub fn bind(ifname: &str, lease: Lease) -> Result<Server> {
        let what = || format!("serving DHCP on {ifname}");
        // SAFETY: plain socket calls on a descriptor we own.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0);
            if fd < 0 {
                return Err(NetError::netlink(what(), std::io::Error::last_os_error()));
            }
            let sock = <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd);
            let one: libc::c_int = 1;
            let set = |opt: libc::c_int, v: *const libc::c_void, len: usize| {
                if libc::setsockopt(fd, libc::SOL_SOCKET, opt, v, len as libc::socklen_t) < 0 {
                    Err(NetError::netlink(what(), std::io::Error::last_os_error()))
                } else {
                    Ok(())
                }
            };
            set(libc::SO_REUSEADDR, &one as *const _ as *const _, 4)?;
            set(libc::SO_BROADCAST, &one as *const _ as *const _, 4)?;
            set(libc::SO_BINDTODEVICE, ifname.as_ptr() as *const _, ifname.len())?;
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as u16;
            sa.sin_port = 67u16.to_be();
            if libc::bind(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32) < 0 {
                return Err(NetError::netlink(what(), std::io::Error::last_os_error()));
            }
            Ok(Server { sock, lease, client: None, packet: None })
        }
    }

    /// Answers only the client with hardware address `mac` (the other
    /// members of a zone answer theirs), hearing it on link `ifname`
    /// through a packet socket (its renewals are unicast).
    pub fn only_for(mut self, ifname: &str, mac: [u8; 6]) -> Result<Server> {
        self.packet = Some(super::dhcp_packet::open(ifname, mac)?);
        self.client = Some(mac);
        Ok(self)
    }

    /// The packet socket of [`Server::only_for`], whose last close waits
    /// for an RCU grace period (packet_release's synchronize_net).
    pub fn packet_fd(&self) -> Option<BorrowedFd<'_>> {
        self.packet.as_ref().map(|p| p.as_fd())
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.packet.as_ref().unwrap_or(&self.sock).as_fd()
    }

    /// Answers whatever is waiting; errors are the client's problem.
    pub fn serve(&self) {
        let mut buf = [0u8; 1514];
        let Some(packet) = &self.packet else {
            loop {
                // SAFETY: reading into our own buffer.
                let n = unsafe { libc::recv(self.sock.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len(), 0) };
                if n <= 0 {
                    return;
                }
                self.answer(&buf[..n as usize]);
            }
        };
        // What the UDP socket got, the packet socket got as well.
        // SAFETY: reading into our own buffer.
        while unsafe { libc::recv(self.sock.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len(), 0) } > 0 {}
        loop {
            // SAFETY: reading into our own buffer.
            let n = unsafe { libc::recv(packet.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len(), 0) };
            if n <= 0 {
                return;
            }
            if let Some(p) = super::dhcp_packet::udp_payload(&buf[..n as usize]) {
                self.answer(p);
            }
        }
    }

    /// Answers one request (a UDP payload), broadcast on the link.
    fn answer(&self, payload: &[u8]) {
        let Some(req) = parse(payload) else { return };
        if self.client.is_some_and(|m| req.chaddr[..6] != m) {
            return;
        }
        let Some(reply) = answer(&req, &self.lease) else { return };
        // The client has no address yet: broadcast on the link.
        // SAFETY: sending our own buffer to a plain sockaddr_in.
        unsafe {
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as u16;
            sa.sin_port = 68u16.to_be();
            sa.sin_addr.s_addr = u32::from(Ipv4Addr::BROADCAST).to_be();
            libc::sendto(
                self.sock.as_raw_fd(),
                reply.as_ptr() as *const _,
                reply.len(),
                0,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of_val(&sa) as u32,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: u8, opts: &[(u8, &[u8])]) -> Vec<u8> {
        let mut p = vec![0u8; 240];
        p[0] = 1;
        p[1] = 1;
        p[2] = 6;
        p[4..8].copy_from_slice(&[1, 2, 3, 4]);
        p[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        p[236..240].copy_from_slice(&MAGIC);
        p.extend_from_slice(&[53, 1, kind]);
        for (c, v) in opts {
            p.push(*c);
            p.push(v.len() as u8);
            p.extend_from_slice(v);
        }
        p.push(255);
        p
    }

    fn lease() -> Lease {
        Lease {
            net: "10.1.2.16/28".parse().unwrap(),
            server: Ipv4Addr::new(10, 1, 2, 17),
            address: Ipv4Addr::new(10, 1, 2, 18),
            dns: vec![Ipv4Addr::new(9, 9, 9, 9)],
            seconds: 3600,
        }
    }

    fn option(p: &[u8], code: u8) -> Option<Vec<u8>> {
        let mut i = 240;
        while i < p.len() && p[i] != 255 {
            if p[i] == code {
                return Some(p[i + 2..i + 2 + p[i + 1] as usize].to_vec());
            }
            i += 2 + p[i + 1] as usize;
        }
        None
    }

    #[test]
    fn discover_gets_an_offer_with_everything() {
        let r = parse(&request(DISCOVER, &[])).unwrap();
        let o = answer(&r, &lease()).unwrap();
        assert_eq!((o[0], &o[4..8], &o[16..20]), (2, &[1u8, 2, 3, 4][..], &[10u8, 1, 2, 18][..]));
        assert_eq!(&o[28..34], &[2, 0, 0, 0, 0, 9]);
        assert_eq!(option(&o, 53), Some(vec![OFFER]));
        assert_eq!(option(&o, 1), Some(vec![255, 255, 255, 240]));
        assert_eq!(option(&o, 3), Some(vec![10, 1, 2, 17]));
        assert_eq!(option(&o, 54), Some(vec![10, 1, 2, 17]));
        assert_eq!(option(&o, 6), Some(vec![9, 9, 9, 9]));
        assert_eq!(option(&o, 51), Some(3600u32.to_be_bytes().to_vec()));
    }

    #[test]
    fn request_for_the_lease_is_acked_others_naked_or_ignored() {
        let l = lease();
        let ok = parse(&request(REQUEST, &[(50, &[10, 1, 2, 18]), (54, &[10, 1, 2, 17])])).unwrap();
        assert_eq!(option(&answer(&ok, &l).unwrap(), 53), Some(vec![ACK]));
        let wrong = parse(&request(REQUEST, &[(50, &[192, 168, 0, 5])])).unwrap();
        let nak = answer(&wrong, &l).unwrap();
        assert_eq!(option(&nak, 53), Some(vec![NAK]));
        assert_eq!(&nak[16..20], &[0, 0, 0, 0]);
        let other = parse(&request(REQUEST, &[(50, &[10, 1, 2, 18]), (54, &[10, 9, 9, 9])])).unwrap();
        assert!(answer(&other, &l).is_none());
        assert!(answer(&parse(&request(RELEASE, &[])).unwrap(), &l).is_none());
        assert!(parse(&request(DISCOVER, &[])[..200]).is_none());
    }

    #[test]
    fn dns_skips_loopback() {
        let r = "# x\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver ::1\nsearch lan\n";
        assert_eq!(host_dns(r), vec![Ipv4Addr::new(10, 255, 255, 53)]);
    }
}
