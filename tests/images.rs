//! The image verbs: images, clone, rename, remove, read-only, import,
//! export, pull, and boot/run by image name with --image-root.
//!
//! Every test has its own image root in a scratch directory (never
//! /var/lib/machines). Trees are compared with `fingerprint` (paths, types,
//! modes, owners, sizes, mtimes, link targets, contents) plus every xattr
//! (ACLs are xattrs). Exactly one test runs a real `berth pull`.

mod common;

use common::*;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BOOT_LIMIT: Duration = Duration::from_secs(60);

/// A scratch image root. Clears the immutable flags tests set, so the
/// scratch directory can be removed.
struct Store {
    root: PathBuf,
    s: Scratch,
}

impl Store {
    fn new(tag: &str) -> Store {
        let s = Scratch::new(tag);
        let root = s.path("images");
        Store { root, s }
    }

    /// `berth --image-root ROOT ARGS...` to its end.
    fn berth(&self, args: &[&str]) -> Out {
        run_to_end(self.cmd(args), Duration::from_secs(120))
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = berth();
        c.arg("--image-root").arg(&self.root).args(args);
        c
    }

    /// A copy of `tree` placed in the store as image `name` (test setup,
    /// not through berth).
    fn put(&self, tree: &Path, name: &str) -> PathBuf {
        fs::create_dir_all(&self.root).unwrap();
        let dst = self.root.join(name);
        let st = Command::new("cp").args(["-a", "--reflink=auto"]).arg(tree).arg(&dst).status().unwrap();
        assert!(st.success(), "cp -a {} {}", tree.display(), dst.display());
        dst
    }

    fn image(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Everything in the store, hidden entries included.
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.root)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The store holds exactly these entries: no temporary directory, no
    /// lock file, nothing half-made.
    fn assert_holds(&self, want: &[&str], after: &str) {
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(self.entries(), want, "the image root after {after}");
    }
}

impl Store {
    /// As `assert_holds`, after a boot: the launcher's watcher removes the
    /// nspawn-style `.#NAME.lck` beside the tree just after berth exits.
    fn assert_holds_after_boot(&self, want: &[&str], after: &str) {
        let lock_file = |e: &String| e.starts_with(".#") && e.ends_with(".lck");
        let ok = poll(Duration::from_secs(15), || (!self.entries().iter().any(lock_file)).then_some(()));
        assert!(ok.is_some(), "lock files still beside the image after {after}: {:?}", self.entries());
        self.assert_holds(want, after);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        for e in self.entries() {
            let _ = Command::new("chattr").arg("-i").arg(self.root.join(e)).stderr(Stdio::null()).status();
        }
    }
}

fn immutable(p: &Path) -> bool {
    let out = Command::new("lsattr").arg("-d").arg(p).output().expect("run lsattr");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().is_some_and(|f| f.contains('i'))
}

/// One failed verb: exit 1, one `berth: ` line that contains `needle`.
fn assert_fails(out: &Out, needle: &str) {
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert_one_error_line(out);
    assert!(out.stderr.contains(needle), "want `{needle}` in the error\n{}", out.describe());
}

// ---------------------------------------------------------------------------
// Tree comparison: fingerprint plus xattrs

fn xattrs_of(p: &Path) -> Vec<String> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 65536];
    // SAFETY: the buffers are ours and their sizes are passed.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for name in names[..n as usize].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cn = CString::new(name).unwrap();
        let mut val = vec![0u8; 65536];
        // SAFETY: as above.
        let m = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), val.as_mut_ptr().cast(), val.len()) };
        let hex: String = val[..m.max(0) as usize].iter().map(|b| format!("{b:02x}")).collect();
        out.push(format!("{}={hex}", String::from_utf8_lossy(name)));
    }
    out.sort();
    out
}

