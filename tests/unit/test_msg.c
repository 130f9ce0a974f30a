/* Control messages: the table is complete, good messages round-trip, and
 * every malformed message a sibling could send is refused. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "msg.h"
#include "util.h"
#include "tests/unit/t.h"

static struct msg m;

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		abort();
}

static void
test_table_complete(void)
{
	for (uint32_t t = 1; t < MSG_TYPE_COUNT; t++) {
		T_ASSERT(msg_table[t].name != NULL);
		T_ASSERT(msg_table[t].senders != 0);
		T_ASSERT((msg_table[t].size & ~MSG_SZ_VAR) <= MSG_MAX_PAYLOAD);
	}
	T_EQ_STR(msg_name(MSG_TYPE_COUNT), "UNKNOWN");
}

static void
test_roundtrip(void)
{
	struct msg_loglevel ll = { .level = LOG_LVL_DEBUG }, out;
	const char *why;
	int sv[2];

	pair(sv);
	T_EQ_INT(msg_send(sv[0], MSG_LOGLEVEL, 7, &ll, sizeof ll, -1), 0);
	T_EQ_INT(msg_recv(sv[1], &m, PROC_MOAT, &why), 1);
	T_EQ_INT(m.hdr.type, MSG_LOGLEVEL);
	T_EQ_INT(m.hdr.id, 7);
	T_EQ_INT(m.fd, -1);
	T_EQ_INT(msg_get(&m, MSG_LOGLEVEL, &out, sizeof out), 0);
	T_EQ_INT(out.level, LOG_LVL_DEBUG);
	/* the exact-size getter refuses another size or type */
	T_EQ_INT(msg_get(&m, MSG_LOGLEVEL, &out, sizeof out - 1), -1);
	T_EQ_INT(msg_get(&m, MSG_READY, &out, sizeof out), -1);
	T_EQ_INT(msg_recv(sv[1], &m, PROC_MOAT, &why), MSG_AGAIN);
	close(sv[0]);
	T_EQ_INT(msg_recv(sv[1], &m, PROC_MOAT, &why), MSG_EOF);
	close(sv[1]);
}

static void
test_fd_passing(void)
{
	struct msg_call c = { .callid = 1, .in_len = 5 };
	const char *why;
	char buf[8] = { 0 };
	size_t len;
	char *data;
	int sv[2], fd;

	pair(sv);
	fd = memfd_from("t", "hello", 5);
	T_ASSERT(fd >= 0);
	T_EQ_INT(msg_send(sv[0], MSG_CALL, 0, &c, sizeof c, fd), 0);
	close(fd);
	T_EQ_INT(msg_recv(sv[1], &m, PROC_MOAT, &why), 1);
	T_ASSERT(m.fd >= 0);
	data = memfd_read(m.fd, 100, &len);
	T_ASSERT(data != NULL);
	T_EQ_INT(len, 5);
	memcpy(buf, data, 5);
	T_EQ_STR(buf, "hello");
	free(data);
	/* the memfd is sealed: the receiver can trust it not to change */
	T_ASSERT(write(m.fd, "x", 1) < 0);
	close(m.fd);
	/* senders refuse to break the table themselves */
	T_EQ_INT(msg_send(sv[0], MSG_CALL, 0, &c, sizeof c, -1), -1);
	T_EQ_INT(msg_send(sv[0], MSG_LOGLEVEL, 0, &c, sizeof c, -1), -1);
	close(sv[0]);
	close(sv[1]);
}

/* Send raw bytes (and maybe an fd) bypassing msg_send's checks. */
static void
raw_send(int s, const void *buf, size_t len, int fd)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cm;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof cm.b;
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &fd, sizeof fd);
	}
	if (sendmsg(s, &mh, 0) < 0)
		abort();
}

static int
expect_proto(const void *buf, size_t len, int fd, int from)
{
	const char *why = NULL;
	int sv[2], rc;

	pair(sv);
	raw_send(sv[0], buf, len, fd);
	rc = msg_recv(sv[1], &m, from, &why);
	close(sv[0]);
	close(sv[1]);
	return rc == MSG_EPROTO && why != NULL && m.fd == -1;
}

static void
test_malformed(void)
{
	struct { struct msg_hdr h; uint8_t p[256]; } b;
	int fd = open("/dev/null", O_RDONLY);

	memset(&b, 0, sizeof b);
	/* short header */
	T_ASSERT(expect_proto(&b, 7, -1, -1));
	/* length field larger than the datagram */
	b.h.type = MSG_LOGLEVEL; b.h.len = 8;
	T_ASSERT(expect_proto(&b, sizeof b.h + 4, -1, -1));
	/* length field smaller than the datagram */
	T_ASSERT(expect_proto(&b, sizeof b.h + 12, -1, -1));
	/* wrong size for a fixed-size type */
	b.h.len = 4;
	T_ASSERT(expect_proto(&b, sizeof b.h + 4, -1, -1));
	/* unknown types, including 0 and huge */
	b.h.len = 0; b.h.type = MSG_TYPE_COUNT;
	T_ASSERT(expect_proto(&b, sizeof b.h, -1, -1));
	b.h.type = 0;
	T_ASSERT(expect_proto(&b, sizeof b.h, -1, -1));
	b.h.type = 0xffffffffu;
	T_ASSERT(expect_proto(&b, sizeof b.h, -1, -1));
	/* an fd where none is allowed is refused (and closed) */
	b.h.type = MSG_SHUTDOWN; b.h.len = 0;
	T_ASSERT(expect_proto(&b, sizeof b.h, fd, -1));
	/* a required fd missing */
	b.h.type = MSG_QUEUES; b.h.len = sizeof(struct msg_queues);
	T_ASSERT(expect_proto(&b, sizeof b.h + sizeof(struct msg_queues), -1, -1));
	/* a daemon may not send what only the supervisor sends */
	b.h.type = MSG_SHUTDOWN; b.h.len = 0;
	T_ASSERT(expect_proto(&b, sizeof b.h, -1, PROC_NATD));
	/* ... but the supervisor may */
	{
		const char *why;
		int sv[2];
		pair(sv);
		raw_send(sv[0], &b, sizeof b.h, -1);
		T_EQ_INT(msg_recv(sv[1], &m, PROC_MOAT, &why), 1);
		close(sv[0]);
		close(sv[1]);
	}
	close(fd);
}

