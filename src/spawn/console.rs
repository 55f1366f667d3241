//! The host side of the guest's console: pty forwarding in raw mode with
//! the ^]^]^] escape, read-only output, or nothing (passive, pipe).

use crate::settings::config::ConsoleMode;
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

const ESCAPE: u8 = 0x1d; // ^]
const ESCAPE_COUNT: usize = 3;
const ESCAPE_WINDOW: Duration = Duration::from_secs(1);

pub struct Console {
    pub mode: ConsoleMode,
    pub master: OwnedFd,
    // Held so the master never reads EIO while the guest has no console
    // open, and so output written just before exit stays readable.
    slave: Option<OwnedFd>,
    saved: Option<Termios>,
    escape: Escape,
    stdin_open: bool,
    stdout_open: bool,
}

/// What the launcher should do after input.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Continue,
    KillRequested,
}

impl Console {
    pub fn new(mode: ConsoleMode, master: OwnedFd, slave: OwnedFd) -> Console {
        let _ = nix::fcntl::fcntl(master.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK));
        let mut c = Console {
            mode,
            master,
            slave: Some(slave),
            saved: None,
            escape: Escape::default(),
            stdin_open: mode == ConsoleMode::Interactive,
            stdout_open: matches!(mode, ConsoleMode::Interactive | ConsoleMode::ReadOnly),
        };
        if mode == ConsoleMode::Interactive {
            let stdin = std::io::stdin();
            if let Ok(t) = termios::tcgetattr(stdin.as_fd()) {
                let mut raw = t.clone();
                termios::cfmakeraw(&mut raw);
                if termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).is_ok() {
                    c.saved = Some(t);
                }
            }
        }
        c.resize();
        c
    }

    /// Copies the host terminal's size to the pty.
    pub fn resize(&self) {
        // SAFETY: winsize ioctls on valid descriptors.
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 || libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
            }
        }
    }

    pub fn wants_stdin(&self) -> bool {
        self.stdin_open
    }

    pub fn master_fd(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    /// Moves what the guest wrote to our stdout (or drops it in passive
    /// mode, so the guest never blocks on a full pty).
    pub fn pump_output(&mut self) {
        let mut buf = [0u8; 8192];
        loop {
            // Plain read(2) rather than nix's, whose errno conversion is a
            // table of its own to fault in on every drained read.
            // SAFETY: reads into a valid buffer of its length.
            let n = unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match n {
                0 => return,
                n if n > 0 => self.forward(&buf[..n as usize]),
                _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => continue,
                // EAGAIN: drained; EIO: nobody holds the slave right now.
                _ => return,
            }
        }
    }

    /// Writes the guest's output to our stdout with plain write(2) calls:
    /// no buffering to flush, and (once the start's pages are given back,
    /// src/sys/trim.rs) a few pages of code to run rather than std's
    /// line-buffered stdout. A stdout that fails is not written again.
    fn forward(&mut self, mut out: &[u8]) {
        while self.stdout_open && !out.is_empty() {
            // SAFETY: writes from a valid slice to fd 1.
            let n = unsafe { libc::write(1, out.as_ptr().cast(), out.len()) };
            if n > 0 {
                out = &out[n as usize..];
                continue;
            }
            match if n == 0 { None } else { std::io::Error::last_os_error().raw_os_error() } {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    // A non-blocking stdout (shared with a caller that set
                    // O_NONBLOCK): wait until it drains.
                    let mut p = libc::pollfd { fd: 1, events: libc::POLLOUT, revents: 0 };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 1000) };
                }
                _ => self.stdout_open = false,
            }
        }
    }

    /// Forwards what the user typed; three ^] within a second ask for the
    /// guest to be killed.
    pub fn pump_input(&mut self) -> Input {
        let mut buf = [0u8; 4096];
        let n = match nix::unistd::read(0, &mut buf) {
            Ok(0) | Err(nix::Error::EIO) | Err(nix::Error::EBADF) => {
                self.stdin_open = false;
                return Input::Continue;
            }
            Ok(n) => n,
            Err(_) => return Input::Continue,
        };
        let now = Instant::now();
        if buf[..n].iter().any(|&b| self.escape.feed(b, now)) {
            return Input::KillRequested;
        }
        let mut off = 0;
        while off < n {
            match nix::unistd::write(&self.master, &buf[off..n]) {
                Ok(w) => off += w,
                Err(nix::Error::EINTR) => {}
                Err(nix::Error::EAGAIN) => std::thread::sleep(Duration::from_millis(1)),
                Err(_) => break,
            }
        }
        Input::Continue
    }

    /// After the guest is gone: lets go of our slave so the master reads
    /// EIO once the pty has delivered everything, and copies all of it.
    /// The tty layer hands data to the master asynchronously, so reading
    /// until EAGAIN right after the exit can miss the guest's last output.
    pub fn finish(&mut self) {
        self.slave = None;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            match nix::unistd::read(self.master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(nix::Error::EIO) => break,
                Ok(n) => self.forward(&buf[..n]),
                Err(nix::Error::EAGAIN) => {
                    let mut p = libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 50) };
                }
                Err(nix::Error::EINTR) => {}
                Err(_) => break,
            }
        }
    }

    /// Restores the host terminal.
    pub fn restore(&mut self) {
        if let Some(t) = self.saved.take() {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &t);
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Detects ^] pressed three times within one second, nothing between.
#[derive(Default)]
struct Escape {
    presses: Vec<Instant>,
}

impl Escape {
    fn feed(&mut self, b: u8, now: Instant) -> bool {
        if b != ESCAPE {
            self.presses.clear();
            return false;
        }
        self.presses.retain(|t| now.duration_since(*t) < ESCAPE_WINDOW);
        self.presses.push(now);
        self.presses.len() >= ESCAPE_COUNT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_needs_three_presses_within_a_second() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut e = Escape::default();
        assert!(!e.feed(ESCAPE, ms(0)));
        assert!(!e.feed(ESCAPE, ms(100)));
        assert!(e.feed(ESCAPE, ms(200)));

        let mut e = Escape::default();
        assert!(!e.feed(ESCAPE, ms(0)));
        assert!(!e.feed(ESCAPE, ms(100)));
        assert!(!e.feed(ESCAPE, ms(1500)), "the earlier presses expired");
        assert!(!e.feed(ESCAPE, ms(1600)));
        assert!(e.feed(ESCAPE, ms(1700)));

        let mut e = Escape::default();
        assert!(!e.feed(ESCAPE, ms(0)));
        assert!(!e.feed(ESCAPE, ms(10)));
        assert!(!e.feed(b'a', ms(20)), "other input resets");
        assert!(!e.feed(ESCAPE, ms(30)));
    }
}
