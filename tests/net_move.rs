//! Host interfaces given to the guest: `--network-interface` (moved in
//! and back, after a normal exit and after `kill -9` of the launcher),
//! `--network-macvlan`, `--network-ipvlan`, and their errors. With the
//! busybox fixture, as root, in network namespaces the test creates
//! (tests/common/netns.rs): a veth pair `hl...` whose peer sits in a
//! namespace of its own, so traffic from the guest can be checked. `ip`
//! is the tests' only, never berth's.

mod common;

use common::netns::*;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn hl_name(tag: &str) -> String {
    unique_name(tag).replacen("bt-", "hl-", 1)
}

/// A "host" namespace with `hl<tag>a`, whose peer `hl<tag>b` sits in a
/// second namespace with address `net.2/24`.
struct Pair {
    host: HostNs,
    peer: HostNs,
    here: String,
    there: String,
}

impl Pair {
    fn new(tag: &str, net: &str) -> Pair {
        let host = HostNs::with_prefix("hl", tag);
        let peer = HostNs::with_prefix("hl", &format!("{tag}p"));
        let n = std::process::id() % 100000;
        let (here, there) = (format!("hl{tag}{n}a"), format!("hl{tag}{n}b"));
        host.ip(&["link", "add", &here, "type", "veth", "peer", "name", &there, "netns", &peer.name]);
        peer.ip(&["addr", "add", &format!("{net}.2/24"), "dev", &there]);
        peer.ip(&["link", "set", &there, "up"]);
        Pair { host, peer, here, there }
    }

    /// `berth run -D TREE -M NAME EXTRA... -- /bin/sh -c SCRIPT` on the
    /// host namespace, as a user types it (output to pipes).
    fn berth(&self, tree: &Path, name: &str, extra: &[&str], script: &str) -> Command {
        let mut c = self.host.berth();
        c.arg("run").arg("-D").arg(tree).arg("-M").arg(name).args(extra);
        c.args(["--", "/bin/sh", "-c", script]);
        c
    }

    /// Whether the host namespace has link `name` (and its MAC).
    fn host_mac(&self, name: &str) -> Option<String> {
        let out = Command::new("ip").args(["-n", &self.host.name, "-o", "link", "show", "dev", name]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace().skip_while(|w| *w != "link/ether");
        words.nth(1).map(str::to_string)
    }
}

/// Nothing of the machine's moved interfaces is left: no kept namespace,
/// no lock of `iface`.
fn assert_released(name: &str, iface: &str) {
    for dir in ["/run/berth/netns/guest", "/run/berth/netns/host"] {
        assert!(!Path::new(dir).join(name).exists(), "{dir}/{name} left");
    }
    let locks: Vec<String> = std::fs::read_dir("/run/berth/net")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("if-") && f.ends_with(&format!("-{iface}.lock")))
        .collect();
    assert!(locks.is_empty(), "interface locks left: {locks:?}");
}

/// The guest sees the interface under its name with its MAC, configures
/// it and pings the peer; the host is told the interface carries its
/// default route; after the exit it is back on the host, same name, same
/// MAC, and nothing of berth's is left.
#[test]
fn interface_moves_in_and_back() {
    let (_s, tree) = busybox_setup("mv");
    let _l = host_lock_shared();
    let p = Pair::new("mv", "10.231.7");
    p.host.ip(&["addr", "add", "10.231.7.1/24", "dev", &p.here]);
    p.host.ip(&["link", "set", &p.here, "up"]);
    p.host.ip(&["route", "add", "default", "via", "10.231.7.2", "dev", &p.here]);
    let mac = p.host_mac(&p.here).expect("the test's link");
    let name = hl_name("mv");
    let script = format!(
        "echo MAC=$(cat /sys/class/net/{i}/address); ip addr add 10.231.7.3/24 dev {i}; ip link set {i} up; \
         ping -c1 -W3 10.231.7.2 >/dev/null && echo PING=ok || echo PING=fail",
        i = p.here
    );
    let out = run_to_end(p.berth(&tree, &name, &[&format!("--network-interface={}", p.here)], &script), QUICK);
    out.expect_code(0);
    assert_eq!(out.get("MAC"), mac, "{}", out.describe());
    assert_eq!(out.get("PING"), "ok", "{}", out.describe());
    assert!(out.stderr.contains("default route"), "no word about the default route\n{}", out.describe());
    assert_eq!(p.host_mac(&p.here).as_deref(), Some(mac.as_str()), "{} is not back on the host", p.here);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    assert_released(&name, &p.here);
}

