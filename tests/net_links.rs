//! `--network-namespace-path` and `--network-veth-extra`: with the busybox
//! fixture, as root, in network namespaces the test creates
//! (tests/common/netns.rs); `ip` is the tests' only, never berth's.

mod common;

use common::netns::*;
use common::*;
use std::time::Duration;

/// The guest joins an existing namespace (it sees that namespace's link),
/// which berth leaves as it was; a path that is no network namespace, and
/// another network option beside it, are one error line.
#[test]
fn namespace_path_joins_an_existing_namespace() {
    let (_s, tree) = busybox_setup("nspath");
    let _l = host_lock_shared();
    let host = HostNs::new("np");
    let target = HostNs::new("nq");
    target.ip(&["link", "add", "hnnpa", "type", "veth", "peer", "name", "hnnpb"]);
    let name = hn_name("nspath");
    let path = format!("--network-namespace-path={}", target.path());
    let out = host.run_sh(&tree, &name, &[&path], "echo LINKS=$(ls /sys/class/net | tr '\\n' ' ')");
    out.expect_code(0);
    assert_eq!(out.get("LINKS").trim(), "hnnpa hnnpb lo", "{}", out.describe());
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    assert!(target.ip(&["-o", "link"]).contains("hnnpa@hnnpb"), "the namespace keeps its links");
    for (extra, want) in [
        (vec!["--network-namespace-path=/etc/hostname"], "network namespace"),
        (vec![path.as_str(), "-n"], "conflicts"),
    ] {
        let name = hn_name("nspath");
        let out = host.run_sh(&tree, &name, &extra, "true");
        assert_ne!(out.code(), 0, "{}", out.describe());
        assert_one_error_line(&out);
        assert!(out.stderr.contains(want), "{}", out.describe());
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    }
}

/// An extra veth pair: its guest side under the given name in the guest,
/// its host side on the host while the machine runs, gone after.
#[test]
fn veth_extra_adds_a_pair() {
    let (s, tree) = busybox_setup("vx");
    let _l = host_lock_shared();
    let host = HostNs::new("vx");
    let name = hn_name("vx");
    let hostif = format!("hnx{}", std::process::id() % 100000);
    let mut c = host.berth();
    c.args(["run", "-q", "-M", &name, &format!("--network-veth-extra={hostif}:eth7"), "-D"]).arg(&tree);
    c.args([
        "--",
        "/bin/sh",
        "-c",
        "echo LINKS=$(ls /sys/class/net | tr '\\n' ' '); while [ ! -e /stop ]; do sleep 0.1; done",
    ]);
    let mut bg = Bg::spawn(c, s.path("log"));
    assert_eq!(wait_line(&bg, "LINKS").trim(), "eth7 lo", "{}", bg.describe());
    assert!(host.ip(&["-o", "link"]).contains(&format!(" {hostif}@")), "{}", bg.describe());
    write_file(&tree.join("stop"), "");
    assert!(bg.wait(QUICK).success(), "{}", bg.describe());
    let gone = poll(Duration::from_secs(5), || (!host.ip(&["-o", "link"]).contains(&hostif)).then_some(()));
    assert!(gone.is_some(), "{}", host.ip(&["-o", "link"]));
    assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
}
