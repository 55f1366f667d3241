use super::*;

const ID: &str = "9ee7635e0fc2929d64a8f47a6b14a0e0";

fn facts() -> GuestFacts {
    let mut f = GuestFacts { host_journal: true, ..Default::default() };
    f.resolv.insert("host".into(), b"nameserver 10.0.0.1\n".to_vec());
    f.zone = Some("Europe/Berlin".into());
    f.localtime = Some(("/usr/share/zoneinfo/Europe/Berlin".into(), b"TZif".to_vec()));
    f.tree_has_zone = true;
    f.tree_has_resolv = true;
    f.tree_has_localtime = true;
    f
}

#[test]
fn the_machine_id_is_the_trees_or_the_uuid() {
    assert_eq!(machine_id(Some(ID), "01234567-89ab-cdef-0123-456789abcdef"), ID);
    assert_eq!(machine_id(None, "01234567-89AB-cdef-0123-456789abcdef"), "0123456789abcdef0123456789abcdef");
    assert_eq!(parse_machine_id(&format!("{ID}\n")).as_deref(), Some(ID));
    assert_eq!(parse_machine_id(""), None);
    assert_eq!(parse_machine_id("uninitialized\n"), None);
    assert_eq!(parse_machine_id(&"0".repeat(32)), None);
}

#[test]
fn link_journal_modes() {
    let root = Path::new("/t");
    let mut f = facts();
    let j = |m: &str, f: &GuestFacts, ro: bool| journal(m, f, root, ID, ro);
    // auto links only what a previous host or guest start left.
    assert_eq!(j("auto", &f, false).unwrap(), JournalAction::None);
    assert_eq!(j("no", &f, false).unwrap(), JournalAction::None);
    assert_eq!(j("host", &f, true).unwrap(), JournalAction::Host);
    let guest = JournalAction::Guest { link_to: PathBuf::from(format!("/t/var/log/journal/{ID}")) };
    assert_eq!(j("guest", &f, false).unwrap(), guest);
    // A guest journal in a throw-away layer would not last.
    assert!(j("guest", &f, true).is_err());
    assert_eq!(j("try-guest", &f, true).unwrap(), JournalAction::None);
    f.host_entry = HostEntry::Dir;
    assert_eq!(j("auto", &f, false).unwrap(), JournalAction::Host);
    assert!(j("guest", &f, false).is_err());
    assert_eq!(j("try-guest", &f, false).unwrap(), JournalAction::None);
    f.host_entry = HostEntry::Link(format!("/t/var/log/journal/{ID}").into());
    assert_eq!(j("guest", &f, false).unwrap(), guest);
    assert!(j("host", &f, false).is_err());
    // No persistent journal on the host: the try- forms do nothing.
    f.host_journal = false;
    assert_eq!(j("try-host", &f, false).unwrap(), JournalAction::None);
    let e = j("host", &f, false).unwrap_err().to_string();
    assert!(e.contains("try-host"), "{e}");
    assert!(j("sideways", &f, false).is_err());
}

#[test]
fn resolv_conf_auto_follows_the_network_and_the_tree() {
    let mut f = facts();
    assert_eq!(resolv("auto", &f, true, false).unwrap(), ResolvAction::Off);
    let host = b"nameserver 10.0.0.1\n".to_vec();
    assert_eq!(resolv("auto", &f, false, false).unwrap(), ResolvAction::Write { content: host.clone(), replace: true });
    assert_eq!(resolv("auto", &f, false, true).unwrap(), ResolvAction::Bind("/etc/resolv.conf".into()));
    f.resolv.insert("stub".into(), b"nameserver 127.0.0.53\n".to_vec());
    assert_eq!(
        resolv("auto", &f, false, true).unwrap(),
        ResolvAction::Bind("/run/systemd/resolve/stub-resolv.conf".into())
    );
    f.tree_has_resolv = false;
    assert_eq!(resolv("auto", &f, false, true).unwrap(), ResolvAction::Off, "nothing to bind onto");
    assert_eq!(resolv("copy-host", &f, true, false).unwrap(), ResolvAction::Write { content: host, replace: false });
    assert_eq!(resolv("delete", &f, false, false).unwrap(), ResolvAction::Delete);
    assert_eq!(resolv("off", &f, false, false).unwrap(), ResolvAction::Off);
    let e = resolv("copy-uplink", &f, false, false).unwrap_err().to_string();
    assert!(e.contains("/run/systemd/resolve/resolv.conf"), "{e}");
    assert!(resolv("copy-elsewhere", &f, false, false).is_err());
    assert!(resolv("move-host", &f, false, false).is_err());
    f.resolv.clear();
    assert_eq!(resolv("auto", &f, false, false).unwrap(), ResolvAction::Off, "nothing to hand on");
}

