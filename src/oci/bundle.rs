//! Reading a bundle: config.json through oci-spec, every field berth does
//! not do refused with one line naming it, and the pure facts the launch
//! needs (namespaces to create and to join, the cgroup path) derived as
//! data.

use super::{OciError, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A bundle read and checked.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

/// Keys berth understands at each level below the top; anything else is
/// refused.
const PROCESS: &[&str] = &[
    "terminal",
    "consoleSize",
    "user",
    "args",
    "env",
    "cwd",
    "capabilities",
    "rlimits",
    "noNewPrivileges",
    "apparmorProfile",
    "oomScoreAdj",
    "selinuxLabel",
];
const LINUX: &[&str] = &[
    "uidMappings",
    "gidMappings",
    "sysctl",
    "resources",
    "cgroupsPath",
    "namespaces",
    "devices",
    "seccomp",
    "rootfsPropagation",
    "maskedPaths",
    "readonlyPaths",
    "mountLabel",
    "intelRdt",
    "personality",
];
const RESOURCES: &[&str] = &["devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "unified"];
const MEMORY: &[&str] =
    &["limit", "reservation", "swap", "swappiness", "disableOOMKiller", "useHierarchy", "checkBeforeUpdate"];
const CPU: &[&str] = &["shares", "quota", "period", "cpus", "mems"];
const BLOCKIO: &[&str] = &["weight", "leafWeight"];
const USER: &[&str] = &["uid", "gid", "umask", "additionalGids"];
const SECCOMP: &[&str] = &["defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"];

pub fn load(dir: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(dir).map_err(|e| OciError::Bundle(format!("bundle {}: {e}", dir.display())))?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| OciError::Bundle(format!("{}: {e}", path.display())))?;
    let raw: Value = serde_json::from_str(&text).map_err(|e| OciError::Bundle(format!("{}: {e}", path.display())))?;
    let spec: Spec =
        serde_json::from_value(raw.clone()).map_err(|e| OciError::Bundle(format!("{}: {e}", path.display())))?;
    refuse_unsupported(&raw)?;
    notes(&raw);
    let root = spec.root().as_ref().ok_or_else(|| OciError::unsupported("root", "missing; name the root directory"))?;
    let rootfs = dir.join(root.path());
    if !rootfs.is_dir() {
        return Err(OciError::Bundle(format!("root.path {}: not a directory", rootfs.display())));
    }
    namespaces(&spec)?;
    Ok(Bundle { dir, spec, rootfs })
}

/// A SemVer 2.0 version of major 1 (`1.2.0`, `1.0.2-dev`). Pure.
pub fn version_1(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[0] == "1"
        && v[core.len()..].len() != 1
}

fn keys(v: &Value, at: &str, allowed: &[&str]) -> Result<()> {
    if let Some(obj) = v.as_object() {
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            let field = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            return Err(OciError::unsupported(field, "not supported by berth; remove it"));
        }
    }
    Ok(())
}

/// Top-level properties of the runtime spec berth does not do. Any other
/// top-level key is not the spec's: the spec says to ignore it.
const TOP_REFUSED: &[&str] = &["solaris", "windows", "vm", "zos"];

/// Refuses what berth does not do, naming the field. Pure.
pub fn refuse_unsupported(raw: &Value) -> Result<()> {
    if let Some(k) = raw.as_object().and_then(|o| o.keys().find(|k| TOP_REFUSED.contains(&k.as_str()))) {
        return Err(OciError::unsupported(k.clone(), "not supported by berth; remove it"));
    }
    if let Some(v) = raw["ociVersion"].as_str().filter(|v| !version_1(v)) {
        return Err(OciError::unsupported("ociVersion", format!("'{v}' is not a 1.x SemVer version; use e.g. 1.2.0")));
    }
    let p = &raw["process"];
    keys(p, "process", PROCESS)?;
    keys(&p["user"], "process.user", USER)?;
    let l = &raw["linux"];
    keys(l, "linux", LINUX)?;
    let r = &l["resources"];
    keys(r, "linux.resources", RESOURCES)?;
    keys(&r["memory"], "linux.resources.memory", MEMORY)?;
    keys(&r["cpu"], "linux.resources.cpu", CPU)?;
    keys(&r["blockIO"], "linux.resources.blockIO", BLOCKIO)?;
    keys(&l["seccomp"], "linux.seccomp", SECCOMP)?;
    if let Some(ns) = l["namespaces"].as_array() {
        if let Some(t) = ns.iter().find_map(|n| n["type"].as_str().filter(|t| *t == "time")) {
            return Err(OciError::unsupported(
                format!("linux.namespaces[type={t}]"),
                "time namespaces are not supported",
            ));
        }
    }
    if let Some(f) = l["personality"]["flags"].as_array().filter(|f| !f.is_empty()) {
        return Err(OciError::unsupported("linux.personality.flags", format!("{f:?} not supported")));
    }
    if l["personality"]["domain"].as_str().is_some_and(|d| d != "LINUX" && d != "LINUX32") {
        return Err(OciError::unsupported("linux.personality.domain", "only LINUX and LINUX32"));
    }
    for (i, m) in raw["mounts"].as_array().into_iter().flatten().enumerate() {
        if m.get("uidMappings").is_some() || m.get("gidMappings").is_some() {
            return Err(OciError::unsupported(
                format!("mounts[{i}].uidMappings"),
                "idmapped OCI mounts are not supported",
            ));
        }
        if m["options"].as_array().into_iter().flatten().any(|o| o == "tmpcopyup") && m["type"] != "tmpfs" {
            return Err(OciError::unsupported(format!("mounts[{i}].options"), "tmpcopyup is only for tmpfs"));
        }
    }
    if l["intelRdt"].is_object() && !l["intelRdt"].as_object().is_some_and(|o| o.is_empty()) {
        // Ignored with a note in notes(); nothing to refuse.
    }
    Ok(())
}

