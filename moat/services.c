/*
 * services.c: the moat.* services (for moatctl over the control socket,
 * and for qrexec calls that agentd forwards), dispatched to the daemon
 * that owns each one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <jansson.h>

#include "agentd/qdb.h"
#include "policyd/qrule.h"

#include "ctl.h"
#include "moat.h"
#include "shm.h"
#include "proc.h"
#include "util.h"

#define CALL_TIMEOUT_MS	10000
#define MAX_CALLS	64
#define MAX_CONNS	32

struct ctlconn {
	int		 fd;
	struct evsrc	 ev;
	struct ctl_req	 req;
	size_t		 hgot;
	char		*in;
	size_t		 ingot;
	uint64_t	 deadline;
	int		 waiting;	/* a call is under way for it */
};

enum call_kind { CK_PLAIN = 0, CK_STATS, CK_SETRULES, CK_STORED };

struct call {
	int		 used;
	uint32_t	 id;
	enum proc_id	 target;
	enum call_kind	 kind;
	uint64_t	 deadline;
	struct ctlconn	*conn;		/* from moatctl, or */
	int		 from_agent;	/* from agentd (qrexec) */
	uint32_t	 agent_callid;
	int		 in_fd;		/* kept for SetRules: replayed to a restarted policyd */
};

struct result {
	int32_t		 status;
	const char	*out;
	size_t		 out_len;
	const char	*err;
	size_t		 err_len;
};

static struct call calls[MAX_CALLS];
static int stored_apply;	/* dispatch: this SetRules is the stored document */
static void	stored_release(const char *how);
static struct ctlconn *conns[MAX_CONNS];
static uint32_t next_callid = 1;
static void	ctl_accept(struct evsrc *, uint32_t);
static struct evsrc listen_ev = { -1, ctl_accept, NULL };

/* ---- configuration check at start ---- */

void
services_check_config(void)
{
	struct qdb db;
	char err[512];
	size_t i;

	if (M.qubesdb == NULL)
		return;
	/*
	 * The same loader and checks agentd uses, and policyd's own rule
	 * grammar: a file that would leave the firewall misconfigured is
	 * refused before anything starts, naming the key.
	 */
	qdb_init(&db);
	if (qdb_load_json(M.qubesdb, &db, err, sizeof err) < 0 ||
	    qdb_check_config(&db, err, sizeof err) < 0) {
		fprintf(stderr, "moat: --qubesdb %s: %s\n", M.qubesdb, err);
		exit(2);
	}
	for (i = 0; i < db.n; i++) {
		const struct qdb_entry *e = &db.e[i];
		uint8_t addr[16];
		const char *rest;
		struct qrule r;

		if (qdb_fw_key(e->path, addr, &rest) == 0 || rest[0] != '/')
			continue;
		if (strcmp(rest, "/policy") == 0) {
			if (qrule_policy(e->value, e->len) < 0) {
				fprintf(stderr, "moat: --qubesdb %s: key \"%s\": the policy is accept or drop\n",
				    M.qubesdb, e->path);
				exit(2);
			}
		} else if (qrule_parse(e->value, e->len, &r, err, sizeof err) < 0) {
			fprintf(stderr, "moat: --qubesdb %s: key \"%s\": %s\n", M.qubesdb, e->path, err);
			exit(2);
		}
	}
	qdb_free(&db);
}

/* ---- delivering results ---- */

static void
conn_close(struct ctlconn *c)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] == c)
			conns[i] = NULL;
	for (int i = 0; i < MAX_CALLS; i++)
		if (calls[i].used && calls[i].conn == c)
			calls[i].conn = NULL;
	evloop_del(&M.loop, &c->ev);
	close(c->fd);
	free(c->in);
	free(c);
}

static void
conn_reply(struct ctlconn *c, const struct result *r)
{
	struct ctl_resp h = {
		.magic = CTL_MAGIC, .status = r->status,
		.out_len = (uint32_t)r->out_len, .err_len = (uint32_t)r->err_len,
	};
	struct timeval tv = { .tv_sec = 5 };
	int fl = fcntl(c->fd, F_GETFL);

	/* Blocking with a deadline: only root reaches this socket, and a
	 * client that stops reading costs us at most 5 s once. */
	fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (write_all(c->fd, &h, sizeof h) < 0 ||
	    (r->out_len && write_all(c->fd, r->out, r->out_len) < 0) ||
	    (r->err_len && write_all(c->fd, r->err, r->err_len) < 0))
		log_debug("control client went away before its answer");
	conn_close(c);
}

