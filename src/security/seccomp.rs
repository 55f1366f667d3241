//! The guest's system call filter (seccomp, through libseccomp).
//!
//! An allow-list in the spirit of systemd-nspawn's default: a baseline of
//! named groups and single calls that any OS tree needs (systemd as PID 1
//! included), plus groups that only make sense when the capability that
//! guards them stays in the guest's bounding set. The filter covers every
//! ABI an x86-64 kernel accepts: x86-64, i386 and x32. Each is a separate
//! syscall table, and a filter that only named x86-64's would let a 32-bit
//! binary call `keyctl` freely.
//!
//! What a guest sees:
//! - an allowed call runs;
//! - a call that is denied (the [`DENIED`] list, a group whose capability is
//!   dropped, or anything removed with `--system-call-filter=~...`), or that
//!   the tables below name but do not allow, fails with `EPERM`;
//! - any other call, one these tables never mention (a system call newer
//!   than this table, or a number the kernel does not have), fails with
//!   `ENOSYS`, so libc and systemd take their "not implemented" fallbacks.
//!
//! Decisions where berth departs from nspawn's list:
//! - **io_uring** (`io_uring_setup`, `io_uring_enter`, `io_uring_register`)
//!   is denied with `EPERM`. The operations an io_uring ring performs
//!   (open, read, connect, ...) are executed by the kernel without passing
//!   through seccomp, so allowing the ring would let a guest do what the
//!   rest of this filter forbids for the calls it mirrors, and io_uring has
//!   been a steady source of kernel vulnerabilities. systemd does not need
//!   it to boot. `--system-call-filter=@aio` (or the three names) allows it
//!   again, for a guest that knows it needs it.
//! - **userfaultfd** is allowed, like nspawn does: the kernel already limits
//!   what an unprivileged caller may do with it (the
//!   `vm.unprivileged_userfaultfd` sysctl; without it only faults in user
//!   mode are handled), and CRIU-like tools in a guest need it.
//! - `process_vm_readv`/`process_vm_writev` follow `CAP_SYS_PTRACE` like
//!   `ptrace` itself (newer systemd also lists them in `@ipc`).
//!
//! The filter is loaded by the guest's PID 1 right before it execs the
//! payload, after the bounding set is narrowed (with a non-root `--user`,
//! just before the user switch, which would take away the right to load
//! it). libseccomp's `CTL_NNP` attribute (set no_new_privs while loading)
//! follows `--no-new-privileges`: root in the guest holds CAP_SYS_ADMIN in
//! its user namespace, which is all the kernel asks for.

use caps::Capability;
use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext, ScmpSyscall};
use std::collections::BTreeSet;
use thiserror::Error;

/// A named set of system calls (and other sets, as `@name`).
#[derive(Debug)]
pub struct Group {
    pub name: &'static str,
    pub help: &'static str,
    pub members: &'static [&'static str],
}

