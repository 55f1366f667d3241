/*
 * berth red-team probe: tries the classic container escapes from inside a
 * guest and prints one line per attempt:
 *
 *     ROW <name> <blocked|escaped|absent> <detail>
 *
 * then "ROWS <n>" and "PROBE DONE". tests/redteam.rs compiles it with
 * `gcc -static -O2`, bind-mounts it read-only at /probe and runs it as the
 * guest's command (PID 1), once with a user namespace and once with -U no.
 *
 *   blocked  the attempt failed in the way a contained guest must fail, or
 *            it succeeded but reached only the guest's own things;
 *   escaped  the guest reached something of the host (the detail says what);
 *   absent   the kernel or host lacks the thing, so there is nothing to
 *            escape through (ENOENT for a path the host lacks too, ENOSYS for
 *            a syscall the host lacks too, ENODEV for an unknown fs type).
 *
 * Facts about the host come as key=value arguments (the probe cannot see
 * the host, by design):
 *   marker=PATH        a file that exists on the host only (absolute path)
 *   hostname=NAME      the host's hostname
 *   rootdev=MAJ:MIN    the block device of the host's root filesystem
 *   rootname=NAME      its name under /dev (e.g. vda)
 *   missing=P1,P2,...  paths this probe looks at that the host lacks
 *   nosys=S1,S2,...    syscalls that return ENOSYS on the host too
 *   ukeyring=ID        the host caller's user keyring id (decimal)
 *   skeyring=ID        the host caller's session keyring id (decimal)
 *   secret=DESC        a "user" key the test put into that session keyring
 *
 * Safety: this program runs where an escape would touch the real host, so
 * it never writes to a host-global file. Files are only opened for writing
 * (O_WRONLY|O_APPEND, never O_TRUNC) and closed again; privileged syscalls
 * are called with arguments the kernel rejects right after its permission
 * check (a bogus module image, too many kexec segments, an out-of-range
 * timezone, a swap file without a signature), so "got past the permission
 * check" is observable without any effect. Each row runs in a forked child
 * (with an alarm), and rows that change mounts unshare a private mount
 * namespace first so they cannot change what later rows see.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef FILEID_INO32_GEN
#define FILEID_INO32_GEN 1
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* ---- host facts ------------------------------------------------------- */

static const char *marker = "";
static const char *host_hostname = "";
static unsigned rootdev_major, rootdev_minor;
static const char *rootname = "";
static const char *missing = "";
static const char *nosys = "";
static long host_ukeyring = -1, host_skeyring = -1;
static const char *host_secret = "";

/* Whether `item` is one of the comma-separated entries of `list`. */
static int in_list(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p = list;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

static int host_lacks(const char *path) { return in_list(missing, path); }
static int host_nosys(const char *sc) { return in_list(nosys, sc); }

/* ---- results ----------------------------------------------------------- */

struct res {
	const char *status;
	char detail[1400];
};

static void set(struct res *r, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set(struct res *r, const char *status, const char *fmt, ...)
{
	va_list ap;
	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof r->detail, fmt, ap);
	va_end(ap);
}

#define BLOCKED(...) set(r, "blocked", __VA_ARGS__)
#define ESCAPED(...) set(r, "escaped", __VA_ARGS__)
#define ABSENT(...) set(r, "absent", __VA_ARGS__)

static const char *en(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "E?";
}

/* Classifies the failure of a privileged syscall `sc`:
 * ENOSYS where the host lacks the syscall too is "absent", ENOSYS where the
 * host has it is "blocked" (a filter answered), EPERM/EACCES is "blocked"
 * (the permission check refused it). Returns 1 when it set the result, 0
 * when the errno means the call got past the permission check. */
static int refused(struct res *r, const char *sc, int e)
{
	if (e == ENOSYS) {
		if (host_nosys(sc))
			ABSENT("%s: ENOSYS; the host kernel lacks it too", sc);
		else
			BLOCKED("%s: ENOSYS in the guest but present on the host (filtered)", sc);
		return 1;
	}
	if (e == EPERM || e == EACCES) {
		BLOCKED("%s: %s", sc, en(e));
		return 1;
	}
	return 0;
}

static long fs_magic(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return -1;
	return (long)sf.f_type;
}

static const char *magic_name(long m)
{
	switch (m) {
	case PROC_SUPER_MAGIC: return "proc";
	case SYSFS_MAGIC: return "sysfs";
	case TMPFS_MAGIC: return "tmpfs";
	case DEBUGFS_MAGIC: return "debugfs";
	case CGROUP_SUPER_MAGIC: return "cgroup";
	case CGROUP2_SUPER_MAGIC: return "cgroup2";
	default: return "other";
	}
}

/* Opens `path` for writing (never truncating) and closes it again.
 * escaped: it opened and the file is on `want_magic` (the kernel's own
 *          proc/sysfs file, not a mask from /run/host/inaccessible);
 * blocked: the open failed (EROFS: read-only mount; EACCES/EPERM: no
 *          permission; ENOENT for a path the host has: hidden), or what
 *          opened is a mask on another filesystem;
 * absent:  ENOENT and the host lacks the path too. */
static void try_open_write(struct res *r, const char *path, const char *hostpath, long want_magic)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT && host_lacks(hostpath))
			ABSENT("%s: ENOENT; the host lacks %s too", path, hostpath);
		else
			BLOCKED("open %s for writing: %s", path, en(e));
		return;
	}
	long m = fs_magic(fd);
	close(fd);
	if (m == want_magic)
		ESCAPED("opened %s for writing (a live %s file)", path, magic_name(want_magic));
	else
		BLOCKED("open %s for writing reached a mask on %s, not the kernel's file", path, magic_name(m));
}

/* Opens `path` for reading. escaped: the live procfs file opened; blocked:
 * the open failed or reached a mask; absent: ENOENT where the host lacks it. */
static void try_open_read(struct res *r, const char *path, const char *hostpath, long want_magic)
{
	int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT && host_lacks(hostpath))
			ABSENT("%s: ENOENT; the host lacks %s too", path, hostpath);
		else
			BLOCKED("open %s: %s", path, en(e));
		return;
	}
	long m = fs_magic(fd);
	char buf[64];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (m == want_magic)
		ESCAPED("opened the live %s (%s; read returned %zd)", path, magic_name(m), n);
	else
		BLOCKED("%s is a mask on %s (read returned %zd)", path, magic_name(m), n);
}

static char *make_tmpdir(const char *tag)
{
	static char dir[128];
	snprintf(dir, sizeof dir, "/tmp/rt-%s-XXXXXX", tag);
	if (!mkdtemp(dir))
		return NULL;
	return dir;
}

/* ---- rows: descriptors and the root ----------------------------------- */

