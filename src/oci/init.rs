//! The container's first process, from clone to exec: it waits for the
//! launcher (id maps, cgroups), joins the namespaces the spec names,
//! builds the root (mounts, devices), lets the launcher run the
//! prestart/createRuntime hooks, runs createContainer hooks, pivots,
//! makes the console, applies sysctls, masks and hostname, says
//! `created`, and then blocks on `exec.fifo` until `start` before it
//! becomes the user's process.

use super::bundle::{Bundle, Namespaces};
use super::{mounts, Ctx, OciError, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// What the launcher hands the child (by memory: the child is a fork).
pub struct Init<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub ns: &'a Namespaces,
    pub sock: UnixStream,
    pub console: Option<OwnedFd>,
    pub fifo: RawFd,
    pub cgroup2: Option<PathBuf>,
    /// Every hierarchy's name (its mount point's base name) and the
    /// container's directory there.
    pub v1: Vec<(String, PathBuf)>,
    pub preserve_fds: u32,
    /// Set when the bundle runs as a machine.
    pub machine: Option<&'a super::machine::Machine>,
    /// `--no-new-keyring` not given: the container gets a session keyring
    /// of its own, as under runc.
    pub new_keyring: bool,
}

/// Runs in the child; never returns.
pub fn main(mut i: Init) -> ! {
    let _ = crate::sys::set_parent_death_signal(libc::SIGKILL);
    crate::sys::set_name("berth-oci-init");
    let code = match setup(&mut i) {
        Ok(()) => {
            // Past `created`: the launcher is gone; stderr is all we have.
            let p = i.bundle.spec.process().clone().unwrap_or_default();
            let seccomp = i.bundle.spec.linux().as_ref().and_then(|l| l.seccomp().clone());
            let fifo = i.fifo;
            let spec = &i.bundle.spec;
            let e = super::process::become_and_exec(&p, seccomp.as_ref(), || wait_for_start(fifo, spec));
            eprintln!("berth: {e}");
            if e.to_string().contains("not found") {
                127
            } else {
                126
            }
        }
        Err(e) => {
            let _ = writeln!(i.sock, "error {}", e.to_string().replace('\n', " "));
            1
        }
    };
    // SAFETY: leaving the forked child without running the launcher's atexit.
    unsafe { libc::_exit(code) }
}

fn expect(r: &mut BufReader<UnixStream>, want: &str) -> Result<()> {
    let mut line = String::new();
    r.read_line(&mut line).ctx(|| "reading from the launcher".into())?;
    if line.trim_end() != want {
        return Err(OciError::Setup("the launcher went away during create".into()));
    }
    Ok(())
}

fn join(ns: &Namespaces) -> Result<()> {
    let mut order: Vec<&(libc::c_int, PathBuf)> = ns.join.iter().filter(|(t, _)| *t != libc::CLONE_NEWPID).collect();
    order.sort_by_key(|(t, _)| *t != libc::CLONE_NEWUSER);
    for (t, p) in order {
        let f = std::fs::File::open(p).ctx(|| format!("linux.namespaces: opening {}", p.display()))?;
        nix::sched::setns(f, nix::sched::CloneFlags::from_bits_truncate(*t))
            .ctx(|| format!("linux.namespaces: joining {}", p.display()))?;
    }
    Ok(())
}

