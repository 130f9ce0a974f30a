/* The sandbox mechanism: after sandbox_enter a process is not root, has no
 * capabilities, no_new_privs, a seccomp filter, an empty root, and dies by
 * SIGSYS on a call its table does not allow. Needs root (as CI runs). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
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

int
main(void)
{
	if (geteuid() != 0 || !sandbox_mode())
		t_skip("test_sandboxed_process", "needs root and --with-sandbox=seccomp");
	else
		T_RUN(test_sandboxed_process);
	return t_done();
}
