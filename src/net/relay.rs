//! The loopback half of `--port` for TCP: the launcher listens on the
//! host's 127.0.0.1 and ::1 at each forwarded port and relays every
//! connection to the guest, from its own event loop (no threads).
//! DNAT cannot serve loopback without route_localnet, and cannot turn
//! IPv6 ::1 into the guest's IPv4 address at all.

use super::error::{NetError, Result};
use nix::poll::PollFlags;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd};

/// Bytes buffered per direction of a connection.
const CHUNK: usize = 64 * 1024;

struct Conn {
    client: TcpStream,
    guest: TcpStream,
    connected: bool,
    to_guest: Vec<u8>,
    to_client: Vec<u8>,
    client_eof: bool,
    guest_eof: bool,
    dead: bool,
}

pub struct Relay {
    listeners: Vec<(TcpListener, SocketAddrV4)>,
    conns: Vec<Conn>,
}

/// A non-blocking connect to `to`, under way.
fn connect(to: SocketAddrV4) -> io::Result<TcpStream> {
    // SAFETY: a new socket we own; connect with a valid sockaddr_in.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let s = TcpStream::from_raw_fd(fd);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_port = to.port().to_be();
        sa.sin_addr.s_addr = u32::from(*to.ip()).to_be();
        let r = libc::connect(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32);
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(io::Error::last_os_error());
        }
        Ok(s)
    }
}

/// Moves what `from` has into `buf` and `buf` into `to`; false on an error.
fn pump(from: &mut TcpStream, eof: &mut bool, buf: &mut Vec<u8>, to: &mut TcpStream) -> bool {
    if buf.is_empty() && !*eof {
        let mut chunk = vec![0u8; CHUNK];
        match from.read(&mut chunk) {
            Ok(0) => *eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if !buf.is_empty() {
        match to.write(buf) {
            Ok(n) => drop(buf.drain(..n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if *eof && buf.is_empty() {
        let _ = to.shutdown(std::net::Shutdown::Write);
    }
    true
}

impl Relay {
    /// Listens on 127.0.0.1 and ::1 at each of `ports` (host, guest).
    pub fn new(guest: Ipv4Addr, ports: &[(u16, u16)]) -> Result<Relay> {
        let mut listeners = Vec::new();
        for &(host, to) in ports {
            let target = SocketAddrV4::new(guest, to);
            let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, host)).map_err(|e| {
                NetError::netns(format!("--port={host}: listening on 127.0.0.1:{host}; pick a free host port"), e)
            })?;
            listeners.push((v4, target));
            match TcpListener::bind((Ipv6Addr::LOCALHOST, host)) {
                Ok(v6) => listeners.push((v6, target)),
                // A host without IPv6 on lo serves IPv4 only.
                Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {}
                Err(e) => {
                    return Err(NetError::netns(
                        format!("--port={host}: listening on [::1]:{host}; pick a free host port"),
                        e,
                    ))
                }
            }
        }
        for (l, _) in &listeners {
            l.set_nonblocking(true).map_err(|e| NetError::netns("configuring the port relay", e))?;
        }
        Ok(Relay { listeners, conns: Vec::new() })
    }

    /// What the event loop polls for the relay.
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let mut v: Vec<_> = self.listeners.iter().map(|(l, _)| (l.as_fd(), PollFlags::POLLIN)).collect();
        for c in &self.conns {
            let want = |read: bool, write: bool| {
                let mut f = PollFlags::empty();
                f.set(PollFlags::POLLIN, read);
                f.set(PollFlags::POLLOUT, write);
                f
            };
            let client_in = c.to_guest.is_empty() && !c.client_eof;
            v.push((c.client.as_fd(), want(client_in, !c.to_client.is_empty())));
            let guest_out = !c.connected || !c.to_guest.is_empty();
            v.push((c.guest.as_fd(), want(c.connected && c.to_client.is_empty() && !c.guest_eof, guest_out)));
        }
        v
    }

    /// One turn: new connections, then every connection moves what it can.
    pub fn service(&mut self) {
        for (l, target) in &self.listeners {
            while let Ok((client, _)) = l.accept() {
                let Ok(guest) = connect(*target) else { continue };
                if client.set_nonblocking(true).is_err() {
                    continue;
                }
                self.conns.push(Conn {
                    client,
                    guest,
                    connected: false,
                    to_guest: Vec::new(),
                    to_client: Vec::new(),
                    client_eof: false,
                    guest_eof: false,
                    dead: false,
                });
            }
        }
        for c in &mut self.conns {
            if !c.connected {
                match c.guest.take_error() {
                    Ok(None) if c.guest.peer_addr().is_ok() => c.connected = true,
                    Ok(None) => continue,
                    _ => {
                        c.dead = true;
                        continue;
                    }
                }
            }
            let ok = pump(&mut c.client, &mut c.client_eof, &mut c.to_guest, &mut c.guest)
                && pump(&mut c.guest, &mut c.guest_eof, &mut c.to_client, &mut c.client);
            let done = c.client_eof && c.guest_eof && c.to_guest.is_empty() && c.to_client.is_empty();
            c.dead |= !ok || done;
        }
        self.conns.retain(|c| !c.dead);
    }

    /// The addresses it listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|(l, _)| l.local_addr().ok()).collect()
    }
}
