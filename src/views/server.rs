//! The server's loop: read a request from /dev/fuse, answer it, and
//! between requests sample the machine's load. Single-threaded; it serves
//! one machine. Each open file keeps the text rendered by its read at
//! offset 0, so a reader reading in pieces gets one consistent snapshot,
//! and one that seeks back to 0 (top, free -s) gets fresh numbers.

use crate::views::fuse::{self, Request};
use crate::views::inflight::Inflight;
use crate::views::machine::Machine;
use crate::views::render::loadavg::SAMPLE_SECS;
use crate::views::{File, FILES};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long the kernel may cache names and attributes: they never change.
const VALID_SECS: u64 = 86400;
/// Open files whose snapshots are kept at most (a guest leaking
/// descriptors must not grow the server without bound).
const MAX_OPEN: usize = 4096;
const ROOT: u64 = 1;

pub struct Server {
    fuse: OwnedFd,
    machine: Machine,
    /// Per open file: its text, and whether its open just rendered it.
    snapshots: HashMap<u64, (Vec<u8>, bool)>,
    /// The length of each file's latest text, its size in attributes.
    sizes: [u64; FILES.len()],
    next_fh: u64,
    mounted: u64,
}

/// What became of one message.
enum Outcome {
    Reply(Vec<u8>),
    None,
}

impl Server {
    pub fn new(fuse: OwnedFd, machine: Machine) -> Server {
        let mounted =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Server { fuse, machine, snapshots: HashMap::new(), sizes: [0; FILES.len()], next_fh: 1, mounted }
    }

