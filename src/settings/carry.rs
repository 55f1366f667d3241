//! An image's settings files follow it when the image store's verbs copy,
//! rename or remove it (as machinectl's do): `NAME.berth` and
//! `NAME.nspawn` in the trusted directories and next to the image.

use crate::settings::lookup::TRUSTED_DIRS;
use std::io;
use std::path::{Path, PathBuf};

/// The settings files that belong to image `name` in store `store_root`.
pub fn files_of(store_root: &Path, name: &str) -> Vec<PathBuf> {
    let dirs = TRUSTED_DIRS.iter().map(PathBuf::from).chain([store_root.to_path_buf()]);
    dirs.flat_map(|d| ["berth", "nspawn"].map(|sfx| d.join(format!("{name}.{sfx}")))).filter(|p| p.is_file()).collect()
}

fn renamed(file: &Path, to: &str) -> PathBuf {
    let sfx = file.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    file.with_file_name(format!("{to}.{sfx}"))
}

/// After `clone SRC DST`: each of SRC's files copied for DST (an existing
/// file of DST is kept).
pub fn clone(store_root: &Path, src: &str, dst: &str) -> io::Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    for f in files_of(store_root, src) {
        let to = renamed(&f, dst);
        if !to.exists() {
            std::fs::copy(&f, &to)?;
            made.push(to);
        }
    }
    Ok(made)
}

/// After `rename OLD NEW`.
pub fn rename(store_root: &Path, old: &str, new: &str) -> io::Result<Vec<PathBuf>> {
    let mut moved = Vec::new();
    for f in files_of(store_root, old) {
        let to = renamed(&f, new);
        if !to.exists() {
            std::fs::rename(&f, &to)?;
            moved.push(to);
        }
    }
    Ok(moved)
}

/// After `remove NAME`.
pub fn remove(store_root: &Path, name: &str) -> io::Result<Vec<PathBuf>> {
    let files = files_of(store_root, name);
    for f in &files {
        std::fs::remove_file(f)?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_the_image_in_the_store() {
        let store = std::env::temp_dir().join(format!("berth-carry-{}", std::process::id()));
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(store.join("a.nspawn"), "[Exec]\nBoot=yes\n").unwrap();
        assert_eq!(clone(&store, "a", "b").unwrap(), [store.join("b.nspawn")]);
        assert_eq!(rename(&store, "b", "c").unwrap(), [store.join("c.nspawn")]);
        assert!(!store.join("b.nspawn").exists());
        assert_eq!(std::fs::read_to_string(store.join("c.nspawn")).unwrap(), "[Exec]\nBoot=yes\n");
        assert_eq!(remove(&store, "c").unwrap(), [store.join("c.nspawn")]);
        assert_eq!(files_of(&store, "a"), [store.join("a.nspawn")]);
        std::fs::remove_dir_all(&store).unwrap();
    }
}
