/*
 * test_qrexec_agent: agentd's qrexec agent over socket vchans, with this
 * test playing dom0's qrexec-daemon and qrexec-client byte for byte
 * (qubes-protocols.md §3, qubes-observed.md §3): the HELLO, each call's
 * data channel, the answer order, and CONNECTION_TERMINATED after every
 * call; plus what a hostile dom0 or caller may send.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "t.h"
#include "agentd/agentd.h"
#include "agentd/agentd_qx.h"
#include "agentd/vchan.h"
#include "log.h"
#include "util.h"

static char dir[] = "/tmp/test_qrexec.XXXXXX";
static struct vchan_env env;
static struct qx *qx;
static int ctl = -1;

/* what agentd sent the supervisor */
static struct msg_call req;
static int nreq, reqfd = -1;

/* what agentd answered for its own call to dom0 */
static struct msg_dom0_result res;
static char resout[64];
static int nres;

static int
record(void *arg, uint32_t type, const void *p, size_t len, int fd)
{
	if (type == MSG_DOM0_RESULT) {
		char *b;
		size_t bl = 0;

		if (len != sizeof(res) || fd < 0)
			abort();
		memcpy(&res, p, len);
		memset(resout, 0, sizeof(resout));
		if ((b = memfd_read(fd, 1 << 21, &bl)) == NULL ||
		    bl != res.out_len)
			abort();
		memcpy(resout, b, bl < sizeof(resout) - 1 ? bl :
		    sizeof(resout) - 1);
		free(b);
		nres++;
		return 0;
	}
	if (type != MSG_SVC_REQ || len != sizeof(req) || fd < 0)
		abort();
	memcpy(&req, p, len);
	nreq++;
	if (reqfd != -1)
		close(reqfd);
	reqfd = dup(fd);
	return 0;
}

/* One round of agentd's loop (what agentd.c does). */
static void
spin(int ms)
{
	struct pollset ps;
	int i;

	pollset_init(&ps);
	qx_poll(qx, &ps);
	if (ps.timeout_ms == -1 || ps.timeout_ms > ms)
		ps.timeout_ms = ms;
	if (poll(ps.pfd, (nfds_t)ps.n, ps.timeout_ms) > 0)
		for (i = 0; i < ps.n; i++)
			if (ps.pfd[i].revents)
				ps.cb[i](ps.arg[i], ps.pfd[i].revents);
	qx_tick(qx);
}

/* Read exactly n bytes from fd while running agentd. */
static int
rd(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;
	int rounds;

	for (rounds = 0; got < n && rounds < 2000; rounds++) {
		r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		spin(5);
	}
	return got == n ? 0 : -1;
}

/* 1 if the peer closed fd (after spinning agentd a while). */
static int
closed(int fd)
{
	char c;
	int i;

	for (i = 0; i < 400; i++) {
		ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);

		if (r == 0 || (r == -1 && errno != EAGAIN))
			return 1;
		if (r == 1)
			return 0;
		spin(5);
	}
	return 0;
}

static int
unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, i;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	for (i = 0; i < 100; i++) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		spin(5);
	}
	close(fd);
	return -1;
}

static int
unix_listen(int server, int client, int port)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	vchan_socket_path(dir, server, client, port, sun.sun_path,
	    sizeof(sun.sun_path));
	unlink(sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 1) == -1)
		abort();
	return fd;
}

static int
accept_spin(int lfd)
{
	int fd, i;

	for (i = 0; i < 400; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd >= 0)
			return fd;
		spin(5);
	}
	return -1;
}

static void
put(int fd, const void *b, size_t n)
{
	if (write_all(fd, b, n) != (ssize_t)n)
		abort();
}

static void
put_msg(int fd, uint32_t type, const void *body, uint32_t len)
{
	uint8_t h[8];

	qx_put_hdr(h, type, len);
	put(fd, h, 8);
	if (len)
		put(fd, body, len);
}

static const uint8_t HELLO[12] = {
	0x00, 0x03, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00 };

