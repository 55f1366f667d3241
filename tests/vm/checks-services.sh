# Machines as services and berth's own log on a systemd host; sourced by
# guest-tests.sh (its helpers: check, fail, wait_for, clean, guest_running,
# machine_listed, unit_stopped, unit_log). berth@deb.service is stopped when
# this starts and when it ends.
#
#   berth start deb      berth@deb.service active, deb in machinectl list
#   the journal          berth's lines in `journalctl -u berth@deb` sent by
#                        the native protocol with their PRIORITY and fields
#                        (not as stderr text); the guest's journal through
#                        `journalctl -M deb` and `journalctl -D
#                        /var/log/journal/ID` (the unit's --link-journal=try-guest)
#   berth stop deb       a clean stop; a second stop says it is not running
#   berth enable/disable the machines.target.wants link made and removed
#   no unit              berth@.service missing: one line with the fix

SVC_UNIT=berth@deb.service
SVC_DROPIN=/run/systemd/system/$SVC_UNIT.d
SVC_LOG=/run/berth-vm/svc.out
mkdir -p /run/berth-vm

# berth's own log at info for this unit, so a start logs something.
mkdir -p "$SVC_DROPIN"
printf '[Service]\nEnvironment=BERTH_LOG=info\n' > "$SVC_DROPIN/log.conf"
systemctl daemon-reload
systemctl reset-failed "$SVC_UNIT" 2>/dev/null || true

# one_line_error RC-FILE: berth failed (exit 1) with one `berth: ` line.
svc_one_line() {
    local rc="$1"
    echo "exit $rc; stdout+stderr: $(cat "$SVC_LOG")"
    [ "$rc" -eq 1 ] || { echo "want exit 1"; return 1; }
    [ "$(grep -c . "$SVC_LOG")" -eq 1 ] && grep -q '^berth: ' "$SVC_LOG" ||
        { echo "want one line starting with 'berth: '"; return 1; }
}

svc_start() {
    local rc=0
    timeout 200 "$BERTH" start deb </dev/null >"$SVC_LOG" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { echo "berth start deb exited $rc: $(cat "$SVC_LOG")"; unit_log "$SVC_UNIT"; return 1; }
    [ ! -s "$SVC_LOG" ] || { echo "berth start printed: $(cat "$SVC_LOG")"; return 1; }
    systemctl is-active -q "$SVC_UNIT" || { echo "$SVC_UNIT is $(systemctl is-active "$SVC_UNIT")"; return 1; }
    wait_for 30 machine_listed deb || { echo "deb not in machinectl list: $(machinectl list --no-legend)"; return 1; }
}

# berth's info lines reach the journal by the native protocol: transport
# "journal", SYSLOG_IDENTIFIER=berth, PRIORITY=5 (info), the start span's
# machine field; and none of them as plain stderr text.
svc_log_native() {
    local native text
    native="$(journalctl -b --no-pager -o json _SYSTEMD_UNIT="$SVC_UNIT" SYSLOG_IDENTIFIER=berth 2>&1 |
        grep '"_TRANSPORT":"journal"')"
    text="$(journalctl -b --no-pager -o cat _SYSTEMD_UNIT="$SVC_UNIT" _TRANSPORT=stdout 2>&1)"
    echo "native entries: $(grep -c . <<<"$native"); first: $(head -1 <<<"$native" | cut -c1-400)"
    grep '"PRIORITY":"5"' <<<"$native" | grep -q '"BERTH_MACHINE":"deb"' ||
        { echo "no native entry with PRIORITY=5 and BERTH_MACHINE=deb"; return 1; }
    # A field repeated (the spans an event is in) is a JSON array.
    grep '"PRIORITY":"5"' <<<"$native" | grep -Eq '"SPAN_NAME":(\[)?"start"' ||
        { echo "no native entry with SPAN_NAME=start"; return 1; }
    ! grep -Eq '^ *[0-9.]*s? *(INFO|WARN|DEBUG) ' <<<"$text" ||
        { echo "log lines as stderr text: $(grep -E '(INFO|WARN|DEBUG) ' <<<"$text" | head -3)"; return 1; }
}

# A marker logged inside the guest, then read from the host.
SVC_MARK="berth-vm-svc-$$"
svc_guest_log() {
    timeout 60 "$BERTH" shell deb /usr/bin/logger -t berthvm "$SVC_MARK" </dev/null
}
svc_journal_M() {
    wait_for 30 sh -c "journalctl -M deb --no-pager -o cat -t berthvm 2>/dev/null | grep -qx '$SVC_MARK'" || {
        echo "journalctl -M deb -t berthvm: $(journalctl -M deb --no-pager -o cat -t berthvm 2>&1 | tail -3);" \
            "last lines: $(journalctl -M deb --no-pager -n 3 2>&1 | tr '\n' ' ')"
        return 1
    }
}
svc_journal_D() {
    local link
    link="$(find /var/log/journal -maxdepth 1 -type l -lname '/var/lib/machines/deb/*' 2>/dev/null | head -1)"
    [ -n "$link" ] || {
        echo "no link into /var/lib/machines/deb in /var/log/journal: $(ls -l /var/log/journal 2>&1 | tr '\n' ' ')"
        return 1
    }
    echo "$link -> $(readlink "$link")"
    wait_for 30 sh -c "journalctl -D '$link' --no-pager -o cat -t berthvm 2>/dev/null | grep -qx '$SVC_MARK'" || {
        echo "journalctl -D $link: $(journalctl -D "$link" --no-pager -n 3 2>&1 | tr '\n' ' ')"
        return 1
    }
}

