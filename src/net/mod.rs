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
//! Where each part lives: the options (options.rs), the record and its
//! clean-up (record.rs), the launcher's `Network` (network.rs) and its
//! links to the host (attach.rs), `--port` (forward.rs, ports.rs,
//! relay.rs), the guest's namespace from the host (netns.rs).
//!
//! `--network-interface` moves host interfaces in and back (moved.rs);
//! `--network-macvlan`/`--network-ipvlan` create links on host interfaces
//! directly in the guest's namespace (vlan.rs); hostif.rs plans both.
//!
//! The outer child mounts a fresh sysfs from inside the guest's network
//! namespace and leaves `/proc/sys/net` writable (plan/mounts.rs,
//! spawn/child.rs);
//! the guest keeps CAP_NET_ADMIN (settings/config.rs).

mod attach;
pub mod dhcp;
pub mod dhcp_packet;
pub mod error;
mod forward;
pub mod forward6;
pub mod hostif;
pub mod ipv6;
pub mod link;
pub mod moved;
pub mod netns;
pub mod network;
pub mod networkd;
pub mod nft;
pub mod options;
pub mod plan;
pub mod ports;
pub mod ra;
pub mod radv;
pub mod record;
pub mod relay;
pub mod subnet;
pub mod ula;
pub mod vlan;
pub mod zone;

pub use error::NetError;
pub use netns::{guest_addresses, open_netns};
pub use network::Network;
pub use options::{Options, Settings};
pub use record::{cleanup, NetRecord, Persist};
