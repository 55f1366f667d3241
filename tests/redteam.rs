//! Red-team suite ("Safe by default"): a small static C program,
//! tests/redteam/probe.c, tries the classic container escapes from inside a
//! guest and prints one `ROW <name> <blocked|escaped|absent> <detail>` line
//! per attempt. This test builds it with gcc, bind-mounts it read-only at
//! /probe in a busybox guest and runs it:
//!
//! - in the default mode (a user namespace): no row may escape;
//! - with `-U no`: the rows berth itself blocks (the /proc masks, read-only
//!   /proc/sys and /sys, the device policy, the launcher binary, descriptors,
//!   the root, the dropped capabilities, the pid and UTS namespaces) must be
//!   blocked; the rest is printed as what `-U no` gives up.
//!
//! The guest's stdin is a pty that is the controlling terminal of berth's
//! session, as when someone runs `berth run -P` from a terminal, so the
//! TIOCSTI rows mean something, and berth starts from a session keyring of
//! the test's own that holds a "user" key, like a login session with a
//! secret in it, so the keyring row means something. Facts about the host
//! that the probe cannot see (a host-only marker file, the hostname, the
//! root block device, which paths and syscalls the host kernel lacks, the
//! caller's keyring ids, the secret's name) are passed as arguments.
//!
//! Rows that only a seccomp filter can block (add_key; with -U no also
//! bpf, perf_event_open, open_by_handle_at, swapon, the keyring rows) are
//! not weakened here: they say "escaped" until the filter exists. The
//! keyring_shared_with_host row also needs berth to give the guest a fresh
//! session keyring (as nspawn does), so it cannot inherit the caller's.
//!
//! Real, as root; fails when not root or gcc is missing (tests/common/skip.rs).

mod common;

use common::{missing, need_root, skip};

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const TIMEOUT: Duration = Duration::from_secs(120);

/// Every row the probe prints, in its order.
const ROWS: &[&str] = &[
    "leaked_fds",
    "cwd_outside_root",
    "dotdot_from_root",
    "chroot_escape",
    "proc_core_pattern_write",
    "proc_sysrq_trigger_write",
    "proc_drop_caches_write",
    "sys_thp_enabled_write",
    "sys_uevent_helper_write",
    "proc_kallsyms_read",
    "proc_kcore_read",
    "proc_keys_read",
    "proc_timer_list_read",
    "umount_proc_keys",
    "umount_proc_timer_list_detach",
    "remount_proc_sys_rw",
    "remount_sys_rw",
    "cgroup1_memory_release_agent",
    "cgroup1_name_systemd_release_agent",
    "mount_debugfs",
    "mount_tracefs",
    "mount_bpffs",
    "nested_proc_keys_read",
    "nested_proc_kcore_read",
    "nested_proc_core_pattern_write",
    "nested_proc_sysrq_trigger_write",
    "nested_sysfs_write",
    "mount_devtmpfs_rootdev",
    "mknod_blk_8_0",
    "mknod_blk_rootdev",
    "mknod_dev_mem",
    "mknod_dev_kmsg",
    "dev_kmsg_present",
    "init_module",
    "finit_module",
    "kexec_load",
    "add_key",
    "keyring_shared_with_host",
    "bpf_prog_load",
    "open_by_handle_at",
    "perf_event_open_system_wide",
    "settimeofday",
    "adjtimex",
    "iopl",
    "ioperm",
    "swapon",
    "reboot_cad_off",
    "sethostname",
    "syslog_read",
    "tiocsti_stdin",
    "tiocsti_console",
    "launcher_exe_write",
    "ptrace_pid1",
];

/// Rows berth blocks even without a user namespace, and that must say
/// "blocked" with `-U no` (here "absent" would hide a failure: e.g. a
/// device node that could be made and opened but has no driver).
const BLOCKED_WITHOUT_USERNS: &[&str] = &[
    // The root, the descriptors, the launcher binary.
    "leaked_fds",
    "cwd_outside_root",
    "dotdot_from_root",
    "chroot_escape",
    "launcher_exe_write",
    // /proc/sys and /sys read-only, the /proc masks.
    "proc_core_pattern_write",
    "proc_drop_caches_write",
    "sys_thp_enabled_write",
    "proc_kallsyms_read",
    "proc_keys_read",
    "proc_timer_list_read",
    // The device policy.
    "mknod_blk_8_0",
    "mknod_blk_rootdev",
    "mknod_dev_mem",
    "mknod_dev_kmsg",
    "mount_devtmpfs_rootdev",
    "dev_kmsg_present",
    // The capability bounding set (CAP_SYS_TIME, CAP_SYSLOG).
    "settimeofday",
    "adjtimex",
    "syslog_read",
    // The pid and UTS namespaces, the console.
    "reboot_cad_off",
    "sethostname",
    "ptrace_pid1",
    "tiocsti_console",
];

