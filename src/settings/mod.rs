//! What the user asked for. Each source (the command line in `cli/`,
//! later settings files and OCI bundles) gives a `Settings` value
//! (`value.rs`); merged, it is checked against what `Inputs::probe`
//! found (`inputs.rs`, the only I/O of validation) into a pure, validated
//! `Config` (`config.rs`, single values parsed in `parse.rs`). Also the
//! console modes, the throw-away root options (`layers.rs`) and the rules
//! for machine names (`name.rs`).

pub mod config;
pub mod console;
pub mod guest;
pub mod guest_probe;
pub mod inputs;
pub mod layers;
pub mod name;
pub mod parse;
pub mod value;

pub use config::Config;
pub use inputs::Inputs;
pub use value::Settings;

/// The whole validation of one start: probe what the settings name, then
/// check them.
pub fn resolve(s: &Settings) -> crate::error::Result<Config> {
    let _span = tracing::info_span!("config").entered();
    tracing::debug!(set = ?s.set_fields(), "settings");
    let inputs = Inputs::probe(s)?;
    Config::new(s, &inputs)
}