static void
agent_reply(uint32_t agent_callid, const struct result *r)
{
	struct msg_call_done d = {
		.callid = agent_callid, .status = r->status,
		.out_len = (uint32_t)r->out_len, .err_len = (uint32_t)r->err_len,
	};
	char *buf = malloc(r->out_len + r->err_len + 1);
	int fd;

	if (buf == NULL)
		return;
	memcpy(buf, r->out, r->out_len);
	memcpy(buf + r->out_len, r->err, r->err_len);
	fd = memfd_from("moat-svc-out", buf, r->out_len + r->err_len);
	free(buf);
	if (fd < 0) {
		log_warn("memfd for a qrexec answer");
		return;
	}
	daemon_send(PROC_AGENTD, MSG_SVC_REPLY, 0, &d, sizeof d, fd);
	close(fd);
}

static void
deliver(struct ctlconn *conn, int from_agent, uint32_t agent_callid,
    const struct result *r)
{
	if (conn)
		conn_reply(conn, r);
	else if (from_agent)
		agent_reply(agent_callid, r);
}

static void
fail(struct ctlconn *conn, int from_agent, uint32_t agent_callid, int status,
    const char *fmt, ...)
{
	char err[512];
	struct result r = { .status = status, .err = err };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, sizeof err - 1, fmt, ap);
	va_end(ap);
	strcat(err, "\n");
	r.err_len = strlen(err);
	deliver(conn, from_agent, agent_callid, &r);
}

static void
call_free(struct call *c)
{
	if (c->in_fd >= 0)
		close(c->in_fd);
	memset(c, 0, sizeof *c);
	c->in_fd = -1;
}

/* ---- local services ---- */

static void
svc_logs(const char *arg, struct result *r, char **buf)
{
	struct daemon *d = daemon_by_name(arg);
	static const size_t cap = LOGRING_LINES * (LOGRING_LINE_MAX + 32);

	if (d == NULL) {
		*buf = strdup("moat.Logs: no daemon by that name (netbackd, natd, policyd, agentd, moat)\n");
		r->status = 2;
		r->err = *buf;
		r->err_len = strlen(*buf);
		return;
	}
	*buf = malloc(cap);
	r->out = *buf;
	r->out_len = *buf ? logring_dump(&d->log, *buf, cap) : 0;
}

static void
svc_debug(const char *arg, struct result *r, char **buf)
{
	struct msg_loglevel ll;
	int on;

	if (strcmp(arg, "on") == 0)
		on = 1;
	else if (strcmp(arg, "off") == 0)
		on = 0;
	else {
		*buf = strdup("moat.Debug: the argument is on or off\n");
		r->status = 2;
		r->err = *buf;
		r->err_len = strlen(*buf);
		return;
	}
	M.debug = on;
	ll.level = on ? LOG_LVL_DEBUG : LOG_LVL_INFO;
	ll.pad = 0;
	log_setlevel((int)ll.level);
	for (int i = PROC_NETBACKD; i < PROC_COUNT; i++)
		daemon_send((enum proc_id)i, MSG_LOGLEVEL, 0, &ll, sizeof ll, -1);
	log_info("debug logging %s", on ? "on" : "off");
	*buf = strdup(on ? "debug logging on\n" : "debug logging off\n");
	r->out = *buf;
	r->out_len = strlen(*buf);
}

#ifdef MOAT_TEST_HOOKS
/* Test builds only: make a daemon attempt a system call its sandbox
 * forbids, to prove the sandbox kills it and the supervisor restarts it. */
static void
svc_test_syscall(const char *arg, struct result *r, char **buf)
{
	struct msg_test_syscall t = { .what = 0 };
	struct daemon *d = daemon_by_name(arg);

	if (d == NULL || d->id == PROC_MOAT || d->chan < 0) {
		*buf = strdup("moat.TestSyscall: no running daemon by that name\n");
		r->status = 2;
		r->err = *buf;
		r->err_len = strlen(*buf);
		return;
	}
	daemon_send(d->id, MSG_TEST_SYSCALL, 0, &t, sizeof t, -1);
	*buf = strdup("sent\n");
	r->out = *buf;
	r->out_len = strlen(*buf);
}

