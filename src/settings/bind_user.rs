//! `--bind-user=USER`: a host user's account and home inside the guest,
//! as nspawn does it. The home is bound at /run/host/home/USER with the
//! user's uid and gid shown as one guest id of 60514-60577 (an idmapped
//! mount: nothing on disk changes), and JSON user and group records go to
//! /run/host/userdb/, which the guest's systemd reads (nss-systemd,
//! userdbctl). `-u USER` finds a bound user even in a guest without them.
//! The host's password hash is not handed over: the user logs in with
//! `berth shell -u USER` or a password set inside.

use crate::error::{Error, Result};
use crate::settings::types::{Bind, BindIdmap};
use std::path::{Path, PathBuf};

/// The guest ids nspawn reserves for bound users.
pub const FIRST_ID: u32 = 60514;
pub const LAST_ID: u32 = 60577;
pub const HOME_DIR: &str = "/run/host/home";
pub const USERDB_DIR: &str = "/run/host/userdb";

/// A host account, as the host's /etc/passwd and /etc/group have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub group: String,
    pub real_name: String,
    pub home: PathBuf,
    pub shell: String,
}

/// A host user bound into the guest, with its guest id (uid and gid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundUser {
    pub host: HostUser,
    pub id: u32,
}

/// A file or link name and its content or target.
pub type NamedText = (String, String);

/// What the host knows of each name asked for (`Inputs::probe`).
pub type UserFacts = Vec<(String, std::result::Result<HostUser, String>)>;

/// Reads the host's account files for each name.
pub fn probe(names: &[String]) -> UserFacts {
    if names.is_empty() {
        return Vec::new();
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    names.iter().map(|n| (n.clone(), host_user(&passwd, &group, n))).collect()
}

fn host_user(passwd: &str, group: &str, name: &str) -> std::result::Result<HostUser, String> {
    let line = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == name)
        .ok_or_else(|| "no such user in the host's /etc/passwd".to_string())?;
    let num = |s: &str| s.parse::<u32>().map_err(|_| "its /etc/passwd entry is malformed".to_string());
    let (uid, gid) = (num(line[2])?, num(line[3])?);
    let group_name = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[2].parse::<u32>().ok() == Some(gid))
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| name.to_string());
    let home = PathBuf::from(line[5]);
    if !home.is_dir() {
        return Err(format!("its home {} is not a directory", home.display()));
    }
    Ok(HostUser {
        name: name.to_string(),
        uid,
        gid,
        group: group_name,
        real_name: line[4].split(',').next().unwrap_or_default().to_string(),
        home,
        shell: line[6].to_string(),
    })
}

fn usage(name: &str, why: impl std::fmt::Display) -> Error {
    Error::Usage(format!("--bind-user={name}: {why}"))
}

/// Pure: the users to bind, with their guest ids, from the names asked
/// for and what the host said of them. `userns`: the guest has its own
/// user namespace (the ids need one to be shown as guest ids).
pub fn plan(names: &[String], facts: &UserFacts, userns: bool) -> Result<Vec<BoundUser>> {
    let mut out: Vec<BoundUser> = Vec::new();
    for name in names {
        if !userns {
            return Err(usage(name, "needs the guest's own user namespace; drop -U no"));
        }
        if out.iter().any(|b| &b.host.name == name) {
            continue;
        }
        let fact = facts.iter().find(|(n, _)| n == name).map(|(_, f)| f.clone());
        let host = fact.unwrap_or_else(|| Err("not looked up".into())).map_err(|e| usage(name, e))?;
        if host.uid == 0 || host.gid == 0 {
            return Err(usage(name, "binding root (or a user of group root) is refused; pick an ordinary user"));
        }
        let id = FIRST_ID + out.len() as u32;
        if id > LAST_ID {
            return Err(usage(name, format!("at most {} users can be bound", LAST_ID - FIRST_ID + 1)));
        }
        out.push(BoundUser { host, id });
    }
    Ok(out)
}

impl BoundUser {
    pub fn home(&self) -> PathBuf {
        Path::new(HOME_DIR).join(&self.host.name)
    }

    /// The home, writable, its owner shown as the guest id.
    pub fn bind(&self) -> Bind {
        Bind {
            source: self.host.home.clone(),
            target: self.home(),
            read_only: false,
            recursive: false,
            idmap: BindIdmap::Owner { uid: self.host.uid, gid: self.host.gid, guest: self.id },
        }
    }

    /// The files of /run/host/userdb: (name, content) and (link, target).
    pub fn userdb(&self) -> (Vec<NamedText>, Vec<NamedText>) {
        let h = &self.host;
        let user = serde_json::json!({
            "userName": h.name,
            "uid": self.id,
            "gid": self.id,
            "realName": if h.real_name.is_empty() { &h.name } else { &h.real_name },
            "homeDirectory": self.home(),
            "shell": h.shell,
            "disposition": "regular",
            "service": "berth",
        });
        let group = serde_json::json!({
            "groupName": h.group,
            "gid": self.id,
            "disposition": "regular",
            "service": "berth",
        });
        let files =
            vec![(format!("{}.user", h.name), user.to_string()), (format!("{}.group", h.group), group.to_string())];
        let links = vec![
            (format!("{}.user", self.id), format!("{}.user", h.name)),
            (format!("{}.group", self.id), format!("{}.group", h.group)),
        ];
        (files, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice A,,,:/:/bin/bash\nbob:x:1001:100::/nonexistent-home:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nusers:x:100:\nalice:x:1000:\n";

    fn facts(names: &[&str]) -> (Vec<String>, UserFacts) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let f = names.iter().map(|n| (n.clone(), host_user(PASSWD, GROUP, n))).collect();
        (names, f)
    }

    #[test]
    fn a_user_gets_the_first_guest_id_and_records() {
        let (names, f) = facts(&["alice"]);
        let b = plan(&names, &f, true).unwrap();
        assert_eq!(b[0].id, 60514);
        assert_eq!(b[0].host.group, "alice");
        assert_eq!(b[0].host.real_name, "Alice A");
        assert_eq!(b[0].bind().target, Path::new("/run/host/home/alice"));
        assert_eq!(b[0].bind().idmap, BindIdmap::Owner { uid: 1000, gid: 1000, guest: 60514 });
        let (files, links) = b[0].userdb();
        let user: serde_json::Value = serde_json::from_str(&files[0].1).unwrap();
        assert_eq!(user["uid"], 60514);
        assert_eq!(user["homeDirectory"], "/run/host/home/alice");
        assert_eq!(links[0], ("60514.user".to_string(), "alice.user".to_string()));
    }

    #[test]
    fn refusals_name_the_user_and_the_fix() {
        let (names, f) = facts(&["root"]);
        assert!(plan(&names, &f, true).unwrap_err().to_string().contains("--bind-user=root"));
        let (names, f) = facts(&["bob"]);
        assert!(plan(&names, &f, true).unwrap_err().to_string().contains("not a directory"));
        let (names, f) = facts(&["carol"]);
        assert!(plan(&names, &f, true).unwrap_err().to_string().contains("no such user"));
        let (names, f) = facts(&["alice"]);
        assert!(plan(&names, &f, false).unwrap_err().to_string().contains("-U no"));
        let (names, f) = facts(&["alice", "alice"]);
        assert_eq!(plan(&names, &f, true).unwrap().len(), 1);
    }
}
