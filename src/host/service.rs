//! `berth start|stop|enable|disable NAME...`: machines as systemd services.
//! Each drives `berth@NAME.service` (units/berth@.service) through systemd's
//! manager on the system bus, the way machinectl drives
//! systemd-nspawn@.service: a start or stop job waited for until it ends,
//! or the unit's install links (enable also enables machines.target, which
//! starts the enabled machines at boot). Checked first, each with its own
//! line: the name, the image (start, enable), systemd as PID 1, the unit.

use crate::host::service_bus::{self, Outcome};
use crate::image::{ImageError, Store};
use thiserror::Error;

/// The template every machine service is an instance of.
pub const TEMPLATE: &str = "berth@.service";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Enable,
    Disable,
}

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("berth {verb} drives berth@{name}.service, which needs systemd as the host's PID 1, and this host has none; {fix}")]
    NoSystemd { verb: &'static str, name: String, fix: String },
    #[error("{TEMPLATE} is not installed; install it with 'install -m 0644 units/{TEMPLATE} /etc/systemd/system/' and run 'systemctl daemon-reload'")]
    NoUnit,
    #[error("machine {name} is not running as berth@{name}.service (it is {state}); nothing to stop")]
    NotRunning { name: String, state: String },
    #[error("machine {name} runs outside berth@{name}.service (started by hand); {fix}")]
    Outside { name: String, fix: String },
    #[error("the job to {verb} {unit} ended '{result}'; see 'systemctl status {unit}' and 'journalctl -u {unit}'")]
    Job { verb: &'static str, unit: String, result: String },
    #[error("{what}: {detail}")]
    Bus { what: String, detail: String },
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Enable => "enable",
            Verb::Disable => "disable",
        }
    }

    /// Whether the verb needs the image in the store.
    fn needs_image(self) -> bool {
        matches!(self, Verb::Start | Verb::Enable)
    }

    /// What to do instead on a host without systemd.
    fn without_systemd(self, name: &str) -> String {
        match self {
            Verb::Start => format!("boot the machine directly with 'berth boot {name}'"),
            Verb::Stop => format!("stop a machine started with 'berth boot' by 'berth poweroff {name}'"),
            Verb::Enable | Verb::Disable => {
                format!("have the host's init run 'berth boot {name}' at boot instead")
            }
        }
    }
}

/// `berth@NAME.service`. Machine names hold only letters, digits, `-` and
/// `.`, which a unit's instance takes as they are (as `%i`).
pub fn unit_name(name: &str) -> String {
    format!("berth@{name}.service")
}

/// Whether a unit in this ActiveState has a machine to stop.
fn is_up(state: &str) -> bool {
    matches!(state, "active" | "activating" | "reloading" | "refreshing")
}

/// The install changes as systemctl prints them.
pub fn describe_changes(changes: &[(String, String, String)]) -> String {
    changes
        .iter()
        .map(|(kind, file, dest)| match kind.as_str() {
            "symlink" => format!("Created symlink {file} \u{2192} {dest}.\n"),
            "unlink" => format!("Removed \"{file}\".\n"),
            _ => format!("{kind} {file} {dest}\n"),
        })
        .collect()
}

