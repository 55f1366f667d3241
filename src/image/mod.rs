//! The image store: trees (and raw disk files) under `/var/lib/machines`,
//! or another `--image-root`. Every verb that creates an image builds it
//! under a hidden temporary name in the same directory and renames it into
//! place only when it is complete, so an image either exists whole or not
//! at all, and a failure leaves nothing behind.

pub mod attr;
pub mod ops;
pub mod pull;
pub mod table;
pub mod tar;
pub mod tool;

use crate::settings::name;
use crate::state::lock::{self, TreeLock};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use thiserror::Error;

/// The image store machinectl and nspawn use.
pub const IMAGE_ROOT: &str = "/var/lib/machines";

/// Names of temporary entries: `~` never occurs in a machine name, so they
/// can never be mistaken for an image or its `.#NAME.lck` lock file.
const TEMP_PREFIX: &str = ".#berth~";

#[derive(Debug, Error)]
pub enum ImageError {
    #[error("no image '{name}' in {root}; see 'berth images'")]
    NotFound { name: String, root: String },
    #[error("an image '{name}' already exists in {root}; remove it or pick another name")]
    Exists { name: String, root: String },
    #[error("image name '{0}' is invalid: use letters, digits, '-' and '.', at most 64 characters, with no empty label and no label starting or ending in '-'")]
    BadName(String),
    #[error("image '{0}' is read-only; make it writable first with 'berth read-only {0} false'")]
    ReadOnly(String),
    #[error("image '{0}' is in use by a running machine; stop that machine first")]
    Running(String),
    #[error("image '{name}' is a raw disk image; berth can only {what} directory images")]
    Raw { name: String, what: &'static str },
    #[error("{0}")]
    Refused(String),
    #[error("{tool} is not installed; install it with apt-get install {package}")]
    MissingTool { tool: String, package: String },
    #[error("{what}: {detail}")]
    Failed { what: String, detail: String },
    #[error("interrupted; removed the unfinished {0}")]
    Interrupted(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
}

pub type Result<T> = std::result::Result<T, ImageError>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
    let what = what.into();
    move |source| ImageError::Io { what, source }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    Subvolume,
    Raw,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Directory => "directory",
            Kind::Subvolume => "subvolume",
            Kind::Raw => "raw",
        }
    }
}

/// One image of the store, as found on disk.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub path: PathBuf,
    pub kind: Kind,
    pub read_only: bool,
    pub created: Option<SystemTime>,
    pub modified: Option<SystemTime>,
}

impl Image {
    /// Disk usage in bytes (hard links counted once, this filesystem only).
    pub fn usage(&self) -> u64 {
        let mut seen = std::collections::HashSet::new();
        walkdir::WalkDir::new(&self.path)
            .same_file_system(true)
            .into_iter()
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.nlink() < 2 || m.is_dir() || seen.insert((m.dev(), m.ino())))
            .map(|m| m.blocks() * 512)
            .sum()
    }

    /// Refuses when the image may not change.
    pub fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(ImageError::ReadOnly(self.name.clone()));
        }
        Ok(())
    }

    /// Locks the image like a machine using it would: exclusively to change
    /// it, shared to read it. A running machine holds these locks.
    pub fn lock(&self, exclusive: bool) -> Result<Option<TreeLock>> {
        if self.kind == Kind::Raw {
            return Ok(None);
        }
        match lock::lock_tree(&self.path, exclusive) {
            Ok(l) => Ok(Some(l)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(ImageError::Running(self.name.clone())),
            Err(e) => Err(ImageError::Io { what: format!("locking image {}", self.path.display()), source: e }),
        }
    }
}

/// Checks an image name against the machine-name rules.
pub fn validate_name(n: &str) -> Result<()> {
    name::validate(n).map_err(|_| ImageError::BadName(n.to_string()))
}

