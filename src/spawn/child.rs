//! Code that runs in the container's namespaces before the payload execs.
//!
//! Topology (see also launcher.rs):
//! - the *outer child* lives in a new mount namespace owned by the host's
//!   user namespace and builds the guest's tree there;
//! - it clones the *inner child* (CLONE_PARENT, so the launcher reaps it)
//!   into a new pid namespace; the inner child becomes the guest's PID 1;
//! - a short-lived *proc helper* joins that pid namespace but keeps the
//!   outer mount namespace, mounts procfs and its masks there;
//! - the inner child then unshares mount, uts, ipc and cgroup namespaces,
//!   so everything mounted so far becomes the guest's inherited (and, with
//!   a user namespace, locked) view, pivots into the tree and execs.

use crate::error::{Context, Error, Result};
use crate::ids::userns::Range;
use crate::mount::{api, apply};
use crate::plan::mounts::Phase;
use crate::settings::config::ConsoleMode;
pub use crate::spawn::ctx::ChildCtx;
use crate::spawn::protocol::{self, Command, Report};
use crate::{mount::dev, mount::rootfs, mount::runhost, sys};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::unistd::{chdir, pivot_root};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

/// Entry point of the outer child; never returns.
pub fn outer(ctx: ChildCtx) -> ! {
    sys::set_name("berth-outer");
    let code = match outer_main(&ctx) {
        Ok(()) => 0,
        Err(e) => {
            protocol::fail(&ctx.sock, &e);
            1
        }
    };
    // SAFETY: leave without running the launcher's destructors.
    unsafe { libc::_exit(code) }
}

fn outer_main(ctx: &ChildCtx) -> Result<()> {
    let cfg = ctx.cfg;
    sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "setting the parent-death signal".into())?;
    if nix::unistd::getppid().as_raw() != ctx.launcher {
        return Err(Error::Setup("the launcher died during setup".into()));
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    // Nothing mounted from here on may propagate back to the host.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>)
        .ctx(|| "making the container's mount namespace a slave of the host's".into())?;

    // net: --network-namespace-path: the guest is cloned into that namespace.
    if let Some(p) = &cfg.net.netns_path {
        let f = std::fs::File::open(p).ctx(|| format!("--network-namespace-path: opening {}", p.display()))?;
        nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
            .ctx(|| format!("--network-namespace-path: joining {} (is it a network namespace?)", p.display()))?;
    }
    let (inner_child, go_w) = clone_guest(ctx)?;
    let inner_fd = inner_child.pidfd.ok_or_else(|| Error::Setup("no pidfd for the guest".into()))?;
    // Sync point: the launcher has written the id maps and handed the
    // guest its cgroup.
    match protocol::read_command(&ctx.sock) {
        Ok(Some(Command::Proceed)) => {}
        _ => return Err(Error::Setup("the launcher did not prepare the guest's namespaces".into())),
    }
    // Limits, OOM score and CPU affinity, set from here (host privileges)
    // on the waiting guest.
    cfg.policy.apply_to_guest(inner_child.pid)?;
    // net: a fresh sysfs shows the network namespace of its mounter; from
    // here on this process (no longer needing the host's) is in the guest's.
    if cfg.net.private() {
        let ns = crate::net::open_netns(inner_child.pid)?;
        nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).ctx(|| "entering the guest's network namespace".into())?;
    }

    let root_path = &cfg.root;
    let mounts = tracing::info_span!("mounts").entered();
    let (root, run_host) = build_tree(ctx, inner_child.pid)?;

    let notify = notify_socket(&run_host, ctx.range)?;
    protocol::report(&ctx.sock, &Report::NotifySocket(notify))
        .ctx(|| "handing the notify socket to the launcher".into())?;
    runhost::seal(&root)?;

    hand_over_console(ctx, &root)?;

    // procfs must come from inside the guest's pid namespace, but be
    // mounted in this (host-owned) mount namespace so its masks are
    // inherited, locked, below everything the guest can unmount.
    mount_proc_from_guest_pidns(ctx, &root, &inner_fd)?;
    // views: the guest's /proc and /sys views, over the fresh procfs.
    if let Some(fuse) = ctx.views.as_ref().and_then(|f| f.try_clone().ok()) {
        crate::views::mount::mount_views(&root, fuse, |fuse| {
            let fd = fuse.try_clone()?;
            protocol::report(&ctx.sock, &Report::Views(fd)).map_err(std::io::Error::from)
        })?;
    }

    drop(mounts);
    let _pivot = tracing::info_span!("pivot").entered();
    // Pivot this whole mount namespace into the tree: the waiting guest's
    // root moves with it, so it never needs to look at a host path.
    drop(root);
    drop(run_host);
    chdir(root_path).ctx(|| "entering the tree".into())?;
    pivot_root(".", ".").ctx(|| "pivoting into the tree".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detaching the host's root".into())?;
    chdir("/").ctx(|| "entering /".into())?;

    // Sync point: the launcher has set up the guest's network and
    // registered it (in parallel with the mounts above).
    match protocol::read_command(&ctx.sock) {
        Ok(Some(Command::Start)) => {}
        _ => return Err(Error::Setup("the launcher did not set up the guest's network".into())),
    }
    let mut w = std::fs::File::from(go_w);
    w.write_all(b"g").ctx(|| "starting the guest".into())?;
    Ok(())
}

