//! What each settings-file key does, in one line, for the key table of
//! berth.settings(5). The keys themselves (section, name, command-line
//! twin, trust) come from settings/keys.rs; a key there without a line
//! here fails `scripts/gen-docs` and this module's test.

/// The line for `[section] name`; `Limit*` stands for every rlimit key.
pub fn what(section: &str, name: &str) -> Option<&'static str> {
    Some(match (section, name) {
        ("Exec", "Boot") => "yes boots the tree's init as PID 1 (as berth boot), no runs Parameters= (as berth run)",
        ("Exec", "ProcessTwo") => "run the command as PID 2 under berth's stub init",
        ("Exec", "Parameters") => "the init's arguments, or the command and its arguments (words, quotes group)",
        ("Exec", "Environment") => "NAME=VALUE in PID 1's environment (repeatable)",
        ("Exec", "User") => "run the command as this user of the guest",
        ("Exec", "WorkingDirectory") => "the command's working directory in the guest (absolute)",
        ("Exec", "Capability") => "keep these capabilities in the bounding set as well",
        ("Exec", "DropCapability") => "remove these capabilities from the bounding set",
        ("Exec", "NoNewPrivileges") => "set no_new_privs for the guest",
        ("Exec", "KillSignal") => "the signal that asks the guest to shut down",
        ("Exec", "Hostname") => "the guest's hostname",
        ("Exec", "MachineID") => "the machine's UUID",
        ("Exec", "PrivateUsers") => "the user namespace: pick, yes, identity, no or BASE[:SIZE]",
        ("Exec", "NotifyReady") => "report ready only once the guest's init sends READY=1",
        ("Exec", "SystemCallFilter") => "allow (or with ~, deny) system calls and @groups beyond the default filter",
        ("Exec", "Limit*") => "an rlimit of the guest, e.g. LimitNOFILE=1024:4096",
        ("Exec", "OOMScoreAdjust") => "the guest's OOM score adjustment, -1000 to 1000",
        ("Exec", "CPUAffinity") => "run the guest on these CPUs only",
        ("Exec", "Ephemeral") => "run on an overlay of the tree whose changes vanish at exit",
        ("Exec", "SuppressSync") => "sync and fsync succeed without syncing",
        ("Exec", "LinkJournal") => "the guest's journal seen from the host",
        ("Exec", "ResolvConf") => "how the guest's /etc/resolv.conf is made",
        ("Exec", "Timezone") => "how the guest's /etc/localtime is made",
        ("Exec", "SetCredential") => "a credential ID:VALUE for the guest's system",
        ("Exec", "LoadCredential") => "a credential ID:PATH read from a host file",
        ("Exec", "ProcViews") => "the guest's /proc and /sys views of its own limits (berth's own key)",
        ("Files", "ReadOnly") => "mount the tree read-only",
        ("Files", "Volatile") => "a throw-away root: yes, state, overlay or no",
        ("Files", "Bind") => "bind a host path into the guest, read-write: SRC[:DST[:OPTIONS]]",
        ("Files", "BindReadOnly") => "bind a host path into the guest, read-only",
        ("Files", "TemporaryFileSystem") => "a fresh tmpfs at a guest path",
        ("Files", "Overlay") => "overlayfs of host directories at a guest path",
        ("Files", "OverlayReadOnly") => "a read-only overlayfs of host directories",
        ("Files", "BindUser") => "bind a host user's home and make the user known to the guest",
        ("Files", "PrivateUsersOwnership") => "how the tree's owners meet the id range: auto, map, chown or off",
        ("Network", "Private") => "a network namespace of the guest's own with only lo",
        ("Network", "VirtualEthernet") => "a veth pair to the host with an address, DHCP and NAT",
        ("Network", "VirtualEthernetExtra") => "one more veth pair HOSTIF[:GUESTIF], not addressed",
        ("Network", "Bridge") => "a veth pair whose host side joins this existing bridge",
        ("Network", "Zone") => "a veth pair on the bridge vz-ZONE shared by the zone's machines",
        ("Network", "Port") => "forward a host port to the guest: [tcp|udp:]HOSTPORT[:GUESTPORT]",
        ("Network", "Interface") => {
            "host interfaces moved into the guest and back at exit (space-separated IF or IF:NEWNAME)"
        }
        ("Network", "MACVLAN") => "a macvlan mv-IF on each host interface named (space-separated)",
        ("Network", "IPVLAN") => "an ipvlan iv-IF on each host interface named (space-separated)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::settings::keys::{self, KEYS};

    #[test]
    fn every_key_has_a_line() {
        for k in KEYS {
            assert!(super::what(k.section, k.name).is_some(), "[{}] {} has no line", k.section, k.name);
        }
        let limit = keys::find("Exec", "LimitNOFILE").unwrap();
        assert!(super::what(limit.section, limit.name).is_some());
    }
}
