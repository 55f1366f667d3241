//! Bundles whose process is an init (systemd, `/sbin/init`) run as berth
//! machines, the way `berth boot` runs a tree: the Container Interface's
//! `container=` and `container_uuid=` in the environment and a read-only
//! `/run/host` (os-release, container-manager, container-uuid), a
//! registration with machined where it is on the system bus (so
//! `machinectl list` and `berth list` show it), and a clean halt when the
//! engine stops it with SIGTERM, which systemd as PID 1 would take as
//! "re-execute" and ignore until the engine's SIGKILL.
//!
//! The annotation `io.berth.machine` (yes/no) overrides the detection.

use super::{Ctx, OciError, Result};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The annotation that turns machine mode on or off for a bundle.
pub const ANNOTATION: &str = "io.berth.machine";

/// What berth keeps about a container that runs as a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Its name with machined (a valid host name; see `name_for`).
    pub name: String,
    pub uuid: String,
    /// What `kill` sends instead of SIGTERM (SIGRTMIN+3 for systemd).
    pub halt: Option<i32>,
    /// Whether machined took the registration (so `delete` withdraws it).
    #[serde(default)]
    pub registered: bool,
    /// The host's os-release for /run/host, read in the launcher (the
    /// child's pivot hides the host's); not kept in the record.
    #[serde(skip)]
    pub os_release: Vec<u8>,
}

/// Whether the program is an init by its name (`init`, `systemd`).
pub fn is_init(program: &str) -> bool {
    matches!(Path::new(program).file_name().and_then(|n| n.to_str()), Some("init" | "systemd"))
}

/// Machine mode for this bundle: the annotation, else an init as process.
pub fn wanted(spec: &Spec) -> Result<bool> {
    if let Some(v) = spec.annotations().as_ref().and_then(|a| a.get(ANNOTATION)) {
        return crate::sys::parse_bool(v).ok_or_else(|| {
            OciError::unsupported(format!("annotations: {ANNOTATION}"), format!("'{v}' is not yes or no"))
        });
    }
    let args = spec.process().as_ref().and_then(|p| p.args().clone()).unwrap_or_default();
    Ok(args.first().is_some_and(|a| is_init(a)))
}

/// A machine name machined accepts (a host name of at most 63
/// characters): the id itself when it is one; an engine's 64-hex id
/// shortened to the 12 characters engines show; otherwise the id with
/// other characters replaced by `-`, cut to 63.
pub fn name_for(id: &str) -> String {
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if valid(id) {
        return id.to_string();
    }
    if id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        return id[..12].to_string();
    }
    let s: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).take(63).collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "oci".to_string()
    } else {
        s
    }
}

