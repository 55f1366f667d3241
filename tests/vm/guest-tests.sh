#!/bin/bash
# The checks of the real-systemd-host tier, run inside the VM that tests/vm.rs
# boots (systemd as PID 1, cgroup v2 only, machined on the bus) by
# berth-vm-test.service, which powers the VM off when this script ends.
#
# The host's share (/mnt/host) brings the berth binary and units/berth@.service
# under test; this script writes back
#   results    one line per check: "ok NAME" or "FAIL NAME: detail"
#   guest.log  everything the checks ran and printed
#   journal    the VM's journal
#   status     "done" once every check has run
# machinectl and systemctl are the clients, as on any systemd host. A check
# that cannot run because an earlier step failed is reported as FAIL too, so
# the host sees the whole list every time.
set -euo pipefail

SHARE=/mnt/host
TREE=/var/lib/machines/deb
BERTH=/usr/local/bin/berth
CG=/sys/fs/cgroup

: > "$SHARE/results"
: > "$SHARE/status"
exec 3>&1                                # the unit's stdout: journal and console
exec >> "$SHARE/guest.log" 2>&1

log() { echo "[$(date +%T)] $*"; }

ok() {
    echo "ok $1" >> "$SHARE/results"
    log "ok $1"
    echo "berth-vm: ok $1" >&3
}

fail() { # fail NAME DETAIL...: the detail becomes one line of at most 600 characters
    local name="$1" detail
    shift
    detail="$(printf '%s' "$*" | tr '\n\t' '  ' | tr -s ' ' | cut -c1-600)"
    echo "FAIL $name: $detail" >> "$SHARE/results"
    log "FAIL $name: $detail"
    echo "berth-vm: FAIL $name: $detail" >&3
}

# check NAME CMD...: ok when CMD succeeds, else FAIL with what CMD printed.
check() {
    local name="$1" out
    shift
    log "-- $name: $*"
    if out="$("$@" 2>&1)"; then
        [ -z "$out" ] || printf '%s\n' "$out"
        ok "$name"
    else
        printf '%s\n' "$out"
        fail "$name" "$out"
        return 1
    fi
}

# wait_for SECS CMD...: polls CMD twice a second until it succeeds.
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.5
    done
}

# wait_bg PID SECS CMD...: like wait_for, but gives up as soon as PID exits.
wait_bg() {
    local pid="$1" end=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.5
    done
}

machine_listed() { machinectl list --no-legend 2>/dev/null | awk '{ print $1 }' | grep -qx "$1"; }
machine_state() { machinectl show "$1" -p State --value 2>/dev/null; }
machine_running() { [ "$(machine_state "$1")" = running ]; }

# unit_stopped UNIT: inactive or failed; not still deactivating.
unit_stopped() {
    case "$(systemctl show "$1" -p ActiveState --value)" in inactive | failed) return 0 ;; *) return 1 ;; esac
}

unit_log() { journalctl -b --no-pager -o cat -n "${2:-12}" -u "$1" 2>&1 | tail -n "${2:-12}"; }

# berth processes running now (the tests start no other ones concurrently).
# One find, not a readlink per process: forks are slow in an emulated VM.
berth_pids() {
    find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$BERTH" 2>/dev/null | cut -d/ -f3
}

# nothing_left NAME UNIT: nothing of machine NAME remains: not in machinectl
# list, UNIT and machine-NAME.scope not active or failed, no cgroup of either
# anywhere in the hierarchy, no berth record, no berth process.
nothing_left() {
    local n="$1" unit="$2" out="" u st d p
    machine_listed "$n" && out+="still in machinectl list (State=$(machine_state "$n")); "
    for u in "$unit" "machine-$n.scope"; do
        st="$(systemctl show "$u" -p ActiveState --value 2>/dev/null)"
        case "$st" in inactive | "") ;; *) out+="$u is $st; " ;; esac
    done
    d="$(find "$CG" -maxdepth 3 -type d \( -name "machine-$n.scope" -o -name "$unit" \) 2>/dev/null | tr '\n' ' ')"
    [ -z "$d" ] || out+="cgroups left: $d; "
    for p in "/run/berth/machines/$n" "/run/berth/machines/.$n.tmp"; do
        [ ! -e "$p" ] || out+="record left: $p; "
    done
    p="$(berth_pids | tr '\n' ' ')"
    [ -z "$p" ] || out+="berth processes left: $p; "
    [ -z "$out" ] || { echo "$out"; return 1; }
}

