//! `berth shell [USER@]NAME [CMD ARGS...]`: a command or login shell inside
//! a running machine, with its exit status.
//!
//! The entering process is born into the leader's own cgroup
//! (CLONE_INTO_CGROUP, so a systemd guest's `init.scope`, never `payload/`
//! itself), joins all of the leader's namespaces at once through a pidfd
//! while single-threaded, and forks into the guest's pid namespace. On a
//! terminal the command gets a pty of the guest's own devpts, forwarded by
//! the caller; otherwise plain inherited stdio. berth runs from its sealed
//! copy here (main makes sure), so nothing inside can reach the host binary.

use crate::error::{Context, Error, Result};
use crate::live::enter::{guest_pty, Entry};
use crate::settings::config::ConsoleMode;
use crate::settings::config::DEFAULT_PATH;
use crate::spawn::console::{Console, Input};
use crate::spawn::exec::exec_in_path;
use crate::spawn::protocol::{self, Report};
use crate::state::machine::{self, Machine};
use crate::{security::seccomp, sys, sys::passwd};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

/// Splits `[USER@]NAME`.
pub fn parse_target(spec: &str) -> (Option<&str>, &str) {
    match spec.split_once('@') {
        Some((u, n)) if !u.is_empty() => (Some(u), n),
        Some((_, n)) => (None, n),
        None => (None, spec),
    }
}

fn status_code(st: WaitStatus) -> i32 {
    match st {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        _ => 1,
    }
}

/// Runs the shell; returns its exit status.
pub fn shell(spec: &str, cmd: &[String]) -> Result<i32> {
    let (user, name) = parse_target(spec);
    let m = machine::started(name)?;
    let entry = Entry::new(&m)?;
    let filter = entry.filter()?;
    let terminal = nix::unistd::isatty(0).unwrap_or(false) && nix::unistd::isatty(1).unwrap_or(false);
    let (ours, theirs) = protocol::pair().ctx(|| "creating the shell's socket".into())?;
    let sigfd = crate::live::enter::signals()?;
    // SAFETY: single-threaded.
    let child = match unsafe { entry.fork() }? {
        None => {
            drop(ours);
            let code = match enter(&m, &entry, user, cmd, terminal, &theirs, filter) {
                Ok(code) => code,
                Err(e) => {
                    protocol::fail(&theirs, &e);
                    125
                }
            };
            // SAFETY: leave without destructors.
            unsafe { libc::_exit(code) }
        }
        Some(pid) => pid,
    };
    drop(theirs);
    let mut console: Option<Console> = None;
    let mut error: Option<Error> = None;
    loop {
        match protocol::read_report(&ours) {
            Ok(Some(Report::Console { master, slave })) => {
                console = Some(Console::new(ConsoleMode::Interactive, master, slave))
            }
            Ok(Some(Report::Failed(f))) => error = Some(f.into()),
            _ => break,
        }
        if console.is_some() {
            break;
        }
    }
    let status = match console.as_mut() {
        Some(c) => forward(c, &sigfd, child)?,
        None => loop {
            match waitpid(child, None) {
                Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => break st,
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(Error::sys("waiting for the shell", e)),
            }
        },
    };
    if let Some(c) = console.as_mut() {
        c.finish();
        c.restore();
    }
    // Failures before the command ran arrive after the pty message.
    while let Ok(Some(r)) = protocol::read_report(&ours) {
        if let Report::Failed(f) = r {
            error = Some(f.into());
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(status_code(status)),
    }
}

fn forward(c: &mut Console, sigfd: &SignalFd, child: Pid) -> Result<WaitStatus> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let stdin = std::io::stdin();
        let (sig, out, inp) = {
            let mut fds =
                vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN), PollFd::new(c.master_fd(), PollFlags::POLLIN)];
            if c.wants_stdin() {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            let _ = poll(&mut fds, PollTimeout::NONE);
            let r = |i: usize| fds.get(i).and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
            (r(0), r(1), r(2))
        };
        if out {
            c.pump_output();
        }
        if inp && c.pump_input() == Input::KillRequested {
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        }
        if sig {
            while let Ok(Some(si)) = sigfd.read_signal() {
                match si.ssi_signo as i32 {
                    libc::SIGWINCH => c.resize(),
                    libc::SIGCHLD => {}
                    s => {
                        let _ = nix::sys::signal::kill(child, Signal::try_from(s).unwrap_or(Signal::SIGTERM));
                    }
                }
            }
            if let Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) =
                waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
            {
                return Ok(st);
            }
        }
    }
}

