/*
 * init.c: PID 1 of the moat VM.
 *
 * The VM has no shell and no disk: the initramfs holds this program as
 * /init, the supervisor as /sbin/moat and the daemons it starts.  init
 * mounts the kernel filesystems, starts moat with the arguments from the
 * kernel command line (see cmdline.h), reaps every orphan, and powers the
 * VM off when moat exits or when a shutdown is requested:
 *
 *  - Ctrl-Alt-Del, and Xen's "reboot" request: with reboot(RB_DISABLE_CAD)
 *    the kernel sends SIGINT to PID 1;
 *  - Xen's "poweroff" request: the kernel runs /sbin/poweroff, which is this
 *    same program; run as anything but PID 1 it signals PID 1 (SIGTERM),
 *    after checking that PID 1 is /init;
 *  - SIGTERM, SIGPWR, SIGUSR2 sent to PID 1.
 *
 * Shutdown: SIGTERM to moat, wait up to STOP_TIMEOUT, SIGKILL whatever is
 * left, sync, reboot(RB_POWER_OFF).  init never exits: if PID 1 exits the
 * kernel panics, and a panic is not a clean power-off.
 *
 * Messages go to the console as "moat-init: [uptime] ..." lines, which the
 * boot test reads.
 */
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmdline.h"

#define MOAT_PATH	"/sbin/moat"
#define MOAT_LIBEXEC	"/usr/libexec/moat"
#define STOP_TIMEOUT	10	/* seconds moat gets to stop its daemons */
#define KILL_TIMEOUT	2	/* seconds for stragglers after SIGKILL */

static void	say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	struct timespec	ts;
	char		line[512];
	va_list		ap;
	int		n, m;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	n = snprintf(line, sizeof line, "moat-init: [%ld.%03ld] ",
	    (long)ts.tv_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* One write per line so it is never interleaved with moat's output. */
	(void)write(STDERR_FILENO, line, (size_t)n);
}

static void
mount_one(const char *src, const char *dir, const char *type,
    unsigned long flags, const char *data)
{
	(void)mkdir(dir, 0755);
	if (mount(src, dir, type, flags, data) == -1 && errno != EBUSY)
		say("mount %s on %s: %s", type, dir, strerror(errno));
}

