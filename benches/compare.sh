#!/usr/bin/env bash
# Compares berth with systemd-nspawn on this host, in one run, alternating the
# two tools for every sample so drift in the machine's load hits both alike.
#
#   benches/compare.sh            (as root; Debian 12)
#   RUNS=20 BOOTS=5 benches/compare.sh
#   BENCH_PREFIX=hm-bench benches/compare.sh   (machine names; default bench)
#   BERTH_BIN=/path/to/berth benches/compare.sh  (that binary, no build)
#
# Measures (medians; ratio = berth / nspawn; lower is better):
#   run    `run /bin/true` wall time, spawn to exit              (N=RUNS, default 20)
#   boot   bookworm boot, spawn to READY=1 on our NOTIFY_SOCKET (N=BOOTS, default 5)
#   stop   SIGTERM to the launcher until it exits, after READY  (N=BOOTS)
#   rss    the launcher's own peak RSS (VmHWM in /proc/PID/status, sampled
#          every 10 ms while it runs; the last sample before exit), during boot
#   eph    `run -x /bin/true` (berth) vs `systemd-nspawn -x /bin/true`, start
#          to exit, on the bookworm tree and on a copy padded to >= 10x its
#          size with more copies of its /usr   (N=XRUNS, default 3;
#          XRUNS=0 skips it: nspawn copies the whole padded tree each time)
#   net    `run /bin/true` with --private-network and with -n (veth,
#          address, DHCP server, nf_tables rule) against the same without,
#          for both tools, inside a network namespace of the benchmark's own
#          (N=NETRUNS, default 20; NETRUNS=0 skips it); target: the network
#          adds at most 5 ms to berth's start to exit; ratio = berth / nspawn
#          of the whole start to exit. Also --network-zone
#          (each sample creates the zone's bridge and removes it at exit) and,
#          berth only, `run -n` until busybox udhcpc in the guest holds a
#          lease from berth's DHCP server (start to exit of `udhcpc -q`)
#   netboot  bookworm boot to READY=1 with -n against the same without, in
#          the benchmark's network namespace, both tools (N=NETBOOTS,
#          default 5; skipped with NETRUNS=0); target: -n adds at most 5 ms
#   rss-time  `/usr/bin/time -f %M` of `run /bin/true` (N=5): ru_maxrss from
#          wait4(), i.e. the peak RSS of the launcher OR of any descendant it
#          reaped, whichever is larger; shown for reference, no target
#   mem    memory while a machine runs (`run -x` a shell waiting in `sleep`
#          on the busybox tree, both tools), read 1 s after the guest's
#          command is up (steady state): the launcher's RSS, and the PSS
#          summed over all of the tool's own processes for the machine
#          (every descendant of the launcher running the tool's binary:
#          berth's launcher, watcher and, with --as-pid2, stub; nspawn's
#          process), from /proc/PID/smaps_rollup        (N=MEMRUNS, default 5)
#   mem50  the same with CONC machines (default 50; CONC=0 skips it) started
#          at once: the launchers' RSS and the tools' PSS in total, and the
#          time until every guest's command is up (for reference)
# Both tools get the same tree copy and the same console mode (their default:
# stdin and stdout are not ttys, so a read-only pty console).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root
ensure_pkgs systemd-container debootstrap busybox-static time gcc pkg-config libseccomp-dev
command -v python3 >/dev/null 2>&1 || ensure_pkgs python3
ensure_cargo

if [ -n "${BERTH_BIN:-}" ]; then
    BERTH="$(realpath "$BERTH_BIN")"
else
    cargo build --release >&2
    BERTH="$PWD/target/x86_64-unknown-linux-gnu/release/berth"
fi
BB="$(bash tests/fixture.sh busybox)"
BW="$(bash tests/fixture.sh bookworm)"

WORK="$(mktemp -d /var/tmp/berth-bench.XXXXXX)"
trap 'rm -rf --one-file-system "$WORK"' EXIT
cp -a --reflink=auto "$BB" "$WORK/busybox"
cp -a --reflink=auto "$BW" "$WORK/bookworm"