/* dom0's qrexec-daemon connects: the agent speaks first. */
static void
test_hello(void)
{
	char path[256];
	uint8_t b[12];

	vchan_socket_path(dir, 5, 0, 512, path, sizeof(path));
	ctl = unix_connect(path);
	T_ASSERT(ctl >= 0);
	T_ASSERT(rd(ctl, b, 12) == 0);
	T_EQ_MEM(b, HELLO, 12);
	/* the daemon writes header and body separately */
	put(ctl, HELLO, 8);
	spin(5);
	put(ctl, HELLO + 8, 4);
	spin(5);
	spin(5);
	T_EQ_INT(qx->cstate, CTL_RUN);
}

static void
exec_cmd(uint32_t type, uint32_t dom, uint32_t port, const char *cmd)
{
	uint8_t b[600];
	size_t n = strlen(cmd) + 1;

	qx_put_u32(b, dom);
	qx_put_u32(b + 4, port);
	memcpy(b + 8, cmd, n);
	put_msg(ctl, type, b, (uint32_t)(8 + n));
}

/* The CONNECTION_TERMINATED that must follow every call. */
static int
expect_terminated(uint32_t dom, uint32_t port)
{
	uint8_t b[16], want[16];

	qx_put_hdr(want, 0x211, 8);
	qx_put_u32(want + 8, dom);
	qx_put_u32(want + 12, port);
	if (rd(ctl, b, 16) == -1)
		return -1;
	return memcmp(b, want, 16) == 0 ? 0 : -1;
}

/* A data channel as qrexec-client serves it: returns the connection,
 * after both HELLOs. */
