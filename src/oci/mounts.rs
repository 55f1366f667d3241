//! The spec's mounts inside the root (before pivot_root), pivoting into
//! it, masked and read-only paths, and the root's own propagation and
//! read-only flag. Option strings become flags in a pure parser.

use super::{Ctx, OciError, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Mount;
use std::path::{Component, Path, PathBuf};

/// A mount's options as flags.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub set: MsFlags,
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub bind: bool,
    pub recursive: bool,
    pub data: Vec<String>,
    /// tmpfs: copy what the directory held into the new tmpfs.
    pub copy_up: bool,
    /// Recursive options and nosymfollow (mount_setattr).
    pub attrs: super::mount_attr::Attrs,
}

/// Parses mount options the way mount(8) and runc read them. Pure.
pub fn parse(opts: &[String]) -> Result<Options> {
    let mut o = Options {
        set: MsFlags::empty(),
        clear: MsFlags::empty(),
        propagation: vec![],
        bind: false,
        recursive: false,
        data: vec![],
        copy_up: false,
        attrs: Default::default(),
    };
    for opt in opts {
        let (set, clear) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable" | "runbindable" => {
                o.propagation.push(propagation(opt).unwrap_or(MsFlags::MS_PRIVATE));
                continue;
            }
            "idmap" | "ridmap" => {
                return Err(OciError::unsupported("mounts[].options", format!("{opt} is not supported")))
            }
            "notmpcopyup" => continue,
            "tmpcopyup" => {
                o.copy_up = true;
                continue;
            }
            other => {
                if !super::mount_attr::parse(other, &mut o.attrs) {
                    o.data.push(other.to_string());
                }
                continue;
            }
        };
        o.set = (o.set | set) & !clear;
        o.clear = (o.clear | clear) & !set;
    }
    Ok(o)
}

/// A propagation name as mount flags.
pub fn propagation(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// `dest` inside `rootfs`: symlinks are resolved as if `rootfs` were
/// `/`, and `..` stops at it, so no destination leads out of the tree.
pub fn inside(rootfs: &Path, dest: &Path) -> Result<PathBuf> {
    inside_at(rootfs, rootfs.to_path_buf(), dest, 0)
}

fn inside_at(rootfs: &Path, start: PathBuf, dest: &Path, depth: u32) -> Result<PathBuf> {
    if depth > 40 {
        return Err(OciError::Bundle(format!("mount destination {}: too many symlinks", dest.display())));
    }
    let mut cur = start;
    for c in dest.components() {
        match c {
            Component::Normal(n) => {
                cur.push(n);
                if let Ok(t) = std::fs::read_link(&cur) {
                    cur.pop();
                    let from = if t.is_absolute() { rootfs.to_path_buf() } else { cur.clone() };
                    cur = inside_at(rootfs, from, &t, depth + 1)?;
                }
            }
            Component::ParentDir if cur != rootfs => {
                cur.pop();
            }
            _ => {}
        }
    }
    Ok(cur)
}

/// Flags a mount in a user namespace cannot lose on remount.
fn locked(path: &Path) -> MsFlags {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let Ok(s) = statvfs(path) else { return MsFlags::empty() };
    let f = s.flags();
    let mut m = MsFlags::empty();
    for (a, b) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(a) {
            m |= b;
        }
    }
    m
}

/// Remounts a bind with `flags`, keeping what is locked.
pub fn remount_bind(path: &Path, flags: MsFlags) -> Result<()> {
    let f = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags | locked(path);
    mount(None::<&str>, path, None::<&str>, f, None::<&str>).ctx(|| format!("remounting {}", path.display()))
}

/// Where the container's own cgroup2 directory is, for cgroup mounts.
pub struct Context<'a> {
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup2: Option<&'a Path>,
    pub hierarchies: &'a [(String, PathBuf)],
    pub new_cgroupns: bool,
    pub userns: bool,
}