/// Mounts the guest's tree in this mount namespace: the root (idmapped
/// or layered), the outer phase of the mount list, overlays, the targets
/// of the inner phase, /dev and /run/host. Returns the root and /run/host.
fn build_tree(ctx: &ChildCtx, guest: libc::pid_t) -> Result<(OwnedFd, OwnedFd)> {
    let cfg = ctx.cfg;
    let userns: Option<OwnedFd> = match ctx.range {
        Some(_) => Some(
            std::fs::File::open(format!("/proc/{}/ns/user", guest))
                .ctx(|| "opening the guest's user namespace".into())?
                .into(),
        ),
        None => None,
    };
    let rctx = rootfs::RootCtx {
        cfg,
        range: ctx.range,
        idmap: ctx.idmap,
        userns: userns.as_ref(),
        layer: ctx.layer.as_deref(),
        upper_tmpfs: ctx.upper_tmpfs,
        overlay_work: &ctx.overlay_work,
    };
    let root = rootfs::mount_root(&rctx)?;
    api::refuse_odd_api_dirs(&root)?;
    let idmapping = match (&userns, ctx.range) {
        (Some(ns), Some(range)) => Some(apply::Idmapping { userns: ns, range }),
        _ => None,
    };
    apply::apply_idmapped(ctx.mounts, Phase::Outer, &root, idmapping.as_ref())?;
    rootfs::mount_overlays(&rctx, &root)?;
    apply::prepare_targets(ctx.mounts, Phase::Inner, &root)?;
    dev::populate(&root, ctx.range)?;
    let run_host = runhost::create(&root, cfg, ctx.range)?;
    Ok((root, run_host))
}

/// The inner child: PID 1 of a new pid (and user, and with a private
/// network, network) namespace, parented to the launcher. It waits on the
/// start pipe until the tree is ready; cloned first, it inherits none of
/// the descriptors the outer child opens later. Returns it and the pipe's
/// write end.
fn clone_guest(ctx: &ChildCtx) -> Result<(sys::Cloned, OwnedFd)> {
    let launcher_fd = sys::pidfd_open(ctx.launcher).ctx(|| "watching the launcher".into())?;
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "creating the start pipe".into())?;
    let mut flags = (libc::CLONE_PARENT | libc::CLONE_NEWPID) as u64;
    if ctx.range.is_some() {
        flags |= libc::CLONE_NEWUSER as u64;
    }
    // net: the guest's own network namespace, owned by its user namespace
    // (created with it) so the guest administers it and nothing else.
    if ctx.cfg.net.new_namespace() {
        flags |= libc::CLONE_NEWNET as u64;
    }
    // SAFETY: this process is single-threaded.
    let cloned =
        unsafe { sys::clone3(flags, None, true) }.ctx(|| "creating the guest's pid and user namespaces".into())?;
    let Some(inner_child) = cloned else {
        drop(go_w);
        crate::spawn::inner::inner(ctx, go_r, launcher_fd);
    };
    drop(go_r);
    drop(launcher_fd);
    protocol::report(&ctx.sock, &Report::GuestCreated(inner_child.pid)).ctx(|| "reporting the guest's pid".into())?;
    Ok((inner_child, go_w))
}