/// A killed launcher: the watcher moves the interface back; while the
/// machine ran, a second machine asking for it was told which one has it.
#[test]
fn interface_comes_back_after_kill9() {
    let (s, tree) = busybox_setup("mvk");
    let _l = host_lock_shared();
    let p = Pair::new("mk", "10.231.8");
    let mac = p.host_mac(&p.here).expect("the test's link");
    let name = hl_name("mvk");
    let opt = format!("--network-interface={}", p.here);
    let script = "echo IN=$(ls /sys/class/net | tr '\\n' ' '); exec sleep 1000";
    let mut bg = Bg::spawn(p.berth(&tree, &name, &[&opt], script), s.path("log"));
    assert!(wait_line(&bg, "IN").contains(&p.here), "{}", bg.describe());
    assert!(p.host_mac(&p.here).is_none(), "{} is still on the host", p.here);
    assert!(record_field(&name, "netns").contains(&name), "the record names the kept namespace");
    let other = hl_name("mvk");
    let (_s2, tree2) = busybox_setup("mvk2");
    let out = run_to_end(p.berth(&tree2, &other, &["-q", &opt], "true"), QUICK);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains(&format!("machine {name} has it")), "{}", out.describe());
    assert_clean(&other, "", &[&tree2], None, Duration::from_secs(5));
    bg.kill9();
    let back = poll(Duration::from_secs(10), || p.host_mac(&p.here));
    assert_eq!(back.as_deref(), Some(mac.as_str()), "{} did not come back\n{}", p.here, bg.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(10));
    assert_released(&name, &p.here);
}

