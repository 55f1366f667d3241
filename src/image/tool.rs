//! Running the distribution tools the image verbs lean on (tar, cp,
//! debootstrap, compressors): find them, run them with their messages
//! captured, and stop them when berth is interrupted, so the caller can
//! remove what they had half-written before exiting.

use super::{ImageError, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From here on SIGINT, SIGTERM and SIGHUP only set a flag that `run`
/// checks; the tools themselves get the default actions back at exec.
pub fn catch_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(SigHandler::Handler(note_signal), SaFlags::SA_RESTART, SigSet::empty());
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(s, &act) };
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The path of `tool` in PATH or the sbin directories root's PATH has.
pub fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `tool`, or an error saying which package installs it.
pub fn require(tool: &str, package: &str) -> Result<PathBuf> {
    find(tool).ok_or_else(|| ImageError::MissingTool { tool: tool.into(), package: package.into() })
}

/// How a tool ended and what it said on stderr.
pub struct Finished {
    pub success: bool,
    pub stderr: Vec<String>,
}

impl Finished {
    /// Ok on success; otherwise an error for `what` with the tool's first
    /// real complaint (tar's last line only says that it failed).
    pub fn check(self, what: &str) -> Result<()> {
        if self.success {
            return Ok(());
        }
        let detail = self
            .stderr
            .iter()
            .find(|l| !l.contains("Exiting with failure status") && !l.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "failed".into());
        Err(ImageError::Failed { what: what.into(), detail })
    }
}

/// Called with each line a tool prints; true when it came from stderr.
pub type OnLine<'a> = &'a mut dyn FnMut(bool, &str);

enum Line {
    Out(String),
    Err(String),
}

fn pump(r: impl Read + Send + 'static, tx: mpsc::Sender<Line>, wrap: fn(String) -> Line) {
    std::thread::spawn(move || {
        // debootstrap ends its progress lines with \r as well as \n.
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        while r.read_until(b'\n', &mut buf).map(|n| n > 0).unwrap_or(false) {
            for part in String::from_utf8_lossy(&buf).split('\r') {
                let part = part.trim_end();
                if !part.is_empty() && tx.send(wrap(part.to_string())).is_err() {
                    return;
                }
            }
            buf.clear();
        }
    });
}

/// Runs `cmd` to its end with stderr captured (and stdout too when
/// `on_line` wants every line of both; its flag says "from stderr"). An interruption stops the tool
/// and returns `Interrupted(what)`.
pub fn run(mut cmd: Command, what: &str, mut on_line: Option<OnLine>) -> Result<Finished> {
    let prog = cmd.get_program().to_string_lossy().into_owned();
    cmd.stderr(Stdio::piped());
    if on_line.is_some() {
        cmd.stdout(Stdio::piped());
    }
    tracing::debug!("running {:?}", cmd);
    let mut child = cmd.spawn().map_err(|e| ImageError::Io { what: format!("running {prog}"), source: e })?;
    let (tx, rx) = mpsc::channel();
    if let Some(o) = child.stdout.take() {
        pump(o, tx.clone(), Line::Out);
    }
    if let Some(e) = child.stderr.take() {
        pump(e, tx.clone(), Line::Err);
    }
    drop(tx);
    let mut stderr = Vec::new();
    let mut handle = |l: Line| match l {
        Line::Out(l) => {
            if let Some(f) = on_line.as_mut() {
                f(false, &l)
            }
        }
        Line::Err(l) => {
            if let Some(f) = on_line.as_mut() {
                f(true, &l)
            }
            stderr.push(l);
        }
    };
    let mut killed = false;
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => handle(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Both streams closed: the tool is ending (or has handed
            // them to a child of its own that outlives it).
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(20)),
        }
        if interrupted() && !killed {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            killed = true;
        }
        let done = child.try_wait().map_err(|e| ImageError::Io { what: format!("waiting for {prog}"), source: e })?;
        if let Some(s) = done {
            // Take what is still buffered in the pipes, until they close
            // (or a stray grandchild keeps them open for long).
            while let Ok(l) = rx.recv_timeout(Duration::from_secs(2)) {
                handle(l);
            }
            break s;
        }
    };
    if interrupted() {
        return Err(ImageError::Interrupted(what.into()));
    }
    Ok(Finished { success: status.success(), stderr })
}
