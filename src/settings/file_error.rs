//! What can be wrong with a settings file: its own module, so the top
//! error type can gather it without depending on the parser.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FileError {
    #[error("{path}:{line}: {what}")]
    Syntax { path: String, line: usize, what: String },
    #[error("{path}:{line}: {key}=: {why}")]
    Key { path: String, line: usize, key: String, why: String },
    #[error("{path}: {why}")]
    Unreadable { path: String, why: String },
}
