/*
 * test_sandbox_tables: every daemon's seccomp tables as it loads them (the
 * common one, its own, its mode's or backend's): no call allowed twice (a
 * second line ORs with the first and widens it), the common table exactly
 * the calls every daemon makes, every line with its reason, mmap/mprotect
 * never with PROT_EXEC, mremap never onto a chosen address, and the test
 * hook's forbidden calls in no table. The checker
 * itself must catch each kind of duplicate, and sandbox_enter() must refuse
 * one before it changes anything. Needs no root.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "agentd/agentd.h"
#include "log.h"
#include "netbackd/nb.h"
#include "sandbox.h"
#include "tests/unit/t.h"

/* natd_sandbox.c, policyd_sandbox.c (their daemons declare them privately) */
extern const struct sandbox_policy natd_sandbox_policy, policyd_sandbox_policy;

#define N(a)	(sizeof(a) / sizeof((a)[0]))

/* Each daemon in each mode, as its main() sets the policy's mode. */
static struct sandbox_policy pols[8];
static size_t npols;

static void
add(const char *name, const struct sandbox_policy *p, uint32_t mode)
{
	pols[npols] = *p;
	pols[npols].name = name;
	pols[npols].mode = mode;
	npols++;
}

static void
setup(void)
{
	add("natd", &natd_sandbox_policy, 0);
	add("policyd", &policyd_sandbox_policy, 0);
	add("agentd (file)", &agentd_sandbox_policy, 1u << AGENTD_FILE);
	add("agentd (socket)", &agentd_sandbox_policy, AGENTD_SC_SOCKET);
	add("agentd (xen)", &agentd_sandbox_policy, AGENTD_SC_XEN);
	add("netbackd (none)", &netbackd_sandbox_policy, 0);
	add("netbackd (devnet)", &netbackd_sandbox_policy, NB_SC_DEVNET);
	add("netbackd (xen)", &netbackd_sandbox_policy, NB_SC_XEN);
}

/* The common table, line for line: what natd, netbackd, policyd and
 * agentd all do once sandboxed (strace of each under the namespace tests,
 * and their code), and abort()'s calls. */
static const struct sc_rule want_common[] = {
	SC_ALLOW(read, ""), SC_ALLOW(write, ""), SC_ALLOW(close, ""),
	SC_ALLOW(recvmsg, ""), SC_ALLOW(sendmsg, ""),
	SC_ALLOW(brk, ""), SC_ALLOW_BITS(mmap, 2, PROT_READ | PROT_WRITE, ""),
	SC_ALLOW(munmap, ""), SC_ALLOW(clock_gettime, ""), SC_ALLOW(exit_group, ""),
	SC_ALLOW(writev, ""), SC_ALLOW(getpid, ""), SC_ALLOW(gettid, ""),
	SC_ALLOW(tgkill, ""), SC_ALLOW(rt_sigprocmask, ""),
};

static int
same_rule(const struct sc_rule *a, const struct sc_rule *b)
{
	return a->nr == b->nr && a->argidx == b->argidx && a->argval == b->argval &&
	    a->argmask == b->argmask && a->errno_val == b->errno_val;
}

static void
test_common_minimal(void)
{
	size_t i, k, found;

	T_EQ_INT(sandbox_common_nrules, N(want_common));
	for (i = 0; i < N(want_common); i++) {
		for (found = 0, k = 0; k < sandbox_common_nrules; k++)
			found += same_rule(&want_common[i], &sandbox_common_rules[k]);
		if (found != 1)
			printf("# common: syscall %d %s\n", want_common[i].nr,
			    found ? "twice" : "missing or different");
		T_EQ_INT(found, 1);
	}
}

static void
test_no_duplicates(void)
{
	char why[512];
	size_t i;

	for (i = 0; i < npols; i++) {
		int rc = sandbox_check(&pols[i], why, sizeof(why));

		if (rc != 0)
			printf("# %s: %s\n", pols[i].name, why);
		T_EQ_INT(rc, 0);
	}
}

/* No daemon draws randomness once sandboxed: natd takes its conntrack
 * secret and port/DNS-id seed before MSG_START, and nobody else needs any.
 * A getrandom line would only be room for a compromised daemon. */
static void
test_no_getrandom(void)
{
	size_t i, k;

	for (k = 0; k < sandbox_common_nrules; k++)
		T_ASSERT(sandbox_common_rules[k].nr != SYS_getrandom);
	for (i = 0; i < npols; i++) {
		for (k = 0; k < pols[i].nrules; k++)
			if (pols[i].rules[k].nr == SYS_getrandom) {
				printf("# %s allows getrandom\n", pols[i].name);
				T_ASSERT(0);
			}
	}
}