static struct res leaked;

/* Every descriptor besides 0, 1, 2 (and the one reading the directory) is a
 * leak from the host: escaped, naming where it points. Taken first thing in
 * main, before this program opens anything. */
static void scan_fds(void)
{
	char list[1200] = "";
	int found = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		set(&leaked, "error", "opendir /proc/self/fd: %s", en(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(d))
			continue;
		char p[300], t[256] = "";
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(p, t, sizeof t - 1);
		if (n > 0)
			t[n] = 0;
		size_t l = strlen(list);
		snprintf(list + l, sizeof list - l, "%s%d->%s", found ? ", " : "", fd, t);
		found++;
	}
	closedir(d);
	if (found)
		set(&leaked, "escaped", "descriptors inherited from the host: %s", list);
	else
		set(&leaked, "blocked", "only 0, 1 and 2 are open");
}

static void row_leaked_fds(struct res *r) { *r = leaked; }

/* The working directory must be inside the root: /proc/self/cwd names a
 * path below "/", getcwd succeeds without "(unreachable)", and walking ".."
 * up from "." ends at the same inode as "/". Anything else: escaped. */
static void row_cwd(struct res *r)
{
	char link[512] = "", cwd[512] = "", rootlink[512] = "";
	ssize_t n = readlink("/proc/self/cwd", link, sizeof link - 1);
	if (n > 0)
		link[n] = 0;
	n = readlink("/proc/self/root", rootlink, sizeof rootlink - 1);
	if (n > 0)
		rootlink[n] = 0;
	char *g = getcwd(cwd, sizeof cwd);
	int ge = g ? 0 : errno;
	struct stat root, cur, up;
	if (stat("/", &root) < 0) {
		set(r, "error", "stat /: %s", en(errno));
		return;
	}
	int top_is_root = 0;
	if (stat(".", &cur) == 0) {
		for (int i = 0; i < 256; i++) {
			if (chdir("..") < 0 || stat(".", &up) < 0)
				break;
			if (up.st_dev == cur.st_dev && up.st_ino == cur.st_ino)
				break;
			cur = up;
		}
		top_is_root = cur.st_dev == root.st_dev && cur.st_ino == root.st_ino;
	}
	if (link[0] != '/' || strstr(link, "unreachable") || !g || strstr(cwd, "unreachable") ||
	    strcmp(rootlink, "/") != 0 || !top_is_root)
		ESCAPED("cwd outside the root: /proc/self/cwd=%s getcwd=%s (%s) root=%s top-of-..-walk-is-/=%d",
			link, g ? cwd : "-", ge ? en(ge) : "ok", rootlink, top_is_root);
	else
		BLOCKED("cwd=%s getcwd=%s root=%s; walking .. ends at /", link, cwd, rootlink);
}

/* ".." of "/" must be "/" itself, also after many chdir(".."). */
static void row_dotdot(struct res *r)
{
	struct stat a, b, c;
	if (stat("/", &a) < 0 || stat("/..", &b) < 0) {
		set(r, "error", "stat: %s", en(errno));
		return;
	}
	if (chdir("/") < 0) {
		set(r, "error", "chdir /: %s", en(errno));
		return;
	}
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			break;
	stat(".", &c);
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_dev == c.st_dev && a.st_ino == c.st_ino)
		BLOCKED("/.. is / and 64 chdir(\"..\") stay at /");
	else
		ESCAPED("/.. or a chdir(\"..\") walk left the root (/=%lu:%lu /..=%lu:%lu walk=%lu:%lu)",
			(unsigned long)a.st_dev, (unsigned long)a.st_ino, (unsigned long)b.st_dev,
			(unsigned long)b.st_ino, (unsigned long)c.st_dev, (unsigned long)c.st_ino);
}

/* mkdir x; chroot x; chdir ../../..; chroot . -- the classic break-out.
 * escaped: the host-only marker is visible afterwards; blocked: chroot is
 * refused, or the break-out ends at the guest's own root. */
static void row_chroot_escape(struct res *r)
{
	char *dir = make_tmpdir("chroot");
	if (!dir) {
		set(r, "error", "mkdtemp: %s", en(errno));
		return;
	}
	if (chroot(dir) < 0) {
		BLOCKED("chroot: %s", en(errno));
		return;
	}
	for (int i = 0; i < 128; i++)
		if (chdir("..") < 0)
			break;
	if (chroot(".") < 0) {
		BLOCKED("second chroot: %s", en(errno));
		return;
	}
	if (access(marker, F_OK) == 0)
		ESCAPED("after the break-out the host-only marker %s is visible", marker);
	else if (access("/probe/probe", F_OK) == 0)
		BLOCKED("the break-out ends at the guest's root (/probe visible, host marker %s not)", marker);
	else
		BLOCKED("the break-out ends somewhere without the host marker (%s)", marker);
}

/* ---- rows: /proc and /sys --------------------------------------------- */

static void row_core_pattern(struct res *r)
{
	try_open_write(r, "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/core_pattern", PROC_SUPER_MAGIC);
}
static void row_sysrq(struct res *r)
{
	try_open_write(r, "/proc/sysrq-trigger", "/proc/sysrq-trigger", PROC_SUPER_MAGIC);
}
static void row_drop_caches(struct res *r)
{
	try_open_write(r, "/proc/sys/vm/drop_caches", "/proc/sys/vm/drop_caches", PROC_SUPER_MAGIC);
}
static void row_sys_thp(struct res *r)
{
	try_open_write(r, "/sys/kernel/mm/transparent_hugepage/enabled",
		       "/sys/kernel/mm/transparent_hugepage/enabled", SYSFS_MAGIC);
}
static void row_sys_uevent_helper(struct res *r)
{
	try_open_write(r, "/sys/kernel/uevent_helper", "/sys/kernel/uevent_helper", SYSFS_MAGIC);
}
static void row_read_kallsyms(struct res *r)
{
	try_open_read(r, "/proc/kallsyms", "/proc/kallsyms", PROC_SUPER_MAGIC);
}
static void row_read_kcore(struct res *r)
{
	try_open_read(r, "/proc/kcore", "/proc/kcore", PROC_SUPER_MAGIC);
}
static void row_read_keys(struct res *r)
{
	try_open_read(r, "/proc/keys", "/proc/keys", PROC_SUPER_MAGIC);
}
static void row_read_timer_list(struct res *r)
{
	try_open_read(r, "/proc/timer_list", "/proc/timer_list", PROC_SUPER_MAGIC);
}

/* Unmounting a mask: EINVAL (a locked mount), EPERM or EBUSY is blocked;
 * success is escaped (the kernel's file is then reachable); ENOENT where
 * the host lacks the file is absent. */
