//! Command-line types (clap). No logic here: `config` turns these into a
//! validated `Config`.

use crate::settings::console::ConsoleMode;
use clap::{Args, Parser, Subcommand};

mod guest;
mod settings;
pub use guest::GuestArgs;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "berth", version, about = "Boot OS trees and run commands in fresh namespaces")]
pub struct Cli {
    /// Directory of the image store (default /var/lib/machines); a verb's own --image-root wins.
    #[arg(long = "image-root", value_name = "DIR")]
    pub image_root: Option<PathBuf>,
    /// Log more (repeat for more detail): -v is --log-level=info, -vv debug; BERTH_LOG overrides.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// How much berth logs: error, warn (the default), info, debug or trace; wins over -v and BERTH_LOG.
    #[arg(long = "log-level", value_name = "LEVEL", global = true,
          value_parser = clap::builder::PossibleValuesParser::new(crate::sys::logging::LEVELS))]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Boot the tree's init as PID 1, like `systemd-nspawn -b`.
    Boot(BootArgs),
    /// Run a command as PID 1 (or PID 2 with --as-pid2) in the tree.
    Run(RunArgs),
    /// Remove what killed launchers left behind and say what was removed.
    Gc,
    /// List the running machines.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show a running machine's state, OS and processes.
    Status {
        #[arg(value_name = "NAME")]
        name: String,
        /// Print JSON for scripts (see docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Show a running machine's properties as key=value (or JSON).
    Show {
        #[arg(value_name = "NAME")]
        name: String,
        /// Print JSON for scripts (see docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Ask a machine's init to power off (SIGRTMIN+4 to its leader).
    Poweroff {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Ask a machine's init to reboot (SIGINT to its leader).
    Reboot {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Kill every process of a machine at once, without a clean shutdown.
    Terminate {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Run a command (or a login shell) inside a running machine.
    Shell {
        /// [USER@]NAME of the machine.
        #[arg(value_name = "[USER@]NAME")]
        target: String,
        /// The command and its arguments (default: the user's login shell).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Suspend every process of a machine (cgroup freezer on payload/).
    Freeze {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Resume a frozen machine.
    Thaw {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Send a signal to a machine's processes.
    Kill {
        #[arg(value_name = "NAME")]
        name: String,
        /// The signal (default SIGTERM).
        #[arg(short = 's', long, default_value = "SIGTERM")]
        signal: String,
        /// leader (the guest's PID 1) or all of its processes.
        #[arg(long = "kill-whom", default_value = "all")]
        kill_whom: String,
    },

    // ---- machines as services (berth@NAME.service on a systemd host) ----
    /// Start machines as berth@NAME.service and wait until they are up.
    Start {
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Stop machines running as berth@NAME.service (a clean poweroff).
    Stop {
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Start machines at boot: enable berth@NAME.service (and machines.target).
    Enable {
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// No longer start machines at boot: disable berth@NAME.service.
    Disable {
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },

    // ---- image verbs (the store under /var/lib/machines) ----
    /// List the images in the store.
    Images {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show the settings file that applies to a machine (NAME.berth or NAME.nspawn).
    Cat {
        #[arg(value_name = "NAME")]
        name: String,
        /// Print JSON (name, path, trusted, text) for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Edit a machine's settings file in $EDITOR (a copy in /etc/berth, saved only when valid).
    Edit {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Copy an image to a new one (reflinked where possible), with its settings files.
    Clone {
        #[arg(value_name = "SRC")]
        src: String,
        #[arg(value_name = "DST")]
        dst: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Rename an image and its settings files.
    Rename {
        #[arg(value_name = "OLD")]
        old: String,
        #[arg(value_name = "NEW")]
        new: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove images.
    Remove {
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show, or set with true/false, whether an image is read-only (immutable).
    ReadOnly {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(value_name = "BOOL")]
        value: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Create an image from a tarball (.tar, .tar.gz, .tar.xz, .tar.zst; - for stdin).
    Import {
        #[arg(value_name = "FILE")]
        file: String,
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write an image to a tarball, compressed as its name says (- for a plain tar on stdout).
    Export {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(value_name = "FILE")]
        file: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Build an image of a distribution with debootstrap: debian[:SUITE] (default suite bookworm).
    Pull {
        #[arg(value_name = "DISTRO[:SUITE]")]
        source: String,
        /// Image name (default: the distribution, plus -SUITE when a suite is given).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Debian mirror (default: $BERTH_MIRROR, else http://deb.debian.org/debian).
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
        /// Print no progress.
        #[arg(short = 'q', long)]
        quiet: bool,
        #[command(flatten)]
        store: StoreArgs,
    },

    // Verbs that reach into a running machine: live login, copies, binds.
    /// A login prompt on a new pty of a booted machine (^] three times to leave).
    Login {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Copy a host file or directory into a running machine.
    CopyTo {
        #[arg(value_name = "NAME")]
        name: String,
        /// Host path.
        #[arg(value_name = "SRC")]
        src: PathBuf,
        /// Absolute path inside the machine (default: SRC).
        #[arg(value_name = "DST")]
        dst: Option<PathBuf>,
        /// Replace an existing DST (directories are merged).
        #[arg(long)]
        force: bool,
    },
    /// Copy a file or directory out of a running machine.
    CopyFrom {
        #[arg(value_name = "NAME")]
        name: String,
        /// Absolute path inside the machine.
        #[arg(value_name = "SRC")]
        src: PathBuf,
        /// Host path (default: SRC).
        #[arg(value_name = "DST")]
        dst: Option<PathBuf>,
        /// Replace an existing DST (directories are merged).
        #[arg(long)]
        force: bool,
    },
    /// Print the completion script for bash, zsh or fish (see completions/ and scripts/install).
    Completions {
        #[arg(value_name = "SHELL", value_parser = ["bash", "zsh", "fish"])]
        shell: String,
    },
    /// Mount a host path into a running machine.
    Bind {
        #[arg(value_name = "NAME")]
        name: String,
        /// Host path.
        #[arg(value_name = "SRC")]
        src: PathBuf,
        /// Absolute path inside the machine (default: SRC).
        #[arg(value_name = "DST")]
        dst: Option<PathBuf>,
        /// Mount it read-only (the guest cannot make it writable).
        #[arg(long = "read-only")]
        read_only: bool,
        /// Create DST (and missing parents) when it does not exist.
        #[arg(long)]
        mkdir: bool,
    },
}

/// Where the image verbs find the store.
#[derive(Args, Debug, Default, Clone)]
pub struct StoreArgs {
    /// Directory of the image store (default /var/lib/machines).
    #[arg(long = "image-root", value_name = "DIR")]
    pub image_root: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BootArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Image name (a tree under /var/lib/machines) when -D is not given.
    #[arg(value_name = "NAME")]
    pub image: Option<String>,
    /// Arguments passed to the init.
    #[arg(last = true, value_name = "INIT-ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Run the command as PID 2 under a stub init that reaps and forwards signals.
    #[arg(short = 'a', long = "as-pid2")]
    pub as_pid2: bool,
    /// Image name, then the command after `--`.
    #[arg(value_name = "NAME")]
    pub image: Option<String>,
    #[arg(last = true, value_name = "CMD", required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CommonArgs {
    /// Where NAME is looked up (default /var/lib/machines).
    #[arg(long = "image-root", value_name = "DIR")]
    pub image_root: Option<PathBuf>,
    /// Root directory of the tree.
    #[arg(short = 'D', long = "directory", value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// Machine name (default: derived from the directory's base name).
    #[arg(short = 'M', long = "machine", value_name = "NAME")]
    pub machine: Option<String>,
    /// Hostname inside the guest (default: the machine name).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Machine UUID (default: random).
    #[arg(long)]
    pub uuid: Option<String>,
    /// Set an environment variable for the guest's PID 1 (NAME=VALUE).
    #[arg(short = 'E', long = "setenv", value_name = "NAME=VALUE")]
    pub setenv: Vec<String>,
    /// Run the command as this user of the guest.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Working directory inside the guest.
    #[arg(long)]
    pub chdir: Option<PathBuf>,
    /// Bind-mount a host path into the guest, read-write (SRC[:DST]).
    #[arg(long, value_name = "SRC[:DST]")]
    pub bind: Vec<String>,
    /// Bind-mount a host path into the guest, read-only (SRC[:DST]).
    #[arg(long = "bind-ro", value_name = "SRC[:DST]")]
    pub bind_ro: Vec<String>,
    /// Mount a fresh tmpfs at this guest path.
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,
    /// Mount the tree read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Signal that asks the guest to shut down (default: what its init understands).
    #[arg(long = "kill-signal", value_name = "SIGNAL")]
    pub kill_signal: Option<String>,
    /// Seconds to wait for the guest to stop before killing it (default 10).
    #[arg(long = "stop-timeout", value_name = "SECS")]
    pub stop_timeout: Option<f64>,
    /// Report readiness only when the guest's init sends READY=1.
    #[arg(long = "notify-ready", value_name = "BOOL", num_args = 0..=1, default_missing_value = "yes")]
    pub notify_ready: Option<String>,
    /// How the console is connected.
    #[arg(long, value_name = "MODE", value_parser = console_mode())]
    pub console: Option<ConsoleMode>,
    /// Same as --console=pipe.
    #[arg(short = 'P', long)]
    pub pipe: bool,
    /// User namespace: pick (default), yes, identity, no, or BASE[:SIZE].
    #[arg(short = 'U', long = "private-users", value_name = "MODE", num_args = 0..=1, default_missing_value = "pick")]
    pub private_users: Option<String>,
    /// How the tree's ownership meets the id range: map (idmapped mounts), off, or auto (default).
    #[arg(long = "private-users-ownership", value_name = "MODE")]
    pub private_users_ownership: Option<String>,
    /// Run on an overlay of the tree whose changes vanish at exit.
    #[arg(short = 'x', long)]
    pub ephemeral: bool,
    /// Where the writable layer of -x lives: a directory (default /var/tmp) or "tmpfs".
    #[arg(long = "layer-dir", value_name = "DIR|tmpfs")]
    pub layer_dir: Option<String>,
    /// Volatile root: yes (tmpfs root with the tree's /usr), state (tmpfs /var), overlay (tmpfs overlay), no.
    #[arg(long, value_name = "MODE", num_args = 0..=1, default_missing_value = "yes")]
    pub volatile: Option<String>,
    /// Overlay host directories at a guest path: LOWER[:LOWER...]:UPPER:DEST (empty UPPER: tmpfs).
    #[arg(long, value_name = "LOWER:UPPER:DEST")]
    pub overlay: Vec<String>,
    /// Read-only overlay of host directories at a guest path: LOWER[:LOWER...]:DEST.
    #[arg(long = "overlay-ro", value_name = "LOWER:DEST")]
    pub overlay_ro: Vec<String>,
    /// Create a missing -D tree as a copy (reflink where possible) of this one.
    #[arg(long, value_name = "DIR")]
    pub template: Option<PathBuf>,
    /// Say nothing but errors.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Read the machine's settings file: yes (default; the command line wins), no, trusted (also
    /// trust one next to the image), or override (the file wins).
    #[arg(long = "settings", value_name = "MODE")]
    pub settings: Option<String>,
    /// Register with systemd-machined: yes, no, or auto (default: when it is on the system bus).
    #[arg(long, value_name = "yes|no|auto")]
    pub register: Option<String>,
    /// The slice the machine's scope goes in (default machine.slice).
    #[arg(short = 'S', long, value_name = "NAME.slice")]
    pub slice: Option<String>,
    /// Use the service or scope berth runs in (Delegate=yes) instead of creating machine-NAME.scope.
    #[arg(long = "keep-unit")]
    pub keep_unit: bool,
    /// Let the guest run containers of its own: with a user namespace, the /proc masks are mounted
    /// inside it (the guest may unmount them) so a nested container can mount its own procfs.
    #[arg(long)]
    pub nesting: bool,
    /// Serve the guest /proc/meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps and
    /// /sys/devices/system/cpu/online computed from its own cgroup limits (yes, the default, or no).
    #[arg(long = "proc-views", value_name = "yes|no")]
    pub proc_views: Option<String>,
    /// A resource limit for the machine's unit, as systemd spells it: MemoryMax=512M, TasksMax=100, CPUQuota=50%, ...
    #[arg(long, value_name = "NAME=VALUE")]
    pub property: Vec<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub guest: GuestArgs,
}

/// The guest's network options, spelled like systemd-nspawn's (see net/).
#[derive(Args, Debug, Default)]
pub struct NetArgs {
    /// Give the guest a network namespace of its own with only `lo`, up.
    #[arg(long = "private-network")]
    pub private_network: bool,
    /// A veth pair to the host: ve-NAME here, host0 in the guest, with an address, DHCP and NAT (implies --private-network).
    #[arg(short = 'n', long = "network-veth")]
    pub network_veth: bool,
    /// A veth pair whose host side vb-NAME joins the bridge vz-ZONE, shared by the zone's machines
    /// (created by the first, removed with the last), with a subnet, DHCP and NAT of the zone.
    #[arg(long = "network-zone", value_name = "ZONE")]
    pub network_zone: Option<String>,
    /// A veth pair whose host side vb-NAME joins the existing bridge BR (berth does not address it).
    #[arg(long = "network-bridge", value_name = "BR")]
    pub network_bridge: Option<String>,
    /// Forward a host port to the guest (needs -n or --network-zone): from other hosts and namespaces by DNAT,
    /// from this host's 127.0.0.1 and ::1 (TCP) through berth itself.
    #[arg(short = 'p', long = "port", value_name = "[tcp|udp:]HOSTPORT[:GUESTPORT]")]
    pub port: Vec<String>,
    /// One more veth pair: HOSTIF here, GUESTIF (default: the same name) in the guest; berth does not address it.
    #[arg(long = "network-veth-extra", value_name = "HOSTIF[:GUESTIF]")]
    pub network_veth_extra: Vec<String>,
    /// Join this existing network namespace (e.g. /run/netns/NAME) instead of creating one.
    #[arg(long = "network-namespace-path", value_name = "PATH")]
    pub network_namespace_path: Option<PathBuf>,
    /// Move this host interface into the guest under its name (or NEWNAME), and back under its own when the machine ends (repeatable).
    #[arg(long = "network-interface", value_name = "IF[:NEWNAME]")]
    pub network_interface: Vec<String>,
    /// Give the guest a macvlan mv-IF on the host interface IF, bridge mode, stable MAC (repeatable).
    #[arg(long = "network-macvlan", value_name = "IF")]
    pub network_macvlan: Vec<String>,
    /// Give the guest an ipvlan iv-IF on the host interface IF, L2 mode (repeatable; needs the kernel's ipvlan).
    #[arg(long = "network-ipvlan", value_name = "IF")]
    pub network_ipvlan: Vec<String>,
}

/// The guest's security and resource options, spelled like systemd-nspawn's.
#[derive(Args, Debug, Default)]
pub struct PolicyArgs {
    /// Keep these capabilities in the guest's bounding set too (CAP_NAME[,CAP_NAME...], or all).
    #[arg(long = "capability", value_name = "CAPS")]
    pub capability: Vec<String>,
    /// Remove these capabilities from the guest's bounding set (CAP_NAME[,CAP_NAME...], or all).
    #[arg(long = "drop-capability", value_name = "CAPS")]
    pub drop_capability: Vec<String>,
    /// Set no_new_privs for the guest's PID 1 and everything it starts.
    #[arg(
        long = "no-new-privileges",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "yes"
    )]
    pub no_new_privileges: Option<String>,
    /// Allow system calls and @groups (space-separated); a leading ~ denies them instead.
    #[arg(long = "system-call-filter", value_name = "LIST")]
    pub system_call_filter: Vec<String>,
    /// Make sync, fsync and friends succeed without syncing (opens with O_SYNC fail), for throw-away builds.
    #[arg(long = "suppress-sync", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "yes")]
    pub suppress_sync: Option<String>,
    /// A resource limit for the guest: NAME=SOFT[:HARD], e.g. NOFILE=1024:4096; infinity allowed.
    #[arg(long = "rlimit", value_name = "NAME=SOFT[:HARD]")]
    pub rlimit: Vec<String>,
    /// The guest's OOM score adjustment, -1000 to 1000.
    #[arg(long = "oom-score-adjust", value_name = "N", allow_hyphen_values = true)]
    pub oom_score_adjust: Option<String>,
    /// Run the guest on these CPUs only, e.g. 0,2-3.
    #[arg(long = "cpu-affinity", value_name = "LIST")]
    pub cpu_affinity: Option<String>,
}

/// `--console=interactive|read-only|passive|pipe`.
fn console_mode() -> impl clap::builder::TypedValueParser<Value = ConsoleMode> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["interactive", "read-only", "passive", "pipe"]).map(|s| {
        match s.as_str() {
            "interactive" => ConsoleMode::Interactive,
            "read-only" => ConsoleMode::ReadOnly,
            "passive" => ConsoleMode::Passive,
            _ => ConsoleMode::Pipe,
        }
    })
}
