//! Registration with systemd-machined (`org.freedesktop.machine1`) on the
//! system bus (`DBUS_SYSTEM_BUS_ADDRESS` when set).
//!
//! berth never creates the scope through machined: the launcher has its
//! scope (from systemd1, see scope.rs, or in cgroupfs) and registers the
//! guest's PID 1 as the leader with `RegisterMachineWithNetwork`; machined
//! finds the unit from the leader's cgroup path. machined without systemd
//! never notices that a machine has gone, so the launcher unregisters on
//! its way out and the watcher (or the next start) removes a registration
//! whose leader is dead. Every call runs in a helper process (bus.rs).

use crate::error::{Error, Result};
use crate::host::bus::{bus_call, call, connect, describe, in_helper, Reply};
use zbus::export::serde;
use zbus::zvariant;

const DEST: &str = "org.freedesktop.machine1";
const PATH: &str = "/org/freedesktop/machine1";
const MANAGER: &str = "org.freedesktop.machine1.Manager";
const MACHINE: &str = "org.freedesktop.machine1.Machine";

/// `--register=`: whether the machine is registered with machined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// Register; machined's absence is an error.
    Yes,
    /// Never talk to machined.
    No,
    /// Register when machined is on the system bus (the default).
    Auto,
}

pub fn parse_register(v: &str) -> std::result::Result<Register, String> {
    if v.eq_ignore_ascii_case("auto") {
        return Ok(Register::Auto);
    }
    match crate::sys::parse_bool(v) {
        Some(true) => Ok(Register::Yes),
        Some(false) => Ok(Register::No),
        None => Err(format!("--register={v} is invalid; use yes, no or auto")),
    }
}

/// What the check before a start found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// machined is on the bus and the name is free (a stale registration
    /// of it was removed).
    Present,
    /// machined is not on the bus (or the bus is not there), and why.
    Absent(String),
}

fn manager<B, R>(c: &zbus::blocking::Connection, method: &str, body: &B) -> zbus::Result<R>
where
    B: serde::Serialize + zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zvariant::Type,
{
    call(c, DEST, PATH, MANAGER, method, body)
}

fn is_no_such_machine(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(n, _, _) if n.as_str() == "org.freedesktop.machine1.NoSuchMachine")
}

/// Whether machined is on the bus: it owns its name, or the bus can start
/// it (a systemd host activates machined on demand).
fn machined_on_bus(c: &zbus::blocking::Connection) -> std::result::Result<(), String> {
    let owned: bool = bus_call(c, "NameHasOwner", &(DEST,)).map_err(|e| describe(&e))?;
    if owned {
        return Ok(());
    }
    // machined is activated through systemd (its bus service file says
    // Exec=/bin/false): without systemd as PID 1 the attempt only costs time.
    if !std::path::Path::new("/run/systemd/system").is_dir() {
        return Err(format!("nothing owns {DEST}, and without systemd as PID 1 it cannot be activated"));
    }
    let activatable: Vec<String> = bus_call(c, "ListActivatableNames", &()).map_err(|e| describe(&e))?;
    if !activatable.iter().any(|n| n == DEST) {
        return Err(format!("nothing owns {DEST}"));
    }
    let _: u32 = bus_call(c, "StartServiceByName", &(DEST, 0u32))
        .map_err(|e| format!("{DEST} is activatable but did not start: {}", describe(&e)))?;
    Ok(())
}

/// Whether a process runs; a zombie (a killed guest's PID 1 waiting for
/// the host's init to reap it) does not.
fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    pid != 0 && !matches!(state, Some('Z') | Some('X') | None)
}