static void unmount_mask(struct res *r, const char *path, int flags)
{
	if (umount2(path, flags) == 0) {
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		long m = fd >= 0 ? fs_magic(fd) : -1;
		if (fd >= 0)
			close(fd);
		ESCAPED("umount2(%s, %s) succeeded; the file below is now %s", path,
			flags ? "MNT_DETACH" : "0", fd >= 0 ? magic_name(m) : en(errno));
		return;
	}
	int e = errno;
	if (e == ENOENT && host_lacks(path))
		ABSENT("%s: ENOENT; the host lacks it too", path);
	else
		BLOCKED("umount2(%s, %s): %s", path, flags ? "MNT_DETACH" : "0", en(e));
}
static void row_umount_keys(struct res *r) { unmount_mask(r, "/proc/keys", 0); }
static void row_umount_timer_list(struct res *r) { unmount_mask(r, "/proc/timer_list", MNT_DETACH); }

/* Remounting a read-only mount read-write: success is escaped (and the
 * detail says whether `probe` then opens for writing); failure is blocked.
 * First exactly MS_REMOUNT|MS_BIND (which also asks to drop nosuid etc.),
 * then keeping nosuid,nodev,noexec so only "ro" is asked to go. */
static void remount_rw(struct res *r, const char *path, const char *probe)
{
	int e1 = 0;
	int ok = mount(NULL, path, NULL, MS_REMOUNT | MS_BIND, NULL) == 0;
	if (!ok) {
		e1 = errno;
		ok = mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0;
	}
	if (!ok) {
		BLOCKED("remount %s rw: %s; keeping nosuid,nodev,noexec: %s", path, en(e1), en(errno));
		return;
	}
	int fd = open(probe, O_WRONLY | O_APPEND | O_CLOEXEC);
	int e = errno;
	if (fd >= 0)
		close(fd);
	ESCAPED("remounted %s read-write; then %s opens for writing: %s", path, probe, fd >= 0 ? "yes" : en(e));
}
static void row_remount_proc_sys(struct res *r) { remount_rw(r, "/proc/sys", "/proc/sys/kernel/core_pattern"); }
static void row_remount_sys(struct res *r)
{
	remount_rw(r, "/sys", "/sys/kernel/mm/transparent_hugepage/enabled");
}

/* Mounting a kernel-internals filesystem. ENODEV: the kernel lacks it
 * (absent); any other failure: blocked; success: escaped (debugfs, tracefs
 * and a bpffs made with host privileges expose or control the host kernel). */
static void try_mount_fs(struct res *r, const char *fstype)
{
	char *dir = make_tmpdir(fstype);
	if (!dir) {
		set(r, "error", "mkdtemp: %s", en(errno));
		return;
	}
	if (mount(fstype, dir, fstype, 0, NULL) < 0) {
		int e = errno;
		if (e == ENODEV)
			ABSENT("mount -t %s: ENODEV (not in this kernel)", fstype);
		else
			BLOCKED("mount -t %s: %s", fstype, en(e));
		rmdir(dir);
		return;
	}
	int entries = 0;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				entries++;
		closedir(d);
	}
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	ESCAPED("mounted %s (%d entries at its top)", fstype, entries);
}
static void row_debugfs(struct res *r) { try_mount_fs(r, "debugfs"); }
static void row_tracefs(struct res *r) { try_mount_fs(r, "tracefs"); }
static void row_bpffs(struct res *r) { try_mount_fs(r, "bpf"); }

/* cgroup v1: mount an existing host hierarchy, then look for a writable
 * release_agent (only at the hierarchy's real root) or any writable control
 * file at the mount's top. mount failure: blocked (ENODEV/absent without
 * cgroup v1); mounted and something opens for writing: escaped (the guest
 * controls the host's v1 hierarchy; release_agent is the CVE-2022-0492
 * route); mounted but nothing writable (a user namespace sees the files as
 * owned by an unmapped host root): blocked. */
static void cgroup1(struct res *r, const char *opts)
{
	char *dir = make_tmpdir("cg1");
	if (!dir) {
		set(r, "error", "mkdtemp: %s", en(errno));
		return;
	}
	if (mount("cgroup", dir, "cgroup", 0, opts) < 0) {
		int e = errno;
		rmdir(dir);
		if (e == ENODEV)
			ABSENT("mount -t cgroup -o %s: ENODEV", opts);
		else
			BLOCKED("mount -t cgroup -o %s: %s", opts, en(e));
		return;
	}
	static const char *files[] = {"release_agent", "notify_on_release", "cgroup.procs", "tasks"};
	char notes[600] = "", p[256];
	const char *writable = NULL;
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
		size_t l = strlen(notes);
		if (fd >= 0) {
			close(fd);
			snprintf(notes + l, sizeof notes - l, " %s:writable", files[i]);
			if (!writable)
				writable = files[i];
		} else {
			snprintf(notes + l, sizeof notes - l, " %s:%s", files[i], en(errno));
		}
	}
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	if (writable)
		ESCAPED("mounted the host's v1 hierarchy (-o %s); opened for writing:%s", opts, notes);
	else
		BLOCKED("mounted the host's v1 hierarchy (-o %s) but nothing at its top is writable:%s", opts, notes);
}
static void row_cgroup1_memory(struct res *r) { cgroup1(r, "memory"); }
static void row_cgroup1_systemd(struct res *r) { cgroup1(r, "none,name=systemd"); }

/* A fresh procfs elsewhere, without berth's masks. The mount failing is
 * blocked (the kernel refuses a procfs that would reveal more than the
 * guest's masked one); when it mounts, the row's file decides. */
static char nested_proc[128];
static int mount_nested(struct res *r, const char *fstype)
{
	char *dir = make_tmpdir(fstype);
	if (!dir) {
		set(r, "error", "mkdtemp: %s", en(errno));
		return -1;
	}
	if (mount(fstype, dir, fstype, 0, NULL) < 0) {
		int e = errno;
		rmdir(dir);
		BLOCKED("mounting a fresh %s: %s", fstype, en(e));
		return -1;
	}
	snprintf(nested_proc, sizeof nested_proc, "%s", dir);
	return 0;
}
static void nested_read(struct res *r, const char *rel)
{
	if (mount_nested(r, "proc") < 0)
		return;
	char p[256], h[128];
	snprintf(p, sizeof p, "%s/%s", nested_proc, rel);
	snprintf(h, sizeof h, "/proc/%s", rel);
	try_open_read(r, p, h, PROC_SUPER_MAGIC);
	umount2(nested_proc, MNT_DETACH);
}
static void nested_write(struct res *r, const char *fstype, const char *rel, const char *hostbase, long magic)
{
	if (mount_nested(r, fstype) < 0)
		return;
	char p[256], h[128];
	snprintf(p, sizeof p, "%s/%s", nested_proc, rel);
	snprintf(h, sizeof h, "%s/%s", hostbase, rel);
	try_open_write(r, p, h, magic);
	umount2(nested_proc, MNT_DETACH);
}
static void row_nested_proc_keys(struct res *r) { nested_read(r, "keys"); }
static void row_nested_proc_kcore(struct res *r) { nested_read(r, "kcore"); }
static void row_nested_proc_core_pattern(struct res *r)
{
	nested_write(r, "proc", "sys/kernel/core_pattern", "/proc", PROC_SUPER_MAGIC);
}
static void row_nested_proc_sysrq(struct res *r)
{
	nested_write(r, "proc", "sysrq-trigger", "/proc", PROC_SUPER_MAGIC);
}
static void row_nested_sysfs(struct res *r)
{
	nested_write(r, "sysfs", "kernel/mm/transparent_hugepage/enabled", "/sys", SYSFS_MAGIC);
}

