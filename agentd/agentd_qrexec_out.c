/*
 * agentd_qrexec_out.c: our own call to a dom0 service (VM -> dom0), for
 * MSG_DOM0_CALL (moat.StoredRules at start): ask dom0 on the control
 * channel, serve the data vchan dom0 connects to, and hand the answer to
 * the supervisor (MSG_DOM0_RESULT). The rest of the agent, dom0's calls
 * into the VM, is in agentd_qrexec.c.
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

/* The call's end, however it ends: the supervisor hears once. */
void
qx_out_answer(struct qx *qx, uint32_t status, int32_t code, const char *how)
{
	struct qx_out *o = &qx->out;
	struct msg_dom0_result r = { .status = status, .exit_code = code };
	uint8_t body[8];
	int fd;

	log_info("qrexec: our call %s to dom0: %s", o->service, how);
	if (o->state == OUT_DATA) {
		vchan_close(o->v);
		o->v = NULL;
		/* dom0 frees the port only when told, as for its calls */
		if (o->gen == qx->gen && qx->cstate == CTL_RUN) {
			qx_put_u32(body, o->domain);
			qx_put_u32(body + 4, o->port);
			qx_ctl_queue(qx, QX_CONNECTION_TERMINATED, body, sizeof(body));
		}
	}
	if (status == DOM0_ANSWERED)
		r.out_len = (uint32_t)o->reslen;
	fd = memfd_from("moat-dom0-out", o->res ? o->res : (uint8_t *)"",
	    r.out_len);
	if (fd == -1)
		fatal("memfd for a dom0 answer");
	if (qx->send(qx->arg, MSG_DOM0_RESULT, &r, sizeof(r), fd) == -1)
		log_warn("qrexec: DOM0_RESULT");
	close(fd);
	free(o->in);
	free(o->res);
	o->in = o->res = NULL;
	o->inlen = o->reslen = o->outlen = 0;
	o->hello = 0;
	o->state = OUT_NONE;
}

void
qx_dom0_call(struct qx *qx, const char *service)
{
	struct qx_out *o = &qx->out;

	if (o->state != OUT_NONE) {
		log_warnx("qrexec: a call to dom0 is already under way");
		/* answered for the new request; the old one runs on */
		{
			struct msg_dom0_result r = { .status = DOM0_FAILED };
			int fd = memfd_from("moat-dom0-out", "", 0);

			if (fd == -1)
				fatal("memfd for a dom0 answer");
			(void)qx->send(qx->arg, MSG_DOM0_RESULT, &r, sizeof(r), fd);
			close(fd);
		}
		return;
	}
	snprintf(o->service, sizeof(o->service), "%s", service);
	o->seq++;
	snprintf(o->ident, sizeof(o->ident), "moat-%u", o->seq);
	o->state = OUT_WANT;
	o->deadline = now_ms() + QX_DOM0_TIMEOUT_MS;
	if (qx->cstate == CTL_RUN)
		qx_out_trigger(qx);
	else
		log_info("qrexec: calling %s in dom0 once its qrexec daemon "
		    "is connected", service);
}

void
qx_out_trigger(struct qx *qx)
{
	struct qx_out *o = &qx->out;
	uint8_t msg[QX_HDR_LEN + QX_TRIGGER_FIXED + QX_MAX_SERVICE_LEN + 1];
	size_t n;

	n = qx_put_trigger(msg, sizeof(msg), "@adminvm", o->ident, o->service);
	if (n == 0) {
		qx_out_answer(qx, DOM0_FAILED, 0, "service name refused");
		return;
	}
	if (qx->coutlen + n > sizeof(qx->cout)) {
		log_rl(LOG_LVL_WARN, "qrexec: dom0 is not reading its control "
		    "channel: trigger later");
		return;
	}
	memcpy(qx->cout + qx->coutlen, msg, n);
	qx->coutlen += n;
	o->gen = qx->gen;
	o->state = OUT_SENT;
	log_info("qrexec: calling %s in dom0 (%s)", o->service, o->ident);
}

static int
out_ours(struct qx *qx, const char *ident)
{
	return qx->out.state == OUT_SENT &&
	    strncmp(ident, qx->out.ident, QX_IDENT_LEN) == 0;
}

void
qx_out_refused(struct qx *qx, const struct qx_hdr *h, const uint8_t *body)
{
	char ident[QX_IDENT_LEN];
	const char *why = "";

	if (qx_parse_refused(h, body, ident, &why) == -1 ||
	    !out_ours(qx, ident)) {
		log_rl(LOG_LVL_WARN, "qrexec: from dom0: %s", why[0] ? why :
		    "SERVICE_REFUSED for a call we did not make");
		return;
	}
	qx_out_answer(qx, DOM0_REFUSED, 0, "refused by dom0's policy");
}