svc_stop() {
    local rc=0 s
    timeout 120 "$BERTH" stop deb </dev/null >"$SVC_LOG" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { echo "berth stop deb exited $rc: $(cat "$SVC_LOG")"; unit_log "$SVC_UNIT"; return 1; }
    s="$(systemctl show "$SVC_UNIT" -p ActiveState -p Result | sort | tr '\n' ' ')"
    [ "$s" = "ActiveState=inactive Result=success " ] || { echo "got: $s"; unit_log "$SVC_UNIT"; return 1; }
}

svc_stop_again() {
    local rc=0
    "$BERTH" stop deb </dev/null >"$SVC_LOG" 2>&1 || rc=$?
    svc_one_line "$rc" || return 1
    grep -q 'is not running as berth@deb.service' "$SVC_LOG" || { echo "want 'is not running'"; return 1; }
}

SVC_WANT=/etc/systemd/system/machines.target.wants/$SVC_UNIT
svc_enable() {
    "$BERTH" enable deb </dev/null >"$SVC_LOG" 2>&1 || { echo "berth enable deb: $(cat "$SVC_LOG")"; return 1; }
    cat "$SVC_LOG"
    [ -L "$SVC_WANT" ] || { echo "no link $SVC_WANT"; return 1; }
    grep -q "Created symlink $SVC_WANT" "$SVC_LOG" || { echo "enable did not say it created $SVC_WANT"; return 1; }
    [ "$(systemctl is-enabled "$SVC_UNIT")" = enabled ] || { echo "is-enabled: $(systemctl is-enabled "$SVC_UNIT")"; return 1; }
    ! systemctl is-active -q "$SVC_UNIT" || { echo "enable started the unit"; return 1; }
}
svc_disable() {
    "$BERTH" disable deb </dev/null >"$SVC_LOG" 2>&1 || { echo "berth disable deb: $(cat "$SVC_LOG")"; return 1; }
    cat "$SVC_LOG"
    [ ! -e "$SVC_WANT" ] && [ ! -L "$SVC_WANT" ] || { echo "$SVC_WANT still there"; return 1; }
    grep -q "Removed \"$SVC_WANT\"" "$SVC_LOG" || { echo "disable did not say it removed $SVC_WANT"; return 1; }
    [ "$(systemctl is-enabled "$SVC_UNIT" 2>&1)" = disabled ] || { echo "is-enabled: $(systemctl is-enabled "$SVC_UNIT" 2>&1)"; return 1; }
}

# berth@.service moved away: start says how to install it; and back.
svc_no_unit() {
    local rc=0
    mv /etc/systemd/system/berth@.service /run/berth-vm/berth@.service
    systemctl daemon-reload
    "$BERTH" start deb </dev/null >"$SVC_LOG" 2>&1 || rc=$?
    mv /run/berth-vm/berth@.service /etc/systemd/system/berth@.service
    systemctl daemon-reload
    svc_one_line "$rc" || return 1
    grep -q 'berth@.service is not installed' "$SVC_LOG" || { echo "want 'berth@.service is not installed'"; return 1; }
    ! systemctl is-active -q "$SVC_UNIT" || { echo "$SVC_UNIT is active"; return 1; }
}

# A missing image: one line, nothing started.
svc_no_image() {
    local rc=0
    "$BERTH" start nosuchimage </dev/null >"$SVC_LOG" 2>&1 || rc=$?
    svc_one_line "$rc" || return 1
    grep -q "no image 'nosuchimage'" "$SVC_LOG" || { echo "want the missing image named"; return 1; }
}

if check svc-start svc_start; then
    check svc-log-native-journal svc_log_native || true
    if guest_running deb && check svc-guest-logs svc_guest_log; then
        check svc-journalctl-M svc_journal_M || true
        check svc-journalctl-D svc_journal_D || true
    else
        fail svc-journalctl-M "not run: the guest did not boot, or logger in it failed"
        fail svc-journalctl-D "not run: the guest did not boot, or logger in it failed"
    fi
    check svc-stop svc_stop || systemctl stop "$SVC_UNIT" || true
    check svc-stop-nothing-left clean deb "$SVC_UNIT" || true
else
    for c in svc-log-native-journal svc-journalctl-M svc-journalctl-D svc-stop svc-stop-nothing-left; do
        fail "$c" "not run: berth start deb failed"
    done
    systemctl stop "$SVC_UNIT" || true
fi
systemctl reset-failed "$SVC_UNIT" 2>/dev/null || true
check svc-stop-not-running svc_stop_again || true
check svc-enable svc_enable || true
check svc-disable svc_disable || true
check svc-no-unit svc_no_unit || true
check svc-no-image svc_no_image || true

rm -rf "$SVC_DROPIN"
systemctl disable "$SVC_UNIT" >/dev/null 2>&1 || true
systemctl daemon-reload
