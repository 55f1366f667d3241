//! The management verbs for running machines (list, status, show,
//! poweroff, reboot, terminate, kill), from berth's own runtime records:
//! they work with or without systemd and machined. When machined is on the
//! system bus, `list`, `status` and `show` also show the machines it knows
//! that berth did not start (systemd-nspawn's, say), and what it says about
//! berth's own; the verbs that act stay with berth's records.

use crate::error::{Error, Result};
use crate::state::record::{Record, MACHINES_DIR};
use crate::{state::lock, sys, sys::osrelease, sys::signal};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// One running machine: berth's own record of it, what machined says of
/// it, or both.
#[derive(Debug, Clone)]
pub struct Machine {
    pub name: String,
    /// berth's record, for the machines berth started.
    pub record: Option<Record>,
    /// machined's properties by their D-Bus names, when it knows the machine.
    pub registered: BTreeMap<String, String>,
    /// The machine's cgroup when only machined knows it (from its leader).
    cgroup: Option<PathBuf>,
}

impl Machine {
    /// machined's property, "" when unknown or zero.
    fn reg(&self, k: &str) -> &str {
        match self.registered.get(k).map(String::as_str) {
            Some("0") | None => "",
            Some(v) => v,
        }
    }

    pub fn leader(&self) -> Option<i32> {
        match &self.record {
            Some(r) => r.leader.map(|l| l as i32),
            None => self.reg("Leader").parse().ok(),
        }
    }

    pub fn class(&self) -> &str {
        match &self.record {
            Some(_) => "container",
            None => self.reg("Class"),
        }
    }

    pub fn uuid(&self) -> String {
        match &self.record {
            Some(r) => r.uuid.clone(),
            None => self.reg("Id").to_string(),
        }
    }

    pub fn root(&self) -> PathBuf {
        match &self.record {
            Some(r) => r.root.clone(),
            None => PathBuf::from(self.reg("RootDirectory")),
        }
    }

    /// The machine's scope (or unit) cgroup.
    pub fn scope(&self) -> Option<PathBuf> {
        match &self.record {
            Some(r) => Some(r.cgroups.scope.clone()),
            None => self.cgroup.clone(),
        }
    }

    /// The cgroup the guest's processes live in: berth's payload/, or the
    /// whole scope of a machine another manager started.
    pub fn guest_cgroup(&self) -> Option<PathBuf> {
        let scope = self.scope()?;
        let payload = scope.join("payload");
        Some(if payload.is_dir() { payload } else { scope })
    }

    /// machined's state when it knows the machine, else running.
    fn state(&self) -> &str {
        match self.reg("State") {
            "" => "running",
            s => s,
        }
    }

    fn service(&self) -> &str {
        match self.reg("Service") {
            "" => "berth",
            s => s,
        }
    }

    fn unit(&self) -> String {
        match self.reg("Unit") {
            "" => {
                self.scope().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default()
            }
            u => u.into(),
        }
    }

    /// Microseconds since the epoch when it started.
    fn started_us(&self) -> Option<u64> {
        match &self.record {
            Some(r) => Some(r.started_us),
            None => self.reg("Timestamp").parse().ok(),
        }
    }

    /// The guest's os-release, read through its root without following
    /// symlinks out of it.
    pub fn os_release(&self) -> BTreeMap<String, String> {
        let Ok(root) = fs::File::open(self.root()) else { return BTreeMap::new() };
        for p in ["/etc/os-release", "/usr/lib/os-release"] {
            if let Ok(fd) = sys::open_in_root(&root, Path::new(p), libc::O_RDONLY, 0) {
                if let Ok(text) = std::io::read_to_string(fs::File::from(fd)) {
                    return osrelease::parse(&text);
                }
            }
        }
        BTreeMap::new()
    }

    pub fn os(&self) -> String {
        let os = self.os_release();
        os.get("PRETTY_NAME").or_else(|| os.get("ID")).cloned().unwrap_or_else(|| "-".into())
    }

    /// Seconds since the epoch when it started.
    pub fn since(&self) -> Option<u64> {
        self.started_us().map(|us| us / 1_000_000)
    }

    /// Host pids in the guest's cgroup, with their command lines.
    pub fn processes(&self) -> Vec<(i32, String)> {
        let mut out = Vec::new();
        if let Some(dir) = self.guest_cgroup() {
            collect_procs(&dir, &mut out);
        }
        out.sort();
        out
    }

