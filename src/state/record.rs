//! The typed, versioned record of one running machine under
//! /run/berth/machines/NAME (JSON). The launcher writes it; the management
//! and live verbs, the watcher and `berth gc` read it. It carries the
//! machine's policy, so a process entered into the machine later gets
//! exactly the machine's confinement, never the default one.

use crate::host::cgroup::Cgroups;
use crate::ids::userns::Range;
use crate::security::policy::Policy;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MACHINES_DIR: &str = "/run/berth/machines";

/// Bumped whenever a field changes meaning; a record of another version
/// is not trusted for anything but clean-up.
pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Container,
}

/// How the guest's PID 1 was started: the live verbs treat a booted init
/// (login needs one) and a single command differently.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Boot,
    Run,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    pub name: String,
    pub uuid: String,
    pub class: Class,
    pub kind: Kind,
    pub root: PathBuf,
    /// The launcher's host pid.
    pub launcher: u32,
    /// The guest's PID 1 on the host, once it exists.
    pub leader: Option<u32>,
    /// Microseconds since the epoch.
    pub started_us: u64,
    pub cgroups: Cgroups,
    /// Lock files to remove once nobody holds them.
    pub locks: Vec<PathBuf>,
    /// Host directories the machine writes (overlay layers).
    pub layers: Vec<PathBuf>,
    /// Whether the machine is (to be) registered with machined.
    pub machined: bool,
    /// The guest's id range when it has a user namespace of its own.
    pub ids: Option<Range>,
    pub policy: Policy,
    /// What the machine's network holds on the host (see net/).
    #[serde(default)]
    pub net: crate::net::NetRecord,
}

pub fn record_path(name: &str) -> PathBuf {
    Path::new(MACHINES_DIR).join(name)
}

/// Where a record is written before it is renamed into place.
pub fn temp_path(name: &str) -> PathBuf {
    Path::new(MACHINES_DIR).join(format!(".{name}.tmp"))
}

impl Record {
    /// Writes the record atomically: hidden while incomplete, so only this
    /// machine's own clean-up (or a gc that holds its name lock) ever
    /// removes the temporary file.
    pub fn write(&self) -> std::io::Result<()> {
        fs::create_dir_all(MACHINES_DIR)?;
        let tmp = temp_path(&self.name);
        // One write: serde_json straight into the file made a system call
        // per token (hundreds per record, several records per start).
        let mut text = serde_json::to_vec(self)?;
        text.push(b'\n');
        fs::File::create(&tmp)?.write_all(&text)?;
        fs::rename(&tmp, record_path(&self.name))
    }

    /// The record of `name`, if one of this version is there.
    pub fn read(name: &str) -> Option<Record> {
        let text = fs::read(record_path(name)).ok()?;
        Record::parse(&text)
    }

    pub fn parse(text: &[u8]) -> Option<Record> {
        let r: Record = serde_json::from_slice(text).ok()?;
        (r.version == RECORD_VERSION).then_some(r)
    }

    /// Seconds since the epoch when it started.
    pub fn since(&self) -> u64 {
        self.started_us / 1_000_000
    }
}

pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::cgroup::Owner;

    fn sample() -> Record {
        let mut policy = Policy::default();
        policy.capabilities.retain(|c| *c != caps::Capability::CAP_NET_RAW);
        policy.no_new_privileges = true;
        policy.syscalls.add("~@clock").unwrap();
        policy.rlimits.push(crate::security::policy::parse_rlimit("NOFILE=100:200").unwrap());
        Record {
            version: RECORD_VERSION,
            name: "m".into(),
            uuid: "0123".into(),
            class: Class::Container,
            kind: Kind::Run,
            root: "/srv/m".into(),
            launcher: 10,
            leader: Some(11),
            started_us: 5_000_000,
            cgroups: Cgroups {
                hierarchy: "/sys/fs/cgroup".into(),
                scope: "/sys/fs/cgroup/machine.slice/machine-m.scope".into(),
                owner: Owner::Berth,
                v1: vec!["/sys/fs/cgroup/memory/x/machine-m.scope".into()],
            },
            locks: vec!["/run/systemd/nspawn/locks/machine-m.lock".into()],
            layers: vec![],
            machined: false,
            ids: Some(Range { base: 524288, size: 65536 }),
            policy,
            net: crate::net::NetRecord {
                link: Some("ve-m".into()),
                subnet: Some("10.1.2.16/28".into()),
                lock: Some("/run/berth/net/10.1.2.16-28.lock".into()),
                nft: Some("ve-m".into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn round_trips_with_the_policy() {
        let r = sample();
        let text = serde_json::to_vec(&r).unwrap();
        let back = Record::parse(&text).expect("parses");
        assert_eq!(back.policy.capabilities, r.policy.capabilities);
        assert!(!back.policy.capabilities.contains(&caps::Capability::CAP_NET_RAW));
        assert!(back.policy.no_new_privileges);
        assert_eq!(back.policy.syscalls.deny, vec!["@clock".to_string()]);
        assert_eq!(back.policy.rlimits, r.policy.rlimits);
        assert_eq!(back.ids, r.ids);
        assert_eq!(back.cgroups.v1, r.cgroups.v1);
        assert_eq!(back.since(), 5);
    }

    #[test]
    fn other_versions_and_garbage_are_not_trusted() {
        let mut r = sample();
        r.version = RECORD_VERSION + 1;
        assert!(Record::parse(&serde_json::to_vec(&r).unwrap()).is_none());
        assert!(Record::parse(b"NAME=m\nLAUNCHER=1\n").is_none());
        assert!(Record::parse(b"").is_none());
    }
}
