//! --bind-user: a real host account (made by the test with useradd, and
//! removed after) bound into a busybox guest: its home at
//! /run/host/home/USER with its files shown as guest id 60514, its user
//! and group records in /run/host/userdb, `-u USER` running as it, and
//! what it writes owned by the user on the host.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A host user for the test, removed on drop.
struct HostUser {
    name: String,
}

impl HostUser {
    fn new(name: &str, home: &Path) -> HostUser {
        let st = Command::new("useradd").args(["-M", "-U", "-s", "/bin/sh", "-d"]).arg(home).arg(name).status();
        assert!(st.is_ok_and(|s| s.success()), "useradd {name} failed");
        HostUser { name: name.to_string() }
    }

    fn id(&self, flag: &str) -> u32 {
        let out = Command::new("id").arg(flag).arg(&self.name).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

impl Drop for HostUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

#[test]
fn a_host_user_and_its_home_inside() {
    require(&["useradd", "userdel"]);
    let (s, tree) = busybox_setup("hbu");
    let user = format!("hbu{}", std::process::id() % 100_000);
    let home = s.path("home");
    fs::create_dir(&home).unwrap();
    let u = HostUser::new(&user, &home);
    let (uid, gid) = (u.id("-u"), u.id("-g"));
    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
    fs::write(home.join("mine"), "hello").unwrap();
    std::os::unix::fs::chown(home.join("mine"), Some(uid), Some(gid)).unwrap();
    let n = format!("hbu-{}", std::process::id());
    let bind = format!("--bind-user={user}");

    // As root: the records and the home's ownership as the guest sees it.
    let script = format!(
        "cat /run/host/userdb/{user}.user; echo; readlink /run/host/userdb/60514.user; \
         stat -c '%u:%g' /run/host/home/{user}/mine; cat /run/host/home/{user}/mine; echo"
    );
    let out = run_default(&tree, &n, &[&bind], &script);
    out.expect_code(0);
    let lines = out.lines();
    let record: serde_json::Value =
        serde_json::from_str(&lines[0]).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    assert_eq!(record["userName"], user.as_str());
    assert_eq!(record["uid"], 60514);
    assert_eq!(record["homeDirectory"], format!("/run/host/home/{user}"));
    assert_eq!(lines[1..4], [format!("{user}.user"), "60514:60514".into(), "hello".into()], "{}", out.describe());

    // As the user: its ids, and what it writes is its own on the host.
    let script = format!("id -u; id -g; echo $HOME; echo new > /run/host/home/{user}/written && echo wrote");
    let out = run_default(&tree, &n, &[&bind, "-u", &user], &script);
    out.expect_code(0);
    assert_eq!(out.lines()[..4], ["60514", "60514", &format!("/run/host/home/{user}"), "wrote"], "{}", out.describe());
    let md = fs::metadata(home.join("written")).unwrap();
    assert_eq!((md.uid(), md.gid()), (uid, gid), "the file the user wrote is not the host user's");
    assert_clean(&n, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn bad_users_are_refused_in_one_line() {
    require(&["useradd"]);
    let (_s, tree) = busybox_setup("hbubad");
    let n = format!("hbu-bad-{}", std::process::id());
    for (extra, says) in [
        (vec!["--bind-user=hbu-no-such-user"], "no such user"),
        (vec!["--bind-user=root"], "refused"),
        (vec!["--bind-user=root", "-U", "no"], "user namespace"),
    ] {
        let out = run_default(&tree, &n, &extra, "true");
        assert_one_error_line(&out);
        assert!(out.stderr.contains("--bind-user") && out.stderr.contains(says), "{extra:?}: {}", out.describe());
    }
    assert_clean(&n, "", &[&tree], None, Duration::from_secs(3));
}
