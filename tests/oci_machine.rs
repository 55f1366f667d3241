//! A bundle whose process is systemd runs as a berth machine in OCI mode:
//! registered with the real systemd-machined on a private bus (as a
//! containerd or CRI-O with the systemd cgroup driver would start it:
//! `--systemd-cgroup`, cgroupsPath `slice:prefix:name`), the Container
//! Interface inside (container=, container_uuid=, /run/host), a clean
//! halt on the engine's SIGTERM, and the registration gone after delete.
//! A plain bundle is left alone, and a bad annotation is one line.

mod common;

use common::bus::Bus;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// `berth-oci` (a link to the berth under test) with its own state root,
/// talking to `bus`.
struct Oci<'a> {
    bus: &'a Bus,
    link: PathBuf,
    root: PathBuf,
}

impl<'a> Oci<'a> {
    fn new(bus: &'a Bus) -> Oci<'a> {
        let link = bus.s.path("berth-oci");
        std::os::unix::fs::symlink(BERTH, &link).unwrap();
        let root = PathBuf::from(format!("/run/berth-oci-machine-{}", std::process::id()));
        Oci { bus, link, root }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.link);
        c.env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus.addr);
        c.arg("--root").arg(&self.root).arg("--systemd-cgroup").args(args).stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        run_to_end(self.cmd(args), LIMIT)
    }

    /// create (stdio to files: the container's process keeps them) and start.
    fn create_start(&self, bundle: &Path, id: &str) {
        let log = self.bus.s.path(&format!("{id}.out"));
        let mut c = self.cmd(&["create", "--bundle", bundle.to_str().unwrap(), id]);
        c.stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(self.bus.s.path(&format!("{id}.err"))).unwrap());
        let st = c.status().unwrap();
        let err = fs::read_to_string(self.bus.s.path(&format!("{id}.err"))).unwrap_or_default();
        assert!(st.success(), "create {id}: {st:?} {err}");
        assert!(err.is_empty(), "create {id} printed: {err}");
        self.run(&["start", id]).expect_code(0);
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let out = self.run(&["state", id]);
        out.expect_code(0);
        serde_json::from_str(&out.stdout).unwrap()
    }
}

impl Drop for Oci<'_> {
    fn drop(&mut self) {
        for e in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let _ = run_to_end(self.cmd(&["delete", "--force", &id]), LIMIT);
        }
        let _ = fs::remove_dir(&self.root);
    }
}

/// A bundle at `<scratch>/name`: the runtime's default config.json, made
/// like podman's for `--systemd=always` (its capabilities, tmpfs on /run,
/// /run/lock, /tmp and /var/log/journal, a writable root), with `args`.
fn bundle(oci: &Oci, fixture_name: &str, name: &str, args: &[&str], cgroup: &str) -> PathBuf {
    let b = oci.bus.s.path(name);
    fs::create_dir(&b).unwrap();
    tree_copy(&oci.bus.s, &fixture(fixture_name), &format!("{name}/rootfs"));
    oci.run(&["spec", "--bundle", b.to_str().unwrap()]).expect_code(0);
    let p = b.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    v["process"]["terminal"] = false.into();
    v["process"]["args"] = serde_json::json!(args);
    let caps = serde_json::json!([
        "CAP_AUDIT_WRITE",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_MKNOD",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT"
    ]);
    v["process"]["capabilities"] = serde_json::json!({"bounding": caps, "effective": caps, "permitted": caps});
    v["root"]["readonly"] = false.into();
    v["hostname"] = name.into();
    let mounts = v["mounts"].as_array_mut().unwrap();
    for m in mounts.iter_mut() {
        if m["type"] == "cgroup" {
            m["options"] = serde_json::json!(["nosuid", "noexec", "nodev", "rw"]);
        }
    }
    for d in ["/run", "/run/lock", "/tmp", "/var/log/journal"] {
        mounts.push(serde_json::json!({"destination": d, "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=755"]}));
    }
    v["linux"]["cgroupsPath"] = cgroup.into();
    fs::write(&p, v.to_string()).unwrap();
    b
}

fn in_container(pid: i64, args: &[&str]) -> Out {
    let mut c = Command::new("nsenter");
    c.args(["-t", &pid.to_string(), "-a", "--"]).args(args).stdin(Stdio::null());
    run_to_end(c, Duration::from_secs(40))
}

