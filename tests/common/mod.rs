//! Helpers shared by berth's host integration tests.
//!
//! These tests run the real `berth` binary as root against real trees built
//! by `tests/fixture.sh` (cached under /var/cache/berth-tests). Nothing is
//! mocked. A test that cannot run here fails (not root, a tool missing);
//! only a reason of the host's kernel listed in tests/allowed-skips lets it
//! skip, loudly and on record (see skip.rs). It never passes silently.
//!
//! Only std and `libc` (a dependency of berth itself) are used.

#![allow(dead_code)]

pub mod bus;
pub mod netns;
pub mod skip;

#[allow(unused_imports)]
pub use skip::{is_root, missing, need_root, skip};

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// How long a berth that should be quick may take before a test gives up.
pub const QUICK: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Preconditions

/// True when `tool` is an executable in PATH (or an absolute path).
pub fn have_tool(tool: &str) -> bool {
    if tool.contains('/') {
        return is_executable(Path::new(tool));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).any(|d| is_executable(&d.join(tool)))
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.is_file() && m.mode() & 0o111 != 0).unwrap_or(false)
}

/// Root, a kernel berth runs on, and the given tools; the test fails
/// without them.
pub fn require(tools: &[&str]) {
    need_root();
    if !Path::new("/proc/self/ns/cgroup").exists() {
        panic!("the kernel has no cgroup namespaces, which berth needs (Linux 4.6 or newer)");
    }
    for t in tools {
        if !have_tool(t) {
            missing(&format!("`{t}` is not installed"));
        }
    }
}

// ---------------------------------------------------------------------------
// Fixtures and per-test trees

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cached tree for `name` (busybox, bookworm, trixie, or the VM image vm), built on first use
/// by tests/fixture.sh. Missing tools to build it, or a failed build, fail
/// the test.
pub fn fixture(name: &str) -> PathBuf {
    static CACHE: OnceLock<std::sync::Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = cache.get(name) {
        return p.clone();
    }
    let needs: &[&str] = match name {
        "busybox" => &["bash", "flock", "sha256sum"],
        _ => &["bash", "flock", "sha256sum", "debootstrap"],
    };
    for t in needs {
        if !have_tool(t) {
            missing(&format!("fixture {name} needs `{t}`"));
        }
    }
    if name == "busybox" && !Path::new("/bin/busybox").exists() {
        missing("fixture busybox needs Debian's busybox-static (/bin/busybox)");
    }
    let script = repo_root().join("tests/fixture.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(name)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/fixture.sh");
    assert!(out.status.success(), "tests/fixture.sh {name} failed: {:?}", out.status);
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
    // The vm fixture is a disk image with its kernel, not a tree.
    let marker = if name == "vm" { "rootfs.raw" } else { "etc/os-release" };
    assert!(path.join(marker).exists(), "fixture {name} at {} looks incomplete", path.display());
    cache.insert(name.to_string(), path.clone());
    path
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A machine name unique to this test process and call: `bt-TAG-PID-N`.
/// Valid by machined's rules as long as TAG is lower-case letters, digits, '-'.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let name = format!("bt-{tag}-{}-{n}", std::process::id());
    assert!(name.len() <= 64, "machine name too long: {name}");
    name
}

/// A scratch directory under /var/tmp/berth-tests, removed on drop (never
/// across mount points, and not at all while something is mounted below it).
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let base = Path::new("/var/tmp/berth-tests");
        fs::create_dir_all(base).expect("create /var/tmp/berth-tests");
        let dir = base.join(unique_name(tag));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).expect("create scratch dir");
        Scratch { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let under: Vec<String> = mount_points().into_iter().filter(|m| path_is_under(m, &self.dir)).collect();
        if !under.is_empty() {
            eprintln!(
                "WARNING: not removing {}: still mounted below it: {under:?} (a berth leak; see the failing assertion)",
                self.dir.display()
            );
            return;
        }
        let _ = Command::new("rm").arg("-rf").arg("--one-file-system").arg(&self.dir).status();
    }
}

