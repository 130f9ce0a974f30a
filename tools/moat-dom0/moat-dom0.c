/*
 * moat-dom0: plays dom0 for a moat VM, over socket vchans for tests and
 * demos without Xen, or over Xen vchans in a real (test) dom0.
 *
 * "serve" runs in the foreground as the VM's qubesdb-daemon (vchan server
 * on port 111, serving a JSON database) and qrexec-daemon (vchan client of
 * the VM's port 512), with the same wire behaviour as Qubes 4.2's dom0
 * daemons, including what makes them give up on a VM. The other
 * subcommands talk to it through a control socket (in the vchan directory
 * for socket vchans, --ctl-dir or /run/moat-dom0 for Xen):
 * "write" and "rm" change keys as qubesd does (and are pushed to the VM),
 * "rules" replaces a client's firewall rules as dom0's
 * reload_firewall_for_vm does, "call" runs a qrexec service in the VM, and
 * "status" reports the connections and qrexec ports in use.
 *
 * Over Xen, "serve" is the VM's dom0 side as Qubes starts it right after
 * creating the VM: it serves QubesDB from our own domain, connects to the
 * VM's qrexec agent when it listens, serves qrexec data vchans from our
 * own domain (there is no other VM to serve them), and exits 0 once the
 * VM's domain is gone, as qubesdb-daemon and qrexec-daemon do.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <xenctrl.h>
#include <xenstore.h>

#include "agentd/agentd.h"
#include "log.h"
#include "util.h"
#include "agentd/vchan.h"

#define QDB_PORT	111
#define QX_PORT		512
#define NPORTS		256
#define MAX_CALLS	64
#define MAX_CONNS	32
#define CALL_TIMEOUT_MS	5000	/* qrexec-client: the VM must connect in 5 s */
#define DOM0_MAX_INPUT	(8 * 1024 * 1024)
#define XEN_CTL_DIR	"/run/moat-dom0"
#define MAX_RPC		8
#define MAX_VCALLS	4
#define RPC_MAX_OUT	(2 * 1024 * 1024)

static __attribute__((noreturn)) void
usage(int rc)
{
	fprintf(rc ? stderr : stdout,
"usage: moat-dom0 serve  WHERE --domid N --qubesdb FILE [--name VM]\n"
"       moat-dom0 write  WHERE --domid N [--no-commit] PATH VALUE [PATH VALUE ...]\n"
"       moat-dom0 rm     WHERE --domid N PATH [PATH ...]\n"
"       moat-dom0 rules  WHERE --domid N IP [RULE ...]\n"
"       moat-dom0 call   WHERE --domid N [--source NAME] [--source-domid X]\n"
"                        SERVICE[+ARG] < input\n"
"       moat-dom0 status WHERE --domid N\n"
"WHERE:  --vchan-dir DIR [--ctl-dir CDIR]     socket vchans\n"
"        --vchan xen [--ctl-dir CDIR]          Xen vchans (in dom0)\n"
"\n"
"Plays dom0 for the moat VM with domain id N, over socket vchans in DIR\n"
"(DIR/vchan.<server>.<client>.<port>.sock, as Qubes' vchan-socket) or over\n"
"Xen vchans (libxenvchan, Qubes' conventions; run it in dom0).\n"
"\n"
"serve    runs in the foreground as the VM's qubesdb-daemon (serving FILE, a\n"
"         JSON object of QubesDB paths to string values) and qrexec-daemon;\n"
"         it exits 1 if the VM breaks a rule that makes the real dom0\n"
"         daemons give up, and (Xen) 0 once the VM's domain is gone. The\n"
"         others talk to it via CDIR/moat-dom0.N.ctl; CDIR defaults to DIR\n"
"         (socket) or " XEN_CTL_DIR " (Xen).\n"
"write    writes keys, pushed to the VM. After writing keys under\n"
"         /qubes-firewall/<ip>/ it writes the commit marker /qubes-firewall/<ip>\n"
"         = \"\" as dom0 does (not with --no-commit).\n"
"rm       removes keys; a PATH ending in / removes that subtree.\n"
"rules    replaces the rules of client IP like dom0: rm /qubes-firewall/IP/,\n"
"         write policy=drop and 0000, 0001, ... from the RULEs, then the marker.\n"
"call     calls SERVICE[+ARG] in the VM with stdin as input, prints its\n"
"         stdout and stderr and exits with its exit code (125: no answer).\n"
"         --source NAME: the call comes from VM NAME (default dom0), whose\n"
"         data vchan is served as domain X (default 0 for dom0, else 99;\n"
"         over Xen always serve's own domain, the only one it can serve).\n"
"status   prints the state of both connections and qrexec ports in use.\n"
"\n"
"--rpc SERVICE=PROGRAM (serve): the VM may call SERVICE in dom0 (target\n"
"         @adminvm or dom0); PROGRAM runs with QREXEC_REMOTE_DOMAIN=VM and\n"
"         argv[1] = SERVICE[+ARG], its stdout and exit code go back. Any\n"
"         other call from the VM is refused, as dom0's policy does.\n");
	exit(rc);
}