/* Every line names the code path that needs it. */
static int
all_reasons(const struct sc_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].why == NULL || r[i].why[0] == '\0')
			return 0;
	return 1;
}

static void
test_reasons(void)
{
	size_t i;

	T_ASSERT(all_reasons(sandbox_common_rules, sandbox_common_nrules));
	for (i = 0; i < npols; i++) {
		T_ASSERT(all_reasons(pols[i].rules, pols[i].nrules));
	}
}

/* mmap/mprotect only without PROT_EXEC (prot: argument 2), mremap only
 * with MREMAP_MAYMOVE at most (flags: argument 3). */
static int
memory_masked(const struct sc_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((r[i].nr == __NR_mmap || r[i].nr == __NR_mprotect) &&
		    (r[i].argidx != 2 || !(r[i].argmask & PROT_EXEC) || r[i].argval != 0))
			return 0;
		if (r[i].nr == __NR_mremap &&
		    (r[i].argidx != 3 || (~r[i].argmask & ~(uint64_t)MREMAP_MAYMOVE) ||
		    r[i].argval != 0))
			return 0;
	}
	return 1;
}

static void
test_no_exec(void)
{
	size_t i;

	T_ASSERT(memory_masked(sandbox_common_rules, sandbox_common_nrules));
	for (i = 0; i < npols; i++) {
		T_ASSERT(memory_masked(pols[i].rules, pols[i].nrules));
	}
}

/* moat.TestSyscall's calls (sandbox_test_forbidden) kill every daemon in
 * every mode: open(2) is in no table, socket() only for AF_UNIX. */
static int
hook_lethal(const struct sc_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].nr == __NR_open)
			return 0;
		if (r[i].nr == __NR_socket && (r[i].argidx != 0 || r[i].argmask != 0 ||
		    r[i].argval != AF_UNIX))
			return 0;
	}
	return 1;
}

static void
test_hook_lethal(void)
{
	size_t i;

	T_ASSERT(hook_lethal(sandbox_common_rules, sandbox_common_nrules));
	for (i = 0; i < npols; i++) {
		T_ASSERT(hook_lethal(pols[i].rules, pols[i].nrules));
	}
}

/* Does p, in its mode, load a line for system call nr? */
static int
loads(const struct sandbox_policy *p, int nr)
{
	for (size_t k = 0; k < p->nrules; k++)
		if (p->rules[k].nr == nr && sandbox_rule_loaded(p, &p->rules[k]))
			return 1;
	return 0;
}

/* One table per daemon, and its modes still apart: agentd on Xen (and
 * reading a file) has no socket call, a Xen netbackd no packet-socket
 * read, devnet no Xen device request nor libxenstore's thread calls. */
static void
test_modes_apart(void)
{
	static const int sock[] = { __NR_socket, __NR_connect, __NR_accept4,
	    __NR_bind, __NR_listen, __NR_sendto, __NR_recvfrom };
	const struct sandbox_policy *file = &pols[2], *unix_ = &pols[3],
	    *xen = &pols[4], *nbnone = &pols[5], *nbdev = &pols[6], *nbxen = &pols[7];

	for (size_t i = 0; i < N(sock); i++) {
		T_ASSERT(!loads(xen, sock[i]));
		T_ASSERT(!loads(file, sock[i]));
		T_ASSERT(loads(unix_, sock[i]));
	}
	T_ASSERT(loads(xen, __NR_ioctl) && !loads(unix_, __NR_ioctl) && !loads(file, __NR_ioctl));
	T_ASSERT(!loads(nbxen, __NR_recvmmsg) && loads(nbdev, __NR_recvmmsg));
	T_ASSERT(!loads(nbdev, __NR_ioctl) && !loads(nbdev, __NR_futex) && loads(nbxen, __NR_futex));
	T_ASSERT(!loads(nbnone, __NR_recvmmsg) && !loads(nbnone, __NR_ioctl));
}

/* The checker: each kind of duplicate is caught; distinct values of one
 * argument are not duplicates. The lines r, then x, as one table. */
static int
check(const struct sc_rule *r, size_t n, const struct sc_rule *x, size_t nx)
{
	struct sc_rule t[8];
	struct sandbox_policy p = { .name = "t", .rules = t, .nrules = n + nx };
	char why[512];

	if (n + nx > N(t))
		return -2;	/* fails every check below */
	for (size_t i = 0; i < n; i++)
		t[i] = r[i];
	for (size_t i = 0; i < nx; i++)
		t[n + i] = x[i];
	return sandbox_check(&p, why, sizeof(why));
}

