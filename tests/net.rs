//! The guest's network (net/): --private-network and -n/--network-veth. Real
//! namespaces, the busybox and trixie fixtures, as root. "The host" of every test is a network
//! namespace the test creates itself (berth runs under `nsenter --net`),
//! so nothing here touches the machine's real interfaces, routes or
//! firewall; `ip` is used by the tests only, never by berth.

mod common;

use common::netns::*;
use common::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The guest sees only its own `lo`, up; a fresh sysfs of its namespace;
/// /proc/sys/net is writable (its own) while the rest of /proc/sys is not;
/// CAP_NET_ADMIN is in its bounding set; the host's loopback services are
/// out of reach. Nothing of it reaches the host's namespace.
#[test]
fn private_network_is_the_guests_own() {
    let (_s, tree) = busybox_setup("pnet");
    let host = HostNs::new("pn");
    let _l = host_lock_shared();
    // A new namespace starts with the initial one's IPv4 settings, and
    // this host may forward: start from a known 0.
    host.sh("echo 0 > /proc/sys/net/ipv4/ip_forward");
    host.ip(&["link", "add", "hna0", "type", "veth", "peer", "name", "hnb0"]);
    let served = host.serve("127.0.0.1:0", |_| "host-secret\n".into());
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
        let name = hn_name("pnet");
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
    let (_s, tree) = busybox_setup("snet");
    let host = HostNs::new("sn");
    let _l = host_lock_shared();
    host.ip(&["link", "add", "hna0", "type", "veth", "peer", "name", "hnb0"]);
    let script = r#"echo LINKS=$(ip -o link | wc -l)
bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
[ $(( 0x$bnd >> 12 & 1 )) = 1 ] && echo NETADMIN=yes || echo NETADMIN=no
ip link set lo down 2>/dev/null && echo LODOWN=done || echo LODOWN=refused"#;
    let name = hn_name("snet");
    let out = host.run_sh(&tree, &name, &[], script);
    out.expect_code(0);
    assert_eq!(out.get("LINKS"), "3", "{}", out.describe());
    assert_eq!(out.get("NETADMIN"), "no", "{}", out.describe());
    let name = hn_name("snet");
    let out = host.run_sh(&tree, &name, &["--private-network", "--drop-capability=CAP_NET_ADMIN"], script);
    out.expect_code(0);
    assert_eq!(out.get("LINKS"), "1", "{}", out.describe());
    assert_eq!(out.get("NETADMIN"), "no", "{}", out.describe());
    assert_eq!(out.get("LODOWN"), "refused", "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(3));
}

/// An "upstream" namespace behind the host: 192.0.2.2, the host 192.0.2.1,
/// the host's default route through it.
fn upstream(host: &HostNs, tag: &str) -> HostNs {
    let up = HostNs::new(tag);
    host.ip(&["link", "add", "hnup0", "type", "veth", "peer", "name", "hnup1"]);
    host.ip(&["link", "set", "hnup1", "netns", &up.name]);
    host.ip(&["addr", "add", "192.0.2.1/24", "dev", "hnup0"]);
    host.ip(&["link", "set", "hnup0", "up"]);
    host.ip(&["route", "add", "default", "via", "192.0.2.2"]);
    up.ip(&["addr", "add", "192.0.2.2/24", "dev", "hnup1"]);
    up.ip(&["link", "set", "hnup1", "up"]);
    up
}

/// What the guest of the veth tests runs: DHCP with udhcpc, then reports
/// its address, its DNS server, what the upstream saw as its source, its
/// IPv6 link-local reach to the host; serves HTTP-ish on 8080 until the
/// test drops a stop file into the tree.
const VETH_GUEST: &str = r#"ip link set host0 up
udhcpc -i host0 -n -q -t 10 -T 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 || echo DHCP=failed
addr=$(ip -o -4 addr show dev host0 | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')
echo "ADDR=$addr"
echo "GW=$(ip route | sed -n 's/^default via \([0-9.]*\).*/\1/p')"
echo "DNS=$(sed -n 's/^nameserver //p' /etc/resolv.conf | head -1)"
echo "UPSTREAM_SAW=$(nc -w 3 192.0.2.2 7070 </dev/null)"
for i in $(seq 50); do [ -s /ll ] && break; sleep 0.2; done
for i in $(seq 10); do ip -6 addr show dev host0 | grep -q tentative || break; sleep 0.3; done
out=$(ping6 -c2 -w5 "$(cat /ll)%host0" 2>&1); echo "$out" | grep -q "bytes from" && echo LL=ok || echo "LL=fail $(cat /ll): $(echo $out)"
while [ ! -e /stop ]; do echo guest-hello | nc -l -p 8080 -w 1 >/dev/null 2>&1; done
echo DONE"#;

fn veth_setup(tag: &str) -> (Scratch, std::path::PathBuf, HostNs) {
    // The tests read the host's nf_tables with `nft` (apt-get install nftables).
    require(&["nft"]);
    let (s, tree) = busybox_setup(tag);
    install_udhcpc_script(&tree);
    let host = HostNs::new(tag);
    (s, tree, host)
}

fn start_veth_guest(host: &HostNs, tree: &std::path::Path, name: &str, log: std::path::PathBuf) -> Bg {
    let mut c = host.berth();
    c.arg("run").arg("-D").arg(tree).arg("-M").arg(name).arg("-n").arg("--").arg("/bin/sh").arg("-c").arg(VETH_GUEST);
    Bg::spawn(c, log)
}

/// Nothing of the machine's network (`link`, the nf_tables table, the
/// subnet's lock) is left on the host.
fn assert_net_clean(host: &HostNs, link: &str, lock: &str) {
    assert!(!link.is_empty() && !lock.is_empty());
    let left = poll(Duration::from_secs(10), || {
        let links = host.ip(&["-o", "link"]);
        let tables = host.nft_tables();
        (!links.contains(&format!(" {link}@")) && !tables.contains("berth") && !std::path::Path::new(lock).exists())
            .then_some(())
    });
    assert!(
        left.is_some(),
        "left on the host:\n{}\n{}\nlock {lock}: {}",
        host.ip(&["-o", "link"]),
        host.nft_tables(),
        std::path::Path::new(lock).exists()
    );
}

/// `-n`: the guest gets an address, a default route and the host's DNS
/// server by DHCP from berth (busybox udhcpc); its outbound traffic is
/// masqueraded (the upstream sees the host's address); IPv6 link-local
/// works; the host reaches a service in it; all of it is gone at exit.
#[test]
fn veth_dhcp_nat_and_service() {
    let (s, tree, host) = veth_setup("veth");
    let _l = host_lock_shared();
    let up = upstream(&host, "vu");
    up.serve("192.0.2.2:7070", |peer| format!("{}\n", peer.ip()));
    let name = hn_name("veth");
    let mut bg = start_veth_guest(&host, &tree, &name, s.path("log"));
    let addr = wait_line(&bg, "ADDR");
    let ctx = bg.describe();
    let ip: std::net::Ipv4Addr = addr.parse().unwrap_or_else(|_| panic!("no address by DHCP\n{ctx}"));
    assert!(ip.is_private(), "{ctx}");
    let gw = wait_line(&bg, "GW");
    let host_addrs = host.ip(&["-o", "-4", "addr", "show"]);
    assert!(host_addrs.contains(&format!("inet {gw}/28")), "the gateway is the host side:\n{host_addrs}\n{ctx}");
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let want_dns = resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .map(str::trim)
        .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok_and(|a| !a.is_loopback()));
    if let Some(d) = want_dns {
        assert_eq!(wait_line(&bg, "DNS"), d, "the host's DNS server\n{}", bg.describe());
    }
    assert_eq!(wait_line(&bg, "UPSTREAM_SAW"), "192.0.2.1", "masqueraded behind the host\n{}", bg.describe());
    // The host side's link-local address, for the guest to ping.
    let link = record_field(&name, "link");
    assert!(link.starts_with("ve-hn-veth") && link.len() <= 15, "{link}");
    let ll = host.ip(&["-o", "-6", "addr", "show", "dev", &link]);
    // The link-local one: the side may also have a ULA address (IPv6).
    let ll = ll.split_whitespace().filter_map(|w| w.split('/').next()).find(|a| a.starts_with("fe80:"));
    let ll = ll.unwrap_or_else(|| panic!("no IPv6 link-local address on the host side\n{}", bg.describe()));
    assert!(ll.starts_with("fe80:"), "{ll}");
    write_file(&tree.join("ll"), ll);
    assert_eq!(wait_line(&bg, "LL"), "ok", "IPv6 link-local\n{}", bg.describe());
    assert!(host.nft_tables().contains("table ip berth"), "{}", host.nft_tables());
    let got = poll(Duration::from_secs(10), || host.fetch(format!("{ip}:8080").parse().unwrap()))
        .unwrap_or_else(|| panic!("the host reaches no service in the guest\n{}", bg.describe()));
    assert_eq!(got, "guest-hello\n");
    let lock = record_field(&name, "lock");
    write_file(&tree.join("stop"), "");
    let st = bg.wait(QUICK);
    assert!(st.success(), "{}", bg.describe());
    assert_net_clean(&host, &link, &lock);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

/// After a kill -9 of the launcher the watcher removes the rule and the
/// pair; `berth gc` finds nothing more.
#[test]
fn veth_is_cleaned_after_kill9() {
    let (s, tree, host) = veth_setup("vk9");
    let _l = host_lock_shared();
    let name = hn_name("vk9");
    write_file(&tree.join("ll"), "::1");
    let mut bg = start_veth_guest(&host, &tree, &name, s.path("log"));
    wait_line(&bg, "ADDR");
    assert!(host.nft_tables().contains("table ip berth"), "{}", host.nft_tables());
    let (link, lock) = (record_field(&name, "link"), record_field(&name, "lock"));
    bg.kill9();
    assert_net_clean(&host, &link, &lock);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    let mut gc = host.berth();
    gc.arg("gc");
    let out = run_to_end(gc, QUICK);
    out.expect_code(0);
    assert!(!out.stdout.contains(&name) && !out.stderr.contains(&name), "{}", out.describe());
}

/// A booted Debian guest (trixie, systemd 257) with its own
/// systemd-networkd enabled (Debian's 80-container-host0.network: DHCP)
/// reaches `running`, gets its address from berth's DHCP server, and the
/// host reaches a service in it; SIGTERM stops it and nothing is left.
#[test]
fn networkd_guest_gets_its_address_from_berth() {
    require(&["nsenter", "timeout", "ip", "nft"]);
    let fx = fixture("trixie");
    let _l = host_lock_shared();
    let s = Scratch::new("netd");
    let tree = tree_copy(&s, &fx, "trixie");
    let units = tree.join("etc/systemd/system");
    let link = |target: &str, at: &str| {
        let p = units.join(at);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).expect("enable unit");
    };
    link("/usr/lib/systemd/system/systemd-networkd.service", "multi-user.target.wants/systemd-networkd.service");
    link("/usr/lib/systemd/system/systemd-networkd.socket", "sockets.target.wants/systemd-networkd.socket");
    write_file(
        &units.join("hn-hello.socket"),
        "[Socket]\nListenStream=8080\nAccept=yes\n[Install]\nWantedBy=sockets.target\n",
    );
    write_file(
        &units.join("hn-hello@.service"),
        "[Service]\nExecStart=/bin/echo guest-hello\nStandardInput=socket\nStandardOutput=socket\n",
    );
    link("/etc/systemd/system/hn-hello.socket", "sockets.target.wants/hn-hello.socket");
    let host = HostNs::new("nd");
    let name = hn_name("netd");
    let mut c = host.berth();
    c.args(["boot", "-n", "-M", &name, "-D"]).arg(&tree);
    let mut bg = Bg::spawn(c, s.path("boot.log"));
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(60));
    wait_running(&mut bg, pid);
    let subnet = record_field(&name, "subnet");
    let (link_name, lock) = (record_field(&name, "link"), record_field(&name, "lock"));
    let base: std::net::Ipv4Addr = subnet.split('/').next().unwrap().parse().expect("NET_SUBNET in the record");
    let guest = std::net::Ipv4Addr::from(u32::from(base) + 2);
    let got = poll(Duration::from_secs(30), || host.fetch(format!("{guest}:8080").parse().unwrap()));
    let diag = || guest_sh(pid, "networkctl status host0 --no-pager 2>&1 | head -20").stdout;
    assert_eq!(
        got.as_deref(),
        Some("guest-hello\n"),
        "the host reaches the guest at {guest}\n{}\n{}",
        diag(),
        bg.describe()
    );
    bg.signal(libc::SIGTERM);
    let st = bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "{}", bg.describe());
    assert_net_clean(&host, &link_name, &lock);
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}

