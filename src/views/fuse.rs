//! The FUSE wire protocol, as much of it as a read-only filesystem of a
//! few flat files needs: decoding the kernel's requests and encoding the
//! replies (the layouts of `include/uapi/linux/fuse.h`, native endian).
//! No I/O here.

/// The kernel's request header (`struct fuse_in_header`).
pub const IN_HEADER: usize = 40;
/// The reply header (`struct fuse_out_header`).
pub const OUT_HEADER: usize = 16;
/// The protocol we speak: 7.31 (kernel 5.4 and later all offer it).
pub const MAJOR: u32 = 7;
pub const MINOR: u32 = 31;
/// The largest write we accept (none: the filesystem is read-only), which
/// also sets the smallest read buffer the kernel wants from us.
pub const MAX_WRITE: u32 = 4096;
/// A read buffer the kernel accepts (at least FUSE_MIN_READ_BUFFER).
pub const READ_BUFFER: usize = 16 * 1024;
/// `FOPEN_DIRECT_IO`: every read reaches the server, as for procfs.
pub const FOPEN_DIRECT_IO: u32 = 1;

pub mod op {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const BATCH_FORGET: u32 = 42;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub opcode: u32,
    pub unique: u64,
    pub nodeid: u64,
}

/// One decoded request. Everything a read-only filesystem may ignore or
/// refuse arrives as `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Init {
        major: u32,
        minor: u32,
        max_readahead: u32,
    },
    Lookup {
        name: &'a [u8],
    },
    GetAttr,
    Open {
        flags: u32,
    },
    Read {
        fh: u64,
        offset: u64,
        size: u32,
    },
    OpenDir,
    ReadDir {
        offset: u64,
        size: u32,
    },
    StatFs,
    /// RELEASE, RELEASEDIR of handle `fh`: answered with success. (FLUSH
    /// is refused with ENOSYS, after which the kernel stops sending it and
    /// a close no longer waits for the server.)
    Close {
        fh: u64,
    },
    /// FORGET, BATCH_FORGET, INTERRUPT: no reply at all.
    NoReply,
    Destroy,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a malformed FUSE request ({0})")]
