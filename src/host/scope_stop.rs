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

/// After a failed start: ends the scope's controller (else systemd's
/// RequestStop would reach the launcher as a SIGTERM), moves the launcher
/// out of the machine's scope (back to `origin`, its cgroup before the
/// scope) and ends the scope, waiting until systemd has collected it.
/// When the launcher cannot move, its watcher does the same once the
/// launcher has exited.
pub fn leave_and_end(
    cgroups: &crate::host::cgroup::Cgroups,
    origin: Option<&std::path::Path>,
    controller: libc::pid_t,
) {
    let pid = nix::unistd::Pid::from_raw(controller);
    if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok() {
        let _ = nix::sys::wait::waitpid(pid, None);
    }
    let Some(origin) = origin else { return };
    let procs = cgroups.hierarchy.join(origin).join("cgroup.procs");
    if let Err(e) = std::fs::write(&procs, std::process::id().to_string()) {
        tracing::debug!("moving the launcher back to {}: {e}", procs.display());
        return;
    }
    if !cgroups.remove(Duration::from_secs(5)) {
        tracing::warn!("{} may still exist; 'berth gc' removes it later", cgroups.unit());
    }
}
