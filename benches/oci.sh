#!/usr/bin/env bash
# berth as an OCI runtime against runc (Debian's 1.1), in one run,
# alternating the two for every sample so drift in the machine's load
# hits both alike. (crun 1.8 refuses this hybrid-cgroup host, so it is
# left out; set CRUN=/path/to/crun to add it where it works.)
#
#   benches/oci.sh                 (as root; Debian 12; podman and runc installed)
#   RUNS=30 PODRUNS=10 benches/oci.sh
#   BERTH_BIN=/path/to/berth benches/oci.sh   (that binary, no build)
#
# Measures (medians in ms; ratio = berth / runc; lower is better):
#   cli    `create` + `start` of /bin/true, `state` polled until stopped,
#          `delete`: four invocations of the runtime command line on the
#          same bundle (the busybox fixture)              (N=RUNS, default 30)
#   run    `run` of /bin/true (create, start, wait, delete in one call)
#   podman `podman run --rm --network=none IMAGE true` with --runtime set
#          to each                                        (N=PODRUNS, default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
PODRUNS=${PODRUNS:-10}
if [ -z "${BERTH_BIN:-}" ]; then
    cargo build --release >&2
    BERTH_BIN=target/x86_64-unknown-linux-gnu/release/berth
fi
work=$(mktemp -d /var/tmp/berth-oci-bench.XXXXXX)
runroot=/run/berth-oci-bench-$$
cleanup() {
    podman --root "$work/storage" --runroot "$runroot" rm -af >/dev/null 2>&1 || true
    umount -R "$runroot" "$work/storage/overlay" 2>/dev/null || true
    rm -rf --one-file-system "$work" "$runroot"
}
trap cleanup EXIT
ln -s "$(realpath "$BERTH_BIN")" "$work/berth-oci"
fx=$(bash tests/fixture.sh busybox)
mkdir "$work/bundle"
cp -a "$fx" "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"))
PY
declare -A rt=([berth]="$work/berth-oci" [runc]="$(command -v runc)")
[ -z "${CRUN:-}" ] || rt[crun]=$CRUN
names=(berth runc)
[ -z "${CRUN:-}" ] || names+=(crun)
now() { date +%s%N; }
ms() { echo "scale=2; ($2 - $1) / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

cli_once() { # runtime id
    local r=$1 id=$2 t0 t1
    t0=$(now)
    "$r" --root "$work/state-$id" create --bundle "$work/bundle" "$id" </dev/null >/dev/null
    "$r" --root "$work/state-$id" start "$id"
    until "$r" --root "$work/state-$id" state "$id" | grep -q '"status": *"stopped"'; do :; done
    "$r" --root "$work/state-$id" delete "$id"
    t1=$(now)
    ms "$t0" "$t1"
}
run_once() {
    local r=$1 id=$2 t0 t1
    t0=$(now)
    "$r" --root "$work/state-$id" run --bundle "$work/bundle" "$id" </dev/null >/dev/null
    t1=$(now)
    ms "$t0" "$t1"
}
conf=$work/containers.conf
printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$conf"
pm() { CONTAINERS_CONF=$conf podman --root "$work/storage" --runroot "$runroot" "$@"; }
tar -C "$fx" -c . | pm import - localhost/berth-bench >/dev/null
pod_once() {
    local r=$1 t0 t1
    t0=$(now)
    pm --runtime "$r" run --rm --network=none localhost/berth-bench true >/dev/null
    t1=$(now)
    ms "$t0" "$t1"
}

for n in "${names[@]}"; do : >"$work/cli-$n"; : >"$work/run-$n"; : >"$work/pod-$n"; done
for i in $(seq 1 "$RUNS"); do
    for n in "${names[@]}"; do
        cli_once "${rt[$n]}" "bench-$n-$i" >>"$work/cli-$n"
        run_once "${rt[$n]}" "bench-r-$n-$i" >>"$work/run-$n"
    done
done
for n in "${names[@]}"; do pod_once "${rt[$n]}" >/dev/null; done # warm up
for i in $(seq 1 "$PODRUNS"); do
    for n in "${names[@]}"; do pod_once "${rt[$n]}" >>"$work/pod-$n"; done
done

printf '%-8s' measure; for n in "${names[@]}"; do printf '%12s' "$n ms"; done; printf '%14s\n' "berth/runc"
for m in cli run pod; do
    printf '%-8s' "$m"
    declare -A med=()
    for n in "${names[@]}"; do med[$n]=$(median <"$work/$m-$n"); printf '%12s' "${med[$n]}"; done
    printf '%14s\n' "$(echo "scale=2; ${med[berth]} / ${med[runc]}" | bc)"
done