fn setup(i: &mut Init) -> Result<()> {
    let mut r = BufReader::new(i.sock.try_clone().ctx(|| "socket".into())?);
    expect(&mut r, "go")?;
    join(i.ns)?;
    let userns = i.ns.create & libc::CLONE_NEWUSER != 0 || i.ns.join.iter().any(|(t, _)| *t == libc::CLONE_NEWUSER);
    if userns {
        let root = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresgid(0.into(), 0.into(), 0.into()).ctx(|| "becoming root in the user namespace".into())?;
        nix::unistd::setresuid(root, root, root).ctx(|| "becoming root in the user namespace".into())?;
    }
    if i.new_keyring {
        crate::sys::join_new_session_keyring(Some(&format!("_ses.{}", i.id)))
            .ctx(|| "joining a new session keyring".into())?;
    }
    if i.ns.create & libc::CLONE_NEWCGROUP != 0 {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP).ctx(|| "new cgroup namespace".into())?;
    }
    let spec = &i.bundle.spec;
    let linux = spec.linux().clone().unwrap_or_default();
    let rootfs = &i.bundle.rootfs;
    let prop = linux.rootfs_propagation().clone();
    mounts::prepare_root(rootfs, prop.as_deref())?;
    let cx = mounts::Context {
        rootfs,
        bundle: &i.bundle.dir,
        cgroup2: i.cgroup2.as_deref(),
        hierarchies: &i.v1,
        new_cgroupns: i.ns.create & libc::CLONE_NEWCGROUP != 0,
        userns,
    };
    for m in spec.mounts().iter().flatten() {
        mounts::apply(m, &cx)?;
    }
    super::devices::populate(rootfs, linux.devices().as_deref().unwrap_or_default(), cx.userns)?;
    writeln!(i.sock, "hooks").ctx(|| "writing to the launcher".into())?;
    expect(&mut r, "cont")?;
    let state = super::state::creating_json(i.id, spec, &i.bundle.dir, std::process::id() as i32);
    super::hooks::run("createContainer", &super::hooks::of(spec, "createContainer"), &state)?;
    mounts::pivot(rootfs, prop.as_deref())?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    if let Some(c) = i.console.take() {
        if terminal {
            super::console::setup(c.as_raw_fd(), true)?;
            std::mem::forget(c);
        }
    }
    for (k, v) in linux.sysctl().iter().flatten() {
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, v).ctx(|| format!("linux.sysctl {k}"))?;
    }
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("hostname {h}"))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|h| !h.is_empty()) {
        // SAFETY: pointer and length of a live string.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } < 0 {
            return Err(OciError::sys(format!("domainname {d}"), std::io::Error::last_os_error()));
        }
    }
    if let Some(m) = i.machine {
        super::machine::run_host(m)?;
    }
    let ro = spec.root().as_ref().and_then(|r| r.readonly()) == Some(true);
    mounts::finish(
        linux.masked_paths().as_deref().unwrap_or_default(),
        linux.readonly_paths().as_deref().unwrap_or_default(),
        ro,
    )?;
    if let Some(p) = linux.personality() {
        let dom = if matches!(p.domain(), oci_spec::runtime::LinuxPersonalityDomain::PerLinux32) { 0x0008 } else { 0 };
        // SAFETY: plain personality(2).
        unsafe { libc::personality(dom) };
    }
    preflight(spec)?;
    crate::sys::set_parent_death_signal(0).ctx(|| "PR_SET_PDEATHSIG".into())?;
    let _ = crate::sys::cloexec_from(3 + i.preserve_fds);
    writeln!(i.sock, "created").ctx(|| "writing to the launcher".into())?;
    Ok(())
}

/// The checks whose failure must fail `create` (an engine maps "not
/// found" to 127 and "permission denied" to 126 from create's message).
fn preflight(spec: &oci_spec::runtime::Spec) -> Result<()> {
    let p = spec.process().clone().unwrap_or_default();
    let cwd = p.cwd();
    nix::unistd::chdir(cwd).ctx(|| format!("process.cwd {}", cwd.display()))?;
    let args = p.args().clone().unwrap_or_default();
    let Some(a0) = args.first() else { return Err(OciError::Bundle("process.args: empty; name a program".into())) };
    super::process::lookup(a0, p.env().as_deref().unwrap_or_default()).map(drop)
}

/// Blocks until `start` opens the fifo, then tells it we go on.
fn wait_for_start(fifo: RawFd, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let path = format!("/proc/self/fd/{fifo}");
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).ctx(|| "opening exec.fifo".into())?;
    f.write_all(b"0").ctx(|| "writing exec.fifo".into())?;
    drop(f);
    // SAFETY: our own O_PATH descriptor, not used again.
    unsafe { libc::close(fifo) };
    let state = serde_json::json!({"ociVersion": spec.version(), "status": "running", "pid": std::process::id()});
    let env = spec.process().as_ref().and_then(|p| p.env().clone()).unwrap_or_default();
    super::hooks::run_env("startContainer", &super::hooks::of(spec, "startContainer"), &state, &env)
}
