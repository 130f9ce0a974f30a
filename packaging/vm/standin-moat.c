/*
 * standin-moat.c: a stand-in for the supervisor, for building and testing
 * the VM image before (or independently of) the real moat.
 *
 * It does what the boot test looks at and nothing else: starts one child
 * per daemon, each of which turns on a seccomp filter and reports ready
 * over a pipe; the parent then checks /proc/PID/status says the filter is
 * on and prints the supervisor's line, e.g.
 *   moat: info: natd ready (pid 42, sandbox seccomp)
 * On SIGTERM it stops the children and exits 0.  With --floor it prints
 * "moat: info: floor ready" and exits at once: the boot-time floor.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const daemons[] = { "netbackd", "natd", "policyd", "agentd" };
#define NDAEMONS	(sizeof daemons / sizeof daemons[0])

/* Allow everything on x86-64 except ptrace; any other arch is killed. */
static int
sandbox(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 101 /* ptrace */, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static int
seccomp_mode(pid_t pid)
{
	char	 path[64], line[128];
	FILE	*f;
	int	 mode = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

int
main(int argc, char *argv[])
{
	pid_t		pids[NDAEMONS];
	sigset_t	set;
	size_t		i;
	int		sig, j;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (j = 1; j < argc; j++)
		if (strcmp(argv[j], "--floor") == 0) {
			printf("moat: info: floor ready\n");
			return 0;
		}
	printf("moat: info: stand-in supervisor starting (%d args)\n", argc - 1);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	for (i = 0; i < NDAEMONS; i++) {
		int	p[2];
		char	c;

		if (pipe(p) == -1 || (pids[i] = fork()) == -1) {
			printf("moat: error: %s: %s\n", daemons[i], strerror(errno));
			return 1;
		}
		if (pids[i] == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			close(p[0]);
			c = sandbox() == 0 ? 'r' : 'e';
			(void)write(p[1], &c, 1);
			for (;;)
				pause();
		}
		close(p[1]);
		if (read(p[0], &c, 1) != 1 || c != 'r') {
			printf("moat: error: %s failed to start\n", daemons[i]);
			return 1;
		}
		close(p[0]);
		printf("moat: info: %s ready (pid %d, sandbox %s)\n", daemons[i],
		    (int)pids[i], seccomp_mode(pids[i]) == 2 ? "seccomp" : "none");
	}
	printf("moat: info: all %zu daemons ready\n", NDAEMONS);

	while (sigwait(&set, &sig) != 0)
		;
	printf("moat: info: stopping (signal %d)\n", sig);
	for (i = 0; i < NDAEMONS; i++)
		kill(pids[i], SIGTERM);
	for (i = 0; i < NDAEMONS; i++)
		waitpid(pids[i], NULL, 0);
	printf("moat: info: stopped\n");
	return 0;
}