/* ---- rows: devices ----------------------------------------------------- */

/* mknod a device node and open it. mknod or open refused (EPERM from the
 * device policy or the missing CAP_MKNOD): blocked; open succeeds: escaped
 * (the detail has the result of reading it); ENXIO/ENODEV on open: absent
 * (no such device in this kernel -- note the device policy did not stop
 * the open). The node is made in the guest's /dev, or on a fresh tmpfs when
 * /dev is not writable. */
static void mknod_open(struct res *r, mode_t type, unsigned maj, unsigned min, const char *what)
{
	char path[256];
	snprintf(path, sizeof path, "/dev/.rt-node-%d", getpid());
	int made = mknod(path, type | 0600, makedev(maj, min)) == 0;
	int e = errno;
	char where[128] = "/dev";
	if (!made && (e == EROFS || e == EACCES)) {
		char *dir = make_tmpdir("devtmp");
		if (dir && mount("tmpfs", dir, "tmpfs", 0, "mode=0700") == 0) {
			snprintf(where, sizeof where, "%s", dir);
			snprintf(path, sizeof path, "%s/node", dir);
			made = mknod(path, type | 0600, makedev(maj, min)) == 0;
			e = errno;
		}
	}
	if (!made) {
		BLOCKED("mknod %s %c %u:%u in %s: %s", what, S_ISBLK(type) ? 'b' : 'c', maj, min, where, en(e));
		return;
	}
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	e = errno;
	unlink(path);
	if (fd < 0) {
		if (e == ENXIO || e == ENODEV)
			ABSENT("mknod %s %u:%u worked; open: %s (no such device in this kernel; the device policy let the open through)",
			       what, maj, min, en(e));
		else
			BLOCKED("mknod %s %u:%u worked; open: %s", what, maj, min, en(e));
		return;
	}
	char buf[512];
	ssize_t n = read(fd, buf, sizeof buf);
	int re = errno;
	close(fd);
	ESCAPED("mknod and open of %s %u:%u succeeded; read: %zd%s%s", what, maj, min, n,
		n < 0 ? " " : "", n < 0 ? en(re) : "");
}
static void row_mknod_blk_8_0(struct res *r) { mknod_open(r, S_IFBLK, 8, 0, "sda"); }
static void row_mknod_blk_root(struct res *r)
{
	mknod_open(r, S_IFBLK, rootdev_major, rootdev_minor, "the host's root block device");
}
static void row_mknod_mem(struct res *r) { mknod_open(r, S_IFCHR, 1, 1, "/dev/mem"); }
static void row_mknod_kmsg(struct res *r) { mknod_open(r, S_IFCHR, 1, 11, "/dev/kmsg"); }

/* /dev/kmsg must not be in the guest's /dev: missing is blocked, present
 * and readable is escaped (the host's kernel log), present but refused is
 * blocked. */
static void row_dev_kmsg(struct res *r)
{
	struct stat st;
	if (lstat("/dev/kmsg", &st) < 0) {
		int e = errno;
		if (e == ENOENT && host_lacks("/dev/kmsg"))
			ABSENT("/dev/kmsg: ENOENT on the host too");
		else
			BLOCKED("no /dev/kmsg in the guest (%s)", en(e));
		return;
	}
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		BLOCKED("/dev/kmsg present (mode %o) but open: %s", st.st_mode, en(errno));
		return;
	}
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	ESCAPED("/dev/kmsg opened (read returned %zd)", n);
}

/* devtmpfs is the host's own /dev: mounting it is blocked by the kernel in
 * a user namespace; when it mounts, opening and reading the host's root
 * disk through it decides (the device policy must still refuse it). */
static void row_devtmpfs(struct res *r)
{
	char *dir = make_tmpdir("devtmpfs");
	if (!dir) {
		set(r, "error", "mkdtemp: %s", en(errno));
		return;
	}
	if (mount("devtmpfs", dir, "devtmpfs", 0, NULL) < 0) {
		int e = errno;
		rmdir(dir);
		if (e == ENODEV)
			ABSENT("mount -t devtmpfs: ENODEV");
		else
			BLOCKED("mount -t devtmpfs: %s", en(e));
		return;
	}
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, rootname);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	int e = errno;
	if (fd < 0) {
		umount2(dir, MNT_DETACH);
		rmdir(dir);
		BLOCKED("devtmpfs mounted, but open of the host's /dev/%s: %s", rootname, en(e));
		return;
	}
	char buf[512];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	ESCAPED("devtmpfs mounted and the host's /dev/%s opened (read returned %zd)", rootname, n);
}

/* ---- rows: privileged syscalls ----------------------------------------- */

/* init_module with a bogus image: EPERM blocked; any other error means the
 * CAP_SYS_MODULE check passed (escaped); ENOSYS per `refused`. */
static void row_init_module(struct res *r)
{
	static char image[64] = "\177ELF-not-a-module";
	if (syscall(SYS_init_module, image, sizeof image, "") == 0) {
		ESCAPED("init_module accepted a bogus image");
		return;
	}
	int e = errno;
	if (!refused(r, "init_module", e))
		ESCAPED("init_module passed the CAP_SYS_MODULE check (then %s)", en(e));
}

/* finit_module on this program (an ELF executable, not a module). */
static void row_finit_module(struct res *r)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set(r, "error", "open /proc/self/exe: %s", en(errno));
		return;
	}
	long rc = syscall(SYS_finit_module, fd, "", 0);
	int e = errno;
	close(fd);
	if (rc == 0) {
		ESCAPED("finit_module loaded something");
		return;
	}
	if (!refused(r, "finit_module", e))
		ESCAPED("finit_module passed the CAP_SYS_MODULE check (then %s)", en(e));
}

