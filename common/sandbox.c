/*
 * sandbox.c: the one privilege-drop function every daemon calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "log.h"
#include "sandbox.h"

#ifdef MOAT_SANDBOX_SECCOMP
#include <seccomp.h>
#endif

#define EMPTY_ROOT	"/run/moat-empty"

/*
 * What every daemon needs once it runs, and nothing else: its control
 * channel and log, malloc, time, exit, and abort() (so that a failed
 * assertion or a corrupted heap ends by SIGABRT and its message, not by
 * SIGSYS). Each daemon's own table adds what its own code paths need
 * (natd_sandbox.c, policyd_sandbox.c, agentd_sandbox.c, agentd_xen.c,
 * netbackd_sandbox.c); a call in two tables is refused (sandbox_check).
 * test_sandbox_tables holds this list to exactly these lines.
 */
const struct sc_rule sandbox_common_rules[] = {
	SC_ALLOW(read, "ring eventfds and timers (natd, netbackd, policyd), the event channel and XenStore (agentd on Xen)"),
	SC_ALLOW(write, "log lines to the supervisor's pipe; eventfd kicks"),
	SC_ALLOW(close, "descriptors a control message carried when it is refused (msg.c); finished memfds"),
	SC_ALLOW(recvmsg, "control messages (and their fds) from the supervisor"),
	SC_ALLOW(sendmsg, "control messages to the supervisor"),
	SC_ALLOW(brk, "malloc"),
	/* No PROT_EXEC: nothing here may make memory executable. */
	SC_ALLOW_BITS(mmap, 2, PROT_READ | PROT_WRITE,
	    "malloc of large blocks; mapping received memfds and Xen grants, read/write only"),
	SC_ALLOW(munmap, "free of large blocks; unmapping memfds and grants"),
	SC_ALLOW(clock_gettime, "now_ms(), where the vDSO has no fast path (a Xen PV clock)"),
	SC_ALLOW(exit_group, "exit: MSG_SHUTDOWN, fatal errors"),
	SC_ALLOW(writev, "glibc's fatal messages (heap corruption, stack protector, fortify) before abort()"),
	SC_ALLOW(getpid, "abort(): raise() signals its own process; agentd's READY"),
	SC_ALLOW(gettid, "abort(): raise() names its own thread"),
	SC_ALLOW(tgkill, "abort(): die by SIGABRT, not SIGSYS"),
	SC_ALLOW(rt_sigprocmask, "abort(): raise() blocks signals around tgkill"),
};
const size_t sandbox_common_nrules = sizeof sandbox_common_rules / sizeof sandbox_common_rules[0];

/* Do two lines allow the same call in a way that is not one argument
 * taking distinct values? (Two lines are ORed: any overlap widens.) */
static int
rules_clash(const struct sc_rule *a, const struct sc_rule *b)
{
	if (a->nr != b->nr || a->nr < 0)
		return 0;
	if (a->argidx < 0 || b->argidx < 0 || a->argmask != 0 || b->argmask != 0)
		return 1;
	return a->argidx != b->argidx || a->argval == b->argval;
}

int
sandbox_rule_loaded(const struct sandbox_policy *p, const struct sc_rule *r)
{
	return r->modes == 0 || (r->modes & p->mode) != 0;
}

int
sandbox_check(const struct sandbox_policy *p, char *why, size_t whylen)
{
	const struct {
		const char		*name;
		const struct sc_rule	*r;
		size_t			 n;
	} t[2] = {
		{ "common", sandbox_common_rules, sandbox_common_nrules },
		{ p->name, p->rules, p->rules ? p->nrules : 0 },
	};
	size_t i, j, k, l;

	for (i = 0; i < 2; i++)
		for (j = 0; j < t[i].n; j++)
			for (k = i; k < 2; k++)
				for (l = k == i ? j + 1 : 0; l < t[k].n; l++)
					if (sandbox_rule_loaded(p, &t[i].r[j]) &&
					    sandbox_rule_loaded(p, &t[k].r[l]) &&
					    rules_clash(&t[i].r[j], &t[k].r[l])) {
						snprintf(why, whylen, "system call %d allowed "
						    "twice: %s line %zu (%s) and %s line %zu (%s)",
						    t[i].r[j].nr, t[i].name, j, t[i].r[j].why,
						    t[k].name, l, t[k].r[l].why);
						return -1;
					}
	return 0;
}

int
sandbox_mode(void)
{
#ifdef MOAT_SANDBOX_SECCOMP
	return 1;
#else
	return 0;
#endif
}

#ifdef MOAT_SANDBOX_SECCOMP
#ifdef MOAT_SANDBOX_DEBUG
/* Debug builds: name the forbidden call, then die as the filter would have. */
static void
sigsys_report(int sig, siginfo_t *si, void *ctx)
{
	char buf[160];
	char *name;
	int n;

	(void)ctx;
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, si->si_syscall);
	n = snprintf(buf, sizeof buf, "%s: error: sandbox: forbidden system call %d (%s)\n",
	    log_tag(), si->si_syscall, name ? name : "?");
	(void)!write(STDERR_FILENO, buf, n);
	signal(sig, SIG_DFL);
	raise(sig);
	_exit(128 + sig);
}
#endif

