//! Network namespaces standing in for "the host" of the network tests
//! (tests/net*.rs): berth runs in them under `nsenter --net`, so nothing
//! touches the machine's real interfaces, routes or firewall. Names start
//! with `hn`.

use super::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::io::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;
/// A network namespace standing in for the host, removed on drop.
pub struct HostNs {
    pub name: String,
}

impl HostNs {
    /// `hn` + tag + this process's pid: unique to this test run.
    pub fn new(tag: &str) -> HostNs {
        HostNs::with_prefix("hn", tag)
    }

    /// The same with another prefix than `hn` (each test file its own).
    pub fn with_prefix(prefix: &str, tag: &str) -> HostNs {
        HostNs::named(format!("{prefix}{tag}{}", std::process::id()))
    }

    /// A namespace called `name` (which the caller makes unique).
    pub fn named(name: String) -> HostNs {
        require(&["ip", "nsenter"]);
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        let ok = Command::new("ip").args(["netns", "add", &name]).status().expect("run ip netns add").success();
        assert!(ok, "ip netns add {name} failed");
        let ns = HostNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// `ip -n NS ARGS...`, which must succeed; its stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip").arg("-n").arg(&self.name).args(args).output().expect("run ip");
        assert!(out.status.success(), "ip -n {} {args:?}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// berth, as a user would type it, run on this "host".
    pub fn berth(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path())).arg(BERTH);
        c.stdin(Stdio::null());
        c.env_remove("NOTIFY_SOCKET");
        c.env("BERTH_TEST_OWNER", std::process::id().to_string());
        c
    }

    /// `berth run -D TREE -M NAME -q -P EXTRA... -- /bin/sh -c SCRIPT` here.
    pub fn run_sh(&self, tree: &std::path::Path, name: &str, extra: &[&str], script: &str) -> Out {
        let mut c = self.berth();
        c.arg("run").arg("-D").arg(tree).arg("-M").arg(name).arg("-q").arg("-P");
        c.args(extra).arg("--").arg("/bin/sh").arg("-c").arg(script);
        run_to_end(c, QUICK)
    }

    /// A TCP listener on `addr` inside this namespace (bound from a thread
    /// that entered it) answering every connection with `reply(peer)`.
    pub fn serve(&self, addr: &str, reply: fn(std::net::SocketAddr) -> String) -> std::net::SocketAddr {
        let path = self.path();
        let addr = addr.to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("open netns");
            // SAFETY: setns on this thread only, with a valid descriptor.
            assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
            let l = TcpListener::bind(&addr).expect("bind listener");
            tx.send(l.local_addr().unwrap()).unwrap();
            for mut s in l.incoming().flatten() {
                if let Ok(peer) = s.peer_addr() {
                    let _ = s.write_all(reply(peer).as_bytes());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("listener up")
    }
}

impl Drop for HostNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

impl HostNs {
    /// A shell command run in this namespace; its stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .args(["sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("nsenter sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Connects to `addr` from inside this namespace; what it answered.
    pub fn fetch(&self, addr: std::net::SocketAddr) -> Option<String> {
        let path = self.path();
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).ok()?;
            // SAFETY: setns on this thread only, with a valid descriptor.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return None;
            }
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
            let mut got = String::new();
            s.read_to_string(&mut got).ok()?;
            Some(got)
        })
        .join()
        .ok()
        .flatten()
    }

    /// This "host"'s nf_tables tables, as `nft` lists them.
    pub fn nft_tables(&self) -> String {
        self.sh("nft list tables 2>&1")
    }
}

/// busybox's udhcpc needs a script to apply what it gets.
pub const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
bound|renew)
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
  [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
  : > /etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
  ;;
esac
exit 0
"#;

pub fn wait_line(bg: &Bg, key: &str) -> String {
    let p = format!("{key}=");
    poll(Duration::from_secs(30), || {
        bg.output().lines().find_map(|l| l.trim_end_matches('\r').strip_prefix(&p).map(str::to_string))
    })
    .unwrap_or_else(|| panic!("no {key}= from the guest\n{}", bg.describe()))
}

/// A field of the network part of the running machine's record under
/// /run/berth (JSON: `"net":{"link":"ve-...","subnet":...}`).
pub fn record_field(name: &str, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/run/berth/machines/{name}")).unwrap_or_default();
    let Some(net) = text.find("\"net\":").map(|i| &text[i..]) else { return String::new() };
    let pat = format!("\"{key}\":\"");
    net.find(&pat)
        .map(|i| &net[i + pat.len()..])
        .and_then(|v| v.split('"').next())
        .map(str::to_string)
        .unwrap_or_default()
}

/// A machine name for the network tests: `hn-TAG-PID-N`.
pub fn hn_name(tag: &str) -> String {
    unique_name(tag).replacen("bt-", "hn-", 1)
}

/// Installs UDHCPC_SCRIPT where busybox's udhcpc looks for it.
pub fn install_udhcpc_script(tree: &std::path::Path) {
    let p = tree.join("usr/share/udhcpc/default.script");
    write_file(&p, UDHCPC_SCRIPT);
    let st = Command::new("chmod").arg("755").arg(&p).status().unwrap();
    assert!(st.success());
}
