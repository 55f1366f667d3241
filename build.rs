//! Gives each build of berth an id that changes whenever its source does:
//! caches of what berth computes from its own code (the compiled system
//! call filters under /run/berth/seccomp) are keyed on it, so a rebuilt
//! berth never loads what an older one made.

use std::hash::Hasher;

fn visit(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            visit(&p, files);
        } else {
            files.push(p);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let mut files = Vec::new();
    visit(std::path::Path::new("src"), &mut files);
    files.push("Cargo.lock".into());
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        h.write(f.to_string_lossy().as_bytes());
        h.write(&std::fs::read(&f).unwrap_or_default());
    }
    println!("cargo:rustc-env=BERTH_BUILD_ID={:016x}", h.finish());
}
