#!/usr/bin/env bash
# The /proc views (src/views/) against the kernel's file and against lxcfs,
# in one run, on the busybox tree, each machine under MemoryMax=256M:
#
#   benches/views.sh                       (as root; Debian 12)
#   N=10000 CONC=50 SECS=10 benches/views.sh
#   BENCH_PREFIX=hv-bench benches/views.sh (machine names; default vbench)
#   BERTH_BIN=/path/to/berth benches/views.sh
#
# latency  median (and p90) of one open+read+close of /proc/meminfo inside a
#          machine, over N reads (default 10000), by a static C reader
#          (benches/readlat.c): berth's views; --proc-views=no (the kernel's
#          procfs file); lxcfs 5 (Debian's package, its own daemon on a
#          private mount point) bound over the guest's /proc/meminfo as LXC
#          binds it (the guest binds it itself: berth mounts its procfs after
#          the user's binds)
# poll50   CONC machines (default 50) each reading /proc/meminfo every 10 ms
#          (for SECS + 6 s; measured over SECS seconds, default 10, from
#          3 s after the last one started): the CPU time the serving side spent in that window (berth: every berth-views server and launcher of
#          those machines; lxcfs: its daemon), and the launchers' summed RSS
#          before and after the window
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root
ensure_pkgs busybox-static gcc lxcfs
ensure_cargo
N="${N:-10000}"
CONC="${CONC:-50}"
SECS="${SECS:-10}"
P="${BENCH_PREFIX:-vbench}"

if [ -n "${BERTH_BIN:-}" ]; then
    BERTH="$(realpath "$BERTH_BIN")"
else
    cargo build --release >&2
    BERTH="$PWD/target/x86_64-unknown-linux-gnu/release/berth"
fi
BB="$(bash tests/fixture.sh busybox)"
WORK="$(mktemp -d /var/tmp/berth-views-bench.XXXXXX)"
LXCFS_DIR="$WORK/lxcfs"
LXCFS_PID=""
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$LXCFS_PID" ]; then
        kill -TERM "$LXCFS_PID" 2>/dev/null || true
        wait "$LXCFS_PID" 2>/dev/null || true
    fi
    umount -l "$LXCFS_DIR" 2>/dev/null || true
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
gcc -static -O2 -o "$WORK/readlat" benches/readlat.c
mkdir -p "$LXCFS_DIR"
# lxcfs 5's own defaults (no --enable-* options); -f: in the foreground, ours.
lxcfs -f "$LXCFS_DIR" >"$WORK/lxcfs.log" 2>&1 &
LXCFS_PID=$!
for _ in $(seq 50); do [ -e "$LXCFS_DIR/proc/meminfo" ] && break; sleep 0.1; done
[ -e "$LXCFS_DIR/proc/meminfo" ] || { cat "$WORK/lxcfs.log"; die "lxcfs did not come up"; }

common=(-q -x --property MemoryMax=256M "--bind-ro=$WORK/readlat:/readlat" -D "$BB")
lxc_bind="mount --bind /lxcfs/proc/meminfo /proc/meminfo"
lxc_opts=(--proc-views=no "--bind-ro=$LXCFS_DIR:/lxcfs")

echo "== latency of one read of /proc/meminfo in a machine (N=$N)"
lat() { # label, berth options..., -- script
    local label="$1"; shift
    local out
    out="$("$BERTH" run -M "$P-lat" "${common[@]}" "$@" </dev/null 2>&1)" || die "$label: $out"
    printf '%-8s %s   (%s)\n' "$label" "$(echo "$out" | tail -1)" "$(echo "$out" | grep -m1 MemTotal)"
}
lat views -- sh -c "head -1 /proc/meminfo; /readlat /proc/meminfo $N"
lat kernel --proc-views=no -- sh -c "head -1 /proc/meminfo; /readlat /proc/meminfo $N"
lat lxcfs "${lxc_opts[@]}" -- sh -c "$lxc_bind && head -1 /proc/meminfo; /readlat /proc/meminfo $N"

ticks() { # summed utime+stime of the pids given, in clock ticks
    local t=0 p # own and reaped children's (lxcfs forks helpers to enter the reader's pid namespace)
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13 + $14 + $15}')))
    done
    echo "$t"
}
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$t"; }
servers_of() { local l; for l in "$@"; do pgrep -P "$l" -x berth-views || true; done; }

poll50() { # label, script prefix, berth options...
    local label="$1" prefix="$2"; shift 2
    PIDS=()
    local i
    for i in $(seq "$CONC"); do
        "$BERTH" run -M "$P-$label-$i" "${common[@]}" "$@" -- sh -c \
            "$prefix echo polling; /readlat /proc/meminfo $((SECS + 6)) 10000; sleep 1000" </dev/null >"$WORK/$label-$i.log" 2>&1 &
        PIDS+=($!)
    done
    # Once every poller runs, and past the launchers' start-up (they
    # settle in supervisor/ 3 s after it); done before the pollers end.
    for _ in $(seq 600); do
        [ "$(cat "$WORK/$label"-*.log 2>/dev/null | grep -c '^polling')" -ge "$CONC" ] && break
        sleep 0.1
    done
    sleep 3
    local launchers=("${PIDS[@]}") servers
    servers=($(servers_of "${launchers[@]}"))
    local rss0 c0 l0 hz
    hz=$(getconf CLK_TCK)
    rss0=$(rss_kb "${launchers[@]}")
    local srss0
    srss0=$(rss_kb ${servers[@]+"${servers[@]}"})
    c0=$(ticks "${launchers[@]}" ${servers[@]+"${servers[@]}"})
    l0=$(ticks "$LXCFS_PID")
    sleep "$SECS"
    servers=($(servers_of "${launchers[@]}"))
    local c1 l1 rss1 reads
    c1=$(ticks "${launchers[@]}" ${servers[@]+"${servers[@]}"})
    l1=$(ticks "$LXCFS_PID")
    rss1=$(rss_kb "${launchers[@]}")
    local srss1
    srss1=$(rss_kb ${servers[@]+"${servers[@]}"})
    for _ in $(seq 300); do
        [ "$(cat "$WORK/$label"-*.log | grep -c '^reads')" -ge "$CONC" ] && break
        sleep 0.1
    done
    reads=$(cat "$WORK/$label"-*.log | awk '/^reads/{r += $2; f += $4} END {print r " reads, " f " failed"}')
    printf '%-8s %d machines: %s; berth CPU %.2f s, lxcfs CPU %.2f s; launchers RSS %d kB -> %d kB, view servers RSS %d kB -> %d kB\n' \
        "$label" "$CONC" "$reads" "$(echo "($c1 - $c0) / $hz" | bc -l)" "$(echo "($l1 - $l0) / $hz" | bc -l)" \
        "$rss0" "$rss1" "$srss0" "$srss1"
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
echo "== $CONC machines polling /proc/meminfo every 10 ms for $SECS s"
poll50 views ""
poll50 lxcfs "$lxc_bind &&" "${lxc_opts[@]}"
echo "commands: berth run -M NAME ${common[*]} [--proc-views=no --bind-ro=LXCFS:/lxcfs] -- sh -c '[$lxc_bind &&] /readlat /proc/meminfo ...'"
