//! Hook 2's links to the host (`Network::attach` picks one): `-n`'s pair
//! `ve-NAME` with berth's IPv4 subnet, DHCP, masquerade and IPv6
//! (unless the host's networkd manages it), a zone's pair on the zone's
//! bridge `vz-ZONE`, and `--network-bridge`'s pair on an existing bridge.

use super::error::{NetError, Result};
use super::network::{lease_seconds, machine_id};
use super::{dhcp, forward6, ipv6, link, networkd, nft, plan, radv, subnet, ula, zone, Network, Persist};
use std::net::Ipv6Addr;

impl Network {
    /// `-n`: the pair `ve-NAME`, addressed, served and masqueraded by
    /// berth unless the host's networkd manages it.
    pub(super) fn attach_veth(&mut self, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
        let host = plan::veth_host_name(&self.machine);
        let mut nl = link::Netlink::open()?;
        let index = self.pair(&mut nl, &host, pid, persist)?;
        if networkd::manages(&host) {
            // The host's networkd addresses it, serves DHCP, masquerades.
            tracing::info!("systemd-networkd manages {host}; leaving its addresses to it");
            return self.no_address(&host);
        }
        // IPv6 link-local comes with the link being up.
        if ipv6::available() {
            forward6::prepare_link(&host);
        }
        nl.set_up(index, &host)?;
        let taken = nl.taken4()?;
        let mut lock = None;
        let subnet = plan::pick_subnet(&host, 28, &taken, |c| match subnet::hold(c) {
            Ok(l) => {
                lock = Some(l);
                true
            }
            Err(_) => false,
        })
        .ok_or_else(|| {
            NetError::netlink(
                format!("finding a free private IPv4 subnet for {host}"),
                std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
            )
        })?;
        self._subnet_lock = lock;
        self.rec.subnet = Some(subnet.to_string());
        self.rec.lock = Some(subnet::lock_path(&subnet));
        self.rec.nft = Some(host.clone());
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's network", e))?;
        let server = subnet.nth(1);
        nl.add_address4(index, server, subnet, &format!("adding address {server}/{} to {host}", subnet.prefix))?;
        nft::forward_and_masquerade(&host)?;
        let dns = dhcp::host_dns(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let lease = dhcp::Lease { net: subnet, server, address: subnet.nth(2), dns, seconds: lease_seconds() };
        self.dhcp = Some(dhcp::Server::bind(&host, lease)?);
        let guest6 = self.attach_ipv6(&mut nl, index, &host, persist)?;
        self.forward(&host, subnet.nth(2), guest6, persist)
    }

    /// A ULA /64 on the machine's own link `host`, forwarded,
    /// masqueraded and advertised; the guest's SLAAC address on it.
    fn attach_ipv6(
        &mut self,
        nl: &mut link::Netlink,
        index: u32,
        host: &str,
        persist: &mut Persist,
    ) -> Result<Option<Ipv6Addr>> {
        if !ipv6::available() {
            return Ok(None);
        }
        let id = machine_id();
        let Some(net) = ipv6::address(nl, index, host, &id)? else { return Ok(None) };
        self.rec.nft6 = Some(host.to_string());
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's network", e))?;
        let forwards = ipv6::masquerade(host)?;
        let advert = ipv6::advert(net, plan::mac(&id, &self.machine, true), forwards);
        self.radv = Some(radv::Radv::new(host, index, &advert, None)?);
        Ok(Some(self.guest_slaac(net)))
    }

    /// The address the guest forms by SLAAC on the /64 `net` from its
    /// stable MAC (forward.rs says why this one).
    fn guest_slaac(&self, net: Ipv6Addr) -> Ipv6Addr {
        ula::eui64(net, plan::mac(&machine_id(), &self.machine, false))
    }

    /// `--network-zone`: the pair's host side `vb-NAME` joins the zone's
    /// bridge; the launcher serves DHCP there for its own guest only.
    pub(super) fn attach_zone(&mut self, zone: &str, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
        // Recorded first: a launcher killed half-way leaves a zone its
        // clean-up can leave (and remove, if it was the last member).
        self.rec.zone = Some(zone.to_string());
        self.rec.lease = Some(zone::member_path(zone, &self.machine));
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's zone", e))?;
        let _lock = zone::lock(zone)?;
        let mut member = zone::hold_member(zone, &self.machine)?;
        let mut nl = link::Netlink::open()?;
        let z = zone::ensure(&mut nl, zone, &machine_id())?;
        let port = plan::bridge_port_name(&self.machine);
        let index = self.pair(&mut nl, &port, pid, persist)?;
        nl.set_master(index, z.index, &format!("adding {port} to bridge {}", z.bridge))?;
        nl.set_up(index, &port)?;
        if let Some(net) = z.net {
            let address = zone::take_address(zone, &self.machine, &net, &mut member)?;
            let dns = dhcp::host_dns(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
            let lease = dhcp::Lease { net, server: net.nth(1), address, dns, seconds: lease_seconds() };
            let guest_mac = plan::mac(&machine_id(), &self.machine, false);
            self.dhcp = Some(dhcp::Server::bind(&z.bridge, lease)?.only_for(&z.bridge, guest_mac)?);
            let guest6 = z.net6.map(|n| self.guest_slaac(n));
            self.forward(&port, address, guest6, persist)?;
        } else {
            self.no_address(&z.bridge)?;
        }
        if let Some(net) = z.net6 {
            let advert = ipv6::advert(net, plan::mac(&machine_id(), &z.bridge, true), ipv6::forwards());
            self.radv = Some(radv::Radv::new(&z.bridge, z.index, &advert, Some(zone::ra_lock_path(zone)))?);
        }
        self._member = Some(member);
        self._subnet_lock = z.hold;
        Ok(())
    }

    /// `--network-bridge`: the pair's host side `vb-NAME` joins an existing
    /// bridge, which is the host's to address.
    pub(super) fn attach_bridge(&mut self, bridge: &str, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
        let mut nl = link::Netlink::open()?;
        let master = match nl.kind_of(bridge)? {
            Some((i, kind)) if kind == "bridge" => i,
            Some((_, kind)) => {
                return Err(NetError::netlink(
                    format!("--network-bridge={bridge}: {bridge} is a {kind} link, not a bridge; name a bridge"),
                    std::io::Error::from_raw_os_error(libc::EINVAL),
                ))
            }
            None => {
                return Err(NetError::netlink(
                    format!("--network-bridge={bridge}: the host has no such bridge; create it first"),
                    std::io::Error::from_raw_os_error(libc::ENODEV),
                ))
            }
        };
        let port = plan::bridge_port_name(&self.machine);
        let index = self.pair(&mut nl, &port, pid, persist)?;
        nl.set_master(index, master, &format!("adding {port} to bridge {bridge}"))?;
        nl.set_up(index, &port)
    }
}
