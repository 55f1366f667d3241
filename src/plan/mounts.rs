//! The guest's mounts as one ordered, declarative list, built once per
//! start from the configuration and the host facts (no I/O here), and
//! applied phase by phase by `mount::apply`. Every entry is fatal.

use crate::ids::userns::Range;
use crate::plan::host::HostFacts;
use crate::settings::config::BindIdmap;
use crate::settings::config::Config;
use nix::mount::MsFlags;
use std::path::PathBuf;

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
pub fn table(cfg: &Config, facts: &HostFacts, range: Option<Range>) -> Vec<Entry> {
    let mut t = api_filesystems(range);
    t.extend(user_mounts(cfg, facts));
    proc_and_masks(cfg, range, &mut t);
    t.push(fs("mqueue", "/dev/mqueue", API, None, Phase::Inner, Create::Dir));
    t.push(fs("cgroup2", "/sys/fs/cgroup", API, None, Phase::Inner, Create::Skip));
    t
}

/// /sys, /dev, /dev/pts, /dev/shm and /run, owned by the guest's root.
fn api_filesystems(range: Option<Range>) -> Vec<Entry> {
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
    vec![
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
    ]
}

/// The user's binds and tmpfs mounts, and the guest's /tmp.
fn user_mounts(cfg: &Config, facts: &HostFacts) -> Vec<Entry> {
    use Phase::*;
    let mut t = Vec::new();
    for (i, b) in cfg.binds.iter().enumerate() {
        t.push(Entry {
            source: Source::Host(b.source.clone(), b.idmap),
            target: b.target.clone(),
            flags: MsFlags::empty(),
            data: None,
            phase: Outer,
            read_only: b.read_only,
            recursive: b.recursive,
            create: if facts.bind_source_is_dir.get(i).copied().unwrap_or(true) { Create::Dir } else { Create::File },
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
    t
}

/// procfs, its read-only /proc/sys and its masks (locked below the
/// guest's view, or the guest's own with --nesting).
fn proc_and_masks(cfg: &Config, range: Option<Range>, t: &mut Vec<Entry>) {
    use Phase::*;
    t.push(fs("proc", "/proc", API, None, Proc, Create::Dir));
    let masks_start = t.len();
    t.push(read_only(Source::Itself, "/proc/sys", Create::Skip));
    if cfg.net.private() {
        // The guest's own network namespace is its to tune.
        t.push(Entry { read_only: false, ..read_only(Source::Itself, "/proc/sys/net", Create::Skip) });
    }
    t.extend(PROC_MASKED.iter().map(|p| read_only(Source::Mask, p, Create::Skip)));
    t.extend(PROC_READ_ONLY.iter().map(|p| read_only(Source::Itself, p, Create::Skip)));
    if proc_masks_inside(cfg, range) {
        // Mounted by the guest in its own user namespace, they are not
        // locked: a nested container may mount a procfs (see host/nested.rs).
        t[masks_start..].iter_mut().for_each(|e| e.phase = Inner);
    }
}

/// Whether the /proc masks are mounted by the guest itself (`--nesting`
/// with a user namespace) rather than locked below it.
pub fn proc_masks_inside(cfg: &Config, range: Option<Range>) -> bool {
    cfg.nesting && range.is_some()
}
