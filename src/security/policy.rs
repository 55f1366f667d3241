//! The guest's security and resource policy: which capabilities stay in its
//! bounding set, no_new_privs, the system call filter (see `seccomp`),
//! resource limits, the OOM score adjustment and the CPU affinity. Parsed
//! from the nspawn-style options into a [`Policy`], then applied in two
//! places:
//! - [`Policy::apply_to_guest`] runs in the outer child (the host's user
//!   namespace, full privileges) on the waiting guest PID 1: lowering the
//!   OOM score below 0 and raising a hard limit need CAP_SYS_RESOURCE in
//!   the host's user namespace, which root in the guest's does not have;
//! - the bounding set and the filter are applied by the guest itself,
//!   right before it execs (`child::inner_main`).

use crate::security::capabilities;
pub use crate::security::policy_values::{
    parse_capabilities, parse_cpu_list, parse_oom_score_adjust, parse_rlimit, CpuList, PolicyError, Rlimit, RLIMITS,
};
use crate::security::seccomp::{self, SeccompError, UserFilter};
use caps::Capability;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// The guest's bounding set, sorted.
    pub capabilities: Vec<Capability>,
    pub no_new_privileges: bool,
    pub syscalls: UserFilter,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adjust: Option<i32>,
    pub cpu_affinity: Option<CpuList>,
}

impl Default for Policy {
    fn default() -> Policy {
        let mut capabilities = capabilities::KEEP.to_vec();
        capabilities.sort_by_key(|c| c.index());
        Policy {
            capabilities,
            no_new_privileges: false,
            syscalls: UserFilter::default(),
            rlimits: Vec::new(),
            oom_score_adjust: None,
            cpu_affinity: None,
        }
    }
}

/// The policy options as the user spelled them (on the command line, or
/// later in a settings file), every one optional.
#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    pub capability: Vec<String>,
    pub drop_capability: Vec<String>,
    pub no_new_privileges: Option<String>,
    pub system_call_filter: Vec<String>,
    pub suppress_sync: Option<String>,
    pub rlimit: Vec<String>,
    pub oom_score_adjust: Option<String>,
    pub cpu_affinity: Option<String>,
}

impl Policy {
    pub fn from_options(a: &PolicyOptions) -> std::result::Result<Policy, PolicyError> {
        let mut p = Policy::default();
        let mut keep: std::collections::HashSet<Capability> = p.capabilities.iter().copied().collect();
        for v in &a.capability {
            keep.extend(parse_capabilities("--capability", v)?);
        }
        for v in &a.drop_capability {
            for c in parse_capabilities("--drop-capability", v)? {
                keep.remove(&c);
            }
        }
        p.capabilities = keep.into_iter().collect();
        p.capabilities.sort_by_key(|c| c.index());
        if let Some(v) = &a.no_new_privileges {
            p.no_new_privileges = crate::sys::parse_bool(v).ok_or_else(|| PolicyError::Bool(v.clone()))?;
        }
        for v in &a.system_call_filter {
            p.syscalls.add(v)?;
        }
        if let Some(v) = &a.suppress_sync {
            p.syscalls.suppress_sync = crate::sys::parse_bool(v).ok_or_else(|| PolicyError::Bool(v.clone()))?;
        }
        for v in &a.rlimit {
            let r = parse_rlimit(v)?;
            // A later --rlimit for the same resource wins, as in nspawn.
            p.rlimits.retain(|o| o.resource != r.resource);
            p.rlimits.push(r);
        }
        p.oom_score_adjust = a.oom_score_adjust.as_deref().map(parse_oom_score_adjust).transpose()?;
        p.cpu_affinity = a.cpu_affinity.as_deref().map(parse_cpu_list).transpose()?;
        Ok(p)
    }

    /// Adds `cap` to the bounding set unless a --drop-capability names it.
    pub fn keep_unless_dropped(&mut self, a: &PolicyOptions, cap: Capability) -> std::result::Result<(), PolicyError> {
        for v in &a.drop_capability {
            if parse_capabilities("--drop-capability", v)?.contains(&cap) {
                return Ok(());
            }
        }
        if !self.capabilities.contains(&cap) {
            self.capabilities.push(cap);
            self.capabilities.sort_by_key(|c| c.index());
        }
        Ok(())
    }