/// A macvlan on the host's side of the pair reaches the peer, with the
/// MAC nspawn would give it; an ipvlan works where the kernel has it and
/// is one clear line where it does not; a missing interface, and a name
/// the guest already has, are one line each; nothing is left.
#[test]
fn macvlan_ipvlan_and_errors() {
    let (_s, tree) = busybox_setup("mvl");
    let _l = host_lock_shared();
    let p = Pair::new("ml", "10.231.9");
    p.host.ip(&["link", "set", &p.here, "up"]);
    let name = hl_name("mvl");
    let mv = berth::net::hostif::macvlan_name(&p.here);
    let id = berth::net::plan::parse_machine_id(&std::fs::read_to_string("/etc/machine-id").unwrap_or_default());
    let want = berth::net::hostif::macvlan_mac(&id, &name, 0).map(|b| format!("{b:02x}")).join(":");
    let script = format!(
        "echo MAC=$(cat /sys/class/net/{mv}/address); ip addr add 10.231.9.3/24 dev {mv}; ip link set {mv} up; \
         ping -c1 -W3 10.231.9.2 >/dev/null && echo PING=ok || echo PING=fail"
    );
    let out = run_to_end(p.berth(&tree, &name, &[&format!("--network-macvlan={}", p.here)], &script), QUICK);
    out.expect_code(0);
    assert_eq!(out.get("MAC"), want, "{}", out.describe());
    assert_eq!(out.get("PING"), "ok", "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));

    // ipvlan: does this kernel have it? (A test link in the test's namespace.)
    let probe = format!("{}i", p.here);
    let ok = Command::new("ip")
        .args(["-n", &p.host.name, "link", "add", "link", &p.here, "name", &probe, "type", "ipvlan", "mode", "l2"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run ip")
        .success();
    if ok {
        p.host.ip(&["link", "del", &probe]);
    }
    let iv = berth::net::hostif::ipvlan_name(&p.here);
    let name = hl_name("mvl");
    let c = p.berth(
        &tree,
        &name,
        &["-q", &format!("--network-ipvlan={}", p.here)],
        &format!("cat /sys/class/net/{iv}/address"),
    );
    if ok {
        run_to_end(c, QUICK).expect_code(0);
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    } else {
        let out = expect_run_failure(c, &name, &[&tree]);
        assert!(out.stderr.contains("no ipvlan support"), "{}", out.describe());
    }

    let name = hl_name("mvl");
    let out =
        expect_run_failure(p.berth(&tree, &name, &["-q", "--network-interface=hlnone0"], "true"), &name, &[&tree]);
    assert!(out.stderr.contains("has no interface hlnone0"), "{}", out.describe());
    let name = hl_name("mvl");
    let c = p.berth(&tree, &name, &["-q", "-n", "--network-interface=host0"], "true");
    let out = run_to_end(c, QUICK);
    assert_ne!(out.code(), 0, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("link called host0"), "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    assert!(p.host_mac(&p.here).is_some() && p.peer.ip(&["-o", "link"]).contains(&p.there));
}

/// The watcher killed too: `berth gc`, run from another network namespace
/// than the launcher's, moves the interface back to the launcher's.
#[test]
fn interface_comes_back_by_gc() {
    let (s, tree) = busybox_setup("mvg");
    let _l = host_lock_shared();
    let p = Pair::new("mg", "10.231.10");
    let mac = p.host_mac(&p.here).expect("the test's link");
    let name = hl_name("mvg");
    let opt = format!("--network-interface={}", p.here);
    let mut bg = Bg::spawn(p.berth(&tree, &name, &[&opt], "echo UP=1; exec sleep 1000"), s.path("log"));
    wait_line(&bg, "UP");
    signal(watcher_of(bg.pid()), libc::SIGKILL);
    bg.kill9();
    assert!(p.host_mac(&p.here).is_none(), "{} came back without gc", p.here);
    let mut gc = Command::new("nsenter");
    gc.arg(format!("--net={}", p.peer.path())).arg(BERTH).arg("gc").stdin(std::process::Stdio::null());
    let out = run_to_end(gc, QUICK);
    out.expect_code(0);
    assert!(out.stdout.contains(&format!("Removed interface {} from the guest", p.here)), "{}", out.describe());
    assert_eq!(p.host_mac(&p.here).as_deref(), Some(mac.as_str()), "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    assert_released(&name, &p.here);
}

/// The MAC of link `dev` in namespace `ns`, if it has that link.
fn mac_in(ns: &HostNs, dev: &str) -> Option<String> {
    let out = Command::new("ip").args(["-n", &ns.name, "-o", "link", "show", "dev", dev]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace().skip_while(|w| *w != "link/ether");
    words.nth(1).map(str::to_string)
}

/// `--network-interface=IF:NEWNAME`: a link of the test's "host" (one
/// end of a veth pair: this host's kernel has no dummy links) appears in
/// the guest as NEWNAME only (same MAC), and comes back to the host under
/// IF after the exit, after `kill -9` of the launcher (the
/// watcher), and by `berth gc` once the watcher is killed too; a NEWNAME
/// that is no interface name, or `lo`, is one error line.
#[test]
fn interface_renamed_in_the_guest_comes_back_under_its_name() {
    let (s, tree) = busybox_setup("mvr");
    let _l = host_lock_shared();
    let host = HostNs::with_prefix("hn7-", "mvr");
    let iface = format!("hn7d{}", std::process::id() % 100000);
    host.ip(&["link", "add", &iface, "type", "veth", "peer", "name", &format!("{iface}p")]);
    let mac = mac_in(&host, &iface).expect("the test's link");
    let opt = format!("--network-interface={iface}:wan7");
    let hn7 = |tag: &str| unique_name(tag).replacen("bt-", "hn7-", 1);
    let start = |name: &str, script: &str| {
        let mut c = host.berth();
        c.args(["run", "-D"]).arg(&tree).args(["-M", name, &opt, "--", "/bin/sh", "-c", script]);
        c
    };
    let inside = "echo IN=$(ls /sys/class/net | tr '\\n' ' ')";
    let back = |what: &str, bg: Option<&Bg>| {
        let got = poll(Duration::from_secs(10), || mac_in(&host, &iface));
        let ctx = bg.map(Bg::describe).unwrap_or_default();
        assert_eq!(got.as_deref(), Some(mac.as_str()), "{iface} not back after {what}\n{ctx}");
        assert_eq!(mac_in(&host, "wan7"), None, "the host has a wan7 after {what}");
    };

    // The exit.
    let name = hn7("mvr");
    let out = run_to_end(start(&name, &format!("{inside}; echo MAC=$(cat /sys/class/net/wan7/address)")), QUICK);
    out.expect_code(0);
    let links = out.get("IN");
    assert!(links.contains("wan7") && !links.contains(&iface), "{}", out.describe());
    assert_eq!(out.get("MAC"), mac, "{}", out.describe());
    back("the exit", None);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    assert_released(&name, &iface);

    // kill -9 of the launcher: the watcher moves it back.
    let name = hn7("mvr");
    let mut bg = Bg::spawn(start(&name, &format!("{inside}; exec sleep 1000")), s.path("log-kill"));
    assert!(wait_line(&bg, "IN").contains("wan7"), "{}", bg.describe());
    assert_eq!(mac_in(&host, &iface), None, "{iface} is still on the host");
    bg.kill9();
    back("kill -9 of the launcher", Some(&bg));
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(10));
    assert_released(&name, &iface);

    // The watcher killed too: `berth gc`.
    let name = hn7("mvr");
    let mut bg = Bg::spawn(start(&name, &format!("{inside}; exec sleep 1000")), s.path("log-gc"));
    assert!(wait_line(&bg, "IN").contains("wan7"), "{}", bg.describe());
    signal(watcher_of(bg.pid()), libc::SIGKILL);
    bg.kill9();
    assert_eq!(mac_in(&host, &iface), None, "{iface} came back without gc");
    let mut gc = host.berth();
    gc.arg("gc");
    let out = run_to_end(gc, QUICK);
    out.expect_code(0);
    assert!(out.stdout.contains(&format!("Removed interface {iface} from the guest")), "{}", out.describe());
    back("berth gc", None);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    assert_released(&name, &iface);

    for (newname, want) in [("bad/x", "NEWNAME 'bad/x' is not an interface name"), ("lo", "loopback")] {
        let name = hn7("mvr");
        let mut c = host.berth();
        c.args(["run", "-q", "-D"]).arg(&tree).args(["-M", &name]);
        c.arg(format!("--network-interface={iface}:{newname}")).args(["--", "true"]);
        let out = run_to_end(c, QUICK);
        assert_ne!(out.code(), 0, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains(want), "{}", out.describe());
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    }
    assert_eq!(mac_in(&host, &iface).as_deref(), Some(mac.as_str()));
}
