//! The systemd1 side of `berth start|stop|enable|disable`: what systemd
//! knows of `berth@NAME.service`, a start or stop job waited for until
//! systemd removes it, and the unit's install links. Every call runs in a
//! helper process (bus.rs); what it found comes back as one `Outcome`.

use crate::host::bus::{call, describe, in_helper_within, Reply};
use std::time::Duration;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
/// How long berth waits for a job; systemd's own start and stop timeouts
/// (90 s by default) end it well before.
const JOB_LIMIT: Duration = Duration::from_secs(600);
/// How long one call may take: `Reload` returns once systemd has reloaded
/// every unit, which takes seconds on a slow machine.
const CALL_LIMIT: Duration = Duration::from_secs(120);

/// What a helper found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The unit's file is not there (LoadState=not-found).
    NoUnit,
    /// The unit is loaded, in this ActiveState.
    State(String),
    /// The job ended with this result ("done" when it worked).
    Job(String),
    /// The install links made or removed: (type, file, destination).
    Changes(Vec<(String, String, String)>),
}

impl Outcome {
    /// As one line (a change's parts never hold a tab or a newline: they
    /// are paths systemd made from unit names).
    pub fn encode(&self) -> String {
        match self {
            Outcome::NoUnit => "N".into(),
            Outcome::State(s) => format!("S{s}"),
            Outcome::Job(r) => format!("J{r}"),
            Outcome::Changes(cs) => {
                let parts: Vec<String> = cs.iter().map(|(t, f, d)| format!("{t}\t{f}\t{d}")).collect();
                format!("C{}", parts.join("\t"))
            }
        }
    }

    pub fn decode(s: &str) -> Option<Outcome> {
        let (tag, rest) = (s.chars().next()?, s.get(1..)?);
        Some(match tag {
            'N' => Outcome::NoUnit,
            'S' => Outcome::State(rest.into()),
            'J' => Outcome::Job(rest.into()),
            'C' => {
                let f: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('\t').collect() };
                if !f.len().is_multiple_of(3) {
                    return None;
                }
                Outcome::Changes(f.chunks(3).map(|c| (c[0].into(), c[1].into(), c[2].into())).collect())
            }
            _ => return None,
        })
    }
}

/// The helper's outcome, or the bus's failure as text.
fn outcome(r: Reply) -> Result<Outcome, String> {
    match r {
        Reply::Ok(s) => Outcome::decode(&s).ok_or_else(|| format!("the D-Bus helper answered '{s}'")),
        Reply::Failed(m) | Reply::Busy(m) | Reply::Absent(m) => Err(m),
    }
}

fn helper(f: impl FnOnce(&zbus::blocking::Connection) -> zbus::Result<Outcome>) -> Result<Outcome, String> {
    let connect = || zbus::blocking::connection::Builder::system()?.method_timeout(CALL_LIMIT).build();
    let work = move || match connect() {
        Err(e) => Reply::Failed(format!("cannot connect to the system bus: {}", describe(&e))),
        Ok(c) => match f(&c) {
            Ok(o) => Reply::Ok(o.encode()),
            Err(e) => Reply::Failed(format!("systemd: {}", describe(&e))),
        },
    };
    outcome(in_helper_within(JOB_LIMIT, work))
}

fn unit_property(c: &zbus::blocking::Connection, path: &str, name: &str) -> zbus::Result<String> {
    let v: OwnedValue = call(c, DEST, path, "org.freedesktop.DBus.Properties", "Get", &(UNIT, name))?;
    Ok(String::try_from(v).unwrap_or_default())
}

/// Whether `unit`'s file is there, and its ActiveState.
pub fn probe(unit: &str) -> Result<Outcome, String> {
    let unit = unit.to_string();
    helper(move |c| {
        let path: OwnedObjectPath = call(c, DEST, PATH, MANAGER, "LoadUnit", &(unit.as_str(),))?;
        if unit_property(c, path.as_str(), "LoadState")? == "not-found" {
            return Ok(Outcome::NoUnit);
        }
        Ok(Outcome::State(unit_property(c, path.as_str(), "ActiveState")?))
    })
}

/// `StartUnit` or `StopUnit` (`method`) of `unit` in mode "replace", and
/// the result of its job once systemd removes it.
pub fn job(method: &'static str, unit: &str) -> Result<Outcome, String> {
    let unit = unit.to_string();
    helper(move |c| {
        // Watch before asking, so a job that ends at once is not missed.
        let rule = format!("type='signal',sender='{DEST}',interface='{MANAGER}',member='JobRemoved'");
        let removed = zbus::blocking::MessageIterator::for_match_rule(rule.as_str(), c, Some(64))?;
        call::<_, ()>(c, DEST, PATH, MANAGER, "Subscribe", &())?;
        let job: OwnedObjectPath = call(c, DEST, PATH, MANAGER, method, &(unit.as_str(), "replace"))?;
        for m in removed {
            let m = m?;
            let Ok((_, path, _, result)) = m.body().deserialize::<(u32, OwnedObjectPath, String, String)>() else {
                continue;
            };
            if path == job {
                return Ok(Outcome::Job(result));
            }
        }
        Err(zbus::Error::Failure("the system bus closed before the job ended".into()))
    })
}

/// `EnableUnitFiles` (or `DisableUnitFiles`) of `units`, then `Reload`,
/// as `systemctl enable` does.
pub fn install(enable: bool, units: Vec<String>) -> Result<Outcome, String> {
    helper(move |c| {
        let changes: Vec<(String, String, String)> = if enable {
            let (_, ch): (bool, Vec<(String, String, String)>) =
                call(c, DEST, PATH, MANAGER, "EnableUnitFiles", &(&units, false, false))?;
            ch
        } else {
            call(c, DEST, PATH, MANAGER, "DisableUnitFiles", &(&units, false))?
        };
        call::<_, ()>(c, DEST, PATH, MANAGER, "Reload", &())?;
        Ok(Outcome::Changes(changes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        let ch = |t: &str, f: &str, d: &str| (t.to_string(), f.to_string(), d.to_string());
        for o in [
            Outcome::NoUnit,
            Outcome::State("active".into()),
            Outcome::State(String::new()),
            Outcome::Job("done".into()),
            Outcome::Changes(Vec::new()),
            Outcome::Changes(vec![
                ch("symlink", "/etc/systemd/system/machines.target.wants/berth@a.service", "/etc/x"),
                ch("unlink", "/etc/y", ""),
            ]),
        ] {
            assert_eq!(Outcome::decode(&o.encode()), Some(o));
        }
        assert_eq!(Outcome::decode(""), None);
        assert_eq!(Outcome::decode("Ca\tb"), None);
        assert_eq!(Outcome::decode("X"), None);
    }
}