#[test]
fn systemd_bundle_runs_as_a_registered_machine() {
    require(&["nsenter"]);
    let bus = Bus::with_machined("oci-machine");
    let oci = Oci::new(&bus);
    let id = unique_name("hom");
    let b = bundle(&oci, "bookworm", "boot", &["/lib/systemd/systemd"], &format!("machine.slice:berth-oci:{id}"));
    oci.create_start(&b, &id);
    let pid = oci.state(&id)["pid"].as_i64().unwrap();

    // machined has it, with the container's process as leader.
    let seen = poll(Duration::from_secs(10), || bus.machines().contains(&id).then_some(()));
    assert!(seen.is_some(), "{id} not registered: {:?}\n{}", bus.machines(), bus.logs());
    assert_eq!(bus.prop(&id, "Leader"), pid.to_string());
    assert_eq!(bus.prop(&id, "Class"), "container");
    assert_eq!(bus.prop(&id, "Service"), "berth");
    assert_eq!(bus.prop(&id, "RootDirectory"), b.join("rootfs").display().to_string());
    let list = run_to_end(
        {
            let mut c = bus.berth();
            c.arg("list").stdin(Stdio::null());
            c
        },
        LIMIT,
    );
    assert!(list.stdout.lines().any(|l| l.starts_with(&id)), "berth list:\n{}", list.describe());

    // The Container Interface, and systemd reaching `running` with it.
    let state = poll(Duration::from_secs(40), || {
        let o = in_container(pid, &["systemctl", "is-system-running", "--wait"]);
        (!o.stderr.contains("Failed to connect to bus")).then(|| o.stdout.trim().to_string())
    });
    let failed = in_container(pid, &["systemctl", "--failed", "--no-legend"]).stdout;
    assert_eq!(state.as_deref(), Some("running"), "failed units: {failed}");
    let env = in_container(pid, &["sh", "-c", "tr '\\0' '\\n' </proc/1/environ"]).stdout;
    assert!(env.lines().any(|l| l == "container=berth"), "{env}");
    let uuid = env.lines().find_map(|l| l.strip_prefix("container_uuid=")).unwrap_or_default().to_string();
    let host = in_container(
        pid,
        &["sh", "-c", "cat /run/host/container-manager /run/host/container-uuid; touch /run/host/x 2>&1; echo $?"],
    );
    let l = host.lines();
    assert!(l.len() == 4 && l[0] == "berth" && l[1] == uuid && !uuid.is_empty(), "{}", host.describe());
    assert!(l[2].contains("Read-only") && l[3] == "1", "/run/host is writable: {}", host.describe());
    let os = in_container(pid, &["cat", "/run/host/os-release"]).stdout;
    assert_eq!(os, host_os_release());

    // The engine's SIGTERM halts it cleanly, well before an engine's
    // 10 s grace (systemd itself would only re-execute on SIGTERM).
    let t = Instant::now();
    oci.run(&["kill", &id]).expect_code(0);
    let stopped = poll(Duration::from_secs(20), || (oci.state(&id)["status"] == "stopped").then_some(()));
    assert!(stopped.is_some(), "still {} after SIGTERM", oci.state(&id)["status"]);
    assert!(t.elapsed() < Duration::from_secs(8), "halt took {:?}", t.elapsed());
    let log = fs::read_to_string(bus.s.path(&format!("{id}.out"))).unwrap_or_default();
    assert!(!log.contains("Freezing execution"), "systemd froze instead of halting:\n{log}");

    oci.run(&["delete", &id]).expect_code(0);
    assert!(!bus.machines().contains(&id), "{id} still registered after delete");
    assert!(!oci.root.join(&id).exists(), "state left");
}

#[test]
fn force_delete_unregisters_and_plain_bundles_stay_plain() {
    require(&["nsenter"]);
    let bus = Bus::with_machined("oci-machine-plain");
    let oci = Oci::new(&bus);
    // A plain process: not a machine, no Container Interface added.
    let plain = unique_name("hop");
    let b = bundle(&oci, "busybox", "plain", &["sh", "-c", "sleep 60"], &format!("machine.slice:berth-oci:{plain}"));
    oci.create_start(&b, &plain);
    let pid = oci.state(&plain)["pid"].as_i64().unwrap();
    let env = in_container(pid, &["sh", "-c", "tr '\\0' '\\n' </proc/1/environ; ls /run/host 2>&1"]).stdout;
    assert!(!env.contains("container="), "{env}");
    assert!(env.contains("No such file"), "{env}");
    assert!(!bus.machines().contains(&plain));

    // The annotation makes any process a machine: registered, and
    // `delete --force` of the running one withdraws it.
    let forced = unique_name("hoa");
    let b =
        bundle(&oci, "busybox", "annotated", &["sh", "-c", "sleep 60"], &format!("machine.slice:berth-oci:{forced}"));
    let p = b.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    v["annotations"] = serde_json::json!({"io.berth.machine": "yes"});
    fs::write(&p, v.to_string()).unwrap();
    oci.create_start(&b, &forced);
    let seen = poll(Duration::from_secs(10), || bus.machines().contains(&forced).then_some(()));
    assert!(seen.is_some(), "{forced} not registered\n{}", bus.logs());
    // busybox's sh is no systemd: SIGTERM stays SIGTERM.
    oci.run(&["delete", "--force", &forced]).expect_code(0);
    assert!(!bus.machines().contains(&forced), "{forced} still registered after delete --force");
    oci.run(&["delete", "--force", &plain]).expect_code(0);

    // A bad value is one line naming the annotation; nothing is left.
    let bad = unique_name("hob");
    v["annotations"] = serde_json::json!({"io.berth.machine": "perhaps"});
    fs::write(&p, v.to_string()).unwrap();
    let out = oci.run(&["create", "--bundle", b.to_str().unwrap(), &bad]);
    assert_eq!(out.code(), 1, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("io.berth.machine") && out.stderr.contains("perhaps"), "{}", out.describe());
    assert!(!oci.root.join(&bad).exists(), "state left after a refused create");
    assert!(!bus.machines().contains(&bad));
}