/// A private copy of fixture `name` at `<scratch>/<basename>`; `cp -a
/// --reflink=auto` so copies are cheap where the filesystem allows it.
/// Tests that write into a tree (every writable run takes the tree's lock, a
/// boot writes the journal) use their own copy.
pub fn tree_copy(scratch: &Scratch, fixture_path: &Path, basename: &str) -> PathBuf {
    let dst = scratch.path(basename);
    let st = Command::new("cp").arg("-a").arg("--reflink=auto").arg(fixture_path).arg(&dst).status().expect("run cp");
    assert!(st.success(), "cp -a {} {} failed", fixture_path.display(), dst.display());
    dst
}

/// Root, the busybox fixture, and a private copy of it. The usual prologue of
/// the small tests.
pub fn busybox_setup(tag: &str) -> (Scratch, PathBuf) {
    require(&[]);
    let fx = fixture("busybox");
    let scratch = Scratch::new(tag);
    let tree = tree_copy(&scratch, &fx, "tree");
    (scratch, tree)
}

// ---------------------------------------------------------------------------
// Running berth

pub fn berth() -> Command {
    let mut c = Command::new(BERTH);
    c.stdin(Stdio::null());
    c.env_remove("NOTIFY_SOCKET");
    // Marks the berths this test process started (and whatever they fork
    // without exec, such as a watcher), so leak checks can tell them from
    // berths other people run on the same host at the same time.
    c.env(OWNER_VAR, std::process::id().to_string());
    c
}

const OWNER_VAR: &str = "BERTH_TEST_OWNER";

#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub cmdline: String,
}

impl Out {
    /// The exit code; a berth killed by a signal fails the test.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(c) => c,
            None => panic!("berth itself died from a signal: {:?}\n{}", self.status, self.describe()),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.cmdline, self.status, self.elapsed, self.stdout, self.stderr
        )
    }

    pub fn expect_code(&self, want: i32) -> &Self {
        assert_eq!(self.code(), want, "unexpected exit code\n{}", self.describe());
        self
    }

    /// stdout lines, trimmed of '\r' (a pty adds them).
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(|l| l.trim_end_matches('\r').to_string()).collect()
    }

    /// The value of the first stdout line `KEY=...`.
    pub fn get(&self, key: &str) -> String {
        let p = format!("{key}=");
        self.lines()
            .into_iter()
            .find_map(|l| l.strip_prefix(&p).map(str::to_string))
            .unwrap_or_else(|| panic!("no line {key}=... in the output\n{}", self.describe()))
    }
}

pub fn cmdline_of(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().to_string();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Runs `cmd` to its end with stdout and stderr captured, killing it (and
/// failing) after `timeout`.
pub fn run_to_end(mut cmd: Command, timeout: Duration) -> Out {
    let cmdline = cmdline_of(&cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = match wait_deadline(&mut child, timeout) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = String::from_utf8_lossy(&t1.join().unwrap_or_default()).to_string();
            let stderr = String::from_utf8_lossy(&t2.join().unwrap_or_default()).to_string();
            panic!(
                "timed out after {timeout:?}: {cmdline}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--------------"
            );
        }
    };
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&t1.join().unwrap_or_default()).to_string();
    let stderr = String::from_utf8_lossy(&t2.join().unwrap_or_default()).to_string();
    Out { status, stdout, stderr, elapsed, cmdline }
}

pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        if Instant::now() >= end {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// `berth run -D TREE -M NAME -q -P EXTRA... -- /bin/sh -c SCRIPT`
pub fn run_sh(tree: &Path, name: &str, extra: &[&str], script: &str) -> Out {
    let mut c = berth();
    c.arg("run").arg("-D").arg(tree).arg("-M").arg(name).arg("-q").arg("-P");
    c.args(extra);
    c.arg("--").arg("/bin/sh").arg("-c").arg(script);
    run_to_end(c, QUICK)
}

/// `berth run -D TREE -M NAME EXTRA... -- /bin/sh -c SCRIPT` the way a
/// person types it: the default console, stdin from /dev/null, output
/// to pipes.
pub fn run_default(tree: &Path, name: &str, extra: &[&str], script: &str) -> Out {
    let mut c = berth();
    c.arg("run").arg("-D").arg(tree).arg("-M").arg(name);
    c.args(extra);
    c.arg("--").arg("/bin/sh").arg("-c").arg(script);
    run_to_end(c, Duration::from_secs(30))
}

/// A berth running in the background with stdout and stderr in files.
pub struct Bg {
    pub child: Child,
    pub log: PathBuf,
    pub cmdline: String,
    pub started: Instant,
    reaped: Option<ExitStatus>,
}

impl Bg {
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Bg {
        let cmdline = cmdline_of(&cmd);
        let f = File::create(&log).expect("create log");
        cmd.stdout(f.try_clone().unwrap()).stderr(f);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
        Bg { child, log, cmdline, started: Instant::now(), reaped: None }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn describe(&self) -> String {
        format!("command: {}\n--- output ---\n{}\n--------------", self.cmdline, self.output())
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().expect("try_wait");
        }
        self.reaped
    }

    /// Waits up to `timeout` for the exit; fails (after killing it) when
    /// berth does not exit in time.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        match wait_deadline(&mut self.child, timeout) {
            Some(s) => {
                self.reaped = Some(s);
                s
            }
            None => {
                let d = self.describe();
                self.kill9();
                panic!("berth did not exit within {timeout:?}\n{d}");
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        signal(self.pid(), sig);
    }

    pub fn kill9(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.reaped = self.child.wait().ok();
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a pid we own; errors are reported by the return value.
    let r = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig}): {}", std::io::Error::last_os_error());
}

/// Polls `f` every 20 ms until it returns Some or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The error contract: exactly one line on stderr, starting with `berth: `.
pub fn assert_one_error_line(out: &Out) {
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("berth: ") && out.stderr.ends_with('\n'),
        "want exactly one stderr line starting with `berth: `\n{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------
// Host state: cgroups, processes, mounts, /run/berth

/// The cgroup2 hierarchy berth uses: /sys/fs/cgroup/unified on hybrid hosts,
/// else /sys/fs/cgroup.
/// A value of the running machine's record under /run/berth/machines
/// (JSON), by its JSON pointer, e.g. `/ids/base` or `/leader`.
pub fn record_value(name: &str, pointer: &str) -> Option<serde_json::Value> {
    let text = fs::read_to_string(format!("/run/berth/machines/{name}")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.pointer(pointer).filter(|v| !v.is_null()).cloned()
}

pub fn cgroup2_root() -> PathBuf {
    let mounts = mountinfo();
    for want in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        if mounts.iter().any(|m| m.mount_point == want && m.fstype == "cgroup2") {
            return PathBuf::from(want);
        }
    }
    panic!("no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified");
}

pub fn scope_dir(name: &str) -> PathBuf {
    cgroup2_root().join(format!("machine.slice/machine-{name}.scope"))
}

/// Every place a `machine-NAME.scope` directory may be left behind: the
/// cgroup2 hierarchy and, on hybrid hosts, each v1 hierarchy.
pub fn all_scope_dirs(name: &str) -> Vec<PathBuf> {
    let scope = format!("machine.slice/machine-{name}.scope");
    let mut out = Vec::new();
    for m in mountinfo().into_iter().filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2") {
        let mp = PathBuf::from(&m.mount_point);
        out.push(mp.join(&scope));
        // berth makes a v1 cgroup below its own one in that hierarchy (its
        // launcher sits where this test does).
        if let Some(own) = v1_own_path(&mp) {
            out.push(mp.join(own).join(&scope));
        }
    }
    out
}

