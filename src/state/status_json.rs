//! `berth status NAME --json`: what `show --json` says of the machine, plus
//! what `status` measures (CPU, memory, tasks, processes). The fields are
//! documented in docs/json.md.

use crate::state::machine::Machine;
use serde_json::{json, Value};
use std::fs;

/// cgroup2's `usage_usec` from the guest's cpu.stat, when the guest's
/// cgroup is a cgroup2 one with the cpu controller's accounting.
fn cpu_usec(m: &Machine) -> Option<u64> {
    let text = fs::read_to_string(m.guest_cgroup()?.join("cpu.stat")).ok()?;
    text.lines().find_map(|l| l.strip_prefix("usage_usec ")).and_then(|v| v.trim().parse().ok())
}

/// cgroup2's memory.current of the guest's cgroup.
fn memory_bytes(m: &Machine) -> Option<u64> {
    fs::read_to_string(m.guest_cgroup()?.join("memory.current")).ok()?.trim().parse().ok()
}

pub fn status_json(m: &Machine) -> Value {
    let mut v = m.to_json();
    let procs = m.processes();
    let extra = json!({
        "cpu_usec": cpu_usec(m),
        "memory_bytes": memory_bytes(m),
        "tasks": procs.len(),
        "processes": procs.iter().map(|(pid, cmd)| json!({ "pid": pid, "command": cmd })).collect::<Vec<_>>(),
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut v, extra) {
        o.extend(e);
    }
    v
}
