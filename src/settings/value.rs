//! `Settings`: what one source (the command line, later a settings file
//! or an OCI bundle) says about a machine, every field optional. A field
//! that is `Some` was set by that source; merging keeps the higher
//! source's field and takes the lower's only where the higher said
//! nothing (nspawn's settings mask, field by field). `Config::new` turns
//! the merged value into a validated configuration.

use crate::security::policy::PolicyOptions;
use crate::settings::console::ConsoleMode;
use std::path::PathBuf;

/// Every option of a start, as its source spelled it. Values are parsed
/// and validated later, in one place (`config.rs`), whatever the source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    // Which tree.
    pub image_root: Option<PathBuf>,
    pub directory: Option<PathBuf>,
    pub image: Option<String>,
    pub template: Option<PathBuf>,
    // What runs: the init (`boot`) or a command.
    pub boot: Option<bool>,
    /// The init's arguments, or the command and its arguments.
    pub parameters: Option<Vec<String>>,
    pub as_pid2: Option<bool>,
    // Identity and environment.
    pub machine: Option<String>,
    pub hostname: Option<String>,
    pub uuid: Option<String>,
    pub setenv: Option<Vec<String>>,
    pub user: Option<String>,
    pub chdir: Option<PathBuf>,
    // Files.
    pub bind: Option<Vec<String>>,
    pub bind_ro: Option<Vec<String>>,
    pub tmpfs: Option<Vec<String>>,
    pub read_only: Option<bool>,
    pub ephemeral: Option<bool>,
    pub layer_dir: Option<String>,
    pub volatile: Option<String>,
    pub overlay: Option<Vec<String>>,
    pub overlay_ro: Option<Vec<String>>,
    pub private_users: Option<String>,
    pub private_users_ownership: Option<String>,
    // Lifecycle and console.
    pub kill_signal: Option<String>,
    pub stop_timeout: Option<f64>,
    pub notify_ready: Option<String>,
    pub console: Option<ConsoleMode>,
    pub quiet: Option<bool>,
    // Host integration.
    pub register: Option<String>,
    pub slice: Option<String>,
    pub keep_unit: Option<bool>,
    pub nesting: Option<bool>,
    /// `--proc-views` (yes/no as given).
    pub proc_views: Option<String>,
    pub property: Option<Vec<String>>,
    // Security.
    pub capability: Option<Vec<String>>,
    pub drop_capability: Option<Vec<String>>,
    pub no_new_privileges: Option<String>,
    pub system_call_filter: Option<Vec<String>>,
    pub suppress_sync: Option<String>,
    pub rlimit: Option<Vec<String>>,
    pub oom_score_adjust: Option<String>,
    pub cpu_affinity: Option<String>,
    // Network.
    pub private_network: Option<bool>,
    pub network_veth: Option<bool>,
    // What the host hands the guest's system (see guest.rs).
    pub link_journal: Option<String>,
    pub resolv_conf: Option<String>,
    pub timezone: Option<String>,
    pub set_credential: Option<Vec<String>>,
    pub load_credential: Option<Vec<String>>,
    pub bind_user: Option<Vec<String>>,
    pub network_zone: Option<String>,
    pub network_bridge: Option<String>,
    pub port: Option<Vec<String>>,
    pub network_veth_extra: Option<Vec<String>>,
    pub network_namespace_path: Option<std::path::PathBuf>,
}

/// Lists every field once, so merge cannot forget one.
macro_rules! each_field {
    ($m:ident) => {
        $m!(
            image_root,
            directory,
            image,
            template,
            boot,
            parameters,
            as_pid2,
            machine,
            hostname,
            uuid,
            setenv,
            user,
            chdir,
            bind,
            bind_ro,
            tmpfs,
            read_only,
            ephemeral,
            layer_dir,
            volatile,
            overlay,
            overlay_ro,
            private_users,
            private_users_ownership,
            kill_signal,
            stop_timeout,
            notify_ready,
            console,
            quiet,
            register,
            slice,
            keep_unit,
            nesting,
            proc_views,
            property,
            capability,
            drop_capability,
            no_new_privileges,
            system_call_filter,
            suppress_sync,
            rlimit,
            oom_score_adjust,
            cpu_affinity,
            private_network,
            network_veth,
            link_journal,
            resolv_conf,
            timezone,
            set_credential,
            load_credential,
            bind_user,
            network_zone,
            network_bridge,
            port,
            network_veth_extra,
            network_namespace_path
        )
    };
}

impl Settings {
    /// `self` over `lower`: each field `self` set wins, whole (a list set
    /// on the command line replaces the file's list, as under nspawn).
    pub fn over(mut self, lower: Settings) -> Settings {
        macro_rules! take {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = lower.$f; } )* };
        }
        each_field!(take);
        self
    }

    /// The names of the fields this source set (for logs and `berth cat`).
    pub fn set_fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        macro_rules! names {
            ($($f:ident),*) => { $( if self.$f.is_some() { v.push(stringify!($f)); } )* };
        }
        each_field!(names);
        v
    }

    /// The security options, as the policy reads them.
    pub fn policy_options(&self) -> PolicyOptions {
        PolicyOptions {
            capability: self.capability.clone().unwrap_or_default(),
            drop_capability: self.drop_capability.clone().unwrap_or_default(),
            no_new_privileges: self.no_new_privileges.clone(),
            system_call_filter: self.system_call_filter.clone().unwrap_or_default(),
            suppress_sync: self.suppress_sync.clone(),
            rlimit: self.rlimit.clone().unwrap_or_default(),
            oom_score_adjust: self.oom_score_adjust.clone(),
            cpu_affinity: self.cpu_affinity.clone(),
        }
    }

    /// Whether a flag is on (unset is off).
    pub fn on(flag: Option<bool>) -> bool {
        flag.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_higher_source_wins_field_by_field() {
        let cli = Settings {
            machine: Some("a".into()),
            bind: Some(vec!["/x".into()]),
            read_only: Some(false),
            ..Default::default()
        };
        let file = Settings {
            machine: Some("b".into()),
            hostname: Some("h".into()),
            bind: Some(vec!["/y".into(), "/z".into()]),
            read_only: Some(true),
            ..Default::default()
        };
        let m = cli.over(file);
        assert_eq!(m.machine.as_deref(), Some("a"));
        assert_eq!(m.hostname.as_deref(), Some("h"));
        // A list is replaced, not appended to.
        assert_eq!(m.bind, Some(vec!["/x".to_string()]));
        // An explicit "no" on the higher source still wins.
        assert_eq!(m.read_only, Some(false));
        assert_eq!(m.set_fields(), ["machine", "hostname", "bind", "read_only"]);
    }

    #[test]
    fn merging_with_nothing_changes_nothing() {
        let s = Settings { uuid: Some("u".into()), stop_timeout: Some(3.0), ..Default::default() };
        assert_eq!(s.clone().over(Settings::default()), s);
        assert_eq!(Settings::default().over(s.clone()), s);
    }
}