/* kexec_load with 1000 segments and an unknown flag: the kernel checks
 * CAP_SYS_BOOT (EPERM: blocked) before it rejects those (EINVAL: escaped,
 * the check passed). Nothing is loaded or unloaded either way. */
static void row_kexec_load(struct res *r)
{
	long rc = syscall(SYS_kexec_load, 0UL, 1000UL, NULL, 0x80UL);
	int e = errno;
	if (rc == 0) {
		ESCAPED("kexec_load succeeded");
		return;
	}
	if (!refused(r, "kexec_load", e))
		ESCAPED("kexec_load passed the CAP_SYS_BOOT check (then %s)", en(e));
}

/* add_key into the process keyring: success means the kernel keyring API is
 * reachable from the guest (escaped: the keyring is not a per-container
 * namespace; nspawn's seccomp filter refuses add_key/keyctl/request_key);
 * EPERM/EACCES (a filter) is blocked. The key is revoked again. */
static void row_add_key(struct res *r)
{
	long id = syscall(SYS_add_key, "user", "berth-redteam", "x", (size_t)1, (long)KEY_SPEC_PROCESS_KEYRING);
	if (id >= 0) {
		syscall(SYS_keyctl, (long)KEYCTL_REVOKE, id);
		ESCAPED("add_key made key %ld: the keyring syscalls are reachable (needs a seccomp filter)", id);
		return;
	}
	int e = errno;
	if (!refused(r, "add_key", e))
		ESCAPED("add_key reached the keyring code (%s)", en(e));
}

/* The user and session keyrings the guest resolves must not be the host
 * caller's (passed as ukeyring=/skeyring=; the test runs berth from a
 * session keyring of its own holding a "user" key named by secret=). The
 * same id, or finding and reading that key, is escaped: the guest then
 * possesses the host's keyring and, with the possessor's rights, can list
 * and read the keys in it and add its own (nspawn joins a fresh session
 * keyring for the container for this reason). The detail shows
 * KEYCTL_DESCRIBE and the size of KEYCTL_READ (the key list) of the shared
 * keyring and the secret's payload -- reading only. A refused keyctl is
 * blocked. */
static void describe_keyring(long id, char *out, size_t len)
{
	char desc[200] = "";
	long d = syscall(SYS_keyctl, (long)KEYCTL_DESCRIBE, id, desc, (long)sizeof desc - 1, 0L);
	int de = errno;
	long n = syscall(SYS_keyctl, (long)KEYCTL_READ, id, NULL, 0L, 0L);
	int ne = errno;
	snprintf(out, len, "describe=%s read=%s%ld", d >= 0 ? desc : en(de), n >= 0 ? "" : en(ne),
		 n >= 0 ? n / 4 : 0L);
	if (n >= 0) {
		size_t l = strlen(out);
		snprintf(out + l, len - l, " key(s) listed");
	}
}

static void row_keyring_shared(struct res *r)
{
	long u = syscall(SYS_keyctl, (long)KEYCTL_GET_KEYRING_ID, (long)KEY_SPEC_USER_KEYRING, 0L);
	int eu = errno;
	long s = syscall(SYS_keyctl, (long)KEYCTL_GET_KEYRING_ID, (long)KEY_SPEC_SESSION_KEYRING, 0L);
	int es = errno;
	if (u < 0 && s < 0) {
		if (!refused(r, "keyctl", eu))
			BLOCKED("keyctl: user %s, session %s", en(eu), en(es));
		return;
	}
	char du[400] = "", ds[400] = "", secret[200] = "";
	if (u >= 0 && u == host_ukeyring)
		describe_keyring(u, du, sizeof du);
	if (s >= 0 && s == host_skeyring)
		describe_keyring(s, ds, sizeof ds);
	if (host_secret[0]) {
		long k = syscall(SYS_keyctl, (long)KEYCTL_SEARCH, (long)KEY_SPEC_SESSION_KEYRING, "user", host_secret, 0L);
		if (k >= 0) {
			char payload[100] = "";
			long n = syscall(SYS_keyctl, (long)KEYCTL_READ, k, payload, (long)sizeof payload - 1, 0L);
			if (n >= 0 && n < (long)sizeof payload)
				payload[n] = 0;
			snprintf(secret, sizeof secret, "; found the host's key %s (%ld), payload: %s", host_secret, k,
				 n >= 0 ? payload : en(errno));
		}
	}
	if (du[0] || ds[0] || secret[0])
		ESCAPED("the guest holds the host caller's keyrings: user %ld (host %ld)%s%s%s, session %ld (host %ld)%s%s%s%s",
			u, host_ukeyring, du[0] ? " [" : "", du, du[0] ? "]" : "", s, host_skeyring,
			ds[0] ? " [" : "", ds, ds[0] ? "]" : "", secret);
	else
		BLOCKED("own keyrings: user %ld (host %ld), session %ld (host %ld); no key %s in reach", u,
			host_ukeyring, s, host_skeyring, host_secret[0] ? host_secret : "(none given)");
}

/* bpf(BPF_PROG_LOAD) of "r0 = 0; exit" as a socket filter: a loaded program
 * is escaped (unprivileged BPF is disabled on the host, so this took
 * CAP_BPF/CAP_SYS_ADMIN of the host); EPERM/EACCES blocked. */
static void row_bpf(struct res *r)
{
	struct bpf_insn insns[2];
	memset(insns, 0, sizeof insns);
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
	insns[1].code = BPF_JMP | BPF_EXIT;
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insn_cnt = 2;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.license = (uint64_t)(uintptr_t) "GPL";
	long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
	if (fd >= 0) {
		close((int)fd);
		ESCAPED("bpf(BPF_PROG_LOAD) loaded a socket filter");
		return;
	}
	int e = errno;
	if (!refused(r, "bpf", e))
		ESCAPED("bpf(BPF_PROG_LOAD) passed the permission check (then %s)", en(e));
}

/* "Shocker": name_to_handle_at gives a handle of the root's filesystem; a
 * forged handle for inode 2 (the ext* root) opened with open_by_handle_at
 * reaches the host's filesystem root. Opened and the host marker is
 * visible, or opened something outside the guest's root: escaped;
 * EPERM/EACCES/ESTALE: blocked; a filesystem whose handles are not
 * FILEID_INO32_GEN: absent (nothing to forge here). Tried through "/" and
 * through the /probe bind mount. */
