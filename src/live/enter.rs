//! Entering a running machine: what `berth shell` and `berth login` share.
//!
//! The entering process is born into the leader's own cgroup
//! (CLONE_INTO_CGROUP), joins all of the leader's namespaces at once
//! through a pidfd while single-threaded, and becomes root of the guest's
//! user namespace. Its children are then in the guest's pid namespace.
//! Before it runs anything of the guest's it takes on the machine's own
//! confinement from the machine's record: the bounding set, the system
//! call filter (with no_new_privs when the machine has it), resource
//! limits no looser than the leader's, its OOM score adjustment and CPU
//! affinity. An entered process never holds more than the machine.

use crate::error::{Context, Error, Result};
use crate::security::policy::{Policy, RLIMITS};
use crate::security::{capabilities, seccomp};
use crate::state::machine::Machine;
use crate::sys;
use nix::sched::CloneFlags;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// What is needed to enter one machine, gathered on the host side.
pub struct Entry {
    pub name: String,
    pub leader: i32,
    pidfd: OwnedFd,
    cgroup: OwnedFd,
    /// The leader's v1 cgroups on a hybrid host (its limits live there).
    v1: Vec<std::path::PathBuf>,
    flags: CloneFlags,
    /// The machine's policy, as its launcher recorded it.
    policy: Policy,
    /// The leader's resource limits, read while it is known to be alive.
    limits: Vec<(i32, libc::rlimit)>,
    /// The leader's OOM score adjustment and CPU affinity.
    oom_score_adj: Option<i32>,
    affinity: Option<nix::sched::CpuSet>,
}