/// Rows berth blocks without a user namespace too, where this host's kernel
/// may simply lack the thing (then "absent" is fine).
const BLOCKED_OR_ABSENT_WITHOUT_USERNS: &[&str] = &[
    "proc_sysrq_trigger_write",
    "sys_uevent_helper_write",
    "proc_kcore_read",
    // CAP_SYS_MODULE and CAP_SYS_RAWIO are dropped.
    "init_module",
    "finit_module",
    "iopl",
    "ioperm",
];

/// Host paths the probe classifies; those missing here are passed as
/// `missing=` so the probe can tell "absent from this kernel" from "hidden".
const HOST_PATHS: &[&str] = &[
    "/proc/sys/kernel/core_pattern",
    "/proc/sysrq-trigger",
    "/proc/sys/vm/drop_caches",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/kernel/uevent_helper",
    "/proc/kallsyms",
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/dev/kmsg",
];

// ---------------------------------------------------------------------------
// Small helpers (std and libc only, like tests/common)

fn have_gcc() -> bool {
    Command::new("gcc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The busybox tree from `tests/fixture.sh busybox` (it prints the path).
fn busybox_fixture() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("tests/fixture.sh"))
        .arg("busybox")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/fixture.sh busybox");
    assert!(out.status.success(), "tests/fixture.sh busybox failed: {:?}", out.status);
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(p.join("bin").exists(), "busybox fixture at {} looks incomplete", p.display());
    p
}

/// The lock every berth integration test shares (tests/common's
/// convention): held shared, so tests that diff the whole host are not
/// disturbed by our machines.
fn host_lock_shared() -> fs::File {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("berth-tests.lock"))
        .expect("open berth-tests.lock");
    // SAFETY: flock on a descriptor we own.
    let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_SH) };
    assert_eq!(r, 0, "flock: {}", std::io::Error::last_os_error());
    f
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("rt-{tag}-{}-{n}", std::process::id())
}

/// A scratch directory with a copy of the busybox tree, the probe and a
/// host-only marker; removed on drop unless something is still mounted
/// below it.
struct Scratch {
    dir: PathBuf,
    tree: PathBuf,
    probe_dir: PathBuf,
    marker: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let base = Path::new("/var/tmp/berth-tests");
        fs::create_dir_all(base).expect("create /var/tmp/berth-tests");
        let dir = base.join(unique(tag));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).expect("create the scratch directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let tree = dir.join("tree");
        let st = Command::new("cp")
            .arg("-a")
            .arg("--reflink=auto")
            .arg(busybox_fixture())
            .arg(&tree)
            .status()
            .expect("run cp");
        assert!(st.success(), "copying the busybox tree failed");
        let probe_dir = dir.join("probe");
        fs::create_dir(&probe_dir).unwrap();
        // The guest's root is another uid: world-readable and executable.
        fs::set_permissions(&probe_dir, fs::Permissions::from_mode(0o755)).unwrap();
        let marker = dir.join(format!("host-only-marker-{}", std::process::id()));
        fs::write(&marker, "only the host sees this\n").unwrap();
        Scratch { dir, tree, probe_dir, marker }
    }

    fn build_probe(&self) {
        let src = repo().join("tests/redteam/probe.c");
        let bin = self.probe_dir.join("probe");
        let out =
            Command::new("gcc").args(["-static", "-O2", "-Wall", "-o"]).arg(&bin).arg(&src).output().expect("run gcc");
        assert!(
            out.status.success(),
            "gcc -static -O2 -o {} {} failed:\n{}",
            bin.display(),
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let d = self.dir.to_string_lossy().to_string();
        if mounts.lines().filter_map(|l| l.split(' ').nth(4)).any(|m| m == d || m.starts_with(&format!("{d}/"))) {
            eprintln!(
                "WARNING: not removing {}: something is still mounted below it (a berth leak)",
                self.dir.display()
            );
            return;
        }
        let _ = Command::new("rm").arg("-rf").arg("--one-file-system").arg(&self.dir).status();
    }
}

