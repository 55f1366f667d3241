//! `berth run` options, checked from inside the busybox guest.

mod common;

use common::*;
use std::fs;
use std::time::Duration;

#[test]
fn hostname_option() {
    let (_s, tree) = busybox_setup("hostopt");
    let _l = host_lock_shared();
    let name = unique_name("hostopt");
    let out = run_sh(&tree, &name, &["--hostname", "custom-host"], "echo hn=$(hostname)");
    out.expect_code(0);
    assert_eq!(out.get("hn"), "custom-host", "{}", out.describe());
    // The machine (and its scope) keeps its own name.
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn setenv() {
    let (_s, tree) = busybox_setup("setenv");
    let _l = host_lock_shared();
    let name = unique_name("setenv");
    let out = run_sh(
        &tree,
        &name,
        &["-E", "FOO=bar baz", "--setenv", "EMPTY=", "--setenv=SECOND=2"],
        "echo foo=$FOO; echo second=$SECOND; echo empty=${EMPTY-unset}",
    );
    out.expect_code(0);
    assert_eq!(out.get("foo"), "bar baz", "{}", out.describe());
    assert_eq!(out.get("second"), "2", "{}", out.describe());
    assert_eq!(out.get("empty"), "", "{}", out.describe());
}

#[test]
fn host_environment_does_not_leak() {
    let (_s, tree) = busybox_setup("envleak");
    let _l = host_lock_shared();
    for extra in [&[][..], &["--as-pid2"][..]] {
        let name = unique_name("envleak");
        let mut c = berth();
        c.env("BERTH_TEST_HOST_ONLY", "leaked");
        c.args(["run", "-q", "-P", "-M", &name, "-D"]).arg(&tree).args(extra);
        c.args([
            "--",
            "/bin/sh",
            "-c",
            "echo v=${BERTH_TEST_HOST_ONLY-unset}; grep -l BERTH_TEST_HOST_ONLY /proc/[0-9]*/environ 2>/dev/null | sed 's/^/seen:/'; true",
        ]);
        let out = run_to_end(c, QUICK);
        out.expect_code(0);
        assert_eq!(out.get("v"), "unset", "the host's environment reached the command {extra:?}\n{}", out.describe());
        let seen: Vec<String> = out.lines().into_iter().filter(|l| l.starts_with("seen:")).collect();
        assert!(
            seen.is_empty(),
            "the host's environment is visible in the guest {extra:?}: {seen:?}\n{}",
            out.describe()
        );
    }
}

#[test]
fn user_option() {
    let (_s, tree) = busybox_setup("user");
    let _l = host_lock_shared();
    for (user, uid) in [("tester", "1000"), ("root", "0")] {
        for extra in [&[][..], &["--as-pid2"][..]] {
            let name = unique_name("user");
            let mut args = vec!["-u", user];
            args.extend_from_slice(extra);
            let out = run_sh(&tree, &name, &args, "echo uid=$(id -u); echo gid=$(id -g); echo home=$HOME");
            out.expect_code(0);
            assert_eq!(out.get("uid"), uid, "{}", out.describe());
            assert_eq!(out.get("gid"), uid, "{}", out.describe());
            let home = if user == "root" { "/root" } else { "/home/tester" };
            assert_eq!(out.get("home"), home, "{}", out.describe());
        }
    }
    // An unknown user is berth's own failure.
    let name = unique_name("user");
    let out = run_sh(&tree, &name, &["-u", "no-such-user"], "true");
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn chdir_option() {
    let (_s, tree) = busybox_setup("chdir");
    let _l = host_lock_shared();
    let name = unique_name("chdir");
    let out = run_sh(&tree, &name, &["--chdir", "/etc"], "echo pwd=$(pwd)");
    out.expect_code(0);
    assert_eq!(out.get("pwd"), "/etc", "{}", out.describe());
}

#[test]
fn bind_mounts() {
    let (s, tree) = busybox_setup("bind");
    let _l = host_lock_shared();
    let rw = s.path("rw");
    let ro = s.path("ro");
    fs::create_dir_all(&rw).unwrap();
    fs::create_dir_all(&ro).unwrap();
    fs::write(rw.join("hello"), "from-host-rw\n").unwrap();
    fs::write(ro.join("hello"), "from-host-ro\n").unwrap();
    let name = unique_name("bind");
    // Under the default user namespace a plain bind shows host root's
    // files as nobody (nspawn's behaviour too); `:idmap` maps them onto the
    // guest's ids, so the guest's root may write.
    let bind = format!("{}:/mnt/rw:idmap", rw.display());
    let bind_ro = format!("{}:/mnt/ro", ro.display());
    let same = format!("{}", ro.display()); // SRC alone: same path in the guest
    let out = run_sh(
        &tree,
        &name,
        &["--bind", &bind, "--bind-ro", &bind_ro, "--bind-ro", &same],
        &format!(
            r#"
            echo rw=$(cat /mnt/rw/hello)
            echo ro=$(cat /mnt/ro/hello)
            echo same=$(cat {same}/hello)
            echo from-guest > /mnt/rw/written && echo rwwrite=ok || echo rwwrite=failed
            echo owner=$(stat -c %u {same}/hello)
            if ( exec 3>>/mnt/ro/new-file ) 2>/dev/null; then echo rowrite=open; else echo rowrite=denied; fi
            "#
        ),
    );
    out.expect_code(0);
    assert_eq!(out.get("rw"), "from-host-rw", "{}", out.describe());
    assert_eq!(out.get("ro"), "from-host-ro", "{}", out.describe());
    assert_eq!(out.get("same"), "from-host-ro", "{}", out.describe());
    assert_eq!(out.get("rwwrite"), "ok", "{}", out.describe());
    assert_eq!(out.get("owner"), "65534", "a plain bind shows host root as nobody\n{}", out.describe());
    assert_eq!(out.get("rowrite"), "denied", "--bind-ro is writable\n{}", out.describe());
    assert_eq!(fs::read_to_string(rw.join("written")).unwrap_or_default(), "from-guest\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(rw.join("written")).unwrap().uid(),
        0,
        "the guest's root writes as host uid 0 through :idmap"
    );
    assert!(!ro.join("new-file").exists(), "a file appeared in the read-only bind source");
    assert_clean(&name, "", &[&tree, &rw, &ro], None, Duration::from_secs(3));
}

#[test]
fn tmpfs_option() {
    let (_s, tree) = busybox_setup("tmpfs");
    let _l = host_lock_shared();
    let name = unique_name("tmpfs");
    let out = run_sh(
        &tree,
        &name,
        &["--tmpfs", "/var/scratch"],
        "echo x > /var/scratch/f && echo write=ok; echo fs=$(grep ' /var/scratch ' /proc/self/mountinfo | sed 's/.* - \\([^ ]*\\) .*/\\1/')",
    );
    out.expect_code(0);
    assert_eq!(out.get("write"), "ok", "{}", out.describe());
    assert_eq!(out.get("fs"), "tmpfs", "{}", out.describe());
    assert!(!tree.join("var/scratch/f").exists(), "the tmpfs write landed in the tree");
}

#[test]
fn read_only_option() {
    let (_s, tree) = busybox_setup("rdonly");
    let _l = host_lock_shared();
    let name = unique_name("rdonly");
    let out = run_sh(
        &tree,
        &name,
        &["--read-only"],
        r#"
        if ( exec 3>>/etc/berth-test-file ) 2>/dev/null; then echo root=open; else echo root=denied; fi
        echo x > /run/f && echo run=ok || echo run=failed
        "#,
    );
    out.expect_code(0);
    assert_eq!(out.get("root"), "denied", "--read-only tree is writable\n{}", out.describe());
    assert_eq!(out.get("run"), "ok", "/run must stay writable with --read-only\n{}", out.describe());
    assert!(!tree.join("etc/berth-test-file").exists());
}

#[test]
fn machine_name_from_directory() {
    let (s, _tree) = busybox_setup("dirname");
    let _l = host_lock_shared();
    // nspawn-style clean-up of the base name: characters outside
    // [A-Za-z0-9.-] are dropped.
    let tag = unique_name("dn");
    let base = format!("{}_x", tag); // e.g. bt-dn-123-0_x
    let want = format!("{}x", tag);
    let tree = tree_copy(&s, &fixture("busybox"), &base);
    let mut c = berth();
    c.args(["run", "-q", "-P", "-D"]).arg(&tree).args(["--", "/bin/sh", "-c", "echo hn=$(hostname)"]);
    let out = run_to_end(c, QUICK);
    out.expect_code(0);
    assert_eq!(out.get("hn"), want, "{}", out.describe());
    assert_clean(&want, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn image_name_means_var_lib_machines() {
    let (s, _tree) = busybox_setup("image");
    let _l = host_lock_shared();
    let name = unique_name("image");
    fs::create_dir_all("/var/lib/machines").unwrap();
    let img = std::path::Path::new("/var/lib/machines").join(&name);
    struct RmOnDrop(std::path::PathBuf);
    impl Drop for RmOnDrop {
        fn drop(&mut self) {
            let _ = std::process::Command::new("rm").arg("-rf").arg("--one-file-system").arg(&self.0).status();
        }
    }
    let st = std::process::Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(fixture("busybox"))
        .arg(&img)
        .status()
        .unwrap();
    assert!(st.success());
    let _rm = RmOnDrop(img.clone());
    drop(s);
    let mut c = berth();
    c.args(["run", "-q", "-P", &name, "--", "/bin/sh", "-c", "echo hn=$(hostname)"]);
    let out = run_to_end(c, QUICK);
    out.expect_code(0);
    assert_eq!(out.get("hn"), name, "{}", out.describe());
    assert_clean(&name, "", &[&img], None, Duration::from_secs(3));
}