# clean NAME UNIT: nothing_left, allowing a few seconds for stragglers.
clean() {
    wait_for 10 nothing_left "$1" "$2" || nothing_left "$1" "$2"
}

# guest_running NAME: the guest's own systemd finished booting (asked again
# while its bus is not up yet).
guest_running() {
    local s end=$((SECONDS + 120))
    while :; do
        s="$(timeout 120 "$BERTH" shell "$1" /bin/systemctl is-system-running --wait </dev/null 2>&1 | tr -d '\r')"
        case "$s" in
            running) return 0 ;;
            *"Failed to connect to bus"*) [ "$SECONDS" -lt "$end" ] && sleep 1 && continue ;;
        esac
        echo "guest state: $s"
        return 1
    done
}

# bg_berth NAME ARGS...: `berth ARGS` in the background, its output in
# $SHARE/berth-NAME.log, its pid in /run/berth-vm/NAME.pid and, once it has
# exited, its status in NAME.rc (the checks run in subshells, which cannot
# `wait` for it).
bg_berth() {
    local n="$1"
    shift
    mkdir -p /run/berth-vm
    rm -f "/run/berth-vm/$n.pid" "/run/berth-vm/$n.rc"
    (
        "$BERTH" "$@" </dev/null >"$SHARE/berth-$n.log" 2>&1 3>&- &
        echo $! > "/run/berth-vm/$n.pid"
        rc=0
        wait $! || rc=$?
        echo "$rc" > "/run/berth-vm/$n.rc"
    ) </dev/null >/dev/null 2>&1 &
    until [ -s "/run/berth-vm/$n.pid" ]; do sleep 0.1; done
}

# stop_bg NAME: powers the guest of a bg_berth off through machinectl (berth
# itself when machined does not know it) and wants berth to exit 0 within
# 60 s; kills it otherwise.
stop_bg() {
    local n="$1" pid rc
    pid="$(cat "/run/berth-vm/$n.pid")"
    if machine_listed "$n"; then
        machinectl poweroff "$n" || true
    else
        "$BERTH" poweroff "$n" || true
    fi
    if ! wait_for 60 test -s "/run/berth-vm/$n.rc"; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "berth (pid $pid) did not exit within 60 s of the poweroff request; killed"
        return 1
    fi
    rc="$(cat "/run/berth-vm/$n.rc")"
    [ "$rc" -eq 0 ] || { echo "berth exited $rc: $(tail -3 "$SHARE/berth-$n.log")"; return 1; }
}

# terminate_bg NAME: machinectl terminate, which makes systemd stop the
# machine's scope. systemd sends RequestStop to the scope's controller (a
# berth process) instead of killing everything in it, so berth must power
# the guest off cleanly and exit 0, as after a SIGTERM.
terminate_bg() {
    local n="$1" pid rc
    pid="$(cat "/run/berth-vm/$n.pid")"
    machinectl terminate "$n" || return 1
    if ! wait_for 60 test -s "/run/berth-vm/$n.rc"; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "berth (pid $pid) did not exit within 60 s of machinectl terminate; killed"
        return 1
    fi
    rc="$(cat "/run/berth-vm/$n.rc")"
    [ "$rc" -eq 0 ] || { echo "berth exited $rc (not a clean poweroff): $(tail -3 "$SHARE/berth-$n.log")"; return 1; }
    wait_for 30 sh -c "! systemctl is-active -q machine-$n.scope" || { echo "machine-$n.scope still active"; return 1; }
}

# kill_bg NAME: ends a bg_berth that is no use any more.
kill_bg() {
    kill -KILL "$(cat "/run/berth-vm/$1.pid")" 2>/dev/null || true
    wait_for 10 test -s "/run/berth-vm/$1.rc" || true
}

# ---------------------------------------------------------------------------
log "VM up: $(uname -r), $(systemctl --version | head -1)"

vm_running() {
    local s
    s="$(timeout 180 systemctl is-system-running --wait 2>&1 || true)"
    [ "$s" = running ] || { echo "VM state $s; failed: $(systemctl --failed --no-legend --plain | tr '\n' ' ')"; return 1; }
}
check vm-system-running vm_running || true

