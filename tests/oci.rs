//! berth as an OCI runtime, judged by real engines: its runc-compatible
//! command line straight (create/start/state/kill/delete, a refused
//! field), podman 4.3 with conmon (`--runtime` pointing at a `berth-oci`
//! link: run --rm exit codes and output, run -it on a terminal under
//! `script`, exec, pause/unpause, kill, stop, ps, --uidmap, --memory/--pids-limit in
//! the cgroup, 100 sequential runs leaking nothing) and containerd
//! (`ctr run --runc-binary`: run, exec, kill, delete, task list, and a
//! restart of containerd while a task runs).
//! podman and containerd come from Debian (scripts/test installs them).
//! Each engine gets private state (podman's --root/--runroot, its own
//! containerd socket), so nothing here touches anyone else's containers.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A `berth-oci` link to the berth under test, its own state root, and
/// a scratch directory.
struct Rt {
    scratch: Scratch,
    link: PathBuf,
    root: PathBuf,
}

impl Rt {
    fn new(tag: &str) -> Rt {
        require(&[]);
        let scratch = Scratch::new(tag);
        let link = scratch.path("berth-oci");
        std::os::unix::fs::symlink(BERTH, &link).unwrap();
        let root = PathBuf::from(format!("/run/berth-oci-test-{}", std::process::id()));
        Rt { scratch, link, root }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.link);
        c.arg("--root").arg(&self.root).args(args).stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        run_to_end(self.cmd(args), LIMIT)
    }

    /// A bundle of the busybox fixture running `sh -c SCRIPT`.
    fn bundle(&self, name: &str, script: &str) -> PathBuf {
        let b = self.scratch.path(name);
        fs::create_dir(&b).unwrap();
        tree_copy(&self.scratch, &fixture("busybox"), &format!("{name}/rootfs"));
        self.run(&["spec", "--bundle", b.to_str().unwrap()]).expect_code(0);
        let p = b.join("config.json");
        let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
        v["process"]["terminal"] = false.into();
        v["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        fs::write(&p, v.to_string()).unwrap();
        b
    }

    /// `create --pid-file` of `bundle` as `id`, its stdout to `stdout`
    /// (the container's process keeps create's stdio: files, not pipes);
    /// the container's pid.
    fn create(&self, bundle: &Path, id: &str, stdout: Stdio) -> i32 {
        let pid_file = self.scratch.path(&format!("{id}.pid"));
        let err = self.scratch.path(&format!("{id}.create-err"));
        let mut c =
            self.cmd(&["create", "--bundle", bundle.to_str().unwrap(), "--pid-file", pid_file.to_str().unwrap(), id]);
        c.stdout(stdout).stderr(fs::File::create(&err).unwrap());
        let st = c.status().unwrap();
        assert!(st.success(), "create failed: {st:?} {:?}", fs::read_to_string(&err));
        fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap()
    }

    /// `run --detach` of `bundle` as `id`, with no stdio for the container
    /// to hold open.
    fn run_detached(&self, bundle: &Path, id: &str) {
        let mut c = self.cmd(&["run", "--detach", "--bundle", bundle.to_str().unwrap(), id]);
        let st = c.stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
        assert!(st.success(), "run --detach {id}: {st:?}");
    }

    /// Neither state nor cgroups are left of `id`.
    fn assert_gone(&self, id: &str) {
        assert!(!self.root.join(id).exists(), "state of {id} left");
        assert!(cgroups_named(id).is_empty(), "cgroups left: {:?}", cgroups_named(id));
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let out = self.run(&["state", id]);
        out.expect_code(0);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state JSON: {e}\n{}", out.describe()))
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.root);
    }
}

/// Every cgroup directory named after `id` in any hierarchy.
fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        for sub in ["berth-oci", "libpod_parent", "default"] {
            let d = e.path().join(sub);
            for c in fs::read_dir(&d).into_iter().flatten().flatten() {
                if c.file_name().to_string_lossy().contains(id) {
                    v.push(c.path());
                }
            }
        }
    }
    v
}

fn ppid(pid: i32) -> i32 {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok()).unwrap_or(-1)
}