/// In the machine's cgroup: joins its namespaces and runs the command in
/// a child inside its pid namespace; returns that child's status.
fn enter(
    m: &Machine,
    entry: &Entry,
    user: Option<&str>,
    cmd: &[String],
    terminal: bool,
    sock: &OwnedFd,
    mut filter: seccomp::Compiled,
) -> Result<i32> {
    sys::set_name("berth-shell");
    entry.join()?;
    let pty = if terminal {
        let (master, slave, _) = guest_pty()?;
        let s2 = slave.try_clone().ctx(|| "duplicating the pty".into())?;
        protocol::report(sock, &Report::Console { master, slave: s2 }).ctx(|| "handing the pty to berth".into())?;
        Some(slave)
    } else {
        None
    };
    // The user, from the machine's own passwd.
    let spec = user.unwrap_or("root");
    let u = passwd::find_user(&std::fs::read_to_string("/etc/passwd").unwrap_or_default(), spec)
        .ok_or_else(|| Error::Usage(format!("user '{spec}' does not exist in machine {}'s /etc/passwd", m.name)))?;
    let groups = passwd::groups_of(&std::fs::read_to_string("/etc/group").unwrap_or_default(), &u.name, u.gid);
    let shell = if u.shell.is_empty() { "/bin/sh".to_string() } else { u.shell.clone() };
    let argv: Vec<String> = if cmd.is_empty() {
        let base = PathBuf::from(&shell).file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
        vec![shell.clone(), format!("-{base}")]
    } else {
        cmd.to_vec()
    };
    let env: Vec<CString> = [
        format!("PATH={DEFAULT_PATH}"),
        format!(
            "TERM={}",
            std::env::var("TERM").unwrap_or_else(|_| if terminal { "vt220".into() } else { "dumb".into() })
        ),
        format!("HOME={}", u.home),
        format!("USER={}", u.name),
        format!("LOGNAME={}", u.name),
        format!("SHELL={shell}"),
        "container=berth".into(),
    ]
    .into_iter()
    .filter_map(|s| CString::new(s).ok())
    .collect();
    // SAFETY: single-threaded; the child only sets itself up and execs.
    match unsafe { sys::clone3(0, None, false) }.ctx(|| "starting the shell".into())? {
        None => {
            let r = (|| -> Result<std::convert::Infallible> {
                nix::unistd::setsid().ctx(|| "starting a session".into())?;
                if let Some(slave) = &pty {
                    // SAFETY: TIOCSCTTY on our own pty, as session leader.
                    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
                        return Err(Error::sys("attaching the pty", std::io::Error::last_os_error()));
                    }
                    for fd in 0..=2 {
                        nix::unistd::dup2(slave.as_raw_fd(), fd).ctx(|| "connecting stdio to the pty".into())?;
                    }
                }
                entry.confine(&mut filter)?;
                let gids: Vec<nix::unistd::Gid> = groups.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
                nix::unistd::setgroups(&gids).ctx(|| "setting groups".into())?;
                let g = nix::unistd::Gid::from_raw(u.gid);
                nix::unistd::setresgid(g, g, g).ctx(|| format!("switching to group {}", u.gid))?;
                let id = nix::unistd::Uid::from_raw(u.uid);
                nix::unistd::setresuid(id, id, id).ctx(|| format!("switching to user {}", u.name))?;
                let _ = nix::unistd::chdir(u.home.as_str());
                sys::cloexec_from(3).ctx(|| "closing descriptors".into())?;
                sys::reset_signals();
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
                let (file, args) = if cmd.is_empty() { (&argv[0], &argv[1..]) } else { (&argv[0], &argv[..]) };
                let mut a: Vec<CString> = args.iter().filter_map(|s| CString::new(s.as_str()).ok()).collect();
                if cmd.is_empty() {
                    // A login shell: argv[0] is "-sh", the file is the shell.
                    let p =
                        crate::sys::cstr(std::path::Path::new(file)).map_err(|e| Error::sys("naming the shell", e))?;
                    return Err(match nix::unistd::execve(&p, &a, &env) {
                        Err(e) => Error::Exec {
                            msg: format!("cannot execute {file} in machine {}: {}", m.name, e.desc()),
                            missing: e == nix::Error::ENOENT,
                        },
                        Ok(never) => match never {},
                    });
                }
                if a.is_empty() {
                    a.push(CString::new(file.as_str()).unwrap_or_default());
                }
                Err(exec_in_path(&a, &env, DEFAULT_PATH))
            })();
            let err = match r {
                Ok(never) => match never {},
                Err(e) => e,
            };
            protocol::fail(sock, &err);
            let code = err.exit_code(true);
            // SAFETY: leave without destructors.
            unsafe { libc::_exit(code) }
        }
        Some(c) => {
            drop(pty);
            loop {
                match waitpid(Pid::from_raw(c.pid), None) {
                    Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(status_code(st)),
                    Ok(_) | Err(nix::Error::EINTR) => continue,
                    Err(e) => return Err(Error::sys("waiting for the shell", e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("root@deb"), (Some("root"), "deb"));
        assert_eq!(parse_target("deb"), (None, "deb"));
        assert_eq!(parse_target("@deb"), (None, "deb"));
    }
}
