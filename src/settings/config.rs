//! The validated configuration of one machine: `Config::new` checks the
//! merged `Settings` against what `Inputs::probe` found, and catches
//! everything the user can get wrong before anything is created. It is
//! pure: no I/O, no side effects (unit-tested without root below).

use crate::error::{Error, Result};
pub use crate::settings::console::ConsoleMode;
use crate::settings::inputs::{Inputs, PathFact, INIT_CANDIDATES};
use crate::settings::parse::{parse_bind, parse_env, parse_tmpfs, parse_uuid};
pub use crate::settings::types::{Bind, BindIdmap, InitKind, Tmpfs};
use crate::settings::value::Settings;
use crate::{ids::userns, security::policy, settings::layers, settings::name, sys::signal};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Which init runs as PID 1 decides how it is asked to shut down.

#[derive(Debug, Clone)]
pub enum Mode {
    Boot { init: PathBuf, kind: InitKind, args: Vec<String> },
    Run { argv: Vec<String>, as_pid2: bool },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub root: PathBuf,
    /// `--template` to copy to `root` first (the tree does not exist yet).
    pub template_copy: Option<PathBuf>,
    pub name: String,
    pub hostname: String,
    pub uuid: String,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub chdir: Option<PathBuf>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    pub read_only: bool,
    pub kill_signal: Option<i32>,
    pub stop_timeout: Duration,
    pub notify_ready: bool,
    pub console: ConsoleMode,
    pub quiet: bool,
    pub userns: userns::Mode,
    pub ownership: userns::Ownership,
    pub ephemeral: bool,
    pub layer_upper: layers::Upper,
    pub volatile: layers::Volatile,
    pub overlays: Vec<layers::OverlaySpec>,
    pub policy: policy::Policy,
    pub register: crate::host::machined::Register,
    /// The slice of the machine's scope.
    pub slice: String,
    /// Use the unit berth runs in instead of a scope of its own.
    pub keep_unit: bool,
    /// `--nesting`: the /proc masks are the guest's own (see nested.rs).
    pub nesting: bool,
    /// `--proc-views`: the guest's /proc and /sys views (see views/).
    pub proc_views: bool,
    pub properties: Vec<crate::host::property::Property>,
    /// The guest's network (see net/).
    pub net: crate::net::Settings,
    /// Its journal, resolver, time zone and credentials (see guest.rs).
    pub guest: crate::settings::guest::Guest,
    /// `--bind-user`: host users with their homes (see bind_user.rs).
    pub bound_users: Vec<crate::settings::bind_user::BoundUser>,
}

impl Config {
    /// Whether the tree itself is never written (so others may share it).
    pub fn tree_read_only(&self) -> bool {
        self.read_only || self.ephemeral || self.volatile != layers::Volatile::No
    }
}

impl Config {
    pub fn is_run(&self) -> bool {
        matches!(self.mode, Mode::Run { .. })
    }

