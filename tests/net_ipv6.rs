//! IPv6 for the guest (net/ipv6.rs, ula.rs, ra.rs, radv.rs, forward6.rs):
//! a ULA /64 per link with router advertisements, SLAAC in the guest, a
//! default route, forwarding and masquerading in table ip6 berth. Real
//! guests (busybox: the kernel's SLAAC; bookworm: systemd-networkd's),
//! as root, in network namespaces each test creates (`h6` names); `ip`
//! is the tests' only, never berth's.

mod common;

use common::netns::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn h6_name(tag: &str) -> String {
    unique_name(tag).replacen("bt-", "h6-", 1)
}

/// The guest's part: host0 up, then its global address (once DAD is
/// done), its default router and its link-local address printed; then
/// SCRIPT; then it waits for /shared/stop-HOSTNAME.
fn v6_guest(script: &str) -> String {
    format!(
        r#"ip link set host0 up
for i in $(seq 150); do
  ip -6 addr show dev host0 scope global | grep -q 'inet6 fd' && ! ip -6 addr show dev host0 | grep -q tentative && break
  sleep 0.1
done
echo "ADDR6=$(ip -6 -o addr show dev host0 scope global | sed -n 's/.* inet6 \([0-9a-f:]*\/[0-9]*\).*/\1/p' | head -n1)"
echo "GW6=$(ip -6 route show default | sed -n 's/^default via \([^ ]*\).*/\1/p' | head -n1)"
{script}
while [ ! -e /shared/stop-$(hostname) ]; do sleep 0.1; done
echo DONE"#
    )
}

fn start(host: &HostNs, tree: &Path, shared: &Path, name: &str, net: &[&str], script: &str, log: PathBuf) -> Bg {
    let mut c = host.berth();
    c.args(["run", "-x", "-q", "-M", name]).args(net).arg("--bind");
    c.arg(format!("{}:/shared:idmap", shared.display())).arg("-D").arg(tree);
    c.args(["--", "/bin/sh", "-c", &v6_guest(script)]);
    Bg::spawn(c, log)
}

fn stop(shared: &Path, bg: &mut Bg, name: &str) {
    write_file(&shared.join(format!("stop-{name}")), "");
    let st = bg.wait(QUICK);
    assert!(st.success(), "{}", bg.describe());
}

/// The /64 of an address written `fdxx:...:x/64`.
fn prefix64(a: &str) -> String {
    a.split(':').take(4).collect::<Vec<_>>().join(":")
}

fn setup(tag: &str) -> (Scratch, PathBuf, PathBuf, HostNs) {
    require(&["nft", "ip"]);
    let (s, tree) = busybox_setup(tag);
    let shared = s.path("shared");
    std::fs::create_dir(&shared).unwrap();
    let host = HostNs::named(format!("h6{tag}{}", std::process::id()));
    (s, tree, shared, host)
}

/// Waits until nothing of berth's is left on `host`: no ve-/vb-/vz-
/// links, no nf_tables table berth (ip or ip6).
fn assert_host_clean(host: &HostNs) {
    let gone = poll(Duration::from_secs(10), || {
        let links = host.ip(&["-o", "link"]);
        (!links.contains(" ve-h6")
            && !links.contains(" vb-h6")
            && !links.contains(" vz-h6")
            && !host.nft_tables().contains("berth"))
        .then_some(())
    });
    assert!(gone.is_some(), "left behind:\n{}\n{}", host.ip(&["-o", "link"]), host.nft_tables());
}

