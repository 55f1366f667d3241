//! The guest's network: a private network namespace with `lo` up.
//!
//! The launcher calls in at two marked points (look for `net::`):
//! - `Network::new` before the guest is cloned (what the options ask for;
//!   the guest's clone gets CLONE_NEWNET when `Settings::private`);
//! - `Network::attach` once the guest's PID 1 exists and waits, from the
//!   host side: sets `lo` up in the guest's namespace.
//!
//! The outer child mounts a fresh sysfs from inside the guest's network
//! namespace and leaves `/proc/sys/net` writable (see mounts.rs, child.rs);
//! the guest keeps CAP_NET_ADMIN (config.rs).

pub mod error;
pub mod link;

pub use error::NetError;

use error::Result;
use std::os::fd::OwnedFd;

/// What the network options ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// A network namespace of the guest's own (`--private-network`).
    pub private: bool,
}

impl Settings {
    pub fn from_args(a: &crate::cli::NetArgs) -> Settings {
        Settings { private: a.private_network }
    }

    /// Whether the guest gets a network namespace of its own.
    pub fn private(&self) -> bool {
        self.private
    }
}

/// The machine's network while the launcher runs.
pub struct Network {
    settings: Settings,
}

impl Network {
    /// Hook 1 (launcher, before the guest exists).
    pub fn new(settings: &Settings) -> Network {
        Network { settings: settings.clone() }
    }

    /// Hook 2 (launcher, the guest's PID 1 exists and waits): configures
    /// the guest's namespace from the host side.
    pub fn attach(&mut self, pid: libc::pid_t) -> Result<()> {
        if !self.settings.private() {
            return Ok(());
        }
        let ns = open_netns(pid)?;
        let mut nl = link::Netlink::open_in(&ns)?;
        let lo = nl.index_of("lo")?.unwrap_or(1);
        nl.set_up(lo, "lo")
    }
}

/// The network namespace of process `pid`.
pub fn open_netns(pid: libc::pid_t) -> Result<OwnedFd> {
    std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map(OwnedFd::from)
        .map_err(|e| error::NetError::netns(format!("opening the network namespace of process {pid}"), e))
}
