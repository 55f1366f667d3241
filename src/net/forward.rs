//! `--port` on the launcher's side: the DNAT rules to the guest's
//! addresses (ports.rs) and the loopback relay (relay.rs), recorded
//! before they exist.
//!
//! The guest's IPv6 address is not asked of the guest but computed: the
//! EUI-64 address of its stable MAC on the /64 berth advertises
//! (ula::eui64). That is the address the kernel's SLAAC forms by default
//! (addr_gen_mode 0) and systemd-networkd's default SLAAC token, and it
//! stays when privacy extensions add temporary addresses beside it (those
//! change by design, and only serve outgoing connections), so it is the
//! one address known before the guest runs and stable for its life. A
//! guest set up for stable-privacy addresses (addr_gen_mode 2 or 3,
//! NetworkManager's default) or another token has no such address: its
//! ports answer over IPv4 and on ::1 (the relay) but not over IPv6.

use super::error::{NetError, Result};
use super::{nft, ports, relay, Network, Persist};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl Network {
    /// `--port`: DNAT rules to the guest at `guest` (and at `guest6`, its
    /// SLAAC address, when berth advertises a prefix) behind `link`, and
    /// the loopback relay for TCP.
    pub(super) fn forward(
        &mut self,
        link: &str,
        guest: Ipv4Addr,
        guest6: Option<Ipv6Addr>,
        persist: &mut Persist,
    ) -> Result<()> {
        if self.settings.ports.is_empty() {
            return Ok(());
        }
        self.rec.ports = Some(link.to_string());
        persist(&self.rec).map_err(|e| NetError::netns("recording the machine's ports", e))?;
        let no_nft = match ports::add(link, IpAddr::V4(guest), &self.settings.ports) {
            Ok(()) => false,
            Err(e) if nft::unsupported(&e) => true,
            Err(e) => return Err(e),
        };
        if let (Some(g6), false) = (guest6, no_nft) {
            self.rec.ports6 = Some(link.to_string());
            persist(&self.rec).map_err(|e| NetError::netns("recording the machine's ports", e))?;
            ports::add(link, IpAddr::V6(g6), &self.settings.ports)?;
        }
        if no_nft {
            eprint!("berth: this host has no nf_tables (legacy iptables only?); ports are forwarded from 127.0.0.1 and ::1 only\r\n");
        }
        let tcp: Vec<(u16, u16)> =
            self.settings.ports.iter().filter(|p| p.proto == ports::Proto::Tcp).map(|p| (p.host, p.guest)).collect();
        if !tcp.is_empty() {
            self.relay = Some(relay::Relay::new(guest, &tcp)?);
        }
        Ok(())
    }

    /// `--port` where berth does not know the guest's address.
    pub(super) fn no_address(&self, link: &str) -> Result<()> {
        if self.settings.ports.is_empty() {
            return Ok(());
        }
        Err(NetError::netlink(
            format!("--port: berth does not address {link} (systemd-networkd or the host does), so it cannot forward to the guest; drop --port"),
            std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        ))
    }
}
