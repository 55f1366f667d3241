//! Applies the guest's mount list (`plan::mounts`). Every target is
//! resolved inside the tree (openat2 with RESOLVE_IN_ROOT) and mounted
//! through its descriptor, so a guest symlink can never redirect a mount
//! onto the host.

use crate::error::{Context, Error, Result};
use crate::ids::userns::Range;
use crate::plan::mounts::{Create, Entry, Phase, Source};
use crate::settings::config::BindIdmap;
use crate::sys;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// Applies the entries of one phase below `root`.
/// The guest's user namespace, for binds that ask for an idmap.
pub struct Idmapping<'a> {
    pub userns: &'a OwnedFd,
    pub range: Range,
}

/// Creates the mount points of `phase` ahead of time (the guest's root may
/// be read-only by then).
pub fn prepare_targets(entries: &[Entry], phase: Phase, root: &OwnedFd) -> Result<()> {
    for e in entries.iter().filter(|e| e.phase == phase) {
        let file = match e.create {
            Create::Dir => false,
            Create::File => true,
            Create::Skip => continue,
        };
        match sys::open_in_root(root, &e.target, libc::O_PATH, 0) {
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => drop(ensure(root, &e.target, file)?),
            Err(err) => return Err(Error::sys(format!("resolving {} inside the tree", e.target.display()), err)),
        }
    }
    Ok(())
}

pub fn apply(entries: &[Entry], phase: Phase, root: &OwnedFd) -> Result<()> {
    apply_idmapped(entries, phase, root, None)
}

pub fn apply_idmapped(entries: &[Entry], phase: Phase, root: &OwnedFd, idmap: Option<&Idmapping>) -> Result<()> {
    for e in entries.iter().filter(|e| e.phase == phase) {
        apply_one(e, root, idmap).map_err(|err| match err {
            Error::Sys { what, source } => Error::sys(format!("mounting {}: {}", e.target.display(), what), source),
            other => other,
        })?;
    }
    Ok(())
}