/// The groups users can name in `--system-call-filter`. The names and
/// meanings follow systemd's `SystemCallFilter=` sets so that habits and
/// unit files carry over; the tables are berth's own, limited to the names
/// that exist on x86 (64-bit, i386 and x32).
pub const GROUPS: &[Group] = &[
    Group {
        name: "@default",
        help: "calls every program needs: exit, memory maps, futexes, clocks, credentials queries",
        members: &[
            "@sandbox",
            "arch_prctl",
            "brk",
            "clock_getres",
            "clock_getres_time64",
            "clock_gettime",
            "clock_gettime64",
            "clock_nanosleep",
            "clock_nanosleep_time64",
            "execve",
            "exit",
            "exit_group",
            "futex",
            "futex_time64",
            "futex_waitv",
            "get_robust_list",
            "get_thread_area",
            "getegid",
            "getegid32",
            "geteuid",
            "geteuid32",
            "getgid",
            "getgid32",
            "getgroups",
            "getgroups32",
            "getpgid",
            "getpgrp",
            "getpid",
            "getppid",
            "getrandom",
            "getresgid",
            "getresgid32",
            "getresuid",
            "getresuid32",
            "getrlimit",
            "getsid",
            "gettid",
            "gettimeofday",
            "getuid",
            "getuid32",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "membarrier",
            "mmap",
            "mmap2",
            "mprotect",
            "mseal",
            "munmap",
            "nanosleep",
            "pause",
            "prlimit64",
            "restart_syscall",
            "rseq",
            "rt_sigreturn",
            "sched_getaffinity",
            "sched_yield",
            "set_robust_list",
            "set_thread_area",
            "set_tid_address",
            "sigreturn",
            "time",
            "ugetrlimit",
            "uretprobe",
        ],
    },
    Group {
        name: "@aio",
        help: "asynchronous I/O, io_uring included",
        members: &[
            "io_cancel",
            "io_destroy",
            "io_getevents",
            "io_pgetevents",
            "io_pgetevents_time64",
            "io_setup",
            "io_submit",
            "io_uring_enter",
            "io_uring_register",
            "io_uring_setup",
        ],
    },
    Group {
        name: "@basic-io",
        help: "reading, writing, seeking and closing descriptors",
        members: &[
            "_llseek",
            "close",
            "close_range",
            "dup",
            "dup2",
            "dup3",
            "lseek",
            "pread64",
            "preadv",
            "preadv2",
            "pwrite64",
            "pwritev",
            "pwritev2",
            "read",
            "readv",
            "write",
            "writev",
        ],
    },
    Group {
        name: "@chown",
        help: "changing the owner of files",
        members: &["chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32"],
    },
    Group {
        name: "@clock",
        help: "setting the system clock",
        members: &["adjtimex", "clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64", "settimeofday"],
    },
    Group {
        name: "@cpu-emulation",
        help: "virtual 8086 mode and local descriptor tables",
        members: &["modify_ldt", "vm86", "vm86old"],
    },
    Group {
        name: "@debug",
        help: "tracing, profiling and reaching into other processes",
        members: &[
            "lookup_dcookie",
            "perf_event_open",
            "pidfd_getfd",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    },
    Group {
        name: "@file-system",
        help: "files, directories, attributes, inotify and the calls behind mapping files",
        members: &[
            "access",
            "chdir",
            "chmod",
            "close",
            "creat",
            "faccessat",
            "faccessat2",
            "fallocate",
            "fchdir",
            "fchmod",
            "fchmodat",
            "fchmodat2",
            "fcntl",
            "fcntl64",
            "fgetxattr",
            "file_getattr",
            "file_setattr",
            "flistxattr",
            "fremovexattr",
            "fsetxattr",
            "fstat",
            "fstat64",
            "fstatat64",
            "fstatfs",
            "fstatfs64",
            "ftruncate",
            "ftruncate64",
            "futimesat",
            "getcwd",
            "getdents",
            "getdents64",
            "getxattr",
            "getxattrat",
            "inotify_add_watch",
            "inotify_init",
            "inotify_init1",
            "inotify_rm_watch",
            "lgetxattr",
            "link",
            "linkat",
            "listmount",
            "listxattr",
            "listxattrat",
            "llistxattr",
            "lremovexattr",
            "lsetxattr",
            "lstat",
            "lstat64",
            "mkdir",
            "mkdirat",
            "mknod",
            "mknodat",
            "mmap",
            "mmap2",
            "munmap",
            "newfstatat",
            "oldfstat",
            "oldlstat",
            "oldstat",
            "open",
            "open_tree",
            "openat",
            "openat2",
            "readlink",
            "readlinkat",
            "removexattr",
            "removexattrat",
            "rename",
            "renameat",
            "renameat2",
            "rmdir",
            "setxattr",
            "setxattrat",
            "stat",
            "stat64",
            "statfs",
            "statfs64",
            "statmount",
            "statx",
            "symlink",
            "symlinkat",
            "truncate",
            "truncate64",
            "unlink",
            "unlinkat",
            "utime",
            "utimensat",
            "utimensat_time64",
            "utimes",
        ],
    },
    Group {
        name: "@io-event",
        help: "event loops: poll, select, epoll, eventfd",
        members: &[
            "_newselect",
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_ctl_old",
            "epoll_pwait",
            "epoll_pwait2",
            "epoll_wait",
            "epoll_wait_old",
            "eventfd",
            "eventfd2",
            "poll",
            "ppoll",
            "ppoll_time64",
            "pselect6",
            "pselect6_time64",
            "select",
        ],
    },
    Group {
        name: "@ipc",
        help: "pipes, SysV IPC, POSIX message queues, memfds",
        members: &[
            "ipc",
            "memfd_create",
            "mq_getsetattr",
            "mq_notify",
            "mq_open",
            "mq_timedreceive",
            "mq_timedreceive_time64",
            "mq_timedsend",
            "mq_timedsend_time64",
            "mq_unlink",
            "msgctl",
            "msgget",
            "msgrcv",
            "msgsnd",
            "pipe",
            "pipe2",
            "process_madvise",
            "semctl",
            "semget",
            "semop",
            "semtimedop",
            "semtimedop_time64",
            "shmat",
            "shmctl",
            "shmdt",
            "shmget",
        ],
    },
    Group {
        name: "@keyring",
        help: "the kernel keyring, which is not namespaced",
        members: &["add_key", "keyctl", "request_key"],
    },
    Group {
        name: "@memlock",
        help: "locking memory",
        members: &["mlock", "mlock2", "mlockall", "munlock", "munlockall"],
    },
    Group {
        name: "@module",
        help: "loading and unloading kernel modules",
        members: &["delete_module", "finit_module", "init_module"],
    },
    Group {
        name: "@mount",
        help: "mounting, unmounting, chroot and pivot_root",
        members: &[
            "chroot",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree_attr",
            "pivot_root",
            "umount",
            "umount2",
        ],
    },
    Group {
        name: "@network-io",
        help: "sockets",
        members: &[
            "accept",
            "accept4",
            "bind",
            "connect",
            "getpeername",
            "getsockname",
            "getsockopt",
            "listen",
            "recv",
            "recvfrom",
            "recvmmsg",
            "recvmmsg_time64",
            "recvmsg",
            "send",
            "sendmmsg",
            "sendmsg",
            "sendto",
            "setsockopt",
            "shutdown",
            "socket",
            "socketcall",
            "socketpair",
        ],
    },
    Group {
        name: "@obsolete",
        help: "unused, obsolete or never implemented calls",
        members: &[
            "_sysctl",
            "afs_syscall",
            "bdflush",
            "break",
            "create_module",
            "ftime",
            "get_kernel_syms",
            "getpmsg",
            "gtty",
            "idle",
            "lock",
            "mpx",
            "nfsservctl",
            "prof",
            "profil",
            "putpmsg",
            "query_module",
            "security",
            "sgetmask",
            "ssetmask",
            "stime",
            "stty",
            "sysfs",
            "tuxcall",
            "ulimit",
            "uselib",
            "ustat",
            "vserver",
        ],
    },
    Group { name: "@pkey", help: "memory protection keys", members: &["pkey_alloc", "pkey_free", "pkey_mprotect"] },
    Group {
        name: "@process",
        help: "creating, signalling, waiting for and namespacing processes",
        members: &[
            "capget",
            "clone",
            "clone3",
            "execveat",
            "fork",
            "getrusage",
            "kill",
            "pidfd_open",
            "pidfd_send_signal",
            "prctl",
            "rt_sigqueueinfo",
            "rt_tgsigqueueinfo",
            "setns",
            "tgkill",
            "times",
            "tkill",
            "unshare",
            "vfork",
            "wait4",
            "waitid",
            "waitpid",
        ],
    },
    Group {
        name: "@raw-io",
        help: "raw I/O port and PCI configuration access",
        members: &["ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write"],
    },
    Group {
        name: "@reboot",
        help: "rebooting and loading a new kernel",
        members: &["kexec_file_load", "kexec_load", "reboot"],
    },
    Group {
        name: "@resources",
        help: "priorities, scheduling, NUMA policy and resource limits",
        members: &[
            "ioprio_set",
            "mbind",
            "migrate_pages",
            "move_pages",
            "nice",
            "sched_setaffinity",
            "sched_setattr",
            "sched_setparam",
            "sched_setscheduler",
            "set_mempolicy",
            "set_mempolicy_home_node",
            "setpriority",
            "setrlimit",
        ],
    },
    Group {
        name: "@sandbox",
        help: "seccomp and landlock, for programs that sandbox themselves",
        members: &["landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp"],
    },
    Group {
        name: "@setuid",
        help: "changing user and group credentials",
        members: &[
            "setgid",
            "setgid32",
            "setgroups",
            "setgroups32",
            "setregid",
            "setregid32",
            "setresgid",
            "setresgid32",
            "setresuid",
            "setresuid32",
            "setreuid",
            "setreuid32",
            "setuid",
            "setuid32",
        ],
    },
    Group {
        name: "@signal",
        help: "signal handlers, masks and signalfd",
        members: &[
            "rt_sigaction",
            "rt_sigpending",
            "rt_sigprocmask",
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "rt_sigtimedwait_time64",
            "sigaction",
            "sigaltstack",
            "signal",
            "signalfd",
            "signalfd4",
            "sigpending",
            "sigprocmask",
            "sigsuspend",
        ],
    },
    Group { name: "@swap", help: "enabling and disabling swap", members: &["swapoff", "swapon"] },
    Group {
        name: "@sync",
        help: "flushing files and memory to storage",
        members: &["fdatasync", "fsync", "msync", "sync", "sync_file_range", "sync_file_range2", "syncfs"],
    },
    Group {
        name: "@timer",
        help: "alarms, interval timers, POSIX timers and timerfds",
        members: &[
            "alarm",
            "getitimer",
            "setitimer",
            "timer_create",
            "timer_delete",
            "timer_getoverrun",
            "timer_gettime",
            "timer_gettime64",
            "timer_settime",
            "timer_settime64",
            "timerfd_create",
            "timerfd_gettime",
            "timerfd_gettime64",
            "timerfd_settime",
            "timerfd_settime64",
            "times",
        ],
    },
];

/// The baseline allow-list: groups and single calls, each either always
/// allowed (`None`) or only while the capability is in the guest's
/// bounding set. Entries in [`DENIED`] are taken out again.
pub const BASELINE: &[(Option<Capability>, &str)] = &[
    (None, "@aio"),
    (None, "@basic-io"),
    (None, "@chown"),
    (None, "@default"),
    (None, "@file-system"),
    (None, "@io-event"),
    (None, "@ipc"),
    (None, "@mount"),
    (None, "@network-io"),
    (None, "@process"),
    (None, "@resources"),
    (None, "@setuid"),
    (None, "@signal"),
    (None, "@sync"),
    (None, "@timer"),
    // Calls in no group above that ordinary programs and systemd use.
    (None, "capset"),
    (None, "copy_file_range"),
    (None, "fadvise64"),
    (None, "fadvise64_64"),
    (None, "flock"),
    (None, "get_mempolicy"),
    (None, "getcpu"),
    (None, "getpriority"),
    (None, "ioctl"),
    (None, "ioprio_get"),
    (None, "kcmp"),
    (None, "madvise"),
    (None, "mincore"),
    (None, "mremap"),
    (None, "name_to_handle_at"),
    (None, "oldolduname"),
    (None, "olduname"),
    (None, "personality"),
    (None, "readahead"),
    (None, "readdir"),
    (None, "remap_file_pages"),
    (None, "sched_get_priority_max"),
    (None, "sched_get_priority_min"),
    (None, "sched_getattr"),
    (None, "sched_getparam"),
    (None, "sched_getscheduler"),
    (None, "sched_rr_get_interval"),
    (None, "sched_rr_get_interval_time64"),
    (None, "sendfile"),
    (None, "sendfile64"),
    (None, "setdomainname"),
    (None, "setfsgid"),
    (None, "setfsgid32"),
    (None, "setfsuid"),
    (None, "setfsuid32"),
    (None, "sethostname"),
    (None, "setpgid"),
    (None, "setsid"),
    (None, "splice"),
    (None, "sysinfo"),
    (None, "tee"),
    (None, "umask"),
    (None, "uname"),
    (None, "userfaultfd"),
    (None, "vmsplice"),
    // Only with the capability that makes them useful.
    (Some(Capability::CAP_SYS_TIME), "@clock"),
    (Some(Capability::CAP_SYS_MODULE), "@module"),
    (Some(Capability::CAP_SYS_RAWIO), "@raw-io"),
    (Some(Capability::CAP_IPC_LOCK), "@memlock"),
    (Some(Capability::CAP_SYS_PACCT), "acct"),
    (Some(Capability::CAP_SYS_PTRACE), "ptrace"),
    (Some(Capability::CAP_SYS_PTRACE), "process_vm_readv"),
    (Some(Capability::CAP_SYS_PTRACE), "process_vm_writev"),
    (Some(Capability::CAP_SYS_BOOT), "reboot"),
    (Some(Capability::CAP_SYSLOG), "syslog"),
    (Some(Capability::CAP_SYS_TTY_CONFIG), "vhangup"),
];

/// Never allowed by the baseline, whatever capabilities the guest keeps:
/// these reach state that no namespace isolates (the keyring, BPF, perf,
/// fanotify on the host's mounts, quotas, swap, kexec, handles to any file
/// of a filesystem), or are obsolete. Only an explicit
/// `--system-call-filter=NAME` allows one of them again.
pub const DENIED: &[&str] = &[
    "@keyring",
    "@obsolete",
    "@cpu-emulation",
    "@pkey",
    "@swap",
    "bpf",
    "fanotify_init",
    "fanotify_mark",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "kexec_file_load",
    "kexec_load",
    "lookup_dcookie",
    "open_by_handle_at",
    "perf_event_open",
    "pidfd_getfd",
    "quotactl",
    "quotactl_fd",
];

/// The x86 ABIs the filter covers besides the native one.
const SECONDARY_ARCHES: &[ScmpArch] = &[ScmpArch::X86, ScmpArch::X32];

#[derive(Debug, Error)]
pub enum SeccompError {
    #[error("--system-call-filter: unknown group '{0}'; the groups are {list}", list = group_names())]
    UnknownGroup(String),
    #[error("--system-call-filter: '{0}' is not a system call known to libseccomp; check the spelling (e.g. keyctl or @mount)")]
    UnknownSyscall(String),
    #[error("--system-call-filter is empty; give system call names or @groups separated by spaces, with a leading ~ to deny them")]
    Empty,
    #[error("building the system call filter ({what}): {source}")]
    Build { what: String, source: libseccomp::error::SeccompError },
    #[error("loading the system call filter: {0}")]
    LoadRaw(std::io::Error),
}

fn group_names() -> String {
    GROUPS.iter().map(|g| g.name).collect::<Vec<_>>().join(" ")
}

pub fn group(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}

/// The system calls an item names: a group's members, recursively, or the
/// name itself.
pub fn expand(item: &str) -> Result<BTreeSet<String>, SeccompError> {
    let mut out = BTreeSet::new();
    expand_into(item, &mut out, 0)?;
    Ok(out)
}

fn expand_into(item: &str, out: &mut BTreeSet<String>, depth: u32) -> Result<(), SeccompError> {
    if let Some(name) = item.strip_prefix('@') {
        let g = group(item).ok_or_else(|| SeccompError::UnknownGroup(format!("@{name}")))?;
        // The table is static; a cycle is a bug the unit tests catch.
        assert!(depth < 8, "system call groups nest too deeply at {item}");
        for m in g.members {
            expand_into(m, out, depth + 1)?;
        }
    } else {
        out.insert(item.to_string());
    }
    Ok(())
}

fn expand_all<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for i in items {
        // Static tables and validated user input only.
        expand_into(i, &mut out, 0).expect("validated system call item");
    }
    out
}