#[test]
fn runtime_cli_lifecycle() {
    let rt = Rt::new("oci-cli");
    let id = unique_name("ho");
    let out_file = rt.scratch.path("out");
    let b = rt.bundle("b1", "echo started; exec sleep 30");
    let pid = rt.create(&b, &id, fs::File::create(&out_file).unwrap().into());
    // create has returned; the process waits, and berth is not its parent.
    assert_eq!(rt.state(&id)["status"], "created");
    assert_eq!(rt.state(&id)["pid"], pid);
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let parent = cmdline(ppid(pid) as u32);
    assert!(!parent.contains("berth"), "berth stayed the parent of the container's process: {parent}");
    assert_eq!(fs::read_to_string(&out_file).unwrap(), "", "the program ran before start");
    assert!(!cgroups_named(&id).is_empty(), "no cgroup for {id}");
    rt.run(&["start", &id]).expect_code(0);
    poll(Duration::from_secs(10), || fs::read_to_string(&out_file).ok().filter(|s| s == "started\n"))
        .expect("output after start");
    assert_eq!(rt.state(&id)["status"], "running");
    // delete refuses a running container; --force removes it.
    let out = rt.run(&["delete", &id]);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert_one_error_line(&out);
    rt.run(&["kill", &id, "KILL"]).expect_code(0);
    poll(Duration::from_secs(10), || (rt.state(&id)["status"] == "stopped").then_some(())).expect("stopped after kill");
    rt.run(&["delete", &id]).expect_code(0);
    rt.assert_gone(&id);
    // run: create+start+wait, the program's own exit code.
    let b2 = rt.bundle("b2", "echo in-run; exit 3");
    let out = rt.run(&["run", "--bundle", b2.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 3, "{}", out.describe());
    assert_eq!(out.stdout, "in-run\n");
    assert!(!rt.root.join(&id).exists());
}

/// A foreground `run` hands the signals it gets to the container's
/// process (an engine's stop, a terminal's ^C), as runc's does.
#[test]
fn run_forwards_signals() {
    let rt = Rt::new("oci-fwd");
    let id = unique_name("ho");
    let b = rt.bundle("b", "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done");
    let out_file = rt.scratch.path("out");
    let mut c = rt.cmd(&["run", "--bundle", b.to_str().unwrap(), &id]);
    c.stdout(fs::File::create(&out_file).unwrap());
    let mut child = c.spawn().unwrap();
    poll(Duration::from_secs(10), || fs::read_to_string(&out_file).ok().filter(|s| s == "ready\n"))
        .expect("the container did not start");
    // SAFETY: plain kill of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = poll(Duration::from_secs(10), || child.try_wait().ok().flatten());
    let st = st.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("run did not end after SIGTERM")
    });
    assert_eq!(st.code(), Some(7), "the container's trap did not run: {:?}", fs::read_to_string(&out_file));
    assert_eq!(fs::read_to_string(&out_file).unwrap(), "ready\ngot-term\n");
    rt.assert_gone(&id);
}

/// The container's process killed between create and start: start says
/// so in one line, state says stopped, delete removes everything; two
/// deletes at once (they take the container's lock in turn) both end well.
#[test]
fn killed_between_create_and_start() {
    let rt = Rt::new("oci-k9");
    let id = unique_name("ho");
    let b = rt.bundle("b", "echo never");
    let pid = rt.create(&b, &id, Stdio::null());
    // SAFETY: plain kill of the container's process.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    poll(Duration::from_secs(10), || (rt.state(&id)["status"] == "stopped").then_some(()))
        .expect("stopped after kill -9");
    let out = rt.run(&["start", &id]);
    assert_ne!(out.code(), 0, "{}", out.describe());
    assert_one_error_line(&out);
    let deletes: Vec<_> = (0..2).map(|_| rt.cmd(&["delete", "--force", &id]).spawn().unwrap()).collect();
    for mut d in deletes {
        assert!(d.wait().unwrap().success(), "a concurrent delete --force failed");
    }
    rt.assert_gone(&id);
}

