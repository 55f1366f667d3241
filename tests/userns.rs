//! User namespaces by default: id ranges (pick, collisions), ownership
//! (idmapped trees change nothing on disk; chown converts once), locked
//! masks, read-only boots leave the tree byte-for-byte unchanged.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn record_field(name: &str, pointer: &str) -> Option<String> {
    record_value(name, pointer).map(|v| v.to_string())
}

/// Path -> (uid, gid, mode) for every entry of a tree, on disk.
fn owners(tree: &Path) -> BTreeMap<String, (u32, u32, u32)> {
    let out = Command::new("find").arg(tree).args(["-xdev", "-printf", "%P\\t%U\\t%G\\t%m\\n"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((f[0].to_string(), (f[1].parse().ok()?, f[2].parse().ok()?, u32::from_str_radix(f[3], 8).ok()?)))
        })
        .collect()
}

fn boot(s: &Scratch, tree: &Path, name: &str, extra: &[&str]) -> Bg {
    let mut c = berth();
    c.args(["boot", "-q", "--console=passive", "-M", name]).args(extra).arg("-D").arg(tree);
    Bg::spawn(c, s.path(&format!("{name}.log")))
}

fn stop(mut bg: Bg) {
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(15));
    assert_eq!(st.code(), Some(0), "poweroff after SIGTERM\n{}", bg.describe());
}

#[test]
fn two_names_with_the_same_range_get_different_ranges() {
    let (s, tree) = busybox_setup("coll");
    // Two names that hash to the same slot.
    let tag = format!("coll{}", std::process::id());
    let first = format!("{tag}-a");
    let want = berth::ids::userns::candidate(&first, 0);
    let second = (0..200_000)
        .map(|i| format!("{tag}-{i}"))
        .find(|n| *n != first && berth::ids::userns::candidate(n, 0) == want)
        .expect("a colliding name");
    let spawn = |name: &str| {
        let mut c = berth();
        c.args(["run", "-q", "-P", "--read-only", "--stop-timeout", "1", "-M", name, "-D"])
            .arg(&tree)
            .args(["--", "sleep", "30"]);
        Bg::spawn(c, s.path(&format!("{name}.log")))
    };
    let mut a = spawn(&first);
    let base_a = poll(Duration::from_secs(10), || record_field(&first, "/ids/base")).expect("first machine's range");
    let mut b = spawn(&second);
    let base_b = poll(Duration::from_secs(10), || record_field(&second, "/ids/base")).expect("second machine's range");
    assert_eq!(base_a, want.base.to_string(), "the first machine gets its hashed range");
    assert_ne!(base_a, base_b, "the colliding machine must move to another range");
    let pid_b = poll(Duration::from_secs(10), || record_field(&second, "/leader")).unwrap();
    let map = fs::read_to_string(format!("/proc/{pid_b}/uid_map")).unwrap();
    assert_eq!(map.split_whitespace().collect::<Vec<_>>(), ["0", base_b.as_str(), "65536"]);
    for bg in [&mut a, &mut b] {
        bg.signal(libc::SIGTERM);
        bg.wait(Duration::from_secs(5));
    }
}

#[test]
fn masks_are_locked_and_ids_are_shifted() {
    let (_s, tree) = busybox_setup("locked");
    let name = unique_name("locked");
    let out = run_sh(
        &tree,
        &name,
        &[],
        "cat /proc/self/uid_map; id -u; stat -c %u /bin/busybox; \
         umount /proc/keys 2>/dev/null && echo UNMOUNTED-keys; \
         umount -l /proc/timer_list 2>/dev/null && echo UNMOUNTED-timer; \
         mount -o remount,rw,bind /proc/sys 2>/dev/null && echo REMOUNTED-sys; \
         mkdir -p /tmp/p && mount -t proc proc /tmp/p 2>/dev/null && echo NESTED-proc; true",
    );
    out.expect_code(0);
    let lines = out.lines();
    let map: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!((map[0], map[2]), ("0", "65536"), "{}", out.describe());
    let base: u32 = map[1].parse().unwrap();
    assert!(base >= 524288 && base.is_multiple_of(65536), "picked base {base}");
    assert_eq!(lines[1], "0", "guest runs as its own root");
    assert_eq!(lines[2], "0", "the idmapped tree shows the guest's root as owner");
    for bad in ["UNMOUNTED", "REMOUNTED", "NESTED"] {
        assert!(!out.stdout.contains(bad), "{bad}: a mask was defeated\n{}", out.describe());
    }
}

