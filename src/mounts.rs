//! The guest's API filesystems as one declarative table, and the code that
//! applies it. Every target is resolved inside the tree (openat2 with
//! RESOLVE_IN_ROOT) and mounted through its descriptor, so a guest symlink
//! can never redirect a mount onto the host. Every entry is fatal.

use crate::config::BindIdmap;
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::sys;
use crate::userns::Range;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// Which process applies an entry (see launcher.rs for the topology).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The outer child, in the container's mount namespace, before the
    /// guest exists.
    Outer,
    /// A helper inside the guest's pid namespace that still shares the
    /// outer mount namespace: procfs and its masks.
    Proc,
    /// The guest's PID 1 after it entered its own namespaces and root.
    Inner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A fresh instance of a filesystem.
    Fs(&'static str),
    /// A host path bound into the guest.
    Host(PathBuf, BindIdmap),
    /// The target bound onto itself, so it can be made read-only.
    Itself,
    /// The mode-0 node from /run/host/inaccessible of the target's type.
    Mask,
}

/// What to do when the target does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Dir,
    File,
    /// Nothing to mount on: skip (a kernel without that /proc file).
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub source: Source,
    pub target: PathBuf,
    pub flags: MsFlags,
    pub data: Option<String>,
    pub phase: Phase,
    pub read_only: bool,
    pub recursive: bool,
    pub create: Create,
}

const NOSUID_NODEV: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV);
const API: MsFlags = NOSUID_NODEV.union(MsFlags::MS_NOEXEC);

/// Files of /proc that leak kernel internals or the host's state.
pub const PROC_MASKED: &[&str] =
    &["/proc/kallsyms", "/proc/kcore", "/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list"];
/// Directories of /proc with hardware tunables the guest only reads.
pub const PROC_READ_ONLY: &[&str] =
    &["/proc/acpi", "/proc/apm", "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/scsi"];

fn fs(fstype: &'static str, target: &str, flags: MsFlags, data: Option<&str>, phase: Phase, create: Create) -> Entry {
    Entry {
        source: Source::Fs(fstype),
        target: PathBuf::from(target),
        flags,
        data: data.map(str::to_string),
        phase,
        read_only: false,
        recursive: false,
        create,
    }
}

fn read_only(source: Source, target: &str, create: Create) -> Entry {
    Entry {
        source,
        target: PathBuf::from(target),
        flags: MsFlags::empty(),
        data: None,
        phase: Phase::Proc,
        read_only: true,
        recursive: false,
        create,
    }
}