/// The container's process has a session keyring of its own, named after
/// it as runc names it (host root sees it in /proc/keys), unless
/// `--no-new-keyring`; it goes with the container.
#[test]
fn session_keyring_is_the_containers_own() {
    let rt = Rt::new("oci-keyring");
    let b = rt.bundle("bundle", "sleep 60");
    let has = |id: &str| fs::read_to_string("/proc/keys").unwrap().contains(&format!("_ses.{id}"));
    let id = unique_name("hok");
    rt.create(&b, &id, Stdio::null());
    assert!(has(&id), "no _ses.{id} keyring in /proc/keys");
    rt.run(&["delete", "--force", &id]).expect_code(0);
    let gone = poll(Duration::from_secs(10), || (!has(&id)).then_some(()));
    assert!(gone.is_some(), "the keyring outlived its container");
    let shared = unique_name("hok");
    // stdio to /dev/null: the container's process keeps create's.
    let mut c = rt.cmd(&["create", "--no-new-keyring", "--bundle", b.to_str().unwrap(), &shared]);
    assert!(c.stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success());
    assert!(!has(&shared), "--no-new-keyring made one");
    rt.run(&["delete", "--force", &shared]).expect_code(0);
    rt.assert_gone(&id);
    rt.assert_gone(&shared);
}

#[test]
fn runtime_cli_refuses_and_forces() {
    let rt = Rt::new("oci-refuse");
    let id = unique_name("ho");
    let b = rt.bundle("b", "exec sleep 30");
    let p = b.join("config.json");
    let good = fs::read_to_string(&p).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_FIFO"});
    fs::write(&p, v.to_string()).unwrap();
    let out = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("process.scheduler"), "{}", out.describe());
    assert!(!rt.root.join(&id).exists() && cgroups_named(&id).is_empty(), "create left state behind");
    // A missing program fails create with runc's words (engines map them to 127).
    v = serde_json::from_str(&good).unwrap();
    v["process"]["args"] = serde_json::json!(["no-such-program"]);
    fs::write(&p, v.to_string()).unwrap();
    let out = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(out.stderr.contains("executable file not found in $PATH"), "{}", out.describe());
    assert!(!rt.root.join(&id).exists() && cgroups_named(&id).is_empty(), "create left state behind");
    // delete --force of a running container leaves nothing.
    fs::write(&p, &good).unwrap();
    // Detached, the container keeps its stdio: give it none to hold open.
    rt.run_detached(&b, &id);
    assert_eq!(rt.state(&id)["status"], "running");
    rt.run(&["delete", "--force", &id]).expect_code(0);
    assert!(!rt.root.join(&id).exists() && cgroups_named(&id).is_empty(), "delete --force left state behind");
    rt.run(&["delete", "--force", &id]).expect_code(0);
}

// ---------------------------------------------------------------------------
// What the runtime-spec validation suite (benches/contest.sh) found

/// Edits `bundle`'s config.json with `f`.
fn edit_config(bundle: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = bundle.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    fs::write(&p, v.to_string()).unwrap();
}

/// A tmpfs mounted at a scratch directory, unmounted on drop.
struct TmpMount(PathBuf);

