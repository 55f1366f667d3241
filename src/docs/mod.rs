//! berth's documentation that is generated from the code, so it cannot
//! drift from it: the man pages of berth and of every verb (from the clap
//! definitions, around hand-kept prose in docs/man/), berth.settings(5)'s
//! key table (from settings/keys.rs) and the shell completions. Pure: the
//! files come back as text; `tests/docs.rs` compares them with the
//! checked-in copies and `scripts/gen-docs` writes them.

mod key_docs;
mod man;
mod settings_page;

use crate::cli::Cli;
use clap::CommandFactory;

#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("settings key [{0}] {1} has no description in src/docs/key_docs.rs; add one")]
    KeyUndocumented(&'static str, &'static str),
    #[error("{0}: the marker line '{1}' is missing; put it back where the generated part goes")]
    MarkerMissing(&'static str, &'static str),
    #[error("rendering {0}: {1}")]
    Render(String, std::io::Error),
}

/// One generated file: its path relative to the top of the source tree,
/// and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub path: String,
    pub text: String,
}

/// The shells `berth completions` writes scripts for, with the file each
/// one's script is checked in as.
pub const SHELLS: &[(&str, &str)] =
    &[("bash", "completions/berth.bash"), ("zsh", "completions/_berth"), ("fish", "completions/berth.fish")];

/// The completion script for `shell` (bash, zsh or fish; the command line
/// refuses anything else).
pub fn completion(shell: &str) -> String {
    use clap_complete::Shell;
    let sh = match shell {
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        _ => Shell::Bash,
    };
    let mut out = Vec::new();
    clap_complete::generate(sh, &mut Cli::command(), "berth", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Every generated file: man/berth.1, man/berth-VERB.1 for each verb,
/// man/berth.settings.5 and the three completion scripts.
pub fn render() -> Result<Vec<Doc>, DocsError> {
    let mut docs = man::pages()?;
    docs.push(settings_page::page()?);
    docs.extend(SHELLS.iter().map(|(sh, path)| Doc { path: path.to_string(), text: completion(sh) }));
    Ok(docs)
}
