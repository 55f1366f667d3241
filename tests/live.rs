//! The verbs that reach into a running machine (login, copy-to,
//! copy-from, bind) and the machine list from machined, against real
//! running machines: busybox under `berth run` and a booted bookworm.

mod common;

use common::bus::Bus;
use common::*;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn verb(args: &[&str]) -> Out {
    let mut c = berth();
    c.args(args);
    run_to_end(c, QUICK)
}

/// A failed verb: exit 1 and one `berth: ` line naming `needle`.
fn refused(args: &[&str], needle: &str) -> Out {
    let out = verb(args);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains(needle), "want {needle:?}\n{}", out.describe());
    out
}

/// `sh -c SCRIPT` in the machine through `berth shell`; its stdout.
fn inside(name: &str, script: &str) -> String {
    let out = verb(&["shell", name, "sh", "-c", script]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    out.stdout
}

/// A busybox machine running `sleep` under the stub init, past its
/// start-up; its leader.
fn busybox_machine(s: &Scratch, tree: &Path, name: &str) -> (Bg, u32) {
    let bg = spawn_run_ready(tree, name, &["--as-pid2"], "exec sleep 1000", s.path(&format!("{name}.log")));
    let leader = guest_init_pid(name).expect("the guest's PID 1");
    (bg, leader)
}

fn stop(name: &str, mut bg: Bg, tree: &Path) {
    verb(&["terminate", name]).expect_code(0);
    bg.wait(Duration::from_secs(10));
    assert_clean(name, "", &[tree], None, Duration::from_secs(3));
}

/// The host uid that is root in the machine.
fn base_of(leader: u32) -> u32 {
    let map = fs::read_to_string(format!("/proc/{leader}/uid_map")).unwrap();
    map.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn copy_round_trips_files_and_never_escapes() {
    let (s, tree) = busybox_setup("lvcopy");
    let _l = host_lock_shared();
    let name = unique_name("lvcopy");
    let (bg, leader) = busybox_machine(&s, &tree, &name);
    let n = name.as_str();
    // Without machined, the list comes from berth's own records.
    assert!(verb(&["list"]).stdout.contains(&format!("{n} ")));

    // A host tree: a 0640 file, a subdirectory of uid 1000, a symlink.
    let src = s.path("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    write_file(&src.join("sub/f"), "hello\n");
    fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(src.join("sub"), Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", src.join("link")).unwrap();
    let srcs = src.to_str().unwrap();

    verb(&["copy-to", n, srcs, "/root/in"]).expect_code(0);
    let seen = inside(
        n,
        "stat -c '%n %u %g %a' /root/in /root/in/sub /root/in/sub/f; cat /root/in/sub/f; readlink /root/in/link",
    );
    let want = "/root/in 0 0 755\n/root/in/sub 1000 1000 755\n/root/in/sub/f 0 0 640\nhello\n/etc/shadow\n";
    assert_eq!(seen, want, "owners shifted into the guest, modes and the symlink kept");
    // The host sees the guest's ids: root in the guest is the range's base.
    let through = Path::new(&format!("/proc/{leader}/root")).join("root/in/sub/f");
    assert_eq!(fs::metadata(&through).unwrap().uid(), base_of(leader));

    // Existing destination: refused, then replaced with --force.
    refused(&["copy-to", n, srcs, "/root/in"], "already exists");
    write_file(&src.join("sub/f"), "changed\n");
    verb(&["copy-to", "--force", n, srcs, "/root/in"]).expect_code(0);
    assert_eq!(inside(n, "cat /root/in/sub/f"), "changed\n");

    // And back out: owners mapped back to the host's ids.
    let back = s.path("back");
    verb(&["copy-from", n, "/root/in", back.to_str().unwrap()]).expect_code(0);
    assert_eq!(fs::read_to_string(back.join("sub/f")).unwrap(), "changed\n");
    let f = fs::metadata(back.join("sub/f")).unwrap();
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (0, 0, 0o640));
    let d = fs::metadata(back.join("sub")).unwrap();
    assert_eq!((d.uid(), d.gid()), (1000, 1000));
    assert_eq!(fs::read_link(back.join("link")).unwrap(), Path::new("/etc/shadow"), "a symlink stays a symlink");
    // A single file with DST defaulting to SRC is refused over an existing one.
    refused(&["copy-from", n, "/etc/passwd"], "already exists");

    // Escapes: guest symlinks to the host's paths, `..` beyond the root.
    let victim = s.path("victim");
    write_file(&victim, "host file\n");
    let v = victim.to_str().unwrap();
    let sd = s.dir.to_str().unwrap();
    inside(
        n,
        &format!(
            "ln -s / /root/up; ln -s {v} /root/v; ln -s ../../../../../../../..{v} /root/rel; ln -s {sd} /root/vdir"
        ),
    );
    let f1 = s.path("f1");
    write_file(&f1, "intruder\n");
    let f1 = f1.to_str().unwrap();
    refused(&["copy-to", n, f1, "/root/v"], "already exists");
    let dotdot = format!("/tmp/{name}-dotdot");
    for dst in [
        format!("/root/up{v}"),
        "/root/vdir/victim".into(),
        format!("/../../../../../..{dotdot}"),
        "/root/v".into(),
        "/root/rel".into(),
    ] {
        let out = verb(&["copy-to", "--force", n, f1, &dst]);
        assert!(out.code() == 0 || out.code() == 1, "{}", out.describe());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "host file\n", "copy-to {dst} reached the host");
    }
    assert!(!Path::new(&dotdot).exists(), "`..` led out of the guest's root");
    // The symlinks themselves were replaced inside the guest; `..` stayed inside.
    assert_eq!(inside(n, &format!("cat /root/v /root/rel {dotdot}")), "intruder\nintruder\nintruder\n");
    // copy-from through guest symlinks never reads host files.
    inside(n, "ln -s /etc/shadow /root/shadow; mkdir -p /root/d; ln -s /etc /root/d/etc");
    let out_dir = s.path("out");
    fs::create_dir(&out_dir).unwrap();
    let o = out_dir.to_str().unwrap();
    verb(&["copy-from", n, "/root/shadow", &format!("{o}/shadow")]).expect_code(0);
    assert_eq!(fs::read_link(out_dir.join("shadow")).unwrap(), Path::new("/etc/shadow"));
    verb(&["copy-from", n, "/root/d", &format!("{o}/d")]).expect_code(0);
    assert!(fs::symlink_metadata(out_dir.join("d/etc")).unwrap().file_type().is_symlink());
    // The guest's /root/up/etc/passwd is the guest's own file.
    verb(&["copy-from", n, "/root/up/etc/passwd", &format!("{o}/passwd")]).expect_code(0);
    let pw = fs::read_to_string(out_dir.join("passwd")).unwrap();
    assert_eq!(pw, fs::read_to_string(tree.join("etc/passwd")).unwrap(), "read another passwd than the guest's");

    // Bad input: one line, exit 1, nothing created.
    let before = fs::read_dir(&out_dir).unwrap().count();
    refused(&["copy-to", "no-such-machine", f1, "/x"], "no machine named");
    refused(&["copy-to", n, &format!("{o}/missing"), "/x"], "does not exist on the host");
    refused(&["copy-to", n, f1, "relative"], "not an absolute path");
    refused(&["copy-to", "--force", n, f1, "/root/in"], "is a directory");
    refused(&["copy-to", n, f1, "/no/such/dir/x"], "does not exist in machine");
    refused(&["copy-from", n, "/no/such/file", &format!("{o}/x")], "does not exist in machine");
    refused(&["copy-from", n, "/etc/passwd", &format!("{o}/no/such/dir")], "does not exist on the host");
    assert_eq!(fs::read_dir(&out_dir).unwrap().count(), before, "a failed copy left something");
    assert_eq!(inside(n, "ls /x /relative 2>&1 | grep -c 'No such'"), "2\n");

    // login wants a booted init.
    refused(&["login", n], "not booted with systemd");
    refused(&["login", "no-such-machine"], "no machine named");
    stop(n, bg, &tree);
}

#[test]
fn bind_mounts_a_host_directory_live() {
    let (s, tree) = busybox_setup("lvbind");
    let _l = host_lock_shared();
    let name = unique_name("lvbind");
    let (bg, _) = busybox_machine(&s, &tree, &name);
    let n = name.as_str();
    let src = s.path("shared");
    write_file(&src.join("data"), "from the host\n");
    let srcs = src.to_str().unwrap();

    verb(&["bind", n, srcs, "/mnt/ro/deep", "--mkdir", "--read-only"]).expect_code(0);
    let seen = inside(
        n,
        "cat /mnt/ro/deep/data; stat -c '%u %g' /mnt/ro/deep/data; \
         echo x > /mnt/ro/deep/data 2>/dev/null && echo WROTE; \
         mount -o remount,bind,rw /mnt/ro/deep 2>/dev/null && echo REMOUNTED; echo done",
    );
    assert_eq!(seen, "from the host\n0 0\ndone\n", "read-only, owned by the guest's root, and stays read-only");

    verb(&["bind", n, srcs, "/srv/rw", "--mkdir"]).expect_code(0);
    inside(n, "echo from the guest > /srv/rw/back");
    let back = fs::metadata(src.join("back")).unwrap();
    assert_eq!(fs::read_to_string(src.join("back")).unwrap(), "from the guest\n");
    assert_eq!(back.uid(), 0, "the guest's root writes as the host's root through the idmap");

    // Bad input: one line, exit 1, nothing made inside, no host mount.
    refused(&["bind", "no-such-machine", srcs, "/x"], "no machine named");
    refused(&["bind", n, &format!("{srcs}/missing"), "/x"], "does not exist on the host");
    refused(&["bind", n, srcs, "/no/such/dir"], "pass --mkdir");
    refused(&["bind", n, srcs, "/bin/busybox"], "is not a directory");
    refused(&["bind", n, srcs, "relative"], "not an absolute path");
    assert_eq!(inside(n, "ls -d /no /x 2>&1 | grep -c 'No such'"), "2\n");
    assert!(mounts_mentioning("", &[&src]).is_empty(), "a host mount of the source appeared");
    stop(n, bg, &tree);
}

#[test]
fn login_reaches_the_getty_of_a_booted_machine() {
    require(&["nsenter", "timeout", "script"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("lvlogin");
    let tree = tree_copy(&s, &fx, "bookworm");
    let name = unique_name("lvlogin");
    let mut c = berth();
    c.args(["boot", "-q", "--console=passive", "-M", &name, "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, s.path("boot.log"));
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(60));
    wait_running(&mut bg, pid);

    // Through a pty of script(1): the prompt, then ^] three times.
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{BERTH} login {name}"), "/dev/null"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn script");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let prompt = poll(Duration::from_secs(20), || {
        while let Ok(b) = rx.try_recv() {
            seen.push_str(&String::from_utf8_lossy(&b));
        }
        seen.contains(&format!("{name} login:")).then_some(())
    });
    assert!(prompt.is_some(), "no login prompt; output so far:\n{seen}\n{}", bg.describe());
    let getty = guest_sh(pid, "systemctl list-units --no-legend --state=running 'container-getty@*'");
    assert!(getty.stdout.contains("container-getty@"), "the guest's systemd runs the getty\n{}", getty.describe());
    child.stdin.as_mut().unwrap().write_all(b"\x1d\x1d\x1d").unwrap();
    let st = wait_deadline(&mut child, Duration::from_secs(10));
    let st = st.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("berth login did not leave on ^]^]^]\n{seen}")
    });
    assert_eq!(st.code(), Some(0), "{seen}");
    // The getty went away with the pty, without failing.
    let gone = poll(Duration::from_secs(10), || {
        let o =
            guest_sh(pid, "systemctl list-units --no-legend --all 'container-getty@*'; systemctl is-system-running");
        (o.stdout.trim() == "running").then_some(())
    });
    assert!(gone.is_some(), "{}", guest_sh(pid, "systemctl list-units --all 'container-getty@*'").describe());

    verb(&["poweroff", &name]).expect_code(0);
    assert_eq!(bg.wait(Duration::from_secs(20)).code(), Some(0), "{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

/// Registers `name` with machined for a `sleep` in a cgroup shaped like
/// another manager's machine scope; returns the sleep's pid and the scope.
fn foreign_machine(bus: &Bus, name: &str) -> (std::process::Child, std::path::PathBuf) {
    let scope = cgroup2_root().join("machine.slice").join(format!("machine-{name}.scope"));
    fs::create_dir_all(&scope).unwrap();
    let sleep = Command::new("sleep").arg("1000").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    fs::write(scope.join("cgroup.procs"), sleep.id().to_string()).unwrap();
    let pid = sleep.id().to_string();
    let o = bus.manager(&["RegisterMachine", "sayssus", name, "0", "nspawn", "container", &pid, "/"]);
    assert!(o.status.success(), "RegisterMachine failed\n{}\n{}", o.describe(), bus.logs());
    (sleep, scope)
}

#[test]
fn machined_list_status_show_and_terminate() {
    let bus = Bus::with_machined("lvmd");
    let fx = fixture("busybox");
    let _l = host_lock_shared();
    let tree = tree_copy(&bus.s, &fx, "tree");
    let name = unique_name("lvmd");
    let other = unique_name("lvother");
    let mut c = bus.berth();
    c.args(["run", "-q", "-P", "--as-pid2", "-M", &name, "-D"]).arg(&tree).args(["--", "sleep", "1000"]);
    let mut bg = Bg::spawn(c, bus.s.path("run.log"));
    let leader = wait_guest_init(&mut bg, &name, QUICK);
    let registered = poll(QUICK, || bus.machines().contains(&name).then_some(()));
    assert!(registered.is_some(), "{}\n{}", bg.describe(), bus.logs());
    let (mut sleep, scope) = foreign_machine(&bus, &other);

    let run = |args: &[&str]| {
        let mut c = bus.berth();
        c.args(args);
        run_to_end(c, QUICK)
    };
    let list = run(&["list"]);
    list.expect_code(0);
    let row = |n: &str| list.stdout.lines().find(|l| l.starts_with(&format!("{n} "))).unwrap_or_default().to_string();
    assert!(row(&name).contains(&leader.to_string()) && row(&name).contains("running"), "{}", list.describe());
    assert!(row(&other).contains(&sleep.id().to_string()), "machined's own machine is listed\n{}", list.describe());
    let json = run(&["list", "--json"]);
    assert!(json.stdout.contains(&format!("\"name\":\"{other}\"")) && json.stdout.contains("\"service\":\"nspawn\""));
    let show = run(&["show", &other]);
    show.expect_code(0);
    assert_eq!(show.get("Service"), "nspawn", "{}", show.describe());
    assert_eq!(show.get("Leader"), sleep.id().to_string());
    assert_eq!(show.get("Unit"), format!("machine-{other}.scope"));
    let show = run(&["show", &name]);
    assert_eq!((show.get("Service"), show.get("Leader")), ("berth".into(), leader.to_string()), "{}", show.describe());
    assert!(!show.get("Id").is_empty());
    let status = run(&["status", &other]);
    status.expect_code(0);
    assert!(status.stdout.contains("sleep 1000") && status.stdout.contains("Service: nspawn"), "{}", status.describe());
    // Verbs that act stay with berth's own machines.
    let out = run(&["terminate", &other]);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("not started by berth"), "{}", out.describe());

    // machined cannot terminate without systemd as PID 1: berth does.
    run(&["terminate", &name]).expect_code(0);
    bg.wait(Duration::from_secs(10));
    assert!(!bus.machines().contains(&name), "{name} still registered\n{}", bus.logs());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));

    let _ = sleep.kill();
    let _ = sleep.wait();
    let _ = bus.manager(&["UnregisterMachine", "s", &other]);
    let _ = fs::remove_dir(&scope);
}

/// The `Name:\tvalue` line of /proc/PID/status.
fn status_field(pid: u32, key: &str) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// A process entered into a machine holds no more than the machine: its
/// bounding set, no_new_privs, system call filter (the machine's own
/// --system-call-filter included) and limits are the machine's, not
/// berth's defaults. (Regression: shell applied the default policy, so
/// dropped capabilities came back.) The copy and bind helpers still work
/// against such a machine.
#[test]
fn entered_processes_hold_no_more_than_the_machine() {
    let (s, tree) = busybox_setup("lvpriv");
    let name = unique_name("lvpriv");
    let n = name.as_str();
    let bg = spawn_run_ready(
        &tree,
        n,
        &[
            "--as-pid2",
            "--drop-capability=CAP_NET_RAW,CAP_CHOWN",
            "--system-call-filter=~sethostname",
            "--no-new-privileges",
            "--rlimit=NOFILE=300:400",
        ],
        "exec sleep 1000",
        s.path(&format!("{n}.log")),
    );
    let leader = guest_init_pid(n).expect("the guest's PID 1");
    let machine_bnd = status_field(leader, "CapBnd");
    assert!(u64::from_str_radix(&machine_bnd, 16).unwrap() & (1 << 13) == 0, "CAP_NET_RAW is dropped in the machine");

    let seen = inside(
        n,
        "grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; ulimit -n; ulimit -Hn; \
         hostname entered 2>/dev/null && echo SETHOSTNAME-ALLOWED; \
         chown 1:1 /tmp 2>/dev/null && echo CHOWN-ALLOWED; echo done",
    );
    let field = |k: &str| {
        seen.lines().find_map(|l| l.strip_prefix(&format!("{k}:"))).map(|v| v.trim().to_string()).unwrap_or_default()
    };
    assert_eq!(field("CapBnd"), machine_bnd, "the shell's bounding set is the machine's\n{seen}");
    assert_eq!(field("NoNewPrivs"), "1", "the machine has no_new_privs, so does the shell\n{seen}");
    assert_eq!(field("Seccomp"), "2", "{seen}");
    assert!(seen.contains("\n300\n400\n"), "the machine's NOFILE limits\n{seen}");
    assert!(!seen.contains("SETHOSTNAME-ALLOWED"), "the machine's own filter binds the shell\n{seen}");
    assert!(!seen.contains("CHOWN-ALLOWED"), "CAP_CHOWN stays dropped\n{seen}");
    assert!(seen.ends_with("done\n"), "{seen}");

    // The copy and bind helpers run none of the guest's code; they work
    // against the restricted machine all the same.
    let src = s.path("in");
    write_file(&src, "payload\n");
    verb(&["copy-to", n, src.to_str().unwrap(), "/tmp/in"]).expect_code(0);
    let back = s.path("back");
    verb(&["copy-from", n, "/tmp/in", back.to_str().unwrap()]).expect_code(0);
    assert_eq!(fs::read_to_string(&back).unwrap(), "payload\n");
    let dir = s.path("shared");
    fs::create_dir_all(&dir).unwrap();
    write_file(&dir.join("f"), "bound\n");
    verb(&["bind", n, dir.to_str().unwrap(), "/mnt/b", "--mkdir", "--read-only"]).expect_code(0);
    assert_eq!(inside(n, "cat /mnt/b/f"), "bound\n");
    stop(n, bg, &tree);
}
