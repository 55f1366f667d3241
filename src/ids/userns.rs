//! User namespaces: the choice of the guest's id range, the uid/gid maps,
//! and idmapped mounts that let the guest own its tree without anything
//! changing on disk.

use crate::state::lock::LockFile;
use crate::sys;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Ranges `pick` chooses from (nspawn's convention).
pub const PICK_MIN: u32 = 0x0008_0000;
pub const PICK_MAX: u32 = 0x6FFF_0000;
pub const RANGE: u32 = 0x1_0000;
pub const LOCK_DIR: &str = "/run/berth/userns";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No user namespace: the guest's root is the host's root.
    No,
    /// A free 65536-id range derived from the machine name.
    Pick,
    /// A user namespace mapping ids 0-65535 onto themselves.
    Identity,
    /// A fixed range.
    Fixed { base: u32, size: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Idmapped mounts: the guest sees its ids, the disk keeps the tree's.
    Map,
    /// Nothing is shifted: the tree must already be owned by the range.
    Off,
    /// Shift the tree's owners on disk (for filesystems without idmap).
    Chown,
    /// Map where the filesystem can, chown where it cannot.
    Auto,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UsernsError {
    #[error("--private-users={0} is invalid; use pick, yes, identity, no, or BASE[:SIZE]")]
    BadMode(String),
    #[error("--private-users range {base}:{size} is invalid; the range must be non-empty and end below 2^32-1")]
    BadRange { base: u32, size: u32 },
    #[error("--private-users-ownership={0} is invalid; use map, chown, off or auto")]
    BadOwnership(String),
}

pub fn parse_mode(s: &str) -> Result<Mode, UsernsError> {
    match s {
        "pick" | "yes" | "1" | "true" | "on" => return Ok(Mode::Pick),
        "no" | "0" | "false" | "off" => return Ok(Mode::No),
        "identity" => return Ok(Mode::Identity),
        _ => {}
    }
    let (b, sz) = s.split_once(':').unwrap_or((s, "65536"));
    let base: u32 = b.parse().map_err(|_| UsernsError::BadMode(s.into()))?;
    let size: u32 = sz.parse().map_err(|_| UsernsError::BadMode(s.into()))?;
    if size == 0 || base.checked_add(size).is_none_or(|end| end == u32::MAX) {
        return Err(UsernsError::BadRange { base, size });
    }
    Ok(Mode::Fixed { base, size })
}

pub fn parse_ownership(s: &str) -> Result<Ownership, UsernsError> {
    match s {
        "map" => Ok(Ownership::Map),
        "off" => Ok(Ownership::Off),
        "auto" => Ok(Ownership::Auto),
        "chown" => Ok(Ownership::Chown),
        _ => Err(UsernsError::BadOwnership(s.into())),
    }
}

/// The guest's id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    pub base: u32,
    pub size: u32,
}

impl Range {
    pub fn map_line(&self) -> String {
        format!("0 {} {}\n", self.base, self.size)
    }
    /// The host id of guest id `id`.
    pub fn host(&self, id: u32) -> u32 {
        self.base + id
    }
}

/// A stable 64-bit FNV-1a hash: the same name gets the same range on
/// every host and berth version.
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

pub fn slots() -> u32 {
    (PICK_MAX - PICK_MIN) / RANGE
}

/// The n-th candidate range for `name`: its hash slot, then the following
/// ones, wrapping around.
pub fn candidate(name: &str, n: u32) -> Range {
    let slot = ((fnv1a(name) % slots() as u64) as u32 + n) % slots();
    Range { base: PICK_MIN + slot * RANGE, size: RANGE }
}

fn lock_path(base: u32) -> PathBuf {
    Path::new(LOCK_DIR).join(format!("{base}.lock"))
}

/// Reserves a range for the machine's lifetime: the hashed one, or the
/// next free one when another running machine holds it.
pub fn reserve(mode: Mode, name: &str, prefer: Option<u32>) -> io::Result<Option<(Range, Option<LockFile>)>> {
    match mode {
        Mode::No => Ok(None),
        Mode::Identity => Ok(Some((Range { base: 0, size: RANGE }, None))),
        Mode::Fixed { base, size } => {
            fs::create_dir_all(LOCK_DIR)?;
            let lock = LockFile::acquire(&lock_path(base), true).map_err(|e| {
                if e.kind() == io::ErrorKind::WouldBlock {
                    io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("id range {base}:{size} is used by another running machine"),
                    )
                } else {
                    e
                }
            })?;
            Ok(Some((Range { base, size }, Some(lock))))
        }
        Mode::Pick => {
            fs::create_dir_all(LOCK_DIR)?;
            if let Some(base) = prefer.filter(|b| (PICK_MIN..PICK_MAX).contains(b) && b % RANGE == 0) {
                if let Ok(l) = LockFile::acquire(&lock_path(base), true) {
                    return Ok(Some((Range { base, size: RANGE }, Some(l))));
                }
            }
            for n in 0..slots() {
                let r = candidate(name, n);
                match LockFile::acquire(&lock_path(r.base), true) {
                    Ok(l) => return Ok(Some((r, Some(l)))),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(io::Error::new(io::ErrorKind::AddrInUse, "every id range is in use"))
        }
    }
}

/// Writes the maps of a process that sits in a fresh user namespace. The
/// launcher is root in the parent namespace, so setgroups stays allowed
/// (the guest needs it).
pub fn write_maps(pid: i32, r: Range) -> io::Result<()> {
    fs::write(format!("/proc/{pid}/uid_map"), r.map_line())?;
    fs::write(format!("/proc/{pid}/gid_map"), r.map_line())
}

const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;

/// Clones the mount tree at `path` detached, idmapped through `userns`.
pub fn idmapped_clone(path: &Path, userns: &impl AsRawFd, extra: u64) -> io::Result<OwnedFd> {
    let tree = plain_clone(path)?;
    sys::mount_setattr_idmapped(&tree, extra, Some(userns.as_raw_fd()), true)?;
    Ok(tree)
}

/// Clones the mount tree at `path` detached, as it is.
pub fn plain_clone(path: &Path) -> io::Result<OwnedFd> {
    sys::open_tree(libc::AT_FDCWD, &sys::cstr(path)?, true)
}

/// Attaches a detached mount on the directory or file `target` names.
pub fn move_mount(tree: &impl AsRawFd, target: &impl AsRawFd) -> io::Result<()> {
    const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
    // SAFETY: plain syscall.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A user namespace with the given maps and no process in it, for
/// idmapped mounts: a child is parked in a fresh namespace just long
/// enough to write its maps and take a reference.
pub fn detached(uid_map: &str, gid_map: &str) -> io::Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: callers are single-threaded (launcher, outer child).
    let child = match unsafe { sys::clone3(libc::CLONE_NEWUSER as u64, None, false) }? {
        None => {
            drop(w);
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(r.as_raw_fd(), &mut b);
            // SAFETY: leave without destructors.
            unsafe { libc::_exit(0) }
        }
        Some(c) => c.pid,
    };
    drop(r);
    let res = (|| {
        fs::write(format!("/proc/{child}/uid_map"), uid_map)?;
        fs::write(format!("/proc/{child}/gid_map"), gid_map)?;
        Ok(OwnedFd::from(fs::File::open(format!("/proc/{child}/ns/user"))?))
    })();
    drop(w);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
    res
}

/// Whether the filesystem holding `path` supports idmapped mounts.
pub fn can_idmap(path: &Path, r: Range) -> bool {
    detached(&r.map_line(), &r.map_line()).and_then(|ns| idmapped_clone(path, &ns, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("pick"), Ok(Mode::Pick));
        assert_eq!(parse_mode("yes"), Ok(Mode::Pick));
        assert_eq!(parse_mode("no"), Ok(Mode::No));
        assert_eq!(parse_mode("identity"), Ok(Mode::Identity));
        assert_eq!(parse_mode("1000000"), Ok(Mode::Fixed { base: 1_000_000, size: 65536 }));
        assert_eq!(parse_mode("1000000:1000"), Ok(Mode::Fixed { base: 1_000_000, size: 1000 }));
        assert!(parse_mode("debian").is_err());
        assert!(parse_mode("5:0").is_err());
        assert!(parse_mode("4294967295:2").is_err());
        assert_eq!(parse_ownership("map"), Ok(Ownership::Map));
        assert!(parse_ownership("chmod").is_err());
    }

    #[test]
    fn picked_ranges_are_aligned_and_in_bounds() {
        for name in ["a", "debian", "bookworm-x", "z.z"] {
            for n in [0, 1, slots() - 1, slots(), 5 * slots() + 3] {
                let r = candidate(name, n);
                assert_eq!(r.base % RANGE, 0);
                assert!(r.base >= PICK_MIN && r.base + r.size <= PICK_MAX, "{name} {n} {r:?}");
            }
            assert_eq!(candidate(name, 0), candidate(name, slots()), "wraps around");
            assert_ne!(candidate(name, 0), candidate(name, 1));
        }
        assert_eq!(candidate("debian", 0), candidate("debian", 0), "stable");
        assert_eq!(fnv1a(""), 0xcbf29ce484222325);
        assert_eq!(Range { base: 524288, size: 65536 }.map_line(), "0 524288 65536\n");
    }
}
