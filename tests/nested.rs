//! berth inside a booted berth machine: the outer machine is the bookworm
//! fixture booted with systemd as its PID 1 (`-x --nesting`, the berth
//! binary and the busybox and bookworm trees bound in read-only and
//! idmapped), and the inner berth runs there through `berth shell`, with
//! its default options: `run` and `boot` of a busybox tree and of a
//! bookworm tree exit cleanly with the right status and output, and leave
//! nothing behind, neither in the outer machine (no scope, record, lock)
//! nor on the host once the outer machine is powered off.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The outer machine, booted and running.
struct Outer {
    bg: Bg,
    name: String,
}

impl Outer {
    /// `sh -c SCRIPT` inside the outer machine, through `berth shell`.
    fn sh(&self, script: &str, timeout: Duration) -> Out {
        let mut c = berth();
        c.args(["shell", &self.name, "/bin/sh", "-c", script]);
        run_to_end(c, timeout)
    }

    /// What an inner machine may have left in the outer one: machine
    /// units, scopes, records and lock files of berth, mounts of its
    /// trees.
    fn leftovers(&self) -> String {
        let out = self.sh(
            "systemctl list-units --all --no-legend --plain 'machine-*' | sed 's/^/unit: /'; \
             find /sys/fs/cgroup -name 'machine-*' | sed 's/^/cgroup: /'; \
             ls -A /run/berth/machines 2>/dev/null | sed 's/^/record: /'; \
             ls -A /run/berth/locks/names 2>/dev/null | sed 's/^/name lock: /'; \
             ls -A /var/tmp/berth-layers 2>/dev/null | sed 's/^/layer: /'; \
             grep -E ' /srv/(bb|bw)/' /proc/self/mountinfo | sed 's/^/mount: /'; \
             ps -eo pid,args | grep -E '[b]erth (run|boot)|berth-' | sed 's/^/process: /'; true",
            QUICK,
        );
        out.stdout.trim().to_string()
    }

    fn assert_nothing_left(&self, after: &str) {
        let mut last = String::new();
        let ok = poll(Duration::from_secs(5), || {
            last = self.leftovers();
            last.is_empty().then_some(())
        });
        assert!(ok.is_some(), "{after} left this in the outer machine:\n{last}\n{}", self.bg.describe());
    }
}

fn boot_outer(s: &Scratch, bookworm: &Path, busybox: &Path, tag: &str) -> Outer {
    let name = unique_name(tag);
    let mut c = berth();
    c.args(["boot", "-x", "--nesting", "-M", &name, "-D"]).arg(bookworm);
    c.arg(format!("--bind-ro={BERTH}:/usr/local/bin/berth"));
    c.arg(format!("--bind-ro={}:/srv/bb:idmap", busybox.display()));
    c.arg(format!("--bind-ro={}:/srv/bw:idmap", s.path("bookworm").display()));
    let mut bg = Bg::spawn(c, s.path(&format!("{name}.log")));
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(30));
    wait_running(&mut bg, pid);
    Outer { bg, name }
}

/// Powers the outer machine off; it must exit 0. Returns its name.
fn power_off(mut outer: Outer) -> String {
    let out = run_to_end(
        {
            let mut c = berth();
            c.args(["poweroff", &outer.name]);
            c
        },
        QUICK,
    );
    out.expect_code(0);
    let st = outer.bg.wait(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "the outer machine did not power off cleanly\n{}", outer.bg.describe());
    outer.name.clone()
}

