//! The resolved, validated configuration of one container. Everything the
//! user can get wrong is caught here, before anything is created.

use crate::cli::{BootArgs, CommonArgs, RunArgs};
use crate::error::{Error, Result};
pub use crate::settings::console::ConsoleMode;
use crate::{ids::userns, security::policy, settings::layers, settings::name, sys, sys::signal};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const INIT_CANDIDATES: &[&str] = &["/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/sbin/init"];

/// Which init runs as PID 1 decides how it is asked to shut down.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitKind {
    Systemd,
    SysV,
    Busybox,
    Unknown,
}

#[derive(Debug, Clone)]
pub enum Mode {
    Boot { init: PathBuf, kind: InitKind, args: Vec<String> },
    Run { argv: Vec<String>, as_pid2: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
    pub recursive: bool,
    pub idmap: BindIdmap,
}

/// How a bind mount's ownership meets the guest's user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindIdmap {
    /// Ids pass through unchanged (guest sees host ids, mostly nobody).
    None,
    /// Host ids 0-65535 appear as the same guest ids.
    Idmap,
    /// The owner of the source appears as the guest's root, others as nobody.
    RootIdmap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub target: PathBuf,
    pub options: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub root: PathBuf,
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
    pub properties: Vec<crate::host::property::Property>,
    /// The guest's network (see net/).
    pub net: crate::net::Settings,
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

    pub fn from_boot(a: &BootArgs) -> Result<Config> {
        let root = resolve_root(&a.common, a.image.as_deref())?;
        let root_fd = open_root(&root)?;
        if find_in_root(&root_fd, "/etc/os-release").is_none()
            && find_in_root(&root_fd, "/usr/lib/os-release").is_none()
        {
            return Err(Error::Usage(format!(
                "{} does not look like an OS tree: it has no /etc/os-release or /usr/lib/os-release (use 'berth run' for a plain command tree)",
                root.display()
            )));
        }
        let (init, target) = INIT_CANDIDATES
            .iter()
            .find_map(|c| find_in_root(&root_fd, c).filter(|t| is_executable(t)).map(|t| (PathBuf::from(c), t)))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no init found in {}: none of {} is an executable file; install systemd in the tree or use 'berth run'",
                    root.display(),
                    INIT_CANDIDATES.join(", ")
                ))
            })?;
        let kind = init_kind(&init, &target);
        if a.common.user.is_some() {
            return Err(Error::Usage(
                "--user applies to 'berth run'; a booted init starts as root and runs its own logins".into(),
            ));
        }
        finish(&a.common, root, Mode::Boot { init, kind, args: a.args.clone() }, a.image.as_deref())
    }

    pub fn from_run(a: &RunArgs) -> Result<Config> {
        let root = resolve_root(&a.common, a.image.as_deref())?;
        open_root(&root)?;
        if a.command.is_empty() || a.command[0].is_empty() {
            return Err(Error::Usage("no command given; put it after '--', e.g. berth run -D DIR -- /bin/sh".into()));
        }
        finish(&a.common, root, Mode::Run { argv: a.command.clone(), as_pid2: a.as_pid2 }, a.image.as_deref())
    }
}

fn resolve_root(c: &CommonArgs, image: Option<&str>) -> Result<PathBuf> {
    let raw = match (&c.directory, image) {
        (Some(_), Some(img)) => {
            return Err(Error::Usage(format!("both -D and the image name '{img}' were given; pass only one")));
        }
        (Some(d), None) => {
            if let (Some(t), false) = (&c.template, d.exists()) {
                layers::from_template(t, d).map_err(Error::Usage)?;
            }
            d.clone()
        }
        (None, Some(img)) => {
            name::validate(img).map_err(|_| {
                Error::Usage(format!("'{img}' is not a valid image name; pass a directory with -D instead"))
            })?;
            let store = crate::image::Store::new(c.image_root.as_deref());
            let found = store.find(img).map_err(|e| Error::Usage(format!("{e}, or pass a directory with -D")))?;
            if found.kind == crate::image::Kind::Raw {
                return Err(crate::image::ImageError::Raw { name: img.into(), what: "boot or run" }.into());
            }
            found.path
        }
        (None, None) => {
            return Err(Error::Usage(format!(
                "no tree given; pass -D DIR or the NAME of an image in {}",
                c.image_root.as_deref().unwrap_or(Path::new(crate::image::IMAGE_ROOT)).display()
            )));
        }
    };
    let root = std::fs::canonicalize(&raw)
        .map_err(|e| Error::Usage(format!("cannot use tree {}: {}; check the path given with -D", raw.display(), e)))?;
    if !root.is_dir() {
        return Err(Error::Usage(format!(
            "tree {} is not a directory; pass the root directory of an OS tree",
            root.display()
        )));
    }
    if root == Path::new("/") {
        return Err(Error::Usage(
            "refusing to use the host's own root as a container tree; pass another directory with -D".into(),
        ));
    }
    Ok(root)
}

