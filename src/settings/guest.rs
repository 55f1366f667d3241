//! What the host hands the guest's system at boot, as systemd-nspawn
//! does: its journal directory (`--link-journal`), its resolver
//! configuration (`--resolv-conf`), its time zone (`--timezone`) and
//! credentials (`--set-credential`, `--load-credential`). Every decision
//! here is pure: the host's and the tree's facts come from
//! `GuestFacts` (probed in `inputs.rs`); the files are placed by
//! `mount/guestfiles.rs` and the binds join the configuration's binds.

use crate::error::{Error, Result};
use crate::settings::types::{Bind, BindIdmap};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const JOURNAL_DIR: &str = "/var/log/journal";
pub const CREDENTIALS_DIR: &str = "/run/host/credentials";
/// The host files `--resolv-conf=copy-*|replace-*|bind-*` take.
pub const RESOLV_SOURCES: [(&str, &str); 4] = [
    ("host", "/etc/resolv.conf"),
    ("static", "/usr/lib/systemd/resolv.conf"),
    ("uplink", "/run/systemd/resolve/resolv.conf"),
    ("stub", "/run/systemd/resolve/stub-resolv.conf"),
];

/// What exists on the host at /var/log/journal/MACHINE-ID.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostEntry {
    #[default]
    Missing,
    Dir,
    /// A symbolic link, and where it points.
    Link(PathBuf),
    Other,
}

