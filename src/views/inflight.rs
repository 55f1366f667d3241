//! The request the server is working on, in a page shared by the
//! launcher and every server it starts. The kernel hands each request to
//! one reader only: if that reader dies before answering, the process that
//! asked waits, unkillable, until someone does. A restarted server finds
//! the request here and answers it.

use std::ptr::NonNull;

const SIZE: usize = 8192;

pub struct Inflight {
    page: NonNull<u8>,
}

impl Inflight {
    /// A fresh shared page (inherited by processes forked afterwards).
    pub fn new() -> std::io::Result<Inflight> {
        // SAFETY: an anonymous shared mapping, owned by this value.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Inflight { page: NonNull::new(p as *mut u8).expect("mmap returned a page") })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is SIZE bytes and lives as long as self.
        unsafe { std::slice::from_raw_parts_mut(self.page.as_ptr(), SIZE) }
    }

    /// Notes `msg` as being worked on (one too large is never a request
    /// a read-only filesystem gets; it is not kept).
    pub fn store(&mut self, msg: &[u8]) {
        if msg.len() + 4 > SIZE {
            return;
        }
        let b = self.bytes();
        b[4..4 + msg.len()].copy_from_slice(msg);
        b[..4].copy_from_slice(&(msg.len() as u32).to_ne_bytes());
    }

    /// The request is answered.
    pub fn clear(&mut self) {
        self.bytes()[..4].copy_from_slice(&0u32.to_ne_bytes());
    }

    /// The request a dead server left unanswered, if any.
    pub fn take(&mut self) -> Option<Vec<u8>> {
        let b = self.bytes();
        let len = u32::from_ne_bytes(b[..4].try_into().unwrap()) as usize;
        let msg = (len > 0 && len + 4 <= SIZE).then(|| b[4..4 + len].to_vec());
        self.clear();
        msg
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.page.as_ptr() as *mut libc::c_void, SIZE) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_left_by_a_dead_process_is_found_once() {
        let mut f = Inflight::new().unwrap();
        assert_eq!(f.take(), None);
        // SAFETY: the test is single-threaded.
        match unsafe { libc::fork() } {
            0 => {
                f.store(b"request");
                // SAFETY: dies without answering.
                unsafe { libc::_exit(9) }
            }
            pid => {
                let mut st = 0;
                // SAFETY: our child.
                unsafe { libc::waitpid(pid, &mut st, 0) };
            }
        }
        assert_eq!(f.take().as_deref(), Some(&b"request"[..]));
        assert_eq!(f.take(), None);
        f.store(b"x");
        f.clear();
        assert_eq!(f.take(), None);
        f.store(&[0u8; SIZE]);
        assert_eq!(f.take(), None, "too large to keep");
    }
}