/// The machine's UUID from an engine's hex id (its first 32 digits), so
/// it is the same for every invocation; None for other ids.
pub fn uuid_for(id: &str) -> Option<String> {
    let hex: String = id.chars().take_while(|c| c.is_ascii_hexdigit()).collect::<String>().to_ascii_lowercase();
    let h = hex.get(..32)?;
    Some(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

/// The process's environment with `container=` (unless the engine set
/// it: podman says `podman`) and `container_uuid=` added.
pub fn environment(env: &[String], uuid: &str) -> Vec<String> {
    let mut out = env.to_vec();
    if !env.iter().any(|e| e.starts_with("container=")) {
        out.push("container=berth".into());
    }
    if !env.iter().any(|e| e.starts_with("container_uuid=")) {
        out.push(format!("container_uuid={uuid}"));
    }
    out
}

/// Follows a path's symbolic links inside `rootfs` (an absolute target
/// is taken from the rootfs, not the host), at most 16 deep.
fn resolve_in(rootfs: &Path, path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..16 {
        let host = rootfs.join(p.strip_prefix("/").unwrap_or(&p));
        match std::fs::read_link(&host) {
            Ok(t) if t.is_absolute() => p = t,
            Ok(t) => p = p.parent().unwrap_or(Path::new("/")).join(t),
            Err(_) => break,
        }
    }
    p
}

/// SIGRTMIN+3 when the process is systemd (also through `/sbin/init`).
pub fn halt_signal(rootfs: &Path, program: &str) -> Option<i32> {
    let real = resolve_in(rootfs, Path::new(program));
    (real.file_name().and_then(|n| n.to_str()) == Some("systemd")).then(|| libc::SIGRTMIN() + 3)
}

/// Prepares machine mode for `create`: the record and the environment
/// the process gets. None when the bundle is not a machine.
pub fn plan(spec: &mut Spec, id: &str, rootfs: &Path) -> Result<Option<Machine>> {
    if !wanted(spec)? {
        return Ok(None);
    }
    let uuid = match uuid_for(id) {
        Some(u) => u,
        None => std::fs::read_to_string("/proc/sys/kernel/random/uuid")
            .ctx(|| "reading a random UUID".into())?
            .trim()
            .to_string(),
    };
    let Some(mut p) = spec.process().clone() else { return Ok(None) };
    let program = p.args().as_ref().and_then(|a| a.first().cloned()).unwrap_or_default();
    p.set_env(Some(environment(p.env().as_deref().unwrap_or_default(), &uuid)));
    spec.set_process(Some(p));
    Ok(Some(Machine {
        name: name_for(id),
        uuid,
        halt: halt_signal(rootfs, &program),
        registered: false,
        os_release: crate::mount::runhost::host_os_release(),
    }))
}

/// The signal `kill` sends: the halt signal in place of SIGTERM.
pub fn kill_signal(m: Option<&Machine>, sig: i32) -> i32 {
    match m.and_then(|m| m.halt) {
        Some(h) if sig == libc::SIGTERM => h,
        _ => sig,
    }
}

/// In the container's process, after the pivot: a read-only tmpfs at
/// /run/host with what the Container Interface says the host hands the
/// guest. Skipped where the image has no writable /run to hold it.
pub fn run_host(m: &Machine) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    let dir = Path::new("/run/host");
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::EROFS | libc::ENOENT)) => return Ok(()),
        Err(e) => return Err(OciError::sys("creating /run/host", e)),
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("tmpfs"), dir, Some("tmpfs"), flags, Some("mode=0755,size=256k"))
        .ctx(|| "mounting a tmpfs on /run/host".into())?;
    for (name, text) in [
        ("os-release", m.os_release.clone()),
        ("container-manager", b"berth\n".to_vec()),
        ("container-uuid", format!("{}\n", m.uuid).into_bytes()),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).ctx(|| format!("writing {}", p.display()))?;
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o444))
            .ctx(|| format!("writing {}", p.display()))?;
    }
    mount(None::<&str>, dir, None::<&str>, flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>)
        .ctx(|| "making /run/host read-only".into())
}

/// Registers the machine with machined when machined is on the system
/// bus. A missing machined is normal; any other failure is the note
/// returned (the container runs unregistered).
pub fn register(m: &mut Machine, leader: i32, rootfs: &Path) -> Option<String> {
    use crate::host::machined::{self, Presence, Register};
    match machined::prepare(Register::Auto, &m.name) {
        Ok(Presence::Present) => {}
        Ok(Presence::Absent(_)) => return None,
        Err(e) => return Some(format!("not registered with machined: {e}")),
    }
    let reg = machined::Machine {
        name: m.name.clone(),
        uuid: m.uuid.clone(),
        root: rootfs.display().to_string(),
        leader: leader as u32,
        ifindices: Vec::new(),
    };
    match machined::register(&reg) {
        Ok(()) => {
            m.registered = true;
            None
        }
        Err(e) => Some(format!("not registered with machined: {e}")),
    }
}

