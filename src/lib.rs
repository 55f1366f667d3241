//! berth: boot OS trees and run commands in fresh namespaces, in the
//! tradition of systemd-nspawn.

pub mod bus;
pub mod cgroup;
pub mod cgroupv1;
pub mod child;
pub mod cli;
pub mod config;
pub mod console;
pub mod dev;
pub mod devices;
pub mod ephemeral;
pub mod error;
pub mod exec;
pub mod image;
pub mod ipc;
pub mod launcher;
pub mod limits;
pub mod lock;
pub mod machine;
pub mod machined;
pub mod mounts;
pub mod name;
pub mod nested;
pub mod notify;
pub mod osrelease;
pub mod passwd;
pub mod policy;
pub mod property;
pub mod rootfs;
pub mod runhost;
pub mod runtime;
pub mod scope;
pub mod scope_stop;
pub mod sealed;
pub mod seccomp;
pub mod security;
pub mod shell;
pub mod shift;
pub mod signal;
pub mod stub;
pub mod sys;
pub mod userns;

// Verbs that reach into a running machine.
pub mod bind;
pub mod copy;
pub mod enter;
pub mod guest;
pub mod login;

pub use error::{Error, Result};
