//! Throw-away roots: the lifecycle of the writable layers `-x`,
//! `--volatile=overlay` and `--overlay` need on the host: created per
//! machine, recorded, removed on exit, and swept when a killed launcher
//! left them behind. The options themselves are `settings::layers`.

use crate::error::{Context, Error};
use crate::ids::userns::Range;
use crate::settings::config::Config;
use crate::settings::layers::{random_hex, Upper, Volatile};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use crate::settings::layers::DEFAULT_LAYER_PARENT;
pub const LAYER_DIR: &str = "berth-layers";

/// A machine's private layer directory on the host.
#[derive(Debug, Clone)]
pub struct Layer {
    pub dir: PathBuf,
    pub tmpfs: bool,
}

impl Layer {
    /// Creates `<parent>/berth-layers/<name>.<random>` (with `upper/` and
    /// `work/` unless the layer is a tmpfs mounted there later).
    pub fn create(name: &str, upper: &Upper, owner: (u32, u32), mode: u32) -> io::Result<Layer> {
        let (parent, tmpfs) = match upper {
            Upper::Tmpfs => (PathBuf::from(DEFAULT_LAYER_PARENT), true),
            Upper::Under(p) => (p.clone(), false),
        };
        let base = parent.join(LAYER_DIR);
        fs::create_dir_all(&base)?;
        let dir = base.join(format!("{name}.{}", random_hex(8)));
        fs::create_dir(&dir)?;
        let layer = Layer { dir, tmpfs };
        if let Err(e) = fs::create_dir(layer.dir.join("stage")) {
            layer.remove();
            return Err(e);
        }
        if !tmpfs {
            let made = (|| {
                for sub in ["upper", "work"] {
                    fs::create_dir(layer.dir.join(sub))?;
                }
                let upper = layer.dir.join("upper");
                nix::unistd::chown(
                    &upper,
                    Some(nix::unistd::Uid::from_raw(owner.0)),
                    Some(nix::unistd::Gid::from_raw(owner.1)),
                )?;
                fs::set_permissions(&upper, std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777))
            })();
            if let Err(e) = made {
                layer.remove();
                return Err(e);
            }
        }
        Ok(layer)
    }

    pub fn remove(&self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!("removing layer {}: {e}; 'berth gc' retries", self.dir.display());
            }
        }
        // The shared parent goes once the last layer has.
        if let Some(parent) = self.dir.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

/// The machine name a layer directory belongs to.
pub fn layer_owner(dir: &Path) -> Option<String> {
    let f = dir.file_name()?.to_string_lossy().into_owned();
    f.rsplit_once('.').map(|(n, _)| n.to_string())
}

/// Layer directories under `parent` that `is_stale(machine, dir)` says no
/// running machine uses.
pub fn stale_layers(parent: &Path, is_stale: &dyn Fn(&str, &Path) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(parent.join(LAYER_DIR)) else { return vec![] };
    rd.flatten().map(|e| e.path()).filter(|p| layer_owner(p).is_some_and(|name| is_stale(&name, p))).collect()
}

/// The host directories a machine writes besides its tree: the layer of
/// -x / --volatile=overlay / --overlay, and work directories beside the
/// upper directories of --overlay.
pub struct Layers {
    pub layer: Option<Layer>,
    pub overlay_work: Vec<PathBuf>,
}

impl Layers {
    pub fn create(cfg: &Config, range: Option<Range>, idmap: bool) -> crate::error::Result<Layers> {
        let mut out = Layers { layer: None, overlay_work: Vec::new() };
        if cfg.ephemeral || cfg.volatile == Volatile::Overlay || !cfg.overlays.is_empty() {
            let upper = match (&cfg.layer_upper, cfg.ephemeral) {
                (Upper::Under(p), true) => Upper::Under(p.clone()),
                _ => Upper::Tmpfs,
            };
            let md = std::fs::metadata(&cfg.root).ctx(|| format!("inspecting {}", cfg.root.display()))?;
            let shift = |id: u32| match (range, idmap) {
                (Some(r), true) => r.host(id),
                _ => id,
            };
            let where_ = match &upper {
                Upper::Under(p) => p.display().to_string(),
                Upper::Tmpfs => DEFAULT_LAYER_PARENT.to_string(),
            };
            out.layer = Some(Layer::create(&cfg.name, &upper, (shift(md.uid()), shift(md.gid())), md.mode()).map_err(
                |e| {
                    Error::Usage(format!(
                        "cannot create the machine's writable layer under {where_}: {e}; pick a writable filesystem with --layer-dir=DIR, or --layer-dir=tmpfs"
                    ))
                },
            )?);
        }
        for (i, spec) in cfg.overlays.iter().enumerate() {
            let work = match &spec.upper {
                Some(u) if !u.as_os_str().is_empty() => {
                    let w = u.parent().unwrap_or(u).join(format!(".#berth-work.{}.{i}", cfg.name));
                    if let Err(e) = std::fs::create_dir(&w) {
                        out.remove();
                        return Err(Error::Usage(format!(
                            "cannot create the overlay work directory {}: {e}; the upper directory's filesystem must be writable",
                            w.display()
                        )));
                    }
                    w
                }
                _ => PathBuf::new(),
            };
            out.overlay_work.push(work);
        }
        Ok(out)
    }

    pub fn dirs(&self) -> Vec<PathBuf> {
        self.layer
            .iter()
            .map(|l| l.dir.clone())
            .chain(self.overlay_work.iter().filter(|w| !w.as_os_str().is_empty()).cloned())
            .collect()
    }

    pub fn remove(&self) {
        for d in self.dirs() {
            let _ = std::fs::remove_dir_all(&d);
            if let Some(p) = d.parent().filter(|p| p.ends_with(LAYER_DIR)) {
                let _ = std::fs::remove_dir(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::layers::{check_lower, name_suffix};

    #[test]
    fn layer_names() {
        assert_eq!(layer_owner(Path::new("/var/tmp/berth-layers/deb-1.ab12cd34")).as_deref(), Some("deb-1"));
        assert_eq!(layer_owner(Path::new("/x/nodot")), None);
        assert_eq!(name_suffix().len(), 8);
        assert_ne!(name_suffix(), name_suffix());
        assert!(check_lower(Path::new("/var/lib/machines/debian")).is_ok());
        assert!(check_lower(Path::new("/var/a,b")).is_err());
    }

    #[test]
    fn stale_layer_detection() {
        let parent = std::env::temp_dir().join(format!("berth-layers-test-{}", std::process::id()));
        let base = parent.join(LAYER_DIR);
        for d in ["live.aaaa", "live.bbbb", "dead.cccc"] {
            fs::create_dir_all(base.join(d)).unwrap();
        }
        let live = base.join("live.aaaa");
        let is_stale = |n: &str, d: &Path| n != "live" || d != live;
        let mut stale = stale_layers(&parent, &is_stale);
        stale.sort();
        assert_eq!(stale, vec![base.join("dead.cccc"), base.join("live.bbbb")]);
        fs::remove_dir_all(&parent).unwrap();
    }
}
