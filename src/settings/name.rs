//! Machine-name rules, shared with systemd-machined: ASCII letters, digits,
//! `-` and `.`, dot-separated labels that are non-empty and neither start nor
//! end with `-`, at most 64 characters, and `.host` reserved.

use thiserror::Error;

pub const NAME_MAX: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("machine name is empty; pass one with -M NAME")]
    Empty,
    #[error("machine name '{0}' is longer than {NAME_MAX} characters; pass a shorter one with -M")]
    TooLong(String),
    #[error("machine name '{0}' is reserved; pick another with -M")]
    Reserved(String),
    #[error("machine name '{0}' is invalid: use letters, digits, '-' and '.', with no empty label and no label starting or ending in '-' (pass a valid one with -M)")]
    Invalid(String),
}

/// Checks a machine name against machined's hostname rule.
pub fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > NAME_MAX {
        return Err(NameError::TooLong(name.to_string()));
    }
    if name == ".host" {
        return Err(NameError::Reserved(name.to_string()));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(NameError::Invalid(name.to_string()))
    }
}

/// Derives a valid machine name from an arbitrary string (usually a
/// directory's base name), the way nspawn does: invalid characters are
/// dropped, runs of separators collapse, no label starts with `-`, and
/// the result is cut to 64 characters without a trailing separator.
pub fn cleanup(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(NAME_MAX));
    // `at_label_start` is true at the beginning and right after a dot.
    let mut at_label_start = true;
    let mut last_hyphen = false;
    for c in raw.chars() {
        if out.len() >= NAME_MAX {
            break;
        }
        match c {
            '.' => {
                if at_label_start || last_hyphen {
                    continue;
                }
                out.push('.');
                at_label_start = true;
                last_hyphen = false;
            }
            '-' => {
                if at_label_start {
                    continue;
                }
                out.push('-');
                last_hyphen = true;
            }
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                at_label_start = false;
                last_hyphen = false;
            }
            _ => {}
        }
    }
    while out.ends_with('-') || out.ends_with('.') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for n in ["debian", "a", "deb-12", "x.y.z", "A1-b2", &"a".repeat(64)] {
            assert_eq!(validate(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn invalid_names() {
        assert_eq!(validate(""), Err(NameError::Empty));
        assert!(matches!(validate(&"a".repeat(65)), Err(NameError::TooLong(_))));
        assert!(matches!(validate(".host"), Err(NameError::Reserved(_))));
        for n in ["a_b", "-a", "a-", "a..b", ".a", "a.", "a.-b", "ä", "a b", "a/b"] {
            assert!(matches!(validate(n), Err(NameError::Invalid(_))), "{n}");
        }
    }

    #[test]
    fn cleanup_makes_valid_names() {
        assert_eq!(cleanup("debian_bookworm"), "debianbookworm");
        assert_eq!(cleanup("my-tree"), "my-tree");
        assert_eq!(cleanup("-lead"), "lead");
        assert_eq!(cleanup("trail-"), "trail");
        assert_eq!(cleanup("a..b"), "a.b");
        assert_eq!(cleanup(".hidden"), "hidden");
        assert_eq!(cleanup("a.-b"), "a.b");
        assert_eq!(cleanup("a-.b"), "a-b");
        assert_eq!(cleanup("___"), "");
        let long = cleanup(&"x".repeat(100));
        assert_eq!(long.len(), 64);
        for raw in ["a-.-b", "--.--", "x_y-z.", "ünïcode-tree", "a.b-"] {
            let c = cleanup(raw);
            assert!(c.is_empty() || validate(&c).is_ok(), "{raw} -> {c}");
        }
    }
}
