/*
 * agentd_qrexec.c: the qrexec agent (protocol 3).
 *
 * agentd is the vchan server on port 512 for dom0's qrexec-daemon. Both
 * sides say HELLO; then dom0 sends EXEC_CMDLINE {domain, port,
 * "user:QUBESRPC svc+arg source"} for each call (from dom0 itself or,
 * after dom0's policy allowed it, from another VM named by source). For
 * each call agentd connects to the caller's data vchan (as client of
 * (domain, port)), says HELLO, reads stdin, and answers in the order
 * qrexec expects: stdout data, stdout EOF, stderr data, stderr EOF, the
 * exit code (>= 0: dom0 reads a negative one as "none yet"). Then it
 * closes the data vchan and sends CONNECTION_TERMINATED {domain, port} on
 * the control channel: without it dom0 never frees the port, and after
 * 256 calls it has none left.
 *
 * Services:
 *   moat.*                forwarded to the supervisor: MSG_SVC_REQ with the
 *                         input in a memfd (at most 1 MiB), answered by
 *                         MSG_SVC_REPLY with stdout+stderr in a memfd;
 *   qubes.WaitForSession  exit 0 (dom0's qvm-run asks before each command);
 *   anything else         exit 127 with a line on stderr: this VM has no
 *                         shell and runs no commands (qubes.VMShell too).
 *
 * Our own call to dom0 (MSG_DOM0_CALL) is in agentd_qrexec_out.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd.h"
#include "agentd_qx.h"
#include "log.h"
#include "util.h"
#include "vchan.h"

#define CTL_RING		65536	/* lets dom0 send command lines up to 64 KiB */

static void	qx_ctl_service(struct qx *qx);
static void	call_service(struct qx *qx, struct qx_call *c);

void
qx_ctl_queue(struct qx *qx, uint32_t type, const void *body, uint32_t len)
{
	if (qx->coutlen + QX_HDR_LEN + len > sizeof(qx->cout)) {
		log_rl(LOG_LVL_WARN, "qrexec: dom0 is not reading its control "
		    "channel: dropping message 0x%x", type);
		return;
	}
	qx_put_hdr(qx->cout + qx->coutlen, type, len);
	if (len)
		memcpy(qx->cout + qx->coutlen + QX_HDR_LEN, body, len);
	qx->coutlen += QX_HDR_LEN + len;
}

struct qx *
qx_new(const struct vchan_env *env, agentd_send_fn *send, void *arg)
{
	struct qx *qx;

	if ((qx = calloc(1, sizeof(*qx))) == NULL)
		return NULL;
	qx->env = env;
	qx->send = send;
	qx->arg = arg;
	qx->next_callid = 1;
	qx->ctl = vchan_server(env, 0, QX_CTRL_PORT, CTL_RING, CTL_RING);
	if (qx->ctl == NULL) {
		log_warn("qrexec: vchan server on port %d", QX_CTRL_PORT);
		free(qx);
		return NULL;
	}
	return qx;
}

static void
call_free(struct qx_call *c)
{
	vchan_close(c->v);
	free(c->in);
	free(c->out);
	free(c->input);
	free(c->res);
	memset(c, 0, sizeof(*c));
	c->ended = 1;
}

/* The end of every call, however it ends: dom0 gets its port back. */
static void
call_end(struct qx *qx, struct qx_call *c, const char *how)
{
	uint8_t body[8];

	log_debug("qrexec: call %u (%s from %s) %s", c->callid, c->cmd.service,
	    c->cmd.source, how);
	if (c->gen == qx->gen && qx->cstate == CTL_RUN) {
		qx_put_u32(body, c->domain);
		qx_put_u32(body + 4, c->port);
		qx_ctl_queue(qx, QX_CONNECTION_TERMINATED, body, sizeof(body));
		qx->nterminated++;
	}
	call_free(c);
	qx->nactive--;
}