/// The leader of a registered machine, or None when the name is not
/// registered.
fn leader_of(c: &zbus::blocking::Connection, name: &str) -> zbus::Result<Option<u32>> {
    let path: zvariant::OwnedObjectPath = match manager(c, "GetMachine", &(name,)) {
        Ok(p) => p,
        Err(e) if is_no_such_machine(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let v: zvariant::OwnedValue =
        call(c, DEST, path.as_str(), "org.freedesktop.DBus.Properties", "Get", &(MACHINE, "Leader"))?;
    Ok(Some(u32::try_from(v).unwrap_or(0)))
}

/// Before a start, with the machine's name lock held: is machined there
/// (as `mode` wants it), and is the name free? A registration whose leader
/// is dead is removed first.
pub fn prepare(mode: Register, name: &str) -> Result<Presence> {
    if mode == Register::No {
        return Ok(Presence::Absent("--register=no".into()));
    }
    let name_ = name.to_string();
    let reply = in_helper(move || {
        let c = match connect() {
            Ok(c) => c,
            Err(e) => return Reply::Absent(format!("cannot connect to the system bus: {}", describe(&e))),
        };
        if let Err(why) = machined_on_bus(&c) {
            return Reply::Absent(why);
        }
        match leader_of(&c, &name_) {
            Ok(None) => Reply::Ok(String::new()),
            Ok(Some(leader)) if pid_alive(leader) => Reply::Busy(format!(
                "a machine named '{name_}' is already registered with machined (leader PID {leader}); stop it or pick another name with -M"
            )),
            Ok(Some(leader)) => match manager::<_, ()>(&c, "UnregisterMachine", &(name_.as_str(),)) {
                Ok(()) => Reply::Ok(format!("removed the stale registration of '{name_}' (dead leader {leader})")),
                Err(e) => Reply::Failed(format!(
                    "cannot remove machined's stale registration of '{name_}' (dead leader {leader}): {}",
                    describe(&e)
                )),
            },
            Err(e) => Reply::Failed(format!("asking machined about '{name_}': {}", describe(&e))),
        }
    });
    match reply {
        Reply::Ok(note) => {
            if !note.is_empty() {
                tracing::info!("{note}");
            }
            Ok(Presence::Present)
        }
        Reply::Absent(why) if mode == Register::Auto => {
            tracing::info!("not registering with machined: {why}");
            Ok(Presence::Absent(why))
        }
        Reply::Absent(why) => Err(Error::Host(format!(
            "--register=yes, but machined is not on the system bus ({why}); start systemd-machined or use --register=no"
        ))),
        Reply::Busy(m) => Err(Error::Busy(m)),
        Reply::Failed(m) => Err(Error::Setup(m)),
    }
}

/// What machined is told about a machine.
#[derive(Debug, Clone)]
pub struct Machine {
    pub name: String,
    /// The canonical UUID; its 16 bytes are the machine id.
    pub uuid: String,
    pub root: String,
    /// The guest's PID 1, as the host sees it.
    pub leader: u32,
    /// The host-side interfaces of its network (as nspawn passes them).
    pub ifindices: Vec<i32>,
}

pub fn uuid_bytes(uuid: &str) -> Vec<u8> {
    let hex: Vec<u8> = uuid.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return Vec::new();
    }
    hex.chunks(2).filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()).collect()
}

/// `RegisterMachineWithNetwork`, once the leader sits in the machine's scope.
pub fn register(m: &Machine) -> Result<()> {
    let m = m.clone();
    let reply = in_helper(move || {
        let c = match connect() {
            Ok(c) => c,
            Err(e) => return Reply::Failed(format!("cannot connect to the system bus: {}", describe(&e))),
        };
        let body = (
            m.name.as_str(),
            uuid_bytes(&m.uuid),
            "berth",
            "container",
            m.leader,
            m.root.as_str(),
            m.ifindices.clone(),
        );
        match manager::<_, zvariant::OwnedObjectPath>(&c, "RegisterMachineWithNetwork", &body) {
            Ok(_) => Reply::Ok(String::new()),
            Err(e) => Reply::Failed(describe(&e)),
        }
    });
    match reply {
        Reply::Ok(_) => Ok(()),
        Reply::Absent(m) | Reply::Busy(m) | Reply::Failed(m) => {
            Err(Error::Setup(format!("registering the machine with machined: {m}")))
        }
    }
}

/// `UnregisterMachine`; a name machined does not know is not an error.
pub fn unregister(name: &str) -> Result<()> {
    let name = name.to_string();
    let reply = in_helper(move || {
        let c = match connect() {
            Ok(c) => c,
            Err(e) => return Reply::Failed(format!("cannot connect to the system bus: {}", describe(&e))),
        };
        match manager::<_, ()>(&c, "UnregisterMachine", &(name.as_str(),)) {
            Ok(()) => Reply::Ok(String::new()),
            Err(e) if is_no_such_machine(&e) => Reply::Ok(String::new()),
            Err(e) => Reply::Failed(describe(&e)),
        }
    });
    match reply {
        Reply::Ok(_) => Ok(()),
        Reply::Absent(m) | Reply::Busy(m) | Reply::Failed(m) => {
            Err(Error::Setup(format!("unregistering the machine from machined: {m}")))
        }
    }
}

/// Removes the registration of `name` if its leader is dead (after a
/// launcher was killed). Returns whether it removed one.
pub fn unregister_if_dead(name: &str) -> bool {
    let name = name.to_string();
    let reply = in_helper(move || {
        let Ok(c) = connect() else {
            return Reply::Absent(String::new());
        };
        if !matches!(bus_call::<_, bool>(&c, "NameHasOwner", &(DEST,)), Ok(true)) {
            return Reply::Absent(String::new());
        }
        match leader_of(&c, &name) {
            Ok(Some(leader)) if !pid_alive(leader) => {
                match manager::<_, ()>(&c, "UnregisterMachine", &(name.as_str(),)) {
                    Ok(()) => Reply::Ok("removed".into()),
                    Err(e) => Reply::Failed(describe(&e)),
                }
            }
            Ok(_) => Reply::Ok(String::new()),
            Err(e) => Reply::Failed(describe(&e)),
        }
    });
    reply == Reply::Ok("removed".into())
}

