//! The guest's capability bounding set: by default what a booting systemd
//! needs, nothing more (nspawn's default set, without the audit
//! capabilities the Container Interface advises against). `--capability`
//! and `--drop-capability` change it (see `policy`).

use caps::{CapSet, Capability};
use std::collections::HashSet;

pub const KEEP: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_DAC_READ_SEARCH,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_IPC_OWNER,
    Capability::CAP_KILL,
    Capability::CAP_LEASE,
    Capability::CAP_LINUX_IMMUTABLE,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_NET_BROADCAST,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETGID,
    Capability::CAP_SETPCAP,
    Capability::CAP_SETUID,
    Capability::CAP_SYS_ADMIN,
    Capability::CAP_SYS_BOOT,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_SYS_NICE,
    Capability::CAP_SYS_PTRACE,
    Capability::CAP_SYS_RESOURCE,
    Capability::CAP_SYS_TTY_CONFIG,
];

/// Capabilities removed from the bounding set when `keep` stays.
pub fn dropped(keep: &[Capability]) -> Vec<Capability> {
    let keep: HashSet<Capability> = keep.iter().copied().collect();
    let mut v: Vec<Capability> = caps::all().into_iter().filter(|c| !keep.contains(c)).collect();
    v.sort_by_key(|c| c.index());
    v
}

/// Shrinks the bounding set to `keep` and clears the ambient and
/// inheritable sets. Capabilities unknown to this build but known to the
/// kernel are dropped too: the bounding set is only ever narrowed.
pub fn bound(keep: &[Capability]) -> Result<(), String> {
    let fail = |c: String, e: caps::errors::CapsError| format!("dropping {c} from the bounding set: {e}");
    for c in dropped(keep) {
        caps::drop(None, CapSet::Bounding, c).map_err(|e| fail(c.to_string(), e))?;
    }
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    for idx in (Capability::CAP_CHECKPOINT_RESTORE.index() as u32 + 1)..=last {
        // SAFETY: plain prctl on a capability number.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, idx as libc::c_ulong, 0, 0, 0) } < 0 {
            return Err(format!(
                "dropping capability {idx} from the bounding set: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| format!("clearing ambient capabilities: {e}"))?;
    caps::clear(None, CapSet::Inheritable).map_err(|e| format!("clearing inheritable capabilities: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_systemd_needs_and_drops_the_dangerous() {
        let d = dropped(KEEP);
        for c in [
            Capability::CAP_SYS_MODULE,
            Capability::CAP_SYS_RAWIO,
            Capability::CAP_SYS_TIME,
            Capability::CAP_MAC_ADMIN,
            Capability::CAP_AUDIT_CONTROL,
            Capability::CAP_AUDIT_WRITE,
            Capability::CAP_BPF,
            Capability::CAP_NET_ADMIN,
            Capability::CAP_SYSLOG,
            Capability::CAP_PERFMON,
            Capability::CAP_WAKE_ALARM,
            Capability::CAP_BLOCK_SUSPEND,
        ] {
            assert!(d.contains(&c), "{c} must be dropped");
        }
        for c in [Capability::CAP_SYS_ADMIN, Capability::CAP_MKNOD, Capability::CAP_SYS_BOOT, Capability::CAP_SETPCAP] {
            assert!(!d.contains(&c), "{c} must be kept");
        }
        assert_eq!(d.len() + KEEP.len(), caps::all().len());
    }
}