impl Entry {
    pub fn new(m: &Machine) -> Result<Entry> {
        let name = &m.name;
        let policy = m.own()?.policy.clone();
        let leader = m.leader().ok_or_else(|| Error::Setup(format!("machine {name} has no leader yet")))?;
        let pidfd = sys::pidfd_open(leader).ctx(|| format!("opening the leader of machine {name}"))?;
        let cgroup_path = crate::host::cgroup::own_path(&leader.to_string())
            .ok_or_else(|| Error::Setup(format!("cannot read the cgroup of machine {name}'s leader")))?;
        let cgroup_dir = crate::host::cgroup::hierarchy()?.join(cgroup_path);
        let cgroup: OwnedFd = std::fs::File::open(&cgroup_dir)
            .ctx(|| format!("opening the leader's cgroup {}", cgroup_dir.display()))?
            .into();
        let mut flags = CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWCGROUP
            | CloneFlags::CLONE_NEWPID;
        let ns = |p: String| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).ok();
        if ns(format!("/proc/{leader}/ns/user")) != ns("/proc/self/ns/user".into()) {
            flags |= CloneFlags::CLONE_NEWUSER;
        }
        if ns(format!("/proc/{leader}/ns/net")) != ns("/proc/self/ns/net".into()) {
            flags |= CloneFlags::CLONE_NEWNET;
        }
        let v1 = crate::host::cgroupv1::joinable(leader);
        let limits = RLIMITS
            .iter()
            .map(|(rname, res)| {
                let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                // SAFETY: prlimit reading into a valid struct.
                if unsafe { libc::prlimit(leader, *res as _, std::ptr::null(), &mut lim) } < 0 {
                    return Err(Error::sys(
                        format!("reading the RLIMIT_{rname} of machine {name}'s leader"),
                        std::io::Error::last_os_error(),
                    ));
                }
                Ok((*res, lim))
            })
            .collect::<Result<Vec<_>>>()?;
        let oom_score_adj =
            std::fs::read_to_string(format!("/proc/{leader}/oom_score_adj")).ok().and_then(|s| s.trim().parse().ok());
        let affinity = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(leader)).ok();
        Ok(Entry { name: name.clone(), leader, pidfd, cgroup, v1, flags, policy, limits, oom_score_adj, affinity })
    }

    /// The machine's system call filter, built on the host side before
    /// the fork, loaded by `confine`.
    pub fn filter(&self) -> Result<seccomp::Compiled> {
        Ok(self.policy.seccomp()?)
    }

    /// In the joined child, before anything of the guest's runs: the
    /// machine's bounding set, limits no looser than the leader's, and its
    /// system call filter (last: it may forbid what the others need).
    pub fn confine(&self, filter: &mut seccomp::Compiled) -> Result<()> {
        for (res, leader) in &self.limits {
            let mut own = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: getrlimit/setrlimit on this process with valid structs.
            unsafe {
                if libc::getrlimit(*res as _, &mut own) < 0 {
                    return Err(Error::sys("reading a resource limit", std::io::Error::last_os_error()));
                }
                let lim = libc::rlimit {
                    rlim_cur: own.rlim_cur.min(leader.rlim_cur),
                    rlim_max: own.rlim_max.min(leader.rlim_max),
                };
                if libc::setrlimit(*res as _, &lim) < 0 {
                    return Err(Error::sys("lowering a resource limit", std::io::Error::last_os_error()));
                }
            }
        }
        capabilities::bound(&self.policy.capabilities).map_err(Error::Setup)?;
        filter.load()?;
        Ok(())
    }

    /// Forks a child born in the leader's cgroup: `None` in the child.
    ///
    /// # Safety
    /// As for `sys::clone3`: the caller is single-threaded.
    pub unsafe fn fork(&self) -> Result<Option<nix::unistd::Pid>> {
        Ok(sys::clone3(0, Some(self.cgroup.as_raw_fd()), false)
            .ctx(|| "entering the machine's cgroup".into())?
            .map(|c| nix::unistd::Pid::from_raw(c.pid)))
    }

    /// In the forked child: joins every namespace of the leader, becomes
    /// root of its user namespace and moves to its root directory.
    pub fn join(&self) -> Result<()> {
        sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "setting the parent-death signal".into())?;
        // Set while privileged on the host: a lower OOM score than ours
        // needs CAP_SYS_RESOURCE there.
        if let Some(adj) = self.oom_score_adj {
            std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                .ctx(|| format!("taking on machine {}'s OOM score adjustment {adj}", self.name))?;
        }
        if let Some(set) = &self.affinity {
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), set)
                .ctx(|| format!("taking on machine {}'s CPU affinity", self.name))?;
        }
        // The guest's limits on a hybrid host, joined while still
        // privileged on the host.
        for procs in &self.v1 {
            std::fs::write(procs, "0").ctx(|| format!("joining the machine's cgroup {}", procs.display()))?;
        }
        nix::sched::setns(&self.pidfd, self.flags)
            .ctx(|| format!("joining the namespaces of machine {}", self.name))?;
        if self.flags.contains(CloneFlags::CLONE_NEWUSER) {
            let (u, g) = (nix::unistd::Uid::from_raw(0), nix::unistd::Gid::from_raw(0));
            nix::unistd::setresgid(g, g, g).ctx(|| "becoming root of the machine's user namespace".into())?;
            nix::unistd::setresuid(u, u, u).ctx(|| "becoming root of the machine's user namespace".into())?;
            // A credential change clears the parent-death signal.
            sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "setting the parent-death signal".into())?;
        }
        nix::unistd::chdir("/").ctx(|| "entering the machine's root".into())
    }
}

/// A fresh pty of the guest's own devpts (call after `Entry::join`):
/// master, slave and its number N (`/dev/pts/N` inside).
pub fn guest_pty() -> Result<(OwnedFd, OwnedFd, u32)> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "opening the machine's /dev/ptmx".into())?;
    // SAFETY: a fresh ptmx descriptor.
    let master = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(master) };
    // SAFETY: unlockpt/TIOCGPTN on a ptmx descriptor.
    let n = unsafe {
        let mut n: libc::c_int = 0;
        if libc::unlockpt(master.as_raw_fd()) < 0 || libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) < 0 {
            return Err(Error::sys("setting up a pty in the machine", std::io::Error::last_os_error()));
        }
        n as u32
    };
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(format!("/dev/pts/{n}"))
        .ctx(|| format!("opening the machine's /dev/pts/{n}"))?
        .into();
    Ok((master, slave, n))
}

/// The signals the entering side handles itself (the child's end, window
/// changes, and the ones it relays), blocked and read from a signalfd.
pub fn signals() -> Result<nix::sys::signalfd::SignalFd> {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut mask = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGWINCH, Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
        mask.add(s);
    }
    mask.thread_block().ctx(|| "blocking signals".into())?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ctx(|| "creating a signalfd".into())
}
