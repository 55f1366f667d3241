# Sourced by guest-tests.sh: host links given to a machine on a systemd host
# whose Debian kernel has ipvlan (the build host's kernel lacks it;
# tests/net_move.rs covers the rest there). berth makes the parent link
# itself: machine hlp's --network-veth-extra pair leaves hlvx on this host.
# Every machine here is --read-only so they share the tree.

hl_parent_up() {
    bg_berth hlp run -q -P --read-only -D "$TREE" -M hlp --network-veth-extra=hlvx:hlvy -- /bin/sleep 300
    wait_bg "$(cat /run/berth-vm/hlp.pid)" 60 test -e /sys/class/net/hlvx ||
        { echo "no hlvx on the host: $(tail -3 "$SHARE/berth-hlp.log")"; return 1; }
}

# hl_sees NAME LINK OPTION: machine NAME, started with OPTION, has LINK.
hl_sees() {
    local out
    out="$("$BERTH" run -q -P --read-only -D "$TREE" -M "$1" "$3" -- /bin/ls /sys/class/net </dev/null 2>&1)" ||
        { echo "berth failed: $out"; return 1; }
    grep -qx "$2" <<<"$out" || { echo "no $2 in the guest: $out"; return 1; }
    [ ! -e "/run/berth/machines/$1" ] || { echo "record of $1 left"; return 1; }
}

hl_ipvlan() { hl_sees hliv iv-hlvx --network-ipvlan=hlvx; }

hl_moved_back() {
    hl_sees hlmv hlvx --network-interface=hlvx || return 1
    test -e /sys/class/net/hlvx || { echo "hlvx is not back on the host"; return 1; }
    local left
    left="$(ls /run/berth/netns/guest /run/berth/netns/host 2>/dev/null; grep ' /run/berth/netns' /proc/self/mountinfo)"
    [ -z "$left" ] || { echo "left under /run/berth/netns: $left"; return 1; }
}

hl_parent_down() {
    local pid
    pid="$(cat /run/berth-vm/hlp.pid)"
    kill -TERM "$pid"
    wait_for 30 sh -c "! kill -0 $pid" || { echo "hlp did not stop"; return 1; }
    clean hlp machine-hlp.scope
}

if check net-links-parent hl_parent_up; then
    check net-links-ipvlan hl_ipvlan || true
    check net-links-interface-moved-back hl_moved_back || true
fi
check net-links-nothing-left hl_parent_down || true
