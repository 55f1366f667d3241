//! Which private subnets berth's machines hold: one lock file per subnet
//! under /run/berth/net, held (flock) by the launcher that uses it. A
//! file nobody holds is free and is removed by the clean-up.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::plan::Net4;

/// Where the locks of the subnets in use live.
pub const LOCK_DIR: &str = "/run/berth/net";

/// The lock file of subnet `n`.
pub fn lock_path(n: &Net4) -> PathBuf {
    Path::new(LOCK_DIR).join(format!("{}-{}.lock", n.addr, n.prefix))
}

/// A subnet held by this process while the value lives.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

fn try_lock(path: &Path) -> io::Result<File> {
    lock(path, libc::LOCK_EX | libc::LOCK_NB)
}

/// Opens (creating) and flocks `path` with `op` (LOCK_EX or LOCK_SH, with
/// LOCK_NB or not). A file removed meanwhile is opened again.
pub fn lock(path: &Path, op: libc::c_int) -> io::Result<File> {
    loop {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        // SAFETY: flock on our own descriptor.
        if unsafe { libc::flock(f.as_raw_fd(), op) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // Removed between our open and our lock: that lock holds nothing.
        if f.metadata()?.nlink() > 0 {
            return Ok(f);
        }
    }
}

/// Takes subnet `n` if no other machine holds it.
pub fn hold(n: &Net4) -> io::Result<Held> {
    fs::create_dir_all(LOCK_DIR)?;
    try_lock(&lock_path(n)).map(|f| Held { _file: f })
}

/// Holds subnet `n` together with other members of a zone (a shared
/// lock: no new subnet of berth's takes it while one member runs).
pub fn hold_shared(n: &Net4) -> io::Result<Held> {
    fs::create_dir_all(LOCK_DIR)?;
    lock(&lock_path(n), libc::LOCK_SH | libc::LOCK_NB).map(|f| Held { _file: f })
}

impl Held {
    /// Turns an exclusive hold into a shared one (the zone's first
    /// member, once the subnet is on its bridge).
    pub fn share(&self) {
        // SAFETY: flock on our own descriptor.
        unsafe { libc::flock(self._file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    }
}

/// Removes a subnet's lock file nobody holds; whether it did.
pub fn release_if_unheld(path: &Path) -> bool {
    match try_lock(path) {
        Ok(_f) => fs::remove_file(path).is_ok(),
        Err(_) => false,
    }
}
