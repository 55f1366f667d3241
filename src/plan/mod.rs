//! The plan of one start: every decision taken from the configuration and
//! the host's facts before anything is created. `HostFacts::probe` is the
//! only place that reads the host; `Plan::new` is pure, so plans are
//! unit-tested as data for many configurations and hosts.

pub mod host;
pub mod mounts;

use crate::error::Result;
use crate::host::cgroup::{machine_rel, Cgroups, Owner};
use crate::host::limits;
use crate::ids::shift;
use crate::ids::userns::{Ownership, Range};
use crate::settings::config::Config;
use host::HostFacts;

/// How the tree's owners meet the guest's id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeIds {
    /// Used as it is: no user namespace, an identity range, or a tree
    /// already shifted onto the range.
    AsIs,
    /// Idmapped onto the range (nothing changes on disk).
    Idmap,
    /// Shifted on disk onto the range (finishing an interrupted shift).
    Chown,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The machine's cgroups and who makes and removes them.
    pub cgroups: Cgroups,
    /// Where each `--property` takes effect.
    pub limits: limits::Plan,
    pub tree_ids: TreeIds,
    /// Every mount of the guest, in the order it is applied.
    pub mounts: Vec<mounts::Entry>,
    /// The guest's own network (net/), or None: it shares the host's.
    pub network: Option<crate::net::Settings>,
}

impl Plan {
    /// `range`: the id range reserved for the guest (None without a user
    /// namespace).
    pub fn new(cfg: &Config, facts: &HostFacts, range: Option<Range>) -> Result<Plan> {
        let owner = match (cfg.keep_unit, facts.systemd()) {
            (true, _) => Owner::Unit,
            (false, true) => Owner::Systemd,
            (false, false) => Owner::Berth,
        };
        let mut cgroups = Cgroups { owner, ..facts.cgroups.clone() };
        let limits = limits::plan(&cfg.properties, &facts.limits, &machine_rel(&cfg.name, &cfg.slice))?;
        cgroups.v1 = limits.v1.iter().map(|g| g.dir.clone()).collect();
        Ok(Plan {
            cgroups,
            limits,
            tree_ids: tree_ids(range, cfg.ownership, facts.shift, facts.can_idmap.unwrap_or(false)),
            mounts: mounts::table(cfg, facts, range),
            network: cfg.net.private().then(|| cfg.net.clone()),
        })
    }
}

