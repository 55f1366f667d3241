//! What the guest's payload is started as: argv, environment, user and
//! working directory, and the exec itself (with a PATH search in the
//! guest's own PATH).

use crate::error::{Context, Error, Result};
use crate::settings::config::ConsoleMode;
use crate::settings::config::{Config, Mode, DEFAULT_PATH};
use crate::sys::passwd;
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub struct Plan {
    argv: Vec<CString>,
    env: Vec<CString>,
    path: String,
    user: Option<passwd::User>,
    groups: Vec<u32>,
    chdir: PathBuf,
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Usage(format!("'{}' contains a NUL byte", s.escape_debug())))
}

impl Plan {
    /// Built inside the guest's root, so passwd lookups read the guest's
    /// files.
    pub fn new(cfg: &Config) -> Result<Plan> {
        let argv: Vec<String> = match &cfg.mode {
            Mode::Boot { init, args, .. } => {
                let mut v = vec![init.to_string_lossy().into_owned()];
                v.extend(args.iter().cloned());
                v
            }
            Mode::Run { argv, .. } => argv.clone(),
        };
        let user = match &cfg.user {
            None => None,
            Some(spec) => {
                let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
                let bound = cfg.bound_users.iter().find(|b| b.host.name == *spec || b.id.to_string() == *spec);
                let bound = bound.map(|b| passwd::User {
                    name: b.host.name.clone(),
                    uid: b.id,
                    gid: b.id,
                    home: b.home().to_string_lossy().into_owned(),
                    shell: b.host.shell.clone(),
                });
                Some(passwd::find_user(&text, spec).or(bound).ok_or_else(|| {
                    Error::Usage(format!("user '{spec}' does not exist in the guest's /etc/passwd; add it to the tree or pick another with -u"))
                })?)
            }
        };
        let groups = match &user {
            Some(u) => passwd::groups_of(&std::fs::read_to_string("/etc/group").unwrap_or_default(), &u.name, u.gid),
            None => vec![0],
        };
        let (home, uname, shell) = match &user {
            Some(u) => (u.home.clone(), u.name.clone(), u.shell.clone()),
            None => ("/root".to_string(), "root".to_string(), "/bin/sh".to_string()),
        };
        let term = match cfg.console {
            ConsoleMode::Interactive => std::env::var("TERM").unwrap_or_else(|_| "vt220".into()),
            ConsoleMode::Pipe => std::env::var("TERM").unwrap_or_else(|_| "dumb".into()),
            _ => "vt220".into(),
        };
        let host = crate::sys::osrelease::parse(&std::fs::read_to_string("/run/host/os-release").unwrap_or_default());
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), DEFAULT_PATH.into()),
            ("container".into(), "berth".into()),
            ("container_uuid".into(), cfg.uuid.clone()),
            ("NOTIFY_SOCKET".into(), crate::mount::runhost::NOTIFY.into()),
            ("TERM".into(), term),
            ("HOME".into(), home.clone()),
            ("USER".into(), uname.clone()),
            ("LOGNAME".into(), uname),
            ("SHELL".into(), shell),
        ];
        env.extend(crate::sys::osrelease::host_env(&host));
        if !cfg.guest.credentials.is_empty() {
            // The guest's systemd imports them from here.
            env.push(("CREDENTIALS_DIRECTORY".into(), crate::settings::guest::CREDENTIALS_DIR.into()));
        }
        for (k, v) in &cfg.env {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        let path = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()).unwrap_or_default();
        let chdir = match (&cfg.chdir, &user) {
            (Some(d), _) => d.clone(),
            (None, Some(_)) if Path::new(&home).is_dir() => PathBuf::from(&home),
            _ => PathBuf::from("/"),
        };
        Ok(Plan {
            argv: argv.iter().map(|a| cstring(a)).collect::<Result<_>>()?,
            env: env.iter().map(|(k, v)| cstring(&format!("{k}={v}"))).collect::<Result<_>>()?,
            path,
            user,
            groups,
            chdir,
        })
    }

    /// Drops to the requested user and enters the working directory (which
    /// is always inside the guest's root: we are past pivot_root).
    pub fn switch_user(&self) -> Result<()> {
        if let Some(u) = &self.user {
            let gids: Vec<nix::unistd::Gid> = self.groups.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
            nix::unistd::setgroups(&gids).ctx(|| format!("setting the groups of {}", u.name))?;
            let g = nix::unistd::Gid::from_raw(u.gid);
            nix::unistd::setresgid(g, g, g).ctx(|| format!("switching to group {}", u.gid))?;
            let uid = nix::unistd::Uid::from_raw(u.uid);
            nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("switching to user {}", u.name))?;
        } else {
            nix::unistd::setgroups(&[nix::unistd::Gid::from_raw(0)]).ctx(|| "resetting supplementary groups".into())?;
        }
        nix::unistd::chdir(&self.chdir).map_err(|e| {
            Error::Usage(format!("cannot change to --chdir {} inside the guest: {}", self.chdir.display(), e))
        })
    }

    /// Execs the payload; returns only the error.
    pub fn exec(&self) -> Error {
        exec_in_path(&self.argv, &self.env, &self.path)
    }

    /// Becomes the --as-pid2 stub init: re-executes berth from the sealed
    /// copy this process runs from, so PID 1 carries the guest's
    /// environment and a short command line (`berth-stub CMD...`), never
    /// the launcher's. `report` goes to fd 3 for exec failures.
    pub fn exec_stub(&self, report: &impl AsRawFd) -> Error {
        let fail = |what: &str, e: nix::Error| Error::Setup(format!("starting the stub init: {what}: {e}"));
        if let Err(e) = nix::unistd::dup2(report.as_raw_fd(), STUB_REPORT_FD) {
            return fail("passing the report socket", e);
        }
        let exe = match nix::fcntl::open(
            "/proc/self/exe",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => return fail("opening berth's sealed copy", e),
        };
        let mut argv = vec![CString::new(STUB_ARGV0).expect("no NUL")];
        argv.extend(self.argv.iter().cloned());
        match nix::unistd::fexecve(exe, &argv, &self.env) {
            Err(e) => fail("re-executing", e),
            Ok(never) => match never {},
        }
    }
}

/// argv[0] by which berth's main recognises the stub init.
pub const STUB_ARGV0: &str = "berth-stub";
/// Where the stub finds the socket for reporting exec failures.
pub const STUB_REPORT_FD: i32 = 3;

/// execve with a search of `path` (the guest's PATH, not ours); returns
/// the error that explains best why nothing ran.
pub fn exec_in_path(argv: &[CString], env: &[CString], path: &str) -> Error {
    let cmd = argv[0].to_string_lossy().into_owned();
    let candidates: Vec<PathBuf> = if cmd.contains('/') {
        vec![PathBuf::from(&cmd)]
    } else {
        path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(&cmd)).collect()
    };
    let mut denied: Option<(PathBuf, nix::Error)> = None;
    for c in &candidates {
        let Ok(p) = crate::sys::cstr(c) else { continue };
        let e = match nix::unistd::execve(&p, argv, env) {
            Err(e) => e,
            Ok(never) => match never {},
        };
        if e != nix::Error::ENOENT && e != nix::Error::ENOTDIR && denied.is_none() {
            denied = Some((c.clone(), e));
        }
    }
    match denied {
        Some((p, e)) => Error::Exec {
            msg: format!("cannot execute {} in the guest: {}; check its mode and format", p.display(), e.desc()),
            missing: false,
        },
        None => Error::Exec {
            msg: format!("command '{cmd}' not found in the guest (PATH={path}); check the tree and the command"),
            missing: true,
        },
    }
}
