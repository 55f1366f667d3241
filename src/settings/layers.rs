//! The throw-away root options (`-x`, `--volatile`, `--overlay`,
//! `--layer-dir`, `--template`) as typed values, and the `--template`
//! copy that creates a missing tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where `-x` makes its layer unless `--layer-dir` says otherwise.
pub const DEFAULT_LAYER_PARENT: &str = "/var/tmp";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EphemeralError {
    #[error("--volatile={0} is invalid; use no, yes, state or overlay")]
    BadVolatile(String),
    #[error("--{flag} {spec}: {why}")]
    BadOverlay { flag: &'static str, spec: String, why: String },
}

/// nspawn's --volatile modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatile {
    No,
    /// A tmpfs root with the tree's /usr bound read-only.
    Yes,
    /// The tree read-only with a tmpfs /var.
    State,
    /// A tmpfs overlay over the whole tree.
    Overlay,
}

pub fn parse_volatile(s: &str) -> Result<Volatile, EphemeralError> {
    match s {
        "no" | "false" | "0" => Ok(Volatile::No),
        "yes" | "true" | "1" => Ok(Volatile::Yes),
        "state" => Ok(Volatile::State),
        "overlay" => Ok(Volatile::Overlay),
        _ => Err(EphemeralError::BadVolatile(s.into())),
    }
}

/// Where an ephemeral machine's upper layer lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upper {
    /// A tmpfs in the container's mount namespace: nothing touches a disk.
    Tmpfs,
    /// A directory created below this parent (default /var/tmp).
    Under(PathBuf),
}

pub fn parse_upper(s: &str) -> Upper {
    if s == "tmpfs" {
        Upper::Tmpfs
    } else {
        Upper::Under(PathBuf::from(s))
    }
}

/// `--overlay[-ro]=LOWER[:LOWER...]:UPPER:DEST` (read-write) or
/// `LOWER[:LOWER...]:DEST` (read-only). An empty UPPER means a tmpfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlaySpec {
    pub lowers: Vec<PathBuf>,
    pub upper: Option<PathBuf>,
    pub dest: PathBuf,
    pub read_only: bool,
}

/// Characters overlayfs' option string cannot carry in a path.
fn overlay_safe(p: &Path) -> bool {
    !p.to_string_lossy().contains([',', ':', '\\', '='])
}

/// `is_dir` says whether a host layer is a directory (from the probe).
pub fn parse_overlay(
    spec: &str,
    read_only: bool,
    is_dir: &dyn Fn(&Path) -> bool,
) -> Result<OverlaySpec, EphemeralError> {
    let flag = if read_only { "overlay-ro" } else { "overlay" };
    let bad = |why: &str| EphemeralError::BadOverlay { flag, spec: spec.into(), why: why.into() };
    let mut parts: Vec<&str> = spec.split(':').collect();
    let need = if read_only { 2 } else { 3 };
    if parts.len() < need {
        return Err(bad(if read_only { "give LOWER[:LOWER...]:DEST" } else { "give LOWER[:LOWER...]:UPPER:DEST" }));
    }
    let dest = PathBuf::from(parts.pop().unwrap_or_default());
    let upper = if read_only {
        None
    } else {
        match parts.pop().unwrap_or_default() {
            "" => Some(PathBuf::new()),
            u => Some(PathBuf::from(u)),
        }
    };
    let lowers: Vec<PathBuf> = parts.iter().map(PathBuf::from).collect();
    if read_only && lowers.len() < 2 {
        return Err(bad("a read-only overlay needs at least two lower directories (for one, use --bind-ro)"));
    }
    if !dest.is_absolute() || dest == Path::new("/") {
        return Err(bad("DEST must be an absolute guest path other than /"));
    }
    for l in lowers.iter().chain(upper.iter().filter(|u| !u.as_os_str().is_empty())) {
        if !l.is_absolute() {
            return Err(bad("layers must be absolute host paths"));
        }
        if !overlay_safe(l) {
            return Err(bad("layer paths must not contain ',', ':', '=' or '\\'"));
        }
        if !is_dir(l) {
            return Err(bad(&format!("{} is not a directory", l.display())));
        }
    }
    Ok(OverlaySpec { lowers, upper, dest, read_only })
}

