//! Forwarded ports (`-p/--port`, net/ports.rs and net/relay.rs): with the
//! busybox fixture, as root, in network namespaces the test creates
//! (tests/common/netns.rs); `ip` is the tests' only, never berth's.

mod common;

use common::netns::*;
use common::*;
use std::time::Duration;

/// A forwarded TCP port answers on the host's 127.0.0.1 and ::1, on the
/// host's own address from the host, and from another network namespace;
/// after exit the rules are gone and nothing answers any more.
#[test]
fn port_answers_from_loopback_ipv6_and_elsewhere() {
    require(&["nft"]);
    let (s, tree) = busybox_setup("port");
    install_udhcpc_script(&tree);
    let _l = host_lock_shared();
    let host = HostNs::new("po");
    let other = HostNs::new("pq");
    host.ip(&["link", "add", "hnpo0", "type", "veth", "peer", "name", "hnpo1"]);
    host.ip(&["link", "set", "hnpo1", "netns", &other.name]);
    host.ip(&["addr", "add", "192.0.2.1/24", "dev", "hnpo0"]);
    host.ip(&["link", "set", "hnpo0", "up"]);
    other.ip(&["addr", "add", "192.0.2.2/24", "dev", "hnpo1"]);
    other.ip(&["link", "set", "hnpo1", "up"]);
    let name = hn_name("port");
    let script = r#"ip link set host0 up
udhcpc -i host0 -n -q -t 10 -T 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 || echo DHCP=failed
echo "ADDR=$(ip -o -4 addr show dev host0 | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')"
while [ ! -e /stop ]; do echo guest-port | nc -l -p 80 -w 1 >/dev/null 2>&1; done
echo DONE"#;
    let mut c = host.berth();
    c.args(["run", "-M", &name, "-n", "-p", "8080:80", "-D"]).arg(&tree);
    c.args(["--", "/bin/sh", "-c", script]);
    let mut bg = Bg::spawn(c, s.path("log"));
    let addr = wait_line(&bg, "ADDR");
    assert!(addr.parse::<std::net::Ipv4Addr>().is_ok(), "{}", bg.describe());
    let ask = |ns: &HostNs, to: &str| {
        poll(Duration::from_secs(10), || ns.fetch(to.parse().unwrap()).filter(|g| !g.is_empty()))
            .unwrap_or_else(|| panic!("nothing answered at {to} from {}\n{}", ns.name, bg.describe()))
    };
    for (ns, to) in
        [(&host, "127.0.0.1:8080"), (&host, "[::1]:8080"), (&host, "192.0.2.1:8080"), (&other, "192.0.2.1:8080")]
    {
        assert_eq!(ask(ns, to), "guest-port\n", "{to} from {}", ns.name);
    }
    let tables = host.sh("nft list table ip berth 2>&1");
    assert!(tables.contains("dnat-ve-hn-port") && tables.contains("dnatout-ve-hn-port"), "{tables}");
    write_file(&tree.join("stop"), "");
    let st = bg.wait(QUICK);
    assert!(st.success(), "{}", bg.describe());
    let gone = poll(Duration::from_secs(5), || (!host.nft_tables().contains("berth")).then_some(()));
    assert!(gone.is_some(), "{}", host.nft_tables());
    for (ns, to) in [(&host, "127.0.0.1:8080"), (&host, "[::1]:8080"), (&other, "192.0.2.1:8080")] {
        assert_eq!(ns.fetch(to.parse().unwrap()), None, "{to} still answers after exit");
    }
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

/// `--port` without a network where berth addresses the guest, and a
/// malformed one, are one error line each; nothing is left.
#[test]
fn port_needs_an_addressed_network() {
    let (_s, tree) = busybox_setup("porterr");
    let _l = host_lock_shared();
    let host = HostNs::new("pe");
    for (extra, want) in [
        (vec!["-p", "8080"], "needs a network"),
        (vec!["--private-network", "--port=8080"], "needs a network"),
        (vec!["-n", "--port=tcp:99999"], "HOSTPORT"),
    ] {
        let name = hn_name("porterr");
        let out = host.run_sh(&tree, &name, &extra, "true");
        assert_ne!(out.code(), 0, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains(want), "{}", out.describe());
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    }
    assert!(!host.nft_tables().contains("berth"));
}

/// The guest's part of the IPv6 test: host0 up, its global address once
/// DAD is done, then TCP port 80 answers until /stop exists.
const V6_GUEST: &str = r#"ip link set host0 up
for i in $(seq 150); do
  ip -6 addr show dev host0 scope global | grep -q 'inet6 fd' && ! ip -6 addr show dev host0 | grep -q tentative && break
  sleep 0.1
done
echo "ADDR6=$(ip -6 -o addr show dev host0 scope global | sed -n 's/.* inet6 \([0-9a-f:]*\)\/.*/\1/p' | head -n1)"
while [ ! -e /stop ]; do echo guest-port | nc -l -p 80 -w 1 >/dev/null 2>&1; done
echo DONE"#;

/// A forwarded TCP port answers over IPv6: from another network namespace
/// and from the host itself at the host's IPv6 address (DNAT in table ip6
/// berth to the guest's SLAAC address, which berth computes from the
/// guest's MAC: the table names the address the guest formed); ::1 (the
/// relay) is the test above. The ip6 rules are gone after a normal exit, after `kill
/// -9` of the launcher (the watcher) and, with the watcher killed too,
/// after `berth gc`.
#[test]
fn port_answers_over_ipv6_from_elsewhere_and_goes_away() {
    require(&["nft"]);
    let (s, tree) = busybox_setup("port6");
    let _l = host_lock_shared();
    let pid = std::process::id();
    let host = HostNs::named(format!("hn7-p6h{pid}"));
    let other = HostNs::named(format!("hn7-p6o{pid}"));
    let (here, there) = (format!("hn7p6a{}", pid % 100000), format!("hn7p6b{}", pid % 100000));
    host.ip(&["link", "add", &here, "type", "veth", "peer", "name", &there, "netns", &other.name]);
    host.ip(&["addr", "add", "2001:db8:7::1/64", "dev", &here, "nodad"]);
    host.ip(&["link", "set", &here, "up"]);
    other.ip(&["addr", "add", "2001:db8:7::2/64", "dev", &there, "nodad"]);
    other.ip(&["link", "set", &there, "up"]);
    let start = |name: &str, log: &str| {
        let mut c = host.berth();
        c.args(["run", "-M", name, "-n", "-p", "8080:80", "-D"]).arg(&tree);
        c.args(["--", "/bin/sh", "-c", V6_GUEST]);
        Bg::spawn(c, s.path(log))
    };
    let ask = |ns: &HostNs, to: &str, bg: &Bg| {
        poll(Duration::from_secs(10), || ns.fetch(to.parse().unwrap()).filter(|g| !g.is_empty()))
            .unwrap_or_else(|| panic!("nothing answered at {to} from {}\n{}", ns.name, bg.describe()))
    };
    let gone = |what: &str| {
        let gone = poll(Duration::from_secs(10), || (!host.nft_tables().contains("berth")).then_some(()));
        assert!(gone.is_some(), "table berth left after {what}:\n{}", host.sh("nft list ruleset"));
        assert_eq!(other.fetch("[2001:db8:7::1]:8080".parse().unwrap()), None, "still answers after {what}");
    };

    // A normal exit.
    let name = unique_name("p6").replacen("bt-", "hn7-", 1);
    let mut bg = start(&name, "log1");
    let addr6 = wait_line(&bg, "ADDR6");
    assert!(addr6.starts_with("fd"), "a ULA address by SLAAC: {addr6:?}\n{}", bg.describe());
    let link = record_field(&name, "ports6");
    assert!(link.starts_with("ve-"), "the record names the ip6 chains' link: {link:?}");
    let table = host.sh("nft list table ip6 berth 2>&1");
    assert!(table.contains(&format!("dnat-{link}")) && table.contains(&format!("dnatout-{link}")), "{table}");
    assert!(table.contains(&addr6), "the rules point at the guest's own address {addr6}:\n{table}");
    for (ns, to) in [(&other, "[2001:db8:7::1]:8080"), (&host, "[2001:db8:7::1]:8080")] {
        assert_eq!(ask(ns, to, &bg), "guest-port\n", "{to} from {}", ns.name);
    }
    write_file(&tree.join("stop"), "");
    assert!(bg.wait(QUICK).success(), "{}", bg.describe());
    gone("the exit");
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    std::fs::remove_file(tree.join("stop")).unwrap();

    // kill -9 of the launcher: its watcher removes the rules.
    let name = unique_name("p6").replacen("bt-", "hn7-", 1);
    let mut bg = start(&name, "log2");
    wait_line(&bg, "ADDR6");
    assert_eq!(ask(&other, "[2001:db8:7::1]:8080", &bg), "guest-port\n");
    bg.kill9();
    gone("kill -9 of the launcher");
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(10));

    // The watcher killed too: `berth gc` removes them.
    let name = unique_name("p6").replacen("bt-", "hn7-", 1);
    let mut bg = start(&name, "log3");
    wait_line(&bg, "ADDR6");
    assert_eq!(ask(&other, "[2001:db8:7::1]:8080", &bg), "guest-port\n");
    let link = record_field(&name, "ports6");
    signal(watcher_of(bg.pid()), libc::SIGKILL);
    bg.kill9();
    assert!(host.nft_tables().contains("ip6 berth"), "removed without gc");
    let mut gc = host.berth();
    gc.arg("gc");
    let out = run_to_end(gc, QUICK);
    out.expect_code(0);
    assert!(out.stdout.contains(&format!("chains ip6 dnat-{link}")), "{}", out.describe());
    gone("berth gc");
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(10));
}
