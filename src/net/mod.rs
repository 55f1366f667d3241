//! The guest's network: a private network namespace with `lo` up, and
//! with `--network-veth` a veth pair (`ve-NAME` here, `host0` in the
//! guest) whose host side berth addresses, serves DHCPv4 on and
//! masquerades, unless the host's systemd-networkd looks after `ve-*`.
//!
//! The launcher calls in at marked points (look for `net hook`):
//! 1. `Network::new` before the guest is cloned (the guest's clone gets
//!    CLONE_NEWNET when `Settings::private`);
//! 2. `Network::attach` once the guest's PID 1 exists and waits: `lo` up,
//!    the pair, its address, the DHCP server, the nf_tables rule; what
//!    exists is written to the machine record first;
//! 3. `Network::poll_fds`/`Network::service` in every turn of its event
//!    loop (the DHCP server);
//! 4. teardown: `cleanup` from the machine record, by the watcher once
//!    the launcher is gone (however it ended) and by `berth gc`. The veth
//!    pair dies with the guest's namespace; the rule, the subnet's lock
//!    and a pair whose namespace lingers are removed there.
//!
//! `--network-interface` moves host interfaces in and back (moved.rs);
//! `--network-macvlan`/`--network-ipvlan` create links on host interfaces
//! directly in the guest's namespace (vlan.rs); hostif.rs plans both.
//!
//! The outer child mounts a fresh sysfs from inside the guest's network
//! namespace and leaves `/proc/sys/net` writable (plan/mounts.rs,
//! spawn/child.rs);
//! the guest keeps CAP_NET_ADMIN (settings/config.rs).

pub mod dhcp;
pub mod dhcp_packet;
pub mod error;
pub mod forward6;
pub mod hostif;
pub mod ipv6;
pub mod link;
pub mod moved;
pub mod networkd;
pub mod nft;
pub mod plan;
pub mod ports;
pub mod ra;
pub mod radv;
pub mod relay;
pub mod subnet;
pub mod ula;
pub mod vlan;
pub mod zone;

pub use error::NetError;

use error::Result;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::PathBuf;

/// How long a DHCP lease lasts (the guest renews it while it runs).
const LEASE_SECONDS: u32 = 3600;

/// The lease time, which only the test suite changes (tests/net_zone.rs
/// renews short leases) through BERTH_TEST_LEASE_SECONDS.
fn lease_seconds() -> u32 {
    std::env::var("BERTH_TEST_LEASE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| *s >= 4)
        .unwrap_or(LEASE_SECONDS)
}

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
    /// The host sides of `--network-veth-extra` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// Host interfaces moved into the guest (`--network-interface`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<moved::MovedRecord>,
}

/// What the network options ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// A network namespace of the guest's own (`--private-network`, and
    /// implied by every other network option).
    pub private: bool,
    /// A veth pair to the host (`-n`, `--network-veth`).
    pub veth: bool,
    /// The zone whose bridge `vz-ZONE` the host side joins (`--network-zone`).
    pub zone: Option<String>,
    /// An existing bridge the host side joins (`--network-bridge`).
    pub bridge: Option<String>,
    /// Forwarded ports (`-p`, `--port`).
    pub ports: Vec<ports::Port>,
    /// More veth pairs, unaddressed: (host side, guest side).
    pub veth_extra: Vec<(String, String)>,
    /// An existing network namespace the guest joins instead of a new one.
    pub netns_path: Option<PathBuf>,
    /// Host interfaces moved into the guest (`--network-interface`).
    pub interfaces: Vec<String>,
    /// Host interfaces the guest gets a macvlan (`mv-IF`) on.
    pub macvlan: Vec<String>,
    /// Host interfaces the guest gets an ipvlan (`iv-IF`) on.
    pub ipvlan: Vec<String>,
}

/// The network options as given (the command line or a settings file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub private_network: bool,
    pub network_veth: bool,
    pub network_zone: Option<String>,
    pub network_bridge: Option<String>,
    pub port: Vec<String>,
    pub network_veth_extra: Vec<String>,
    pub network_namespace_path: Option<PathBuf>,
    pub network_interface: Vec<String>,
    pub network_macvlan: Vec<String>,
    pub network_ipvlan: Vec<String>,
}