fn apply_one(e: &Entry, root: &OwnedFd, idmap: Option<&Idmapping>) -> Result<()> {
    let target = match sys::open_in_root(root, &e.target, libc::O_PATH, 0) {
        Ok(fd) => fd,
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => match e.create {
            Create::Skip => return Ok(()),
            Create::Dir => ensure(root, &e.target, false)?,
            Create::File => ensure(root, &e.target, true)?,
        },
        Err(err) => return Err(Error::sys("resolving the target inside the tree", err)),
    };
    let tpath = sys::fd_path(&target);
    match &e.source {
        Source::Fs(fstype) => match mount(Some(*fstype), tpath.as_str(), Some(*fstype), e.flags, e.data.as_deref()) {
            // In a user namespace that does not own the network namespace
            // (berth inside a machine sharing the host's network): the
            // same network's sysfs, bound read-only.
            Err(nix::Error::EPERM) if *fstype == "sysfs" && crate::host::nested::in_user_namespace() => {
                let bind = |rec: MsFlags| {
                    mount(Some("/sys"), tpath.as_str(), None::<&str>, MsFlags::MS_BIND | rec, None::<&str>)
                };
                let recursive = match bind(MsFlags::empty()) {
                    Err(nix::Error::EINVAL) => bind(MsFlags::MS_REC).map(|_| true),
                    r => r.map(|_| false),
                }
                .ctx(|| "binding the outer machine's /sys (a fresh sysfs is not permitted here)".to_string())?;
                tracing::debug!("{} is the outer machine's /sys, read-only", e.target.display());
                seal_read_only(root, &e.target, false, recursive)?;
            }
            Err(nix::Error::EPERM) if *fstype == "proc" && crate::host::nested::in_user_namespace() => {
                return Err(Error::Setup(
                    "the kernel refuses a fresh procfs here: the outer machine's /proc masks are locked; \
                     start the outer machine with --nesting (berth)"
                        .into(),
                ))
            }
            r => r.ctx(|| format!("mounting a fresh {fstype}"))?,
        },
        Source::Host(src, mode) if *mode != BindIdmap::None => {
            let m =
                idmap.ok_or_else(|| Error::Usage(format!("bind {}: idmap needs a user namespace", src.display())))?;
            // One owner shown as one guest id, every other id unmapped
            // (nobody): rootidmap's source owner as root, a bound user.
            let owner = match mode {
                BindIdmap::RootIdmap => {
                    let md = std::fs::metadata(src).ctx(|| format!("inspecting bind source {}", src.display()))?;
                    Some((md.uid(), md.gid(), 0))
                }
                BindIdmap::Owner { uid, gid, guest } => Some((*uid, *gid, *guest)),
                _ => None,
            };
            let tree = match owner {
                Some((uid, gid, guest)) => {
                    let host = m.range.host(guest);
                    let ns = crate::ids::userns::detached(&format!("{uid} {host} 1\n"), &format!("{gid} {host} 1\n"))
                        .ctx(|| format!("creating the user namespace for the idmap of {}", src.display()))?;
                    crate::ids::userns::idmapped_clone(src, &ns, 0)
                }
                None => crate::ids::userns::idmapped_clone(src, m.userns, 0),
            }
            .ctx(|| {
                format!("idmapping bind source {} (does its filesystem support idmapped mounts?)", src.display())
            })?;
            crate::ids::userns::move_mount(&tree, &target).ctx(|| format!("binding {}", src.display()))?;
        }
        Source::Host(src, _) => {
            use std::os::unix::fs::OpenOptionsExt;
            let s = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH).open(src);
            let s = s.ctx(|| format!("opening bind source {}", src.display()))?;
            let rec = if e.recursive { MsFlags::MS_REC } else { MsFlags::empty() };
            mount(Some(sys::fd_path(&s).as_str()), tpath.as_str(), None::<&str>, MsFlags::MS_BIND | rec, None::<&str>)
                .ctx(|| format!("binding {}", src.display()))?;
        }
        Source::Itself => {
            mount(Some(tpath.as_str()), tpath.as_str(), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .ctx(|| "binding onto itself".to_string())?;
            if !e.read_only {
                // A bind below a read-only mount starts read-only: a
                // writable hole (/proc/sys/net in the read-only /proc/sys).
                let top = sys::open_in_root(root, &e.target, libc::O_PATH, 0)
                    .ctx(|| "reopening the new mount".to_string())?;
                let flags = MsFlags::MS_REMOUNT
                    | MsFlags::MS_BIND
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC;
                mount(None::<&str>, sys::fd_path(&top).as_str(), None::<&str>, flags, None::<&str>)
                    .ctx(|| "making the mount writable".to_string())?;
            }
        }
        Source::Mask => {
            let is_dir = nix::sys::stat::fstat(target.as_raw_fd())
                .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                .ctx(|| "inspecting the file to mask".to_string())?;
            let node = if is_dir { "/run/host/inaccessible/dir" } else { "/run/host/inaccessible/reg" };
            let src = sys::open_in_root(root, Path::new(node), libc::O_PATH, 0).ctx(|| format!("opening {node}"))?;
            mount(Some(sys::fd_path(&src).as_str()), tpath.as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .ctx(|| "masking".to_string())?;
        }
    }
    if e.read_only {
        let exec = matches!(e.source, Source::Host(..));
        seal_read_only(root, &e.target, exec, e.recursive || e.source == Source::Itself)?;
    }
    Ok(())
}

/// Makes the mount just placed at `target` read-only, nosuid and nodev
/// (and noexec unless `exec`).
pub fn seal_read_only(root: &OwnedFd, target: &Path, exec: bool, recursive: bool) -> Result<()> {
    // Re-resolve: an older descriptor still names the covered mount.
    let top = sys::open_in_root(root, target, libc::O_PATH, 0)
        .ctx(|| format!("reopening the new mount at {}", target.display()))?;
    let attrs = sys::MOUNT_ATTR_RDONLY
        | sys::MOUNT_ATTR_NOSUID
        | sys::MOUNT_ATTR_NODEV
        | if exec { 0 } else { sys::MOUNT_ATTR_NOEXEC };
    sys::mount_setattr(&top, attrs, recursive).ctx(|| format!("making {} read-only", target.display()))
}

/// Creates the missing parts of `path` inside the tree (directories, and a
/// final empty file if `file`), never following a symlink out of it.
pub fn ensure(root: &OwnedFd, path: &Path, file: bool) -> Result<OwnedFd> {
    let comps: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut prefix = PathBuf::from("/");
    let mut parent = sys::open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening the tree's root".to_string())?;
    for (i, c) in comps.iter().enumerate() {
        prefix.push(c);
        let last = i + 1 == comps.len();
        match sys::open_in_root(root, &prefix, libc::O_PATH, 0) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(Error::sys(format!("resolving {}", prefix.display()), e)),
        }
        let create = || -> io::Result<()> {
            if last && file {
                let fd = nix::fcntl::openat(
                    Some(parent.as_raw_fd()),
                    *c,
                    nix::fcntl::OFlag::O_CREAT
                        | nix::fcntl::OFlag::O_EXCL
                        | nix::fcntl::OFlag::O_WRONLY
                        | nix::fcntl::OFlag::O_NOFOLLOW
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o644),
                )?;
                nix::unistd::close(fd)?;
                Ok(())
            } else {
                Ok(nix::sys::stat::mkdirat(Some(parent.as_raw_fd()), *c, Mode::from_bits_truncate(0o755))?)
            }
        };
        let made = match create() {
            // On an idmapped tree our own ids have no mapping: create the
            // mount point as the owner of its parent (as the guest sees it).
            Err(e) if e.raw_os_error() == Some(libc::EOVERFLOW) => {
                let st = nix::sys::stat::fstat(parent.as_raw_fd()).map_err(io::Error::from);
                st.and_then(|st| as_fs_ids(st.st_uid, st.st_gid, create))
            }
            other => other,
        };
        match made {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => {
                return Err(Error::sys(
                    format!("creating mount point {} in the tree (is it read-only?)", prefix.display()),
                    e,
                ))
            }
        }
        parent = sys::open_in_root(root, &prefix, libc::O_PATH, 0).ctx(|| format!("opening {}", prefix.display()))?;
    }
    Ok(parent)
}

/// Runs `f` with the filesystem ids set to `uid`/`gid`, then restores them.
fn as_fs_ids(uid: u32, gid: u32, f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    let old_gid = nix::unistd::setfsgid(nix::unistd::Gid::from_raw(gid));
    let old_uid = nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
    let r = f();
    nix::unistd::setfsuid(old_uid);
    nix::unistd::setfsgid(old_gid);
    r
}
