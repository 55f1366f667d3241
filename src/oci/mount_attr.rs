//! Mount options that mount(2) flags cannot express: the recursive
//! ones of runtime-spec 1.1 (`rro`, `rnosuid`, `rnoatime`, ...), applied
//! to a mount and everything below it, and `nosymfollow`. They become
//! mount_setattr(2) attributes; parsing is pure.

use super::{OciError, Result};
use std::path::Path;

const RDONLY: u64 = 0x1;
const NOSUID: u64 = 0x2;
const NODEV: u64 = 0x4;
const NOEXEC: u64 = 0x8;
/// The atime mode's bits; relatime is the mode 0.
const ATIME_MASK: u64 = 0x70;
const NOATIME: u64 = 0x10;
const STRICTATIME: u64 = 0x20;
const NODIRATIME: u64 = 0x80;
const NOSYMFOLLOW: u64 = 0x0020_0000;

/// Attributes to set and clear, the kernel's `struct mount_attr` halves.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub set: u64,
    pub clear: u64,
}

impl Attr {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }

    fn add(&mut self, set: u64, clear: u64) {
        self.set = (self.set & !clear) | set;
        self.clear = (self.clear & !set) | clear;
    }
}

/// What the option does: recursive attributes (`rec`) or attributes of
/// the mount alone (`one`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    pub rec: Attr,
    pub one: Attr,
}

/// Takes `opt` into `a` if it is one of these options. Pure.
pub fn parse(opt: &str, a: &mut Attrs) -> bool {
    let (set, clear) = match opt {
        "rro" => (RDONLY, 0),
        "rrw" => (0, RDONLY),
        "rnosuid" => (NOSUID, 0),
        "rsuid" => (0, NOSUID),
        "rnodev" => (NODEV, 0),
        "rdev" => (0, NODEV),
        "rnoexec" => (NOEXEC, 0),
        "rexec" => (0, NOEXEC),
        "rnodiratime" => (NODIRATIME, 0),
        "rdiratime" => (0, NODIRATIME),
        "rnosymfollow" => (NOSYMFOLLOW, 0),
        "rsymfollow" => (0, NOSYMFOLLOW),
        // An atime mode replaces the others: clear the whole field.
        "rrelatime" => (0, ATIME_MASK),
        "rnoatime" => (NOATIME, ATIME_MASK),
        "rstrictatime" => (STRICTATIME, ATIME_MASK),
        "ratime" | "rnorelatime" | "rnostrictatime" => (0, 0),
        "nosymfollow" => {
            a.one.add(NOSYMFOLLOW, 0);
            return true;
        }
        "symfollow" => {
            a.one.add(0, NOSYMFOLLOW);
            return true;
        }
        _ => return false,
    };
    // The atime field is cleared and then set: both halves may hold it.
    if clear == ATIME_MASK {
        a.rec.set &= !ATIME_MASK;
        a.rec.set |= set;
        a.rec.clear |= ATIME_MASK;
    } else {
        a.rec.add(set, clear);
    }
    true
}

fn setattr(path: &Path, a: Attr, flags: libc::c_uint) -> Result<()> {
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| OciError::Bundle(format!("{}: NUL in path", path.display())))?;
    crate::sys::mount_setattr_at(libc::AT_FDCWD, &c, flags, a.set, a.clear, None)
        .map_err(|e| OciError::sys(format!("mount attributes of {}", path.display()), e))
}

/// Applies the attributes to the mount at `path` (and, for `rec`, to
/// every mount below it).
pub fn apply(path: &Path, a: &Attrs) -> Result<()> {
    if !a.rec.is_empty() {
        setattr(path, a.rec, crate::sys::AT_RECURSIVE)?;
    }
    if !a.one.is_empty() {
        setattr(path, a.one, 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(opts: &[&str]) -> Attrs {
        let mut a = Attrs::default();
        for o in opts {
            assert!(parse(o, &mut a), "{o}");
        }
        a
    }

    #[test]
    fn recursive_flags() {
        let a = of(&["rro", "rnosuid", "rnodev", "rnoexec"]);
        assert_eq!(a.rec, Attr { set: RDONLY | NOSUID | NODEV | NOEXEC, clear: 0 });
        assert!(a.one.is_empty());
        let a = of(&["rro", "rrw"]);
        assert_eq!(a.rec, Attr { set: 0, clear: RDONLY });
    }

    #[test]
    fn atime_modes_replace_each_other() {
        assert_eq!(of(&["rnoatime"]).rec, Attr { set: NOATIME, clear: ATIME_MASK });
        assert_eq!(of(&["rnoatime", "rstrictatime"]).rec, Attr { set: STRICTATIME, clear: ATIME_MASK });
        assert_eq!(of(&["rnoatime", "rrelatime"]).rec, Attr { set: 0, clear: ATIME_MASK });
        assert_eq!(of(&["rnodiratime"]).rec, Attr { set: NODIRATIME, clear: 0 });
    }

    #[test]
    fn nosymfollow_is_the_mount_alone() {
        let a = of(&["nosymfollow"]);
        assert_eq!(a.one, Attr { set: NOSYMFOLLOW, clear: 0 });
        assert_eq!(of(&["rnosymfollow"]).rec.set, NOSYMFOLLOW);
        assert!(!parse("size=1m", &mut Attrs::default()));
    }
}