/* Test builds only: make the producer of a ring (arg: RX, TX, FLOWREQ,
 * VERDICT) corrupt its index, to prove the consumer notices, both ends
 * restart and traffic comes back. */
static void
svc_test_break_ring(const char *arg, struct result *r, char **buf)
{
	struct msg_test_ring t = { .ring = RING_COUNT };
	struct daemon *d;

	for (uint32_t i = 0; i < RING_COUNT; i++)
		if (strcmp(arg, ring_table[i].name) == 0)
			t.ring = i;
	d = t.ring < RING_COUNT ? &M.d[ring_table[t.ring].producer] : NULL;
	if (d == NULL || d->chan < 0) {
		*buf = strdup("moat.TestBreakRing: no such ring, or its producer is not running\n");
		r->status = 2;
		r->err = *buf;
		r->err_len = strlen(*buf);
		return;
	}
	daemon_send(d->id, MSG_TEST_RING, 0, &t, sizeof t, -1);
	*buf = strdup("sent\n");
	r->out = *buf;
	r->out_len = strlen(*buf);
}
#endif

static const struct service {
	const char	*name;
	int		 arg;		/* 0: none, 1: required, 2: optional */
	enum proc_id	 target;	/* PROC_MOAT: handled here */
	enum call_kind	 kind;
	void		(*local)(const char *, struct result *, char **);
} services[] = {
	{ "moat.SetRules", 0, PROC_POLICYD, CK_SETRULES, NULL },
	{ "moat.GetRules", 0, PROC_POLICYD, CK_PLAIN, NULL },
	{ "moat.Stats", 0, PROC_NATD, CK_STATS, NULL },
	{ "moat.DumpRejects", 0, PROC_NATD, CK_PLAIN, NULL },
	{ "moat.Logs", 1, PROC_MOAT, CK_PLAIN, svc_logs },
	{ "moat.Debug", 1, PROC_MOAT, CK_PLAIN, svc_debug },
	{ "moat.Flows", 2, PROC_NATD, CK_PLAIN, NULL },	/* +CLIENT: only its flows */
#ifdef MOAT_TEST_HOOKS
	{ "moat.TestSyscall", 1, PROC_MOAT, CK_PLAIN, svc_test_syscall },
	{ "moat.TestBreakRing", 1, PROC_MOAT, CK_PLAIN, svc_test_break_ring },
#endif
};

/*
 * Run a service. Input is in in_fd (a sealed memfd, or -1 for none), of
 * in_len bytes. The answer goes back to conn or to agentd.
 */
static void
dispatch(const char *service, const char *arg, const char *source, int in_fd,
    uint32_t in_len, struct ctlconn *conn, int from_agent, uint32_t agent_callid)
{
	const struct service *s = NULL;
	struct msg_call mc;
	struct call *c = NULL;
	size_t i;

	for (i = 0; i < sizeof services / sizeof services[0]; i++)
		if (strcmp(services[i].name, service) == 0)
			s = &services[i];
	if (s == NULL) {
		fail(conn, from_agent, agent_callid, 127, "moat: unknown service '%s'", service);
		goto out;
	}
	if (s->arg == 1 && arg[0] == '\0') {
		fail(conn, from_agent, agent_callid, 2, "%s needs an argument (%s+ARG)", service, service);
		goto out;
	}
	if (!s->arg && arg[0] != '\0') {
		fail(conn, from_agent, agent_callid, 2, "%s takes no argument", service);
		goto out;
	}
	if (in_len > SVC_MAX_INPUT) {
		fail(conn, from_agent, agent_callid, 2,
		    "%s: input over %d bytes refused", service, SVC_MAX_INPUT);
		goto out;
	}
	if (s->local) {
		struct result r = { 0 };
		char *buf = NULL;

		s->local(arg, &r, &buf);
		deliver(conn, from_agent, agent_callid, &r);
		free(buf);
		goto out;
	}
	if (M.d[s->target].chan < 0 || !M.d[s->target].ready) {
		fail(conn, from_agent, agent_callid, 75, "%s: %s is restarting, try again",
		    service, M.d[s->target].name);
		goto out;
	}
	for (i = 0; i < MAX_CALLS; i++)
		if (!calls[i].used) {
			c = &calls[i];
			break;
		}
	if (c == NULL) {
		fail(conn, from_agent, agent_callid, 75, "%s: too many calls under way", service);
		goto out;
	}
	if (in_fd < 0 && (in_fd = memfd_from("moat-svc-in", "", 0)) < 0) {
		fail(conn, from_agent, agent_callid, 1, "%s: out of memory", service);
		goto out;
	}
	c->used = 1;
	c->id = next_callid++;
	c->target = s->target;
	c->kind = stored_apply ? CK_STORED : s->kind;
	c->deadline = now_ms() + CALL_TIMEOUT_MS;
	c->conn = conn;
	c->from_agent = from_agent;
	c->agent_callid = agent_callid;
	c->in_fd = -1;
	memset(&mc, 0, sizeof mc);
	mc.callid = c->id;
	mc.in_len = in_len;
	strlcpy_(mc.service, service, sizeof mc.service);
	strlcpy_(mc.arg, arg, sizeof mc.arg);
	strlcpy_(mc.source, source, sizeof mc.source);
	daemon_send(s->target, MSG_CALL, c->id, &mc, sizeof mc, in_fd);
	if (c->kind == CK_SETRULES || c->kind == CK_STORED) {
		c->in_fd = in_fd;	/* kept: replayed to policyd after a restart */
		in_fd = -1;
	}
	if (conn)
		conn->waiting = 1;
out:
	if (in_fd >= 0)
		close(in_fd);
}