/* A growable byte buffer: moat-dom0 is a test tool, not a daemon. */
struct buf {
	uint8_t	*p;
	size_t	 len, cap;
};

static void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + len)
			cap *= 2;
		if ((b->p = realloc(b->p, cap)) == NULL)
			fatal("realloc");
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void
buf_drop(struct buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Write as much of b as the vchan takes. */
static void
flush_vchan(struct vchan *v, struct buf *b)
{
	ssize_t n;

	while (b->len > 0 && vchan_state(v) == VCHAN_CONNECTED) {
		n = vchan_write(v, b->p, b->len);
		if (n <= 0)
			break;
		buf_drop(b, (size_t)n);
	}
}

static int
read_vchan(struct vchan *v, struct buf *b)
{
	uint8_t tmp[65536];
	ssize_t n;
	int got = 0;

	while (vchan_state(v) == VCHAN_CONNECTED) {
		n = vchan_read(v, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_add(b, tmp, (size_t)n);
		got = 1;
	}
	return got;
}

/* ---- serve ---- */

struct conn {
	int		 fd;
	struct buf	 in, out;
	int		 closing;	/* close once out is flushed */
	int		 eof;
	int		 call;		/* index of its call, or -1 */
};

struct dcall {
	int			 used;
	int			 slot;		/* port = 513 + slot */
	struct vchan_env	 env;		/* the caller's domain serves the data vchan */
	struct vchan		*v;
	int			 hello;
	int			 done;
	struct buf		 in, out;
	uint8_t			*input;
	size_t			 input_len, input_off;
	int			 input_eof_sent;
	uint64_t		 deadline;
	int			 conn;		/* control connection, or -1 if it left */
};

/* A call from the VM to a dom0 service (--rpc): the VM serves the data
 * vchan, we connect, wait for its HELLO, then answer. */
struct vcall {
	int			 used;
	int			 slot;
	pid_t			 pid;		/* the program, while it runs */
	int			 pipe;		/* its stdout, while it runs */
	uint8_t			 ident[32];
	char			 svc[256];
	struct vchan		*v;
	int			 hello;		/* the VM's HELLO is in */
	struct buf		 in, out;	/* out: the whole answer */
	uint64_t		 deadline;
};

static struct {
	struct vchan_env env;
	struct {
		char		*service;
		const char	*program;
	}		 rpc[MAX_RPC];
	int		 nrpc;
	struct vcall	 vcalls[MAX_VCALLS];
	const char	*ctldir;
	int		 vm;
	const char	*name;
	struct qdb	 db;
	/* qubesdb-daemon */
	struct vchan	*qv;
	int		 qsynced;
	struct buf	 qin, qout;
	uint64_t	 qsyncs;
	/* qrexec-daemon */
	struct vchan	*xv;
	int		 xstate;	/* 0 waiting, 1 sent nothing yet: reading HELLO, 2 running */
	struct buf	 xin, xout;
	int		 port_used[NPORTS];
	uint64_t	 ncalls, nterminated;
	struct dcall	 calls[MAX_CALLS];
	/* control */
	int		 lfd;
	struct conn	 conns[MAX_CONNS];
	/* xen: an XenStore watch on @releaseDomain, fd to poll or -1 */
	int		 xsfd;
} d;

static __attribute__((noreturn)) void
dom0_fatal(const char *who, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* What the real daemon does: it gives up on the VM and exits. */
	fatalx("FATAL: %s: %s", who, msg);
}

/* Xen: is the VM's domain gone (destroyed, dying, or shut down for good)?
 * Then the dom0 daemons have nothing left to serve. Never for sockets. */
static int
vm_gone(void)
{
	xc_domaininfo_t info;
	unsigned int why;

	if (d.env.kind != VCHAN_XEN)
		return 0;
	memset(&info, 0, sizeof(info));
	if (xc_domain_getinfolist(d.env.xc, (uint32_t)d.vm, 1, &info) != 1 ||
	    info.domain != d.vm)
		return 1;
	if (info.flags & XEN_DOMINF_dying)
		return 1;
	why = (info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
	return (info.flags & XEN_DOMINF_shutdown) && why != SHUTDOWN_suspend;
}

static volatile sig_atomic_t quit;

static void
vm_gone_exit(void)
{
	log_info("domain %d is gone: nothing left to serve", d.vm);
	quit = 1;
}

static void
ctl_path(char *out, size_t len, const char *dir, int vm)
{
	snprintf(out, len, "%s/moat-dom0.%d.ctl", dir, vm);
}

/* QubesDB: one message to the VM. */
static void
qdb_send(uint8_t type, const char *path, const void *data, uint32_t len)
{
	uint8_t h[QDB_HDR_LEN];

	qdb_wire_hdr(h, type, path, len);
	buf_add(&d.qout, h, sizeof(h));
	buf_add(&d.qout, data, len);
}

static void
qdb_dump(void)
{
	size_t i;

	/* reverse byte order of path, then the empty-path terminator */
	for (i = d.db.n; i-- > 0; )
		qdb_send(QDB_RESP_MULTIREAD, d.db.e[i].path, d.db.e[i].value,
		    d.db.e[i].len);
	qdb_send(QDB_RESP_MULTIREAD, "", NULL, 0);
	d.qsynced = 1;
	d.qsyncs++;
	log_info("qubesdb: VM synced (%zu keys)", d.db.n);
}

static void
qdb_from_vm(void)
{
	struct qdb_msg m;
	const char *why = "";
	int r;

	while ((r = qdb_wire_parse(d.qin.p, d.qin.len, &m, &why)) > 0) {
		if (m.type != QDB_CMD_WRITE && m.type != QDB_CMD_MULTIREAD &&
		    m.type != QDB_CMD_RM && m.type != QDB_RESP_OK &&
		    m.type != QDB_RESP_ERROR)
			dom0_fatal("qubesdb", "invalid message type %u from the VM",
			    m.type);
		if (m.type != QDB_CMD_MULTIREAD && !(m.type == QDB_RESP_OK &&
		    m.path[0] == '\0') && !qdb_path_ok(m.path))
			dom0_fatal("qubesdb", "invalid path from the VM");
		switch (m.type) {
		case QDB_CMD_MULTIREAD:
			if (d.qsynced) {
				qdb_send(QDB_RESP_ERROR, m.path, NULL, 0);
				flush_vchan(d.qv, &d.qout);
				dom0_fatal("qubesdb", "second MULTIREAD");
			}
			if (m.path[0] != '\0')
				dom0_fatal("qubesdb", "moat-dom0 serves only a "
				    "full MULTIREAD");
			qdb_dump();
			break;
		case QDB_CMD_WRITE:
			if (qdb_write(&d.db, m.path, m.data, m.len) == -1)
				qdb_send(QDB_RESP_ERROR, m.path, NULL, 0);
			else
				qdb_send(QDB_RESP_OK, m.path, NULL, 0);
			log_info("qubesdb: VM wrote %s", m.path);
			break;
		case QDB_CMD_RM:
			if (qdb_rm(&d.db, m.path) == 0) {
				qdb_send(QDB_RESP_ERROR_NOENT, m.path, NULL, 0);
				flush_vchan(d.qv, &d.qout);
				dom0_fatal("qubesdb", "VM removed missing key %s",
				    m.path);
			}
			qdb_send(QDB_RESP_OK, m.path, NULL, 0);
			break;
		case QDB_RESP_OK:
			break;
		case QDB_RESP_ERROR:
			if (m.len != 0)
				dom0_fatal("qubesdb", "RESP_ERROR with data");
			log_warnx("qubesdb: VM answered RESP_ERROR for %s",
			    m.path);
			break;
		}
		buf_drop(&d.qin, (size_t)r);
	}
	if (r < 0)
		dom0_fatal("qubesdb", "%s", why);
}

static void
qdb_service(void)
{
	int st = vchan_state(d.qv);

	if (st == VCHAN_CONNECTED)
		read_vchan(d.qv, &d.qin);
	if (d.qin.len)
		qdb_from_vm();
	flush_vchan(d.qv, &d.qout);
	if (vchan_state(d.qv) == VCHAN_DISCONNECTED) {
		if (vm_gone()) {
			vm_gone_exit();
			return;
		}
		if (!d.qsynced)
			dom0_fatal("qubesdb", "vchan closed before the VM's "
			    "MULTIREAD");
		log_info("qubesdb: vchan closed, reconnecting");
		d.qsynced = 0;
		d.qin.len = d.qout.len = 0;
		if (vchan_rearm(d.qv) == -1) {
			/* the VM may have died since we looked */
			if (vm_gone()) {
				vm_gone_exit();
				return;
			}
			fatal("qubesdb: vchan server for domain %d", d.vm);
		}
	}
}

/* A dom0-side change: stored, and pushed if the VM is synced. */
static int
dom0_write(const char *path, const char *val, size_t len)
{
	if (qdb_write(&d.db, path, val, len) == -1)
		return -1;
	if (d.qsynced)
		qdb_send(QDB_CMD_WRITE, path, val, (uint32_t)len);
	return 0;
}

static int
dom0_rm(const char *path)
{
	if (!qdb_path_ok(path))
		return -1;
	/* dom0 pushes only rms that removed something */
	if (qdb_rm(&d.db, path) > 0 && d.qsynced)
		qdb_send(QDB_CMD_RM, path, NULL, 0);
	return 0;
}

/* qrexec */
static void
qx_send(uint32_t type, const void *body, uint32_t len)
{
	uint8_t h[QX_HDR_LEN];

	qx_put_hdr(h, type, len);
	buf_add(&d.xout, h, sizeof(h));
	buf_add(&d.xout, body, len);
}

static void
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

static void
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

static void
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

static void
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

static void
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

static void
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

/* Control connections. */
static void
conn_close(int ci)
{
	struct conn *cn = &d.conns[ci];

	if (cn->call >= 0 && d.calls[cn->call].used)
		d.calls[cn->call].conn = -1;
	close(cn->fd);
	buf_free(&cn->in);
	buf_free(&cn->out);
	memset(cn, 0, sizeof(*cn));
	cn->fd = -1;
	cn->call = -1;
}

static void
conn_reply(int ci, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	buf_add(&d.conns[ci].out, line, (size_t)n);
}

static void
status(int ci)
{
	int i, used = 0;

	for (i = 0; i < NPORTS; i++)
		used += d.port_used[i];
	conn_reply(ci, "qubesdb %s syncs %llu keys %zu\n",
	    d.qsynced ? "synced" : "waiting", (unsigned long long)d.qsyncs,
	    d.db.n);
	conn_reply(ci, "qrexec %s calls %llu terminated %llu ports-in-use %d\n",
	    d.xstate == 2 ? "connected" : "waiting",
	    (unsigned long long)d.ncalls, (unsigned long long)d.nterminated,
	    used);
	d.conns[ci].closing = 1;
}

/* Requests: one line, possibly followed by a length-counted body:
 *   write PATH LEN\n<LEN bytes>   rm PATH\n   status\n
 *   call SVC SOURCE SRCDOMID LEN\n<LEN bytes of stdin>
 * Each write/rm is answered "ok" or "error ..."; a call with frames
 * "O len\n<bytes>", "E len\n<bytes>" and finally "X status\n". */
static void
conn_input(int ci)
{
	struct conn *cn = &d.conns[ci];
	char line[600], a[128], b[128];
	unsigned long long len;
	uint8_t *nl;
	size_t ll;
	int dom;

	while (cn->in.len > 0 && !cn->closing && cn->call < 0) {
		nl = memchr(cn->in.p, '\n', cn->in.len);
		if (nl == NULL) {
			if (cn->in.len > 512)
				conn_close(ci);
			return;
		}
		ll = (size_t)(nl - cn->in.p);
		if (ll >= sizeof(line)) {
			conn_close(ci);
			return;
		}
		memcpy(line, cn->in.p, ll);
		line[ll] = '\0';
		if (sscanf(line, "write %127s %llu", a, &len) == 2) {
			if (len > QDB_VALUE_MAX + 1) {
				conn_reply(ci, "error value too long\n");
				cn->closing = 1;
				return;
			}
			if (cn->in.len < ll + 1 + len)
				return;
			if (dom0_write(a, (char *)cn->in.p + ll + 1, len) == -1)
				conn_reply(ci, "error refused: %s\n", a);
			else
				conn_reply(ci, "ok\n");
			buf_drop(&cn->in, ll + 1 + len);
		} else if (sscanf(line, "rm %127s", a) == 1) {
			conn_reply(ci, dom0_rm(a) == 0 ? "ok\n" :
			    "error refused\n");
			buf_drop(&cn->in, ll + 1);
		} else if (strcmp(line, "status") == 0) {
			buf_drop(&cn->in, ll + 1);
			status(ci);
		} else if (sscanf(line, "call %127s %127s %d %llu", a, b, &dom,
		    &len) == 4) {
			uint8_t *input;

			if (len > DOM0_MAX_INPUT) {
				cn->closing = 1;
				return;
			}
			if (cn->in.len < ll + 1 + len)
				return;
			if ((input = malloc(len + 1)) == NULL)
				fatal("malloc");
			memcpy(input, cn->in.p + ll + 1, len);
			buf_drop(&cn->in, ll + 1 + len);
			call_start(ci, a, b, dom, input, len);
		} else {
			conn_reply(ci, "error bad request\n");
			cn->closing = 1;
		}
	}
}

static void
conn_event(int ci, short revents)
{
	struct conn *cn = &d.conns[ci];
	uint8_t tmp[65536];
	ssize_t n;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		n = read(cn->fd, tmp, sizeof(tmp));
		if (n > 0)
			buf_add(&cn->in, tmp, (size_t)n);
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			cn->eof = 1;
		conn_input(ci);
		if (cn->eof) {
			if (cn->call >= 0) {
				/* the caller left; the call runs to its end */
				conn_close(ci);
				return;
			}
			cn->closing = 1;
		}
	}
	if (cn->fd != -1 && cn->out.len > 0) {
		n = write(cn->fd, cn->out.p, cn->out.len);
		if (n > 0)
			buf_drop(&cn->out, (size_t)n);
		else if (n == -1 && errno != EAGAIN && errno != EINTR) {
			conn_close(ci);
			return;
		}
	}
	if (cn->fd != -1 && cn->closing && cn->out.len == 0 && cn->call < 0)
		conn_close(ci);
}

static void
on_signal(int sig)
{
	quit = 1;
}

static int
serve(void)
{
	struct sockaddr_un sun;
	struct pollfd pfd[4 + MAX_CALLS + MAX_CONNS + MAX_VCALLS];
	enum { P_Q = 0, P_X, P_L, P_XS, P_FIRST };
	int who[4 + MAX_CALLS + MAX_CONNS + MAX_VCALLS];
	char path[PATH_MAX];
	short ev;
	int i, n, fd, timeout;

	for (i = 0; i < MAX_CONNS; i++) {
		d.conns[i].fd = -1;
		d.conns[i].call = -1;
	}
	for (i = 0; i < MAX_CALLS; i++)
		d.calls[i].conn = -1;
	d.xsfd = -1;
	if (d.env.kind == VCHAN_XEN) {
		/* Nothing tells a vchan that waits for its peer that the peer
		 * domain was destroyed: XenStore does, without polling. */
		if (!xs_watch(d.env.xs, "@releaseDomain", "moat-dom0") ||
		    (d.xsfd = xs_fileno(d.env.xs)) == -1)
			fatal("XenStore watch on @releaseDomain");
		if (vm_gone())
			fatalx("domain %d does not exist (or is dying)", d.vm);
	}
	if (mkdir(d.ctldir, 0755) == -1 && errno != EEXIST)
		fatal("%s", d.ctldir);
	ctl_path(path, sizeof(path), d.ctldir, d.vm);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("%s: path too long", path);
	strcpy(sun.sun_path, path);
	(void)unlink(path);
	if ((d.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    bind(d.lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(d.lfd, 16) == -1)
		fatal("control socket %s", path);
	if ((d.qv = vchan_server(&d.env, d.vm, QDB_PORT, 4096, 4096)) == NULL)
		fatal("qubesdb vchan server");
	d.xv = vchan_client(&d.env, d.vm, QX_PORT);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (d.env.kind == VCHAN_XEN)
		log_info("serving VM %d (%s) over Xen vchans from domain %d, "
		    "control %s: %zu keys", d.vm, d.name, d.env.domid, path,
		    d.db.n);
	else
		log_info("serving VM %d (%s) in %s: %zu keys", d.vm, d.name,
		    d.env.dir, d.db.n);

	while (!quit) {
		memset(pfd, 0, sizeof(pfd));
		for (i = 0; i < (int)nitems(pfd); i++)
			pfd[i].fd = -1;
		timeout = 1000;
		pfd[P_Q].fd = vchan_pollfd(d.qv, d.qout.len > 0, &ev);
		pfd[P_Q].events = ev;
		if (d.xv != NULL) {
			pfd[P_X].fd = vchan_pollfd(d.xv, d.xout.len > 0, &ev);
			pfd[P_X].events = ev;
			/* The agent is not listening yet: retry soon. Over
			 * Xen each try is a XenStore read, so less often. */
			if (pfd[P_X].fd == -1)
				timeout = d.env.kind == VCHAN_XEN ? 100 : 10;
		}
		pfd[P_L].fd = d.lfd;
		pfd[P_L].events = POLLIN;
		pfd[P_XS].fd = d.xsfd;
		pfd[P_XS].events = POLLIN;
		n = P_FIRST;
		for (i = 0; i < MAX_CALLS; i++) {
			if (!d.calls[i].used)
				continue;
			fd = vchan_pollfd(d.calls[i].v, d.calls[i].out.len > 0, &ev);
			if (fd >= 0) {
				pfd[n].fd = fd;
				pfd[n].events = ev;
				who[n++] = i;
			}
			timeout = 10;
		}
		for (i = 0; i < MAX_VCALLS; i++) {
			if (!d.vcalls[i].used)
				continue;
			timeout = 10;
			if (d.vcalls[i].pipe > 0) {
				pfd[n].fd = d.vcalls[i].pipe;
				pfd[n].events = POLLIN;
				who[n++] = MAX_CALLS + MAX_CONNS + i;
				continue;
			}
			fd = vchan_pollfd(d.vcalls[i].v, d.vcalls[i].hello &&
			    d.vcalls[i].out.len > 0, &ev);
			if (fd >= 0) {
				pfd[n].fd = fd;
				pfd[n].events = ev;
				who[n++] = MAX_CALLS + MAX_CONNS + i;
			}
			timeout = 10;
		}
		for (i = 0; i < MAX_CONNS; i++) {
			if (d.conns[i].fd == -1)
				continue;
			pfd[n].fd = d.conns[i].fd;
			pfd[n].events = POLLIN | (d.conns[i].out.len ? POLLOUT : 0);
			who[n++] = MAX_CALLS + i;
		}
		if (poll(pfd, (nfds_t)n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[P_Q].revents)
			vchan_progress(d.qv, pfd[P_Q].revents);
		qdb_service();
		if (d.xv != NULL) {
			vchan_progress(d.xv, pfd[P_X].revents);
			qx_service();
		}
		if (pfd[P_L].revents & POLLIN) {
			fd = accept4(d.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			for (i = 0; fd != -1 && i < MAX_CONNS; i++)
				if (d.conns[i].fd == -1) {
					d.conns[i].fd = fd;
					d.conns[i].call = -1;
					fd = -1;
				}
			if (fd != -1)
				close(fd);
		}
		for (i = P_FIRST; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (who[i] >= MAX_CALLS + MAX_CONNS) {
				struct vcall *vc = &d.vcalls[who[i] - MAX_CALLS -
				    MAX_CONNS];

				if (vc->used && vc->v != NULL)
					vchan_progress(vc->v, pfd[i].revents);
			} else if (who[i] < MAX_CALLS) {
				if (d.calls[who[i]].used)
					vchan_progress(d.calls[who[i]].v,
					    pfd[i].revents);
			} else if (d.conns[who[i] - MAX_CALLS].fd != -1)
				conn_event(who[i] - MAX_CALLS, pfd[i].revents);
		}
		for (i = 0; i < MAX_CALLS; i++) {
			struct dcall *c = &d.calls[i];

			if (!c->used)
				continue;
			if (vchan_state(c->v) == VCHAN_WAITING &&
			    now_ms() >= c->deadline) {
				/* as qrexec-client: the port stays allocated */
				log_warnx("qrexec: connection timeout");
				conn_frame(c->conn, 'E', "moat-dom0: qrexec "
				    "connection timeout\n", 37);
				call_finish(c, 125);
				continue;
			}
			call_service(c);
		}
		for (i = 0; i < MAX_VCALLS; i++)
			if (d.vcalls[i].used) {
				if (d.vcalls[i].v != NULL)
					vchan_progress(d.vcalls[i].v, 0);
				vcall_service(&d.vcalls[i]);
			}
		qdb_service();
		qx_service();
		if (pfd[P_XS].revents & POLLIN) {
			char **w;

			while ((w = xs_check_watch(d.env.xs)) != NULL)
				free(w);
			if (vm_gone())
				vm_gone_exit();
		}
		/* push frames the calls produced */
		for (i = 0; i < MAX_CONNS; i++)
			if (d.conns[i].fd != -1)
				conn_event(i, 0);
	}
	(void)unlink(path);
	for (i = 0; i < MAX_CALLS; i++)
		if (d.calls[i].used)
			call_finish(&d.calls[i], 255);
	for (i = 0; i < MAX_CONNS; i++)
		if (d.conns[i].fd != -1)
			conn_close(i);
	vchan_close(d.qv);
	vchan_close(d.xv);
	buf_free(&d.qin);
	buf_free(&d.qout);
	buf_free(&d.xin);
	buf_free(&d.xout);
	qdb_free(&d.db);
	return 0;
}

/* ---- clients ---- */

static int
ctl_connect(const char *dir, int vm)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ctl_path(sun.sun_path, sizeof(sun.sun_path), dir, vm);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("%s (is \"moat-dom0 serve\" running?)", sun.sun_path);
	return fd;
}

static void
req_write(int fd, const char *path, const char *val)
{
	char h[256];
	int n;

	n = snprintf(h, sizeof(h), "write %s %zu\n", path, strlen(val));
	if (write_all(fd, h, (size_t)n) != n ||
	    write_all(fd, val, strlen(val)) != (ssize_t)strlen(val))
		fatal("control socket");
}

static void
req_rm(int fd, const char *path)
{
	char h[256];
	int n;

	n = snprintf(h, sizeof(h), "rm %s\n", path);
	if (write_all(fd, h, (size_t)n) != n)
		fatal("control socket");
}

/* Read "ok"/"error" lines for n requests; 0 if all ok. */
static int
read_acks(int fd, int n)
{
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	int bad = 0, got = 0;
	char *nl;

	while (got < n) {
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			if (strncmp(buf, "ok", 2) != 0) {
				fprintf(stderr, "moat-dom0: %s\n", buf);
				bad = 1;
			}
			got++;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
	if (got < n) {
		fprintf(stderr, "moat-dom0: the server closed the connection\n");
		return 1;
	}
	return bad;
}

/* "/qubes-firewall/<ip>/..." -> its marker "/qubes-firewall/<ip>" */
static int
fw_marker(const char *path, char *out, size_t len)
{
	uint8_t addr[16];
	const char *rest;

	if (qdb_fw_key(path, addr, &rest) == 0 || rest[0] != '/')
		return 0;
	snprintf(out, len, "%.*s", (int)(rest - path), path);
	return 1;
}

static int
cmd_write(const char *dir, int vm, int argc, char **argv, int commit)
{
	char markers[16][QDB_PATH_MAX], m[QDB_PATH_MAX];
	int fd, i, j, nm = 0, nreq = 0;

	if (argc == 0 || argc % 2 != 0)
		usage(2);
	fd = ctl_connect(dir, vm);
	for (i = 0; i < argc; i += 2) {
		req_write(fd, argv[i], argv[i + 1]);
		nreq++;
		if (commit && fw_marker(argv[i], m, sizeof(m))) {
			for (j = 0; j < nm && strcmp(markers[j], m) != 0; j++)
				;
			if (j == nm && nm < 16)
				snprintf(markers[nm++], sizeof(markers[0]), "%s", m);
		}
	}
	/* as dom0: the marker comes last, and the VM acts on it */
	for (j = 0; j < nm; j++, nreq++)
		req_write(fd, markers[j], "");
	return read_acks(fd, nreq);
}

static int
cmd_rm(const char *dir, int vm, int argc, char **argv)
{
	int fd, i;

	if (argc == 0)
		usage(2);
	fd = ctl_connect(dir, vm);
	for (i = 0; i < argc; i++)
		req_rm(fd, argv[i]);
	return read_acks(fd, argc);
}

static int
cmd_rules(const char *dir, int vm, int argc, char **argv)
{
	char base[QDB_PATH_MAX], path[QDB_PATH_MAX + 16];
	int fd, i, nreq = 0;

	if (argc < 1)
		usage(2);
	snprintf(base, sizeof(base), "/qubes-firewall/%s", argv[0]);
	fd = ctl_connect(dir, vm);
	snprintf(path, sizeof(path), "%s/", base);
	req_rm(fd, path);
	snprintf(path, sizeof(path), "%s/policy", base);
	req_write(fd, path, "drop");
	nreq = 2;
	for (i = 1; i < argc; i++, nreq++) {
		snprintf(path, sizeof(path), "%s/%04d", base, (i - 1) % 10000);
		req_write(fd, path, argv[i]);
	}
	req_write(fd, base, "");
	return read_acks(fd, nreq + 1);
}

static int
cmd_status(const char *dir, int vm)
{
	char buf[4096];
	ssize_t n;
	int fd = ctl_connect(dir, vm);

	if (write_all(fd, "status\n", 7) != 7)
		fatal("control socket");
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		(void)write_all(STDOUT_FILENO, buf, (size_t)n);
	return 0;
}

static int
cmd_call(const char *dir, int vm, const char *svc, const char *source,
    int srcdom)
{
	struct buf in = { 0 }, rx = { 0 };
	uint8_t tmp[65536];
	char h[512], *nl;
	unsigned long long len;
	ssize_t n;
	int fd, status = -1;
	char kind;

	while ((n = read(STDIN_FILENO, tmp, sizeof(tmp))) > 0) {
		buf_add(&in, tmp, (size_t)n);
		if (in.len > DOM0_MAX_INPUT)
			fatalx("input over %d bytes", DOM0_MAX_INPUT);
	}
	fd = ctl_connect(dir, vm);
	n = snprintf(h, sizeof(h), "call %s %s %d %zu\n", svc, source, srcdom,
	    in.len);
	if (write_all(fd, h, (size_t)n) != n ||
	    write_all(fd, in.p, in.len) != (ssize_t)in.len)
		fatal("control socket");
	while (status < 0) {
		n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_add(&rx, tmp, (size_t)n);
		for (;;) {
			if ((nl = memchr(rx.p, '\n', rx.len)) == NULL)
				break;
			*nl = '\0';
			if (sscanf((char *)rx.p, "%c %llu", &kind, &len) != 2)
				fatalx("bad frame from the server");
			if (kind == 'X') {
				status = (int)len;
				break;
			}
			if (rx.len < (size_t)(nl + 1 - (char *)rx.p) + len) {
				*nl = '\n';
				break;
			}
			(void)write_all(kind == 'O' ? STDOUT_FILENO :
			    STDERR_FILENO, nl + 1, len);
			buf_drop(&rx, (size_t)(nl + 1 - (char *)rx.p) + len);
		}
	}
	buf_free(&in);
	buf_free(&rx);
	close(fd);
	if (status < 0) {
		fprintf(stderr, "moat-dom0: no exit code from the VM\n");
		return 255;
	}
	return status;
}

/* Xen, Qubes' check: is our end of the event channel still bound to a
 * live peer domain? A destroyed VM clears no live byte. dom0 may make the
 * hypercall; agentd, in the VM, may not (its env leaves this NULL). */
static int
xen_peer_alive(const struct vchan_env *env, unsigned int port)
{
	xc_evtchn_status_t st;

	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = port;
	if (xc_evtchn_status(env->xc, &st) == -1)
		return 1;	/* cannot tell: trust libxenvchan */
	return st.status == EVTCHNSTAT_interdomain;
}

/* Xen: the handles the vchan layer wants, and our own domain id (0 in
 * dom0; read from XenStore so that a driver domain could play it too). */
static void
xen_env(struct vchan_env *env)
{
	unsigned int len = 0;
	uint64_t id;
	char *val;

	env->kind = VCHAN_XEN;
	if ((env->xs = xs_open(0)) == NULL)
		fatal("xs_open (is this dom0, with xenstored running?)");
	if ((env->xc = xc_interface_open(NULL, NULL, 0)) == NULL)
		fatal("xc_interface_open");
	env->peer_alive = xen_peer_alive;
	env->domid = 0;
	val = xs_read(env->xs, XBT_NULL, "domid", &len);
	if (val != NULL && parse_u64(val, 0, 32751, &id) == 0)
		env->domid = (int)id;
	free(val);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vchan",	required_argument, NULL, 'V' },
		{ "vchan-dir",	required_argument, NULL, 'd' },
		{ "ctl-dir",	required_argument, NULL, 'c' },
		{ "domid",	required_argument, NULL, 'i' },
		{ "qubesdb",	required_argument, NULL, 'q' },
		{ "name",	required_argument, NULL, 'n' },
		{ "source",	required_argument, NULL, 's' },
		{ "source-domid", required_argument, NULL, 'S' },
		{ "no-commit",	no_argument, NULL, 'C' },
		{ "rpc",	required_argument, NULL, 'R' },
		{ "help",	no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd, *dir = NULL, *ctldir = NULL, *file = NULL;
	const char *source = "dom0", *kind = NULL;
	char err[512];
	uint64_t v;
	int ch, vm = -1, srcdom = -1, commit = 1;

	log_init("moat-dom0", LOG_LVL_INFO);
	if (argc < 2)
		usage(2);
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0)
		usage(0);
	optind = 2;
	d.name = "vm";
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'V':
			if (strcmp(optarg, "socket") != 0 &&
			    strcmp(optarg, "xen") != 0)
				fatalx("--vchan %s: socket or xen", optarg);
			kind = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'c':
			ctldir = optarg;
			break;
		case 'i':
			if (parse_u64(optarg, 1, 32751, &v) != 0)
				fatalx("--domid %s: not a domain id", optarg);
			vm = (int)v;
			break;
		case 'q':
			file = optarg;
			break;
		case 'n':
			d.name = optarg;
			break;
		case 's':
			source = optarg;
			break;
		case 'S':
			if (parse_u64(optarg, 0, 32751, &v) != 0)
				fatalx("--source-domid %s: not a domain id",
				    optarg);
			srcdom = (int)v;
			break;
		case 'C':
			commit = 0;
			break;
		case 'R': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL || eq == optarg || eq[1] == '\0' ||
			    d.nrpc == MAX_RPC)
				fatalx("--rpc %s: SERVICE=PROGRAM (at most %d)",
				    optarg, MAX_RPC);
			d.rpc[d.nrpc].service = strndup(optarg,
			    (size_t)(eq - optarg));
			d.rpc[d.nrpc++].program = eq + 1;
			break;
		}
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (kind == NULL)
		kind = "socket";
	if (strcmp(kind, "xen") == 0 && dir != NULL)
		fatalx("--vchan xen takes no --vchan-dir (see --ctl-dir)");
	if ((strcmp(kind, "socket") == 0 && dir == NULL) || vm < 0)
		usage(2);
	if (ctldir == NULL)
		ctldir = dir != NULL ? dir : XEN_CTL_DIR;
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "serve") == 0) {
		if (file == NULL || argc != 0)
			usage(2);
		qdb_init(&d.db);
		if (qdb_load_json(file, &d.db, err, sizeof(err)) == -1)
			fatalx("%s", err);
		d.ctldir = ctldir;
		d.vm = vm;
		if (dir == NULL)
			xen_env(&d.env);
		else {
			d.env.kind = VCHAN_SOCKET;
			d.env.domid = 0;
			snprintf(d.env.dir, sizeof(d.env.dir), "%s", dir);
		}
		return serve();
	}
	if (strcmp(cmd, "write") == 0)
		return cmd_write(ctldir, vm, argc, argv, commit);
	if (strcmp(cmd, "rm") == 0)
		return cmd_rm(ctldir, vm, argc, argv);
	if (strcmp(cmd, "rules") == 0)
		return cmd_rules(ctldir, vm, argc, argv);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(ctldir, vm);
	if (strcmp(cmd, "call") == 0) {
		if (argc != 1)
			usage(2);
		if (srcdom < 0)
			srcdom = strcmp(source, "dom0") == 0 ? 0 : 99;
		return cmd_call(ctldir, vm, argv[0], source, srcdom);
	}
	usage(2);
}