    /// Validates the merged settings against what the probe found.
    pub fn new(s: &Settings, inputs: &Inputs) -> Result<Config> {
        let mode = mode(s, inputs)?;
        let root = inputs.tree.root.clone();
        let (name, hostname) = identity(s, inputs)?;
        let uuid = match &s.uuid {
            Some(u) => parse_uuid(u)?,
            None => inputs.random_uuid.clone(),
        };
        let mut binds = Vec::new();
        for (spec, ro) in
            s.bind.iter().flatten().map(|b| (b, false)).chain(s.bind_ro.iter().flatten().map(|b| (b, true)))
        {
            binds.push(parse_bind(spec, ro, &|p| inputs.path(p))?);
        }
        let tmpfs = s.tmpfs.iter().flatten().map(|t| parse_tmpfs(t)).collect::<Result<Vec<_>>>()?;
        let process = Process::new(s, inputs)?;
        let userns = userns::parse_mode(s.private_users.as_deref().unwrap_or("pick"))
            .map_err(|e| Error::Usage(e.to_string()))?;
        let ownership = userns::parse_ownership(s.private_users_ownership.as_deref().unwrap_or("auto"))
            .map_err(|e| Error::Usage(e.to_string()))?;
        if userns == userns::Mode::No {
            if let Some(b) = binds.iter().find(|b| b.idmap != BindIdmap::None) {
                return Err(Error::Usage(format!(
                    "bind {} asks for an idmap, which needs a user namespace; drop the option or -U no",
                    b.source.display()
                )));
            }
        }
        let roots = Roots::new(s, inputs, &root, ownership)?;
        let (policy, net) = policy_and_network(s)?;
        let host = HostIntegration::new(s, inputs)?;
        let guest = guest_setup(s, inputs, &root, &uuid, &roots, net.private())?;
        binds.extend(guest.binds(userns != userns::Mode::No));
        let names = s.bind_user.as_deref().unwrap_or_default();
        let bound_users = crate::settings::bind_user::plan(names, &inputs.users, userns != userns::Mode::No)?;
        binds.extend(bound_users.iter().map(|u| u.bind()));
        Ok(Config {
            bound_users,
            guest,
            net,
            register: host.register,
            slice: host.slice,
            keep_unit: Settings::on(s.keep_unit),
            nesting: Settings::on(s.nesting),
            proc_views: match s.proc_views.as_deref() {
                None => true,
                Some(v) => crate::sys::parse_bool(v)
                    .ok_or_else(|| Error::Usage(format!("--proc-views={v} is invalid; use yes or no")))?,
            },
            properties: host.properties,
            policy,
            ephemeral: roots.ephemeral,
            layer_upper: roots.layer_upper,
            volatile: roots.volatile,
            overlays: roots.overlays,
            userns,
            ownership,
            mode,
            root,
            template_copy: inputs.tree.copy_from.clone(),
            name,
            hostname,
            uuid,
            env: process.env,
            user: process.user,
            chdir: process.chdir,
            binds,
            tmpfs,
            read_only: roots.read_only,
            kill_signal: process.kill_signal,
            stop_timeout: process.stop_timeout,
            notify_ready: process.notify_ready,
            console: process.console,
            quiet: Settings::on(s.quiet),
        })
    }
}

/// How the payload runs: its environment, user, directory, console and
/// how it is stopped.
struct Process {
    env: Vec<(String, String)>,
    user: Option<String>,
    chdir: Option<PathBuf>,
    kill_signal: Option<i32>,
    stop_timeout: Duration,
    notify_ready: bool,
    console: ConsoleMode,
}

impl Process {
    fn new(s: &Settings, inputs: &Inputs) -> Result<Process> {
        let env = s.setenv.iter().flatten().map(|e| parse_env(e)).collect::<Result<Vec<_>>>()?;
        if let Some(d) = &s.chdir {
            if !d.is_absolute() {
                return Err(Error::Usage(format!(
                    "--chdir {} is not absolute; give a path inside the guest starting with /",
                    d.display()
                )));
            }
        }
        let stop_timeout = s.stop_timeout.unwrap_or(10.0);
        if !(stop_timeout.is_finite() && stop_timeout >= 0.0) {
            return Err(Error::Usage(format!("--stop-timeout {stop_timeout} is invalid; give a number of seconds")));
        }
        let kill_signal = s.kill_signal.as_deref().map(signal::parse).transpose()?;
        let notify_ready = match s.notify_ready.as_deref() {
            None => false,
            Some(v) => crate::sys::parse_bool(v)
                .ok_or_else(|| Error::Usage(format!("--notify-ready={v} is invalid; use yes or no")))?,
        };
        let console =
            s.console.unwrap_or(if inputs.terminal { ConsoleMode::Interactive } else { ConsoleMode::ReadOnly });
        if let Some(u) = &s.user {
            if u.is_empty() || u.contains(':') || u.contains('/') {
                return Err(Error::Usage(format!("--user '{u}' is invalid; give a user name or uid of the guest")));
            }
        }
        Ok(Process {
            env,
            user: s.user.clone(),
            chdir: s.chdir.clone(),
            kill_signal,
            stop_timeout: Duration::from_secs_f64(stop_timeout),
            notify_ready,
            console,
        })
    }
}

