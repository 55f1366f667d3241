//! The machine's unit on a host run by systemd (`org.freedesktop.systemd1`):
//! a transient `machine-NAME.scope` with `Delegate=yes` in `machine.slice`
//! (or `--slice`), holding the launcher, with `--property` limits as typed
//! properties; or, with `--keep-unit`, the properties set on the unit berth
//! runs in.
//!
//! Stopping a scope would signal every process in it, the launcher and the
//! guest alike, which is no clean shutdown. So the scope names a
//! controller: a small `berth-scope` process that made the call and stays
//! on the bus. systemd then sends it `RequestStop` instead of killing, and
//! it asks the launcher to stop exactly as SIGTERM does. That process runs
//! zbus's threads, so it is a child of its own and never forks; it dies
//! with the launcher.

use crate::error::{Error, Result};
use crate::host::bus::{call, connect, describe, in_helper, read_reply, Reply};
use crate::host::property::Property;
use std::io::Write;
use std::time::Duration;
use zbus::zvariant::{OwnedObjectPath, Value};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long systemd may take to start the scope.
const START_LIMIT: Duration = Duration::from_secs(30);

/// Whether systemd runs this host (sd_booted(3)).
pub fn systemd_booted() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// A slice unit name: `NAME.slice` with systemd's unit-name characters.
pub fn validate_slice(slice: &str) -> std::result::Result<(), String> {
    let stem = slice.strip_suffix(".slice").unwrap_or_default();
    let chars_ok = stem.bytes().all(|b| b.is_ascii_alphanumeric() || b":_.\\-".contains(&b));
    let dashes_ok = stem == "-" || !(stem.starts_with('-') || stem.ends_with('-') || stem.contains("--"));
    if stem.is_empty() || !chars_ok || !dashes_ok || slice.len() > 255 {
        return Err(format!(
            "--slice={slice} is not a slice unit name; give NAME.slice, e.g. machine.slice or machine-build.slice"
        ));
    }
    Ok(())
}

/// What the scope is created with.
pub struct ScopeSpec<'a> {
    pub unit: String,
    pub slice: &'a str,
    pub description: String,
    /// systemd waits this long after RequestStop before killing.
    pub stop_timeout: Duration,
    pub properties: &'a [Property],
}

fn typed(props: &[Property]) -> Vec<(&'static str, Value<'static>)> {
    props.iter().map(Property::dbus).collect()
}

/// Creates the scope with the calling launcher in it and waits for
/// systemd's job to finish. The controller process stays behind (outside
/// the scope); its pid is returned.
pub fn start(spec: &ScopeSpec) -> Result<libc::pid_t> {
    let launcher = std::process::id();
    let mut props = vec![
        ("Description", Value::from(spec.description.clone())),
        ("Slice", Value::from(spec.slice.to_string())),
        ("Delegate", Value::from(true)),
        ("PIDs", Value::from(vec![launcher])),
        ("CollectMode", Value::from("inactive-or-failed".to_string())),
        ("TimeoutStopUSec", Value::U64((spec.stop_timeout + Duration::from_secs(5)).as_micros() as u64)),
    ];
    props.extend(typed(spec.properties));
    let unit = spec.unit.clone();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("creating a pipe", e))?;
    // SAFETY: the launcher is single-threaded; the child never returns.
    match unsafe { crate::sys::clone3(0, None, false) }.map_err(|e| Error::sys("starting the scope helper", e))? {
        None => {
            drop(r);
            crate::sys::set_name("berth-scope");
            // SAFETY: plain prctl; the child must not outlive the launcher.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            if nix::unistd::getppid().as_raw() as u32 != launcher {
                // SAFETY: leave at once, the launcher is already gone.
                unsafe { libc::_exit(1) }
            }
            let mut w = std::fs::File::from(w);
            controller(&unit, props, launcher, &mut w);
            // SAFETY: leave without the launcher's destructors.
            unsafe { libc::_exit(0) }
        }
        Some(helper) => {
            drop(w);
            match read_reply(std::fs::File::from(r), START_LIMIT, true) {
                Some(Reply::Ok(_)) => Ok(helper.pid),
                Some(Reply::Failed(m)) | Some(Reply::Busy(m)) | Some(Reply::Absent(m)) => Err(Error::Setup(m)),
                None => Err(Error::Setup(format!(
                    "systemd did not start {unit} within {}s; see journalctl -u {unit}",
                    START_LIMIT.as_secs()
                ))),
            }
        }
    }
}