/// `--system-call-filter` as given: items to allow and items to deny.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserFilter {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// --suppress-sync: the sync family succeeds without syncing.
    pub suppress_sync: bool,
}

/// Calls that --suppress-sync turns into successful no-ops.
pub const SYNC_CALLS: &[&str] =
    &["sync", "syncfs", "fsync", "fdatasync", "sync_file_range", "sync_file_range2", "arm_sync_file_range", "msync"];
/// Opens whose flags a filter can see (argument index of the flags).
const OPEN_FLAGS_ARG: &[(&str, u32)] = &[("open", 1), ("openat", 2)];

impl UserFilter {
    /// Adds one `--system-call-filter` value: names and @groups separated
    /// by spaces; a leading `~` makes the whole list a deny list.
    pub fn add(&mut self, value: &str) -> Result<(), SeccompError> {
        let (deny, list) = match value.trim_start().strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let items: Vec<&str> = list.split_whitespace().collect();
        if items.is_empty() {
            return Err(SeccompError::Empty);
        }
        for item in &items {
            validate_item(item)?;
        }
        let target = if deny { &mut self.deny } else { &mut self.allow };
        target.extend(items.iter().map(|s| s.to_string()));
        Ok(())
    }
}

fn validate_item(item: &str) -> Result<(), SeccompError> {
    if item.starts_with('@') {
        return group(item).map(|_| ()).ok_or_else(|| SeccompError::UnknownGroup(item.to_string()));
    }
    if is_known(item) || ScmpSyscall::from_name(item).is_ok() {
        Ok(())
    } else {
        Err(SeccompError::UnknownSyscall(item.to_string()))
    }
}

