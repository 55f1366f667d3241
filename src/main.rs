use berth::cli::{Cli, Command};
use berth::config::Config;
use clap::Parser;

fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| level.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).without_time().init();

    let (run, result) = match &cli.command {
        Command::Boot(a) => (false, Config::from_boot(a).and_then(|c| berth::launcher::launch(&c))),
        Command::Run(a) => (
            true,
            Config::from_run(a).and_then(|c| {
                // The stub init is berth's own code running inside the
                // guest: let it run from an immutable copy.
                if a.as_pid2 {
                    berth::sealed::ensure()
                        .map_err(|e| berth::Error::sys("re-executing berth from a sealed copy", e))?;
                }
                berth::launcher::launch(&c)
            }),
        ),
        Command::Gc => {
            if unsafe { libc::geteuid() } != 0 {
                eprintln!("berth: gc needs root; run it with sudo");
                std::process::exit(1);
            }
            let removed = berth::runtime::gc();
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
