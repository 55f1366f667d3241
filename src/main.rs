use berth::cli::{Cli, Command};
use berth::settings::config::Config;
use clap::Parser;

/// A usage error as one line, with the exit status berth's own failures
/// use (125 for `run`, so a command's own 2 is never mistaken for it).
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut msg = lines.next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_string();
    if msg.ends_with(':') {
        msg = format!("{} {}", msg.trim_end_matches(':'), lines.next().unwrap_or_default());
    }
    eprintln!("berth: {msg}; see 'berth --help'");
    let run = std::env::args().skip(1).find(|a| !a.starts_with('-')).as_deref() == Some("run");
    std::process::exit(if run { 125 } else { 1 });
}

/// The verbs for running machines; their output goes to stdout.
fn manage(cmd: &Command) -> berth::Result<i32> {
    use berth::state::machine;
    let out = match cmd {
        Command::List { json } => {
            let ms = machine::list();
            if *json {
                serde_json::Value::Array(ms.iter().map(|m| m.to_json()).collect()).to_string() + "\n"
            } else {
                machine::table(&ms)
            }
        }
        Command::Status { name } => machine::status(&machine::lookup(name)?),
        Command::Show { name, json } => {
            let m = machine::lookup(name)?;
            if *json {
                m.to_json().to_string() + "\n"
            } else {
                machine::show(&m)
            }
        }
        Command::Poweroff { name } => {
            machine::kill(&machine::find(name)?, berth::sys::signal::rtmin() + 4, machine::Whom::Leader)?;
            String::new()
        }
        Command::Reboot { name } => {
            machine::kill(&machine::find(name)?, libc::SIGINT, machine::Whom::Leader)?;
            String::new()
        }
        Command::Terminate { name } => {
            machine::terminate(&machine::find(name)?)?;
            String::new()
        }
        Command::Freeze { name } => {
            machine::freeze(&machine::find(name)?, true)?;
            String::new()
        }
        Command::Thaw { name } => {
            machine::freeze(&machine::find(name)?, false)?;
            String::new()
        }
        Command::Kill { name, signal, kill_whom } => {
            let sig = berth::sys::signal::parse(signal)?;
            let whom = machine::parse_whom(kill_whom)?;
            machine::kill(&machine::find(name)?, sig, whom)?;
            String::new()
        }
        _ => unreachable!("not a management verb"),
    };
    print!("{out}");
    Ok(0)
}

// ---- image verbs ----

/// `berth --image-root DIR boot|run NAME`: the global option reaches the
/// launcher's own lookup unless the verb was given one itself.
fn global_image_root(cli: &mut Cli) {
    let Some(root) = cli.image_root.clone() else { return };
    if let Command::Boot(berth::cli::BootArgs { common, .. }) | Command::Run(berth::cli::RunArgs { common, .. }) =
        &mut cli.command
    {
        common.image_root.get_or_insert(root);
    }
}

/// The image verbs; their output goes to stdout, progress to stderr.
fn images(cmd: &Command, global_root: Option<&std::path::Path>) -> berth::Result<i32> {
    use berth::image::{self, ops, pull, table, tar, tool, ImageError, Store};
    let (verb, store) = match cmd {
        Command::Images { store, .. } => ("images", store),
        Command::Clone { store, .. } => ("clone", store),
        Command::Rename { store, .. } => ("rename", store),
        Command::Remove { store, .. } => ("remove", store),
        Command::ReadOnly { store, .. } => ("read-only", store),
        Command::Import { store, .. } => ("import", store),
        Command::Export { store, .. } => ("export", store),
        Command::Pull { store, .. } => ("pull", store),
        _ => unreachable!("not an image verb"),
    };
    let store = Store::new(store.image_root.as_deref().or(global_root));
    let reads_only = matches!(cmd, Command::Images { .. } | Command::ReadOnly { value: None, .. });
    if !reads_only && !nix::unistd::geteuid().is_root() {
        return Err(ImageError::Refused(format!("berth {verb} needs root; run it as root")).into());
    }
    // Interrupted tools are stopped and their half-made images removed.
    if matches!(cmd, Command::Clone { .. } | Command::Import { .. } | Command::Export { .. } | Command::Pull { .. }) {
        tool::catch_signals();
    }
    match cmd {
        Command::Images { json, .. } => {
            let list: Vec<_> = store
                .list()?
                .into_iter()
                .map(|i| {
                    let size = i.usage();
                    (i, size)
                })
                .collect();
            print!("{}", if *json { table::json(&list) } else { table::table(&list) });
        }
        Command::Clone { src, dst, .. } => {
            ops::clone(&store, src, dst)?;
        }
        Command::Rename { old, new, .. } => ops::rename(&store, old, new)?,
        Command::Remove { names, .. } => ops::remove(&store, names)?,
        Command::ReadOnly { name, value, .. } => {
            let set = match value {
                None => None,
                Some(v) => Some(
                    berth::sys::parse_bool(v)
                        .ok_or_else(|| ImageError::Refused(format!("'{v}' is not a boolean; use true or false")))?,
                ),
            };
            let ro = ops::read_only(&store, name, set)?;
            if set.is_none() {
                println!("{ro}");
            }
        }
        Command::Import { file, name, .. } => tar::import(&store, file, name)?,
        Command::Export { name, file, .. } => tar::export(&store, name, file)?,
        Command::Pull { source, name, mirror, quiet, .. } => {
            let o = pull::Options {
                source: pull::Source::parse(source)?,
                name: name.as_deref(),
                mirror: mirror.as_deref(),
                quiet: *quiet,
            };
            image::pull::pull(&store, &o)?;
        }
        _ => unreachable!("not an image verb"),
    }
    Ok(0)
}

