//! Re-executing berth from a sealed in-memory copy before any of its code
//! runs inside a guest (the --as-pid2 stub today, verbs that enter a
//! running machine later), so /proc/PID/exe seen from inside names an
//! immutable memfd, never the host's binary (the CVE-2019-5736 class).

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;

const MARK: &str = "BERTH_SEALED";

/// Whether this process already runs from the sealed copy.
pub fn is_sealed() -> bool {
    std::fs::read_link("/proc/self/exe").map(|p| p.to_string_lossy().starts_with("/memfd:berth")).unwrap_or(false)
}

/// Re-executes the current command line from a sealed memfd copy of the
/// binary. Returns only on failure.
pub fn reexec() -> io::Error {
    let run = || -> io::Result<std::convert::Infallible> {
        let memfd = nix::sys::memfd::memfd_create(
            c"berth",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC | nix::sys::memfd::MemFdCreateFlag::MFD_ALLOW_SEALING,
        )?;
        let mut file = std::fs::File::from(memfd);
        std::io::copy(&mut std::fs::File::open("/proc/self/exe")?, &mut file)?;
        let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: fcntl on our own descriptor.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // Arguments from the kernel never hold a NUL byte: none is dropped.
        let argv = crate::sys::cstrings(std::env::args_os());
        let mut env = crate::sys::environ_cstrings(MARK);
        env.push(CString::new(format!("{MARK}=1")).expect("no NUL"));
        Ok(nix::unistd::fexecve(file.as_raw_fd(), &argv, &env)?)
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Makes sure the process runs from a sealed copy; a second attempt (the
/// marker set but the copy not in use) is refused rather than looped.
pub fn ensure() -> io::Result<()> {
    if is_sealed() {
        return Ok(());
    }
    if std::env::var_os(MARK).is_some() {
        return Err(io::Error::other("re-executing from a sealed copy did not take effect"));
    }
    Err(reexec())
}
