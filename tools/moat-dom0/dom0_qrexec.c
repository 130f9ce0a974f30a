/*
 * dom0_qrexec.c: moat-dom0 as the VM's qrexec-daemon: the agent's control
 * vchan, calls into the VM (qrexec-client) and the VM's calls to dom0
 * services (--rpc), each over its own data vchan.
 */
#include "dom0.h"

/* qrexec */
static void
qx_send(uint32_t type, const void *body, uint32_t len)
{
	uint8_t h[QX_HDR_LEN];

	qx_put_hdr(h, type, len);
	buf_add(&d.xout, h, sizeof(h));
	buf_add(&d.xout, body, len);
}

void
conn_frame(int ci, char kind, const void *data, size_t len)
{
	char h[32];
	int n;

	if (ci < 0 || d.conns[ci].fd == -1)
		return;
	n = snprintf(h, sizeof(h), "%c %zu\n", kind, len);
	buf_add(&d.conns[ci].out, h, (size_t)n);
	buf_add(&d.conns[ci].out, data, len);
}

void
call_finish(struct dcall *c, int status)
{
	char h[32];
	int n;

	if (c->conn >= 0 && d.conns[c->conn].fd != -1) {
		n = snprintf(h, sizeof(h), "X %d\n", status);
		buf_add(&d.conns[c->conn].out, h, (size_t)n);
		d.conns[c->conn].closing = 1;
		d.conns[c->conn].call = -1;
	}
	vchan_close(c->v);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->input);
	/* The port stays in use until the VM's CONNECTION_TERMINATED. */
	memset(c, 0, sizeof(*c));
	c->conn = -1;
}

void
call_service(struct dcall *c)
{
	struct qx_hdr h;
	size_t n;
	int st = vchan_state(c->v);

	if (st == VCHAN_CONNECTED && !c->hello) {
		/* qrexec-client says HELLO as soon as the VM connects, then
		 * streams stdin without waiting for the VM's. */
		uint8_t hh[QX_HDR_LEN + 4];

		qx_put_hdr(hh, QX_HELLO, 4);
		qx_put_u32(hh + QX_HDR_LEN, QX_PROTOCOL_VERSION);
		buf_add(&c->out, hh, sizeof(hh));
		c->hello = 1;
	}
	if (st == VCHAN_CONNECTED)
		read_vchan(c->v, &c->in);
	while (qx_get_hdr(c->in.p, c->in.len, &h)) {
		if (h.len > QX_MAX_CHUNK) {
			log_warnx("qrexec: call on port %d: chunk of %u bytes",
			    513 + c->slot, h.len);
			call_finish(c, 255);
			return;
		}
		if (c->in.len < QX_HDR_LEN + h.len)
			break;
		switch (h.type) {
		case QX_HELLO:
			break;
		case QX_DATA_STDOUT:
			if (h.len)
				conn_frame(c->conn, 'O', c->in.p + QX_HDR_LEN, h.len);
			break;
		case QX_DATA_STDERR:
			if (h.len)
				conn_frame(c->conn, 'E', c->in.p + QX_HDR_LEN, h.len);
			break;
		case QX_DATA_EXIT_CODE:
			if (h.len != 4) {
				call_finish(c, 255);
				return;
			}
			/* a negative code means "none yet" to qrexec-client */
			if ((int32_t)qx_get_u32(c->in.p + QX_HDR_LEN) >= 0) {
				call_finish(c, (int)(qx_get_u32(c->in.p +
				    QX_HDR_LEN) & 0xff));
				return;
			}
			break;
		default:
			log_warnx("qrexec: unexpected data message 0x%x", h.type);
		}
		buf_drop(&c->in, QX_HDR_LEN + h.len);
	}
	/* stdin: chunks of at most 65528, then the EOF */
	while (c->hello && !c->input_eof_sent && c->out.len < 256 * 1024) {
		uint8_t hh[QX_HDR_LEN];

		n = c->input_len - c->input_off;
		if (n > QX_CHUNK)
			n = QX_CHUNK;
		qx_put_hdr(hh, QX_DATA_STDIN, (uint32_t)n);
		buf_add(&c->out, hh, sizeof(hh));
		buf_add(&c->out, c->input + c->input_off, n);
		c->input_off += n;
		if (n == 0)
			c->input_eof_sent = 1;
	}
	flush_vchan(c->v, &c->out);
	if (vchan_state(c->v) == VCHAN_DISCONNECTED) {
		log_warnx("qrexec: vchan connection closed early");
		call_finish(c, 255);
	}
}

