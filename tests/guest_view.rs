//! What a guest sees (the Container Interface essentials), checked from the
//! inside with busybox and, for cgroups, from the host.
//!
//! Writability is only ever probed by OPENING a file for appending
//! (`exec 3>>FILE` in a subshell, which never writes a byte); nothing here
//! writes to /proc or /sys.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// Normalises a UUID or 128-bit id: lower-case hex without dashes.
fn id128(s: &str) -> String {
    s.trim().chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase()
}

#[test]
fn hostname_is_machine_name() {
    let (_s, tree) = busybox_setup("hostname");
    let _l = host_lock_shared();
    let name = unique_name("hostname");
    let out = run_sh(&tree, &name, &[], "echo hn=$(hostname); echo kn=$(cat /proc/sys/kernel/hostname)");
    out.expect_code(0);
    assert_eq!(out.get("hn"), name, "{}", out.describe());
    assert_eq!(out.get("kn"), name, "{}", out.describe());
}

#[test]
fn pid1_environment() {
    let (_s, tree) = busybox_setup("environ");
    let _l = host_lock_shared();
    for extra in [&[][..], &["--as-pid2"][..]] {
        let name = unique_name("environ");
        let out = run_sh(
            &tree,
            &name,
            extra,
            "tr '\\0' '\\n' < /proc/1/environ | sed 's/^/env:/'; echo uuidfile=$(cat /run/host/container-uuid)",
        );
        out.expect_code(0);
        let env: BTreeSet<String> =
            out.lines().iter().filter_map(|l| l.strip_prefix("env:").map(str::to_string)).collect();
        assert!(env.contains("container=berth"), "PID 1 lacks container=berth ({extra:?})\n{}", out.describe());
        let uuid = env
            .iter()
            .find_map(|e| e.strip_prefix("container_uuid="))
            .unwrap_or_else(|| panic!("PID 1 lacks container_uuid= ({extra:?})\n{}", out.describe()));
        assert_eq!(id128(uuid), id128(&out.get("uuidfile")), "{}", out.describe());
    }
}

#[test]
fn run_host_files() {
    let (_s, tree) = busybox_setup("runhost");
    let _l = host_lock_shared();
    let name = unique_name("runhost");
    let out = run_sh(
        &tree,
        &name,
        &[],
        r#"
        echo "manager=$(cat /run/host/container-manager)"
        echo "uuid=$(cat /run/host/container-uuid)"
        test -S /run/host/notify && echo notify=socket || echo notify=missing
        echo "--os-release--"; cat /run/host/os-release
        "#,
    );
    out.expect_code(0);
    assert_eq!(out.get("manager"), "berth", "{}", out.describe());
    let uuid = id128(&out.get("uuid"));
    assert!(uuid.len() == 32 && uuid.chars().all(|c| c.is_ascii_hexdigit()), "{}", out.describe());
    assert_eq!(out.get("notify"), "socket", "{}", out.describe());
    let os = out.stdout.split_once("--os-release--\n").map(|x| x.1).unwrap_or("");
    assert_eq!(os.trim(), host_os_release().trim(), "/run/host/os-release differs from the host's");
}

#[test]
fn uuid_option_is_used() {
    let (_s, tree) = busybox_setup("uuid");
    let _l = host_lock_shared();
    let name = unique_name("uuid");
    let want = "5d3c1e8a-7f0b-4c2a-9e11-0123456789ab";
    let out = run_sh(&tree, &name, &["--uuid", want], "echo uuid=$(cat /run/host/container-uuid)");
    out.expect_code(0);
    assert_eq!(id128(&out.get("uuid")), id128(want), "{}", out.describe());
}

#[test]
fn sensitive_proc_files_are_masked() {
    let (_s, tree) = busybox_setup("masks");
    let _l = host_lock_shared();
    let name = unique_name("masks");
    let out = run_sh(
        &tree,
        &name,
        &[],
        r#"
        for f in kcore keys; do
            if ( exec 3</proc/$f ) 2>/dev/null; then echo "$f=$(head -c 64 /proc/$f 2>/dev/null | wc -c)"; else echo "$f=denied"; fi
        done
        echo --mountinfo--; cat /proc/self/mountinfo
        "#,
    );
    out.expect_code(0);
    for f in ["kcore", "keys"] {
        let v = out.get(f);
        let v = v.trim();
        assert!(v == "0" || v == "denied", "/proc/{f} is readable in the guest ({v} bytes)\n{}", out.describe());
    }
    let mi = parse_mountinfo(out.stdout.split_once("--mountinfo--\n").map(|x| x.1).unwrap_or(""));
    for f in ["/proc/kcore", "/proc/keys", "/proc/kallsyms", "/proc/sysrq-trigger", "/proc/timer_list"] {
        if !Path::new(f).exists() {
            eprintln!("note: this kernel has no {f}; its mask is not checked");
            continue;
        }
        assert!(mi.iter().any(|m| m.mount_point == f), "{f} is not masked (no mount over it)\n{}", out.describe());
    }
}

