/* agentd's Xen table allows ioctl only for the requests Debian's libxenvchan,
 * libxengnttab, libxenevtchn and libxentoollog issue once agentd is
 * sandboxed (see agentd_sandbox.c): no unconditional ioctl in any table agentd
 * loads, no privcmd request at all (a hypercall reaches past every sandbox
 * layer: issue 12), and a sandboxed process with agentd's tables survives
 * each named request but dies by SIGSYS on another gntdev or evtchn one and
 * on the privcmd hypercall. The second part needs root and a seccomp build,
 * as CI has. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include <xenctrl.h>
#include <xen/sys/evtchn.h>
#include <xen/sys/gntalloc.h>
#include <xen/sys/gntdev.h>
#include <xen/sys/privcmd.h>

#include "agentd/agentd.h"
#include "log.h"
#include "sandbox.h"
#include "tests/unit/t.h"

/* Read off the libraries' disassembly (agentd_xen.c says which path each). */
static const unsigned long want[] = {
	IOCTL_EVTCHN_BIND_UNBOUND_PORT, IOCTL_EVTCHN_BIND_INTERDOMAIN,
	IOCTL_EVTCHN_NOTIFY, IOCTL_EVTCHN_UNBIND,
	IOCTL_GNTALLOC_ALLOC_GREF, IOCTL_GNTALLOC_DEALLOC_GREF,
	IOCTL_GNTALLOC_SET_UNMAP_NOTIFY,	/* == IOCTL_GNTDEV_SET_UNMAP_NOTIFY */
	IOCTL_GNTDEV_MAP_GRANT_REF, IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR,
	IOCTL_GNTDEV_UNMAP_GRANT_REF,
	TCGETS,		/* isatty(stderr) in xtl_createlogger_stdiostream */
};

/* Every privcmd request: none may be in any table agentd loads. */
static const unsigned long privcmd[] = {
	IOCTL_PRIVCMD_HYPERCALL, IOCTL_PRIVCMD_MMAP, IOCTL_PRIVCMD_MMAPBATCH,
	IOCTL_PRIVCMD_MMAPBATCH_V2, IOCTL_PRIVCMD_DM_OP, IOCTL_PRIVCMD_RESTRICT,
	IOCTL_PRIVCMD_MMAP_RESOURCE, IOCTL_PRIVCMD_UNIMPLEMENTED,
};

static int
privcmd_rules(const struct sc_rule *r, size_t n)
{
	int found = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(privcmd) / sizeof(privcmd[0]); k++)
			if (r[i].nr == __NR_ioctl && r[i].argval == privcmd[k])
				found++;
	return found;
}

static int
wanted(uint64_t v)
{
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (want[i] == v)
			return 1;
	return 0;
}

static int
ioctl_rules(const struct sc_rule *r, size_t n, int *unconditional)
{
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		if (r[i].nr != __NR_ioctl)
			continue;
		found++;
		if (r[i].argidx != 1 || r[i].errno_val != 0)
			(*unconditional)++;
	}
	return found;
}

/* The lines of agentd's one table loaded in a mode. */
static size_t
lines_in(uint32_t mode, struct sc_rule *out, size_t max)
{
	struct sandbox_policy p = agentd_sandbox_policy;
	size_t i, n = 0;

	p.mode = mode;
	for (i = 0; i < p.nrules; i++)
		if (sandbox_rule_loaded(&p, &p.rules[i]) && n < max)
			out[n++] = p.rules[i];
	return n;
}

static void
test_table(void)
{
	static struct sc_rule xen[128], other[128];
	int unc = 0, n, seen[sizeof(want) / sizeof(want[0])] = { 0 };
	size_t i, k, nxen, nother;

	T_EQ_INT(ioctl_rules(sandbox_common_rules, sandbox_common_nrules, &unc), 0);
	nother = lines_in(AGENTD_SC_SOCKET, other, 128);
	T_EQ_INT(ioctl_rules(other, nother, &unc), 0);
	nother = lines_in(1u << AGENTD_FILE, other, 128);
	T_EQ_INT(ioctl_rules(other, nother, &unc), 0);
	nxen = lines_in(AGENTD_SC_XEN, xen, 128);
	T_ASSERT(nxen < 128 && nother < 128);
	n = ioctl_rules(xen, nxen, &unc);
	T_EQ_INT(unc, 0);
	T_EQ_INT(n, (int)(sizeof(want) / sizeof(want[0])));
	for (i = 0; i < nxen; i++) {
		if (xen[i].nr != __NR_ioctl)
			continue;
		T_ASSERT(wanted(xen[i].argval));
		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
			if (want[k] == xen[i].argval)
				seen[k]++;
		T_ASSERT(xen[i].why != NULL && xen[i].why[0] != '\0');
	}
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		T_EQ_INT(seen[k], 1);
	T_EQ_INT(privcmd_rules(sandbox_common_rules, sandbox_common_nrules), 0);
	T_EQ_INT(privcmd_rules(agentd_sandbox_policy.rules, agentd_sandbox_policy.nrules), 0);
}

/* A child under agentd's Xen-mode policy issues every allowed request on a
 * pipe (which answers ENOTTY), reports, then issues `bad`. */
static void
run_child(unsigned long bad, const char *what)
{
	struct sandbox_policy pol = agentd_sandbox_policy;
	int rep[2], status, ok = 0;
	char c = 0;
	pid_t pid;

	T_ASSERT(pipe(rep) == 0);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		close(rep[0]);
		log_init("test", LOG_LVL_ERROR);
		pol.root = NULL;
		pol.mode = AGENTD_SC_XEN;
		sandbox_enter(&pol);
		/* what libxentoollog does for each xen*_open(NULL, ...) */
		(void)isatty(2);
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			if (ioctl(rep[1], want[i], NULL) != -1)
				_exit(2);
		(void)!write(rep[1], "a", 1);
		(void)ioctl(rep[1], bad, NULL);
		_exit(0);	/* only without the filter */
	}
	close(rep[1]);
	ok = read(rep[0], &c, 1) == 1 && c == 'a';
	close(rep[0]);
	T_ASSERT(waitpid(pid, &status, 0) == pid);
	if (!ok)
		fprintf(stderr, "# %s: the allowed requests killed the child (status %#x)\n",
		    what, status);
	T_ASSERT(ok);
	T_ASSERT(WIFSIGNALED(status));
	if (WIFSIGNALED(status))
		T_EQ_INT(WTERMSIG(status), SIGSYS);
}

static void
test_sandboxed(void)
{
	run_child(IOCTL_GNTDEV_GRANT_COPY, "gntdev GRANT_COPY");
	run_child(IOCTL_GNTDEV_SET_MAX_GRANTS, "gntdev SET_MAX_GRANTS");
	run_child(IOCTL_EVTCHN_BIND_VIRQ, "evtchn BIND_VIRQ");
	run_child(IOCTL_EVTCHN_RESTRICT_DOMID, "evtchn RESTRICT_DOMID");
	run_child(TIOCSTI, "TIOCSTI");
	/* what xc_evtchn_status did through libxencall before issue 12 */
	run_child(IOCTL_PRIVCMD_HYPERCALL, "privcmd HYPERCALL");
	run_child(IOCTL_PRIVCMD_MMAPBATCH_V2, "privcmd MMAPBATCH_V2");
}

int
main(void)
{
	T_RUN(test_table);
	if (geteuid() != 0 || !sandbox_mode())
		t_skip("test_sandboxed", "needs root and --with-sandbox=seccomp");
	else
		T_RUN(test_sandboxed);
	return t_done();
}
