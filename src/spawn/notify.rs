//! The guest's notify socket (/run/host/notify): READY=1 and STATUS= from
//! the guest's PID 1, relayed to berth's own service manager.

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notice {
    pub ready: bool,
    pub stopping: bool,
    pub status: Option<String>,
}

/// Parses one sd_notify datagram.
pub fn parse(text: &str) -> Notice {
    let mut n = Notice::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("READY", "1")) => n.ready = true,
            Some(("STOPPING", "1")) => n.stopping = true,
            Some(("STATUS", s)) => n.status = Some(s.to_string()),
            _ => {}
        }
    }
    n
}

/// Reads every pending datagram; keeps only those sent by `leader` (the
/// guest's PID 1, as a host pid), as nspawn does.
pub fn drain(sock: &OwnedFd, leader: i32) -> Vec<Notice> {
    let mut out = Vec::new();
    loop {
        let mut buf = vec![0u8; 4096];
        let mut cbuf = nix::cmsg_space!(libc::ucred, [std::os::fd::RawFd; 8]);
        let (n, pid) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let Ok(r) = recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut cbuf),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            ) else {
                return out;
            };
            let mut pid = 0;
            if let Ok(cmsgs) = r.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::ScmCredentials(cred) => pid = cred.pid(),
                        // Descriptors have no business here: close them.
                        ControlMessageOwned::ScmRights(fds) => fds.into_iter().for_each(|fd| {
                            let _ = nix::unistd::close(fd);
                        }),
                        _ => {}
                    }
                }
            }
            (r.bytes, pid)
        };
        if pid == leader && n > 0 {
            out.push(parse(&String::from_utf8_lossy(&buf[..n])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields() {
        assert_eq!(
            parse("READY=1\nSTATUS=Startup finished.\n"),
            Notice { ready: true, stopping: false, status: Some("Startup finished.".into()) }
        );
        assert_eq!(parse("STOPPING=1"), Notice { ready: false, stopping: true, status: None });
        assert_eq!(parse("READY=0\nX_Y=1"), Notice::default());
    }
}