/// This process's path in the v1 hierarchy mounted at `mount`, if that is
/// a v1 controller hierarchy.
pub fn v1_own_path(mount: &Path) -> Option<PathBuf> {
    let controller = mount.file_name()?.to_string_lossy().into_owned();
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        (ctrls.split(',').any(|c| c == controller) && path != "/").then(|| PathBuf::from(path.trim_start_matches('/')))
    })
}

/// All pids in the cgroup `dir` and below.
pub fn pids_in_cgroup_tree(dir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(s.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
    }
    out
}

/// The host pid of the guest's PID 1: the pid in the payload cgroup subtree
/// whose innermost pid namespace pid (last NSpid field) is 1.
pub fn guest_init_pid(name: &str) -> Option<u32> {
    let payload = scope_dir(name).join("payload");
    // systemd moves itself into init.scope; look there first.
    let mut pids = pids_in_cgroup_tree(&payload.join("init.scope"));
    pids.extend(pids_in_cgroup_tree(&payload));
    pids.into_iter().find(|&p| nspid_last(p) == Some(1))
}

pub fn nspid_last(pid: u32) -> Option<u32> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("NSpid:"))?;
    l.split_whitespace().last()?.parse().ok()
}

/// Waits until the guest's PID 1 is visible in the payload cgroup.
pub fn wait_guest_init(bg: &mut Bg, name: &str, timeout: Duration) -> u32 {
    let r = poll(timeout, || {
        if bg.try_status().is_some() {
            return Some(None);
        }
        guest_init_pid(name).map(Some)
    })
    .flatten();
    match r {
        Some(p) => p,
        None => panic!(
            "no guest PID 1 in {} within {timeout:?} (berth status {:?})\n{}",
            scope_dir(name).join("payload").display(),
            bg.try_status(),
            bg.describe()
        ),
    }
}

pub fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

pub fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline")).map(|v| String::from_utf8_lossy(&v).replace('\0', " ")).unwrap_or_default()
}

/// Processes whose command line contains `marker`, or whose cgroup is inside
/// `machine-NAME.scope`.
pub fn leftover_processes(name: &str, marker: &str) -> Vec<String> {
    let me = std::process::id();
    let scope = format!("machine-{name}.scope");
    let mut out = Vec::new();
    for pid in all_pids() {
        if pid == me {
            continue;
        }
        let cl = cmdline(pid);
        let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if (!marker.is_empty() && cl.contains(marker)) || cg.contains(&scope) {
            out.push(format!("{pid}: {cl}"));
        }
    }
    out
}

/// Processes running the berth binary that this test process started
/// (exclusive tests only: parallel tests in this process run berths of their
/// own).
pub fn berth_processes() -> Vec<String> {
    let exe = fs::canonicalize(BERTH).unwrap_or_else(|_| PathBuf::from(BERTH));
    let exe = exe.to_string_lossy().to_string();
    let mark = format!("{OWNER_VAR}={}", std::process::id());
    all_pids()
        .into_iter()
        .filter(|&p| p != std::process::id())
        .filter(|&p| {
            fs::read_link(format!("/proc/{p}/exe"))
                .map(|l| l.to_string_lossy().trim_end_matches(" (deleted)") == exe)
                .unwrap_or(false)
        })
        .filter(|&p| {
            fs::read(format!("/proc/{p}/environ"))
                .map(|e| e.split(|b| *b == 0).any(|v| v == mark.as_bytes()))
                .unwrap_or(false)
        })
        .map(|p| format!("{p}: {}", cmdline(p)))
        .collect()
}

#[derive(Debug, Clone)]
pub struct Mount {
    pub id: u64,
    pub root: String,
    pub mount_point: String,
    pub fstype: String,
    pub source: String,
    pub options: String,
    pub line: String,
}

