//! Host integration tests for the guest's policy options: the system call
//! filter (on every x86 ABI the kernel runs), capabilities, no_new_privs,
//! resource limits, the OOM score adjustment and the CPU affinity.
//!
//! They run the real `berth` as root on a private copy of the busybox
//! fixture, with small static probes compiled here with gcc (`-m32` and
//! `-mx32` need Debian's gcc-multilib). What cannot run here fails; only
//! a kernel without the x32 ABI skips that test (tests/allowed-skips).

mod common;

use common::*;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A private copy of the busybox tree in a scratch directory.
struct Setup {
    _s: Scratch,
    tree: PathBuf,
}

fn setup(tag: &str) -> Setup {
    let (s, tree) = busybox_setup(tag);
    Setup { _s: s, tree }
}

/// The value of `key=value` or `key:\tvalue` lines.
fn get(o: &Out, key: &str) -> String {
    for l in o.stdout.lines() {
        for sep in ["=", ":"] {
            if let Some(v) = l.strip_prefix(key).and_then(|r| r.strip_prefix(sep)) {
                return v.trim().to_string();
            }
        }
    }
    panic!("no {key} in the output\n{}", o.describe());
}

/// `berth run -q -P -D TREE -M NAME OPTS -- CMD...`, killed after a minute.
fn run(s: &Setup, tag: &str, opts: &[&str], cmd: &[&str]) -> Out {
    let mut c = berth();
    c.args(["run", "-q", "-P", "-D"]).arg(&s.tree).args(["-M", &unique_name(tag)]).args(opts).arg("--").args(cmd);
    run_to_end(c, Duration::from_secs(60))
}

const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#if defined(__x86_64__) && defined(__ILP32__)
#define ABI_BIT 0x40000000L
#else
#define ABI_BIT 0L
#endif

static const char *name(int e) {
    static char buf[16];
    switch (e) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    }
    snprintf(buf, sizeof buf, "E%d", e);
    return buf;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long r;
        errno = 0;
        if (!strcmp(a, "keyctl"))        /* KEYCTL_GET_KEYRING_ID of the session keyring */
            r = syscall(SYS_keyctl, 0L, -3L, 0L);
        else if (!strcmp(a, "bpf"))      /* BPF_MAP_CREATE without attributes */
            r = syscall(SYS_bpf, 0L, NULL, 0L);
        else if (!strcmp(a, "nr1000"))   /* a number no kernel has */
            r = syscall(ABI_BIT | 1000L);
        else if (!strcmp(a, "mount"))
            r = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0L, NULL);
        else if (!strcmp(a, "io_uring_setup"))
            r = syscall(SYS_io_uring_setup, 1L, NULL);
        else if (!strcmp(a, "process_mrelease")) /* real, but named by no table */
            r = syscall(SYS_process_mrelease, -1L, 0L);
        else if (!strcmp(a, "getpid"))
            r = syscall(SYS_getpid);
        else {
            printf("%s=unknown-probe\n", a);
            continue;
        }
        printf("%s=%s\n", a, r < 0 ? name(errno) : "ok");
    }
    return 0;
}
"#;

/// Compiles the probe for one ABI (`""`, `"-m32"` or `"-mx32"`) into the
/// tree's root as /probeABI; the test fails when gcc cannot.
fn probe(s: &Setup, flag: &str) -> String {
    let base = format!("probe{}", flag.trim_start_matches('-'));
    let flags: Vec<&str> = [flag].into_iter().filter(|f| !f.is_empty()).collect();
    gcc_static(PROBE_C, &s.tree.join(&base), &flags);
    format!("/{base}")
}