#[test]
fn timezone_modes() {
    let mut f = facts();
    assert_eq!(timezone("auto", &f, false).unwrap(), TimezoneAction::Symlink("Europe/Berlin".into()));
    assert_eq!(timezone("auto", &f, true).unwrap(), TimezoneAction::Bind("/usr/share/zoneinfo/Europe/Berlin".into()));
    assert_eq!(timezone("copy", &f, false).unwrap(), TimezoneAction::Copy(b"TZif".to_vec()));
    assert_eq!(timezone("delete", &f, false).unwrap(), TimezoneAction::Delete);
    f.tree_has_localtime = false;
    assert_eq!(timezone("auto", &f, true).unwrap(), TimezoneAction::Off, "nothing to bind onto");
    f.tree_has_zone = false;
    assert_eq!(timezone("auto", &f, false).unwrap(), TimezoneAction::Copy(b"TZif".to_vec()));
    assert!(timezone("symlink", &f, false).is_err());
    f.localtime = None;
    assert!(timezone("copy", &f, false).is_err());
    assert_eq!(timezone("auto", &f, false).unwrap(), TimezoneAction::Off, "a host without a zone hands none on");
    assert!(timezone("elsewhere", &f, false).is_err());
    assert_eq!(zone_of(Path::new("/usr/share/zoneinfo/Etc/UTC")).as_deref(), Some("Etc/UTC"));
    assert_eq!(zone_of(Path::new("../usr/share/zoneinfo/Europe/Berlin")).as_deref(), Some("Europe/Berlin"));
    assert_eq!(zone_of(Path::new("/etc/zone")), None);
    assert_eq!(zone_of(Path::new("/usr/share/zoneinfo/../x")), None);
}

#[test]
fn credentials_are_checked_and_unique() {
    let mut f = facts();
    f.credential_files.insert("/c/pw".into(), Ok(b"secret".to_vec()));
    f.credential_files.insert("/c/gone".into(), Err("No such file or directory".into()));
    let set = vec!["firstboot.locale:C.UTF-8".to_string(), "a:b:c".to_string()];
    let load = vec!["passwd.plaintext-password.root:/c/pw".to_string()];
    let c = credentials(&set, &load, &f).unwrap();
    assert_eq!(
        c,
        vec![
            ("firstboot.locale".to_string(), b"C.UTF-8".to_vec()),
            ("a".to_string(), b"b:c".to_vec()),
            ("passwd.plaintext-password.root".to_string(), b"secret".to_vec()),
        ]
    );
    assert!(credentials(&["a:1".into(), "a:2".into()], &[], &f).is_err());
    assert!(credentials(&["novalue".into()], &[], &f).is_err());
    assert!(credentials(&["../x:1".into()], &[], &f).is_err());
    assert!(credentials(&[":1".into()], &[], &f).is_err());
    let e = credentials(&[], &["x:/c/gone".into()], &f).unwrap_err().to_string();
    assert!(e.contains("/c/gone") && e.contains("No such file"), "{e}");
    assert!(credentials(&[], &["x:".into()], &f).is_err());
}
