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
//! The outer child mounts a fresh sysfs from inside the guest's network
//! namespace and leaves `/proc/sys/net` writable (plan/mounts.rs,
//! spawn/child.rs);
//! the guest keeps CAP_NET_ADMIN (settings/config.rs).

pub mod dhcp;
pub mod error;
pub mod link;
pub mod networkd;
pub mod nft;
pub mod plan;
pub mod subnet;

pub use error::NetError;

use error::Result;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::PathBuf;

/// How long a DHCP lease lasts (the guest renews it while it runs).
const LEASE_SECONDS: u32 = 3600;

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
}

/// What the network options ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// A network namespace of the guest's own (`--private-network`, and
    /// implied by every other network option).
    pub private: bool,
    /// A veth pair to the host (`-n`, `--network-veth`).
    pub veth: bool,
}

impl Settings {
    /// Whether the guest gets a network namespace of its own.
    pub fn private(&self) -> bool {
        self.private
    }
}

/// The machine's network while the launcher runs.
pub struct Network {
    settings: Settings,
    machine: String,
    dhcp: Option<dhcp::Server>,
    rec: NetRecord,
    _subnet_lock: Option<subnet::Held>,
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
        }
    }

    /// Hook 2 (launcher, the guest's PID 1 exists and waits): configures
    /// the guest's namespace and the host side. `persist` writes record
    /// fields before anything needing removal exists.
    pub fn attach(&mut self, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
        if !self.settings.private() {
            return Ok(());
        }
        let ns = open_netns(pid)?;
        let mut guest = link::Netlink::open_in(&ns)?;
        let lo = guest.index_of("lo")?.unwrap_or(1);
        guest.set_up(lo, "lo")?;
        if self.settings.veth {
            self.attach_veth(pid, persist)?;
        }
        Ok(())
    }

    fn attach_veth(&mut self, pid: libc::pid_t, persist: &mut Persist) -> Result<()> {
        let host = plan::veth_host_name(&self.machine);
        let id = plan::parse_machine_id(&std::fs::read_to_string("/etc/machine-id").unwrap_or_default());
        let mut nl = link::Netlink::open()?;
        // A link of that name that is not ours stays untouched: the pair
        // is recorded only once it exists (until then, and should the
        // launcher die right after, it goes with the guest's namespace).
        nl.create_veth(
            &host,
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
        self.rec.link = Some(host.clone());
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's links", e))?;
        let index = nl.index_of(&host)?.ok_or_else(|| {
            NetError::netlink(format!("finding {host}"), std::io::Error::from_raw_os_error(libc::ENODEV))
        })?;
        if networkd::manages(&host) {
            // The host's networkd addresses it, serves DHCP, masquerades.
            tracing::info!("systemd-networkd manages {host}; leaving its addresses to it");
            return Ok(());
        }
        // IPv6 link-local comes with the link being up.
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
        let chain = nft::chain_name(&host);
        self.rec.subnet = Some(subnet.to_string());
        self.rec.lock = Some(subnet::lock_path(&subnet));
        self.rec.nft = Some(host.clone());
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's network", e))?;
        let server = subnet.nth(1);
        nl.add_address4(index, server, subnet, &format!("adding address {server}/{} to {host}", subnet.prefix))?;
        // Forwarding, as networkd's IPMasquerade= turns it on.
        if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
            tracing::warn!("turning on IPv4 forwarding: {e}");
        }
        match nft::add_masquerade(&host) {
            Ok(()) => {}
            Err(e) if nft::unsupported(&e) => {
                eprint!("berth: this host has no nf_tables (legacy iptables only?); {host} gets no NAT ({chain})\r\n")
            }
            Err(e) => return Err(e),
        }
        let dns = dhcp::host_dns(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let lease = dhcp::Lease { net: subnet, server, address: subnet.nth(2), dns, seconds: LEASE_SECONDS };
        self.dhcp = Some(dhcp::Server::bind(&host, lease)?);
        Ok(())
    }

    /// Hook 3: descriptors the launcher's event loop polls for input.
    pub fn poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.dhcp.iter().map(|s| s.fd()).collect()
    }

    /// Hook 3: `ready[i]` tells whether `poll_fds()[i]` has input.
    pub fn service(&mut self, ready: &[bool]) {
        if let (Some(s), Some(true)) = (&self.dhcp, ready.first()) {
            s.serve();
        }
    }
}

/// Hook 4: removes what the record says a machine's network holds; runs
/// in the host's network namespace after the launcher is gone. Returns
/// what was removed.
pub fn cleanup(rec: &NetRecord) -> Vec<String> {
    let mut removed = Vec::new();
    if let Some(host) = &rec.nft {
        if nft::remove_masquerade(host).is_ok() {
            removed.push(format!("nf_tables chain {}", nft::chain_name(host)));
        }
    }
    if let Some(host) = &rec.link {
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
    removed
}

/// The network namespace of process `pid`.
pub fn open_netns(pid: libc::pid_t) -> Result<OwnedFd> {
    std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map(OwnedFd::from)
        .map_err(|e| error::NetError::netns(format!("opening the network namespace of process {pid}"), e))
}
