//! clone, rename, remove and read-only. A running machine holds its tree's
//! lock, so taking that lock here is what keeps these verbs off running
//! images; a read-only image is never changed, only copied.

use super::{attr, io_err, tool, Image, ImageError, Kind, Result, Store, Temp};
use std::process::Command;

/// Copies image `src` to a new image `dst`: owners, modes, timestamps,
/// xattrs, ACLs, devices and hard links preserved, reflinked where the
/// filesystem can. The copy is writable even when the source is not.
pub fn clone(store: &Store, src: &str, dst: &str) -> Result<Image> {
    let from = store.find(src)?;
    store.check_free(dst)?;
    store.prepare()?;
    let cp = tool::require("cp", "coreutils")?;
    // Shared: other readers are fine, a writer would tear the copy.
    let _lock = from.lock(false)?;
    let temp = Temp::new(store.temp_path(if from.kind == Kind::Raw { ".raw" } else { "" }));
    let mut c = Command::new(cp);
    c.args(["-a", "--reflink=auto", "--no-target-directory", "--"]).arg(&from.path).arg(temp.path());
    tool::run(c, &format!("the copy of image '{src}'"), None)?.check(&format!("copying image '{src}'"))?;
    // cp copies no inode flags, but a clone must come out writable.
    if attr::is_immutable(temp.path()).unwrap_or(false) {
        attr::set_immutable(temp.path(), false).map_err(io_err(format!("making the copy of '{src}' writable")))?;
    }
    let final_name = if from.kind == Kind::Raw { format!("{dst}.raw") } else { dst.to_string() };
    temp.commit(store, &final_name)?;
    store.find(dst)
}

pub fn rename(store: &Store, old: &str, new: &str) -> Result<()> {
    let img = store.find(old)?;
    store.check_free(new)?;
    img.check_writable()?;
    let _lock = img.lock(true)?;
    let final_name = if img.kind == Kind::Raw { format!("{new}.raw") } else { new.to_string() };
    store.commit(&img.path, &final_name)?;
    Ok(())
}

/// Removes images, each on its own: all names are checked first, so a
/// typo in the list removes nothing.
pub fn remove(store: &Store, names: &[String]) -> Result<()> {
    let imgs = names.iter().map(|n| store.find(n)).collect::<Result<Vec<_>>>()?;
    for img in &imgs {
        img.check_writable()?;
    }
    for img in imgs {
        remove_one(store, &img)?;
    }
    Ok(())
}

fn remove_one(store: &Store, img: &Image) -> Result<()> {
    let lock = img.lock(true)?;
    // Out of the store's namespace at once, under the lock; the slow part
    // happens on a hidden name nobody can start.
    let doomed = store.temp_path(".removing");
    super::rename_noreplace(&img.path, &doomed).map_err(io_err(format!("removing image '{}'", img.name)))?;
    drop(lock);
    super::remove_any(&doomed).map_err(|e| ImageError::Failed {
        what: format!("removing image '{}'", img.name),
        detail: format!("{e}; what is left is in {}", doomed.display()),
    })
}

/// The read-only state, or sets it. Marking an image read-only while a
/// machine writes to it is refused; a read-only user may keep running.
pub fn read_only(store: &Store, name: &str, set: Option<bool>) -> Result<bool> {
    let img = store.find(name)?;
    let Some(on) = set else { return Ok(img.read_only) };
    let _lock = if on && !img.read_only { img.lock(false)? } else { None };
    attr::set_immutable(&img.path, on).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) => ImageError::Refused(format!(
            "cannot change the immutable flag of {}: operation not permitted; run as root with CAP_LINUX_IMMUTABLE",
            img.path.display()
        )),
        Some(libc::ENOTTY) | Some(libc::EOPNOTSUPP) => ImageError::Refused(format!(
            "the filesystem of {} has no immutable flag, so berth cannot mark images read-only there",
            img.path.display()
        )),
        _ => ImageError::Io { what: format!("changing the immutable flag of {}", img.path.display()), source: e },
    })?;
    Ok(on)
}
