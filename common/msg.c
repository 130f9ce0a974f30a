/*
 * msg.c: the control-message table and the only code that moves bytes
 * between a control socket and a message struct.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "msg.h"

#define S	PB(PROC_MOAT)
#define NB	PB(PROC_NETBACKD)
#define NA	PB(PROC_NATD)
#define PO	PB(PROC_POLICYD)
#define AG	PB(PROC_AGENTD)
#define DAEMONS	(NB | NA | PO | AG)
#define FIX(t)	sizeof(struct t)
#define VAR(max)	(MSG_SZ_VAR | (max))

/*
 * One line per type: name, payload size, fd (0 none, 1 optional,
 * 2 required), who may send it, and where the supervisor forwards it
 * (0: the supervisor consumes it itself).
 */
const struct msg_spec msg_table[MSG_TYPE_COUNT] = {
	[MSG_NONE] =		{ "NONE", 0, 0, 0, 0 },
	[MSG_QUEUES] =		{ "QUEUES", FIX(msg_queues), 2, S, 0 },
	[MSG_EVENTFD] =		{ "EVENTFD", FIX(msg_eventfd), 2, S, 0 },
	[MSG_START] =		{ "START", FIX(msg_start), 0, S, 0 },
	[MSG_READY] =		{ "READY", FIX(msg_ready), 0, DAEMONS, 0 },
	[MSG_LOGLEVEL] =	{ "LOGLEVEL", FIX(msg_loglevel), 0, S, 0 },
	[MSG_SHUTDOWN] =	{ "SHUTDOWN", 0, 0, S, 0 },
	[MSG_CALL] =		{ "CALL", FIX(msg_call), 2, S, 0 },
	[MSG_CALL_DONE] =	{ "CALL_DONE", FIX(msg_call_done), 2, NA | PO | NB | AG, 0 },
	[MSG_SVC_REQ] =		{ "SVC_REQ", FIX(msg_call), 2, AG, 0 },
	[MSG_SVC_REPLY] =	{ "SVC_REPLY", FIX(msg_call_done), 2, S, 0 },
	[MSG_POWEROFF] =	{ "POWEROFF", FIX(msg_poweroff), 0, AG, 0 },
	[MSG_NETCONF] =		{ "NETCONF", FIX(msg_netconf), 0, AG | S, NB | NA | PO },
	[MSG_DEVNET_LINK] =	{ "DEVNET_LINK", FIX(msg_devnet_link), 0, S, 0 },
	[MSG_LINK] =		{ "LINK", FIX(msg_link), 0, NB | S, NA | PO },
	[MSG_QRULES_BEGIN] =	{ "QRULES_BEGIN", FIX(msg_qrules_begin), 0, AG | S, PO },
	[MSG_QRULE] =		{ "QRULE", FIX(msg_qrule), 0, AG | S, PO },
	[MSG_QRULES_END] =	{ "QRULES_END", FIX(msg_qrules_end), 0, AG | S, PO },
	[MSG_RULES_CHANGED] =	{ "RULES_CHANGED", FIX(msg_rules_changed), 0, PO | S, NA },
	[MSG_DNS_QUERY] =	{ "DNS_QUERY", FIX(msg_dns_query), 0, PO | S, NA },
	[MSG_DNS_ANSWER] =	{ "DNS_ANSWER", FIX(msg_dns_answer), 0, NA | S, PO },
	[MSG_FLOWTAB] =		{ "FLOWTAB", FIX(msg_flowtab), 2, S, 0 },
	[MSG_TEST_SYSCALL] =	{ "TEST_SYSCALL", FIX(msg_test_syscall), 0, S, 0 },
	[MSG_PEER_DIED] =	{ "PEER_DIED", FIX(msg_peer_died), 0, S, 0 },
	[MSG_TEST_RING] =	{ "TEST_RING", FIX(msg_test_ring), 0, S, 0 },
	[MSG_CLIENTS] =		{ "CLIENTS", VAR(sizeof(struct msg_clients)), 0, AG | S, NA | PO },
	[MSG_CLIENTS6] =	{ "CLIENTS6", VAR(sizeof(struct msg_clients6)), 0, AG | S, PO },
	[MSG_RULES_HOLD] =	{ "RULES_HOLD", FIX(msg_rules_hold), 0, S, 0 },
	[MSG_DOM0_CALL] =	{ "DOM0_CALL", FIX(msg_dom0_call), 0, S, 0 },
	[MSG_DOM0_RESULT] =	{ "DOM0_RESULT", FIX(msg_dom0_result), 2, AG, 0 },
	[MSG_FORWARDS] =	{ "FORWARDS", FIX(msg_forwards), 0, PO | S, NA },
	[MSG_LIMITS] =		{ "LIMITS", FIX(msg_limits), 0, PO | S, NA },
};

const char *
msg_name(uint32_t type)
{
	if (type >= MSG_TYPE_COUNT || msg_table[type].name == NULL)
		return "UNKNOWN";
	return msg_table[type].name;
}

/*
 * The payload's size against the table; for the variable-size types (the
 * client lists), also their own count, so that every receiver (the supervisor from agentd,
 * natd and policyd from the supervisor) reads a list that is exactly as
 * long as it says, checked here once rather than by each.
 */
