//! berth's error type. Every variant renders as one line that names the
//! problem and, where there is one, the fix.

use std::io;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// Bad command-line input or an unusable tree.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Name(#[from] crate::settings::name::NameError),
    #[error(transparent)]
    Signal(#[from] crate::sys::signal::BadSignal),
    /// A settings file that cannot be read or has a mistake.
    #[error(transparent)]
    Settings(#[from] crate::settings::file_error::FileError),
    /// A bad security or resource option (capabilities, filter, limits).
    #[error(transparent)]
    Policy(#[from] crate::security::policy::PolicyError),
    /// A bad or inapplicable `--property`.
    #[error(transparent)]
    Property(#[from] crate::host::property::PropertyError),
    /// The system call filter could not be built or loaded.
    #[error(transparent)]
    Seccomp(#[from] crate::security::seccomp::SeccompError),
    /// An image verb failed (store, tarball, pull).
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// `berth start|stop|enable|disable`: the machine's service.
    #[error(transparent)]
    Service(#[from] crate::host::service::ServiceError),
    /// The guest's network could not be set up.
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    /// The /proc and /sys views could not be mounted or served.
    #[error(transparent)]
    Views(#[from] crate::views::ViewsError),
    /// Something is held by another machine.
    #[error("{0}")]
    Busy(String),
    /// The machine a verb names is not there, not berth's, or not ready.
    #[error("{0}")]
    Machine(String),
    /// This host lacks what berth needs (a cgroup2 hierarchy, a unit).
    #[error("{0}")]
    Host(String),
    /// The tree's ownership could not be shifted on disk.
    #[error(transparent)]
    Shift(#[from] crate::ids::shift::ShiftError),
    /// A system call failed while doing `what`.
    #[error("{what}: {source}")]
    Sys { what: String, source: io::Error },
    /// The setup inside the container failed; the child's own message.
    #[error("{0}")]
    Setup(String),
    /// The command could not be executed (126) or found (127).
    #[error("{msg}")]
    Exec { msg: String, missing: bool },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn sys(what: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error::Sys { what: what.into(), source: source.into() }
    }

    /// Exit status for `berth run` (podman's convention) and `berth boot`.
    pub fn exit_code(&self, run: bool) -> i32 {
        match (self, run) {
            (Error::Exec { missing: true, .. }, true) => 127,
            (Error::Exec { missing: false, .. }, true) => 126,
            (_, true) => 125,
            (_, false) => 1,
        }
    }
}

/// Adds context to io and nix errors.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(what(), e))
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(what(), io::Error::from(e)))
    }
}
