//! The guest's root as the outer child builds it: the tree itself (bound,
//! or idmapped onto the guest's id range), an overlay over it for -x and
//! --volatile=overlay, a tmpfs root carrying the tree's /usr for
//! --volatile=yes, a read-only root with a tmpfs /var for
//! --volatile=state, and the user's --overlay mounts.

use crate::error::{Context, Error, Result};
use crate::ids::userns::{self, Range};
use crate::settings::config::Config;
use crate::settings::layers::{OverlaySpec, Volatile};
use crate::{mount::apply, sys};
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What the outer child needs to build the root.
pub struct RootCtx<'a> {
    pub cfg: &'a Config,
    pub range: Option<Range>,
    /// Idmap the tree (and overlay lowers) through `userns`.
    pub idmap: bool,
    pub userns: Option<&'a OwnedFd>,
    /// The machine's layer directory on the host, when it has one.
    pub layer: Option<&'a Path>,
    /// Whether the -x upper layer lives on a tmpfs rather than on disk.
    pub upper_tmpfs: bool,
    /// Work directories the launcher made beside --overlay upper dirs.
    pub overlay_work: &'a [PathBuf],
}

impl RootCtx<'_> {
    fn shifted(&self, id: u32) -> u32 {
        match (self.range, self.idmap) {
            (Some(r), true) => r.host(id),
            _ => id,
        }
    }

    /// `uid=,gid=` for a tmpfs the guest's root should own.
    fn tmpfs_owner(&self) -> String {
        match self.range {
            Some(r) if r.base != 0 => format!(",uid={},gid={}", r.base, r.base),
            _ => String::new(),
        }
    }

    /// A detached copy of a host tree, idmapped when the tree is.
    fn clone_tree(&self, path: &Path) -> Result<OwnedFd> {
        match (self.userns, self.idmap) {
            (Some(ns), true) => userns::idmapped_clone(path, ns, 0).map_err(|e| {
                if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)) {
                    Error::Usage(format!(
                        "the filesystem of {} cannot be idmapped ({e}); use --private-users-ownership=chown, -U no, or a tree on ext4, xfs or btrfs",
                        path.display()
                    ))
                } else {
                    Error::sys(format!("idmapping {}", path.display()), e)
                }
            }),
            _ => userns::plain_clone(path).ctx(|| format!("cloning the mount tree of {}", path.display())),
        }
    }

    fn stage(&self) -> Result<PathBuf> {
        self.layer.map(|l| l.join("stage")).ok_or_else(|| Error::Setup("no layer directory for an overlay".into()))
    }
}

fn attach(tree: &OwnedFd, target: &Path) -> Result<()> {
    let t = std::fs::File::open(target).ctx(|| format!("opening {}", target.display()))?;
    userns::move_mount(tree, &t).ctx(|| format!("mounting onto {}", target.display()))
}

fn mkdir_owned(p: &Path, owner: (u32, u32), mode: u32) -> Result<()> {
    std::fs::create_dir(p).ctx(|| format!("creating {}", p.display()))?;
    nix::unistd::chown(p, Some(nix::unistd::Uid::from_raw(owner.0)), Some(nix::unistd::Gid::from_raw(owner.1)))
        .ctx(|| format!("owning {}", p.display()))?;
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777))
        .ctx(|| format!("setting the mode of {}", p.display()))
}

fn mount_overlay(target: &str, lowers: &[PathBuf], upper: Option<(&Path, &Path)>, volatile: bool) -> nix::Result<()> {
    let lower = lowers.iter().map(|l| l.display().to_string()).collect::<Vec<_>>().join(":");
    let mut data = format!("lowerdir={lower}");
    if let Some((u, w)) = upper {
        data.push_str(&format!(",upperdir={},workdir={}", u.display(), w.display()));
        if volatile {
            data.push_str(",volatile");
        }
    }
    mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(data.as_str()))
}