/// Every xattr in the tree, as `path name=hexvalue` lines.
fn xattr_print(tree: &Path) -> String {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
        let p = root.join(rel);
        for x in xattrs_of(&p) {
            out.push(format!("./{} {x}", rel.display()));
        }
        let md = fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            for e in fs::read_dir(&p).unwrap().flatten() {
                walk(root, &rel.join(e.file_name()), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, Path::new(""), &mut out);
    out.sort();
    out.join("\n")
}

fn print_tree(tree: &Path) -> String {
    format!("{}\n--- xattrs ---\n{}", fingerprint(tree), xattr_print(tree))
}

/// Directory sizes are the filesystem's business (a directory never
/// shrinks, a fresh one is compact); everything else must match.
fn assert_same(a: &str, b: &str, what: &str) {
    let norm = |s: &str| {
        s.lines()
            .map(|l| {
                let p: Vec<&str> = l.rsplitn(7, ' ').collect();
                if p.len() == 7 && p[0].is_empty() && p[6].ends_with(" d") {
                    format!("{} {} {} {} - {}", p[6], p[5], p[4], p[3], p[1])
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_same_tree(&norm(a), &norm(b), what);
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid strings and buffer.
    let r = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    assert_eq!(r, 0, "setxattr {name} on {}: {}", p.display(), std::io::Error::last_os_error());
}

/// A POSIX ACL in the kernel's xattr format: user:UID:rw-, mask rw-.
fn acl_with_user(uid: u32) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in
        [(1u16, 6u16, u32::MAX), (2, 6, uid), (4, 4, u32::MAX), (0x10, 6, u32::MAX), (0x20, 4, u32::MAX)]
    {
        v.extend(tag.to_le_bytes());
        v.extend(perm.to_le_bytes());
        v.extend(id.to_le_bytes());
    }
    v
}

/// The busybox tree plus what a tarball must carry: owners, odd modes,
/// setuid, xattrs, ACLs, a device node, a fifo, hard links, a sparse file,
/// a name with a space.
fn rich_tree(s: &Scratch) -> PathBuf {
    let fx = fixture("busybox");
    let t = tree_copy(s, &fx, "rich");
    let f = |rel: &str| t.join(rel);
    write_file(&f("srv/owned"), "owned by 1000\n");
    let cs = |p: &Path| CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: plain syscalls on paths we made.
    unsafe {
        assert_eq!(libc::lchown(cs(&f("srv/owned")).as_ptr(), 1000, 1001), 0);
        assert_eq!(libc::mknod(cs(&f("srv/null")).as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)), 0);
        assert_eq!(libc::mkfifo(cs(&f("srv/fifo")).as_ptr(), 0o600), 0);
    }
    fs::set_permissions(f("srv/owned"), fs::Permissions::from_mode(0o640)).unwrap();
    write_file(&f("srv/suid"), "#!/bin/sh\n");
    fs::set_permissions(f("srv/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    write_file(&f("srv/with space"), "x\n");
    fs::hard_link(f("srv/with space"), f("srv/hardlink")).unwrap();
    set_xattr(&f("srv/owned"), "user.berth-test", b"value\0with nul");
    set_xattr(&f("srv/with space"), "trusted.berth", b"t");
    set_xattr(&f("srv/owned"), "system.posix_acl_access", &acl_with_user(1234));
    set_xattr(&f("srv"), "system.posix_acl_default", &acl_with_user(4321));
    let sparse = fs::File::create(f("srv/sparse")).unwrap();
    sparse.set_len(16 << 20).unwrap();
    fs::create_dir(f("srv/private")).unwrap();
    fs::set_permissions(f("srv/private"), fs::Permissions::from_mode(0o700)).unwrap();
    t
}

// ---------------------------------------------------------------------------
// Booting images by name

fn boot_by_name(store: &Store, image: &str, name: &str) -> (Bg, u32) {
    let mut c = store.cmd(&["boot", "-q", "--console=passive", "-M", name, image]);
    c.env_remove("BERTH_LOG");
    let mut bg = Bg::spawn(c, store.s.path(&format!("{name}.log")));
    let pid = wait_guest_init(&mut bg, name, BOOT_LIMIT);
    wait_running(&mut bg, pid);
    (bg, pid)
}

fn stop(mut bg: Bg, name: &str, tree: &Path) {
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "berth boot after SIGTERM\n{}", bg.describe());
    assert_clean(name, "", &[tree], None, Duration::from_secs(3));
}

// ---------------------------------------------------------------------------
// Tests

/// The one real pull: debootstrap into a scratch image root, then boot
/// what it made to `running`.
#[test]
fn pull_then_boot() {
    require(&["debootstrap", "nsenter", "timeout", "lsattr"]);
    let _l = host_lock_shared();
    let st = Store::new("pull");
    let mirror = std::env::var("BERTH_TEST_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let mut c = st.cmd(&["pull", "debian:bookworm", "--name", "deb", "--mirror", &mirror]);
    c.env_remove("BERTH_MIRROR");
    let out = run_to_end(c, Duration::from_secs(600));
    out.expect_code(0);
    assert!(out.stderr.contains("Pulled debian:bookworm as image 'deb'"), "{}", out.describe());
    // Not a terminal: plain progress lines, one per phase, not one per package.
    let lines = out.stderr.lines().count();
    assert!((3..60).contains(&lines), "progress should be condensed\n{}", out.describe());
    st.assert_holds(&["deb"], "a pull");
    let tree = st.image("deb");
    assert!(!tree.join("etc/hostname").exists(), "the pulled tree keeps the build host's hostname");
    let shadow = fs::read_to_string(tree.join("etc/shadow")).unwrap();
    assert!(shadow.lines().any(|l| l.starts_with("root::")), "root's password is not empty:\n{shadow}");
    let list = st.berth(&["images", "--json"]);
    list.expect_code(0);
    assert!(
        list.stdout.contains(r#""name":"deb""#) && list.stdout.contains(r#""type":"directory""#),
        "{}",
        list.stdout
    );

    let name = unique_name("pulled");
    let (bg, pid) = boot_by_name(&st, "deb", &name);
    let os = guest_sh(pid, ". /etc/os-release; echo $VERSION_CODENAME; hostname");
    assert_eq!(os.lines(), vec!["bookworm".to_string(), name.clone()], "{}", os.describe());
    stop(bg, &name, &tree);
    st.assert_holds_after_boot(&["deb"], "booting the pulled image");
}

/// pull's own errors: unknown distribution and suite, an unreachable
/// mirror, invalid and taken names. Each fails fast and leaves nothing.
#[test]
fn pull_errors() {
    require(&["debootstrap"]);
    let st = Store::new("pullerr");
    assert_fails(&st.berth(&["pull", "ubuntu:jammy"]), "unknown distribution 'ubuntu'");
    assert_fails(&st.berth(&["pull", "debian:nosuchsuite"]), "unknown suite 'nosuchsuite'");
    assert_fails(&st.berth(&["pull", "debian:../etc"]), "unknown suite");
    assert_fails(&st.berth(&["pull", "debian", "--name", "bad_name"]), "image name 'bad_name' is invalid");
    // Nothing listens on port 9: debootstrap fails at its first download.
    let out = st.berth(&["pull", "-q", "debian:bookworm", "--mirror", "http://127.0.0.1:9/debian"]);
    assert_fails(&out, "http://127.0.0.1:9/debian");
    st.assert_holds(&[], "failed pulls");
    fs::create_dir_all(st.image("debian-trixie")).unwrap();
    assert_fails(&st.berth(&["pull", "debian:trixie"]), "an image 'debian-trixie' already exists");
    st.assert_holds(&["debian-trixie"], "a pull onto a taken name");
}

/// bookworm fixture in the store: boot → export → remove → import → boot.
/// The imported tree equals the exported one.
#[test]
fn round_trip_boot_export_remove_import_boot() {
    require(&["nsenter", "timeout", "zstd", "lsattr"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let st = Store::new("trip");
    let tree = st.put(&fx, "deb");
    let name = unique_name("trip1");
    let (bg, _) = boot_by_name(&st, "deb", &name);
    stop(bg, &name, &tree);
    st.assert_holds_after_boot(&["deb"], "booting the image");

    let before = print_tree(&tree);
    let tarball = st.s.path("deb.tar.zst");
    st.berth(&["export", "deb", tarball.to_str().unwrap()]).expect_code(0);
    let head = fs::read(&tarball).unwrap();
    assert_eq!(&head[..4], &[0x28, 0xb5, 0x2f, 0xfd], "export to .tar.zst is not zstd");
    st.berth(&["remove", "deb"]).expect_code(0);
    st.assert_holds(&[], "remove");
    st.berth(&["import", tarball.to_str().unwrap(), "deb"]).expect_code(0);
    st.assert_holds(&["deb"], "import");
    assert_same(&before, &print_tree(&tree), "export then import");

    let name = unique_name("trip2");
    let (bg, _) = boot_by_name(&st, "deb", &name);
    stop(bg, &name, &tree);
}

/// Without booting: a tarball made by GNU tar, imported and exported by
/// berth (through stdin/stdout and through files of each compression),
/// comes back equal to its source: owners, modes, xattrs, ACLs, devices,
/// hard links.
#[test]
fn import_export_keep_everything() {
    require(&["zstd", "xz", "gzip", "lsattr"]);
    let st = Store::new("keep");
    let src = rich_tree(&st.s);
    let want = print_tree(&src);
    let tarball = st.s.path("src.tar");
    let ok = Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "-C"])
        .arg(&src)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());

    // stdin in, stdout out.
    let mut c = st.cmd(&["import", "-", "a"]);
    c.stdin(fs::File::open(&tarball).unwrap());
    run_to_end(c, QUICK).expect_code(0);
    assert_same(&want, &print_tree(&st.image("a")), "import from stdin");
    let piped = st.s.path("piped.tar");
    let mut c = st.cmd(&["export", "a", "-"]);
    c.stdout(fs::File::create(&piped).unwrap());
    let child = c.stderr(Stdio::piped()).spawn().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "export to stdout: {}", String::from_utf8_lossy(&out.stderr));

    // Each compression, by file name; the last one is extracted by GNU tar.
    let mut prev = "a".to_string();
    for (i, ext) in ["tar.gz", "tar.xz", "tar.zst", "tar"].iter().enumerate() {
        let f = st.s.path(&format!("out{i}.{ext}"));
        st.berth(&["export", &prev, f.to_str().unwrap()]).expect_code(0);
        let next = format!("b{i}");
        st.berth(&["import", f.to_str().unwrap(), &next]).expect_code(0);
        assert_same(&want, &print_tree(&st.image(&next)), &format!("export and import through .{ext}"));
        prev = next;
    }
    let out_dir = st.s.path("extracted");
    fs::create_dir(&out_dir).unwrap();
    let ok = Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "-xpf"])
        .arg(&piped)
        .arg("-C")
        .arg(&out_dir)
        .status()
        .unwrap();
    assert!(ok.success());
    assert_same(&want, &print_tree(&out_dir), "export to stdout");
    assert!(!st.entries().iter().any(|e| e.starts_with('.')), "hidden leftovers: {:?}", st.entries());
    // The file names say the format; an unknown one is refused before work.
    assert_fails(&st.berth(&["export", "a", st.s.path("x.zip").to_str().unwrap()]), "end it in .tar");
    let f0 = st.s.path("out0.tar.gz");
    assert_fails(&st.berth(&["export", "a", f0.to_str().unwrap()]), "already exists");
}

/// A ustar header for a test archive.
fn header(name: &str, typ: u8, size: usize, link: &str) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    let put = |h: &mut Vec<u8>, at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(&mut h, 0, name.as_bytes());
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{size:011o}\0").as_bytes());
    put(&mut h, 136, b"00000000000\0");
    put(&mut h, 148, b"        ");
    h[156] = typ;
    put(&mut h, 157, link.as_bytes());
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    h
}

enum Member<'a> {
    File(&'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn archive(members: &[Member]) -> Vec<u8> {
    let mut v = Vec::new();
    for m in members {
        match m {
            Member::File(n) => {
                v.extend(header(n, b'0', 6, ""));
                let mut data = b"pwned\n".to_vec();
                data.resize(512, 0);
                v.extend(data);
            }
            Member::Dir(n) => v.extend(header(n, b'5', 0, "")),
            Member::Symlink(n, t) => v.extend(header(n, b'2', 0, t)),
            Member::Hardlink(n, t) => v.extend(header(n, b'1', 0, t)),
        }
    }
    v.extend([0u8; 1024]);
    v
}

/// Broken and hostile tarballs: each import fails with one line, writes
/// nothing outside the store, and leaves nothing in it.
#[test]
fn hostile_and_broken_tarballs() {
    require(&["zstd"]);
    let fx = fixture("busybox");
    let st = Store::new("hostile");
    let victim = st.s.path("victim");
    fs::create_dir(&victim).unwrap();
    let v = victim.to_str().unwrap().to_string();
    let up = "../".repeat(12) + v.trim_start_matches('/');
    let good = st.s.path("good.tar");
    let ok = Command::new("tar").arg("-C").arg(&fx).arg("-cf").arg(&good).arg(".").status().unwrap();
    assert!(ok.success());
    let bytes = fs::read(&good).unwrap();
    let zst = st.s.path("good.tar.zst");
    assert!(Command::new("zstd").args(["-q", "-o"]).arg(&zst).arg(&good).status().unwrap().success());
    let zbytes = fs::read(&zst).unwrap();

    let abs_file = format!("{v}/abs");
    let dotdot = format!("{up}/dotdot");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", bytes[..bytes.len() / 2 + 100].to_vec(), "Unexpected EOF"),
        ("truncated-zst", zbytes[..zbytes.len() / 2].to_vec(), "unreadable"),
        ("not-a-tar", b"just some text, not an archive\n".repeat(40), "unreadable"),
        ("absolute", archive(&[Member::Dir("etc/"), Member::File(&abs_file)]), "absolute path"),
        ("dotdot", archive(&[Member::File(&dotdot)]), "contains '..'"),
        ("symlink-abs", archive(&[Member::Symlink("lnk", &v), Member::File("lnk/through")]), "below the symlink"),
        (
            "symlink-rel",
            archive(&[Member::Dir("a/"), Member::Symlink("a/lnk", &up), Member::File("a/lnk/through")]),
            "below the symlink",
        ),
        ("hardlink-abs", archive(&[Member::Hardlink("h", "/etc/shadow")]), "absolute path"),
        ("hardlink-up", archive(&[Member::Hardlink("h", "../../../../etc/shadow")]), "contains '..'"),
    ];
    for (what, data, needle) in cases {
        let f = st.s.path(&format!("{what}.tar"));
        fs::write(&f, &data).unwrap();
        let out = st.berth(&["import", f.to_str().unwrap(), "img"]);
        assert_fails(&out, needle);
        st.assert_holds(&[], &format!("importing the {what} tarball"));
        assert_eq!(fs::read_dir(&victim).unwrap().count(), 0, "the {what} tarball wrote outside the store");
        // The same through stdin (spooled into the store first).
        let mut c = st.cmd(&["import", "-", "img"]);
        c.stdin(fs::File::open(&f).unwrap());
        assert_fails(&run_to_end(c, QUICK), needle);
        st.assert_holds(&[], &format!("importing the {what} tarball from stdin"));
    }
    assert!(!Path::new("/abs").exists() && !Path::new("/dotdot").exists());
    let missing = st.s.path("missing.tar");
    assert_fails(&st.berth(&["import", missing.to_str().unwrap(), "img"]), "No such file");
}

