//! `sysinfo(2)` with the machine's totals (what busybox `free` reads): the
//! guest's PID 1 installs, before exec, a one-rule seccomp filter that
//! hands x86-64 `sysinfo` calls to a listener, and sends the listener to
//! the launcher, whose event loop answers each call with the host's
//! values where the machine's /proc/meminfo and /proc/uptime (as the views
//! render them) differ: memory, swap and uptime. The load averages and the
//! process count stay the host's. Processes that do not descend from the
//! guest's PID 1 (`berth shell`, `nsenter`) and 32-bit callers are not
//! intercepted.

use crate::views::machine::Machine;
use crate::views::render::field;
use crate::views::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const NOTIF_ID_VALID: libc::c_ulong = 0x4008_2102;

/// The filter: x86-64 `sysinfo` to the listener, everything else allowed
/// (the main filter decides those; its denials win over a notification).
pub fn program() -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    vec![
        stmt(ld, 4), // seccomp_data.arch
        jeq(AUDIT_ARCH_X86_64, 0, 3),
        stmt(ld, 0), // seccomp_data.nr
        jeq(libc::SYS_sysinfo as u32, 0, 1),
        stmt(ret, SECCOMP_RET_USER_NOTIF),
        stmt(ret, SECCOMP_RET_ALLOW),
    ]
}

/// Installs the filter in the calling process and returns its listener.
pub fn install() -> std::io::Result<OwnedFd> {
    let prog = program();
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
    // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER) with a program outliving the call.
    let fd = unsafe { libc::syscall(libc::SYS_seccomp, 1, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel's fresh listener descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The host's `info` with the machine's memory, swap and uptime from its
/// rendered /proc/meminfo and /proc/uptime, in bytes (mem_unit 1).
pub fn machine_info(mut info: libc::sysinfo, meminfo: &str, uptime: &str) -> libc::sysinfo {
    let kb = |k: &str| field(meminfo, k, 1).map(|v| v * 1024);
    let (Some(total), Some(free)) = (kb("MemTotal:"), kb("MemFree:")) else { return info };
    let unit = info.mem_unit.max(1) as u64;
    let host = |v: libc::c_ulong| v * unit;
    info.sharedram = kb("Shmem:").unwrap_or(host(info.sharedram));
    info.bufferram = kb("Buffers:").unwrap_or(host(info.bufferram));
    info.totalswap = kb("SwapTotal:").unwrap_or(host(info.totalswap));
    info.freeswap = kb("SwapFree:").unwrap_or(host(info.freeswap));
    info.totalhigh = host(info.totalhigh);
    info.freehigh = host(info.freehigh);
    info.totalram = total;
    info.freeram = free;
    info.mem_unit = 1;
    if let Some(up) = uptime.split_whitespace().next().and_then(|u| u.parse::<f64>().ok()) {
        info.uptime = up as libc::c_long;
    }
    info
}

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct Resp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// The launcher's end: answers the guest's `sysinfo` calls.
pub struct Listener {
    fd: OwnedFd,
    machine: Machine,
}

impl Listener {
    pub fn new(fd: OwnedFd, machine: Machine) -> Listener {
        Listener { fd, machine }
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }

    /// Answers one pending call (the descriptor polled readable).
    pub fn serve(&mut self) {
        let mut n = Notif::default();
        // SAFETY: RECV fills a seccomp_notif (80 bytes) we own.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), NOTIF_RECV, &mut n as *mut Notif) } < 0 {
            return;
        }
        let error = match self.answer(&n) {
            Ok(()) => 0,
            Err(e) => -e.raw_os_error().unwrap_or(libc::EFAULT),
        };
        let mut r = Resp { id: n.id, val: 0, error, flags: 0 };
        // SAFETY: SEND reads a seccomp_notif_resp we own; failure means the
        // caller is gone.
        unsafe { libc::ioctl(self.fd.as_raw_fd(), NOTIF_SEND, &mut r as *mut Resp) };
    }

    fn answer(&mut self, n: &Notif) -> std::io::Result<()> {
        // SAFETY: an all-zero sysinfo is valid; the kernel fills it.
        let mut host: libc::sysinfo = unsafe { std::mem::zeroed() };
        // SAFETY: sysinfo into our own struct.
        if unsafe { libc::sysinfo(&mut host) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let meminfo = String::from_utf8(self.machine.render(File::Meminfo)).unwrap_or_default();
        let uptime = String::from_utf8(self.machine.render(File::Uptime)).unwrap_or_default();
        let info = machine_info(host, &meminfo, &uptime);
        let mut id = n.id;
        // SAFETY: ID_VALID reads the u64 we pass: the caller still waits,
        // so its pid still names it.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), NOTIF_ID_VALID, &mut id as *mut u64) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let size = std::mem::size_of::<libc::sysinfo>();
        let local = [libc::iovec { iov_base: &info as *const libc::sysinfo as *mut libc::c_void, iov_len: size }];
        let remote = [libc::iovec { iov_base: n.args[0] as *mut libc::c_void, iov_len: size }];
        // SAFETY: copies our struct into the caller's buffer.
        let w = unsafe { libc::process_vm_writev(n.pid as i32, local.as_ptr(), 1, remote.as_ptr(), 1, 0) };
        if w != size as isize {
            return Err(std::io::Error::from_raw_os_error(libc::EFAULT));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_sends_only_x86_64_sysinfo_to_the_listener() {
        let p = program();
        assert_eq!(p.len(), 6);
        assert_eq!(p[1].k, AUDIT_ARCH_X86_64);
        assert_eq!((p[1].jt, p[1].jf), (0, 3), "another ABI jumps to allow");
        assert_eq!(p[3].k, 99, "sysinfo on x86-64");
        assert_eq!(p[4].k, SECCOMP_RET_USER_NOTIF);
        assert_eq!(p[5].k, SECCOMP_RET_ALLOW);
        assert_eq!(std::mem::size_of::<Notif>(), 80);
        assert_eq!(std::mem::size_of::<Resp>(), 24);
    }

    #[test]
    fn the_machines_memory_and_uptime_in_bytes() {
        // SAFETY: all-zero is a valid sysinfo.
        let mut host: libc::sysinfo = unsafe { std::mem::zeroed() };
        host.mem_unit = 4096;
        host.totalram = 1 << 20;
        host.totalhigh = 2;
        host.uptime = 99999;
        host.procs = 300;
        let meminfo = "MemTotal:         262144 kB\nMemFree:          200000 kB\nBuffers:               0 kB\nShmem:              1000 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n";
        let i = machine_info(host, meminfo, "5.50 11.00\n");
        assert_eq!(i.mem_unit, 1);
        assert_eq!(i.totalram, 256 << 20);
        assert_eq!(i.freeram, 200000 * 1024);
        assert_eq!(i.sharedram, 1000 * 1024);
        assert_eq!(i.totalhigh, 8192, "the host's, in the new unit");
        assert_eq!(i.uptime, 5);
        assert_eq!(i.procs, 300);
        let same = machine_info(host, "garbage", "");
        assert_eq!((same.totalram, same.mem_unit), (1 << 20, 4096), "nothing readable: the host's");
    }
}