#[test]
fn run_and_boot_inside_a_berth_machine() {
    require(&["nsenter", "timeout", "cp"]);
    let bookworm = fixture("bookworm");
    let busybox = fixture("busybox");
    let _l = host_lock_shared();
    let t0 = Instant::now();
    let s = Scratch::new("nested");
    // The inner bookworm tree: the fixture seen a second time (the outer
    // machine's own lower layer cannot be idmapped twice).
    std::fs::create_dir(s.path("bookworm")).unwrap();
    let _m = TestMount::new(&["--bind", "-o", "ro", &bookworm.display().to_string()], &s.path("bookworm"));
    let outer = boot_outer(&s, &bookworm, &busybox, "nest");

    // run: the command's output and exit status come through.
    let out = outer.sh("berth run -D /srv/bb -M inner-run -- /bin/sh -c 'echo inner-says-hi; exit 7'", QUICK);
    assert_eq!(out.code(), 7, "{}", out.describe());
    assert!(out.stdout.contains("inner-says-hi"), "{}", out.describe());
    assert!(!out.stderr.contains("berth: "), "no error expected\n{}", out.describe());
    outer.assert_nothing_left("berth run of busybox");

    // run with -x on the read-only bookworm tree.
    let out = outer.sh(
        "berth run -x -D /srv/bw -M inner-bwrun -- /bin/sh -c '. /etc/os-release; echo codename=$VERSION_CODENAME; \
         touch /made && echo wrote-ok'",
        QUICK,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(out.stdout.contains("codename=bookworm") && out.stdout.contains("wrote-ok"), "{}", out.describe());
    outer.assert_nothing_left("berth run -x of bookworm");

    // boot of busybox: its init powers off on berth's stop request.
    let out = outer.sh(
        "berth boot -x -D /srv/bb -M inner-bbboot </dev/null >/tmp/bb.log 2>&1 & b=$!; \
         i=0; until berth list 2>/dev/null | grep -q '^inner-bbboot '; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done; \
         sleep 0.5; kill -TERM $b; wait $b; echo boot-exit=$?; cat /tmp/bb.log",
        QUICK,
    );
    assert!(out.stdout.contains("boot-exit=0"), "{}", out.describe());
    outer.assert_nothing_left("berth boot of busybox");

    // boot of bookworm: systemd in the nested machine reaches `running`
    // and powers off cleanly.
    let out = outer.sh(
        "berth boot -x -D /srv/bw -M inner-bwboot </dev/null >/tmp/bw.log 2>&1 & b=$!; \
         i=0; until [ \"$(berth shell inner-bwboot /bin/systemctl is-system-running --wait 2>/dev/null | tr -d '\\r')\" = running ]; do \
           i=$((i+1)); [ $i -lt 60 ] && kill -0 $b 2>/dev/null || break; sleep 0.5; done; \
         echo inner-state=$(berth shell inner-bwboot /bin/systemctl is-system-running 2>&1 | tr -d '\\r'); \
         berth poweroff inner-bwboot; wait $b; echo boot-exit=$?; tail -5 /tmp/bw.log",
        Duration::from_secs(50),
    );
    assert!(out.stdout.contains("inner-state=running"), "{}", out.describe());
    assert!(out.stdout.contains("boot-exit=0"), "{}", out.describe());
    outer.assert_nothing_left("berth boot of bookworm");

    let name = power_off(outer);
    drop(_m);
    assert_clean(&name, &name, &[&s.dir], None, Duration::from_secs(5));
    eprintln!("nested run and boot: {:?}", t0.elapsed());
}

/// Without `--nesting` the outer machine's /proc masks are locked and the
/// kernel refuses the inner guest a procfs: one error line that names the
/// fix, and nothing left behind in the outer machine.
#[test]
fn without_nesting_the_inner_start_names_the_fix() {
    require(&["nsenter", "timeout"]);
    let bookworm = fixture("bookworm");
    let busybox = fixture("busybox");
    let _l = host_lock_shared();
    let s = Scratch::new("nonest");
    let name = unique_name("nonest");
    let mut c = berth();
    c.args(["boot", "-x", "-M", &name, "-D"]).arg(&bookworm);
    c.arg(format!("--bind-ro={BERTH}:/usr/local/bin/berth"));
    c.arg(format!("--bind-ro={}:/srv/bb:idmap", busybox.display()));
    let mut bg = Bg::spawn(c, s.path(&format!("{name}.log")));
    let pid = wait_guest_init(&mut bg, &name, Duration::from_secs(30));
    wait_running(&mut bg, pid);
    let outer = Outer { bg, name };
    let out = outer.sh("berth run -q -D /srv/bb -M inner-nonest -- /bin/true", QUICK);
    assert_eq!(out.code(), 125, "{}", out.describe());
    assert_one_error_line(&out);
    assert!(out.stderr.contains("--nesting"), "the error must name the fix\n{}", out.describe());
    outer.assert_nothing_left("a refused inner start");
    let name = power_off(outer);
    assert_clean(&name, &name, &[&s.dir], None, Duration::from_secs(5));
}
