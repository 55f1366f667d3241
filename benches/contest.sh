#!/usr/bin/env bash
# The OCI runtime-spec validation suite (youki's `contest`, its Rust port of
# the runtime-tools validation) run against runc, crun and berth on this
# host, one after the other, with the same binaries and bundle.
#
#   benches/contest.sh YOUKI_DIR        (as root)
#
# YOUKI_DIR is a checkout of youki in which `contest` and `runtimetest` were
# built; the script looks for them at YOUKI_DIR/contest and
# YOUKI_DIR/runtimetest, then under YOUKI_DIR/target*/**/release/. Override:
#   CONTEST=/path/contest RUNTIMETEST=/path/runtimetest  (static binary)
#   BUNDLE=/path/bundle.tar.gz   (default YOUKI_DIR/tests/contest/contest/bundle.tar.gz)
#   RUNTIMES="runc crun berth"   which ones, in this order
#   TESTS="group group::test,test"   only these (contest's -t, one a run)
#   BERTH_BIN=/path/to/berth     that binary (default: cargo build --release)
#   OUT=/var/tmp/berth-contest   where each runtime's full log is kept
#   GROUP_TIMEOUT=120            seconds one group may take (then: failed)
#
# Prints, per runtime, passed / failed / skipped, then the tests that pass
# for runc (and for crun) but not for berth. Not part of the test suite:
# it needs youki's sources, which CI does not have.
#
# contest is told RUNTIME_KIND=runc for runc (as youki's own runc
# validation does: a few tests youki knows runc does not do are skipped);
# crun and berth run with RUNTIME_KIND set to their own name.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || [ -n "${CONTEST:-}" ] || { echo "usage: $0 YOUKI_DIR" >&2; exit 2; }
YOUKI_DIR=$(realpath "${1:-.}")
find_bin() { # name
    local v
    for v in "$YOUKI_DIR/$1" "$YOUKI_DIR"/target*/release/"$1" "$YOUKI_DIR"/*target*/*/release/"$1"; do
        [ -x "$v" ] && { realpath "$v"; return; }
    done
    echo "berth: $1 not found under $YOUKI_DIR; build it there or set ${1^^}=PATH" >&2
    exit 1
}
CONTEST=${CONTEST:-$(find_bin contest)}
RUNTIMETEST=${RUNTIMETEST:-$(find_bin runtimetest)}
BUNDLE=${BUNDLE:-$YOUKI_DIR/tests/contest/contest/bundle.tar.gz}
[ -f "$BUNDLE" ] || { echo "berth: $BUNDLE not found; set BUNDLE=PATH" >&2; exit 1; }
RUNTIMES=${RUNTIMES:-runc crun berth}
OUT=${OUT:-/var/tmp/berth-contest}
if [ -z "${BERTH_BIN:-}" ]; then
    cargo build --release >&2
    BERTH_BIN=target/x86_64-unknown-linux-gnu/release/berth
fi
BERTH_BIN=$(realpath "$BERTH_BIN")
mkdir -p "$OUT"
work=$(mktemp -d /var/tmp/berth-contest.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
# A copy named berth-oci, not a link: contest resolves --runtime with
# realpath, which would turn a link back into plain `berth`.
cp "$BERTH_BIN" "$work/berth-oci"
# contest unpacks ./bundle.tar.gz from its working directory.
cp "$BUNDLE" "$work/bundle.tar.gz"

path_of() { # runtime name -> binary
    case $1 in
        berth) echo "$work/berth-oci" ;;
        *) command -v "$1" || true ;;
    esac
}

# "group::test result" lines from contest's output, result one of ok,
# failed, skipped. A group whose run panicked before printing its results
# (contest aborts a run when one test panics) counts as one failure.
results() { # log group
    awk -v want="$2" '
        /^# Start group / { g = $4; seen = 1; next }
        /^[0-9]+ \/ [0-9]+ : / {
            n = split($0, f, " : ")
            r = f[n]; t = f[2]
            for (i = 3; i < n; i++) t = t " : " f[i]
            r = (r == "ok") ? "ok" : (r == "skipped") ? "skipped" : "failed"
            print g "::" t " " r
        }
        END { if (!seen) print want "::(the run panicked) failed" }' "$1"
}

# Every group contest has (`contest list` unpacks the bundle once), or TESTS.
groups=${TESTS:-$(cd "$work" && "$CONTEST" list 2>/dev/null | grep -E '^[a-z0-9_]+$')}
[ -n "$groups" ] || { echo "berth: '$CONTEST list' named no test group" >&2; exit 1; }
declare -a ran=()
for name in $RUNTIMES; do
    bin=$(path_of "$name")
    if [ -z "$bin" ]; then
        echo "$name: not installed, left out" >&2
        continue
    fi
    kind=$name
    echo "== $name ($bin): running contest" >&2
    t0=$(date +%s)
    : >"$OUT/$name.log"
    : >"$OUT/$name.results"
    # One group a run: contest gives up on all the rest when one panics.
    for group in $groups; do
        echo "# contest -t $group" >>"$OUT/$name.log"
        (cd "$work" && RUNTIME_KIND=$kind timeout "${GROUP_TIMEOUT:-120}" "$CONTEST" run --runtime "$bin" \
            --runtimetest "$RUNTIMETEST" -t "$group") >"$work/one.log" 2>&1 || true
        cat "$work/one.log" >>"$OUT/$name.log"
        results "$work/one.log" "$group" >>"$OUT/$name.results"
    done
    sort -o "$OUT/$name.results" "$OUT/$name.results"
    echo "   $(($(date +%s) - t0)) s, log in $OUT/$name.log" >&2
    ran+=("$name")
done

echo
printf '%-8s %7s %7s %8s %6s\n' runtime passed failed skipped total
for name in "${ran[@]}"; do
    r=$OUT/$name.results
    p=$(grep -c ' ok$' "$r" || true)
    f=$(grep -c ' failed$' "$r" || true)
    s=$(grep -c ' skipped$' "$r" || true)
    printf '%-8s %7d %7d %8d %6d\n' "$name" "$p" "$f" "$s" "$((p + f + s))"
done

# Tests that pass for a peer and not for berth.
for peer in runc crun; do
    [ -f "$OUT/$peer.results" ] && [ -f "$OUT/berth.results" ] || continue
    [[ " ${ran[*]} " == *" $peer "* && " ${ran[*]} " == *" berth "* ]] || continue
    missing=$(comm -23 <(sed -n 's/ ok$//p' "$OUT/$peer.results" | sort) \
        <(sed -n 's/ ok$//p' "$OUT/berth.results" | sort))
    echo
    echo "pass for $peer, not for berth: $(printf '%s' "$missing" | grep -c . || true)"
    [ -z "$missing" ] || printf '%s\n' "$missing" | sed 's/^/  /'
done