/// The first of these files that exists on the host (they exist in the
/// guest's /sys as well: it shows the same kernel).
fn a_sys_kernel_file() -> Option<&'static str> {
    ["/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/profiling", "/sys/kernel/uevent_helper"]
        .into_iter()
        .find(|f| Path::new(f).exists())
}

#[test]
fn proc_and_sys_cannot_be_opened_for_writing() {
    let (_s, tree) = busybox_setup("rofs");
    let _l = host_lock_shared();
    let mut files = vec!["/proc/sys/kernel/core_pattern"];
    // Some kernels (e.g. Firecracker's) have no /proc/sysrq-trigger; a
    // "denied" for a missing file would prove nothing.
    if Path::new("/proc/sysrq-trigger").exists() {
        files.push("/proc/sysrq-trigger");
    } else {
        eprintln!("note: this kernel has no /proc/sysrq-trigger; not checked");
    }
    match a_sys_kernel_file() {
        Some(f) => files.push(f),
        None => eprintln!("note: no known writable /sys/kernel file on this host; checking /sys via mountinfo only"),
    }
    let mut script = String::new();
    for f in &files {
        // `>>` opens O_WRONLY|O_APPEND|O_CREAT and writes nothing.
        script.push_str(&format!("if ( exec 3>>{f} ) 2>/dev/null; then echo '{f}=open'; else echo '{f}=denied'; fi\n"));
    }
    script.push_str("echo --mountinfo--; cat /proc/self/mountinfo\n");
    let name = unique_name("rofs");
    let out = run_sh(&tree, &name, &[], &script);
    out.expect_code(0);
    for f in &files {
        assert_eq!(out.get(f), "denied", "{f} can be opened for writing in the guest\n{}", out.describe());
    }
    let mi = parse_mountinfo(out.stdout.split_once("--mountinfo--\n").map(|x| x.1).unwrap_or(""));
    for p in ["/proc/sys", "/sys"] {
        // The last mount at a path is the visible one.
        let m = mi.iter().rev().find(|m| m.mount_point == p);
        let m = m.unwrap_or_else(|| panic!("no mount at {p} in the guest\n{}", out.describe()));
        assert!(m.options.split(',').any(|o| o == "ro"), "{p} is not mounted read-only: {}", m.line);
    }
}