static void
add_rules(scmp_filter_ctx ctx, const struct sandbox_policy *p,
    const struct sc_rule *r, size_t n, const char *who)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		uint32_t act = r[i].errno_val ? SCMP_ACT_ERRNO(r[i].errno_val) : SCMP_ACT_ALLOW;

		if (r[i].nr < 0 || !sandbox_rule_loaded(p, &r[i]))
			continue;
		if (r[i].argidx >= 0 && r[i].argmask != 0) {
			struct scmp_arg_cmp cmp = {
				.arg = (unsigned)r[i].argidx, .op = SCMP_CMP_MASKED_EQ,
				.datum_a = r[i].argmask, .datum_b = r[i].argval,
			};
			rc = seccomp_rule_add_array(ctx, act, r[i].nr, 1, &cmp);
		} else if (r[i].argidx >= 0) {
			struct scmp_arg_cmp cmp = {
				.arg = (unsigned)r[i].argidx, .op = SCMP_CMP_EQ,
				.datum_a = r[i].argval,
			};
			rc = seccomp_rule_add_array(ctx, act, r[i].nr, 1, &cmp);
		} else
			rc = seccomp_rule_add(ctx, act, r[i].nr, 0);
		if (rc < 0)
			fatalx("sandbox: %s rule %zu (syscall %d): %s", who, i, r[i].nr,
			    strerror(-rc));
	}
}
#endif

static void
enter_root(const char *root)
{
	const char *dir = root ? root : EMPTY_ROOT;

	/* A private mount namespace, so the mount below is ours alone. */
	if (unshare(CLONE_NEWNS) < 0)
		fatal("sandbox: unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fatal("sandbox: making mounts private");
	if (root == NULL) {
		if (mkdir(EMPTY_ROOT, 0555) < 0 && errno != EEXIST)
			fatal("sandbox: mkdir %s", EMPTY_ROOT);
		/* Whatever is in the directory on the host, the daemon sees an
		 * empty read-only tmpfs: nothing to open, nowhere to write. */
		if (mount("moat-empty", EMPTY_ROOT, "tmpfs",
		    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") < 0)
			fatal("sandbox: mounting an empty root");
	}
	if (chdir(dir) < 0 || chroot(".") < 0 || chdir("/") < 0)
		fatal("sandbox: chroot %s", dir);
}

static void
set_limit(int res, rlim_t v, const char *name)
{
	struct rlimit rl = { v, v };

	if (setrlimit(res, &rl) < 0)
		fatal("sandbox: setrlimit %s", name);
}

int
sandbox_enter(const struct sandbox_policy *p)
{
	char why[512];
#ifdef MOAT_SANDBOX_SECCOMP
	scmp_filter_ctx ctx;
	int cap, rc;
#endif

	/* Before anything changes: a table error is a build bug, said plainly
	 * (in every build, so that one without seccomp finds it too). */
	if (sandbox_check(p, why, sizeof why) < 0)
		fatalx("sandbox: %s: %s", p->name, why);
#ifdef MOAT_SANDBOX_SECCOMP
	enter_root(p->root);

	set_limit(RLIMIT_CORE, 0, "core");	/* no memory contents on disk */
	if (p->nofile)
		set_limit(RLIMIT_NOFILE, p->nofile, "nofile");
	if (p->as_bytes)
		set_limit(RLIMIT_AS, p->as_bytes, "as");

	/* Drop every capability from the bounding set while we still hold
	 * CAP_SETPCAP, so nothing can ever be regained. */
	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			fatal("sandbox: dropping capability %d", cap);
	if (setgroups(0, NULL) < 0)
		fatal("sandbox: setgroups");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		fatal("sandbox: setresgid %u", (unsigned)p->gid);
	/* Changing all uids away from 0 clears the permitted, effective and
	 * ambient capability sets. */
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		fatal("sandbox: setresuid %u", (unsigned)p->uid);
	if (geteuid() == 0 || getegid() == 0)
		fatalx("sandbox: still root after dropping privileges");
	/* Threads start here, with our ids and no capability, rather than
	 * before setresuid: libc changes every thread's ids by signalling
	 * it, and a thread still returning from that handler when the
	 * filter goes on would die of rt_sigreturn. */
	if (p->threads)
		p->threads(p->threads_arg);
	set_limit(RLIMIT_NPROC, 0, "nproc");	/* no new processes (nor threads) for this uid */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatal("sandbox: PR_SET_NO_NEW_PRIVS");

#ifdef MOAT_SANDBOX_DEBUG
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = sigsys_report;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSYS, &sa, NULL);
	}
	ctx = seccomp_init(SCMP_ACT_TRAP);
#else
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
#endif
	if (ctx == NULL)
		fatalx("sandbox: seccomp_init failed");
	/* Every thread gets the filter, not just this one: libxenstore, for
	 * one, runs a reader thread started before we get here. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0)
		fatalx("sandbox: cannot apply the filter to every thread");
	add_rules(ctx, p, sandbox_common_rules, sandbox_common_nrules, "common");
	add_rules(ctx, p, p->rules, p->nrules, p->name);
	if ((rc = seccomp_load(ctx)) < 0)
		fatalx("sandbox: seccomp_load: %s", strerror(-rc));
	seccomp_release(ctx);
	log_debug("sandbox: uid %u, seccomp on", (unsigned)p->uid);
	return 1;
#else
	if (p->threads)
		p->threads(p->threads_arg);
	log_warnx("SANDBOX DISABLED: built with --with-sandbox=none (sanitizer/valgrind builds only)");
	return 0;
#endif
}

void
sandbox_test_forbidden(uint32_t what)
{
	int fd;

	log_warnx("test hook: attempting a forbidden system call (%s)",
	    what == 1 ? "socket" : "open");
	if (what == 1)
		fd = socket(AF_INET, SOCK_STREAM, 0);
	else
		/* open(2) itself, which no table has: libc's open() is openat,
		 * which agentd on Xen may make (its devices) and netbackd on
		 * Xen gets answered ENOENT (a glibc probe). */
		fd = (int)syscall(SYS_open, "/etc/passwd", O_RDONLY);
	log_warnx("test hook: the forbidden call returned %d: is the sandbox off?", fd);
	if (fd >= 0)
		close(fd);
}
