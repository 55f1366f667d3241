//! berth.settings(5): the hand-kept prose of docs/man/berth.settings.5.in
//! around a key table made from settings/keys.rs (section, key, trust,
//! command-line twin) and the one-line descriptions of `key_docs`.

use super::man::banner;
use super::{key_docs, Doc, DocsError};
use crate::settings::keys::{self, Key, Trust, KEYS};

const TEMPLATE: &str = include_str!("../../docs/man/berth.settings.5.in");
const TEMPLATE_NAME: &str = "docs/man/berth.settings.5.in";
const MARKER: &str = ".\\\" berth:keys";
const NOTE: &str = ".\\\"#";
/// Values a key's trust is probed with: a key whose trust depends on the
/// value (PrivateUsers) is trusted-only for some of them.
const PROBES: &[&str] = &["yes", "no", "pick", "identity"];

/// Text for a roff line: its escapes, no leading control character.
fn esc(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with(['.', '\'']) {
        format!("\\&{t}")
    } else {
        t
    }
}

/// "any", "trusted", or "trusted for V, W" when only some values widen.
pub(super) fn trust(k: &Key) -> String {
    let widening: Vec<&str> = PROBES.iter().copied().filter(|v| k.trust(v) == Trust::Trusted).collect();
    match widening.len() {
        0 => "any".into(),
        n if n == PROBES.len() => "trusted".into(),
        _ => format!("trusted for {}", widening.join(", ")),
    }
}

/// One key: its name, twin and trust as the tag, what it does below.
fn entry(k: &Key) -> Result<String, DocsError> {
    let what = key_docs::what(k.section, k.name).ok_or(DocsError::KeyUndocumented(k.section, k.name))?;
    Ok(format!(
        ".TP\n\\fB{}=\\fR    option: \\fB{}\\fR, trust: \\fI{}\\fR\n{}\n",
        esc(k.name),
        esc(k.twin),
        esc(&trust(k)),
        esc(what)
    ))
}

/// Every key under its section's heading, in keys.rs's order, with
/// Limit* after the other [Exec] keys.
fn table() -> Result<String, DocsError> {
    let limit = keys::find("Exec", "LimitNOFILE").expect("Limit* is a key");
    let mut out = String::new();
    let mut section = "";
    for k in KEYS {
        if k.section != section {
            if section == "Exec" {
                out += &entry(limit)?;
            }
            section = k.section;
            out += &format!(".SS \"[{section}]\"\n");
        }
        out += &entry(k)?;
    }
    Ok(out)
}

pub fn page() -> Result<Doc, DocsError> {
    if !TEMPLATE.lines().any(|l| l == MARKER) {
        return Err(DocsError::MarkerMissing(TEMPLATE_NAME, MARKER));
    }
    let mut text = banner(&format!("src/settings/keys.rs, src/docs/key_docs.rs and {TEMPLATE_NAME}"));
    let table = table()?;
    for line in TEMPLATE.lines().filter(|l| !l.starts_with(NOTE)) {
        if line == MARKER {
            text += &table;
        } else {
            text += line;
            text.push('\n');
        }
    }
    Ok(Doc { path: "man/berth.settings.5".into(), text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(section: &str, name: &str) -> &'static Key {
        KEYS.iter().find(|k| k.section == section && k.name == name).unwrap()
    }

    #[test]
    fn trust_column() {
        assert_eq!(trust(key("Exec", "Boot")), "any");
        assert_eq!(trust(key("Files", "Bind")), "trusted");
        assert_eq!(trust(key("Exec", "PrivateUsers")), "trusted for no, identity");
    }

    #[test]
    fn every_key_under_its_section() {
        let p = page().unwrap();
        for k in KEYS {
            assert!(p.text.contains(&format!("\\fB{}=\\fR", esc(k.name))), "{}", k.name);
        }
        assert!(
            p.text.contains("\\fBLimit*=\\fR    option: \\fB\\-\\-rlimit\\fR, trust: \\fItrusted\\fR\n"),
            "{}",
            p.text
        );
        assert!(p.text.contains(".SS \"[Network]\"\n.TP\n\\fBPrivate=\\fR"), "{}", p.text);
        assert!(!p.text.contains(MARKER));
    }
}
