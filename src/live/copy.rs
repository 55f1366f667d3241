//! `berth copy-to NAME SRC [DST]` and `berth copy-from NAME SRC [DST]`:
//! files, directories (recursively) and symlinks between the host and a
//! running machine, with modes and times, owners shifted across the
//! guest's user namespace.
//!
//! The guest's side is reached through the leader's /proc/PID/root: its
//! path is resolved with RESOLVE_IN_ROOT (a `..` or an absolute symlink
//! stays inside the guest), and everything below is walked one name at a
//! time relative to directory descriptors, never following a symlink, so
//! a guest that swaps a directory for a symlink mid-copy cannot redirect
//! us onto host files. Symlinks are copied as symlinks.
//!
//! Owners: a host file owned by host uid U becomes guest uid U (host id
//! BASE+U); a guest file of guest uid U becomes host uid U. Ids without a
//! counterpart become nobody (65534).

use crate::error::{Context, Error, Result};
use crate::live::guest::{guest_path, Guest, IdMap, OVERFLOW_ID};
use crate::state::machine::Machine;
use crate::sys;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Which way the copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToGuest,
    FromGuest,
}

/// Copies `src` to `dst` (default: the same path) for `copy-to` or
/// `copy-from`. Refuses an existing `dst` unless `force`: then files and
/// symlinks are replaced and directories merged.
pub fn copy(m: &Machine, dir: Direction, src: &Path, dst: Option<&Path>, force: bool) -> Result<()> {
    let dst = dst.unwrap_or(src);
    let g = Guest::open(m)?;
    let (guest_p, host_p) = match dir {
        Direction::ToGuest => (dst, src),
        Direction::FromGuest => (src, dst),
    };
    let guest_p = guest_path(&g.name, guest_p)?;
    let host_p = host_p.to_path_buf();
    let (guest_dir, guest_name) = split(&guest_p, &format!("in machine {}", g.name))?;
    let (host_dir, host_name) = split(&host_p, "on the host")?;
    let open_dir = |p: &Path, where_: &str, r: std::io::Result<OwnedFd>| {
        r.map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                Error::Usage(format!("directory {} does not exist {where_}", p.display()))
            }
            _ => Error::sys(format!("opening directory {} {where_}", p.display()), e),
        })
    };
    let where_guest = format!("in machine {}", g.name);
    let guest_fd = open_dir(
        &guest_dir,
        &where_guest,
        sys::open_in_root(&g.root, &guest_dir, libc::O_PATH | libc::O_DIRECTORY, 0),
    )?;
    let host_fd = open_dir(&host_dir, "on the host", open_host_dir(&host_dir))?;
    let (s, d) = match dir {
        Direction::ToGuest => (
            Side { dir: host_fd, name: host_name, shown: host_p.clone(), place: "on the host".into() },
            Side { dir: guest_fd, name: guest_name, shown: guest_p.clone(), place: where_guest },
        ),
        Direction::FromGuest => (
            Side { dir: guest_fd, name: guest_name, shown: guest_p.clone(), place: where_guest },
            Side { dir: host_fd, name: host_name, shown: host_p.clone(), place: "on the host".into() },
        ),
    };
    let st = match lstat_at(&s.dir, &s.name) {
        Ok(Some(st)) => st,
        Ok(None) => return Err(Error::Usage(format!("{} does not exist {}", s.shown.display(), s.place))),
        Err(e) => return Err(Error::sys(format!("reading {} {}", s.shown.display(), s.place), e)),
    };
    let existing = lstat_at(&d.dir, &d.name).ctx(|| format!("looking at {} {}", d.shown.display(), d.place))?;
    if existing.is_some() && !force {
        return Err(Error::Usage(format!(
            "{} already exists {}; pass --force to replace it",
            d.shown.display(),
            d.place
        )));
    }
    let owners = Owners { dir, uids: g.uids.clone(), gids: g.gids.clone() };
    // Files created in the guest are created as its root: on an idmapped
    // tree the host's root has no id there at all.
    let _creds = match dir {
        Direction::ToGuest => Some(FsCreds::become_(g.uids.to_host(0).unwrap_or(0), g.gids.to_host(0).unwrap_or(0))?),
        Direction::FromGuest => None,
    };
    let c = Copier { owners, force, src_place: &s.place, dst_place: &d.place };
    let result = c.entry(&s.dir, &s.name, &st, &d.dir, &d.name, &s.shown, &d.shown);
    if result.is_err() && existing.is_none() {
        // Leave nothing half-copied behind.
        let _ = remove_at(&d.dir, &d.name);
    }
    result
}

