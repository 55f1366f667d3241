//! Verbs that reach into a running machine: shell, login, copy-to/copy-from, bind.

pub mod bind;
pub mod copy;
pub mod enter;
pub mod guest;
pub mod login;
pub mod shell;
