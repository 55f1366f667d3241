//! The verbs: dispatch from the command line, and start, state, kill,
//! delete, ps, pause, resume, update, events and list.

use super::cli::{Cli, Global, Verb};
use super::state::{self, Record, Status};
use super::{cgroup, hooks, Ctx, OciError, Result};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

pub fn dispatch(cli: &Cli) -> Result<i32> {
    let g = &cli.global;
    // The verbs that change a container wait for each other (and for its
    // create); `run` locks its create and start, not its wait.
    let _lock = match &cli.verb {
        Verb::Start { id }
        | Verb::Kill { id, .. }
        | Verb::Delete { id, .. }
        | Verb::Pause { id }
        | Verb::Resume { id }
        | Verb::Update { id, .. } => state::lock(&g.root, id)?,
        _ => None,
    };
    match &cli.verb {
        Verb::Create(a) => super::create::create(g, a).map(|_| 0),
        Verb::Start { id } => start(g, id).map(|_| 0),
        Verb::Run { create, detach, .. } => {
            let forward = (!*detach).then(super::forward::Forwarder::block);
            let pid = super::create::create(g, create)?;
            if let Err(e) = start(g, &create.id) {
                let _ = delete(g, &create.id, true);
                return Err(e);
            }
            if *detach {
                return Ok(0);
            }
            let code = forward.map_or_else(|| wait(pid), |f| f.wait(pid));
            delete(g, &create.id, true)?;
            Ok(code)
        }
        Verb::State { id } => {
            let rec = state::load(&g.root, id)?;
            let v = rec.state_json(rec.status(&g.root));
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(0)
        }
        Verb::Kill { all, id, signal } => kill(g, id, signal.as_deref().unwrap_or("SIGTERM"), *all).map(|_| 0),
        Verb::Delete { force, id } => delete(g, id, *force).map(|_| 0),
        Verb::Exec(a) => super::exec::exec(g, a),
        Verb::Ps { format, id, .. } => ps(g, id, format).map(|_| 0),
        Verb::Pause { id } => pause(g, id, true).map(|_| 0),
        Verb::Resume { id } => pause(g, id, false).map(|_| 0),
        Verb::Update { resources, memory, pids_limit, id } => {
            update(g, id, resources.as_deref(), *memory, *pids_limit).map(|_| 0)
        }
        Verb::Events { stats, interval, id } => events(g, id, *stats, interval).map(|_| 0),
        Verb::List { format, quiet } => list(g, format, *quiet).map(|_| 0),
        Verb::Features => {
            println!("{}", serde_json::to_string_pretty(&super::spec::features()).unwrap_or_default());
            Ok(0)
        }
        Verb::Spec { bundle } => {
            super::spec::write_default(bundle, g.rootless.as_deref().is_some_and(|v| v != "false")).map(|_| 0)
        }
    }
}