/// A machine as machined describes it: its Machine object's properties,
/// as text (Id as the canonical UUID, arrays space-separated).
pub type Properties = std::collections::BTreeMap<String, String>;

fn value_text(v: &zvariant::Value) -> String {
    use zvariant::Value as V;
    match v {
        V::Str(s) => s.to_string(),
        V::ObjectPath(p) => p.to_string(),
        V::U8(n) => n.to_string(),
        V::Bool(b) => b.to_string(),
        V::I16(n) => n.to_string(),
        V::U16(n) => n.to_string(),
        V::I32(n) => n.to_string(),
        V::U32(n) => n.to_string(),
        V::I64(n) => n.to_string(),
        V::U64(n) => n.to_string(),
        V::Value(inner) => value_text(inner),
        V::Array(a) => {
            let items: Vec<&V> = a.iter().collect();
            let bytes: Option<Vec<u8>> = items.iter().map(|i| if let V::U8(b) = i { Some(*b) } else { None }).collect();
            match bytes {
                // The machine id.
                Some(b) if b.len() == 16 => {
                    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
                    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
                }
                _ => items.iter().map(|i| value_text(i)).collect::<Vec<_>>().join(" "),
            }
        }
        other => other.to_string(),
    }
}

fn properties(c: &zbus::blocking::Connection, path: &str) -> zbus::Result<Properties> {
    let all: std::collections::HashMap<String, zvariant::OwnedValue> =
        call(c, DEST, path, "org.freedesktop.DBus.Properties", "GetAll", &(MACHINE,))?;
    Ok(all.into_iter().map(|(k, v)| (k, value_text(&v))).collect())
}

/// Runs a lookup with machined when it is on the bus; `None` when it is
/// not (or the bus is not there), so callers use berth's records alone.
fn lookup<T: serde::Serialize + for<'d> serde::Deserialize<'d>>(
    f: impl FnOnce(&zbus::blocking::Connection) -> zbus::Result<T>,
) -> Option<T> {
    let reply = in_helper(move || {
        let Ok(c) = connect() else { return Reply::Absent(String::new()) };
        if !matches!(bus_call::<_, bool>(&c, "NameHasOwner", &(DEST,)), Ok(true)) {
            return Reply::Absent(String::new());
        }
        match f(&c).map(|v| serde_json::to_string(&v)) {
            Ok(Ok(json)) => Reply::Ok(json),
            Ok(Err(e)) => Reply::Failed(e.to_string()),
            Err(e) => Reply::Failed(describe(&e)),
        }
    });
    match reply {
        Reply::Ok(json) => serde_json::from_str(&json).ok(),
        Reply::Failed(why) => {
            tracing::warn!("asking machined: {why}");
            None
        }
        Reply::Absent(_) | Reply::Busy(_) => None,
    }
}

/// Every machine machined knows (but the host itself), with its
/// properties: ListMachines, then each Machine object. `None` when
/// machined is not on the system bus.
pub fn machines() -> Option<Vec<Properties>> {
    lookup(|c| {
        let listed: Vec<(String, String, String, zvariant::OwnedObjectPath)> = manager(c, "ListMachines", &())?;
        let mut out = Vec::new();
        for (name, _, _, path) in listed.into_iter().filter(|l| l.0 != ".host") {
            match properties(c, path.as_str()) {
                Ok(p) => out.push(p),
                // Gone between the two calls.
                Err(e) if is_no_such_machine(&e) => continue,
                Err(zbus::Error::MethodError(..)) => {
                    tracing::debug!("machined has no properties for {name}");
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })
}

/// GetMachine's properties of `name`; `None` when machined is not on the
/// bus or does not know the name.
pub fn machine(name: &str) -> Option<Properties> {
    let name = name.to_string();
    lookup(move |c| {
        let path: zvariant::OwnedObjectPath = match manager(c, "GetMachine", &(name.as_str(),)) {
            Ok(p) => p,
            Err(e) if is_no_such_machine(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        properties(c, path.as_str()).map(Some)
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_modes() {
        assert_eq!(parse_register("yes"), Ok(Register::Yes));
        assert_eq!(parse_register("no"), Ok(Register::No));
        assert_eq!(parse_register("AUTO"), Ok(Register::Auto));
        assert!(parse_register("maybe").is_err());
    }

    #[test]
    fn ids() {
        let b = uuid_bytes("01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(b.len(), 16);
        assert_eq!((b[0], b[15]), (0x01, 0xef));
        assert!(uuid_bytes("x").is_empty());
    }
}
