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