pub struct Malformed(pub &'static str);

fn u32_at(b: &[u8], at: usize) -> Result<u32, Malformed> {
    b.get(at..at + 4).map(|s| u32::from_ne_bytes(s.try_into().unwrap())).ok_or(Malformed("short"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Malformed> {
    b.get(at..at + 8).map(|s| u64::from_ne_bytes(s.try_into().unwrap())).ok_or(Malformed("short"))
}

/// Decodes one message read from /dev/fuse.
pub fn decode(buf: &[u8]) -> Result<(Header, Request<'_>), Malformed> {
    if buf.len() < IN_HEADER {
        return Err(Malformed("shorter than its header"));
    }
    let h = Header { len: u32_at(buf, 0)?, opcode: u32_at(buf, 4)?, unique: u64_at(buf, 8)?, nodeid: u64_at(buf, 16)? };
    if h.len as usize != buf.len() {
        return Err(Malformed("length does not match"));
    }
    let body = &buf[IN_HEADER..];
    let req = match h.opcode {
        op::INIT => Request::Init { major: u32_at(body, 0)?, minor: u32_at(body, 4)?, max_readahead: u32_at(body, 8)? },
        op::LOOKUP => {
            let end = body.iter().position(|&c| c == 0).ok_or(Malformed("name without its NUL"))?;
            Request::Lookup { name: &body[..end] }
        }
        op::GETATTR => Request::GetAttr,
        op::OPEN => Request::Open { flags: u32_at(body, 0)? },
        op::READ => Request::Read { fh: u64_at(body, 0)?, offset: u64_at(body, 8)?, size: u32_at(body, 16)? },
        op::OPENDIR => Request::OpenDir,
        op::READDIR => Request::ReadDir { offset: u64_at(body, 8)?, size: u32_at(body, 16)? },
        op::STATFS => Request::StatFs,
        op::RELEASE | op::RELEASEDIR => Request::Close { fh: u64_at(body, 0)? },
        op::FORGET | op::BATCH_FORGET | op::INTERRUPT => Request::NoReply,
        op::DESTROY => Request::Destroy,
        _ => Request::Other,
    };
    Ok((h, req))
}

/// A reply: the header, then `body`.
pub fn reply(unique: u64, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(OUT_HEADER + body.len());
    v.extend_from_slice(&((OUT_HEADER + body.len()) as u32).to_ne_bytes());
    v.extend_from_slice(&0i32.to_ne_bytes());
    v.extend_from_slice(&unique.to_ne_bytes());
    v.extend_from_slice(body);
    v
}

/// An error reply (`errno` positive, sent negated).
pub fn error(unique: u64, errno: i32) -> Vec<u8> {
    let mut v = reply(unique, &[]);
    v[4..8].copy_from_slice(&(-errno).to_ne_bytes());
    v
}

#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    fn zeros(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}

/// `struct fuse_init_out` (64 bytes from 7.23 on). No capability flags:
/// synchronous reads, no writeback, nothing cached beyond what we say.
pub fn init_out(kernel_minor: u32) -> Vec<u8> {
    Out::default()
        .u32(MAJOR)
        .u32(kernel_minor.min(MINOR))
        .u32(0) // max_readahead
        .u32(0) // flags
        .u32(0) // max_background (u16) + congestion_threshold (u16)
        .u32(MAX_WRITE)
        .u32(1) // time_gran
        .u32(0) // max_pages (u16) + map_alignment (u16)
        .zeros(32) // flags2 and unused[7]
        .0
}

/// A node's attributes (`struct fuse_attr`, 88 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub mode: u32,
    pub nlink: u32,
    pub size: u64,
    /// Seconds since the epoch, for all three times.
    pub time: u64,
}

fn attr(o: Out, a: &Attr) -> Out {
    o.u64(a.ino)
        .u64(a.size)
        .u64(a.size.div_ceil(512))
        .u64(a.time)
        .u64(a.time)
        .u64(a.time)
        .u32(0)
        .u32(0)
        .u32(0)
        .u32(a.mode)
        .u32(a.nlink)
        .u32(0) // uid
        .u32(0) // gid
        .u32(0) // rdev
        .u32(4096) // blksize
        .u32(0) // flags
}

/// `struct fuse_entry_out`: a LOOKUP's answer, valid for `valid` seconds.
pub fn entry_out(a: &Attr, valid: u64) -> Vec<u8> {
    let o = Out::default().u64(a.ino).u64(0).u64(valid).u64(valid).u32(0).u32(0);
    attr(o, a).0
}

/// `struct fuse_attr_out`: a GETATTR's answer.
pub fn attr_out(a: &Attr, valid: u64) -> Vec<u8> {
    attr(Out::default().u64(valid).u32(0).u32(0), a).0
}

/// `struct fuse_open_out`.
pub fn open_out(fh: u64, flags: u32) -> Vec<u8> {
    Out::default().u64(fh).u32(flags).u32(0).0
}

/// `struct fuse_kstatfs` inside `fuse_statfs_out`.
pub fn statfs_out(files: u64) -> Vec<u8> {
    Out::default().u64(0).u64(0).u64(0).u64(files).u64(0).u32(4096).u32(255).u32(4096).u32(0).zeros(24).0
}

/// `FUSE_NOTIFY_STORE`: puts `data` at `offset` into the page cache of
/// node `ino`, growing its size to the end of it. berth uses it to grow a
/// file's size to its new text before an open: splice and sendfile (what
/// busybox cat and copy_file_range use) read through the page cache up to
/// the size, even on a direct-I/O file.
pub fn notify_store(ino: u64, offset: u64, data: &[u8]) -> Vec<u8> {
    const FUSE_NOTIFY_STORE: i32 = 4;
    let body = Out::default().u64(ino).u64(offset).u32(data.len() as u32).u32(0);
    let mut v = reply(0, &body.0);
    v.extend_from_slice(data);
    let len = v.len() as u32;
    v[0..4].copy_from_slice(&len.to_ne_bytes());
    v[4..8].copy_from_slice(&FUSE_NOTIFY_STORE.to_ne_bytes());
    v
}

/// One `struct fuse_dirent`, padded to 8 bytes; `off` is the offset of
/// the entry after it.
pub fn dirent(ino: u64, off: u64, dtype: u32, name: &[u8]) -> Vec<u8> {
    let mut o = Out::default().u64(ino).u64(off).u32(name.len() as u32).u32(dtype);
    o.0.extend_from_slice(name);
    let pad = (8 - o.0.len() % 8) % 8;
    o.zeros(pad).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(opcode: u32, unique: u64, nodeid: u64, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((IN_HEADER + body.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&opcode.to_ne_bytes());
        v.extend_from_slice(&unique.to_ne_bytes());
        v.extend_from_slice(&nodeid.to_ne_bytes());
        v.extend_from_slice(&[0u8; 16]); // uid, gid, pid, extlen, padding
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn decodes_the_requests_a_read_only_filesystem_gets() {
        let mut init = Vec::new();
        for v in [7u32, 38, 131072, 0] {
            init.extend_from_slice(&v.to_ne_bytes());
        }
        let m = request(op::INIT, 2, 0, &init);
        let (h, r) = decode(&m).unwrap();
        assert_eq!(h, Header { len: m.len() as u32, opcode: op::INIT, unique: 2, nodeid: 0 });
        assert_eq!(r, Request::Init { major: 7, minor: 38, max_readahead: 131072 });

        let m = request(op::LOOKUP, 4, 1, b"meminfo\0");
        assert_eq!(decode(&m).unwrap().1, Request::Lookup { name: b"meminfo" });

        let mut read = Vec::new();
        read.extend_from_slice(&9u64.to_ne_bytes());
        read.extend_from_slice(&4096u64.to_ne_bytes());
        read.extend_from_slice(&131072u32.to_ne_bytes());
        read.extend_from_slice(&[0u8; 20]);
        let m = request(op::READ, 6, 3, &read);
        let (h, r) = decode(&m).unwrap();
        assert_eq!(h.nodeid, 3);
        assert_eq!(r, Request::Read { fh: 9, offset: 4096, size: 131072 });

        assert_eq!(decode(&request(op::FORGET, 8, 3, &[0; 8])).unwrap().1, Request::NoReply);
        assert_eq!(decode(&request(op::RELEASE, 8, 3, &[0; 24])).unwrap().1, Request::Close { fh: 0 });
        assert_eq!(decode(&request(op::DESTROY, 8, 0, &[])).unwrap().1, Request::Destroy);
        assert_eq!(decode(&request(op::FLUSH, 8, 3, &[0; 24])).unwrap().1, Request::Other);
        assert_eq!(decode(&request(999, 8, 0, &[])).unwrap().1, Request::Other);
    }

    #[test]
    fn refuses_malformed_requests() {
        assert!(decode(&[0u8; 10]).is_err());
        let mut m = request(op::LOOKUP, 4, 1, b"no-nul");
        assert_eq!(decode(&m).unwrap_err(), Malformed("name without its NUL"));
        m[0] = 200;
        assert_eq!(decode(&m).unwrap_err(), Malformed("length does not match"));
        assert!(decode(&request(op::READ, 1, 1, &[0; 4])).is_err());
    }

    #[test]
    fn encodes_replies_with_the_kernels_sizes() {
        let r = reply(77, b"abc");
        assert_eq!(r.len(), 19);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 19);
        assert_eq!(i32::from_ne_bytes(r[4..8].try_into().unwrap()), 0);
        assert_eq!(u64::from_ne_bytes(r[8..16].try_into().unwrap()), 77);
        let e = error(5, libc::ENOENT);
        assert_eq!(e.len(), OUT_HEADER);
        assert_eq!(i32::from_ne_bytes(e[4..8].try_into().unwrap()), -libc::ENOENT);

        let a = Attr { ino: 3, mode: libc::S_IFREG | 0o444, nlink: 1, size: 10, time: 1000 };
        assert_eq!(init_out(38).len(), 64);
        assert_eq!(u32::from_ne_bytes(init_out(38)[4..8].try_into().unwrap()), MINOR);
        assert_eq!(u32::from_ne_bytes(init_out(26)[4..8].try_into().unwrap()), 26);
        assert_eq!(entry_out(&a, 60).len(), 128);
        assert_eq!(attr_out(&a, 60).len(), 104);
        assert_eq!(open_out(1, FOPEN_DIRECT_IO).len(), 16);
        assert_eq!(statfs_out(9).len(), 80);
        let e = entry_out(&a, 60);
        assert_eq!(u64::from_ne_bytes(e[0..8].try_into().unwrap()), 3, "nodeid");
        assert_eq!(u64::from_ne_bytes(e[40..48].try_into().unwrap()), 3, "attr.ino");
        assert_eq!(u32::from_ne_bytes(e[40 + 60..40 + 64].try_into().unwrap()), libc::S_IFREG | 0o444, "attr.mode");
        let n = notify_store(3, 99, b"x");
        assert_eq!(n.len(), OUT_HEADER + 24 + 1);
        assert_eq!(u32::from_ne_bytes(n[0..4].try_into().unwrap()), 41);
        assert_eq!(i32::from_ne_bytes(n[4..8].try_into().unwrap()), 4, "the notification's code");
        assert_eq!(u64::from_ne_bytes(n[8..16].try_into().unwrap()), 0, "unique 0: a notification");
        assert_eq!(u64::from_ne_bytes(n[24..32].try_into().unwrap()), 99);
        let d = dirent(3, 1, libc::DT_REG as u32, b"stat");
        assert_eq!(d.len(), 32, "24 bytes of header, 4 of name, padded to 8");
        assert_eq!(&d[24..28], b"stat");
    }
}
