//! `berth images`: a table for people, JSON for scripts.

use super::Image;
use std::time::{SystemTime, UNIX_EPOCH};

fn secs(t: Option<SystemTime>) -> Option<i64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs() as i64)
}

/// Local time as `2024-05-01 13:45`, or `-` when unknown.
fn local_time(t: Option<SystemTime>) -> String {
    let Some(s) = secs(t) else { return "-".into() };
    let t: libc::time_t = s as libc::time_t;
    // SAFETY: localtime_r fills the tm we own; strftime writes at most buf.len() bytes.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return "-".into();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c"%Y-%m-%d %H:%M".as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// 1.5G, 204.0M, 12.0K: powers of 1024 as du -h prints them.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", units[i])
    }
}

/// One row per image; sizes are measured once and passed in.
pub fn table(images: &[(Image, u64)]) -> String {
    if images.is_empty() {
        return "No images.\n".into();
    }
    let rows: Vec<[String; 6]> = images
        .iter()
        .map(|(i, size)| {
            [
                i.name.clone(),
                i.kind.as_str().into(),
                if i.read_only { "yes" } else { "no" }.into(),
                human_size(*size),
                local_time(i.created),
                local_time(i.modified),
            ]
        })
        .collect();
    let head = ["NAME", "TYPE", "RO", "SIZE", "CREATED", "MODIFIED"];
    let mut w = head.map(str::len);
    for r in &rows {
        for (k, c) in r.iter().enumerate() {
            w[k] = w[k].max(c.len());
        }
    }
    let fmt = |r: [&str; 6]| {
        let mut s = String::new();
        for (k, c) in r.iter().enumerate() {
            if k == 3 {
                s.push_str(&format!("{c:>width$}  ", width = w[k]));
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[k]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = fmt(head);
    for r in &rows {
        out.push_str(&fmt([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }
    let n = rows.len();
    out.push_str(&format!("\n{n} image{} listed.\n", if n == 1 { "" } else { "s" }));
    out
}

/// `[{"name", "type", "read_only", "size" (bytes), "created", "modified"
/// (seconds since the epoch, null when unknown), "path"}]`.
pub fn json(images: &[(Image, u64)]) -> String {
    let v: Vec<serde_json::Value> = images
        .iter()
        .map(|(i, size)| {
            serde_json::json!({
                "name": i.name,
                "type": i.kind.as_str(),
                "read_only": i.read_only,
                "size": size,
                "created": secs(i.created),
                "modified": secs(i.modified),
                "path": i.path.display().to_string(),
            })
        })
        .collect();
    serde_json::Value::Array(v).to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1023), "1023B");
        assert_eq!(human_size(1536), "1.5K");
        assert_eq!(human_size(204 * 1024 * 1024), "204.0M");
    }
}