static int
data_open(int server, int port, int lfd)
{
	uint8_t b[12];
	int fd;

	(void)server;
	(void)port;
	fd = accept_spin(lfd);
	if (fd < 0)
		return -1;
	put(fd, HELLO, 12);
	if (rd(fd, b, 12) == -1 || memcmp(b, HELLO, 12) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
test_wait_for_session(void)
{
	static const uint8_t want[] = {
		0x91, 0x01, 0, 0, 0, 0, 0, 0,		/* STDOUT EOF */
		0x92, 0x01, 0, 0, 0, 0, 0, 0,		/* STDERR EOF */
		0x93, 0x01, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, /* EXIT_CODE 0 */
	};
	uint8_t b[sizeof(want)];
	int lfd, fd;

	lfd = unix_listen(0, 5, 513);
	exec_cmd(0x200, 0, 513, "user:QUBESRPC qubes.WaitForSession dom0");
	fd = data_open(0, 513, lfd);
	T_ASSERT(fd >= 0);
	put_msg(fd, 0x190, "user", 4);	/* stdin: the default user */
	put_msg(fd, 0x190, NULL, 0);
	T_ASSERT(rd(fd, b, sizeof(b)) == 0);
	T_EQ_MEM(b, want, sizeof(want));
	T_ASSERT(closed(fd));
	T_EQ_INT(expect_terminated(0, 513), 0);
	T_EQ_INT(qx->nactive, 0);
	close(fd);
	close(lfd);
}

/* Read one data message; returns its type, body in b (len in *len). */
static int
data_msg(int fd, uint8_t *b, uint32_t *len)
{
	uint8_t h[8];

	if (rd(fd, h, 8) == -1)
		return -1;
	*len = qx_get_u32(h + 4);
	if (*len > 65536 || (*len && rd(fd, b, *len) == -1))
		return -1;
	return (int)qx_get_u32(h);
}

/* Collect a whole answer: stdout, stderr, exit code; checks the order. */
static int
answer(int fd, char *out, size_t *outlen, char *err, size_t *errlen)
{
	static uint8_t b[65536];
	uint32_t len = 0;
	int t, phase = 0;

	*outlen = *errlen = 0;
	for (;;) {
		t = data_msg(fd, b, &len);
		if (t == 0x191 && phase == 0) {
			if (len == 0)
				phase = 1;
			memcpy(out + *outlen, b, len);
			*outlen += len;
		} else if (t == 0x192 && phase == 1) {
			if (len == 0)
				phase = 2;
			memcpy(err + *errlen, b, len);
			*errlen += len;
		} else if (t == 0x193 && phase == 2 && len == 4)
			return (int)qx_get_u32(b);
		else {
			printf("# unexpected 0x%x len %u in phase %d\n", t, len,
			    phase);
			return -1;
		}
	}
}

static void
test_refused(void)
{
	static const char *cmds[] = {
		"user:QUBESRPC qubes.VMShell dom0",
		"user:QUBESRPC qubes.SetMonitorLayout dom0",
		"user:ls -l /",
		"user:QUBESRPC moat. dom0",
		"user:QUBESRPC bad/name dom0",
	};
	static char out[1024], err[1024];
	size_t ol, el, i;
	int lfd, fd;

	for (i = 0; i < nitems(cmds); i++) {
		lfd = unix_listen(0, 5, 513);
		exec_cmd(0x200, 0, 513, cmds[i]);
		fd = data_open(0, 513, lfd);
		T_ASSERT(fd >= 0);
		put_msg(fd, 0x190, "ls; exit\n", 9);
		T_EQ_INT(answer(fd, out, &ol, err, &el), 127);
		T_EQ_INT(ol, 0);
		err[el] = '\0';
		T_ASSERT(strstr(err, "moat: ") == err);
		if (i == 0)
			T_ASSERT(strstr(err, "qubes.VMShell is not available") != NULL);
		T_EQ_INT(expect_terminated(0, 513), 0);
		close(fd);
		close(lfd);
	}
	T_EQ_INT(nreq, 0);
}

static void
reply(uint32_t callid, int32_t status, const char *out, const char *err)
{
	static struct msg m;
	struct msg_call_done d;
	char buf[256];

	memset(&d, 0, sizeof(d));
	d.callid = callid;
	d.status = status;
	d.out_len = (uint32_t)strlen(out);
	d.err_len = (uint32_t)strlen(err);
	snprintf(buf, sizeof(buf), "%s%s", out, err);
	memset(&m.hdr, 0, sizeof(m.hdr));
	m.hdr.type = MSG_SVC_REPLY;
	m.hdr.len = sizeof(d);
	memcpy(m.data, &d, sizeof(d));
	m.fd = memfd_from("reply", buf, strlen(buf));
	qx_svc_done(qx, &m);
}

static void
test_moat_service(void)
{
	static const uint8_t want[] = {
		0x91, 0x01, 0, 0, 3, 0, 0, 0, 'o', 'u', 't',
		0x91, 0x01, 0, 0, 0, 0, 0, 0,
		0x92, 0x01, 0, 0, 2, 0, 0, 0, 'e', 'r',
		0x92, 0x01, 0, 0, 0, 0, 0, 0,
		0x93, 0x01, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0,
	};
	uint8_t b[sizeof(want)];
	char *in;
	size_t len;
	int lfd, fd, n0 = nreq;

	lfd = unix_listen(0, 5, 513);
	exec_cmd(0x200, 0, 513, "user:QUBESRPC moat.Echo+arg1 dom0");
	fd = data_open(0, 513, lfd);
	T_ASSERT(fd >= 0);
	put_msg(fd, 0x190, "hel", 3);
	put_msg(fd, 0x190, "lo", 2);
	spin(5);
	T_EQ_INT(nreq, n0);	/* nothing until stdin's EOF */
	put_msg(fd, 0x190, NULL, 0);
	for (int i = 0; i < 100 && nreq == n0; i++)
		spin(5);
	T_EQ_INT(nreq, n0 + 1);
	T_EQ_STR(req.service, "moat.Echo");
	T_EQ_STR(req.arg, "arg1");
	T_EQ_STR(req.source, "dom0");
	T_EQ_INT(req.in_len, 5);
	in = memfd_read(reqfd, SVC_MAX_INPUT, &len);
	T_ASSERT(in != NULL);
	T_EQ_INT(len, 5);
	T_EQ_MEM(in, "hello", 5);
	free(in);
	/* a reply for another call id is not ours */
	reply(req.callid + 100, 0, "x", "");
	spin(5);
	reply(req.callid, 7, "out", "er");
	T_ASSERT(rd(fd, b, sizeof(b)) == 0);
	T_EQ_MEM(b, want, sizeof(want));
	T_ASSERT(closed(fd));
	T_EQ_INT(expect_terminated(0, 513), 0);
	close(fd);
	close(lfd);
}

/* A call from another VM: its domain serves the data vchan and its name
 * is the source. */
static void
test_vm_source(void)
{
	static char out[64], err[256];
	size_t ol, el;
	int lfd, fd, n0 = nreq;

	lfd = unix_listen(7, 5, 514);
	exec_cmd(0x200, 7, 514, "user:QUBESRPC moat.Stats+ work");
	fd = data_open(7, 514, lfd);
	T_ASSERT(fd >= 0);
	put_msg(fd, 0x190, NULL, 0);
	for (int i = 0; i < 100 && nreq == n0; i++)
		spin(5);
	T_EQ_INT(nreq, n0 + 1);
	T_EQ_STR(req.source, "work");
	T_EQ_STR(req.arg, "");
	T_EQ_INT(req.in_len, 0);
	reply(req.callid, 300, "", "");
	/* an exit code is a status byte for qrexec-client, but we pass on
	 * what the service said */
	T_EQ_INT(answer(fd, out, &ol, err, &el), 300);
	T_EQ_INT(expect_terminated(7, 514), 0);
	close(fd);
	close(lfd);
}

static void
test_input_limit(void)
{
	static uint8_t chunk[65536];
	static char out[64], err[256];
	size_t ol, el;
	int lfd, fd, i, n0 = nreq;

	lfd = unix_listen(0, 5, 513);
	exec_cmd(0x200, 0, 513, "user:QUBESRPC moat.Echo dom0");
	fd = data_open(0, 513, lfd);
	T_ASSERT(fd >= 0);
	memset(chunk, 'i', sizeof(chunk));
	/* 1 MiB is fine, one byte more is not */
	for (i = 0; i < 16; i++) {
		put_msg(fd, 0x190, chunk, sizeof(chunk));
		spin(1);
	}
	put_msg(fd, 0x190, chunk, 1);
	T_EQ_INT(answer(fd, out, &ol, err, &el), 125);
	err[el] = '\0';
	T_ASSERT(strstr(err, "input too large") != NULL);
	T_EQ_INT(nreq, n0);
	T_EQ_INT(expect_terminated(0, 513), 0);
	close(fd);
	close(lfd);
}

static void
test_hostile_caller(void)
{
	uint8_t h[8];
	int lfd, fd;

	/* a chunk over 65536: the call is dropped, the port still freed */
	lfd = unix_listen(0, 5, 513);
	exec_cmd(0x200, 0, 513, "user:QUBESRPC moat.Echo dom0");
	fd = data_open(0, 513, lfd);
	T_ASSERT(fd >= 0);
	qx_put_hdr(h, 0x190, 65537);
	put(fd, h, 8);
	T_ASSERT(closed(fd));
	T_EQ_INT(expect_terminated(0, 513), 0);
	close(fd);
	/* a wrong HELLO */
	exec_cmd(0x200, 0, 513, "user:QUBESRPC moat.Echo dom0");
	fd = accept_spin(lfd);
	T_ASSERT(fd >= 0);
	T_ASSERT(rd(fd, h, 8) == 0 && rd(fd, h, 4) == 0);	/* its HELLO */
	put_msg(fd, 0x190, "x", 1);
	T_ASSERT(closed(fd));
	T_EQ_INT(expect_terminated(0, 513), 0);
	close(fd);
	/* the caller leaves in the middle */
	exec_cmd(0x200, 0, 513, "user:QUBESRPC moat.Echo dom0");
	fd = data_open(0, 513, lfd);
	T_ASSERT(fd >= 0);
	put_msg(fd, 0x190, "abc", 3);
	close(fd);
	T_EQ_INT(expect_terminated(0, 513), 0);
	T_EQ_INT(qx->nactive, 0);
	close(lfd);
}

static void
test_hostile_dom0(void)
{
	char path[256];
	uint8_t b[64], h[8];
	static char out[64], err[256];
	size_t ol, el;
	int lfd, fd;

	/* unknown types and answers to calls we never made are skipped */
	memset(b, 0, sizeof(b));
	put_msg(ctl, 0x999, b, 4);
	put_msg(ctl, 0x203, b, 32);
	/* a command line without its NUL is ignored */
	qx_put_u32(b + 4, 513);
	memcpy(b + 8, "user:QUBESRPC x dom0", 20);
	put_msg(ctl, 0x200, b, 28);
	spin(5);
	T_EQ_INT(qx->nactive, 0);
	T_EQ_INT(qx->cstate, CTL_RUN);
	/* and the channel is still in step */
	lfd = unix_listen(0, 5, 515);
	exec_cmd(0x200, 0, 515, "user:QUBESRPC qubes.WaitForSession dom0");
	fd = data_open(0, 515, lfd);
	T_ASSERT(fd >= 0);
	T_EQ_INT(answer(fd, out, &ol, err, &el), 0);
	T_EQ_INT(expect_terminated(0, 515), 0);
	close(fd);
	close(lfd);
	/* an absurd length: the agent drops dom0 and waits for it again */
	qx_put_hdr(h, 0x200, 0x10000000);
	put(ctl, h, 8);
	T_ASSERT(closed(ctl));
	close(ctl);
	T_EQ_INT(qx->cstate, CTL_WAITING);
	vchan_socket_path(dir, 5, 0, 512, path, sizeof(path));
	ctl = unix_connect(path);
	T_ASSERT(ctl >= 0);
	T_ASSERT(rd(ctl, b, 12) == 0);
	T_EQ_MEM(b, HELLO, 12);
	put(ctl, HELLO, 12);
	spin(5);
	T_EQ_INT(qx->cstate, CTL_RUN);
}

/* JUST_EXEC: only an exit code, right after the handshake. */
static void
test_just_exec(void)
{
	static const uint8_t want[] = {
		0x93, 0x01, 0, 0, 4, 0, 0, 0, 0x7f, 0, 0, 0 };
	uint8_t b[sizeof(want)];
	int lfd, fd;

	lfd = unix_listen(0, 5, 513);
	exec_cmd(0x201, 0, 513, "user:QUBESRPC qubes.VMShell dom0");
	fd = data_open(0, 513, lfd);
	T_ASSERT(fd >= 0);
	T_ASSERT(rd(fd, b, sizeof(b)) == 0);
	T_EQ_MEM(b, want, sizeof(want));
	T_EQ_INT(expect_terminated(0, 513), 0);
	close(fd);
	close(lfd);
}

/* Many calls in a row: every port comes back, nothing stays allocated. */
static void
test_many(void)
{
	static char out[64], err[256];
	size_t ol, el;
	int i, lfd, fd;

	for (i = 0; i < 300; i++) {
		lfd = unix_listen(0, 5, 513 + i % 256);
		exec_cmd(0x200, 0, 513 + i % 256,
		    "user:QUBESRPC qubes.WaitForSession dom0");
		fd = data_open(0, 513 + i % 256, lfd);
		T_ASSERT(fd >= 0);
		T_EQ_INT(answer(fd, out, &ol, err, &el), 0);
		T_EQ_INT(expect_terminated(0, 513 + i % 256), 0);
		close(fd);
		close(lfd);
	}
	T_EQ_INT(qx->nactive, 0);
}

/*
 * The supervisor's reply ends a call in the same loop round in which the
 * call's own vchan has an event already collected by poll() (dom0's EOF):
 * the event must find the call ended, not its freed vchan (this crashed
 * agentd on real Xen).
 */
static void
test_end_in_round(void)
{
	struct pollset ps;
	int lfd, fd, n0 = nreq, i, nev = 0;

	lfd = unix_listen(0, 5, 514);
	exec_cmd(0x200, 0, 514, "user:QUBESRPC moat.Stats dom0");
	fd = data_open(0, 514, lfd);
	T_ASSERT(fd >= 0);
	put_msg(fd, 0x190, NULL, 0);	/* stdin's EOF */
	for (i = 0; i < 100 && nreq == n0; i++)
		spin(5);
	T_EQ_INT(nreq, n0 + 1);
	T_ASSERT(shutdown(fd, SHUT_WR) == 0);
	/* One round by hand: poll, then the reply first, then the events. */
	pollset_init(&ps);
	qx_poll(qx, &ps);
	T_ASSERT(poll(ps.pfd, (nfds_t)ps.n, 1000) > 0);
	reply(req.callid, 0, "ok", "");
	T_EQ_INT(qx->nactive, 0);
	for (i = 0; i < ps.n; i++)
		if (ps.pfd[i].revents) {
			ps.cb[i](ps.arg[i], ps.pfd[i].revents);
			nev++;
		}
	T_ASSERT(nev > 0);
	qx_tick(qx);
	/* A vchan has no half-close: dom0's shutdown ended the call, and
	 * dom0 gets its port back. */
	T_ASSERT(closed(fd));
	T_EQ_INT(expect_terminated(0, 514), 0);
	close(fd);
	close(lfd);
}

/* agentd's TRIGGER_SERVICE3 on the control channel: its request id. */
static int
expect_trigger(char ident[32])
{
	uint8_t b[8 + 96 + 17];

	if (rd(ctl, b, sizeof(b)) == -1 || qx_get_u32(b) != 0x212 ||
	    qx_get_u32(b + 4) != 96 + 17 || strcmp((char *)b + 8, "@adminvm") != 0 ||
	    memcmp(b + 8 + 96, "moat.StoredRules", 17) != 0)
		return -1;
	memcpy(ident, b + 8 + 64, 32);
	return 0;
}

static void
connect_msg(uint32_t port, const char *ident)
{
	uint8_t b[40] = { 0 };

	qx_put_u32(b, 0);
	qx_put_u32(b + 4, port);
	memcpy(b + 8, ident, strlen(ident));
	put_msg(ctl, 0x202, b, 40);
}

/* agentd's own call to dom0 (moat.StoredRules), with this test as dom0's
 * daemon and service (qubes-observed.md 4): refused; answered (dom0
 * connects to the vchan agentd serves, waits for its HELLO, answers
 * stderr EOF first); an answer for another id; a hostile answer. */
static void
test_dom0_call(void)
{
	char ident[32], path[256];
	uint8_t b[20], code[4] = { 0 };
	int fd, i, n0;

	/* refused by dom0's policy */
	n0 = nres;
	qx_dom0_call(qx, "moat.StoredRules");
	T_ASSERT(expect_trigger(ident) == 0);
	T_EQ_STR(ident, "moat-1");
	T_EQ_INT(ident[31], 0);
	put_msg(ctl, 0x203, ident, 32);
	for (i = 0; i < 100 && nres == n0; i++)
		spin(5);
	T_EQ_INT(nres, n0 + 1);
	T_EQ_INT(res.status, DOM0_REFUSED);
	T_EQ_INT(qx->out.state, OUT_NONE);

	/* answered */
	n0 = nres;
	qx_dom0_call(qx, "moat.StoredRules");
	T_ASSERT(expect_trigger(ident) == 0);
	T_EQ_STR(ident, "moat-2");
	/* a CONNECT for an id that is not ours: its port goes back */
	connect_msg(700, "moat-1");
	T_EQ_INT(expect_terminated(0, 700), 0);
	T_EQ_INT(nres, n0);
	connect_msg(600, ident);
	vchan_socket_path(dir, 5, 0, 600, path, sizeof(path));
	fd = unix_connect(path);
	T_ASSERT(fd >= 0);
	/* dom0 says nothing until the VM's HELLO; then stdin's EOF */
	T_ASSERT(rd(fd, b, 20) == 0);
	T_EQ_MEM(b, HELLO, 12);
	T_EQ_INT(qx_get_u32(b + 12), 0x190);
	T_EQ_INT(qx_get_u32(b + 16), 0);
	put(fd, HELLO, 12);
	put_msg(fd, 0x192, NULL, 0);
	put_msg(fd, 0x191, "{\"version\": 1,", 14);
	put_msg(fd, 0x191, " \"rules\": []}", 14);
	put_msg(fd, 0x191, NULL, 0);
	put_msg(fd, 0x193, code, 4);
	for (i = 0; i < 100 && nres == n0; i++)
		spin(5);
	T_EQ_INT(nres, n0 + 1);
	T_EQ_INT(res.status, DOM0_ANSWERED);
	T_EQ_INT(res.exit_code, 0);
	T_EQ_STR(resout, "{\"version\": 1, \"rules\": []}");
	T_EQ_INT(expect_terminated(0, 600), 0);
	T_ASSERT(closed(fd));
	close(fd);

	/* a chunk over the protocol's limit ends the call, reported failed */
	n0 = nres;
	qx_dom0_call(qx, "moat.StoredRules");
	T_ASSERT(expect_trigger(ident) == 0);
	connect_msg(601, ident);
	vchan_socket_path(dir, 5, 0, 601, path, sizeof(path));
	fd = unix_connect(path);
	T_ASSERT(fd >= 0);
	T_ASSERT(rd(fd, b, 20) == 0);
	put(fd, HELLO, 12);
	put_msg(fd, 0x191, NULL, 0);
	{
		uint8_t h[8];

		qx_put_hdr(h, 0x191, 70000);
		put(fd, h, 8);
	}
	for (i = 0; i < 100 && nres == n0; i++)
		spin(5);
	T_EQ_INT(nres, n0 + 1);
	T_EQ_INT(res.status, DOM0_FAILED);
	T_EQ_INT(expect_terminated(0, 601), 0);
	close(fd);

	/* dom0's daemon restarts before answering: the trigger is sent
	 * again on the new connection */
	qx_dom0_call(qx, "moat.StoredRules");
	T_ASSERT(expect_trigger(ident) == 0);
	close(ctl);
	for (i = 0; i < 20; i++)
		spin(5);
	vchan_socket_path(dir, 5, 0, 512, path, sizeof(path));
	ctl = unix_connect(path);
	T_ASSERT(ctl >= 0);
	T_ASSERT(rd(ctl, b, 12) == 0);
	put(ctl, HELLO, 12);
	T_ASSERT(expect_trigger(path) == 0);
	T_EQ_STR(path, ident);
	n0 = nres;
	put_msg(ctl, 0x203, ident, 32);
	for (i = 0; i < 100 && nres == n0; i++)
		spin(5);
	T_EQ_INT(res.status, DOM0_REFUSED);
}

int
main(void)
{
	log_init("test", LOG_LVL_ERROR);
	if (mkdtemp(dir) == NULL)
		abort();
	env.kind = VCHAN_SOCKET;
	env.domid = 5;
	snprintf(env.dir, sizeof(env.dir), "%s", dir);
	qx = qx_new(&env, record, NULL);
	if (qx == NULL)
		abort();
	T_RUN(test_hello);
	T_RUN(test_wait_for_session);
	T_RUN(test_refused);
	T_RUN(test_moat_service);
	T_RUN(test_vm_source);
	T_RUN(test_input_limit);
	T_RUN(test_hostile_caller);
	T_RUN(test_hostile_dom0);
	T_RUN(test_just_exec);
	T_RUN(test_many);
	T_RUN(test_end_in_round);
	T_RUN(test_dom0_call);
	qx_free(qx);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# cleanup of %s failed\n", dir);
	}
	return t_done();
}
