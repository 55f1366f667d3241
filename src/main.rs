use berth::cli::{Cli, Command, StoreArgs};
use berth::host::service::Verb;
use berth::image::{ops, pull, table, tar, ImageError, Store};
use berth::live::copy::{self, Direction};
use berth::spawn::launch::launch;
use berth::sys::signal;
use clap::Parser;
use std::path::Path;

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

/// Prints a verb's output; its status is 0.
fn print(out: String) -> berth::Result<i32> {
    print!("{out}");
    Ok(0)
}

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

/// The image store an image verb works on. Verbs that write need root,
/// and the ones that build or copy images stop their tools and remove
/// their half-made images when interrupted.
fn store(verb: &str, args: &StoreArgs, global: Option<&Path>, writes: bool) -> berth::Result<Store> {
    if writes && !nix::unistd::geteuid().is_root() {
        return Err(ImageError::Refused(format!("berth {verb} needs root; run it as root")).into());
    }
    if matches!(verb, "clone" | "import" | "export" | "pull") {
        berth::image::tool::catch_signals();
    }
    Ok(Store::new(args.image_root.as_deref().or(global)))
}

fn sealed() -> berth::Result<()> {
    berth::sys::sealed::ensure().map_err(|e| berth::Error::sys("re-executing berth from a sealed copy", e))
}

/// The image's settings files went along; a failure there is reported
/// after the image itself was done.
fn carry(verb: &str, r: std::io::Result<Vec<std::path::PathBuf>>) -> berth::Result<()> {
    r.map(drop).map_err(|e| berth::Error::sys(format!("{verb}: the image is done, but its settings file is not"), e))
}

/// `boot` and `run`: the command line over the machine's settings file,
/// validated, then launched.
fn start(common: &berth::cli::CommonArgs, cli: berth::settings::Settings) -> berth::Result<i32> {
    let cfg = berth::settings::resolve(cli, common.settings_mode()?)?;
    // The stub init is berth's own code running inside the guest: it runs
    // from an immutable copy.
    if matches!(cfg.mode, berth::settings::config::Mode::Run { as_pid2: true, .. }) {
        sealed()?;
    }
    launch(&cfg)
}

/// `berth start|stop|enable|disable`: the machines' berth@NAME.service.
fn service(verb: Verb, names: &[String]) -> berth::Result<i32> {
    let by_hand = |n: &str| berth::state::machine::find(n).is_ok();
    berth::host::service::run(verb, names, by_hand).map_err(Into::into).and_then(print)
}

