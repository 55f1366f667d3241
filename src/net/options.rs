//! The network options (pure): what the command line or a settings file
//! asks for (`Options`), checked into what the launcher does
//! (`Settings`): names the kernel takes, no conflicting ways of joining
//! a bridge, ports only where berth addresses the guest.

use super::{hostif, plan, ports};
use std::path::PathBuf;

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
    /// Host interfaces moved into the guest (`--network-interface`): the
    /// name on the host, the name in the guest.
    pub interfaces: Vec<(String, String)>,
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
            interfaces: o
                .network_interface
                .iter()
                .map(|s| hostif::parse_interface(s))
                .collect::<std::result::Result<_, _>>()?,
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
