/*
 * moatctl: talk to a running moat over its control socket.
 *
 *   moatctl [--control SOCKET] status
 *   moatctl [--control SOCKET] call SERVICE[+ARG] < input
 *
 * call runs one of moat's services (the same handlers qrexec calls reach):
 * its output goes to stdout, its errors to stderr, and moatctl exits with
 * the service's status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctl.h"
#include "util.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: moatctl [--control SOCKET] status\n"
"       moatctl [--control SOCKET] call SERVICE[+ARG] < input\n"
"\n"
"Services: moat.SetRules (JSON rules on stdin), moat.GetRules, moat.Stats,\n"
"moat.Logs+DAEMON (netbackd, natd, policyd, agentd, moat), moat.DumpRejects\n"
"(pcap on stdout), moat.Debug+on|off.\n"
"SOCKET defaults to %s.\n", CTL_DEFAULT_SOCKET);
}

static int
xconnect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "moatctl: socket path too long\n");
		exit(2);
	}
	strlcpy_(sun.sun_path, path, sizeof sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		fprintf(stderr, "moatctl: cannot reach moat at %s: %s\n", path, strerror(errno));
		exit(69);
	}
	return fd;
}

/* Copy n bytes from the socket to out. */
static int
relay(int fd, FILE *out, uint32_t n)
{
	char buf[65536];

	while (n) {
		size_t want = n < sizeof buf ? n : sizeof buf;
		ssize_t got = read_all(fd, buf, want);

		if (got <= 0)
			return -1;
		if (fwrite(buf, 1, (size_t)got, out) != (size_t)got)
			return -1;
		n -= (uint32_t)got;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = CTL_DEFAULT_SOCKET;
	struct ctl_req req;
	struct ctl_resp resp;
	char *in = NULL;
	size_t in_len = 0;
	int fd, i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
			path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	memset(&req, 0, sizeof req);
	req.magic = CTL_MAGIC;
	if (i < argc && strcmp(argv[i], "status") == 0 && i + 1 == argc) {
		req.op = CTL_OP_STATUS;
	} else if (i + 1 < argc && strcmp(argv[i], "call") == 0 && i + 2 == argc) {
		const char *svc = argv[i + 1], *plus = strchr(svc, '+');
		size_t cap = SVC_MAX_INPUT + 1;
		ssize_t n;

		req.op = CTL_OP_CALL;
		if ((plus ? (size_t)(plus - svc) : strlen(svc)) >= SVC_NAME_MAX ||
		    (plus && strlen(plus + 1) >= SVC_NAME_MAX)) {
			fprintf(stderr, "moatctl: service name or argument too long\n");
			return 2;
		}
		memcpy(req.service, svc, plus ? (size_t)(plus - svc) : strlen(svc));
		if (plus)
			strlcpy_(req.arg, plus + 1, sizeof req.arg);
		/* Read at most one byte past the limit: enough for moat to say
		 * "too big" without us holding an unbounded input. */
		if (!isatty(STDIN_FILENO)) {
			if ((in = malloc(cap)) == NULL)
				return 1;
			while (in_len < cap && (n = read(STDIN_FILENO, in + in_len, cap - in_len)) > 0)
				in_len += (size_t)n;
		}
		req.in_len = (uint32_t)in_len;
	} else {
		usage(stderr);
		return 2;
	}
	fd = xconnect(path);
	if (write_all(fd, &req, sizeof req) < 0 || (in_len && write_all(fd, in, in_len) < 0)) {
		fprintf(stderr, "moatctl: sending the request: %s\n", strerror(errno));
		return 69;
	}
	if (read_all(fd, &resp, sizeof resp) != sizeof resp || resp.magic != CTL_MAGIC) {
		fprintf(stderr, "moatctl: moat closed the connection without an answer\n");
		return 69;
	}
	if (relay(fd, stdout, resp.out_len) < 0 || relay(fd, stderr, resp.err_len) < 0) {
		fprintf(stderr, "moatctl: the answer was cut short\n");
		return 69;
	}
	fflush(stdout);
	return resp.status;
}