fn host_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").expect("read /proc/sys/kernel/hostname").trim().to_string()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Syscalls that return ENOSYS on this host. Each is called with arguments
/// the kernel rejects without doing anything (NULL pointers, bad fds,
/// out-of-range values), so this is safe as root.
fn host_nosys() -> Vec<&'static str> {
    let null = std::ptr::null::<libc::c_void>();
    let empty = c"".as_ptr();
    let l = |v: i64| v as libc::c_long;
    // The errno of each call, read right after it.
    let e = |r: libc::c_long| if r < 0 { errno() } else { 0 };
    // SAFETY: every call passes values the kernel validates and rejects.
    let probes: Vec<(&str, i32)> = unsafe {
        vec![
            ("init_module", e(libc::syscall(libc::SYS_init_module, null, l(0), empty))),
            ("finit_module", e(libc::syscall(libc::SYS_finit_module, l(-1), empty, l(0)))),
            // 1000 segments and an unknown flag: EINVAL right after the
            // permission check.
            ("kexec_load", e(libc::syscall(libc::SYS_kexec_load, l(0), l(1000), null, l(0x80)))),
            ("iopl", e(libc::syscall(libc::SYS_iopl, l(4)))),
            ("ioperm", e(libc::syscall(libc::SYS_ioperm, l(0), l(0), l(0)))),
            ("swapon", e(libc::syscall(libc::SYS_swapon, null, l(0)))),
            ("bpf", e(libc::syscall(libc::SYS_bpf, l(9999), null, l(0)))),
            ("perf_event_open", e(libc::syscall(libc::SYS_perf_event_open, null, l(0), l(-1), l(-1), l(0)))),
            ("add_key", e(libc::syscall(libc::SYS_add_key, null, null, null, l(0), l(0)))),
            ("keyctl", e(libc::syscall(libc::SYS_keyctl, l(9999)))),
            ("open_by_handle_at", e(libc::syscall(libc::SYS_open_by_handle_at, l(-1), null, l(0)))),
            ("syslog", e(libc::syscall(libc::SYS_syslog, l(10), null, l(0)))),
        ]
    };
    probes.into_iter().filter(|(_, e)| *e == libc::ENOSYS).map(|(n, _)| n).collect()
}

fn keyring_id(which: i32) -> i64 {
    // SAFETY: KEYCTL_GET_KEYRING_ID (0) with a special keyring id.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, 0 as libc::c_long, which as libc::c_long, 0 as libc::c_long) };
    if r < 0 {
        -1
    } else {
        r
    }
}

/// The description of the "user" key the test puts into its session keyring.
const SECRET: &str = "berth-redteam-host-secret";

/// Gives the calling thread (and so the berth it spawns) a session keyring
/// of its own holding a "user" key, like a login session with a secret in
/// it; the probe checks that the guest can neither reach that keyring nor
/// read the key. Returns whether it worked (when not, and the skip of that
/// check is allowed, the probe compares keyring ids only).
fn join_test_session_keyring(tag: &str) -> bool {
    let name = std::ffi::CString::new(format!("berth-redteam-{tag}-{}", std::process::id())).unwrap();
    let desc = std::ffi::CString::new(SECRET).unwrap();
    let payload = format!("host-secret-{}", std::process::id());
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING (1) with a name, then add_key into
    // KEY_SPEC_SESSION_KEYRING (-3); both only affect this thread's creds.
    unsafe {
        if libc::syscall(libc::SYS_keyctl, 1 as libc::c_long, name.as_ptr()) < 0 {
            let e = std::io::Error::last_os_error();
            skip(
                "session-keyring",
                &format!("could not join a session keyring ({e}); the keyring row compares ids only"),
            );
            return false;
        }
        if libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len() as libc::c_long,
            -3 as libc::c_long,
        ) < 0
        {
            let e = std::io::Error::last_os_error();
            skip(
                "session-keyring",
                &format!("could not add a key to the test's session keyring ({e}); the keyring row compares ids only"),
            );
            return false;
        }
    }
    true
}

/// The probe's arguments: everything it needs to know about the host.
fn host_facts(marker: &Path, secret: bool) -> Vec<String> {
    let st = fs::metadata("/").expect("stat /");
    let dev = st.dev();
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    let rootname = fs::read_to_string(format!("/sys/dev/block/{maj}:{min}/uevent"))
        .ok()
        .and_then(|u| u.lines().find_map(|l| l.strip_prefix("DEVNAME=").map(str::to_string)))
        .unwrap_or_else(|| "no-such-device".into());
    let missing: Vec<&str> = HOST_PATHS.iter().copied().filter(|p| fs::symlink_metadata(p).is_err()).collect();
    vec![
        format!("marker={}", marker.display()),
        format!("hostname={}", host_hostname()),
        format!("rootdev={maj}:{min}"),
        format!("rootname={rootname}"),
        format!("missing={}", missing.join(",")),
        format!("nosys={}", host_nosys().join(",")),
        format!("ukeyring={}", keyring_id(-4)), // KEY_SPEC_USER_KEYRING
        format!("skeyring={}", keyring_id(-3)), // KEY_SPEC_SESSION_KEYRING
        format!("secret={}", if secret { SECRET } else { "" }),
    ]
}