/// Parses a mountinfo text (the host's or one printed from inside a guest).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            let (a, b) = line.split_once(" - ")?;
            let f: Vec<&str> = a.split(' ').collect();
            let g: Vec<&str> = b.split(' ').collect();
            if f.len() < 6 || g.len() < 2 {
                return None;
            }
            Some(Mount {
                id: f[0].parse().ok()?,
                root: unescape(f[3]),
                mount_point: unescape(f[4]),
                options: f[5].to_string(),
                fstype: g[0].to_string(),
                source: unescape(g[1]),
                line: line.to_string(),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

pub fn mountinfo() -> Vec<Mount> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo"))
}

pub fn mount_points() -> Vec<String> {
    mountinfo().into_iter().map(|m| m.mount_point).collect()
}

pub fn path_is_under(p: &str, dir: &Path) -> bool {
    let d = dir.to_string_lossy();
    p == d || p.starts_with(&format!("{}/", d.trim_end_matches('/')))
}

/// The host's mounts, keyed by mount id, to diff against later.
pub struct MountSnapshot(BTreeMap<u64, String>);

impl MountSnapshot {
    pub fn take() -> MountSnapshot {
        MountSnapshot(mountinfo().into_iter().map(|m| (m.id, m.line)).collect())
    }

    /// Mounts present now that were not in the snapshot, ignoring fixture
    /// builds (debootstrap mounts proc/sys in its build directory).
    pub fn new_mounts(&self) -> Vec<String> {
        mountinfo()
            .into_iter()
            .filter(|m| !self.0.contains_key(&m.id))
            .filter(|m| !m.mount_point.contains("/berth-tests/.build-"))
            .map(|m| m.line)
            .collect()
    }
}

/// Host mounts that mention the tree, the scratch dir or the machine name.
pub fn mounts_mentioning(name: &str, paths: &[&Path]) -> Vec<String> {
    mountinfo()
        .into_iter()
        .filter(|m| {
            (!name.is_empty() && m.line.contains(name))
                || paths.iter().any(|p| path_is_under(&m.mount_point, p) || m.source == p.to_string_lossy())
        })
        .map(|m| m.line)
        .collect()
}

/// Entries below /run/berth naming the machine, other than lock files under
/// /run/berth/locks (the lock directory structure may stay).
pub fn run_berth_leftovers(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/run/berth")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let in_locks = p.starts_with("/run/berth/locks");
            if e.file_name().to_string_lossy().contains(name) && !in_locks {
                out.push(p.display().to_string());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    for m in mountinfo() {
        // The network namespaces a running machine keeps are its own
        // (named after it); any other mount there is a leftover.
        let theirs = path_is_under(&m.mount_point, Path::new("/run/berth/netns"))
            && !m.mount_point.ends_with(&format!("/{name}"));
        if path_is_under(&m.mount_point, Path::new("/run/berth")) && !theirs {
            out.push(format!("mount: {}", m.line));
        }
    }
    out
}

/// The machine's links (`ve-NAME`, `vb-NAME`, shortened as berth and
/// nspawn do) left in this process's network namespace, and chains of
/// berth's nf_tables table naming them. Zone member files (leases) are
/// named after the machine and found by `run_berth_leftovers`; a zone's
/// bridge goes with its last member (tests/net_zone.rs checks it).
pub fn net_leftovers(name: &str) -> Vec<String> {
    let links = [berth::net::plan::veth_host_name(name), berth::net::plan::bridge_port_name(name)];
    let mut out: Vec<String> =
        links.iter().filter(|l| Path::new("/sys/class/net").join(l).exists()).map(|l| format!("link {l}")).collect();
    if have_tool("nft") {
        let t = Command::new("nft").args(["list", "table", "ip", "berth"]).stderr(Stdio::null()).output();
        let t = t.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        out.extend(
            t.lines()
                .filter(|l| l.contains("chain ") && links.iter().any(|n| l.contains(&format!("-{n} {{"))))
                .map(|l| format!("nf_tables {}", l.trim())),
        );
    }
    out
}

/// Runs `cmd`, a `berth run` of machine `name` that must fail as berth's
/// own error: exit 125, one `berth: ` line on stderr, and nothing left
/// behind (checked as `assert_clean` does, watching `paths`).
pub fn expect_run_failure(cmd: Command, name: &str, paths: &[&Path]) -> Out {
    let out = run_to_end(cmd, QUICK);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
    assert_clean(name, "", paths, None, Duration::from_secs(3));
    out
}

/// After berth has exited: within `grace`, no scope dir for `name` in any
/// hierarchy, no processes (by `marker` in their command line or by cgroup),
/// no host mounts mentioning the name or `paths`, nothing left in /run/berth.
/// With a snapshot (exclusive tests), no new host mount at all and no berth
/// process at all.
pub fn assert_clean(name: &str, marker: &str, paths: &[&Path], snap: Option<&MountSnapshot>, grace: Duration) {
    let check = || -> Vec<String> {
        let mut problems = Vec::new();
        for d in all_scope_dirs(name) {
            if d.exists() {
                problems.push(format!("scope dir left: {}", d.display()));
            }
        }
        for p in leftover_processes(name, marker) {
            problems.push(format!("process left: {p}"));
        }
        for m in mounts_mentioning(name, paths) {
            problems.push(format!("mount left: {m}"));
        }
        for r in run_berth_leftovers(name) {
            problems.push(format!("/run/berth leftover: {r}"));
        }
        for n in net_leftovers(name) {
            problems.push(format!("network leftover: {n}"));
        }
        if let Some(s) = snap {
            for m in s.new_mounts() {
                problems.push(format!("new host mount: {m}"));
            }
            for p in berth_processes() {
                problems.push(format!("berth process left: {p}"));
            }
        }
        problems
    };
    let mut last = Vec::new();
    let ok = poll(grace, || {
        last = check();
        last.is_empty().then_some(())
    });
    assert!(ok.is_some(), "berth left things behind for machine {name} (after {grace:?}):\n  {}", last.join("\n  "));
}

// ---------------------------------------------------------------------------
// Serialising tests that look at global host state

/// A lock shared by every berth integration test, across threads and across
/// processes (nextest runs each test in its own process). Ordinary tests hold
/// it shared; tests that diff the host's whole mount table or look for any
/// berth process hold it exclusively.
pub struct HostLock {
    _f: File,
}

fn host_lock(exclusive: bool) -> HostLock {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("berth-tests.lock"))
        .expect("open berth-tests.lock");
    let op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
    // SAFETY: flock on an fd we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), op) };
    assert_eq!(r, 0, "flock: {}", std::io::Error::last_os_error());
    HostLock { _f: f }
}

pub fn host_lock_shared() -> HostLock {
    host_lock(false)
}

pub fn host_lock_exclusive() -> HostLock {
    host_lock(true)
}

// ---------------------------------------------------------------------------
// Small things

pub fn host_os_release() -> String {
    fs::read_to_string("/etc/os-release")
        .or_else(|_| fs::read_to_string("/usr/lib/os-release"))
        .expect("host os-release")
}

pub fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Writes `text` to `path`, creating parents.
pub fn write_file(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).expect("mkdir");
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Starts `berth run -q -P -M NAME -D TREE EXTRA... -- /bin/sh -c 'echo
/// berth-test-ready; SCRIPT'` in the background and waits until the command
/// has printed `berth-test-ready`. By then the command runs, so berth is past
/// its start-up (a stop request during start-up aborts the start instead of
/// being forwarded).
pub fn spawn_run_ready(tree: &Path, name: &str, extra: &[&str], script: &str, log: PathBuf) -> Bg {
    let mut c = berth();
    c.args(["run", "-q", "-P", "-M", name, "-D"]).arg(tree).args(extra);
    c.args(["--", "/bin/sh", "-c", &format!("echo berth-test-ready; {script}")]);
    let mut bg = Bg::spawn(c, log);
    let ok = poll(QUICK, || (bg.output().contains("berth-test-ready") || bg.try_status().is_some()).then_some(()));
    assert!(ok.is_some() && bg.try_status().is_none(), "the command never started\n{}", bg.describe());
    wait_guest_init(&mut bg, name, QUICK);
    bg
}

/// Compiles a C source with `gcc FLAGS -static -O1` to `out`; the test
/// fails when gcc cannot (scripts/test installs gcc and, for -m32/-mx32,
/// gcc-multilib).
pub fn gcc_static(source: &str, out: &Path, flags: &[&str]) {
    let src = out.with_extension("c");
    fs::write(&src, source).expect("write probe source");
    match Command::new("gcc").args(flags).args(["-static", "-O1", "-o"]).arg(out).arg(&src).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => missing(&format!("gcc {flags:?} -static failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => missing(&format!("gcc is not available ({e})")),
    }
}

/// A mount a test made on the host; unmounted (lazily) when dropped, also
/// when the test fails half-way.
pub struct TestMount(PathBuf);

impl TestMount {
    /// Runs `mount ARGS... TARGET` and asserts it worked.
    pub fn new(args: &[&str], target: &Path) -> TestMount {
        let ok = Command::new("mount").args(args).arg(target).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "test setup: mount {args:?} {}", target.display());
        TestMount(target.to_path_buf())
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full listing of a tree with checksums: path, type, mode, owner, size,
/// mtime, link target, and the content hash of every file.
pub fn fingerprint(tree: &Path) -> String {
    let sh = "cd \"$1\" && find . -xdev -printf '%p %y %m %U %G %s %T@ %l\\n' | sort && \
              find . -xdev -type f -print0 | sort -z | xargs -0 sha256sum";
    let out = Command::new("sh").args(["-c", sh, "sh"]).arg(tree).output().expect("run find and sha256sum");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails with the first lines that differ when `what` changed a tree.
pub fn assert_same_tree(before: &str, after: &str, what: &str) {
    if before != after {
        let b: Vec<&str> = before.lines().collect();
        let diff: Vec<&str> = after.lines().filter(|l| !b.contains(l)).take(20).collect();
        panic!("{what} changed the tree:\n{}", diff.join("\n"));
    }
}

/// `sh -c SCRIPT` in all namespaces of the guest whose PID 1 is `pid`.
pub fn guest_sh(pid: u32, script: &str) -> Out {
    let mut c = Command::new("timeout");
    c.args(["-s", "KILL", "30", "nsenter", "-t", &pid.to_string(), "-a", "-r", "-w", "--", "sh", "-c", script]);
    run_to_end(c, Duration::from_secs(40))
}

/// Waits (60 s at most) until the booted guest's systemd says `running`;
/// `degraded`, a timeout or berth exiting fail the test.
pub fn wait_running(bg: &mut Bg, pid: u32) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let out = guest_sh(pid, "systemctl is-system-running --wait");
        match out.stdout.trim() {
            "running" => return,
            s if Instant::now() >= end || s == "degraded" => {
                let why = guest_sh(pid, "systemctl --failed --no-pager; journalctl -b --no-pager -p warning -n 60");
                panic!("guest state {s:?}\n{}\n{}", why.stdout, bg.describe())
            }
            _ => {
                assert!(bg.try_status().is_none(), "berth exited early\n{}", bg.describe());
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
}

/// The launcher's watcher (`berth-watch`, a child of the launcher).
pub fn watcher_of(launcher: u32) -> u32 {
    poll(Duration::from_secs(5), || {
        all_pids().into_iter().find(|&q| {
            let status = std::fs::read_to_string(format!("/proc/{q}/status")).unwrap_or_default();
            status.lines().any(|l| l == "Name:\tberth-watch")
                && status.lines().any(|l| l.split_whitespace().eq(["PPid:".to_string(), launcher.to_string()]))
        })
    })
    .expect("the launcher's watcher")
}
