//! Whether the host's systemd-networkd looks after a link berth creates
//! (its `80-container-ve.network` matches `ve-*`): then berth leaves the
//! link's addresses, DHCP and masquerading to it, as nspawn does.

use std::ffi::CString;
use std::path::Path;

/// networkd's search path, highest precedence first.
const DIRS: &[&str] = &[
    "/etc/systemd/network",
    "/run/systemd/network",
    "/usr/local/lib/systemd/network",
    "/usr/lib/systemd/network",
    "/lib/systemd/network",
];

fn fnmatch(pattern: &str, name: &str) -> bool {
    let (Ok(p), Ok(n)) = (CString::new(pattern), CString::new(name)) else { return false };
    // SAFETY: two valid C strings.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), 0) == 0 }
}

/// Whether a .network file's [Match] section selects link `ifname` by
/// name (only Name= is considered; a file without Name= is not ours).
pub fn network_matches(text: &str, ifname: &str) -> bool {
    let mut in_match = false;
    let mut names: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_match = line == "[Match]";
            continue;
        }
        if !in_match {
            continue;
        }
        if let Some(v) = line.strip_prefix("Name=") {
            if v.trim().is_empty() {
                names.clear();
            } else {
                names.extend(v.split_whitespace().map(str::to_string));
            }
        }
    }
    let (neg, pos): (Vec<_>, Vec<_>) = names.iter().partition(|p| p.starts_with('!'));
    if !neg.is_empty() && pos.is_empty() {
        return neg.iter().all(|p| !fnmatch(&p[1..], ifname));
    }
    pos.iter().any(|p| fnmatch(p, ifname)) && neg.iter().all(|p| !fnmatch(&p[1..], ifname))
}

/// The state file networkd writes as it starts (and leaves behind when it
/// stops): without it, no networkd has run since this /run was mounted.
pub const STATE_FILE: &str = "/run/systemd/netif/state";

/// Whether a systemd-networkd runs in our network namespace and sees our
/// root (so the .network files read below are its own). A guest's
/// networkd, in a namespace of its own, looks after the guest's links
/// only. The scan of /proc (a millisecond on a busy host) is skipped
/// where networkd never ran.
fn networkd_running() -> bool {
    use std::os::unix::fs::MetadataExt;
    if !Path::new(STATE_FILE).exists() {
        return false;
    }
    let net = std::fs::read_link("/proc/self/ns/net").ok();
    let root = std::fs::metadata("/").ok().map(|m| (m.dev(), m.ino()));
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
        let p = e.path();
        e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(p.join("comm")).is_ok_and(|c| c.trim() == "systemd-network")
            && std::fs::read_link(p.join("ns/net")).ok() == net
            && std::fs::metadata(p.join("root")).ok().map(|m| (m.dev(), m.ino())) == root
    })
}

/// Whether the host's networkd runs and a .network file of its (not
/// masked by a same-named file earlier in the path) matches `ifname`.
pub fn manages(ifname: &str) -> bool {
    if !networkd_running() {
        return false;
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in DIRS {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if !fname.ends_with(".network") || !seen.insert(fname) {
                continue;
            }
            let p = e.path();
            if std::fs::read_link(&p).is_ok_and(|t| t == Path::new("/dev/null")) {
                continue;
            }
            if std::fs::read_to_string(&p).is_ok_and(|t| network_matches(&t, ifname)) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_ve_file_matches_ve_links_only() {
        let ve = "[Match]\nKind=veth\nName=ve-*\n\n[Network]\nAddress=0.0.0.0/28\nDHCPServer=yes\n";
        assert!(network_matches(ve, "ve-web"));
        assert!(!network_matches(ve, "vz-zone"));
        assert!(!network_matches("[Network]\nName=ve-*\n", "ve-web"));
        assert!(network_matches("[Match]\nName=eth0 ve-*\n", "ve-a"));
        assert!(!network_matches("[Match]\nName=ve-* !ve-web\n", "ve-web"));
    }
}