install_berth() {
    install -m 0755 "$SHARE/berth" "$BERTH"
    install -m 0644 "$SHARE/berth@.service" /etc/systemd/system/berth@.service
    systemctl daemon-reload
    "$BERTH" --version
}
if ! check install install_berth; then
    echo done > "$SHARE/status"
    exit 0
fi

# ---- berth@deb.service: start, machinectl, poweroff, start, terminate -----

start_unit() {
    timeout 150 systemctl start berth@deb.service || { echo "systemctl start failed:"; unit_log berth@deb.service; return 1; }
    systemctl is-active -q berth@deb.service || { echo "not active:"; unit_log berth@deb.service; return 1; }
}
listed_and_running() {
    wait_for 60 machine_listed deb || { echo "deb not in machinectl list: $(machinectl list --no-legend)"; return 1; }
    wait_for 60 machine_running deb || { echo "State=$(machine_state deb)"; return 1; }
}

if check unit-start start_unit; then
    check machinectl-list-running listed_and_running || true
    check guest-booted guest_running deb || true

    status_deb() {
        local s
        s="$(machinectl status deb --no-pager 2>&1)" || { echo "$s"; return 1; }
        echo "$s"
        grep -q "Leader:" <<<"$s" || { echo "no Leader: line"; return 1; }
    }
    check machinectl-status status_deb || true

    shell_deb() {
        local s
        s="$(timeout 60 machinectl shell deb /bin/sh -c 'echo berth-vm-hi' </dev/null 2>&1 | tr -d '\r')"
        grep -qx berth-vm-hi <<<"$s" || { echo "output: $s"; return 1; }
    }
    check machinectl-shell shell_deb || true

    delegate_slice() {
        local s
        s="$(systemctl show berth@deb.service -p Delegate -p Slice | sort | tr '\n' ' ')"
        [ "$s" = "Delegate=yes Slice=machine.slice " ] || { echo "got: $s"; return 1; }
    }
    check unit-delegate-slice delegate_slice || true

    # --keep-unit: the service's own cgroup is the machine's.
    keep_unit() {
        local s
        s="$(machinectl show deb -p Unit --value 2>&1)"
        [ "$s" = berth@deb.service ] || { echo "machinectl show deb -p Unit: $s"; return 1; }
    }
    check keep-unit keep_unit || true

    poweroff_deb() {
        machinectl poweroff deb || return 1
        wait_for 60 unit_stopped berth@deb.service || { echo "not stopped after 60 s"; return 1; }
        local s
        s="$(systemctl show berth@deb.service -p ActiveState -p Result | sort | tr '\n' ' ')"
        [ "$s" = "ActiveState=inactive Result=success " ] || { echo "got: $s"; unit_log berth@deb.service; return 1; }
    }
    check poweroff poweroff_deb || systemctl stop berth@deb.service || true
    check poweroff-nothing-left clean deb berth@deb.service || true
else
    for c in machinectl-list-running guest-booted machinectl-status machinectl-shell unit-delegate-slice keep-unit \
        poweroff poweroff-nothing-left; do
        fail "$c" "not run: systemctl start berth@deb failed"
    done
    systemctl stop berth@deb.service || true
    systemctl reset-failed berth@deb.service || true
fi

systemctl reset-failed berth@deb.service 2>/dev/null || true
if check unit-restart start_unit; then
    terminate_deb() {
        wait_for 30 machine_running deb || { echo "State=$(machine_state deb)"; return 1; }
        guest_running deb || true
        machinectl terminate deb || return 1
        wait_for 60 unit_stopped berth@deb.service || { echo "not stopped after 60 s"; return 1; }
        local s
        s="$(systemctl show berth@deb.service -p ActiveState -p Result | sort | tr '\n' ' ')"
        [ "$s" = "ActiveState=inactive Result=success " ] || { echo "got: $s"; unit_log berth@deb.service; return 1; }
    }
    check terminate terminate_deb || systemctl stop berth@deb.service || true
    check terminate-nothing-left clean deb berth@deb.service || true
else
    fail terminate "not run: the second systemctl start berth@deb failed"
    fail terminate-nothing-left "not run: the second systemctl start berth@deb failed"
    systemctl stop berth@deb.service || true
fi
systemctl reset-failed berth@deb.service 2>/dev/null || true

# ---- machines as services: berth start|stop|enable|disable, the journal ----
. "$SHARE/checks-services.sh"

# ---- limits through --property ---------------------------------------------

