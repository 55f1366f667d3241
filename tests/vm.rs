//! The real-systemd-host tier: berth inside a qemu VM whose PID 1 is systemd
//! on a pure cgroup v2 hierarchy, with systemd-machined on the bus, driven
//! through `systemctl` and `machinectl` as on any systemd host.
//!
//! The VM image is `tests/fixture.sh vm` (Debian trixie, the bookworm fixture
//! at /var/lib/machines/deb), built once and cached by its recipe. Each run
//! boots it with a throw-away disk overlay and shares a directory over
//! virtio-9p that brings the berth binary of this build, units/berth@.service
//! and tests/vm/guest-tests.sh. A unit in the image runs the script after boot
//! and powers the VM off; the script writes one line per check (`ok NAME` or
//! `FAIL NAME: detail`) back to the share, and this test asserts them all.
//!
//! qemu emulates the machine (TCG) unless BERTH_VM_ACCEL=kvm; the VM then
//! boots in about half a minute on the 2-core CI machine.
//! The share, the VM's serial console and the guest's logs stay in
//! target/tmp/vm/ after the run.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Boot plus every check, with room for a loaded host (boot alone took 93 s
/// and all checks 10 min with 2 cores shared by four builds); a VM that takes longer
/// is killed and the test fails with the tail of its console.
const VM_LIMIT: Duration = Duration::from_secs(900);
/// Until the guest's script starts (about 30 s on an idle 2-core machine, 80 s
/// when other builds share it): a VM that does not boot fails sooner.
const BOOT_LIMIT: Duration = Duration::from_secs(240);

/// Root on the virtio disk, the serial console, cgroup v2 only, no first-boot
/// prompts, and no_timer_check: a slow emulated CPU can fail the kernel's
/// IO-APIC timer check at boot (a panic, seen here under load).
const CMDLINE: &str = concat!(
    "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 ",
    "systemd.firstboot=off panic=-1 loglevel=4 no_timer_check"
);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What the guest reported: (name, None) for ok, (name, Some(detail)) for FAIL.
fn parse_results(text: &str) -> Vec<(String, Option<String>)> {
    text.lines()
        .filter_map(|l| {
            if let Some(n) = l.strip_prefix("ok ") {
                Some((n.trim().to_string(), None))
            } else {
                let rest = l.strip_prefix("FAIL ")?;
                let (n, d) = rest.split_once(": ").unwrap_or((rest, ""));
                Some((n.trim().to_string(), Some(d.to_string())))
            }
        })
        .collect()
}

#[test]
fn systemd_host_in_a_vm() {
    require(&["qemu-system-x86_64", "mkfs.ext4"]);
    let image = fixture("vm");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vm");
    let share = dir.join("share");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&share).expect("create the share");
    for (src, name) in [
        (PathBuf::from(BERTH), "berth"),
        (repo_root().join("units/berth@.service"), "berth@.service"),
        (repo_root().join("tests/vm/guest-tests.sh"), "guest-tests.sh"),
        (repo_root().join("tests/vm/checks-net-networkd.sh"), "checks-net-networkd.sh"),
        (repo_root().join("tests/vm/checks-net-ipvlan.sh"), "checks-net-ipvlan.sh"),
        // `ip` and `ping` for the networking checks (the image has neither).
        (PathBuf::from("/bin/busybox"), "busybox"),
        (repo_root().join("tests/vm/checks-services.sh"), "checks-services.sh"),
    ] {
        fs::copy(&src, share.join(name)).unwrap_or_else(|e| panic!("copy {} to the share: {e}", src.display()));
    }
    let console = dir.join("console.log");

    let mut qemu = Command::new("qemu-system-x86_64");
    // TCG unless asked for KVM: a /dev/kvm that opens may still fail to run
    // a guest (here, nested, qemu aborts setting an MSR).
    if std::env::var("BERTH_VM_ACCEL").as_deref() == Ok("kvm") {
        qemu.args(["-accel", "kvm", "-cpu", "host"]);
    } else {
        eprintln!("NOTE: qemu emulates the VM (TCG); BERTH_VM_ACCEL=kvm uses KVM where it works");
        qemu.args(["-accel", "tcg", "-cpu", "max"]);
    }
    // One vCPU: with two, multi-threaded TCG sometimes oopses the guest
    // kernel at boot (a stray int3 while it patches its own code).
    qemu.args(["-M", "q35", "-smp", "1", "-m", "1536", "-nodefaults", "-no-reboot"]);
    qemu.args(["-display", "none", "-monitor", "none", "-nic", "none"]);
    qemu.arg("-serial").arg(format!("file:{}", console.display()));
    qemu.arg("-kernel").arg(image.join("vmlinuz")).arg("-initrd").arg(image.join("initrd.img"));
    qemu.args(["-append", CMDLINE]);
    // snapshot=on: writes go to a temporary overlay; the cached image stays as built.
    qemu.arg("-drive").arg(format!("file={},format=raw,if=virtio,snapshot=on", image.join("rootfs.raw").display()));
    qemu.arg("-virtfs").arg(format!("local,path={},mount_tag=berthhost,security_model=none", share.display()));
    qemu.stdin(Stdio::null());

    let start = Instant::now();
    let mut vm = Bg::spawn(qemu, dir.join("qemu.log"));
    let mut booted = None;
    let st = loop {
        // The script's first log line: the VM booted and runs the checks.
        if booted.is_none() && fs::metadata(share.join("guest.log")).is_ok_and(|m| m.len() > 0) {
            booted = Some(start.elapsed());
        }
        if let Some(s) = vm.try_status() {
            break Some(s);
        }
        if start.elapsed() >= VM_LIMIT || (booted.is_none() && start.elapsed() >= BOOT_LIMIT) {
            vm.kill9();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = start.elapsed();

    let results_text = fs::read_to_string(share.join("results")).unwrap_or_default();
    let results = parse_results(&results_text);
    eprintln!("VM tier: checks started after {booted:?}, VM off after {elapsed:?}; logs in {}", dir.display());
    for (name, detail) in &results {
        match detail {
            None => eprintln!("  ok   {name}"),
            Some(d) => eprintln!("  FAIL {name}: {d}"),
        }
    }
    let logs = || {
        format!(
            "--- serial console (tail) ---\n{}\n--- guest.log (tail) ---\n{}\n--- qemu ---\n{}\n(all in {})",
            tail(&console, 40),
            tail(&share.join("guest.log"), 40),
            vm.output(),
            dir.display()
        )
    };
    let Some(st) = st else {
        let what = if booted.is_none() {
            format!("the guest's checks did not start within {BOOT_LIMIT:?} (no boot, or no share)")
        } else {
            format!("the VM did not power off within {VM_LIMIT:?}")
        };
        panic!("{what}; killed it\nresults so far:\n{results_text}\n{}", logs());
    };
    let done = fs::read_to_string(share.join("status")).unwrap_or_default();
    assert!(
        done.trim() == "done",
        "the guest's checks did not all run (qemu {st:?} after {elapsed:?})\nresults:\n{results_text}\n{}",
        logs()
    );
    assert!(st.success(), "qemu exited with {st:?}\n{}", logs());

    let failed: Vec<String> =
        results.iter().filter_map(|(n, d)| d.as_ref().map(|d| format!("FAIL {n}: {d}"))).collect();
    assert!(!results.is_empty(), "the guest reported no checks\n{}", logs());
    assert!(
        failed.is_empty(),
        "{} of {} checks failed on the systemd host (details in {}/share/guest.log and journal):\n{}",
        failed.len(),
        results.len(),
        dir.display(),
        failed.join("\n")
    );
}