/// The whole table for one container, in the order it is applied.
pub fn table(cfg: &Config, range: Option<Range>) -> Vec<Entry> {
    use Phase::*;
    // Filesystems the outer child mounts belong to the guest's root.
    let own = |opts: &str| -> String {
        match range {
            Some(r) if r.base != 0 => format!("{opts},uid={},gid={}", r.base, r.base),
            _ => opts.to_string(),
        }
    };
    let tty_gid = range.map(|r| r.host(5)).unwrap_or(5);
    let devpts = format!("newinstance,ptmxmode=0666,mode=0620,gid={tty_gid}");
    let mut t = vec![
        fs("sysfs", "/sys", API | MsFlags::MS_RDONLY, None, Outer, Create::Dir),
        fs(
            "tmpfs",
            "/dev",
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            Some(&own("mode=0755,size=4m,nr_inodes=64k")),
            Outer,
            Create::Dir,
        ),
        fs("devpts", "/dev/pts", MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some(&devpts), Outer, Create::Dir),
        fs(
            "tmpfs",
            "/dev/shm",
            NOSUID_NODEV | MsFlags::MS_STRICTATIME,
            Some(&own("mode=1777,size=50%")),
            Outer,
            Create::Dir,
        ),
        fs(
            "tmpfs",
            "/run",
            NOSUID_NODEV | MsFlags::MS_STRICTATIME,
            Some(&own("mode=0755,size=20%,nr_inodes=800k")),
            Outer,
            Create::Dir,
        ),
    ];
    for b in &cfg.binds {
        t.push(Entry {
            source: Source::Host(b.source.clone(), b.idmap),
            target: b.target.clone(),
            flags: MsFlags::empty(),
            data: None,
            phase: Outer,
            read_only: b.read_only,
            recursive: b.recursive,
            create: if b.source.is_dir() { Create::Dir } else { Create::File },
        });
    }
    // /tmp and the user's tmpfs mounts belong to the guest (mounted from
    // inside its user namespace), so its init can unmount them at shutdown.
    t.push(fs("tmpfs", "/tmp", NOSUID_NODEV | MsFlags::MS_STRICTATIME, Some("mode=1777,size=50%"), Inner, Create::Dir));
    for tm in &cfg.tmpfs {
        t.push(Entry {
            source: Source::Fs("tmpfs"),
            target: tm.target.clone(),
            flags: NOSUID_NODEV,
            data: Some(tm.options.clone()),
            phase: Inner,
            read_only: false,
            recursive: false,
            create: Create::Dir,
        });
    }
    t.push(fs("proc", "/proc", API, None, Proc, Create::Dir));
    let masks_start = t.len();
    t.push(read_only(Source::Itself, "/proc/sys", Create::Skip));
    t.extend(PROC_MASKED.iter().map(|p| read_only(Source::Mask, p, Create::Skip)));
    t.extend(PROC_READ_ONLY.iter().map(|p| read_only(Source::Itself, p, Create::Skip)));
    if proc_masks_inside(cfg, range) {
        // Mounted by the guest in its own user namespace, they are not
        // locked: a nested container may mount a procfs (see nested.rs).
        t[masks_start..].iter_mut().for_each(|e| e.phase = Inner);
    }
    t.push(fs("mqueue", "/dev/mqueue", API, None, Inner, Create::Dir));
    t.push(fs("cgroup2", "/sys/fs/cgroup", API, None, Inner, Create::Skip));
    t
}

/// Whether the /proc masks are mounted by the guest itself (`--nesting`
/// with a user namespace) rather than locked below it.
pub fn proc_masks_inside(cfg: &Config, range: Option<Range>) -> bool {
    cfg.nesting && range.is_some()
}

/// Applies the entries of one phase below `root`.
/// The guest's user namespace, for binds that ask for an idmap.
pub struct Idmapping<'a> {
    pub userns: &'a OwnedFd,
    pub range: Range,
}

/// Creates the mount points of `phase` ahead of time (the guest's root may
/// be read-only by then).
pub fn prepare_targets(entries: &[Entry], phase: Phase, root: &OwnedFd) -> Result<()> {
    for e in entries.iter().filter(|e| e.phase == phase) {
        let file = match e.create {
            Create::Dir => false,
            Create::File => true,
            Create::Skip => continue,
        };
        match sys::open_in_root(root, &e.target, libc::O_PATH, 0) {
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => drop(ensure(root, &e.target, file)?),
            Err(err) => return Err(Error::sys(format!("resolving {} inside the tree", e.target.display()), err)),
        }
    }
    Ok(())
}

pub fn apply(entries: &[Entry], phase: Phase, root: &OwnedFd) -> Result<()> {
    apply_idmapped(entries, phase, root, None)
}

pub fn apply_idmapped(entries: &[Entry], phase: Phase, root: &OwnedFd, idmap: Option<&Idmapping>) -> Result<()> {
    for e in entries.iter().filter(|e| e.phase == phase) {
        apply_one(e, root, idmap).map_err(|err| match err {
            Error::Sys { what, source } => Error::sys(format!("mounting {}: {}", e.target.display(), what), source),
            other => other,
        })?;
    }
    Ok(())
}