/// Runs the verb; whether it is `run`-like (its failures exit 125) and
/// its result.
fn dispatch(cli: &Cli) -> (bool, berth::Result<i32>) {
    use berth::settings::carry;
    use berth::state::machine::{self, Whom};
    let global = cli.image_root.as_deref();
    let now = |r: berth::Result<()>| r.map(|()| 0);
    match &cli.command {
        Command::Boot(a) => (false, start(&a.common, a.settings())),
        Command::Run(a) => (true, start(&a.common, a.settings())),
        Command::Gc => {
            if !nix::unistd::geteuid().is_root() {
                return (false, Err(berth::Error::Usage("gc needs root; run it with sudo".into())));
            }
            let removed = berth::state::cleanup::gc();
            let mut out = if removed.is_empty() { "Nothing to remove.\n".to_string() } else { String::new() };
            out.extend(removed.iter().map(|r| format!("Removed {r}\n")));
            (false, print(out))
        }
        Command::List { json } => {
            let ms = machine::list();
            let out = if *json {
                serde_json::Value::Array(ms.iter().map(|m| m.to_json()).collect()).to_string() + "\n"
            } else {
                machine::table(&ms)
            };
            (false, print(out))
        }
        Command::Status { name, json } => (
            false,
            machine::lookup(name)
                .map(|m| {
                    if *json {
                        berth::state::status_json::status_json(&m).to_string() + "\n"
                    } else {
                        machine::status(&m)
                    }
                })
                .and_then(print),
        ),
        Command::Completions { shell } => (false, print(berth::docs::completion(shell))),
        Command::Show { name, json } => (
            false,
            machine::lookup(name)
                .map(|m| if *json { m.to_json().to_string() + "\n" } else { machine::show(&m) })
                .and_then(print),
        ),
        Command::Poweroff { name } => {
            (false, now(machine::find(name).and_then(|m| machine::kill(&m, signal::rtmin() + 4, Whom::Leader))))
        }
        Command::Reboot { name } => {
            (false, now(machine::find(name).and_then(|m| machine::kill(&m, libc::SIGINT, Whom::Leader))))
        }
        Command::Terminate { name } => (false, now(machine::find(name).and_then(|m| machine::terminate(&m)))),
        Command::Freeze { name } => (false, now(machine::find(name).and_then(|m| machine::freeze(&m, true)))),
        Command::Thaw { name } => (false, now(machine::find(name).and_then(|m| machine::freeze(&m, false)))),
        Command::Kill { name, signal: sig, kill_whom } => (
            false,
            now((|| {
                let sig = signal::parse(sig)?;
                let whom = machine::parse_whom(kill_whom)?;
                machine::kill(&machine::find(name)?, sig, whom)
            })()),
        ),
        Command::Shell { target, command } => (true, sealed().and_then(|_| berth::live::shell::shell(target, command))),
        Command::Login { name } => (false, sealed().and_then(|_| berth::live::login::login(name))),
        Command::CopyTo { name, src, dst, force } => (
            false,
            now(machine::started(name).and_then(|m| copy::copy(&m, Direction::ToGuest, src, dst.as_deref(), *force))),
        ),
        Command::CopyFrom { name, src, dst, force } => (
            false,
            now(machine::started(name).and_then(|m| copy::copy(&m, Direction::FromGuest, src, dst.as_deref(), *force))),
        ),
        Command::Bind { name, src, dst, read_only, mkdir } => (
            false,
            now(machine::started(name)
                .and_then(|m| berth::live::bind::bind(&m, src, dst.as_deref(), *read_only, *mkdir))),
        ),
        Command::Start { names } => (false, service(Verb::Start, names)),
        Command::Stop { names } => (false, service(Verb::Stop, names)),
        Command::Enable { names } => (false, service(Verb::Enable, names)),
        Command::Disable { names } => (false, service(Verb::Disable, names)),
        Command::Images { store: s, json } => (
            false,
            store("images", s, global, false).and_then(|st| {
                let list: Vec<_> = st
                    .list()?
                    .into_iter()
                    .map(|i| {
                        let size = i.usage();
                        (i, size)
                    })
                    .collect();
                print(if *json { table::json(&list) } else { table::table(&list) })
            }),
        ),
        Command::Cat { name, json, store: s } => {
            let root =
                s.image_root.clone().or(global.map(Into::into)).unwrap_or_else(|| berth::image::IMAGE_ROOT.into());
            (false, berth::settings::edit::cat(name, &root, *json).and_then(print))
        }
        Command::Edit { name, store: s } => {
            let root =
                s.image_root.clone().or(global.map(Into::into)).unwrap_or_else(|| berth::image::IMAGE_ROOT.into());
            (false, berth::settings::edit::edit(name, &root).and_then(|p| print(format!("Saved {}\n", p.display()))))
        }
        Command::Clone { store: s, src, dst } => (
            false,
            now(store("clone", s, global, true).and_then(|st| {
                ops::clone(&st, src, dst)?;
                carry("clone", carry::clone(&st.root, src, dst))
            })),
        ),
        Command::Rename { store: s, old, new } => (
            false,
            now(store("rename", s, global, true).and_then(|st| {
                ops::rename(&st, old, new)?;
                carry("rename", carry::rename(&st.root, old, new))
            })),
        ),
        Command::Remove { store: s, names } => (
            false,
            now(store("remove", s, global, true).and_then(|st| {
                ops::remove(&st, names)?;
                names.iter().try_for_each(|n| carry("remove", carry::remove(&st.root, n)))
            })),
        ),
        Command::ReadOnly { store: s, name, value } => (
            false,
            store("read-only", s, global, value.is_some()).and_then(|st| {
                let set = match value {
                    None => None,
                    Some(v) => Some(
                        berth::sys::parse_bool(v)
                            .ok_or_else(|| ImageError::Refused(format!("'{v}' is not a boolean; use true or false")))?,
                    ),
                };
                let ro = ops::read_only(&st, name, set)?;
                print(if set.is_none() { format!("{ro}\n") } else { String::new() })
            }),
        ),
        Command::Import { store: s, file, name } => {
            (false, now(store("import", s, global, true).and_then(|st| Ok(tar::import(&st, file, name)?))))
        }
        Command::Export { store: s, name, file } => {
            (false, now(store("export", s, global, true).and_then(|st| Ok(tar::export(&st, name, file)?))))
        }
        Command::Pull { store: s, source, name, mirror, quiet } => (
            false,
            now(store("pull", s, global, true).and_then(|st| {
                let o = pull::Options {
                    source: pull::Source::parse(source)?,
                    name: name.as_deref(),
                    mirror: mirror.as_deref(),
                    quiet: *quiet,
                };
                pull::pull(&st, &o).map(drop).map_err(Into::into)
            })),
        ),
    }
}

fn main() {
    // The --as-pid2 stub init, re-executed inside the guest.
    let mut args = std::env::args_os();
    if args.next().is_some_and(|a| a == berth::spawn::exec::STUB_ARGV0) {
        berth::spawn::stub::main(args.collect());
    }
    // The OCI runtime mode: `berth-oci ...` (a link) or `berth oci ...`.
    if let Some(oci) = berth::oci::invoked(&std::env::args_os().collect::<Vec<_>>()) {
        berth::oci::main(oci);
    }
    let mut cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    global_image_root(&mut cli);
    berth::sys::logging::init(cli.log_level.as_deref(), cli.verbose);
    let (run, result) = dispatch(&cli);
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("berth: {e}");
            std::process::exit(e.exit_code(run));
        }
    }
}