/// Whether systemd runs this host (sd_booted(3)).
fn systemd_booted() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// Runs the verb for every name; what it printed on success.
/// `by_hand(NAME)` says whether berth runs a machine NAME (its record).
pub fn run(verb: Verb, names: &[String], by_hand: impl Fn(&str) -> bool) -> Result<String, ServiceError> {
    let store = Store::new(None);
    for name in names {
        crate::image::validate_name(name)?;
        if verb.needs_image() {
            store.find(name)?;
        }
    }
    if !systemd_booted() {
        let name = names.first().map(String::as_str).unwrap_or("NAME");
        return Err(ServiceError::NoSystemd {
            verb: verb.as_str(),
            name: name.into(),
            fix: verb.without_systemd(name),
        });
    }
    let bus = |what: String| move |detail| ServiceError::Bus { what, detail };
    let mut states = Vec::new();
    for name in names {
        let unit = unit_name(name);
        match service_bus::probe(&unit).map_err(bus(format!("asking systemd about {unit}")))? {
            Outcome::State(s) => states.push(s),
            _ => return Err(ServiceError::NoUnit),
        }
    }
    match verb {
        Verb::Start | Verb::Stop => {
            for (name, state) in names.iter().zip(states) {
                job(verb, name, &state, &by_hand)?;
            }
            Ok(String::new())
        }
        Verb::Enable | Verb::Disable => {
            let mut units: Vec<String> = names.iter().map(|n| unit_name(n)).collect();
            if verb == Verb::Enable {
                units.push("machines.target".into());
            }
            let what = format!("{} {}", if verb == Verb::Enable { "enabling" } else { "disabling" }, units.join(" "));
            match service_bus::install(verb == Verb::Enable, units).map_err(bus(what.clone()))? {
                Outcome::Changes(c) => Ok(describe_changes(&c)),
                o => Err(bus(what)(format!("unexpected answer {o:?}"))),
            }
        }
    }
}

/// A start or stop of one machine's unit, in ActiveState `state` now.
fn job(verb: Verb, name: &str, state: &str, by_hand: &dyn Fn(&str) -> bool) -> Result<(), ServiceError> {
    let unit = unit_name(name);
    // A machine of this name that berth runs while its unit is down was
    // started by hand: the unit cannot start it, and stopping the unit
    // would not stop it.
    let by_hand = || !is_up(state) && by_hand(name);
    match verb {
        Verb::Stop if by_hand() => {
            return Err(ServiceError::Outside {
                name: name.into(),
                fix: format!("stop it with 'berth poweroff {name}'"),
            })
        }
        Verb::Stop if !is_up(state) => return Err(ServiceError::NotRunning { name: name.into(), state: state.into() }),
        Verb::Start if by_hand() => {
            return Err(ServiceError::Outside {
                name: name.into(),
                fix: format!("power it off first with 'berth poweroff {name}'"),
            })
        }
        _ => {}
    }
    let method = if verb == Verb::Start { "StartUnit" } else { "StopUnit" };
    let what = format!("{} {unit}", if verb == Verb::Start { "starting" } else { "stopping" });
    let bus = |detail| ServiceError::Bus { what: what.clone(), detail };
    match service_bus::job(method, &unit).map_err(bus)? {
        Outcome::Job(r) if r == "done" => Ok(()),
        Outcome::Job(result) => Err(ServiceError::Job { verb: verb.as_str(), unit, result }),
        o => Err(bus(format!("unexpected answer {o:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_and_states() {
        assert_eq!(unit_name("deb"), "berth@deb.service");
        assert_eq!(unit_name("a-b.c"), "berth@a-b.c.service");
        assert!(is_up("active") && is_up("activating"));
        assert!(!is_up("inactive") && !is_up("failed") && !is_up("deactivating"));
    }

    #[test]
    fn changes_print_like_systemctl() {
        let c = vec![
            ("symlink".into(), "/etc/systemd/system/machines.target.wants/berth@d.service".into(), "/etc/b".into()),
            ("unlink".into(), "/etc/x".into(), String::new()),
        ];
        assert_eq!(
            describe_changes(&c),
            "Created symlink /etc/systemd/system/machines.target.wants/berth@d.service \u{2192} /etc/b.\nRemoved \"/etc/x\".\n"
        );
    }

    #[test]
    fn errors_are_one_line_with_the_fix() {
        for v in [Verb::Start, Verb::Stop, Verb::Enable, Verb::Disable] {
            let e = ServiceError::NoSystemd { verb: v.as_str(), name: "m".into(), fix: v.without_systemd("m") };
            let s = e.to_string();
            assert!(!s.contains('\n') && s.contains("berth@m.service") && s.contains("berth "), "{s}");
        }
        assert!(ServiceError::NoUnit.to_string().contains("systemctl daemon-reload"));
    }
}
