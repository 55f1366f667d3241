//! What the user asked for: the validated configuration of one machine and the rules for its name.

pub mod config;
pub mod console;
pub mod layers;
pub mod name;
