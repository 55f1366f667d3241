//! What the host hands a guest's system: /etc/resolv.conf and
//! /etc/localtime (--resolv-conf, --timezone), credentials under
//! /run/host/credentials (--set-credential, --load-credential) and the
//! journal (--link-journal), in real guests: busybox runs, and a booted
//! bookworm (-x, so the cached tree is never written).

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

fn name(tag: &str) -> String {
    format!("hg-{tag}-{}", std::process::id())
}

#[test]
fn resolv_conf_and_timezone_follow_the_host() {
    let (_s, tree) = busybox_setup("hgtz");
    let n = name("tz");
    fs::write(tree.join("etc/resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap();
    let md5 = std::process::Command::new("sh").args(["-c", "md5sum < /etc/localtime"]).output().unwrap();
    let host_zone = String::from_utf8_lossy(&md5.stdout).split(' ').next().unwrap().to_string();
    // auto, sharing the host's network, writable tree: both replaced.
    let out = run_default(&tree, &n, &[], "cat /etc/resolv.conf; echo ==; md5sum < /etc/localtime");
    out.expect_code(0);
    let stdout = out.stdout.replace("\r\n", "\n");
    let (resolv, zone) = stdout.split_once("==\n").expect("two parts");
    assert_eq!(resolv, host_resolv, "{}", out.describe());
    assert!(zone.starts_with(&host_zone), "busybox has no zoneinfo: the zone is copied\n{}", out.describe());
    // off leaves the tree's file; delete removes it.
    fs::write(tree.join("etc/resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    let out =
        run_default(&tree, &n, &["--resolv-conf=off", "--timezone=delete"], "cat /etc/resolv.conf; ls /etc/localtime");
    assert!(out.stdout.contains("192.0.2.1") && !out.stdout.contains("/etc/localtime\n"), "{}", out.describe());
    // A read-only tree gets the host's files bound, read-only (where it
    // has a file to bind onto: its /etc/localtime is gone by now).
    let out =
        run_default(&tree, &n, &["--read-only"], "cat /etc/resolv.conf; echo x >> /etc/resolv.conf || echo refused");
    let stdout = out.stdout.replace("\r\n", "\n");
    assert!(stdout.starts_with(&host_resolv) && stdout.contains("refused"), "{}", out.describe());
    assert_eq!(fs::read_to_string(tree.join("etc/resolv.conf")).unwrap(), "nameserver 192.0.2.1\n");
    // Wrong modes: one line, nothing started.
    for bad in ["--resolv-conf=copy-nowhere", "--timezone=symlink", "--link-journal=sideways"] {
        let out = run_default(&tree, &n, &[bad], "true");
        assert_one_error_line(&out);
        assert!(out.stderr.contains(bad.split('=').next().unwrap()), "{bad}: {}", out.describe());
    }
    assert_clean(&n, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn credentials_are_read_only_under_run_host() {
    let (s, tree) = busybox_setup("hgcred");
    let n = name("cred");
    let file = s.path("secret");
    fs::write(&file, "from a file").unwrap();
    let load = format!("--load-credential=b.file:{}", file.display());
    let script = "echo $CREDENTIALS_DIRECTORY; cat /run/host/credentials/a.value; echo; \
                  cat /run/host/credentials/b.file; echo; stat -c %a /run/host/credentials/a.value; \
                  echo x > /run/host/credentials/a.value || echo refused";
    let out = run_default(&tree, &n, &["--set-credential=a.value:one:two", &load], script);
    out.expect_code(0);
    let lines = out.lines();
    assert_eq!(lines[..4], ["/run/host/credentials", "one:two", "from a file", "400"], "{}", out.describe());
    assert!(out.stdout.contains("refused"), "{}", out.describe());
    // Without credentials, no directory and no variable.
    let out = run_default(&tree, &n, &[], "echo [$CREDENTIALS_DIRECTORY]; ls /run/host/credentials || echo none");
    assert!(out.stdout.contains("[]") && out.stdout.contains("none"), "{}", out.describe());
    for bad in ["--set-credential=novalue", "--set-credential=../x:1", "--load-credential=x:/nonexistent/file"] {
        let out = run_default(&tree, &n, &[bad], "true");
        assert_one_error_line(&out);
    }
    assert_clean(&n, "", &[&tree], None, Duration::from_secs(3));
}

/// The guest's systemd PID 1: berth's child named systemd.
fn guest_pid(berth: u32) -> Option<u32> {
    let out = std::process::Command::new("ps").args(["-eo", "pid=,ppid=,comm="]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 3 && f[1] == berth.to_string() && f[2] == "systemd").then(|| f[0].parse().ok()).flatten()
    })
}

/// A booted bookworm (-x) with its journal on the host and a credential
/// its systemd imports as a system credential.
#[test]
fn booted_guest_journal_on_the_host_and_credentials_imported() {
    require(&["journalctl", "nsenter"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("hgboot");
    let n = name("boot");
    let id = fs::read_to_string(fx.join("etc/machine-id")).unwrap().trim().to_string();
    let journal = Path::new("/var/log/journal").join(&id);
    let _ = fs::remove_dir_all(&journal);
    let mut c = berth();
    c.args(["boot", "-x", "--link-journal=try-host", "--set-credential=passwd.plaintext-password.root:hg-secret"]);
    c.args(["-M", &n, "-D"]).arg(&fx);
    let mut bg = Bg::spawn(c, s.path("boot.log"));
    let logged = poll(Duration::from_secs(45), || {
        let out = std::process::Command::new("journalctl").arg("-D").arg(&journal).args(["-o", "cat"]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("Startup finished").then_some(text)
    });
    let imported = guest_pid(bg.pid()).and_then(|pid| {
        let out = std::process::Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-m", "cat", "/run/credentials/@system/passwd.plaintext-password.root"])
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    });
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(20));
    let _ = fs::remove_dir_all(&journal);
    assert!(logged.is_some(), "journalctl -D {} shows no finished boot\n{}", journal.display(), bg.describe());
    assert_eq!(imported.as_deref(), Some("hg-secret"), "the guest's systemd did not import the credential");
    assert_eq!(st.code(), Some(0), "{}", bg.describe());
    assert_clean(&n, "", &[&fx], None, Duration::from_secs(3));
}

/// A first-boot tree, whose accounts systemd-sysusers creates (root is
/// not in its passwd yet): the root password credential becomes root's
/// password. This needs the guest's mounts shared within the guest, as
/// its systemd hands each service its credentials through a mount made
/// in the service's own namespace.
#[test]
fn credential_sets_the_root_password_of_a_first_boot_tree() {
    require(&["perl"]);
    let fx = fixture("bookworm");
    let s = Scratch::new("hgpw");
    let tree = tree_copy(&s, &fx, "tree");
    for f in ["etc/passwd", "etc/shadow"] {
        let text = fs::read_to_string(tree.join(f)).unwrap();
        let kept: String = text.lines().filter(|l| !l.starts_with("root:")).map(|l| format!("{l}\n")).collect();
        fs::write(tree.join(f), kept).unwrap();
    }
    let _ = fs::remove_file(tree.join("etc/.updated"));
    let n = name("pw");
    let mut c = berth();
    c.args(["boot", "--set-credential=passwd.plaintext-password.root:hg-pw-s3cret", "-M", &n, "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, s.path("boot.log"));
    let hash = poll(Duration::from_secs(45), || {
        let shadow = fs::read_to_string(tree.join("etc/shadow")).ok()?;
        let line = shadow.lines().find(|l| l.starts_with("root:"))?.to_string();
        Some(line.split(':').nth(1)?.to_string())
    });
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(20));
    let hash = hash.unwrap_or_else(|| panic!("sysusers made no root account\n{}", bg.describe()));
    assert!(hash.starts_with('$'), "root's password is {hash:?}, not the credential's\n{}", bg.describe());
    // The hash is of the credential's value (libcrypt, as login checks it).
    let out = std::process::Command::new("perl")
        .args(["-e", "print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? qq(match) : qq(differs)", "hg-pw-s3cret", &hash])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "match", "root's hash {hash} is not of the credential");
    assert_eq!(st.code(), Some(0), "{}", bg.describe());
    assert_clean(&n, "", &[&tree], None, Duration::from_secs(3));
}

/// The guest's mounts are shared within the guest (nspawn does the same):
/// what a service of the guest mounts in its own namespace can reach the
/// rest of the guest. The host sees none of it.
#[test]
fn guest_mounts_are_shared_within_the_guest() {
    let (_s, tree) = busybox_setup("hgshare");
    let n = name("share");
    let out = run_default(&tree, &n, &[], "awk '$5 == \"/\"' /proc/self/mountinfo");
    out.expect_code(0);
    assert!(out.stdout.contains(" shared:"), "the guest's root is not shared\n{}", out.describe());
    assert_clean(&n, "", &[&tree], None, Duration::from_secs(3));
}
