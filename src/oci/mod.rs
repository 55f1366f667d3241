//! The OCI runtime mode: a runc-compatible command line so that engines
//! (podman with conmon, the containerd shim, Kubernetes through them)
//! drive berth. Reached as `berth-oci` (argv[0]) or as `berth oci ...`.
//!
//! One concern per file: `cli` (the clap tree), `bundle` (config.json
//! read with oci-spec, refused where unsupported, turned into a `Plan`),
//! `state` (the state directory and the runtime-spec state JSON),
//! `cgroup` (cgroups and limits), `mounts` (with `mount_attr`: the
//! recursive options through mount_setattr), `devices`, `seccomp`,
//! `process` (becoming the container's process: user, capabilities,
//! limits), `init` (the container's first process until it execs),
//! `create` (the create/start split), `exec`, `forward` (signals
//! to a foreground `run`), `verbs` (start, kill,
//! delete, ps, pause, resume, update, events), `hooks`, `console`,
//! `machine` (init bundles run as berth machines), `spec` (features and the default config.json), `log`.

pub mod bundle;
pub mod cgroup;
pub mod cli;
pub mod console;
pub mod create;
pub mod devices;
pub mod exec;
pub mod forward;
pub mod hooks;
pub mod init;
pub mod log;
pub mod machine;
pub mod mount_attr;
pub mod mounts;
pub mod process;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod verbs;

use std::io;
use thiserror::Error;

/// What an OCI verb can fail with; each renders as one line.
#[derive(Debug, Error)]
pub enum OciError {
    /// config.json asks for something berth does not do.
    #[error("config.json: {field}: {why}")]
    Unsupported { field: String, why: String },
    /// config.json or process.json could not be read.
    #[error("{0}")]
    Bundle(String),
    #[error("container {0} does not exist; see 'berth-oci list'")]
    NotFound(String),
    #[error("container {0} already exists; delete it first with 'berth-oci delete {0}'")]
    Exists(String),
    /// The container is in the wrong state for the verb.
    #[error("{0}")]
    State(String),
    /// The container's setup failed; the child's own words.
    #[error("{0}")]
    Setup(String),
    #[error("{what}: {source}")]
    Sys { what: String, source: io::Error },
}

pub type Result<T> = std::result::Result<T, OciError>;

impl OciError {
    pub fn sys(what: impl Into<String>, source: impl Into<io::Error>) -> Self {
        OciError::Sys { what: what.into(), source: source.into() }
    }
    pub fn unsupported(field: impl Into<String>, why: impl Into<String>) -> Self {
        OciError::Unsupported { field: field.into(), why: why.into() }
    }
}

/// Adds context to io and nix errors.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Ctx<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| OciError::sys(what(), e))
    }
}

impl<T> Ctx<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| OciError::sys(what(), io::Error::from(e)))
    }
}

/// Whether berth was invoked in OCI mode: as `berth-oci` or `berth oci`.
/// Returns the arguments clap should parse (argv[0] first).
pub fn invoked(args: &[std::ffi::OsString]) -> Option<Vec<std::ffi::OsString>> {
    let name = std::path::Path::new(args.first()?).file_name()?.to_string_lossy().into_owned();
    if name == "berth-oci" || name.ends_with("-oci") {
        return Some(args.to_vec());
    }
    if args.get(1).is_some_and(|a| a == "oci") {
        let mut v = vec![std::ffi::OsString::from("berth oci")];
        v.extend(args[2..].iter().cloned());
        return Some(v);
    }
    None
}

/// Runs one OCI verb and exits.
pub fn main(args: Vec<std::ffi::OsString>) -> ! {
    use clap::Parser;
    // Like runc: a reader that goes away (`state ID | grep -q`) ends us
    // quietly instead of failing a write.
    // SAFETY: restoring the default disposition of one signal.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) {
                e.exit();
            }
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_string();
            eprintln!("berth: {first}; see 'berth-oci --help'");
            std::process::exit(1);
        }
    };
    let logger = log::Log::new(&cli.global);
    match verbs::dispatch(&cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logger.error(&e.to_string());
            std::process::exit(1);
        }
    }
}
