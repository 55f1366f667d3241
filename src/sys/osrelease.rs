//! os-release parsing (the subset of shell syntax the format allows).

use std::collections::BTreeMap;

/// Parses os-release text into a map. Unparseable lines are skipped, as
/// systemd does.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        map.insert(key.to_string(), unquote(value.trim()));
    }
    map
}

fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2 && (bytes[0] == b'"' || bytes[0] == b'\'') && bytes[bytes.len() - 1] == bytes[0] {
        let inner = &v[1..v.len() - 1];
        if bytes[0] == b'\'' {
            return inner.to_string();
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    v.to_string()
}

/// The `container_host_*` variables the Container Interface passes to the
/// guest's PID 1, derived from the host's os-release.
pub fn host_env(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    [
        ("ID", "container_host_id"),
        ("VERSION_ID", "container_host_version_id"),
        ("BUILD_ID", "container_host_build_id"),
        ("VARIANT_ID", "container_host_variant_id"),
    ]
    .iter()
    .filter_map(|(k, env)| map.get(*k).map(|v| (env.to_string(), v.clone())))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian() {
        let m = parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n# c\nbogus line\nQ='single'\nE=\"a\\\"b\"\n",
        );
        assert_eq!(m["ID"], "debian");
        assert_eq!(m["VERSION_ID"], "12");
        assert_eq!(m["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(m["Q"], "single");
        assert_eq!(m["E"], "a\"b");
        let env = host_env(&m);
        assert!(env.contains(&("container_host_id".into(), "debian".into())));
        assert!(env.contains(&("container_host_version_id".into(), "12".into())));
        assert_eq!(env.len(), 2);
    }
}
