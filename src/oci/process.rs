//! Becoming the container's process, shared by the first process and by
//! `exec`: limits, the executable looked up in the container's PATH, the
//! seccomp filter (before the user switch unless noNewPrivileges, as runc
//! orders it), user and groups, the five capability sets, and execve.

use super::{Ctx, OciError, Result};
use caps::{CapSet, Capability};
use oci_spec::runtime::{Capabilities, LinuxSeccomp, PosixRlimitType, Process};
use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().iter().flatten() {
        let lim = libc::rlimit { rlim_cur: r.soft(), rlim_max: r.hard() };
        // SAFETY: plain setrlimit with a local struct.
        if unsafe { libc::setrlimit(resource(r.typ()), &lim) } < 0 {
            let e = std::io::Error::last_os_error();
            return Err(OciError::Setup(format!(
                "process.rlimits: {:?} soft {} hard {}: {e}",
                r.typ(),
                r.soft(),
                r.hard()
            )));
        }
    }
    Ok(())
}

/// The executable for `args[0]`, searched in the PATH of `env`. Pure on
/// the strings, reads the (container's) file system.
pub fn lookup(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let not_found =
        || OciError::Setup(format!("exec: \"{arg0}\": executable file not found in $PATH: No such file or directory"));
    if arg0.is_empty() {
        return Err(not_found());
    }
    let executable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.is_file();
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        if !p.exists() {
            return Err(OciError::Setup(format!("exec: \"{arg0}\": stat {arg0}: no such file or directory")));
        }
        if !executable(&p) {
            return Err(OciError::Setup(format!("exec: \"{arg0}\": permission denied")));
        }
        return Ok(p);
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
        .find(|p| executable(p))
        .ok_or_else(not_found)
}

fn capset(c: &Option<Capabilities>) -> Result<HashSet<Capability>> {
    let mut out = HashSet::new();
    for cap in c.iter().flatten() {
        let name = serde_json::to_value(cap).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let c = Capability::from_str(&name)
            .map_err(|_| OciError::unsupported("process.capabilities", format!("{name} is unknown to berth")))?;
        out.insert(c);
    }
    Ok(out)
}

fn set_keepcaps(on: bool) -> Result<()> {
    // SAFETY: plain prctl.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) } < 0 {
        return Err(OciError::sys("PR_SET_KEEPCAPS", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// User, groups and capabilities.
fn switch(p: &Process) -> Result<()> {
    let c = p.capabilities().clone().unwrap_or_default();
    let bounding = capset(c.bounding())?;
    let keep: Vec<Capability> = bounding.iter().copied().collect();
    crate::security::capabilities::bound(&keep).map_err(OciError::Setup)?;
    let u = p.user();
    set_keepcaps(true)?;
    let groups: Vec<nix::unistd::Gid> =
        u.additional_gids().iter().flatten().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).ctx(|| "process.user.additionalGids: setgroups".into())?;
    let (uid, gid) = (nix::unistd::Uid::from_raw(u.uid()), nix::unistd::Gid::from_raw(u.gid()));
    nix::unistd::setresgid(gid, gid, gid).ctx(|| format!("process.user.gid {}", u.gid()))?;
    nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("process.user.uid {}", u.uid()))?;
    set_keepcaps(false)?;
    if let Some(m) = u.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
    }
    let fail = |what: &'static str| {
        move |e: caps::errors::CapsError| OciError::Setup(format!("process.capabilities.{what}: {e}"))
    };
    // Effective first: it must stay within permitted at every step.
    caps::set(None, CapSet::Effective, &capset(c.effective())?).map_err(fail("effective"))?;
    caps::set(None, CapSet::Inheritable, &capset(c.inheritable())?).map_err(fail("inheritable"))?;
    caps::set(None, CapSet::Permitted, &capset(c.permitted())?).map_err(fail("permitted"))?;
    // The kernel keeps ambient within permitted and inheritable; a spec
    // listing more (runc's own default does) gets what the kernel allows.
    let allowed: HashSet<Capability> =
        capset(c.inheritable())?.intersection(&capset(c.permitted())?).copied().collect();
    for a in capset(c.ambient())?.into_iter().filter(|a| allowed.contains(a)) {
        caps::raise(None, CapSet::Ambient, a).map_err(fail("ambient"))?;
    }
    Ok(())
}

/// Everything after the container's own setup: returns only on error.
/// `wait` runs just before the exec (the first process waits for
/// `start` there).
pub fn become_and_exec(p: &Process, seccomp: Option<&LinuxSeccomp>, wait: impl FnOnce() -> Result<()>) -> OciError {
    match become_inner(p, seccomp, wait) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

fn become_inner(
    p: &Process,
    seccomp: Option<&LinuxSeccomp>,
    wait: impl FnOnce() -> Result<()>,
) -> Result<std::convert::Infallible> {
    rlimits(p)?;
    if let Some(adj) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).ctx(|| "process.oomScoreAdj".into())?;
    }
    let env: Vec<String> = p.env().clone().unwrap_or_default();
    let args: Vec<String> = p.args().clone().unwrap_or_default();
    let cwd = p.cwd();
    nix::unistd::chdir(cwd).ctx(|| format!("process.cwd {}", cwd.display()))?;
    let exe = lookup(args.first().map(String::as_str).unwrap_or_default(), &env)?;
    let nnp = p.no_new_privileges() == Some(true);
    let mut filter = seccomp.map(super::seccomp::build).transpose()?;
    if !nnp {
        if let Some(f) = filter.as_mut() {
            super::seccomp::load(f)?;
        }
    }
    switch(p)?;
    if nnp {
        // SAFETY: plain prctl.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
            return Err(OciError::sys("process.noNewPrivileges", std::io::Error::last_os_error()));
        }
    }
    wait()?;
    if nnp {
        if let Some(f) = filter.as_mut() {
            super::seccomp::load(f)?;
        }
    }
    let c = |s: &str| CString::new(s).map_err(|_| OciError::Bundle(format!("'{s}' contains a NUL byte")));
    let argv: Vec<CString> = args.iter().map(|a| c(a)).collect::<Result<_>>()?;
    let envp: Vec<CString> = env.iter().map(|a| c(a)).collect::<Result<_>>()?;
    let path = CString::new(exe.as_os_str().as_bytes()).map_err(|_| OciError::Bundle("NUL in path".into()))?;
    crate::sys::reset_signals();
    let e = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    let what = format!("exec: \"{}\"", args[0]);
    Err(if e == nix::errno::Errno::EACCES {
        OciError::Setup(format!("{what}: permission denied"))
    } else {
        OciError::sys(what, std::io::Error::from(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_follows_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(lookup("sh", &env).unwrap().ends_with("sh"));
        let e = lookup("no-such-program-xyz", &env).unwrap_err().to_string();
        assert!(e.contains("executable file not found in $PATH"), "{e}");
        assert!(lookup("/no/such", &env).unwrap_err().to_string().contains("no such file"));
    }
}