XRUNS="${XRUNS:-3}"
if [ "$XRUNS" -gt 0 ]; then
    echo "compare.sh: padding a copy of the bookworm tree to ten times its size" >&2
    cp -a --reflink=auto "$BW" "$WORK/padded"
    base=$(du -sk "$BW" | cut -f1)
    i=0
    while [ "$(du -sk "$WORK/padded" | cut -f1)" -lt $((base * 10)) ]; do
        i=$((i + 1)); cp -a --reflink=auto "$BW/usr" "$WORK/padded/opt/pad$i"
    done
fi

NETRUNS="${NETRUNS:-20}"
NETNS="berth-bench-$$"
if [ "$NETRUNS" -gt 0 ]; then
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
    trap 'ip netns del "$NETNS" 2>/dev/null; rm -rf --one-file-system "$WORK"' EXIT
fi

python3 - "$BERTH" "$WORK" "${RUNS:-20}" "${BOOTS:-5}" "$XRUNS" "$NETRUNS" "/run/netns/$NETNS" "${MEMRUNS:-5}" "${CONC:-50}" "${NETBOOTS:-5}" <<'PY'
import os, shlex, socket, statistics, sys, threading, time, signal

berth, work, runs, boots, xruns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
netruns, netns = int(sys.argv[6]), sys.argv[7]
memruns, conc = int(sys.argv[8]), int(sys.argv[9])
netboots = int(sys.argv[10]) if netruns > 0 else 0
bb, bw = os.path.join(work, "busybox"), os.path.join(work, "bookworm")
nspawn = "/usr/bin/systemd-nspawn"
prefix = os.environ.get("BENCH_PREFIX", "bench")

RUN = {
    "berth":  [berth, "run", "-q", "-M", f"{prefix}-run", "-D", bb, "--", "/bin/true"],
    "nspawn": [nspawn, "-q", "--register=no", "--keep-unit", "-M", f"{prefix}-run", "-D", bb, "/bin/true"],
}
BOOT = {
    "berth":  [berth, "boot", "-q", "--notify-ready", "-M", f"{prefix}-boot", "-D", bw],
    "nspawn": [nspawn, "-q", "--register=no", "--keep-unit", "--notify-ready=yes", "-b", "-M", f"{prefix}-boot", "-D", bw],
}

def spawn(argv, log, env=None):
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    e = dict(os.environ)
    e.pop("NOTIFY_SOCKET", None)
    e.update(env or {})
    return os.posix_spawn(argv[0], argv, e, file_actions=fa)

def fail(tool, what, log):
    sys.stderr.write(f"compare.sh: {tool} failed during {what}; its stderr:\n{open(log).read()}\n")
    sys.exit(1)

def run_once(tool):
    log = os.path.join(work, f"{tool}-run.log")
    t = time.monotonic()
    pid = spawn(RUN[tool], log)
    _, status = os.waitpid(pid, 0)
    dt = time.monotonic() - t
    if status != 0:
        fail(tool, "run /bin/true", log)
    return dt

def run_rss(tool):
    # Through /usr/bin/time: its own small fork is what the launcher execs
    # from, so the figure is not inflated by this (large) python process,
    # whose peak RSS a vfork/exec from here would carry over.
    log = os.path.join(work, f"{tool}-rss.log")
    out = os.path.join(work, f"{tool}-rss.out")
    pid = spawn(["/usr/bin/time", "-f", "%M", "-o", out] + RUN[tool], log)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        fail(tool, "run /bin/true under /usr/bin/time", log)
    return int(open(out).read().split()[-1]) * 1024

def vmhwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for l in f:
                if l.startswith("VmHWM:"):
                    return int(l.split()[1]) * 1024
    except OSError:
        pass
    return None

def boot_once(tool, i, argv=None):
    log = os.path.join(work, f"{tool}-boot{i}.log")
    sock_path = os.path.join(work, f"notify-{tool}-{i}.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(0.2)
    t0 = time.monotonic()
    pid = spawn(argv or BOOT[tool], log, {"NOTIFY_SOCKET": sock_path})
    hwm = [0]
    done = threading.Event()
    def sampler():
        while not done.is_set():
            v = vmhwm(pid)
            if v:
                hwm[0] = max(hwm[0], v)
            time.sleep(0.01)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    ready = None
    while ready is None:
        try:
            msg = s.recv(4096).decode(errors="replace")
            if "READY=1" in msg.splitlines():
                ready = time.monotonic() - t0
        except socket.timeout:
            pass
        if ready is None:
            wpid, status = os.waitpid(pid, os.WNOHANG)
            if wpid:
                done.set()
                fail(tool, "boot (exited before READY=1)", log)
            if time.monotonic() - t0 > 120:
                os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0); done.set()
                fail(tool, "boot (no READY=1 in 120 s)", log)
    s.close(); os.unlink(sock_path)
    time.sleep(1.0)   # let the guest settle before stopping it
    t1 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    _, status, ru = os.wait4(pid, 0)
    stop = time.monotonic() - t1
    done.set(); th.join()
    if status != 0:
        fail(tool, f"stop (wait status {status})", log)
    return ready, stop, hwm[0]

