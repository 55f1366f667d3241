//! `--network-interface=IF[:NEWNAME]`: host interfaces moved into the
//! guest's network namespace under their own names (or NEWNAME), and
//! moved back under their own names to the namespace the launcher ran in
//! when the machine ends: by the launcher at its exit, by the watcher
//! after a killed launcher, by `berth gc`.
//!
//! A dying namespace hands physical devices to the kernel's first
//! namespace and destroys virtual ones (veth, ...), so both namespaces
//! are kept alive by bind mounts under /run/berth/netns (recorded before
//! they exist) until the interfaces are back; then they are unmounted.
//! Each interface is locked per namespace and name while a launcher has
//! it, so a second machine asking for it is told which one has it.
//! The kernel drops an interface's addresses and routes on every move:
//! the guest configures it, and it comes back bare, as under nspawn.

use super::error::{NetError, Result};
use super::link::Netlink;
use super::{hostif, subnet, NetRecord, Persist};
use std::fs::{self, File};
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a machine's moved interfaces hold, in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MovedRecord {
    /// The guest's network namespace, bind-mounted.
    pub netns: PathBuf,
    /// The launcher's network namespace, bind-mounted: where they return.
    pub home: PathBuf,
    /// The interfaces moved in (or about to be).
    #[serde(default)]
    pub links: Vec<MovedLink>,
    /// Their lock files, held by the launcher.
    #[serde(default)]
    pub locks: Vec<PathBuf>,
}

/// One moved interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MovedLink {
    /// Its name on the host (and in the guest, unless it got another
    /// there or the guest renamed it).
    pub name: String,
    /// Its name in the guest when `--network-interface=IF:NEWNAME` gave
    /// it another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<String>,
    /// Its index in the guest's namespace, once it is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// The launcher's hold on the interfaces it moved: dropped (in the
/// launcher, however its start ends), it moves them back.
pub struct Held {
    rec: MovedRecord,
    locks: Vec<File>,
    owner: u32,
}

impl Drop for Held {
    fn drop(&mut self) {
        if std::process::id() != self.owner {
            return;
        }
        for what in cleanup(&self.rec) {
            tracing::debug!("released {what}");
        }
        self.locks.clear();
        for l in &self.rec.locks {
            subnet::release_if_unheld(l);
        }
    }
}

fn record(rec: &mut NetRecord, held: &Held, persist: &mut Persist) -> Result<()> {
    rec.moved = Some(held.rec.clone());
    persist(rec).map_err(|e| NetError::netns("recording the machine's moved interfaces", e))
}

/// Moves `links` (host name, name in the guest) from the launcher's
/// network namespace into the guest's (process `pid`), recording each
/// step before it happens.
pub fn attach(
    machine: &str,
    links: &[(String, String)],
    pid: libc::pid_t,
    rec: &mut NetRecord,
    persist: &mut Persist,
) -> Result<Held> {
    let here = "/proc/thread-self/ns/net";
    let home_ino = fs::metadata(here).map_err(|e| NetError::netns("reading the host's network namespace", e))?.ino();
    let (netns, home) = hostif::netns_paths(machine);
    let names: Vec<&String> = links.iter().map(|(host, _)| host).collect();
    let locks = names.iter().map(|n| hostif::lock_path(home_ino, n)).collect();
    let mut held = Held {
        rec: MovedRecord { netns, home, links: Vec::new(), locks },
        locks: Vec::new(),
        owner: std::process::id(),
    };
    record(rec, &held, persist)?;
    for (name, path) in names.iter().zip(held.rec.locks.clone()) {
        held.locks.push(lock(machine, name, &path)?);
    }
    let mut nl = Netlink::open()?;
    let mut found = Vec::new();
    for (name, inside) in links {
        let Some(index) = nl.index_of(name)? else {
            return Err(NetError::Refused(format!(
                "--network-interface={name}: this host has no interface {name}; name one `ip link` lists"
            )));
        };
        if nl.has_default_route(index)? {
            eprint!(
                "berth: {name} carries this host's default route: the host loses it while {machine} runs, and {name} comes back without addresses or routes\r\n"
            );
        }
        found.push((name, inside, index));
    }
    keep(here, &held.rec.home)?;
    keep(&format!("/proc/{pid}/ns/net"), &held.rec.netns)?;
    let guest = open_ns(&held.rec.netns).ok_or_else(|| {
        NetError::netns(
            format!("opening {}", held.rec.netns.display()),
            std::io::Error::from_raw_os_error(libc::EINVAL),
        )
    })?;
    let mut inside = Netlink::open_in(&guest)?;
    for (name, guest_name, index) in found {
        let renamed = (guest_name != name).then(|| guest_name.clone());
        held.rec.links.push(MovedLink { name: name.clone(), guest: renamed, index: None });
        record(rec, &held, persist)?;
        nl.move_to(index, &guest, guest_name, &format!("moving {name} into the guest as {guest_name}"))
            .map_err(|e| match e {
                NetError::Netlink { source, .. } if source.raw_os_error() == Some(libc::EEXIST) => NetError::Refused(
                    format!("--network-interface={name}:{guest_name}: the guest has a link called {guest_name} already; pick another NEWNAME"),
                ),
                e => e,
            })?;
        if let Some(l) = held.rec.links.last_mut() {
            l.index = inside.index_of(guest_name)?;
        }
        record(rec, &held, persist)?;
    }
    Ok(held)
}