fn apply_one(e: &Entry, root: &OwnedFd, idmap: Option<&Idmapping>) -> Result<()> {
    let target = match sys::open_in_root(root, &e.target, libc::O_PATH, 0) {
        Ok(fd) => fd,
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => match e.create {
            Create::Skip => return Ok(()),
            Create::Dir => ensure(root, &e.target, false)?,
            Create::File => ensure(root, &e.target, true)?,
        },
        Err(err) => return Err(Error::sys("resolving the target inside the tree", err)),
    };
    let tpath = sys::fd_path(&target);
    match &e.source {
        Source::Fs(fstype) => match mount(Some(*fstype), tpath.as_str(), Some(*fstype), e.flags, e.data.as_deref()) {
            // In a user namespace that does not own the network namespace
            // (berth inside a machine sharing the host's network): the
            // same network's sysfs, bound read-only.
            Err(nix::Error::EPERM) if *fstype == "sysfs" && crate::nested::in_user_namespace() => {
                let bind = |rec: MsFlags| {
                    mount(Some("/sys"), tpath.as_str(), None::<&str>, MsFlags::MS_BIND | rec, None::<&str>)
                };
                let recursive = match bind(MsFlags::empty()) {
                    Err(nix::Error::EINVAL) => bind(MsFlags::MS_REC).map(|_| true),
                    r => r.map(|_| false),
                }
                .ctx(|| "binding the outer machine's /sys (a fresh sysfs is not permitted here)".to_string())?;
                tracing::debug!("{} is the outer machine's /sys, read-only", e.target.display());
                seal_read_only(root, &e.target, false, recursive)?;
            }
            Err(nix::Error::EPERM) if *fstype == "proc" && crate::nested::in_user_namespace() => {
                return Err(Error::Setup(
                    "the kernel refuses a fresh procfs here: the outer machine's /proc masks are locked; \
                     start the outer machine with --nesting (berth)"
                        .into(),
                ))
            }
            r => r.ctx(|| format!("mounting a fresh {fstype}"))?,
        },
        Source::Host(src, mode) if *mode != BindIdmap::None => {
            let m =
                idmap.ok_or_else(|| Error::Usage(format!("bind {}: idmap needs a user namespace", src.display())))?;
            let tree = match mode {
                BindIdmap::RootIdmap => {
                    // The source's owner becomes the guest's root; every
                    // other id stays unmapped (nobody).
                    let md = std::fs::metadata(src).ctx(|| format!("inspecting bind source {}", src.display()))?;
                    let ns = crate::userns::detached(
                        &format!("{} {} 1\n", md.uid(), m.range.base),
                        &format!("{} {} 1\n", md.gid(), m.range.base),
                    )
                    .ctx(|| "creating the user namespace for rootidmap".into())?;
                    crate::userns::idmapped_clone(src, &ns, 0)
                }
                _ => crate::userns::idmapped_clone(src, m.userns, 0),
            }
            .ctx(|| {
                format!("idmapping bind source {} (does its filesystem support idmapped mounts?)", src.display())
            })?;
            crate::userns::move_mount(&tree, &target).ctx(|| format!("binding {}", src.display()))?;
        }
        Source::Host(src, _) => {
            use std::os::unix::fs::OpenOptionsExt;
            let s = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH).open(src);
            let s = s.ctx(|| format!("opening bind source {}", src.display()))?;
            let rec = if e.recursive { MsFlags::MS_REC } else { MsFlags::empty() };
            mount(Some(sys::fd_path(&s).as_str()), tpath.as_str(), None::<&str>, MsFlags::MS_BIND | rec, None::<&str>)
                .ctx(|| format!("binding {}", src.display()))?;
        }
        Source::Itself => {
            mount(Some(tpath.as_str()), tpath.as_str(), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .ctx(|| "binding onto itself".to_string())?;
        }
        Source::Mask => {
            let is_dir = nix::sys::stat::fstat(target.as_raw_fd())
                .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                .ctx(|| "inspecting the file to mask".to_string())?;
            let node = if is_dir { "/run/host/inaccessible/dir" } else { "/run/host/inaccessible/reg" };
            let src = sys::open_in_root(root, Path::new(node), libc::O_PATH, 0).ctx(|| format!("opening {node}"))?;
            mount(Some(sys::fd_path(&src).as_str()), tpath.as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .ctx(|| "masking".to_string())?;
        }
    }
    if e.read_only {
        let exec = matches!(e.source, Source::Host(..));
        seal_read_only(root, &e.target, exec, e.recursive || e.source == Source::Itself)?;
    }
    Ok(())
}

/// Makes the mount just placed at `target` read-only, nosuid and nodev
/// (and noexec unless `exec`).
pub fn seal_read_only(root: &OwnedFd, target: &Path, exec: bool, recursive: bool) -> Result<()> {
    // Re-resolve: an older descriptor still names the covered mount.
    let top = sys::open_in_root(root, target, libc::O_PATH, 0)
        .ctx(|| format!("reopening the new mount at {}", target.display()))?;
    let attrs = sys::MOUNT_ATTR_RDONLY
        | sys::MOUNT_ATTR_NOSUID
        | sys::MOUNT_ATTR_NODEV
        | if exec { 0 } else { sys::MOUNT_ATTR_NOEXEC };
    sys::mount_setattr(&top, attrs, recursive).ctx(|| format!("making {} read-only", target.display()))
}

/// Creates the missing parts of `path` inside the tree (directories, and a
/// final empty file if `file`), never following a symlink out of it.
pub fn ensure(root: &OwnedFd, path: &Path, file: bool) -> Result<OwnedFd> {
    let comps: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut prefix = PathBuf::from("/");
    let mut parent = sys::open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| "opening the tree's root".to_string())?;
    for (i, c) in comps.iter().enumerate() {
        prefix.push(c);
        let last = i + 1 == comps.len();
        match sys::open_in_root(root, &prefix, libc::O_PATH, 0) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(Error::sys(format!("resolving {}", prefix.display()), e)),
        }
        let create = || -> io::Result<()> {
            if last && file {
                let fd = nix::fcntl::openat(
                    Some(parent.as_raw_fd()),
                    *c,
                    nix::fcntl::OFlag::O_CREAT
                        | nix::fcntl::OFlag::O_EXCL
                        | nix::fcntl::OFlag::O_WRONLY
                        | nix::fcntl::OFlag::O_NOFOLLOW
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o644),
                )?;
                nix::unistd::close(fd)?;
                Ok(())
            } else {
                Ok(nix::sys::stat::mkdirat(Some(parent.as_raw_fd()), *c, Mode::from_bits_truncate(0o755))?)
            }
        };
        let made = match create() {
            // On an idmapped tree our own ids have no mapping: create the
            // mount point as the owner of its parent (as the guest sees it).
            Err(e) if e.raw_os_error() == Some(libc::EOVERFLOW) => {
                let st = nix::sys::stat::fstat(parent.as_raw_fd()).map_err(io::Error::from);
                st.and_then(|st| as_fs_ids(st.st_uid, st.st_gid, create))
            }
            other => other,
        };
        match made {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => {
                return Err(Error::sys(
                    format!("creating mount point {} in the tree (is it read-only?)", prefix.display()),
                    e,
                ))
            }
        }
        parent = sys::open_in_root(root, &prefix, libc::O_PATH, 0).ctx(|| format!("opening {}", prefix.display()))?;
    }
    Ok(parent)
}