/// The notify socket at /run/host/notify, bound through a descriptor so
/// the path stays short, connectable by the guest's root.
fn notify_socket(run_host: &OwnedFd, range: Option<Range>) -> Result<OwnedFd> {
    let notify = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC | nix::sys::socket::SockFlag::SOCK_NONBLOCK,
        None,
    )
    .ctx(|| "creating the notify socket".into())?;
    let addr = nix::sys::socket::UnixAddr::new(format!("{}/notify", sys::fd_path(run_host)).as_str())
        .ctx(|| "naming the notify socket".into())?;
    nix::sys::socket::bind(notify.as_raw_fd(), &addr).ctx(|| format!("binding {}", runhost::NOTIFY))?;
    if let Some(r) = range {
        // The guest's root must be able to connect to it.
        let _ = nix::unistd::fchownat(
            Some(run_host.as_raw_fd()),
            "notify",
            Some(nix::unistd::Uid::from_raw(r.base)),
            Some(nix::unistd::Gid::from_raw(r.base)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
    }
    nix::sys::socket::setsockopt(&notify, nix::sys::socket::sockopt::PassCred, &true)
        .ctx(|| "enabling credentials on the notify socket".into())?;
    Ok(notify)
}

/// The console: a pty of the guest's own devpts instance bound at
/// /dev/console, its master handed to the launcher (/dev/null with -P).
fn hand_over_console(ctx: &ChildCtx, root: &OwnedFd) -> Result<()> {
    if ctx.cfg.console == ConsoleMode::Pipe {
        let null = std::fs::File::open("/dev/null").ctx(|| "opening /dev/null".into())?;
        dev::bind_console(root, &null)?;
    } else {
        let (master, slave) = api::open_pty(root)?;
        if let Some(r) = ctx.range {
            let _ = nix::unistd::fchown(
                slave.as_raw_fd(),
                Some(nix::unistd::Uid::from_raw(r.base)),
                Some(nix::unistd::Gid::from_raw(r.host(5))),
            );
        }
        dev::bind_console(root, &slave)?;
        protocol::report(&ctx.sock, &Report::Console { master, slave })
            .ctx(|| "handing the console to the launcher".into())?;
    }
    Ok(())
}

/// Mounts procfs and its masks from a helper that joined the guest's pid
/// namespace but keeps this mount namespace.
fn mount_proc_from_guest_pidns(ctx: &ChildCtx, root: &OwnedFd, inner_fd: &OwnedFd) -> Result<()> {
    let cfg = ctx.cfg;
    nix::sched::setns(inner_fd, CloneFlags::CLONE_NEWPID).ctx(|| "joining the guest's pid namespace".into())?;
    // SAFETY: single-threaded.
    match unsafe { sys::clone3(0, None, false) }.ctx(|| "starting the proc helper".into())? {
        None => {
            sys::set_name("berth-proc");
            let r = sys::set_parent_death_signal(libc::SIGKILL)
                .ctx(|| "setting the parent-death signal".into())
                .and_then(|_| {
                    let inside = crate::plan::mounts::proc_masks_inside(cfg, ctx.range);
                    api::mount_proc(root, &ctx.boot_id, ctx.mounts, inside)
                });
            let code = match r {
                Ok(()) => 0,
                Err(e) => {
                    protocol::fail(&ctx.sock, &e);
                    1
                }
            };
            // SAFETY: leave without destructors.
            unsafe { libc::_exit(code) }
        }
        Some(helper) => {
            let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(helper.pid), None)
                .ctx(|| "waiting for the proc helper".into())?;
            if !matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)) {
                // The helper already said why.
                // SAFETY: leave quietly; the launcher has the message.
                unsafe { libc::_exit(1) }
            }
        }
    }
    Ok(())
}