scope=machine.slice/machine-lim.scope
bg_berth lim boot -q -D "$TREE" -M lim --property MemoryMax=64M --property TasksMax=50
lim="$(cat /run/berth-vm/lim.pid)"
lim_up() {
    wait_bg "$lim" 60 sh -c "systemctl is-active -q machine-lim.scope && machinectl show lim >/dev/null" || {
        echo "machine-lim.scope is $(systemctl show machine-lim.scope -p ActiveState --value);" \
            "berth: $(kill -0 $lim 2>/dev/null && echo running || echo exited): $(tail -5 "$SHARE/berth-lim.log")"
        return 1
    }
}
if check lim-start lim_up; then
    lim_props() {
        local s
        s="$(systemctl show machine-lim.scope -p Delegate -p Slice -p MemoryMax -p TasksMax | sort | tr '\n' ' ')"
        [ "$s" = "Delegate=yes MemoryMax=67108864 Slice=machine.slice TasksMax=50 " ] || { echo "got: $s"; return 1; }
    }
    check lim-scope-properties lim_props || true

    lim_files() {
        local m t
        m="$(cat "$CG/$scope/memory.max" 2>&1)"
        t="$(cat "$CG/$scope/pids.max" 2>&1)"
        [ "$m $t" = "67108864 50" ] || { echo "memory.max=$m pids.max=$t"; return 1; }
    }
    check lim-cgroup-limits lim_files || true
    check lim-guest-booted guest_running lim || true

    leader="$(machinectl show lim -p Leader --value 2>/dev/null || true)"
    alive() { # what of the machine died, if anything
        local out=""
        kill -0 "$lim" 2>/dev/null || out+="the berth launcher died; "
        systemctl is-active -q machine-lim.scope || out+="machine-lim.scope is $(systemctl show machine-lim.scope -p ActiveState --value); "
        [ -n "$leader" ] && kill -0 "$leader" 2>/dev/null || out+="the guest's PID 1 ($leader) died; "
        [ -z "$out" ] || { echo "$out"; return 1; }
    }

    oom() {
        local before after s
        before="$(awk '$1 == "oom_kill" { print $2 }' "$CG/$scope/memory.events")"
        s="$(timeout 120 "$BERTH" shell lim /bin/sh -c 'head -c 200M /dev/zero | tail >/dev/null; echo "tail-status=$?"' \
            </dev/null 2>&1 | tr -d '\r')"
        after="$(awk '$1 == "oom_kill" { print $2 }' "$CG/$scope/memory.events" 2>/dev/null || echo gone)"
        echo "shell said: $s; oom_kill $before -> $after"
        grep -qx 'tail-status=137' <<<"$s" || { echo "the allocation was not killed by SIGKILL"; return 1; }
        [ "$after" != gone ] && [ "$after" -gt "$before" ] || { echo "no OOM kill in the scope"; return 1; }
        sleep 2
        alive
    }
    check lim-oom-kills-allocation-launcher-survives oom || true

    tasks() {
        local s cur max peak
        # The sleeps let go of the shell's terminal, or it stays open until they end.
        s="$(timeout 60 "$BERTH" shell lim /bin/sh -c \
            'n=0; while [ $n -lt 200 ]; do sleep 25 </dev/null >/dev/null 2>&1 & n=$((n+1)); echo "forked=$n"; done' \
            </dev/null 2>&1 |
            tr -d '\r' | grep -E 'forked=|fork' | tail -2 | tr '\n' ' ')"
        cur="$(cat "$CG/$scope/pids.current")"
        max="$(awk '$1 == "max" { print $2 }' "$CG/$scope/pids.events")"
        peak="$(cat "$CG/$scope/pids.peak" 2>/dev/null || echo "$cur")"
        echo "shell said: $s; pids.current=$cur pids.peak=$peak pids.events max=$max;" \
            "lower limits inside: $(grep -rvx max --include=pids.max "$CG/$scope" | sed "s|$CG/$scope/||" | tr '\n' ' ')"
        # The sleeps go away by themselves; the machine must not.
        for p in $(cat $(find "$CG/$scope" -name cgroup.procs)); do
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] && kill "$p" 2>/dev/null
        done
        # Stopped by the machine's TasksMax=50, not by some lower limit first.
        [ "$peak" -le 50 ] && [ "${max:-0}" -gt 0 ] || { echo "tasks were not capped at 50"; return 1; }
        [ "$peak" -ge 45 ] || { echo "the fork bomb stopped at $peak tasks, short of the machine's 50"; return 1; }
        alive
    }
    check lim-tasks-capped tasks || true

    check lim-poweroff stop_bg lim || true
    check lim-nothing-left clean lim machine-lim.scope || true
