/* The sandbox mechanism: after sandbox_enter a process is not root, has no
 * capabilities, no_new_privs, a seccomp filter, an empty root, and dies by
 * SIGSYS on a call its table does not allow; memory can be mapped, protected
 * and remapped read/write but never made executable, nor moved onto an
 * address of its choosing. Needs root (as CI runs). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "log.h"
#include "sandbox.h"
#include "tests/unit/t.h"

static const struct sandbox_policy pol = {
	.name = "test", .uid = MOAT_UID_BASE + 42, .gid = MOAT_UID_BASE + 42,
	.nofile = 64, .rules = NULL, .nrules = 0,
};

static char *
status_field(pid_t pid, const char *field, char *out, size_t len)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	out[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return out;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, strlen(field)) == 0 && line[strlen(field)] == ':') {
			snprintf(out, len, "%s", line + strlen(field) + 1);
			out[strcspn(out, "\n")] = '\0';
			for (char *p = out; *p == '\t' || *p == ' '; )
				memmove(p, p + 1, strlen(p));
		}
	fclose(f);
	return out;
}

static void
test_sandboxed_process(void)
{
	int go[2], ready[2], status;
	char buf[128], root[256];
	ssize_t n;
	pid_t pid;

	T_ASSERT(pipe(go) == 0 && pipe(ready) == 0);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		char c;

		log_init("test", LOG_LVL_ERROR);
		sandbox_enter(&pol);
		(void)!write(ready[1], "r", 1);
		/* allowed: read; then a forbidden call */
		(void)!read(go[0], &c, 1);
		sandbox_test_forbidden(0);
		_exit(0);	/* only reached without a sandbox */
	}
	n = read(ready[0], buf, 1);
	T_EQ_INT(n, 1);
	T_EQ_STR(status_field(pid, "Seccomp", buf, sizeof buf), "2");
	T_EQ_STR(status_field(pid, "NoNewPrivs", buf, sizeof buf), "1");
	T_EQ_STR(status_field(pid, "CapEff", buf, sizeof buf), "0000000000000000");
	T_EQ_STR(status_field(pid, "CapPrm", buf, sizeof buf), "0000000000000000");
	T_EQ_STR(status_field(pid, "CapBnd", buf, sizeof buf), "0000000000000000");
	status_field(pid, "Uid", buf, sizeof buf);
	T_ASSERT(strncmp(buf, "64542\t64542\t64542", 17) == 0);
	status_field(pid, "Groups", buf, sizeof buf);
	T_EQ_STR(buf, "");
	snprintf(buf, sizeof buf, "/proc/%d/root", (int)pid);
	n = readlink(buf, root, sizeof root - 1);
	T_ASSERT(n > 0);
	root[n] = '\0';
	T_ASSERT(strcmp(root, "/") != 0);
	(void)!write(go[1], "g", 1);
	T_ASSERT(waitpid(pid, &status, 0) == pid);
	T_ASSERT(WIFSIGNALED(status));
	T_EQ_INT(WTERMSIG(status), SIGSYS);
}

/* mmap is in the common table (PROT_EXEC masked); mprotect and mremap as
 * the daemons that have them write them (netbackd on Xen, policyd, agentd). */
static const struct sc_rule mem_rules[] = {
	SC_ALLOW_BITS(mprotect, 2, PROT_READ | PROT_WRITE, "test: as netbackd's xen table"),
	SC_ALLOW_BITS(mremap, 3, MREMAP_MAYMOVE, "test: as policyd's and agentd's"),
};

enum { BAD_MMAP_EXEC, BAD_MPROTECT_EXEC, BAD_MREMAP_FIXED, BAD_NONE };

/* A sandboxed child maps, protects and remaps memory read/write (it reports
 * that this worked), then makes one bad call; the status it ended with. */
static int
mem_child(int bad)
{
	struct sandbox_policy p = pol;
	int rep[2], st;
	char c = 0;
	pid_t pid;

	p.rules = mem_rules;
	p.nrules = sizeof mem_rules / sizeof mem_rules[0];
	if (pipe(rep) != 0)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == 0) {
		char *a, *b;

		close(rep[0]);
		log_init("test", LOG_LVL_ERROR);
		sandbox_enter(&p);
		a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (a == MAP_FAILED)
			_exit(2);
		a[0] = 'x';
		if (mprotect(a, 4096, PROT_READ) != 0 || mprotect(a, 4096, PROT_NONE) != 0 ||
		    mprotect(a, 4096, PROT_READ | PROT_WRITE) != 0)
			_exit(3);
		if ((b = mremap(a, 4096, 8192, MREMAP_MAYMOVE)) == MAP_FAILED || b[0] != 'x')
			_exit(4);
		(void)!write(rep[1], "a", 1);
		switch (bad) {
		case BAD_MMAP_EXEC:
			(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			break;
		case BAD_MPROTECT_EXEC:
			(void)mprotect(b, 4096, PROT_READ | PROT_EXEC);
			break;
		case BAD_MREMAP_FIXED:
			a = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			(void)mremap(b, 8192, 8192, MREMAP_MAYMOVE | MREMAP_FIXED, a);
			break;
		}
		_exit(0);
	}
	close(rep[1]);
	if (pid < 0 || read(rep[0], &c, 1) != 1 || c != 'a')
		c = 0;
	close(rep[0]);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (c != 'a') {
		printf("# read/write memory calls failed in the sandbox (status %#x)\n", st);
		return -1;
	}
	return st;
}

static void
test_memory_not_exec(void)
{
	int st;

	/* the read/write calls alone: the child exits 0 */
	st = mem_child(BAD_NONE);
	T_ASSERT(WIFEXITED(st));
	T_EQ_INT(WEXITSTATUS(st), 0);
	st = mem_child(BAD_MMAP_EXEC);
	T_ASSERT(WIFSIGNALED(st));
	T_EQ_INT(WTERMSIG(st), SIGSYS);
	st = mem_child(BAD_MPROTECT_EXEC);
	T_ASSERT(WIFSIGNALED(st));
	T_EQ_INT(WTERMSIG(st), SIGSYS);
	st = mem_child(BAD_MREMAP_FIXED);
	T_ASSERT(WIFSIGNALED(st));
	T_EQ_INT(WTERMSIG(st), SIGSYS);
}

int
main(void)
{
	if (geteuid() != 0 || !sandbox_mode()) {
		t_skip("test_sandboxed_process", "needs root and --with-sandbox=seccomp");
		t_skip("test_memory_not_exec", "needs root and --with-sandbox=seccomp");
	} else {
		T_RUN(test_sandboxed_process);
		T_RUN(test_memory_not_exec);
	}
	return t_done();
}