/* natd's statistics plus the supervisor's view of every daemon. */
static char *
stats_wrap(const char *natd_json, size_t len)
{
	json_t *root = json_loadb(natd_json, len, 0, NULL), *daemons;
	uint64_t now = now_ms();
	char *out;

	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		root = json_object();
	}
	daemons = json_object();
	for (int i = PROC_MOAT; i < PROC_COUNT; i++) {
		struct daemon *d = &M.d[i];
		json_t *o = json_object();

		json_object_set_new(o, "pid", json_integer(i == PROC_MOAT ? getpid() : d->pid));
		json_object_set_new(o, "ready", json_boolean(i == PROC_MOAT || d->ready));
		json_object_set_new(o, "restarts", json_integer(d->restarts));
		json_object_set_new(o, "ring_breaks", json_integer(d->ring_breaks));
		json_object_set_new(o, "uptime_s", json_integer(
		    (json_int_t)((now - (i == PROC_MOAT ? M.start_ms : d->started_ms)) / 1000)));
		if (d->last_death[0])
			json_object_set_new(o, "last_death", json_string(d->last_death));
		json_object_set_new(daemons, d->name, o);
	}
	json_object_set_new(root, "daemons", daemons);
	out = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return out;
}

void
service_call_done(struct daemon *d, const struct msg *m)
{
	struct msg_call_done done;
	struct result r = { 0 };
	struct call *c = NULL;
	char *buf = NULL, *wrapped = NULL;
	size_t len = 0;

	/* msg_recv checked the size against the table: a mismatch here is
	 * the table's bug, and the answer is dropped like an unknown one */
	if (msg_get(m, MSG_CALL_DONE, &done, sizeof done) < 0) {
		log_warnx("%s: malformed CALL_DONE ignored", d->name);
		goto out;
	}
	for (int i = 0; i < MAX_CALLS; i++)
		if (calls[i].used && calls[i].id == done.callid && calls[i].target == d->id)
			c = &calls[i];
	if (done.callid == 0) {
		/* the SetRules replay after a policyd restart */
		if (done.status != 0)
			log_warnx("policyd refused the replayed rules (status %d)", done.status);
		goto out;
	}
	if (c == NULL) {
		log_warnx("%s answered call %u that nobody is waiting for", d->name, done.callid);
		goto out;
	}
	buf = memfd_read(m->fd, SVC_MAX_OUTPUT, &len);
	if (buf == NULL || (uint64_t)done.out_len + done.err_len != len) {
		r.status = 1;
		r.err = "moat: the service's answer was malformed\n";
		r.err_len = strlen(r.err);
	} else {
		r.status = done.status;
		r.out = buf;
		r.out_len = done.out_len;
		r.err = buf + done.out_len;
		r.err_len = done.err_len;
	}
	if (c->kind == CK_STATS && r.status == 0) {
		wrapped = stats_wrap(r.out, r.out_len);
		r.out = wrapped;
		r.out_len = wrapped ? strlen(wrapped) : 0;
	}
	if ((c->kind == CK_SETRULES || c->kind == CK_STORED) && r.status == 0) {
		if (M.setrules_fd >= 0)
			close(M.setrules_fd);
		M.setrules_fd = c->in_fd;
		c->in_fd = -1;
	}
	if (c->kind == CK_SETRULES && r.status == 0) {
		/* newer than anything dom0 kept: no need to wait for that */
		M.user_rules = 1;
		stored_release("rules were set meanwhile");
	}
	if (c->kind == CK_STORED) {
		if (r.status == 0)
			log_info("the JSON rules stored in dom0 are in force");
		else
			log_warnx("the JSON rules stored in dom0 were refused, "
			    "not applied (the Qubes rules alone decide): %.*s",
			    (int)(r.err_len > 300 ? 300 : r.err_len), r.err);
		stored_release(r.status == 0 ? "applied" : "refused by policyd");
	}
	deliver(c->conn, c->from_agent, c->agent_callid, &r);
	call_free(c);
out:
	free(buf);
	free(wrapped);
	if (m->fd >= 0)
		close(m->fd);
}