/// What runs: the tree's init (boot) or the given command.
fn mode(s: &Settings, inputs: &Inputs) -> Result<Mode> {
    let tree = &inputs.tree;
    let params = s.parameters.clone().unwrap_or_default();
    if !Settings::on(s.boot) {
        if params.is_empty() || params[0].is_empty() {
            return Err(Error::Usage("no command given; put it after '--', e.g. berth run -D DIR -- /bin/sh".into()));
        }
        return Ok(Mode::Run { argv: params, as_pid2: Settings::on(s.as_pid2) });
    }
    if !tree.has_os_release {
        return Err(Error::Usage(format!(
            "{} does not look like an OS tree: it has no /etc/os-release or /usr/lib/os-release (use 'berth run' for a plain command tree)",
            tree.root.display()
        )));
    }
    let (init, kind) = tree.init.clone().ok_or_else(|| {
        Error::Usage(format!(
            "no init found in {}: none of {} is an executable file; install systemd in the tree or use 'berth run'",
            tree.root.display(),
            INIT_CANDIDATES.join(", ")
        ))
    })?;
    if s.user.is_some() {
        return Err(Error::Usage(
            "--user applies to 'berth run'; a booted init starts as root and runs its own logins".into(),
        ));
    }
    Ok(Mode::Boot { init, kind, args: params })
}

/// The machine's name (given, or derived from the image or the tree) and
/// hostname.
fn identity(s: &Settings, inputs: &Inputs) -> Result<(String, String)> {
    let name = match &s.machine {
        Some(m) => {
            name::validate(m)?;
            m.clone()
        }
        None => {
            let root = &inputs.tree.root;
            let base = s
                .image
                .clone()
                .unwrap_or_else(|| root.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default());
            let mut n = name::cleanup(&base);
            if n.is_empty() {
                return Err(Error::Usage(format!("cannot derive a machine name from '{base}'; pass one with -M NAME")));
            }
            if Settings::on(s.ephemeral) {
                // Several throw-away machines of one tree run side by side.
                n.truncate(name::NAME_MAX - 9);
                while n.ends_with(['-', '.']) {
                    n.pop();
                }
                n = format!("{n}-{}", inputs.random_suffix);
            }
            n
        }
    };
    let hostname = match &s.hostname {
        Some(h) => {
            name::validate(h)
                .map_err(|_| Error::Usage(format!("hostname '{h}' is invalid; use letters, digits, '-' and '.'")))?;
            h.clone()
        }
        None => name.clone(),
    };
    Ok((name, hostname))
}

/// The root's layers: `-x`, `--volatile`, `--overlay`, read-only.
struct Roots {
    ephemeral: bool,
    layer_upper: layers::Upper,
    volatile: layers::Volatile,
    overlays: Vec<layers::OverlaySpec>,
    read_only: bool,
}

impl Roots {
    fn new(s: &Settings, inputs: &Inputs, root: &Path, ownership: userns::Ownership) -> Result<Roots> {
        let ephemeral = Settings::on(s.ephemeral);
        let volatile = match s.volatile.as_deref() {
            Some(v) => layers::parse_volatile(v).map_err(|e| Error::Usage(e.to_string()))?,
            None => layers::Volatile::No,
        };
        if ephemeral && volatile != layers::Volatile::No {
            return Err(Error::Usage("-x and --volatile both replace the root; pick one".into()));
        }
        let overlaid = ephemeral || volatile == layers::Volatile::Overlay;
        if overlaid && ownership == userns::Ownership::Chown {
            return Err(Error::Usage(
                "-x with --private-users-ownership=chown would copy up every file; use map (the default) or -U no"
                    .into(),
            ));
        }
        if overlaid {
            layers::check_lower(root)
                .map_err(|e| Error::Usage(format!("{e}; use a copy of the tree at a plain path")))?;
        }
        let layer_upper = match s.layer_dir.as_deref() {
            Some(d) => layers::parse_upper(d),
            // overlayfs cannot be an upper layer (berth -x inside a machine
            // that runs -x itself): the layer goes to a tmpfs then.
            None if inputs.layer_parent_on_overlayfs => layers::Upper::Tmpfs,
            None => layers::parse_upper(layers::DEFAULT_LAYER_PARENT),
        };
        if let layers::Upper::Under(p) = &layer_upper {
            if !p.is_absolute() {
                return Err(Error::Usage(format!(
                    "--layer-dir {} is not absolute; give a host directory or tmpfs",
                    p.display()
                )));
            }
        }
        let is_dir = |p: &Path| matches!(inputs.path(p), PathFact::Found { is_dir: true, .. });
        let mut overlays = Vec::new();
        let specs =
            s.overlay.iter().flatten().map(|o| (o, false)).chain(s.overlay_ro.iter().flatten().map(|o| (o, true)));
        for (spec, ro) in specs {
            overlays.push(layers::parse_overlay(spec, ro, &is_dir).map_err(|e| Error::Usage(e.to_string()))?);
        }
        // A read-only (immutable) image boots read-only, as under nspawn,
        // unless its changes go to a layer of their own anyway.
        let asked = Settings::on(s.read_only);
        let immutable = !asked && !ephemeral && volatile == layers::Volatile::No && inputs.tree.immutable;
        if immutable {
            tracing::info!("{} is read-only (immutable); mounting it read-only", root.display());
        }
        Ok(Roots { ephemeral, layer_upper, volatile, overlays, read_only: asked || immutable })
    }
}