fn open_root(root: &Path) -> Result<OwnedFd> {
    std::fs::File::open(root)
        .map(OwnedFd::from)
        .map_err(|e| Error::Usage(format!("cannot open tree {}: {}", root.display(), e)))
}

/// Resolves `path` inside the tree (symlinks stay inside) and returns the
/// host path of what it names, if it exists.
fn find_in_root(root: &OwnedFd, path: &str) -> Option<PathBuf> {
    let fd = sys::open_in_root(root, Path::new(path), libc::O_PATH, 0).ok()?;
    std::fs::read_link(sys::fd_path(&fd)).ok()
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn init_kind(candidate: &Path, target: &Path) -> InitKind {
    match target.file_name().and_then(|n| n.to_str()) {
        Some("systemd") => InitKind::Systemd,
        Some(n) if n.starts_with("busybox") => InitKind::Busybox,
        Some("init") if candidate == Path::new("/sbin/init") => InitKind::SysV,
        _ => InitKind::Unknown,
    }
}

fn finish(c: &CommonArgs, root: PathBuf, mode: Mode, image: Option<&str>) -> Result<Config> {
    let name = match &c.machine {
        Some(m) => {
            name::validate(m)?;
            m.clone()
        }
        None => {
            let base = image
                .map(str::to_string)
                .unwrap_or_else(|| root.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default());
            let mut n = name::cleanup(&base);
            if n.is_empty() {
                return Err(Error::Usage(format!("cannot derive a machine name from '{base}'; pass one with -M NAME")));
            }
            if c.ephemeral {
                // Several throw-away machines of one tree run side by side.
                n.truncate(name::NAME_MAX - 9);
                while n.ends_with(['-', '.']) {
                    n.pop();
                }
                n = format!("{n}-{}", layers::name_suffix());
            }
            n
        }
    };
    let hostname = match &c.hostname {
        Some(h) => {
            name::validate(h)
                .map_err(|_| Error::Usage(format!("hostname '{h}' is invalid; use letters, digits, '-' and '.'")))?;
            h.clone()
        }
        None => name.clone(),
    };
    let uuid = match &c.uuid {
        Some(u) => parse_uuid(u)?,
        None => random_uuid()?,
    };
    let env = c.setenv.iter().map(|s| parse_env(s)).collect::<Result<Vec<_>>>()?;
    let mut binds = Vec::new();
    for (spec, ro) in c.bind.iter().map(|s| (s, false)).chain(c.bind_ro.iter().map(|s| (s, true))) {
        binds.push(parse_bind(spec, ro)?);
    }
    let tmpfs = c.tmpfs.iter().map(|s| parse_tmpfs(s)).collect::<Result<Vec<_>>>()?;
    if let Some(d) = &c.chdir {
        if !d.is_absolute() {
            return Err(Error::Usage(format!(
                "--chdir {} is not absolute; give a path inside the guest starting with /",
                d.display()
            )));
        }
    }
    if !(c.stop_timeout.is_finite() && c.stop_timeout >= 0.0) {
        return Err(Error::Usage(format!("--stop-timeout {} is invalid; give a number of seconds", c.stop_timeout)));
    }
    let kill_signal = c.kill_signal.as_deref().map(signal::parse).transpose()?;
    let notify_ready = match c.notify_ready.as_deref() {
        None => false,
        Some(v) => crate::sys::parse_bool(v)
            .ok_or_else(|| Error::Usage(format!("--notify-ready={v} is invalid; use yes or no")))?,
    };
    let console = if c.pipe {
        ConsoleMode::Pipe
    } else if let Some(m) = c.console {
        m
    } else if nix::unistd::isatty(0).unwrap_or(false) && nix::unistd::isatty(1).unwrap_or(false) {
        ConsoleMode::Interactive
    } else {
        ConsoleMode::ReadOnly
    };
    if let Some(u) = &c.user {
        if u.is_empty() || u.contains(':') || u.contains('/') {
            return Err(Error::Usage(format!("--user '{u}' is invalid; give a user name or uid of the guest")));
        }
    }
    let userns =
        userns::parse_mode(c.private_users.as_deref().unwrap_or("pick")).map_err(|e| Error::Usage(e.to_string()))?;
    let ownership = userns::parse_ownership(&c.private_users_ownership).map_err(|e| Error::Usage(e.to_string()))?;
    if userns == userns::Mode::No {
        if let Some(b) = binds.iter().find(|b| b.idmap != BindIdmap::None) {
            return Err(Error::Usage(format!(
                "bind {} asks for an idmap, which needs a user namespace; drop the option or -U no",
                b.source.display()
            )));
        }
    }
    let volatile = match c.volatile.as_deref() {
        Some(v) => layers::parse_volatile(v).map_err(|e| Error::Usage(e.to_string()))?,
        None => layers::Volatile::No,
    };
    if c.ephemeral && volatile != layers::Volatile::No {
        return Err(Error::Usage("-x and --volatile both replace the root; pick one".into()));
    }
    if (c.ephemeral || volatile == layers::Volatile::Overlay) && ownership == userns::Ownership::Chown {
        return Err(Error::Usage(
            "-x with --private-users-ownership=chown would copy up every file; use map (the default) or -U no".into(),
        ));
    }
    if c.ephemeral || volatile == layers::Volatile::Overlay {
        layers::check_lower(&root).map_err(|e| Error::Usage(format!("{e}; use a copy of the tree at a plain path")))?;
    }
    let layer_upper = match c.layer_dir.as_deref() {
        Some(d) => layers::parse_upper(d),
        // overlayfs cannot be an upper layer (berth -x inside a machine
        // that runs -x itself): the layer goes to a tmpfs then.
        None if crate::host::nested::on_overlayfs(Path::new(layers::DEFAULT_LAYER_PARENT)) => layers::Upper::Tmpfs,
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
    let mut overlays = Vec::new();
    for (spec, ro) in c.overlay.iter().map(|s| (s, false)).chain(c.overlay_ro.iter().map(|s| (s, true))) {
        overlays.push(layers::parse_overlay(spec, ro).map_err(|e| Error::Usage(e.to_string()))?);
    }
    // A read-only (immutable) image boots read-only, as under nspawn,
    // unless its changes go to a layer of their own anyway.
    let immutable = !c.read_only
        && !c.ephemeral
        && volatile == layers::Volatile::No
        && crate::image::attr::is_immutable(&root).unwrap_or(false);
    if immutable {
        tracing::info!("{} is read-only (immutable); mounting it read-only", root.display());
    }
    let policy_options = (&c.policy).into();
    let mut policy = policy::Policy::from_options(&policy_options)?;
    // Every network option gives the guest a namespace of its own.
    let net = crate::net::Settings::new(&(&c.net).into()).map_err(Error::Usage)?;
    if net.private() {
        // Its own namespace to administer, as under nspawn.
        policy.keep_unless_dropped(&policy_options, caps::Capability::CAP_NET_ADMIN)?;
    }
    let register = crate::host::machined::parse_register(&c.register).map_err(Error::Usage)?;
    let slice = c.slice.clone().unwrap_or_else(|| "machine.slice".into());
    crate::host::scope::validate_slice(&slice).map_err(Error::Usage)?;
    if c.keep_unit && c.slice.is_some() {
        return Err(Error::Usage(
            "--slice and --keep-unit conflict: the unit berth runs in has its slice; drop one".into(),
        ));
    }
    let properties =
        c.property.iter().map(|p| crate::host::property::parse(p)).collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Config {
        net,
        register,
        slice,
        keep_unit: c.keep_unit,
        nesting: c.nesting,
        properties,
        policy,
        ephemeral: c.ephemeral,
        layer_upper,
        volatile,
        overlays,
        userns,
        ownership,
        mode,
        root,
        name,
        hostname,
        uuid,
        env,
        user: c.user.clone(),
        chdir: c.chdir.clone(),
        binds,
        tmpfs,
        read_only: c.read_only || immutable,
        kill_signal,
        stop_timeout: Duration::from_secs_f64(c.stop_timeout),
        notify_ready,
        console,
        quiet: c.quiet,
    })
}

fn parse_env(s: &str) -> Result<(String, String)> {
    let (k, v) =
        s.split_once('=').ok_or_else(|| Error::Usage(format!("--setenv '{s}' has no '='; write NAME=VALUE")))?;
    let valid =
        !k.is_empty() && !k.as_bytes()[0].is_ascii_digit() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(Error::Usage(format!(
            "--setenv '{s}': '{k}' is not a valid variable name; use letters, digits and '_'"
        )));
    }
    Ok((k.to_string(), v.to_string()))
}