else
    for c in lim-scope-properties lim-cgroup-limits lim-guest-booted lim-oom-kills-allocation-launcher-survives \
        lim-tasks-capped lim-poweroff; do
        fail "$c" "not run: berth boot -M lim did not come up"
    done
    kill_bg lim
    check lim-nothing-left clean lim machine-lim.scope || true
fi

# ---- --slice ---------------------------------------------------------------

bg_berth sl boot -q -D "$TREE" -M sl --slice foo.slice
sl="$(cat /run/berth-vm/sl.pid)"
in_foo_slice() {
    wait_bg "$sl" 60 sh -c "[ \"\$(systemctl show machine-sl.scope -p Slice --value)\" = foo.slice ] &&
        [ -d $CG/foo.slice/machine-sl.scope ]" || {
        echo "machine-sl.scope: $(systemctl show machine-sl.scope -p ActiveState -p Slice | tr '\n' ' ');" \
            "cgroups: $(find "$CG" -maxdepth 3 -type d -name machine-sl.scope | tr '\n' ' ');" \
            "berth: $(kill -0 $sl 2>/dev/null && echo running || echo exited): $(tail -5 "$SHARE/berth-sl.log")"
        return 1
    }
}
if check slice-custom in_foo_slice; then
    guest_running sl || true
    check slice-terminate terminate_bg sl || true
else
    fail slice-terminate "not run: the machine did not come up in foo.slice"
    if kill -0 "$sl" 2>/dev/null; then stop_bg sl || kill_bg sl; fi
fi
check slice-nothing-left clean sl machine-sl.scope || true

bad_slice() {
    local rc=0 lines
    timeout 60 "$BERTH" boot -q -D "$TREE" -M badslice --slice notaslice </dev/null >/tmp/bad.out 2>/tmp/bad.err || rc=$?
    echo "exit $rc; stderr: $(cat /tmp/bad.err)"
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { echo "want a quick failure"; return 1; }
    lines="$(grep -c . /tmp/bad.err || true)"
    [ "$lines" -eq 1 ] && head -1 /tmp/bad.err | grep -q '^berth: ' || { echo "want one line starting with 'berth: '"; return 1; }
    # An unknown option is refused in one line too; the error must be about the slice.
    grep -q notaslice /tmp/bad.err || { echo "the error does not name the slice notaslice"; return 1; }
    [ ! -e "$CG/notaslice" ] || { echo "$CG/notaslice exists"; return 1; }
    clean badslice machine-badslice.scope
}
check slice-invalid-refused bad_slice || true

# ---- limits written by berth itself on pure cgroup v2 ------------------------
# A host without systemd but with cgroup2 controllers: hide /run/systemd in a
# private mount namespace, so berth sees no systemd and manages cgroupfs itself
# (machine.slice/machine-v2fs.scope, the limits on the scope, above the
# guest's cgroup namespace).

v2_cgroupfs() {
    local out rc=0 procs
    cat > /run/berth-vm/v2fs.sh <<'GUEST'
echo "seen-pids-max=$(cat /sys/fs/cgroup/pids.max)"
sh -c 'while :; do sleep 30 & done' 2>/dev/null
set -- /proc/[0-9]*
echo "procs=$#"
kill -9 -1
sh -c 'x=$(head -c 300000000 /dev/zero | tr "\0" a); echo "hog-bytes=${#x}"'
echo "hog-exit=$?"
GUEST
    out="$(timeout 90 unshare -m sh -c 'mount -t tmpfs tmpfs /run/systemd && exec "$@"' sh \
        "$BERTH" run -q -P -x --as-pid2 --register=no -D "$TREE" -M v2fs --bind-ro=/run/berth-vm/v2fs.sh:/v2fs.sh \
        --property TasksMax=20 --property MemoryMax=48M -- /bin/sh /v2fs.sh </dev/null 2>&1)" || rc=$?
    echo "exit $rc: $(printf '%s' "$out" | tr '\n' ' ')"
    [ "$rc" -eq 0 ] || return 1
    grep -qx 'seen-pids-max=max' <<<"$out" || { echo "the guest sees a pids.max at its root"; return 1; }
    procs="$(sed -n 's/^procs=//p' <<<"$out")"
    [ -n "$procs" ] && [ "$procs" -le 20 ] && [ "$procs" -ge 10 ] || { echo "procs=$procs under TasksMax=20"; return 1; }
    ! grep -q '^hog-bytes=300000000' <<<"$out" || { echo "300 MB fit under MemoryMax=48M"; return 1; }
    grep -q '^hog-exit=' <<<"$out" || { echo "the guest did not go on after its hog"; return 1; }
    [ ! -e "$CG/machine.slice/machine-v2fs.scope" ] || { echo "machine-v2fs.scope left in cgroupfs"; return 1; }
}
check cgroupfs-v2-limits v2_cgroupfs || true

