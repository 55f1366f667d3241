//! Images to and from tarballs, with GNU tar: numeric owners, modes,
//! xattrs, ACLs and device nodes kept. Import lists the archive first and
//! refuses members that would land outside the tree (absolute paths, `..`,
//! anything below a symlink member), then extracts into a hidden directory
//! that becomes the image only when tar succeeds. GNU tar itself also
//! strips leading `/`, skips `..` members and delays symlinks; the listing
//! check makes the refusal explicit and independent of tar's version.

use super::{io_err, tool, ImageError, Kind, Result, Store, Temp};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Compression of a tarball: the `-I` program and its Debian package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    fn program(self) -> Option<(&'static str, &'static str)> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some(("gzip", "gzip")),
            Compression::Xz => Some(("xz", "xz-utils")),
            Compression::Zstd => Some(("zstd", "zstd")),
        }
    }

    /// From the file name, for export.
    pub fn from_name(name: &str) -> Option<Compression> {
        let n = name.to_ascii_lowercase();
        [
            (".tar", Compression::None),
            (".tar.gz", Compression::Gzip),
            (".tgz", Compression::Gzip),
            (".tar.xz", Compression::Xz),
            (".txz", Compression::Xz),
            (".tar.zst", Compression::Zstd),
            (".tar.zstd", Compression::Zstd),
            (".tzst", Compression::Zstd),
        ]
        .into_iter()
        .find(|(ext, _)| n.ends_with(ext))
        .map(|(_, c)| c)
    }

    /// From the first bytes, for import (so a misnamed file still works).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// tar with the options both directions share.
fn tar_command(c: Compression) -> Result<Command> {
    let mut cmd = Command::new(tool::require("tar", "tar")?);
    cmd.env("LC_ALL", "C").args(["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"]);
    if let Some((prog, pkg)) = c.program() {
        cmd.arg("-I").arg(tool::require(prog, pkg)?);
    }
    Ok(cmd)
}

fn stdin_is_tty(fd: i32) -> bool {
    // SAFETY: isatty only looks at the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Copies stdin into `path`, stopping when berth is interrupted.
fn spool_stdin(path: &Path) -> Result<()> {
    let mut out = File::create(path).map_err(io_err(format!("creating {}", path.display())))?;
    let mut input = io::stdin().lock();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if tool::interrupted() {
            return Err(ImageError::Interrupted("import".into()));
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ImageError::Io { what: "reading the tarball from stdin".into(), source: e }),
        };
        out.write_all(&buf[..n]).map_err(io_err(format!("writing {}", path.display())))?;
    }
    Ok(())
}

/// Imports the tarball `file` (`-`: stdin) as a new image `name`.
pub fn import(store: &Store, file: &str, name: &str) -> Result<()> {
    store.check_free(name)?;
    store.prepare()?;
    let shown = if file == "-" { "on stdin" } else { file };
    // stdin is read once into the store: the archive is read twice.
    let spool;
    let path: PathBuf = if file == "-" {
        if stdin_is_tty(0) {
            return Err(ImageError::Refused(
                "refusing to read a tarball from a terminal; pipe one in or give a file".into(),
            ));
        }
        spool = Temp::new(store.temp_path(".tar"));
        spool_stdin(spool.path())?;
        spool.path().to_path_buf()
    } else {
        PathBuf::from(file)
    };
    let mut head = [0u8; 6];
    let n = File::open(&path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io_err(format!("cannot read tarball {}", path.display())))?;
    let comp = Compression::sniff(&head[..n]);

    let mut members = Vec::new();
    let mut list = tar_command(comp)?;
    list.args(["-t", "-v", "-P", "--quoting-style=c", "--full-time", "-f"]).arg(&path).stdin(Stdio::null());
    let listed = tool::run(
        list,
        "import",
        Some(&mut |err, l: &str| {
            if !err {
                members.push(l.to_string())
            }
        }),
    )?;
    listed.check(&format!("tarball {shown} is unreadable"))?;
    check_listing(&members).map_err(|e| ImageError::Refused(format!("tarball {shown}: {e}; refusing to import it")))?;

    let temp = Temp::new(store.temp_path(""));
    std::fs::create_dir(temp.path()).map_err(io_err(format!("creating {}", temp.path().display())))?;
    let mut x = tar_command(comp)?;
    x.args(["-x", "--same-permissions", "--same-owner", "-C"]).arg(temp.path()).arg("-f").arg(&path);
    x.stdin(Stdio::null());
    tool::run(x, "import", None)?.check(&format!("extracting tarball {shown}"))?;
    if tool::interrupted() {
        return Err(ImageError::Interrupted("import".into()));
    }
    temp.commit(store, name)?;
    Ok(())
}

