//! `--property` limits on a host without systemd (as root): cgroup2 files
//! on `payload/` where the hierarchy offers the controller, v1 controller
//! cgroups on a hybrid host like this one. Each limit is shown to bind the
//! guest (a fork bomb stops, a memory hog is killed inside) while the
//! launcher survives; bad input fails with one line and leaves nothing.

mod common;

use common::*;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

/// Whether the cgroup2 hierarchy offers `controller` (else berth uses v1).
fn v2_offers(controller: &str) -> bool {
    fs::read_to_string(cgroup2_root().join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .any(|c| c == controller)
}

/// The file that holds a running machine's limit: `V2FILE` of its scope in
/// cgroup2, or the machine's cgroup in the v1 hierarchy of `v1ctrl`.
fn limit_file(name: &str, controller: &str, v1ctrl: &str, v1file: &str, v2file: &str) -> PathBuf {
    if v2_offers(controller) {
        return scope_dir(name).join(v2file);
    }
    let mount = PathBuf::from("/sys/fs/cgroup").join(v1ctrl);
    let own = v1_own_path(&mount).unwrap_or_default();
    mount.join(own).join(format!("machine.slice/machine-{name}.scope")).join(v1file)
}

fn read(p: &PathBuf) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| format!("<{}: {e}>", p.display())).trim().to_string()
}