# ---- failed starts and killed launchers leave no scope behind --------------
# systemd owns machine-NAME.scope: berth must empty it and let systemd stop
# and collect it, never remove its cgroup behind systemd's back (the unit
# then stays "active (running)" and the name cannot be started again).

# restarts NAME: the same name starts again at once and exits cleanly.
restarts() {
    local n="$1" rc=0 out
    out="$(timeout 60 "$BERTH" run -q -P -D "$TREE" -M "$n" -- /bin/echo restarted </dev/null 2>&1)" || rc=$?
    [ "$rc" -eq 0 ] && grep -qx restarted <<<"$(tr -d '\r' <<<"$out")" ||
        { echo "the name $n did not start again (exit $rc): $out"; return 1; }
    clean "$n" "machine-$n.scope"
}

# failed_start NAME WANT-RC BERTH-RUN-ARGS...: a start that fails after the
# scope exists: one error line, and no machine unit listed once berth exits.
failed_start() {
    local n="$1" want="$2" rc=0 units
    shift 2
    timeout 60 "$BERTH" run -q -D "$TREE" -M "$n" "$@" </dev/null >/tmp/f.out 2>/tmp/f.err || rc=$?
    echo "exit $rc; stderr: $(cat /tmp/f.err)"
    [ "$rc" -eq "$want" ] || { echo "want exit $want"; return 1; }
    [ "$(grep -c . /tmp/f.err)" -eq 1 ] && grep -q '^berth: ' /tmp/f.err ||
        { echo "want one line starting with 'berth: '"; return 1; }
    units="$(systemctl list-units --all --no-legend --plain 'machine-*')"
    [ -z "$units" ] || { echo "units listed right after berth exited: $units"; return 1; }
    clean "$n" "machine-$n.scope" || return 1
    restarts "$n"
}
mkdir -p /run/berth-vm
echo file > /run/berth-vm/afile
# A bind that exists but cannot be mounted (a file onto the guest's /etc).
check failed-bind-leaves-no-scope failed_start fbind 125 --bind-ro=/run/berth-vm/afile:/etc -- /bin/true || true
# A command that does not exist in the tree.
check failed-exec-leaves-no-scope failed_start fexec 127 -- /nonexistent || true

# kill -9 of the launcher: its watcher ends the scope through systemd.
killed_launcher() {
    local pid
    bg_berth k9 run -q -P -D "$TREE" -M k9 -- /bin/sleep 300
    pid="$(cat /run/berth-vm/k9.pid)"
    wait_bg "$pid" 60 systemctl is-active -q machine-k9.scope ||
        { echo "machine-k9.scope never active: $(tail -3 "$SHARE/berth-k9.log")"; return 1; }
    kill -KILL "$pid"
    clean k9 machine-k9.scope || return 1
    restarts k9
}
check killed-launcher-leaves-no-scope killed_launcher || true

# ---- networking where the host's systemd-networkd manages ve-* links -------
# (tests/vm/checks-net-networkd.sh)
# shellcheck source=/dev/null
source "$SHARE/checks-net-networkd.sh"
# --network-ipvlan on a kernel with ipvlan (tests/vm/checks-net-ipvlan.sh)
# shellcheck source=/dev/null
source "$SHARE/checks-net-ipvlan.sh"

# ---------------------------------------------------------------------------
journalctl -b --no-pager -o short-monotonic > "$SHARE/journal" 2>&1 || true
log "all checks ran"
echo done > "$SHARE/status"
sync
