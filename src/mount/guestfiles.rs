//! Places what `settings/guest.rs` decided: the guest's resolver and
//! zone files (written from inside the guest, as its root, before the
//! init runs), the journal's directory or link on the host, and the
//! credentials in /run/host/credentials.

use crate::error::{Context, Result};
use crate::settings::config::Config;
use crate::settings::guest::{JournalAction, ResolvAction, TimezoneAction, JOURNAL_DIR};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// On the host, before the mounts are planned: the journal directory
/// bound into the guest, or the link to the tree's journal.
pub fn link_journal_on_host(cfg: &Config) -> Result<()> {
    let host_path = Path::new(JOURNAL_DIR).join(&cfg.guest.machine_id);
    match &cfg.guest.journal {
        JournalAction::None => Ok(()),
        JournalAction::Host => match std::fs::DirBuilder::new().mode(0o2755).create(&host_path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                Err(e).ctx(|| format!("creating {}", host_path.display()))
            }
            _ => Ok(()),
        },
        JournalAction::Guest { link_to } => {
            if std::fs::read_link(&host_path).ok().as_deref() == Some(link_to.as_path()) {
                return Ok(());
            }
            std::os::unix::fs::symlink(link_to, &host_path)
                .ctx(|| format!("linking {} to the tree's journal", host_path.display()))
        }
    }
}

/// Replaces (or, when `replace` is false, only creates or rewrites a
/// plain file at) `path` with `content`.
fn write_file(path: &Path, content: &[u8], replace: bool) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() && !replace => return Ok(false),
        Ok(m) if !m.is_file() || replace => std::fs::remove_file(path)?,
        _ => {}
    }
    let tmp = path.with_extension("berth-tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
    std::io::Write::write_all(&mut f, content)?;
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Inside the guest (its root at /, before exec): writes, links or
/// removes /etc/resolv.conf and /etc/localtime, and makes the tree's
/// journal directory. Like nspawn, a file that cannot be placed is a
/// warning, not a failed start.
pub fn place_in_guest(cfg: &Config) {
    let g = &cfg.guest;
    let resolv = Path::new("/etc/resolv.conf");
    let r = match &g.resolv {
        ResolvAction::Write { content, replace } => write_file(resolv, content, *replace).map(|_| ()),
        ResolvAction::Delete => remove(resolv),
        ResolvAction::Off | ResolvAction::Bind(_) => Ok(()),
    };
    if let Err(e) = r {
        tracing::warn!("cannot set up the guest's /etc/resolv.conf: {e}");
    }
    let localtime = Path::new("/etc/localtime");
    let r = match &g.timezone {
        TimezoneAction::Copy(content) => write_file(localtime, content, true).map(|_| ()),
        TimezoneAction::Symlink(zone) => remove(localtime)
            .and_then(|_| std::os::unix::fs::symlink(format!("../usr/share/zoneinfo/{zone}"), localtime)),
        TimezoneAction::Delete => remove(localtime),
        TimezoneAction::Off | TimezoneAction::Bind(_) => Ok(()),
    };
    if let Err(e) = r {
        tracing::warn!("cannot set up the guest's /etc/localtime: {e}");
    }
    if let JournalAction::Guest { .. } = g.journal {
        let dir = Path::new(JOURNAL_DIR).join(&g.machine_id);
        if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o2755).create(&dir) {
            tracing::warn!("cannot create the guest's {}: {e}", dir.display());
        }
    }
}