static int
payload_ok(uint32_t type, const void *data, size_t len)
{
	uint32_t sz = msg_table[type].size, count;

	if (!(sz & MSG_SZ_VAR))
		return len == sz;
	if (len > (sz & ~MSG_SZ_VAR))
		return 0;
	if (type == MSG_CLIENTS) {
		if (len < offsetof(struct msg_clients, c))
			return 0;
		memcpy(&count, data, sizeof count);
		return count <= CLIENTS_MAX &&
		    len == offsetof(struct msg_clients, c) + count * sizeof(struct msg_client);
	}
	if (type == MSG_CLIENTS6) {
		if (len < offsetof(struct msg_clients6, c))
			return 0;
		memcpy(&count, data, sizeof count);
		return count <= CLIENTS6_MAX &&
		    len == offsetof(struct msg_clients6, c) + count * sizeof(struct msg_client6);
	}
	return 1;
}

int
msg_send(int sock, uint32_t type, uint32_t id, const void *payload,
    size_t len, int fd)
{
	struct msg_hdr h = { .type = type, .len = (uint32_t)len, .id = id };
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof h },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (type == MSG_NONE || type >= MSG_TYPE_COUNT || len > MSG_MAX_PAYLOAD ||
	    (len > 0 && payload == NULL) || !payload_ok(type, payload, len) || (fd >= 0 && msg_table[type].fd == 0) ||
	    (fd < 0 && msg_table[type].fd == 2)) {
		errno = EINVAL;
		return -1;
	}
	if (fd >= 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof cm.buf;
		cm.hdr.cmsg_level = SOL_SOCKET;
		cm.hdr.cmsg_type = SCM_RIGHTS;
		cm.hdr.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.hdr), &fd, sizeof fd);
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof h + len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* Close every descriptor a control message carried: used on rejection. */
static void
close_passed_fds(struct msghdr *mh)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < n; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
				close(fd);
			}
		}
	}
}

int
msg_recv(int sock, struct msg *m, int from, const char **why)
{
	struct iovec iov[2] = {
		{ .iov_base = &m->hdr, .iov_len = sizeof m->hdr },
		{ .iov_base = m->data, .iov_len = sizeof m->data },
	};
	union {
		struct cmsghdr	hdr;
		/* room for more than one fd, so that a peer sending two is
		 * detected (and both closed) rather than silently truncated */
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct msghdr mh = {
		.msg_iov = iov, .msg_iovlen = 2,
		.msg_control = cm.buf, .msg_controllen = sizeof cm.buf,
	};
	struct cmsghdr *c;
	const struct msg_spec *spec;
	ssize_t n;
	int nfds = 0;

	*why = NULL;
	m->fd = -1;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return MSG_AGAIN;
		*why = "recvmsg failed";
		return MSG_EIO;
	}
	if (n == 0)
		return MSG_EOF;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_passed_fds(&mh);
		*why = "message or control data truncated";
		return MSG_EPROTO;
	}
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			close_passed_fds(&mh);
			*why = "unexpected control message";
			return MSG_EPROTO;
		}
		nfds += (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfds == 1)
			memcpy(&m->fd, CMSG_DATA(c), sizeof(int));
	}
	if ((size_t)n < sizeof m->hdr) {
		*why = "short header";
		goto bad;
	}
	if (m->hdr.len != (size_t)n - sizeof m->hdr) {
		*why = "length field does not match datagram size";
		goto bad;
	}
	if (m->hdr.type == MSG_NONE || m->hdr.type >= MSG_TYPE_COUNT) {
		*why = "unknown message type";
		goto bad;
	}
	spec = &msg_table[m->hdr.type];
	if (!payload_ok(m->hdr.type, m->data, m->hdr.len)) {
		*why = "wrong payload size for type (or a list count that does not match it)";
		goto bad;
	}
	if (nfds > 1 || (nfds == 1 && spec->fd == 0)) {
		*why = "unexpected file descriptor";
		goto bad;
	}
	if (nfds == 0 && spec->fd == 2) {
		*why = "missing file descriptor";
		goto bad;
	}
	if (from >= 0 && !(spec->senders & PB(from))) {
		*why = "sender may not send this type";
		goto bad;
	}
	return 1;
bad:
	close_passed_fds(&mh);
	m->fd = -1;
	return MSG_EPROTO;
}

const struct msg_clients *
msg_get_clients(const struct msg *m)
{
	/* msg_recv checked the count against the length (payload_ok) */
	if (m->hdr.type != MSG_CLIENTS)
		return NULL;
	return (const struct msg_clients *)(const void *)m->data;
}

const struct msg_clients6 *
msg_get_clients6(const struct msg *m)
{
	if (m->hdr.type != MSG_CLIENTS6)
		return NULL;
	return (const struct msg_clients6 *)(const void *)m->data;
}

int
msg_get(const struct msg *m, uint32_t type, void *out, size_t len)
{
	if (m->hdr.type != type || m->hdr.len != len)
		return -1;
	memcpy(out, m->data, len);
	return 0;
}