static void row_open_by_handle(struct res *r)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[128];
	} h;
	int mnt;
	h.fh.handle_bytes = sizeof h.bytes;
	if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mnt, 0) < 0) {
		int e = errno;
		if (e == EOPNOTSUPP)
			ABSENT("name_to_handle_at /: EOPNOTSUPP (the filesystem has no handles)");
		else if (!refused(r, "open_by_handle_at", e))
			BLOCKED("name_to_handle_at /: %s", en(e));
		return;
	}
	if (h.fh.handle_type != FILEID_INO32_GEN || h.fh.handle_bytes < 8) {
		ABSENT("handle type %d of the root's filesystem: no inode-2 handle to forge", h.fh.handle_type);
		return;
	}
	uint32_t forged[2] = {2, 0}; /* inode 2, any generation */
	memcpy(h.bytes, forged, sizeof forged);
	h.fh.handle_bytes = 8;
	char notes[400] = "";
	const char *mounts[] = {"/", "/probe"};
	for (int i = 0; i < 2; i++) {
		int mfd = open(mounts[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (mfd < 0)
			continue;
		int fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int e = errno;
		close(mfd);
		size_t l = strlen(notes);
		if (fd < 0) {
			if (e == ENOSYS && !host_nosys("open_by_handle_at"))
				e = EPERM; /* filtered: count as refused */
			snprintf(notes + l, sizeof notes - l, " via %s: %s;", mounts[i], en(e));
			continue;
		}
		struct stat st, root;
		fstat(fd, &st);
		stat("/", &root);
		int sees_marker = faccessat(fd, marker + 1, F_OK, 0) == 0;
		close(fd);
		if (sees_marker || st.st_dev != root.st_dev || st.st_ino != root.st_ino) {
			ESCAPED("open_by_handle_at(inode 2) via %s opened a directory outside the guest's root%s", mounts[i],
				sees_marker ? " (the host marker is visible in it)" : "");
			return;
		}
		snprintf(notes + l, sizeof notes - l, " via %s: opened the guest's own root;", mounts[i]);
	}
	BLOCKED("forged inode-2 handle refused:%s", notes);
}

/* A system-wide perf event on CPU 0 (pid -1) observes the whole host:
 * escaped when it opens; EACCES/EPERM blocked. */
static void row_perf(struct res *r)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.disabled = 1;
	long fd = syscall(SYS_perf_event_open, &a, -1L, 0L, -1L, (long)PERF_FLAG_FD_CLOEXEC);
	if (fd >= 0) {
		close((int)fd);
		ESCAPED("perf_event_open(pid=-1, cpu=0) opened a system-wide event");
		return;
	}
	int e = errno;
	if (e == ENOENT || e == EOPNOTSUPP || e == ENODEV)
		ABSENT("perf_event_open: %s (no such event here)", en(e));
	else if (!refused(r, "perf_event_open", e))
		BLOCKED("perf_event_open(pid=-1, cpu=0): %s", en(e));
}

/* settimeofday with only a timezone far out of range: the CAP_SYS_TIME
 * check comes first (EPERM: blocked), the range check after (EINVAL:
 * escaped, the check passed). Nothing is set either way. */
static void row_settimeofday(struct res *r)
{
	struct timezone tz = {.tz_minuteswest = 100000, .tz_dsttime = 0};
	long rc = syscall(SYS_settimeofday, NULL, &tz);
	int e = errno;
	if (rc == 0) {
		ESCAPED("settimeofday accepted an invalid timezone");
		return;
	}
	if (!refused(r, "settimeofday", e))
		ESCAPED("settimeofday passed the CAP_SYS_TIME check (then %s)", en(e));
}

/* adjtimex(ADJ_TICK) with an out-of-range tick: CAP_SYS_TIME is checked
 * before the range, as above. (clock_settime validates its value before
 * the permission check, so it cannot be probed without setting the clock.) */
static void row_adjtimex(struct res *r)
{
	struct timex tx;
	memset(&tx, 0, sizeof tx);
	tx.modes = ADJ_TICK;
	tx.tick = 1;
	long rc = syscall(SYS_adjtimex, &tx);
	int e = errno;
	if (rc >= 0) {
		ESCAPED("adjtimex accepted tick=1");
		return;
	}
	if (!refused(r, "adjtimex", e))
		ESCAPED("adjtimex(ADJ_TICK) passed the CAP_SYS_TIME check (then %s)", en(e));
}

/* Raw I/O ports: iopl(3) and ioperm need CAP_SYS_RAWIO. Success is escaped
 * (undone at once); EPERM blocked; ENOSYS absent where the host kernel is
 * built without them. */
static void row_iopl(struct res *r)
{
	if (syscall(SYS_iopl, 3) == 0) {
		syscall(SYS_iopl, 0);
		ESCAPED("iopl(3) granted raw port access");
		return;
	}
	int e = errno;
	if (!refused(r, "iopl", e))
		BLOCKED("iopl(3): %s", en(e));
}
static void row_ioperm(struct res *r)
{
	if (syscall(SYS_ioperm, 0x80UL, 1UL, 1) == 0) {
		syscall(SYS_ioperm, 0x80UL, 1UL, 0);
		ESCAPED("ioperm(0x80) granted port access");
		return;
	}
	int e = errno;
	if (!refused(r, "ioperm", e))
		BLOCKED("ioperm(0x80): %s", en(e));
}

/* swapon of a file without a swap signature: CAP_SYS_ADMIN (of the host) is
 * checked first (EPERM: blocked), the header after (EINVAL: escaped, the
 * guest could add swap to the host). Nothing is enabled either way. */
static void row_swapon(struct res *r)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/.rt-swap-%d", getpid());
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		set(r, "error", "create %s: %s", path, en(errno));
		return;
	}
	static char zeros[65536];
	if (write(fd, zeros, sizeof zeros) < 0) {
		set(r, "error", "write %s: %s", path, en(errno));
		close(fd);
		unlink(path);
		return;
	}
	close(fd);
	long rc = syscall(SYS_swapon, path, 0);
	int e = errno;
	if (rc == 0)
		syscall(SYS_swapoff, path);
	unlink(path);
	if (rc == 0) {
		ESCAPED("swapon enabled swap on a guest file");
		return;
	}
	if (!refused(r, "swapon", e))
		ESCAPED("swapon passed the CAP_SYS_ADMIN check (then %s)", en(e));
}

/* reboot(LINUX_REBOOT_CMD_CAD_OFF): in a child pid namespace the kernel
 * only accepts restart/halt/power-off (which end the namespace's init), so
 * EINVAL is blocked, as is EPERM; success would have changed the host's
 * Ctrl-Alt-Del handling: escaped. */
static void row_reboot(struct res *r)
{
	long rc = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL);
	int e = errno;
	if (rc == 0)
		ESCAPED("reboot(CAD_OFF) succeeded: that is the host's pid namespace");
	else if (e == EINVAL || e == EPERM)
		BLOCKED("reboot(CAD_OFF): %s (a child pid namespace)", en(e));
	else
		BLOCKED("reboot(CAD_OFF): %s", en(e));
}