#[test]
fn tasks_max_stops_a_fork_bomb() {
    let (scratch, tree) = busybox_setup("tasks");
    let _l = host_lock_shared();
    let name = unique_name("tasks");
    // The bomb's shell dies at its first failed fork; the guest's shell
    // then counts with builtins only, since it cannot fork either.
    let script = "sh -c 'while :; do sleep 30 & done' 2>/dev/null; set -- /proc/[0-9]*; echo procs $#; \
                  kill -9 -1; exit 0";
    let out = run_sh(&tree, &name, &["--as-pid2", "--property", "TasksMax=40"], script);
    out.expect_code(0);
    let procs: usize = out
        .lines()
        .iter()
        .find_map(|l| l.strip_prefix("procs ").and_then(|n| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no process count\n{}", out.describe()));
    // The stub, the shell, ls/wc and the sleeps that fit: never past 40.
    assert!((10..=40).contains(&procs), "{procs} processes under TasksMax=40\n{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    drop(scratch);
}

#[test]
fn memory_max_kills_the_hog_inside_and_the_launcher_survives() {
    let (scratch, tree) = busybox_setup("mem");
    let _l = host_lock_shared();
    let name = unique_name("mem");
    // The hog runs in a child shell; the guest's own shell reports its end.
    let script = "sh -c 'x=$(head -c 200000000 /dev/zero | tr \"\\0\" a); echo hog-survived ${#x}'; \
                  echo hog-exit=$?; echo still-here";
    let out = run_sh(&tree, &name, &["--as-pid2", "--property", "MemoryMax=48M"], script);
    out.expect_code(0);
    assert!(!out.stdout.contains("hog-survived"), "200 MB fit under MemoryMax=48M\n{}", out.describe());
    assert!(out.stdout.contains("still-here"), "the guest did not go on after its hog was killed\n{}", out.describe());
    let code = out.get("hog-exit");
    assert!(code == "137" || code == "1", "hog ended with {code}, not by the OOM killer\n{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    drop(scratch);
}

#[test]
fn cpu_and_memory_limits_land_in_the_machines_cgroups() {
    let (scratch, tree) = busybox_setup("cpu");
    let _l = host_lock_shared();
    let name = unique_name("cpu");
    let props = ["CPUQuota=50%", "CPUWeight=200", "AllowedCPUs=0", "MemoryMax=256M", "TasksMax=infinity"];
    let mut extra: Vec<&str> = vec!["--as-pid2"];
    for p in &props {
        extra.extend(["--property", p]);
    }
    let mut bg = spawn_run_ready(
        &tree,
        &name,
        &extra,
        "grep Cpus_allowed_list /proc/self/status; sleep 60",
        scratch.path("log"),
    );
    let quota = if v2_offers("cpu") {
        (limit_file(&name, "cpu", "cpu", "", "cpu.max"), "50000 100000")
    } else {
        (limit_file(&name, "cpu", "cpu", "cpu.cfs_quota_us", ""), "50000")
    };
    assert_eq!(read(&quota.0), quota.1, "CPUQuota=50%");
    let weight = if v2_offers("cpu") {
        (limit_file(&name, "cpu", "cpu", "", "cpu.weight"), "200")
    } else {
        (limit_file(&name, "cpu", "cpu", "cpu.shares", ""), "2048")
    };
    assert_eq!(read(&weight.0), weight.1, "CPUWeight=200");
    assert_eq!(read(&limit_file(&name, "cpuset", "cpuset", "cpuset.cpus", "cpuset.cpus")), "0", "AllowedCPUs=0");
    let mem = if v2_offers("memory") {
        (limit_file(&name, "memory", "memory", "", "memory.max"), "268435456")
    } else {
        (limit_file(&name, "memory", "memory", "memory.limit_in_bytes", ""), "268435456")
    };
    assert_eq!(read(&mem.0), mem.1, "MemoryMax=256M");
    let ok = poll(QUICK, || bg.output().contains("Cpus_allowed_list").then_some(()));
    assert!(ok.is_some(), "{}", bg.describe());
    assert!(bg.output().contains("Cpus_allowed_list:\t0\n"), "guest not bound to CPU 0\n{}", bg.describe());
    // The launcher itself is not in the guest's v1 cgroups.
    let launcher = bg.pid().to_string();
    let v1_procs = read(&mem.0.with_file_name("cgroup.procs"));
    assert!(!v1_procs.lines().any(|p| p == launcher), "the launcher joined the guest's memory cgroup");
    bg.signal(libc::SIGTERM);
    bg.wait(QUICK);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

#[test]
fn device_allow_adds_a_node_to_the_device_policy() {
    let (_scratch, tree) = busybox_setup("devallow");
    if !std::path::Path::new("/dev/loop-control").exists() {
        skip("loop-control", "the host has no /dev/loop-control (no loop driver; try modprobe loop)");
        return;
    }
    let _l = host_lock_shared();
    let script = "mknod /dev/lc c 10 237 && : < /dev/lc && echo opened";
    let name = unique_name("devallow");
    let denied = run_sh(&tree, &name, &["-U", "no"], script);
    assert!(!denied.stdout.contains("opened"), "loop-control usable by default\n{}", denied.describe());
    let name = unique_name("devallow");
    let allowed = run_sh(&tree, &name, &["-U", "no", "--property", "DeviceAllow=/dev/loop-control rwm"], script);
    assert!(allowed.stdout.contains("opened"), "DeviceAllow did not grant the node\n{}", allowed.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

#[test]
fn a_slice_of_ones_own_nests_like_systemd_and_goes_away() {
    let (scratch, tree) = busybox_setup("slice");
    let _l = host_lock_shared();
    let name = unique_name("slice");
    let slice = format!("bttest-{}.slice", std::process::id());
    let mut c = berth();
    c.args(["run", "-q", "-P", "--as-pid2", "-M", &name, "--slice", &slice, "-D"]).arg(&tree);
    c.args(["--", "/bin/sleep", "60"]);
    let mut bg = Bg::spawn(c, scratch.path("log"));
    let scope = cgroup2_root().join("bttest.slice").join(&slice).join(format!("machine-{name}.scope"));
    let running = poll(QUICK, || (!pids_in_cgroup_tree(&scope.join("payload")).is_empty()).then_some(()));
    assert!(running.is_some(), "no guest in {}\n{}", scope.display(), bg.describe());
    let rec = record_value(&name, "/cgroups/scope");
    assert_eq!(rec.as_ref().and_then(|v| v.as_str()), scope.to_str(), "the record names the scope");
    bg.signal(libc::SIGTERM);
    bg.wait(QUICK);
    let gone = poll(Duration::from_secs(5), || (!scope.exists()).then_some(()));
    assert!(gone.is_some(), "{} left behind", scope.display());
    let own = cgroup2_root().join("bttest.slice").join(&slice);
    assert!(poll(Duration::from_secs(5), || (!own.exists()).then_some(())).is_some(), "{} left", own.display());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

#[test]
fn a_killed_launcher_leaves_no_v1_cgroups() {
    let (scratch, tree) = busybox_setup("killv1");
    let _l = host_lock_shared();
    let name = unique_name("killv1");
    let mut bg = spawn_run_ready(
        &tree,
        &name,
        &["--property", "TasksMax=64", "--property", "MemoryMax=128M"],
        "sleep 71",
        scratch.path("log"),
    );
    let pids = limit_file(&name, "pids", "pids", "pids.max", "pids.max");
    assert_eq!(read(&pids), "64");
    bg.kill9();
    assert_clean(&name, "sleep 71", &[&tree], None, Duration::from_secs(10));
    assert!(!pids.parent().unwrap().exists(), "{} left", pids.display());
}

#[test]
fn bad_properties_and_slices_fail_cleanly() {
    let (_scratch, tree) = busybox_setup("badprop");
    let _l = host_lock_shared();
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--property", "MemoryLimit=1G"], "unknown property 'MemoryLimit'"),
        (vec!["--property", "MemoryMax=lots"], "not a size"),
        (vec!["--property", "TasksMax"], "expected NAME=VALUE"),
        (vec!["--property", "CPUQuota=50"], "percentage"),
        (vec!["--property", "DeviceAllow=/etc/passwd rw"], "is not a device"),
        (vec!["--slice", "notaslice"], "is not a slice unit name"),
        (vec!["--slice", "a--b.slice"], "is not a slice unit name"),
        (vec!["--keep-unit", "--slice", "x.slice"], "conflict"),
    ];
    if !v2_offers("memory") {
        cases.push((vec!["--property", "MemoryHigh=1G"], "needs the cgroup v2 memory controller"));
    }
    if fs::read_to_string("/proc/self/cgroup").unwrap_or_default().lines().any(|l| l == "0::/") {
        // berth runs in no unit here, but in the root cgroup.
        cases.push((vec!["--keep-unit"], "not a service or scope unit"));
    }
    for (args, want) in cases {
        let name = unique_name("badprop");
        let mut c = berth();
        c.args(["run", "-q", "-M", &name, "-D"]).arg(&tree).args(&args).args(["--", "/bin/true"]);
        let out = expect_run_failure(c, &name, &[&tree]);
        assert!(out.stderr.contains(want), "{args:?}: want '{want}'\n{}", out.describe());
    }
}

#[test]
fn berth_shell_shares_the_guests_limits() {
    let (scratch, tree) = busybox_setup("shlim");
    let _l = host_lock_shared();
    let name = unique_name("shlim");
    let mut bg = spawn_run_ready(
        &tree,
        &name,
        &["--as-pid2", "--property", "MemoryMax=48M", "--property", "TasksMax=30"],
        "sleep 60",
        scratch.path("log"),
    );
    let mut c = berth();
    c.args(["shell", &name, "/bin/sh", "-c"]);
    c.arg("cat /proc/self/cgroup; x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived ${#x}");
    let out = run_to_end(c, QUICK);
    assert!(!out.stdout.contains("survived"), "a shell's hog escaped MemoryMax=48M\n{}", out.describe());
    assert_ne!(out.code(), 0, "{}", out.describe());
    if !v2_offers("memory") {
        let memory = out.lines().into_iter().find(|l| l.contains(":memory:")).unwrap_or_default();
        // Its cgroup namespace is rooted at the machine's own cgroup.
        assert!(memory.ends_with(":memory:/"), "shell not in the machine's memory cgroup: {memory}");
    }
    assert!(bg.try_status().is_none(), "the machine died with the shell's hog\n{}", bg.describe());
    bg.signal(libc::SIGTERM);
    bg.wait(QUICK);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}
