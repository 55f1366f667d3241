# Sourced by guest-tests.sh (its helpers: check, fail, bg_berth, stop_bg,
# clean, guest_running, wait_for, wait_bg). berth on a host whose
# systemd-networkd manages the ve- links (Debian's 80-container-ve.network:
# an address from its pool, a DHCP server, IPMasquerade=both): berth must
# leave the link to it. The VM starts networkd (Debian's systemd package
# has it), the guest tree gets networkd enabled, `berth boot -n` runs it;
# the guest takes its address from the host's networkd, the host reaches
# it by ping, berth's record holds no subnet and no nf_tables chain of its
# own; after the stop nothing is left and the VM's networkd stops again.
# busybox (Debian's busybox-static, copied into the share by tests/vm.rs)
# brings `ip` and `ping`, which the image does not have.

BB="$SHARE/busybox"
ND_WANTS=("multi-user.target.wants/systemd-networkd.service" "sockets.target.wants/systemd-networkd.socket")

nd_host_networkd() {
    systemctl start systemd-networkd.socket systemd-networkd.service || return 1
    wait_for 30 systemctl is-active -q systemd-networkd.service ||
        { echo "systemd-networkd is $(systemctl show systemd-networkd -p ActiveState --value)"; return 1; }
    [ -e /usr/lib/systemd/network/80-container-ve.network ] || [ -e /lib/systemd/network/80-container-ve.network ] ||
        { echo "no 80-container-ve.network"; return 1; }
}

nd_enable_in_tree() {
    local w
    for w in "${ND_WANTS[@]}"; do
        mkdir -p "$TREE/etc/systemd/system/${w%/*}"
        [ -e "$TREE/etc/systemd/system/$w" ] || [ -L "$TREE/etc/systemd/system/$w" ] ||
            { ln -s "/lib/systemd/system/${w##*/}" "$TREE/etc/systemd/system/$w" && touch "/run/berth-vm/nd-enabled-${w##*/}"; }
    done
}

nd_disable_in_tree() {
    local w
    for w in "${ND_WANTS[@]}"; do
        [ ! -e "/run/berth-vm/nd-enabled-${w##*/}" ] || rm -f "$TREE/etc/systemd/system/$w" "/run/berth-vm/nd-enabled-${w##*/}"
    done
}

# nd_guest_addr: the guest's IPv4 address on host0 from DHCP, once it has
# one (not the 169.254/16 one of LinkLocalAddressing=yes).
nd_guest_addr() {
    local leader
    leader="$(machinectl show nd -p Leader --value 2>/dev/null)" || return 1
    [ -n "$leader" ] || return 1
    nsenter -t "$leader" -n "$BB" ip -4 -o addr show dev host0 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | grep -v '^169\.254\.' | head -n1
}

nd_has_addr() { [ -n "$(nd_guest_addr)" ]; }

nd_dhcp_from_networkd() {
    local a=""
    wait_for 60 nd_has_addr || true
    a="$(nd_guest_addr)"
    [ -n "$a" ] || { echo "host0 has no IPv4 address; networkctl: $(networkctl status ve-nd --no-pager 2>&1 | head -12)"; return 1; }
    echo "guest address $a"
    echo "$a" > /run/berth-vm/nd.addr
    # networkd addresses the host side and knows the lease it gave.
    local s
    s="$(networkctl status ve-nd --no-pager 2>&1)"
    grep -q 'State: routable (configured)' <<<"$s" || { echo "ve-nd not configured by networkd: $s"; return 1; }
    # On the subnet networkd put on ve-nd (its connected route), so from
    # networkd's DHCP server.
    "$BB" ip -4 route get "$a" 2>&1 | grep -q 'dev ve-nd' ||
        { echo "$a is not on ve-nd's subnet: $("$BB" ip -4 -o addr show dev ve-nd 2>&1)"; return 1; }
}

nd_ping() {
    local a
    a="$(cat /run/berth-vm/nd.addr 2>/dev/null)"
    [ -n "$a" ] || { echo "no guest address"; return 1; }
    "$BB" ping -c1 -W3 "$a"
}

nd_berth_kept_out() {
    local r
    r="$(cat /run/berth/machines/nd 2>&1)"
    grep -q '"link":"ve-nd"' <<<"$r" || { echo "the record names no ve-nd: $r"; return 1; }
    ! grep -Eq '"(subnet|nft|nft6|lock|ports)":' <<<"$r" || { echo "berth addressed or masqueraded the link itself: $r"; return 1; }
}

nd_no_link() { ! "$BB" ip link show ve-nd >/dev/null 2>&1; }

nd_nothing_left() {
    clean nd machine-nd.scope || return 1
    wait_for 10 nd_no_link || { echo "ve-nd left: $("$BB" ip link show ve-nd 2>&1)"; return 1; }
}

if ! [ -x "$BB" ]; then
    for c in net-networkd-host net-networkd-boot net-networkd-dhcp net-networkd-ping net-networkd-berth-kept-out \
        net-networkd-stop net-networkd-nothing-left; do
        fail "$c" "not run: no busybox in the share"
    done
elif check net-networkd-host nd_host_networkd; then
    nd_enable_in_tree
    bg_berth nd boot -q -D "$TREE" -M nd -n
    if check net-networkd-boot guest_running nd; then
        check net-networkd-dhcp nd_dhcp_from_networkd || true
        check net-networkd-ping nd_ping || true
        check net-networkd-berth-kept-out nd_berth_kept_out || true
        check net-networkd-stop stop_bg nd || true
    else
        for c in net-networkd-dhcp net-networkd-ping net-networkd-berth-kept-out net-networkd-stop; do
            fail "$c" "not run: the guest did not boot"
        done
        stop_bg nd || kill_bg nd
    fi
    check net-networkd-nothing-left nd_nothing_left || true
    nd_disable_in_tree
else
    for c in net-networkd-boot net-networkd-dhcp net-networkd-ping net-networkd-berth-kept-out net-networkd-stop \
        net-networkd-nothing-left; do
        fail "$c" "not run: systemd-networkd did not start in the VM"
    done
fi
systemctl stop systemd-networkd.service systemd-networkd.socket 2>/dev/null || true
