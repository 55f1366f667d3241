//! Decides where each `--property` takes effect on this host, before
//! anything is created: cgroup2 files on the machine's cgroup where the hierarchy
//! offers the controller, v1 controller cgroups on a hybrid host where it
//! does not, rules in berth's device program for DeviceAllow, and the
//! typed properties for systemd's scope when systemd runs the host. A
//! property that cannot be applied here is an error that names the
//! missing controller.

use crate::error::{Error, Result};
use crate::host::cgroupv1::Group;
use crate::host::property::{FileWrite, Property};
use crate::security::devices::Rule;
use std::path::{Path, PathBuf};

/// What the limits depend on, from `plan::host::HostFacts`.
#[derive(Debug, Clone, Default)]
pub struct CgroupFacts {
    /// systemd applies the properties to the unit.
    pub systemd: bool,
    /// Controllers the cgroup the machine's limits go below offers.
    pub offered: Vec<String>,
    /// v1 hierarchies of the controllers a `--property` needs.
    pub v1: Vec<V1Hierarchy>,
    /// blkio's weight file on v1 (bfq's or cfq's), when an IOWeight needs it.
    pub io_weight_file: Option<&'static str>,
}

/// A v1 hierarchy that carries one controller (hybrid hosts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    pub controller: String,
    pub mount: PathBuf,
    /// The launcher's own cgroup in it, relative to the mount.
    pub own: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// cgroup2 files berth writes itself (when systemd does not own the
    /// unit): on the scope, above the guest's cgroup namespace, so the
    /// guest's init does not take them for the whole system's size (systemd
    /// derives its default per-unit TasksMax from the pids.max it sees).
    pub v2: Vec<FileWrite>,
    /// Created before the guest starts; its PID 1 joins them.
    pub v1: Vec<Group>,
    /// Added to the guest's device program.
    pub devices: Vec<Rule>,
    /// For systemd's scope (or the unit with --keep-unit).
    pub dbus: Vec<Property>,
}

/// From the host's facts: the controllers the machine's cgroup can get
/// (`offered`), the v1 hierarchies, and whether systemd applies the
/// properties to the unit (it handles hybrid hosts itself). `rel`: the
/// machine's path in a v1 hierarchy, below the launcher's own cgroup
/// there. Pure: no I/O.
pub fn plan(props: &[Property], facts: &CgroupFacts, rel: &Path) -> Result<Plan> {
    let mut plan = Plan::default();
    let systemd = facts.systemd;
    for p in props {
        if systemd {
            plan.dbus.push(p.clone());
        }
        let Some(controller) = p.controller() else {
            if let crate::host::property::Value::Device(d) = &p.value {
                plan.devices.push(Rule::from(d));
            }
            continue;
        };
        if systemd {
            // systemd applies them to the unit, on cgroup2 and v1 alike.
            continue;
        }
        if facts.offered.iter().any(|o| o == controller) {
            plan.v2.extend(p.v2());
            continue;
        }
        let v1name = if controller == "io" { "blkio" } else { controller };
        let Some(h) = facts.v1.iter().find(|h| h.controller == v1name) else {
            return Err(Error::Usage(format!(
                "--property={}: this host offers no {controller} controller, neither to the machine's cgroup in cgroup2 nor as a v1 hierarchy; drop the property or enable the controller",
                p.spec,
            )));
        };
        let Some(write) = p.v1(facts.io_weight_file)? else { continue };
        let dir = h.mount.join(&h.own).join(rel);
        match plan.v1.iter_mut().find(|g| g.controller == write.controller) {
            Some(g) => g.writes.push(write),
            None => plan.v1.push(Group { controller: write.controller, dir, writes: vec![write] }),
        }
    }
    Ok(plan)
}

/// Checks that every cgroup2 controller the plan writes to is enabled for
/// `dir`, then writes the limits there.
pub fn apply_v2(plan: &Plan, dir: &Path) -> Result<()> {
    let enabled = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    for w in &plan.v2 {
        if !enabled.split_whitespace().any(|c| c == w.controller) {
            return Err(Error::Usage(format!(
                "the {} controller is not available to {} (the parent cgroup does not delegate it); enable it in the parents' cgroup.subtree_control or drop the property",
                w.controller,
                dir.display()
            )));
        }
        std::fs::write(dir.join(w.file), &w.content)
            .map_err(|e| Error::sys(format!("writing {} to {}", w.content, dir.join(w.file).display()), e))?;
    }
    Ok(())
}
