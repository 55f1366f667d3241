//! `berth bind NAME SRC [DST] [--read-only] [--mkdir]`: a host path
//! mounted into a running machine.
//!
//! The host path is cloned as a detached mount (open_tree), idmapped
//! through the guest's user namespace (host root's files appear as the
//! guest's root) and made read-only if asked, then attached at DST in the
//! guest's mount namespace with move_mount. No propagation through
//! /run/host/incoming: on a host with private mounts it never arrives.
//!
//! A read-only bind must stay read-only: the guest's root owns its mount
//! namespace and could remount a plain bind read-write. So the clone
//! passes through a mount namespace owned by the guest's user namespace
//! first, where the kernel locks its read-only flag (as it does for the
//! mounts of any namespace copied into a less privileged user namespace),
//! and that locked copy is what gets attached.

use crate::error::{Context, Error, Result};
use crate::live::copy::FsCreds;
use crate::live::guest::{guest_path, Guest};
use crate::state::machine::Machine;
use crate::{ids::userns, sys};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// Mounts host `src` at `dst` (default: the same path) in the machine.
pub fn bind(m: &Machine, src: &Path, dst: Option<&Path>, read_only: bool, mkdir: bool) -> Result<()> {
    let g = Guest::open(m)?;
    let dst = guest_path(&g.name, dst.unwrap_or(src))?;
    let src = std::fs::canonicalize(src).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => Error::Usage(format!("{} does not exist on the host", src.display())),
        _ => Error::sys(format!("resolving {} on the host", src.display()), e),
    })?;
    let is_dir = std::fs::metadata(&src).ctx(|| format!("reading {}", src.display()))?.is_dir();
    let mut created = Created::default();
    let result = (|| {
        let target = target(&g, &dst, is_dir, mkdir, &mut created)?;
        let tree = clone_tree(&g, &src, read_only)?;
        attach(&g, tree, &target, is_dir, read_only).map_err(|e| {
            Error::Setup(format!("mounting {} at {} in machine {}: {e}", src.display(), dst.display(), g.name))
        })
    })();
    if result.is_err() {
        created.undo(&g);
    }
    result
}

/// What --mkdir made, removed again when the mount fails.
#[derive(Default)]
struct Created(Vec<(OwnedFd, PathBuf)>);

impl Created {
    fn undo(&mut self, g: &Guest) {
        let _creds = FsCreds::become_(g.uids.to_host(0).unwrap_or(0), g.gids.to_host(0).unwrap_or(0));
        while let Some((parent, name)) = self.0.pop() {
            let flag = match nix::sys::stat::fstatat(
                Some(parent.as_raw_fd()),
                &name,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => nix::unistd::UnlinkatFlags::RemoveDir,
                _ => nix::unistd::UnlinkatFlags::NoRemoveDir,
            };
            let _ = nix::unistd::unlinkat(Some(parent.as_raw_fd()), &name, flag);
        }
    }
}

/// Opens DST in the guest (an O_PATH descriptor in its mount namespace),
/// creating it and its missing parents with `mkdir`, as the guest's root.
fn target(g: &Guest, dst: &Path, is_dir: bool, mkdir: bool, created: &mut Created) -> Result<OwnedFd> {
    let place = format!("in machine {}", g.name);
    match sys::open_in_root(&g.root, dst, libc::O_PATH, 0) {
        Ok(fd) => {
            let st = nix::sys::stat::fstat(fd.as_raw_fd()).ctx(|| format!("reading {} {place}", dst.display()))?;
            let dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if dir != is_dir {
                let (what, want) =
                    if is_dir { ("is not a directory", "a directory") } else { ("is a directory", "a file") };
                return Err(Error::Usage(format!(
                    "{} {place} {what}; give {want} to mount the source on",
                    dst.display()
                )));
            }
            return Ok(fd);
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && mkdir => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            return Err(Error::Usage(format!("{} does not exist {place}; create it or pass --mkdir", dst.display())))
        }
        Err(e) => return Err(Error::sys(format!("opening {} {place}", dst.display()), e)),
    }
    let _creds = FsCreds::become_(g.uids.to_host(0).unwrap_or(0), g.gids.to_host(0).unwrap_or(0))?;
    let names: Vec<&std::ffi::OsStr> = dst
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    if dst.components().any(|c| c == Component::ParentDir) {
        return Err(Error::Usage(format!("{} {place} contains '..'; give a plain path with --mkdir", dst.display())));
    }
    let mut dir = sys::open_in_root(&g.root, Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| format!("opening the root of machine {}", g.name))?;
    let mut so_far = PathBuf::from("/");
    for (i, n) in names.iter().enumerate() {
        so_far.push(n);
        let last = i + 1 == names.len();
        let fd = match sys::open_in_root(&g.root, &so_far, libc::O_PATH, 0) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let made = if last && !is_dir {
                    nix::fcntl::openat(
                        Some(dir.as_raw_fd()),
                        *n,
                        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
                        Mode::from_bits_truncate(0o644),
                    )
                    // SAFETY: a fresh descriptor, closed at once.
                    .map(|fd| drop(unsafe { OwnedFd::from_raw_fd(fd) }))
                } else {
                    nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), *n, Mode::from_bits_truncate(0o755))
                };
                made.ctx(|| format!("creating {} {place}", so_far.display()))?;
                created.0.push((dir.try_clone().ctx(|| "duplicating a descriptor".into())?, PathBuf::from(n)));
                sys::open_in_root(&g.root, &so_far, libc::O_PATH, 0)
                    .ctx(|| format!("opening {} {place}", so_far.display()))?
            }
            Err(e) => return Err(Error::sys(format!("opening {} {place}", so_far.display()), e)),
        };
        dir = fd;
    }
    Ok(dir)
}