/// The image store in one directory.
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(root: Option<&Path>) -> Store {
        Store { root: root.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(IMAGE_ROOT)) }
    }

    fn root_str(&self) -> String {
        self.root.display().to_string()
    }

    /// Creates the store directory (0700, as machined does) when missing,
    /// and removes what killed berths left there.
    pub fn prepare(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(io_err(format!("creating the image directory {}", self.root.display())))?;
        self.sweep();
        Ok(())
    }

    /// Every image, sorted by name. A missing store has none.
    pub fn list(&self) -> Result<Vec<Image>> {
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ImageError::Io { what: format!("reading {}", self.root.display()), source: e }),
        };
        let mut out: Vec<Image> = rd
            .flatten()
            .filter_map(|e| {
                let f = e.file_name().into_string().ok()?;
                let n = f.strip_suffix(".raw").unwrap_or(&f);
                if f.starts_with('.') || validate_name(n).is_err() {
                    return None;
                }
                self.probe(n, &e.path())
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }

    fn probe(&self, name: &str, path: &Path) -> Option<Image> {
        let md = fs::symlink_metadata(path).ok()?;
        let kind = if md.is_dir() {
            if md.ino() == 256 && is_btrfs(path) {
                Kind::Subvolume
            } else {
                Kind::Directory
            }
        } else if md.is_file() && path.extension().is_some_and(|e| e == "raw") {
            Kind::Raw
        } else {
            return None;
        };
        Some(Image {
            name: name.to_string(),
            path: path.to_path_buf(),
            kind,
            read_only: attr::is_immutable(path).unwrap_or(false),
            created: md.created().ok(),
            modified: md.modified().ok(),
        })
    }

    /// The image called `name`; a directory wins over `name.raw`.
    pub fn find(&self, name: &str) -> Result<Image> {
        validate_name(name)?;
        [self.root.join(name), self.root.join(format!("{name}.raw"))]
            .iter()
            .find_map(|p| self.probe(name, p))
            .ok_or_else(|| ImageError::NotFound { name: name.to_string(), root: self.root_str() })
    }

    /// Refuses a name that is invalid or taken (as a tree or raw file).
    pub fn check_free(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let taken = [self.root.join(name), self.root.join(format!("{name}.raw"))]
            .iter()
            .any(|p| fs::symlink_metadata(p).is_ok());
        if taken {
            return Err(ImageError::Exists { name: name.to_string(), root: self.root_str() });
        }
        Ok(())
    }

    /// A fresh hidden path in the store for building `what`.
    pub fn temp_path(&self, suffix: &str) -> PathBuf {
        let mut r = [0u8; 6];
        let _ = getrandom(&mut r);
        let rand: String = r.iter().map(|b| format!("{b:02x}")).collect();
        self.root.join(format!("{TEMP_PREFIX}{}~{rand}{suffix}", std::process::id()))
    }

    /// Moves a finished temporary entry to its final name, never over an
    /// existing one (two berths racing for a name: one wins, one errs).
    pub fn commit(&self, temp: &Path, final_name: &str) -> Result<PathBuf> {
        let dst = self.root.join(final_name);
        rename_noreplace(temp, &dst).map_err(|e| match e.raw_os_error() {
            Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => {
                ImageError::Exists { name: final_name.to_string(), root: self.root_str() }
            }
            _ => ImageError::Io { what: format!("renaming {} to {}", temp.display(), dst.display()), source: e },
        })?;
        Ok(dst)
    }

    /// Removes temporary entries whose berth is gone (killed mid-import).
    fn sweep(&self) {
        let Ok(rd) = fs::read_dir(&self.root) else { return };
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = f.strip_prefix(TEMP_PREFIX).and_then(|r| r.split('~').next()) else { continue };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                tracing::info!("removing {}, left by a berth that is gone", e.path().display());
                let _ = remove_any(&e.path());
            }
        }
    }
}

fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn is_btrfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).map(|s| s.filesystem_type().0 == libc::BTRFS_SUPER_MAGIC).unwrap_or(false)
}

pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    nix::fcntl::renameat2(None, from, None, to, nix::fcntl::RenameFlags::RENAME_NOREPLACE).map_err(io::Error::from)
}

/// Removes a file or a whole tree. Mounts below it (debootstrap leaves
/// /proc and /sys mounted in a tree it did not finish) are detached first,
/// so removal never reaches into another filesystem.
pub fn remove_any(path: &Path) -> io::Result<()> {
    let md = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !md.is_dir() {
        return fs::remove_file(path);
    }
    for m in mounts_below(path) {
        let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
    }
    if !mounts_below(path).is_empty() {
        return Err(io::Error::new(io::ErrorKind::ResourceBusy, "something is still mounted below it"));
    }
    fs::remove_dir_all(path)
}

/// Mount points at or below `path`, deepest first.
fn mounts_below(path: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")))
        .filter(|m| m.starts_with(path))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    v
}

/// A temporary entry in the store, removed on drop unless committed.
pub struct Temp {
    path: Option<PathBuf>,
}

impl Temp {
    pub fn new(path: PathBuf) -> Temp {
        Temp { path: Some(path) }
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("temporary entry already committed")
    }

    /// Keeps the entry where it is (the caller moved it into place).
    pub fn keep(mut self) {
        self.path = None;
    }

    /// Renames the entry to `name` in `store`; from then on it is kept.
    pub fn commit(mut self, store: &Store, name: &str) -> Result<PathBuf> {
        let p = self.path.take().expect("temporary entry already committed");
        match store.commit(&p, name) {
            Ok(dst) => Ok(dst),
            Err(e) => {
                self.path = Some(p);
                Err(e)
            }
        }
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            if let Err(e) = remove_any(&p) {
                tracing::warn!("could not remove {}: {e}; remove it by hand", p.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_hidden_and_never_images() {
        let s = Store::new(Some(Path::new("/x")));
        let t = s.temp_path(".tar");
        let f = t.file_name().unwrap().to_str().unwrap();
        assert!(f.starts_with(TEMP_PREFIX) && f.ends_with(".tar"));
        assert!(validate_name(f).is_err());
        assert_ne!(s.temp_path(""), s.temp_path(""));
    }

    #[test]
    fn names() {
        assert!(validate_name("debian-trixie").is_ok());
        for n in ["", ".hidden", "a/b", "..", "a_b", &"x".repeat(65)] {
            assert!(matches!(validate_name(n), Err(ImageError::BadName(_))), "{n}");
        }
    }
}