/// The helper's life: start the scope as its controller, say how that
/// went, then turn every RequestStop into a SIGTERM to the launcher.
fn controller(unit: &str, mut props: Vec<(&'static str, Value<'static>)>, launcher: u32, out: &mut std::fs::File) {
    let mut say = |r: Reply| {
        let _ = out.write_all(format!("{}\n", r.encode()).as_bytes());
    };
    let c = match connect() {
        Ok(c) => c,
        Err(e) => return say(Reply::Failed(format!("cannot connect to the system bus: {}", describe(&e)))),
    };
    let Some(me) = c.unique_name().map(|n| n.to_string()) else {
        return say(Reply::Failed("the system bus gave berth no name".into()));
    };
    props.push(("Controller", Value::from(me)));
    let rule = |m: &str, i: &str| format!("type='signal',interface='{i}',member='{m}'");
    let iter = |m, i| zbus::blocking::MessageIterator::for_match_rule(rule(m, i).as_str(), &c, Some(64));
    let (jobs, stops) = match (iter("JobRemoved", MANAGER), iter("RequestStop", "org.freedesktop.systemd1.Scope")) {
        (Ok(j), Ok(s)) => (j, s),
        (Err(e), _) | (_, Err(e)) => {
            return say(Reply::Failed(format!("watching systemd's signals: {}", describe(&e))))
        }
    };
    let _ = call::<_, ()>(&c, DEST, PATH, MANAGER, "Subscribe", &());
    let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
    let job: OwnedObjectPath = match call(&c, DEST, PATH, MANAGER, "StartTransientUnit", &(unit, "fail", props, aux)) {
        Ok(j) => j,
        Err(e) => return say(Reply::Failed(format!("systemd refused to create {unit}: {}", describe(&e)))),
    };
    for m in jobs {
        let Ok(m) = m else { continue };
        let Ok((_, path, _, result)) = m.body().deserialize::<(u32, OwnedObjectPath, String, String)>() else {
            continue;
        };
        if path != job {
            continue;
        }
        if result != "done" {
            return say(Reply::Failed(format!(
                "systemd's job to start {unit} ended '{result}'; see journalctl -u {unit}"
            )));
        }
        break;
    }
    say(Reply::Ok(String::new()));
    for m in stops {
        if m.is_ok() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(launcher as i32), nix::sys::signal::SIGTERM);
        }
    }
}

/// `--keep-unit` on a systemd host: the limits go on berth's own unit, at
/// runtime, so `systemctl show` reports them.
pub fn set_properties(unit: &str, props: &[Property]) -> Result<()> {
    if props.is_empty() {
        return Ok(());
    }
    let typed = typed(props);
    let unit = unit.to_string();
    let reply = in_helper(move || {
        let c = match connect() {
            Ok(c) => c,
            Err(e) => return Reply::Failed(format!("cannot connect to the system bus: {}", describe(&e))),
        };
        match call::<_, ()>(&c, DEST, PATH, MANAGER, "SetUnitProperties", &(unit.as_str(), true, typed)) {
            Ok(()) => Reply::Ok(String::new()),
            Err(e) => Reply::Failed(format!("systemd refused the properties for {unit}: {}", describe(&e))),
        }
    });
    match reply {
        Reply::Ok(_) => Ok(()),
        Reply::Failed(m) | Reply::Busy(m) | Reply::Absent(m) => Err(Error::Setup(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_names() {
        for ok in ["machine.slice", "machine-build.slice", "-.slice", "a_b:c.slice"] {
            assert!(validate_slice(ok).is_ok(), "{ok}");
        }
        for bad in ["notaslice", ".slice", "a b.slice", "machine.scope", "-x.slice", "a--b.slice", "a/b.slice"] {
            let e = validate_slice(bad).unwrap_err();
            assert!(e.contains("is not a slice unit name"), "{bad}: {e}");
        }
    }
}