/// Exports image `name` to `file` (`-`: stdout), compressed as its name
/// says. The file appears only when complete.
pub fn export(store: &Store, name: &str, file: &str) -> Result<()> {
    let img = store.find(name)?;
    if img.kind == Kind::Raw {
        return Err(ImageError::Raw { name: name.into(), what: "export" });
    }
    let comp = if file == "-" {
        if stdin_is_tty(1) {
            return Err(ImageError::Refused(
                "refusing to write a tarball to a terminal; redirect stdout or give a file".into(),
            ));
        }
        Compression::None
    } else {
        Compression::from_name(file).ok_or_else(|| {
            ImageError::Refused(format!(
                "cannot tell the format of {file} from its name; end it in .tar, .tar.gz, .tar.xz or .tar.zst"
            ))
        })?
    };
    let mut tar = tar_command(comp)?;
    // Shared: a machine writing the tree would tear the archive.
    let _lock = img.lock(false)?;
    tar.args(["-c", "--sparse", "--warning=no-file-ignored", "-C"]).arg(&img.path);
    let dest = Path::new(file);
    let temp = if file == "-" {
        tar.args(["-f", "-", "."]).stdout(Stdio::inherit());
        None
    } else {
        if std::fs::symlink_metadata(dest).is_ok() {
            return Err(ImageError::Refused(format!("{file} already exists; remove it or pick another file name")));
        }
        let base = dest.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
        let t = Temp::new(dest.with_file_name(format!(".{base}.berth-partial-{}", std::process::id())));
        tar.arg("-f").arg(t.path()).arg(".");
        Some(t)
    };
    tar.stdin(Stdio::null());
    tool::run(tar, "export", None)?.check(&format!("exporting image '{name}'"))?;
    if let Some(t) = temp {
        super::rename_noreplace(t.path(), dest).map_err(io_err(format!("creating {file}")))?;
        t.keep();
    }
    Ok(())
}