/// Unknown images, invalid names and taken names, for every verb.
#[test]
fn bad_names_and_collisions() {
    let (_s, tree) = busybox_setup("imgnames");
    let st = Store::new("names");
    st.put(&tree, "one");
    st.put(&tree, "two");
    let tarball = st.s.path("one.tar");
    st.berth(&["export", "one", tarball.to_str().unwrap()]).expect_code(0);
    let t = tarball.to_str().unwrap();
    for args in [
        vec!["clone", "nope", "x"],
        vec!["rename", "nope", "x"],
        vec!["remove", "nope"],
        vec!["read-only", "nope"],
        vec!["read-only", "nope", "true"],
        vec!["export", "nope", "/tmp/never.tar"],
        vec!["boot", "-q", "nope"],
    ] {
        assert_fails(&st.berth(&args), "no image 'nope'");
    }
    let out = st.berth(&["run", "-q", "nope", "--", "/bin/true"]);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("no image 'nope'"), "{}", out.describe());
    for bad in ["bad_name", ".hidden", "lead-", "a..b", "../escape", "x/y"] {
        for args in [vec!["clone", "one", bad], vec!["rename", "one", bad], vec!["import", t, bad]] {
            assert_fails(&st.berth(&args), "is invalid");
        }
    }
    for args in [vec!["clone", "one", "two"], vec!["rename", "one", "two"], vec!["import", t, "two"]] {
        assert_fails(&st.berth(&args), "an image 'two' already exists");
    }
    // One unknown name in a list: nothing is removed.
    assert_fails(&st.berth(&["remove", "one", "nope"]), "no image 'nope'");
    assert_fails(&st.berth(&["read-only", "one", "maybe"]), "not a boolean");
    st.assert_holds(&["one", "two"], "the refused verbs");
    assert!(!Path::new("/tmp/never.tar").exists());

    // And the verbs that work, for contrast.
    st.berth(&["clone", "one", "three"]).expect_code(0);
    st.berth(&["rename", "three", "four"]).expect_code(0);
    st.berth(&["remove", "two", "four"]).expect_code(0);
    st.assert_holds(&["one"], "clone, rename, remove");
}

