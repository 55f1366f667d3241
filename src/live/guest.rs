//! A running machine as the host reaches it without entering it: its root
//! directory through /proc/LEADER/root (path walks from there stay in the
//! guest's mount tree), and its user namespace's id maps.

use crate::error::{Context, Error, Result};
use crate::state::machine::Machine;
use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// One contiguous piece of a uid_map or gid_map: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Extent {
    inside: u32,
    outside: u32,
    count: u32,
}

/// A user namespace's uid or gid map, as /proc/PID/uid_map gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap(Vec<Extent>);

/// The id a file gets when its owner has no counterpart on the other side.
pub const OVERFLOW_ID: u32 = 65534;

impl IdMap {
    pub fn parse(text: &str) -> IdMap {
        IdMap(
            text.lines()
                .filter_map(|l| {
                    let mut f = l.split_whitespace().map(|x| x.parse::<u32>().ok());
                    Some(Extent { inside: f.next()??, outside: f.next()??, count: f.next()?? })
                })
                .collect(),
        )
    }

    /// The host id of guest id `id`.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        self.0.iter().find(|e| id >= e.inside && id - e.inside < e.count).map(|e| e.outside + (id - e.inside))
    }

    /// The guest id of host id `id`.
    pub fn to_guest(&self, id: u32) -> Option<u32> {
        self.0.iter().find(|e| id >= e.outside && id - e.outside < e.count).map(|e| e.inside + (id - e.outside))
    }
}

/// The leader's root and id maps, pinned while the value lives.
pub struct Guest {
    pub name: String,
    pub leader: i32,
    /// The guest's `/`, an O_PATH descriptor.
    pub root: OwnedFd,
    pub uids: IdMap,
    pub gids: IdMap,
    pidfd: OwnedFd,
}

impl Guest {
    pub fn open(m: &Machine) -> Result<Guest> {
        let name = m.name.clone();
        let leader = m.leader().ok_or_else(|| Error::Setup(format!("machine {name} has no leader yet")))?;
        let pidfd = sys::pidfd_open(leader).ctx(|| format!("opening the leader of machine {name}"))?;
        let root = nix::fcntl::open(
            format!("/proc/{leader}/root").as_str(),
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| format!("opening the root of machine {name}"))?;
        // SAFETY: a fresh descriptor.
        let root = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(root) };
        let read = |f: &str| {
            std::fs::read_to_string(format!("/proc/{leader}/{f}"))
                .ctx(|| format!("reading /proc/{leader}/{f} of machine {name}"))
        };
        let (uids, gids) = (IdMap::parse(&read("uid_map")?), IdMap::parse(&read("gid_map")?));
        // Until the guest has switched to its own root, its leader's root
        // is the host's: nothing may be written or mounted there.
        let id = |st: nix::sys::stat::FileStat| (st.st_dev, st.st_ino);
        let host_root = nix::sys::stat::stat("/").map(id).ctx(|| "reading /".into())?;
        let own =
            nix::sys::stat::fstat(root.as_raw_fd()).map(id).ctx(|| format!("reading the root of machine {name}"))?;
        if own == host_root {
            return Err(Error::Machine(format!("machine {name} is still starting up; try again in a moment")));
        }
        let g = Guest { name, leader, root, uids, gids, pidfd };
        // The pid was not reused between reading the record and opening.
        if !sys::pidfd_alive(&g.pidfd) {
            return Err(Error::Machine(format!("machine {} stopped; 'berth list' shows the running ones", g.name)));
        }
        Ok(g)
    }
}

/// A path inside the guest must be absolute: there is no working
/// directory to be relative to.
pub fn guest_path(name: &str, p: &Path) -> Result<PathBuf> {
    if !p.is_absolute() {
        return Err(Error::Usage(format!(
            "{} is not an absolute path; paths inside machine {name} start with /",
            p.display()
        )));
    }
    Ok(p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps() {
        let m = IdMap::parse("         0     524288      65536\n");
        assert_eq!(m.to_host(0), Some(524288));
        assert_eq!(m.to_host(65535), Some(589823));
        assert_eq!(m.to_host(65536), None);
        assert_eq!(m.to_guest(524288 + 7), Some(7));
        assert_eq!(m.to_guest(0), None);
        let all = IdMap::parse("0 0 4294967295\n");
        assert_eq!((all.to_host(0), all.to_guest(1000)), (Some(0), Some(1000)));
        assert_eq!(IdMap::parse("junk\n"), IdMap(vec![]));
    }
}
