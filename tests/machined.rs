//! Registration with systemd-machined: each test starts its own bus (a
//! `dbus-daemon` with the system bus policy, listening in a scratch
//! directory) and the real `/lib/systemd/systemd-machined` on it, and
//! points berth at it with DBUS_SYSTEM_BUS_ADDRESS. machined is asked
//! through `busctl` (machinectl refuses to run without systemd as PID 1).
//!
//! machined keeps its state in the host-wide /run/systemd/machines, so these
//! tests run one at a time (tests/common/bus.rs holds a file lock).

mod common;

use common::bus::Bus;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BOOT_LIMIT: Duration = Duration::from_secs(60);

fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

fn wait_registered(bus: &Bus, bg: &mut Bg, name: &str) {
    let ok = poll(BOOT_LIMIT, || {
        if bg.try_status().is_some() {
            return Some(false);
        }
        bus.machines().contains(&name.to_string()).then_some(true)
    });
    assert_eq!(ok, Some(true), "{name} never appeared in ListMachines\n{}\n{}", bg.describe(), bus.logs());
}

fn is_system_running(pid: u32) -> bool {
    // The machine is registered before the guest's systemd has opened its
    // private bus socket: until then systemctl cannot connect, so ask again.
    let state = poll(Duration::from_secs(30), || {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", "30", "nsenter", "-t", &pid.to_string(), "-a", "--"]);
        c.args(["systemctl", "is-system-running", "--wait"]);
        let o = run_to_end(c, Duration::from_secs(40));
        (!o.stderr.contains("Failed to connect to bus")).then(|| o.stdout.trim().to_string())
    });
    matches!(state.as_deref(), Some("running" | "degraded"))
}

/// Boots a copy of bookworm registered with machined, checks what machined
/// says about it, and ends it with KillMachine(leader, `sig`), as
/// `machinectl poweroff` (SIGRTMIN+4) and `machinectl reboot` (SIGINT) do.
fn boot_and_kill(bus: &Bus, tree: &Path, sig: i32, want: i32, log: &str) {
    let name = unique_name("mdboot");
    let mut c = bus.berth();
    c.args(["boot", "-q", "-M", &name, "-D"]).arg(tree);
    let mut bg = Bg::spawn(c, bus.s.path(log));
    let pid = wait_guest_init(&mut bg, &name, BOOT_LIMIT);
    wait_registered(bus, &mut bg, &name);
    assert_eq!(bus.prop(&name, "Leader"), pid.to_string(), "Leader is the guest's PID 1");
    assert_eq!(bus.prop(&name, "Class"), "container");
    assert_eq!(bus.prop(&name, "Service"), "berth");
    assert_eq!(bus.prop(&name, "Unit"), format!("machine-{name}.scope"));
    assert_eq!(bus.prop(&name, "RootDirectory"), fs::canonicalize(tree).unwrap().display().to_string());
    assert_eq!(bus.prop(&name, "State"), "running");
    assert!(is_system_running(pid), "the guest did not finish booting\n{}", bg.describe());
    bus.kill_machine(&name, sig);
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(want), "KillMachine leader {sig}\n{}", bg.describe());
    // Unregistered by the launcher itself, before it exited.
    assert!(!bus.machines().contains(&name), "{name} still registered after berth exited\n{}", bus.logs());
    assert_clean(&name, "", &[tree], None, Duration::from_secs(3));
}

#[test]
fn bookworm_registers_and_obeys_killmachine() {
    require(&["nsenter", "timeout"]);
    let bus = Bus::start("mdboot", true);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let tree = tree_copy(&bus.s, &fx, "bookworm");
    // machinectl poweroff
    boot_and_kill(&bus, &tree, sigrtmin() + 4, 0, "poweroff.log");
    // machinectl reboot
    boot_and_kill(&bus, &tree, libc::SIGINT, 133, "reboot.log");
}

fn busybox_tree(bus: &Bus) -> PathBuf {
    tree_copy(&bus.s, &fixture("busybox"), "tree")
}

