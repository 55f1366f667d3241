//! Every key a settings file may hold: its section, its command-line
//! twin, how its value is checked and stored in `Settings`, and whether a
//! file that is not trusted (one next to the image) may set it. nspawn's
//! names and meanings; values are checked here so an error names the
//! file's line, and once more with everything else in `Config::new`.

use crate::security::policy_values as pv;
use crate::settings::layers;
use crate::settings::name;
use crate::settings::parse;
use crate::settings::value::Settings;
use crate::sys::{parse_bool, signal};

pub const SECTIONS: &[&str] = &["Exec", "Files", "Network"];

/// Whether an untrusted file may set a key (to this value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Narrows or keeps the machine's privileges: allowed anywhere.
    Any,
    /// Widens what the machine may reach: only from /etc, /run or with
    /// --settings=trusted.
    Trusted,
}

type Apply = fn(&mut Settings, &str, &str) -> Result<(), String>;

pub struct Key {
    pub section: &'static str,
    pub name: &'static str,
    /// The command-line option it stands for (for docs and `berth cat`).
    pub twin: &'static str,
    apply: Apply,
    trust: fn(&str) -> Trust,
}

impl Key {
    /// Checks `value` and stores it (`key` is the name as written, which
    /// matters for Limit*).
    pub fn apply(&self, s: &mut Settings, key: &str, value: &str) -> Result<(), String> {
        (self.apply)(s, key, value)
    }

    pub fn trust(&self, value: &str) -> Trust {
        (self.trust)(value)
    }
}

fn any(_: &str) -> Trust {
    Trust::Any
}
fn trusted(_: &str) -> Trust {
    Trust::Trusted
}
/// Leaving the user namespace (or mapping ids 1:1) widens; choosing a
/// range does not.
fn private_users_trust(v: &str) -> Trust {
    match crate::ids::userns::parse_mode(v) {
        Ok(crate::ids::userns::Mode::No) | Ok(crate::ids::userns::Mode::Identity) => Trust::Trusted,
        _ => Trust::Any,
    }
}

fn boolean(v: &str) -> Result<bool, String> {
    parse_bool(v).ok_or_else(|| format!("'{v}' is not a boolean; use yes or no"))
}
fn yes_no(v: &str) -> Result<String, String> {
    Ok(if boolean(v)? { "yes" } else { "no" }.to_string())
}
/// Appends to a list; an empty value empties it (systemd's rule).
fn push(list: &mut Option<Vec<String>>, v: String) {
    let l = list.get_or_insert_with(Vec::new);
    if v.is_empty() {
        l.clear();
    } else {
        l.push(v);
    }
}
/// A space-separated list of interface names, appended (nspawn's
/// Interface=, MACVLAN=, IPVLAN=); an empty value empties the list.
fn ifnames(list: &mut Option<Vec<String>>, v: &str) -> Result<(), String> {
    let names = words(v)?;
    if let Some(bad) = names.iter().find(|n| !crate::net::plan::ifname_valid(n)) {
        return Err(format!("'{bad}' is not an interface name (1-15 characters, no '/', ':' or spaces)"));
    }
    ifnames_unchecked(list, names)
}
/// `Interface=`: words of `IF[:NEWNAME]`.
fn interfaces(list: &mut Option<Vec<String>>, v: &str) -> Result<(), String> {
    let names = words(v)?;
    for n in &names {
        let (host, inside) = n.split_once(':').unwrap_or((n, n));
        if let Some(bad) = [host, inside].into_iter().find(|n| !crate::net::plan::ifname_valid(n)) {
            let whole = if bad == n { String::new() } else { format!(" in '{n}'") };
            return Err(format!("'{bad}'{whole} is not an interface name (1-15 characters, no '/', ':' or spaces)"));
        }
    }
    ifnames_unchecked(list, names)
}
fn ifnames_unchecked(list: &mut Option<Vec<String>>, names: Vec<String>) -> Result<(), String> {
    if names.is_empty() {
        push(list, String::new());
    }
    for n in names {
        push(list, n);
    }
    Ok(())
}
fn absolute(v: &str, what: &str) -> Result<(), String> {
    if v.starts_with('/') {
        Ok(())
    } else {
        Err(format!("{what} '{v}' is not absolute; give a path starting with /"))
    }
}
fn caps(v: &str) -> Result<String, String> {
    let joined = words(v)?.join(",");
    pv::parse_capabilities("Capability", &joined).map_err(|e| e.to_string())?;
    Ok(joined)
}
fn bind_spec(v: &str) -> Result<(), String> {
    let mut parts = v.splitn(3, ':');
    absolute(parts.next().unwrap_or_default(), "the source")?;
    match parts.next() {
        Some(dst) if !dst.is_empty() => absolute(dst, "the destination"),
        _ => Ok(()),
    }
}