/// Parses one C-quoted string at the start of `s` (as `--quoting-style=c`
/// prints it); returns it and the rest.
fn unquote(s: &str) -> Option<(String, &str)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), &s[i + 1..])),
            b'\\' => {
                let c = *b.get(i + 1)?;
                i += 2;
                out.push(match c {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'v' => 11,
                    b'0'..=b'7' => {
                        let mut v = (c - b'0') as u32;
                        for _ in 0..2 {
                            match b.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + (d - b'0') as u32;
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        v as u8
                    }
                    other => other,
                });
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// A member path relative to the tree: `./` and trailing `/` dropped.
fn normalize(p: &str) -> String {
    let mut s = p;
    while let Some(r) = s.strip_prefix("./") {
        s = r;
    }
    s.trim_end_matches('/').to_string()
}

fn check_path(what: &str, p: &str) -> std::result::Result<String, String> {
    if p.starts_with('/') {
        return Err(format!("{what} '{p}' is an absolute path"));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(format!("{what} '{p}' contains '..'"));
    }
    Ok(normalize(p))
}

/// Checks a `tar -tv -P --quoting-style=c` listing: every member and hard
/// link target stays inside the tree, and nothing lies below a symlink
/// member (tar would write through it).
pub fn check_listing(lines: &[String]) -> std::result::Result<(), String> {
    let mut symlinks = HashSet::new();
    let mut paths = Vec::new();
    for line in lines {
        let kind = line.chars().next().unwrap_or(' ');
        let quoted = line.find('"').ok_or_else(|| format!("cannot read the listing line '{line}'"))?;
        let (name, rest) = unquote(&line[quoted..]).ok_or_else(|| format!("cannot read the listing line '{line}'"))?;
        if !"-dlhcbpC".contains(kind) {
            return Err(format!("member '{name}' has an unsupported type '{kind}'"));
        }
        let n = check_path("member", &name)?;
        if kind == 'l' {
            symlinks.insert(n.clone());
        }
        if kind == 'h' {
            let target = rest
                .strip_prefix(" link to ")
                .and_then(unquote)
                .ok_or_else(|| format!("cannot read the hard link target of '{name}'"))?
                .0;
            paths.push(check_path("hard link target", &target)?);
        }
        paths.push(n);
    }
    for p in &paths {
        let mut prefix = p.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if symlinks.contains(parent) {
                return Err(format!("member '{p}' lies below the symlink member '{parent}'"));
            }
            prefix = parent;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lines: &[&str]) -> std::result::Result<(), String> {
        check_listing(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn compression() {
        assert_eq!(Compression::from_name("a.tar"), Some(Compression::None));
        assert_eq!(Compression::from_name("a.TAR.ZST"), Some(Compression::Zstd));
        assert_eq!(Compression::from_name("a.tar.xz"), Some(Compression::Xz));
        assert_eq!(Compression::from_name("a.tgz"), Some(Compression::Gzip));
        assert_eq!(Compression::from_name("a.zip"), None);
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]), Compression::Zstd);
        assert_eq!(Compression::sniff(b"./etc"), Compression::None);
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote(r#""a b\"c\\d\n\303\244" -> "x""#), Some(("a b\"c\\d\nä".into(), r#" -> "x""#)));
        assert_eq!(unquote(r#""open"#), None);
    }

    #[test]
    fn listings() {
        let ok = [
            r#"drwxr-xr-x 0/0 0 2024-01-01 00:00:00 "./""#,
            r#"lrwxrwxrwx 0/0 0 2024-01-01 00:00:00 "./bin" -> "usr/bin""#,
            r#"lrwxrwxrwx 0/0 0 2024-01-01 00:00:00 "./etc/mtab" -> "/proc/self/mounts""#,
            r#"-rw-r--r-- 0/0 5 2024-01-01 00:00:00 "./usr/bin/a -> b""#,
            r#"hrw-r--r-- 0/0 0 2024-01-01 00:00:00 "./usr/bin/c" link to "./usr/bin/a -> b""#,
            r#"crw-rw-rw- 0/0 1,3 2024-01-01 00:00:00 "./dev/null""#,
        ];
        assert_eq!(check(&ok), Ok(()));
        let bad = |l: &[&str], want: &str| {
            let e = check(l).unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        bad(&[r#"-rw-r--r-- 0/0 1 2024-01-01 00:00:00 "/etc/passwd""#], "absolute");
        bad(&[r#"-rw-r--r-- 0/0 1 2024-01-01 00:00:00 "a/../../x""#], "'..'");
        bad(&[r#"hrw-r--r-- 0/0 0 2024-01-01 00:00:00 "h" link to "/etc/shadow""#], "absolute");
        bad(
            &[
                r#"lrwxrwxrwx 0/0 0 2024-01-01 00:00:00 "./lnk" -> "/etc""#,
                r#"-rw-r--r-- 0/0 1 2024-01-01 00:00:00 "./lnk/passwd""#,
            ],
            "below the symlink",
        );
        bad(&[r#"V--------- 0/0 0 2024-01-01 00:00:00 "label"--Volume Header--"#], "unsupported");
    }
}
