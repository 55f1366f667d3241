# Sourced by guest-tests.sh (its helpers: check, fail, clean, wait_for).
# --network-ipvlan where the kernel has ipvlan: this VM boots Debian's
# kernel, which ships it as a module (the build host's kernel has none, so
# tests/net_move.rs can only check the error line there). On a dummy
# parent ivp0 (Debian's dummy module), `berth run --network-ipvlan=ivp0`
# gives the guest iv-ivp0, an ipvlan (the parent's MAC) and no ivp0; the
# run exits 0; after it the host has no iv-ivp0, the parent stays, and
# nothing of the machine is left. busybox (in the share) brings `ip`.

IV_BB="$SHARE/busybox"

iv_parent() {
    modprobe -q dummy || true
    modprobe -q ipvlan || true
    "$IV_BB" ip link add ivp0 type dummy || { echo "no dummy link: $(lsmod | grep -c dummy) dummy modules"; return 1; }
    "$IV_BB" ip link set ivp0 up
}

iv_run() {
    local rc=0 mac
    mac="$(cat /sys/class/net/ivp0/address)"
    timeout 60 "$BERTH" run -q -D "$TREE" -M iv --network-ipvlan=ivp0 -- /bin/sh -c \
        'echo "LINKS=$(ls /sys/class/net | tr "\n" " ")"; echo "MAC=$(cat /sys/class/net/iv-ivp0/address)"' \
        </dev/null >/tmp/iv.out 2>&1 || rc=$?
    tr -d '\r' </tmp/iv.out >/tmp/iv.txt && mv /tmp/iv.txt /tmp/iv.out
    echo "exit $rc: $(cat /tmp/iv.out)"
    [ "$rc" -eq 0 ] || return 1
    grep -q '^LINKS=.*iv-ivp0' /tmp/iv.out || { echo "the guest has no iv-ivp0"; return 1; }
    grep -Eq '^LINKS=(.* )?ivp0 ' /tmp/iv.out && { echo "the guest sees the parent ivp0"; return 1; }
    grep -qx "MAC=$mac" /tmp/iv.out || { echo "iv-ivp0 does not have the parent's MAC $mac"; return 1; }
}

iv_no_link() { ! "$IV_BB" ip link show iv-ivp0 >/dev/null 2>&1; }

iv_nothing_left() {
    clean iv machine-iv.scope || return 1
    wait_for 10 iv_no_link || { echo "iv-ivp0 left on the host: $("$IV_BB" ip link show iv-ivp0 2>&1)"; return 1; }
    "$IV_BB" ip link show ivp0 >/dev/null 2>&1 || { echo "the parent ivp0 is gone"; return 1; }
}

if ! [ -x "$IV_BB" ]; then
    for c in net-ipvlan-parent net-ipvlan-run net-ipvlan-nothing-left; do
        fail "$c" "not run: no busybox in the share"
    done
elif check net-ipvlan-parent iv_parent; then
    check net-ipvlan-run iv_run || true
    check net-ipvlan-nothing-left iv_nothing_left || true
    "$IV_BB" ip link del ivp0 2>/dev/null || true
else
    for c in net-ipvlan-run net-ipvlan-nothing-left; do
        fail "$c" "not run: no dummy parent link in the VM"
    done
fi