/// Whether the tables name this call anywhere.
fn is_known(name: &str) -> bool {
    known().contains(name)
}

/// Every call the tables name: these get `EPERM` when not allowed.
pub fn known() -> BTreeSet<String> {
    let mut all = expand_all(GROUPS.iter().map(|g| g.name));
    all.extend(expand_all(BASELINE.iter().map(|(_, i)| *i)));
    all.extend(expand_all(DENIED.iter().copied()));
    all
}

/// What the filter does, as names: calls to allow and calls to refuse with
/// `EPERM`. Everything else gets `ENOSYS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub allow: BTreeSet<String>,
    pub eperm: BTreeSet<String>,
    /// Calls that return 0 without doing anything (--suppress-sync).
    pub no_op: BTreeSet<String>,
    /// Opens with O_SYNC/O_DSYNC fail with EINVAL (seccomp cannot rewrite
    /// the flags), as under nspawn's --suppress-sync.
    pub refuse_sync_opens: bool,
}

/// Resolves the tables for a guest that keeps `retained` in its bounding
/// set: the baseline (with its capability-gated entries), less [`DENIED`],
/// plus what the user allowed, less what the user denied (a denial wins).
pub fn rules(retained: &[Capability], user: &UserFilter) -> Rules {
    let baseline =
        expand_all(BASELINE.iter().filter(|(cap, _)| cap.is_none_or(|c| retained.contains(&c))).map(|(_, i)| *i));
    let denied = expand_all(DENIED.iter().copied());
    let user_allow = expand_all(user.allow.iter().map(String::as_str));
    let user_deny = expand_all(user.deny.iter().map(String::as_str));
    let allow: BTreeSet<String> =
        baseline.difference(&denied).cloned().chain(user_allow).filter(|s| !user_deny.contains(s)).collect();
    let mut eperm = known();
    eperm.extend(user_deny);
    let eperm = eperm.difference(&allow).cloned().collect();
    let mut r = Rules { allow, eperm, no_op: BTreeSet::new(), refuse_sync_opens: false };
    if user.suppress_sync {
        for name in SYNC_CALLS {
            r.allow.remove(*name);
            r.eperm.remove(*name);
            r.no_op.insert(name.to_string());
        }
        for (name, _) in OPEN_FLAGS_ARG {
            r.allow.remove(*name);
        }
        // openat2 hides its flags in a struct: refuse it as unknown, so
        // libc falls back to openat, which is filtered.
        r.allow.remove("openat2");
        r.eperm.remove("openat2");
        // io_uring would bypass all of this.
        for name in expand_all(["io_uring_setup", "io_uring_enter", "io_uring_register"]) {
            r.allow.remove(&name);
            r.eperm.insert(name);
        }
        r.refuse_sync_opens = true;
    }
    r
}

