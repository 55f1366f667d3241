//! `create` (and `run`): the launcher side of the create/start split. It
//! reads the bundle, reserves the state directory, makes the cgroups and
//! `exec.fifo`, clones the container's first process into its new
//! namespaces, writes its id maps, puts it in the cgroups, runs the
//! prestart/createRuntime hooks when it asks, records the state, writes
//! --pid-file and exits: the engine (conmon, the shim) reaps the process,
//! never berth. Any failure removes everything made so far.

use super::cli::{CreateArgs, Global};
use super::init::{self, Init};
use super::state::{self, Record};
use super::{bundle, cgroup, hooks, Ctx, OciError, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// What `create` made, undone on failure.
struct Made {
    dir: PathBuf,
    cgroups: Vec<PathBuf>,
    pid: Option<i32>,
    /// The state directory's lock (state::lock), held until create returns.
    lock: Option<std::fs::File>,
    /// A machine registered with machined, withdrawn on failure.
    machine: Option<super::machine::Machine>,
}

impl Made {
    fn undo(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: plain kill and waitpid on our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(m) = &self.machine {
            let _ = super::machine::unregister(m);
        }
        let _ = cgroup::remove(&self.cgroups);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates the container; returns its host pid.
pub fn create(g: &Global, a: &CreateArgs) -> Result<i32> {
    let mut b = bundle::load(&a.bundle)?;
    let machine = super::machine::plan(&mut b.spec, &a.id, &b.rootfs)?;
    let ns = bundle::namespaces(&b.spec)?;
    let dir = state::reserve(&g.root, &a.id)?;
    let lock = state::lock(&g.root, &a.id)?;
    let mut made = Made { dir, cgroups: Vec::new(), pid: None, lock, machine: None };
    match launch(g, a, &b, &ns, machine, &mut made) {
        Ok(pid) => Ok(pid),
        Err(e) => {
            made.undo();
            Err(e)
        }
    }
}

fn limits(b: &bundle::Bundle) -> Result<Vec<cgroup::Write>> {
    let hs = cgroup::hierarchies();
    let linux = b.spec.linux().clone().unwrap_or_default();
    let mut w = match linux.resources() {
        Some(r) => cgroup::writes(r, &hs)?,
        None => Vec::new(),
    };
    if w.iter().any(|(c, _, _)| *c == "devices") {
        let nodes = super::devices::node_rules(linux.devices().as_deref().unwrap_or_default());
        w.extend(nodes.into_iter().map(|(f, l)| ("devices", f.to_string(), l)));
    }
    Ok(w)
}

fn launch(
    g: &Global,
    a: &CreateArgs,
    b: &bundle::Bundle,
    ns: &bundle::Namespaces,
    mut machine: Option<super::machine::Machine>,
    made: &mut Made,
) -> Result<i32> {
    let linux = b.spec.linux().clone().unwrap_or_default();
    let rel = cgroup::relative_path(linux.cgroups_path().as_deref(), &a.id, g.systemd_cgroup)?;
    let writes = limits(b)?;
    made.cgroups = cgroup::create(&rel, &writes)?;
    let cgroup2 = cgroup::hierarchies().into_iter().find(|h| h.v2).map(|h| h.mount.join(&rel));
    let v1: Vec<(String, PathBuf)> = cgroup::hierarchies()
        .into_iter()
        .filter_map(|h| Some((h.mount.file_name()?.to_string_lossy().into_owned(), h.mount.join(&rel))))
        .collect();
    let fifo = state::fifo(&g.root, &a.id);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .ctx(|| format!("creating {}", fifo.display()))?;
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .ctx(|| "exec.fifo mode".into())?;
    let fifo_fd: OwnedFd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(|fd| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
    .ctx(|| format!("opening {}", fifo.display()))?;
    let terminal = b.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    let console = match (&a.console_socket, terminal) {
        (Some(s), true) => Some(super::console::connect(s)?),
        (None, true) => return Err(OciError::unsupported("process.terminal", "true needs --console-socket")),
        _ => None,
    };
    let (ours, theirs) = UnixStream::pair().ctx(|| "socketpair".into())?;
    if let Some((_, p)) = ns.join.iter().find(|(t, _)| *t == libc::CLONE_NEWPID) {
        let f = std::fs::File::open(p).ctx(|| format!("linux.namespaces: opening {}", p.display()))?;
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWPID)
            .ctx(|| format!("linux.namespaces: joining {}", p.display()))?;
    }
    let flags = (ns.create & !libc::CLONE_NEWCGROUP) as u64;
    // SAFETY: berth is single-threaded here; the child only runs init::main.
    let cloned = unsafe { crate::sys::clone3(flags, None, false) }.ctx(|| "cloning the container's process".into())?;
    let Some(child) = cloned else {
        drop(ours);
        // The lock stays with create; the child's copy would hold it until
        // the exec after `start`, which waits for it.
        drop(made.lock.take());
        init::main(Init {
            id: &a.id,
            bundle: b,
            ns,
            sock: theirs,
            console,
            fifo: fifo_fd.as_raw_fd(),
            cgroup2,
            v1,
            preserve_fds: a.preserve_fds,
            machine: machine.as_ref(),
            new_keyring: !a.no_new_keyring,
        })
    };
    drop(theirs);
    drop(console);
    let pid = child.pid;
    made.pid = Some(pid);
    if ns.create & libc::CLONE_NEWUSER != 0 {
        write_maps(pid, &b.spec)?;
    }
    cgroup::attach(&made.cgroups, pid)?;
    converse(&a.id, b, pid, ours)?;
    if let Some(m) = machine.as_mut() {
        if let Some(note) = super::machine::register(m, pid, &b.rootfs) {
            super::log::warn(g, &note);
        }
        made.machine = Some(m.clone());
    }
    let rec = Record {
        id: a.id.clone(),
        pid,
        start_time: state::start_time(pid)
            .ok_or_else(|| OciError::Setup("the container's process died during create".into()))?,
        bundle: b.dir.clone(),
        created: super::log::now_rfc3339(),
        cgroups: made.cgroups.clone(),
        config: b.spec.clone(),
        machine,
    };
    state::save(&g.root, &rec)?;
    if let Some(p) = &a.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(pid)
}

/// The launcher's half of the conversation with the child.
fn converse(id: &str, b: &bundle::Bundle, pid: i32, mut sock: UnixStream) -> Result<()> {
    writeln!(sock, "go").ctx(|| "writing to the container's process".into())?;
    let mut r = BufReader::new(sock.try_clone().ctx(|| "socket".into())?);
    loop {
        let mut line = String::new();
        r.read_line(&mut line).ctx(|| "reading from the container's process".into())?;
        let line = line.trim_end();
        match line {
            "hooks" => {
                let st = state::creating_json(id, &b.spec, &b.dir, pid);
                hooks::run("prestart", &hooks::of(&b.spec, "prestart"), &st)?;
                hooks::run("createRuntime", &hooks::of(&b.spec, "createRuntime"), &st)?;
                writeln!(sock, "cont").ctx(|| "writing to the container's process".into())?;
            }
            "created" => return Ok(()),
            "" => return Err(OciError::Setup("the container's process died during create".into())),
            other => return Err(OciError::Setup(other.strip_prefix("error ").unwrap_or(other).to_string())),
        }
    }
}

fn map_text(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

fn write_maps(pid: i32, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    let uid = linux.uid_mappings().clone().unwrap_or_default();
    let gid = linux.gid_mappings().clone().unwrap_or_default();
    if uid.is_empty() || gid.is_empty() {
        return Err(OciError::unsupported(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    std::fs::write(format!("/proc/{pid}/uid_map"), map_text(&uid))
        .ctx(|| "linux.uidMappings: writing uid_map".into())?;
    std::fs::write(format!("/proc/{pid}/gid_map"), map_text(&gid)).ctx(|| "linux.gidMappings: writing gid_map".into())
}

pub fn write_pid_file(p: &Path, pid: i32) -> Result<()> {
    let tmp = p.with_extension("berth-tmp");
    std::fs::write(&tmp, pid.to_string()).ctx(|| format!("--pid-file {}", p.display()))?;
    std::fs::rename(&tmp, p).ctx(|| format!("--pid-file {}", p.display()))
}
