//! The settings-file parser as data: every key, the syntax, trust, and
//! errors that name file, line and key; plus a property test that no
//! input makes it panic.

use super::*;
use crate::settings::keys::{words, KEYS};

fn ok(text: &str) -> Settings {
    parse(text, Path::new("/etc/berth/m.berth"), true).unwrap().settings
}

fn err(text: &str) -> String {
    parse(text, Path::new("/etc/berth/m.berth"), true).unwrap_err().to_string()
}

#[test]
fn every_key_reaches_its_field() {
    let text = r#"
# a comment
[Exec]
Boot=yes
ProcessTwo=no
Parameters=--unit "multi user.target" 'a b'
Environment=A=1
Environment=B=two words
User=builder
WorkingDirectory=/src
Capability=CAP_NET_ADMIN CAP_SYS_TIME
DropCapability=CAP_CHOWN
NoNewPrivileges=on
KillSignal=SIGRTMIN+3
Hostname=web-1
MachineID=0123456789abcdef0123456789abcdef
PrivateUsers=pick
NotifyReady=1
SystemCallFilter=~@clock
LimitNOFILE=1024:4096
OOMScoreAdjust=-100
CPUAffinity=0-1
Ephemeral=yes
SuppressSync=true
ProcViews=off
LinkJournal=try-guest
ResolvConf=copy-host
Timezone=symlink
SetCredential=firstboot.locale:C.UTF-8
LoadCredential=k:/etc/key
; another comment
[Files]
ReadOnly=yes
Volatile=state
Bind=/srv/data:/data:norbind
BindReadOnly=/etc/hosts
BindUser=alice
TemporaryFileSystem=/var/cache:size=10m
Overlay=/l1:/l2:/up:/opt
OverlayReadOnly=/l1:/l2:/usr/local
PrivateUsersOwnership=map
[Network]
Private=yes
VirtualEthernet=no
VirtualEthernetExtra=vx-a:inner
Bridge=br0
Zone=lab
Port=tcp:8080:80
Interface=eth1 eth2:wan
MACVLAN=eth0
IPVLAN=eth3
"#;
    let s = ok(text);
    assert_eq!(s.boot, Some(true));
    assert_eq!(s.as_pid2, Some(false));
    assert_eq!(s.parameters, Some(vec!["--unit".into(), "multi user.target".into(), "a b".into()]));
    assert_eq!(s.setenv, Some(vec!["A=1".into(), "B=two words".into()]));
    assert_eq!(s.user.as_deref(), Some("builder"));
    assert_eq!(s.chdir, Some("/src".into()));
    assert_eq!(s.capability, Some(vec!["CAP_NET_ADMIN,CAP_SYS_TIME".into()]));
    assert_eq!(s.drop_capability, Some(vec!["CAP_CHOWN".into()]));
    assert_eq!(s.no_new_privileges.as_deref(), Some("yes"));
    assert_eq!(s.kill_signal.as_deref(), Some("SIGRTMIN+3"));
    assert_eq!(s.hostname.as_deref(), Some("web-1"));
    assert_eq!(s.uuid.as_deref(), Some("01234567-89ab-cdef-0123-456789abcdef"));
    assert_eq!(s.private_users.as_deref(), Some("pick"));
    assert_eq!(s.notify_ready.as_deref(), Some("yes"));
    assert_eq!(s.system_call_filter, Some(vec!["~@clock".into()]));
    assert_eq!(s.rlimit, Some(vec!["NOFILE=1024:4096".into()]));
    assert_eq!(s.oom_score_adjust.as_deref(), Some("-100"));
    assert_eq!(s.cpu_affinity.as_deref(), Some("0-1"));
    assert_eq!((s.ephemeral, s.suppress_sync.as_deref()), (Some(true), Some("yes")));
    assert_eq!(s.proc_views.as_deref(), Some("no"));
    assert_eq!(s.link_journal.as_deref(), Some("try-guest"));
    assert_eq!((s.resolv_conf.as_deref(), s.timezone.as_deref()), (Some("copy-host"), Some("symlink")));
    assert_eq!(s.set_credential, Some(vec!["firstboot.locale:C.UTF-8".into()]));
    assert_eq!(s.load_credential, Some(vec!["k:/etc/key".into()]));
    assert_eq!((s.read_only, s.volatile.as_deref()), (Some(true), Some("state")));
    assert_eq!(s.bind, Some(vec!["/srv/data:/data:norbind".into()]));
    assert_eq!(s.bind_ro, Some(vec!["/etc/hosts".into()]));
    assert_eq!(s.bind_user, Some(vec!["alice".into()]));
    assert_eq!(s.tmpfs, Some(vec!["/var/cache:size=10m".into()]));
    assert_eq!(s.overlay, Some(vec!["/l1:/l2:/up:/opt".into()]));
    assert_eq!(s.overlay_ro, Some(vec!["/l1:/l2:/usr/local".into()]));
    assert_eq!(s.private_users_ownership.as_deref(), Some("map"));
    assert_eq!((s.private_network, s.network_veth), (Some(true), Some(false)));
    assert_eq!(s.network_veth_extra, Some(vec!["vx-a:inner".into()]));
    assert_eq!((s.network_bridge.as_deref(), s.network_zone.as_deref()), (Some("br0"), Some("lab")));
    assert_eq!(s.port, Some(vec!["tcp:8080:80".into()]));
    assert_eq!(s.network_interface, Some(vec!["eth1".into(), "eth2:wan".into()]));
    assert_eq!((s.network_macvlan, s.network_ipvlan), (Some(vec!["eth0".into()]), Some(vec!["eth3".into()])));
    // Every key of the table is used above: a new key needs its line.
    for k in KEYS {
        assert!(text.contains(&format!("\n{}=", k.name)), "{} is not tested", k.name);
    }
}