/// `SRC[:DST[:OPTIONS]]` as nspawn spells it; options `rbind` (default)
/// and `norbind`.
pub fn parse_bind(spec: &str, read_only: bool) -> Result<Bind> {
    let flag = if read_only { "--bind-ro" } else { "--bind" };
    let mut parts = spec.splitn(3, ':');
    let src = parts.next().unwrap_or_default();
    let dst = parts.next().filter(|d| !d.is_empty()).unwrap_or(src);
    let mut recursive = true;
    let mut idmap = BindIdmap::None;
    if let Some(opts) = parts.next() {
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "rbind" => recursive = true,
                "norbind" => recursive = false,
                "idmap" => idmap = BindIdmap::Idmap,
                "rootidmap" => idmap = BindIdmap::RootIdmap,
                "noidmap" => idmap = BindIdmap::None,
                other => {
                    return Err(Error::Usage(format!(
                        "{flag} {spec}: unknown option '{other}'; use rbind, norbind, idmap, rootidmap or noidmap"
                    )));
                }
            }
        }
    }
    let (src, dst) = (PathBuf::from(src), PathBuf::from(dst));
    if !src.is_absolute() || !dst.is_absolute() {
        return Err(Error::Usage(format!("{flag} {spec}: both paths must be absolute (SRC[:DST])")));
    }
    let source = std::fs::canonicalize(&src)
        .map_err(|e| Error::Usage(format!("{flag} {spec}: source {} is unusable: {}", src.display(), e)))?;
    Ok(Bind { source, target: dst, read_only, recursive, idmap })
}