impl Drop for TmpMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Recursive mount options reach submounts, nosymfollow is set, a fifo in
/// linux.devices gets no device-cgroup rule, prestart hooks that never
/// read their stdin (a state larger than a pipe holds) all run,
/// startContainer hooks see the process's environment, and a top-level
/// key that is not the spec's is ignored.
#[test]
fn spec_suite_mounts_devices_hooks() {
    let rt = Rt::new("oci-spec-m");
    let id = unique_name("hc");
    let src = rt.scratch.path("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    let st = Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(src.join("sub")).status().unwrap();
    assert!(st.success(), "mounting a tmpfs for the test");
    let _sub = TmpMount(src.join("sub"));
    let hook_out = rt.scratch.path("hooks");
    let script = "grep -E ' /mnt(/sub)? ' /proc/self/mountinfo | cut -d' ' -f5,6; \
                  grep ' /nosym ' /proc/self/mountinfo | cut -d' ' -f6; \
                  touch /mnt/sub/x 2>/dev/null && echo sub-writable; test -p /dev/hcfifo && echo fifo; \
                  test -e /hook-env-ok && echo hook-env";
    let b = rt.bundle("b", script);
    let hook = |line: &str| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {line} >> {}", hook_out.display())]});
    edit_config(&b, |v| {
        let mounts = v["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({"destination": "/mnt", "type": "bind", "source": src,
            "options": ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime"]}));
        mounts.push(serde_json::json!({"destination": "/nosym", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosymfollow"]}));
        v["linux"]["devices"] = serde_json::json!([{"path": "/dev/hcfifo", "type": "p", "major": 0, "minor": 0,
            "fileMode": 0o666}]);
        v["linux"]["resources"]["devices"] = serde_json::json!([{"allow": false, "access": "rwm"}]);
        v["process"]["env"].as_array_mut().unwrap().push("ONE=two".into());
        v["annotations"] = serde_json::json!({"org.example.big": "x".repeat(200_000)});
        v["hooks"] = serde_json::json!({
            "prestart": [hook("1"), hook("2")],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "test \"$ONE\" = two && touch /hook-env-ok"]}],
        });
        v["org.example.not-the-spec"] = serde_json::json!({"x": 1});
        v["root"]["readonly"] = false.into();
    });
    let out = rt.run(&["run", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert_eq!(out.stderr, "", "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    for at in ["/mnt ", "/mnt/sub "] {
        let l = lines.iter().find(|l| l.starts_with(at)).unwrap_or_else(|| panic!("no {at}mount\n{}", out.stdout));
        for flag in ["ro", "nosuid", "nodev", "noexec", "noatime"] {
            assert!(l.split([' ', ',']).any(|f| f == flag), "{at}lacks {flag}: {l}");
        }
    }
    assert!(lines.iter().any(|l| l.contains("nosymfollow")), "/nosym lacks nosymfollow\n{}", out.stdout);
    assert!(!out.stdout.contains("sub-writable"), "rro did not reach the submount\n{}", out.stdout);
    assert!(out.stdout.contains("fifo\n") && out.stdout.contains("hook-env\n"), "{}", out.describe());
    assert_eq!(fs::read_to_string(&hook_out).unwrap_or_default(), "1\n2\n", "prestart hooks");
    rt.assert_gone(&id);
}

/// Failures say "error" (the suite, like engines, looks for it), a
/// non-SemVer ociVersion is refused, and exec's --env replaces the
/// spec's variable of the same name.
#[test]
fn spec_suite_cli() {
    let rt = Rt::new("oci-spec-c");
    let id = unique_name("hc");
    for args in [&["kill", &id, "KILL"][..], &["delete", &id], &["kill", "", "KILL"]] {
        let out = rt.run(args);
        assert_eq!(out.code(), 1, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.starts_with("berth: error: "), "{}", out.describe());
    }
    let b = rt.bundle("b", "exec sleep 30");
    edit_config(&b, |v| v["ociVersion"] = "invalid".into());
    let out = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert!(out.stderr.contains("ociVersion"), "{}", out.describe());
    assert!(!rt.root.join(&id).exists(), "create left state behind");
    // /sys a link in the root: refused, as runc does, not followed.
    let sys = b.join("rootfs/sys");
    let _ = fs::remove_dir_all(&sys);
    std::os::unix::fs::symlink("/hcsys", &sys).unwrap();
    edit_config(&b, |v| v["ociVersion"] = "1.2.0".into());
    let out = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert!(out.stderr.contains("must be mounted on ordinary directory"), "{}", out.describe());
    assert!(!rt.root.join(&id).exists(), "create left state behind");
    fs::remove_file(&sys).unwrap();
    fs::create_dir(&sys).unwrap();
    edit_config(&b, |v| {
        v["ociVersion"] = "1.0.2-dev".into();
        v["process"]["env"].as_array_mut().unwrap().push("MY_VAR=from_spec".into());
    });
    rt.run_detached(&b, &id);
    let out = rt.run(&["exec", "--env", "MY_VAR=from_cli", &id, "sh", "-c", "echo $MY_VAR"]);
    rt.run(&["delete", "--force", &id]).expect_code(0);
    assert_eq!(out.stdout, "from_cli\n", "{}", out.describe());
    rt.assert_gone(&id);
}

// ---------------------------------------------------------------------------
// podman

struct Podman {
    rt: Rt,
    conf: PathBuf,
    storage: PathBuf,
    runroot: PathBuf,
}

impl Podman {
    fn new(tag: &str) -> Podman {
        require(&["podman", "conmon", "script"]);
        let rt = Rt::new(tag);
        let conf = rt.scratch.path("containers.conf");
        // Root here lacks CAP_SYS_RESOURCE: no default ulimits to raise.
        fs::write(
            &conf,
            "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )
        .unwrap();
        let storage = rt.scratch.path("storage");
        let runroot = PathBuf::from(format!("/run/berth-oci-podman-{}-{tag}", std::process::id()));
        let p = Podman { rt, conf, storage, runroot };
        let images = p.run(&["images", "-q", "localhost/berth-busybox"]);
        if images.stdout.trim().is_empty() {
            let tar = p.rt.scratch.path("busybox.tar");
            let st =
                Command::new("tar").arg("-C").arg(fixture("busybox")).arg("-cf").arg(&tar).arg(".").status().unwrap();
            assert!(st.success());
            p.run(&["import", tar.to_str().unwrap(), "localhost/berth-busybox"]).expect_code(0);
        }
        p
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--root".into(),
            self.storage.display().to_string(),
            "--runroot".into(),
            self.runroot.display().to_string(),
            "--runtime".into(),
            self.rt.link.display().to_string(),
        ]
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf).args(self.args()).args(args).stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        run_to_end(self.cmd(args), LIMIT)
    }

    /// `podman ARGS` on a terminal: `script` gives it a pty.
    fn on_terminal(&self, args: &str) -> Out {
        let line = format!("CONTAINERS_CONF={} podman {} {args}", self.conf.display(), self.args().join(" "));
        let mut c = Command::new("script");
        c.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null());
        run_to_end(c, LIMIT)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .env("CONTAINERS_CONF", &self.conf)
            .args(self.args())
            .args(["rm", "-af", "-t", "0"])
            .output();
        let _ =
            Command::new("podman").env("CONTAINERS_CONF", &self.conf).args(self.args()).args(["rmi", "-af"]).output();
        for d in [&self.runroot, &self.storage.join("overlay")] {
            let _ = Command::new("umount").arg("-R").arg(d).stderr(Stdio::null()).status();
        }
        let _ = fs::remove_dir_all(&self.runroot);
    }
}

const IMG: &str = "localhost/berth-busybox";

#[test]
fn podman_run() {
    let pm = Podman::new("oci-podman-run");
    let out = pm.run(&["run", "--rm", "--network=none", IMG, "sh", "-c", "echo hello; hostname; exit 7"]);
    assert_eq!(out.code(), 7, "{}", out.describe());
    assert_eq!(out.lines()[0], "hello");
    let out = pm.run(&["run", "--rm", "--network=none", IMG, "no-such-program"]);
    assert_eq!(out.code(), 127, "{}", out.describe());
    // conmon can lose a pty's last output when the process exits at once
    // (runc's too: 2 runs in 20 here), so the command lingers after it.
    let out = pm.on_terminal(&format!("run --rm -it --network=none {IMG} sh -c 'tty; echo tty-ok; sleep 0.3; exit 4'"));
    assert_eq!(out.code(), 4, "{}", out.describe());
    assert!(out.lines().iter().any(|l| l.ends_with("/dev/pts/0")), "{}", out.describe());
    // The pty may deliver a NUL before the line (seen under load), which
    // `script` may also show as `^@`.
    assert!(
        out.lines().iter().any(|l| l.trim_start_matches(['\0']).trim_start_matches("^@") == "tty-ok"),
        "{}",
        out.describe()
    );
    // Limits, read from the host's v1 controllers while the container runs.
    let name = unique_name("ho");
    pm.run(&["run", "-d", "--name", &name, "--network=none", "--memory=64m", "--pids-limit=33", IMG, "sleep", "60"])
        .expect_code(0);
    let id = pm.run(&["inspect", "-f", "{{.Id}}", &name]).stdout.trim().to_string();
    let mem =
        fs::read_to_string(format!("/sys/fs/cgroup/memory/libpod_parent/libpod-{id}/memory.limit_in_bytes")).unwrap();
    assert_eq!(mem.trim(), "67108864");
    let pids = fs::read_to_string(format!("/sys/fs/cgroup/pids/libpod_parent/libpod-{id}/pids.max")).unwrap();
    assert_eq!(pids.trim(), "33");
    pm.run(&["rm", "-f", "-t", "0", &name]).expect_code(0);
    assert!(cgroups_named(&id).is_empty(), "cgroups left: {:?}", cgroups_named(&id));
}

#[test]
fn podman_exec_pause_stop() {
    let pm = Podman::new("oci-podman-exec");
    let name = unique_name("ho");
    pm.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network=none",
        IMG,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ])
    .expect_code(0);
    let out = pm.run(&["exec", &name, "sh", "-c", "echo exec-ok; exit 5"]);
    assert_eq!(out.code(), 5, "{}", out.describe());
    assert_eq!(out.lines()[0], "exec-ok");
    let out = pm.on_terminal(&format!("exec -it {name} sh -c 'tty; echo tty-exec; sleep 0.3'"));
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(out.lines().iter().any(|l| l == "tty-exec"), "{}", out.describe());
    pm.run(&["pause", &name]).expect_code(0);
    assert_eq!(pm.run(&["inspect", "-f", "{{.State.Status}}", &name]).stdout.trim(), "paused");
    pm.run(&["unpause", &name]).expect_code(0);
    assert_eq!(pm.run(&["inspect", "-f", "{{.State.Status}}", &name]).stdout.trim(), "running");
    let out = pm.run(&["top", &name]);
    assert!(out.stdout.contains("while true"), "{}", out.describe());
    // stop: SIGTERM, which the trap turns into exit 0.
    pm.run(&["stop", "-t", "10", &name]).expect_code(0);
    assert_eq!(pm.run(&["inspect", "-f", "{{.State.ExitCode}}", &name]).stdout.trim(), "0");
    pm.run(&["start", &name]).expect_code(0);
    pm.run(&["kill", "-s", "KILL", &name]).expect_code(0);
    poll(Duration::from_secs(10), || {
        (pm.run(&["inspect", "-f", "{{.State.Status}}", &name]).stdout.trim() == "exited").then_some(())
    })
    .expect("exited after kill");
    let id = pm.run(&["inspect", "-f", "{{.Id}}", &name]).stdout.trim().to_string();
    pm.run(&["rm", &name]).expect_code(0);
    assert!(cgroups_named(&id).is_empty(), "cgroups left: {:?}", cgroups_named(&id));
    assert!(!Path::new("/run/berth-oci").join(&id).exists(), "state left");
}