static void
test_oversized_datagram(void)
{
	static uint8_t big[MSG_MAX_PAYLOAD + 64];
	struct msg_hdr *h = (struct msg_hdr *)big;
	int sv[2], sz = 1 << 20;
	const char *why;

	pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	h->type = MSG_LOGLEVEL;
	h->len = sizeof big - sizeof *h;
	raw_send(sv[0], big, sizeof big, -1);
	T_EQ_INT(msg_recv(sv[1], &m, -1, &why), MSG_EPROTO);
	close(sv[0]);
	close(sv[1]);
}

/* MSG_CLIENTS is the one variable-size type: its count must fill its
 * length exactly, checked once by msg_recv (and msg_send) for every
 * receiver, so no daemon reads entries the sender did not send. */
static void
test_clients_count(void)
{
	static struct { struct msg_hdr h; struct msg_clients c; } b;
	const struct msg_clients *got;
	const char *why;
	int sv[2];

	memset(&b, 0, sizeof b);
	b.h.type = MSG_CLIENTS;
	b.c.count = 2;
	b.c.c[0].ip = 0x0500890a;
	b.c.c[1].ip = 0x0900890a;
	/* exactly two entries: accepted, and read through the accessor */
	b.h.len = 8 + 2 * 16;
	pair(sv);
	raw_send(sv[0], &b, sizeof b.h + b.h.len, -1);
	T_EQ_INT(msg_recv(sv[1], &m, PROC_AGENTD, &why), 1);
	T_ASSERT((got = msg_get_clients(&m)) != NULL);
	T_EQ_INT(got->count, 2);
	T_EQ_INT(got->c[1].ip, 0x0900890a);
	close(sv[0]);
	close(sv[1]);
	/* a count larger than the entries sent: the receiver would read past
	 * them */
	b.h.len = 8 + 1 * 16;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	/* a count smaller than the entries sent */
	b.h.len = 8 + 3 * 16;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	/* not a whole entry, and shorter than the count itself */
	b.h.len = 8 + 2 * 16 + 4;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	b.h.len = 2;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	/* a count over the maximum, with a length that matches it */
	b.c.count = CLIENTS_MAX + 1;
	b.h.len = 8 + 2 * 16;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	/* the sender's side refuses the same lie */
	b.c.count = 3;
	pair(sv);
	errno = 0;
	T_EQ_INT(msg_send(sv[0], MSG_CLIENTS, 0, &b.c, 8 + 2 * 16, -1), -1);
	T_EQ_INT(errno, EINVAL);
	b.c.count = 0;
	T_EQ_INT(msg_send(sv[0], MSG_CLIENTS, 0, &b.c, 8, -1), 0);
	close(sv[0]);
	close(sv[1]);
	/* another type has no client list */
	m.hdr.type = MSG_LINK;
	T_ASSERT(msg_get_clients(&m) == NULL);
}

/* MSG_CLIENTS6: the same exactness for the IPv6 list. */
static void
test_clients6_count(void)
{
	static struct { struct msg_hdr h; struct msg_clients6 c; } b;
	const struct msg_clients6 *got;
	const char *why;
	int sv[2];

	memset(&b, 0, sizeof b);
	b.h.type = MSG_CLIENTS6;
	b.c.count = 2;
	b.c.c[1].ip[0] = 0xfd;
	b.c.c[1].ip[15] = 9;
	b.h.len = 8 + 2 * 52;
	pair(sv);
	raw_send(sv[0], &b, sizeof b.h + b.h.len, -1);
	T_EQ_INT(msg_recv(sv[1], &m, PROC_AGENTD, &why), 1);
	T_ASSERT((got = msg_get_clients6(&m)) != NULL);
	T_EQ_INT(got->count, 2);
	T_EQ_INT(got->c[1].ip[15], 9);
	T_ASSERT(msg_get_clients(&m) == NULL);
	close(sv[0]);
	close(sv[1]);
	b.h.len = 8 + 1 * 52;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	b.h.len = 8 + 3 * 52;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	b.h.len = 8 + 2 * 16;	/* an IPv4 list's length */
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	b.c.count = CLIENTS6_MAX + 1;
	b.h.len = 8 + 2 * 52;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_AGENTD));
	/* only agentd (and the supervisor replaying it) may send it */
	b.c.count = 0;
	b.h.len = 8;
	T_ASSERT(expect_proto(&b, sizeof b.h + b.h.len, -1, PROC_NATD));
	m.hdr.type = MSG_CLIENTS;
	T_ASSERT(msg_get_clients6(&m) == NULL);
}

int
main(void)
{
	T_RUN(test_table_complete);
	T_RUN(test_roundtrip);
	T_RUN(test_fd_passing);
	T_RUN(test_malformed);
	T_RUN(test_oversized_datagram);
	T_RUN(test_clients_count);
	T_RUN(test_clients6_count);
	return t_done();
}