/// Takes the lock of interface `name` for `machine`; another machine's
/// hold is the error, naming it.
fn lock(machine: &str, name: &str, path: &Path) -> Result<File> {
    let what = || format!("locking {}", path.display());
    fs::create_dir_all(subnet::LOCK_DIR).map_err(|e| NetError::netns(what(), e))?;
    match subnet::lock(path, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(mut f) => {
            let _ = f.set_len(0).and_then(|_| f.rewind()).and_then(|_| f.write_all(machine.as_bytes()));
            Ok(f)
        }
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
            let mut who = String::new();
            let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut who));
            let who = if who.is_empty() { "another machine".to_string() } else { format!("machine {who}") };
            Err(NetError::Refused(format!(
                "--network-interface={name}: {who} has it (it is moved into that machine); stop that machine first or name another interface"
            )))
        }
        Err(e) => Err(NetError::netns(what(), e)),
    }
}

/// Bind-mounts the namespace file `ns` on `at`.
fn keep(ns: &str, at: &Path) -> Result<()> {
    let what = || format!("keeping the network namespace {ns} at {}", at.display());
    if let Some(dir) = at.parent() {
        fs::create_dir_all(dir).map_err(|e| NetError::netns(what(), e))?;
    }
    File::create(at).map_err(|e| NetError::netns(what(), e))?;
    nix::mount::mount(Some(ns), at, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| NetError::netns(what(), e))
}

/// The namespace mounted at `p`, if one is.
fn open_ns(p: &Path) -> Option<File> {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let f = File::open(p).ok()?;
    let fs = nix::sys::statfs::fstatfs(f.as_fd()).ok()?;
    (fs.filesystem_type().0 as i64 == NSFS_MAGIC).then_some(f)
}

/// Unmounts and removes `p`; whether a namespace was mounted there.
fn unkeep(p: &Path) -> bool {
    let mounted = open_ns(p).is_some();
    if mounted {
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
    let _ = fs::remove_file(p);
    mounted
}

/// Moves what the record names back and lets both namespaces go; runs
/// anywhere (the mounts say where from and to). Returns what it did.
pub fn cleanup(rec: &MovedRecord) -> Vec<String> {
    let mut done = Vec::new();
    if let Some(guest) = open_ns(&rec.netns) {
        let home = open_ns(&rec.home).or_else(|| File::open("/proc/thread-self/ns/net").ok());
        match (Netlink::open_in(&guest), home) {
            (Ok(mut nl), Some(home)) => {
                for l in &rec.links {
                    match back(&mut nl, l, &home) {
                        Ok(Some(n)) => done.push(format!("interface {n} from the guest (back on the host)")),
                        Ok(None) => {}
                        Err(e) => tracing::warn!("moving {} back: {e}", l.name),
                    }
                }
            }
            (Err(e), _) => tracing::warn!("{e}"),
            (_, None) => tracing::warn!("no network namespace to move {:?} back to", rec.links),
        }
    }
    for p in [&rec.netns, &rec.home] {
        if unkeep(p) {
            done.push(format!("mount {}", p.display()));
        }
    }
    for l in &rec.locks {
        if l.exists() && subnet::release_if_unheld(l) {
            done.push(format!("lock {}", l.display()));
        }
    }
    done
}

/// Moves one interface back under its old name (or, when the host has a
/// link of that name meanwhile, the first free `NAMEn`); its name there,
/// None when the guest no longer has it.
fn back(nl: &mut Netlink, l: &MovedLink, home: &File) -> Result<Option<String>> {
    let index = match l.index {
        Some(i) if nl.name_of(i)?.is_some() => i,
        _ => match nl.index_of(l.guest.as_ref().unwrap_or(&l.name))? {
            Some(i) => i,
            None => return Ok(None),
        },
    };
    // The guest may have renamed it.
    let current = nl.name_of(index)?.unwrap_or_else(|| l.guest.clone().unwrap_or_else(|| l.name.clone()));
    let what = format!("moving {} back to the host", l.name);
    match nl.move_to(index, home, &l.name, &what) {
        Ok(()) => return Ok(Some(l.name.clone())),
        Err(NetError::Netlink { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let mut there = Netlink::open_in(home)?;
    let free = hostif::fallback_names(&l.name)
        .find(|n| matches!(there.index_of(n), Ok(None)))
        .ok_or_else(|| NetError::Refused(format!("{what}: no free name like {}0", l.name)))?;
    if nl.name_of(index)?.is_some() {
        // Nothing moved: its name in the guest is taken on the host too.
        nl.move_to(index, home, &free, &what)?;
    } else if let Some(i) = there.index_of(&current)? {
        // Moved, but the rename to its old name failed.
        there.rename(i, &free, &what)?;
    }
    let msg = format!("the host has another link called {} now, so it came back as {free}", l.name);
    eprint!("berth: {msg}\r\n");
    Ok(Some(format!("{} ({msg})", l.name)))
}
