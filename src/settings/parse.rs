//! Parsers for single option values (environment, binds, tmpfs, UUIDs),
//! shared by every source of settings. Pure.

use crate::error::{Error, Result};
use crate::settings::types::PathFact;
use crate::settings::types::{Bind, BindIdmap, Tmpfs};
use std::path::{Path, PathBuf};

pub fn parse_env(s: &str) -> Result<(String, String)> {
    let (k, v) =
        s.split_once('=').ok_or_else(|| Error::Usage(format!("--setenv '{s}' has no '='; write NAME=VALUE")))?;
    let valid =
        !k.is_empty() && !k.as_bytes()[0].is_ascii_digit() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(Error::Usage(format!(
            "--setenv '{s}': '{k}' is not a valid variable name; use letters, digits and '_'"
        )));
    }
    Ok((k.to_string(), v.to_string()))
}

/// `SRC[:DST[:OPTIONS]]` as nspawn spells it; options `rbind` (default)
/// and `norbind`.
/// `paths` says what the probe found at a host path.
pub fn parse_bind(spec: &str, read_only: bool, paths: &dyn Fn(&Path) -> PathFact) -> Result<Bind> {
    let flag = if read_only { "--bind-ro" } else { "--bind" };
    let mut parts = spec.splitn(3, ':');
    let src = parts.next().unwrap_or_default();
    let dst = parts.next().filter(|d| !d.is_empty()).unwrap_or(src);
    let mut recursive = true;
    let mut idmap = BindIdmap::None;
    if let Some(opts) = parts.next() {
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "rbind" => recursive = true,
                "norbind" => recursive = false,
                "idmap" => idmap = BindIdmap::Idmap,
                "rootidmap" => idmap = BindIdmap::RootIdmap,
                "noidmap" => idmap = BindIdmap::None,
                other => {
                    return Err(Error::Usage(format!(
                        "{flag} {spec}: unknown option '{other}'; use rbind, norbind, idmap, rootidmap or noidmap"
                    )));
                }
            }
        }
    }
    let (src, dst) = (PathBuf::from(src), PathBuf::from(dst));
    if !src.is_absolute() || !dst.is_absolute() {
        return Err(Error::Usage(format!("{flag} {spec}: both paths must be absolute (SRC[:DST])")));
    }
    let source = match paths(&src) {
        PathFact::Found { canonical, .. } => canonical,
        PathFact::Unusable(e) => {
            return Err(Error::Usage(format!("{flag} {spec}: source {} is unusable: {e}", src.display())));
        }
    };
    Ok(Bind { source, target: dst, read_only, recursive, idmap })
}

pub fn parse_tmpfs(spec: &str) -> Result<Tmpfs> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let target = PathBuf::from(path);
    if !target.is_absolute() || target == Path::new("/") {
        return Err(Error::Usage(format!("--tmpfs {spec}: give an absolute guest path other than /")));
    }
    let options = if opts.is_empty() { "mode=0755".to_string() } else { opts.to_string() };
    Ok(Tmpfs { target, options })
}

/// Accepts a UUID with or without dashes; returns the canonical form.
pub fn parse_uuid(u: &str) -> Result<String> {
    let hex: String = u.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || hex.bytes().all(|b| b == b'0') {
        return Err(Error::Usage(format!("--uuid '{u}' is not a valid non-zero UUID (32 hex digits)")));
    }
    let h = hex.to_ascii_lowercase();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert_eq!(parse_uuid("0123456789ABCDEF0123456789abcdef").unwrap(), "01234567-89ab-cdef-0123-456789abcdef");
        assert!(parse_uuid("xyz").is_err());
        assert!(parse_uuid("00000000-0000-0000-0000-000000000000").is_err());
    }

    #[test]
    fn env_and_binds() {
        let found = |p: &str| PathFact::Found { canonical: PathBuf::from(p), is_dir: true };
        let known: std::collections::BTreeMap<PathBuf, PathFact> = [
            ("/tmp".into(), found("/tmp")),
            ("/l".into(), found("/real/l")),
            ("/gone".into(), PathFact::Unusable("No such file or directory".into())),
        ]
        .into();
        let inputs = |p: &Path| known.get(p).cloned().unwrap_or_else(|| PathFact::Unusable("not looked at".into()));
        assert_eq!(parse_env("A_B=c=d").unwrap(), ("A_B".into(), "c=d".into()));
        assert!(parse_env("1A=x").is_err());
        assert!(parse_env("noequals").is_err());
        let b = parse_bind("/tmp:/mnt/x:norbind", true, &inputs).unwrap();
        assert_eq!((b.target.as_path(), b.read_only, b.recursive), (Path::new("/mnt/x"), true, false));
        assert_eq!(parse_bind("/tmp", false, &inputs).unwrap().target, PathBuf::from("/tmp"));
        // The source is the canonical path the probe found.
        assert_eq!(parse_bind("/l:/x", false, &inputs).unwrap().source, PathBuf::from("/real/l"));
        assert!(parse_bind("relative:/x", false, &inputs).is_err());
        assert!(parse_bind("/tmp:/x:idmapx", false, &inputs).is_err());
        let e = parse_bind("/gone", false, &inputs).unwrap_err().to_string();
        assert!(e.contains("source /gone is unusable: No such file"), "{e}");
        assert_eq!(parse_tmpfs("/var/tmp").unwrap().options, "mode=0755");
        assert_eq!(parse_tmpfs("/x:mode=1777,size=1m").unwrap().options, "mode=1777,size=1m");
        assert!(parse_tmpfs("rel").is_err());
    }
}