/// Withdraws the registration, if machined took it.
pub fn unregister(m: &Machine) -> Option<String> {
    if !m.registered {
        return None;
    }
    crate::host::machined::unregister(&m.name).err().map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inits_by_name() {
        for p in ["/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd", "init", "systemd"] {
            assert!(is_init(p), "{p}");
        }
        for p in ["/bin/sh", "/usr/bin/systemd-run", "/sbin/initctl", ""] {
            assert!(!is_init(p), "{p}");
        }
    }

    fn spec(args: &[&str], annotation: Option<&str>) -> Spec {
        let mut s = Spec::default();
        let mut p = s.process().clone().unwrap_or_default();
        p.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
        s.set_process(Some(p));
        if let Some(a) = annotation {
            s.set_annotations(Some([(ANNOTATION.to_string(), a.to_string())].into()));
        }
        s
    }

    #[test]
    fn annotation_overrides_the_name() {
        assert!(wanted(&spec(&["/sbin/init"], None)).unwrap());
        assert!(!wanted(&spec(&["/bin/sh"], None)).unwrap());
        assert!(!wanted(&spec(&["/sbin/init"], Some("no"))).unwrap());
        assert!(wanted(&spec(&["/opt/myinit"], Some("yes"))).unwrap());
        let e = wanted(&spec(&["/sbin/init"], Some("maybe"))).unwrap_err().to_string();
        assert!(e.contains("io.berth.machine") && e.contains("maybe"), "{e}");
    }

    #[test]
    fn names_machined_accepts() {
        assert_eq!(name_for("web-1"), "web-1");
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(name_for(&hex), "0123456789ab");
        assert_eq!(name_for("a.b+c"), "a-b-c");
        assert_eq!(name_for(&"x".repeat(100)).len(), 63);
        assert_eq!(name_for("..."), "oci");
    }

    #[test]
    fn uuid_from_a_hex_id_or_random() {
        let hex = "0123456789ABCDEF".repeat(4);
        assert_eq!(uuid_for(&hex).as_deref(), Some("01234567-89ab-cdef-0123-456789abcdef"));
        assert_eq!(uuid_for("web"), None);
        assert_eq!(uuid_for(&hex[..31]), None);
    }

    #[test]
    fn environment_keeps_the_engines_words() {
        let e = environment(&["PATH=/bin".into()], "u");
        assert_eq!(e, ["PATH=/bin", "container=berth", "container_uuid=u"]);
        let e = environment(&["container=podman".into()], "u");
        assert_eq!(e, ["container=podman", "container_uuid=u"]);
    }

    #[test]
    fn sigterm_becomes_the_halt_signal() {
        let m =
            Machine { name: "m".into(), uuid: "u".into(), halt: Some(40), registered: false, os_release: Vec::new() };
        assert_eq!(kill_signal(Some(&m), libc::SIGTERM), 40);
        assert_eq!(kill_signal(Some(&m), libc::SIGKILL), libc::SIGKILL);
        assert_eq!(kill_signal(None, libc::SIGTERM), libc::SIGTERM);
        let m = Machine { halt: None, ..m };
        assert_eq!(kill_signal(Some(&m), libc::SIGTERM), libc::SIGTERM);
    }

    #[test]
    fn halt_follows_sbin_init_inside_the_rootfs() {
        let d = std::env::temp_dir().join(format!("berth-oci-machine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sbin")).unwrap();
        std::fs::create_dir_all(d.join("lib/systemd")).unwrap();
        std::fs::write(d.join("lib/systemd/systemd"), "").unwrap();
        std::os::unix::fs::symlink("/lib/systemd/systemd", d.join("sbin/init")).unwrap();
        assert_eq!(halt_signal(&d, "/sbin/init"), Some(libc::SIGRTMIN() + 3));
        assert_eq!(halt_signal(&d, "/lib/systemd/systemd"), Some(libc::SIGRTMIN() + 3));
        std::fs::remove_file(d.join("sbin/init")).unwrap();
        std::os::unix::fs::symlink("../bin/busybox", d.join("sbin/init")).unwrap();
        assert_eq!(halt_signal(&d, "/sbin/init"), None);
        let _ = std::fs::remove_dir_all(&d);
    }
}
