/*
 * test_natd_options.c: natd's options are strictly parsed; a bad one
 * stops natd with a message naming it, before anything else happens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "t.h"

static char natd[4096];
static char out[4096];

/* Run natd with args (NULL-terminated, no fd 3); exit status, stderr in out. */
static int
run(const char *const *args)
{
	const char *argv[16];
	int p[2], st, i;
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	argv[0] = natd;
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (pipe(p) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(p[1], 2);
		dup2(p[1], 1);
		close(3);
		execv(natd, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define REFUSED(what, ...) do { \
	const char *const a[] = { __VA_ARGS__, NULL }; \
	T_EQ_INT(run(a), 1); \
	if (strstr(out, what) == NULL) { \
		printf("# output: %s\n", out); \
		T_ASSERT(strstr(out, what) != NULL); \
	} \
} while (0)

static void
test_bad_options(void)
{
	REFUSED("unknown option: --bogus", "--bogus", "1");
	REFUSED("missing value for: --flows", "--flows");
	REFUSED("--flows wants a number in 16..1048576, not 'abc'", "--flows", "abc");
	REFUSED("--flows wants a number", "--flows", "5");
	REFUSED("--flows wants a number", "--flows", "2000000");
	REFUSED("--flows wants a number", "--flows", "100x");
	REFUSED("--timeout-udp wants a number", "--timeout-udp", "0");
	REFUSED("--pending-max wants a number", "--pending-max", "-1");
	REFUSED("--client-quota 5000 is larger than --flows 4096",
	    "--flows", "4096", "--client-quota", "5000");
}

static void
test_good_options(void)
{
	/* Accepted: natd goes on to look for its control channel. */
	const char *const a[] = { "--flows", "4096", "--client-quota", "100",
	    "--timeout-tcp-syn", "60", "--timeout-tcp-established", "432000",
	    "--timeout-tcp-closing", "120", "--timeout-udp", "30",
	    "--timeout-udp-stream", "120", "--timeout-icmp", "30",
	    "--pending-max", "64", NULL };

	T_EQ_INT(run(a), 1);
	T_ASSERT(strstr(out, "not a control channel") != NULL);
}

int
main(void)
{
	const char *b = getenv("MOAT_BUILDDIR");

	snprintf(natd, sizeof(natd), "%s/natd/natd", b ? b : ".");
	if (access(natd, X_OK) != 0) {
		t_skip("natd options", "natd binary not built");
		return t_done();
	}
	T_RUN(test_bad_options);
	T_RUN(test_good_options);
	return t_done();
}