fn parse_tmpfs(spec: &str) -> Result<Tmpfs> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let target = PathBuf::from(path);
    if !target.is_absolute() || target == Path::new("/") {
        return Err(Error::Usage(format!("--tmpfs {spec}: give an absolute guest path other than /")));
    }
    let options = if opts.is_empty() { "mode=0755".to_string() } else { opts.to_string() };
    Ok(Tmpfs { target, options })
}

/// Accepts a UUID with or without dashes; returns the canonical form.
pub fn parse_uuid(u: &str) -> Result<String> {
    let hex: String = u.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || hex.bytes().all(|b| b == b'0') {
        return Err(Error::Usage(format!("--uuid '{u}' is not a valid non-zero UUID (32 hex digits)")));
    }
    let h = hex.to_ascii_lowercase();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

pub fn random_uuid() -> Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::sys("reading a random UUID from /proc/sys/kernel/random/uuid", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert_eq!(parse_uuid("0123456789ABCDEF0123456789abcdef").unwrap(), "01234567-89ab-cdef-0123-456789abcdef");
        assert!(parse_uuid("xyz").is_err());
        assert!(parse_uuid("00000000-0000-0000-0000-000000000000").is_err());
        assert_eq!(random_uuid().unwrap().len(), 36);
    }

    #[test]
    fn env_and_binds() {
        assert_eq!(parse_env("A_B=c=d").unwrap(), ("A_B".into(), "c=d".into()));
        assert!(parse_env("1A=x").is_err());
        assert!(parse_env("noequals").is_err());
        let b = parse_bind("/tmp:/mnt/x:norbind", true).unwrap();
        assert_eq!((b.target.as_path(), b.read_only, b.recursive), (Path::new("/mnt/x"), true, false));
        assert_eq!(parse_bind("/tmp", false).unwrap().target, PathBuf::from("/tmp"));
        assert!(parse_bind("relative:/x", false).is_err());
        assert!(parse_bind("/tmp:/x:idmapx", false).is_err());
        assert!(parse_bind("/nonexistent-berth-src", false).is_err());
        assert_eq!(parse_tmpfs("/var/tmp").unwrap().options, "mode=0755");
        assert_eq!(parse_tmpfs("/x:mode=1777,size=1m").unwrap().options, "mode=1777,size=1m");
        assert!(parse_tmpfs("rel").is_err());
    }

    #[test]
    fn init_kinds() {
        assert_eq!(init_kind(Path::new("/sbin/init"), Path::new("/t/lib/systemd/systemd")), InitKind::Systemd);
        assert_eq!(init_kind(Path::new("/sbin/init"), Path::new("/t/bin/busybox")), InitKind::Busybox);
        assert_eq!(init_kind(Path::new("/sbin/init"), Path::new("/t/sbin/init")), InitKind::SysV);
        assert_eq!(init_kind(Path::new("/sbin/init"), Path::new("/t/sbin/runit-init")), InitKind::Unknown);
    }
}
