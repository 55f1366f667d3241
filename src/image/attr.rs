//! The read-only mark of an image: the immutable inode flag (`chattr +i`)
//! on its top directory or raw file, as machinectl sets it. Nothing, not
//! even root without CAP_LINUX_IMMUTABLE, can rename, remove or add entries
//! to it while the flag is set.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const FS_IMMUTABLE_FL: libc::c_int = 0x10;

fn open(path: &Path) -> io::Result<File> {
    // O_PATH descriptors cannot do ioctls; a plain read-only open can, for
    // directories and files alike, without following a final symlink.
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

fn get_flags(f: &File) -> io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: the kernel writes one int through the pointer.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

/// Whether `path` carries the immutable flag. Filesystems without inode
/// flags (tmpfs before 6.0, overlayfs) have none, so nothing is immutable.
pub fn is_immutable(path: &Path) -> io::Result<bool> {
    match get_flags(&open(path)?) {
        Ok(f) => Ok(f & FS_IMMUTABLE_FL != 0),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Sets or clears the immutable flag on `path` itself (not below it).
pub fn set_immutable(path: &Path, on: bool) -> io::Result<()> {
    let f = open(path)?;
    let old = get_flags(&f)?;
    let new = if on { old | FS_IMMUTABLE_FL } else { old & !FS_IMMUTABLE_FL };
    if new == old {
        return Ok(());
    }
    // SAFETY: the kernel reads one int through the pointer.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &new) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