void
service_agent_request(const struct msg *m)
{
	struct msg_call mc;
	struct stat st;

	if (msg_get(m, MSG_SVC_REQ, &mc, sizeof mc) < 0) {
		log_warnx("agentd: malformed SVC_REQ ignored");
		if (m->fd >= 0)
			close(m->fd);
		return;
	}
	mc.service[sizeof mc.service - 1] = '\0';
	mc.arg[sizeof mc.arg - 1] = '\0';
	mc.source[sizeof mc.source - 1] = '\0';
	/* the memfd's real size, not the length agentd claims */
	if (fstat(m->fd, &st) < 0 || (uint64_t)st.st_size != mc.in_len) {
		fail(NULL, 1, mc.callid, 1, "moat: input size mismatch");
		close(m->fd);
		return;
	}
	dispatch(mc.service, mc.arg, mc.source, m->fd, mc.in_len, NULL, 1, mc.callid);
}

void
services_daemon_died(enum proc_id id)
{
	for (int i = 0; i < MAX_CALLS; i++) {
		struct call *c = &calls[i];

		if (c->used && c->target == id) {
			fail(c->conn, c->from_agent, c->agent_callid, 75,
			    "moat: %s died while answering; try again", M.d[id].name);
			if (c->kind == CK_STORED && M.stored_fd < 0) {
				/* the next policyd gets them (stored_ready) */
				M.stored_fd = c->in_fd;
				c->in_fd = -1;
			}
			call_free(c);
		}
	}
}

void
services_tick(uint64_t now)
{
	for (int i = 0; i < MAX_CALLS; i++) {
		struct call *c = &calls[i];

		if (c->used && now > c->deadline) {
			fail(c->conn, c->from_agent, c->agent_callid, 75,
			    "moat: %s did not answer in time", M.d[c->target].name);
			if (c->kind == CK_STORED)
				stored_release("policyd did not answer");
			call_free(c);
		}
	}
	if (M.stored == STORED_PENDING && now > M.stored_deadline)
		stored_release("dom0 did not answer in time");
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] && !conns[i]->waiting && now > conns[i]->deadline)
			conn_close(conns[i]);
}

/* ---- control socket ---- */

static void
status_reply(struct ctlconn *c)
{
	char out[2048];
	size_t off = 0;
	uint64_t now = now_ms();
	struct result r = { 0 };

	off += (size_t)snprintf(out + off, sizeof out - off, "%-9s %7s %-8s %8s %9s  %s\n",
	    "DAEMON", "PID", "STATE", "RESTARTS", "UPTIME", "LAST DEATH");
	for (int i = PROC_NETBACKD; i < PROC_COUNT; i++) {
		struct daemon *d = &M.d[i];

		off += (size_t)snprintf(out + off, sizeof out - off, "%-9s %7d %-8s %8u %8llus  %s\n",
		    d->name, (int)d->pid, d->pid == 0 ? "down" : d->ready ? "ready" : "starting",
		    d->restarts, d->pid ? (unsigned long long)((now - d->started_ms) / 1000) : 0ULL,
		    d->last_death[0] ? d->last_death : "-");
	}
	r.out = out;
	r.out_len = off;
	conn_reply(c, &r);
}

