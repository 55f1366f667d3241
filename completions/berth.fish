# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_berth_global_optspecs
    string join \n image-root= v/verbose log-level= h/help V/version
end

function __fish_berth_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_berth_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_berth_using_subcommand
    set -l cmd (__fish_berth_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c berth -n "__fish_berth_needs_command" -l image-root -d 'Directory of the image store (default /var/lib/machines); a verb\'s own --image-root wins' -r -F
complete -c berth -n "__fish_berth_needs_command" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_needs_command" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_needs_command" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_needs_command" -s V -l version -d 'Print version'
complete -c berth -n "__fish_berth_needs_command" -f -a "boot" -d 'Boot the tree\'s init as PID 1, like `systemd-nspawn -b`'
complete -c berth -n "__fish_berth_needs_command" -f -a "run" -d 'Run a command as PID 1 (or PID 2 with --as-pid2) in the tree'
complete -c berth -n "__fish_berth_needs_command" -f -a "gc" -d 'Remove what killed launchers left behind and say what was removed'
complete -c berth -n "__fish_berth_needs_command" -f -a "list" -d 'List the running machines'
complete -c berth -n "__fish_berth_needs_command" -f -a "status" -d 'Show a running machine\'s state, OS and processes'
complete -c berth -n "__fish_berth_needs_command" -f -a "show" -d 'Show a running machine\'s properties as key=value (or JSON)'
complete -c berth -n "__fish_berth_needs_command" -f -a "poweroff" -d 'Ask a machine\'s init to power off (SIGRTMIN+4 to its leader)'
complete -c berth -n "__fish_berth_needs_command" -f -a "reboot" -d 'Ask a machine\'s init to reboot (SIGINT to its leader)'
complete -c berth -n "__fish_berth_needs_command" -f -a "terminate" -d 'Kill every process of a machine at once, without a clean shutdown'
complete -c berth -n "__fish_berth_needs_command" -f -a "shell" -d 'Run a command (or a login shell) inside a running machine'
complete -c berth -n "__fish_berth_needs_command" -f -a "freeze" -d 'Suspend every process of a machine (cgroup freezer on payload/)'
complete -c berth -n "__fish_berth_needs_command" -f -a "thaw" -d 'Resume a frozen machine'
complete -c berth -n "__fish_berth_needs_command" -f -a "kill" -d 'Send a signal to a machine\'s processes'
complete -c berth -n "__fish_berth_needs_command" -f -a "start" -d 'Start machines as berth@NAME.service and wait until they are up'
complete -c berth -n "__fish_berth_needs_command" -f -a "stop" -d 'Stop machines running as berth@NAME.service (a clean poweroff)'
complete -c berth -n "__fish_berth_needs_command" -f -a "enable" -d 'Start machines at boot: enable berth@NAME.service (and machines.target)'
complete -c berth -n "__fish_berth_needs_command" -f -a "disable" -d 'No longer start machines at boot: disable berth@NAME.service'
complete -c berth -n "__fish_berth_needs_command" -f -a "images" -d 'List the images in the store'
complete -c berth -n "__fish_berth_needs_command" -f -a "cat" -d 'Show the settings file that applies to a machine (NAME.berth or NAME.nspawn)'
complete -c berth -n "__fish_berth_needs_command" -f -a "edit" -d 'Edit a machine\'s settings file in $EDITOR (a copy in /etc/berth, saved only when valid)'
complete -c berth -n "__fish_berth_needs_command" -f -a "clone" -d 'Copy an image to a new one (reflinked where possible), with its settings files'
complete -c berth -n "__fish_berth_needs_command" -f -a "rename" -d 'Rename an image and its settings files'
complete -c berth -n "__fish_berth_needs_command" -f -a "remove" -d 'Remove images'
complete -c berth -n "__fish_berth_needs_command" -f -a "read-only" -d 'Show, or set with true/false, whether an image is read-only (immutable)'
complete -c berth -n "__fish_berth_needs_command" -f -a "import" -d 'Create an image from a tarball (.tar, .tar.gz, .tar.xz, .tar.zst; - for stdin)'
complete -c berth -n "__fish_berth_needs_command" -f -a "export" -d 'Write an image to a tarball, compressed as its name says (- for a plain tar on stdout)'
complete -c berth -n "__fish_berth_needs_command" -f -a "pull" -d 'Build an image of a distribution with debootstrap: debian[:SUITE] (default suite bookworm)'
complete -c berth -n "__fish_berth_needs_command" -f -a "login" -d 'A login prompt on a new pty of a booted machine (^] three times to leave)'
complete -c berth -n "__fish_berth_needs_command" -f -a "copy-to" -d 'Copy a host file or directory into a running machine'
complete -c berth -n "__fish_berth_needs_command" -f -a "copy-from" -d 'Copy a file or directory out of a running machine'
complete -c berth -n "__fish_berth_needs_command" -f -a "completions" -d 'Print the completion script for bash, zsh or fish (see completions/ and scripts/install)'
complete -c berth -n "__fish_berth_needs_command" -f -a "bind" -d 'Mount a host path into a running machine'
complete -c berth -n "__fish_berth_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c berth -n "__fish_berth_using_subcommand boot" -l image-root -d 'Where NAME is looked up (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand boot" -s D -l directory -d 'Root directory of the tree' -r -F
complete -c berth -n "__fish_berth_using_subcommand boot" -s M -l machine -d 'Machine name (default: derived from the directory\'s base name)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l hostname -d 'Hostname inside the guest (default: the machine name)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l uuid -d 'Machine UUID (default: random)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -s E -l setenv -d 'Set an environment variable for the guest\'s PID 1 (NAME=VALUE)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -s u -l user -d 'Run the command as this user of the guest' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l chdir -d 'Working directory inside the guest' -r -F
complete -c berth -n "__fish_berth_using_subcommand boot" -l bind -d 'Bind-mount a host path into the guest, read-write (SRC[:DST])' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l bind-ro -d 'Bind-mount a host path into the guest, read-only (SRC[:DST])' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l tmpfs -d 'Mount a fresh tmpfs at this guest path' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l kill-signal -d 'Signal that asks the guest to shut down (default: what its init understands)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l stop-timeout -d 'Seconds to wait for the guest to stop before killing it (default 10)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l notify-ready -d 'Report readiness only when the guest\'s init sends READY=1' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l console -d 'How the console is connected' -r -f -a "interactive\t''
read-only\t''
passive\t''
pipe\t''"
complete -c berth -n "__fish_berth_using_subcommand boot" -s U -l private-users -d 'User namespace: pick (default), yes, identity, no, or BASE[:SIZE]' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l private-users-ownership -d 'How the tree\'s ownership meets the id range: map (idmapped mounts), off, or auto (default)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l layer-dir -d 'Where the writable layer of -x lives: a directory (default /var/tmp) or "tmpfs"' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l volatile -d 'Volatile root: yes (tmpfs root with the tree\'s /usr), state (tmpfs /var), overlay (tmpfs overlay), no' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l overlay -d 'Overlay host directories at a guest path: LOWER[:LOWER...]:UPPER:DEST (empty UPPER: tmpfs)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l overlay-ro -d 'Read-only overlay of host directories at a guest path: LOWER[:LOWER...]:DEST' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l template -d 'Create a missing -D tree as a copy (reflink where possible) of this one' -r -F
complete -c berth -n "__fish_berth_using_subcommand boot" -l settings -d 'Read the machine\'s settings file: yes (default; the command line wins), no, trusted (also trust one next to the image), or override (the file wins)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l register -d 'Register with systemd-machined: yes, no, or auto (default: when it is on the system bus)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -s S -l slice -d 'The slice the machine\'s scope goes in (default machine.slice)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l proc-views -d 'Serve the guest /proc/meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps and /sys/devices/system/cpu/online computed from its own cgroup limits (yes, the default, or no)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l property -d 'A resource limit for the machine\'s unit, as systemd spells it: MemoryMax=512M, TasksMax=100, CPUQuota=50%, ...' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l capability -d 'Keep these capabilities in the guest\'s bounding set too (CAP_NAME[,CAP_NAME...], or all)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l drop-capability -d 'Remove these capabilities from the guest\'s bounding set (CAP_NAME[,CAP_NAME...], or all)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l no-new-privileges -d 'Set no_new_privs for the guest\'s PID 1 and everything it starts' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l system-call-filter -d 'Allow system calls and @groups (space-separated); a leading ~ denies them instead' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l suppress-sync -d 'Make sync, fsync and friends succeed without syncing (opens with O_SYNC fail), for throw-away builds' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l rlimit -d 'A resource limit for the guest: NAME=SOFT[:HARD], e.g. NOFILE=1024:4096; infinity allowed' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l oom-score-adjust -d 'The guest\'s OOM score adjustment, -1000 to 1000' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l cpu-affinity -d 'Run the guest on these CPUs only, e.g. 0,2-3' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l network-zone -d 'A veth pair whose host side vb-NAME joins the bridge vz-ZONE, shared by the zone\'s machines (created by the first, removed with the last), with a subnet, DHCP and NAT of the zone' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l network-bridge -d 'A veth pair whose host side vb-NAME joins the existing bridge BR (berth does not address it)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -s p -l port -d 'Forward a host port to the guest (needs -n or --network-zone): from other hosts and namespaces by DNAT, from this host\'s 127.0.0.1 and ::1 (TCP) through berth itself' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l network-veth-extra -d 'One more veth pair: HOSTIF here, GUESTIF (default: the same name) in the guest; berth does not address it' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l network-namespace-path -d 'Join this existing network namespace (e.g. /run/netns/NAME) instead of creating one' -r -F
complete -c berth -n "__fish_berth_using_subcommand boot" -l network-interface -d 'Move this host interface into the guest under its name (or NEWNAME), and back under its own when the machine ends (repeatable)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l network-macvlan -d 'Give the guest a macvlan mv-IF on the host interface IF, bridge mode, stable MAC (repeatable)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l network-ipvlan -d 'Give the guest an ipvlan iv-IF on the host interface IF, L2 mode (repeatable; needs the kernel\'s ipvlan)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l link-journal -d 'Show the guest\'s journal on the host: no (default), host, try-host, guest, try-guest or auto' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l resolv-conf -d 'The guest\'s /etc/resolv.conf: off, copy-host, copy-static, copy-uplink, copy-stub, replace-*, bind-*, delete or auto (default)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l timezone -d 'The guest\'s /etc/localtime: off, copy, bind, symlink, delete or auto (default)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l set-credential -d 'Pass a credential to the guest\'s system, under /run/host/credentials' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l load-credential -d 'Pass a host file\'s contents as a credential to the guest\'s system' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l bind-user -d 'Bind a host user\'s home to /run/host/home/USER and make the user known to the guest (its ids as 60514 and up)' -r
complete -c berth -n "__fish_berth_using_subcommand boot" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand boot" -l read-only -d 'Mount the tree read-only'
complete -c berth -n "__fish_berth_using_subcommand boot" -s P -l pipe -d 'Same as --console=pipe'
complete -c berth -n "__fish_berth_using_subcommand boot" -s x -l ephemeral -d 'Run on an overlay of the tree whose changes vanish at exit'
complete -c berth -n "__fish_berth_using_subcommand boot" -s q -l quiet -d 'Say nothing but errors'
complete -c berth -n "__fish_berth_using_subcommand boot" -l keep-unit -d 'Use the service or scope berth runs in (Delegate=yes) instead of creating machine-NAME.scope'
complete -c berth -n "__fish_berth_using_subcommand boot" -l nesting -d 'Let the guest run containers of its own: with a user namespace, the /proc masks are mounted inside it (the guest may unmount them) so a nested container can mount its own procfs'
complete -c berth -n "__fish_berth_using_subcommand boot" -l private-network -d 'Give the guest a network namespace of its own with only `lo`, up'
complete -c berth -n "__fish_berth_using_subcommand boot" -s n -l network-veth -d 'A veth pair to the host: ve-NAME here, host0 in the guest, with an address, DHCP and NAT (implies --private-network)'
complete -c berth -n "__fish_berth_using_subcommand boot" -s j -d 'Same as --link-journal=try-guest'
complete -c berth -n "__fish_berth_using_subcommand boot" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand boot" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand run" -l image-root -d 'Where NAME is looked up (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand run" -s D -l directory -d 'Root directory of the tree' -r -F
complete -c berth -n "__fish_berth_using_subcommand run" -s M -l machine -d 'Machine name (default: derived from the directory\'s base name)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l hostname -d 'Hostname inside the guest (default: the machine name)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l uuid -d 'Machine UUID (default: random)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -s E -l setenv -d 'Set an environment variable for the guest\'s PID 1 (NAME=VALUE)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -s u -l user -d 'Run the command as this user of the guest' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l chdir -d 'Working directory inside the guest' -r -F
complete -c berth -n "__fish_berth_using_subcommand run" -l bind -d 'Bind-mount a host path into the guest, read-write (SRC[:DST])' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l bind-ro -d 'Bind-mount a host path into the guest, read-only (SRC[:DST])' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l tmpfs -d 'Mount a fresh tmpfs at this guest path' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l kill-signal -d 'Signal that asks the guest to shut down (default: what its init understands)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l stop-timeout -d 'Seconds to wait for the guest to stop before killing it (default 10)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l notify-ready -d 'Report readiness only when the guest\'s init sends READY=1' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l console -d 'How the console is connected' -r -f -a "interactive\t''
read-only\t''
passive\t''
pipe\t''"
complete -c berth -n "__fish_berth_using_subcommand run" -s U -l private-users -d 'User namespace: pick (default), yes, identity, no, or BASE[:SIZE]' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l private-users-ownership -d 'How the tree\'s ownership meets the id range: map (idmapped mounts), off, or auto (default)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l layer-dir -d 'Where the writable layer of -x lives: a directory (default /var/tmp) or "tmpfs"' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l volatile -d 'Volatile root: yes (tmpfs root with the tree\'s /usr), state (tmpfs /var), overlay (tmpfs overlay), no' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l overlay -d 'Overlay host directories at a guest path: LOWER[:LOWER...]:UPPER:DEST (empty UPPER: tmpfs)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l overlay-ro -d 'Read-only overlay of host directories at a guest path: LOWER[:LOWER...]:DEST' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l template -d 'Create a missing -D tree as a copy (reflink where possible) of this one' -r -F
complete -c berth -n "__fish_berth_using_subcommand run" -l settings -d 'Read the machine\'s settings file: yes (default; the command line wins), no, trusted (also trust one next to the image), or override (the file wins)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l register -d 'Register with systemd-machined: yes, no, or auto (default: when it is on the system bus)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -s S -l slice -d 'The slice the machine\'s scope goes in (default machine.slice)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l proc-views -d 'Serve the guest /proc/meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps and /sys/devices/system/cpu/online computed from its own cgroup limits (yes, the default, or no)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l property -d 'A resource limit for the machine\'s unit, as systemd spells it: MemoryMax=512M, TasksMax=100, CPUQuota=50%, ...' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l capability -d 'Keep these capabilities in the guest\'s bounding set too (CAP_NAME[,CAP_NAME...], or all)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l drop-capability -d 'Remove these capabilities from the guest\'s bounding set (CAP_NAME[,CAP_NAME...], or all)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l no-new-privileges -d 'Set no_new_privs for the guest\'s PID 1 and everything it starts' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l system-call-filter -d 'Allow system calls and @groups (space-separated); a leading ~ denies them instead' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l suppress-sync -d 'Make sync, fsync and friends succeed without syncing (opens with O_SYNC fail), for throw-away builds' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l rlimit -d 'A resource limit for the guest: NAME=SOFT[:HARD], e.g. NOFILE=1024:4096; infinity allowed' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l oom-score-adjust -d 'The guest\'s OOM score adjustment, -1000 to 1000' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l cpu-affinity -d 'Run the guest on these CPUs only, e.g. 0,2-3' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l network-zone -d 'A veth pair whose host side vb-NAME joins the bridge vz-ZONE, shared by the zone\'s machines (created by the first, removed with the last), with a subnet, DHCP and NAT of the zone' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l network-bridge -d 'A veth pair whose host side vb-NAME joins the existing bridge BR (berth does not address it)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -s p -l port -d 'Forward a host port to the guest (needs -n or --network-zone): from other hosts and namespaces by DNAT, from this host\'s 127.0.0.1 and ::1 (TCP) through berth itself' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l network-veth-extra -d 'One more veth pair: HOSTIF here, GUESTIF (default: the same name) in the guest; berth does not address it' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l network-namespace-path -d 'Join this existing network namespace (e.g. /run/netns/NAME) instead of creating one' -r -F
complete -c berth -n "__fish_berth_using_subcommand run" -l network-interface -d 'Move this host interface into the guest under its name (or NEWNAME), and back under its own when the machine ends (repeatable)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l network-macvlan -d 'Give the guest a macvlan mv-IF on the host interface IF, bridge mode, stable MAC (repeatable)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l network-ipvlan -d 'Give the guest an ipvlan iv-IF on the host interface IF, L2 mode (repeatable; needs the kernel\'s ipvlan)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l link-journal -d 'Show the guest\'s journal on the host: no (default), host, try-host, guest, try-guest or auto' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l resolv-conf -d 'The guest\'s /etc/resolv.conf: off, copy-host, copy-static, copy-uplink, copy-stub, replace-*, bind-*, delete or auto (default)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l timezone -d 'The guest\'s /etc/localtime: off, copy, bind, symlink, delete or auto (default)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l set-credential -d 'Pass a credential to the guest\'s system, under /run/host/credentials' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l load-credential -d 'Pass a host file\'s contents as a credential to the guest\'s system' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l bind-user -d 'Bind a host user\'s home to /run/host/home/USER and make the user known to the guest (its ids as 60514 and up)' -r
complete -c berth -n "__fish_berth_using_subcommand run" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand run" -l read-only -d 'Mount the tree read-only'
complete -c berth -n "__fish_berth_using_subcommand run" -s P -l pipe -d 'Same as --console=pipe'
complete -c berth -n "__fish_berth_using_subcommand run" -s x -l ephemeral -d 'Run on an overlay of the tree whose changes vanish at exit'
complete -c berth -n "__fish_berth_using_subcommand run" -s q -l quiet -d 'Say nothing but errors'
complete -c berth -n "__fish_berth_using_subcommand run" -l keep-unit -d 'Use the service or scope berth runs in (Delegate=yes) instead of creating machine-NAME.scope'
complete -c berth -n "__fish_berth_using_subcommand run" -l nesting -d 'Let the guest run containers of its own: with a user namespace, the /proc masks are mounted inside it (the guest may unmount them) so a nested container can mount its own procfs'
complete -c berth -n "__fish_berth_using_subcommand run" -l private-network -d 'Give the guest a network namespace of its own with only `lo`, up'
complete -c berth -n "__fish_berth_using_subcommand run" -s n -l network-veth -d 'A veth pair to the host: ve-NAME here, host0 in the guest, with an address, DHCP and NAT (implies --private-network)'
complete -c berth -n "__fish_berth_using_subcommand run" -s j -d 'Same as --link-journal=try-guest'
complete -c berth -n "__fish_berth_using_subcommand run" -s a -l as-pid2 -d 'Run the command as PID 2 under a stub init that reaps and forwards signals'
complete -c berth -n "__fish_berth_using_subcommand run" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand run" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand gc" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand gc" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand gc" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand list" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand list" -l json -d 'Print JSON for scripts'
complete -c berth -n "__fish_berth_using_subcommand list" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand list" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand status" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand status" -l json -d 'Print JSON for scripts (see docs/json.md)'
complete -c berth -n "__fish_berth_using_subcommand status" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand status" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand show" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand show" -l json -d 'Print JSON for scripts (see docs/json.md)'
complete -c berth -n "__fish_berth_using_subcommand show" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand show" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand poweroff" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand poweroff" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand poweroff" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand reboot" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand reboot" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand reboot" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand terminate" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand terminate" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand terminate" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand shell" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand shell" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand shell" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand freeze" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand freeze" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand freeze" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand thaw" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand thaw" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand thaw" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand kill" -s s -l signal -d 'The signal (default SIGTERM)' -r
complete -c berth -n "__fish_berth_using_subcommand kill" -l kill-whom -d 'leader (the guest\'s PID 1) or all of its processes' -r
complete -c berth -n "__fish_berth_using_subcommand kill" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand kill" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand kill" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand start" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand start" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand start" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand stop" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand stop" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand stop" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand enable" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand enable" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand enable" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand disable" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand disable" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand disable" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand images" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand images" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand images" -l json -d 'Print JSON for scripts'
complete -c berth -n "__fish_berth_using_subcommand images" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand images" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand cat" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand cat" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand cat" -l json -d 'Print JSON (name, path, trusted, text) for scripts'
complete -c berth -n "__fish_berth_using_subcommand cat" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand cat" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand edit" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand edit" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand edit" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand edit" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand clone" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand clone" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand clone" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand clone" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand rename" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand rename" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand rename" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand rename" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand remove" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand remove" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand remove" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand remove" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand read-only" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand read-only" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand read-only" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand read-only" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand import" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand import" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand import" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand import" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand export" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand export" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand export" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand export" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand pull" -l name -d 'Image name (default: the distribution, plus -SUITE when a suite is given)' -r
complete -c berth -n "__fish_berth_using_subcommand pull" -l mirror -d 'Debian mirror (default: $BERTH_MIRROR, else http://deb.debian.org/debian)' -r
complete -c berth -n "__fish_berth_using_subcommand pull" -l image-root -d 'Directory of the image store (default /var/lib/machines)' -r -F
complete -c berth -n "__fish_berth_using_subcommand pull" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand pull" -s q -l quiet -d 'Print no progress'
complete -c berth -n "__fish_berth_using_subcommand pull" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand pull" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand login" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand login" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand login" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand copy-to" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand copy-to" -l force -d 'Replace an existing DST (directories are merged)'
complete -c berth -n "__fish_berth_using_subcommand copy-to" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand copy-to" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand copy-from" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand copy-from" -l force -d 'Replace an existing DST (directories are merged)'
complete -c berth -n "__fish_berth_using_subcommand copy-from" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand copy-from" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand completions" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand completions" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand completions" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand bind" -l log-level -d 'How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG' -r -f -a "error\t''
warn\t''
info\t''
debug\t''
trace\t''"
complete -c berth -n "__fish_berth_using_subcommand bind" -l read-only -d 'Mount it read-only (the guest cannot make it writable)'
complete -c berth -n "__fish_berth_using_subcommand bind" -l mkdir -d 'Create DST (and missing parents) when it does not exist'
complete -c berth -n "__fish_berth_using_subcommand bind" -s v -l verbose -d 'Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides'
complete -c berth -n "__fish_berth_using_subcommand bind" -s h -l help -d 'Print help'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "boot" -d 'Boot the tree\'s init as PID 1, like `systemd-nspawn -b`'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "run" -d 'Run a command as PID 1 (or PID 2 with --as-pid2) in the tree'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "gc" -d 'Remove what killed launchers left behind and say what was removed'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "list" -d 'List the running machines'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "status" -d 'Show a running machine\'s state, OS and processes'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "show" -d 'Show a running machine\'s properties as key=value (or JSON)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "poweroff" -d 'Ask a machine\'s init to power off (SIGRTMIN+4 to its leader)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "reboot" -d 'Ask a machine\'s init to reboot (SIGINT to its leader)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "terminate" -d 'Kill every process of a machine at once, without a clean shutdown'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "shell" -d 'Run a command (or a login shell) inside a running machine'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "freeze" -d 'Suspend every process of a machine (cgroup freezer on payload/)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "thaw" -d 'Resume a frozen machine'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "kill" -d 'Send a signal to a machine\'s processes'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "start" -d 'Start machines as berth@NAME.service and wait until they are up'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "stop" -d 'Stop machines running as berth@NAME.service (a clean poweroff)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "enable" -d 'Start machines at boot: enable berth@NAME.service (and machines.target)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "disable" -d 'No longer start machines at boot: disable berth@NAME.service'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "images" -d 'List the images in the store'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "cat" -d 'Show the settings file that applies to a machine (NAME.berth or NAME.nspawn)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "edit" -d 'Edit a machine\'s settings file in $EDITOR (a copy in /etc/berth, saved only when valid)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "clone" -d 'Copy an image to a new one (reflinked where possible), with its settings files'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "rename" -d 'Rename an image and its settings files'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "remove" -d 'Remove images'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "read-only" -d 'Show, or set with true/false, whether an image is read-only (immutable)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "import" -d 'Create an image from a tarball (.tar, .tar.gz, .tar.xz, .tar.zst; - for stdin)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "export" -d 'Write an image to a tarball, compressed as its name says (- for a plain tar on stdout)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "pull" -d 'Build an image of a distribution with debootstrap: debian[:SUITE] (default suite bookworm)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "login" -d 'A login prompt on a new pty of a booted machine (^] three times to leave)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "copy-to" -d 'Copy a host file or directory into a running machine'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "copy-from" -d 'Copy a file or directory out of a running machine'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "completions" -d 'Print the completion script for bash, zsh or fish (see completions/ and scripts/install)'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "bind" -d 'Mount a host path into a running machine'
complete -c berth -n "__fish_berth_using_subcommand help; and not __fish_seen_subcommand_from boot run gc list status show poweroff reboot terminate shell freeze thaw kill start stop enable disable images cat edit clone rename remove read-only import export pull login copy-to copy-from completions bind help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
