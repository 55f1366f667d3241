//! `--private-users-ownership=chown`: shifting a tree's owners onto the
//! guest's id range on disk, for filesystems that cannot be idmapped.
//! The shift is recorded on the tree's root in an xattr, first as
//! "in progress" and then as done, so an interrupted walk is detected and
//! finished, and a finished tree is reused without walking it again.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use thiserror::Error;
use walkdir::WalkDir;

pub const XATTR: &str = "user.berth.shift";

#[derive(Debug, Error)]
pub enum ShiftError {
    #[error("cannot shift the ownership of {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("cannot shift the ownership of {0}: the tree is read-only; use --private-users-ownership=map or off")]
    ReadOnly(String),
}

/// Where a tree stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Never shifted by berth.
    Unshifted,
    /// A walk towards this base was interrupted.
    Partial(u32),
    /// Shifted onto this base.
    Done(u32),
}

pub fn parse_state(v: Option<&str>) -> State {
    match v.map(str::trim) {
        Some(s) => match s.strip_suffix(":partial") {
            Some(b) => b.parse().map(State::Partial).unwrap_or(State::Unshifted),
            None => s.parse().map(State::Done).unwrap_or(State::Unshifted),
        },
        None => State::Unshifted,
    }
}

/// The id an on-disk id becomes under `base`: its low 16 bits on the range.
pub fn shifted(id: u32, base: u32) -> u32 {
    (id & 0xFFFF) + base
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn get_xattr(p: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let (cp, cn) = (cpath(p), CString::new(name).unwrap_or_default());
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and buffer.
    let n = unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let (cp, cn) = (cpath(p), CString::new(name).unwrap_or_default());
    // SAFETY: valid C strings and buffer.
    if unsafe { libc::lsetxattr(cp.as_ptr(), cn.as_ptr(), value.as_ptr().cast(), value.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn state(root: &Path) -> io::Result<State> {
    Ok(parse_state(get_xattr(root, XATTR)?.as_deref().map(|v| std::str::from_utf8(v).unwrap_or(""))))
}

/// Rewrites the user and group entries of a POSIX ACL xattr value.
pub fn shift_acl(value: &[u8], base: u32) -> Option<Vec<u8>> {
    const ACL_USER: u16 = 2;
    const ACL_GROUP: u16 = 8;
    if value.len() < 4 || !(value.len() - 4).is_multiple_of(8) || u32::from_le_bytes(value[0..4].try_into().ok()?) != 2
    {
        return None;
    }
    let mut out = value.to_vec();
    for e in out[4..].chunks_mut(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        if tag == ACL_USER || tag == ACL_GROUP {
            let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            e[4..8].copy_from_slice(&shifted(id, base).to_le_bytes());
        }
    }
    Some(out)
}

fn shift_one(p: &Path, md: &std::fs::Metadata, base: u32) -> io::Result<()> {
    let (uid, gid) = (shifted(md.uid(), base), shifted(md.gid(), base));
    if uid == md.uid() && gid == md.gid() {
        return Ok(());
    }
    let cp = cpath(p);
    // SAFETY: valid path.
    if unsafe { libc::lchown(cp.as_ptr(), uid, gid) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if md.file_type().is_symlink() {
        return Ok(());
    }
    // chown clears setuid/setgid (and file capabilities); restore the mode.
    if md.mode() & 0o6000 != 0 {
        // SAFETY: valid path.
        if unsafe { libc::chmod(cp.as_ptr(), md.mode() & 0o7777) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    for name in ["system.posix_acl_access", "system.posix_acl_default"] {
        if let Some(v) = get_xattr(p, name)? {
            if let Some(nv) = shift_acl(&v, base) {
                set_xattr(p, name, &nv)?;
            }
        }
    }
    Ok(())
}

/// Shifts `root` onto `base` unless it already is. Returns whether it had
/// to walk the tree.
pub fn ensure(root: &Path, base: u32, read_only: bool) -> Result<bool, ShiftError> {
    let err = |p: &Path, e: io::Error| ShiftError::Io { path: p.display().to_string(), source: e };
    if state(root).map_err(|e| err(root, e))? == State::Done(base) {
        return Ok(false);
    }
    let ro = nix::sys::statvfs::statvfs(root)
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false);
    if read_only || ro {
        return Err(ShiftError::ReadOnly(root.display().to_string()));
    }
    set_xattr(root, XATTR, format!("{base}:partial").as_bytes()).map_err(|e| err(root, e))?;
    for entry in WalkDir::new(root).same_file_system(true).follow_links(false) {
        let entry = entry.map_err(|e| err(root, e.into()))?;
        let md = entry.metadata().map_err(|e| err(entry.path(), e.into()))?;
        shift_one(entry.path(), &md, base).map_err(|e| err(entry.path(), e))?;
    }
    set_xattr(root, XATTR, base.to_string().as_bytes()).map_err(|e| err(root, e))?;
    Ok(true)
}

/// The base an already shifted tree uses, to reuse its range.
pub fn existing_base(root: &Path) -> Option<u32> {
    match state(root).ok()? {
        State::Done(b) | State::Partial(b) => Some(b),
        State::Unshifted => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_states() {
        assert_eq!(shifted(0, 524288), 524288);
        assert_eq!(shifted(1000, 524288), 525288);
        assert_eq!(shifted(524288 + 5, 655360), 655365, "re-shifting keeps the low bits");
        assert_eq!(parse_state(None), State::Unshifted);
        assert_eq!(parse_state(Some("524288")), State::Done(524288));
        assert_eq!(parse_state(Some("524288:partial")), State::Partial(524288));
        assert_eq!(parse_state(Some("junk")), State::Unshifted);
    }

    #[test]
    fn acl_entries_are_shifted() {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, id) in [(1u16, u32::MAX), (2, 1000), (4, u32::MAX), (8, 27), (0x20, u32::MAX)] {
            v.extend(tag.to_le_bytes());
            v.extend(7u16.to_le_bytes());
            v.extend(id.to_le_bytes());
        }
        let out = shift_acl(&v, 0x80000).unwrap();
        let id = |i: usize| u32::from_le_bytes(out[4 + i * 8 + 4..4 + i * 8 + 8].try_into().unwrap());
        assert_eq!((id(0), id(1), id(2), id(3), id(4)), (u32::MAX, 0x80000 + 1000, u32::MAX, 0x80000 + 27, u32::MAX));
        assert!(shift_acl(&[1, 0, 0, 0], 5).is_none(), "wrong version");
    }

    #[test]
    fn walks_once_and_records() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: walks_once_and_records needs root to chown");
            return;
        }
        let dir = std::env::temp_dir().join(format!("berth-shift-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.join("link")).unwrap();
        std::fs::write(dir.join("suid"), b"x").unwrap();
        nix::unistd::chown(&dir.join("suid"), Some(nix::unistd::Uid::from_raw(1000)), None).unwrap();
        std::fs::set_permissions(dir.join("suid"), std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
        let base = 0x90000;
        match ensure(&dir, base, false) {
            Err(ShiftError::Io { source, .. }) if source.raw_os_error() == Some(libc::ENOTSUP) => {
                eprintln!("SKIP: {} has no user xattrs", dir.display());
                return;
            }
            r => assert!(r.unwrap(), "first call walks"),
        }
        let md = |p: &str| std::fs::symlink_metadata(dir.join(p)).unwrap();
        assert_eq!(md("sub/f").uid(), base);
        assert_eq!(md("link").uid(), base);
        assert_eq!((md("suid").uid(), md("suid").mode() & 0o7777), (base + 1000, 0o4755), "setuid survives");
        assert!(!ensure(&dir, base, false).unwrap(), "second call does not walk");
        set_xattr(&dir, XATTR, format!("{base}:partial").as_bytes()).unwrap();
        assert!(ensure(&dir, base, false).unwrap(), "an interrupted shift is finished");
        assert!(matches!(ensure(&dir, base + 0x10000, true), Err(ShiftError::ReadOnly(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