/// The host path as a detached mount, idmapped into the guest's user
/// namespace and read-only as asked.
fn clone_tree(g: &Guest, src: &Path, read_only: bool) -> Result<OwnedFd> {
    let tree = sys::open_tree(libc::AT_FDCWD, &sys::cstr(src).ctx(|| format!("naming {}", src.display()))?, false)
        .ctx(|| format!("cloning {} for a mount", src.display()))?;
    let ro = if read_only { sys::MOUNT_ATTR_RDONLY } else { 0 };
    let ns = |p: String| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).ok();
    if ns(format!("/proc/{}/ns/user", g.leader)) != ns("/proc/self/ns/user".into()) {
        let userns = std::fs::File::open(format!("/proc/{}/ns/user", g.leader))
            .ctx(|| format!("opening the user namespace of machine {}", g.name))?;
        sys::mount_setattr_idmapped(&tree, ro, Some(userns.as_raw_fd()), false).map_err(|e| {
            Error::Setup(format!(
                "cannot idmap {} into machine {}: {e} (its filesystem may not support idmapped mounts)",
                src.display(),
                g.name
            ))
        })?;
    } else if read_only {
        sys::mount_setattr(&tree, ro, false).ctx(|| format!("making the mount of {} read-only", src.display()))?;
    }
    Ok(tree)
}

/// Attaches `tree` at `target` in the guest's mount namespace, from a
/// child process (setns needs a single-threaded process, and the host's
/// berth keeps its own namespaces).
fn attach(
    g: &Guest,
    tree: OwnedFd,
    target: &OwnedFd,
    is_dir: bool,
    read_only: bool,
) -> std::result::Result<(), String> {
    let userns = std::fs::File::open(format!("/proc/{}/ns/user", g.leader)).map_err(|e| e.to_string())?;
    // Opened here, with the host's privileges: from inside the guest's user
    // namespace a leader that is not yet dumpable could not be joined.
    let mntns = std::fs::File::open(format!("/proc/{}/ns/mnt", g.leader)).map_err(|e| e.to_string())?;
    let own_userns = std::fs::metadata("/proc/self/ns/user").ok().map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let guest_userns = userns.metadata().ok().map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let lock = read_only && own_userns != guest_userns;
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    // SAFETY: berth is single-threaded here; the child only makes
    // syscalls and exits.
    match unsafe { sys::clone3(0, None, false) } {
        Err(e) => Err(format!("starting the mount helper: {e}")),
        Ok(None) => {
            drop(r);
            sys::set_name("berth-bind");
            let res = in_child(tree, target, &userns, &mntns, is_dir, lock);
            let code = match res {
                Ok(()) => 0,
                Err(msg) => {
                    let _ = std::fs::File::from(w).write_all(msg.as_bytes());
                    1
                }
            };
            // SAFETY: leave without the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(Some(c)) => {
            drop(w);
            let mut msg = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut msg);
            let st = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(c.pid), None);
            match st {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                _ if !msg.is_empty() => Err(msg),
                other => Err(format!("the mount helper failed: {other:?}")),
            }
        }
    }
}

fn in_child(
    tree: OwnedFd,
    target: &OwnedFd,
    userns: &std::fs::File,
    mntns: &std::fs::File,
    is_dir: bool,
    lock: bool,
) -> std::result::Result<(), String> {
    let e = |what: &'static str| move |err: nix::Error| format!("{what}: {}", err.desc());
    let tree = if lock { locked_copy(tree, userns, is_dir)? } else { tree };
    nix::sched::setns(mntns, CloneFlags::CLONE_NEWNS).map_err(e("joining the machine's mount namespace"))?;
    userns::move_mount(&tree, target).map_err(|err| err.to_string())
}

/// Passes the detached mount through a mount namespace owned by the
/// guest's user namespace, which locks its read-only flag, and returns a
/// detached copy of it made there.
fn locked_copy(tree: OwnedFd, userns: &std::fs::File, is_dir: bool) -> std::result::Result<OwnedFd, String> {
    use nix::mount::{mount, MsFlags};
    let e = |what: &'static str| move |err: nix::Error| format!("{what}: {}", err.desc());
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(e("creating a private mount namespace"))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(e("making the private mount namespace private"))?;
    // A scratch tmpfs in this private namespace only, to hang the mount on
    // where the guest's user namespace can reach it.
    mount(Some("tmpfs"), "/tmp", Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755"))
        .map_err(e("mounting a scratch tmpfs"))?;
    nix::unistd::chdir("/tmp").map_err(e("entering the scratch tmpfs"))?;
    if is_dir {
        nix::unistd::mkdir("b", Mode::from_bits_truncate(0o755)).map_err(e("creating a mount point"))?;
    } else {
        std::fs::File::create("b").map_err(|err| format!("creating a mount point: {err}"))?;
    }
    let point = std::fs::File::open("b").map_err(|err| format!("opening the mount point: {err}"))?;
    userns::move_mount(&tree, &point).map_err(|err| format!("attaching the mount: {err}"))?;
    drop(point);
    nix::sched::setns(userns, CloneFlags::CLONE_NEWUSER).map_err(e("joining the machine's user namespace"))?;
    // The copy into a namespace owned by a less privileged user namespace
    // locks the flags; the working directory follows into the copy.
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(e("creating a mount namespace for the machine"))?;
    sys::open_tree(libc::AT_FDCWD, c"b", false).map_err(|err| format!("copying the locked mount: {err}"))
}
