//! The launcher and its children talk over one SOCK_SEQPACKET socketpair,
//! with one typed message enum per direction; descriptors cross with
//! SCM_RIGHTS. A dead peer shows up as EOF, so no side ever waits on a
//! process that is gone.
//!
//! The start, in order (the sync points are where a side waits):
//! 1. launcher: clones the outer child (new mount namespace, born in
//!    `payload/`).
//! 2. outer child: clones the guest's PID 1 (new pid and user namespaces,
//!    parented to the launcher), which blocks on the start pipe; sends
//!    [`Report::GuestCreated`].
//! 3. **sync point `Prepared`**: the launcher writes the id maps,
//!    delegates `payload/` and joins the v1 cgroups, then sends
//!    [`Command::Proceed`]; the outer child waits for it.
//! 4. outer child: mounts the root, the API filesystems and /dev, sends
//!    [`Report::NotifySocket`] and [`Report::Console`]; its proc helper
//!    mounts /proc from inside the guest's pid namespace; it pivots.
//!    Meanwhile the launcher sets up the guest's network and registers
//!    with machined (which wants the network's interfaces): on a machine
//!    with two cores, neither waits for the other.
//! 5. **sync point `Networked`**: the launcher sends [`Command::Start`]
//!    once the network and the registration are done; the outer child
//!    waits for it, writes the start pipe, then exits.
//! 6. **sync point `Started`**: the guest's PID 1 reads the start pipe,
//!    unshares its own namespaces, confines itself and execs. The
//!    launcher sees the setup side close the socket (every child has
//!    exec'd or exited) and calls the guest started.
//!
//! Any step may instead send [`Report::Failed`], a typed error the
//! launcher turns back into berth's own error (and exit status).

use crate::error::Error;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the children tell the launcher.
#[derive(Debug)]
pub enum Report {
    /// Host pid of the guest's PID 1, which now waits for `Proceed`.
    GuestCreated(i32),
    /// The guest's notify socket, bound at /run/host/notify.
    NotifySocket(OwnedFd),
    /// The console pty: master, and a slave kept open so the master never
    /// sees EOF while the guest runs.
    Console { master: OwnedFd, slave: OwnedFd },
    /// views: the /dev/fuse connection of the guest's /proc views, mounted
    /// and waiting for its server.
    Views(OwnedFd),
    /// views: the seccomp listener of the guest's `sysinfo` calls.
    Sysinfo(OwnedFd),
    /// A step failed.
    Failed(Failure),
}

/// What the launcher tells the outer child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sync point `Prepared`: the id maps and cgroups are done.
    Proceed,
    /// Sync point `Networked`: the guest's network and its registration
    /// are done; the guest may start.
    Start,
}

/// A child's error, typed across the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    /// One line for the user.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// Something the user asked for cannot be done with this tree.
    Usage,
    /// The setup failed (a system call, a mount).
    Setup,
    /// execve of the command failed; `missing` when it does not exist.
    Exec { missing: bool },
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Failure {
        let kind = match e {
            Error::Usage(_) | Error::Policy(_) => FailureKind::Usage,
            Error::Exec { missing, .. } => FailureKind::Exec { missing: *missing },
            _ => FailureKind::Setup,
        };
        Failure { kind, message: e.to_string() }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f.kind {
            FailureKind::Usage => Error::Usage(f.message),
            FailureKind::Setup => Error::Setup(f.message),
            FailureKind::Exec { missing } => Error::Exec { msg: f.message, missing },
        }
    }
}

/// The body of a report on the wire; descriptors travel beside it.
#[derive(Debug, Serialize, Deserialize)]
enum Wire {
    GuestCreated(i32),
    NotifySocket,
    Console,
    Views,
    Sysinfo,
    Failed(Failure),
}

pub fn pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
}

pub fn report(sock: &impl AsRawFd, r: &Report) -> nix::Result<()> {
    let (wire, fds) = match r {
        Report::GuestCreated(pid) => (Wire::GuestCreated(*pid), vec![]),
        Report::NotifySocket(fd) => (Wire::NotifySocket, vec![fd.as_raw_fd()]),
        Report::Console { master, slave } => (Wire::Console, vec![master.as_raw_fd(), slave.as_raw_fd()]),
        Report::Views(fd) => (Wire::Views, vec![fd.as_raw_fd()]),
        Report::Sysinfo(fd) => (Wire::Sysinfo, vec![fd.as_raw_fd()]),
        Report::Failed(f) => (Wire::Failed(f.clone()), vec![]),
    };
    send(sock, &wire, &fds)
}

/// A failure as the child's last word.
pub fn fail(sock: &impl AsRawFd, e: &Error) {
    let _ = report(sock, &Report::Failed(e.into()));
}