/// Waits for our child `pid`; its exit code, or 128+signal.
pub fn wait(pid: i32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a local status.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 255;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

fn loaded(g: &Global, id: &str) -> Result<(Record, Status)> {
    let rec = state::load(&g.root, id)?;
    let st = rec.status(&g.root);
    Ok((rec, st))
}

pub fn start(g: &Global, id: &str) -> Result<()> {
    let (rec, st) = loaded(g, id)?;
    if st != Status::Created {
        return Err(OciError::State(format!("container {id} is {}; start needs a created container", st.as_str())));
    }
    let fifo = state::fifo(&g.root, id);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .ctx(|| format!("opening {}", fifo.display()))?;
    let mut buf = [0u8; 1];
    loop {
        match f.read(&mut buf) {
            Ok(1) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(OciError::sys("reading exec.fifo", e)),
        }
        if !rec.alive() {
            let _ = std::fs::remove_file(&fifo);
            return Err(OciError::State(format!("container {id}'s process exited before start")));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    std::fs::remove_file(&fifo).ctx(|| format!("removing {}", fifo.display()))?;
    let st = rec.state_json(Status::Running);
    if let Err(e) = hooks::run("poststart", &hooks::of(&rec.config, "poststart"), &st) {
        eprintln!("berth: warning: {e}");
    }
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

fn kill(g: &Global, id: &str, sig: &str, all: bool) -> Result<()> {
    let (rec, st) = loaded(g, id)?;
    let n = crate::sys::signal::parse(sig.trim_start_matches("SIG"))
        .or_else(|_| crate::sys::signal::parse(sig))
        .map_err(|e| OciError::State(e.to_string()))?;
    if st == Status::Stopped {
        return Err(OciError::State(format!("container {id} is not running")));
    }
    if all {
        cgroup::signal_all(&rec.cgroups, n);
        if st == Status::Paused && n == libc::SIGKILL {
            let _ = cgroup::freeze(&rec.cgroups, false);
        }
        return Ok(());
    }
    // libc's kill: nix's Signal has no real-time signals (SIGRTMIN+3 stops systemd).
    // SAFETY: plain kill(2).
    // A machine's systemd halts on SIGRTMIN+3; SIGTERM would only make it
    // re-execute itself (machine.rs).
    let n = super::machine::kill_signal(rec.machine.as_ref(), n);
    if unsafe { libc::kill(rec.pid, n) } < 0 {
        return Err(OciError::sys(format!("signalling container {id}"), std::io::Error::last_os_error()));
    }
    Ok(())
}

pub fn delete(g: &Global, id: &str, force: bool) -> Result<()> {
    state::check_id(id)?;
    let dir = state::dir(&g.root, id);
    let rec = match state::load(&g.root, id) {
        Ok(r) => r,
        // A create that was killed leaves a directory without a record.
        Err(_) if dir.is_dir() && !dir.join("berth.json").exists() => {
            return std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()));
        }
        Err(OciError::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = rec.status(&g.root);
    if matches!(st, Status::Running | Status::Paused) && !force {
        return Err(OciError::State(format!("container {id} is {}; stop it first or use delete --force", st.as_str())));
    }
    cgroup::remove(&rec.cgroups)?;
    if let Some(note) = rec.machine.as_ref().and_then(super::machine::unregister) {
        super::log::warn(g, &note);
    }
    if let Err(e) = hooks::run("poststop", &hooks::of(&rec.config, "poststop"), &rec.state_json(Status::Stopped)) {
        eprintln!("berth: warning: {e}");
    }
    std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()))
}

fn ps(g: &Global, id: &str, format: &str) -> Result<()> {
    let (rec, _) = loaded(g, id)?;
    let pids = cgroup::pids(&rec.cgroups);
    if format == "json" {
        println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(());
    }
    println!("{:<8} {:<8} {:<8} CMD", "UID", "PID", "PPID");
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or("?")
                .to_string()
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        println!("{:<8} {:<8} {:<8} {}", field("Uid:"), pid, field("PPid:"), cmd.trim_end());
    }
    Ok(())
}

fn pause(g: &Global, id: &str, on: bool) -> Result<()> {
    let (rec, st) = loaded(g, id)?;
    match (on, st) {
        (true, Status::Running) | (false, Status::Paused) => cgroup::freeze(&rec.cgroups, on),
        _ => Err(OciError::State(format!(
            "container {id} is {}; cannot {}",
            st.as_str(),
            if on { "pause" } else { "resume" }
        ))),
    }
}

fn update(g: &Global, id: &str, file: Option<&Path>, memory: Option<i64>, pids: Option<i64>) -> Result<()> {
    let (rec, st) = loaded(g, id)?;
    if st == Status::Stopped {
        return Err(OciError::State(format!("container {id} is stopped")));
    }
    let mut v: serde_json::Value = match file {
        Some(p) if p == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).ctx(|| "reading resources from stdin".into())?;
            serde_json::from_str(&s).map_err(|e| OciError::Bundle(format!("--resources: {e}")))?
        }
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p).ctx(|| format!("--resources {}", p.display()))?)
            .map_err(|e| OciError::Bundle(format!("--resources: {e}")))?,
        None => serde_json::json!({}),
    };
    if let Some(m) = memory {
        v["memory"]["limit"] = m.into();
    }
    if let Some(p) = pids {
        v["pids"]["limit"] = p.into();
    }
    super::bundle::refuse_unsupported(&serde_json::json!({"linux": {"resources": v}}))?;
    let r: oci_spec::runtime::LinuxResources =
        serde_json::from_value(v).map_err(|e| OciError::Bundle(format!("--resources: {e}")))?;
    let w: Vec<_> =
        cgroup::writes(&r, &cgroup::hierarchies())?.into_iter().filter(|(c, _, _)| *c != "devices").collect();
    cgroup::update(&rec.cgroups, &w)
}

fn read_num(rec: &Record, file: &str) -> Option<u64> {
    rec.cgroups.iter().find_map(|d| std::fs::read_to_string(d.join(file)).ok()).and_then(|s| s.trim().parse().ok())
}

fn stats(rec: &Record) -> serde_json::Value {
    serde_json::json!({
        "type": "stats",
        "id": rec.id,
        "data": {
            "cpu": {"usage": {"total": read_num(rec, "cpuacct.usage")}},
            "memory": {"usage": {"usage": read_num(rec, "memory.usage_in_bytes"), "limit": read_num(rec, "memory.limit_in_bytes"),
                                  "max": read_num(rec, "memory.max_usage_in_bytes")}},
            "pids": {"current": read_num(rec, "pids.current"), "limit": read_num(rec, "pids.max")},
        }
    })
}

fn events(g: &Global, id: &str, once: bool, interval: &str) -> Result<()> {
    let secs: f64 = interval
        .trim_end_matches('s')
        .parse()
        .map_err(|_| OciError::State(format!("--interval {interval}: use seconds like 5s")))?;
    loop {
        let (rec, st) = loaded(g, id)?;
        if st == Status::Stopped && !once {
            return Ok(());
        }
        println!("{}", stats(&rec));
        if once {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs_f64(secs.max(0.1)));
    }
}

fn list(g: &Global, format: &str, quiet: bool) -> Result<()> {
    let recs: Vec<(Record, Status)> = state::ids(&g.root).iter().filter_map(|id| loaded(g, id).ok()).collect();
    if quiet {
        recs.iter().for_each(|(r, _)| println!("{}", r.id));
    } else if format == "json" {
        let v: Vec<_> = recs.iter().map(|(r, s)| r.state_json(*s)).collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        println!("{:<20} {:<8} {:<10} {:<40} CREATED", "ID", "PID", "STATUS", "BUNDLE");
        for (r, s) in &recs {
            let pid = if *s == Status::Stopped { 0 } else { r.pid };
            println!("{:<20} {:<8} {:<10} {:<40} {}", r.id, pid, s.as_str(), r.bundle.display(), r.created);
        }
    }
    Ok(())
}