/// A read-only image: rename, remove and import over it are refused
/// naming the fix; run and boot mount it read-only and leave it as it was;
/// a clone of it is writable.
#[test]
fn read_only_image_never_changes() {
    let (_s, tree) = busybox_setup("imgro");
    require(&["lsattr", "chattr"]);
    let _l = host_lock_shared();
    let st = Store::new("ro");
    let img = st.put(&tree, "ro");
    // An init that tries to write, then powers off.
    fs::remove_file(img.join("sbin/init")).unwrap();
    write_file(
        &img.join("sbin/init"),
        "#!/bin/sh\ntouch /boot-wrote /etc/boot-wrote && echo wrote\nexec /sbin/poweroff -f -n\n",
    );
    fs::set_permissions(img.join("sbin/init"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(st.berth(&["read-only", "ro"]).stdout, "false\n");
    st.berth(&["read-only", "ro", "true"]).expect_code(0);
    assert!(immutable(&img), "read-only true did not set the immutable flag");
    assert_eq!(st.berth(&["read-only", "ro"]).stdout, "true\n");
    let before = print_tree(&img);

    for args in [vec!["rename", "ro", "other"], vec!["remove", "ro"]] {
        assert_fails(&st.berth(&args), "berth read-only ro false");
    }
    let tarball = st.s.path("t.tar");
    st.berth(&["export", "ro", tarball.to_str().unwrap()]).expect_code(0);
    assert_fails(&st.berth(&["import", tarball.to_str().unwrap(), "ro"]), "already exists");

    let name = unique_name("robb");
    let out = st.berth(&["boot", "-q", "-P", "-M", &name, "ro"]);
    out.expect_code(0);
    assert!(!out.stdout.contains("wrote"), "boot wrote into a read-only image\n{}", out.describe());
    let out = st.berth(&["run", "-q", "-P", "ro", "--", "/bin/sh", "-c", "touch /x /etc/x && echo wrote; exit 0"]);
    out.expect_code(0);
    assert!(!out.stdout.contains("wrote"), "run wrote into a read-only image\n{}", out.describe());
    assert_same(&before, &print_tree(&img), "boot and run of a read-only image");
    assert!(immutable(&img));

    st.berth(&["clone", "ro", "copy"]).expect_code(0);
    assert!(!immutable(&st.image("copy")), "a clone of a read-only image is writable");
    assert_same(&before, &print_tree(&st.image("copy")), "clone");
    st.berth(&["read-only", "ro", "false"]).expect_code(0);
    assert!(!immutable(&img));
    st.berth(&["rename", "ro", "rw"]).expect_code(0);
    st.assert_holds(&["copy", "rw"], "clone and rename after read-only false");
}

/// A running image is not renamed, removed, marked read-only or copied,
/// and its tree does not start a second time under another name.
#[test]
fn running_image_is_left_alone() {
    let (_s, tree) = busybox_setup("imgrun");
    let _l = host_lock_shared();
    let st = Store::new("run");
    let img = st.put(&tree, "live");
    let name = unique_name("live");
    let mut c =
        st.cmd(&["run", "-q", "-P", "-M", &name, "live", "--", "/bin/sh", "-c", "echo berth-test-ready; sleep 1000"]);
    c.env_remove("BERTH_LOG");
    let mut bg = Bg::spawn(c, st.s.path("live.log"));
    poll(QUICK, || bg.output().contains("berth-test-ready").then_some(()))
        .unwrap_or_else(|| panic!("the command never started\n{}", bg.describe()));

    for args in [
        vec!["rename", "live", "other"],
        vec!["remove", "live"],
        vec!["read-only", "live", "true"],
        vec!["clone", "live", "copy"],
        vec!["export", "live", "/tmp/never-live.tar"],
    ] {
        assert_fails(&st.berth(&args), "in use by a running machine");
    }
    let other = unique_name("live2");
    let out = st.berth(&["run", "-q", "-P", "-M", &other, "live", "--", "/bin/true"]);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("in use by another machine"), "{}", out.describe());
    let out = st.berth(&["boot", "-q", "-M", &other, "live"]);
    assert_fails(&out, "in use by another machine");
    assert!(!immutable(&img));
    bg.signal(libc::SIGTERM);
    bg.wait(QUICK);
    assert_clean(&name, "", &[&img], None, Duration::from_secs(3));
    st.berth(&["rename", "live", "done"]).expect_code(0);
    st.assert_holds(&["done"], "stopping and renaming");
    assert!(!Path::new("/tmp/never-live.tar").exists());
}

/// The listing: hidden, temporary and invalid entries are not images;
/// raw files are; JSON carries every field. Temporary entries of berths
/// that are gone are removed by the next verb that writes.
#[test]
fn images_lists_only_images() {
    let (_s, tree) = busybox_setup("imglist");
    let st = Store::new("list");
    st.assert_holds(&[], "nothing");
    let out = st.berth(&["images"]);
    out.expect_code(0);
    assert_eq!(out.stdout, "No images.\n");
    st.put(&tree, "alpha");
    fs::write(st.root.join("disk.raw"), vec![0u8; 8192]).unwrap();
    for hidden in [".hidden", "lost+found", "bad_name", ".#berth~1~abc"] {
        fs::create_dir(st.root.join(hidden)).unwrap();
    }
    // pid_max is at most 2^22: this berth is certainly gone.
    fs::create_dir(st.root.join(".#berth~4194305~dead")).unwrap();
    let out = st.berth(&["images"]);
    out.expect_code(0);
    let lines = out.lines();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("SIZE"), "{}", out.stdout);
    assert!(lines.iter().any(|l| l.starts_with("alpha ") && l.contains("directory") && l.contains(" no ")));
    assert!(lines.iter().any(|l| l.starts_with("disk ") && l.contains("raw")), "{}", out.stdout);
    assert!(lines.iter().any(|l| l == "2 images listed."), "{}", out.stdout);
    for h in ["hidden", "lost", "bad_name", "berth~"] {
        assert!(!out.stdout.contains(h), "{h} listed\n{}", out.stdout);
    }
    let out = st.berth(&["images", "--json"]);
    out.expect_code(0);
    let json = out.stdout.trim();
    for field in [r#""name":"alpha""#, r#""type":"directory""#, r#""read_only":false"#, r#""size":"#, r#""created":"#] {
        assert!(json.contains(field), "{field} missing in {json}");
    }
    assert!(json.contains(r#""name":"disk""#) && json.contains(r#""type":"raw""#), "{json}");
    assert_fails(&st.berth(&["boot", "-q", "disk"]), "raw disk image");
    // A verb that writes sweeps what dead berths left.
    st.berth(&["clone", "alpha", "beta"]).expect_code(0);
    st.assert_holds(
        &[".#berth~1~abc", ".hidden", "alpha", "bad_name", "beta", "disk.raw", "lost+found"],
        "clone (sweeping a dead berth's temporary directory)",
    );
    st.berth(&["rename", "disk", "disk2"]).expect_code(0);
    assert!(st.root.join("disk2.raw").is_file());
}