/// The verbs that reach into a running machine.
fn live(cmd: &Command) -> berth::Result<i32> {
    use berth::live::copy::Direction;
    use berth::state::machine;
    match cmd {
        Command::Login { name } => {
            berth::sys::sealed::ensure().map_err(|e| berth::Error::sys("re-executing berth from a sealed copy", e))?;
            berth::live::login::login(name)
        }
        Command::CopyTo { name, src, dst, force } => {
            berth::live::copy::copy(&machine::started(name)?, Direction::ToGuest, src, dst.as_deref(), *force)
                .map(|_| 0)
        }
        Command::CopyFrom { name, src, dst, force } => {
            berth::live::copy::copy(&machine::started(name)?, Direction::FromGuest, src, dst.as_deref(), *force)
                .map(|_| 0)
        }
        Command::Bind { name, src, dst, read_only, mkdir } => {
            berth::live::bind::bind(&machine::started(name)?, src, dst.as_deref(), *read_only, *mkdir).map(|_| 0)
        }
        _ => unreachable!("not a live verb"),
    }
}

fn main() {
    // The --as-pid2 stub init, re-executed inside the guest.
    let mut args = std::env::args_os();
    if args.next().is_some_and(|a| a == berth::spawn::exec::STUB_ARGV0) {
        berth::spawn::stub::main(args.collect());
    }
    let mut cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    global_image_root(&mut cli);
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| level.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).without_time().init();

    let (run, result) = match &cli.command {
        Command::Boot(a) => (false, Config::from_boot(a).and_then(|c| berth::spawn::launch::launch(&c))),
        Command::Run(a) => (
            true,
            Config::from_run(a).and_then(|c| {
                // The stub init is berth's own code running inside the
                // guest: let it run from an immutable copy.
                if a.as_pid2 {
                    berth::sys::sealed::ensure()
                        .map_err(|e| berth::Error::sys("re-executing berth from a sealed copy", e))?;
                }
                berth::spawn::launch::launch(&c)
            }),
        ),
        Command::List { .. }
        | Command::Status { .. }
        | Command::Show { .. }
        | Command::Poweroff { .. }
        | Command::Reboot { .. }
        | Command::Terminate { .. }
        | Command::Freeze { .. }
        | Command::Thaw { .. }
        | Command::Kill { .. } => (false, manage(&cli.command)),
        Command::Images { .. }
        | Command::Clone { .. }
        | Command::Rename { .. }
        | Command::Remove { .. }
        | Command::ReadOnly { .. }
        | Command::Import { .. }
        | Command::Export { .. }
        | Command::Pull { .. } => (false, images(&cli.command, cli.image_root.as_deref())),
        Command::Shell { target, command } => (
            true,
            berth::sys::sealed::ensure()
                .map_err(|e| berth::Error::sys("re-executing berth from a sealed copy", e))
                .and_then(|_| berth::live::shell::shell(target, command)),
        ),
        Command::Login { .. } | Command::CopyTo { .. } | Command::CopyFrom { .. } | Command::Bind { .. } => {
            (false, live(&cli.command))
        }
        Command::Gc => {
            if unsafe { libc::geteuid() } != 0 {
                eprintln!("berth: gc needs root; run it with sudo");
                std::process::exit(1);
            }
            let removed = berth::state::cleanup::gc();
            if removed.is_empty() {
                println!("Nothing to remove.");
            }
            for r in removed {
                println!("Removed {r}");
            }
            std::process::exit(0);
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("berth: {e}");
            std::process::exit(e.exit_code(run));
        }
    }
}