    /// The record of a machine berth started; the verbs that act need it.
    pub fn own(&self) -> Result<&Record> {
        self.record.as_ref().ok_or_else(|| not_berths(&self.name, self.service()))
    }

    /// The guest's addresses, read from its network namespace.
    pub fn addresses(&self) -> Vec<String> {
        self.leader().map(crate::net::guest_addresses).unwrap_or_default().iter().map(|a| a.to_string()).collect()
    }

    pub fn to_json(&self) -> Value {
        let ids = self.record.as_ref().and_then(|r| r.ids);
        json!({
            "name": self.name,
            "class": self.class(),
            "state": self.state(),
            "service": self.service(),
            "leader": self.leader(),
            "os": self.os(),
            "addresses": self.addresses(),
            "since": self.since(),
            "root": self.root(),
            "uuid": self.uuid(),
            "launcher": self.record.as_ref().map(|r| r.launcher),
            "cgroup": self.scope(),
            "uid_base": ids.map(|r| r.base),
            "uid_size": ids.map(|r| r.size),
        })
    }
}

fn collect_procs(dir: &Path, out: &mut Vec<(i32, String)>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in text.lines().filter_map(|l| l.parse::<i32>().ok()) {
            let cmd = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
                .unwrap_or_default();
            out.push((pid, cmd));
        }
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_procs(&e.path(), out);
        }
    }
}

