//! `Inputs::probe`: everything validation needs to know from outside the
//! settings, read in one place before `Config::new` runs: the tree the
//! user named (where it is, whether it has an init, whether it is
//! immutable), the paths named by binds and overlays, the terminal, the
//! host tables that `--property` values are resolved against, and the
//! random values a start draws. Nothing here creates anything.

use crate::error::{Error, Result};
use crate::host::property_values::HostTables;
use crate::settings::types::InitKind;
pub use crate::settings::types::PathFact;
use crate::settings::value::Settings;
use crate::settings::{layers, name};
use crate::sys;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const INIT_CANDIDATES: &[&str] = &["/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/sbin/init"];

/// What the tree (or the template a missing tree is copied from) holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeFacts {
    /// The tree's absolute path (canonical once it exists).
    pub root: PathBuf,
    /// `--template` to copy at start because the tree does not exist yet.
    pub copy_from: Option<PathBuf>,
    pub has_os_release: bool,
    /// The first executable init candidate: its guest path and kind.
    pub init: Option<(PathBuf, InitKind)>,
    /// The tree carries the immutable attribute.
    pub immutable: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub tree: TreeFacts,
    pub paths: BTreeMap<PathBuf, PathFact>,
    /// Both stdin and stdout are terminals (the console's default).
    pub terminal: bool,
    /// The default layer parent is itself on overlayfs (nested `-x`).
    pub layer_parent_on_overlayfs: bool,
    pub host: HostTables,
    /// A fresh UUID and name suffix, used when the settings give none.
    pub random_uuid: String,
    pub random_suffix: String,
    /// What the guest's journal, resolver, time zone and credentials
    /// are decided on (guest_probe.rs).
    pub guest: crate::settings::guest::GuestFacts,
    /// The host accounts --bind-user names.
    pub users: crate::settings::bind_user::UserFacts,
}

impl Inputs {
    pub fn probe(s: &Settings) -> Result<Inputs> {
        let tree = probe_tree(s)?;
        let mut paths = BTreeMap::new();
        let specs = s.bind.iter().chain(&s.bind_ro).flatten();
        for src in specs.map(|b| b.split(':').next().unwrap_or_default()) {
            paths.entry(PathBuf::from(src)).or_insert_with(|| path_fact(Path::new(src)));
        }
        for spec in s.overlay.iter().chain(&s.overlay_ro).flatten() {
            for layer in spec.split(':').filter(|l| !l.is_empty()) {
                paths.entry(PathBuf::from(layer)).or_insert_with(|| path_fact(Path::new(layer)));
            }
        }
        let random_uuid = random_uuid()?;
        let tree_dir = tree.copy_from.clone().unwrap_or_else(|| tree.root.clone());
        let uuid = crate::settings::guest_probe::uuid_of(s, &random_uuid);
        let guest = crate::settings::guest_probe::probe(s, &tree_dir, &uuid);
        Ok(Inputs {
            users: crate::settings::bind_user::probe(s.bind_user.as_deref().unwrap_or_default()),
            guest,
            tree,
            paths,
            terminal: nix::unistd::isatty(0).unwrap_or(false) && nix::unistd::isatty(1).unwrap_or(false),
            layer_parent_on_overlayfs: crate::host::nested::on_overlayfs(Path::new(layers::DEFAULT_LAYER_PARENT)),
            host: HostTables::probe(s.property.as_deref().unwrap_or_default()),
            random_uuid,
            random_suffix: layers::name_suffix(),
        })
    }

    /// Inputs for unit tests: a tree at `root` with an os-release and
    /// systemd, no terminal, every absolute path a directory of that name.
    #[cfg(test)]
    pub fn made_up(root: &str) -> Inputs {
        let dirs = ["/etc", "/usr", "/tmp", "/srv", "/l1", "/l2", "/up"];
        Inputs {
            tree: TreeFacts {
                root: root.into(),
                has_os_release: true,
                init: Some(("/usr/lib/systemd/systemd".into(), InitKind::Systemd)),
                ..Default::default()
            },
            paths: dirs.iter().map(|d| (d.into(), PathFact::Found { canonical: d.into(), is_dir: true })).collect(),
            host: HostTables { memory: 8 << 30, tasks_ceiling: 4_194_304, ..Default::default() },
            random_uuid: "00000000-0000-4000-8000-000000000001".into(),
            random_suffix: "0badcafe".into(),
            ..Default::default()
        }
    }

    /// The fact about a path the user named (probed above).
    pub fn path(&self, p: &Path) -> PathFact {
        self.paths.get(p).cloned().unwrap_or_else(|| PathFact::Unusable("not looked at".into()))
    }
}

pub fn random_uuid() -> Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::sys("reading a random UUID from /proc/sys/kernel/random/uuid", e))
}

fn path_fact(p: &Path) -> PathFact {
    match std::fs::canonicalize(p) {
        Ok(canonical) => PathFact::Found { is_dir: canonical.is_dir(), canonical },
        Err(e) => PathFact::Unusable(e.to_string()),
    }
}