#[test]
fn denied_calls_fail_with_eperm_and_unknown_ones_with_enosys() {
    let s = setup("scnat");
    let p = probe(&s, "");
    let o = run(&s, "scnat", &[], &[&p, "getpid", "keyctl", "io_uring_setup", "nr1000", "process_mrelease"]);
    o.expect_code(0);
    assert_eq!(get(&o, "getpid"), "ok", "{}", o.stdout);
    assert_eq!(get(&o, "keyctl"), "EPERM", "{}", o.stdout);
    assert_eq!(get(&o, "io_uring_setup"), "EPERM", "{}", o.stdout);
    assert_eq!(get(&o, "nr1000"), "ENOSYS", "{}", o.stdout);
    // A real call the tables never mention gets ENOSYS (without the
    // filter it fails with EBADF on the bad pidfd).
    assert_eq!(get(&o, "process_mrelease"), "ENOSYS", "{}", o.stdout);

    // The control: allowed explicitly, keyctl reaches the kernel.
    let o = run(&s, "scnat", &["--system-call-filter=keyctl"], &[&p, "keyctl"]);
    o.expect_code(0);
    assert_eq!(get(&o, "keyctl"), "ok", "{}", o.stdout);
}

#[test]
fn bpf_is_denied_even_for_real_root() {
    // Without a user namespace root keeps CAP_SYS_ADMIN, so only the filter
    // can make bpf(2) fail with EPERM.
    let s = setup("scbpf");
    let p = probe(&s, "");
    let o = run(&s, "scbpf", &["-U", "no"], &[&p, "bpf"]);
    o.expect_code(0);
    assert_eq!(get(&o, "bpf"), "EPERM", "{}", o.stdout);
    let o = run(&s, "scbpf", &["-U", "no", "--system-call-filter=bpf"], &[&p, "bpf"]);
    o.expect_code(0);
    let v = get(&o, "bpf");
    assert!(v != "EPERM" && v != "ENOSYS", "bpf allowed explicitly still gave {v}");
}

#[test]
fn the_i386_abi_is_filtered_too() {
    let s = setup("sc32");
    let p = probe(&s, "-m32");
    let o = run(&s, "sc32", &[], &[&p, "getpid", "keyctl", "nr1000"]);
    o.expect_code(0);
    assert_eq!(get(&o, "getpid"), "ok", "{}", o.stdout);
    assert_eq!(get(&o, "keyctl"), "EPERM", "{}", o.stdout);
    assert_eq!(get(&o, "nr1000"), "ENOSYS", "{}", o.stdout);
    let o = run(&s, "sc32", &["--system-call-filter=keyctl"], &[&p, "keyctl"]);
    o.expect_code(0);
    assert_eq!(get(&o, "keyctl"), "ok", "{}", o.stdout);
}

#[test]
fn the_x32_abi_is_filtered_too() {
    let s = setup("scx32");
    let p = probe(&s, "-mx32");
    // Only where the kernel runs x32 programs at all.
    match Command::new(s.tree.join(p.trim_start_matches('/'))).arg("getpid").output() {
        Ok(o) if o.status.success() => {}
        _ => {
            skip(
                "x32-abi",
                "this kernel does not run x32 programs (CONFIG_X86_X32_ABI off, or syscall.x32=n); the x32 part of the filter cannot be exercised here",
            );
            return;
        }
    }
    let o = run(&s, "scx32", &[], &[&p, "getpid", "keyctl"]);
    o.expect_code(0);
    assert_eq!(get(&o, "getpid"), "ok", "{}", o.stdout);
    assert_eq!(get(&o, "keyctl"), "EPERM", "{}", o.stdout);
}