/// Whether the launcher of `name` is alive: it holds the name lock.
fn is_running(name: &str) -> bool {
    matches!(lock::lock_name(name), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Every running machine berth started, sorted by name.
pub fn records() -> Vec<Machine> {
    let mut v: Vec<Machine> = fs::read_dir(MACHINES_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !is_running(&name) {
                return None;
            }
            let record = Some(Record::read(&name)?);
            Some(Machine { name, record, registered: BTreeMap::new(), cgroup: None })
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// A machine berth started, for the verbs that act on it.
pub fn find(name: &str) -> Result<Machine> {
    crate::settings::name::validate(name)?;
    if let Some(m) = records().into_iter().find(|m| m.name == name) {
        return Ok(m);
    }
    // Say so when the name is another manager's machine.
    match crate::host::machined::machine(name) {
        Some(p) => Err(not_berths(name, p.get("Service").map(String::as_str).unwrap_or("unknown"))),
        None => Err(not_running(name)),
    }
}

/// Whether the guest has switched to its own root: until then its
/// leader's root is the host's, and nothing may enter it.
pub fn has_own_root(leader: i32) -> bool {
    let id = |p: &str| {
        fs::metadata(p).map(|m| (std::os::unix::fs::MetadataExt::dev(&m), std::os::unix::fs::MetadataExt::ino(&m)))
    };
    matches!((id(&format!("/proc/{leader}/root")), id("/")), (Ok(a), Ok(b)) if a != b)
}

/// A machine berth started, once it has a leader in its own root, for
/// the verbs that enter it; a machine just starting is waited for briefly.
pub fn started(name: &str) -> Result<Machine> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let m = find(name)?;
        if m.leader().is_some_and(has_own_root) {
            return Ok(m);
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::Machine(format!("machine {name} is still starting up; try again in a moment")));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A machine another manager started: berth acts only on its own.
fn not_berths(name: &str, service: &str) -> Error {
    Error::Machine(format!(
        "machine {name} was not started by berth (machined lists it from service {service}); berth acts only on its own machines"
    ))
}

fn not_running(name: &str) -> Error {
    Error::Machine(format!("no machine named '{name}' is running; 'berth list' shows the running ones"))
}

/// Every running machine: berth's records merged with machined's list
/// when machined is on the bus, sorted by name.
pub fn list() -> Vec<Machine> {
    merge(records(), crate::host::machined::machines().unwrap_or_default())
}

/// A running machine by name, for `status` and `show`: berth's record
/// completed by GetMachine, or machined's description alone.
pub fn lookup(name: &str) -> Result<Machine> {
    crate::settings::name::validate(name)?;
    let own = records().into_iter().filter(|m| m.name == name).collect();
    let known = crate::host::machined::machine(name).into_iter().collect();
    merge(own, known).into_iter().find(|m| m.name == name).ok_or_else(|| not_running(name))
}

/// machined's property names and the record keys they fill.
pub fn merge(mut own: Vec<Machine>, machined: Vec<crate::host::machined::Properties>) -> Vec<Machine> {
    for props in machined {
        let Some(name) = props.get("Name").filter(|n| !n.is_empty()).cloned() else { continue };
        let idx = match own.iter().position(|m| m.name == name) {
            Some(i) => i,
            None => {
                own.push(Machine { name, record: None, registered: BTreeMap::new(), cgroup: None });
                own.len() - 1
            }
        };
        let m = &mut own[idx];
        m.registered = props;
        if m.record.is_none() {
            m.cgroup = m.leader().and_then(|l| leader_scope(l, m.reg("Unit")));
        }
    }
    own.sort_by(|a, b| a.name.cmp(&b.name));
    own
}

fn leader_scope(leader: i32, unit: &str) -> Option<PathBuf> {
    let rel = crate::host::cgroup::own_path(&leader.to_string())?;
    let mut p = crate::host::cgroup::hierarchy().ok()?;
    for c in rel.components() {
        p.push(c);
        if !unit.is_empty() && c.as_os_str() == unit {
            break;
        }
    }
    Some(p)
}

/// Who receives a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whom {
    Leader,
    All,
}

pub fn parse_whom(s: &str) -> Result<Whom> {
    match s {
        "leader" => Ok(Whom::Leader),
        "all" => Ok(Whom::All),
        _ => Err(Error::Usage(format!("--kill-whom={s} is invalid; use leader or all"))),
    }
}

pub fn kill(m: &Machine, sig: i32, whom: Whom) -> Result<()> {
    let send = |pid: i32| {
        // SAFETY: plain kill(2).
        if unsafe { libc::kill(pid, sig) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(Error::sys(format!("sending {} to pid {pid} of machine {}", signal::name(sig), m.name), e));
            }
        }
        Ok(())
    };
    match whom {
        Whom::Leader => send(m.leader().ok_or_else(|| Error::Setup(format!("machine {} has no leader yet", m.name)))?),
        Whom::All => m.processes().into_iter().try_for_each(|(pid, _)| send(pid)),
    }
}

/// `terminate`: kill every process of the guest at once (no clean
/// shutdown), as machinectl's does; the launcher then exits and cleans up.
pub fn terminate(m: &Machine) -> Result<()> {
    let payload = m.own()?.cgroups.payload();
    if fs::write(payload.join("cgroup.kill"), "1").is_ok() {
        return Ok(());
    }
    kill(m, libc::SIGKILL, Whom::All)
}

/// Freezes or thaws the guest through cgroup.freeze on payload/ (the
/// launcher, in supervisor/, keeps running), and waits until the kernel
/// reports the new state.
pub fn freeze(m: &Machine, frozen: bool) -> Result<()> {
    let payload = m.own()?.cgroups.payload();
    let what = if frozen { "freezing" } else { "thawing" };
    fs::write(payload.join("cgroup.freeze"), if frozen { "1" } else { "0" }).map_err(|e| {
        Error::sys(format!("{what} machine {} through {}", m.name, payload.join("cgroup.freeze").display()), e)
    })?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let events = fs::read_to_string(payload.join("cgroup.events")).unwrap_or_default();
        if events.lines().any(|l| l == want) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::Setup(format!("machine {} did not finish {what} within 5 s", m.name)));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn fmt_since(secs: Option<u64>) -> String {
    let Some(s) = secs else { return "-".into() };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(s);
    let ago = now.saturating_sub(s);
    match ago {
        0..=59 => format!("{ago}s ago"),
        60..=3599 => format!("{}min ago", ago / 60),
        3600..=86399 => format!("{}h ago", ago / 3600),
        _ => format!("{}d ago", ago / 86400),
    }
}

/// The table `berth list` prints for people.
pub fn table(ms: &[Machine]) -> String {
    let rows: Vec<[String; 7]> = ms
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                m.class().to_string(),
                m.state().into(),
                m.leader().map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                m.os(),
                fmt_since(m.since()),
                m.addresses().join(" "),
            ]
        })
        .collect();
    let head = ["MACHINE", "CLASS", "STATE", "LEADER", "OS", "SINCE", "ADDRESSES"];
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = w[i])).collect::<Vec<_>>().join("  ")
    };
    let mut out = line(head.to_vec()).trim_end().to_string() + "\n";
    for r in &rows {
        out += line(r.iter().map(String::as_str).collect()).trim_end();
        out.push('\n');
    }
    out += &format!("\n{} machine{} listed.\n", rows.len(), if rows.len() == 1 { "" } else { "s" });
    out
}

