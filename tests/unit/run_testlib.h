/*
 * run_testlib.h: runs a built program with options and checks what it says,
 * for the option tests (test_moat_options.c, test_natd_options.c): a bad
 * option must stop the program with a message naming it.
 */
#ifndef MOAT_RUN_TESTLIB_H
#define MOAT_RUN_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "t.h"

/*
 * Run prog with args (NULL-terminated, at most 14); its exit status (-1 if
 * it did not exit), what it wrote to stdout and stderr in out. close3: run
 * it without fd 3 (natd takes its control channel there).
 */
static inline int
run_capture(const char *prog, const char *const *args, int close3,
    char *out, size_t outsz)
{
	const char *argv[16];
	int p[2], st, i;
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	argv[0] = prog;
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (pipe(p) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(p[1], 2);
		dup2(p[1], 1);
		if (close3)
			close(3);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + len, outsz - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* prog, run with the options after what, exits with status and says what. */
#define RUN_SAYS(prog, close3, out, status, what, ...) do { \
	const char *const a_[] = { __VA_ARGS__, NULL }; \
	T_EQ_INT(run_capture(prog, a_, close3, out, sizeof(out)), status); \
	if (strstr(out, what) == NULL) { \
		printf("# output: %s\n", out); \
		T_ASSERT(strstr(out, what) != NULL); \
	} \
} while (0)

/* path = $MOAT_BUILDDIR/rel; 1 if it is there to run, else the check
 * name is skipped for why and 0. */
static inline int
built_prog(char *path, size_t sz, const char *rel, const char *name,
    const char *why)
{
	const char *b = getenv("MOAT_BUILDDIR");

	snprintf(path, sz, "%s/%s", b ? b : ".", rel);
	if (access(path, X_OK) == 0)
		return 1;
	t_skip(name, why);
	return 0;
}

#endif
