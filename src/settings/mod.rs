//! What the user asked for. Each source (the command line in `cli/`,
//! later settings files and OCI bundles) gives a `Settings` value
//! (`value.rs`); merged, it is checked against what `Inputs::probe`
//! found (`inputs.rs`, the only I/O of validation) into a pure, validated
//! `Config` (`config.rs`, single values parsed in `parse.rs`). Also the
//! console modes, the throw-away root options (`layers.rs`) and the rules
//! for machine names (`name.rs`).

pub mod bind_user;
pub mod carry;
pub mod config;
pub mod console;
pub mod edit;
pub mod file;
pub mod file_error;
pub mod guest;
pub mod guest_probe;
pub mod inputs;
pub mod keys;
pub mod layers;
pub mod lookup;
pub mod name;
pub mod parse;
pub mod types;
pub mod value;

pub use config::Config;
pub use inputs::Inputs;
pub use value::Settings;

/// The whole validation of one start: the machine's settings file under
/// the command line's, then what they name probed, then checked.
pub fn resolve(cli: Settings, mode: lookup::Mode) -> crate::error::Result<Config> {
    let _span = tracing::info_span!("config").entered();
    let (s, _file) = lookup::load(cli, mode)?;
    let s = &s;
    tracing::debug!(set = ?s.set_fields(), "settings");
    let inputs = Inputs::probe(s)?;
    Config::new(s, &inputs)
}