/// The filters of one guest compiled to BPF. Compiling takes libseccomp
/// tens of milliseconds, so the launcher does it once per distinct policy
/// and keeps the result in /run/berth/seccomp (root's, like all of
/// /run/berth); every later start with the same policy loads the cached
/// programs directly. The key includes the build id (build.rs), so a
/// rebuilt berth whose filter construction changed never loads an older
/// build's programs.
#[derive(Debug, Clone)]
pub struct Compiled {
    programs: Vec<Vec<u8>>,
    no_new_privs: bool,
    loaded: bool,
}

pub const CACHE_DIR: &str = "/run/berth/seccomp";

impl Compiled {
    pub fn compile(retained: &[Capability], user: &UserFilter, no_new_privs: bool) -> Result<Compiled, SeccompError> {
        let rules = rules(retained, user);
        let version = libseccomp::ScmpVersion::current().map(|v| format!("{v:?}")).unwrap_or_default();
        let key = format!(
            "{}|{:?}|{:?}|{:?}|{}|{no_new_privs}|{version}",
            env!("BERTH_BUILD_ID"),
            rules.allow,
            rules.eperm,
            rules.no_op,
            rules.refuse_sync_opens
        );
        let hash = crate::ids::userns::fnv1a(&key);
        let build = cache_prefix();
        let path = std::path::Path::new(CACHE_DIR).join(format!("{build}-{hash:016x}.bpf"));
        if let Some(programs) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
            return Ok(Compiled { programs, no_new_privs, loaded: false });
        }
        let main = build_main(&rules, no_new_privs)?;
        let audit = build_audit_mask(no_new_privs)?;
        let programs = [main, audit].iter().map(export).collect::<Result<Vec<_>, _>>()?;
        // Best effort: a cache that cannot be written only costs time.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::create_dir_all(CACHE_DIR)
            .and_then(|_| std::fs::write(&tmp, encode(&programs)))
            .and_then(|_| std::fs::rename(&tmp, &path));
        let _ = std::fs::remove_file(&tmp);
        prune_other_builds(&build);
        Ok(Compiled { programs, no_new_privs, loaded: false })
    }

    /// Installs the filters in this process (they survive exec). Loading
    /// twice is a no-op.
    pub fn load(&mut self) -> Result<(), SeccompError> {
        if self.loaded {
            return Ok(());
        }
        if self.no_new_privs {
            // SAFETY: plain prctl.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
                return Err(SeccompError::LoadRaw(std::io::Error::last_os_error()));
            }
        }
        for p in &self.programs {
            let prog = libc::sock_fprog { len: (p.len() / 8) as u16, filter: p.as_ptr() as *mut libc::sock_filter };
            // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER) with a valid program
            // that outlives the call.
            let r = unsafe { libc::syscall(libc::SYS_seccomp, 1, 0, &prog as *const libc::sock_fprog) };
            if r < 0 {
                return Err(SeccompError::LoadRaw(std::io::Error::last_os_error()));
            }
        }
        self.loaded = true;
        Ok(())
    }
}

