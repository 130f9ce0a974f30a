/*
 * proc.c: the process table and the only fork()/exec() in moat.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "log.h"
#include "proc.h"
#include "util.h"

/* The daemons, in start order: policyd and natd before netbackd so that
 * the first frames find someone to take them; agentd last, as it feeds
 * configuration to the others. */
const struct proc_spec proc_table[PROC_COUNT] = {
	[PROC_MOAT] =		{ PROC_MOAT, "moat" },
	[PROC_NETBACKD] =	{ PROC_NETBACKD, "netbackd" },
	[PROC_NATD] =		{ PROC_NATD, "natd" },
	[PROC_POLICYD] =	{ PROC_POLICYD, "policyd" },
	[PROC_AGENTD] =		{ PROC_AGENTD, "agentd" },
};

static int
exists_exec(const char *p)
{
	return access(p, X_OK) == 0;
}

int
proc_binary_path(const char *name, char *out, size_t outlen)
{
	const char *env = getenv("MOAT_LIBEXEC");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env && *env) {
		snprintf(out, outlen, "%s/%s", env, name);
		return exists_exec(out) ? 0 : -1;
	}
	/* In a build tree the supervisor is <top>/moat/moat and each daemon
	 * <top>/<name>/<name>: run the binaries built with it. */
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(out, outlen, "%s/../%s/%s", self, name, name);
			if (exists_exec(out))
				return 0;
			snprintf(out, outlen, "%s/%s", self, name);
			if (exists_exec(out))
				return 0;
		}
	}
	snprintf(out, outlen, "%s/%s", MOAT_LIBEXECDIR, name);
	return exists_exec(out) ? 0 : -1;
}

pid_t
proc_spawn(const char *path, const char *name, int chan, int logfd,
    char *const extra_argv[])
{
	char *argv[64];
	size_t n = 0;
	pid_t pid;

	argv[n++] = (char *)name;
	while (extra_argv && extra_argv[n - 1] && n < nitems(argv) - 1)
		argv[n] = extra_argv[n - 1], n++;
	argv[n] = NULL;

	pid = fork();
	if (pid != 0)
		return pid;

	/* Child: fd 3 is the control channel, 1 and 2 the log pipe, 0 is
	 * /dev/null; nothing else of the supervisor's survives exec. */
	if (chan != MSG_PARENT_FD) {
		if (dup2(chan, MSG_PARENT_FD) < 0)
			_exit(126);
	} else
		set_cloexec(chan, 0);
	if (dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
		_exit(126);
	{
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0 && nul != STDIN_FILENO) {
			dup2(nul, STDIN_FILENO);
			close(nul);
		}
	}
	if (syscall(SYS_close_range, MSG_PARENT_FD + 1, ~0U, 0) < 0) {
		for (int fd = MSG_PARENT_FD + 1; fd < 1024; fd++)
			close(fd);
	}
	/* A daemon never outlives its supervisor, even one killed by SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Signals the supervisor ignores or blocks must not leak into the child. */
	{
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
	}
	execv(path, argv);
	_exit(127);
}

int
proc_parent_channel(void)
{
	int type = 0;
	socklen_t len = sizeof type;

	if (getsockopt(MSG_PARENT_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET)
		fatalx("fd %d is not a control channel: run me from moat", MSG_PARENT_FD);
	return MSG_PARENT_FD;
}