static void
conn_request_complete(struct ctlconn *c)
{
	int fd;

	if (c->req.op == CTL_OP_STATUS) {
		status_reply(c);
		return;
	}
	fd = memfd_from("moat-svc-in", c->in ? c->in : "", c->req.in_len > SVC_MAX_INPUT ?
	    0 : c->req.in_len);
	if (fd < 0) {
		fail(c, 0, 0, 1, "moat: out of memory");
		return;
	}
	evloop_del(&M.loop, &c->ev);
	dispatch(c->req.service, c->req.arg, "moatctl", fd, c->req.in_len, c, 0, 0);
}

static void
ctl_conn_event(struct evsrc *s, uint32_t events)
{
	struct ctlconn *c = s->arg;
	ssize_t n;

	if (c->waiting)
		return;
	if (c->hgot < sizeof c->req) {
		n = read(c->fd, (char *)&c->req + c->hgot, sizeof c->req - c->hgot);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				conn_close(c);
			return;
		}
		c->hgot += (size_t)n;
		if (c->hgot < sizeof c->req)
			return;
		c->req.service[SVC_NAME_MAX - 1] = '\0';
		c->req.arg[SVC_NAME_MAX - 1] = '\0';
		if (c->req.magic != CTL_MAGIC ||
		    (c->req.op != CTL_OP_CALL && c->req.op != CTL_OP_STATUS) ||
		    c->req.in_len > SVC_MAX_INPUT + 1) {
			log_warnx("control: malformed request: closing");
			conn_close(c);
			return;
		}
		if (c->req.in_len && (c->in = malloc(c->req.in_len)) == NULL) {
			conn_close(c);
			return;
		}
	}
	while (c->ingot < c->req.in_len) {
		n = read(c->fd, c->in + c->ingot, c->req.in_len - c->ingot);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				conn_close(c);
			return;
		}
		c->ingot += (size_t)n;
	}
	(void)events;
	conn_request_complete(c);
}

static void
ctl_accept(struct evsrc *s, uint32_t events)
{
	struct ctlconn *c;
	int fd, i;

	(void)s;
	(void)events;
	while ((fd = accept4(M.ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		for (i = 0; i < MAX_CONNS && conns[i]; i++)
			;
		if (i == MAX_CONNS || (c = calloc(1, sizeof *c)) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->ev = (struct evsrc){ fd, ctl_conn_event, c };
		c->deadline = now_ms() + 5000;
		conns[i] = c;
		if (evloop_add(&M.loop, &c->ev, EPOLLIN) < 0)
			fatal("epoll_ctl add");
	}
}

void
services_init(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof sun.sun_path], *slash;
	mode_t old;

	for (int i = 0; i < MAX_CALLS; i++)
		calls[i].in_fd = -1;
	if (strlen(M.control_path) >= sizeof sun.sun_path)
		fatalx("--control path too long: %s", M.control_path);
	strlcpy_(sun.sun_path, M.control_path, sizeof sun.sun_path);
	strlcpy_(dir, M.control_path, sizeof dir);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0700);
	}
	M.ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (M.ctl_fd < 0)
		fatal("control socket");
	unlink(M.control_path);
	old = umask(0077);
	if (bind(M.ctl_fd, (struct sockaddr *)&sun, sizeof sun) < 0)
		fatal("binding the control socket %s", M.control_path);
	umask(old);
	if (listen(M.ctl_fd, 16) < 0)
		fatal("listen on %s", M.control_path);
	listen_ev.fd = M.ctl_fd;
	if (evloop_add(&M.loop, &listen_ev, EPOLLIN) < 0)
		fatal("epoll_ctl add");
}

void
services_stop(void)
{
	for (int i = 0; i < MAX_CALLS; i++)
		if (calls[i].used) {
			fail(calls[i].conn, calls[i].from_agent, calls[i].agent_callid, 75,
			    "moat: shutting down");
			call_free(&calls[i]);
		}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			conn_close(conns[i]);
	close(M.ctl_fd);
	unlink(M.control_path);
}