/// Mounts one spec entry under the root.
pub fn apply(m: &Mount, cx: &Context) -> Result<()> {
    let o = parse(m.options().as_deref().unwrap_or_default())?;
    let typ = m.typ().clone().unwrap_or_default();
    let literal = cx.rootfs.join(m.destination().strip_prefix("/").unwrap_or(m.destination()));
    if (typ == "proc" || typ == "sysfs") && literal.symlink_metadata().is_ok_and(|s| s.file_type().is_symlink()) {
        // A link there could aim the kernel's views anywhere in the tree.
        return Err(OciError::Bundle(format!(
            "mount destination {}: {typ} must be mounted on ordinary directory, not a symlink; replace the link in the root",
            m.destination().display()
        )));
    }
    let dest = inside(cx.rootfs, m.destination())?;
    let what = || format!("mounting {} at {}", typ, m.destination().display());
    let source = m.source().clone().map(|s| if s.is_relative() && o.bind { cx.bundle.join(s) } else { s });
    if o.bind || typ == "bind" {
        let src = source.ok_or_else(|| {
            OciError::Bundle(format!("mount at {}: a bind needs a source", m.destination().display()))
        })?;
        make_target(&dest, !src.is_dir())?;
        let rec = if o.recursive { MsFlags::MS_REC } else { MsFlags::empty() };
        mount(Some(&src), &dest, None::<&str>, MsFlags::MS_BIND | rec, None::<&str>)
            .ctx(|| format!("binding {} at {}", src.display(), m.destination().display()))?;
        let extra = o.set & !(MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount_bind(&dest, extra)?;
        }
    } else if typ == "cgroup" && cx.hierarchies.iter().any(|(n, _)| n != "unified") {
        make_target(&dest, false)?;
        cgroup_v1_view(&dest, cx.hierarchies, o.set)?;
    } else if typ == "cgroup" || typ == "cgroup2" {
        make_target(&dest, false)?;
        if cx.new_cgroupns {
            mount(Some("cgroup2"), &dest, Some("cgroup2"), o.set, None::<&str>).ctx(what)?;
        } else if let Some(own) = cx.cgroup2 {
            mount(Some(own), &dest, None::<&str>, MsFlags::MS_BIND, None::<&str>).ctx(what)?;
            remount_bind(&dest, o.set)?;
        }
    } else {
        make_target(&dest, false)?;
        let data = o.data.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        let src = source.unwrap_or_else(|| PathBuf::from(&typ));
        // The directory under the new tmpfs stays reachable through an fd.
        let below = if o.copy_up {
            Some(std::fs::File::open(&dest).ctx(|| format!("opening {}", dest.display()))?)
        } else {
            None
        };
        if let Err(e) = mount(Some(&src), &dest, Some(typ.as_str()), o.set, data) {
            // sysfs cannot be mounted without a network namespace of our
            // own user namespace: the host's, bound read-only, instead.
            if typ == "sysfs" && e == nix::errno::Errno::EPERM {
                mount(Some("/sys"), &dest, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).ctx(what)?;
                remount_bind(&dest, MsFlags::MS_RDONLY | o.set)?;
            } else {
                return Err(OciError::sys(what(), std::io::Error::from(e)));
            }
        }
        if let Some(below) = below {
            use std::os::fd::AsRawFd;
            let from = PathBuf::from(format!("/proc/self/fd/{}", below.as_raw_fd()));
            copy_up(&from, &dest).ctx(|| format!("tmpcopyup into {}", m.destination().display()))?;
        }
    }
    super::mount_attr::apply(&dest, &o.attrs)?;
    for p in &o.propagation {
        mount(None::<&str>, &dest, None::<&str>, *p, None::<&str>)
            .ctx(|| format!("propagation of {}", m.destination().display()))?;
    }
    Ok(())
}

