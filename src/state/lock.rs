//! Lock files with open-file-description locks, the same kind and paths
//! systemd-nspawn uses, so berth and nspawn never run one tree at once.
//! A lock file is unlinked by whoever releases it last; a holder that finds
//! its file unlinked under it retries.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const NSPAWN_LOCK_DIR: &str = "/run/systemd/nspawn/locks";
pub const NAME_LOCK_DIR: &str = "/run/berth/locks";

#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    file: File,
}

fn ofd_lock(file: &File, exclusive: bool) -> io::Result<()> {
    // SAFETY: zeroed flock is a valid "whole file" request once typed.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = if exclusive { libc::F_WRLCK } else { libc::F_RDLCK } as i16;
    fl.l_whence = libc::SEEK_SET as i16;
    // SAFETY: valid fd and flock.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl LockFile {
    /// Takes the lock without waiting; `WouldBlock` when somebody holds it.
    pub fn acquire(path: &Path, exclusive: bool) -> io::Result<LockFile> {
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY)
                .open(path)?;
            if let Err(e) = ofd_lock(&file, exclusive) {
                return Err(match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EACCES) => io::Error::from(io::ErrorKind::WouldBlock),
                    _ => e,
                });
            }
            // The previous holder may have unlinked the file between our
            // open and our lock; then this lock protects nothing.
            if file.metadata()?.nlink() > 0 {
                return Ok(LockFile { path: path.to_path_buf(), file });
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Remove the file only if nobody else holds it (upgrading a shared
        // lock succeeds only then).
        if ofd_lock(&self.file, true).is_ok() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Removes a lock file nobody holds (used by clean-up after a dead launcher).
pub fn remove_if_unheld(path: &Path) -> bool {
    match LockFile::acquire(path, true) {
        Ok(l) => {
            drop(l);
            true
        }
        Err(_) => false,
    }
}

/// The two lock paths nspawn uses for a directory tree: one beside it
/// (`.#NAME.lck`), one in /run keyed by device and inode.
pub fn tree_lock_paths(tree: &Path) -> io::Result<(Option<PathBuf>, PathBuf)> {
    let md = fs::metadata(tree)?;
    let global = PathBuf::from(format!("{NSPAWN_LOCK_DIR}/inode-{}:{}", md.dev(), md.ino()));
    let local = match (tree.parent(), tree.file_name()) {
        (Some(parent), Some(base)) => {
            let mut n = std::ffi::OsString::from(".#");
            n.push(base);
            n.push(".lck");
            Some(parent.join(n))
        }
        _ => None,
    };
    Ok((local, global))
}

/// Locks held for one tree.
#[derive(Debug)]
pub struct TreeLock {
    pub _local: Option<LockFile>,
    pub _global: LockFile,
}

pub fn lock_tree(tree: &Path, exclusive: bool) -> io::Result<TreeLock> {
    let (local, global) = tree_lock_paths(tree)?;
    fs::create_dir_all(NSPAWN_LOCK_DIR)?;
    let global = LockFile::acquire(&global, exclusive)?;
    let local = match local {
        Some(p) => match LockFile::acquire(&p, exclusive) {
            Ok(l) => Some(l),
            // A tree on a read-only or foreign-owned parent: the global lock
            // still guards it on this host.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(TreeLock { _local: local, _global: global })
}

pub fn name_lock_path(name: &str) -> PathBuf {
    PathBuf::from(format!("{NAME_LOCK_DIR}/{name}.lock"))
}

pub fn lock_name(name: &str) -> io::Result<LockFile> {
    fs::create_dir_all(NAME_LOCK_DIR)?;
    LockFile::acquire(&name_lock_path(name), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_and_shared_semantics() {
        let dir = std::env::temp_dir().join(format!("berth-lock-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.lck");
        let a = LockFile::acquire(&p, false).unwrap();
        let b = LockFile::acquire(&p, false).unwrap();
        assert_eq!(LockFile::acquire(&p, true).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(a);
        assert!(p.exists(), "a shared holder remains, so the file stays");
        drop(b);
        assert!(!p.exists(), "the last holder removes the file");
        let c = LockFile::acquire(&p, true).unwrap();
        assert_eq!(LockFile::acquire(&p, false).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(c);
        assert!(remove_if_unheld(&p));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nspawn_lock_paths() {
        let (local, global) = tree_lock_paths(Path::new("/tmp")).unwrap();
        assert_eq!(local.unwrap(), PathBuf::from("/.#tmp.lck"));
        assert!(global.to_str().unwrap().starts_with("/run/systemd/nspawn/locks/inode-"));
    }
}