/// A path's directory and last name.
fn split(p: &Path, where_: &str) -> Result<(PathBuf, OsString)> {
    let name = p.file_name().filter(|n| *n != OsStr::new("..")).ok_or_else(|| {
        Error::Usage(format!("{} {where_} names no file or directory; give the path of one", p.display()))
    })?;
    let parent = p.parent().map(Path::to_path_buf).filter(|d| !d.as_os_str().is_empty());
    Ok((parent.unwrap_or_else(|| PathBuf::from(".")), name.to_os_string()))
}

fn open_host_dir(p: &Path) -> std::io::Result<OwnedFd> {
    let fd = nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

struct Side {
    dir: OwnedFd,
    name: OsString,
    shown: PathBuf,
    place: String,
}

fn is(st: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == kind
}

/// lstat of `name` in `dir`; None when it does not exist.
fn lstat_at(dir: &OwnedFd, name: &OsStr) -> std::io::Result<Option<FileStat>> {
    match nix::sys::stat::fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(nix::Error::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn open_at(dir: &OwnedFd, name: &OsStr, flags: OFlag, mode: u32) -> std::io::Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::from_bits_truncate(mode),
    )?;
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Translates owners across the guest's user namespace.
struct Owners {
    dir: Direction,
    uids: IdMap,
    gids: IdMap,
}

impl Owners {
    fn map(&self, uid: u32, gid: u32) -> (u32, u32) {
        let one = |m: &IdMap, id: u32| match self.dir {
            Direction::ToGuest => {
                m.to_host(id).or_else(|| m.to_host(OVERFLOW_ID)).or_else(|| m.to_host(0)).unwrap_or(0)
            }
            Direction::FromGuest => m.to_guest(id).unwrap_or(OVERFLOW_ID),
        };
        (one(&self.uids, uid), one(&self.gids, gid))
    }
}

/// The filesystem uid and gid of this (single-threaded) process for the
/// guard's lifetime, with the capabilities the kernel drops on that
/// change raised again (to chown into the guest's range).
pub(crate) struct FsCreds;

impl FsCreds {
    pub(crate) fn become_(uid: u32, gid: u32) -> Result<FsCreds> {
        if uid == 0 && gid == 0 {
            return Ok(FsCreds);
        }
        // SAFETY: plain credential calls on the only thread.
        unsafe {
            libc::setfsgid(gid);
            libc::setfsuid(uid);
        }
        let permitted = caps::read(None, caps::CapSet::Permitted)
            .map_err(|e| Error::Setup(format!("reading capabilities: {e}")))?;
        caps::set(None, caps::CapSet::Effective, &permitted)
            .map_err(|e| Error::Setup(format!("raising capabilities: {e}")))?;
        Ok(FsCreds)
    }
}

impl Drop for FsCreds {
    fn drop(&mut self) {
        // SAFETY: back to root's filesystem ids.
        unsafe {
            libc::setfsuid(0);
            libc::setfsgid(0);
        }
    }
}

struct Copier<'a> {
    owners: Owners,
    force: bool,
    src_place: &'a str,
    dst_place: &'a str,
}

impl Copier<'_> {
    /// Copies `sname` in `sdir` (already lstat'ed as `st`) to `dname` in
    /// `ddir`, replacing or merging what is there (only reached with
    /// --force, or inside a directory this copy created).
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        sdir: &OwnedFd,
        sname: &OsStr,
        st: &FileStat,
        ddir: &OwnedFd,
        dname: &OsStr,
        sshown: &Path,
        dshown: &Path,
    ) -> Result<()> {
        let (uid, gid) = self.owners.map(st.st_uid, st.st_gid);
        let mode = st.st_mode & 0o7777;
        let rd = |e: std::io::Error| Error::sys(format!("reading {} {}", sshown.display(), self.src_place), e);
        let wr = |e: std::io::Error| Error::sys(format!("writing {} {}", dshown.display(), self.dst_place), e);
        let existing = lstat_at(ddir, dname).map_err(wr)?;
        let merge_dir = existing.as_ref().is_some_and(|o| is(o, SFlag::S_IFDIR));
        if existing.is_some() && !(merge_dir && is(st, SFlag::S_IFDIR)) {
            if merge_dir {
                return Err(Error::Usage(format!(
                    "{} is a directory {}, and {} is not; remove it first",
                    dshown.display(),
                    self.dst_place,
                    sshown.display()
                )));
            }
            nix::unistd::unlinkat(Some(ddir.as_raw_fd()), dname, nix::unistd::UnlinkatFlags::NoRemoveDir)
                .map_err(|e| wr(e.into()))?;
        }
        if is(st, SFlag::S_IFREG) {
            let src = open_at(sdir, sname, OFlag::O_RDONLY | OFlag::O_NONBLOCK, 0).map_err(rd)?;
            let fst = nix::sys::stat::fstat(src.as_raw_fd()).map_err(|e| rd(e.into()))?;
            if !is(&fst, SFlag::S_IFREG) {
                return Err(Error::Setup(format!("{} changed while being copied", sshown.display())));
            }
            let dst = open_at(ddir, dname, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL, 0o600).map_err(wr)?;
            let (mut s, mut d) = (File::from(src), File::from(dst));
            std::io::copy(&mut s, &mut d).map_err(wr)?;
            finish(&d, uid, gid, mode, &fst).map_err(wr)
        } else if is(st, SFlag::S_IFDIR) {
            if !merge_dir {
                nix::sys::stat::mkdirat(Some(ddir.as_raw_fd()), dname, Mode::from_bits_truncate(0o700))
                    .map_err(|e| wr(e.into()))?;
            }
            let dst = open_at(ddir, dname, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0).map_err(wr)?;
            let src = open_at(sdir, sname, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0).map_err(rd)?;
            let mut names = list_names(&src).map_err(rd)?;
            names.sort();
            for n in names {
                let (sp, dp) = (sshown.join(&n), dshown.join(&n));
                let Some(cst) = lstat_at(&src, &n).map_err(rd)? else { continue };
                if !(is(&cst, SFlag::S_IFREG) || is(&cst, SFlag::S_IFDIR) || is(&cst, SFlag::S_IFLNK)) {
                    tracing::warn!("skipping {}: not a file, directory or symlink", sp.display());
                    continue;
                }
                if !self.force && lstat_at(&dst, &n).map_err(wr)?.is_some() {
                    return Err(Error::Usage(format!(
                        "{} already exists {}; pass --force to replace it",
                        dp.display(),
                        self.dst_place
                    )));
                }
                self.entry(&src, &n, &cst, &dst, &n, &sp, &dp)?;
            }
            finish(&File::from(dst), uid, gid, mode, st).map_err(wr)
        } else if is(st, SFlag::S_IFLNK) {
            let target = nix::fcntl::readlinkat(Some(sdir.as_raw_fd()), sname).map_err(|e| rd(e.into()))?;
            nix::unistd::symlinkat(target.as_os_str(), Some(ddir.as_raw_fd()), dname).map_err(|e| wr(e.into()))?;
            nix::unistd::fchownat(
                Some(ddir.as_raw_fd()),
                dname,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| wr(e.into()))?;
            let (a, m) = times(st);
            nix::sys::stat::utimensat(
                Some(ddir.as_raw_fd()),
                dname,
                &a,
                &m,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .map_err(|e| wr(e.into()))
        } else {
            Err(Error::Usage(format!(
                "{} {} is not a file, directory or symlink; berth copies only those",
                sshown.display(),
                self.src_place
            )))
        }
    }
}