#[test]
fn run_registers_with_its_leader_and_unregisters() {
    let bus = Bus::start("mdrun", true);
    let tree = busybox_tree(&bus);
    let _l = host_lock_shared();
    let name = unique_name("mdrun");
    let mut c = bus.berth();
    c.args(["run", "-q", "-M", &name, "-D"]).arg(&tree);
    c.args(["--", "/bin/sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"]);
    let mut bg = Bg::spawn(c, bus.s.path("run.log"));
    let pid = wait_guest_init(&mut bg, &name, QUICK);
    wait_registered(&bus, &mut bg, &name);
    assert_eq!(bus.prop(&name, "Leader"), pid.to_string());
    assert_eq!(bus.prop(&name, "Unit"), format!("machine-{name}.scope"));
    bg.signal(libc::SIGTERM);
    let st = bg.wait(QUICK);
    assert_eq!(st.code(), Some(7), "{}", bg.describe());
    assert!(!bus.machines().contains(&name), "{name} left: {:?}", bus.machines());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn watcher_unregisters_after_kill9_of_the_launcher() {
    let bus = Bus::start("mdkill", true);
    let tree = busybox_tree(&bus);
    let _l = host_lock_shared();
    let name = unique_name("mdkill");
    let mut c = bus.berth();
    c.args(["run", "-q", "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/sleep", "1000"]);
    let mut bg = Bg::spawn(c, bus.s.path("run.log"));
    wait_guest_init(&mut bg, &name, QUICK);
    wait_registered(&bus, &mut bg, &name);
    bg.kill9();
    let gone = poll(Duration::from_secs(10), || (!bus.machines().contains(&name)).then_some(()));
    assert!(gone.is_some(), "the watcher did not unregister {name}: {:?}\n{}", bus.machines(), bus.logs());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

#[test]
fn register_yes_without_machined_is_one_error_line() {
    let bus = Bus::start("mdnone", false);
    let tree = busybox_tree(&bus);
    let _l = host_lock_shared();
    let name = unique_name("mdnone");
    let mut c = bus.berth();
    c.args(["run", "--register=yes", "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/true"]);
    let out = expect_run_failure(c, &name, &[&tree]);
    assert!(out.stderr.contains("machined is not on the system bus"), "{}", out.describe());

    // auto: says so once and runs.
    let mut c = bus.berth();
    c.args(["run", "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert_eq!(
        out.stderr.matches("machined is not on the system bus; not registering").count(),
        1,
        "{}",
        out.describe()
    );
    // -q: silent.
    let mut c = bus.berth();
    c.args(["run", "-q", "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!((out.code(), out.stderr.as_str()), (0, ""), "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

/// A process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Registers `name` with machined for a `sleep` in a cgroup shaped like a
/// machine scope, as another manager would; returns the sleep.
fn foreign_registration(bus: &Bus, name: &str) -> (Killed, PathBuf) {
    let scope = cgroup2_root().join("machine.slice").join(format!("machine-{name}.scope"));
    let leaf = scope.join("payload");
    fs::create_dir_all(&leaf).unwrap();
    let sleep = Command::new("sleep").arg("1000").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    fs::write(leaf.join("cgroup.procs"), sleep.id().to_string()).unwrap();
    let mut args = vec!["RegisterMachine", "sayssus", name, "0", "other", "container"];
    let pid = sleep.id().to_string();
    args.push(&pid);
    args.push("/");
    let o = bus.manager(&args);
    assert!(o.status.success(), "RegisterMachine failed\n{}\n{}", o.describe(), bus.logs());
    (Killed(sleep), scope)
}

#[test]
fn live_registration_refuses_and_stale_one_is_removed() {
    let bus = Bus::start("mdstale", true);
    let tree = busybox_tree(&bus);
    let _l = host_lock_shared();
    let name = unique_name("mdstale");
    let (sleep, scope) = foreign_registration(&bus, &name);

    // A live leader: the name is taken.
    let mut c = bus.berth();
    c.args(["run", "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/true"]);
    let out = run_to_end(c, QUICK);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("already registered with machined"), "{}", out.describe());
    assert!(bus.machines().contains(&name));

    // The leader dies; machined without systemd does not notice.
    drop(sleep);
    let _ = fs::remove_dir(scope.join("payload"));
    let _ = fs::remove_dir(&scope);
    assert!(bus.machines().contains(&name), "machined noticed the leader's death by itself");

    // The next start removes the stale registration and registers anew.
    let mut c = bus.berth();
    c.args(["run", "-q", "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/sh", "-c", "sleep 1000"]);
    let mut bg = Bg::spawn(c, bus.s.path("run.log"));
    let pid = wait_guest_init(&mut bg, &name, QUICK);
    let ok = poll(QUICK, || (bus.machines().contains(&name) && bus.prop(&name, "Service") == "berth").then_some(()));
    assert!(ok.is_some(), "not re-registered by berth\n{}\n{}", bg.describe(), bus.logs());
    assert_eq!(bus.prop(&name, "Leader"), pid.to_string());
    bg.signal(libc::SIGTERM);
    bg.wait(QUICK);
    assert!(!bus.machines().contains(&name), "{name} left: {:?}", bus.machines());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

/// The host-services tier with limits: a registered, booted bookworm under
/// `--property TasksMax= --property MemoryMax=`. Work started by the
/// guest's own systemd hits the limits (a fork bomb stops, a memory hog is
/// OOM-killed inside) while the guest and the launcher go on; then
/// machinectl's poweroff ends it cleanly.
#[test]
fn limits_bind_a_registered_booted_guest() {
    require(&["nsenter", "timeout"]);
    let bus = Bus::start("mdlim", true);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let tree = tree_copy(&bus.s, &fx, "bookworm");
    let name = unique_name("mdlim");
    let mut c = bus.berth();
    c.args(["boot", "-q", "-M", &name, "--property", "TasksMax=80", "--property", "MemoryMax=160M", "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, bus.s.path("boot.log"));
    let pid = wait_guest_init(&mut bg, &name, BOOT_LIMIT);
    wait_registered(&bus, &mut bg, &name);
    assert_eq!(bus.prop(&name, "Unit"), format!("machine-{name}.scope"));
    wait_running(&mut bg, pid);

    // A hog started by the guest's systemd (so inside the machine's
    // cgroups, which nsenter alone does not join).
    let hog = guest_sh(
        pid,
        "systemd-run --wait --pipe --quiet -u hog sh -c 'x=$(head -c 400000000 /dev/zero | tr \"\\0\" a); echo survived'; \
         echo rc=$?; systemctl reset-failed",
    );
    assert!(!hog.stdout.contains("survived"), "400 MB fit under MemoryMax=160M\n{}", hog.describe());
    assert_ne!(hog.get("rc"), "0", "{}", hog.describe());
    assert!(bg.try_status().is_none(), "the launcher died with the hog\n{}", bg.describe());

    let bomb = guest_sh(
        pid,
        "systemd-run --wait --pipe --quiet -u bomb sh -c 'n=0; while [ $n -lt 300 ]; do sleep 60 & n=$((n+1)); done 2>/dev/null; echo n=$n'; \
         set -- /proc/[0-9]*; echo procs=$#; systemctl stop bomb 2>/dev/null; systemctl reset-failed",
    );
    assert!(!bomb.stdout.contains("n=300"), "300 sleeps fit under TasksMax=80\n{}", bomb.describe());
    let procs: usize = bomb.get("procs").parse().unwrap_or(0);
    // The bomb's sleeps, the guest's services and this shell (which is
    // not in the machine's cgroups).
    assert!(procs > 0 && procs <= 84, "{procs} processes under TasksMax=80\n{}", bomb.describe());
    assert!(bg.try_status().is_none(), "the launcher died with the bomb\n{}", bg.describe());
    assert!(is_system_running(pid), "the guest did not survive its limits\n{}", bg.describe());

    bus.kill_machine(&name, sigrtmin() + 4);
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "poweroff after the limits\n{}", bg.describe());
    assert!(!bus.machines().contains(&name), "{name} still registered\n{}", bus.logs());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

/// machined (here: the bus in front of it) refusing the registration is one
/// clear error line, and the half-started machine leaves nothing behind.
#[test]
fn a_refused_registration_is_one_error_and_leaves_nothing() {
    let deny = r#"<policy context="mandatory"><deny send_destination="org.freedesktop.machine1" send_interface="org.freedesktop.machine1.Manager" send_member="RegisterMachineWithNetwork"/></policy>"#;
    let bus = Bus::start_with_policy("mdrefuse", true, deny);
    let tree = busybox_tree(&bus);
    let _l = host_lock_shared();
    for register in ["--register=yes", "--register=auto"] {
        let name = unique_name("mdrefuse");
        let mut c = bus.berth();
        c.args(["run", "-q", register, "-M", &name, "-D"]).arg(&tree).args(["--", "/bin/true"]);
        let out = expect_run_failure(c, &name, &[&tree]);
        assert!(out.stderr.contains("registering the machine with machined"), "{}", out.describe());
        assert!(out.stderr.contains("AccessDenied"), "the bus's reason is not named\n{}", out.describe());
        assert!(!bus.machines().contains(&name), "{name} registered anyway");
    }
}