/* The guest's hostname is its own: the hostname before must differ from the
 * host's (equal: escaped, a shared UTS namespace); sethostname then works
 * or is refused (both blocked) and is restored. The test also checks the
 * host's hostname is unchanged afterwards. */
static void row_sethostname(struct res *r)
{
	char before[256] = "", after[256] = "";
	gethostname(before, sizeof before - 1);
	if (strcmp(before, host_hostname) == 0) {
		ESCAPED("the guest's hostname is the host's (%s): shared UTS namespace", before);
		return;
	}
	const char *name = "berth-redteam-probe";
	if (sethostname(name, strlen(name)) < 0) {
		BLOCKED("sethostname: %s (guest hostname %s, host %s)", en(errno), before, host_hostname);
		return;
	}
	gethostname(after, sizeof after - 1);
	sethostname(before, strlen(before));
	BLOCKED("own UTS namespace: was %s, set to %s and restored (host: %s)", before, after, host_hostname);
}

/* syslog(SYSLOG_ACTION_READ_ALL) reads the host's kernel log: escaped when
 * it returns data; EPERM blocked. */
static void row_syslog(struct res *r)
{
	static char buf[4096];
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof buf);
	if (n >= 0) {
		ESCAPED("syslog(READ_ALL) read %d bytes of the host's kernel log", n);
		return;
	}
	int e = errno;
	if (!refused(r, "syslog", e))
		BLOCKED("syslog(READ_ALL): %s", en(e));
}

/* ---- rows: terminals, processes, the launcher --------------------------- */

/* TIOCSTI on stdin (the test gives the guest a host pty that is the
 * controlling terminal of berth's session): pushing a byte into its input
 * is escaped (the host's terminal would run it). First as is (needs the
 * host's CAP_SYS_ADMIN without a controlling tty), then after trying to
 * make it our controlling tty, stealing it (TIOCSCTTY 1). ENOTTY: absent
 * (stdin is no terminal, so there is nothing to inject into). */
static void row_tiocsti_stdin(struct res *r)
{
	if (!isatty(0)) {
		ABSENT("stdin is not a terminal (%s)", en(errno));
		return;
	}
	char c = ' ';
	if (ioctl(0, TIOCSTI, &c) == 0) {
		ESCAPED("TIOCSTI pushed input into the host terminal on stdin");
		return;
	}
	int e1 = errno;
	setsid();
	int e2 = 0;
	if (ioctl(0, TIOCSCTTY, 1) == 0) {
		if (ioctl(0, TIOCSTI, &c) == 0) {
			ESCAPED("took the host terminal as controlling tty and pushed input into it");
			return;
		}
		BLOCKED("TIOCSTI: %s; took it as controlling tty, TIOCSTI then: %s", en(e1), en(errno));
		return;
	}
	e2 = errno;
	BLOCKED("TIOCSTI: %s; TIOCSCTTY (steal): %s", en(e1), en(e2));
}

/* TIOCSTI on /dev/console: not a tty (pipe mode) or the guest's own devpts
 * pty (majors 136-143) is blocked; injecting into any other tty escaped. */
static void row_tiocsti_console(struct res *r)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		BLOCKED("open /dev/console: %s", en(errno));
		return;
	}
	struct stat st;
	fstat(fd, &st);
	char c = ' ';
	int rc = ioctl(fd, TIOCSTI, &c);
	int e = errno;
	close(fd);
	unsigned maj = major(st.st_rdev);
	if (rc < 0)
		BLOCKED("TIOCSTI on /dev/console (%u:%u): %s", maj, minor(st.st_rdev), en(e));
	else if (S_ISCHR(st.st_mode) && maj >= 136 && maj <= 143)
		BLOCKED("/dev/console is the guest's own pty (%u:%u); input stays in the guest", maj,
			minor(st.st_rdev));
	else
		ESCAPED("TIOCSTI pushed input into /dev/console (%u:%u)", maj, minor(st.st_rdev));
}

/* No process in the guest's view may run a berth binary that can be opened
 * for writing (CVE-2019-5736): every /proc/PID/exe whose target names
 * "berth" is opened O_WRONLY|O_APPEND through the magic link and through
 * its path. Either open succeeding is escaped. */
static void row_launcher_exe(struct res *r)
{
	char one[256] = "";
	ssize_t n = readlink("/proc/1/exe", one, sizeof one - 1);
	if (n > 0)
		one[n] = 0;
	DIR *d = opendir("/proc");
	if (!d) {
		set(r, "error", "opendir /proc: %s", en(errno));
		return;
	}
	char notes[800] = "";
	int seen = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char p[300], t[256] = "";
		snprintf(p, sizeof p, "/proc/%s/exe", de->d_name);
		n = readlink(p, t, sizeof t - 1);
		if (n <= 0)
			continue;
		t[n] = 0;
		if (!strstr(t, "berth"))
			continue;
		seen++;
		int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
		int e1 = errno;
		if (fd >= 0) {
			close(fd);
			closedir(d);
			ESCAPED("pid %s runs %s and /proc/%s/exe opened for writing", de->d_name, t, de->d_name);
			return;
		}
		fd = open(t, O_WRONLY | O_APPEND | O_CLOEXEC);
		int e2 = errno;
		if (fd >= 0) {
			close(fd);
			closedir(d);
			ESCAPED("pid %s runs %s, which opened for writing", de->d_name, t);
			return;
		}
		size_t l = strlen(notes);
		snprintf(notes + l, sizeof notes - l, " pid %s exe %s: magic link %s, path %s;", de->d_name, t,
			 en(e1), en(e2));
	}
	closedir(d);
	if (seen)
		BLOCKED("/proc/1/exe=%s;%s", one, notes);
	else
		BLOCKED("no visible process runs a berth binary (/proc/1/exe=%s)", one);
}

/* PID 1 in the guest's view must be the guest's own init (this probe), not
 * a host process or the launcher: PTRACE_SEIZE of it is then harmless
 * (blocked). PID 1 running a berth binary and attachable: escaped. */
static void row_ptrace_pid1(struct res *r)
{
	char one[256] = "", self[256] = "";
	ssize_t n = readlink("/proc/1/exe", one, sizeof one - 1);
	if (n > 0)
		one[n] = 0;
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0)
		self[n] = 0;
	long rc = ptrace(PTRACE_SEIZE, 1, NULL, NULL);
	int e = errno;
	int is_self = strcmp(one, self) == 0;
	if (rc < 0)
		BLOCKED("PTRACE_SEIZE of PID 1 (%s): %s", one, en(e));
	else if (is_self)
		BLOCKED("PID 1 is the guest's own init (%s, this probe); attaching to it reaches nothing of the host", one);
	else if (strstr(one, "berth") || one[0] == 0)
		ESCAPED("attached to PID 1 (%s), which is not the guest's program", one[0] ? one : "unreadable exe");
	else
		BLOCKED("attached to PID 1 (%s), a process of the guest", one);
}

