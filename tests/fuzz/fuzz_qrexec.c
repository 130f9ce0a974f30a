/*
 * fuzz_qrexec: agentd's qrexec agent against arbitrary bytes.
 *
 * Byte 0 picks the target: 0 dom0's control channel (after HELLO), 1 a
 * caller's data channel for a moat.* call (before its HELLO), 2 the
 * command-line parser (byte 0 modulo 3); with the top bit set, our own
 * call to dom0: 0x80 (even) dom0's control channel once the trigger is
 * sent (SERVICE_CONNECT, SERVICE_REFUSED), 0x81 (odd) the service's
 * answer on the data vchan we serve. Data vchans are "socket" vchans in a directory
 * that does not exist, so calls stay waiting and nothing leaves the
 * process.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/agentd.h"
#include "agentd/agentd_qx.h"
#include "agentd/vchan.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
nosend(void *arg, uint32_t type, const void *p, size_t len, int fd)
{
	if (type == MSG_DOM0_RESULT) {
		const struct msg_dom0_result *r = p;

		if (len != sizeof(*r) || fd < 0 || r->out_len > DOM0_OUT_MAX)
			abort();
		return 0;
	}
	if (type != MSG_SVC_REQ || len != sizeof(struct msg_call) || fd < 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vchan_env env;
	static int init;
	struct qx *qx;
	struct qx_cmd cmd;
	const char *why;
	char *s;

	if (!init) {
		log_init("fuzz_qrexec", -1);
		env.kind = VCHAN_SOCKET;
		env.domid = 5;
		strcpy(env.dir, "/nonexistent/moat-fuzz");
		init = 1;
	}
	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		if ((qx = calloc(1, sizeof(*qx))) == NULL)
			return 0;
		qx->env = &env;
		qx->send = nosend;
		qx->cstate = CTL_RUN;
		qx_dom0_call(qx, "moat.StoredRules");
		if (qx->out.state != OUT_SENT)
			abort();
		if (data[0] & 1) {
			/* as after SERVICE_CONNECT; no vchan: nothing leaves */
			qx->out.state = OUT_DATA;
			if ((qx->out.in = malloc(QX_DATA_MAX)) != NULL)
				(void)qx_out_feed(qx, data + 1, size - 1);
		} else
			(void)qx_ctl_feed(qx, data + 1, size - 1);
		if (qx->coutlen > sizeof(qx->cout) ||
		    qx->out.reslen > DOM0_OUT_MAX)
			abort();
		qx_free(qx);
		return 0;
	}
	switch (data[0] % 3) {
	case 0:
	case 1:
		if ((qx = calloc(1, sizeof(*qx))) == NULL)
			return 0;
		qx->env = &env;
		qx->send = nosend;
		qx->next_callid = 1;
		qx->cstate = CTL_RUN;
		if (data[0] % 3 == 0)
			(void)qx_ctl_feed(qx, data + 1, size - 1);
		else {
			qx_exec(qx, 0, 513, "user:QUBESRPC moat.Fuzz+x dom0", 0);
			if (qx->calls[0].used) {
				qx->calls[0].state = CS_HELLO;
				(void)qx_call_feed(qx, &qx->calls[0], data + 1,
				    size - 1);
			}
		}
		if (qx->coutlen > sizeof(qx->cout))
			abort();
		qx_free(qx);
		break;
	case 2:
		if ((s = malloc(size)) == NULL)
			return 0;
		memcpy(s, data + 1, size - 1);
		s[size - 1] = '\0';
		if (qx_parse_cmdline(s, &cmd, &why) == 0 &&
		    (cmd.service[0] == '\0' || cmd.source[0] == '\0' ||
		    strchr(cmd.service, ' ') || strchr(cmd.source, ' ')))
			abort();
		free(s);
		break;
	}
	return 0;
}
