//! `berth pull debian[:SUITE]`: a bootable minimal Debian tree built with
//! debootstrap into a hidden directory of the store, renamed into place
//! when it is ready to boot.

use super::{io_err, tool, ImageError, Result, Store, Temp};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

pub const DEFAULT_SUITE: &str = "bookworm";
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// systemd-sysv adds /sbin/init and the poweroff/reboot commands users
/// expect in a booted guest; dbus is what systemd's tools talk over.
const INCLUDE: &str = "systemd,systemd-sysv,dbus";

/// What `berth pull` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub distro: String,
    pub suite: Option<String>,
}

impl Source {
    pub fn parse(spec: &str) -> Result<Source> {
        let (distro, suite) = match spec.split_once(':') {
            Some((d, s)) => (d, Some(s)),
            None => (spec, None),
        };
        if distro != "debian" {
            return Err(ImageError::Refused(format!(
                "unknown distribution '{distro}'; berth can pull debian[:SUITE], e.g. debian:bookworm"
            )));
        }
        if let Some(s) = suite {
            let ok = !s.is_empty()
                && !s.starts_with('-')
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(unknown_suite(s));
            }
        }
        Ok(Source { distro: distro.into(), suite: suite.map(str::to_string) })
    }

    pub fn suite(&self) -> &str {
        self.suite.as_deref().unwrap_or(DEFAULT_SUITE)
    }

    /// The image name when none is given: the distribution alone when no
    /// suite was named (`debian`), else both (`debian-trixie`), so pulls of
    /// different suites never collide and the plain name stays the default.
    pub fn default_name(&self) -> String {
        match &self.suite {
            None => self.distro.clone(),
            Some(s) => format!("{}-{s}", self.distro),
        }
    }
}

fn unknown_suite(s: &str) -> ImageError {
    ImageError::Refused(format!("unknown suite '{s}' for debian; use a Debian release such as bookworm or trixie"))
}

pub struct Options<'a> {
    pub source: Source,
    pub name: Option<&'a str>,
    pub mirror: Option<&'a str>,
    pub quiet: bool,
}

/// Pulls the image and returns its name.
pub fn pull(store: &Store, o: &Options) -> Result<String> {
    let name = o.name.map(str::to_string).unwrap_or_else(|| o.source.default_name());
    store.check_free(&name)?;
    let debootstrap = tool::require("debootstrap", "debootstrap")?;
    let suite = o.source.suite();
    // debootstrap knows every release by a script of that name.
    let scripts = Path::new("/usr/share/debootstrap/scripts");
    if scripts.is_dir() && !scripts.join(suite).exists() {
        return Err(unknown_suite(suite));
    }
    let env_mirror = std::env::var("BERTH_MIRROR").ok().filter(|m| !m.is_empty());
    let mirror = o.mirror.map(str::to_string).or(env_mirror).unwrap_or_else(|| DEFAULT_MIRROR.into());
    store.prepare()?;
    let temp = Temp::new(store.temp_path(""));
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(temp.path())
        .map_err(io_err(format!("creating {}", temp.path().display())))?;

    let mut cmd = Command::new(debootstrap);
    cmd.args(["--variant=minbase", &format!("--include={INCLUDE}"), suite]).arg(temp.path()).arg(&mirror);
    cmd.env("LC_ALL", "C").env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null());
    let mut progress = Progress::new(o.quiet);
    let mut errors = Vec::new();
    let what = format!("pull of {}:{suite}", o.source.distro);
    let done = tool::run(
        cmd,
        &what,
        Some(&mut |_, l: &str| {
            if let Some(e) = l.strip_prefix("E: ") {
                errors.push(e.to_string());
            }
            progress.line(l);
        }),
    );
    progress.clear();
    let done = done?;
    if !done.success {
        if errors.iter().any(|e| e.starts_with("No such script")) {
            return Err(unknown_suite(suite));
        }
        // A mirror that cannot be reached and one without the suite look
        // the same to debootstrap.
        if errors.iter().any(|e| e.starts_with("Failed getting release")) {
            return Err(ImageError::Refused(format!(
                "cannot get the release file of '{suite}' from {mirror}; check the mirror (--mirror or BERTH_MIRROR) and that it carries {suite}"
            )));
        }
        let detail = errors.last().or(done.stderr.last()).cloned().unwrap_or_else(|| "it failed".into());
        return Err(ImageError::Failed { what: format!("debootstrap {suite} from {mirror}"), detail });
    }
    finish_tree(temp.path())?;
    if tool::interrupted() {
        return Err(ImageError::Interrupted(what));
    }
    temp.commit(store, &name)?;
    if !o.quiet {
        eprintln!("Pulled {}:{suite} as image '{name}' in {}s.", o.source.distro, progress.start.elapsed().as_secs());
    }
    Ok(name)
}