/* ---- the runner --------------------------------------------------------- */

enum { PRIVATE_NS = 1 };

struct row {
	const char *name;
	void (*fn)(struct res *);
	int flags;
};

static const struct row rows[] = {
	{"leaked_fds", row_leaked_fds, 0},
	{"cwd_outside_root", row_cwd, 0},
	{"dotdot_from_root", row_dotdot, 0},
	{"chroot_escape", row_chroot_escape, 0},
	{"proc_core_pattern_write", row_core_pattern, 0},
	{"proc_sysrq_trigger_write", row_sysrq, 0},
	{"proc_drop_caches_write", row_drop_caches, 0},
	{"sys_thp_enabled_write", row_sys_thp, 0},
	{"sys_uevent_helper_write", row_sys_uevent_helper, 0},
	{"proc_kallsyms_read", row_read_kallsyms, 0},
	{"proc_kcore_read", row_read_kcore, 0},
	{"proc_keys_read", row_read_keys, 0},
	{"proc_timer_list_read", row_read_timer_list, 0},
	{"umount_proc_keys", row_umount_keys, PRIVATE_NS},
	{"umount_proc_timer_list_detach", row_umount_timer_list, PRIVATE_NS},
	{"remount_proc_sys_rw", row_remount_proc_sys, PRIVATE_NS},
	{"remount_sys_rw", row_remount_sys, PRIVATE_NS},
	{"cgroup1_memory_release_agent", row_cgroup1_memory, PRIVATE_NS},
	{"cgroup1_name_systemd_release_agent", row_cgroup1_systemd, PRIVATE_NS},
	{"mount_debugfs", row_debugfs, PRIVATE_NS},
	{"mount_tracefs", row_tracefs, PRIVATE_NS},
	{"mount_bpffs", row_bpffs, PRIVATE_NS},
	{"nested_proc_keys_read", row_nested_proc_keys, PRIVATE_NS},
	{"nested_proc_kcore_read", row_nested_proc_kcore, PRIVATE_NS},
	{"nested_proc_core_pattern_write", row_nested_proc_core_pattern, PRIVATE_NS},
	{"nested_proc_sysrq_trigger_write", row_nested_proc_sysrq, PRIVATE_NS},
	{"nested_sysfs_write", row_nested_sysfs, PRIVATE_NS},
	{"mount_devtmpfs_rootdev", row_devtmpfs, PRIVATE_NS},
	{"mknod_blk_8_0", row_mknod_blk_8_0, PRIVATE_NS},
	{"mknod_blk_rootdev", row_mknod_blk_root, PRIVATE_NS},
	{"mknod_dev_mem", row_mknod_mem, PRIVATE_NS},
	{"mknod_dev_kmsg", row_mknod_kmsg, PRIVATE_NS},
	{"dev_kmsg_present", row_dev_kmsg, 0},
	{"init_module", row_init_module, 0},
	{"finit_module", row_finit_module, 0},
	{"kexec_load", row_kexec_load, 0},
	{"add_key", row_add_key, 0},
	{"keyring_shared_with_host", row_keyring_shared, 0},
	{"bpf_prog_load", row_bpf, 0},
	{"open_by_handle_at", row_open_by_handle, 0},
	{"perf_event_open_system_wide", row_perf, 0},
	{"settimeofday", row_settimeofday, 0},
	{"adjtimex", row_adjtimex, 0},
	{"iopl", row_iopl, 0},
	{"ioperm", row_ioperm, 0},
	{"swapon", row_swapon, 0},
	{"reboot_cad_off", row_reboot, 0},
	{"sethostname", row_sethostname, 0},
	{"syslog_read", row_syslog, 0},
	{"tiocsti_stdin", row_tiocsti_stdin, 0},
	{"tiocsti_console", row_tiocsti_console, 0},
	{"launcher_exe_write", row_launcher_exe, 0},
	{"ptrace_pid1", row_ptrace_pid1, 0},
};

/* Runs one row in a child (alarm 20 s) and prints its line. A child that
 * dies without answering gives status "error", which the test fails on. */
static void run_row(const struct row *row)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		printf("ROW %s error pipe: %s\n", row->name, en(errno));
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		printf("ROW %s error fork: %s\n", row->name, en(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		alarm(20);
		struct res r = {"error", "the row set no result"};
		int ok = 1;
		if (row->flags & PRIVATE_NS) {
			/* A private copy of the guest's mount namespace (same owner,
			 * same locks) whose changes cannot reach later rows. */
			if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
				set(&r, "error", "could not unshare a private mount namespace for the row: %s", en(errno));
				ok = 0;
			}
		}
		if (ok)
			row->fn(&r);
		char buf[1600];
		int n = snprintf(buf, sizeof buf, "%s %s", r.status, r.detail);
		if (n > (int)sizeof buf - 1)
			n = sizeof buf - 1;
		if (write(p[1], buf, n) < 0)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	char buf[1600];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 && (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += n;
	buf[got] = 0;
	close(p[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < got; i++)
		if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
			buf[i] = ' ';
	if (got == 0) {
		if (WIFSIGNALED(st))
			snprintf(buf, sizeof buf, "error the row's child died from signal %d", WTERMSIG(st));
		else
			snprintf(buf, sizeof buf, "error the row's child exited %d without a result", WEXITSTATUS(st));
	}
	printf("ROW %s %s\n", row->name, buf);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	scan_fds(); /* before anything else is opened */
	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *v = strchr(a, '=');
		if (!v)
			continue;
		*v++ = 0;
		if (!strcmp(a, "marker"))
			marker = v;
		else if (!strcmp(a, "hostname"))
			host_hostname = v;
		else if (!strcmp(a, "rootdev"))
			sscanf(v, "%u:%u", &rootdev_major, &rootdev_minor);
		else if (!strcmp(a, "rootname"))
			rootname = v;
		else if (!strcmp(a, "missing"))
			missing = v;
		else if (!strcmp(a, "nosys"))
			nosys = v;
		else if (!strcmp(a, "ukeyring"))
			host_ukeyring = atol(v);
		else if (!strcmp(a, "skeyring"))
			host_skeyring = atol(v);
		else if (!strcmp(a, "secret"))
			host_secret = v;
	}
	if (marker[0] != '/') {
		fprintf(stderr, "probe: marker=/ABSOLUTE/PATH is required\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	size_t count = sizeof rows / sizeof *rows;
	for (size_t i = 0; i < count; i++)
		run_row(&rows[i]);
	printf("ROWS %zu\n", count);
	printf("PROBE DONE\n");
	fflush(stdout);
	return 0;
}