/// The cache files' prefix: this build's id, hashed.
fn cache_prefix() -> String {
    format!("{:08x}", crate::ids::userns::fnv1a(env!("BERTH_BUILD_ID")) as u32)
}

/// Whether a cache file belongs to another build (its prefix differs, or
/// it has none: named before builds were told apart).
fn other_build(file: &str, prefix: &str) -> bool {
    file.ends_with(".bpf") && file.split_once('-').is_none_or(|(p, _)| p != prefix)
}

/// Removes other builds' programs, which this one never loads: without
/// it, every upgrade of berth would leave its cache behind in /run.
fn prune_other_builds(prefix: &str) {
    for e in std::fs::read_dir(CACHE_DIR).into_iter().flatten().flatten() {
        if other_build(&e.file_name().to_string_lossy(), prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The BPF program libseccomp would load for `ctx`.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    use std::io::{Read, Seek};
    let fd = nix::sys::memfd::memfd_create(c"berth-seccomp", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| SeccompError::LoadRaw(e.into()))?;
    let mut f = std::fs::File::from(fd);
    ctx.export_bpf(&f).map_err(build_err("exporting BPF"))?;
    let mut out = Vec::new();
    f.rewind().and_then(|_| f.read_to_end(&mut out)).map_err(SeccompError::LoadRaw)?;
    Ok(out)
}

fn encode(programs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in programs {
        out.extend((p.len() as u32).to_le_bytes());
        out.extend(p);
    }
    out
}

fn decode(mut b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let n = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let p = b.get(4..4 + n)?;
        if n == 0 || !n.is_multiple_of(8) || n / 8 > u16::MAX as usize {
            return None;
        }
        out.push(p.to_vec());
        b = &b[4 + n..];
    }
    (out.len() == 2).then_some(out)
}

fn build_err(what: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let what = what.into();
    move |source| SeccompError::Build { what, source }
}

fn new_context(default: ScmpAction, no_new_privs: bool) -> Result<ScmpFilterContext, SeccompError> {
    let mut ctx = ScmpFilterContext::new(default).map_err(build_err("allocating"))?;
    ctx.set_ctl_nnp(no_new_privs).map_err(build_err("setting the no_new_privs attribute"))?;
    Ok(ctx)
}

fn build_main(rules: &Rules, no_new_privs: bool) -> Result<ScmpFilterContext, SeccompError> {
    let mut ctx = new_context(ScmpAction::Errno(libc::ENOSYS), no_new_privs)?;
    if ScmpArch::native() == ScmpArch::X8664 {
        for arch in SECONDARY_ARCHES {
            ctx.add_arch(*arch).map_err(build_err(format!("adding the {arch:?} ABI")))?;
        }
    }
    for (names, action) in [(&rules.allow, ScmpAction::Allow), (&rules.eperm, ScmpAction::Errno(libc::EPERM))] {
        for name in names {
            // A name this libseccomp does not know (a call newer than it)
            // stays out of the filter and so gets ENOSYS.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            ctx.add_rule(action, sc).map_err(build_err(format!("rule for {name}")))?;
        }
    }
    for name in &rules.no_op {
        if let Ok(sc) = ScmpSyscall::from_name(name) {
            ctx.add_rule(ScmpAction::Errno(0), sc).map_err(build_err(format!("no-op rule for {name}")))?;
        }
    }
    if rules.refuse_sync_opens {
        use libseccomp::{ScmpArgCompare, ScmpCompareOp};
        let dsync = libc::O_DSYNC as u64; // O_SYNC includes it
        for (name, arg) in OPEN_FLAGS_ARG {
            let sc = ScmpSyscall::from_name(name).map_err(build_err(format!("resolving {name}")))?;
            let with = [ScmpArgCompare::new(*arg, ScmpCompareOp::MaskedEqual(dsync), dsync)];
            let without = [ScmpArgCompare::new(*arg, ScmpCompareOp::MaskedEqual(dsync), 0)];
            ctx.add_rule_conditional(ScmpAction::Errno(libc::EINVAL), sc, &with)
                .map_err(build_err(format!("O_SYNC rule for {name}")))?;
            ctx.add_rule_conditional(ScmpAction::Allow, sc, &without)
                .map_err(build_err(format!("open rule for {name}")))?;
        }
    }
    // A binary tree instead of a linear list: the filter is long.
    ctx.set_ctl_optimize(2).map_err(build_err("choosing binary-tree optimization"))?;
    Ok(ctx)
}

/// Audit does not work in containers; like nspawn, make creating an audit
/// netlink socket fail with EAFNOSUPPORT, which audit userspace reads as
/// "audit is not compiled in" and stays quiet. Only on the 64-bit ABIs:
/// i386 may create sockets through socketcall(2), whose arguments a filter
/// cannot see, so there the call is left alone.
fn build_audit_mask(no_new_privs: bool) -> Result<ScmpFilterContext, SeccompError> {
    use libseccomp::{ScmpArgCompare, ScmpCompareOp};
    let mut ctx = new_context(ScmpAction::Allow, no_new_privs)?;
    ctx.set_act_badarch(ScmpAction::Allow).map_err(build_err("letting other ABIs pass the audit mask"))?;
    if ScmpArch::native() == ScmpArch::X8664 {
        ctx.add_arch(ScmpArch::X32).map_err(build_err("adding the x32 ABI to the audit mask"))?;
    }
    let socket = ScmpSyscall::from_name("socket").map_err(build_err("resolving socket"))?;
    ctx.add_rule_conditional(
        ScmpAction::Errno(libc::EAFNOSUPPORT),
        socket,
        &[
            ScmpArgCompare::new(0, ScmpCompareOp::Equal, libc::AF_NETLINK as u64),
            ScmpArgCompare::new(2, ScmpCompareOp::Equal, libc::NETLINK_AUDIT as u64),
        ],
    )
    .map_err(build_err("audit socket rule"))?;
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::capabilities::KEEP;

    fn default_rules() -> Rules {
        rules(KEEP, &UserFilter::default())
    }

    #[test]
    fn only_this_builds_cache_files_are_kept() {
        let me = cache_prefix();
        assert!(!other_build(&format!("{me}-0123456789abcdef.bpf"), &me));
        assert!(other_build("deadbeef-0123456789abcdef.bpf", &me));
        assert!(other_build("0123456789abcdef.bpf", &me), "named before builds were told apart");
        assert!(!other_build("0123456789abcdef.bpf.tmp42", &me), "another start's file being written");
        assert!(!other_build("notes.txt", &me));
    }

    #[test]
    fn groups_are_unique_sorted_and_resolve() {
        let mut seen = BTreeSet::new();
        for g in GROUPS {
            assert!(g.name.starts_with('@'), "{}", g.name);
            assert!(seen.insert(g.name), "duplicate group {}", g.name);
            assert!(!g.help.is_empty());
            let mut members = BTreeSet::new();
            for m in g.members {
                assert!(members.insert(*m), "{} lists {m} twice", g.name);
                if m.starts_with('@') {
                    assert!(group(m).is_some(), "{} names unknown {m}", g.name);
                } else {
                    assert!(
                        m.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                        "odd name {m}"
                    );
                }
            }
            // Nesting terminates (expand panics past a small depth).
            assert!(!expand(g.name).unwrap().is_empty());
        }
        for (_, item) in BASELINE {
            expand(item).unwrap();
        }
        for item in DENIED {
            expand(item).unwrap();
        }
    }

    #[test]
    fn denied_never_overlaps_allowed() {
        let r = default_rules();
        assert!(r.allow.is_disjoint(&r.eperm));
        let denied = expand_all(DENIED.iter().copied());
        assert!(r.allow.is_disjoint(&denied), "{:?}", r.allow.intersection(&denied).collect::<Vec<_>>());
        // Not even with every capability.
        let all: Vec<Capability> = caps::all().into_iter().collect();
        let r = rules(&all, &UserFilter::default());
        assert!(r.allow.is_disjoint(&denied));
        for name in &denied {
            assert!(r.eperm.contains(name), "{name} must get EPERM");
        }
    }

    #[test]
    fn what_the_brief_denies_is_denied() {
        let r = default_rules();
        for name in [
            "add_key",
            "keyctl",
            "request_key",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "bpf",
            "open_by_handle_at",
            "perf_event_open",
            "fanotify_init",
            "quotactl",
            "quotactl_fd",
            "swapon",
            "swapoff",
            "uselib",
            "sysfs",
            "_sysctl",
            "ustat",
            "nfsservctl",
            "vm86",
            "vm86old",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "clock_settime",
            "settimeofday",
            "iopl",
        ] {
            assert!(!r.allow.contains(name), "{name} must not be allowed");
            assert!(r.eperm.contains(name), "{name} must get EPERM");
        }
        for name in [
            "read",
            "openat",
            "execve",
            "clone3",
            "mount",
            "reboot",
            "ptrace",
            "seccomp",
            "userfaultfd",
            "socket",
            "socketcall",
            "ipc",
        ] {
            assert!(r.allow.contains(name), "{name} must be allowed");
        }
        // Calls the tables never name get neither rule: ENOSYS.
        for name in ["memfd_secret", "process_mrelease", "cachestat"] {
            assert!(!r.allow.contains(name) && !r.eperm.contains(name), "{name}");
        }
    }

    #[test]
    fn every_gated_entry_maps_to_a_capability_and_follows_it() {
        let denied = expand_all(DENIED.iter().copied());
        let ungated = expand_all(BASELINE.iter().filter(|(c, _)| c.is_none()).map(|(_, i)| *i));
        for (cap, item) in BASELINE.iter().filter(|(c, _)| c.is_some()) {
            let cap = cap.unwrap();
            let names = expand(item).unwrap();
            assert!(names.is_disjoint(&denied), "{item} is gated by {cap} but also denied");
            assert!(names.is_disjoint(&ungated), "{item} is gated by {cap} but allowed anyway");
            let without: Vec<Capability> = KEEP.iter().copied().filter(|c| *c != cap).collect();
            let mut with = without.clone();
            with.push(cap);
            let (a, b) = (rules(&without, &UserFilter::default()), rules(&with, &UserFilter::default()));
            for n in &names {
                assert!(!a.allow.contains(n) && a.eperm.contains(n), "{n} without {cap}");
                assert!(b.allow.contains(n), "{n} with {cap}");
            }
        }
        // The defaults: reboot stays (CAP_SYS_BOOT), the clock does not.
        let r = default_rules();
        assert!(r.allow.contains("reboot"));
        assert!(!r.allow.contains("clock_settime"));
    }

    #[test]
    fn user_lists_parse_and_apply() {
        let mut u = UserFilter::default();
        u.add("~@mount keyctl").unwrap();
        u.add("@clock  sysfs").unwrap();
        assert_eq!(u.deny, vec!["@mount", "keyctl"]);
        assert_eq!(u.allow, vec!["@clock", "sysfs"]);
        assert!(matches!(u.add("@nope"), Err(SeccompError::UnknownGroup(_))));
        assert!(matches!(u.add("~not_a_syscall"), Err(SeccompError::UnknownSyscall(_))));
        assert!(matches!(u.add("  "), Err(SeccompError::Empty)));
        assert!(matches!(u.add("~"), Err(SeccompError::Empty)));
        let r = rules(KEEP, &u);
        assert!(r.allow.contains("clock_settime") && r.allow.contains("sysfs"));
        assert!(!r.allow.contains("mount") && r.eperm.contains("mount"));
        assert!(!r.allow.contains("keyctl") && r.eperm.contains("keyctl"));
        // A denial wins over an allowance.
        let mut u = UserFilter::default();
        u.add("@aio").unwrap();
        u.add("~io_uring_setup").unwrap();
        let r = rules(KEEP, &u);
        assert!(r.allow.contains("io_uring_enter") && !r.allow.contains("io_uring_setup"));
        // A call known to libseccomp but not to the tables can be denied.
        let mut u = UserFilter::default();
        u.add("~memfd_secret").unwrap();
        assert!(rules(KEEP, &u).eperm.contains("memfd_secret"));
        assert!(!default_rules().eperm.contains("memfd_secret"));
    }

    #[test]
    fn filters_build_for_every_abi() {
        let mut u = UserFilter::default();
        u.add("~@mount").unwrap();
        let main = build_main(&rules(KEEP, &u), false).unwrap();
        assert!(!main.get_ctl_nnp().unwrap());
        if ScmpArch::native() == ScmpArch::X8664 {
            for a in [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32] {
                assert!(main.is_arch_present(a).unwrap(), "{a:?}");
            }
        }
        assert!(build_main(&rules(KEEP, &u), true).unwrap().get_ctl_nnp().unwrap());
        u.suppress_sync = true;
        let r = rules(KEEP, &u);
        assert!(r.no_op.contains("fsync") && r.refuse_sync_opens && !r.allow.contains("openat"));
        assert!(r.eperm.contains("io_uring_setup") && !r.allow.contains("io_uring_setup"));
        let main = build_main(&r, false).unwrap();
        let bpf = export(&main).unwrap();
        assert!(!bpf.is_empty() && bpf.len().is_multiple_of(8));
        assert_eq!(decode(&encode(&[bpf.clone(), bpf.clone()])), Some(vec![bpf.clone(), bpf]));
        assert_eq!(decode(&[1, 0, 0, 0, 9]), None, "a torn cache file is ignored");
    }
}