// ---------------------------------------------------------------------------
// Running the probe

struct Run {
    cmdline: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    rows: BTreeMap<String, (String, String)>,
    order: Vec<String>,
}

impl Run {
    fn status_of(&self, row: &str) -> &str {
        self.rows.get(row).map(|(s, _)| s.as_str()).unwrap_or("missing")
    }

    fn table(&self) -> String {
        let mut s = String::new();
        for name in &self.order {
            let (st, detail) = &self.rows[name];
            s.push_str(&format!("  {name:<36} {st:<8} {detail}\n"));
        }
        s
    }

    fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {:?}\n--- table ---\n{}--- stdout ---\n{}\n--- stderr ---\n{}\n-------------",
            self.cmdline,
            self.status,
            self.table(),
            self.stdout,
            self.stderr
        )
    }
}

/// A pty pair: (master, slave).
fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut m, mut s) = (-1, -1);
    // SAFETY: openpty with out-pointers and no name/termios/winsize.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptors we own.
    unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
}

fn run_once(s: &Scratch, name: &str, extra: &[&str], facts: &[String]) -> Run {
    let (master, slave) = openpty();
    let mut c = Command::new(BERTH);
    c.arg("run")
        .arg("-q")
        .arg("-P")
        .arg("-D")
        .arg(&s.tree)
        .arg("-M")
        .arg(name)
        .arg("--bind-ro")
        .arg(format!("{}:/probe", s.probe_dir.display()));
    c.args(extra);
    c.arg("--").arg("/probe/probe").args(facts);
    c.env_remove("NOTIFY_SOCKET");
    c.stdin(Stdio::from(slave)).stdout(Stdio::piped()).stderr(Stdio::piped());
    // berth runs in a session of its own whose controlling terminal is the
    // pty on its stdin, like `berth run -P` typed into a terminal.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let cmdline = format!("{c:?}");
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let end = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&t1.join().unwrap_or_default()).to_string();
            let err = String::from_utf8_lossy(&t2.join().unwrap_or_default()).to_string();
            panic!("timed out after {TIMEOUT:?}: {cmdline}\n--- stdout ---\n{out}\n--- stderr ---\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(master);
    let stdout = String::from_utf8_lossy(&t1.join().unwrap_or_default()).to_string();
    let stderr = String::from_utf8_lossy(&t2.join().unwrap_or_default()).to_string();
    let mut rows = BTreeMap::new();
    let mut order = Vec::new();
    for line in stdout.lines() {
        let line = line.trim_end_matches('\r');
        let Some(rest) = line.strip_prefix("ROW ") else {
            continue;
        };
        let mut it = rest.splitn(3, ' ');
        let name = it.next().unwrap_or("").to_string();
        let st = it.next().unwrap_or("").to_string();
        let detail = it.next().unwrap_or("").to_string();
        if rows.insert(name.clone(), (st, detail)).is_some() {
            order.push(format!("{name} (duplicate)"));
            rows.insert(format!("{name} (duplicate)"), ("error".into(), "printed twice".into()));
        } else {
            order.push(name);
        }
    }
    Run { cmdline, status, stdout, stderr, rows, order }
}

