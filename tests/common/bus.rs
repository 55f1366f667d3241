//! A private system bus for a test: a `dbus-daemon` with the system bus
//! policy listening in a scratch directory, optionally with the real
//! `/lib/systemd/systemd-machined` on it. berth is pointed at it with
//! DBUS_SYSTEM_BUS_ADDRESS; machined is asked through `busctl`.
//!
//! machined keeps its state in the host-wide /run/systemd/machines, so the
//! holders of a bus with machined take the lock tests/machined.rs takes.

use super::*;
use std::io::{BufRead, BufReader};

pub const MACHINED: &str = "/lib/systemd/systemd-machined";

pub struct Bus {
    pub s: Scratch,
    pub addr: String,
    daemon: Child,
    machined: Option<Child>,
    _lock: File,
}

impl Bus {
    /// A bus with machined on it.
    pub fn with_machined(tag: &str) -> Bus {
        Bus::start(tag, true)
    }

    /// A bus, with or without machined on it.
    pub fn start(tag: &str, with_machined: bool) -> Bus {
        Bus::start_with_policy(tag, with_machined, "")
    }

    /// As `start`, with `policy` (`<policy>` elements) added to the bus's
    /// configuration, which the bus applies after its own.
    pub fn start_with_policy(tag: &str, with_machined: bool, policy: &str) -> Bus {
        require(&["dbus-daemon", "busctl"]);
        if !Path::new(MACHINED).exists() {
            missing(&format!("{MACHINED} is not installed (Debian package systemd)"));
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("berth-machined-tests.lock"))
            .expect("open lock");
        // SAFETY: flock on an fd we own.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
        let s = Scratch::new(tag);
        let sock = s.path("bus");
        let conf = fs::read_to_string("/usr/share/dbus-1/system.conf").expect("read system.conf");
        let mut out = String::new();
        for l in conf.lines() {
            let t = l.trim();
            let l = if t.starts_with("<listen>") {
                format!("<listen>unix:path={}</listen>", sock.display())
            } else if t.starts_with("<includedir>system.d</includedir>") {
                "<includedir>/usr/share/dbus-1/system.d</includedir>".to_string()
            } else if ["<user>", "<pidfile>", "<syslog", "<servicehelper>", "<standard_system_servicedirs"]
                .iter()
                .any(|p| t.starts_with(p))
            {
                continue;
            } else {
                l.to_string()
            };
            out.push_str(&l);
            out.push('\n');
        }
        if !policy.is_empty() {
            let end = out.rfind("</busconfig>").expect("system.conf ends with </busconfig>");
            out.insert_str(end, policy);
        }
        write_file(&s.path("bus.conf"), &out);
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", s.path("bus.conf").display()))
            .args(["--nofork", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(s.path("dbus.log")).unwrap())
            .spawn()
            .expect("spawn dbus-daemon");
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().unwrap()).read_line(&mut line).expect("read the bus address");
        assert!(line.starts_with("unix:"), "dbus-daemon printed {line:?}");
        let addr = format!("unix:path={}", sock.display());
        let mut bus = Bus { s, addr, daemon, machined: None, _lock: lock };
        if !with_machined {
            return bus;
        }
        // machined loads what it finds in its state directory: drop what
        // failed runs of these tests left (the lock keeps every other
        // holder of such a bus away meanwhile).
        for e in fs::read_dir("/run/systemd/machines").into_iter().flatten().flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if f.starts_with("bt-") || f.starts_with("unit:machine-bt-") {
                let _ = fs::remove_file(e.path());
            }
        }
        let m = Command::new(MACHINED)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.addr)
            .stdin(Stdio::null())
            .stdout(File::create(bus.s.path("machined.log")).unwrap())
            .stderr(File::create(bus.s.path("machined.err")).unwrap())
            .spawn()
            .expect("spawn systemd-machined");
        bus.machined = Some(m);
        let up = poll(Duration::from_secs(10), || {
            let o = bus.busctl(&[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "NameHasOwner",
                "s",
                "org.freedesktop.machine1",
            ]);
            (o.stdout.trim() == "b true").then_some(())
        });
        assert!(up.is_some(), "machined did not come up on the bus: {}", bus.logs());
        bus
    }

    pub fn logs(&self) -> String {
        let r = |f: &str| fs::read_to_string(self.s.path(f)).unwrap_or_default();
        format!("--- dbus ---\n{}--- machined ---\n{}{}", r("dbus.log"), r("machined.log"), r("machined.err"))
    }

    pub fn busctl(&self, args: &[&str]) -> Out {
        let mut c = Command::new("busctl");
        c.arg(format!("--address={}", self.addr)).args(args).stdin(Stdio::null());
        run_to_end(c, Duration::from_secs(20))
    }

    pub fn manager(&self, args: &[&str]) -> Out {
        let mut a =
            vec!["call", "org.freedesktop.machine1", "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager"];
        a.extend_from_slice(args);
        self.busctl(&a)
    }

    /// Names of the registered machines other than `.host`.
    pub fn machines(&self) -> Vec<String> {
        let o = self.manager(&["ListMachines"]);
        assert!(o.status.success(), "ListMachines failed\n{}\n{}", o.describe(), self.logs());
        let quoted: Vec<&str> = o.stdout.split('"').skip(1).step_by(2).collect();
        quoted.chunks(4).map(|c| c[0].to_string()).filter(|n| n != ".host").collect()
    }

    /// A property of a registered machine, as busctl prints its value.
    pub fn prop(&self, name: &str, prop: &str) -> String {
        let path = self.manager(&["GetMachine", "s", name]);
        assert!(path.status.success(), "GetMachine {name} failed\n{}", path.describe());
        let path = path.stdout.trim().trim_start_matches("o ").trim_matches('"').to_string();
        let o =
            self.busctl(&["get-property", "org.freedesktop.machine1", &path, "org.freedesktop.machine1.Machine", prop]);
        assert!(o.status.success(), "get-property {prop} failed\n{}", o.describe());
        let v = o.stdout.trim();
        v.split_once(' ').map(|(_, v)| v.trim_matches('"').to_string()).unwrap_or_default()
    }

    /// KillMachine(leader, `sig`), as machinectl poweroff and reboot do.
    pub fn kill_machine(&self, name: &str, sig: i32) {
        let o = self.manager(&["KillMachine", "ssi", name, "leader", &sig.to_string()]);
        assert!(o.status.success(), "KillMachine {name} {sig} failed\n{}", o.describe());
    }

    /// berth, talking to this bus.
    pub fn berth(&self) -> Command {
        let mut c = berth();
        c.env("DBUS_SYSTEM_BUS_ADDRESS", &self.addr);
        c
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Some(m) = self.machined.as_mut() {
            let _ = m.kill();
            let _ = m.wait();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
