//! Errors of the networking subsystem: one line naming the thing and,
//! where there is one, the fix.

use std::io;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum NetError {
    /// A netlink request the kernel refused or a socket that failed.
    #[error("{what}: {source}")]
    Netlink { what: String, source: io::Error },
    /// Entering or opening a network namespace failed.
    #[error("{what}: {source}")]
    Netns { what: String, source: io::Error },
    /// A request berth turns down before asking the kernel (a missing
    /// interface, one another machine holds): the message says it all.
    #[error("{0}")]
    Refused(String),
}

impl NetError {
    pub fn netlink(what: impl Into<String>, source: impl Into<io::Error>) -> Self {
        NetError::Netlink { what: what.into(), source: source.into() }
    }

    pub fn netns(what: impl Into<String>, source: impl Into<io::Error>) -> Self {
        NetError::Netns { what: what.into(), source: source.into() }
    }
}

pub type Result<T> = std::result::Result<T, NetError>;