/* Lines of other modes are not loaded, so they are no duplicates; lines
 * of the mode loaded, and lines of every mode, are. */
static void
test_checker_modes(void)
{
	static const struct sc_rule t[] = {
		SC_ALLOW_IN(1, poll, "mode 1"), SC_ALLOW_IN(2, poll, "mode 2"),
		SC_ALLOW_IN(6, ppoll, "modes 2 and 4"), SC_ALLOW_IN(4, ppoll, "mode 4"),
		SC_ALLOW(read, "every mode, and in the common table"),
		SC_ALLOW_IN(8, epoll_wait, "mode 8"), SC_ALLOW(epoll_wait, "every mode"),
	};
	struct sandbox_policy p = { .name = "t", .rules = t, .nrules = 4 };
	char why[512];

	for (p.mode = 0; p.mode <= 16; p.mode++)
		T_EQ_INT(sandbox_check(&p, why, sizeof(why)),
		    ((p.mode & 3) == 3 || (p.mode & 4)) ? -1 : 0);
	p.nrules = 5;
	p.mode = 1;
	T_EQ_INT(sandbox_check(&p, why, sizeof(why)), -1);
	p.rules = t + 5;
	p.nrules = 2;
	T_EQ_INT(sandbox_check(&p, why, sizeof(why)), 0);
	p.mode = 8;
	T_EQ_INT(sandbox_check(&p, why, sizeof(why)), -1);
	T_ASSERT(sandbox_rule_loaded(&p, &t[6]) && sandbox_rule_loaded(&p, &t[5]));
	T_ASSERT(!sandbox_rule_loaded(&p, &t[0]));
}

static void
test_checker(void)
{
	static const struct sc_rule common_again[] = { SC_ALLOW(read, "again") };
	static const struct sc_rule exec_again[] = { SC_ALLOW(mmap, "unmasked") };
	static const struct sc_rule twice[] = { SC_ALLOW(poll, "a"), SC_ALLOW(poll, "b") };
	static const struct sc_rule ioctls[] = {
		SC_ALLOW_ARG(ioctl, 1, 1, "a"), SC_ALLOW_ARG(ioctl, 1, 2, "b"),
	};
	static const struct sc_rule ioctl_again[] = { SC_ALLOW_ARG(ioctl, 1, 2, "c") };
	static const struct sc_rule ioctl_any[] = { SC_ALLOW(ioctl, "any") };
	static const struct sc_rule other_arg[] = { SC_ALLOW_ARG(ioctl, 0, 5, "fd 5") };
	static const struct sc_rule fine[] = { SC_ALLOW(poll, "a") };

	T_EQ_INT(check(fine, 1, ioctls, 2), 0);
	T_EQ_INT(check(common_again, 1, NULL, 0), -1);	/* in common and a daemon's */
	T_EQ_INT(check(fine, 1, exec_again, 1), -1);	/* would undo the PROT_EXEC mask */
	T_EQ_INT(check(twice, 2, NULL, 0), -1);		/* twice in one table */
	T_EQ_INT(check(ioctls, 2, ioctl_again, 1), -1);	/* the same value in two tables */
	T_EQ_INT(check(ioctls, 2, ioctl_any, 1), -1);	/* any value next to some */
	T_EQ_INT(check(ioctls, 2, other_arg, 1), -1);	/* a condition on another argument */
}

/* sandbox_enter() refuses a duplicate before it changes anything: the
 * process exits with an error (not killed by its own half-built filter). */
static void
test_enter_refuses(void)
{
	static const struct sc_rule dup[] = { SC_ALLOW(write, "again") };
	struct sandbox_policy p = { .name = "dup", .uid = MOAT_UID_BASE + 43,
	    .gid = MOAT_UID_BASE + 43, .rules = dup, .nrules = 1 };
	int st;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		log_init("test", LOG_LVL_ERROR - 1);	/* quiet: the refusal is expected */
		sandbox_enter(&p);
		_exit(0);
	}
	T_ASSERT(waitpid(pid, &st, 0) == pid);
	T_ASSERT(WIFEXITED(st));
	T_EQ_INT(WEXITSTATUS(st), 1);
}

int
main(void)
{
	setup();
	T_RUN(test_common_minimal);
	T_RUN(test_no_duplicates);
	T_RUN(test_reasons);
	T_RUN(test_no_getrandom);
	T_RUN(test_no_exec);
	T_RUN(test_hook_lethal);
	T_RUN(test_modes_apart);
	T_RUN(test_checker);
	T_RUN(test_checker_modes);
	T_RUN(test_enter_refuses);
	return t_done();
}