/// What makes a fresh tree a good guest: it takes its hostname from the
/// machine name, not from the build host, and root can log in on the
/// console without a password.
fn finish_tree(tree: &Path) -> Result<()> {
    match std::fs::remove_file(tree.join("etc/hostname")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(ImageError::Io { what: "removing the tree's /etc/hostname".into(), source: e })
        }
        _ => {}
    }
    let shadow = tree.join("etc/shadow");
    let text = std::fs::read_to_string(&shadow).map_err(io_err(format!("reading {}", shadow.display())))?;
    let md = std::fs::metadata(&shadow).map_err(io_err(format!("reading {}", shadow.display())))?;
    let new = empty_root_password(&text);
    // Written beside it and renamed over it, with its owner and mode.
    let tmp = tree.join("etc/.shadow.berth");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err(format!("creating {}", tmp.display())))?;
    f.write_all(new.as_bytes()).map_err(io_err(format!("writing {}", tmp.display())))?;
    std::os::unix::fs::fchown(&f, Some(md.uid()), Some(md.gid())).map_err(io_err("keeping /etc/shadow's owner"))?;
    f.set_permissions(std::fs::Permissions::from_mode(md.mode() & 0o7777))
        .map_err(io_err("keeping /etc/shadow's mode"))?;
    std::fs::rename(&tmp, &shadow).map_err(io_err(format!("replacing {}", shadow.display())))?;
    Ok(())
}

/// /etc/shadow with root's password field emptied (as `passwd -d root`).
fn empty_root_password(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once(':') {
            Some(("root", rest)) => match rest.split_once(':') {
                Some((_, tail)) => format!("root::{tail}"),
                None => "root:".to_string(),
            },
            _ => l.to_string(),
        })
        .map(|l| l + "\n")
        .collect()
}

/// debootstrap's chatter condensed: one rewritten status line on a
/// terminal, one line per phase otherwise.
struct Progress {
    tty: bool,
    quiet: bool,
    phase: String,
    count: usize,
    start: Instant,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        // SAFETY: isatty only looks at the descriptor.
        let tty = unsafe { libc::isatty(2) } == 1;
        Progress { tty, quiet, phase: String::new(), count: 0, start: Instant::now() }
    }

    fn width() -> usize {
        // SAFETY: TIOCGWINSZ fills a winsize.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 20 {
            ws.ws_col as usize
        } else {
            80
        }
    }

    fn line(&mut self, l: &str) {
        let Some(msg) = l.strip_prefix("I: ") else { return };
        let (verb, item) = msg.split_once(' ').unwrap_or((msg, ""));
        let verb = verb.trim_end_matches("...");
        // Each package is retrieved, then validated: one phase.
        let phase = if verb == "Validating" { "Retrieving" } else { verb };
        if phase != self.phase {
            self.phase = phase.to_string();
            self.count = 0;
            if !self.tty && !self.quiet {
                eprintln!("[{:>4}s] {msg}", self.start.elapsed().as_secs());
            }
        }
        if verb != phase {
            return;
        }
        self.count += 1;
        if self.tty && !self.quiet {
            let item = item.trim_end_matches("...");
            let mut s = format!("[{:>4}s] {verb} ({}) {item}", self.start.elapsed().as_secs(), self.count);
            s.truncate(s.char_indices().nth(Self::width() - 1).map_or(s.len(), |(i, _)| i));
            eprint!("\r\x1b[K{s}");
            let _ = std::io::stderr().flush();
        }
    }

    fn clear(&self) {
        if self.tty && !self.quiet {
            eprint!("\r\x1b[K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_names() {
        let s = Source::parse("debian").unwrap();
        assert_eq!((s.suite(), s.default_name().as_str()), ("bookworm", "debian"));
        let s = Source::parse("debian:trixie").unwrap();
        assert_eq!((s.suite(), s.default_name().as_str()), ("trixie", "debian-trixie"));
        assert!(Source::parse("ubuntu:jammy").unwrap_err().to_string().contains("unknown distribution"));
        for bad in ["debian:", "debian:../x", "debian:Bookworm", "debian:a b"] {
            assert!(Source::parse(bad).unwrap_err().to_string().contains("unknown suite"), "{bad}");
        }
    }

    #[test]
    fn root_password_emptied() {
        let t = "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n";
        assert_eq!(empty_root_password(t), "root::19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n");
    }
}