impl Settings {
    /// Checks the options (pure): names the kernel takes, no two ways of
    /// joining a bridge. The error is the message of a usage error.
    pub fn new(o: &Options) -> std::result::Result<Settings, String> {
        if let Some(z) = &o.network_zone {
            plan::check_zone(z)?;
        }
        if let Some(b) = &o.network_bridge {
            if !plan::ifname_valid(b) {
                return Err(format!(
                    "--network-bridge={b}: not an interface name (1-15 characters, no '/', ':' or spaces)"
                ));
            }
        }
        if o.network_zone.is_some() && o.network_bridge.is_some() {
            return Err("--network-zone and --network-bridge conflict: a machine joins one bridge; drop one".into());
        }
        let joins = o.network_zone.is_some() || o.network_bridge.is_some();
        let veth_extra = o
            .network_veth_extra
            .iter()
            .map(|s| plan::parse_veth_extra(s))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let asked =
            hostif::Asked { interfaces: &o.network_interface, macvlan: &o.network_macvlan, ipvlan: &o.network_ipvlan };
        hostif::check(&asked, &hostif::other_names(o.network_veth || joins, &veth_extra))?;
        let links = !o.network_interface.is_empty() || !o.network_macvlan.is_empty() || !o.network_ipvlan.is_empty();
        let others =
            o.private_network || o.network_veth || joins || !o.port.is_empty() || !veth_extra.is_empty() || links;
        if o.network_namespace_path.is_some() && others {
            return Err("--network-namespace-path joins an existing network namespace and conflicts with every other network option; drop them".into());
        }
        let ports = o.port.iter().map(|p| ports::parse(p)).collect::<std::result::Result<Vec<_>, _>>()?;
        let addressed = o.network_veth || o.network_zone.is_some();
        if !ports.is_empty() && !addressed {
            return Err(format!(
                "--port={} needs a network where berth gives the guest an address; add -n or --network-zone",
                o.port[0]
            ));
        }
        Ok(Settings {
            private: o.private_network
                || o.network_veth
                || joins
                || !veth_extra.is_empty()
                || links
                || o.network_namespace_path.is_some(),
            // A zone or a bridge is a veth pair whose host side joins it.
            veth: o.network_veth && !joins,
            zone: o.network_zone.clone(),
            bridge: o.network_bridge.clone(),
            ports,
            veth_extra,
            netns_path: o.network_namespace_path.clone(),
            interfaces: o.network_interface.clone(),
            macvlan: o.network_macvlan.clone(),
            ipvlan: o.network_ipvlan.clone(),
        })
    }

    /// Whether the guest gets a network namespace of its own.
    pub fn private(&self) -> bool {
        self.private
    }

    /// Whether the guest's clone creates its network namespace (not with
    /// `--network-namespace-path`, whose namespace the outer child joins).
    pub fn new_namespace(&self) -> bool {
        self.private && self.netns_path.is_none()
    }
}

/// The machine's network while the launcher runs.
pub struct Network {
    settings: Settings,
    machine: String,
    dhcp: Option<dhcp::Server>,
    rec: NetRecord,
    _subnet_lock: Option<subnet::Held>,
    /// A zone member's file, held while the machine runs.
    _member: Option<std::fs::File>,
    /// The loopback relay of the forwarded TCP ports.
    relay: Option<relay::Relay>,
    /// The host side of its pair, once it exists.
    host_index: Option<u32>,
    /// The host interfaces moved in, moved back when this goes.
    _moved: Option<moved::Held>,
    /// The router advertisements on its link (or its zone's bridge).
    radv: Option<radv::Radv>,
}

impl Network {
    /// Hook 1 (launcher, before the guest exists).
    pub fn new(settings: &Settings, machine: &str) -> Network {
        Network {
            settings: settings.clone(),
            machine: machine.to_string(),
            dhcp: None,
            rec: NetRecord::default(),
            _subnet_lock: None,
            _member: None,
            relay: None,
            host_index: None,
            _moved: None,
            radv: None,
        }
    }