/// Mounts the guest's root at the tree's own path in the outer mount
/// namespace, and returns a descriptor of it.
pub fn mount_root(ctx: &RootCtx) -> Result<OwnedFd> {
    let cfg = ctx.cfg;
    let root_path = &cfg.root;
    if ctx.layer.is_some() {
        let stage = ctx.stage()?;
        mount(Some("tmpfs"), &stage, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0700"))
            .ctx(|| format!("mounting the staging tmpfs on {}", stage.display()))?;
    }
    let tree_md = std::fs::metadata(root_path).ctx(|| format!("inspecting {}", root_path.display()))?;
    let owner = (ctx.shifted(tree_md.uid()), ctx.shifted(tree_md.gid()));
    if cfg.volatile == Volatile::Yes {
        // Only /usr comes from the tree; everything else starts empty.
        let usr = ctx.clone_tree(&root_path.join("usr"))?;
        let opts = format!("mode=0755{}", ctx.tmpfs_owner());
        // No nosuid/nodev here: the guest's init remounts files of its
        // root (e.g. /etc/machine-id) and could not drop locked flags.
        mount(Some("tmpfs"), root_path, Some("tmpfs"), MsFlags::MS_STRICTATIME, Some(opts.as_str()))
            .ctx(|| "mounting the volatile root".into())?;
        std::fs::create_dir(root_path.join("usr")).ctx(|| "creating /usr on the volatile root".into())?;
        attach(&usr, &root_path.join("usr"))?;
        let u = std::fs::File::open(root_path.join("usr")).ctx(|| "opening /usr".into())?;
        sys::mount_setattr(&u, sys::MOUNT_ATTR_RDONLY, true).ctx(|| "making /usr read-only".into())?;
        // The top-level directories an init expects before its own
        // tmpfiles run (machine-id-commit syncs /var, for one).
        for (d, mode) in
            [("etc", 0o755), ("var", 0o755), ("root", 0o700), ("home", 0o755), ("srv", 0o755), ("mnt", 0o755)]
        {
            mkdir_owned(&root_path.join(d), owner, mode)?;
        }
        // The usual merged-/usr links, so the guest finds its binaries.
        for l in ["bin", "sbin", "lib", "lib64", "lib32", "libx32"] {
            if std::fs::symlink_metadata(root_path.join("usr").join(l)).is_ok() {
                let _ = std::os::unix::fs::symlink(format!("usr/{l}"), root_path.join(l));
            }
        }
    } else {
        let tree = ctx.clone_tree(root_path)?;
        attach(&tree, root_path)?;
    }
    if cfg.ephemeral || cfg.volatile == Volatile::Overlay {
        let (upper, work) = if ctx.upper_tmpfs || cfg.volatile == Volatile::Overlay {
            let stage = ctx.stage()?;
            let (u, w) = (stage.join("upper"), stage.join("work"));
            mkdir_owned(&u, owner, tree_md.mode())?;
            std::fs::create_dir(&w).ctx(|| "creating the overlay work directory".into())?;
            (u, w)
        } else {
            let l = ctx.layer.ok_or_else(|| Error::Setup("no layer directory for -x".into()))?;
            (l.join("upper"), l.join("work"))
        };
        mount_overlay(&root_path.display().to_string(), std::slice::from_ref(root_path), Some((&upper, &work)), true).map_err(|e| {
            Error::Usage(format!(
                "cannot mount an overlay on the tree {} ({e}); overlayfs may not support its filesystem: copy the tree to ext4, xfs or btrfs",
                root_path.display()
            ))
        })?;
    }
    let root: OwnedFd = std::fs::File::open(root_path).ctx(|| format!("opening {}", root_path.display()))?.into();
    if cfg.read_only || cfg.volatile == Volatile::State {
        sys::mount_setattr(&root, sys::MOUNT_ATTR_RDONLY, true).ctx(|| "making the tree read-only".into())?;
    }
    if cfg.volatile == Volatile::State {
        let var = apply::ensure(&root, Path::new("/var"), false)?;
        let opts = format!("mode=0755{}", ctx.tmpfs_owner());
        mount(
            Some("tmpfs"),
            sys::fd_path(&var).as_str(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(opts.as_str()),
        )
        .ctx(|| "mounting the volatile /var".into())?;
    }
    Ok(root)
}

/// A disk upper directory is the overlay's root as the guest sees it: an
/// empty one still owned by the host (as `mkdir` left it) is handed to
/// the guest's ids, like the top layer's root, or the guest's root could
/// not write there. One with content is left alone, with a warning when
/// its owner is not the guest's.
fn own_upper(ctx: &RootCtx, upper: &Path, top: &Path) -> Result<()> {
    let md = std::fs::metadata(top).ctx(|| format!("inspecting {}", top.display()))?;
    let want = (ctx.shifted(md.uid()), ctx.shifted(md.gid()));
    let up = std::fs::metadata(upper).ctx(|| format!("inspecting {}", upper.display()))?;
    if (up.uid(), up.gid()) == want {
        return Ok(());
    }
    let empty = std::fs::read_dir(upper).ctx(|| format!("reading {}", upper.display()))?.next().is_none();
    if !empty {
        tracing::warn!(
            "the overlay's upper directory {} is owned by host uid {}, not the guest's {}: the guest may not write to it; chown it or start from an empty directory",
            upper.display(),
            up.uid(),
            want.0
        );
        return Ok(());
    }
    nix::unistd::chown(upper, Some(nix::unistd::Uid::from_raw(want.0)), Some(nix::unistd::Gid::from_raw(want.1)))
        .ctx(|| format!("handing {} to the guest's ids", upper.display()))
}

/// The user's --overlay and --overlay-ro mounts.
pub fn mount_overlays(ctx: &RootCtx, root: &OwnedFd) -> Result<()> {
    for (i, spec) in ctx.cfg.overlays.iter().enumerate() {
        mount_one_overlay(ctx, root, i, spec)
            .map_err(|e| Error::Setup(format!("overlay at {}: {e}", spec.dest.display())))?;
    }
    Ok(())
}

fn mount_one_overlay(ctx: &RootCtx, root: &OwnedFd, i: usize, spec: &OverlaySpec) -> Result<()> {
    let stage = ctx.stage()?.join(format!("ovl-{i}"));
    std::fs::create_dir(&stage).ctx(|| format!("creating {}", stage.display()))?;
    // Layers appear to the guest with its own ids when the tree does.
    let mut lowers = Vec::new();
    for (j, l) in spec.lowers.iter().enumerate() {
        if ctx.idmap {
            let p = stage.join(format!("lower-{j}"));
            std::fs::create_dir(&p).ctx(|| format!("creating {}", p.display()))?;
            attach(&ctx.clone_tree(l)?, &p)?;
            lowers.push(p);
        } else {
            lowers.push(l.clone());
        }
    }
    // overlayfs lists the top layer first; users list bottom-up like nspawn.
    lowers.reverse();
    let upper = match &spec.upper {
        None => None,
        Some(u) if u.as_os_str().is_empty() => {
            let (up, w) = (stage.join("upper"), stage.join("work"));
            let md =
                std::fs::metadata(&spec.lowers[spec.lowers.len() - 1]).ctx(|| "inspecting the top layer".into())?;
            mkdir_owned(&up, (ctx.shifted(md.uid()), ctx.shifted(md.gid())), md.mode())?;
            std::fs::create_dir(&w).ctx(|| "creating the work directory".into())?;
            Some((up, w))
        }
        Some(u) => {
            let w = ctx.overlay_work.get(i).cloned().ok_or_else(|| Error::Setup("no work directory".into()))?;
            // A disk upper is written with the guest's own (shifted) ids;
            // overlayfs refuses idmapped upper layers.
            own_upper(ctx, u, &spec.lowers[spec.lowers.len() - 1])?;
            Some((u.clone(), w))
        }
    };
    let target = apply::ensure(root, &spec.dest, false)?;
    mount_overlay(&sys::fd_path(&target), &lowers, upper.as_ref().map(|(u, w)| (u.as_path(), w.as_path())), false)
        .ctx(|| "mounting overlayfs".into())?;
    if spec.read_only {
        let top = sys::open_in_root(root, &spec.dest, libc::O_PATH, 0).ctx(|| "reopening the overlay".into())?;
        sys::mount_setattr(&top, sys::MOUNT_ATTR_RDONLY, false).ctx(|| "making it read-only".into())?;
    }
    let _ = target.as_raw_fd();
    Ok(())
}