static int
have_fs(const char *name)
{
	char	 line[128];
	FILE	*f;
	int	 found = 0;

	if ((f = fopen("/proc/filesystems", "re")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		char *p = strrchr(line, '\t');

		p = p ? p + 1 : line;
		p[strcspn(p, "\n")] = '\0';
		found = strcmp(p, name) == 0;
	}
	fclose(f);
	return found;
}

static void
setup_mounts(void)
{
	const unsigned long nosuid = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int	fd;

	mount_one("proc", "/proc", "proc", nosuid, NULL);
	mount_one("sysfs", "/sys", "sysfs", nosuid, NULL);
	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC,
	    "mode=0755");
	mount_one("tmpfs", "/dev/shm", "tmpfs", nosuid, "mode=1777,size=4m");
	mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=0755,size=4m");
	/* xenfs gives /proc/xen (xenbus, privcmd) on a Xen guest only. */
	if (have_fs("xenfs"))
		mount_one("xenfs", "/proc/xen", "xenfs", nosuid, NULL);

	/* If the initramfs had no /dev/console, stdio is closed until now. */
	if (fcntl(STDERR_FILENO, F_GETFD) == -1 &&
	    (fd = open("/dev/console", O_RDWR | O_NOCTTY)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* One line saying what Xen gave us, for the console log and the tests. */
static void
log_xen(void)
{
	static const char *const nodes[] = { "evtchn", "gntdev", "gntalloc",
	    "privcmd", "xenbus" };
	char	 type[16] = "", have[128] = "", path[64];
	size_t	 off = 0, i;
	FILE	*f;

	if ((f = fopen("/sys/hypervisor/guest_type", "re")) != NULL) {
		if (fgets(type, sizeof type, f) != NULL)
			type[strcspn(type, "\n")] = '\0';
		fclose(f);
	}
	if (type[0] == '\0')
		return;		/* not a Xen guest (e.g. the QEMU boot test) */
	for (i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		snprintf(path, sizeof path, "/dev/xen/%s", nodes[i]);
		if (access(path, R_OK | W_OK) == 0)
			off += (size_t)snprintf(have + off, sizeof have - off,
			    " %s", nodes[i]);
	}
	say("xen %s guest; /dev/xen:%s", type, off ? have : " (none)");
}

static void
log_meminfo(const char *when)
{
	char	 line[128];
	long	 total = -1, avail = -1, v;
	FILE	*f;

	if ((f = fopen("/proc/meminfo", "re")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "MemTotal: %ld kB", &v) == 1)
			total = v;
		else if (sscanf(line, "MemAvailable: %ld kB", &v) == 1)
			avail = v;
	}
	fclose(f);
	say("memory %s: MemTotal %ld kB, MemAvailable %ld kB, in use %ld kB",
	    when, total, avail, total - avail);
}

/*
 * Our own domain id, from xenstore: one XS_READ of the relative path
 * "domid" over the xenbus device.  -1 when not a Xen guest or no answer.
 */
#define XS_READ		2
struct xs_hdr {
	uint32_t	type;
	uint32_t	req_id;
	uint32_t	tx_id;
	uint32_t	len;
};

static int
xen_domid(void)
{
	static const char path[] = "domid";
	struct xs_hdr	 h;
	char		 buf[sizeof h + sizeof path], val[16];
	size_t		 got = 0;
	ssize_t		 n;
	long		 id;
	char		*end;
	int		 fd;

	if ((fd = open("/dev/xen/xenbus", O_RDWR | O_CLOEXEC)) == -1 &&
	    (fd = open("/proc/xen/xenbus", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	memset(&h, 0, sizeof h);
	h.type = XS_READ;
	h.len = sizeof path;
	memcpy(buf, &h, sizeof h);
	memcpy(buf + sizeof h, path, sizeof path);
	if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
		goto fail;
	/* The reply: a header, then h.len bytes of value (no NUL). */
	while (got < sizeof h) {
		if ((n = read(fd, (char *)&h + got, sizeof h - got)) <= 0)
			goto fail;
		got += (size_t)n;
	}
	if (h.type != XS_READ || h.len == 0 || h.len >= sizeof val)
		goto fail;
	for (got = 0; got < h.len; got += (size_t)n)
		if ((n = read(fd, val + got, h.len - got)) <= 0)
			goto fail;
	val[h.len] = '\0';
	close(fd);
	errno = 0;
	id = strtol(val, &end, 10);
	if (errno != 0 || *end != '\0' || id < 1 || id > 32751)
		return -1;
	return (int)id;
 fail:
	close(fd);
	return -1;
}

static pid_t
start_moat(const sigset_t *oldmask)
{
	static char	 cmdline[4096];
	char		*argv[CMDLINE_MAXARGS + 1];
	char		*envp[] = { "PATH=/sbin:/usr/sbin:/bin:/usr/bin",
			    "MOAT_LIBEXEC=" MOAT_LIBEXEC, NULL };
	static char	 domid_str[16];
	ssize_t		 n = -1;
	pid_t		 pid;
	int		 fd, argc, i, domid;

	if ((fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, cmdline, sizeof cmdline - 1);
		close(fd);
	}
	cmdline[n > 0 ? n : 0] = '\0';
	argv[0] = "moat";
	argc = cmdline_moat_args(cmdline, argv + 1, CMDLINE_MAXARGS);
	if (argc < 0) {
		/* Starting moat with half its arguments could mean a different backend. */
		say("bad moat.args= on the kernel command line (unclosed quote or "
		    "more than %d words); not starting moat", CMDLINE_MAXARGS - 1);
		return -1;
	}
	/*
	 * The domain id changes at every start, so dom0's kernelopts cannot
	 * carry it: "@domid" stands for it, and a Xen guest with no moat.args
	 * at all gets the Qubes defaults.
	 */
	domid = -2;
	for (i = 1; i <= argc; i++) {
		if (strcmp(argv[i], "@domid") != 0)
			continue;
		if (domid == -2)
			domid = xen_domid();
		if (domid < 0) {
			say("moat.args uses @domid but xenstore gave no domain id; "
			    "not starting moat");
			return -1;
		}
		snprintf(domid_str, sizeof domid_str, "%d", domid);
		argv[i] = domid_str;
	}
	if (argc == 0 && !cmdline_has_moat_args(cmdline) &&
	    (domid = xen_domid()) > 0) {
		snprintf(domid_str, sizeof domid_str, "%d", domid);
		argv[1] = "--backend";
		argv[2] = "xen";
		argv[3] = "--vchan";
		argv[4] = "xen";
		argv[5] = "--domid";
		argv[6] = domid_str;
		argv[7] = NULL;
		argc = 6;
	}
	{
		char	shown[512];
		size_t	off = 0;

		shown[0] = '\0';
		for (i = 1; i <= argc && off < sizeof shown; i++)
			off += (size_t)snprintf(shown + off, sizeof shown - off,
			    " %s", argv[i]);
		say("starting %s%s", MOAT_PATH, shown);
	}

	if ((pid = fork()) == -1) {
		say("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* The supervisor gets a clean signal state, not init's mask. */
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		setsid();
		execve(MOAT_PATH, argv, envp);
		say("exec %s: %s", MOAT_PATH, strerror(errno));
		_exit(127);
	}
	return pid;
}

static void
describe_exit(pid_t pid, int status)
{
	if (WIFEXITED(status))
		say("moat (pid %d) exited with status %d", (int)pid,
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		say("moat (pid %d) killed by signal %d (%s)", (int)pid,
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
}

/* Reap every exited child; returns 1 if moat was among them. */
static int
reap(pid_t moat)
{
	pid_t	pid;
	int	status, moat_gone = 0;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == moat) {
			describe_exit(pid, status);
			moat_gone = 1;
		}
	}
	return moat_gone;
}

/* Wait up to secs for moat (or, with moat == -1, every child) to be gone. */
static int
wait_children(const sigset_t *set, pid_t moat, int secs)
{
	struct timespec	deadline, now, left;
	siginfo_t	si;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += secs;
	for (;;) {
		if (moat > 0 && reap(moat))
			return 1;
		if (moat <= 0) {
			(void)reap(-1);
			if (waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD)
				return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = deadline.tv_sec - now.tv_sec;
		left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			return 0;
		/* Other shutdown requests arriving now change nothing. */
		(void)sigtimedwait(set, &si, &left);
	}
}

static void __attribute__((noreturn))
shutdown_vm(const sigset_t *set, pid_t moat, int moat_running)
{
	if (moat_running && moat > 0) {
		say("stopping moat (pid %d)", (int)moat);
		kill(moat, SIGTERM);
		if (!wait_children(set, moat, STOP_TIMEOUT))
			say("moat did not stop within %d s, killing it",
			    STOP_TIMEOUT);
	}
	/* Anything moat left behind (reparented to us) is not stopped cleanly. */
	kill(-1, SIGKILL);
	(void)wait_children(set, -1, KILL_TIMEOUT);
	sync();
	say("powering off");
	reboot(RB_POWER_OFF);
	say("power off failed: %s", strerror(errno));
	for (;;)
		pause();
}

/* Run as /sbin/poweroff (by the kernel on a Xen poweroff request, or by hand). */
static int
request_poweroff(const char *prog)
{
	char	exe[64];
	ssize_t	n;

	/* Never signal a PID 1 that is not us: on a developer's machine
	 * SIGTERM to the real init could take the whole system down. */
	n = readlink("/proc/1/exe", exe, sizeof exe - 1);
	if (n < 0 || (exe[n] = '\0', strcmp(exe, "/init") != 0)) {
		fprintf(stderr, "%s: PID 1 is not moat's /init; not signalling it\n",
		    prog);
		return 1;
	}
	if (kill(1, SIGTERM) == -1) {
		fprintf(stderr, "%s: cannot signal init: %s\n", prog,
		    strerror(errno));
		return 1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	sigset_t	set, old;
	siginfo_t	si;
	pid_t		moat;

	(void)argc;
	if (getpid() != 1)
		return request_poweroff(argv[0]);

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPWR);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);

	setup_mounts();
	umask(022);
	/* Ctrl-Alt-Del becomes SIGINT to us instead of an immediate reboot. */
	if (reboot(RB_DISABLE_CAD) == -1)
		say("RB_DISABLE_CAD: %s", strerror(errno));
	log_xen();
	log_meminfo("at start");

	if ((moat = start_moat(&old)) == -1)
		shutdown_vm(&set, -1, 0);

	for (;;) {
		if (sigwaitinfo(&set, &si) == -1)
			continue;
		switch (si.si_signo) {
		case SIGCHLD:
			if (reap(moat))
				shutdown_vm(&set, moat, 0);
			break;
		case SIGHUP:
			log_meminfo("now");
			break;
		default:
			say("shutdown requested (%s)", strsignal(si.si_signo));
			log_meminfo("before shutdown");
			shutdown_vm(&set, moat, 1);
		}
	}
}
