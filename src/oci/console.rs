//! `--console-socket`: a pty made in the container's own devpts, its
//! master sent to the engine over the socket with SCM_RIGHTS, its slave
//! the process's controlling terminal, stdio and /dev/console.

use super::{Ctx, OciError, Result};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Connects to the engine's console socket (from the host, before any
/// namespace is entered).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path).ctx(|| format!("--console-socket {}", path.display()))?;
    Ok(OwnedFd::from(s))
}

/// Makes the pty, hands its master over and makes its slave our terminal.
/// With `console`, the slave is also bound over /dev/console.
pub fn setup(sock: RawFd, console: bool) -> Result<()> {
    let master = posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC)
        .ctx(|| "opening /dev/ptmx in the container".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = ptsname_r(&master).ctx(|| "ptsname".into())?;
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None).ctx(|| "sending the pty to --console-socket".into())?;
    drop(master);
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(&name).ctx(|| format!("opening {name}"))?;
    if console {
        let c = Path::new("/dev/console");
        if !c.exists() {
            std::fs::File::create(c).ctx(|| "creating /dev/console".into())?;
        }
        nix::mount::mount(Some(name.as_str()), c, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
            .ctx(|| "binding the pty over /dev/console".into())?;
    }
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    let fd = slave.into_raw_fd();
    // SAFETY: TIOCSCTTY on our own pty slave.
    if unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) } < 0 {
        return Err(OciError::sys("making the pty the controlling terminal", std::io::Error::last_os_error()));
    }
    for target in 0..3 {
        nix::unistd::dup2(fd, target).ctx(|| "pty as stdio".into())?;
    }
    if fd > 2 {
        let _ = nix::unistd::close(fd);
    }
    // SAFETY: closing the socket, which nothing else owns in this process.
    unsafe { libc::close(sock) };
    Ok(())
}
