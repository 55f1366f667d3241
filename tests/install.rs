//! scripts/install puts every file where it belongs: installed into a
//! temporary DESTDIR (no root needed) for the default prefix, /usr and
//! another prefix, twice (it is idempotent), with the unit's ExecStart=
//! naming the installed binary.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn top() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs scripts/install [PREFIX] into `dest`; its stdout.
fn install(dest: &Path, prefix: Option<&str>) -> String {
    let mut c = Command::new(top().join("scripts/install"));
    c.env("DESTDIR", dest).env("BERTH_BIN", env!("CARGO_BIN_EXE_berth")).args(prefix);
    let out = c.output().expect("run scripts/install");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "scripts/install {prefix:?} failed\n{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// Every file and link under `dir`, with its mode and contents' length.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (u32, u64)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let m = fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                todo.push(e.path());
            } else {
                out.insert(e.path().strip_prefix(dir).unwrap().to_path_buf(), (m.mode(), m.len()));
            }
        }
    }
    out
}

fn expected(prefix: &str, unitdir: &str, zsh: &str, fish: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![
        format!("{prefix}/bin/berth"),
        format!("{prefix}/bin/berth-oci"),
        format!("{unitdir}/berth@.service"),
        format!("{prefix}/share/man/man5/berth.settings.5"),
        format!("{prefix}/share/man/man8/berth@.service.8"),
        format!("{prefix}/share/bash-completion/completions/berth"),
        format!("{zsh}/_berth"),
        format!("{fish}/berth.fish"),
    ];
    for e in fs::read_dir(top().join("man")).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".1") {
            v.push(format!("{prefix}/share/man/man1/{n}"));
        }
    }
    v
}

fn check(prefix: Option<&str>, unitdir: &str, zsh: &str, fish: &str) {
    let p = prefix.unwrap_or("/usr/local");
    let dest =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("install-{}{}", std::process::id(), p.replace('/', "-")));
    let _ = fs::remove_dir_all(&dest);
    let said = install(&dest, prefix);
    let first = tree(&dest);
    let want = expected(p, unitdir, zsh, fish);
    for f in &want {
        let rel = PathBuf::from(f.trim_start_matches('/'));
        assert!(first.contains_key(&rel), "scripts/install {p} did not install {f}; it said:\n{said}");
        assert!(said.contains(f.as_str()), "scripts/install did not say where it put {f}:\n{said}");
    }
    assert_eq!(first.len(), want.len(), "scripts/install put more than expected: {:?}", first.keys());
    let bin = dest.join(p.trim_start_matches('/')).join("bin");
    assert_eq!(fs::read_link(bin.join("berth-oci")).unwrap(), Path::new("berth"));
    assert_eq!(first[&PathBuf::from(format!("{}/bin/berth", p.trim_start_matches('/')))].0 & 0o777, 0o755);
    let unit = fs::read_to_string(dest.join(unitdir.trim_start_matches('/')).join("berth@.service")).unwrap();
    let exec: Vec<&str> = unit.lines().filter(|l| l.starts_with("ExecStart=")).collect();
    assert_eq!(exec.len(), 1, "{unit}");
    assert!(exec[0].starts_with(&format!("ExecStart={p}/bin/berth boot ")), "{}", exec[0]);
    // The installed binary is the one built, and it runs.
    let v = Command::new(bin.join("berth")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("berth "), "{v:?}");
    // Again: the same files, nothing added.
    install(&dest, prefix);
    assert_eq!(tree(&dest), first, "a second scripts/install {p} changed what the first installed");
    fs::remove_dir_all(&dest).unwrap();
}

#[test]
fn default_prefix() {
    check(None, "/usr/local/lib/systemd/system", "/usr/local/share/zsh/site-functions", "/etc/fish/completions");
}

#[test]
fn usr() {
    check(
        Some("/usr"),
        "/usr/lib/systemd/system",
        "/usr/share/zsh/vendor-completions",
        "/usr/share/fish/vendor_completions.d",
    );
}

#[test]
fn other_prefix() {
    check(Some("/opt/berth"), "/etc/systemd/system", "/opt/berth/share/zsh/site-functions", "/etc/fish/completions");
}

#[test]
fn relative_prefix_is_refused() {
    let out = Command::new(top().join("scripts/install"))
        .env("DESTDIR", env!("CARGO_TARGET_TMPDIR"))
        .env("BERTH_BIN", env!("CARGO_BIN_EXE_berth"))
        .arg("usr/local")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.lines().count() == 1 && err.contains("not an absolute path"), "{err}");
}