#[test]
fn syntax() {
    // Continuations join, an empty assignment empties a list.
    let s = ok("[Exec]\nParameters=a \\\n  b\\\n  c\nEnvironment=A=1\nEnvironment=\nEnvironment=B=2\n");
    assert_eq!(s.parameters, Some(vec!["a".into(), "b".into(), "c".into()]));
    assert_eq!(s.setenv, Some(vec!["B=2".into()]));
    assert_eq!(words(r#"a\ b "c\"d" ''"#).unwrap(), ["a b", "c\"d", ""]);
    assert!(words("'open").is_err());
    // An empty file sets nothing.
    assert_eq!(ok("\n# only comments\n"), Settings::default());
}

#[test]
fn errors_name_file_line_and_key() {
    assert_eq!(err("[Exec]\nBoot=maybe\n"), "/etc/berth/m.berth:2: Boot=: 'maybe' is not a boolean; use yes or no");
    assert!(err("Boot=yes\n").starts_with("/etc/berth/m.berth:1: Boot= comes before any section"));
    assert!(err("[Exec]\n\n[Nope]\n").starts_with("/etc/berth/m.berth:3: unknown section [Nope]"));
    assert!(err("[Files]\nBoot=yes\n").contains("Boot=: belongs in [Exec], not [Files]"));
    assert!(err("[Exec]\nBot=yes\n").contains(":2: Bot=: unknown key in [Exec]"));
    assert!(err("[Exec]\nPivotRoot=/x\n").contains("PivotRoot=: berth does not support this key yet"));
    assert!(err("[Exec]\nTimezone=maybe\n").contains(":2: Timezone=: 'maybe' is not one of off, copy"));
    assert!(err("[Exec]\nLimitNOPE=1\n").contains(":2: LimitNOPE=:"));
    assert!(err("[Files]\nBind=relative\n").contains("is not absolute"));
    assert!(err("[Network]\nInterface=a/b\n").contains(":2: Interface=: 'a/b' is not an interface name"));
    assert!(err("[Network]\nInterface=a:b/c\n").contains(":2: Interface=: 'b/c' in 'a:b/c' is not an interface name"));
    assert!(err("[Exec]\nCapability=CAP_NOPE\n").contains("CAP_NOPE"));
    assert!(err("[Exec]\njust words\n").contains(":2: 'just words' is neither a section nor KEY=VALUE"));
    assert!(err("[Exec\n").contains("is not a section header"));
    // A continued line reports the line it starts on.
    assert!(err("[Exec]\nUser=a:\\\nb\n").starts_with("/etc/berth/m.berth:2: User=:"));
}

#[test]
fn untrusted_files_cannot_widen() {
    let text = "[Exec]\nCapability=CAP_SYS_ADMIN\nPrivateUsers=no\nHostname=h\nLimitNOFILE=9999\n\
                [Files]\nBind=/:/host\nReadOnly=yes\n[Exec]\nPrivateUsers=pick\n";
    let p = parse(text, Path::new("/var/lib/machines/m.nspawn"), false).unwrap();
    let keys: Vec<_> = p.ignored.iter().map(|i| (i.line, i.key.as_str())).collect();
    assert_eq!(keys, [(2, "Capability"), (3, "PrivateUsers"), (5, "LimitNOFILE"), (7, "Bind")]);
    assert_eq!(p.settings.hostname.as_deref(), Some("h"));
    assert_eq!(p.settings.read_only, Some(true));
    assert_eq!(p.settings.private_users.as_deref(), Some("pick"), "narrowing is kept");
    assert_eq!((p.settings.capability.as_ref(), p.settings.bind.as_ref()), (None, None));
    let msg = p.ignored[0].to_string();
    assert!(msg.starts_with("/var/lib/machines/m.nspawn:2: Capability= ignored"), "{msg}");
    assert!(msg.contains("--settings=trusted"));
    // Trusted, all of it applies.
    let p = parse(text, Path::new("/etc/berth/m.berth"), true).unwrap();
    assert!(p.ignored.is_empty() && p.settings.capability.is_some());
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 4000, ..Default::default() })]

    #[test]
    fn no_input_makes_it_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text, Path::new("/f"), false);
        let _ = parse(&text, Path::new("/f"), true);
    }

    #[test]
    fn near_valid_input_never_panics(
        sec in proptest::sample::select(vec!["[Exec]", "[Files]", "[Network]", "[", ""]),
        key in proptest::sample::select(KEYS.iter().map(|k| k.name).chain(["LimitCPU", "Limit", ""]).collect::<Vec<_>>()),
        value in "[ -~\\t\\\\\"']{0,40}",
        tail in proptest::sample::select(vec!["", "\\", "\n", "=", "\\\n"]),
    ) {
        let text = format!("{sec}\n{key}={value}{tail}\n");
        let _ = parse(&text, Path::new("/f"), false);
        let _ = parse(&text, Path::new("/f"), true);
    }
}
