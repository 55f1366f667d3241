//! Zones and bridges (net/zone.rs): `--network-zone=ZONE` and
//! `--network-bridge=BR`, with the busybox fixture, as root, in network
//! namespaces each test creates (tests/common/netns.rs); `ip` is the
//! tests' only, never berth's.

mod common;

use common::netns::*;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A zone name unique to this test process: `hnTAG` + pid digits (12
/// characters at most, as vz-ZONE must be an interface name).
fn zone_name(tag: &str) -> String {
    let z = format!("hn{tag}{}", std::process::id() % 100000);
    assert!(z.len() <= 12, "{z}");
    z
}

/// What a zone guest runs: DHCP with udhcpc, its address into the
/// output and into /shared/NAME, then SCRIPT, then it waits for
/// /shared/stop.
fn zone_guest(script: &str) -> String {
    format!(
        r#"ip link set host0 up
udhcpc -i host0 -n -q -t 10 -T 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 || echo DHCP=failed
addr=$(ip -o -4 addr show dev host0 | sed -n 's/.* inet \([0-9.]*\/[0-9]*\).*/\1/p')
echo "ADDR=$addr"
echo "${{addr%/*}}" > /shared/$(hostname).tmp && mv /shared/$(hostname).tmp /shared/$(hostname)
{script}
while [ ! -e /shared/stop ]; do sleep 0.1; done
echo DONE"#
    )
}

fn start_zone_guest(
    host: &HostNs,
    tree: &Path,
    shared: &Path,
    name: &str,
    zone: &str,
    script: &str,
    log: PathBuf,
) -> Bg {
    let mut c = host.berth();
    c.args(["run", "-x", "-q", "-M", name, "--network-zone", zone, "--bind"]);
    c.arg(format!("{}:/shared:idmap", shared.display())).arg("-D").arg(tree);
    c.args(["--", "/bin/sh", "-c", &zone_guest(script)]);
    Bg::spawn(c, log)
}

/// Nothing of zone `zone` is left: no bridge, no berth table, no state.
fn assert_zone_gone(host: &HostNs, zone: &str) {
    let bridge = format!("vz-{zone}");
    let gone = poll(Duration::from_secs(10), || {
        let links = host.ip(&["-o", "link"]);
        let state = Path::new("/run/berth/zones").join(zone);
        let lock = Path::new("/run/berth/zones").join(format!("{zone}.lock"));
        (!links.contains(&format!(" {bridge}:"))
            && !links.contains(" vb-hn-")
            && !host.nft_tables().contains("berth")
            && !state.exists()
            && !lock.exists())
        .then_some(())
    });
    assert!(
        gone.is_some(),
        "zone {zone} left behind:\n{}\n{}\n{:?}",
        host.ip(&["-o", "link"]),
        host.nft_tables(),
        std::fs::read_dir("/run/berth/zones").map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
}

fn zone_setup(tag: &str) -> (Scratch, PathBuf, PathBuf, HostNs) {
    require(&["nft"]);
    let (s, tree) = busybox_setup(tag);
    install_udhcpc_script(&tree);
    let shared = s.path("shared");
    std::fs::create_dir(&shared).unwrap();
    let host = HostNs::new(tag);
    (s, tree, shared, host)
}

/// Two machines on one zone get addresses of the zone's subnet by DHCP,
/// reach each other by ping and TCP; the host sees vz-ZONE with both
/// ports; after both stop the bridge, the rules and the zone's state are
/// gone.
#[test]
fn zone_two_machines_talk() {
    let (s, tree, shared, host) = zone_setup("zt");
    let _l = host_lock_shared();
    let zone = zone_name("zt");
    let (a, b) = (hn_name("za"), hn_name("zb"));
    let serve = "while [ ! -e /shared/stop ]; do echo from-a | nc -l -p 8080 -w 2 >/dev/null 2>&1; done &";
    let peer = format!(
        r#"for i in $(seq 100); do [ -s /shared/{a} ] && break; sleep 0.1; done
peer=$(cat /shared/{a})
ping -c1 -W2 "$peer" >/dev/null && echo PING=ok || echo PING=fail
for i in $(seq 20); do got=$(nc -w 2 "$peer" 8080 </dev/null); [ -n "$got" ] && break; sleep 0.2; done
echo "TCP=$got""#
    );
    let mut ga = start_zone_guest(&host, &tree, &shared, &a, &zone, serve, s.path("a.log"));
    let mut gb = start_zone_guest(&host, &tree, &shared, &b, &zone, &peer, s.path("b.log"));
    let (addr_a, addr_b) = (wait_line(&ga, "ADDR"), wait_line(&gb, "ADDR"));
    let ctx = format!("{}\n{}", ga.describe(), gb.describe());
    assert!(addr_a.ends_with("/24") && addr_b.ends_with("/24"), "{ctx}");
    assert_ne!(addr_a, addr_b, "{ctx}");
    let net = |a: &str| a.rsplit_once('.').map(|(n, _)| n.to_string()).unwrap();
    assert_eq!(net(&addr_a), net(&addr_b), "one subnet\n{ctx}");
    let bridge = format!("vz-{zone}");
    let ports = host.ip(&["-o", "link", "show", "master", &bridge]);
    for m in [&a, &b] {
        let port = record_field(m, "link");
        assert!(port.starts_with("vb-hn-") && ports.contains(&format!(" {port}@")), "{port} in {bridge}:\n{ports}");
    }
    let host_addr = host.ip(&["-o", "-4", "addr", "show", "dev", &bridge]);
    assert!(host_addr.contains(&format!("inet {}.1/24", net(&addr_a))), "{host_addr}");
    // list, status and show --json read the guest's addresses from its
    // network namespace.
    let ip_a = addr_a.split('/').next().unwrap().to_string();
    let verb = |args: &[&str]| {
        let mut c = host.berth();
        c.args(args);
        let out = run_to_end(c, QUICK);
        out.expect_code(0);
        out
    };
    let list = verb(&["list"]);
    let row = list.stdout.lines().find(|l| l.starts_with(&format!("{a} "))).unwrap_or_default().to_string();
    assert!(list.stdout.contains("ADDRESSES") && row.contains(&ip_a), "{}", list.describe());
    let status = verb(&["status", &a]);
    assert!(status.stdout.contains(&format!("Address: {ip_a}")), "{}", status.describe());
    let show = verb(&["show", &a, "--json"]);
    let v: serde_json::Value = serde_json::from_str(show.stdout.trim()).expect("show --json is JSON");
    let addrs = v["addresses"].as_array().cloned().unwrap_or_default();
    assert!(addrs.iter().any(|x| x == &serde_json::Value::from(ip_a.clone())), "{}", show.describe());
    assert!(addrs.iter().any(|x| x.as_str().is_some_and(|x| x.starts_with("fe80:"))), "{}", show.describe());
    assert_eq!(wait_line(&gb, "PING"), "ok", "{}", gb.describe());
    assert_eq!(wait_line(&gb, "TCP"), "from-a", "{}\n{}", ga.describe(), gb.describe());
    write_file(&shared.join("stop"), "");
    for g in [&mut ga, &mut gb] {
        let st = g.wait(QUICK);
        assert!(st.success(), "{}", g.describe());
    }
    assert_zone_gone(&host, &zone);
    assert_clean(&a, "", &[&tree], None, Duration::from_secs(5));
    assert_clean(&b, "", &[&tree], None, Duration::from_secs(5));
}

/// Twenty machines started at once on one zone all get distinct
/// addresses; half are killed with kill -9, half stop; the watchers leave
/// nothing of the zone, and `berth gc` finds nothing more.
#[test]
fn zone_twenty_machines_distinct_addresses() {
    let (s, tree, shared, host) = zone_setup("z20");
    let _l = host_lock_shared();
    let zone = zone_name("z20");
    let names: Vec<String> = (0..20).map(|_| hn_name("z20")).collect();
    let mut guests: Vec<Bg> = names
        .iter()
        .enumerate()
        .map(|(i, n)| start_zone_guest(&host, &tree, &shared, n, &zone, "", s.path(&format!("{i}.log"))))
        .collect();
    let addrs: Vec<String> = guests.iter().map(|g| wait_line(g, "ADDR")).collect();
    let distinct: BTreeSet<&String> = addrs.iter().collect();
    assert_eq!(distinct.len(), 20, "distinct addresses: {addrs:?}");
    assert!(addrs.iter().all(|a| a.ends_with("/24") && !a.starts_with("DHCP")), "{addrs:?}");
    let members = std::fs::read_dir(Path::new("/run/berth/zones").join(&zone)).unwrap().count();
    assert!(members >= 20, "one member file each ({members})");
    for g in guests.iter_mut().take(10) {
        g.kill9();
    }
    write_file(&shared.join("stop"), "");
    for g in guests.iter_mut().skip(10) {
        let st = g.wait(QUICK);
        assert!(st.success(), "{}", g.describe());
    }
    assert_zone_gone(&host, &zone);
    for n in &names {
        assert_clean(n, "", &[&tree], None, Duration::from_secs(10));
    }
    let mut gc = host.berth();
    gc.arg("gc");
    let out = run_to_end(gc, QUICK);
    out.expect_code(0);
    assert!(!out.stdout.contains(&zone), "{}", out.describe());
}

/// `--network-bridge=BR`: the host side joins the host's bridge, which
/// berth leaves unaddressed and in place; a missing bridge or a link that
/// is not a bridge is one error line; a bad zone name is a usage error.
#[test]
fn bridge_joins_the_hosts_bridge() {
    let (_s, tree, _shared, host) = zone_setup("br");
    let _l = host_lock_shared();
    let br = format!("hnbr{}", std::process::id() % 100000);
    host.ip(&["link", "add", &br, "type", "bridge"]);
    host.ip(&["addr", "add", "10.77.0.1/24", "dev", &br]);
    host.ip(&["link", "set", &br, "up"]);
    let name = hn_name("br");
    let script = r#"ip link set host0 up
ip addr add 10.77.0.2/24 dev host0
ping -c1 -W3 10.77.0.1 >/dev/null && echo PING=ok || echo PING=fail"#;
    let out = host.run_sh(&tree, &name, &[&format!("--network-bridge={br}")], script);
    out.expect_code(0);
    assert_eq!(out.get("PING"), "ok", "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    let links = host.ip(&["-o", "link"]);
    assert!(links.contains(&format!(" {br}:")) && !links.contains(" vb-hn-"), "{links}");
    let addrs = host.ip(&["-o", "-4", "addr", "show", "dev", &br]);
    assert_eq!(addrs.matches("inet ").count(), 1, "berth adds no address: {addrs}");
    assert!(!host.nft_tables().contains("berth"), "{}", host.nft_tables());
    // Errors: one line naming the thing and the fix, nothing left.
    // (This kernel may lack dummy links; a veth is no bridge either.)
    host.ip(&["link", "add", "hnnotbr0", "type", "veth", "peer", "name", "hnnotbr1"]);
    for (opt, want) in [
        (format!("--network-bridge={br}x"), "no such bridge"),
        ("--network-bridge=hnnotbr0".to_string(), "not a bridge"),
        ("--network-zone=a-far-too-long-zone".to_string(), "zone name"),
    ] {
        let name = hn_name("brerr");
        let out = host.run_sh(&tree, &name, &[&opt], "true");
        assert_ne!(out.code(), 0, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains(want), "{}", out.describe());
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    }
    assert!(!host.ip(&["-o", "link"]).contains(" vb-hn-"));
}

/// Registration passes the host side of the machine's pair to machined
/// (RegisterMachineWithNetwork's ifindices, as nspawn does): a private
/// dbus-daemon with the real systemd-machined, berth in a namespace of the
/// test's own.
#[test]
fn machined_gets_the_network_interfaces() {
    let (s, tree, shared, host) = zone_setup("zmd");
    let bus = common::bus::Bus::start("zmd", true);
    let _l = host_lock_shared();
    let zone = zone_name("zmd");
    let name = hn_name("zmd");
    let mut c = host.berth();
    c.env("DBUS_SYSTEM_BUS_ADDRESS", &bus.addr);
    c.args(["run", "-x", "-q", "-M", &name, "--network-zone", &zone, "--bind"]);
    c.arg(format!("{}:/shared:idmap", shared.display())).arg("-D").arg(&tree);
    c.args(["--", "/bin/sh", "-c", &zone_guest("")]);
    let mut bg = Bg::spawn(c, s.path("log"));
    wait_line(&bg, "ADDR");
    let port = record_field(&name, "link");
    let index = host.ip(&["-o", "link", "show", &port]);
    let index = index.split(':').next().unwrap().trim().to_string();
    assert!(bus.machines().contains(&name), "{}\n{}", bg.describe(), bus.logs());
    assert_eq!(bus.prop(&name, "NetworkInterfaces"), format!("1 {index}"), "{}", bg.describe());
    write_file(&shared.join("stop"), "");
    assert!(bg.wait(QUICK).success(), "{}", bg.describe());
    assert!(!bus.machines().contains(&name));
    assert_zone_gone(&host, &zone);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

/// What a renewing guest's udhcpc runs on each event: the event and the
/// address into /shared/NAME.events, the address onto host0.
const RENEW_SCRIPT: &str = r#"#!/bin/sh
echo "$1 $ip" >> /shared/$(hostname).events
case "$1" in
bound) ip -4 addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface" ;;
renew) ip addr replace "$ip/${mask:-24}" dev "$interface" ;;
esac
exit 0
"#;

/// Renewals on a zone: with a short lease (BERTH_TEST_LEASE_SECONDS=6,
/// which only the tests set; busybox's udhcpc makes it 30 s at least and
/// renews at half of it) two machines' udhcpc renew by unicast to the
/// bridge's address. Each launcher hears its own guest through its
/// packet socket, so both renew twice and keep their addresses: no
/// unanswered renewal (udhcpc would fall back to a broadcast),
/// no lease lost, no new discovery.
#[test]
fn zone_renewals_of_every_member_are_answered() {
    require(&["nft"]);
    let (s, tree) = busybox_setup("zr");
    let shared = s.path("shared");
    std::fs::create_dir(&shared).unwrap();
    let host = HostNs::named(format!("h6zr{}", std::process::id()));
    let _l = host_lock_shared();
    let zone = format!("h6r{}", std::process::id() % 100000);
    write_file(&shared.join("ev.sh"), RENEW_SCRIPT);
    assert!(std::process::Command::new("chmod").arg("755").arg(shared.join("ev.sh")).status().unwrap().success());
    let guest = r#"ip link set host0 up
udhcpc -f -i host0 -T 1 -t 10 -s /shared/ev.sh >/shared/$(hostname).udhcpc 2>&1 &
while [ ! -e /shared/stop ]; do sleep 0.1; done
kill $!
echo DONE"#;
    let names = [unique_name("zra").replacen("bt-", "h6-", 1), unique_name("zrb").replacen("bt-", "h6-", 1)];
    let mut guests: Vec<Bg> = names
        .iter()
        .map(|n| {
            let mut c = host.berth();
            c.env("BERTH_TEST_LEASE_SECONDS", "6");
            c.args(["run", "-x", "-q", "-M", n, "--network-zone", &zone, "--bind"]);
            c.arg(format!("{}:/shared:idmap", shared.display())).arg("-D").arg(&tree);
            c.args(["--", "/bin/sh", "-c", guest]);
            Bg::spawn(c, s.path(&format!("{n}.log")))
        })
        .collect();
    let events = |n: &str| std::fs::read_to_string(shared.join(format!("{n}.events"))).unwrap_or_default();
    let bound = poll(Duration::from_secs(30), || names.iter().all(|n| events(n).contains("bound ")).then_some(()));
    assert!(bound.is_some(), "both bound: {:?}", names.iter().map(|n| events(n)).collect::<Vec<_>>());
    let renewed = poll(Duration::from_secs(45), || {
        names.iter().all(|n| events(n).lines().filter(|l| l.starts_with("renew ")).count() >= 2).then_some(())
    });
    let log = |n: &str| std::fs::read_to_string(shared.join(format!("{n}.udhcpc"))).unwrap_or_default();
    let report = names.iter().map(|n| format!("{n}:\n{}{}", events(n), log(n))).collect::<Vec<_>>().join("\n");
    assert!(renewed.is_some(), "both renew twice\n{report}");
    for n in &names {
        let ev = events(n);
        let after: Vec<&str> = ev.lines().skip_while(|l| !l.starts_with("bound ")).collect();
        let ip = after[0].split_whitespace().nth(1).unwrap_or_default();
        assert!(!ip.is_empty(), "{report}");
        for l in &after {
            let kind = l.split_whitespace().next().unwrap_or_default();
            assert!(kind == "renew" || kind == "bound", "nothing but renewals after the lease: {l}\n{report}");
            assert!(l.ends_with(&format!(" {ip}")), "the same address: {l}\n{report}");
        }
        assert_eq!(after.iter().filter(|l| l.starts_with("bound ")).count(), 1, "one discovery\n{report}");
        // An unanswered unicast renewal makes udhcpc 1.35 say
        // "broadcasting renew" (later versions "rebind"): what this test
        // saw with one UDP socket per launcher.
        let l = log(n);
        assert!(
            l.contains("sending renew") && !l.contains("broadcasting renew") && !l.contains("rebind"),
            "unicast renewals answered\n{report}"
        );
    }
    write_file(&shared.join("stop"), "");
    for g in guests.iter_mut() {
        let st = g.wait(QUICK);
        assert!(st.success(), "{}", g.describe());
    }
    assert_zone_gone(&host, &zone);
    for n in &names {
        assert_clean(n, "", &[&tree], None, Duration::from_secs(5));
    }
}