/// Runs the probe in a guest; retries a start that lost the known race on
/// /run/berth/machines (tests/FINDINGS.md, finding 1) with a fresh name.
fn run_probe(s: &Scratch, tag: &str, extra: &[&str]) -> Run {
    let secret = join_test_session_keyring(tag);
    let facts = host_facts(&s.marker, secret);
    let hostname = host_hostname();
    let mut attempt = 0;
    let run = loop {
        attempt += 1;
        let name = unique(tag);
        let run = run_once(s, &name, extra, &facts);
        let now = host_hostname();
        if now != hostname {
            // Put it back before failing, so the host is left as it was.
            let _ = fs::write("/proc/sys/kernel/hostname", &hostname);
            panic!("the guest changed the HOST's hostname from {hostname:?} to {now:?}\n{}", run.describe());
        }
        let lost_race =
            run.status.code() == Some(125) && run.stderr.contains("/run/berth/machines/") && run.rows.is_empty();
        if lost_race && attempt < 4 {
            eprintln!("note: berth lost a start race writing its record, retrying: {}", run.stderr.trim());
            continue;
        }
        break run;
    };
    // The probe ran to its end, every row exactly once, nothing else.
    assert_eq!(run.status.code(), Some(0), "berth or the probe failed\n{}", run.describe());
    assert!(run.stdout.contains("PROBE DONE"), "the probe did not finish\n{}", run.describe());
    assert!(
        run.stdout.lines().any(|l| l.trim_end_matches('\r') == format!("ROWS {}", ROWS.len())),
        "the probe ran a different number of rows than this test expects ({})\n{}",
        ROWS.len(),
        run.describe()
    );
    let got: Vec<&str> = run.order.iter().map(String::as_str).collect();
    assert_eq!(got, ROWS, "the probe's rows differ from the list in this test\n{}", run.describe());
    for (name, (st, _)) in &run.rows {
        assert!(
            matches!(st.as_str(), "blocked" | "escaped" | "absent"),
            "row {name} ended in {st:?}, not blocked/escaped/absent\n{}",
            run.describe()
        );
    }
    // The pty reached the guest, so the TIOCSTI row tested something.
    assert_ne!(
        run.status_of("tiocsti_stdin"),
        "absent",
        "the guest's stdin was not the test's pty\n{}",
        run.describe()
    );
    run
}

/// Root, gcc and busybox, or the test fails.
fn prologue() {
    need_root();
    if !have_gcc() {
        missing("gcc is not installed; the red-team probe is a C program built with `gcc -static`");
    }
    if !Path::new("/usr/lib/x86_64-linux-gnu/libc.a").exists()
        && !Path::new("/usr/lib/libc.a").exists()
        && !Path::new("/usr/lib64/libc.a").exists()
    {
        // Not fatal: gcc may find libc.a elsewhere; a link error fails below.
        eprintln!("note: no libc.a in the usual places; `gcc -static` may fail");
    }
    if !Path::new("/bin/busybox").exists() {
        missing("the busybox fixture needs Debian's busybox-static (/bin/busybox)");
    }
}

// ---------------------------------------------------------------------------
// The tests

/// The default mode (a user namespace) must leave no way out.
#[test]
fn default_mode_blocks_every_escape() {
    prologue();
    let _lock = host_lock_shared();
    let s = Scratch::new("redteam-default");
    s.build_probe();
    let run = run_probe(&s, "rtd", &[]);
    eprintln!("\nred-team table, default mode (user namespace):\n{}", run.table());
    let escaped: Vec<String> = run
        .order
        .iter()
        .filter(|n| run.status_of(n) == "escaped")
        .map(|n| format!("  {n}: {}", run.rows[n.as_str()].1))
        .collect();
    assert!(
        escaped.is_empty(),
        "{} row(s) escaped in the default mode:\n{}\n\nfull table:\n{}",
        escaped.len(),
        escaped.join("\n"),
        run.describe()
    );
}

/// With `-U no` the guest's root is the host's root with most of its
/// capabilities, so some escapes are open by design; the ones berth blocks
/// by other means must stay blocked. The rest are printed.
#[test]
fn without_userns_berth_still_blocks_its_part() {
    prologue();
    let _lock = host_lock_shared();
    let s = Scratch::new("redteam-nouserns");
    s.build_probe();
    let run = run_probe(&s, "rtn", &["-U", "no"]);
    eprintln!("\nred-team table, -U no:\n{}", run.table());
    let open: Vec<&str> = run.order.iter().filter(|n| run.status_of(n) == "escaped").map(String::as_str).collect();
    eprintln!(
        "rows that escape with -U no (what -U no gives up): {}\n",
        if open.is_empty() { "none".to_string() } else { open.join(", ") }
    );
    let mut bad = Vec::new();
    for row in BLOCKED_WITHOUT_USERNS {
        if run.status_of(row) != "blocked" {
            bad.push(format!(
                "  {row}: {} (must be blocked): {}",
                run.status_of(row),
                run.rows.get(*row).map(|r| r.1.as_str()).unwrap_or("")
            ));
        }
    }
    for row in BLOCKED_OR_ABSENT_WITHOUT_USERNS {
        if !matches!(run.status_of(row), "blocked" | "absent") {
            bad.push(format!(
                "  {row}: {} (must be blocked or absent): {}",
                run.status_of(row),
                run.rows.get(*row).map(|r| r.1.as_str()).unwrap_or("")
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "with -U no, rows berth must still block did not:\n{}\n\nfull table:\n{}",
        bad.join("\n"),
        run.describe()
    );
}
