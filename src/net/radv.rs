//! The router advertisement sender of one link, served from the
//! launcher's event loop: an ICMPv6 raw socket on the link (it hears
//! router solicitations, sent to ff02::2) and a timer (periodic
//! advertisements to ff02::1, a few quick ones at first).
//!
//! On a zone every member's launcher has one, but only the holder of the
//! zone's `ra.lock` advertises: the first member to take it. When it
//! leaves (its launcher gone, however it ended) the lock is free and the
//! next member's timer takes it within one tick and advertises at once;
//! what it says is the same (the zone's prefix, sent from the bridge), so
//! the guests notice nothing.

use super::error::{NetError, Result};
use super::ra::{self, Advert};
use super::subnet;
use std::fs::File;
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The timer's period: how soon a new leader takes over.
const TICK: Duration = Duration::from_secs(2);
/// Between periodic advertisements, after the first few.
const INTERVAL: Duration = Duration::from_secs(30);
/// Advertisements sent at every tick at first (and on taking over).
const INITIAL: u32 = 4;
/// Solicitations are answered at most this often.
const MIN_GAP: Duration = Duration::from_millis(300);

const ICMP6_FILTER: libc::c_int = 1;

/// Who advertises on the link.
enum Leader {
    /// A link of our own: always us.
    Alone,
    /// A zone: whoever holds the lock file.
    Lock { path: PathBuf, held: Option<File> },
}

pub struct Radv {
    sock: OwnedFd,
    timer: OwnedFd,
    ifindex: u32,
    advert: Vec<u8>,
    leader: Leader,
    last: Option<Instant>,
    initial: u32,
}

fn sys(what: &str, r: libc::c_int) -> Result<libc::c_int> {
    if r < 0 {
        Err(NetError::netlink(what.to_string(), io::Error::last_os_error()))
    } else {
        Ok(r)
    }
}

impl Radv {
    /// Advertises `advert` on link `ifname` (index `ifindex`); on a zone,
    /// only while holding `lock`.
    pub fn new(ifname: &str, ifindex: u32, advert: &Advert, lock: Option<PathBuf>) -> Result<Radv> {
        let what = format!("sending IPv6 router advertisements on {ifname}");
        // SAFETY: plain socket calls on descriptors we own, with values
        // and sizes of the types the kernel expects.
        let (sock, timer) = unsafe {
            let fd = sys(
                &what,
                libc::socket(
                    libc::AF_INET6,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    libc::IPPROTO_ICMPV6,
                ),
            )?;
            let sock = OwnedFd::from_raw_fd(fd);
            let set = |level: libc::c_int, opt: libc::c_int, v: *const libc::c_void, len: usize| {
                sys(&what, libc::setsockopt(fd, level, opt, v, len as libc::socklen_t)).map(drop)
            };
            set(libc::SOL_SOCKET, libc::SO_BINDTODEVICE, ifname.as_ptr() as *const _, ifname.len())?;
            let hops: libc::c_int = 255;
            set(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops as *const _ as *const _, 4)?;
            set(libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops as *const _ as *const _, 4)?;
            let index = ifindex as libc::c_int;
            set(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &index as *const _ as *const _, 4)?;
            let zero: libc::c_int = 0;
            set(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &zero as *const _ as *const _, 4)?;
            // Only solicitations come in: every bit set blocks a type.
            let mut filter = [u32::MAX; 8];
            let t = ra::ROUTER_SOLICITATION as usize;
            filter[t >> 5] &= !(1 << (t & 31));
            set(libc::IPPROTO_ICMPV6, ICMP6_FILTER, filter.as_ptr() as *const _, 32)?;
            let mreq = libc::ipv6_mreq {
                ipv6mr_multiaddr: libc::in6_addr { s6_addr: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2).octets() },
                ipv6mr_interface: ifindex,
            };
            set(
                libc::IPPROTO_IPV6,
                libc::IPV6_ADD_MEMBERSHIP,
                &mreq as *const _ as *const _,
                std::mem::size_of_val(&mreq),
            )?;
            let tfd = sys(&what, libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK))?;
            let timer = OwnedFd::from_raw_fd(tfd);
            let ts = libc::timespec { tv_sec: TICK.as_secs() as libc::time_t, tv_nsec: 0 };
            // The first tick comes at once.
            let first = libc::timespec { tv_sec: 0, tv_nsec: 1 };
            let spec = libc::itimerspec { it_interval: ts, it_value: first };
            sys(&what, libc::timerfd_settime(tfd, 0, &spec, std::ptr::null_mut()))?;
            (sock, timer)
        };
        let leader = match lock {
            None => Leader::Alone,
            Some(path) => Leader::Lock { path, held: None },
        };
        Ok(Radv { sock, timer, ifindex, advert: ra::build(advert), leader, last: None, initial: 0 })
    }

    /// The socket, then the timer.
    pub fn fds(&self) -> [BorrowedFd<'_>; 2] {
        [self.sock.as_fd(), self.timer.as_fd()]
    }

    /// Whether this launcher advertises (taking a free zone lock).
    fn leads(&mut self) -> bool {
        match &mut self.leader {
            Leader::Alone => true,
            Leader::Lock { held: Some(_), .. } => true,
            Leader::Lock { path, held } => match subnet::lock(path, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(f) => {
                    tracing::info!("advertising the zone's IPv6 prefix ({} taken)", path.display());
                    *held = Some(f);
                    self.initial = 0;
                    true
                }
                Err(_) => false,
            },
        }
    }

    /// `socket`/`timer`: which of `fds()` has input.
    pub fn service(&mut self, socket: bool, timer: bool) {
        let mut solicited = false;
        if socket {
            let mut buf = [0u8; 1500];
            loop {
                // SAFETY: reading into our own buffer.
                let n = unsafe { libc::recv(self.sock.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len(), 0) };
                if n <= 0 {
                    break;
                }
                solicited |= ra::is_solicitation(&buf[..n as usize]);
            }
        }
        let mut due = false;
        if timer {
            let mut ticks = [0u8; 8];
            // SAFETY: a timerfd read is 8 bytes into our buffer.
            unsafe { libc::read(self.timer.as_raw_fd(), ticks.as_mut_ptr() as *mut _, 8) };
            due = self.initial < INITIAL || self.last.is_none_or(|t| t.elapsed() >= INTERVAL);
        }
        let answer = solicited && self.last.is_none_or(|t| t.elapsed() >= MIN_GAP);
        if solicited {
            // A host just came up (a guest's link, a zone's new member):
            // the burst of the first advertisements again, as a router
            // does when its link changes. An answer sent before the
            // link's own link-local address was ready is not lost then.
            self.initial = 0;
        }
        if (due || answer) && self.leads() {
            self.send();
        }
    }

    /// Sends the advertisement to all nodes on the link. A link whose
    /// link-local address is not there yet (no carrier) fails quietly:
    /// the next tick or solicitation tries again.
    fn send(&mut self) {
        // SAFETY: sending our own buffer to a sockaddr_in6 we filled.
        let r = unsafe {
            let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
            sa.sin6_family = libc::AF_INET6 as u16;
            sa.sin6_addr.s6_addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets();
            sa.sin6_scope_id = self.ifindex;
            libc::sendto(
                self.sock.as_raw_fd(),
                self.advert.as_ptr() as *const _,
                self.advert.len(),
                0,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of_val(&sa) as u32,
            )
        };
        if r >= 0 {
            self.last = Some(Instant::now());
            self.initial += 1;
        } else {
            tracing::debug!("router advertisement: {}", io::Error::last_os_error());
        }
    }
}
