//! Links over rtnetlink: a blocking NETLINK_ROUTE socket (netlink-sys), one
//! request at a time, each acknowledged before the next; no threads, no
//! async runtime, no `ip`.

use super::error::{NetError, Result};
use super::plan::Net4;
use netlink_packet_core::NLM_F_DUMP;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVeth, IpVlanMode, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    MacVlanMode,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// A route netlink socket bound to the network namespace it was created in.
pub struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in the caller's own network namespace.
    pub fn open() -> Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| NetError::netlink("opening a netlink socket", e))?;
        sock.bind_auto().map_err(|e| NetError::netlink("binding a netlink socket", e))?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(|e| NetError::netlink("connecting a netlink socket", e))?;
        // Errors carry the kernel's extended message where it has one.
        let _ = sock.set_ext_ack(true);
        Ok(Netlink { sock, seq: 0 })
    }

    /// A socket in the network namespace `netns` (a namespace file): the
    /// single-threaded caller steps in, opens it and steps back.
    pub fn open_in(netns: &impl AsFd) -> Result<Netlink> {
        let home: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")
            .map_err(|e| NetError::netns("opening the host's network namespace", e))?
            .into();
        nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetError::netns("entering the guest's network namespace", e))?;
        let nl = Netlink::open();
        if let Err(e) = nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWNET) {
            // Staying in the guest's namespace would be far worse than dying.
            eprintln!("berth: returning to the host's network namespace failed: {e}");
            std::process::abort();
        }
        nl
    }

    /// Sends one request and waits for its acknowledgement; returns the
    /// replies that came before it (for requests that echo or dump).
    pub fn request(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0).map_err(|e| NetError::netlink(what, e))?;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full().map_err(|e| NetError::netlink(what, e))?;
            let mut off = 0;
            while off < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(|e| NetError::netlink(what, io::Error::new(io::ErrorKind::InvalidData, e.to_string())))?;
                let len = m.header.length as usize;
                if len == 0 {
                    break;
                }
                off += (len + 3) & !3;
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => Err(NetError::netlink(what, io::Error::from_raw_os_error(-code.get()))),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(r) => replies.push(r),
                    _ => {}
                }
            }
        }
    }

    /// The index of the link called `name`, if there is one.
    pub fn index_of(&mut self, name: &str) -> Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0, &format!("looking up link {name}")) {
            Ok(r) => Ok(r.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(NetError::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the link with index `index` up.
    pub fn set_up(&mut self, index: u32, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), 0, &format!("setting link {name} up")).map(drop)
    }

    /// Creates a link from a prepared message (NLM_F_CREATE|NLM_F_EXCL).
    pub fn create(&mut self, m: LinkMessage, what: &str) -> Result<()> {
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL, what).map(drop)
    }

    /// Deletes the link with index `index`.
    pub fn delete(&mut self, index: u32, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(m), 0, &format!("removing link {name}")).map(drop)
    }

    pub fn raw_fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }

    /// Creates a veth pair: `host` here with MAC `host_mac`, its peer
    /// `peer` (MAC `peer_mac`) directly in the network namespace of
    /// process `pid`.
    pub fn create_veth(
        &mut self,
        host: &str,
        host_mac: [u8; 6],
        peer: &str,
        peer_mac: [u8; 6],
        pid: u32,
    ) -> Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        p.attributes.push(LinkAttribute::Address(peer_mac.to_vec()));
        p.attributes.push(LinkAttribute::NetNsPid(pid));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.into()));
        m.attributes.push(LinkAttribute::Address(host_mac.to_vec()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.create(m, &format!("creating the veth pair {host}/{peer}"))
    }

    /// Moves link `index` into the network namespace `netns`, naming it
    /// `name` there. The kernel moves it first and renames it after: a
    /// name taken there fails the rename of a link already moved, unless
    /// its current name is taken too (then nothing moves).
    pub fn move_to(&mut self, index: u32, netns: &impl AsFd, name: &str, what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::NetNsFd(netns.as_fd().as_raw_fd()));
        m.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(RouteNetlinkMessage::SetLink(m), 0, what).map(drop)
    }

    /// Renames link `index` to `name`.
    pub fn rename(&mut self, index: u32, name: &str, what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(RouteNetlinkMessage::SetLink(m), 0, what).map(drop)
    }

    /// The name of link `index`, if there is one.
    pub fn name_of(&mut self, index: u32) -> Result<Option<String>> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(RouteNetlinkMessage::GetLink(m), 0, &format!("looking up link {index}")) {
            Ok(r) => Ok(r.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                }),
                _ => None,
            })),
            Err(NetError::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates `name` on top of link `parent` directly in the network
    /// namespace of process `pid`: a macvlan in bridge mode with MAC
    /// `mac`, or (without one) an ipvlan in L2 mode.
    pub fn create_vlan(&mut self, name: &str, parent: u32, mac: Option<[u8; 6]>, pid: u32, what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::Link(parent));
        m.attributes.push(LinkAttribute::NetNsPid(pid));
        let info = match mac {
            Some(mac) => {
                m.attributes.push(LinkAttribute::Address(mac.to_vec()));
                vec![
                    LinkInfo::Kind(InfoKind::MacVlan),
                    LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(MacVlanMode::Bridge)])),
                ]
            }
            None => vec![
                LinkInfo::Kind(InfoKind::IpVlan),
                LinkInfo::Data(InfoData::IpVlan(vec![InfoIpVlan::Mode(IpVlanMode::L2)])),
            ],
        };
        m.attributes.push(LinkAttribute::LinkInfo(info));
        self.create(m, what)
    }

    /// Whether link `index` carries a default route (IPv4 or IPv6) of
    /// any table.
    pub fn has_default_route(&mut self, index: u32) -> Result<bool> {
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut r = RouteMessage::default();
            r.header.address_family = family;
            for m in self.request(RouteNetlinkMessage::GetRoute(r), NLM_F_DUMP, "listing the host's routes")? {
                let RouteNetlinkMessage::NewRoute(r) = m else { continue };
                let out = r.attributes.iter().any(|a| matches!(a, RouteAttribute::Oif(i) if *i == index));
                if r.header.destination_prefix_length == 0 && out {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Creates a bridge `name` with MAC `mac`, up.
    pub fn create_bridge(&mut self, name: &str, mac: [u8; 6]) -> Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.create(m, &format!("creating the bridge {name}"))
    }

    /// Makes link `index` a port of the bridge `master`.
    pub fn set_master(&mut self, index: u32, master: u32, what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::Controller(master));
        self.request(RouteNetlinkMessage::SetLink(m), 0, what).map(drop)
    }

    /// The index and kind ("bridge", "veth", ...) of link `name`.
    pub fn kind_of(&mut self, name: &str) -> Result<Option<(u32, String)>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        let r = match self.request(RouteNetlinkMessage::GetLink(m), 0, &format!("looking up link {name}")) {
            Ok(r) => r,
            Err(NetError::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(r.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => {
                let kind = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::LinkInfo(i) => i.iter().find_map(|i| match i {
                        LinkInfo::Kind(k) => Some(k.to_string()),
                        _ => None,
                    }),
                    _ => None,
                });
                Some((l.header.index, kind.unwrap_or_default()))
            }
            _ => None,
        }))
    }

    /// Adds the IPv4 address `addr` in `net` to link `index`.
    pub fn add_address4(&mut self, index: u32, addr: Ipv4Addr, net: Net4, what: &str) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = net.prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(addr)));
        m.attributes.push(AddressAttribute::Address(IpAddr::V4(addr)));
        m.attributes.push(AddressAttribute::Broadcast(net.broadcast()));
        self.request(RouteNetlinkMessage::NewAddress(m), NLM_F_CREATE | NLM_F_EXCL, what).map(drop)
    }

    /// Every IPv4 network the host reaches already: its routes (of every
    /// table) and its addresses' networks.
    pub fn taken4(&mut self) -> Result<Vec<Net4>> {
        let mut out = Vec::new();
        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet;
        for m in self.request(RouteNetlinkMessage::GetRoute(r), NLM_F_DUMP, "listing the host's routes")? {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                let dst = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(*a),
                    _ => None,
                });
                if let Some(addr) = dst {
                    out.push(Net4 { addr, prefix: r.header.destination_prefix_length });
                }
            }
        }
        let mut a = AddressMessage::default();
        a.header.family = AddressFamily::Inet;
        for m in self.request(RouteNetlinkMessage::GetAddress(a), NLM_F_DUMP, "listing the host's addresses")? {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                for attr in &a.attributes {
                    if let AddressAttribute::Local(IpAddr::V4(addr)) = attr {
                        out.push(Net4 { addr: *addr, prefix: a.header.prefix_len });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Adds the IPv6 address `addr`/`prefix` to link `index`, without
    /// duplicate address detection (berth picked it for its own link).
    pub fn add_address6(&mut self, index: u32, addr: Ipv6Addr, prefix: u8, what: &str) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Address(IpAddr::V6(addr)));
        m.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        self.request(RouteNetlinkMessage::NewAddress(m), NLM_F_CREATE | NLM_F_EXCL, what).map(drop)
    }

    /// Every IPv6 network the host routes already (of every table):
    /// (network, prefix length).
    pub fn taken6(&mut self) -> Result<Vec<(Ipv6Addr, u8)>> {
        let mut out = Vec::new();
        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet6;
        for m in self.request(RouteNetlinkMessage::GetRoute(r), NLM_F_DUMP, "listing the host's IPv6 routes")? {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                for a in &r.attributes {
                    if let RouteAttribute::Destination(RouteAddress::Inet6(a)) = a {
                        out.push((*a, r.header.destination_prefix_length));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every address of this namespace but those of `lo`: (link, address).
    pub fn all_addresses(&mut self) -> Result<Vec<(u32, IpAddr)>> {
        let lo = self.index_of("lo")?;
        let mut out = Vec::new();
        let dump =
            self.request(RouteNetlinkMessage::GetAddress(AddressMessage::default()), NLM_F_DUMP, "listing addresses")?;
        for m in dump {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                if Some(a.header.index) == lo {
                    continue;
                }
                for attr in &a.attributes {
                    if let AddressAttribute::Address(addr) = attr {
                        out.push((a.header.index, *addr));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The IPv4 addresses of link `index`.
    pub fn addresses4(&mut self, index: u32) -> Result<Vec<Ipv4Addr>> {
        let mut a = AddressMessage::default();
        a.header.family = AddressFamily::Inet;
        let mut out = Vec::new();
        for m in self.request(RouteNetlinkMessage::GetAddress(a), NLM_F_DUMP, "listing addresses")? {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                if a.header.index != index {
                    continue;
                }
                for attr in &a.attributes {
                    if let AddressAttribute::Local(IpAddr::V4(addr)) = attr {
                        out.push(*addr);
                    }
                }
            }
        }
        Ok(out)
    }
}