/// -n: a busybox guest forms a global address on the link's ULA /64 by
/// SLAAC, takes the host side as its default router, reaches the host's
/// `::1` of the prefix and, forwarded and masqueraded, an "outside"
/// namespace that has no route back to the ULA; the host reaches the
/// guest. berth turns on IPv6 forwarding (it was off) and says so. After
/// the stop nothing is left.
#[test]
fn veth_guest_gets_a_ula_address_and_reaches_outside() {
    let (s, tree, shared, host) = setup("v");
    let _l = host_lock_shared();
    // The "outside": reachable from the host by 2001:db8:6::2, with no
    // route to any ULA (only masqueraded packets get answers).
    let out = HostNs::named(format!("h6o{}", std::process::id()));
    let (up, down) = (format!("h6u{}", std::process::id()), format!("h6d{}", std::process::id()));
    host.ip(&["link", "add", &up, "type", "veth", "peer", "name", &down, "netns", &out.name]);
    host.ip(&["addr", "add", "2001:db8:6::1/64", "dev", &up, "nodad"]);
    host.ip(&["link", "set", &up, "up"]);
    out.ip(&["addr", "add", "2001:db8:6::2/64", "dev", &down, "nodad"]);
    out.ip(&["link", "set", &down, "up"]);
    assert_eq!(host.sh("cat /proc/sys/net/ipv6/conf/all/forwarding").trim(), "0");
    let name = h6_name("v");
    let script = r#"p=$(ip -6 -o addr show dev host0 scope global | sed -n 's/.* inet6 \([0-9a-f]*:[0-9a-f]*:[0-9a-f]*:[0-9a-f]*\):.*/\1/p' | head -n1)
ping -6 -c1 -W3 "$p::1" >/dev/null 2>&1 && echo HOST6=ok || echo HOST6=fail
ping -6 -c1 -W3 2001:db8:6::2 >/dev/null 2>&1 && echo OUT6=ok || echo OUT6=fail"#;
    let mut g = start(&host, &tree, &shared, &name, &["-n"], script, s.path("g.log"));
    let addr = wait_line(&g, "ADDR6");
    let ctx = g.describe();
    assert!(addr.starts_with("fd") && addr.ends_with("/64"), "a ULA /64 by SLAAC: {addr:?}\n{ctx}");
    assert!(wait_line(&g, "GW6").starts_with("fe80:"), "a default route via the host's link-local\n{ctx}");
    let link = record_field(&name, "link");
    let host_addr = host.ip(&["-o", "-6", "addr", "show", "dev", &link, "scope", "global"]);
    assert!(host_addr.contains(&format!("inet6 {}::1/64", prefix64(&addr))), "{host_addr}");
    assert_eq!(wait_line(&g, "HOST6"), "ok", "{}", g.describe());
    assert_eq!(
        wait_line(&g, "OUT6"),
        "ok",
        "forwarded and masqueraded\n{}\n{}",
        g.describe(),
        host.sh("nft list ruleset")
    );
    let guest_ip = addr.split('/').next().unwrap();
    let ping = host.sh(&format!("busybox ping -6 -c1 -W3 {guest_ip} >/dev/null 2>&1 && echo ok"));
    assert_eq!(ping.trim(), "ok", "the host reaches the guest at {guest_ip}");
    let rules = host.sh("nft list table ip6 berth 2>&1");
    assert!(rules.contains(&format!("masq-{link}")) && rules.contains("masquerade"), "{rules}");
    assert_eq!(host.sh("cat /proc/sys/net/ipv6/conf/all/forwarding").trim(), "1");
    stop(&shared, &mut g, &name);
    assert!(
        g.output().contains("net.ipv6.conf.all.forwarding=1"),
        "berth says it turned forwarding on\n{}",
        g.describe()
    );
    assert_host_clean(&host);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

/// Two zone members form addresses on the zone's one ULA /64 and reach
/// each other over IPv6. The first member advertises; once it stops, the
/// other takes over: a third member joining later still gets its address.
/// After the last stops the zone's bridge and chains are gone.
#[test]
fn zone_members_share_a_ula_and_the_advertiser_hands_over() {
    let (s, tree, shared, host) = setup("z");
    let _l = host_lock_shared();
    let zone = format!("h6z{}", std::process::id() % 100000);
    let (a, b, c) = (h6_name("za"), h6_name("zb"), h6_name("zc"));
    let z = format!("--network-zone={zone}");
    let mut ga = start(&host, &tree, &shared, &a, &[&z], "", s.path("a.log"));
    let addr_a = wait_line(&ga, "ADDR6");
    let ping_a = format!(
        "ping -6 -c1 -W3 {} >/dev/null 2>&1 && echo PING6=ok || echo PING6=fail",
        addr_a.split('/').next().unwrap()
    );
    let mut gb = start(&host, &tree, &shared, &b, &[&z], &ping_a, s.path("b.log"));
    let addr_b = wait_line(&gb, "ADDR6");
    let ctx = format!("{}\n{}", ga.describe(), gb.describe());
    assert!(addr_a.starts_with("fd") && addr_a != addr_b, "{ctx}");
    assert_eq!(prefix64(&addr_a), prefix64(&addr_b), "one /64 per zone\n{ctx}");
    assert_eq!(wait_line(&gb, "PING6"), "ok", "{ctx}");
    let bridge = format!("vz-{zone}");
    let host_addr = host.ip(&["-o", "-6", "addr", "show", "dev", &bridge, "scope", "global"]);
    assert!(host_addr.contains(&format!("inet6 {}::1/64", prefix64(&addr_a))), "{host_addr}");
    assert!(host.sh("nft list table ip6 berth 2>&1").contains(&format!("masq-{bridge}")));
    // The advertiser (a, the first) leaves; b takes over.
    stop(&shared, &mut ga, &a);
    let mut gc = start(&host, &tree, &shared, &c, &[&z], "", s.path("c.log"));
    let addr_c = wait_line(&gc, "ADDR6");
    assert_eq!(prefix64(&addr_c), prefix64(&addr_a), "advertised after the first member left\n{}", gc.describe());
    stop(&shared, &mut gb, &b);
    stop(&shared, &mut gc, &c);
    assert_host_clean(&host);
    assert!(!Path::new("/run/berth/zones").join(&zone).exists());
    for m in [&a, &b, &c] {
        assert_clean(m, "", &[&tree], None, Duration::from_secs(5));
    }
}

/// A booted Debian bookworm guest with its own systemd-networkd (Debian's
/// 80-container-host0.network) takes the advertised prefix and the
/// default route; the host reaches it over IPv6; nothing is left after
/// SIGTERM.
#[test]
fn networkd_guest_takes_the_advertised_prefix() {
    require(&["nsenter", "ip", "nft"]);
    let fx = fixture("bookworm");
    let _l = host_lock_shared();
    let s = Scratch::new("h6nd");
    let tree = tree_copy(&s, &fx, "bookworm");
    let units = tree.join("etc/systemd/system");
    for (target, at) in [
        ("systemd-networkd.service", "multi-user.target.wants/systemd-networkd.service"),
        ("systemd-networkd.socket", "sockets.target.wants/systemd-networkd.socket"),
    ] {
        let p = units.join(at);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(format!("/lib/systemd/system/{target}"), p).expect("enable networkd");
    }
    let host = HostNs::named(format!("h6nd{}", std::process::id()));
    let name = h6_name("nd");
    let mut c = host.berth();
    c.args(["boot", "-n", "-M", &name, "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, s.path("boot.log"));
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(60));
    let in_guest = |args: &str| {
        let out = std::process::Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-n", "sh", "-c", args])
            .output()
            .expect("nsenter");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let got = poll(Duration::from_secs(60), || {
        let a = in_guest("ip -6 -o addr show dev host0 scope global -tentative");
        let r = in_guest("ip -6 route show default");
        (a.contains("inet6 fd") && r.contains("via fe80:")).then_some(a)
    });
    let diag = || guest_sh(pid, "networkctl status host0 --no-pager 2>&1 | head -30").stdout;
    let Some(a) = got else { panic!("no ULA address or default route\n{}\n{}", diag(), bg.describe()) };
    let addr =
        a.split_whitespace().skip_while(|w| *w != "inet6").nth(1).unwrap().split('/').next().unwrap().to_string();
    let ping = host.sh(&format!("busybox ping -6 -c1 -W3 {addr} >/dev/null 2>&1 && echo ok"));
    assert_eq!(ping.trim(), "ok", "the host reaches {addr}\n{}", diag());
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "{}", bg.describe());
    assert_host_clean(&host);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}