/// Copies a directory's contents (files, directories, symlinks, with
/// their modes and owners) into `to`.
fn copy_up(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let meta = e.path().symlink_metadata()?;
        let dst = to.join(e.file_name());
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_up(&e.path(), &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &dst)?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    let meta = from.metadata()?;
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

/// runc's view of a hybrid host's cgroups: a tmpfs with each hierarchy's
/// directory of the container bound at the hierarchy's name (and links
/// for joined controllers, `cpu` -> `cpu,cpuacct`), read-only when asked.
fn cgroup_v1_view(dest: &Path, hierarchies: &[(String, PathBuf)], flags: MsFlags) -> Result<()> {
    let base = flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    mount(Some("tmpfs"), dest, Some("tmpfs"), base, Some("mode=755")).ctx(|| format!("tmpfs at {}", dest.display()))?;
    // As under runc, the view is v1 only: a read-only cgroup2 beside
    // them would make a guest's systemd take the host for hybrid and fail.
    for (name, dir) in hierarchies.iter().filter(|(n, _)| n != "unified") {
        let at = dest.join(name);
        std::fs::create_dir_all(&at).ctx(|| format!("creating {}", at.display()))?;
        mount(Some(dir), &at, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .ctx(|| format!("binding {}", dir.display()))?;
        remount_bind(&at, flags & !MsFlags::MS_REMOUNT)?;
        for part in name.split(',').filter(|p| *p != name) {
            let link = dest.join(part);
            if link.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(name, &link).ctx(|| format!("linking {}", link.display()))?;
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(dest, MsFlags::MS_RDONLY | base)?;
    }
    Ok(())
}

fn make_target(dest: &Path, file: bool) -> Result<()> {
    if dest.exists() {
        return Ok(());
    }
    if file {
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).ctx(|| format!("creating {}", p.display()))?;
        }
        std::fs::File::create(dest).map(drop).ctx(|| format!("creating {}", dest.display()))
    } else {
        std::fs::create_dir_all(dest).ctx(|| format!("creating {}", dest.display()))
    }
}

/// Keeps mounts from leaking to the host and makes the root a mount
/// point pivot_root accepts.
pub fn prepare_root(rootfs: &Path, propagation_name: Option<&str>) -> Result<()> {
    let p = propagation_name.and_then(propagation).unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    // Shared is set after the pivot; before it, slave keeps the host safe.
    let first = if p.contains(MsFlags::MS_SHARED) { MsFlags::MS_SLAVE | MsFlags::MS_REC } else { p };
    mount(None::<&str>, "/", None::<&str>, first, None::<&str>).ctx(|| "making / private to the container".into())?;
    mount(Some(rootfs), rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .ctx(|| format!("binding the root {}", rootfs.display()))
}

/// pivot_root into `rootfs` and detach the old root.
pub fn pivot(rootfs: &Path, propagation_name: Option<&str>) -> Result<()> {
    nix::unistd::chdir(rootfs).ctx(|| format!("entering {}", rootfs.display()))?;
    nix::unistd::pivot_root(".", ".").ctx(|| "pivot_root".into())?;
    mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .ctx(|| "old root".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detaching the old root".into())?;
    nix::unistd::chdir("/").ctx(|| "entering /".into())?;
    if let Some(p) = propagation_name.and_then(propagation).filter(|p| p.contains(MsFlags::MS_SHARED)) {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>).ctx(|| "rootfsPropagation".into())?;
    }
    Ok(())
}

/// After the pivot: masks, read-only paths, the read-only root.
pub fn finish(masked: &[String], readonly: &[String], root_ro: bool) -> Result<()> {
    for p in readonly {
        let path = Path::new(p);
        if !path.exists() {
            continue;
        }
        mount(Some(path), path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .ctx(|| format!("binding {p} read-only"))?;
        remount_bind(path, MsFlags::MS_RDONLY | MsFlags::MS_REC)?;
    }
    for p in masked {
        let path = Path::new(p);
        let Ok(meta) = path.metadata() else { continue };
        let r = if meta.is_dir() {
            mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0"))
        } else {
            mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        };
        r.ctx(|| format!("masking {p}"))?;
    }
    if root_ro {
        remount_bind(Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_become_flags_and_data() {
        let o = parse(&s(&["nosuid", "noexec", "nodev", "mode=755", "size=65536k"])).unwrap();
        assert_eq!(o.set, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV);
        assert_eq!(o.data, vec!["mode=755", "size=65536k"]);
        let o = parse(&s(&["rbind", "ro", "rprivate"])).unwrap();
        assert!(o.bind && o.recursive);
        assert_eq!(o.set, MsFlags::MS_RDONLY);
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        let o = parse(&s(&["ro", "rw"])).unwrap();
        assert!(o.set.is_empty());
        assert!(parse(&s(&["idmap"])).is_err());
    }

    #[test]
    fn destinations_stay_inside() {
        let d = std::env::temp_dir().join(format!("berth-oci-inside-{}", std::process::id()));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::os::unix::fs::symlink("/../../../../tmp", d.join("escape")).unwrap();
        assert_eq!(inside(&d, Path::new("/etc/hosts")).unwrap(), d.join("etc/hosts"));
        assert_eq!(inside(&d, Path::new("/escape/x")).unwrap(), d.join("tmp/x"));
        assert_eq!(inside(&d, Path::new("/a/../../x")).unwrap(), d.join("x"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
