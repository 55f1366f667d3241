//! `berth login NAME`: a getty login prompt on a fresh pty of a booted
//! machine, connected to this terminal until ^] is pressed three times.
//!
//! How the getty gets started: machinectl asks machined
//! (OpenMachineLogin), which talks D-Bus to the guest's systemd. berth
//! does not depend on machined or on a bus inside the guest: it enters the
//! machine (as `berth shell` does), allocates pty N from the guest's own
//! devpts, and runs the guest's own `systemctl start
//! container-getty@N.service`. The getty then belongs to the guest's
//! service manager: it is restarted after a logout, gets its utmp entry
//! and session, and outlives nothing of berth's. Running agetty ourselves
//! would make it a child of berth, outside any of that, so a machine whose
//! PID 1 is not systemd is refused with a pointer to `berth shell`.

use crate::error::{Context, Error, Result};
use crate::live::enter::{guest_pty, Entry};
use crate::settings::config::ConsoleMode;
use crate::settings::config::DEFAULT_PATH;
use crate::spawn::console::{Console, Input};
use crate::spawn::exec::exec_in_path;
use crate::spawn::protocol::{self, Report};
use crate::{security::seccomp, state::machine, sys};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitStatus};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Connects the terminal to a new login prompt; returns 0 once the user
/// leaves with ^]^]^] (or berth is asked to stop).
pub fn login(name: &str) -> Result<i32> {
    let m = machine::started(name)?;
    let leader = m.leader().ok_or_else(|| Error::Setup(format!("machine {name} has no leader yet")))?;
    let init = std::fs::read_to_string(format!("/proc/{leader}/comm")).unwrap_or_default().trim().to_string();
    if init != "systemd" {
        return Err(Error::Usage(format!(
            "machine {name} was not booted with systemd (its PID 1 is {init}); berth login needs a guest started with 'berth boot', use 'berth shell {name}' instead"
        )));
    }
    if !nix::unistd::isatty(0).unwrap_or(false) {
        return Err(Error::Usage(
            "berth login needs a terminal on stdin; use 'berth shell NAME CMD' for scripts".into(),
        ));
    }
    let entry = Entry::new(&m)?;
    let filter = entry.filter()?;
    let (ours, theirs) = protocol::pair().ctx(|| "creating the login's socket".into())?;
    let sigfd = crate::live::enter::signals()?;
    // SAFETY: single-threaded.
    let child = match unsafe { entry.fork() }? {
        None => {
            drop(ours);
            sys::set_name("berth-login");
            let code = match start_getty(&entry, &theirs, filter) {
                Ok(()) => 0,
                Err(e) => {
                    protocol::fail(&theirs, &e);
                    1
                }
            };
            // SAFETY: leave without destructors.
            unsafe { libc::_exit(code) }
        }
        Some(pid) => pid,
    };
    drop(theirs);
    let mut pty = None;
    let mut error = None;
    while let Ok(Some(r)) = protocol::read_report(&ours) {
        match r {
            Report::Console { master, slave } => pty = Some((master, slave)),
            Report::Failed(f) => error = Some(Error::from(f)),
            _ => {}
        }
    }
    let _ = waitpid(child, None);
    if let Some(e) = error {
        return Err(e);
    }
    let (master, slave) =
        pty.ok_or_else(|| Error::Setup(format!("entering machine {name} failed before a pty was made")))?;
    eprintln!("Connected to machine {name}. Press ^] three times within 1s to exit session.");
    let mut console = Console::new(ConsoleMode::Interactive, master, slave);
    forward(&mut console, &sigfd);
    console.restore();
    eprintln!("\nConnection to machine {name} terminated.");
    Ok(0)
}

/// In the entering child: a pty of the guest's devpts (handed to berth)
/// and the guest's systemd told to run a getty on it.
fn start_getty(entry: &Entry, sock: &OwnedFd, mut filter: seccomp::Compiled) -> Result<()> {
    entry.join()?;
    let (master, slave, n) = guest_pty()?;
    protocol::report(sock, &Report::Console { master, slave }).ctx(|| "handing the pty to berth".into())?;
    let unit = format!("container-getty@{n}.service");
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "creating a pipe".into())?;
    let argv: Vec<CString> =
        ["systemctl", "--no-ask-password", "start", &unit].iter().filter_map(|s| CString::new(*s).ok()).collect();
    let env: Vec<CString> = [format!("PATH={DEFAULT_PATH}"), "container=berth".into()]
        .into_iter()
        .filter_map(|s| CString::new(s).ok())
        .collect();
    // SAFETY: single-threaded; the child only sets itself up and execs.
    match unsafe { sys::clone3(0, None, false) }.ctx(|| "starting systemctl".into())? {
        None => {
            let err = (|| -> Result<std::convert::Infallible> {
                drop(r);
                nix::unistd::setsid().ctx(|| "starting a session".into())?;
                let null = std::fs::File::open("/dev/null").ctx(|| "opening the machine's /dev/null".into())?;
                nix::unistd::dup2(null.as_raw_fd(), 0).ctx(|| "redirecting stdin".into())?;
                for fd in [1, 2] {
                    nix::unistd::dup2(w.as_raw_fd(), fd).ctx(|| "redirecting output".into())?;
                }
                entry.confine(&mut filter)?;
                sys::cloexec_from(3).ctx(|| "closing descriptors".into())?;
                sys::reset_signals();
                Err(exec_in_path(&argv, &env, DEFAULT_PATH))
            })()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            let _ = nix::unistd::write(&w, err.as_bytes());
            // SAFETY: leave without destructors.
            unsafe { libc::_exit(127) }
        }
        Some(c) => {
            drop(w);
            let mut out = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut out);
            let st = loop {
                match waitpid(nix::unistd::Pid::from_raw(c.pid), None) {
                    Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => break st,
                    Ok(_) | Err(nix::Error::EINTR) => continue,
                    Err(e) => return Err(Error::sys("waiting for systemctl", e)),
                }
            };
            if matches!(st, WaitStatus::Exited(_, 0)) {
                return Ok(());
            }
            let why = out.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no output").to_string();
            Err(Error::Setup(format!("the guest's systemd did not start {unit} in machine {} ({why})", entry.name)))
        }
    }
}

/// Copies between the terminal and the pty until ^]^]^] or a signal to
/// stop. The getty may come and go (a logout restarts it): berth holds a
/// slave of its own, so the master never reads end-of-file meanwhile.
fn forward(c: &mut Console, sigfd: &SignalFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let stdin = std::io::stdin();
        let (sig, out, hup, inp) = {
            let mut fds =
                vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN), PollFd::new(c.master_fd(), PollFlags::POLLIN)];
            if c.wants_stdin() {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            let _ = poll(&mut fds, PollTimeout::NONE);
            let rev = |i: usize| fds.get(i).and_then(|f| f.revents()).unwrap_or(PollFlags::empty());
            (
                !rev(0).is_empty(),
                rev(1).contains(PollFlags::POLLIN),
                rev(1).intersects(PollFlags::POLLHUP | PollFlags::POLLERR),
                !rev(2).is_empty(),
            )
        };
        if out {
            c.pump_output();
        } else if hup {
            // Nobody on the other side for a moment: do not spin.
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if inp && c.pump_input() == Input::KillRequested {
            return;
        }
        if !c.wants_stdin() && !out {
            // The terminal went away.
            return;
        }
        if sig {
            while let Ok(Some(si)) = sigfd.read_signal() {
                match si.ssi_signo as i32 {
                    libc::SIGWINCH => c.resize(),
                    libc::SIGCHLD => {}
                    _ => return,
                }
            }
        }
    }
}
