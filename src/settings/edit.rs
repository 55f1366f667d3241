//! `berth cat NAME` and `berth edit NAME`: show the settings file that
//! applies to a machine, or change it safely (machinectl's cat and edit).

use crate::error::{Error, Result};
use crate::settings::file;
use crate::settings::lookup::{self, Found};
use crate::settings::value::Settings;
use std::path::{Path, PathBuf};

fn lookup_settings(name: &str, store_root: &Path) -> Settings {
    Settings { image: Some(name.to_string()), image_root: Some(store_root.to_path_buf()), ..Default::default() }
}

fn check_name(name: &str) -> Result<()> {
    crate::settings::name::validate(name).map_err(|_| {
        Error::Usage(format!("'{name}' is not a valid machine name; use letters, digits, '-', '_' and '.'"))
    })
}

/// The file that applies to `name`, with a header naming it, or as JSON.
pub fn cat(name: &str, store_root: &Path, json: bool) -> Result<String> {
    check_name(name)?;
    let Some(Found { path, trusted }) = lookup::find(&lookup_settings(name, store_root), name) else {
        return Err(Error::Machine(format!(
            "no settings file for '{name}' (looked for {name}.berth and {name}.nspawn in {} and {}); create one with 'berth edit {name}'",
            lookup::TRUSTED_DIRS.join(", "),
            store_root.display()
        )));
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::sys(format!("reading {}", path.display()), e))?;
    Ok(if json {
        serde_json::json!({ "name": name, "path": path, "trusted": trusted, "text": text }).to_string() + "\n"
    } else {
        let trust = if trusted { "" } else { " (untrusted: keys that widen privileges are ignored)" };
        format!("# {}{trust}\n{text}", path.display())
    })
}

/// Opens the machine's file in /etc/berth (a copy of the one that applies
/// now, or a new one) in the user's editor, and saves it only if it is
/// valid. Returns the path saved.
pub fn edit(name: &str, store_root: &Path) -> Result<PathBuf> {
    check_name(name)?;
    let found = lookup::find(&lookup_settings(name, store_root), name);
    let target = match &found {
        Some(f) if f.path.starts_with("/etc/berth") => f.path.clone(),
        _ => Path::new("/etc/berth").join(format!("{name}.nspawn")),
    };
    let initial = match &found {
        Some(f) => {
            std::fs::read_to_string(&f.path).map_err(|e| Error::sys(format!("reading {}", f.path.display()), e))?
        }
        None => format!("# Settings of machine {name}; see berth.settings(5).\n[Exec]\n\n[Files]\n\n[Network]\n"),
    };
    std::fs::create_dir_all("/etc/berth").map_err(|e| Error::sys("creating /etc/berth", e))?;
    let temp = Path::new("/etc/berth").join(format!(".#{name}.{}", crate::settings::layers::random_hex(8)));
    std::fs::write(&temp, initial).map_err(|e| Error::sys(format!("writing {}", temp.display()), e))?;
    let result = run_editor(&temp).and_then(|()| {
        file::read(&temp, true).map_err(|e| {
            // Name the real file in the error, not the temporary copy.
            Error::Usage(format!(
                "{}; nothing was saved, run 'berth edit {name}' again",
                e.to_string().replacen(&temp.display().to_string(), &target.display().to_string(), 1)
            ))
        })?;
        std::fs::rename(&temp, &target).map_err(|e| Error::sys(format!("saving {}", target.display()), e))
    });
    let _ = std::fs::remove_file(&temp);
    result.map(|()| target)
}

/// $VISUAL, $EDITOR, then editor, nano, vi: the first that exists.
fn run_editor(file: &Path) -> Result<()> {
    let from_env = ["VISUAL", "EDITOR"].iter().filter_map(|v| std::env::var(v).ok()).find(|v| !v.trim().is_empty());
    let cmd = match from_env {
        Some(e) => e,
        None => ["editor", "nano", "vi"]
            .iter()
            .find(|e| crate::image::tool::find(e).is_some())
            .map(|e| e.to_string())
            .ok_or_else(|| Error::Host("no editor found; set $EDITOR".into()))?,
    };
    // $EDITOR may carry arguments ("code -w"), as for git.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} \"$1\""))
        .arg("sh")
        .arg(file)
        .status()
        .map_err(|e| Error::sys(format!("running the editor '{cmd}'"), e))?;
    if !status.success() {
        return Err(Error::Usage(format!("the editor '{cmd}' failed ({status}); nothing was saved")));
    }
    Ok(())
}