const JOURNAL: &[&str] = &["no", "host", "try-host", "guest", "try-guest", "auto"];
const RESOLV: &[&str] = &[
    "off",
    "copy-host",
    "copy-static",
    "copy-uplink",
    "copy-stub",
    "replace-host",
    "replace-static",
    "replace-uplink",
    "replace-stub",
    "bind-host",
    "bind-static",
    "bind-uplink",
    "bind-stub",
    "delete",
    "auto",
];
const TIMEZONE: &[&str] = &["off", "copy", "bind", "symlink", "delete", "auto"];

fn one_of(v: &str, modes: &[&str]) -> Result<String, String> {
    if modes.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(format!("'{v}' is not one of {}", modes.join(", ")))
    }
}
/// `ID:VALUE` or `ID:PATH`; an empty value empties the list.
fn credential(v: &str) -> Result<String, String> {
    match v.split_once(':') {
        _ if v.is_empty() => Ok(String::new()),
        Some((id, _)) if !id.is_empty() && !id.contains('/') => Ok(v.to_string()),
        _ => Err(format!("'{v}' is not ID:VALUE with an ID of its own (no '/')")),
    }
}

/// Splits a value into words: whitespace separates, "double" and 'single'
/// quotes group, a backslash escapes the next character (systemd's
/// extract_first_word with quotes and escapes).
pub fn words(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                let next = chars.next().ok_or("a backslash ends the value; remove it or escape it as \\\\")?;
                cur.push(next);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("a {q} quote is not closed; close it or escape it with a backslash"));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

macro_rules! key {
    ($sec:literal, $name:literal, $twin:literal, $trust:ident, |$s:ident, $v:ident| $body:expr) => {
        Key {
            section: $sec,
            name: $name,
            twin: $twin,
            apply: |$s: &mut Settings, _key: &str, $v: &str| -> Result<(), String> {
                $body;
                Ok(())
            },
            trust: $trust,
        }
    };
}

