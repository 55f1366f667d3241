//! The command line as one source of `Settings`: an option the user
//! typed is `Some`, one left out is `None` (so a settings file may fill
//! it), and a flag is `Some(true)` only when given.

use crate::cli::{BootArgs, CommonArgs, RunArgs};
use crate::settings::{lookup, Settings};

fn flag(on: bool) -> Option<bool> {
    on.then_some(true)
}

fn list(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

impl CommonArgs {
    /// `--settings=`: how the machine's settings file is used.
    pub fn settings_mode(&self) -> Result<lookup::Mode, crate::Error> {
        self.settings.as_deref().map_or(Ok(lookup::Mode::Yes), |v| lookup::parse_mode(v).map_err(crate::Error::Usage))
    }
}

impl BootArgs {
    pub fn settings(&self) -> Settings {
        Settings { boot: Some(true), image: self.image.clone(), parameters: list(&self.args), ..self.common.settings() }
    }
}

impl RunArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            boot: Some(false),
            image: self.image.clone(),
            // The command is given even when empty, so Config names it.
            parameters: Some(self.command.clone()),
            as_pid2: flag(self.as_pid2),
            ..self.common.settings()
        }
    }
}

impl CommonArgs {
    fn settings(&self) -> Settings {
        let p = &self.policy;
        Settings {
            image_root: self.image_root.clone(),
            directory: self.directory.clone(),
            template: self.template.clone(),
            machine: self.machine.clone(),
            hostname: self.hostname.clone(),
            uuid: self.uuid.clone(),
            setenv: list(&self.setenv),
            user: self.user.clone(),
            chdir: self.chdir.clone(),
            bind: list(&self.bind),
            bind_ro: list(&self.bind_ro),
            tmpfs: list(&self.tmpfs),
            read_only: flag(self.read_only),
            ephemeral: flag(self.ephemeral),
            layer_dir: self.layer_dir.clone(),
            volatile: self.volatile.clone(),
            overlay: list(&self.overlay),
            overlay_ro: list(&self.overlay_ro),
            private_users: self.private_users.clone(),
            private_users_ownership: self.private_users_ownership.clone(),
            kill_signal: self.kill_signal.clone(),
            stop_timeout: self.stop_timeout,
            notify_ready: self.notify_ready.clone(),
            console: if self.pipe { Some(crate::settings::console::ConsoleMode::Pipe) } else { self.console },
            quiet: flag(self.quiet),
            register: self.register.clone(),
            slice: self.slice.clone(),
            keep_unit: flag(self.keep_unit),
            nesting: flag(self.nesting),
            proc_views: self.proc_views.clone(),
            property: list(&self.property),
            capability: list(&p.capability),
            drop_capability: list(&p.drop_capability),
            no_new_privileges: p.no_new_privileges.clone(),
            system_call_filter: list(&p.system_call_filter),
            suppress_sync: p.suppress_sync.clone(),
            rlimit: list(&p.rlimit),
            oom_score_adjust: p.oom_score_adjust.clone(),
            cpu_affinity: p.cpu_affinity.clone(),
            private_network: flag(self.net.private_network),
            network_veth: flag(self.net.network_veth),
            link_journal: if self.guest.j { Some("try-guest".into()) } else { self.guest.link_journal.clone() },
            resolv_conf: self.guest.resolv_conf.clone(),
            timezone: self.guest.timezone.clone(),
            set_credential: list(&self.guest.set_credential),
            load_credential: list(&self.guest.load_credential),
            bind_user: list(&self.guest.bind_user),
            network_zone: self.net.network_zone.clone(),
            network_bridge: self.net.network_bridge.clone(),
            port: list(&self.net.port),
            network_veth_extra: list(&self.net.network_veth_extra),
            network_namespace_path: self.net.network_namespace_path.clone(),
            ..Settings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::Cli;
    use clap::Parser;

    fn settings(args: &[&str]) -> crate::settings::Settings {
        match Cli::parse_from(args).command {
            crate::cli::Command::Boot(a) => a.settings(),
            crate::cli::Command::Run(a) => a.settings(),
            _ => unreachable!("boot or run"),
        }
    }

    #[test]
    fn only_what_was_typed_is_set() {
        let s = settings(&["berth", "run", "-D", "/t", "--bind=/a", "-q", "--", "/bin/true"]);
        assert_eq!(s.set_fields(), ["directory", "boot", "parameters", "bind", "quiet"]);
        let s = settings(&["berth", "boot", "img", "-P", "--stop-timeout=3", "-U", "--", "--unit=x"]);
        assert_eq!(s.parameters, Some(vec!["--unit=x".to_string()]));
        assert_eq!(s.private_users.as_deref(), Some("pick"));
        assert_eq!(s.stop_timeout, Some(3.0));
        assert_eq!(s.console, Some(crate::settings::console::ConsoleMode::Pipe));
        assert_eq!(s.register, None);
    }
}
