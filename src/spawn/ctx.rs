//! What the launcher hands the outer and the inner child.

use crate::ids::userns::Range;
use crate::plan::mounts::Entry;
use crate::settings::config::Config;
use std::os::fd::OwnedFd;

/// Everything a child needs from the launcher.
pub struct ChildCtx<'a> {
    pub cfg: &'a Config,
    /// The guest's mounts, planned once by the launcher.
    pub mounts: &'a [Entry],
    pub sock: OwnedFd,
    pub launcher: libc::pid_t,
    pub boot_id: String,
    /// The compiled system call filter, loaded right before exec.
    pub filter: crate::security::seccomp::Compiled,
    /// The guest's id range, with a user namespace.
    pub range: Option<Range>,
    /// Whether the tree is idmapped onto the range.
    pub idmap: bool,
    /// The machine's layer directory (for -x, --volatile=overlay, --overlay).
    pub layer: Option<std::path::PathBuf>,
    pub upper_tmpfs: bool,
    pub overlay_work: Vec<std::path::PathBuf>,
    /// views: the /dev/fuse connection for the guest's /proc views.
    pub views: Option<OwnedFd>,
}
