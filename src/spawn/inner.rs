//! The inner child: the guest's PID 1 from its clone until it execs the
//! payload. It waits for the launcher's word, unshares the guest's own
//! namespaces (so what the outer child mounted becomes its locked view),
//! pivots into the tree, drops to the machine's confinement and execs.

use crate::error::{Context, Error, Result};
use crate::mount::apply;
use crate::plan::mounts::Phase;
use crate::settings::config::ConsoleMode;
use crate::settings::config::Mode;
use crate::spawn::ctx::ChildCtx;
use crate::spawn::protocol::{self};
use crate::{security::capabilities, spawn::exec, sys};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{chdir, sethostname};
use std::io::Read;
use std::os::fd::OwnedFd;

/// The guest's PID 1 before exec; never returns.
pub fn inner(ctx: &ChildCtx, go: OwnedFd, launcher: OwnedFd) -> ! {
    sys::set_name("berth-init");
    let err = match inner_main(ctx, go, &launcher) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    protocol::fail(&ctx.sock, &err);
    // The status alone tells the launcher what happened, too.
    let code = err.exit_code(true);
    // SAFETY: leave without destructors.
    unsafe { libc::_exit(code) }
}

enum Never {}

fn inner_main(ctx: &ChildCtx, go: OwnedFd, launcher: &OwnedFd) -> Result<Never> {
    let cfg = ctx.cfg;
    sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "setting the parent-death signal".into())?;
    // getppid() is 0 across the pid namespace boundary: ask the pidfd.
    if !sys::pidfd_alive(launcher) {
        return Err(Error::Setup("the launcher died during setup".into()));
    }
    let mut byte = [0u8; 1];
    let mut go = std::fs::File::from(go);
    if go.read(&mut byte).unwrap_or(0) != 1 {
        // The outer child failed and has reported why.
        // SAFETY: quiet exit.
        unsafe { libc::_exit(1) }
    }
    drop(go);
    if ctx.range.is_some() {
        // Become the namespace's root (the maps are written by now).
        let (u, g) = (nix::unistd::Uid::from_raw(0), nix::unistd::Gid::from_raw(0));
        nix::unistd::setresgid(g, g, g).ctx(|| "becoming root of the user namespace".into())?;
        nix::unistd::setresuid(u, u, u).ctx(|| "becoming root of the user namespace".into())?;
        sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "setting the parent-death signal".into())?;
    }
    // A mount namespace of our own: with a user namespace, every mount
    // made so far is now locked (cannot be unmounted or made writable).
    unshare(
        CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWCGROUP,
    )
    .ctx(|| "creating the guest's mount, uts, ipc and cgroup namespaces".into())?;
    chdir("/").ctx(|| "entering /".into())?;
    fresh_keyring()?;
    let root: OwnedFd = std::fs::File::open("/").ctx(|| "opening /".into())?.into();
    apply::apply(ctx.mounts, Phase::Inner, &root)?;
    if crate::plan::mounts::proc_masks_inside(cfg, ctx.range) {
        crate::mount::api::mount_boot_id(&root, &ctx.boot_id)?;
    }
    crate::mount::guestfiles::place_in_guest(cfg);
    // Everything shared within the guest's own namespace (as nspawn does):
    // its systemd does not do this in a container, and without it what a
    // service's private namespace mounts (its credentials, under
    // /run/credentials) never reaches the rest of the guest. The peer
    // groups are new and the guest's alone: nothing propagates to the host.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SHARED, None::<&str>)
        .ctx(|| "making the guest's mounts shared within the guest".into())?;
    sethostname(&cfg.hostname).ctx(|| "setting the hostname".into())?;
    nix::unistd::setsid().ctx(|| "starting a session".into())?;
    // Logged while stderr is still the launcher's: past attach_console it
    // is the guest's console, whose output is the user's stdout.
    tracing::debug!(argv = ?cfg.mode, "exec");
    if cfg.console != ConsoleMode::Pipe {
        attach_console()?;
    }
    capabilities::bound(&cfg.policy.capabilities).map_err(Error::Setup)?;
    let plan = exec::Plan::new(cfg)?;
    // The system call filter is loaded right before exec; a --user other
    // than root could no longer load it then (no CAP_SYS_ADMIN, and
    // no_new_privs only with --no-new-privileges), so it goes first.
    // views: sysinfo(2) answered by the launcher (as root of the user
    // namespace still, which may load filters). Without the listener the
    // guest's sysinfo shows the host's totals, nothing worse.
    if ctx.views.is_some() {
        if let Ok(listener) = crate::views::sysinfo::install() {
            protocol::report(&ctx.sock, &protocol::Report::Sysinfo(listener))
                .ctx(|| "handing the sysinfo listener to the launcher".into())?;
        }
    }
    let mut filter = ctx.filter.clone();
    if cfg.user.is_some() && !cfg.policy.no_new_privileges {
        filter.load()?;
    }
    plan.switch_user()?;
    // Credentials changed: the kernel cleared the parent-death signal.
    sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "setting the parent-death signal".into())?;
    if !sys::pidfd_alive(launcher) {
        return Err(Error::Setup("the launcher died during setup".into()));
    }
    drop(root);
    sys::cloexec_from(3).ctx(|| "closing descriptors the guest must not inherit".into())?;
    sys::reset_signals();
    // The outer child worked with umask 0; the guest starts with the usual.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    filter.load()?;
    match &cfg.mode {
        Mode::Run { as_pid2: true, .. } => Err(plan.exec_stub(&ctx.sock)),
        _ => Err(plan.exec()),
    }
}

fn attach_console() -> Result<()> {
    let fd = nix::fcntl::open(
        "/dev/console",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "opening /dev/console".into())?;
    // SAFETY: TIOCSCTTY on our own fresh descriptor, as session leader.
    if unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::sys("making /dev/console the controlling terminal", std::io::Error::last_os_error()));
    }
    for target in 0..=2 {
        nix::unistd::dup2(fd, target).ctx(|| "connecting stdio to the console".into())?;
    }
    if fd > 2 {
        let _ = nix::unistd::close(fd);
    }
    Ok(())
}

/// A fresh, anonymous session keyring: the caller's (with whatever keys
/// the host session holds) must not be reachable from the guest.
fn fresh_keyring() -> Result<()> {
    crate::sys::join_new_session_keyring(None).ctx(|| "giving the guest its own session keyring".into())
}
