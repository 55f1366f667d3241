//! Plain values a configuration is made of (what runs, binds, tmpfs
//! mounts), shared by the parsers, the probe and `Config`.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitKind {
    Systemd,
    SysV,
    Busybox,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
    pub recursive: bool,
    pub idmap: BindIdmap,
}

/// How a bind mount's ownership meets the guest's user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindIdmap {
    /// Ids pass through unchanged (guest sees host ids, mostly nobody).
    None,
    /// Host ids 0-65535 appear as the same guest ids.
    Idmap,
    /// The owner of the source appears as the guest's root, others as nobody.
    RootIdmap,
    /// Host `uid`/`gid` appear as guest id `guest`, others as nobody
    /// (--bind-user).
    Owner { uid: u32, gid: u32, guest: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub target: PathBuf,
    pub options: String,
}

/// A host path the user named (a bind source or an overlay layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathFact {
    /// It exists: its canonical path and whether it is a directory.
    Found { canonical: PathBuf, is_dir: bool },
    /// It cannot be used; why.
    Unusable(String),
}