/// The facts the decisions below need, probed before validation.
#[derive(Debug, Clone, Default)]
pub struct GuestFacts {
    /// The tree's /etc/machine-id, when it holds a valid id.
    pub tree_machine_id: Option<String>,
    /// The host keeps a persistent journal (/var/log/journal exists).
    pub host_journal: bool,
    /// /var/log/journal/MACHINE-ID on the host, for the id `machine_id`
    /// gives.
    pub host_entry: HostEntry,
    /// The contents of the `RESOLV_SOURCES` that exist on the host.
    pub resolv: BTreeMap<String, Vec<u8>>,
    /// The host's /etc/localtime: its zone name (when it links into a
    /// zoneinfo directory), its resolved path and contents.
    pub zone: Option<String>,
    pub localtime: Option<(PathBuf, Vec<u8>)>,
    /// The tree has /usr/share/zoneinfo/ZONE for the host's zone.
    pub tree_has_zone: bool,
    /// The tree has an /etc/resolv.conf and an /etc/localtime to bind
    /// onto (a read-only tree gets no new files).
    pub tree_has_resolv: bool,
    pub tree_has_localtime: bool,
    /// `--load-credential` paths and what reading them gave.
    pub credential_files: BTreeMap<PathBuf, std::result::Result<Vec<u8>, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalAction {
    None,
    /// Bind the host's /var/log/journal/ID (created) into the guest.
    Host,
    /// Keep the journal in the tree; link the host's path to it.
    Guest {
        link_to: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvAction {
    Off,
    /// Write these bytes; `replace` also replaces a link or other file.
    Write {
        content: Vec<u8>,
        replace: bool,
    },
    /// Bind this host file read-only onto the guest's /etc/resolv.conf.
    Bind(PathBuf),
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimezoneAction {
    Off,
    Copy(Vec<u8>),
    Bind(PathBuf),
    /// /etc/localtime -> ../usr/share/zoneinfo/ZONE.
    Symlink(String),
    Delete,
}

/// Everything of this module a start carries.
#[derive(Debug, Clone)]
pub struct Guest {
    /// The id the guest's systemd takes, so its journal directory's name.
    pub machine_id: String,
    pub journal: JournalAction,
    pub resolv: ResolvAction,
    pub timezone: TimezoneAction,
    /// Credentials, by id, for /run/host/credentials.
    pub credentials: Vec<(String, Vec<u8>)>,
}

impl Guest {
    /// The host paths bound into the guest: the journal directory (its
    /// owner, root, as the guest's root when `idmap`), and the resolver
    /// and zone files, read-only.
    pub fn binds(&self, idmap: bool) -> Vec<Bind> {
        let mut v = Vec::new();
        if self.journal == JournalAction::Host {
            let p = Path::new(JOURNAL_DIR).join(&self.machine_id);
            let idmap = if idmap { BindIdmap::RootIdmap } else { BindIdmap::None };
            v.push(Bind { source: p.clone(), target: p, read_only: false, recursive: false, idmap });
        }
        let ro = |source: &Path, target: &str| Bind {
            source: source.to_path_buf(),
            target: target.into(),
            read_only: true,
            recursive: false,
            idmap: BindIdmap::None,
        };
        if let ResolvAction::Bind(p) = &self.resolv {
            v.push(ro(p, "/etc/resolv.conf"));
        }
        if let TimezoneAction::Bind(p) = &self.timezone {
            v.push(ro(p, "/etc/localtime"));
        }
        v
    }
}

/// What the caller settled before: the options as typed and the facts.
pub struct Asked<'a> {
    pub link_journal: Option<&'a str>,
    pub resolv_conf: Option<&'a str>,
    pub timezone: Option<&'a str>,
    pub set_credential: &'a [String],
    pub load_credential: &'a [String],
    pub private_network: bool,
    pub read_only: bool,
    pub tree_read_only: bool,
}

impl Guest {
    pub fn new(a: &Asked, f: &GuestFacts, root: &Path, uuid: &str) -> Result<Guest> {
        let machine_id = machine_id(f.tree_machine_id.as_deref(), uuid);
        Ok(Guest {
            journal: journal(a.link_journal.unwrap_or("no"), f, root, &machine_id, a.tree_read_only)?,
            resolv: resolv(a.resolv_conf.unwrap_or("auto"), f, a.private_network, a.read_only)?,
            timezone: timezone(a.timezone.unwrap_or("auto"), f, a.read_only)?,
            credentials: credentials(a.set_credential, a.load_credential, f)?,
            machine_id,
        })
    }
}

/// The guest's systemd keeps a valid /etc/machine-id of the tree and
/// otherwise takes the container's UUID (`container_uuid`).
pub fn machine_id(tree: Option<&str>, uuid: &str) -> String {
    match tree {
        Some(id) => id.to_string(),
        None => uuid.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase(),
    }
}

/// A /etc/machine-id's text, if it holds a usable id.
pub fn parse_machine_id(text: &str) -> Option<String> {
    let t = text.trim();
    (t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) && !t.bytes().all(|b| b == b'0'))
        .then(|| t.to_ascii_lowercase())
}

fn usage(s: String) -> Error {
    Error::Usage(s)
}

/// `--link-journal`, as nspawn defines it: `auto` binds the host's
/// directory when it exists, the try- forms do nothing on a host without
/// a persistent journal.
pub fn journal(mode: &str, f: &GuestFacts, root: &Path, id: &str, tree_ro: bool) -> Result<JournalAction> {
    let host_path = Path::new(JOURNAL_DIR).join(id);
    let link_to = root.join(JOURNAL_DIR.trim_start_matches('/')).join(id);
    let ours = f.host_entry == HostEntry::Link(link_to.clone());
    let (want_host, strict) = match mode {
        "no" => return Ok(JournalAction::None),
        "auto" => {
            return Ok(if f.host_entry == HostEntry::Dir { JournalAction::Host } else { JournalAction::None });
        }
        "host" => (true, true),
        "try-host" => (true, false),
        "guest" => (false, true),
        "try-guest" => (false, false),
        m => {
            return Err(usage(format!(
                "--link-journal={m} is invalid; use no, host, try-host, guest, try-guest or auto"
            )))
        }
    };
    if !f.host_journal {
        if strict {
            return Err(usage(format!(
                "--link-journal={mode}: the host has no {JOURNAL_DIR} (no persistent journal); create it or use try-{mode}"
            )));
        }
        return Ok(JournalAction::None);
    }
    let result = if want_host {
        match f.host_entry {
            HostEntry::Missing | HostEntry::Dir => Ok(JournalAction::Host),
            _ => Err(format!("{} exists and is not a directory", host_path.display())),
        }
    } else if tree_ro {
        Err("the tree is not written (-x, --volatile or --read-only), so its journal would not last".into())
    } else if f.host_entry == HostEntry::Missing || ours {
        Ok(JournalAction::Guest { link_to })
    } else {
        Err(format!("{} exists and is not a link to the tree's journal", host_path.display()))
    };
    match result {
        Ok(a) => Ok(a),
        Err(_) if !strict => Ok(JournalAction::None),
        Err(why) => Err(usage(format!("--link-journal={mode}: {why}; use --link-journal=host or no"))),
    }
}

/// `--resolv-conf`, as nspawn defines it. `auto`: nothing with a private
/// network; else the stub resolver's file when systemd-resolved runs on
/// the host, the host's own file otherwise, bound when the tree is
/// read-only (if it has a file to bind onto) and written (replacing) when
/// not.
pub fn resolv(mode: &str, f: &GuestFacts, private_network: bool, read_only: bool) -> Result<ResolvAction> {
    let mode = match mode {
        "auto" if private_network => return Ok(ResolvAction::Off),
        "auto" if read_only && !f.tree_has_resolv => return Ok(ResolvAction::Off),
        // A host without a resolver file has nothing to hand on.
        "auto" if f.resolv.is_empty() => return Ok(ResolvAction::Off),
        "auto" => {
            let src = if f.resolv.contains_key("stub") { "stub" } else { "host" };
            format!("{}-{src}", if read_only { "bind" } else { "replace" })
        }
        "off" => return Ok(ResolvAction::Off),
        "delete" => return Ok(ResolvAction::Delete),
        m => m.to_string(),
    };
    let bad = || {
        usage(format!(
            "--resolv-conf={mode} is invalid; use off, copy-host, copy-static, copy-uplink, copy-stub, replace-*, bind-*, delete or auto"
        ))
    };
    let (how, what) = mode.split_once('-').ok_or_else(bad)?;
    let (_, path) = RESOLV_SOURCES.iter().find(|(n, _)| *n == what).ok_or_else(bad)?;
    let content = f.resolv.get(what).ok_or_else(|| {
        usage(format!("--resolv-conf={mode}: the host has no {path}; pick another source or --resolv-conf=off"))
    })?;
    match how {
        "copy" => Ok(ResolvAction::Write { content: content.clone(), replace: false }),
        "replace" => Ok(ResolvAction::Write { content: content.clone(), replace: true }),
        "bind" => Ok(ResolvAction::Bind(PathBuf::from(path))),
        _ => Err(bad()),
    }
}

/// `--timezone`, as nspawn defines it. `auto`: bind the host's zone file
/// into a read-only tree (that has an /etc/localtime), otherwise link /etc/localtime to the same zone
/// in the tree (copied when the tree lacks that zone).
pub fn timezone(mode: &str, f: &GuestFacts, read_only: bool) -> Result<TimezoneAction> {
    let missing = || usage(format!("--timezone={mode}: the host has no readable /etc/localtime; use --timezone=off"));
    let copy = || f.localtime.as_ref().map(|(_, c)| TimezoneAction::Copy(c.clone())).ok_or_else(missing);
    let bind = || f.localtime.as_ref().map(|(p, _)| TimezoneAction::Bind(p.clone())).ok_or_else(missing);
    match mode {
        "off" => Ok(TimezoneAction::Off),
        "delete" => Ok(TimezoneAction::Delete),
        "copy" => copy(),
        "bind" => bind(),
        "auto" if f.localtime.is_none() => Ok(TimezoneAction::Off),
        "auto" if read_only && !f.tree_has_localtime => Ok(TimezoneAction::Off),
        "auto" if read_only => bind(),
        "auto" => match &f.zone {
            Some(z) if f.tree_has_zone => Ok(TimezoneAction::Symlink(z.clone())),
            _ => copy(),
        },
        "symlink" => match &f.zone {
            Some(z) if f.tree_has_zone => Ok(TimezoneAction::Symlink(z.clone())),
            Some(z) => Err(usage(format!(
                "--timezone=symlink: the tree has no /usr/share/zoneinfo/{z}; use --timezone=copy or bind"
            ))),
            None => Err(usage(
                "--timezone=symlink: the host's /etc/localtime names no zone; use --timezone=copy or bind".into(),
            )),
        },
        m => Err(usage(format!("--timezone={m} is invalid; use off, copy, bind, symlink, delete or auto"))),
    }
}

/// The zone a /etc/localtime link names (the part after `zoneinfo/`).
pub fn zone_of(link: &Path) -> Option<String> {
    let s = link.to_str()?;
    let (_, zone) = s.split_once("zoneinfo/")?;
    (!zone.is_empty() && !zone.split('/').any(|c| c.is_empty() || c == "..")).then(|| zone.to_string())
}

/// A credential's id: a file name, as systemd requires.
fn check_id(flag: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 255 || id.contains('/') || id == "." || id == ".." {
        return Err(usage(format!(
            "--{flag}: '{id}' is not a valid credential id; use a file name such as passwd.plaintext-password.root"
        )));
    }
    Ok(())
}

/// The credentials, by id (each id once), in the order given.
pub fn credentials(set: &[String], load: &[String], f: &GuestFacts) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |flag: &str, id: &str, v: Vec<u8>| {
        check_id(flag, id)?;
        if out.iter().any(|(i, _)| i == id) {
            return Err(usage(format!("--{flag}: credential '{id}' is given twice; give each id once")));
        }
        out.push((id.to_string(), v));
        Ok(())
    };
    for spec in set {
        let (id, value) =
            spec.split_once(':').ok_or_else(|| usage(format!("--set-credential={spec} is invalid; give ID:VALUE")))?;
        add("set-credential", id, value.as_bytes().to_vec())?;
    }
    for spec in load {
        let (id, path) = load_spec(spec)?;
        let content = match f.credential_files.get(&path) {
            Some(Ok(c)) => c.clone(),
            Some(Err(e)) => {
                return Err(usage(format!("--load-credential={spec}: cannot read {}: {e}", path.display())))
            }
            None => return Err(usage(format!("--load-credential={spec}: {} was not read", path.display()))),
        };
        add("load-credential", id, content)?;
    }
    Ok(out)
}

/// `ID:PATH` of `--load-credential`; the path as the host names it.
pub fn load_spec(spec: &str) -> Result<(&str, PathBuf)> {
    match spec.split_once(':') {
        Some((id, p)) if !p.is_empty() => Ok((id, PathBuf::from(p))),
        _ => Err(usage(format!("--load-credential={spec} is invalid; give ID:PATH"))),
    }
}

#[cfg(test)]
mod tests;
