//! How berth asks a guest to stop: the signal its init understands
//! (SIGRTMIN+3 for systemd, SIGUSR2 for busybox, SIGTERM otherwise,
//! `--kill-signal` when given), or sysvinit's runlevel-0 request on
//! /run/initctl; `run` forwards the signal it got to the command.

use crate::settings::config::{Config, InitKind, Mode};
use crate::sys::{self, signal};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Signal(i32),
    /// Write sysvinit's halt request to /run/initctl (SIGPWR if that fails).
    Initctl,
}

/// What to do on SIGTERM or SIGINT (`sig`) sent to berth.
pub fn request(cfg: &Config, sig: i32) -> Request {
    match &cfg.mode {
        Mode::Run { .. } => Request::Signal(sig),
        Mode::Boot { .. } if cfg.kill_signal.is_some() => Request::Signal(cfg.kill_signal.unwrap_or(sig)),
        Mode::Boot { kind, .. } => match kind {
            InitKind::Systemd => Request::Signal(signal::rtmin() + 3),
            InitKind::Busybox => Request::Signal(libc::SIGUSR2),
            InitKind::SysV => Request::Initctl,
            InitKind::Unknown => Request::Signal(libc::SIGTERM),
        },
    }
}

/// sysvinit's request to switch to runlevel 0, written to its fifo in the
/// guest's /run (reached through the leader's root).
pub fn initctl_halt(leader: i32) -> std::io::Result<()> {
    let mut req = [0u8; 384];
    req[0..4].copy_from_slice(&0x0309_1969i32.to_ne_bytes()); // magic
    req[4..8].copy_from_slice(&1i32.to_ne_bytes()); // INIT_CMD_RUNLVL
    req[8..12].copy_from_slice(&(b'0' as i32).to_ne_bytes());
    let root = std::fs::File::open(format!("/proc/{leader}/root"))?;
    let fifo = sys::open_in_root(&root, std::path::Path::new("/run/initctl"), libc::O_WRONLY | libc::O_NONBLOCK, 0)?;
    std::fs::File::from(fifo).write_all(&req)
}
