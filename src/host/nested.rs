//! berth inside a container (a berth or systemd-nspawn machine, a CI job's
//! container): what the outer machine allows, probed rather than guessed.
//!
//! - The id range. Inside a user namespace whose uid_map covers only the
//!   outer machine's own 65536 ids there is no other 65536-id range to
//!   give: `-U pick` then maps the guest's ids onto the same ids (as
//!   `-U identity` does), so the guest still gets a user namespace of its
//!   own (its capabilities reach none of the outer machine's namespaces)
//!   and owns a tree the outer machine's root owns, with nothing to shift
//!   (idmapped mounts need privileges over the filesystem that a nested
//!   user namespace lacks, and chown cannot shift a read-only tree).
//! - The device policy. A cgroup device program needs CAP_SYS_ADMIN in the
//!   initial user namespace; the outer machine's program binds everything
//!   below it, so berth notes that once and goes on.
//! - sysfs. A fresh sysfs needs the network namespace to be owned by the
//!   mounting user namespace; in a machine that shares the host's network
//!   berth binds the outer machine's /sys (the same network's view), read-only.
//! - The `-x` layer. overlayfs cannot be an upper layer: where /var/tmp is
//!   on overlayfs (a machine started with `-x`), the layer goes to a tmpfs
//!   unless `--layer-dir` says otherwise.
//! - procfs. The kernel mounts a fresh procfs in a user namespace only when
//!   a procfs of that mount namespace is fully visible, i.e. no locked mount
//!   covers anything but an empty directory. berth locks its /proc masks
//!   in its guests, so a nested container needs the outer machine started
//!   with `--nesting` (the masks are then the guest's own, see mounts.rs).

use crate::ids::userns::{Range, RANGE};

/// The ids mapped into this process's user namespace, as one contiguous
/// range from 0: None in the initial user namespace (the whole id space).
pub fn own_ids() -> Option<u32> {
    let text = std::fs::read_to_string("/proc/self/uid_map").ok()?;
    own_ids_from(&text)
}

fn own_ids_from(uid_map: &str) -> Option<u32> {
    let extents: Vec<(u32, u32, u32)> = uid_map
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|x| x.parse::<u32>().ok());
            Some((f.next()??, f.next()??, f.next()??))
        })
        .collect();
    if extents.iter().any(|&(inside, _, count)| inside == 0 && count == u32::MAX) {
        return None;
    }
    // The length of the run of mapped ids starting at 0.
    let mut end = 0u32;
    while let Some(&(inside, _, count)) = extents.iter().find(|&&(i, _, c)| i <= end && end - i < c) {
        end = inside.saturating_add(count);
    }
    Some(end)
}

/// Whether berth runs in a user namespace other than the initial one.
pub fn in_user_namespace() -> bool {
    own_ids().is_some()
}

/// Whether berth runs inside a container (one that follows the Container
/// Interface, or any user namespace).
pub fn in_container() -> bool {
    in_user_namespace() || std::path::Path::new("/run/host/container-manager").exists()
}

/// Whether `path` lives on overlayfs, which cannot hold an overlay's upper
/// layer.
pub fn on_overlayfs(path: &std::path::Path) -> bool {
    const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == OVERLAYFS_SUPER_MAGIC)
}

/// The range `-U pick` gives when this user namespace has no room for a
/// range of its own in the pick window: the guest's ids onto the same ids.
/// None when the usual pick works here.
pub fn pick_inside(own: Option<u32>) -> Option<Range> {
    let mapped = own?;
    if mapped >= crate::ids::userns::PICK_MAX {
        return None;
    }
    Some(Range { base: 0, size: mapped.clamp(1, RANGE) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ids() {
        assert_eq!(own_ids_from("         0          0 4294967295\n"), None);
        assert_eq!(own_ids_from("         0  200081408      65536\n"), Some(65536));
        assert_eq!(own_ids_from("0 1000 1\n1 100000 65535\n"), Some(65536));
        assert_eq!(own_ids_from("1 100000 65535\n"), Some(0));
        assert_eq!(pick_inside(None), None);
        assert_eq!(pick_inside(Some(65536)), Some(Range { base: 0, size: 65536 }));
        assert_eq!(pick_inside(Some(1000)), Some(Range { base: 0, size: 1000 }));
        assert_eq!(pick_inside(Some(u32::MAX - 1)), None, "a large map picks as usual");
    }
}
