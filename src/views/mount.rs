//! Mounting the views, from the outer child (the container's mount
//! namespace, owned by the host's user namespace, so the binds are locked
//! below the guest): a FUSE filesystem on a staging directory in the
//! guest's /run, its descriptor handed to the launcher (which starts the
//! server), each file bound read-only over its /proc or /sys twin, then
//! the staging mount detached. The guest's init starts after all this.

use crate::sys;
use crate::views::{ViewsError, FILES};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Whether a machine gets views: `--proc-views`, and not where the /proc
/// masks are the guest's own (`--nesting` with a user namespace): locked
/// mounts over /proc files would keep a nested container from mounting
/// its own procfs.
pub fn wanted(proc_views: bool, masks_inside: bool) -> bool {
    proc_views && !masks_inside
}

/// Opens a FUSE connection for the machine, in the launcher: the outer
/// child lives in the guest's cgroup, whose device policy has no
/// /dev/fuse. `None`, having logged why, when this host offers no FUSE
/// (no /dev/fuse, as in a machine of berth's own): the guest then reads
/// the kernel's files.
pub fn open_device() -> Option<OwnedFd> {
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        Ok(f) => Some(f.into()),
        Err(e) => {
            tracing::info!("/proc views are off: opening /dev/fuse: {e}");
            None
        }
    }
}

/// Mounts the views of connection `fuse` below `root` (whose /proc is
/// mounted). `hand_over` passes the connection to the launcher; lookups
/// below block until its server answers.
pub fn mount_views(
    root: &OwnedFd,
    fuse: OwnedFd,
    hand_over: impl FnOnce(&OwnedFd) -> std::io::Result<()>,
) -> Result<bool, ViewsError> {
    let run = sys::open_in_root(root, Path::new("/run"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| ViewsError::sys("opening the guest's /run", e))?;
    let name = format!(".berth-views-{}", std::process::id());
    nix::sys::stat::mkdirat(Some(run.as_raw_fd()), name.as_str(), nix::sys::stat::Mode::from_bits_truncate(0o700))
        .map_err(|e| ViewsError::sys("creating the views' staging directory", e))?;
    let staging = format!("{}/{name}", sys::fd_path(&run));
    let res = mount_staged(root, &fuse, &staging, hand_over);
    let _ = umount2(staging.as_str(), MntFlags::MNT_DETACH);
    let _ = nix::unistd::unlinkat(Some(run.as_raw_fd()), name.as_str(), nix::unistd::UnlinkatFlags::RemoveDir);
    res
}

fn mount_staged(
    root: &OwnedFd,
    fuse: &OwnedFd,
    staging: &str,
    hand_over: impl FnOnce(&OwnedFd) -> std::io::Result<()>,
) -> Result<bool, ViewsError> {
    let data = format!("fd={},rootmode=40555,user_id=0,group_id=0,allow_other,default_permissions", fuse.as_raw_fd());
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
    if let Err(e) = mount(Some("berth"), staging, Some("fuse.berth"), flags, Some(data.as_str())) {
        tracing::info!("/proc views are off: mounting a FUSE filesystem: {e}");
        return Ok(false);
    }
    hand_over(fuse).map_err(|e| ViewsError::sys("handing the views to the launcher", e))?;
    for f in FILES {
        let target = match sys::open_in_root(root, Path::new(f.path()), libc::O_PATH, 0) {
            Ok(t) => t,
            // This kernel has no such file: nothing to cover.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(ViewsError::sys(format!("resolving {}", f.path()), e)),
        };
        let source = format!("{staging}/{}", f.name());
        mount(Some(source.as_str()), sys::fd_path(&target).as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| ViewsError::sys(format!("binding the view over {}", f.path()), e))?;
        let top = sys::open_in_root(root, Path::new(f.path()), libc::O_PATH, 0)
            .map_err(|e| ViewsError::sys(format!("reopening {}", f.path()), e))?;
        let attrs = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
        sys::mount_setattr(&top, attrs, false)
            .map_err(|e| ViewsError::sys(format!("making {} read-only", f.path()), e))?;
    }
    Ok(true)
}
