//! `Config::new` checked as data: settings and made-up inputs in, a
//! configuration or the user's mistake out. No root, no I/O.

use super::*;

fn run(extra: Settings) -> Result<Config> {
    let s = Settings { boot: Some(false), parameters: Some(vec!["/bin/sh".into()]), ..Default::default() };
    Config::new(&extra.over(s), &Inputs::made_up("/srv/tree"))
}

fn err(extra: Settings) -> String {
    run(extra).unwrap_err().to_string()
}

#[test]
fn defaults_come_from_the_inputs() {
    let c = run(Settings::default()).unwrap();
    assert_eq!((c.name.as_str(), c.hostname.as_str()), ("tree", "tree"));
    assert_eq!(c.uuid, "00000000-0000-4000-8000-000000000001");
    assert_eq!(c.console, ConsoleMode::ReadOnly, "no terminal: read-only console");
    assert_eq!(c.stop_timeout, Duration::from_secs(10));
    assert_eq!(c.slice, "machine.slice");
    assert!(!c.read_only && !c.net.private() && c.template_copy.is_none());
    let mut on_tty = Inputs::made_up("/srv/tree");
    on_tty.terminal = true;
    let s = Settings { boot: Some(false), parameters: Some(vec!["/bin/sh".into()]), ..Default::default() };
    assert_eq!(Config::new(&s, &on_tty).unwrap().console, ConsoleMode::Interactive);
}

#[test]
fn boot_takes_the_trees_init() {
    let s = Settings { boot: Some(true), parameters: Some(vec!["--unit=x".into()]), ..Default::default() };
    let c = Config::new(&s, &Inputs::made_up("/srv/tree")).unwrap();
    match c.mode {
        Mode::Boot { init, kind, args } => {
            assert_eq!(
                (init, kind, args),
                ("/usr/lib/systemd/systemd".into(), InitKind::Systemd, vec!["--unit=x".to_string()])
            )
        }
        m => panic!("{m:?}"),
    }
    let mut no_init = Inputs::made_up("/srv/tree");
    no_init.tree.init = None;
    assert!(Config::new(&s, &no_init).unwrap_err().to_string().starts_with("no init found in /srv/tree"));
    let user = Settings { user: Some("u".into()), ..s };
    assert!(Config::new(&user, &Inputs::made_up("/t")).unwrap_err().to_string().contains("--user applies"));
}

#[test]
fn ephemeral_names_get_a_suffix() {
    let c = run(Settings { ephemeral: Some(true), ..Default::default() }).unwrap();
    assert_eq!(c.name, "tree-0badcafe");
    assert!(c.tree_read_only());
}

#[test]
fn networks_keep_cap_net_admin() {
    let c = run(Settings { network_veth: Some(true), ..Default::default() }).unwrap();
    assert!(c.net.private() && c.net.veth);
    assert!(c.policy.capabilities.contains(&caps::Capability::CAP_NET_ADMIN));
    let c = run(Settings::default()).unwrap();
    assert!(!c.policy.capabilities.contains(&caps::Capability::CAP_NET_ADMIN));
}

#[test]
fn what_the_user_got_wrong_is_named() {
    let cases: [(Settings, &str); 9] = [
        (Settings { parameters: Some(vec![]), ..Default::default() }, "no command given"),
        (Settings { chdir: Some("rel".into()), ..Default::default() }, "--chdir rel is not absolute"),
        (Settings { stop_timeout: Some(-1.0), ..Default::default() }, "--stop-timeout -1 is invalid"),
        (Settings { notify_ready: Some("maybe".into()), ..Default::default() }, "--notify-ready=maybe"),
        (Settings { ephemeral: Some(true), volatile: Some("yes".into()), ..Default::default() }, "pick one"),
        (Settings { slice: Some("x.slice".into()), keep_unit: Some(true), ..Default::default() }, "conflict"),
        (Settings { bind: Some(vec!["/nope:/x".into()]), ..Default::default() }, "source /nope is unusable"),
        (
            Settings {
                private_users: Some("no".into()),
                bind: Some(vec!["/etc:/e:idmap".into()]),
                ..Default::default()
            },
            "needs a user namespace",
        ),
        (Settings { property: Some(vec!["MemoryMax=lots".into()]), ..Default::default() }, "MemoryMax"),
    ];
    for (s, want) in cases {
        let e = err(s.clone());
        assert!(e.contains(want), "{s:?}: {e}");
    }
}

#[test]
fn overlays_and_properties_resolve_against_the_inputs() {
    let c = run(Settings {
        overlay: Some(vec!["/l1:/l2:/up:/opt".into()]),
        property: Some(vec!["MemoryMax=25%".into()]),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.overlays[0].lowers, [PathBuf::from("/l1"), PathBuf::from("/l2")]);
    assert_eq!(
        c.properties[0].value,
        crate::host::property::Value::Memory(crate::host::property::Memory::Max, Some(2 << 30))
    );
    assert!(err(Settings { overlay: Some(vec!["/l1:/missing:/opt".into()]), ..Default::default() })
        .contains("/missing is not a directory"));
}
