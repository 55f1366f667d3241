//! Giving back, in a long-running berth process (the supervisor, the
//! watcher, the stub init), the pages of berth's own binary that starting
//! touched and waiting does not need.
//!
//! berth is one static binary: parsing the command line, preparing the
//! root, the cgroups and the D-Bus calls fault megabytes of its code and
//! read-only data into the launcher's page tables (the kernel maps up to 16
//! neighbouring pages per fault). Those pages stay counted in its RSS for
//! the machine's lifetime, although the event loop that follows runs a few
//! dozen kilobytes of it.
//!
//! Why dropping them is safe: `madvise(MADV_DONTNEED)` over a private file
//! mapping removes the page-table entries; the next access faults the page
//! back in from the file (the page cache, or the sealed memfd), exactly as
//! on first use. What would be lost are the process's own modified copies
//! in such a mapping (copy-on-write pages: relocated read-only data, a
//! debugger's breakpoints). So only mappings of the executable that are not
//! writable now are considered, and in them only pages that
//! `/proc/self/pagemap` shows are not anonymous copies (present and
//! file-backed, or not present at all). A read-only private mapping gets no
//! new copies while this runs: the process cannot write to it, and
//! making it writable again takes an mprotect berth never does (only a
//! ptrace write, a debugger's, could race with it). Nothing here is needed
//! for correctness: every failure leaves the pages where they are.
//!
//! The heap's free pages go back too (`malloc_trim`).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};

const PM_PRESENT: u64 = 1 << 63;
const PM_SWAPPED: u64 = 1 << 62;
const PM_FILE: u64 = 1 << 61;

/// A mapping of the executable from /proc/self/maps.
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: u64,
    end: u64,
}

/// The mappings of the file `(dev, ino)` that are private and not
/// writable, from the text of /proc/self/maps.
fn exe_mappings(maps: &str, dev: (u64, u64), ino: u64) -> Vec<Mapping> {
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(range), Some(perms), Some(_off), Some(mdev), Some(mino)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let p = perms.as_bytes();
        if p.len() < 4 || p[1] != b'-' || p[3] != b'p' {
            continue;
        }
        let same_dev = mdev
            .split_once(':')
            .and_then(|(ma, mi)| Some((u64::from_str_radix(ma, 16).ok()?, u64::from_str_radix(mi, 16).ok()?)))
            == Some(dev);
        if !same_dev || mino.parse::<u64>().ok() != Some(ino) {
            continue;
        }
        let Some((s, e)) = range.split_once('-') else { continue };
        if let (Ok(start), Ok(end)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) {
            if start < end {
                out.push(Mapping { start, end });
            }
        }
    }
    out
}

/// Whether a page with this pagemap entry may be dropped: not an anonymous
/// copy (present without the file bit, or swapped out).
fn droppable(entry: u64) -> bool {
    entry & PM_SWAPPED == 0 && (entry & PM_PRESENT == 0 || entry & PM_FILE != 0)
}

/// Runs of droppable pages, as (first page index, page count), from the
/// pagemap entries of consecutive pages.
fn runs(entries: &[u64]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, e) in entries.iter().enumerate() {
        match (droppable(*e), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i - s));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, entries.len() - s));
    }
    out
}

fn page_size() -> u64 {
    // SAFETY: plain sysconf.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    }
}

/// Drops the clean pages of the executable's read-only mappings from this
/// process's page tables; returns how many bytes were covered.
fn release_text() -> io::Result<u64> {
    let meta = std::fs::metadata("/proc/self/exe")?;
    let dev = (libc::major(meta.dev()) as u64, libc::minor(meta.dev()) as u64);
    let mut maps = String::new();
    File::open("/proc/self/maps")?.read_to_string(&mut maps)?;
    let pagemap = File::open("/proc/self/pagemap")?;
    let page = page_size();
    let mut released = 0;
    for m in exe_mappings(&maps, dev, meta.ino()) {
        let pages = ((m.end - m.start) / page) as usize;
        let mut raw = vec![0u8; pages * 8];
        pagemap.read_exact_at(&mut raw, m.start / page * 8)?;
        let entries: Vec<u64> =
            raw.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes"))).collect();
        for (first, count) in runs(&entries) {
            let addr = m.start + first as u64 * page;
            let len = count as u64 * page;
            // SAFETY: the range lies in a private, read-only mapping of the
            // executable and holds no anonymous copy (see the module
            // comment): its pages read back identically from the file.
            if unsafe { libc::madvise(addr as *mut libc::c_void, len as usize, libc::MADV_DONTNEED) } == 0 {
                released += len;
            }
        }
    }
    Ok(released)
}

/// Gives back the binary's pages this process does not need now and the
/// heap's free pages. Best effort: call it where the process settles into
/// waiting, outside any time-critical path (what it dropped faults back in
/// on use, a few microseconds a page).
pub fn release() {
    match release_text() {
        Ok(n) => tracing::debug!("released {} KiB of berth's own mapped pages", n / 1024),
        Err(e) => tracing::debug!("releasing berth's own mapped pages: {e}"),
    }
    // SAFETY: glibc's malloc_trim, which takes the allocator's locks.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
555574cdd000-555574d20000 rw-p 00000000 00:00 0                          [heap]
7f791fe00000-7f791ff04000 r--p 00000000 fe:01 1234                       /usr/bin/berth
7f791ff04000-7f792034d000 r-xp 00104000 fe:01 1234                       /usr/bin/berth
7f792034d000-7f792036e000 r--p 0054d000 fe:01 1234                       /usr/bin/berth
7f792036e000-7f7920373000 rw-p 0056e000 fe:01 1234                       /usr/bin/berth
7f7920380000-7f7920390000 r--s 00000000 fe:01 1234                       /usr/bin/berth
7f7920390000-7f79203a0000 r--p 00000000 fe:02 1234                       /other/fs
7f79203a0000-7f79203b0000 r--p 00000000 fe:01 99                         /other/file
7f792042a000-7f792042c000 r-xp 00000000 00:00 0                          [vdso]
";

    #[test]
    fn only_private_read_only_mappings_of_the_executable() {
        let m = exe_mappings(MAPS, (0xfe, 1), 1234);
        assert_eq!(
            m,
            vec![
                Mapping { start: 0x7f791fe00000, end: 0x7f791ff04000 },
                Mapping { start: 0x7f791ff04000, end: 0x7f792034d000 },
                Mapping { start: 0x7f792034d000, end: 0x7f792036e000 },
            ]
        );
        assert!(exe_mappings(MAPS, (0xfe, 1), 1).is_empty());
    }

    #[test]
    fn anonymous_copies_and_swapped_pages_are_kept() {
        let file = PM_PRESENT | PM_FILE;
        let anon = PM_PRESENT;
        let absent = 0;
        let swapped = PM_SWAPPED;
        assert_eq!(runs(&[file, file, anon, absent, file, swapped, anon]), vec![(0, 2), (3, 2)]);
        assert_eq!(runs(&[anon, absent]), vec![(1, 1)]);
        assert_eq!(runs(&[anon]), vec![]);
        assert_eq!(runs(&[]), vec![]);
    }

    #[test]
    fn released_code_still_runs() {
        // Whatever is dropped faults back in: the same process goes on
        // running the same code, and the relocated data it reads through
        // pointers (format strings, vtables) is intact.
        assert!(release_text().expect("reading our own maps") > 0, "the test binary's own text is found");
        let s = format!("{:?}", vec![Some(1), None]);
        assert_eq!(s, "[Some(1), None]");
        release();
        assert_eq!(exe_mappings("", (0, 0), 0), vec![]);
    }
}
