//! /run/host: what the Container Interface says the host hands the guest
//! (os-release, manager name, uuid, the notify socket, inaccessible nodes
//! used as mask sources, and a directory for live bind mounts).

use crate::error::{Context, Result};
use crate::settings::config::Config;
use crate::sys;
use nix::sys::stat::{mkdirat, mknodat, Mode, SFlag};
use nix::unistd::mkfifoat;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

pub const NOTIFY: &str = "/run/host/notify";

fn write_file(dir: &OwnedFd, name: &str, content: &[u8], mode: u32) -> Result<()> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_EXCL
            | nix::fcntl::OFlag::O_WRONLY
            | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .ctx(|| format!("creating /run/host/{name}"))?;
    // SAFETY: fresh descriptor from openat.
    let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    f.write_all(content).ctx(|| format!("writing /run/host/{name}"))
}

pub fn host_os_release() -> Vec<u8> {
    std::fs::read("/etc/os-release").or_else(|_| std::fs::read("/usr/lib/os-release")).unwrap_or_default()
}

/// Creates /run/host on the guest's fresh /run and returns a descriptor of
/// it (for binding the notify socket). Made read-only by `seal`.
pub fn create(root: &OwnedFd, cfg: &Config, range: Option<crate::ids::userns::Range>) -> Result<OwnedFd> {
    let run = sys::open_in_root(root, Path::new("/run"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening /run".into())?;
    // It exists already when a bind (--bind-user's homes) went below it;
    // /run is the guest's fresh tmpfs, so only berth made it.
    match mkdirat(Some(run.as_raw_fd()), "host", Mode::from_bits_truncate(0o755)) {
        Err(nix::Error::EEXIST) => {}
        r => r.ctx(|| "creating /run/host".into())?,
    }
    let host = sys::open_in_root(root, Path::new("/run/host"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening /run/host".into())?;
    write_file(&host, "os-release", &host_os_release(), 0o444)?;
    write_file(&host, "container-manager", b"berth\n", 0o444)?;
    write_file(&host, "container-uuid", format!("{}\n", cfg.uuid).as_bytes(), 0o444)?;
    mkdirat(Some(host.as_raw_fd()), "incoming", Mode::from_bits_truncate(0o700))
        .ctx(|| "creating /run/host/incoming".into())?;
    mkdirat(Some(host.as_raw_fd()), "inaccessible", Mode::from_bits_truncate(0o755))
        .ctx(|| "creating /run/host/inaccessible".into())?;
    let ina = sys::open_in_root(root, Path::new("/run/host/inaccessible"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening /run/host/inaccessible".into())?;
    let zero = Mode::empty();
    write_file(&ina, "reg", b"", 0)?;
    mkdirat(Some(ina.as_raw_fd()), "dir", zero).ctx(|| "creating /run/host/inaccessible/dir".into())?;
    mkfifoat(Some(ina.as_raw_fd()), "fifo", zero).ctx(|| "creating /run/host/inaccessible/fifo".into())?;
    // Device nodes 0:0 need CAP_MKNOD in the initial user namespace; the
    // masks use only reg and dir, so these are a courtesy.
    let _ = mknodat(Some(ina.as_raw_fd()), "chr", SFlag::S_IFCHR, zero, 0);
    let _ = mknodat(Some(ina.as_raw_fd()), "blk", SFlag::S_IFBLK, zero, 0);
    let creds = !cfg.guest.credentials.is_empty();
    if creds {
        mkdirat(Some(host.as_raw_fd()), "credentials", Mode::from_bits_truncate(0o500))
            .ctx(|| "creating /run/host/credentials".into())?;
        let dir = sys::open_in_root(root, Path::new("/run/host/credentials"), libc::O_PATH | libc::O_DIRECTORY, 0)
            .ctx(|| "opening /run/host/credentials".into())?;
        for (id, value) in &cfg.guest.credentials {
            write_file(&dir, id, value, 0o400)?;
            if let Some(r) = range.filter(|r| r.base != 0) {
                let id_owner = Some(nix::unistd::Uid::from_raw(r.base));
                nix::unistd::fchownat(
                    Some(dir.as_raw_fd()),
                    id.as_str(),
                    id_owner,
                    Some(nix::unistd::Gid::from_raw(r.base)),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .ctx(|| format!("handing credential {id} to the guest's root"))?;
            }
        }
    }
    let owner = range.filter(|r| r.base != 0).map(|r| r.base);
    if !cfg.bound_users.is_empty() {
        userdb(root, &host, cfg, owner)?;
    }
    if let Some(r) = range.filter(|r| r.base != 0) {
        if creds {
            nix::unistd::fchownat(
                Some(host.as_raw_fd()),
                "credentials",
                Some(nix::unistd::Uid::from_raw(r.base)),
                Some(nix::unistd::Gid::from_raw(r.base)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .ctx(|| "handing /run/host/credentials to the guest's root".into())?;
        }
        let (u, g) = (Some(nix::unistd::Uid::from_raw(r.base)), Some(nix::unistd::Gid::from_raw(r.base)));
        let chown = |dir: &OwnedFd, name: &str| {
            nix::unistd::fchownat(Some(dir.as_raw_fd()), name, u, g, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .ctx(|| format!("handing /run/host/{name} to the guest's root"))
        };
        for n in ["os-release", "container-manager", "container-uuid", "incoming", "inaccessible"] {
            chown(&host, n)?;
        }
        for n in ["reg", "dir", "fifo", "chr", "blk"] {
            let _ = chown(&ina, n);
        }
        nix::unistd::fchownat(Some(run.as_raw_fd()), "host", u, g, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .ctx(|| "handing /run/host to the guest's root".into())?;
    }
    Ok(host)
}

/// /run/host/userdb: the JSON records of the users --bind-user brings
/// in, owned by the guest's root (`owner`, a host id) where it is mapped.
fn userdb(root: &OwnedFd, host: &OwnedFd, cfg: &Config, owner: Option<u32>) -> Result<()> {
    mkdirat(Some(host.as_raw_fd()), "userdb", Mode::from_bits_truncate(0o755))
        .ctx(|| "creating /run/host/userdb".into())?;
    let dir = sys::open_in_root(root, Path::new("/run/host/userdb"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening /run/host/userdb".into())?;
    let chown = |d: &OwnedFd, name: &str| match owner {
        Some(id) => {
            let (u, g) = (Some(nix::unistd::Uid::from_raw(id)), Some(nix::unistd::Gid::from_raw(id)));
            nix::unistd::fchownat(Some(d.as_raw_fd()), name, u, g, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .ctx(|| format!("handing /run/host/userdb/{name} to the guest's root"))
        }
        None => Ok(()),
    };
    for user in &cfg.bound_users {
        let (files, links) = user.userdb();
        for (name, content) in files {
            write_file(&dir, &name, content.as_bytes(), 0o444)?;
            chown(&dir, &name)?;
        }
        for (link, target) in links {
            nix::unistd::symlinkat(target.as_str(), Some(dir.as_raw_fd()), link.as_str())
                .ctx(|| format!("linking /run/host/userdb/{link}"))?;
            chown(&dir, &link)?;
        }
    }
    chown(host, "userdb")
}

/// Makes /run/host read-only (bind onto itself, then set the attribute).
pub fn seal(root: &OwnedFd) -> Result<()> {
    let e = crate::plan::mounts::Entry {
        source: crate::plan::mounts::Source::Itself,
        target: "/run/host".into(),
        flags: nix::mount::MsFlags::empty(),
        data: None,
        phase: crate::plan::mounts::Phase::Outer,
        read_only: false,
        recursive: false,
        create: crate::plan::mounts::Create::Skip,
    };
    crate::mount::apply::apply(std::slice::from_ref(&e), crate::plan::mounts::Phase::Outer, root)?;
    // Only the top: the homes --bind-user mounted below stay writable.
    crate::mount::apply::seal_read_only(root, Path::new("/run/host"), false, false)
}