    /// The guest's system call filter, built but not loaded.
    pub fn seccomp(&self) -> std::result::Result<seccomp::Compiled, SeccompError> {
        seccomp::Compiled::compile(&self.capabilities, &self.syscalls, self.no_new_privileges)
    }

    /// Sets the limits, the OOM score adjustment and the CPU affinity of
    /// the guest's PID 1 (`pid` in the caller's pid namespace) before it
    /// execs; everything it starts inherits them. The caller must be
    /// privileged in the host's user namespace.
    pub fn apply_to_guest(&self, pid: libc::pid_t) -> std::result::Result<(), PolicyError> {
        let apply = |what: String, e: std::io::Error| PolicyError::Apply { what, source: e };
        for r in &self.rlimits {
            let lim = libc::rlimit { rlim_cur: r.soft as libc::rlim_t, rlim_max: r.hard as libc::rlim_t };
            // SAFETY: prlimit with a valid input struct and no output.
            if unsafe { libc::prlimit(pid, r.resource as _, &lim, std::ptr::null_mut()) } < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EPERM) {
                    return Err(PolicyError::NotPermitted(format!(
                        "--rlimit {r}: not permitted; a hard limit above berth's own needs CAP_SYS_RESOURCE on the host (and NOFILE stays below fs.nr_open)"
                    )));
                }
                return Err(apply(format!("setting --rlimit {r} for the guest"), e));
            }
        }
        if let Some(adj) = self.oom_score_adjust {
            std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string()).map_err(|e| {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    PolicyError::NotPermitted(format!(
                        "--oom-score-adjust={adj}: not permitted; lowering the OOM score adjustment needs CAP_SYS_RESOURCE on the host"
                    ))
                } else {
                    apply(format!("setting the guest's OOM score adjustment to {adj}"), e)
                }
            })?;
        }
        if let Some(cpus) = &self.cpu_affinity {
            let mut set = nix::sched::CpuSet::new();
            for c in &cpus.0 {
                set.set(*c).map_err(|e| apply(format!("CPU {c} of --cpu-affinity"), e.into()))?;
            }
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid), &set).map_err(
                |e| {
                    if e == nix::Error::EINVAL {
                        PolicyError::NotPermitted(format!(
                            "--cpu-affinity: none of the CPUs {} is online and allowed here; see nproc and /sys/devices/system/cpu/online",
                            cpus
                        ))
                    } else {
                        apply("setting the guest's CPU affinity".into(), e.into())
                    }
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> PolicyOptions {
        PolicyOptions::default()
    }

    #[test]
    fn capabilities() {
        assert_eq!(
            parse_capabilities("--capability", "CAP_SYS_TIME,cap_net_admin, sys_rawio").unwrap(),
            vec![Capability::CAP_SYS_TIME, Capability::CAP_NET_ADMIN, Capability::CAP_SYS_RAWIO]
        );
        assert_eq!(parse_capabilities("--capability", "all").unwrap().len(), caps::all().len());
        let e = parse_capabilities("--capability", "CAP_SYS_TIME,CAP_NOPE").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--capability=CAP_SYS_TIME,CAP_NOPE: unknown capability 'CAP_NOPE'; use names like CAP_SYS_TIME separated by commas, or all"
        );
        assert!(parse_capabilities("--drop-capability", ",").is_err());

        let mut a = args();
        a.capability = vec!["CAP_SYS_TIME".into()];
        a.drop_capability = vec!["CAP_SYS_ADMIN,CAP_MKNOD".into()];
        let p = Policy::from_options(&a).unwrap();
        assert!(p.capabilities.contains(&Capability::CAP_SYS_TIME));
        assert!(!p.capabilities.contains(&Capability::CAP_SYS_ADMIN));
        assert!(!p.capabilities.contains(&Capability::CAP_MKNOD));
        assert!(p.capabilities.contains(&Capability::CAP_SYS_BOOT));
        // Dropping wins over adding.
        let mut a = args();
        a.capability = vec!["all".into()];
        a.drop_capability = vec!["CAP_SYS_MODULE".into()];
        let p = Policy::from_options(&a).unwrap();
        assert_eq!(p.capabilities.len(), caps::all().len() - 1);
        let p = Policy::from_options(&args()).unwrap();
        assert_eq!(p.capabilities.len(), capabilities::KEEP.len());
    }

    #[test]
    fn rlimits() {
        let r = parse_rlimit("NOFILE=100").unwrap();
        assert_eq!((r.name, r.soft, r.hard), ("NOFILE", 100, 100));
        assert_eq!(r.resource, libc::RLIMIT_NOFILE as i32);
        let r = parse_rlimit("RLIMIT_CORE=0:infinity").unwrap();
        assert_eq!((r.name, r.soft, r.hard), ("CORE", 0, libc::RLIM_INFINITY));
        assert_eq!(r.to_string(), "RLIMIT_CORE=0:infinity");
        assert_eq!(parse_rlimit("rlimit_nproc=infinity").unwrap().soft, libc::RLIM_INFINITY);
        assert!(matches!(parse_rlimit("NOFILE"), Err(PolicyError::RlimitSyntax(_))));
        assert!(matches!(parse_rlimit("FILES=1"), Err(PolicyError::UnknownRlimit { .. })));
        assert!(matches!(parse_rlimit("NOFILE=x"), Err(PolicyError::RlimitValue { .. })));
        assert!(matches!(parse_rlimit("NOFILE=-1"), Err(PolicyError::RlimitValue { .. })));
        assert!(matches!(parse_rlimit("NOFILE=10:"), Err(PolicyError::RlimitValue { .. })));
        assert!(matches!(parse_rlimit("NOFILE=10:5"), Err(PolicyError::RlimitOrder(_))));
        assert!(matches!(parse_rlimit("NOFILE=infinity:5"), Err(PolicyError::RlimitOrder(_))));
        assert!(parse_rlimit("FILES=1").unwrap_err().to_string().contains("use one of AS, CORE"));
        let mut a = args();
        a.rlimit = vec!["NOFILE=10".into(), "CORE=0".into(), "RLIMIT_NOFILE=20:30".into()];
        let p = Policy::from_options(&a).unwrap();
        assert_eq!(p.rlimits.len(), 2);
        assert_eq!(p.rlimits[1].to_string(), "RLIMIT_NOFILE=20:30");
    }

    #[test]
    fn oom_and_bools() {
        assert_eq!(parse_oom_score_adjust("500").unwrap(), 500);
        assert_eq!(parse_oom_score_adjust("-1000").unwrap(), -1000);
        assert!(parse_oom_score_adjust("1001").is_err());
        assert!(parse_oom_score_adjust("-1001").is_err());
        assert_eq!(
            parse_oom_score_adjust("lots").unwrap_err().to_string(),
            "--oom-score-adjust=lots is invalid; give an integer from -1000 to 1000"
        );
        let mut a = args();
        a.no_new_privileges = Some("yes".into());
        assert!(Policy::from_options(&a).unwrap().no_new_privileges);
        a.no_new_privileges = Some("maybe".into());
        assert!(matches!(Policy::from_options(&a), Err(PolicyError::Bool(_))));
        assert!(!Policy::from_options(&args()).unwrap().no_new_privileges);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0,2-3").unwrap().0, vec![0, 2, 3]);
        assert_eq!(parse_cpu_list("3 1  1-2").unwrap().0, vec![1, 2, 3]);
        assert_eq!(parse_cpu_list("0,2-3").unwrap().to_string(), "0,2,3");
        for bad in ["", " , ", "a", "3-1", "0-", "-1", "99999", "1.5"] {
            assert!(matches!(parse_cpu_list(bad), Err(PolicyError::CpuList { .. })), "{bad:?}");
        }
        assert!(parse_cpu_list("3-1").unwrap_err().to_string().contains("runs backwards"));
    }

    #[test]
    fn system_call_filters_reach_the_policy() {
        let mut a = args();
        a.system_call_filter = vec!["~@mount".into(), "@clock".into()];
        let p = Policy::from_options(&a).unwrap();
        assert_eq!(p.syscalls.deny, vec!["@mount"]);
        assert_eq!(p.syscalls.allow, vec!["@clock"]);
        a.system_call_filter = vec!["~@nonsense".into()];
        assert!(matches!(Policy::from_options(&a), Err(PolicyError::Seccomp(SeccompError::UnknownGroup(_)))));
        // The default policy builds a filter.
        Policy::default().seccomp().unwrap();
    }
}