#[test]
fn boot_id_is_fresh() {
    let (_s, tree) = busybox_setup("bootid");
    let _l = host_lock_shared();
    let name = unique_name("bootid");
    let out = run_sh(&tree, &name, &[], "echo id=$(cat /proc/sys/kernel/random/boot_id)");
    out.expect_code(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let guest = out.get("id");
    assert_eq!(id128(&guest).len(), 32, "{}", out.describe());
    assert_ne!(id128(&guest), id128(&host), "the guest sees the host's boot_id");
}

const DEV_SCRIPT: &str = r#"
    ls -1A /dev | sed 's/^/dev:/'
    ls -1A /dev/net | sed 's/^/net:/'
    find /dev -type b | sed 's/^/block:/'
    for d in null zero full random urandom tty net/tun; do
        test -c /dev/$d && echo "chr:$d" || echo "notchr:$d"
    done
    test -e /dev/ptmx && echo ptmx=ok || echo ptmx=missing
    test -d /dev/pts && echo pts=dir || echo pts=missing
    echo pts_fs=$(grep ' /dev/pts ' /proc/self/mountinfo | sed 's/.* - \([^ ]*\) .*/\1/')
    echo fd=$(readlink /dev/fd)
    echo stdin=$(readlink /dev/stdin)
"#;

fn check_dev(out: &Out, console_required: bool) {
    out.expect_code(0);
    let lines = out.lines();
    let got: BTreeSet<String> = lines.iter().filter_map(|l| l.strip_prefix("dev:").map(str::to_string)).collect();
    let mut want = set_of(&[
        "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", "pts", "shm", "mqueue", "net", "fd",
        "stdin", "stdout", "stderr",
    ]);
    if !console_required && !got.contains("console") {
        want.remove("console");
    }
    assert_eq!(got, want, "/dev contents differ (left: guest, right: expected)\n{}", out.describe());
    let net: BTreeSet<String> = lines.iter().filter_map(|l| l.strip_prefix("net:").map(str::to_string)).collect();
    assert_eq!(net, set_of(&["tun"]), "/dev/net contents\n{}", out.describe());
    let block: Vec<&String> = lines.iter().filter(|l| l.starts_with("block:")).collect();
    assert!(block.is_empty(), "block devices in the guest: {block:?}");
    assert!(!lines.iter().any(|l| l.starts_with("notchr:")), "not character devices\n{}", out.describe());
    assert_eq!(out.get("ptmx"), "ok");
    assert_eq!(out.get("pts"), "dir");
    assert_eq!(out.get("pts_fs"), "devpts", "{}", out.describe());
    assert_eq!(out.get("fd"), "/proc/self/fd", "{}", out.describe());
    assert_eq!(out.get("stdin"), "/proc/self/fd/0", "{}", out.describe());
}

#[test]
fn dev_contents_with_console() {
    let (_s, tree) = busybox_setup("devcons");
    let _l = host_lock_shared();
    let name = unique_name("devcons");
    // A pty console (stdin is not a tty, so --console=read-only).
    let mut c = berth();
    c.args(["run", "-q", "--console=read-only", "-M", &name, "-D"]).arg(&tree);
    c.args(["--", "/bin/sh", "-c", DEV_SCRIPT]);
    let out = run_to_end(c, QUICK);
    check_dev(&out, true);
}

#[test]
fn dev_contents_in_pipe_mode() {
    let (_s, tree) = busybox_setup("devpipe");
    let _l = host_lock_shared();
    let name = unique_name("devpipe");
    // In pipe mode there is no pty, so /dev/console may be absent.
    let out = run_sh(&tree, &name, &[], DEV_SCRIPT);
    check_dev(&out, false);
}

#[test]
fn cgroup_view_inside() {
    let (_s, tree) = busybox_setup("cgview");
    let _l = host_lock_shared();
    let name = unique_name("cgview");
    let out = run_sh(
        &tree,
        &name,
        &[],
        r#"
        grep '^0::' /proc/self/cgroup | sed 's/^/own=/'
        if mkdir /sys/fs/cgroup/berth-test-child 2>/dev/null; then echo mkdir=ok; rmdir /sys/fs/cgroup/berth-test-child; else echo mkdir=denied; fi
        echo --mountinfo--; cat /proc/self/mountinfo
        "#,
    );
    out.expect_code(0);
    assert_eq!(out.get("own"), "0::/", "the guest's cgroup namespace is not rooted at its cgroup\n{}", out.describe());
    assert_eq!(out.get("mkdir"), "ok", "the guest cannot manage its own cgroup subtree\n{}", out.describe());
    let mi = parse_mountinfo(out.stdout.split_once("--mountinfo--\n").map(|x| x.1).unwrap_or(""));
    let cg = mi.iter().rev().find(|m| m.mount_point == "/sys/fs/cgroup");
    let cg = cg.unwrap_or_else(|| panic!("no mount at /sys/fs/cgroup\n{}", out.describe()));
    assert_eq!(cg.fstype, "cgroup2", "{}", cg.line);
    let v1: Vec<&String> = mi.iter().filter(|m| m.fstype == "cgroup").map(|m| &m.line).collect();
    assert!(v1.is_empty(), "cgroup v1 hierarchies are mounted in the guest: {v1:?}");
}

#[test]
fn cgroup_layout_on_host() {
    let (s, tree) = busybox_setup("cglayout");
    let _l = host_lock_shared();
    let name = unique_name("cglayout");
    let mut bg = spawn_run_ready(&tree, &name, &["--as-pid2"], "exec /bin/sleep 1000", s.path("log"));
    let init = guest_init_pid(&name).expect("guest PID 1");
    let scope = scope_dir(&name);
    let payload = pids_in_cgroup_tree(&scope.join("payload"));
    assert!(payload.contains(&init), "guest PID 1 ({init}) not in {}/payload: {payload:?}", scope.display());
    // The launcher moves itself there a few seconds after the guest
    // started, off the start-up path (a migration waits for an RCU grace
    // period and stalls forks meanwhile).
    let supervisor = poll(Duration::from_secs(8), || {
        let p = pids_in_cgroup_tree(&scope.join("supervisor"));
        p.contains(&bg.pid()).then_some(p)
    })
    .unwrap_or_default();
    assert!(
        supervisor.contains(&bg.pid()),
        "the launcher ({}) is not in {}/supervisor: {supervisor:?}",
        bg.pid(),
        scope.display()
    );
    let direct = std::fs::read_to_string(scope.join("cgroup.procs")).unwrap_or_default();
    assert!(direct.trim().is_empty(), "processes directly in the scope (not in payload/ or supervisor/): {direct}");
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(143), "{}", bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}