pub static KEYS: &[Key] = &[
    key!("Exec", "Boot", "boot", any, |s, v| s.boot = Some(boolean(v)?)),
    key!("Exec", "ProcessTwo", "--as-pid2", any, |s, v| s.as_pid2 = Some(boolean(v)?)),
    key!("Exec", "Parameters", "arguments", any, |s, v| s.parameters = Some(words(v)?)),
    key!("Exec", "Environment", "--setenv", any, |s, v| {
        if !v.is_empty() {
            parse::parse_env(v).map_err(|e| e.to_string())?;
        }
        push(&mut s.setenv, v.to_string())
    }),
    key!("Exec", "User", "--user", any, |s, v| {
        if v.is_empty() || v.contains([':', '/']) {
            return Err(format!("'{v}' is not a user name or uid"));
        }
        s.user = Some(v.to_string())
    }),
    key!("Exec", "WorkingDirectory", "--chdir", any, |s, v| {
        absolute(v, "the directory")?;
        s.chdir = Some(v.into())
    }),
    key!("Exec", "Capability", "--capability", trusted, |s, v| push(&mut s.capability, caps(v)?)),
    key!("Exec", "DropCapability", "--drop-capability", any, |s, v| push(&mut s.drop_capability, caps(v)?)),
    key!("Exec", "NoNewPrivileges", "--no-new-privileges", any, |s, v| s.no_new_privileges = Some(yes_no(v)?)),
    key!("Exec", "KillSignal", "--kill-signal", any, |s, v| {
        signal::parse(v).map_err(|e| e.to_string())?;
        s.kill_signal = Some(v.to_string())
    }),
    key!("Exec", "Hostname", "--hostname", any, |s, v| {
        name::validate(v).map_err(|_| format!("'{v}' is not a valid hostname; use letters, digits, '-' and '.'"))?;
        s.hostname = Some(v.to_string())
    }),
    key!("Exec", "MachineID", "--uuid", any, |s, v| s.uuid = Some(parse::parse_uuid(v).map_err(|e| e.to_string())?)),
    key!("Exec", "PrivateUsers", "--private-users", private_users_trust, |s, v| {
        crate::ids::userns::parse_mode(v).map_err(|e| e.to_string())?;
        s.private_users = Some(v.to_string())
    }),
    key!("Exec", "NotifyReady", "--notify-ready", any, |s, v| s.notify_ready = Some(yes_no(v)?)),
    key!("Exec", "SystemCallFilter", "--system-call-filter", trusted, |s, v| push(&mut s.system_call_filter, v.into())),
    key!("Exec", "OOMScoreAdjust", "--oom-score-adjust", any, |s, v| {
        pv::parse_oom_score_adjust(v).map_err(|e| e.to_string())?;
        s.oom_score_adjust = Some(v.to_string())
    }),
    key!("Exec", "CPUAffinity", "--cpu-affinity", any, |s, v| {
        pv::parse_cpu_list(v).map_err(|e| e.to_string())?;
        s.cpu_affinity = Some(v.to_string())
    }),
    key!("Exec", "Ephemeral", "-x", any, |s, v| s.ephemeral = Some(boolean(v)?)),
    key!("Exec", "SuppressSync", "--suppress-sync", any, |s, v| s.suppress_sync = Some(yes_no(v)?)),
    key!("Exec", "LinkJournal", "--link-journal", any, |s, v| s.link_journal = Some(one_of(v, JOURNAL)?)),
    key!("Exec", "ResolvConf", "--resolv-conf", any, |s, v| s.resolv_conf = Some(one_of(v, RESOLV)?)),
    key!("Exec", "Timezone", "--timezone", any, |s, v| s.timezone = Some(one_of(v, TIMEZONE)?)),
    key!("Exec", "SetCredential", "--set-credential", any, |s, v| push(&mut s.set_credential, credential(v)?)),
    // Reads a host file into the guest: only from a trusted file.
    key!("Exec", "LoadCredential", "--load-credential", trusted, |s, v| push(&mut s.load_credential, credential(v)?)),
    // berth's own: the guest's cgroup-aware /proc and /sys views.
    key!("Exec", "ProcViews", "--proc-views", any, |s, v| s.proc_views = Some(yes_no(v)?)),
    key!("Files", "ReadOnly", "--read-only", any, |s, v| s.read_only = Some(boolean(v)?)),
    key!("Files", "Volatile", "--volatile", any, |s, v| {
        layers::parse_volatile(v).map_err(|e| e.to_string())?;
        s.volatile = Some(v.to_string())
    }),
    key!("Files", "BindUser", "--bind-user", trusted, |s, v| push(&mut s.bind_user, v.to_string())),
    key!("Files", "Bind", "--bind", trusted, |s, v| {
        bind_spec(v)?;
        push(&mut s.bind, v.to_string())
    }),
    key!("Files", "BindReadOnly", "--bind-ro", trusted, |s, v| {
        bind_spec(v)?;
        push(&mut s.bind_ro, v.to_string())
    }),
    key!("Files", "TemporaryFileSystem", "--tmpfs", trusted, |s, v| {
        parse::parse_tmpfs(v).map_err(|e| e.to_string())?;
        push(&mut s.tmpfs, v.to_string())
    }),
    key!("Files", "Overlay", "--overlay", trusted, |s, v| {
        layers::parse_overlay(v, false, &|_| true).map_err(|e| e.to_string())?;
        push(&mut s.overlay, v.to_string())
    }),
    key!("Files", "OverlayReadOnly", "--overlay-ro", trusted, |s, v| {
        layers::parse_overlay(v, true, &|_| true).map_err(|e| e.to_string())?;
        push(&mut s.overlay_ro, v.to_string())
    }),
    key!("Files", "PrivateUsersOwnership", "--private-users-ownership", any, |s, v| {
        crate::ids::userns::parse_ownership(v).map_err(|e| e.to_string())?;
        s.private_users_ownership = Some(v.to_string())
    }),
    key!("Network", "Private", "--private-network", any, |s, v| s.private_network = Some(boolean(v)?)),
    key!("Network", "VirtualEthernet", "--network-veth", any, |s, v| s.network_veth = Some(boolean(v)?)),
    key!("Network", "VirtualEthernetExtra", "--network-veth-extra", trusted, |s, v| {
        crate::net::plan::parse_veth_extra(v)?;
        push(&mut s.network_veth_extra, v.to_string())
    }),
    key!("Network", "Bridge", "--network-bridge", trusted, |s, v| {
        if !crate::net::plan::ifname_valid(v) {
            return Err(format!("'{v}' is not an interface name (1-15 characters, no '/', ':' or spaces)"));
        }
        s.network_bridge = Some(v.to_string())
    }),
    key!("Network", "Zone", "--network-zone", trusted, |s, v| {
        crate::net::plan::check_zone(v)?;
        s.network_zone = Some(v.to_string())
    }),
    key!("Network", "Interface", "--network-interface", trusted, |s, v| interfaces(&mut s.network_interface, v)?),
    key!("Network", "MACVLAN", "--network-macvlan", trusted, |s, v| ifnames(&mut s.network_macvlan, v)?),
    key!("Network", "IPVLAN", "--network-ipvlan", trusted, |s, v| ifnames(&mut s.network_ipvlan, v)?),
    key!("Network", "Port", "--port", trusted, |s, v| {
        crate::net::ports::parse(v)?;
        push(&mut s.port, v.to_string())
    }),
];

