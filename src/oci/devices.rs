//! Device nodes in the container's /dev and the v1 device cgroup rules.
//! The default nodes (null, zero, full, random, urandom, tty) are always
//! there, as runc provides them; `linux.devices` adds more. In a user
//! namespace nodes cannot be made, so the host's are bind-mounted.

use super::{Ctx, OciError, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};
use std::path::Path;

/// (path, major, minor) of the nodes every container gets.
pub const DEFAULT: &[(&str, i64, i64)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// Device cgroup rules always allowed after the spec's own: the default
/// nodes, ptys and /dev/net/tun.
const ALLOWED: &[&str] = &[
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

fn rule(t: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> String {
    let n = |v: Option<i64>| v.filter(|v| *v >= 0).map_or("*".to_string(), |v| v.to_string());
    if t == "a" {
        return "a".to_string();
    }
    format!("{t} {}:{} {access}", n(major), n(minor))
}

/// The (file, line) writes for the v1 devices controller. Pure.
pub fn cgroup_rules(rules: &[LinuxDeviceCgroup]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for r in rules {
        let t = r.typ().unwrap_or(LinuxDeviceType::A);
        let line = rule(t.as_str(), r.major(), r.minor(), r.access().as_deref().unwrap_or("rwm"));
        out.push((if r.allow() { "devices.allow" } else { "devices.deny" }, line));
    }
    out.extend(ALLOWED.iter().map(|l| ("devices.allow", l.to_string())));
    out
}

/// Rules allowing the spec's own device nodes.
pub fn node_rules(devs: &[LinuxDevice]) -> Vec<(&'static str, String)> {
    // The device cgroup knows only c and b (and a); a fifo needs no rule.
    devs.iter()
        .filter(|d| d.typ().as_str() != "p")
        .map(|d| ("devices.allow", rule(d.typ().as_str(), Some(d.major()), Some(d.minor()), "rwm")))
        .collect()
}

/// One device node to make.
struct Node<'a> {
    path: &'a Path,
    kind: SFlag,
    major: i64,
    minor: i64,
    mode: u32,
    owner: (u32, u32),
}

/// Makes one node under `rootfs`, or binds the host's in a user namespace.
fn node(rootfs: &Path, n: &Node, userns: bool) -> Result<()> {
    let Node { path, kind, major, minor, mode, owner } = *n;
    let rel = path.strip_prefix("/").unwrap_or(path);
    let dst = rootfs.join(rel);
    if let Some(p) = dst.parent() {
        std::fs::create_dir_all(p).ctx(|| format!("creating {}", p.display()))?;
    }
    let _ = std::fs::remove_file(&dst);
    if userns {
        std::fs::File::create(&dst).ctx(|| format!("creating {}", dst.display()))?;
        mount(Some(path), &dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .ctx(|| format!("binding host device {}", path.display()))?;
        return Ok(());
    }
    mknod(&dst, kind, Mode::from_bits_truncate(mode), makedev(major as u64, minor as u64))
        .ctx(|| format!("creating device {}", dst.display()))?;
    std::os::unix::fs::chown(&dst, Some(owner.0), Some(owner.1)).ctx(|| format!("chown {}", dst.display()))?;
    // mknod obeys the umask; the spec's mode is meant exactly.
    nix::sys::stat::fchmodat(None, &dst, Mode::from_bits_truncate(mode), nix::sys::stat::FchmodatFlags::FollowSymlink)
        .ctx(|| format!("chmod {}", dst.display()))
}

/// The default nodes, the spec's devices and the /dev links.
pub fn populate(rootfs: &Path, devs: &[LinuxDevice], userns: bool) -> Result<()> {
    for (name, major, minor) in DEFAULT {
        let p = Path::new("/dev").join(name);
        if devs.iter().any(|d| d.path() == &p) {
            continue;
        }
        let n = Node { path: &p, kind: SFlag::S_IFCHR, major: *major, minor: *minor, mode: 0o666, owner: (0, 0) };
        node(rootfs, &n, userns)?;
    }
    for d in devs {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(OciError::unsupported(
                    "linux.devices",
                    format!("{}: type 'a' is not a node", d.path().display()),
                ))
            }
        };
        let owner = (d.uid().unwrap_or(0), d.gid().unwrap_or(0));
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        let n = Node { path: d.path(), kind, major: d.major(), minor: d.minor(), mode, owner };
        node(rootfs, &n, userns)?;
    }
    let dev = rootfs.join("dev");
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let l = dev.join(name);
        if l.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(target, &l).ctx(|| format!("linking {}", l.display()))?;
        }
    }
    let ptmx = dev.join("ptmx");
    if dev.join("pts/ptmx").exists() {
        let _ = std::fs::remove_file(&ptmx);
        std::os::unix::fs::symlink("pts/ptmx", &ptmx).ctx(|| format!("linking {}", ptmx.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_deny_then_allow() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            {"allow": true, "type": "b", "major": 8, "access": "r"}
        ]))
        .unwrap();
        let w = cgroup_rules(&rules);
        assert_eq!(w[0], ("devices.deny", "a".to_string()));
        assert_eq!(w[1], ("devices.allow", "c 10:229 rw".to_string()));
        assert_eq!(w[2], ("devices.allow", "b 8:* r".to_string()));
        assert!(w.contains(&("devices.allow", "c 136:* rwm".to_string())));
    }

    #[test]
    fn fifo_nodes_get_no_cgroup_rule() {
        let devs: Vec<LinuxDevice> = serde_json::from_value(serde_json::json!([
            {"path": "/dev/f", "type": "p", "major": 0, "minor": 0},
            {"path": "/dev/n", "type": "c", "major": 1, "minor": 3}
        ]))
        .unwrap();
        assert_eq!(node_rules(&devs), vec![("devices.allow", "c 1:3 rwm".to_string())]);
    }
}