    /// Serves until the filesystem is gone (0) or the connection fails (1).
    pub fn run(&mut self, inflight: &mut Inflight) -> i32 {
        if let Some(msg) = inflight.take() {
            // The previous server died on this one: answer it now.
            self.serve(&msg, inflight);
        }
        let mut buf = vec![0u8; fuse::READ_BUFFER];
        let mut next_sample = Instant::now() + Duration::from_secs(SAMPLE_SECS);
        loop {
            let left = next_sample.saturating_duration_since(Instant::now());
            let timeout = PollTimeout::try_from(left.as_millis() as u32 + 1).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.fuse.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(_) => return 1,
            }
            if Instant::now() >= next_sample {
                self.machine.sample();
                next_sample = Instant::now() + Duration::from_secs(SAMPLE_SECS);
            }
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            if revents.contains(PollFlags::POLLERR) {
                return 0;
            }
            if !revents.contains(PollFlags::POLLIN) {
                continue;
            }
            match nix::unistd::read(self.fuse.as_raw_fd(), &mut buf) {
                Ok(n) => {
                    let msg = buf[..n].to_vec();
                    self.serve(&msg, inflight);
                }
                // Nothing (another reader took it), or a request
                // interrupted before we could read it.
                Err(nix::Error::EAGAIN | nix::Error::EINTR | nix::Error::ENOENT) => {}
                // Unmounted everywhere: the machine is gone.
                Err(nix::Error::ENODEV) => return 0,
                Err(_) => return 1,
            }
        }
    }

    fn serve(&mut self, msg: &[u8], inflight: &mut Inflight) {
        inflight.store(msg);
        if let Outcome::Reply(r) = self.handle(msg) {
            // ENOENT: the request was interrupted meanwhile; nothing to do.
            let _ = nix::unistd::write(&self.fuse, &r);
        }
        inflight.clear();
    }

    fn attr(&mut self, ino: u64) -> Option<fuse::Attr> {
        let time = self.mounted;
        if ino == ROOT {
            return Some(fuse::Attr { ino, mode: libc::S_IFDIR | 0o555, nlink: 2, size: 0, time });
        }
        let f = File::from_ino(ino)?;
        let i = ino as usize - 2;
        if self.sizes[i] == 0 {
            self.render(f);
        }
        Some(fuse::Attr { ino, mode: libc::S_IFREG | 0o444, nlink: 1, size: self.sizes[i], time })
    }

    fn render(&mut self, f: File) -> Vec<u8> {
        let text = self.machine.render(f);
        self.sizes[f.ino() as usize - 2] = text.len() as u64;
        text
    }

    /// Renders the file for a new open and grows the kernel's idea of its
    /// size to the text's (a shorter text shrinks it at the end of the
    /// first read).
    fn open(&mut self, f: File) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        if self.snapshots.len() >= MAX_OPEN {
            self.snapshots.clear();
        }
        let text = self.render(f);
        if let Some(last) = text.last() {
            let _ = nix::unistd::write(&self.fuse, &fuse::notify_store(f.ino(), text.len() as u64 - 1, &[*last]));
        }
        self.snapshots.insert(fh, (text, true));
        fh
    }

    fn handle(&mut self, msg: &[u8]) -> Outcome {
        let Ok((h, req)) = fuse::decode(msg) else {
            // Without a header there is nobody to answer.
            return match msg.get(8..16) {
                Some(u) => Outcome::Reply(fuse::error(u64::from_ne_bytes(u.try_into().unwrap()), libc::EINVAL)),
                None => Outcome::None,
            };
        };
        let u = h.unique;
        let reply = match req {
            Request::Init { major, minor, .. } if major == fuse::MAJOR => fuse::reply(u, &fuse::init_out(minor)),
            Request::Init { .. } => fuse::error(u, libc::EPROTO),
            Request::Lookup { name } if h.nodeid == ROOT => match File::from_name(name) {
                Some(f) => match self.attr(f.ino()) {
                    Some(a) => fuse::reply(u, &fuse::entry_out(&a, VALID_SECS)),
                    None => fuse::error(u, libc::ENOENT),
                },
                None => fuse::error(u, libc::ENOENT),
            },
            Request::Lookup { .. } => fuse::error(u, libc::ENOTDIR),
            Request::GetAttr => match self.attr(h.nodeid) {
                Some(a) => fuse::reply(u, &fuse::attr_out(&a, VALID_SECS)),
                None => fuse::error(u, libc::ENOENT),
            },
            Request::Open { flags } => match File::from_ino(h.nodeid) {
                Some(_) if flags as i32 & libc::O_ACCMODE != libc::O_RDONLY => fuse::error(u, libc::EACCES),
                Some(f) => {
                    let fh = self.open(f);
                    fuse::reply(u, &fuse::open_out(fh, fuse::FOPEN_DIRECT_IO))
                }
                None => fuse::error(u, libc::EISDIR),
            },
            Request::Read { fh, offset, size } => match File::from_ino(h.nodeid) {
                Some(f) => fuse::reply(u, self.read(f, fh, offset, size)),
                None => fuse::error(u, libc::EISDIR),
            },
            Request::OpenDir if h.nodeid == ROOT => fuse::reply(u, &fuse::open_out(0, 0)),
            Request::OpenDir => fuse::error(u, libc::ENOTDIR),
            Request::ReadDir { offset, size } => fuse::reply(u, &readdir(offset, size as usize)),
            Request::StatFs => fuse::reply(u, &fuse::statfs_out(FILES.len() as u64 + 1)),
            Request::Close { fh } => {
                self.snapshots.remove(&fh);
                fuse::reply(u, &[])
            }
            Request::Destroy => fuse::reply(u, &[]),
            Request::NoReply => return Outcome::None,
            Request::Other => fuse::error(u, libc::ENOSYS),
        };
        Outcome::Reply(reply)
    }

    fn read(&mut self, f: File, fh: u64, offset: u64, size: u32) -> &[u8] {
        let fresh = self.snapshots.get(&fh).map(|(_, fresh)| *fresh);
        if (offset == 0 && fresh != Some(true)) || fresh.is_none() {
            if self.snapshots.len() >= MAX_OPEN {
                self.snapshots.clear();
            }
            let text = self.render(f);
            self.snapshots.insert(fh, (text, false));
        } else if let Some(s) = self.snapshots.get_mut(&fh) {
            s.1 = false;
        }
        let text = &self.snapshots[&fh].0;
        let start = (offset as usize).min(text.len());
        let end = start.saturating_add(size as usize).min(text.len());
        &text[start..end]
    }
}

/// The root directory's entries from `offset` on, as many as fit.
fn readdir(offset: u64, size: usize) -> Vec<u8> {
    let mut entries: Vec<(u64, u32, &[u8])> =
        vec![(ROOT, libc::DT_DIR as u32, b"."), (ROOT, libc::DT_DIR as u32, b"..")];
    entries.extend(FILES.iter().map(|f| (f.ino(), libc::DT_REG as u32, f.name().as_bytes())));
    let mut out = Vec::new();
    for (i, (ino, t, name)) in entries.iter().enumerate().skip(offset as usize) {
        let d = fuse::dirent(*ino, i as u64 + 1, *t, name);
        if out.len() + d.len() > size {
            break;
        }
        out.extend_from_slice(&d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_files_in_pieces() {
        let all = readdir(0, 4096);
        let names: Vec<String> = {
            let mut v = Vec::new();
            let mut at = 0;
            while at < all.len() {
                let len = u32::from_ne_bytes(all[at + 16..at + 20].try_into().unwrap()) as usize;
                v.push(String::from_utf8_lossy(&all[at + 24..at + 24 + len]).into_owned());
                at += (24 + len).div_ceil(8) * 8;
            }
            v
        };
        assert_eq!(names.len(), FILES.len() + 2);
        assert_eq!(names[..3], [".", "..", "meminfo"]);
        assert_eq!(readdir(0, 40).len(), 32, "only what fits");
        assert!(readdir(FILES.len() as u64 + 2, 4096).is_empty(), "past the end");
    }
}
