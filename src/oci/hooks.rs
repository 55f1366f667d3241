//! OCI hooks: each runs with the container's state JSON on stdin, its
//! own args (args[0] included) and env, and an optional timeout; a
//! failing hook fails the step it belongs to (poststart and poststop
//! failures are only reported, as the runtime spec says).

use super::{OciError, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn run(kind: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    run_env(kind, hooks, state, &[])
}

/// As `run`; a hook that names no env gets `inherited` (startContainer
/// hooks run in the container with its process's environment, as runc's).
pub fn run_env(kind: &str, hooks: &[Hook], state: &serde_json::Value, inherited: &[String]) -> Result<()> {
    let text = state.to_string();
    for (i, h) in hooks.iter().enumerate() {
        let what = format!("hooks.{kind}[{i}] {}", h.path().display());
        let mut cmd = Command::new(h.path());
        let args = h.args().clone().unwrap_or_default();
        if let Some(a0) = args.first() {
            cmd.arg0(a0);
        }
        cmd.args(args.iter().skip(1)).env_clear().stdin(Stdio::piped());
        for e in h.env().as_deref().unwrap_or(inherited) {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
        let mut child = cmd.spawn().map_err(|e| OciError::Setup(format!("{what}: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A hook may exit without reading the state (SIGPIPE is at its
            // default in OCI mode): ignore it for this write only.
            // SAFETY: swapping one signal's disposition and restoring it.
            let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
            let _ = stdin.write_all(text.as_bytes());
            drop(stdin);
            // SAFETY: as above.
            unsafe { libc::signal(libc::SIGPIPE, old) };
        }
        let deadline = h.timeout().map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
        let status = loop {
            if let Some(s) = child.try_wait().map_err(|e| OciError::Setup(format!("{what}: {e}")))? {
                break s;
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(OciError::Setup(format!("{what}: timed out after {}s", h.timeout().unwrap_or(0))));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if !status.success() {
            return Err(OciError::Setup(format!("{what}: {status}")));
        }
    }
    Ok(())
}

/// The hooks of one kind from the spec.
pub fn of(spec: &oci_spec::runtime::Spec, kind: &str) -> Vec<Hook> {
    let Some(h) = spec.hooks() else { return Vec::new() };
    #[allow(deprecated)]
    let list = match kind {
        "prestart" => h.prestart(),
        "createRuntime" => h.create_runtime(),
        "createContainer" => h.create_container(),
        "startContainer" => h.start_container(),
        "poststart" => h.poststart(),
        "poststop" => h.poststop(),
        _ => &None,
    };
    list.clone().unwrap_or_default()
}