void
qx_out_connect(struct qx *qx, const struct qx_hdr *h, const uint8_t *body)
{
	struct qx_out *o = &qx->out;
	char ident[QX_IDENT_LEN];
	const char *why = "";
	uint32_t domain, port;
	uint8_t b[8];

	if (qx_parse_connect(h, body, &domain, &port, ident, &why) == -1) {
		log_rl(LOG_LVL_WARN, "qrexec: from dom0: %s", why);
		return;
	}
	if (!out_ours(qx, ident)) {
		/* dom0 holds a port for it: give it back */
		log_rl(LOG_LVL_WARN, "qrexec: from dom0: SERVICE_CONNECT for a "
		    "call we did not make (port %u)", port);
		qx_put_u32(b, domain);
		qx_put_u32(b + 4, port);
		qx_ctl_queue(qx, QX_CONNECTION_TERMINATED, b, sizeof(b));
		return;
	}
	o->domain = domain;
	o->port = port;
	o->in = malloc(QX_DATA_MAX);
	o->v = o->in ? vchan_server(qx->env, (int)domain, (int)port, 65536,
	    65536) : NULL;
	o->state = OUT_DATA;	/* so that qx_out_answer frees the port */
	if (o->v == NULL) {
		log_warn("qrexec: data vchan server for %u:%u", domain, port);
		qx_out_answer(qx, DOM0_FAILED, 0, "no data vchan");
		return;
	}
	o->deadline = now_ms() + QX_CONNECT_TIMEOUT_MS;
}

/* The service's messages: stdout kept (bounded), stderr ignored, the
 * exit code ends the call. 1: ended. */
static int
out_parse(struct qx *qx)
{
	struct qx_out *o = &qx->out;
	struct qx_hdr h;
	const char *why = "";
	uint32_t version;
	size_t off = 0;
	const uint8_t *body;
	int v;

	while (qx_get_hdr(o->in + off, o->inlen - off, &h)) {
		if ((v = qx_reply_check(&h, &why)) == QX_FATAL) {
			qx_out_answer(qx, DOM0_FAILED, 0, why);
			return 1;
		}
		if (o->inlen - off < QX_HDR_LEN + (size_t)h.len)
			break;
		body = o->in + off + QX_HDR_LEN;
		off += QX_HDR_LEN + h.len;
		if (v == QX_SKIP) {
			log_rl(LOG_LVL_INFO, "qrexec: our call: ignoring "
			    "message 0x%x", h.type);
			continue;
		}
		switch (h.type) {
		case QX_HELLO:
			if (qx_parse_hello(&h, body, &version, &why) == -1) {
				qx_out_answer(qx, DOM0_FAILED, 0, why);
				return 1;
			}
			break;
		case QX_DATA_STDOUT:
			if (h.len == 0)
				break;
			if (o->reslen + h.len > DOM0_OUT_MAX) {
				qx_out_answer(qx, DOM0_FAILED, 0, "answer too large");
				return 1;
			}
			if (o->res == NULL &&
			    (o->res = malloc(DOM0_OUT_MAX)) == NULL) {
				qx_out_answer(qx, DOM0_FAILED, 0, "out of memory");
				return 1;
			}
			memcpy(o->res + o->reslen, body, h.len);
			o->reslen += h.len;
			break;
		case QX_DATA_STDERR:
			break;
		case QX_DATA_EXIT_CODE:
			qx_out_answer(qx, DOM0_ANSWERED, (int32_t)qx_get_u32(body),
			    "answered");
			return 1;
		}
	}
	memmove(o->in, o->in + off, o->inlen - off);
	o->inlen -= off;
	return 0;
}

int
qx_out_feed(struct qx *qx, const uint8_t *buf, size_t len)
{
	struct qx_out *o = &qx->out;
	size_t take;

	while (len > 0 && o->state == OUT_DATA) {
		take = QX_DATA_MAX - o->inlen;
		if (take > len)
			take = len;
		memcpy(o->in + o->inlen, buf, take);
		o->inlen += take;
		buf += take;
		len -= take;
		if (out_parse(qx))
			return -1;
	}
	return 0;
}

void
qx_out_service(struct qx *qx)
{
	struct qx_out *o = &qx->out;
	ssize_t n;
	int st = vchan_state(o->v);

	if (st == VCHAN_WAITING)
		return;
	if (st == VCHAN_CONNECTED && !o->hello) {
		/* dom0 waits for our HELLO; we have no input: EOF at once */
		qx_put_hdr(o->out, QX_HELLO, 4);
		qx_put_u32(o->out + QX_HDR_LEN, QX_PROTOCOL_VERSION);
		qx_put_hdr(o->out + QX_HDR_LEN + 4, QX_DATA_STDIN, 0);
		o->outlen = 2 * QX_HDR_LEN + 4;
		o->hello = 1;
		o->deadline = now_ms() + QX_IO_TIMEOUT_MS;
	}
	while (st == VCHAN_CONNECTED && o->inlen < QX_DATA_MAX) {
		n = vchan_read(o->v, o->in + o->inlen, QX_DATA_MAX - o->inlen);
		if (n <= 0)
			break;
		o->inlen += (size_t)n;
		o->deadline = now_ms() + QX_IO_TIMEOUT_MS;
		if (out_parse(qx))
			return;
	}
	while (o->outlen > 0) {
		n = vchan_write(o->v, o->out, o->outlen);
		if (n <= 0)
			break;
		memmove(o->out, o->out + n, o->outlen - (size_t)n);
		o->outlen -= (size_t)n;
	}
	if (vchan_state(o->v) == VCHAN_DISCONNECTED)
		qx_out_answer(qx, DOM0_FAILED, 0, "dom0 closed the data vchan "
		    "before the exit code");
}

void
qx_out_event(void *arg, short revents)
{
	struct qx *qx = arg;

	if (qx->out.state != OUT_DATA)
		return;
	vchan_progress(qx->out.v, revents);
	qx_out_service(qx);
}
