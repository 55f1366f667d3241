//! Settings files (`NAME.berth`, `NAME.nspawn`) seen from inside real
//! guests: keys take effect, the command line wins, /etc wins over the
//! image's directory, untrusted keys are ignored with a warning, a bad
//! file is one line naming file:line:key and leaves nothing behind; and
//! `berth cat`, `berth edit` and the image verbs that carry the file.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A settings file that is removed when the test ends.
struct SettingsFile(PathBuf);

impl SettingsFile {
    fn new(path: PathBuf, text: &str) -> SettingsFile {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        SettingsFile(path)
    }
}

impl Drop for SettingsFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// `berth run -D TREE -M NAME EXTRA -- sh -c SCRIPT` the way a person
/// types it: default console, stdin from /dev/null, output to a pipe.
fn run_plain(tree: &Path, name: &str, extra: &[&str], script: &str) -> Out {
    let mut c = berth();
    c.arg("run").arg("-D").arg(tree).arg("-M").arg(name).args(extra);
    c.args(["--", "/bin/sh", "-c", script]).stdin(Stdio::null());
    run_to_end(c, QUICK)
}

#[test]
fn keys_take_effect_inside_the_guest() {
    let (s, tree) = busybox_setup("setkeys");
    let _l = host_lock_shared();
    let name = unique_name("setkeys");
    let shared = s.path("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::write(shared.join("hello"), "from-host\n").unwrap();
    let _f = SettingsFile::new(
        PathBuf::from(format!("/etc/berth/{name}.nspawn")),
        &format!(
            "[Exec]\nEnvironment=FROM_FILE=yes it is\nHostname=filehost\nPrivateUsers=no\n\
             Capability=CAP_SYS_TIME\n[Files]\nReadOnly=yes\nBindReadOnly={}:/home\n",
            shared.display()
        ),
    );
    let script = "echo env=$FROM_FILE; echo hn=$(hostname); echo mnt=$(cat /home/hello); \
                  touch /x 2>/dev/null && echo ro=no || echo ro=yes; \
                  echo map=$(awk '{print $1\"-\"$2}' /proc/self/uid_map); \
                  echo bnd=$(grep CapBnd /proc/self/status | awk '{print $2}')";
    let out = run_plain(&tree, &name, &[], script);
    out.expect_code(0);
    let ctx = out.describe();
    assert_eq!(out.get("env"), "yes it is", "{ctx}");
    assert_eq!(out.get("hn"), "filehost", "{ctx}");
    assert_eq!(out.get("mnt"), "from-host", "{ctx}");
    assert_eq!(out.get("ro"), "yes", "{ctx}");
    assert_eq!(out.get("map"), "0-0", "PrivateUsers=no: the host's ids\n{ctx}");
    let bnd = u64::from_str_radix(&out.get("bnd"), 16).unwrap();
    assert!(bnd & (1 << 25) != 0, "Capability=CAP_SYS_TIME is in the bounding set\n{ctx}");
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
    // Without it (--settings=no) none of it applies.
    let out = run_plain(&tree, &name, &["--settings=no"], "echo env=${FROM_FILE-unset}; echo hn=$(hostname)");
    out.expect_code(0);
    assert_eq!((out.get("env").as_str(), out.get("hn")), ("unset", name.clone()), "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn precedence_and_trust() {
    let (_s, tree) = busybox_setup("settrust");
    let _l = host_lock_shared();
    // The file next to the tree is named after its directory: tree.nspawn.
    let beside = tree.parent().unwrap().join("tree.nspawn");
    let _b = SettingsFile::new(
        beside.clone(),
        "[Exec]\nHostname=besidehost\nCapability=CAP_SYS_TIME\nEnvironment=B=beside\n",
    );
    let script = "echo hn=$(hostname); echo b=${B-unset}; echo bnd=$(grep CapBnd /proc/self/status | awk '{print $2}')";
    let name = "tree";
    // Untrusted: Hostname and Environment apply, Capability is ignored with
    // one warning naming file, line and key.
    let out = run_plain(&tree, name, &[], script);
    out.expect_code(0);
    let ctx = out.describe();
    assert_eq!((out.get("hn").as_str(), out.get("b").as_str()), ("besidehost", "beside"), "{ctx}");
    let bnd = u64::from_str_radix(&out.get("bnd"), 16).unwrap();
    assert_eq!(bnd & (1 << 25), 0, "an untrusted file widened the bounding set\n{ctx}");
    let warn = format!("{}:3: Capability= ignored", beside.display());
    assert!(out.stderr.contains(&warn), "no warning `{warn}`\n{ctx}");
    assert_clean(name, "", &[&tree], None, Duration::from_secs(3));
    // --settings=trusted trusts it.
    let out = run_plain(&tree, name, &["--settings=trusted"], script);
    let bnd = u64::from_str_radix(&out.get("bnd"), 16).unwrap();
    assert!(bnd & (1 << 25) != 0, "{}", out.describe());
    assert_clean(name, "", &[&tree], None, Duration::from_secs(3));
    // The command line wins key by key; override turns that round.
    let out = run_plain(&tree, name, &["--hostname=clihost"], script);
    assert_eq!((out.get("hn").as_str(), out.get("b").as_str()), ("clihost", "beside"), "{}", out.describe());
    let out = run_plain(&tree, name, &["--hostname=clihost", "--settings=override"], script);
    assert_eq!(out.get("hn"), "besidehost", "{}", out.describe());
    assert_clean(name, "", &[&tree], None, Duration::from_secs(3));
    // A file in /etc/berth wins over the one beside the image, whole.
    let _e = SettingsFile::new(PathBuf::from("/etc/berth/tree.berth"), "[Exec]\nHostname=etchost\n");
    let out = run_plain(&tree, name, &[], script);
    assert_eq!((out.get("hn").as_str(), out.get("b").as_str()), ("etchost", "unset"), "{}", out.describe());
    assert!(!out.stderr.contains("ignored"), "{}", out.describe());
    assert_clean(name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn a_bad_file_is_one_line_and_leaves_nothing() {
    let (_s, tree) = busybox_setup("setbad");
    let _l = host_lock_shared();
    let name = unique_name("setbad");
    let path = PathBuf::from(format!("/run/systemd/nspawn/{name}.nspawn"));
    for (text, want) in [
        ("[Exec]\nHostname=ok\nBoot=perhaps\n", ":3: Boot=: 'perhaps' is not a boolean; use yes or no"),
        ("[Files]\nBind=relative/path\n", ":2: Bind=: the source 'relative/path' is not absolute"),
        ("[Exec]\nLinkJournl=guest\n", ":2: LinkJournl=: unknown key in [Exec]"),
        ("Hostname=x\n", ":1: Hostname= comes before any section"),
    ] {
        let _f = SettingsFile::new(path.clone(), text);
        let out = run_plain(&tree, &name, &[], "true");
        assert_eq!(out.code(), 125, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains(&format!("{}{want}", path.display())), "want {want}\n{}", out.describe());
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
    }
}

#[test]
fn cat_edit_and_the_image_verbs_carry_the_file() {
    require(&[]);
    let s = Scratch::new("setcat");
    let store = s.path("store");
    fs::create_dir_all(store.join("img")).unwrap();
    let root = store.to_str().unwrap();
    let img = unique_name("setimg");
    fs::rename(store.join("img"), store.join(&img)).unwrap();
    let run = |args: &[&str]| {
        let mut c = berth();
        c.args(args).stdin(Stdio::null());
        run_to_end(c, QUICK)
    };
    // No file yet: one line saying how to make one.
    let out = run(&["cat", &img, "--image-root", root]);
    assert_ne!(out.code(), 0);
    assert_one_error_line(&out);
    assert!(out.stderr.contains(&format!("berth edit {img}")), "{}", out.describe());
    // edit with an editor that adds a key under [Exec]: saved in /etc/berth.
    let editor = s.path("editor.sh");
    fs::write(&editor, "#!/bin/sh\nsed -i 's/^\\[Exec\\]$/[Exec]\\nHostname=edited/' \"$1\"\n").unwrap();
    fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let saved = PathBuf::from(format!("/etc/berth/{img}.nspawn"));
    let _guard = SettingsFile(saved.clone());
    let mut c = berth();
    c.args(["edit", &img, "--image-root", root]).env("EDITOR", &editor).stdin(Stdio::null());
    let out = run_to_end(c, QUICK);
    out.expect_code(0);
    assert!(fs::read_to_string(&saved).unwrap().contains("[Exec]\nHostname=edited\n"), "{}", out.describe());
    fs::write(&saved, "[Exec]\nHostname=kept\n").unwrap();
    let bad = s.path("bad.sh");
    fs::write(&bad, "#!/bin/sh\nprintf 'Nonsense\\n' >> \"$1\"\n").unwrap();
    fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut c = berth();
    c.args(["edit", &img, "--image-root", root]).env("EDITOR", &bad).stdin(Stdio::null());
    let out = run_to_end(c, QUICK);
    assert_ne!(out.code(), 0);
    assert_one_error_line(&out);
    assert!(out.stderr.contains(&format!("{}:3:", saved.display())), "{}", out.describe());
    assert_eq!(fs::read_to_string(&saved).unwrap(), "[Exec]\nHostname=kept\n", "a bad edit was saved");
    let leftovers: Vec<_> = fs::read_dir("/etc/berth")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".#"))
        .collect();
    assert!(leftovers.is_empty(), "edit left {leftovers:?}");
    // cat shows it, text and JSON.
    let out = run(&["cat", &img, "--image-root", root]);
    out.expect_code(0);
    assert_eq!(out.stdout, format!("# {}\n[Exec]\nHostname=kept\n", saved.display()));
    let out = run(&["cat", &img, "--json", "--image-root", root]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("cat --json");
    assert_eq!((v["trusted"].as_bool(), v["text"].as_str()), (Some(true), Some("[Exec]\nHostname=kept\n")));
    // clone copies it, rename moves it, remove removes it (also the one
    // beside the image).
    fs::write(store.join(format!("{img}.nspawn")), "[Exec]\nHostname=beside\n").unwrap();
    let copy = format!("{img}c");
    let _g2 = SettingsFile(PathBuf::from(format!("/etc/berth/{copy}.nspawn")));
    run(&["clone", &img, &copy, "--image-root", root]).expect_code(0);
    assert_eq!(fs::read_to_string(format!("/etc/berth/{copy}.nspawn")).unwrap(), "[Exec]\nHostname=kept\n");
    assert!(store.join(format!("{copy}.nspawn")).is_file());
    let moved = format!("{img}m");
    let _g3 = SettingsFile(PathBuf::from(format!("/etc/berth/{moved}.nspawn")));
    run(&["rename", &copy, &moved, "--image-root", root]).expect_code(0);
    assert!(!Path::new(&format!("/etc/berth/{copy}.nspawn")).exists());
    assert!(Path::new(&format!("/etc/berth/{moved}.nspawn")).is_file());
    assert!(store.join(format!("{moved}.nspawn")).is_file() && !store.join(format!("{copy}.nspawn")).exists());
    run(&["remove", &moved, "--image-root", root]).expect_code(0);
    assert!(!Path::new(&format!("/etc/berth/{moved}.nspawn")).exists());
    assert!(!store.join(format!("{moved}.nspawn")).exists());
}