/// `Limit<RESOURCE>=SOFT[:HARD]` (--rlimit): raising a limit widens.
static LIMIT: Key = Key {
    section: "Exec",
    name: "Limit*",
    twin: "--rlimit",
    apply: |s, key, v| {
        let spec = format!("{}={v}", &key["Limit".len()..]);
        pv::parse_rlimit(&spec).map_err(|e| e.to_string())?;
        push(&mut s.rlimit, spec);
        Ok(())
    },
    trust: trusted,
};

/// nspawn keys berth does not implement (yet): refused by name, never
/// silently ignored.
const NOT_SUPPORTED: &[&str] = &["AmbientCapability", "PivotRoot", "Personality", "Inaccessible"];

pub fn find(section: &str, key: &str) -> Result<&'static Key, String> {
    if let Some(k) = KEYS.iter().find(|k| k.section == section && k.name == key) {
        return Ok(k);
    }
    if section == "Exec" && key.starts_with("Limit") && !NOT_SUPPORTED.contains(&key) {
        return Ok(&LIMIT);
    }
    if NOT_SUPPORTED.contains(&key) {
        return Err("berth does not support this key yet; remove it (see berth.settings(5))".to_string());
    }
    match KEYS.iter().find(|k| k.name == key) {
        Some(k) => Err(format!("belongs in [{}], not [{section}]; move it there", k.section)),
        None => Err(format!("unknown key in [{section}]; see berth.settings(5) for the keys berth reads")),
    }
}