def eph_cmd(tool, tree):
    if tool == "berth":
        return [berth, "run", "-q", "-x", "-M", f"{prefix}-eph", "-D", tree, "--", "/bin/true"]
    return [nspawn, "-q", "--register=no", "--keep-unit", "-x", "-M", f"{prefix}-eph", "-D", tree, "/bin/true"]

def eph_once(tool, tree):
    log = os.path.join(work, f"{tool}-eph.log")
    t = time.monotonic()
    pid = spawn(eph_cmd(tool, tree), log)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        fail(tool, "run -x /bin/true", log)
    return time.monotonic() - t

# ---- memory while machines run ----
# PID 1 of a pid namespace ignores a signal it has no handler for: the
# guest's shell traps SIGTERM, so SIGTERM to either launcher ends it.
MEM_CMD = ["/bin/sh", "-c", 'trap "exit 0" TERM; sleep 1000 & wait']

def mem_cmd(tool, name):
    if tool == "berth":
        return [berth, "run", "-q", "-x", "-M", name, "-D", bb, "--"] + MEM_CMD
    return [nspawn, "-q", "--register=no", "--keep-unit", "-x", "-M", name, "-D", bb] + MEM_CMD

def own_exe(tool, exe):
    exe = exe.removesuffix(" (deleted)")
    if tool == "berth":
        return exe == os.path.realpath(berth) or exe.startswith("/memfd:berth")
    return exe == os.path.realpath(nspawn)

