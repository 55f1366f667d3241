//! Settings files (`NAME.berth`, `NAME.nspawn`): systemd's unit-file
//! syntax read into a `Settings` value. The syntax is handled here
//! (sections, comments, continuation lines, quoting); what each key means
//! and how far it may be trusted is in `keys.rs`.

pub use crate::settings::file_error::FileError;
use crate::settings::keys::{self, Trust};
use crate::settings::value::Settings;
use std::path::{Path, PathBuf};

/// The largest settings file berth reads (a guard against a mistaken
/// path to a huge file, not a limit anybody should meet).
const MAX_FILE: usize = 1 << 20;

/// A key that was ignored because the file is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub path: PathBuf,
    pub line: usize,
    pub key: String,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}= ignored: a settings file next to the image may not widen the machine's privileges; move the file to /etc/berth/ or pass --settings=trusted",
            self.path.display(),
            self.line,
            self.key
        )
    }
}

/// One settings file, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub settings: Settings,
    pub ignored: Vec<Ignored>,
}

pub fn read(path: &Path, trusted: bool) -> Result<Parsed, FileError> {
    let unreadable = |why: String| FileError::Unreadable { path: path.display().to_string(), why };
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() > MAX_FILE {
        return Err(unreadable(format!("{} bytes is more than a settings file can be", bytes.len())));
    }
    let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text".into()))?;
    parse(&text, path, trusted)
}

/// Parses a whole file; the first mistake stops it, naming line and key.
pub fn parse(text: &str, path: &Path, trusted: bool) -> Result<Parsed, FileError> {
    let shown = path.display().to_string();
    let mut out = Parsed::default();
    let mut section: Option<String> = None;
    for (line_no, line) in logical_lines(text) {
        let syntax = |what: String| FileError::Syntax { path: shown.clone(), line: line_no, what };
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name =
                rest.strip_suffix(']').filter(|n| !n.is_empty() && !n.contains(['[', ']'])).ok_or_else(|| {
                    syntax(format!("'{line}' is not a section header; write [Exec], [Files] or [Network]"))
                })?;
            if !keys::SECTIONS.contains(&name) {
                return Err(syntax(format!("unknown section [{name}]; berth knows [Exec], [Files] and [Network]")));
            }
            section = Some(name.to_string());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| syntax(format!("'{line}' is neither a section nor KEY=VALUE")))?;
        let Some(sec) = &section else {
            return Err(syntax(format!("{key}= comes before any section; put it under [Exec], [Files] or [Network]")));
        };
        let bad = |why: String| FileError::Key { path: shown.clone(), line: line_no, key: key.to_string(), why };
        let key_info = keys::find(sec, key).map_err(bad)?;
        if !trusted && key_info.trust(value) == Trust::Trusted {
            out.ignored.push(Ignored { path: path.to_path_buf(), line: line_no, key: key.to_string() });
            continue;
        }
        key_info.apply(&mut out.settings, key, value).map_err(bad)?;
    }
    Ok(out)
}

/// Lines with continuations joined (a trailing backslash), each with the
/// number of its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        // A comment inside a continuation is dropped, as systemd does.
        if !acc.is_empty() && raw.starts_with(['#', ';']) {
            pending = Some((start, acc));
            continue;
        }
        match raw.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(raw);
                out.push((start, acc.trim().to_string()));
            }
        }
    }
    if let Some((start, acc)) = pending {
        out.push((start, acc.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests;
