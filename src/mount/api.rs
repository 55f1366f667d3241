//! The API filesystems the outer child mounts in the guest's tree: a
//! check that their mount points are plain directories, the console's
//! pty pair, /proc (with its masks) and a fresh boot id.

use crate::error::{Context, Error, Result};
use crate::mount::apply;
use crate::plan::mounts::{Entry, Phase};
use crate::sys;
use nix::mount::{mount, MsFlags};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// A tree whose API directories are symlinks or not directories could
/// redirect our mounts; refuse it rather than follow.
pub fn refuse_odd_api_dirs(root: &OwnedFd) -> Result<()> {
    for d in ["proc", "sys", "dev", "run", "tmp"] {
        match nix::sys::stat::fstatat(Some(root.as_raw_fd()), d, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
            Ok(_) => {
                return Err(Error::Usage(format!(
                    "the tree's /{d} is a symlink or not a directory; refusing to mount over it (replace it with an empty directory)"
                )))
            }
            Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(Error::sys(format!("inspecting /{d} of the tree"), e)),
        }
    }
    Ok(())
}

pub fn open_pty(root: &OwnedFd) -> Result<(OwnedFd, OwnedFd)> {
    let ptmx = sys::open_in_root(root, Path::new("/dev/pts/ptmx"), libc::O_RDWR | libc::O_NOCTTY, 0)
        .ctx(|| "opening the guest's /dev/pts/ptmx".into())?;
    // SAFETY: unlockpt/TIOCGPTN on a ptmx descriptor.
    let n = unsafe {
        if libc::unlockpt(ptmx.as_raw_fd()) < 0 {
            return Err(Error::sys("unlocking the console pty", std::io::Error::last_os_error()));
        }
        let mut n: libc::c_int = 0;
        if libc::ioctl(ptmx.as_raw_fd(), libc::TIOCGPTN, &mut n) < 0 {
            return Err(Error::sys("naming the console pty", std::io::Error::last_os_error()));
        }
        n
    };
    let slave = sys::open_in_root(root, Path::new(&format!("/dev/pts/{n}")), libc::O_RDWR | libc::O_NOCTTY, 0)
        .ctx(|| "opening the console pty".into())?;
    Ok((ptmx, slave))
}

pub fn mount_proc(root: &OwnedFd, boot_id: &str, mounts: &[Entry], masks_inside: bool) -> Result<()> {
    apply::apply(mounts, Phase::Proc, root)?;
    if masks_inside {
        // The guest mounts it with the other masks.
        return Ok(());
    }
    mount_boot_id(root, boot_id)
}

pub fn mount_boot_id(root: &OwnedFd, boot_id: &str) -> Result<()> {
    // A fresh boot id: a file on the guest's /run, bound over the kernel's
    // and unlinked, so only the mount keeps it.
    let run = sys::open_in_root(root, Path::new("/run"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening /run".into())?;
    let name = format!(".berth-boot-id-{}", std::process::id());
    let fd = nix::fcntl::openat(
        Some(run.as_raw_fd()),
        name.as_str(),
        nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_EXCL
            | nix::fcntl::OFlag::O_WRONLY
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o444),
    )
    .ctx(|| "creating the boot id file".into())?;
    // SAFETY: fresh descriptor.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let res = (|| {
        f.write_all(format!("{boot_id}\n").as_bytes()).ctx(|| "writing the boot id".into())?;
        let target = sys::open_in_root(root, Path::new("/proc/sys/kernel/random/boot_id"), libc::O_PATH, 0)
            .ctx(|| "opening /proc/sys/kernel/random/boot_id".into())?;
        mount(
            Some(sys::fd_path(&f).as_str()),
            sys::fd_path(&target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| "mounting a fresh /proc/sys/kernel/random/boot_id".into())?;
        apply::seal_read_only(root, Path::new("/proc/sys/kernel/random/boot_id"), false, false)
    })();
    let _ = nix::unistd::unlinkat(Some(run.as_raw_fd()), name.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
    res
}