    /// Hook 2 (launcher, the guest's PID 1 exists and waits): configures
    /// the guest's namespace and the host side. `persist` writes record
    /// fields before anything needing removal exists.
    pub fn attach(&mut self, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
        if !self.settings.new_namespace() {
            return Ok(());
        }
        let ns = open_netns(pid)?;
        let mut guest = link::Netlink::open_in(&ns)?;
        let lo = guest.index_of("lo")?.unwrap_or(1);
        guest.set_up(lo, "lo")?;
        for (host, inside) in self.settings.veth_extra.clone() {
            let mut nl = link::Netlink::open()?;
            let id = machine_id();
            let key = format!("{}/{host}", self.machine);
            nl.create_veth(&host, plan::mac(&id, &key, true), &inside, plan::mac(&id, &key, false), pid as u32)
                .map_err(|e| match e {
                    NetError::Netlink { source, .. } if source.raw_os_error() == Some(libc::EEXIST) => NetError::netlink(
                        format!("--network-veth-extra: the host already has a link {host} (or the guest one called {inside}); pick other names"),
                        source,
                    ),
                    e => e,
                })?;
            self.rec.extra.push(host);
            persist(&self.rec).map_err(|e| NetError::netns("recording the machine's links", e))?;
        }
        vlan::attach(&self.machine, &machine_id(), &self.settings.macvlan, &self.settings.ipvlan, pid as u32)?;
        if !self.settings.interfaces.is_empty() {
            let interfaces = self.settings.interfaces.clone();
            self._moved = Some(moved::attach(&self.machine, &interfaces, pid, &mut self.rec, persist)?);
        }
        if self.settings.veth {
            self.attach_veth(pid, persist)?;
        } else if let Some(zone) = self.settings.zone.clone() {
            self.attach_zone(&zone, pid, persist)?;
        } else if let Some(bridge) = self.settings.bridge.clone() {
            self.attach_bridge(&bridge, pid, persist)?;
        }
        Ok(())
    }

    /// The veth pair `host`/host0 into the guest of `pid`, recorded once it
    /// exists; the host side's index.
    fn pair(&mut self, nl: &mut link::Netlink, host: &str, pid: libc::pid_t, persist: &mut Persist) -> Result<u32> {
        let id = machine_id();
        // A link of that name that is not ours stays untouched: the pair
        // is recorded only once it exists (until then, and should the
        // launcher die right after, it goes with the guest's namespace).
        nl.create_veth(
            host,
            plan::mac(&id, &self.machine, true),
            plan::GUEST_IFNAME,
            plan::mac(&id, &self.machine, false),
            pid as u32,
        )
        .map_err(|e| match e {
            NetError::Netlink { source, .. } if source.raw_os_error() == Some(libc::EEXIST) => NetError::netlink(
                format!("creating {host}: the host already has a link of that name; remove it or pick another machine name with -M"),
                source,
            ),
            e => e,
        })?;
        self.rec.link = Some(host.to_string());
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's links", e))?;
        let index = nl.index_of(host)?.ok_or_else(|| {
            NetError::netlink(format!("finding {host}"), std::io::Error::from_raw_os_error(libc::ENODEV))
        })?;
        self.host_index = Some(index);
        Ok(index)
    }

    /// The host-side interfaces machined is told about (as nspawn does).
    pub fn ifindices(&self) -> Vec<i32> {
        self.host_index.iter().map(|i| *i as i32).collect()
    }

