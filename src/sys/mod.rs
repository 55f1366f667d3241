//! Thin wrappers for the few syscalls that nix does not cover (clone3,
//! pidfds, openat2, close_range, mount_setattr). Everything unsafe about
//! process creation lives here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Result of a fork-like clone: `None` in the child, the child's pid (and
/// pidfd when asked) in the parent.
pub struct Cloned {
    pub pid: libc::pid_t,
    pub pidfd: Option<OwnedFd>,
}

/// Fork-like clone3 (no new stack: the child continues here).
///
/// # Safety
/// Like fork: the caller must be single-threaded, and the child must only
/// call async-signal-safe code until it execs or exits. berth's launcher
/// and children are single-threaded at every clone.
pub unsafe fn clone3(flags: u64, cgroup: Option<RawFd>, want_pidfd: bool) -> io::Result<Option<Cloned>> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags | if want_pidfd { libc::CLONE_PIDFD as u64 } else { 0 },
        // With CLONE_PARENT the kernel takes the caller's own exit signal
        // and refuses any other.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 { 0 } else { libc::SIGCHLD as u64 },
        ..Default::default()
    };
    if want_pidfd {
        args.pidfd = &mut pidfd as *mut RawFd as u64;
    }
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    let ret = libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>());
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(Cloned {
            pid: pid as libc::pid_t,
            pidfd: (want_pidfd && pidfd >= 0).then(|| OwnedFd::from_raw_fd(pidfd)),
        })),
    }
}

/// Fork-like clone3 asking for a specific pid in the caller's own pid
/// namespace (needs CAP_SYS_ADMIN over it; PID 1 of a namespace has it).
///
/// # Safety
/// As for `clone3`.
pub unsafe fn clone3_with_pid(pid: libc::pid_t) -> io::Result<Option<Cloned>> {
    let tids = [pid];
    let mut args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tids.as_ptr() as u64,
        set_tid_size: 1,
        ..Default::default()
    };
    let ret = libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>());
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(Cloned { pid: pid as libc::pid_t, pidfd: None })),
    }
}

pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is owned by us.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn pidfd_send_signal(pidfd: &impl AsRawFd, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall with a null siginfo.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, std::ptr::null::<u8>(), 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Whether the process behind `pidfd` is still running. Works across pid
/// namespaces (unlike pidfd_send_signal, which refuses an ancestor's).
pub fn pidfd_alive(pidfd: &impl AsRawFd) -> bool {
    let mut p = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r == 0
}

/// Marks every descriptor from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: plain syscall.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Closes every descriptor from `first` upwards.
pub fn close_from(first: u32) {
    // SAFETY: plain syscall; callers own no Rust objects over those fds.
    unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// Opens `path` as if `root` were `/`: symlinks (absolute or `..`) can
/// never lead out of the tree.
pub fn open_in_root(root: &impl AsRawFd, path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let c = cstr(rel)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: if flags & libc::O_CREAT != 0 { mode as u64 } else { 0 },
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `how` and `c` outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;

pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// Sets attributes on the mount `fd` names (and, if `recursive`, on every
/// mount below it). Unlike MS_REMOUNT this never needs to restate the
/// flags a mount already carries.
pub fn mount_setattr(fd: &impl AsRawFd, set: u64, recursive: bool) -> io::Result<()> {
    mount_setattr_idmapped(fd, set, None, recursive)
}

/// `mount_setattr`, idmapping through the user namespace `userns` when
/// given (MOUNT_ATTR_IDMAP; only on a detached mount not yet idmapped).
pub fn mount_setattr_idmapped(fd: &impl AsRawFd, set: u64, userns: Option<RawFd>, recursive: bool) -> io::Result<()> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let set = set | if userns.is_some() { MOUNT_ATTR_IDMAP } else { 0 };
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    mount_setattr_at(fd.as_raw_fd(), c"", flags, set, 0, userns)
}

/// mount_setattr(2)'s flag: the mount at the path and every one below it.
pub const AT_RECURSIVE: u32 = 0x8000;

/// `mount_setattr(2)` of `path` relative to `dirfd` (or of `dirfd` itself
/// with an empty path and AT_EMPTY_PATH): sets `set`, clears `clear`.
pub fn mount_setattr_at(
    dirfd: RawFd,
    path: &std::ffi::CStr,
    flags: u32,
    set: u64,
    clear: u64,
    userns: Option<RawFd>,
) -> io::Result<()> {
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: userns.unwrap_or(0) as u64 };
    // SAFETY: pointers valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Arguments or environment entries as C strings for exec (entries with a
/// NUL byte cannot be passed and are dropped).
pub fn cstrings(v: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<CString> {
    use std::os::unix::ffi::OsStringExt;
    v.into_iter().filter_map(|a| CString::new(a.into_vec()).ok()).collect()
}

/// This process's environment as `NAME=VALUE` C strings, without `skip`.
pub fn environ_cstrings(skip: &str) -> Vec<CString> {
    cstrings(std::env::vars_os().filter(|(k, _)| k != skip).map(|(mut k, v)| {
        k.push("=");
        k.push(v);
        k
    }))
}

pub fn cstr(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The `/proc/self/fd/N` path through which a descriptor can be named as a
/// mount target or source without re-resolving a guest path.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Joins a new session keyring (named `name`, or anonymous), so a
/// container never shares the keys of whoever started it. EPERM is not
/// an error: a seccomp filter above (berth inside a machine) denies the
/// keyring calls to this process's descendants too, so none is reachable.
pub fn join_new_session_keyring(name: Option<&str>) -> io::Result<()> {
    let c = name.map(CString::new).transpose().map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let ptr = c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, name or NULL).
    if unsafe { libc::syscall(libc::SYS_keyctl, 1, ptr) } < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(e);
        }
    }
    Ok(())
}

/// Sets the calling thread's name as `ps` shows it.
pub fn set_name(name: &str) {
    if let Ok(c) = CString::new(name) {
        // SAFETY: valid C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) };
    }
}

/// Asks for `sig` when the parent dies.
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: plain prctl.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: plain prctl.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unblocks every signal and restores default dispositions, so the guest
/// does not inherit the launcher's signal handling.
pub fn reset_signals() {
    // SAFETY: sigset manipulation on a local set; sigaction with SIG_DFL.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

pub mod logging;
pub mod osrelease;
pub mod passwd;
pub mod sealed;
pub mod signal;
pub mod trim;

/// A detached clone of the mount at `path` (relative to `dirfd`), with
/// the mounts below it when `recursive`.
pub fn open_tree(dirfd: RawFd, path: &std::ffi::CStr, recursive: bool) -> std::io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: u32 = 1;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: plain syscall with a valid C string.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A boolean as systemd spells it (yes/no, true/false, on/off, 1/0...).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}