/// Checks the tree's path can be an overlayfs lower layer.
pub fn check_lower(root: &Path) -> Result<(), String> {
    if overlay_safe(root) {
        Ok(())
    } else {
        Err(format!("the tree's path {} contains ',', ':', '=' or '\\', which overlayfs cannot take", root.display()))
    }
}

pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n.div_ceil(2)];
    let _ = fs::File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut buf));
    buf.iter().map(|b| format!("{b:02x}")).collect::<String>()[..n].to_string()
}

/// A random suffix for ephemeral machine names.
pub fn name_suffix() -> String {
    random_hex(8)
}

/// Creates a missing tree from a template: a reflink copy where the
/// filesystem can, a full copy otherwise, made under a temporary name and
/// renamed into place so a half copy is never used.
pub fn from_template(template: &Path, tree: &Path) -> Result<(), String> {
    if !template.is_dir() {
        return Err(format!("--template {} is not a directory", template.display()));
    }
    let parent = tree.parent().ok_or_else(|| format!("{} has no parent directory", tree.display()))?;
    fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let tmp = parent.join(format!(".#{}.{}", tree.file_name().unwrap_or_default().to_string_lossy(), random_hex(8)));
    let st = std::process::Command::new("cp")
        .args(["-a", "--reflink=auto", "--no-target-directory"])
        .arg(template)
        .arg(&tmp)
        .status()
        .map_err(|e| format!("running cp: {e}"))?;
    if !st.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(format!("copying template {} to {} failed", template.display(), tree.display()));
    }
    match fs::rename(&tmp, tree) {
        Ok(()) => Ok(()),
        // Somebody else made the tree meanwhile: theirs wins.
        Err(_) if tree.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(format!("moving the copy into place at {}: {e}", tree.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_modes() {
        assert_eq!(parse_volatile("yes"), Ok(Volatile::Yes));
        assert_eq!(parse_volatile("state"), Ok(Volatile::State));
        assert_eq!(parse_volatile("overlay"), Ok(Volatile::Overlay));
        assert_eq!(parse_volatile("no"), Ok(Volatile::No));
        assert!(parse_volatile("maybe").is_err());
    }

    #[test]
    fn overlay_specs() {
        let o = parse_overlay("/usr:/tmp:/opt", false, &|p: &Path| p.is_dir()).unwrap();
        assert_eq!(
            (o.lowers, o.upper, o.dest),
            (vec![PathBuf::from("/usr")], Some(PathBuf::from("/tmp")), PathBuf::from("/opt"))
        );
        assert!(parse_overlay("/usr:/opt", true, &|p: &Path| p.is_dir()).is_err(), "one lower alone is a bind");
        let o = parse_overlay("/usr:/etc:/opt", true, &|p: &Path| p.is_dir()).unwrap();
        assert_eq!((o.lowers.len(), o.upper), (2, None));
        let o = parse_overlay("/usr::/opt", false, &|p: &Path| p.is_dir()).unwrap();
        assert_eq!(o.upper, Some(PathBuf::new()), "empty upper means tmpfs");
        assert!(parse_overlay("/usr:/opt", false, &|p: &Path| p.is_dir()).is_err(), "read-write needs an upper");
        assert!(parse_overlay("/usr:/tmp:rel", false, &|p: &Path| p.is_dir()).is_err());
        assert!(parse_overlay("/nonexistent-x:/tmp:/opt", false, &|p: &Path| p.is_dir()).is_err());
        assert!(parse_overlay("/usr:/tmp:/", false, &|p: &Path| p.is_dir()).is_err());
    }
}