void
call_start(int ci, const char *svc, const char *source, int srcdom,
    uint8_t *input, size_t inlen)
{
	struct dcall *c = NULL;
	char cmd[512];
	uint8_t body[8 + sizeof(cmd)];
	int slot, i, n;

	if (d.xstate != 2) {
		conn_frame(ci, 'E', "moat-dom0: qrexec not connected\n", 32);
		buf_add(&d.conns[ci].out, "X 126\n", 6);
		d.conns[ci].closing = 1;
		free(input);
		return;
	}
	for (slot = 0; slot < NPORTS && d.port_used[slot]; slot++)
		;
	for (i = 0; i < MAX_CALLS; i++)
		if (!d.calls[i].used) {
			c = &d.calls[i];
			break;
		}
	if (slot == NPORTS || c == NULL) {
		conn_frame(ci, 'E', "moat-dom0: no free qrexec port\n", 31);
		buf_add(&d.conns[ci].out, "X 126\n", 6);
		d.conns[ci].closing = 1;
		free(input);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->used = 1;
	c->slot = slot;
	c->conn = ci;
	c->input = input;
	c->input_len = inlen;
	c->env = d.env;
	/* Over Xen the data vchan can only be served by our own domain; the
	 * agent is told so in EXEC_CMDLINE. */
	if (d.env.kind == VCHAN_XEN)
		srcdom = d.env.domid;
	c->env.domid = srcdom;
	c->deadline = now_ms() + CALL_TIMEOUT_MS;
	c->v = vchan_server(&c->env, d.vm, 513 + slot, 65536, 65536);
	if (c->v == NULL) {
		log_warn("qrexec: data vchan server");
		call_finish(c, 125);
		return;
	}
	d.port_used[slot] = 1;
	d.conns[ci].call = (int)(c - d.calls);
	/* VM-to-VM calls carry "svc+" when there is no argument. */
	n = snprintf(cmd, sizeof(cmd), "user:QUBESRPC %s%s %s", svc,
	    strcmp(source, "dom0") != 0 && strchr(svc, '+') == NULL ? "+" : "",
	    source);
	qx_put_u32(body, (uint32_t)srcdom);
	qx_put_u32(body + 4, (uint32_t)(513 + slot));
	memcpy(body + 8, cmd, (size_t)n + 1);
	qx_send(QX_EXEC_CMDLINE, body, (uint32_t)(8 + n + 1));
	d.ncalls++;
	log_info("qrexec: call %s from %s on port %d", svc, source, 513 + slot);
}

/* Start an --rpc program as dom0's qrexec does: the caller in
 * QREXEC_REMOTE_DOMAIN, no input; its stdout comes through c->pipe. It
 * runs while the loop goes on (a slow service must not stall QubesDB). */
static int
rpc_start(struct vcall *c, const char *program)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((c->pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (c->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(p[1], 1);
		setenv("QREXEC_REMOTE_DOMAIN", d.name, 1);
		setenv("QREXEC_SERVICE_FULL_NAME", c->svc, 1);
		execl(program, program, c->svc, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	c->pipe = p[0];
	set_nonblock(c->pipe);
	return 0;
}

static void
vcall_end(struct vcall *c)
{
	if (c->pipe > 0)
		close(c->pipe);
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	vchan_close(c->v);
	buf_free(&c->in);
	buf_free(&c->out);
	/* the port stays in use until the VM's CONNECTION_TERMINATED */
	memset(c, 0, sizeof(*c));
}

/* MSG_TRIGGER_SERVICE3 {target[64], ident[32], "svc[+arg]\0"}. */
static void
vm_call(const uint8_t *body, uint32_t len)
{
	char target[64], name[256], *plus;
	const uint8_t *ident = body + 64;
	struct vcall *c = NULL;
	const char *program = NULL;
	int i, slot;
	size_t sl = len - 96;

	memcpy(target, body, sizeof(target));
	target[sizeof(target) - 1] = '\0';
	if (sl == 0 || sl > sizeof(name) || body[len - 1] != '\0' ||
	    memchr(body + 96, '\0', sl) != body + len - 1) {
		log_warnx("qrexec: malformed service call from the VM");
		qx_send(QX_SERVICE_REFUSED, ident, 32);
		return;
	}
	memcpy(name, body + 96, sl);
	if ((plus = strchr(name, '+')) != NULL)
		*plus = '\0';
	for (i = 0; i < d.nrpc; i++)
		if (strcmp(d.rpc[i].service, name) == 0)
			program = d.rpc[i].program;
	for (slot = 0; slot < NPORTS && d.port_used[slot]; slot++)
		;
	for (i = 0; i < MAX_VCALLS; i++)
		if (!d.vcalls[i].used) {
			c = &d.vcalls[i];
			break;
		}
	if (program == NULL || (strcmp(target, "@adminvm") != 0 &&
	    strcmp(target, "dom0") != 0) || slot == NPORTS || c == NULL) {
		log_info("qrexec: %s -> %s %s: denied", d.name, target,
		    (const char *)body + 96);
		qx_send(QX_SERVICE_REFUSED, ident, 32);
		return;
	}
	memset(c, 0, sizeof(*c));
	memcpy(c->svc, body + 96, sl);
	memcpy(c->ident, ident, 32);
	c->used = 1;
	c->slot = slot;
	d.port_used[slot] = 1;
	c->deadline = now_ms() + 30000;
	if (rpc_start(c, program) == -1) {
		log_warn("qrexec: running %s", program);
		qx_send(QX_SERVICE_REFUSED, ident, 32);
		d.port_used[slot] = 0;
		vcall_end(c);
		return;
	}
	log_info("qrexec: %s -> dom0 %s: running %s", d.name, c->svc, program);
}

/* The program is done: its answer as dom0 sends it (stderr EOF, stdout,
 * EOF, exit code; our HELLO first, once the VM's is in), then connect. */
static void
vcall_connect(struct vcall *c, int code)
{
	struct buf a = { 0 };
	uint8_t hh[QX_HDR_LEN + 4], sc[8 + 32];
	size_t off;

	qx_put_hdr(hh, QX_HELLO, 4);
	qx_put_u32(hh + QX_HDR_LEN, QX_PROTOCOL_VERSION);
	buf_add(&a, hh, sizeof(hh));
	qx_put_hdr(hh, QX_DATA_STDERR, 0);
	buf_add(&a, hh, QX_HDR_LEN);
	for (off = 0; off < c->out.len; off += QX_CHUNK) {
		size_t n = c->out.len - off > QX_CHUNK ? QX_CHUNK :
		    c->out.len - off;

		qx_put_hdr(hh, QX_DATA_STDOUT, (uint32_t)n);
		buf_add(&a, hh, QX_HDR_LEN);
		buf_add(&a, c->out.p + off, n);
	}
	qx_put_hdr(hh, QX_DATA_STDOUT, 0);
	buf_add(&a, hh, QX_HDR_LEN);
	qx_put_hdr(hh, QX_DATA_EXIT_CODE, 4);
	qx_put_u32(hh + QX_HDR_LEN, (uint32_t)code);
	buf_add(&a, hh, sizeof(hh));
	log_info("qrexec: %s -> dom0 %s on port %d: exit %d, %zu bytes",
	    d.name, c->svc, 513 + c->slot, code, c->out.len);
	buf_free(&c->out);
	c->out = a;
	c->deadline = now_ms() + CALL_TIMEOUT_MS;
	c->v = vchan_client(&d.env, d.vm, 513 + c->slot);
	if (c->v == NULL) {
		log_warn("qrexec: data vchan client");
		qx_send(QX_SERVICE_REFUSED, c->ident, 32);
		d.port_used[c->slot] = 0;
		vcall_end(c);
		return;
	}
	qx_put_u32(sc, (uint32_t)d.env.domid);
	qx_put_u32(sc + 4, (uint32_t)(513 + c->slot));
	memcpy(sc + 8, c->ident, 32);
	qx_send(QX_SERVICE_CONNECT, sc, sizeof(sc));
	d.ncalls++;
}

/* The running program: its output (bounded), then its exit status. */
static void
vcall_read(struct vcall *c)
{
	uint8_t b[4096];
	ssize_t n;
	int st;

	while ((n = read(c->pipe, b, sizeof(b))) > 0)
		if (c->out.len + (size_t)n <= RPC_MAX_OUT)
			buf_add(&c->out, b, (size_t)n);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		if (now_ms() >= c->deadline) {
			log_warnx("qrexec: %s did not finish", c->svc);
			qx_send(QX_SERVICE_REFUSED, c->ident, 32);
			d.port_used[c->slot] = 0;
			vcall_end(c);
		}
		return;
	}
	close(c->pipe);
	c->pipe = 0;
	if (waitpid(c->pid, &st, 0) == -1)
		st = 125 << 8;
	c->pid = 0;
	vcall_connect(c, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

void
vcall_service(struct vcall *c)
{
	struct qx_hdr h;
	int st;

	if (c->pipe > 0) {
		vcall_read(c);
		return;
	}
	st = vchan_state(c->v);

	if (st == VCHAN_WAITING) {
		if (now_ms() >= c->deadline) {
			log_warnx("qrexec: the VM never served its data vchan");
			vcall_end(c);
		}
		return;
	}
	if (st == VCHAN_CONNECTED)
		read_vchan(c->v, &c->in);
	/* dom0 reads the VM's HELLO first; stdin (only an EOF) is ignored */
	while (qx_get_hdr(c->in.p, c->in.len, &h) &&
	    c->in.len >= QX_HDR_LEN + (size_t)h.len && h.len <= QX_MAX_CHUNK) {
		if (h.type == QX_HELLO)
			c->hello = 1;
		buf_drop(&c->in, QX_HDR_LEN + h.len);
	}
	if (c->hello)
		flush_vchan(c->v, &c->out);
	if ((c->hello && c->out.len == 0) ||
	    vchan_state(c->v) == VCHAN_DISCONNECTED)
		vcall_end(c);
}

static void
qx_from_agent(void)
{
	struct qx_hdr h;
	uint32_t port, dom, version;
	const char *why = "";

	while (qx_get_hdr(d.xin.p, d.xin.len, &h)) {
		if (h.len > 65536 + 128)
			dom0_fatal("qrexec", "message of %u bytes from the agent",
			    h.len);
		if (d.xin.len < QX_HDR_LEN + h.len)
			break;
		if (d.xstate == 1) {
			if (qx_parse_hello(&h, d.xin.p + QX_HDR_LEN, &version,
			    &why) == -1)
				dom0_fatal("qrexec", "agent: %s", why);
			/* The daemon answers with its own HELLO (always 3). */
			{
				uint8_t v[4];

				qx_put_u32(v, QX_PROTOCOL_VERSION);
				qx_send(QX_HELLO, v, 4);
			}
			d.xstate = 2;
			log_info("qrexec: agent connected (version %u)", version);
		} else if (h.type == QX_CONNECTION_TERMINATED && h.len == 8) {
			dom = qx_get_u32(d.xin.p + QX_HDR_LEN);
			port = qx_get_u32(d.xin.p + QX_HDR_LEN + 4);
			if (port < 513 || port >= 513 + NPORTS ||
			    !d.port_used[port - 513])
				log_warnx("qrexec: agent terminated unknown "
				    "port %u (domain %u)", port, dom);
			else {
				d.port_used[port - 513] = 0;
				d.nterminated++;
			}
		} else if (h.type == QX_TRIGGER_SERVICE3 && h.len > 96) {
			/* policy: the --rpc services, the rest refused */
			vm_call(d.xin.p + QX_HDR_LEN, h.len);
		} else
			dom0_fatal("qrexec", "invalid message 0x%x (%u bytes) "
			    "from the agent", h.type, h.len);
		buf_drop(&d.xin, QX_HDR_LEN + h.len);
	}
}

void
qx_service(void)
{
	int st;

	if (d.xv == NULL)
		return;
	st = vchan_state(d.xv);
	if (st == VCHAN_CONNECTED && d.xstate == 0) {
		d.xstate = 1;	/* the daemon reads the agent's HELLO first */
		d.xin.len = d.xout.len = 0;
	}
	if (st == VCHAN_CONNECTED)
		read_vchan(d.xv, &d.xin);
	if (d.xin.len)
		qx_from_agent();
	flush_vchan(d.xv, &d.xout);
	if (vchan_state(d.xv) == VCHAN_DISCONNECTED) {
		log_info("qrexec: agent has disconnected; reconnecting");
		vchan_close(d.xv);
		d.xv = vchan_client(&d.env, d.vm, QX_PORT);
		d.xstate = 0;
		memset(d.port_used, 0, sizeof(d.port_used));
	}
}