/// `--uidmap`/`--gidmap`: the container's root is host uid 200000, its
/// files in podman's idmapped store are its own, and `podman ps` lists it.
#[test]
fn podman_userns_and_ps() {
    let pm = Podman::new("oci-podman-userns");
    let name = unique_name("ho");
    let map = ["--uidmap", "0:200000:65536", "--gidmap", "0:200000:65536"];
    let mut args = vec!["run", "-d", "--name", &name, "--network=none"];
    args.extend(map);
    args.extend([IMG, "sh", "-c", "touch /mine; sleep 60"]);
    pm.run(&args).expect_code(0);
    let ps = pm.run(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.lines().iter().any(|l| l.starts_with(&format!("{name} Up"))), "{}", ps.describe());
    let pid = pm.run(&["inspect", "-f", "{{.State.Pid}}", &name]).stdout.trim().to_string();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
    assert!(uid.split_whitespace().skip(1).all(|u| u == "200000"), "{uid}");
    let out = pm.run(&["exec", &name, "sh", "-c", "id -u; cat /proc/self/uid_map; stat -c %u /mine"]);
    out.expect_code(0);
    let l = out.lines();
    assert_eq!(l[0], "0", "{}", out.describe());
    assert_eq!(l[1].split_whitespace().collect::<Vec<_>>(), ["0", "200000", "65536"]);
    assert_eq!(l[2], "0", "{}", out.describe());
    let id = pm.run(&["inspect", "-f", "{{.Id}}", &name]).stdout.trim().to_string();
    pm.run(&["rm", "-f", "-t", "0", &name]).expect_code(0);
    assert!(cgroups_named(&id).is_empty(), "cgroups left: {:?}", cgroups_named(&id));
}