/// The guest's confinement, and its network, which widens it by
/// CAP_NET_ADMIN in a namespace of its own.
fn policy_and_network(s: &Settings) -> Result<(policy::Policy, crate::net::Settings)> {
    let options = s.policy_options();
    let mut policy = policy::Policy::from_options(&options)?;
    // Every network option gives the guest a namespace of its own.
    let net = crate::net::Settings::new(&crate::net::Options {
        private_network: Settings::on(s.private_network),
        network_veth: Settings::on(s.network_veth),
        network_zone: s.network_zone.clone(),
        network_bridge: s.network_bridge.clone(),
        port: s.port.clone().unwrap_or_default(),
        network_veth_extra: s.network_veth_extra.clone().unwrap_or_default(),
        network_namespace_path: s.network_namespace_path.clone(),
    })
    .map_err(Error::Usage)?;
    if net.private() {
        // Its own namespace to administer, as under nspawn.
        policy.keep_unless_dropped(&options, caps::Capability::CAP_NET_ADMIN)?;
    }
    Ok((policy, net))
}

/// What the host hands the guest's system (see guest.rs).
fn guest_setup(
    s: &Settings,
    inputs: &Inputs,
    root: &Path,
    uuid: &str,
    roots: &Roots,
    private_network: bool,
) -> Result<crate::settings::guest::Guest> {
    let asked = crate::settings::guest::Asked {
        link_journal: s.link_journal.as_deref(),
        resolv_conf: s.resolv_conf.as_deref(),
        timezone: s.timezone.as_deref(),
        set_credential: s.set_credential.as_deref().unwrap_or_default(),
        load_credential: s.load_credential.as_deref().unwrap_or_default(),
        private_network,
        read_only: roots.read_only,
        tree_read_only: roots.read_only || roots.ephemeral || roots.volatile != layers::Volatile::No,
    };
    crate::settings::guest::Guest::new(&asked, &inputs.guest, root, uuid)
}

/// machined registration, the scope's slice, and the unit's limits.
struct HostIntegration {
    register: crate::host::machined::Register,
    slice: String,
    properties: Vec<crate::host::property::Property>,
}

impl HostIntegration {
    fn new(s: &Settings, inputs: &Inputs) -> Result<HostIntegration> {
        let register =
            crate::host::machined::parse_register(s.register.as_deref().unwrap_or("auto")).map_err(Error::Usage)?;
        let slice = s.slice.clone().unwrap_or_else(|| "machine.slice".into());
        crate::host::scope::validate_slice(&slice).map_err(Error::Usage)?;
        if Settings::on(s.keep_unit) && s.slice.is_some() {
            return Err(Error::Usage(
                "--slice and --keep-unit conflict: the unit berth runs in has its slice; drop one".into(),
            ));
        }
        let properties = s
            .property
            .iter()
            .flatten()
            .map(|p| crate::host::property::parse(p, &inputs.host))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(HostIntegration { register, slice, properties })
    }
}

#[cfg(test)]
mod tests;
