//! The machine's network while the launcher runs (`Network`): hook 1
//! (`new`), hook 2 (`attach`: `lo`, extra pairs, macvlans and ipvlans,
//! moved interfaces, then the pair of `-n`, a zone or a bridge, see
//! attach.rs) and hook 3 (`poll_fds`/`service`: DHCP, router
//! advertisements, the loopback relay).

use super::error::{NetError, Result};
use super::{dhcp, link, moved, open_netns, plan, radv, relay, subnet, vlan, NetRecord, Persist, Settings};
use std::os::fd::BorrowedFd;

/// How long a DHCP lease lasts (the guest renews it while it runs).
const LEASE_SECONDS: u32 = 3600;

/// The lease time, which only the test suite changes (tests/net_zone.rs
/// renews short leases) through BERTH_TEST_LEASE_SECONDS.
pub(super) fn lease_seconds() -> u32 {
    std::env::var("BERTH_TEST_LEASE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| *s >= 4)
        .unwrap_or(LEASE_SECONDS)
}

/// The machine's network while the launcher runs.
pub struct Network {
    pub(super) settings: Settings,
    pub(super) machine: String,
    pub(super) dhcp: Option<dhcp::Server>,
    pub(super) rec: NetRecord,
    pub(super) _subnet_lock: Option<subnet::Held>,
    /// A zone member's file, held while the machine runs.
    pub(super) _member: Option<std::fs::File>,
    /// The loopback relay of the forwarded TCP ports.
    pub(super) relay: Option<relay::Relay>,
    /// The host side of its pair, once it exists.
    pub(super) host_index: Option<u32>,
    /// The host interfaces moved in, moved back when this goes.
    pub(super) _moved: Option<moved::Held>,
    /// The router advertisements on its link (or its zone's bridge).
    pub(super) radv: Option<radv::Radv>,
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
    pub(super) fn pair(
        &mut self,
        nl: &mut link::Netlink,
        host: &str,
        pid: libc::pid_t,
        persist: &mut Persist,
    ) -> Result<u32> {
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

    /// Descriptors whose last close is slow (a packet socket's waits for
    /// an RCU grace period), for the launcher to park with its watcher.
    pub fn slow_to_close(&self) -> Vec<BorrowedFd<'_>> {
        self.dhcp.iter().filter_map(|s| s.packet_fd()).collect()
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
pub(super) fn machine_id() -> [u8; 16] {
    plan::parse_machine_id(&std::fs::read_to_string("/etc/machine-id").unwrap_or_default())
}