/// Mounts under this podman's storage and run directories (other tests
/// mount and unmount elsewhere at the same time).
fn mount_count(pm: &Podman) -> usize {
    let (a, b) = (pm.storage.display().to_string(), pm.runroot.display().to_string());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&a) || l.contains(&b))
        .count()
}

#[test]
fn podman_hundred_runs_leak_nothing() {
    let pm = Podman::new("oci-podman-leak");
    pm.run(&["run", "--rm", "--network=none", IMG, "true"]).expect_code(0);
    let mounts = mount_count(&pm);
    // Names, not a count: the other podman tests of this file run beside
    // this one, and their containers come and go meanwhile.
    let libpod = || -> std::collections::BTreeSet<String> {
        fs::read_dir("/sys/fs/cgroup/memory/libpod_parent")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let cgroups = libpod();
    for i in 0..100 {
        let out = pm.run(&["run", "--rm", "--network=none", IMG, "sh", "-c", &format!("echo run-{i}")]);
        out.expect_code(0);
        assert_eq!(out.lines()[0], format!("run-{i}"));
    }
    assert_eq!(mount_count(&pm), mounts, "mounts leaked");
    let left = poll(Duration::from_secs(10), || {
        let new: Vec<String> = libpod().difference(&cgroups).cloned().collect();
        new.is_empty().then_some(())
    });
    assert!(left.is_some(), "cgroups leaked: {:?}", libpod().difference(&cgroups).collect::<Vec<_>>());
    assert!(pm.run(&["ps", "-aq"]).stdout.trim().is_empty());
}

// ---------------------------------------------------------------------------
// containerd

/// A containerd of the test's own (root, state, socket under scratch and
/// /run), with the busybox image imported from podman's store.
struct Ctd {
    base: PathBuf,
    state: String,
    sock: String,
    log: PathBuf,
    daemon: Option<Bg>,
    image: String,
    rb: String,
}

impl Ctd {
    fn new(pm: &Podman, tag: &str) -> Ctd {
        require(&["containerd", "ctr"]);
        let base = pm.rt.scratch.path("ctd");
        let state = format!("/run/berth-oci-ctd-{}-{tag}", std::process::id());
        let mut c = Ctd {
            base,
            sock: format!("{state}.sock"),
            state,
            log: pm.rt.scratch.path("containerd.log"),
            daemon: None,
            image: format!("{IMG}:latest"),
            rb: format!("--runc-binary={}", pm.rt.link.display()),
        };
        c.start();
        let tar = pm.rt.scratch.path("image.tar");
        pm.run(&["save", "--format", "docker-archive", "-o", tar.to_str().unwrap(), IMG]).expect_code(0);
        c.ctr(&["images", "import", tar.to_str().unwrap()]).expect_code(0);
        c
    }

    fn start(&mut self) {
        let _ = fs::remove_file(&self.sock);
        let mut c = Command::new("containerd");
        c.arg("--root").arg(self.base.join("root")).arg("--state").arg(&self.state).arg("--address").arg(&self.sock);
        self.daemon = Some(Bg::spawn(c, self.log.clone()));
        poll(Duration::from_secs(20), || Path::new(&self.sock).exists().then_some(())).expect("containerd socket");
    }

    /// Ends the daemon (SIGTERM), as a restart of the engine does; its
    /// shims and their containers live on.
    fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.signal(libc::SIGTERM);
            d.wait(Duration::from_secs(20));
        }
    }

    fn ctr(&self, args: &[&str]) -> Out {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(&self.sock).args(args).stdin(Stdio::null());
        run_to_end(c, LIMIT)
    }

    fn task_state(&self, id: &str) -> String {
        let out = self.ctr(&["task", "ls"]);
        out.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }

    /// kill -s KILL, wait for STOPPED, delete the task and the container.
    fn kill_and_delete(&self, id: &str) {
        self.ctr(&["task", "kill", "-s", "KILL", id]).expect_code(0);
        poll(Duration::from_secs(10), || (self.task_state(id) == "STOPPED").then_some(())).expect("stopped");
        self.ctr(&["task", "delete", id]).expect_code(0);
        self.ctr(&["container", "delete", id]).expect_code(0);
        assert!(cgroups_named(id).is_empty(), "cgroups left: {:?}", cgroups_named(id));
    }
}

