/*
 * rogue_daemon: stands in for a compromised daemon in tests. Started by
 * moat in place of natd (MOAT_LIBEXEC points at a directory where "natd"
 * is this program), it behaves until START, then breaks the control
 * protocol the way $MOAT_ROGUE says:
 *   unknown    a message of an unknown type
 *   size       a known type with the wrong payload size
 *   forbidden  a type only the supervisor may send (MSG_QUEUES)
 *   fd         a type that carries no fd, with an fd
 *   flood      1000 routed messages with garbage content, then stays quiet
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "msg.h"

static void
raw(uint32_t type, uint32_t len, const void *p, int fd)
{
	struct msg_hdr h = { .type = type, .len = len };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)p, len } };
	union { struct cmsghdr c; char b[CMSG_SPACE(sizeof(int))]; } cm;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (fd >= 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof cm.b;
		cm.c.cmsg_level = SOL_SOCKET;
		cm.c.cmsg_type = SCM_RIGHTS;
		cm.c.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.c), &fd, sizeof fd);
	}
	(void)!sendmsg(MSG_PARENT_FD, &mh, 0);
}

int
main(void)
{
	static struct msg m;
	const char *mode = getenv("MOAT_ROGUE"), *why;
	uint8_t junk[512];

	memset(junk, 0xa5, sizeof junk);
	for (;;) {
		struct pollfd p = { MSG_PARENT_FD, POLLIN, 0 };
		int rc;

		poll(&p, 1, -1);
		rc = msg_recv(MSG_PARENT_FD, &m, -1, &why);
		if (rc == MSG_AGAIN)
			continue;
		if (rc != 1)
			return 0;
		if (m.fd >= 0)
			close(m.fd);
		if (m.hdr.type == MSG_START)
			break;
	}
	{
		struct msg_ready r = { .sandbox = 1, .pid = (uint32_t)getpid() };
		msg_send(MSG_PARENT_FD, MSG_READY, 0, &r, sizeof r, -1);
	}
	usleep(200000);
	if (mode == NULL || strcmp(mode, "unknown") == 0)
		raw(999, 0, NULL, -1);
	else if (strcmp(mode, "size") == 0)
		raw(MSG_READY, 3, junk, -1);
	else if (strcmp(mode, "forbidden") == 0)
		raw(MSG_QUEUES, sizeof(struct msg_queues), junk, open("/dev/null", O_RDONLY));
	else if (strcmp(mode, "fd") == 0)
		raw(MSG_READY, sizeof(struct msg_ready), junk, open("/dev/null", O_RDONLY));
	else if (strcmp(mode, "flood") == 0)
		for (int i = 0; i < 1000; i++)
			raw(MSG_DNS_ANSWER, sizeof(struct msg_dns_answer), junk, -1);
	for (;;)
		pause();
}
