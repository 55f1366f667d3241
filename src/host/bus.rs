//! berth's D-Bus plumbing (zbus), shared by the machined and systemd1
//! clients. zbus runs threads (its executor and the async-io reactor), and
//! the launcher forks after these calls, so every call is made in a child
//! process (`berth-dbus`) that reports back over a pipe as one tagged line.
//! berth's own processes stay single-threaded.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use zbus::export::serde;
use zbus::zvariant;

/// How long one helper may take (connect, activation, calls) in all.
const HELPER_LIMIT: Duration = Duration::from_secs(15);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer of a helper process, as one tagged line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok(String),
    Absent(String),
    Busy(String),
    Failed(String),
}

impl Reply {
    pub fn encode(&self) -> String {
        let (t, m) = match self {
            Reply::Ok(m) => ('O', m),
            Reply::Absent(m) => ('A', m),
            Reply::Busy(m) => ('B', m),
            Reply::Failed(m) => ('F', m),
        };
        format!("{t}{}", m.replace('\n', " "))
    }

    pub fn decode(s: &str) -> Reply {
        let mut c = s.chars();
        let (t, m) = (c.next(), c.as_str().to_string());
        match t {
            Some('O') => Reply::Ok(m),
            Some('A') => Reply::Absent(m),
            Some('B') => Reply::Busy(m),
            Some('F') => Reply::Failed(m),
            _ => Reply::Failed("the D-Bus helper ended without an answer".into()),
        }
    }
}

/// Runs `f` in a child process and returns its reply. The child holds the
/// D-Bus connection; it is gone when this returns.
pub fn in_helper(f: impl FnOnce() -> Reply) -> Reply {
    in_helper_within(HELPER_LIMIT, f)
}

/// `in_helper` for work that may take up to `limit` (a unit's start job).
pub fn in_helper_within(limit: Duration, f: impl FnOnce() -> Reply) -> Reply {
    let (r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return Reply::Failed(format!("creating a pipe for the D-Bus helper: {e}")),
    };
    // SAFETY: berth's processes are single-threaded (that is what the
    // helper is for), so the child may do anything.
    match unsafe { crate::sys::clone3(0, None, false) } {
        Err(e) => Reply::Failed(format!("starting the D-Bus helper: {e}")),
        Ok(None) => {
            drop(r);
            crate::sys::set_name("berth-dbus");
            let reply = f();
            let _ = std::fs::File::from(w).write_all(reply.encode().as_bytes());
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        Ok(Some(child)) => {
            drop(w);
            let pid = nix::unistd::Pid::from_raw(child.pid);
            let reply = read_reply(std::fs::File::from(r), limit, false);
            if reply.is_none() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = nix::sys::wait::waitpid(pid, None);
            reply.unwrap_or_else(|| {
                Reply::Failed(format!("the D-Bus service did not answer within {}s", limit.as_secs()))
            })
        }
    }
}

pub fn connect() -> zbus::Result<zbus::blocking::Connection> {
    zbus::blocking::connection::Builder::system()?.method_timeout(CALL_TIMEOUT).build()
}

pub fn call<B, R>(
    c: &zbus::blocking::Connection,
    dest: &str,
    path: &str,
    iface: &str,
    method: &str,
    body: &B,
) -> zbus::Result<R>
where
    B: serde::Serialize + zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zvariant::Type,
{
    c.call_method(Some(dest), path, Some(iface), method, body)?.body().deserialize::<R>()
}

pub fn bus_call<B, R>(c: &zbus::blocking::Connection, method: &str, body: &B) -> zbus::Result<R>
where
    B: serde::Serialize + zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zvariant::Type,
{
    call(c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", method, body)
}

/// A helper's reply from `pipe` within `limit`: everything until EOF, or
/// only the first line when `line` (the helper goes on after it). None on
/// a timeout.
pub fn read_reply(mut pipe: std::fs::File, limit: Duration, line: bool) -> Option<Reply> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while !(line && out.contains(&b'\n')) {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [nix::poll::PollFd::new(pipe.as_fd(), nix::poll::PollFlags::POLLIN)];
        let ms = nix::poll::PollTimeout::try_from(left.as_millis().min(60_000) as u32)
            .unwrap_or(nix::poll::PollTimeout::MAX);
        match nix::poll::poll(&mut fds, ms) {
            Ok(0) => return None,
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(_) => break,
        }
        let mut buf = [0u8; 1024];
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&out);
    Some(Reply::decode(text.lines().next().unwrap_or_default()))
}

/// A D-Bus error as text: the error name's last part and its message.
pub fn describe(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, msg, _) => {
            let short = name.as_str().rsplit('.').next().unwrap_or(name.as_str());
            match msg {
                Some(m) => format!("{m} ({short})"),
                None => short.to_string(),
            }
        }
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_round_trip() {
        for r in
            [Reply::Ok("a b".into()), Reply::Absent(String::new()), Reply::Busy("x".into()), Reply::Failed("f".into())]
        {
            assert_eq!(Reply::decode(&r.encode()), r);
        }
        assert!(matches!(Reply::decode(""), Reply::Failed(_)));
    }
}