/* What the call will answer, once its input (if any) is in. */
static void
call_result(struct qx_call *c, int32_t status, const char *out, size_t outlen,
    const char *err, size_t errlen)
{
	free(c->res);
	c->res = malloc(outlen + errlen + 1);
	if (c->res == NULL) {
		outlen = errlen = 0;
		status = QX_EXIT_PROBLEM;
	} else {
		if (outlen)
			memcpy(c->res, out, outlen);
		if (errlen)
			memcpy(c->res + outlen, err, errlen);
	}
	c->res_out = outlen;
	c->res_err = errlen;
	c->status = status < 0 ? QX_EXIT_PROBLEM : status;
	c->pos = 0;
	c->phase = c->just_exec ? OP_EXIT : OP_STDOUT;
	c->state = CS_OUTPUT;
	c->deadline = now_ms() + QX_IO_TIMEOUT_MS;
}

static void
call_refuse(struct qx_call *c, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
call_refuse(struct qx_call *c, int32_t status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	call_result(c, status, NULL, 0, msg, (size_t)n);
}

void
qx_exec(struct qx *qx, uint32_t domain, uint32_t port, const char *cmdline,
    int just_exec)
{
	struct qx_call *c = NULL;
	const char *why = "";
	uint8_t body[8];
	size_t i;
	int r;

	for (i = 0; i < QX_MAX_CALLS; i++)
		if (!qx->calls[i].used && !qx->calls[i].ended) {
			c = &qx->calls[i];
			break;
		}
	if (c == NULL) {
		log_rl(LOG_LVL_WARN, "qrexec: %d calls in progress, refusing "
		    "one more", QX_MAX_CALLS);
		qx_put_u32(body, domain);
		qx_put_u32(body + 4, port);
		qx_ctl_queue(qx, QX_CONNECTION_TERMINATED, body, sizeof(body));
		return;
	}
	memset(c, 0, sizeof(*c));
	c->used = 1;
	qx->nactive++;
	qx->ncalls++;
	c->callid = qx->next_callid++;
	if (qx->next_callid == 0)
		qx->next_callid = 1;
	c->gen = qx->gen;
	c->domain = domain;
	c->port = port;
	c->just_exec = just_exec;
	c->state = CS_CONNECTING;
	c->deadline = now_ms() + QX_CONNECT_TIMEOUT_MS;
	c->in = malloc(QX_DATA_MAX);
	c->out = malloc(QX_OUT_CAP);
	if (c->in == NULL || c->out == NULL) {
		log_warnx("qrexec: out of memory for a call");
		call_end(qx, c, "failed");
		return;
	}

	r = qx_parse_cmdline(cmdline, &c->cmd, &why);
	if (r == 0 && strcmp(c->cmd.service, "qubes.WaitForSession") == 0)
		c->kind = K_WAIT;
	else if (r == 0 && strncmp(c->cmd.service, "moat.", 5) == 0 &&
	    c->cmd.service[5] != '\0')
		c->kind = K_MOAT;
	else
		c->kind = K_REFUSE;
	if (r == 0)
		log_info("qrexec: call %u: %s%s%s from %s", c->callid,
		    c->cmd.service, c->cmd.arg[0] ? "+" : "", c->cmd.arg,
		    c->cmd.source);
	else {
		log_rl(LOG_LVL_WARN, "qrexec: call %u refused: %s", c->callid,
		    why);
		snprintf(c->cmd.service, sizeof(c->cmd.service), "(none)");
		snprintf(c->cmd.source, sizeof(c->cmd.source), "?");
	}
	if (r == 1)
		snprintf(c->refusal, sizeof(c->refusal), "moat: this VM runs "
		    "no commands (it has no shell); only moat.* services\n");
	else if (r == -1)
		snprintf(c->refusal, sizeof(c->refusal), "moat: malformed "
		    "service call (%s)\n", why);
	else if (c->kind == K_REFUSE) {
		char msg[sizeof(c->refusal)];

		snprintf(msg, sizeof(msg), "moat: service %s is not available "
		    "in this VM (it has no shell); only moat.* services\n",
		    c->cmd.service);
		memcpy(c->refusal, msg, sizeof(msg));
	}

	c->v = vchan_client(qx->env, (int)domain, (int)port);
	if (c->v == NULL) {
		log_warn("qrexec: data vchan to %u:%u", domain, port);
		call_end(qx, c, "failed to connect");
		return;
	}
	call_service(qx, c);
}

/* The caller's HELLO is in: decide the answer, or start reading input. */
static void
call_begin(struct qx_call *c)
{
	if (c->just_exec) {
		/* MSG_JUST_EXEC: only an exit code, right away. */
		call_result(c, c->kind == K_WAIT ? 0 : QX_EXIT_NOT_FOUND,
		    NULL, 0, NULL, 0);
		return;
	}
	switch (c->kind) {
	case K_WAIT:
		call_result(c, 0, NULL, 0, NULL, 0);
		break;
	case K_REFUSE:
		call_refuse(c, QX_EXIT_NOT_FOUND, "%s", c->refusal);
		break;
	case K_MOAT:
		c->state = CS_INPUT;
		c->deadline = now_ms() + QX_IO_TIMEOUT_MS;
		break;
	}
}

/* All input is in: hand the call to the supervisor. */
static void
call_submit(struct qx *qx, struct qx_call *c)
{
	struct msg_call mc;
	int fd;

	memset(&mc, 0, sizeof(mc));
	mc.callid = c->callid;
	mc.in_len = (uint32_t)c->input_len;
	snprintf(mc.service, sizeof(mc.service), "%s", c->cmd.service);
	snprintf(mc.arg, sizeof(mc.arg), "%s", c->cmd.arg);
	snprintf(mc.source, sizeof(mc.source), "%s", c->cmd.source);
	fd = memfd_from("moat-svc-input", c->input ? c->input : (uint8_t *)"",
	    c->input_len);
	if (fd == -1) {
		log_warn("qrexec: call %u: input memfd", c->callid);
		call_refuse(c, QX_EXIT_PROBLEM, "moat: cannot pass the input "
		    "on\n");
		return;
	}
	if (qx->send(qx->arg, MSG_SVC_REQ, &mc, sizeof(mc), fd) == -1) {
		log_warn("qrexec: call %u: SVC_REQ", c->callid);
		close(fd);
		call_refuse(c, QX_EXIT_PROBLEM, "moat: cannot reach the "
		    "supervisor\n");
		return;
	}
	close(fd);
	free(c->input);
	c->input = NULL;
	c->state = CS_REPLY;
	c->deadline = now_ms() + QX_REPLY_TIMEOUT_MS;
}

static void
call_stdin(struct qx *qx, struct qx_call *c, const uint8_t *data, uint32_t len)
{
	uint8_t *n;
	size_t cap;

	if (c->state != CS_INPUT)
		return;		/* WaitForSession's user name, or late input */
	if (len == 0) {
		call_submit(qx, c);
		return;
	}
	if (c->input_len + len > SVC_MAX_INPUT) {
		log_rl(LOG_LVL_WARN, "qrexec: call %u (%s from %s): input over "
		    "%d bytes", c->callid, c->cmd.service, c->cmd.source,
		    SVC_MAX_INPUT);
		free(c->input);
		c->input = NULL;
		call_refuse(c, QX_EXIT_PROBLEM, "moat: input too large (at "
		    "most %d bytes)\n", SVC_MAX_INPUT);
		return;
	}
	if (c->input_len + len > c->input_cap) {
		cap = c->input_cap ? c->input_cap : 4096;
		while (cap < c->input_len + len)
			cap *= 2;
		if (cap > SVC_MAX_INPUT)
			cap = SVC_MAX_INPUT;
		if ((n = realloc(c->input, cap)) == NULL) {
			call_refuse(c, QX_EXIT_PROBLEM, "moat: out of memory\n");
			return;
		}
		c->input = n;
		c->input_cap = cap;
	}
	memcpy(c->input + c->input_len, data, len);
	c->input_len += len;
}

/* Messages from the caller on the data vchan. -1: drop the call. */
static int
call_parse(struct qx *qx, struct qx_call *c)
{
	struct qx_hdr h;
	const char *why = "";
	uint32_t version;
	size_t off = 0;
	int v;

	while (qx_get_hdr(c->in + off, c->inlen - off, &h)) {
		if ((v = qx_data_check(&h, &why)) == QX_FATAL) {
			log_rl(LOG_LVL_WARN, "qrexec: call %u: %s", c->callid,
			    why);
			return -1;
		}
		if (c->inlen - off < QX_HDR_LEN + (size_t)h.len)
			break;
		if (c->state == CS_HELLO) {
			if (qx_parse_hello(&h, c->in + off + QX_HDR_LEN,
			    &version, &why) == -1) {
				log_rl(LOG_LVL_WARN, "qrexec: call %u: %s",
				    c->callid, why);
				return -1;
			}
			call_begin(c);
		} else if (v == QX_SKIP || h.type == QX_HELLO)
			log_rl(LOG_LVL_INFO, "qrexec: call %u: ignoring "
			    "message 0x%x", c->callid, h.type);
		else
			call_stdin(qx, c, c->in + off + QX_HDR_LEN, h.len);
		off += QX_HDR_LEN + h.len;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return 0;
}

/* Append the next answer messages while they fit. */
static void
call_fill(struct qx_call *c)
{
	size_t n, room;
	uint8_t code[4];

	for (;;) {
		room = QX_OUT_CAP - c->outlen;
		switch (c->phase) {
		case OP_STDOUT:
		case OP_STDERR: {
			size_t total = c->phase == OP_STDOUT ? c->res_out : c->res_err;
			const char *base = c->res + (c->phase == OP_STDOUT ? 0 : c->res_out);

			if (c->pos >= total) {
				c->phase = c->phase == OP_STDOUT ?
				    OP_STDOUT_EOF : OP_STDERR_EOF;
				continue;
			}
			n = total - c->pos;
			if (n > QX_CHUNK)
				n = QX_CHUNK;
			if (room < QX_HDR_LEN + n)
				return;
			qx_put_hdr(c->out + c->outlen, c->phase == OP_STDOUT ?
			    QX_DATA_STDOUT : QX_DATA_STDERR, (uint32_t)n);
			memcpy(c->out + c->outlen + QX_HDR_LEN, base + c->pos, n);
			c->outlen += QX_HDR_LEN + n;
			c->pos += n;
			break;
		}
		case OP_STDOUT_EOF:
		case OP_STDERR_EOF:
			if (room < QX_HDR_LEN)
				return;
			qx_put_hdr(c->out + c->outlen, c->phase == OP_STDOUT_EOF ?
			    QX_DATA_STDOUT : QX_DATA_STDERR, 0);
			c->outlen += QX_HDR_LEN;
			c->pos = 0;
			c->phase = c->phase == OP_STDOUT_EOF ? OP_STDERR : OP_EXIT;
			break;
		case OP_EXIT:
			if (room < QX_HDR_LEN + 4)
				return;
			qx_put_hdr(c->out + c->outlen, QX_DATA_EXIT_CODE, 4);
			qx_put_u32(code, (uint32_t)c->status);
			memcpy(c->out + c->outlen + QX_HDR_LEN, code, 4);
			c->outlen += QX_HDR_LEN + 4;
			c->phase = OP_DONE;
			return;
		case OP_DONE:
			return;
		}
	}
}

/* Move whatever can move on one call; end it when it is done or dead. */
static void
call_service(struct qx *qx, struct qx_call *c)
{
	ssize_t n;
	int st;

	st = vchan_state(c->v);
	if (st == VCHAN_WAITING)
		return;
	if (c->state == CS_CONNECTING && st == VCHAN_CONNECTED) {
		qx_put_hdr(c->out, QX_HELLO, 4);
		qx_put_u32(c->out + QX_HDR_LEN, QX_PROTOCOL_VERSION);
		c->outlen = QX_HDR_LEN + 4;
		c->state = CS_HELLO;
		c->deadline = now_ms() + QX_IO_TIMEOUT_MS;
	}
	/* read */
	while (st == VCHAN_CONNECTED && c->inlen < QX_DATA_MAX) {
		n = vchan_read(c->v, c->in + c->inlen, QX_DATA_MAX - c->inlen);
		if (n <= 0)
			break;
		c->inlen += (size_t)n;
		if (call_parse(qx, c) == -1) {
			call_end(qx, c, "dropped: protocol error");
			return;
		}
	}
	/* write */
	for (;;) {
		if (c->state == CS_OUTPUT)
			call_fill(c);
		if (c->outlen == 0)
			break;
		n = vchan_write(c->v, c->out, c->outlen);
		if (n <= 0)
			break;
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
		c->deadline = now_ms() + QX_IO_TIMEOUT_MS;
	}
	if (c->state == CS_OUTPUT && c->phase == OP_DONE && c->outlen == 0) {
		call_end(qx, c, "done");
		return;
	}
	if (vchan_state(c->v) == VCHAN_DISCONNECTED) {
		/* A caller that leaves while we wait for the supervisor is
		 * dropped now; the late reply finds no call and is closed. */
		call_end(qx, c, "ended by the caller");
		return;
	}
}

static void
call_event(void *arg, short revents)
{
	struct qx_call *c = arg;

	/* An earlier callback of this round (the supervisor's reply, say)
	 * may have ended the call: its vchan is gone. */
	if (!c->used)
		return;
	vchan_progress(c->v, revents);
	call_service(c->qx, c);
}

void
qx_svc_done(struct qx *qx, const struct msg *m)
{
	struct msg_call_done d;
	struct qx_call *c = NULL;
	char *buf;
	size_t len = 0, i;

	if (msg_get(m, MSG_SVC_REPLY, &d, sizeof(d)) == -1)
		fatalx("SVC_REPLY of the wrong size");
	for (i = 0; i < QX_MAX_CALLS; i++)
		if (qx->calls[i].used && qx->calls[i].callid == d.callid &&
		    qx->calls[i].state == CS_REPLY) {
			c = &qx->calls[i];
			break;
		}
	if (c == NULL) {
		log_debug("qrexec: reply for call %u, which is gone", d.callid);
		close(m->fd);
		return;
	}
	buf = memfd_read(m->fd, 2 * (size_t)SVC_MAX_OUTPUT, &len);
	close(m->fd);
	if (buf == NULL || d.out_len > SVC_MAX_OUTPUT ||
	    d.err_len > SVC_MAX_OUTPUT ||
	    (size_t)d.out_len + d.err_len > len) {
		log_warnx("qrexec: call %u: malformed reply from the "
		    "supervisor", c->callid);
		free(buf);
		call_refuse(c, QX_EXIT_PROBLEM, "moat: the service failed\n");
	} else {
		call_result(c, d.status, buf, d.out_len, buf + d.out_len,
		    d.err_len);
		free(buf);
		log_debug("qrexec: call %u: status %d, %u+%u bytes", c->callid,
		    d.status, d.out_len, d.err_len);
	}
	call_service(qx, c);
}

/* The control channel to dom0's qrexec-daemon. */
static void
ctl_reset(struct qx *qx, const char *why)
{
	log_info("qrexec: dom0 disconnected (%s); waiting for it", why);
	qx->cstate = CTL_WAITING;
	qx->cinlen = qx->coutlen = 0;
	qx->gen++;
	/* the new daemon never heard our trigger: say it again */
	if (qx->out.state == OUT_SENT)
		qx->out.state = OUT_WANT;
	if (vchan_rearm(qx->ctl) == -1)
		fatal("qrexec: cannot listen on port %d again", QX_CTRL_PORT);
}

static int
ctl_parse(struct qx *qx)
{
	struct qx_hdr h;
	const char *why = "", *cmdline;
	uint32_t version, domain, port;
	const uint8_t *body;
	size_t off = 0;
	int v;

	while (qx_get_hdr(qx->cin + off, qx->cinlen - off, &h)) {
		if ((v = qx_ctrl_check(&h, &why)) == QX_FATAL) {
			log_rl(LOG_LVL_WARN, "qrexec: from dom0: %s (type 0x%x, "
			    "%u bytes)", why, h.type, h.len);
			return -1;
		}
		if (qx->cinlen - off < QX_HDR_LEN + (size_t)h.len)
			break;
		body = qx->cin + off + QX_HDR_LEN;
		if (qx->cstate == CTL_HELLO) {
			if (qx_parse_hello(&h, body, &version, &why) == -1) {
				log_rl(LOG_LVL_WARN, "qrexec: dom0: %s", why);
				return -1;
			}
			log_info("qrexec: dom0 connected (protocol %u)",
			    version < QX_PROTOCOL_VERSION ? version :
			    QX_PROTOCOL_VERSION);
			qx->cstate = CTL_RUN;
			if (qx->out.state == OUT_WANT)
				qx_out_trigger(qx);
		} else if (h.type == QX_SERVICE_CONNECT) {
			qx_out_connect(qx, &h, body);
		} else if (h.type == QX_SERVICE_REFUSED) {
			qx_out_refused(qx, &h, body);
		} else if (v == QX_SKIP || h.type == QX_HELLO) {
			log_rl(LOG_LVL_WARN, "qrexec: from dom0: ignoring "
			    "message 0x%x (%u bytes)", h.type, h.len);
		} else if (qx_parse_exec(&h, body, &domain, &port, &cmdline,
		    &why) == -1) {
			log_rl(LOG_LVL_WARN, "qrexec: from dom0: %s", why);
		} else
			qx_exec(qx, domain, port, cmdline,
			    h.type == QX_JUST_EXEC);
		off += QX_HDR_LEN + h.len;
	}
	memmove(qx->cin, qx->cin + off, qx->cinlen - off);
	qx->cinlen -= off;
	return 0;
}

int
qx_ctl_feed(struct qx *qx, const uint8_t *buf, size_t len)
{
	size_t take;

	while (len > 0) {
		take = sizeof(qx->cin) - qx->cinlen;
		if (take > len)
			take = len;
		memcpy(qx->cin + qx->cinlen, buf, take);
		qx->cinlen += take;
		buf += take;
		len -= take;
		if (ctl_parse(qx) == -1)
			return -1;
	}
	return 0;
}

int
qx_call_feed(struct qx *qx, struct qx_call *c, const uint8_t *buf, size_t len)
{
	size_t take;

	while (len > 0 && c->used) {
		take = QX_DATA_MAX - c->inlen;
		if (take > len)
			take = len;
		memcpy(c->in + c->inlen, buf, take);
		c->inlen += take;
		buf += take;
		len -= take;
		if (call_parse(qx, c) == -1)
			return -1;
	}
	return 0;
}

static void
qx_ctl_service(struct qx *qx)
{
	ssize_t n;
	uint8_t hello[4];
	int st = vchan_state(qx->ctl);

	if (st == VCHAN_CONNECTED && qx->cstate == CTL_WAITING) {
		/* The agent speaks first (dom0 waits for our HELLO). */
		qx->cstate = CTL_HELLO;
		qx->cinlen = qx->coutlen = 0;
		qx_put_u32(hello, QX_PROTOCOL_VERSION);
		qx_ctl_queue(qx, QX_HELLO, hello, sizeof(hello));
	}
	while (st == VCHAN_CONNECTED && qx->cinlen < sizeof(qx->cin)) {
		n = vchan_read(qx->ctl, qx->cin + qx->cinlen,
		    sizeof(qx->cin) - qx->cinlen);
		if (n <= 0)
			break;
		qx->cinlen += (size_t)n;
		if (ctl_parse(qx) == -1) {
			ctl_reset(qx, "protocol error");
			return;
		}
	}
	while (qx->coutlen > 0 && vchan_state(qx->ctl) == VCHAN_CONNECTED) {
		n = vchan_write(qx->ctl, qx->cout, qx->coutlen);
		if (n <= 0)
			break;
		memmove(qx->cout, qx->cout + n, qx->coutlen - (size_t)n);
		qx->coutlen -= (size_t)n;
	}
	if (vchan_state(qx->ctl) == VCHAN_DISCONNECTED)
		ctl_reset(qx, "vchan closed");
}

static void
ctl_event(void *arg, short revents)
{
	struct qx *qx = arg;

	vchan_progress(qx->ctl, revents);
	qx_ctl_service(qx);
}

void
qx_poll(struct qx *qx, struct pollset *ps)
{
	struct qx_call *c;
	short ev;
	size_t i;
	int fd;

	fd = vchan_pollfd(qx->ctl, qx->coutlen > 0, &ev);
	if (fd >= 0)
		pollset_add(ps, fd, ev, ctl_event, qx);
	if (qx->out.state != OUT_NONE)
		pollset_timer(ps, qx->out.deadline);
	if (qx->out.state == OUT_DATA) {
		fd = vchan_pollfd(qx->out.v, qx->out.outlen > 0, &ev);
		if (fd >= 0)
			pollset_add(ps, fd, ev, qx_out_event, qx);
		else
			pollset_timer(ps, now_ms() + QX_RETRY_MS);
	}
	for (i = 0; i < QX_MAX_CALLS; i++) {
		c = &qx->calls[i];
		if (!c->used)
			continue;
		c->qx = qx;
		if (c->state == CS_OUTPUT && c->outlen == 0)
			call_fill(c);
		fd = vchan_pollfd(c->v, c->outlen > 0, &ev);
		if (fd >= 0)
			pollset_add(ps, fd, ev, call_event, c);
		else
			pollset_timer(ps, now_ms() + QX_RETRY_MS);
		pollset_timer(ps, c->deadline);
	}
}

void
qx_tick(struct qx *qx)
{
	struct qx_call *c;
	uint64_t now = now_ms();
	size_t i;

	for (i = 0; i < QX_MAX_CALLS; i++) {
		c = &qx->calls[i];
		c->ended = 0;	/* the round's events are all dispatched */
		if (!c->used)
			continue;
		if (now >= c->deadline) {
			log_rl(LOG_LVL_WARN, "qrexec: call %u (%s from %s) "
			    "timed out", c->callid, c->cmd.service,
			    c->cmd.source);
			call_end(qx, c, "timed out");
			continue;
		}
		if (vchan_state(c->v) == VCHAN_WAITING) {
			vchan_progress(c->v, 0);
			call_service(qx, c);
		}
	}
	if (qx->out.state != OUT_NONE && now >= qx->out.deadline)
		qx_out_answer(qx, DOM0_FAILED, 0, "timed out");
	else if (qx->out.state == OUT_DATA &&
	    vchan_state(qx->out.v) == VCHAN_WAITING) {
		vchan_progress(qx->out.v, 0);
		qx_out_service(qx);
	}
	/* Terminations queued by call_end() go out now. */
	if (qx->coutlen > 0)
		qx_ctl_service(qx);
}

void
qx_free(struct qx *qx)
{
	size_t i;

	if (qx == NULL)
		return;
	vchan_close(qx->out.v);
	free(qx->out.in);
	free(qx->out.res);
	for (i = 0; i < QX_MAX_CALLS; i++)
		if (qx->calls[i].used)
			call_free(&qx->calls[i]);
	vchan_close(qx->ctl);
	free(qx);
}
