//! Ending a machine's transient scope on a systemd host. systemd owns the
//! scope's cgroup: it must see the scope empty and stop it itself. berth
//! removing the cgroup directory behind its back (as it does with a scope
//! of its own) leaves the unit "active (running)" with no cgroup, and the
//! next start of the same name is refused (UnitExists). So berth empties
//! the scope, removes only its own leaves, asks systemd to stop the unit
//! and waits until systemd has collected it.

use crate::host::bus::{call, connect, describe, in_helper, Reply};
use std::time::{Duration, Instant};
use zbus::zvariant::OwnedObjectPath;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

fn no_such_unit(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(n, _, _) if n.as_str() == "org.freedesktop.systemd1.NoSuchUnit")
}

/// Stops `unit` (whose processes are gone or going) and waits up to
/// `limit` until systemd no longer knows it. Ok once it is gone.
pub fn stop_and_wait(unit: &str, limit: Duration) -> Result<(), String> {
    let unit = unit.to_string();
    let reply = in_helper(move || {
        let c = match connect() {
            Ok(c) => c,
            Err(e) => return Reply::Failed(format!("cannot connect to the system bus: {}", describe(&e))),
        };
        match call::<_, OwnedObjectPath>(&c, DEST, PATH, MANAGER, "StopUnit", &(unit.as_str(), "replace")) {
            Ok(_) => {}
            Err(e) if no_such_unit(&e) => return Reply::Ok(String::new()),
            // Already stopping, or refused: the wait below decides.
            Err(e) => tracing::debug!("stopping {unit}: {}", describe(&e)),
        }
        let deadline = Instant::now() + limit;
        loop {
            match call::<_, OwnedObjectPath>(&c, DEST, PATH, MANAGER, "GetUnit", &(unit.as_str(),)) {
                Err(e) if no_such_unit(&e) => return Reply::Ok(String::new()),
                Err(e) => return Reply::Failed(format!("asking systemd for {unit}: {}", describe(&e))),
                Ok(_) if Instant::now() >= deadline => {
                    return Reply::Failed(format!(
                        "systemd still has {unit} after {}s; see systemctl status {unit}",
                        limit.as_secs()
                    ))
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    match reply {
        Reply::Ok(_) => Ok(()),
        Reply::Failed(m) | Reply::Busy(m) | Reply::Absent(m) => Err(m),
    }
}