fn times(st: &FileStat) -> (nix::sys::time::TimeSpec, nix::sys::time::TimeSpec) {
    use nix::sys::time::TimeSpec;
    (TimeSpec::new(st.st_atime, st.st_atime_nsec), TimeSpec::new(st.st_mtime, st.st_mtime_nsec))
}

/// Owner, then mode (a chown clears set-id bits), then times.
fn finish(f: &File, uid: u32, gid: u32, mode: u32, st: &FileStat) -> std::io::Result<()> {
    nix::unistd::fchown(f.as_raw_fd(), Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid)))?;
    nix::sys::stat::fchmod(f.as_raw_fd(), Mode::from_bits_truncate(mode))?;
    let (a, m) = times(st);
    nix::sys::stat::futimens(f.as_raw_fd(), &a, &m)?;
    Ok(())
}

/// The names in the open directory `dir` (its own descriptor's path in
/// /proc/self/fd names exactly that directory, whatever was renamed).
fn list_names(dir: &OwnedFd) -> std::io::Result<Vec<OsString>> {
    std::fs::read_dir(sys::fd_path(dir))?.map(|e| e.map(|e| e.file_name())).collect()
}

/// Removes `name` in `dir` and everything below it, never following a
/// symlink.
fn remove_at(dir: &OwnedFd, name: &OsStr) -> std::io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else { return Ok(()) };
    if is(&st, SFlag::S_IFDIR) {
        let sub = open_at(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)?;
        let names = list_names(&sub)?;
        for n in names {
            remove_at(&sub, &n)?;
        }
        nix::unistd::unlinkat(Some(dir.as_raw_fd()), name, nix::unistd::UnlinkatFlags::RemoveDir)?;
    } else {
        nix::unistd::unlinkat(Some(dir.as_raw_fd()), name, nix::unistd::UnlinkatFlags::NoRemoveDir)?;
    }
    Ok(())
}