/// Receives one report; `Ok(None)` at EOF (every child has closed).
pub fn read_report(sock: &impl AsRawFd) -> nix::Result<Option<Report>> {
    let received = match recv::<Wire>(sock, MsgFlags::empty()) {
        // The child closed its end with a command still unread (it failed
        // before it needed `Start`): the kernel reports that once, ahead
        // of any report still queued. Only a queued one is taken; without
        // one this stays the end of the setup.
        Err(nix::Error::ECONNRESET) => match recv::<Wire>(sock, MsgFlags::MSG_DONTWAIT) {
            Ok(Some(r)) => Some(r),
            _ => return Err(nix::Error::ECONNRESET),
        },
        r => r?,
    };
    let Some((wire, fds)) = received else { return Ok(None) };
    let mut fds = fds.into_iter();
    let mut fd = || fds.next().ok_or(nix::Error::EBADMSG);
    Ok(Some(match wire {
        Wire::GuestCreated(pid) => Report::GuestCreated(pid),
        Wire::NotifySocket => Report::NotifySocket(fd()?),
        Wire::Console => Report::Console { master: fd()?, slave: fd()? },
        Wire::Views => Report::Views(fd()?),
        Wire::Sysinfo => Report::Sysinfo(fd()?),
        Wire::Failed(f) => Report::Failed(f),
    }))
}

pub fn command(sock: &impl AsRawFd, c: Command) -> nix::Result<()> {
    send(sock, &c, &[])
}

/// Waits for the launcher's command; `Ok(None)` when it is gone.
pub fn read_command(sock: &impl AsRawFd) -> nix::Result<Option<Command>> {
    Ok(recv::<Command>(sock, MsgFlags::empty())?.map(|(c, _)| c))
}

fn send<T: Serialize>(sock: &impl AsRawFd, body: &T, fds: &[RawFd]) -> nix::Result<()> {
    let bytes = serde_json::to_vec(body).map_err(|_| nix::Error::EINVAL)?;
    let iov = [IoSlice::new(&bytes)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    // A closed peer is an error to return, not a SIGPIPE.
    sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None).map(|_| ())
}

fn recv<T: for<'de> Deserialize<'de>>(sock: &impl AsRawFd, flags: MsgFlags) -> nix::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; 8192];
    let mut cbuf = nix::cmsg_space!([RawFd; 2]);
    let (n, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let r = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut cbuf), MsgFlags::MSG_CMSG_CLOEXEC | flags)?;
        let mut fds = Vec::new();
        for c in r.cmsgs()? {
            if let ControlMessageOwned::ScmRights(v) = c {
                // SAFETY: the kernel just installed these descriptors for us.
                fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        (r.bytes, fds)
    };
    if n == 0 {
        return Ok(None);
    }
    let body = serde_json::from_slice(&buf[..n]).map_err(|_| nix::Error::EBADMSG)?;
    Ok(Some((body, fds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_and_commands_cross_typed_with_descriptors() {
        let (a, b) = pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        report(&a, &Report::GuestCreated(42)).unwrap();
        report(&a, &Report::Console { master: r, slave: w }).unwrap();
        fail(&a, &Error::Exec { msg: "cannot execute /x: No such file".into(), missing: true });
        fail(&a, &Error::Usage("the tree's /proc is a symlink".into()));
        assert!(matches!(read_report(&b).unwrap(), Some(Report::GuestCreated(42))));
        match read_report(&b).unwrap() {
            Some(Report::Console { master, slave }) => {
                nix::unistd::write(&slave, b"x").unwrap();
                let mut buf = [0u8; 1];
                assert_eq!(nix::unistd::read(master.as_raw_fd(), &mut buf).unwrap(), 1);
            }
            other => panic!("{other:?}"),
        }
        let Some(Report::Failed(f)) = read_report(&b).unwrap() else { panic!() };
        let e = Error::from(f);
        assert!(matches!(e, Error::Exec { missing: true, .. }));
        assert_eq!(e.exit_code(true), 127);
        let Some(Report::Failed(f)) = read_report(&b).unwrap() else { panic!() };
        assert!(matches!(Error::from(f), Error::Usage(_)));
        command(&b, Command::Proceed).unwrap();
        command(&b, Command::Start).unwrap();
        assert_eq!(read_command(&a).unwrap(), Some(Command::Proceed));
        assert_eq!(read_command(&a).unwrap(), Some(Command::Start));
        drop(b);
        assert!(read_report(&a).unwrap().is_none(), "EOF once the peer is gone");
    }

    #[test]
    fn a_descriptor_report_without_its_descriptor_is_refused() {
        let (a, b) = pair().unwrap();
        send(&a, &Wire::NotifySocket, &[]).unwrap();
        assert_eq!(read_report(&b).unwrap_err(), nix::Error::EBADMSG);
        nix::unistd::write(&a, b"garbage").unwrap();
        assert_eq!(read_report(&b).unwrap_err(), nix::Error::EBADMSG);
    }

    #[test]
    fn a_child_gone_with_a_command_unread_still_reports_its_failure() {
        let (launcher, child) = pair().unwrap();
        command(&launcher, Command::Start).unwrap();
        fail(&child, &Error::Usage("the tree's /dev is a symlink".into()));
        drop(child);
        let Some(Report::Failed(f)) = read_report(&launcher).unwrap() else { panic!("no failure read") };
        assert_eq!(f.message, "the tree's /dev is a symlink");
        assert!(read_report(&launcher).unwrap().is_none(), "then EOF");
    }
}