/// idmap or chown: a tree shifted onto the range is used as it is, a half
/// shifted one is finished, otherwise `auto` idmaps where the filesystem
/// can and shifts on disk where it cannot.
pub fn tree_ids(range: Option<Range>, ownership: Ownership, shift: shift::State, can_idmap: bool) -> TreeIds {
    match (range, ownership) {
        (None, _) => TreeIds::AsIs,
        (Some(r), _) if r.base == 0 => TreeIds::AsIs,
        (Some(_), Ownership::Map) => TreeIds::Idmap,
        (Some(_), Ownership::Chown) => TreeIds::Chown,
        (Some(_), Ownership::Off) => TreeIds::AsIs,
        (Some(r), Ownership::Auto) => match shift {
            shift::State::Done(b) if b == r.base => TreeIds::AsIs,
            shift::State::Partial(_) => TreeIds::Chown,
            _ if can_idmap => TreeIds::Idmap,
            _ => TreeIds::Chown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::mounts::{table, Phase, Source, PROC_MASKED, PROC_READ_ONLY};
    use super::*;
    use crate::host::property::Property;
    use crate::settings::config::ConsoleMode;
    use crate::settings::config::{Bind, BindIdmap};
    use nix::mount::MsFlags;
    use std::path::{Path, PathBuf};

    /// A `run` of /bin/true in /t with a read-only bind and a tmpfs,
    /// validated the way a start validates it (no I/O: the inputs are
    /// made up).
    fn cfg() -> Config {
        let s = crate::settings::Settings {
            boot: Some(false),
            parameters: Some(vec!["/bin/true".into()]),
            machine: Some("t".into()),
            uuid: Some("0123456789abcdef0123456789abcdef".into()),
            bind_ro: Some(vec!["/etc:/mnt".into()]),
            tmpfs: Some(vec!["/var/tmp".into()]),
            console: Some(ConsoleMode::Pipe),
            quiet: Some(true),
            register: Some("no".into()),
            layer_dir: Some("tmpfs".into()),
            ..Default::default()
        };
        Config::new(&s, &crate::settings::Inputs::made_up("/t")).unwrap()
    }

    #[test]
    fn proc_masks_are_all_present_and_read_only() {
        let t = table(&cfg(), &facts(), None);
        for p in PROC_MASKED {
            let e = t.iter().find(|e| e.target == Path::new(p)).expect(p);
            assert_eq!((e.source.clone(), e.phase, e.read_only), (Source::Mask, Phase::Proc, true), "{p}");
        }
        for p in PROC_READ_ONLY.iter().chain(["/proc/sys"].iter()) {
            let e = t.iter().find(|e| e.target == Path::new(p)).expect(p);
            assert!(e.read_only && e.source == Source::Itself, "{p}");
        }
    }

    #[test]
    fn private_network_leaves_proc_sys_net_writable_after_proc_sys() {
        let t = table(&cfg(), &facts(), None);
        assert!(
            !t.iter().any(|e| e.target == Path::new("/proc/sys/net")),
            "shared network: /proc/sys/net stays read-only"
        );
        let mut c = cfg();
        c.net.private = true;
        let t = table(&c, &facts(), None);
        let pos = |p: &str| t.iter().position(|e| e.target == Path::new(p)).unwrap();
        let net = &t[pos("/proc/sys/net")];
        assert!(pos("/proc/sys") < pos("/proc/sys/net"));
        assert_eq!((net.source.clone(), net.phase, net.read_only), (Source::Itself, Phase::Proc, false));
    }

    #[test]
    fn nesting_makes_the_proc_masks_the_guests_own() {
        let mut c = cfg();
        c.nesting = true;
        let range = Some(Range { base: 524288, size: 65536 });
        let phase = |c: &Config, r: Option<Range>, p: &str| {
            table(c, &facts(), r).into_iter().find(|e| e.target == Path::new(p)).map(|e| e.phase).unwrap()
        };
        for p in PROC_MASKED.iter().chain(PROC_READ_ONLY).chain(["/proc/sys"].iter()) {
            assert_eq!(phase(&c, range, p), Phase::Inner, "{p} with --nesting");
            assert_eq!(phase(&cfg(), range, p), Phase::Proc, "{p} without --nesting stays locked");
            assert_eq!(phase(&c, None, p), Phase::Proc, "{p} without a user namespace");
        }
        assert_eq!(phase(&c, range, "/proc"), Phase::Proc, "procfs itself comes from the guest's pid namespace");
    }

    #[test]
    fn guest_owns_its_tmpfs_under_a_user_namespace() {
        let t = table(&cfg(), &facts(), Some(Range { base: 524288, size: 65536 }));
        let data = |p: &str| t.iter().find(|e| e.target == Path::new(p)).unwrap().data.clone().unwrap();
        for p in ["/dev", "/run", "/dev/shm"] {
            assert!(data(p).ends_with(",uid=524288,gid=524288"), "{p}: {}", data(p));
        }
        for p in ["/tmp", "/var/tmp"] {
            assert!(!data(p).contains("uid="), "{p} is mounted by the guest itself: {}", data(p));
        }
        assert!(data("/dev/pts").contains("gid=524293"));
        let t = table(&cfg(), &facts(), None);
        assert!(!t.iter().filter_map(|e| e.data.as_ref()).any(|d| d.contains("uid=")));
    }

    #[test]
    fn proc_comes_before_its_masks_and_sys_is_read_only() {
        let t = table(&cfg(), &facts(), None);
        let pos = |p: &str| t.iter().position(|e| e.target == Path::new(p)).unwrap();
        assert!(pos("/proc") < pos("/proc/kcore"));
        assert!(pos("/dev") < pos("/dev/pts"));
        let sys = &t[pos("/sys")];
        assert!(sys.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(t[pos("/sys/fs/cgroup")].phase, Phase::Inner);
        assert_eq!(t[pos("/dev/mqueue")].phase, Phase::Inner);
        let bind = &t[pos("/mnt")];
        assert!(bind.read_only && bind.phase == Phase::Outer);
        assert!(t.iter().all(|e| e.source != Source::Fs("cgroup")), "no v1 hierarchy is ever mounted");
    }

    /// A hybrid host like this one: no controllers in cgroup2, v1 memory
    /// and pids hierarchies, no systemd.
    fn facts() -> HostFacts {
        let v1 = |c: &str| limits::V1Hierarchy {
            controller: c.into(),
            mount: PathBuf::from(format!("/sys/fs/cgroup/{c}")),
            own: "user.slice".into(),
        };
        HostFacts {
            cgroups: Cgroups {
                hierarchy: "/sys/fs/cgroup/unified".into(),
                scope: "/sys/fs/cgroup/unified/machine.slice/machine-t.scope".into(),
                owner: Owner::Berth,
                v1: vec![],
            },
            limits: limits::CgroupFacts {
                systemd: false,
                offered: vec![],
                v1: vec![v1("memory"), v1("pids")],
                io_weight_file: None,
            },
            shift: shift::State::Unshifted,
            can_idmap: Some(true),
            bind_source_is_dir: vec![true],
        }
    }

    fn props(specs: &[&str]) -> Vec<Property> {
        specs
            .iter()
            .map(|s| crate::host::property::parse(s, &crate::host::property_values::HostTables::probe(&[])).unwrap())
            .collect()
    }

    #[test]
    fn limits_go_to_v1_on_a_hybrid_host_and_to_systemd_on_a_systemd_host() {
        let mut c = cfg();
        c.properties = props(&["MemoryMax=64M", "TasksMax=40"]);
        let p = Plan::new(&c, &facts(), None).unwrap();
        assert_eq!(p.cgroups.owner, Owner::Berth);
        assert!(p.limits.v2.is_empty() && p.limits.dbus.is_empty());
        let dirs: Vec<_> = p.limits.v1.iter().map(|g| g.dir.clone()).collect();
        assert_eq!(
            dirs,
            [
                PathBuf::from("/sys/fs/cgroup/memory/user.slice/machine.slice/machine-t.scope"),
                PathBuf::from("/sys/fs/cgroup/pids/user.slice/machine.slice/machine-t.scope")
            ]
        );
        assert_eq!(p.cgroups.v1, dirs, "the record names the v1 cgroups the plan creates");

        let mut systemd = facts();
        systemd.limits.systemd = true;
        let p = Plan::new(&c, &systemd, None).unwrap();
        assert_eq!(p.cgroups.owner, Owner::Systemd);
        assert_eq!(p.limits.dbus.len(), 2);
        assert!(p.limits.v1.is_empty() && p.limits.v2.is_empty());

        let mut v2 = facts();
        v2.limits.offered = vec!["memory".into(), "pids".into()];
        v2.limits.v1.clear();
        let p = Plan::new(&c, &v2, None).unwrap();
        assert_eq!(p.limits.v2.iter().map(|w| w.file).collect::<Vec<_>>(), ["memory.max", "pids.max"]);

        c.keep_unit = true;
        assert_eq!(Plan::new(&c, &systemd, None).unwrap().cgroups.owner, Owner::Unit);
    }

    #[test]
    fn a_limit_this_host_cannot_apply_is_refused_by_the_plan() {
        let mut c = cfg();
        c.properties = props(&["CPUWeight=200"]);
        let e = Plan::new(&c, &facts(), None).unwrap_err().to_string();
        assert!(e.contains("offers no cpu controller"), "{e}");
    }

    #[test]
    fn tree_ids_follow_the_ownership_mode_and_the_shift_state() {
        let r = Some(Range { base: 524288, size: 65536 });
        let un = shift::State::Unshifted;
        assert_eq!(tree_ids(None, Ownership::Auto, un, true), TreeIds::AsIs);
        assert_eq!(tree_ids(Some(Range { base: 0, size: 65536 }), Ownership::Map, un, true), TreeIds::AsIs);
        assert_eq!(tree_ids(r, Ownership::Map, un, false), TreeIds::Idmap);
        assert_eq!(tree_ids(r, Ownership::Chown, un, true), TreeIds::Chown);
        assert_eq!(tree_ids(r, Ownership::Off, un, true), TreeIds::AsIs);
        assert_eq!(tree_ids(r, Ownership::Auto, un, true), TreeIds::Idmap);
        assert_eq!(tree_ids(r, Ownership::Auto, un, false), TreeIds::Chown);
        assert_eq!(tree_ids(r, Ownership::Auto, shift::State::Done(524288), true), TreeIds::AsIs);
        assert_eq!(tree_ids(r, Ownership::Auto, shift::State::Done(1 << 20), true), TreeIds::Idmap);
        assert_eq!(tree_ids(r, Ownership::Auto, shift::State::Partial(524288), true), TreeIds::Chown);
    }

    #[test]
    fn the_mount_list_is_built_once_from_the_facts() {
        let mut c = cfg();
        c.binds.push(Bind {
            source: "/etc/hostname".into(),
            target: "/etc/host-name".into(),
            read_only: true,
            recursive: false,
            idmap: BindIdmap::None,
        });
        let f = HostFacts { bind_source_is_dir: vec![true, false], ..facts() };
        let p = Plan::new(&c, &f, None).unwrap();
        let create = |t: &str| p.mounts.iter().find(|e| e.target == Path::new(t)).unwrap().create;
        assert_eq!(create("/mnt"), mounts::Create::Dir);
        assert_eq!(create("/etc/host-name"), mounts::Create::File, "a file bind gets a file to mount on");
        assert!(p.network.is_none());
        let mut c = cfg();
        c.net = crate::net::Settings { private: true, veth: true, ..Default::default() };
        let p = Plan::new(&c, &facts(), None).unwrap();
        assert_eq!(p.network, Some(c.net.clone()));
    }
}