impl Drop for Ctd {
    fn drop(&mut self) {
        self.stop();
        for d in [self.base.as_path(), Path::new(&self.state)] {
            let _ = Command::new("umount").arg("-R").arg(d).stderr(Stdio::null()).status();
        }
        let _ = fs::remove_dir_all(&self.state);
        let _ = fs::remove_file(&self.sock);
        let _ = fs::remove_file(format!("{}.ttrpc", self.sock));
    }
}

#[test]
fn containerd_ctr() {
    let pm = Podman::new("oci-ctr");
    let ctd = Ctd::new(&pm, "ctr");
    let (image, rb) = (ctd.image.as_str(), ctd.rb.as_str());
    let out = ctd.ctr(&["run", "--rm", rb, image, "ho-ctr-1", "sh", "-c", "echo ctr-ok; exit 6"]);
    assert_eq!(out.code(), 6, "{}", out.describe());
    assert!(out.stdout.contains("ctr-ok"), "{}", out.describe());
    ctd.ctr(&["run", "-d", rb, image, "ho-ctr-2", "sleep", "60"]).expect_code(0);
    assert_eq!(ctd.task_state("ho-ctr-2"), "RUNNING");
    let out = ctd.ctr(&["task", "exec", "--exec-id", "e1", "ho-ctr-2", "sh", "-c", "echo exec-ctr; exit 2"]);
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert!(out.stdout.contains("exec-ctr"));
    ctd.kill_and_delete("ho-ctr-2");
}