#[test]
fn system_call_filter_can_deny_a_group() {
    let s = setup("scmnt");
    let p = probe(&s, "");
    let o = run(&s, "scmnt", &[], &[&p, "mount"]);
    o.expect_code(0);
    assert_eq!(get(&o, "mount"), "ok", "guest root should mount a tmpfs: {}", o.stdout);
    for filter in ["--system-call-filter=~@mount", "--system-call-filter=~mount umount2"] {
        let o = run(&s, "scmnt", &[filter], &[&p, "mount"]);
        o.expect_code(0);
        assert_eq!(get(&o, "mount"), "EPERM", "{filter}: {}", o.stdout);
    }
    // The guest sees the filter.
    let o = run(&s, "scmnt", &[], &["grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(get(o.expect_code(0), "Seccomp"), "2");
}

fn cap_bounding(o: &Out) -> u64 {
    u64::from_str_radix(&get(o, "CapBnd"), 16).expect("CapBnd is hex")
}

#[test]
fn capability_options_change_the_bounding_set() {
    const SYS_ADMIN: u64 = 1 << 21;
    const SYS_TIME: u64 = 1 << 25;
    const SYS_BOOT: u64 = 1 << 22;
    let s = setup("caps");
    let cmd = ["grep", "^CapBnd:", "/proc/self/status"];
    let b = cap_bounding(run(&s, "caps", &[], &cmd).expect_code(0));
    assert!(b & SYS_ADMIN != 0 && b & SYS_BOOT != 0 && b & SYS_TIME == 0, "{b:x}");
    let b = cap_bounding(
        run(&s, "caps", &["--capability=CAP_SYS_TIME", "--drop-capability=CAP_SYS_ADMIN"], &cmd).expect_code(0),
    );
    assert!(b & SYS_TIME != 0, "CAP_SYS_TIME missing: {b:x}");
    assert!(b & SYS_ADMIN == 0, "CAP_SYS_ADMIN still there: {b:x}");
    assert!(b & SYS_BOOT != 0, "CAP_SYS_BOOT lost: {b:x}");

    let o = run(&s, "caps", &["--capability=CAP_NOPE"], &["true"]);
    assert_eq!(o.code(), 125);
    assert!(o.stderr.contains("unknown capability 'CAP_NOPE'"), "{}", o.stderr);
}

#[test]
fn no_new_privileges_is_off_unless_asked() {
    let s = setup("nnp");
    let cmd = ["grep", "^NoNewPrivs:", "/proc/self/status"];
    assert_eq!(get(run(&s, "nnp", &[], &cmd).expect_code(0), "NoNewPrivs"), "0");
    assert_eq!(get(run(&s, "nnp", &["--no-new-privileges"], &cmd).expect_code(0), "NoNewPrivs"), "1");
    assert_eq!(get(run(&s, "nnp", &["--no-new-privileges=no"], &cmd).expect_code(0), "NoNewPrivs"), "0");
}

#[test]
fn rlimit_oom_score_and_cpu_affinity_reach_the_guest() {
    let s = setup("res");
    let o = run(
        &s,
        "res",
        &[
            "--rlimit",
            "NOFILE=100",
            "--rlimit=RLIMIT_CORE=0:0",
            "--oom-score-adjust",
            "500",
            "--cpu-affinity",
            "0",
        ],
        &[
            "sh",
            "-c",
            "echo nofile=$(ulimit -n); echo core=$(ulimit -c); echo oom=$(cat /proc/self/oom_score_adj); grep ^Cpus_allowed_list: /proc/self/status",
        ],
    );
    o.expect_code(0);
    assert_eq!(get(&o, "nofile"), "100");
    assert_eq!(get(&o, "core"), "0");
    assert_eq!(get(&o, "oom"), "500");
    assert_eq!(get(&o, "Cpus_allowed_list"), "0");

    for (bad, says) in [
        ("--rlimit=NOFILE=10:5", "soft limit is above the hard limit"),
        ("--rlimit=FILES=1", "unknown resource 'FILES'"),
        ("--oom-score-adjust=2000", "integer from -1000 to 1000"),
        ("--cpu-affinity=2-1", "runs backwards"),
        ("--system-call-filter=@nope", "unknown group '@nope'"),
    ] {
        let o = run(&s, "res", &[bad], &["true"]);
        assert_eq!(o.code(), 125, "{bad}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{bad}: {}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{bad}: not one line: {}", o.stderr);
    }
}
