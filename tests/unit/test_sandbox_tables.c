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
extern const struct sc_rule natd_sc_rules[];
extern const size_t natd_sc_nrules;
extern const struct sc_rule policyd_sc_rules[];
extern const size_t policyd_sc_nrules;

#define N(a)	(sizeof(a) / sizeof((a)[0]))

/* Each daemon in each mode, as its main() builds the policy. */
static struct sandbox_policy pols[8];
static size_t npols;

static void
add(const char *name, const struct sc_rule *r, size_t n, const struct sc_rule *x, size_t nx)
{
	pols[npols].name = name;
	pols[npols].rules = r;
	pols[npols].nrules = n;
	pols[npols].extra_rules = x;
	pols[npols].nextra_rules = nx;
	npols++;
}

static void
setup(void)
{
	const struct sandbox_policy *a = &agentd_sandbox_policy;

	add("natd", natd_sc_rules, natd_sc_nrules, NULL, 0);
	add("policyd", policyd_sc_rules, policyd_sc_nrules, NULL, 0);
	add("agentd (file)", a->rules, a->nrules, NULL, 0);
	add("agentd (socket)", a->rules, a->nrules, agentd_socket_rules, agentd_socket_nrules);
	add("agentd (xen)", a->rules, a->nrules, agentd_xen_rules, agentd_xen_nrules);
	add("netbackd (none)", netbackd_sc.rules, netbackd_sc.n, NULL, 0);
	add("netbackd (devnet)", netbackd_sc.rules, netbackd_sc.n, devnet_sc.rules, devnet_sc.n);
	add("netbackd (xen)", netbackd_sc.rules, netbackd_sc.n, xen_sc.rules, xen_sc.n);
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
		for (k = 0; k < pols[i].nextra_rules; k++)
			T_ASSERT(pols[i].extra_rules[k].nr != SYS_getrandom);
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
		if (pols[i].extra_rules)
			T_ASSERT(all_reasons(pols[i].extra_rules, pols[i].nextra_rules));
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
		if (pols[i].extra_rules)
			T_ASSERT(memory_masked(pols[i].extra_rules, pols[i].nextra_rules));
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
		if (pols[i].extra_rules)
			T_ASSERT(hook_lethal(pols[i].extra_rules, pols[i].nextra_rules));
	}
}

/* The checker: each kind of duplicate is caught; distinct values of one
 * argument are not duplicates. */
static int
check(const struct sc_rule *r, size_t n, const struct sc_rule *x, size_t nx)
{
	struct sandbox_policy p = { .name = "t", .rules = r, .nrules = n,
	    .extra_rules = x, .nextra_rules = nx };
	char why[512];

	return sandbox_check(&p, why, sizeof(why));
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
	T_RUN(test_checker);
	T_RUN(test_enter_refuses);
	return t_done();
}