/// The engine restarts while a container runs: the new containerd finds
/// the task through its shim (which asks berth's `state`), exec and kill
/// still work, and nothing of it is left after delete.
#[test]
fn containerd_restart_finds_running_tasks() {
    let pm = Podman::new("oci-ctr-restart");
    let mut ctd = Ctd::new(&pm, "restart");
    let id = "ho-ctr-restart";
    let (image, rb) = (ctd.image.clone(), ctd.rb.clone());
    ctd.ctr(&["run", "-d", &rb, &image, id, "sh", "-c", "echo $$ >/tmp/pid; exec sleep 600"]).expect_code(0);
    assert_eq!(ctd.task_state(id), "RUNNING");
    let before = ctd.ctr(&["task", "exec", "--exec-id", "b", id, "cat", "/tmp/pid"]);
    before.expect_code(0);
    ctd.stop();
    assert!(!cgroups_named(id).is_empty(), "the container did not outlive its engine");
    ctd.start();
    let st = poll(Duration::from_secs(20), || Some(ctd.task_state(id)).filter(|s| !s.is_empty()));
    assert_eq!(st.as_deref(), Some("RUNNING"), "{}", ctd.ctr(&["task", "ls"]).describe());
    let after = ctd.ctr(&["task", "exec", "--exec-id", "a", id, "cat", "/tmp/pid"]);
    after.expect_code(0);
    assert_eq!(after.stdout, before.stdout, "not the same container after the restart");
    let state_dirs = |id: &str| -> Vec<PathBuf> {
        let out = Command::new("find").args(["/run", "-path", &format!("*/{id}/berth.json")]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(PathBuf::from).collect()
    };
    assert_eq!(state_dirs(id).len(), 1, "berth's state of {id}: {:?}", state_dirs(id));
    ctd.kill_and_delete(id);
    assert!(state_dirs(id).is_empty(), "berth's state left: {:?}", state_dirs(id));
}

#[test]
fn podman_systemd_image_boots_and_stops() {
    let pm = Podman::new("oci-podman-systemd");
    let tar = pm.rt.scratch.path("bookworm.tar");
    let st = Command::new("tar").arg("-C").arg(fixture("bookworm")).arg("-cf").arg(&tar).arg(".").status().unwrap();
    assert!(st.success());
    pm.run(&["import", tar.to_str().unwrap(), "localhost/berth-bookworm"]).expect_code(0);
    let name = unique_name("ho");
    pm.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network=none",
        "--systemd=always",
        "localhost/berth-bookworm",
        "/lib/systemd/systemd",
    ])
    .expect_code(0);
    let state = poll(Duration::from_secs(60), || {
        let s = pm.run(&["exec", &name, "systemctl", "is-system-running"]).stdout.trim().to_string();
        matches!(s.as_str(), "running" | "degraded").then_some(s)
    });
    let failed = pm.run(&["exec", &name, "systemctl", "--failed", "--no-legend"]).stdout;
    assert_eq!(state.as_deref(), Some("running"), "failed units: {failed}");
    // podman's stop signal for systemd is SIGRTMIN+3: a clean halt, well
    // before podman's 10 s timeout turns it into SIGKILL.
    let out = pm.run(&["stop", &name]);
    out.expect_code(0);
    assert!(out.elapsed < Duration::from_secs(8), "stop took {:?}\n{}", out.elapsed, out.describe());
    assert_eq!(pm.run(&["inspect", "-f", "{{.State.ExitCode}}", &name]).stdout.trim(), "0");
    let id = pm.run(&["inspect", "-f", "{{.Id}}", &name]).stdout.trim().to_string();
    pm.run(&["rm", &name]).expect_code(0);
    assert!(cgroups_named(&id).is_empty(), "cgroups left: {:?}", cgroups_named(&id));
}