/// Runs `f` with the filesystem ids set to `uid`/`gid`, then restores them.
fn as_fs_ids(uid: u32, gid: u32, f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    let old_gid = nix::unistd::setfsgid(nix::unistd::Gid::from_raw(gid));
    let old_uid = nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
    let r = f();
    nix::unistd::setfsuid(old_uid);
    nix::unistd::setfsgid(old_gid);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ConsoleMode;
    use crate::config::{Bind, Mode, Tmpfs};
    use std::time::Duration;

    fn cfg() -> Config {
        Config {
            mode: Mode::Run { argv: vec!["/bin/true".into()], as_pid2: false },
            root: "/t".into(),
            name: "t".into(),
            hostname: "t".into(),
            uuid: "u".into(),
            env: vec![],
            user: None,
            chdir: None,
            binds: vec![Bind {
                source: "/etc".into(),
                target: "/mnt".into(),
                read_only: true,
                recursive: true,
                idmap: BindIdmap::None,
            }],
            tmpfs: vec![Tmpfs { target: "/var/tmp".into(), options: "mode=0755".into() }],
            read_only: false,
            kill_signal: None,
            stop_timeout: Duration::from_secs(10),
            notify_ready: false,
            console: ConsoleMode::Pipe,
            quiet: true,
            userns: crate::userns::Mode::Pick,
            ownership: crate::userns::Ownership::Auto,
            ephemeral: false,
            layer_upper: crate::ephemeral::Upper::Tmpfs,
            volatile: crate::ephemeral::Volatile::No,
            overlays: vec![],
            policy: Default::default(),
            register: crate::machined::Register::No,
            slice: "machine.slice".into(),
            keep_unit: false,
            nesting: false,
            properties: vec![],
        }
    }

    #[test]
    fn proc_masks_are_all_present_and_read_only() {
        let t = table(&cfg(), None);
        for p in PROC_MASKED {
            let e = t.iter().find(|e| e.target == Path::new(p)).expect(p);
            assert_eq!((e.source.clone(), e.phase, e.read_only), (Source::Mask, Phase::Proc, true), "{p}");
        }
        for p in PROC_READ_ONLY.iter().chain(["/proc/sys"].iter()) {
            let e = t.iter().find(|e| e.target == Path::new(p)).expect(p);
            assert!(e.read_only && e.source == Source::Itself, "{p}");
        }
    }

    #[test]
    fn nesting_makes_the_proc_masks_the_guests_own() {
        let mut c = cfg();
        c.nesting = true;
        let range = Some(Range { base: 524288, size: 65536 });
        let phase = |c: &Config, r: Option<Range>, p: &str| {
            table(c, r).into_iter().find(|e| e.target == Path::new(p)).map(|e| e.phase).unwrap()
        };
        for p in PROC_MASKED.iter().chain(PROC_READ_ONLY).chain(["/proc/sys"].iter()) {
            assert_eq!(phase(&c, range, p), Phase::Inner, "{p} with --nesting");
            assert_eq!(phase(&cfg(), range, p), Phase::Proc, "{p} without --nesting stays locked");
            assert_eq!(phase(&c, None, p), Phase::Proc, "{p} without a user namespace");
        }
        assert_eq!(phase(&c, range, "/proc"), Phase::Proc, "procfs itself comes from the guest's pid namespace");
    }

    #[test]
    fn guest_owns_its_tmpfs_under_a_user_namespace() {
        let t = table(&cfg(), Some(Range { base: 524288, size: 65536 }));
        let data = |p: &str| t.iter().find(|e| e.target == Path::new(p)).unwrap().data.clone().unwrap();
        for p in ["/dev", "/run", "/dev/shm"] {
            assert!(data(p).ends_with(",uid=524288,gid=524288"), "{p}: {}", data(p));
        }
        for p in ["/tmp", "/var/tmp"] {
            assert!(!data(p).contains("uid="), "{p} is mounted by the guest itself: {}", data(p));
        }
        assert!(data("/dev/pts").contains("gid=524293"));
        let t = table(&cfg(), None);
        assert!(!t.iter().filter_map(|e| e.data.as_ref()).any(|d| d.contains("uid=")));
    }

    #[test]
    fn proc_comes_before_its_masks_and_sys_is_read_only() {
        let t = table(&cfg(), None);
        let pos = |p: &str| t.iter().position(|e| e.target == Path::new(p)).unwrap();
        assert!(pos("/proc") < pos("/proc/kcore"));
        assert!(pos("/dev") < pos("/dev/pts"));
        let sys = &t[pos("/sys")];
        assert!(sys.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(t[pos("/sys/fs/cgroup")].phase, Phase::Inner);
        assert_eq!(t[pos("/dev/mqueue")].phase, Phase::Inner);
        let bind = &t[pos("/mnt")];
        assert!(bind.read_only && bind.phase == Phase::Outer);
        assert!(t.iter().all(|e| e.source != Source::Fs("cgroup")), "no v1 hierarchy is ever mounted");
    }
}