    fn attach_veth(&mut self, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
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
        masquerade(&host)?;
        let dns = dhcp::host_dns(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let lease = dhcp::Lease { net: subnet, server, address: subnet.nth(2), dns, seconds: lease_seconds() };
        self.dhcp = Some(dhcp::Server::bind(&host, lease)?);
        self.attach_ipv6(&mut nl, index, &host, persist)?;
        self.forward(&host, subnet.nth(2), persist)
    }

    /// A ULA /64 on the machine's own link `host`, forwarded,
    /// masqueraded and advertised.
    fn attach_ipv6(&mut self, nl: &mut link::Netlink, index: u32, host: &str, persist: &mut Persist) -> Result<()> {
        if !ipv6::available() {
            return Ok(());
        }
        let id = machine_id();
        let Some(net) = ipv6::address(nl, index, host, &id)? else { return Ok(()) };
        self.rec.nft6 = Some(host.to_string());
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's network", e))?;
        let forwards = ipv6::masquerade(host)?;
        let advert = ipv6::advert(net, plan::mac(&id, &self.machine, true), forwards);
        self.radv = Some(radv::Radv::new(host, index, &advert, None)?);
        Ok(())
    }

    /// `--port`: DNAT rules to the guest at `guest` behind `link`, and
    /// the loopback relay for TCP.
    fn forward(&mut self, link: &str, guest: std::net::Ipv4Addr, persist: &mut Persist) -> Result<()> {
        if self.settings.ports.is_empty() {
            return Ok(());
        }
        self.rec.ports = Some(link.to_string());
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's ports", e))?;
        match ports::add(link, guest, &self.settings.ports) {
            Ok(()) => {}
            Err(e) if nft::unsupported(&e) => {
                eprint!("berth: this host has no nf_tables (legacy iptables only?); ports are forwarded from 127.0.0.1 and ::1 only\r\n")
            }
            Err(e) => return Err(e),
        }
        let tcp: Vec<(u16, u16)> =
            self.settings.ports.iter().filter(|p| p.proto == ports::Proto::Tcp).map(|p| (p.host, p.guest)).collect();
        if !tcp.is_empty() {
            self.relay = Some(relay::Relay::new(guest, &tcp)?);
        }
        Ok(())
    }

    /// `--port` where berth does not know the guest's address.
    fn no_address(&self, link: &str) -> Result<()> {
        if self.settings.ports.is_empty() {
            return Ok(());
        }
        Err(NetError::netlink(
            format!("--port: berth does not address {link} (systemd-networkd or the host does), so it cannot forward to the guest; drop --port"),
            std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        ))
    }

    /// `--network-zone`: the pair's host side `vb-NAME` joins the zone's
    /// bridge; the launcher serves DHCP there for its own guest only.
    fn attach_zone(&mut self, zone: &str, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
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
            self.forward(&port, address, persist)?;
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
    fn attach_bridge(&mut self, bridge: &str, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
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

    /// Hook 3: descriptors the launcher's event loop polls for input.
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, nix::poll::PollFlags)> {
        let mut v: Vec<_> = self.dhcp.iter().map(|s| (s.fd(), nix::poll::PollFlags::POLLIN)).collect();
        if let Some(r) = &self.radv {
            v.extend(r.fds().map(|fd| (fd, nix::poll::PollFlags::POLLIN)));
        }
        if let Some(r) = &self.relay {
            v.extend(r.poll_fds());
        }
        v
    }

    /// Hook 3: `ready[i]` tells whether `poll_fds()[i]` has input.
    pub fn service(&mut self, ready: &[bool]) {
        let mut ready = ready.iter();
        if let Some(s) = &self.dhcp {
            if ready.next() == Some(&true) {
                s.serve();
            }
        }
        if let Some(r) = &mut self.radv {
            let (socket, timer) = (ready.next() == Some(&true), ready.next() == Some(&true));
            if socket || timer {
                r.service(socket, timer);
            }
        }
        if let Some(r) = &mut self.relay {
            if ready.any(|r| *r) {
                r.service();
            }
        }
    }
}

/// This host's /etc/machine-id, for stable MAC addresses.
fn machine_id() -> [u8; 16] {
    plan::parse_machine_id(&std::fs::read_to_string("/etc/machine-id").unwrap_or_default())
}

/// Turns on IPv4 forwarding (as networkd's IPMasquerade= does) and
/// masquerades what comes in by `link`; a host without nf_tables gets
/// one line and no NAT.
fn masquerade(link: &str) -> Result<()> {
    if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
        tracing::warn!("turning on IPv4 forwarding: {e}");
    }
    match nft::add_masquerade(link) {
        Ok(()) => Ok(()),
        Err(e) if nft::unsupported(&e) => {
            eprint!("berth: this host has no nf_tables (legacy iptables only?); {link} gets no NAT\r\n");
            Ok(())
        }
        Err(e) => Err(e),
    }
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

/// The addresses of the guest whose PID 1 is `leader`, IPv4 first, when
/// it has a network namespace of its own (none when it shares the host's).
pub fn guest_addresses(leader: libc::pid_t) -> Vec<std::net::IpAddr> {
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    let theirs = format!("/proc/{leader}/ns/net");
    if ino(&theirs).is_none() || ino(&theirs) == ino("/proc/self/ns/net") {
        return Vec::new();
    }
    let Ok(ns) = open_netns(leader) else { return Vec::new() };
    let mut v: Vec<std::net::IpAddr> = link::Netlink::open_in(&ns)
        .and_then(|mut nl| nl.all_addresses())
        .map(|a| a.into_iter().map(|(_, a)| a).collect())
        .unwrap_or_default();
    v.sort_by_key(|a| (a.is_ipv6(), *a));
    v
}

/// The network namespace of process `pid`.
pub fn open_netns(pid: libc::pid_t) -> Result<OwnedFd> {
    std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map(OwnedFd::from)
        .map_err(|e| error::NetError::netns(format!("opening the network namespace of process {pid}"), e))
}