def proc_tree():
    """{pid: (ppid, comm)} of every process on the host."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            out[int(d)] = (int(stat[stat.rindex(")") + 2:].split()[1]), comm)
    return out

def descendants(tree, root):
    kids = {}
    for p, (pp, _) in tree.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out

def rollup(pid):
    """(Rss, Pss) in bytes from /proc/PID/smaps_rollup."""
    v = {}
    try:
        for l in open(f"/proc/{pid}/smaps_rollup"):
            k, _, rest = l.partition(":")
            if k in ("Rss", "Pss"):
                v[k] = int(rest.split()[0]) * 1024
    except OSError:
        return 0, 0
    return v.get("Rss", 0), v.get("Pss", 0)

def guest_up(tree, root):
    return any(tree.get(p, (0, ""))[1] == "sleep" for p in descendants(tree, root))

def mem_sample(tool, launchers):
    """The launchers' RSS and the PSS of all of the tool's processes."""
    tree = proc_tree()
    rss = sum(rollup(p)[0] for p in launchers)
    pss = 0
    for root in launchers:
        for p in descendants(tree, root):
            try:
                exe = os.readlink(f"/proc/{p}/exe")
            except OSError:
                continue
            if own_exe(tool, exe):
                pss += rollup(p)[1]
    return rss, pss

def mem_machines(tool, n, tag):
    """Starts n machines at once; returns (seconds until every guest's command
    is up, launchers' RSS, tools' PSS) read 1 s after that."""
    names = [f"{prefix}-mem{tag}{i}" for i in range(n)]
    logs = [os.path.join(work, f"{tool}-mem{i}.log") for i in range(n)]
    t0 = time.monotonic()
    pids = [spawn(mem_cmd(tool, nm), lg) for nm, lg in zip(names, logs)]
    up = None
    try:
        while up is None:
            for i, p in enumerate(pids):
                if os.waitpid(p, os.WNOHANG)[0]:
                    pids[i] = None
                    fail(tool, f"run -x (machine {names[i]} exited early)", logs[i])
            tree = proc_tree()
            if all(guest_up(tree, p) for p in pids):
                up = time.monotonic() - t0
            elif time.monotonic() - t0 > 120:
                fail(tool, "run -x (guests not up within 120 s)", logs[0])
            else:
                time.sleep(0.05)
        time.sleep(1.0)
        rss, pss = mem_sample(tool, pids)
    finally:
        for p in pids:
            if p:
                os.kill(p, signal.SIGTERM)
        for p in pids:
            if p:
                os.waitpid(p, 0)
    return up, rss, pss
# The zone is created by each sample's machine and removed when it exits.
ZONE = "z" + "".join(c for c in prefix if c.isalnum())[:11]
NET_OPTS = {"none": [], "private": ["--private-network"], "veth": ["-n"], "zone": [f"--network-zone={ZONE}"]}

NET_SAMPLE = [0]

def net_cmd(tool, opts):
    # In the benchmark's own network namespace: its links and rules only.
    # A name of its own per sample: a start never waits for the previous
    # machine's watcher to finish its clean-up.
    NET_SAMPLE[0] += 1
    name = f"{prefix}-net-{NET_SAMPLE[0]}"
    pre = ["/usr/bin/nsenter", f"--net={netns}"]
    if tool == "berth":
        return pre + [berth, "run", "-q"] + opts + ["-M", name, "-D", bb, "--", "/bin/true"]
    return pre + [nspawn, "-q", "--register=no", "--keep-unit"] + opts + ["-M", name, "-D", bb, "/bin/true"]

def dhcp_once():
    # berth only (nspawn serves no DHCP without the host's networkd): start
    # to the exit of udhcpc -q, which quits once it holds a lease.
    NET_SAMPLE[0] += 1
    sh = "ip link set host0 up; udhcpc -i host0 -q -n -t 10 -T 1 -s /bin/true >/dev/null 2>&1"
    argv = ["/usr/bin/nsenter", f"--net={netns}", berth, "run", "-q", "-n", "-M", f"{prefix}-dhcp-{NET_SAMPLE[0]}",
            "-D", bb, "--", "/bin/sh", "-c", sh]
    log = os.path.join(work, "berth-dhcp.log")
    t = time.monotonic()
    pid = spawn(argv, log)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        fail("berth", "run -n udhcpc", log)
    return time.monotonic() - t

def netboot_cmd(tool, opts):
    # BOOT's command with the network options, in the benchmark's network
    # namespace, under a name of its own per sample.
    NET_SAMPLE[0] += 1
    argv = list(BOOT[tool])
    argv[argv.index(f"{prefix}-boot")] = f"{prefix}-nb-{NET_SAMPLE[0]}"
    cut = 2 if tool == "berth" else 1
    return ["/usr/bin/nsenter", f"--net={netns}"] + argv[:cut] + opts + argv[cut:]

def net_once(tool, opts):
    log = os.path.join(work, f"{tool}-net.log")
    t = time.monotonic()
    pid = spawn(net_cmd(tool, opts), log)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        fail(tool, f"run {' '.join(opts)} /bin/true", log)
    return time.monotonic() - t

def du(path):
    total = 0
    for root, dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total

tools = ["berth", "nspawn"]
res = {t: {"run": [], "rss-time": [], "boot": [], "stop": [], "rss": []} for t in tools}

for t in tools:                      # warm-up, not counted
    run_once(t)
for i in range(runs):
    for t in (tools if i % 2 == 0 else tools[::-1]):
        res[t]["run"].append(run_once(t))
for i in range(5):
    for t in (tools if i % 2 == 0 else tools[::-1]):
        res[t]["rss-time"].append(run_rss(t))
for i in range(boots):
    for t in (tools if i % 2 == 0 else tools[::-1]):
        ready, stop, hwm = boot_once(t, i)
        res[t]["boot"].append(ready); res[t]["stop"].append(stop); res[t]["rss"].append(hwm)
        sys.stderr.write(f"  {t} boot {i+1}/{boots}: READY after {ready*1000:.0f} ms, stop {stop*1000:.0f} ms\n")

mem = {t: {"rss": [], "pss": []} for t in tools}
for i in range(memruns):
    for t in (tools if i % 2 == 0 else tools[::-1]):
        _, rss, pss = mem_machines(t, 1, "")
        mem[t]["rss"].append(rss); mem[t]["pss"].append(pss)
mem50 = {}
if conc > 0:
    for t in tools:
        mem50[t] = mem_machines(t, conc, "c")
        sys.stderr.write(f"  {conc} machines of {t}: up after {mem50[t][0]:.2f} s\n")

eph = {}
if xruns > 0:
    for name in ["bookworm", "padded"]:
        tree = os.path.join(work, name)
        eph[name] = {"size": du(tree), "berth": [], "nspawn": []}
        for t in tools:
            eph_once(t, tree)  # warm-up
        for i in range(xruns):
            for t in (tools if i % 2 == 0 else tools[::-1]):
                eph[name][t].append(eph_once(t, tree))
        sys.stderr.write(f"  ephemeral on {name}: done\n")

net = {t: {k: [] for k in NET_OPTS} for t in tools}
if netruns > 0:
    for t in tools:
        for k in NET_OPTS:
            net_once(t, NET_OPTS[k])  # warm-up
    for i in range(netruns):
        for t in (tools if i % 2 == 0 else tools[::-1]):
            for k in (list(NET_OPTS) if i % 2 == 0 else list(NET_OPTS)[::-1]):
                net[t][k].append(net_once(t, NET_OPTS[k]))
    dhcp = [dhcp_once() for _ in range(netruns)]
    sys.stderr.write("  network: done\n")
NETBOOT_OPTS = ["none", "veth"]
netboot = {t: {k: [] for k in NETBOOT_OPTS} for t in tools}
for i in range(netboots):
    for t in (tools if i % 2 == 0 else tools[::-1]):
        for k in (NETBOOT_OPTS if i % 2 == 0 else NETBOOT_OPTS[::-1]):
            netboot[t][k].append(boot_once(t, f"nb{i}{k}", netboot_cmd(t, NET_OPTS[k]))[0])
if netboots:
    sys.stderr.write("  network boots: done\n")

targets = {"run": 0.2, "boot": 0.75, "stop": 1.0, "rss": 0.6, "rss-time": None}
label = {"run": f"run /bin/true (N={runs})", "boot": f"boot to READY=1 (N={boots})",
         "stop": f"stop: SIGTERM to exit (N={boots})", "rss": f"launcher VmHWM, boot (N={boots})",
         "rss-time": "time -f %M, run /bin/true (N=5)"}
def fmt(k, v):
    return f"{v/1e6:.1f} MB" if k.startswith("rss") else f"{v*1000:.1f} ms"

print()
print("Commands (alternated sample by sample):")
for t in tools:
    print(f"  {t:6}  run:  {' '.join(RUN[t])}")
    print(f"  {t:6}  boot: NOTIFY_SOCKET=<ours> {' '.join(BOOT[t])}   (then SIGTERM)")
print()
print(f"{'measure':36} {'berth':>10} {'nspawn':>10} {'ratio':>7} {'target':>8}")
ok_all = True
for k in ["run", "boot", "stop", "rss", "rss-time"]:
    b, n = statistics.median(res["berth"][k]), statistics.median(res["nspawn"][k])
    r = b / n if n else float("nan")
    tg = targets[k]
    verdict = "" if tg is None else ("ok" if r <= tg else "MISSED")
    ok_all &= tg is None or r <= tg
    print(f"{label[k]:36} {fmt(k, b):>10} {fmt(k, n):>10} {r:7.3f} {('<=%.2f' % tg) if tg else '':>8} {verdict}")
if eph:
    print()
    print(f"ephemeral start-to-exit of /bin/true (N={xruns}): berth run -x vs systemd-nspawn -x")
    print(f"{'tree':36} {'berth':>10} {'nspawn':>10} {'ratio':>7} {'target':>8}")
    for name, r in eph.items():
        b, n = statistics.median(r["berth"]), statistics.median(r["nspawn"])
        tg = 1 / 50 if name == "padded" else None
        verdict = "" if tg is None else ("ok" if b / n <= tg else "MISSED")
        ok_all &= tg is None or b / n <= tg
        print(f"{name + ' (%.0f MB)' % (r['size'] / 1e6):36} {fmt('x', b):>10} {fmt('x', n):>10} {b / n:7.3f} {('<=%.3f' % tg) if tg else '':>8} {verdict}")
    growth = statistics.median(eph["padded"]["berth"]) / statistics.median(eph["bookworm"]["berth"])
    print(f"berth's time on the padded tree / on the plain tree: {growth:.2f} (should be ~1: constant time)")
if memruns > 0:
    print()
    print("memory while running (steady state, 1 s after the command is up):")
    for t in tools:
        print(f"  {t:6}  {shlex.join(mem_cmd(t, prefix + '-memN'))}")
    print(f"{'measure':36} {'berth':>10} {'nspawn':>10} {'ratio':>7} {'target':>8}")
    for k, lab, tg in [("rss", f"launcher RSS (N={memruns})", 2e6), ("pss", f"PSS of the tool's processes (N={memruns})", None)]:
        b, n = statistics.median(mem["berth"][k]), statistics.median(mem["nspawn"][k])
        verdict = "" if tg is None else ("ok" if b <= tg else "MISSED")
        ok_all &= tg is None or b <= tg
        print(f"{lab:36} {fmt('rss', b):>10} {fmt('rss', n):>10} {b / n:7.3f} {('<=%.1f MB' % (tg / 1e6)) if tg else '':>8} {verdict}")
if mem50:
    print()
    print(f"{conc} machines at once (the same command, started together; totals)")
    print(f"{'measure':36} {'berth':>10} {'nspawn':>10} {'ratio':>7} {'target':>8}")
    (bu, br, bp), (nu, nr, np_) = mem50["berth"], mem50["nspawn"]
    tg = conc * 2e6
    ok_all &= br <= tg
    print(f"{'launchers RSS, total':36} {fmt('rss', br):>10} {fmt('rss', nr):>10} {br / nr:7.3f} {'<=%.0f MB' % (tg / 1e6):>8} {'ok' if br <= tg else 'MISSED'}")
    print(f"{'PSS of all tool processes, total':36} {fmt('rss', bp):>10} {fmt('rss', np_):>10} {bp / np_:7.3f}")
    print(f"{'PSS per machine':36} {fmt('rss', bp / conc):>10} {fmt('rss', np_ / conc):>10} {bp / np_:7.3f}")
    print(f"{'every command up after':36} {fmt('x', bu):>10} {fmt('x', nu):>10} {bu / nu:7.3f}")
if netruns > 0:
    print()
    print(f"network: run /bin/true in a namespace of its own, start to exit (N={netruns}); added = with - without")
    print(f"{'option':36} {'berth':>10} {'added':>8} {'nspawn':>10} {'added':>8} {'ratio':>7} {'target':>8}")
    for k in NET_OPTS:
        b, n = statistics.median(net["berth"][k]), statistics.median(net["nspawn"][k])
        bo, no = statistics.median(net["berth"]["none"]), statistics.median(net["nspawn"]["none"])
        tg = None if k == "none" else 0.005
        verdict = "" if tg is None else ("ok" if b - bo <= tg else "MISSED")
        ok_all &= tg is None or b - bo <= tg
        label_k = " ".join(NET_OPTS[k]) or "(no network option)"
        print(f"{label_k:36} {fmt('x', b):>10} {fmt('x', b - bo):>8} {fmt('x', n):>10} {fmt('x', n - no):>8} {b / n:7.3f} {('<=5 ms' if tg else ''):>8} {verdict}")
    d = statistics.median(dhcp)
    print(f"{'-n, start until udhcpc holds a lease':36} {fmt('x', d):>10} {fmt('x', d - bo):>8}   (berth only: its own DHCP server)")
if netboots:
    print()
    print(f"network: bookworm boot to READY=1 in a namespace of its own (N={netboots}); added = with - without")
    print(f"{'option':36} {'berth':>10} {'added':>8} {'nspawn':>10} {'added':>8} {'ratio':>7} {'target':>8}")
    bo, no = statistics.median(netboot["berth"]["none"]), statistics.median(netboot["nspawn"]["none"])
    for k in NETBOOT_OPTS:
        b, n = statistics.median(netboot["berth"][k]), statistics.median(netboot["nspawn"][k])
        tg = None if k == "none" else 0.005
        verdict = "" if tg is None else ("ok" if b - bo <= tg else "MISSED")
        ok_all &= tg is None or b - bo <= tg
        label_k = "boot " + (" ".join(NET_OPTS[k]) or "(no network option)")
        print(f"{label_k:36} {fmt('x', b):>10} {fmt('x', b - bo):>8} {fmt('x', n):>10} {fmt('x', n - no):>8} {b / n:7.3f} {('<=5 ms' if tg else ''):>8} {verdict}")
print()
print("all targets met" if ok_all else "some targets missed")
PY
