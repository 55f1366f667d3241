//! How a zone member's DHCP server hears its own guest. Every member's
//! launcher binds a UDP socket to port 67 on the zone's bridge, but a
//! renewal, unicast to the bridge's address, reaches only one of those
//! sockets (whichever the kernel picks), most often another member's,
//! which does not answer for a guest it does not know. So each member
//! reads the bridge with a packet socket whose BPF filter passes only
//! IPv4/UDP to port 67 sent from its guest's MAC: broadcasts and
//! unicasts alike, each to the member of the sending guest. The UDP
//! sockets stay bound (no ICMP "port unreachable" for the unicasts) and
//! send the answers; what they receive is dropped.

use super::error::{NetError, Result};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_MSH: u16 = 0xa0;
const BPF_JEQ: u16 = 0x10;
const BPF_JSET: u16 = 0x40;
const ETH_P_IP: u16 = 0x0800;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The classic BPF program over Ethernet frames: IPv4, from `mac`, UDP,
/// not a fragment, to port 67.
pub fn filter(mac: [u8; 6]) -> Vec<libc::sock_filter> {
    const DROP: u8 = 14;
    let hi = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]);
    let lo = u16::from_be_bytes([mac[4], mac[5]]) as u32;
    vec![
        ins(BPF_LD | BPF_H | BPF_ABS, 0, 0, 12),
        ins(BPF_JMP | BPF_JEQ, 0, DROP - 2, ETH_P_IP as u32),
        ins(BPF_LD | BPF_W | BPF_ABS, 0, 0, 6),
        ins(BPF_JMP | BPF_JEQ, 0, DROP - 4, hi),
        ins(BPF_LD | BPF_H | BPF_ABS, 0, 0, 10),
        ins(BPF_JMP | BPF_JEQ, 0, DROP - 6, lo),
        ins(BPF_LD | BPF_B | BPF_ABS, 0, 0, 23),
        ins(BPF_JMP | BPF_JEQ, 0, DROP - 8, 17),
        ins(BPF_LD | BPF_H | BPF_ABS, 0, 0, 20),
        ins(BPF_JMP | BPF_JSET, DROP - 10, 0, 0x1fff),
        ins(BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14),
        ins(BPF_LD | BPF_H | BPF_IND, 0, 0, 16),
        ins(BPF_JMP | BPF_JEQ, 0, DROP - 13, 67),
        ins(BPF_RET, 0, 0, 0x40000),
        ins(BPF_RET, 0, 0, 0),
    ]
}

/// The UDP payload of an Ethernet frame carrying IPv4/UDP (the kernel's
/// filter has checked the rest).
pub fn udp_payload(frame: &[u8]) -> Option<&[u8]> {
    let ip = frame.get(14..)?;
    let ihl = (*ip.first()? & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]) as usize;
    let udp = ip.get(ihl..total.min(ip.len()))?;
    udp.get(8..)
}

/// A packet socket on link `ifname` passing what `filter(mac)` passes.
pub fn open(ifname: &str, mac: [u8; 6]) -> Result<OwnedFd> {
    let what = || format!("serving DHCP on {ifname}");
    let err = |_: ()| NetError::netlink(what(), io::Error::last_os_error());
    let name = std::ffi::CString::new(ifname).map_err(|e| NetError::netlink(what(), io::Error::other(e)))?;
    let prog = filter(mac);
    // SAFETY: socket calls on a descriptor we own; the filter program
    // outlives the setsockopt that copies it.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        if index == 0 {
            return Err(err(()));
        }
        // Protocol 0 takes nothing until bound: no frame comes in before
        // the filter is attached.
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0);
        if fd < 0 {
            return Err(err(()));
        }
        let sock = OwnedFd::from_raw_fd(fd);
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut _ };
        let len = std::mem::size_of_val(&fprog) as libc::socklen_t;
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog as *const _ as *const _, len) < 0 {
            return Err(err(()));
        }
        let mut sa: libc::sockaddr_ll = std::mem::zeroed();
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = ETH_P_IP.to_be();
        sa.sll_ifindex = index as i32;
        if libc::bind(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32) < 0 {
            return Err(err(()));
        }
        Ok(sock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failed_test_jumps_to_the_drop() {
        let f = filter([2, 1, 2, 3, 4, 5]);
        assert_eq!(f.len(), 15);
        for (i, x) in f.iter().enumerate() {
            if x.code & 0x07 == BPF_JMP {
                let target = i + 1 + if x.code & 0xf0 == BPF_JSET { x.jt } else { x.jf } as usize;
                assert_eq!(target, 14, "instruction {i}");
            }
        }
        assert_eq!((f[3].k, f[5].k), (0x02010203, 0x0405));
        assert_eq!((f[14].code, f[14].k), (BPF_RET, 0));
    }

    #[test]
    fn the_payload_is_past_the_ip_and_udp_headers() {
        let mut frame = vec![0u8; 14];
        let mut ip = vec![0x46, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let udp = [0, 68, 0, 67, 0, 11, 0, 0, b'a', b'b', b'c'];
        let total = (ip.len() + udp.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&udp);
        frame.extend_from_slice(&[0; 6]); // Ethernet padding
        assert_eq!(udp_payload(&frame), Some(&b"abc"[..]));
        assert_eq!(udp_payload(&frame[..20]), None);
    }
}
