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
use crate::mount::apply;
use crate::plan::mounts::{Entry, Phase};
use crate::settings::config::ConsoleMode;
use crate::settings::config::{Config, Mode};
use crate::spawn::protocol::{self, Command, Report};
use crate::{mount::dev, mount::rootfs, mount::runhost, security::capabilities, spawn::exec, sys};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{chdir, pivot_root, sethostname};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Everything a child needs from the launcher.
pub struct ChildCtx<'a> {
    pub cfg: &'a Config,
    /// The guest's mounts, planned once by the launcher.
    pub mounts: &'a [Entry],
    pub sock: OwnedFd,
    pub launcher: libc::pid_t,
    pub boot_id: String,
    /// The compiled system call filter, loaded right before exec.
    pub filter: crate::security::seccomp::Compiled,
    /// The guest's id range, with a user namespace.
    pub range: Option<Range>,
    /// Whether the tree is idmapped onto the range.
    pub idmap: bool,
    /// The machine's layer directory (for -x, --volatile=overlay, --overlay).
    pub layer: Option<std::path::PathBuf>,
    pub upper_tmpfs: bool,
    pub overlay_work: Vec<std::path::PathBuf>,
}

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
    let userns: Option<OwnedFd> = match ctx.range {
        Some(_) => Some(
            std::fs::File::open(format!("/proc/{}/ns/user", inner_child.pid))
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
    let mounts = tracing::info_span!("mounts").entered();
    let root = rootfs::mount_root(&rctx)?;
    refuse_odd_api_dirs(&root)?;
    let idmapping = match (&userns, ctx.range) {
        (Some(ns), Some(range)) => Some(apply::Idmapping { userns: ns, range }),
        _ => None,
    };
    apply::apply_idmapped(ctx.mounts, Phase::Outer, &root, idmapping.as_ref())?;
    rootfs::mount_overlays(&rctx, &root)?;
    apply::prepare_targets(ctx.mounts, Phase::Inner, &root)?;
    dev::populate(&root, ctx.range)?;
    let run_host = runhost::create(&root, cfg, ctx.range)?;

    let notify = notify_socket(&run_host, ctx.range)?;
    protocol::report(&ctx.sock, &Report::NotifySocket(notify))
        .ctx(|| "handing the notify socket to the launcher".into())?;
    runhost::seal(&root)?;

    hand_over_console(ctx, &root)?;

    // procfs must come from inside the guest's pid namespace, but be
    // mounted in this (host-owned) mount namespace so its masks are
    // inherited, locked, below everything the guest can unmount.
    mount_proc_from_guest_pidns(ctx, &root, &inner_fd)?;

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

    let mut w = std::fs::File::from(go_w);
    w.write_all(b"g").ctx(|| "starting the guest".into())?;
    Ok(())
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
        inner(ctx, go_r, launcher_fd);
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
        let (master, slave) = open_pty(root)?;
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
                    mount_proc(root, &ctx.boot_id, ctx.mounts, inside)
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

/// A tree whose API directories are symlinks or not directories could
/// redirect our mounts; refuse it rather than follow.
fn refuse_odd_api_dirs(root: &OwnedFd) -> Result<()> {
    for d in ["proc", "sys", "dev", "run", "tmp"] {
        match nix::sys::stat::fstatat(Some(root.as_raw_fd()), d, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
            Ok(_) => {
                return Err(Error::Usage(format!(
                    "the tree's /{d} is a symlink or not a directory; refusing to mount over it (replace it with an empty directory)"
                )))
            }
            Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(Error::sys(format!("inspecting /{d} of the tree"), e)),
        }
    }
    Ok(())
}

fn open_pty(root: &OwnedFd) -> Result<(OwnedFd, OwnedFd)> {
    let ptmx = sys::open_in_root(root, Path::new("/dev/pts/ptmx"), libc::O_RDWR | libc::O_NOCTTY, 0)
        .ctx(|| "opening the guest's /dev/pts/ptmx".into())?;
    // SAFETY: unlockpt/TIOCGPTN on a ptmx descriptor.
    let n = unsafe {
        if libc::unlockpt(ptmx.as_raw_fd()) < 0 {
            return Err(Error::sys("unlocking the console pty", std::io::Error::last_os_error()));
        }
        let mut n: libc::c_int = 0;
        if libc::ioctl(ptmx.as_raw_fd(), libc::TIOCGPTN, &mut n) < 0 {
            return Err(Error::sys("naming the console pty", std::io::Error::last_os_error()));
        }
        n
    };
    let slave = sys::open_in_root(root, Path::new(&format!("/dev/pts/{n}")), libc::O_RDWR | libc::O_NOCTTY, 0)
        .ctx(|| "opening the console pty".into())?;
    Ok((ptmx, slave))
}

fn mount_proc(root: &OwnedFd, boot_id: &str, mounts: &[Entry], masks_inside: bool) -> Result<()> {
    apply::apply(mounts, Phase::Proc, root)?;
    if masks_inside {
        // The guest mounts it with the other masks.
        return Ok(());
    }
    mount_boot_id(root, boot_id)
}

fn mount_boot_id(root: &OwnedFd, boot_id: &str) -> Result<()> {
    // A fresh boot id: a file on the guest's /run, bound over the kernel's
    // and unlinked, so only the mount keeps it.
    let run = sys::open_in_root(root, Path::new("/run"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening /run".into())?;
    let name = format!(".berth-boot-id-{}", std::process::id());
    let fd = nix::fcntl::openat(
        Some(run.as_raw_fd()),
        name.as_str(),
        nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_EXCL
            | nix::fcntl::OFlag::O_WRONLY
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o444),
    )
    .ctx(|| "creating the boot id file".into())?;
    // SAFETY: fresh descriptor.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let res = (|| {
        f.write_all(format!("{boot_id}\n").as_bytes()).ctx(|| "writing the boot id".into())?;
        let target = sys::open_in_root(root, Path::new("/proc/sys/kernel/random/boot_id"), libc::O_PATH, 0)
            .ctx(|| "opening /proc/sys/kernel/random/boot_id".into())?;
        mount(
            Some(sys::fd_path(&f).as_str()),
            sys::fd_path(&target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| "mounting a fresh /proc/sys/kernel/random/boot_id".into())?;
        apply::seal_read_only(root, Path::new("/proc/sys/kernel/random/boot_id"), false, false)
    })();
    let _ = nix::unistd::unlinkat(Some(run.as_raw_fd()), name.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
    res
}

/// The guest's PID 1 before exec; never returns.
fn inner(ctx: &ChildCtx, go: OwnedFd, launcher: OwnedFd) -> ! {
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
    // A fresh, anonymous session keyring: the caller's (with whatever keys
    // the host session holds) must not be reachable from the guest.
    // SAFETY: plain keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL).
    if unsafe { libc::syscall(libc::SYS_keyctl, 1, std::ptr::null::<libc::c_char>()) } < 0 {
        let e = std::io::Error::last_os_error();
        // EPERM: a seccomp filter above (berth in a machine) denies the
        // keyring calls to this guest as well, so no keyring is reachable.
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(Error::sys("giving the guest its own session keyring", e));
        }
    }
    let root: OwnedFd = std::fs::File::open("/").ctx(|| "opening /".into())?.into();
    apply::apply(ctx.mounts, Phase::Inner, &root)?;
    if crate::plan::mounts::proc_masks_inside(cfg, ctx.range) {
        mount_boot_id(&root, &ctx.boot_id)?;
    }
    sethostname(&cfg.hostname).ctx(|| "setting the hostname".into())?;
    nix::unistd::setsid().ctx(|| "starting a session".into())?;
    if cfg.console != ConsoleMode::Pipe {
        attach_console()?;
    }
    capabilities::bound(&cfg.policy.capabilities).map_err(Error::Setup)?;
    let plan = exec::Plan::new(cfg)?;
    tracing::debug!(argv = ?cfg.mode, "exec");
    // The system call filter is loaded right before exec; a --user other
    // than root could no longer load it then (no CAP_SYS_ADMIN, and
    // no_new_privs only with --no-new-privileges), so it goes first.
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