/// Finds the tree from `-D` or an image name, and what is in it.
fn probe_tree(s: &Settings) -> Result<TreeFacts> {
    let (root, copy_from) = resolve_root(s)?;
    let root_fd = open_root(copy_from.as_deref().unwrap_or(&root))?;
    let has_os_release =
        find_in_root(&root_fd, "/etc/os-release").is_some() || find_in_root(&root_fd, "/usr/lib/os-release").is_some();
    let init = INIT_CANDIDATES.iter().find_map(|c| {
        let target = find_in_root(&root_fd, c).filter(|t| is_executable(t))?;
        Some((PathBuf::from(c), init_kind(Path::new(c), &target)))
    });
    let immutable = copy_from.is_none() && crate::image::attr::is_immutable(&root).unwrap_or(false);
    Ok(TreeFacts { root, copy_from, has_os_release, init, immutable })
}

fn resolve_root(s: &Settings) -> Result<(PathBuf, Option<PathBuf>)> {
    let raw = match (&s.directory, s.image.as_deref()) {
        (Some(_), Some(img)) => {
            return Err(Error::Usage(format!("both -D and the image name '{img}' were given; pass only one")));
        }
        (Some(d), None) => match &s.template {
            Some(t) if !d.exists() => return Ok((absolute(d)?, Some(template(t)?))),
            _ => d.clone(),
        },
        (None, Some(img)) => {
            name::validate(img).map_err(|_| {
                Error::Usage(format!("'{img}' is not a valid image name; pass a directory with -D instead"))
            })?;
            let store = crate::image::Store::new(s.image_root.as_deref());
            let found = store.find(img).map_err(|e| Error::Usage(format!("{e}, or pass a directory with -D")))?;
            if found.kind == crate::image::Kind::Raw {
                return Err(crate::image::ImageError::Raw { name: img.into(), what: "boot or run" }.into());
            }
            found.path
        }
        (None, None) => {
            return Err(Error::Usage(format!(
                "no tree given; pass -D DIR or the NAME of an image in {}",
                s.image_root.as_deref().unwrap_or(Path::new(crate::image::IMAGE_ROOT)).display()
            )));
        }
    };
    let root = std::fs::canonicalize(&raw)
        .map_err(|e| Error::Usage(format!("cannot use tree {}: {}; check the path given with -D", raw.display(), e)))?;
    check_tree_path(&root)?;
    Ok((root, None))
}

fn check_tree_path(root: &Path) -> Result<()> {
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
    Ok(())
}

/// A tree still to be copied: its parent resolved, its name kept.
fn absolute(d: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(d).map_err(|e| Error::Usage(format!("cannot use tree {}: {e}", d.display())))?;
    match (abs.parent(), abs.file_name()) {
        (Some(p), Some(n)) => Ok(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).join(n)),
        _ => Err(Error::Usage(format!("cannot create tree {}; give a path below a directory", d.display()))),
    }
}

fn template(t: &Path) -> Result<PathBuf> {
    let t = std::fs::canonicalize(t)
        .map_err(|e| Error::Usage(format!("--template {}: {e}; give an existing tree to copy", t.display())))?;
    if !t.is_dir() {
        return Err(Error::Usage(format!("--template {} is not a directory", t.display())));
    }
    Ok(t)
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

/// Which init a candidate is, from what it resolves to.
pub fn init_kind(candidate: &Path, target: &Path) -> InitKind {
    match target.file_name().and_then(|n| n.to_str()) {
        Some("systemd") => InitKind::Systemd,
        Some(n) if n.starts_with("busybox") => InitKind::Busybox,
        Some("init") if candidate == Path::new("/sbin/init") => InitKind::SysV,
        _ => InitKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_kinds() {
        assert_eq!(init_kind(Path::new("/sbin/init"), Path::new("/t/lib/systemd/systemd")), InitKind::Systemd);
        assert_eq!(init_kind(Path::new("/sbin/init"), Path::new("/t/bin/busybox")), InitKind::Busybox);
        assert_eq!(init_kind(Path::new("/sbin/init"), Path::new("/t/sbin/init")), InitKind::SysV);
        assert_eq!(init_kind(Path::new("/sbin/init"), Path::new("/t/sbin/runit-init")), InitKind::Unknown);
    }

    #[test]
    fn a_tree_is_probed_without_changing_it() {
        let dir = std::env::temp_dir().join(format!("berth-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::create_dir_all(dir.join("sbin")).unwrap();
        std::fs::write(dir.join("etc/os-release"), "ID=t\n").unwrap();
        std::fs::write(dir.join("sbin/init"), "").unwrap();
        std::fs::set_permissions(dir.join("sbin/init"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = Settings { directory: Some(dir.clone()), ..Default::default() };
        let t = probe_tree(&s).unwrap();
        assert!(t.has_os_release);
        assert_eq!(t.init, Some((PathBuf::from("/sbin/init"), InitKind::SysV)));
        // A missing tree with a template: the template is looked at, the
        // copy waits for the start.
        let s = Settings { directory: Some(dir.join("new")), template: Some(dir.clone()), ..Default::default() };
        let t = probe_tree(&s).unwrap();
        assert_eq!((t.copy_from.as_deref(), t.has_os_release), (Some(dir.as_path()), true));
        assert!(!dir.join("new").exists());
        let s = Settings { directory: Some(dir.join("missing")), ..Default::default() };
        assert!(probe_tree(&s).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