/// A host link already called ve-NAME: one error line naming it, exit
/// 125, and the host's link is left as it was (not taken for berth's).
#[test]
fn veth_name_taken_is_one_error_line_and_leaves_the_hosts_link() {
    let (_s, tree) = busybox_setup("vtaken");
    require(&["nft"]);
    let host = HostNs::new("vt");
    let _l = host_lock_shared();
    let name = format!("hn-vt{}", std::process::id() % 100000);
    let link = format!("ve-{name}");
    assert!(link.len() <= 15);
    host.ip(&["link", "add", &link, "type", "veth", "peer", "name", "hnvtpeer"]);
    let out = host.run_sh(&tree, &name, &["-n"], "true");
    out.expect_code(125);
    assert_one_error_line(&out);
    assert!(out.stderr.contains(&link) && out.stderr.contains("-M"), "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    assert!(host.ip(&["-o", "link"]).contains(&format!(" {link}@")), "the host's own link must stay");
    assert!(!host.nft_tables().contains("berth"), "{}", host.nft_tables());
}

const DHCP_GUEST: &str = r#"ip link set host0 up
udhcpc -i host0 -n -q -t 4 -T 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1
echo "ADDR=$(ip -o -4 addr show dev host0 | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')"
while [ ! -e /stop ]; do sleep 0.1; done
echo DONE"#;

/// A systemd-networkd in another network namespace (as a booted guest's
/// runs) is not the host's: berth still addresses the link and serves
/// DHCP. One in the host's own namespace is, and berth leaves the link
/// to it. The stand-in is `sleep` copied to a file named
/// systemd-networkd (the kernel's comm is the file name, cut to 15),
/// with the state file a real networkd writes as it starts.
#[test]
fn only_the_hosts_own_networkd_takes_the_link() {
    let (s, tree, host) = veth_setup("vnd");
    let _l = host_lock_shared();
    let fake = s.path("systemd-networkd");
    std::fs::copy("/bin/sleep", &fake).unwrap();
    let _state = StateFile::ensure();
    let run = |tag: &str| -> (String, String, Bg) {
        let name = hn_name(tag);
        let _ = std::fs::remove_file(tree.join("stop"));
        let mut c = host.berth();
        c.arg("run").arg("-D").arg(&tree).args(["-M", &name, "-n", "--", "/bin/sh", "-c", DHCP_GUEST]);
        let mut bg = Bg::spawn(c, s.path(&format!("{tag}.log")));
        let addr = wait_line(&bg, "ADDR");
        let link = record_field(&name, "link");
        let host4 = host.ip(&["-o", "-4", "addr", "show", "dev", &link]);
        write_file(&tree.join("stop"), "");
        let st = bg.wait(QUICK);
        assert!(st.success(), "{}", bg.describe());
        (addr, host4, bg)
    };
    let mut c = Command::new("unshare");
    c.arg("-n").arg(&fake).arg("300");
    let mut elsewhere = Bg::spawn(c, s.path("elsewhere.log"));
    let (addr, host4, bg) = run("vnd1");
    elsewhere.kill9();
    assert!(addr.parse::<std::net::Ipv4Addr>().is_ok(), "no address from berth\n{}", bg.describe());
    assert!(host4.contains("inet "), "berth left the link to another namespace's networkd: {host4}");

    let mut c = Command::new("nsenter");
    c.arg(format!("--net={}", host.path())).arg(&fake).arg("300");
    let mut here = Bg::spawn(c, s.path("here.log"));
    let (addr, host4, bg) = run("vnd2");
    here.kill9();
    assert!(addr.is_empty(), "berth served DHCP beside the host's networkd\n{}", bg.describe());
    assert!(!host4.contains("inet "), "berth addressed a link the host's networkd manages: {host4}");
}

/// networkd's state file, created for the test when the host has none
/// (no networkd ran here) and removed again after it.
struct StateFile(Option<&'static str>);

impl StateFile {
    fn ensure() -> StateFile {
        let p = berth::net::networkd::STATE_FILE;
        if std::path::Path::new(p).exists() {
            return StateFile(None);
        }
        std::fs::create_dir_all("/run/systemd/netif").unwrap();
        write_file(std::path::Path::new(p), "# written by berth's tests/net.rs\nOPER_STATE=routable\n");
        StateFile(Some(p))
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
