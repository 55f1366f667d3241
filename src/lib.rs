//! berth: boot OS trees and run commands in fresh namespaces, in the
//! tradition of systemd-nspawn. The folders are the subsystems; the
//! README's "Layout" section says what each one owns.

pub mod cli;
pub mod docs;
pub mod error;
pub mod host;
pub mod ids;
pub mod image;
pub mod live;
pub mod mount;
pub mod net;
pub mod oci;
pub mod plan;
pub mod security;
pub mod settings;
pub mod spawn;
pub mod state;
pub mod sys;
pub mod views;

pub use error::{Error, Result};