/// Fields berth accepts and ignores, said once on stderr.
fn notes(raw: &Value) {
    for (v, name) in [
        (&raw["process"]["apparmorProfile"], "process.apparmorProfile"),
        (&raw["process"]["selinuxLabel"], "process.selinuxLabel"),
        (&raw["linux"]["mountLabel"], "linux.mountLabel"),
        (&raw["linux"]["intelRdt"], "linux.intelRdt"),
    ] {
        if v.as_str().is_some_and(|s| !s.is_empty()) || v.is_object() {
            eprintln!("berth: note: {name} is ignored (berth applies no LSM labels or RDT classes)");
        }
    }
}

/// Namespaces to create (clone flags) and to join (type, path).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub create: libc::c_int,
    pub join: Vec<(libc::c_int, PathBuf)>,
}

pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => 0x80,
    }
}

/// The namespace plan. A mount namespace is required: berth never sets
/// a container up in the host's.
pub fn namespaces(spec: &Spec) -> Result<Namespaces> {
    let mut ns = Namespaces::default();
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    for n in &list {
        let f = flag(n.typ());
        if ns.create & f != 0 || ns.join.iter().any(|(t, _)| *t == f) {
            return Err(OciError::unsupported("linux.namespaces", format!("{} is listed twice", n.typ())));
        }
        match n.path() {
            Some(p) if !p.as_os_str().is_empty() => ns.join.push((f, p.clone())),
            _ => ns.create |= f,
        }
    }
    if ns.create & libc::CLONE_NEWNS == 0 {
        return Err(OciError::unsupported(
            "linux.namespaces",
            "berth needs a new mount namespace (type mount, no path)",
        ));
    }
    let maps = spec.linux().as_ref().is_some_and(|l| l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()));
    if maps && ns.create & libc::CLONE_NEWUSER == 0 {
        return Err(OciError::unsupported("linux.uidMappings", "mappings need a new user namespace"));
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
               "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}})
    }

    #[test]
    fn a_plain_bundle_passes() {
        refuse_unsupported(&base()).unwrap();
        let spec: Spec = serde_json::from_value(base()).unwrap();
        let ns = namespaces(&spec).unwrap();
        assert_eq!(ns.create, libc::CLONE_NEWNS | libc::CLONE_NEWPID);
    }

    #[test]
    fn unsupported_fields_are_named() {
        let cases = [
            ("/solaris", json!({}), "solaris"),
            ("/process/scheduler", json!({"policy": "SCHED_OTHER"}), "process.scheduler"),
            ("/linux/timeOffsets", json!({}), "linux.timeOffsets"),
            ("/linux/resources/network", json!({"classID": 1}), "linux.resources.network"),
            ("/linux/resources/cpu/realtimeRuntime", json!(5), "linux.resources.cpu.realtimeRuntime"),
            ("/linux/seccomp/listenerPath", json!("/x"), "linux.seccomp.listenerPath"),
        ];
        for (ptr, val, field) in cases {
            let mut v = base();
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            let mut cur = &mut v;
            for part in parent.split('/').filter(|p| !p.is_empty()) {
                if cur.get(part).is_none() {
                    cur[part] = json!({});
                }
                cur = cur.get_mut(part).unwrap();
            }
            cur[key] = val;
            let e = refuse_unsupported(&v).unwrap_err().to_string();
            assert!(e.starts_with(&format!("config.json: {field}:")), "{e}");
        }
    }

    #[test]
    fn oci_version_is_semver_1() {
        for ok in ["1.0.0", "1.2.0", "1.0.2-dev", "1.1.0-rc.1+x"] {
            assert!(version_1(ok), "{ok}");
        }
        for bad in ["invalid", "1.0", "2.0.0", "1.0.0-", "", "1.x.0"] {
            assert!(!version_1(bad), "{bad}");
        }
        let mut v = base();
        v["ociVersion"] = json!("invalid");
        assert!(refuse_unsupported(&v).unwrap_err().to_string().starts_with("config.json: ociVersion:"));
    }

    #[test]
    fn unknown_top_level_keys_are_ignored() {
        let mut v = base();
        v["org.example.extension"] = json!({"x": 1});
        refuse_unsupported(&v).unwrap();
    }

    #[test]
    fn joined_and_created_namespaces() {
        let mut v = base();
        v["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}]);
        let spec: Spec = serde_json::from_value(v.clone()).unwrap();
        let ns = namespaces(&spec).unwrap();
        assert_eq!(ns.join, vec![(libc::CLONE_NEWNET, PathBuf::from("/proc/1/ns/net"))]);
        v["linux"]["namespaces"] = json!([{"type": "pid"}]);
        let spec: Spec = serde_json::from_value(v).unwrap();
        assert!(namespaces(&spec).is_err());
    }
}
