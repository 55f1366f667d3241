//! The guest's minimal /dev: a few character devices, the devpts
//! instance's ptmx, the console, and the /proc/self/fd links. No block
//! devices, no kmsg.

use crate::error::{Context, Error, Result};
use crate::sys;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fchmodat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::symlinkat;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Character devices copied from the host by major/minor number.
pub const NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty", "net/tun"];
pub const LINKS: &[(&str, &str)] = &[
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Populates the freshly mounted /dev tmpfs below `root`.
pub fn populate(root: &OwnedFd, range: Option<crate::ids::userns::Range>) -> Result<()> {
    let dev = sys::open_in_root(root, Path::new("/dev"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening /dev".into())?;
    for node in NODES {
        let host = Path::new("/dev").join(node);
        let md = match std::fs::metadata(&host) {
            Ok(m) if m.file_type().is_char_device() => m,
            // /dev/net/tun is optional on the host; the others must exist.
            _ if *node == "net/tun" => continue,
            _ => {
                return Err(Error::Usage(format!(
                    "the host has no character device {}; cannot build the guest's /dev",
                    host.display()
                )))
            }
        };
        if let Some((parent, _)) = node.split_once('/') {
            match nix::sys::stat::mkdirat(Some(dev.as_raw_fd()), parent, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(nix::Error::EEXIST) => {}
                Err(e) => return Err(Error::sys(format!("creating /dev/{parent}"), e)),
            }
        }
        let perm = Mode::from_bits_truncate(md.mode() & 0o7777);
        match mknodat(Some(dev.as_raw_fd()), *node, SFlag::S_IFCHR, perm, md.rdev()) {
            Ok(()) => {}
            // In a user namespace mknod is refused: bind the host's node.
            Err(nix::Error::EPERM) => {
                let target = crate::mount::apply::ensure(root, &Path::new("/dev").join(node), true)?;
                // O_PATH: /dev/tty cannot be opened without a controlling
                // terminal, and a bind needs no open device.
                use std::os::unix::fs::OpenOptionsExt;
                let src = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH).open(&host);
                let src = src.ctx(|| format!("opening {}", host.display()))?;
                mount(
                    Some(sys::fd_path(&src).as_str()),
                    sys::fd_path(&target).as_str(),
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .ctx(|| format!("binding {}", host.display()))?;
                continue;
            }
            Err(e) => return Err(Error::sys(format!("creating /dev/{node}"), e)),
        }
        fchmodat(Some(dev.as_raw_fd()), *node, perm, FchmodatFlags::NoFollowSymlink)
            .or_else(|e| if e == nix::Error::EOPNOTSUPP { Ok(()) } else { Err(e) })
            .ctx(|| format!("setting the mode of /dev/{node}"))?;
    }
    for (name, target) in LINKS {
        symlinkat(*target, Some(dev.as_raw_fd()), *name).ctx(|| format!("creating /dev/{name}"))?;
    }
    if let Some(r) = range.filter(|r| r.base != 0) {
        // The guest's root owns its /dev, as it would on a real system.
        let names = NODES.iter().copied().chain(["net"]).chain(LINKS.iter().map(|(n, _)| *n));
        for name in names {
            match nix::unistd::fchownat(
                Some(dev.as_raw_fd()),
                name,
                Some(nix::unistd::Uid::from_raw(r.base)),
                Some(nix::unistd::Gid::from_raw(if name == "tty" { r.host(5) } else { r.base })),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(()) | Err(nix::Error::ENOENT) => {}
                Err(e) => return Err(Error::sys(format!("handing /dev/{name} to the guest's root"), e)),
            }
        }
    }
    Ok(())
}

/// Binds `source` (a pty slave, or /dev/null with --console=pipe) onto a
/// fresh /dev/console.
pub fn bind_console(root: &OwnedFd, source: &impl AsRawFd) -> Result<()> {
    let console = crate::mount::apply::ensure(root, Path::new("/dev/console"), true)?;
    mount(
        Some(sys::fd_path(source).as_str()),
        sys::fd_path(&console).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| "binding the console pty onto /dev/console".into())
}