/*
 * The JSON rules stored in dom0 by moat-rules (docs/rules.md). With dom0
 * (--vchan), policyd holds new flows until they are in: agentd calls
 * moat.StoredRules in dom0 once it is ready; the answer goes to policyd as
 * a SetRules call, and policyd goes on once that is done, or once dom0 has
 * refused, answered nothing, or not answered within STORED_WAIT_MS.
 */
void
stored_init(void)
{
	M.stored_fd = -1;
	if (M.vchan == NULL)
		return;
	M.stored = STORED_PENDING;
	M.stored_deadline = now_ms() + STORED_WAIT_MS;
}

static void
stored_release(const char *how)
{
	struct msg_rules_hold h = { .hold = 0 };

	if (M.stored != STORED_PENDING)
		return;
	M.stored = STORED_DONE;
	log_info("stored rules: %s; deciding flows", how);
	if (M.d[PROC_POLICYD].chan >= 0)
		daemon_send(PROC_POLICYD, MSG_RULES_HOLD, 0, &h, sizeof h, -1);
}

static void
stored_apply_fd(void)
{
	struct stat st;
	int fd = M.stored_fd;

	M.stored_fd = -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		stored_release("unreadable answer");
		return;
	}
	stored_apply = 1;
	dispatch("moat.SetRules", "", "dom0 (stored)", fd, (uint32_t)st.st_size,
	    NULL, 0, 0);
	stored_apply = 0;
	/* dispatch may have failed before the call (policyd restarting):
	 * then no CK_STORED call is under way to release the hold */
	for (int i = 0; i < MAX_CALLS; i++)
		if (calls[i].used && calls[i].kind == CK_STORED)
			return;
	stored_release("policyd could not take them");
}

void
stored_result(const struct msg *m)
{
	struct msg_dom0_result r;
	struct stat st;

	if (msg_get(m, MSG_DOM0_RESULT, &r, sizeof r) < 0 ||
	    fstat(m->fd, &st) < 0 || (uint64_t)st.st_size != r.out_len) {
		log_warnx("agentd: malformed DOM0_RESULT ignored");
		stored_release("no usable answer");
		goto out;
	}
	if (M.user_rules) {
		log_info("stored rules: dom0's answer ignored: rules were set "
		    "since the start");
		stored_release("rules were set meanwhile");
		goto out;
	}
	if (r.status == DOM0_REFUSED) {
		log_warnx("stored rules: dom0 refused the %s call (qrexec "
		    "policy): the Qubes rules alone decide", STORED_SERVICE);
		stored_release("refused");
	} else if (r.status != DOM0_ANSWERED || r.exit_code != 0) {
		log_warnx("stored rules: the %s call failed (status %u, exit "
		    "%d): the Qubes rules alone decide", STORED_SERVICE,
		    r.status, r.exit_code);
		stored_release("failed");
	} else if (r.out_len == 0) {
		stored_release("none stored in dom0");
	} else {
		log_info("stored rules: %u bytes from dom0", r.out_len);
		if (M.stored_fd >= 0)
			close(M.stored_fd);
		M.stored_fd = m->fd;
		if (M.d[PROC_POLICYD].ready)
			stored_apply_fd();
		return;		/* the fd is ours now */
	}
out:
	if (m->fd >= 0)
		close(m->fd);
}

void
stored_ready(enum proc_id id)
{
	struct msg_dom0_call c = { .service = STORED_SERVICE };
	struct msg_rules_hold h = { .hold = 1 };

	if (id == PROC_AGENTD && M.stored == STORED_PENDING &&
	    M.stored_fd < 0)
		daemon_send(PROC_AGENTD, MSG_DOM0_CALL, 0, &c, sizeof c, -1);
	if (id == PROC_POLICYD) {
		/* a policyd started (or restarted) before the answer, or
		 * died applying it */
		if (M.stored == STORED_PENDING)
			daemon_send(PROC_POLICYD, MSG_RULES_HOLD, 0, &h,
			    sizeof h, -1);
		if (M.stored_fd >= 0 && M.user_rules) {
			close(M.stored_fd);	/* rules were set since */
			M.stored_fd = -1;
		}
		if (M.stored_fd >= 0)
			stored_apply_fd();
	}
}
