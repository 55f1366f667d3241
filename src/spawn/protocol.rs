//! Typed messages between the launcher and its children over a
//! SOCK_SEQPACKET socketpair; descriptors cross with SCM_RIGHTS. A dead peer
//! shows up as EOF, so no side ever waits on a process that is gone.

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the children tell the launcher.
#[derive(Debug)]
pub enum Msg {
    /// The guest's notify socket, bound at /run/host/notify.
    NotifySocket(OwnedFd),
    /// The console pty: master, and a slave kept open so the master never
    /// sees EOF while the guest runs.
    Pty(OwnedFd, OwnedFd),
    /// Host pid of the guest's PID 1.
    InnerPid(i32),
    /// Setup failed; one line for the user.
    Error(String),
    /// execve of the command failed with this errno.
    ExecFailed(i32, String),
    /// Launcher to outer child: the guest's namespaces are prepared.
    Proceed,
}

const T_NOTIFY: u8 = 1;
const T_PTY: u8 = 2;
const T_PID: u8 = 3;
const T_ERROR: u8 = 4;
const T_EXEC: u8 = 5;
const T_PROCEED: u8 = 6;

pub fn pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
}

pub fn send(sock: &impl AsRawFd, msg: &Msg) -> nix::Result<()> {
    let (tag, body, fds): (u8, Vec<u8>, Vec<RawFd>) = match msg {
        Msg::NotifySocket(fd) => (T_NOTIFY, vec![], vec![fd.as_raw_fd()]),
        Msg::Pty(m, s) => (T_PTY, vec![], vec![m.as_raw_fd(), s.as_raw_fd()]),
        Msg::InnerPid(p) => (T_PID, p.to_le_bytes().to_vec(), vec![]),
        Msg::Error(s) => (T_ERROR, s.as_bytes().to_vec(), vec![]),
        Msg::Proceed => (T_PROCEED, vec![], vec![]),
        Msg::ExecFailed(e, p) => {
            let mut b = e.to_le_bytes().to_vec();
            b.extend_from_slice(p.as_bytes());
            (T_EXEC, b, vec![])
        }
    };
    let tag = [tag];
    let iov = [IoSlice::new(&tag), IoSlice::new(&body)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None).map(|_| ())
}

/// Receives one message; `Ok(None)` at EOF (every peer has closed).
pub fn recv(sock: &impl AsRawFd) -> nix::Result<Option<Msg>> {
    let mut buf = vec![0u8; 4096];
    let mut cbuf = nix::cmsg_space!([RawFd; 2]);
    let (n, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let r = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut cbuf), MsgFlags::MSG_CMSG_CLOEXEC)?;
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
    let body = &buf[1..n];
    let mut fds = fds.into_iter();
    let text = || String::from_utf8_lossy(body).into_owned();
    let int = |b: &[u8]| b.get(..4).map(|x| i32::from_le_bytes([x[0], x[1], x[2], x[3]])).unwrap_or(0);
    let msg = match buf[0] {
        T_NOTIFY => Msg::NotifySocket(fds.next().ok_or(nix::Error::EBADMSG)?),
        T_PTY => {
            let m = fds.next().ok_or(nix::Error::EBADMSG)?;
            Msg::Pty(m, fds.next().ok_or(nix::Error::EBADMSG)?)
        }
        T_PID => Msg::InnerPid(int(body)),
        T_PROCEED => Msg::Proceed,
        T_ERROR => Msg::Error(text()),
        T_EXEC => Msg::ExecFailed(int(body), String::from_utf8_lossy(body.get(4..).unwrap_or_default()).into_owned()),
        _ => return Err(nix::Error::EBADMSG),
    };
    Ok(Some(msg))
}
