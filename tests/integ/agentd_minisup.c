/*
 * agentd_minisup: a stand-in supervisor in C, for running agentd where
 * there is no Python (the Xen domU of tests/integ/agentd_xen.sh).
 *
 *   agentd_minisup AGENTD [agentd args...]
 *
 * Starts agentd with its control channel on fd 3, sends START, prints one
 * "SUP ..." line per message agentd sends, answers service requests
 * (moat.Echo: the input back; anything else: 127 "unknown service"),
 * and on MSG_POWEROFF sends SHUTDOWN and exits when agentd has.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "log.h"
#include "msg.h"
#include "util.h"

static const char *
ip4(uint32_t a)
{
	static char buf[4][16];
	static int i;

	i = (i + 1) % 4;
	inet_ntop(AF_INET, &a, buf[i], sizeof(buf[i]));
	return buf[i];
}

static void
reply(int s, uint32_t callid, int32_t status, const char *out, size_t olen,
    const char *err)
{
	struct msg_call_done d;
	char *buf;
	int fd;

	memset(&d, 0, sizeof(d));
	d.callid = callid;
	d.status = status;
	d.out_len = (uint32_t)olen;
	d.err_len = (uint32_t)strlen(err);
	if ((buf = malloc(olen + d.err_len + 1)) == NULL)
		abort();
	memcpy(buf, out, olen);
	memcpy(buf + olen, err, d.err_len);
	fd = memfd_from("reply", buf, olen + d.err_len);
	free(buf);
	if (fd < 0 || msg_send(s, MSG_SVC_REPLY, 0, &d, sizeof(d), fd) == -1)
		fatal("SVC_REPLY");
	close(fd);
}

int
main(int argc, char **argv)
{
	static struct msg m;
	struct msg_start st = { 0, 0 };
	const char *why;
	int sv[2], r;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: agentd_minisup AGENTD [args...]\n");
		return 2;
	}
	log_init("minisup", LOG_LVL_INFO);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1)
		fatal("socketpair");
	if ((pid = fork()) == 0) {
		if (dup2(sv[1], MSG_PARENT_FD) == -1)
			_exit(127);
		execv(argv[1], argv + 1);
		_exit(127);
	}
	close(sv[1]);
	if (msg_send(sv[0], MSG_START, 0, &st, sizeof(st), -1) == -1)
		fatal("START");
	for (;;) {
		r = msg_recv(sv[0], &m, PROC_AGENTD, &why);
		if (r == MSG_AGAIN)
			continue;
		if (r == MSG_EOF || r < 0) {
			int ws;

			if (r != MSG_EOF)
				printf("SUP BROKEN %s\n", r == MSG_EPROTO ? why : "I/O error");

			waitpid(pid, &ws, 0);
			printf("SUP EXIT %d\n", WIFEXITED(ws) ? WEXITSTATUS(ws) :
			    128 + WTERMSIG(ws));
			return 0;
		}
		switch (m.hdr.type) {
		case MSG_READY: {
			struct msg_ready *p = (void *)m.data;

			printf("SUP READY sandbox=%u\n", p->sandbox);
			break;
		}
		case MSG_NETCONF: {
			struct msg_netconf *p = (void *)m.data;

			printf("SUP NETCONF ip=%s gateway=%s dns0=%s debug=%u\n",
			    ip4(p->ip), ip4(p->gateway), ip4(p->dns[0]), p->debug);
			break;
		}
		case MSG_CLIENTS:
			printf("SUP CLIENTS %u\n", ((struct msg_clients *)(void *)m.data)->count);
			break;
		case MSG_QRULES_BEGIN: {
			struct msg_qrules_begin *p = (void *)m.data;
			uint32_t a;

			memcpy(&a, p->addr, 4);
			printf("SUP QRULES_BEGIN %u %s %.8s %u\n", p->family,
			    p->family == 4 ? ip4(a) : "v6", p->policy, p->count);
			break;
		}
		case MSG_QRULE: {
			struct msg_qrule *p = (void *)m.data;

			printf("SUP QRULE %04u %.*s\n", p->key,
			    (int)(p->len < QRULE_MAX ? p->len : QRULE_MAX), p->text);
			break;
		}
		case MSG_QRULES_END:
			printf("SUP QRULES_END\n");
			break;
		case MSG_SVC_REQ: {
			struct msg_call c;
			char *in;
			size_t len = 0;

			memcpy(&c, m.data, sizeof(c));
			c.service[SVC_NAME_MAX - 1] = c.arg[SVC_NAME_MAX - 1] =
			    c.source[SVC_NAME_MAX - 1] = '\0';
			in = memfd_read(m.fd, SVC_MAX_INPUT, &len);
			close(m.fd);
			printf("SUP SVC_REQ %s arg=%s source=%s in_len=%u\n",
			    c.service, c.arg, c.source, c.in_len);
			if (strcmp(c.service, "moat.Echo") == 0 && in != NULL)
				reply(sv[0], c.callid, 0, in, len, "");
			else
				reply(sv[0], c.callid, 127, "", 0, "unknown service\n");
			free(in);
			break;
		}
		case MSG_POWEROFF: {
			struct msg_poweroff *p = (void *)m.data;

			printf("SUP POWEROFF reboot=%u\n", p->reboot);
			if (msg_send(sv[0], MSG_SHUTDOWN, 0, NULL, 0, -1) == -1)
				fatal("SHUTDOWN");
			break;
		}
		default:
			printf("SUP MSG %s\n", msg_name(m.hdr.type));
		}
	}
}
