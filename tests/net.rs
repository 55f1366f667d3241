//! The guest's network (net/): --private-network. Real namespaces, the
//! busybox fixture, as root. "The host" of every test is a network
//! namespace the test creates itself (berth runs under `nsenter --net`),
//! so nothing here touches the machine's real interfaces, routes or
//! firewall; `ip` is used by the tests only, never by berth.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::io::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A network namespace standing in for the host, removed on drop.
struct HostNs {
    name: String,
}

impl HostNs {
    /// `hx` + tag + this process's pid: unique to this test run.
    fn new(tag: &str) -> Option<HostNs> {
        if !require(&["ip", "nsenter"]) {
            return None;
        }
        let name = format!("hx{tag}{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        let ok = Command::new("ip").args(["netns", "add", &name]).status().expect("run ip netns add").success();
        assert!(ok, "ip netns add {name} failed");
        let ns = HostNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// `ip -n NS ARGS...`, which must succeed; its stdout.
    fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip").arg("-n").arg(&self.name).args(args).output().expect("run ip");
        assert!(out.status.success(), "ip -n {} {args:?}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// berth, as a user would type it, run on this "host".
    fn berth(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path())).arg(BERTH);
        c.stdin(Stdio::null());
        c.env_remove("NOTIFY_SOCKET");
        c.env("BERTH_TEST_OWNER", std::process::id().to_string());
        c
    }

    /// `berth run -D TREE -M NAME -q -P EXTRA... -- /bin/sh -c SCRIPT` here.
    fn run_sh(&self, tree: &std::path::Path, name: &str, extra: &[&str], script: &str) -> Out {
        let mut c = self.berth();
        c.arg("run").arg("-D").arg(tree).arg("-M").arg(name).arg("-q").arg("-P");
        c.args(extra).arg("--").arg("/bin/sh").arg("-c").arg(script);
        run_to_end(c, QUICK)
    }

    /// A TCP listener on `addr` inside this namespace (bound from a thread
    /// that entered it) answering every connection with `reply`.
    fn serve(&self, addr: &str, reply: &'static str) -> std::net::SocketAddr {
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
                let _ = s.write_all(reply.as_bytes());
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

fn hx_name(tag: &str) -> String {
    unique_name(tag).replacen("bt-", "hx-", 1)
}

/// The guest sees only its own `lo`, up; a fresh sysfs of its namespace;
/// /proc/sys/net is writable (its own) while the rest of /proc/sys is not;
/// CAP_NET_ADMIN is in its bounding set; the host's loopback services are
/// out of reach. Nothing of it reaches the host's namespace.
#[test]
fn private_network_is_the_guests_own() {
    let Some((_s, tree)) = busybox_setup("pnet") else {
        return;
    };
    let Some(host) = HostNs::new("pn") else {
        return;
    };
    let _l = host_lock_shared();
    host.ip(&["link", "add", "hxa0", "type", "veth", "peer", "name", "hxb0"]);
    let served = host.serve("127.0.0.1:0", "host-secret\n");
    let port = served.port().to_string();
    let script = format!(
        r#"echo LINKS=$(ip -o link | wc -l)
echo SYS=$(ls /sys/class/net | tr '\n' ' ')
ip -o link show lo | grep -q ',UP' && echo LO=up || echo LO=down
echo 1 > /proc/sys/net/ipv4/ip_forward && echo FWD=$(cat /proc/sys/net/ipv4/ip_forward)
(echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null && echo KERNEL=writable || echo KERNEL=read-only
bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
[ $(( 0x$bnd >> 12 & 1 )) = 1 ] && echo NETADMIN=yes || echo NETADMIN=no
echo HOSTLO=$(nc -w 2 127.0.0.1 {port} </dev/null 2>/dev/null || echo unreachable)
ping -c1 -W1 127.0.0.1 >/dev/null && echo PING=ok || echo PING=fail"#
    );
    for userns in [&["-U", "pick"][..], &["-U", "no"][..]] {
        let name = hx_name("pnet");
        let mut extra = vec!["--private-network"];
        extra.extend_from_slice(userns);
        let out = host.run_sh(&tree, &name, &extra, &script);
        out.expect_code(0);
        let ctx = out.describe();
        assert_eq!(out.get("LINKS"), "1", "only lo\n{ctx}");
        assert_eq!(out.get("SYS").trim(), "lo", "a fresh sysfs of the guest's namespace\n{ctx}");
        assert_eq!(out.get("LO"), "up", "{ctx}");
        assert_eq!(out.get("FWD"), "1", "/proc/sys/net is the guest's\n{ctx}");
        assert_eq!(out.get("KERNEL"), "read-only", "{ctx}");
        assert_eq!(out.get("NETADMIN"), "yes", "{ctx}");
        assert_eq!(out.get("HOSTLO"), "unreachable", "the host's 127.0.0.1 is not the guest's\n{ctx}");
        assert_eq!(out.get("PING"), "ok", "{ctx}");
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
    }
    // The host's namespace is as it was.
    let fwd = Command::new("nsenter")
        .arg(format!("--net={}", host.path()))
        .args(["cat", "/proc/sys/net/ipv4/ip_forward"])
        .output()
        .expect("nsenter cat");
    assert_eq!(String::from_utf8_lossy(&fwd.stdout).trim(), "0", "the guest's sysctl stayed in the guest");
    let links = host.ip(&["-o", "link"]);
    assert_eq!(links.lines().count(), 3, "lo and the test's own pair only:\n{links}");
    // The listener itself answers on the host side (the test is sound).
    let mut s = Command::new("nsenter")
        .arg(format!("--net={}", host.path()))
        .args(["busybox", "nc", "-w", "2", "127.0.0.1", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("nc");
    let mut got = String::new();
    s.stdout.take().unwrap().read_to_string(&mut got).unwrap();
    let _ = s.wait();
    assert_eq!(got, "host-secret\n");
}

/// Without a private network nothing changes: the host's links are
/// visible and CAP_NET_ADMIN stays out; --drop-capability wins over the
/// private network's CAP_NET_ADMIN.
#[test]
fn shared_network_and_dropped_net_admin() {
    let Some((_s, tree)) = busybox_setup("snet") else {
        return;
    };
    let Some(host) = HostNs::new("sn") else {
        return;
    };
    let _l = host_lock_shared();
    host.ip(&["link", "add", "hxa0", "type", "veth", "peer", "name", "hxb0"]);
    let script = r#"echo LINKS=$(ip -o link | wc -l)
bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
[ $(( 0x$bnd >> 12 & 1 )) = 1 ] && echo NETADMIN=yes || echo NETADMIN=no
ip link set lo down 2>/dev/null && echo LODOWN=done || echo LODOWN=refused"#;
    let name = hx_name("snet");
    let out = host.run_sh(&tree, &name, &[], script);
    out.expect_code(0);
    assert_eq!(out.get("LINKS"), "3", "{}", out.describe());
    assert_eq!(out.get("NETADMIN"), "no", "{}", out.describe());
    let name = hx_name("snet");
    let out = host.run_sh(&tree, &name, &["--private-network", "--drop-capability=CAP_NET_ADMIN"], script);
    out.expect_code(0);
    assert_eq!(out.get("LINKS"), "1", "{}", out.describe());
    assert_eq!(out.get("NETADMIN"), "no", "{}", out.describe());
    assert_eq!(out.get("LODOWN"), "refused", "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}
