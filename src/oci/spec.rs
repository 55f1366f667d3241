//! `features` (what this runtime supports, in the runtime-spec's features
//! schema) and `spec` (a default config.json for a new bundle).

use super::{Ctx, OciError, Result};
use serde_json::{json, Value};
use std::path::Path;

pub fn features() -> Value {
    let caps: Vec<String> = {
        let mut v: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    };
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand", "noatime",
            "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind",
            "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
            "strictatime", "suid", "sync", "unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": false, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false}
        },
        "annotations": {"org.opencontainers.runtime-spec.features": "berth"}
    })
}

/// Writes the default config.json (runc's shape) into `bundle`.
pub fn write_default(bundle: &Path, rootless: bool) -> Result<()> {
    if rootless {
        return Err(OciError::State("spec --rootless: berth runs containers as root only".into()));
    }
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(OciError::State(format!("{} already exists; remove it first", path.display())));
    }
    let mut spec = oci_spec::runtime::Spec::default();
    // oci-spec's default names its own project; runc's and crun's their own.
    spec.set_hostname(Some("berth".into()));
    let text = serde_json::to_string_pretty(&spec).map_err(|e| OciError::Bundle(e.to_string()))?;
    std::fs::write(&path, text + "\n").ctx(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_spec_passes_berths_own_checks() {
        let v = serde_json::to_value(oci_spec::runtime::Spec::default()).unwrap();
        super::super::bundle::refuse_unsupported(&v).unwrap();
        assert_eq!(v["root"]["path"], "rootfs");
        let d = std::env::temp_dir().join(format!("berth-spec-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        super::write_default(&d, false).unwrap();
        let w: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
        assert_eq!(w["hostname"], "berth");
        let e = super::write_default(&d, false).unwrap_err().to_string();
        assert!(e.contains("config.json already exists; remove it first"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
        assert!(super::features()["linux"]["namespaces"].as_array().unwrap().len() == 7);
    }
}
