//! `exec`: a new process in a running container. A helper child joins
//! the container's cgroups and namespaces (user first, mount last) and
//! forks the process, which enters the container's pid namespace; the
//! helper reports its pid and exits, so the process is reparented to the
//! caller (a subreaper: berth itself without --detach, conmon or the shim
//! with it). Errors before the exec come back over a socket.

use super::cli::{ExecArgs, Global};
use super::state::{self, Status};
use super::{Ctx, OciError, Result};
use oci_spec::runtime::{Process, Spec};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;

/// The process to run: process.json, or the arguments on top of the
/// container's own process.
pub fn process(a: &ExecArgs, spec: &Spec) -> Result<Process> {
    if let Some(f) = &a.process {
        let text =
            std::fs::read_to_string(f).map_err(|e| OciError::Bundle(format!("--process {}: {e}", f.display())))?;
        let raw: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| OciError::Bundle(format!("--process {}: {e}", f.display())))?;
        super::bundle::refuse_unsupported(&serde_json::json!({"process": raw}))?;
        return serde_json::from_value(raw).map_err(|e| OciError::Bundle(format!("--process {}: {e}", f.display())));
    }
    if a.command.is_empty() {
        return Err(OciError::Bundle("exec: name a command or --process FILE".into()));
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_env(Some(merge_env(p.env().as_deref().unwrap_or_default(), &a.env)));
    if let Some(c) = &a.cwd {
        p.set_cwd(c.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let parse = |s: &str| s.parse::<u32>().map_err(|_| OciError::Bundle(format!("--user {u}: use UID[:GID]")));
        p.user_mut().set_uid(parse(uid)?);
        p.user_mut().set_gid(parse(gid)?);
    }
    if !a.additional_gids.is_empty() {
        p.user_mut().set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

const ORDER: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

/// Joins the cgroups and the namespaces of `pid` that differ from ours.
fn enter(pid: i32, cgroups: &[std::path::PathBuf]) -> Result<bool> {
    for d in cgroups {
        std::fs::write(d.join("cgroup.procs"), "0").ctx(|| format!("joining cgroup {}", d.display()))?;
    }
    let mut userns = false;
    for (name, flag) in ORDER {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let same = std::fs::metadata(&theirs).ok().map(|m| m.ino())
            == std::fs::metadata(format!("/proc/self/ns/{name}")).ok().map(|m| m.ino());
        if same {
            continue;
        }
        let f = std::fs::File::open(&theirs).ctx(|| format!("opening {theirs}"))?;
        nix::sched::setns(f, nix::sched::CloneFlags::from_bits_truncate(*flag))
            .ctx(|| format!("joining the container's {name} namespace"))?;
        userns |= *flag == libc::CLONE_NEWUSER;
    }
    if userns {
        let root = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresgid(0.into(), 0.into(), 0.into()).ctx(|| "root in the user namespace".into())?;
        nix::unistd::setresuid(root, root, root).ctx(|| "root in the user namespace".into())?;
    }
    Ok(userns)
}

pub fn exec(g: &Global, a: &ExecArgs) -> Result<i32> {
    let rec = state::load(&g.root, &a.id)?;
    match rec.status(&g.root) {
        Status::Running => {}
        Status::Paused if a.ignore_paused => {}
        s => {
            return Err(OciError::State(format!(
                "container {} is {}; exec needs a running container",
                a.id,
                s.as_str()
            )))
        }
    }
    let p = process(a, &rec.config)?;
    let terminal = p.terminal() == Some(true);
    let console: Option<OwnedFd> = match (&a.console_socket, terminal) {
        (Some(s), true) => Some(super::console::connect(s)?),
        (None, true) => return Err(OciError::unsupported("process.terminal", "true needs --console-socket")),
        _ => None,
    };
    let seccomp = rec.config.linux().as_ref().and_then(|l| l.seccomp().clone());
    if !a.detach {
        crate::sys::set_child_subreaper().ctx(|| "PR_SET_CHILD_SUBREAPER".into())?;
    }
    let (mut ours, theirs) = UnixStream::pair().ctx(|| "socketpair".into())?;
    // SAFETY: single-threaded; the child runs helper() and exits.
    let helper = unsafe { crate::sys::clone3(0, None, false) }.ctx(|| "forking".into())?;
    let Some(helper) = helper else {
        drop(ours);
        let code = match helper_main(rec.pid, &rec.cgroups, &p, seccomp.as_ref(), console, a.preserve_fds, &theirs) {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(&theirs, "error {}", e.to_string().replace('\n', " "));
                1
            }
        };
        // SAFETY: leaving the forked helper.
        unsafe { libc::_exit(code) }
    };
    drop(theirs);
    drop(console);
    let mut pid = None;
    let mut failure = None;
    for line in BufReader::new(ours.try_clone().ctx(|| "socket".into())?).lines() {
        let line = line.unwrap_or_default();
        if let Some(n) = line.strip_prefix("pid ") {
            pid = n.parse::<i32>().ok();
        } else if let Some(e) = line.strip_prefix("error ") {
            failure = Some(e.to_string());
        }
    }
    let _ = ours.flush();
    // SAFETY: reaping our own helper.
    unsafe { libc::waitpid(helper.pid, std::ptr::null_mut(), 0) };
    if let Some(e) = failure {
        if let Some(pid) = pid {
            // SAFETY: reaping the failed process, now our child.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
        return Err(OciError::Setup(e));
    }
    let pid = pid.ok_or_else(|| OciError::Setup("exec: the helper died before starting the process".into()))?;
    if let Some(f) = &a.pid_file {
        super::create::write_pid_file(f, pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    Ok(super::verbs::wait(pid))
}

fn helper_main(
    target: i32,
    cgroups: &[std::path::PathBuf],
    p: &Process,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    console: Option<OwnedFd>,
    preserve: u32,
    report: &UnixStream,
) -> Result<()> {
    enter(target, cgroups)?;
    // SAFETY: single-threaded; the grandchild execs or exits.
    let forked = unsafe { crate::sys::clone3(0, None, false) }.ctx(|| "forking into the container".into())?;
    match forked {
        Some(c) => {
            writeln!(&*report, "pid {}", c.pid).ctx(|| "reporting the pid".into())?;
            Ok(())
        }
        None => {
            let r = (|| -> Result<()> {
                // Never the caller's keys (the engine's, shared by every
                // exec): a session keyring of this process's own.
                crate::sys::join_new_session_keyring(None).ctx(|| "joining a new session keyring".into())?;
                if let Some(c) = console {
                    super::console::setup(c.as_raw_fd(), false)?;
                    std::mem::forget(c);
                }
                let _ = crate::sys::cloexec_from(3 + preserve);
                Err(super::process::become_and_exec(p, seccomp, || Ok(())))
            })();
            if let Err(e) = r {
                let _ = writeln!(&*report, "error {}", e.to_string().replace('\n', " "));
            }
            // SAFETY: leaving the forked process after a failed exec.
            unsafe { libc::_exit(127) }
        }
    }
}

/// The spec's environment with `--env` entries added; an entry whose
/// name is already there replaces it in place (as runc does). Pure.
pub fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let name = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let mut env: Vec<String> = base.to_vec();
    for e in extra {
        match env.iter_mut().find(|b| name(b) == name(e)) {
            Some(b) => b.clone_from(e),
            None => env.push(e.clone()),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_env_replaces_the_spec_entry() {
        let base = vec!["PATH=/bin".to_string(), "MY_VAR=from_spec".to_string()];
        let extra = vec!["MY_VAR=from_cli".to_string(), "NEW=1".to_string()];
        assert_eq!(merge_env(&base, &extra), ["PATH=/bin", "MY_VAR=from_cli", "NEW=1"]);
    }
}
