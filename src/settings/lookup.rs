//! Where a machine's settings file is found and how it meets the command
//! line (`--settings=`), as nspawn does it: `NAME.berth` or `NAME.nspawn`
//! in /etc/berth, /run/berth, /etc/systemd/nspawn, /run/systemd/nspawn
//! (trusted), then next to the image (untrusted); the first found wins.

use crate::settings::file::{self, FileError};
use crate::settings::value::Settings;
use std::path::{Path, PathBuf};

/// Trusted directories, searched in this order.
pub const TRUSTED_DIRS: &[&str] = &["/etc/berth", "/run/berth", "/etc/systemd/nspawn", "/run/systemd/nspawn"];
const SUFFIXES: &[&str] = &["berth", "nspawn"];

/// `--settings=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Read the file; trust it by where it is; the command line wins.
    #[default]
    Yes,
    /// Read no file.
    No,
    /// Read the file and trust it wherever it is.
    Trusted,
    /// Read the file, trust it, and let it win over the command line.
    Override,
}

pub fn parse_mode(v: &str) -> Result<Mode, String> {
    match v {
        "trusted" => Ok(Mode::Trusted),
        "override" => Ok(Mode::Override),
        _ => match crate::sys::parse_bool(v) {
            Some(true) => Ok(Mode::Yes),
            Some(false) => Ok(Mode::No),
            None => Err(format!("--settings={v} is invalid; use yes, no, trusted or override")),
        },
    }
}

/// A settings file found for a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// In a trusted directory.
    pub trusted: bool,
}

/// The name files are looked up by: -M, else the image's name, else the
/// tree's base name (before an ephemeral machine's suffix is added).
pub fn machine_name(s: &Settings) -> Option<String> {
    s.machine
        .clone()
        .or_else(|| s.image.clone())
        .or_else(|| s.directory.as_deref().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()))
}

/// Where the untrusted file next to the image lives: the store for an
/// image name, the tree's parent for -D.
fn beside_image(s: &Settings) -> Option<PathBuf> {
    if s.image.is_some() {
        return Some(s.image_root.clone().unwrap_or_else(|| crate::image::IMAGE_ROOT.into()));
    }
    let dir = s.directory.as_deref()?;
    Some(std::path::absolute(dir).ok()?.parent()?.to_path_buf())
}

/// The file that applies to machine `name`, if any: candidates in order.
pub fn candidates(s: &Settings, name: &str) -> Vec<Found> {
    let mut out = Vec::new();
    for d in TRUSTED_DIRS {
        for sfx in SUFFIXES {
            out.push(Found { path: Path::new(d).join(format!("{name}.{sfx}")), trusted: true });
        }
    }
    if let Some(dir) = beside_image(s) {
        for sfx in SUFFIXES {
            out.push(Found { path: dir.join(format!("{name}.{sfx}")), trusted: false });
        }
    }
    out
}

pub fn find(s: &Settings, name: &str) -> Option<Found> {
    candidates(s, name).into_iter().find(|f| f.path.is_file())
}

/// The command line's settings merged with the machine's file, as
/// `--settings=` says. Warnings for ignored untrusted keys are logged.
pub fn load(cli: Settings, mode: Mode) -> Result<(Settings, Option<Found>), FileError> {
    let Some(name) = machine_name(&cli).filter(|_| mode != Mode::No) else {
        return Ok((cli, None));
    };
    let Some(found) = find(&cli, &name) else {
        return Ok((cli, None));
    };
    let trusted = found.trusted || matches!(mode, Mode::Trusted | Mode::Override);
    let parsed = file::read(&found.path, trusted)?;
    for i in &parsed.ignored {
        tracing::warn!("{i}");
    }
    tracing::info!(file = %found.path.display(), set = ?parsed.settings.set_fields(), "settings file");
    let merged = if mode == Mode::Override { parsed.settings.over(cli) } else { cli.over(parsed.settings) };
    Ok((merged, Some(found)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("yes"), Ok(Mode::Yes));
        assert_eq!(parse_mode("0"), Ok(Mode::No));
        assert_eq!(parse_mode("trusted"), Ok(Mode::Trusted));
        assert_eq!(parse_mode("override"), Ok(Mode::Override));
        assert!(parse_mode("maybe").unwrap_err().contains("yes, no, trusted or override"));
    }

    #[test]
    fn search_order() {
        let s = Settings { directory: Some("/srv/trees/deb".into()), ..Default::default() };
        assert_eq!(machine_name(&s).as_deref(), Some("deb"));
        let c = candidates(&s, "deb");
        let paths: Vec<_> = c.iter().map(|f| (f.path.to_string_lossy().into_owned(), f.trusted)).collect();
        assert_eq!(paths[0], ("/etc/berth/deb.berth".into(), true));
        assert_eq!(paths[1], ("/etc/berth/deb.nspawn".into(), true));
        assert_eq!(paths[4], ("/etc/systemd/nspawn/deb.berth".into(), true));
        assert_eq!(paths[8], ("/srv/trees/deb.berth".into(), false));
        assert_eq!(paths[9], ("/srv/trees/deb.nspawn".into(), false));
        let img = Settings { image: Some("deb".into()), machine: Some("m".into()), ..Default::default() };
        assert_eq!(machine_name(&img).as_deref(), Some("m"));
        assert_eq!(candidates(&img, "m")[9].path, Path::new("/var/lib/machines/m.nspawn"));
    }
}