#[test]
fn bookworm_boot_under_map_changes_no_owner_on_disk() {
    require(&["nsenter", "timeout", "find"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("mapown");
    let tree = tree_copy(&s, &fx, "bookworm");
    let before = owners(&tree);
    let name = unique_name("mapown");
    let mut bg = boot(&s, &tree, &name, &["--private-users-ownership=map"]);
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(60));
    wait_running(&mut bg, pid);
    let made = guest_sh(
        pid,
        "touch /root/made-by-guest && chown 1000:1000 /root/made-by-guest && useradd -M tmpuser 2>&1; echo ok",
    );
    assert!(made.stdout.contains("ok"), "{}", made.describe());
    stop(bg);
    let after = owners(&tree);
    let mut changed = Vec::new();
    for (path, (uid, gid, mode)) in &before {
        if let Some((u2, g2, _)) = after.get(path) {
            if (uid, gid) != (u2, g2) {
                changed.push(format!("{path}: {uid}:{gid} ({mode:o}) -> {u2}:{g2}"));
            }
        }
    }
    assert!(changed.is_empty(), "owners changed on disk:\n{}", changed.join("\n"));
    let outside: Vec<_> = after.iter().filter(|(_, (u, g, _))| *u > 65535 || *g > 65535).collect();
    assert!(outside.is_empty(), "files owned by the shifted range on disk: {outside:?}");
    let made = fs::metadata(tree.join("root/made-by-guest")).unwrap();
    assert_eq!((made.uid(), made.gid()), (1000, 1000), "a guest file keeps the guest's ids on disk");
}

#[test]
fn read_only_boot_leaves_the_tree_byte_for_byte_unchanged() {
    require(&["nsenter", "timeout", "find", "sha256sum"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("robook");
    let tree = tree_copy(&s, &fx, "bookworm");
    let name = unique_name("robook");
    // A first, writable boot creates the state directories units expect
    // (logind's StateDirectory= cannot be created on a read-only root,
    // under nspawn just the same).
    let mut bg = boot(&s, &tree, &name, &[]);
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(60));
    wait_running(&mut bg, pid);
    stop(bg);
    let before = fingerprint(&tree);
    let mut bg = boot(&s, &tree, &name, &["--read-only"]);
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(60));
    wait_running(&mut bg, pid);
    let w = guest_sh(pid, "touch /etc/x 2>&1; echo done");
    assert!(w.stdout.contains("Read-only"), "the root must be read-only\n{}", w.describe());
    stop(bg);
    assert_same_tree(&before, &fingerprint(&tree), "a --read-only boot");
}

#[test]
fn chown_ownership_converts_once_and_is_reused() {
    require(&["nsenter", "timeout", "find"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("chown");
    let tree = tree_copy(&s, &fx, "bookworm");
    let name = unique_name("chown");
    let run_once = |want_shift: bool| {
        let mut c = berth();
        c.args(["run", "-P", "--private-users-ownership=chown", "-M", &name, "-D"]).arg(&tree).args([
            "--",
            "sh",
            "-c",
            "stat -c %u /etc/passwd; id -u",
        ]);
        let out = run_to_end(c, Duration::from_secs(120));
        out.expect_code(0);
        assert_eq!(out.stderr.contains("Shifted the ownership"), want_shift, "{}", out.describe());
        assert_eq!(out.lines()[..2], ["0", "0"], "{}", out.describe());
    };
    run_once(true);
    let base = fs::metadata(&tree).unwrap().uid();
    assert!(base >= 524288 && base.is_multiple_of(65536), "the tree's root is owned by the range's base, got {base}");
    let shifted = owners(&tree);
    let unshifted: Vec<_> = shifted.iter().filter(|(_, (u, _, _))| *u < base || *u >= base + 65536).take(5).collect();
    assert!(unshifted.is_empty(), "entries left unshifted: {unshifted:?}");
    run_once(false);
    // A booted chown'ed tree reaches running too.
    let mut bg = boot(&s, &tree, &name, &["--private-users-ownership=chown"]);
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(60));
    wait_running(&mut bg, pid);
    stop(bg);
    assert_eq!(fs::metadata(&tree).unwrap().uid(), base, "the range is reused");
}

#[test]
fn chown_refuses_a_read_only_tree() {
    let (_s, tree) = busybox_setup("chownro");
    let name = unique_name("chownro");
    let mut c = berth();
    c.args(["run", "-q", "-P", "--read-only", "--private-users-ownership=chown", "-M", &name, "-D"])
        .arg(&tree)
        .args(["--", "true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("read-only"), "{}", out.describe());
    assert_eq!(fs::metadata(&tree).unwrap().uid(), 0, "nothing was shifted");
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn api_directories_that_are_symlinks_are_refused() {
    let (_s, tree) = busybox_setup("apisym");
    for d in ["proc", "dev"] {
        let p = tree.join(d);
        let _ = fs::remove_dir_all(&p);
        std::os::unix::fs::symlink("/etc", &p).unwrap();
        let name = unique_name("apisym");
        let mut c = berth();
        c.args(["run", "-q", "-P", "-M", &name, "-D"]).arg(&tree).args(["--", "true"]);
        let out = run_to_end(c, QUICK);
        assert_eq!(out.code(), 125, "a symlinked /{d} must be refused\n{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains(&format!("/{d}")), "{}", out.describe());
        assert!(fs::symlink_metadata(&p).unwrap().file_type().is_symlink(), "the tree is left as it was");
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
        fs::remove_file(&p).unwrap();
        fs::create_dir(&p).unwrap();
    }
}
