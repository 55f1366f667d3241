//! Reads what `guest.rs` decides on: the tree's machine id and zoneinfo,
//! the host's journal directory, resolver files, /etc/localtime and the
//! `--load-credential` files. Part of `Inputs::probe`; creates nothing.

use crate::settings::guest::{self, GuestFacts, HostEntry, JOURNAL_DIR, RESOLV_SOURCES};
use crate::settings::value::Settings;
use crate::sys;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

/// A file's first bytes inside the tree (symlinks resolved inside it).
fn read_in_root(root: &OwnedFd, path: &str, max: u64) -> Option<Vec<u8>> {
    let fd = sys::open_in_root(root, Path::new(path), libc::O_RDONLY, 0).ok()?;
    let mut v = Vec::new();
    std::fs::File::from(fd).take(max).read_to_end(&mut v).ok()?;
    Some(v)
}

fn exists_in_root(root: &OwnedFd, path: &str) -> bool {
    sys::open_in_root(root, Path::new(path), libc::O_PATH, 0).is_ok()
}

/// `tree`: the tree (or the template it is copied from); `uuid`: the
/// UUID the start will use.
pub fn probe(s: &Settings, tree: &Path, uuid: &str) -> GuestFacts {
    let root: Option<OwnedFd> = std::fs::File::open(tree).ok().map(OwnedFd::from);
    let tree_machine_id = root
        .as_ref()
        .and_then(|r| read_in_root(r, "/etc/machine-id", 64))
        .and_then(|b| guest::parse_machine_id(&String::from_utf8_lossy(&b)));
    let id = guest::machine_id(tree_machine_id.as_deref(), uuid);
    let entry = Path::new(JOURNAL_DIR).join(&id);
    let host_entry = match std::fs::symlink_metadata(&entry) {
        Err(_) => HostEntry::Missing,
        Ok(m) if m.file_type().is_symlink() => HostEntry::Link(std::fs::read_link(&entry).unwrap_or_default()),
        Ok(m) if m.is_dir() => HostEntry::Dir,
        Ok(_) => HostEntry::Other,
    };
    let resolv = RESOLV_SOURCES
        .iter()
        .filter_map(|(name, path)| std::fs::read(path).ok().map(|c| (name.to_string(), c)))
        .collect();
    let zone = std::fs::read_link("/etc/localtime").ok().and_then(|l| guest::zone_of(&l));
    let localtime = std::fs::canonicalize("/etc/localtime").ok().and_then(|p| std::fs::read(&p).ok().map(|c| (p, c)));
    let tree_has_zone = match (&zone, &root) {
        (Some(z), Some(r)) => exists_in_root(r, &format!("/usr/share/zoneinfo/{z}")),
        _ => false,
    };
    let has = |p: &str| root.as_ref().is_some_and(|r| exists_in_root(r, p));
    let (tree_has_resolv, tree_has_localtime) = (has("/etc/resolv.conf"), has("/etc/localtime"));
    let credential_files = s
        .load_credential
        .iter()
        .flatten()
        .filter_map(|spec| guest::load_spec(spec).ok())
        .map(|(_, p)| {
            let read = std::fs::read(&p).map_err(|e| e.to_string());
            (p, read)
        })
        .collect();
    GuestFacts {
        tree_machine_id,
        host_journal: Path::new(JOURNAL_DIR).is_dir(),
        host_entry,
        resolv,
        zone,
        localtime,
        tree_has_zone,
        tree_has_resolv,
        tree_has_localtime,
        credential_files,
    }
}

/// The UUID a start will use: the given one (when valid) or the random one.
pub fn uuid_of(s: &Settings, random: &str) -> String {
    s.uuid.as_deref().and_then(|u| crate::settings::parse::parse_uuid(u).ok()).unwrap_or_else(|| random.to_string())
}
