//! `HostFacts::probe`: everything a start needs to know about this host and
//! the tree, read in one place, so the plan built from it is pure data.

use crate::error::Result;
use crate::host::cgroup::{Cgroups, Owner};
use crate::host::limits::{CgroupFacts, V1Hierarchy};
use crate::host::{cgroupv1, scope};
use crate::ids::shift;
use crate::ids::userns::{self, Ownership, Range};
use crate::settings::config::Config;

#[derive(Debug, Clone)]
pub struct HostFacts {
    /// What the resource limits depend on, with whether systemd runs the
    /// host (it makes scopes and applies limits).
    pub limits: CgroupFacts,
    /// The machine's cgroups, as this host lays them out (before the
    /// plan decides who owns them).
    pub cgroups: Cgroups,
    /// The tree's on-disk id shift (`--private-users-ownership=chown`).
    pub shift: shift::State,
    /// Whether the tree's filesystem can be idmapped, probed only when
    /// the choice depends on it.
    pub can_idmap: Option<bool>,
    /// For each `--bind`, whether its source is a directory.
    pub bind_source_is_dir: Vec<bool>,
}

/// A range to probe idmapping with: any unprivileged one does.
const PROBE: Range = Range { base: 0x6FFF_0000, size: 65536 };

impl HostFacts {
    /// systemd runs the host.
    pub fn systemd(&self) -> bool {
        self.limits.systemd
    }

    pub fn probe(cfg: &Config) -> Result<HostFacts> {
        let _span = tracing::info_span!("probe").entered();
        let systemd = scope::systemd_booted();
        let cgroups = if cfg.keep_unit {
            Cgroups::own_unit()?
        } else {
            Cgroups::for_machine(&cfg.name, &cfg.slice, Owner::Berth)?
        };
        let offering = if cfg.keep_unit { cgroups.scope.clone() } else { cgroups.hierarchy.clone() };
        let offered = std::fs::read_to_string(offering.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>();
        let mut v1 = Vec::new();
        let mut io_weight_file = None;
        for p in &cfg.properties {
            let Some(c) = p.controller() else { continue };
            let v1name = if c == "io" { "blkio" } else { c };
            if offered.iter().any(|o| o == c) || v1.iter().any(|h: &V1Hierarchy| h.controller == v1name) {
                continue;
            }
            if let Some(mount) = cgroupv1::mountpoint(v1name) {
                let own = cgroupv1::own_path(v1name).unwrap_or_default();
                v1.push(V1Hierarchy { controller: v1name.into(), mount, own });
                if v1name == "blkio" {
                    io_weight_file = cgroupv1::io_weight_file();
                }
            }
        }
        let shift = shift::state(&cfg.root).unwrap_or(shift::State::Unshifted);
        let needs_probe = cfg.ownership == Ownership::Auto
            && cfg.userns != userns::Mode::No
            && !matches!(shift, shift::State::Partial(_));
        let can_idmap = needs_probe.then(|| userns::can_idmap(&cfg.root, PROBE));
        let bind_source_is_dir = cfg.binds.iter().map(|b| b.source.is_dir()).collect();
        let limits = CgroupFacts { systemd, offered, v1, io_weight_file };
        Ok(HostFacts { limits, cgroups, shift, can_idmap, bind_source_is_dir })
    }
}
