//! The generated documentation (man/berth.1, man/berth-VERB.1,
//! man/berth.settings.5, completions/*) matches the code: everything is
//! regenerated into a temporary directory and compared with the checked-in
//! copies. Pure; no root needed. `scripts/gen-docs` (BERTH_WRITE_DOCS=1)
//! writes the copies instead.

use std::path::{Path, PathBuf};

fn top() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Checked-in files in the generated places that nothing generates any
/// more (a verb that was removed).
fn orphans(generated: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["man", "completions"] {
        for e in std::fs::read_dir(top().join(dir)).into_iter().flatten().flatten() {
            let rel = format!("{dir}/{}", e.file_name().to_string_lossy());
            let is_generated_kind = dir == "completions" || (rel.starts_with("man/berth-") && rel.ends_with(".1"));
            if is_generated_kind && !generated.contains(&rel) {
                out.push(rel);
            }
        }
    }
    out
}

fn write(docs: &[berth::docs::Doc], under: &Path) -> Vec<PathBuf> {
    docs.iter()
        .map(|d| {
            let p = under.join(&d.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &d.text).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
            p
        })
        .collect()
}

#[test]
fn checked_in_docs_match_the_code() {
    let docs = berth::docs::render().unwrap_or_else(|e| panic!("berth: {e}"));
    let paths: Vec<String> = docs.iter().map(|d| d.path.clone()).collect();
    if std::env::var_os("BERTH_WRITE_DOCS").is_some() {
        for p in write(&docs, top()) {
            println!("wrote {}", p.strip_prefix(top()).unwrap().display());
        }
        for o in orphans(&paths) {
            std::fs::remove_file(top().join(&o)).unwrap();
            println!("removed {o}");
        }
        return;
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("docs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    write(&docs, &tmp);
    let mut stale = Vec::new();
    for rel in &paths {
        let fresh = std::fs::read(tmp.join(rel)).unwrap();
        match std::fs::read(top().join(rel)) {
            Ok(old) if old == fresh => {}
            Ok(_) => {
                stale.push(format!("{rel} is stale (it differs from what the code generates); run scripts/gen-docs"))
            }
            Err(_) => stale.push(format!("{rel} is missing; run scripts/gen-docs")),
        }
    }
    for o in orphans(&paths) {
        stale.push(format!("{o} is no longer generated (its verb is gone); run scripts/gen-docs"));
    }
    std::fs::remove_dir_all(&tmp).unwrap();
    assert!(stale.is_empty(), "\n{}", stale.join("\n"));
}