/// `berth status NAME` for people.
pub fn status(m: &Machine) -> String {
    let mut s = format!("{} ({})\n", m.name, m.uuid());
    s += &format!("           Since: {}\n", fmt_since(m.since()));
    s += &format!("           State: {}\n", m.state());
    s += &format!("         Service: {}\n", m.service());
    s += &format!("          Leader: {}\n", m.leader().map(|p| p.to_string()).unwrap_or_else(|| "-".into()));
    s += &format!("           Class: {}\n", m.class());
    s += &format!("       Root path: {}\n", m.root().display());
    s += &format!("              OS: {}\n", m.os());
    let addrs = m.addresses();
    if !addrs.is_empty() {
        s += &format!("         Address: {}\n", addrs.join("\n                  "));
    }
    if let Some(r) = m.record.as_ref().and_then(|r| r.ids) {
        s += &format!("        ID range: {}:{}\n", r.base, r.size);
    }
    s += &format!("          Cgroup: {}\n", m.scope().map(|p| p.display().to_string()).unwrap_or_default());
    let read = |f: &str| m.guest_cgroup().and_then(|d| fs::read_to_string(d.join(f)).ok());
    if let Some(cpu) = read("cpu.stat")
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("usage_usec ").and_then(|v| v.trim().parse::<u64>().ok())))
    {
        s += &format!("             CPU: {:.3}s\n", cpu as f64 / 1e6);
    }
    if let Some(mem) = read("memory.current").and_then(|t| t.trim().parse::<u64>().ok()) {
        s += &format!("          Memory: {:.1}M\n", mem as f64 / 1048576.0);
    }
    let procs = m.processes();
    s += &format!("           Tasks: {}\n", procs.len());
    for (pid, cmd) in procs {
        s += &format!("             {pid} {cmd}\n");
    }
    s
}

/// `berth show NAME`: properties as key=value.
pub fn show(m: &Machine) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut props: Vec<(&str, String)> = vec![
        ("Name", m.name.clone()),
        ("Id", m.uuid().replace('-', "")),
        ("Class", m.class().into()),
        ("Service", m.service().into()),
        ("State", m.state().into()),
        ("Leader", opt(m.leader().map(|l| l.to_string()))),
        ("RootDirectory", m.root().display().to_string()),
        ("Unit", m.unit()),
        ("Timestamp", opt(m.started_us().map(|t| t.to_string()))),
        ("Launcher", opt(m.record.as_ref().map(|r| r.launcher.to_string()))),
        ("ControlGroup", opt(m.scope().map(|p| p.display().to_string()))),
        ("Addresses", m.addresses().join(" ")),
    ];
    if let Some(r) = m.record.as_ref().and_then(|r| r.ids) {
        props.push(("UIDShift", r.base.to_string()));
        props.push(("UIDRange", r.size.to_string()));
    }
    props.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Machine {
        let props =
            [("Name", "a"), ("Class", "container"), ("Leader", "42"), ("Id", "01234567"), ("Unit", "machine-a.scope")];
        let registered = props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        merge(Vec::new(), vec![registered]).remove(0)
    }

    #[test]
    fn formats() {
        let t = table(&[m()]);
        assert!(t.starts_with("MACHINE  CLASS      STATE    LEADER  OS  SINCE  ADDRESSES\n"), "{t}");
        assert!(t.contains("a        container  running  42      -   -"), "{t}");
        assert!(t.ends_with("1 machine listed.\n"));
        let s = show(&m());
        assert!(
            s.contains("Unit=machine-a.scope\n") && s.contains("Id=01234567\n") && s.contains("Leader=42\n"),
            "{s}"
        );
        assert_eq!(m().to_json()["leader"], 42);
        assert_eq!(parse_whom("all").unwrap(), Whom::All);
        assert!(parse_whom("everyone").is_err());
        assert_eq!(fmt_since(None), "-");
    }
}
