/*
 * policyd: moat's rule engine. Qubes firewall rules (from QubesDB, via
 * agentd) and JSON rules (moat.SetRules) in, verdicts for natd's new flows
 * out. fd 3 is the control channel to the supervisor; after MSG_START the
 * process is sandboxed and reaches nothing but that channel and its rings.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dnscache.h"
#include "evloop.h"
#include "jrules.h"
#include "log.h"
#include "daemon.h"
#include "msg.h"
#include "names.h"
#include "policyd.h"
#include "qrule.h"
#include "sandbox.h"
#include "shm.h"
#include "util.h"

extern const struct sandbox_policy policyd_sandbox_policy;	/* policyd_sandbox.c */

static struct engine	eng;
static struct dnsc	dns;
static struct shm	shm;
static struct pd_flows	pf;
static int		started;
static int		held;		/* MSG_RULES_HOLD */
static int64_t		next_expire;
static struct evloop	loop;

/* The Qubes rules of one client, between QRULES_BEGIN and QRULES_END. */
static struct {
	int		 active;
	struct msg_qrules_begin b;
	uint32_t	 got;
	struct qrule	*rules;
	uint32_t	*keys;
	char		 why[320];
} qb;

static void
send_msg(uint32_t type, uint32_t id, const void *p, size_t len, int fd)
{
	if (msg_send(MSG_PARENT_FD, type, id, p, len, fd) < 0)
		fatal("sending %s", msg_name(type));
}

/* Tell natd to re-check its flows against the rules now in force. */
static void
rules_changed(void)
{
	struct msg_rules_changed c = { .generation = eng.generation };

	next_expire = engine_next_expire(&eng, time(NULL));
	if (started)
		send_msg(MSG_RULES_CHANGED, 0, &c, sizeof c, -1);
}

/* Hand natd the forwards of the JSON rules in force (an empty table when
 * there are none), so that it cuts the forwarded flows none allows now. */
static void
send_forwards(void)
{
	static struct msg_forwards t;

	memset(&t, 0, sizeof t);
	if (eng.json.fwd != NULL)
		t = *eng.json.fwd;
	t.generation = eng.generation;
	if (started)
		send_msg(MSG_FORWARDS, 0, &t, sizeof t, -1);
}

/* Hand natd the rate limits in force (an empty table lifts them all). */
static void
send_limits(void)
{
	static struct msg_limits t;

	memset(&t, 0, sizeof t);
	if (eng.json.lim != NULL)
		t = *eng.json.lim;
	t.generation = eng.generation;
	if (started)
		send_msg(MSG_LIMITS, 0, &t, sizeof t, -1);
}

static void
qrules_begin(const struct msg *m)
{
	if (qb.active)
		fatalx("QRULES_BEGIN inside another");
	if (msg_get(m, MSG_QRULES_BEGIN, &qb.b, sizeof qb.b) < 0 ||
	    (qb.b.family != 4 && qb.b.family != 6) || qb.b.count > 10000)
		fatalx("QRULES_BEGIN: family %u, %u rules", qb.b.family, qb.b.count);
	qb.rules = calloc(qb.b.count + 1, sizeof *qb.rules);
	qb.keys = calloc(qb.b.count + 1, sizeof *qb.keys);
	if (qb.rules == NULL || qb.keys == NULL)
		fatal("QRULES_BEGIN");
	qb.active = 1;
	qb.got = 0;
	qb.why[0] = '\0';
}

static void
qrule(const struct msg *m)
{
	static struct msg_qrule r;
	char err[256];

	if (msg_get(m, MSG_QRULE, &r, sizeof r) < 0 || !qb.active || qb.got >= qb.b.count || r.len > QRULE_MAX)
		fatalx("QRULE out of sequence or too long");
	qb.keys[qb.got] = r.key;
	if (qrule_parse(r.text, r.len, &qb.rules[qb.got], err, sizeof err) < 0 &&
	    qb.why[0] == '\0')
		snprintf(qb.why, sizeof qb.why, "rule %04u: %s", r.key, err);
	qb.got++;
}

static void
qrules_end(const struct msg *m)
{
	struct msg_qrules_end e;
	size_t plen;
	int policy;

	if (msg_get(m, MSG_QRULES_END, &e, sizeof e) < 0 || !qb.active || e.family != qb.b.family ||
	    memcmp(e.addr, qb.b.addr, 16) != 0 || qb.got != qb.b.count)
		fatalx("QRULES_END does not close its QRULES_BEGIN");
	plen = strnlen(qb.b.policy, sizeof qb.b.policy);
	policy = plen ? qrule_policy(qb.b.policy, plen) : -1;
	engine_qset_install(&eng, qb.b.family, qb.b.addr, policy, qb.rules,
	    qb.keys, qb.got, qb.why[0] ? qb.why : NULL);
	free(qb.rules);
	free(qb.keys);
	memset(&qb, 0, sizeof qb);
	rules_changed();
}

/*
 * GetRules' "learned": what the clients' name tables hold and how often a
 * full one pushed out a live learning (names.h). SetRules ignores it.
 */
static char *
with_learned(char *text, size_t *len)
{
	const struct nametab *t = eng.names;
	json_t *o, *l;
	char *s;
	size_t n;

	o = json_loadb(text, *len, 0, NULL);
	free(text);
	if (o == NULL)
		return NULL;
	l = json_pack("{s:I,s:I,s:I,s:I,s:i}",
	    "entries", (json_int_t)(t ? nt_count(t) : 0),
	    "learned", (json_int_t)(t ? t->learned : 0),
	    "evicted", (json_int_t)(t ? t->evicted : 0),
	    "refused", (json_int_t)(t ? t->refused : 0),
	    "per_client", NT_QUOTA);
	if (l == NULL || json_object_set_new(o, "learned", l) == -1) {
		json_decref(o);
		return NULL;
	}
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	if ((text = realloc(s, n + 2)) == NULL) {
		free(s);
		return NULL;
	}
	text[n] = '\n';
	text[n + 1] = '\0';
	*len = n + 1;
	return text;
}

/* moat.SetRules / moat.GetRules: output memfd holds stdout then stderr. */
static void
call(const struct msg *m)
{
	struct msg_call c;
	struct msg_call_done d = { 0 };
	char err[600], *in = NULL, *outb = NULL, *buf;
	size_t inlen = 0, olen = 0, elen = 0;
	int fd, changed = 0;

	if (msg_get(m, MSG_CALL, &c, sizeof c) < 0)
		fatalx("bad MSG_CALL");
	c.service[SVC_NAME_MAX - 1] = c.source[SVC_NAME_MAX - 1] = '\0';
	d.callid = c.callid;
	err[0] = '\0';
	if (strcmp(c.service, "moat.SetRules") == 0) {
		struct rset s;
		void *doc;

		if (c.in_len > JR_MAX_INPUT ||
		    (in = memfd_read(m->fd, JR_MAX_INPUT, &inlen)) == NULL)
			snprintf(err, sizeof err, "input is larger than %d bytes "
			    "or unreadable", JR_MAX_INPUT);
		else if (jrules_load(in, inlen, &s, &doc, err, sizeof err) == 0) {
			engine_set_json(&eng, &s, doc);
			log_info("JSON rules from %s: %u rules in force, generation %u",
			    c.source, eng.json.n, eng.generation);
			if ((outb = malloc(96)) != NULL)
				olen = (size_t)snprintf(outb, 96, "%u rules in force "
				    "(generation %u)\n", eng.json.n, eng.generation);
			changed = 1;
		}
		if (!changed) {
			log_info("JSON rules from %s refused: %s", c.source, err);
			d.status = 1;
		}
	} else if (strcmp(c.service, "moat.GetRules") == 0) {
		if ((outb = jrules_dump_hits(eng.jdoc, &eng, &olen)) == NULL ||
		    (outb = with_learned(outb, &olen)) == NULL) {
			snprintf(err, sizeof err, "out of memory");
			d.status = 1;
		}
	} else {
		snprintf(err, sizeof err, "no service %.64s here", c.service);
		d.status = 127;
	}
	free(in);
	close(m->fd);
	/* stderr: "<service>: <reason>\n" */
	if ((buf = malloc(olen + SVC_NAME_MAX + sizeof err + 4)) == NULL)
		fatal("service output");
	if (olen)
		memcpy(buf, outb, olen);
	if (err[0] != '\0')
		elen = (size_t)sprintf(buf + olen, "%s: %s\n", c.service, err);
	free(outb);
	d.out_len = (uint32_t)olen;
	d.err_len = (uint32_t)elen;
	if ((fd = memfd_from("policyd-call", buf, olen + elen)) < 0)
		fatal("service output memfd");
	free(buf);
	send_msg(MSG_CALL_DONE, m->hdr.id, &d, sizeof d, fd);
	close(fd);
	if (changed) {
		send_forwards();
		send_limits();
		rules_changed();
	}
}

/* Role and element size of FLOWREQ and VERDICT are ring_table's (shm.c);
 * shm_attach_end refuses any other ring or end. */
static void
attach(const struct msg *m)
{
	if (started || shm_attach_end(&shm, m, PROC_POLICYD) < 0)
		fatalx("bad MSG_EVENTFD");
}

/* natd's kick; also drains a late one that came while we were awake (or
 * held), which would otherwise end every wait at once. */
static void
req_kicked(struct evsrc *s, uint32_t events)
{
	(void)s;
	(void)events;
	mq_wake_done(pf.req);
}

static struct evsrc reqsrc = { -1, req_kicked, NULL };

static void
start(void)
{
	struct msg_ready r = { .pid = (uint32_t)getpid() };

	if (!shm.attached[RING_FLOWREQ] || !shm.attached[RING_VERDICT])
		fatalx("START before the queues");
	/* jansson seeds its hash from /dev/urandom on first use: now, while
	 * there is a /dev. */
	json_object_seed(0);
	pf.eng = &eng;
	pf.req = &shm.ring[RING_FLOWREQ];
	pf.ver = &shm.ring[RING_VERDICT];
	/* Watched from now on, added before the sandbox (no epoll_ctl). */
	reqsrc.fd = pf.req->efd;
	if (evloop_add(&loop, &reqsrc, EPOLLIN) < 0)
		fatal("epoll_ctl");
	r.sandbox = (uint32_t)sandbox_enter(&policyd_sandbox_policy);
	started = 1;
	send_msg(MSG_READY, 0, &r, sizeof r, -1);
	send_forwards();
	send_limits();
	rules_changed();
}

static void
control(void)
{
	static struct msg m;

	while (daemon_recv(&m)) {
		switch (m.hdr.type) {
		case MSG_QUEUES:
			/* The flow region only: policyd holds no packet memory,
			 * and refuses it if offered. */
			if (started || shm_map(&shm, &m, QR_BIT(QREGION_FLOWS)) < 0)
				fatalx("bad MSG_QUEUES");
			break;
		case MSG_EVENTFD:
			attach(&m);
			break;
		case MSG_START:
			if (started)
				fatalx("START twice");
			start();
			break;
		case MSG_NETCONF: {
			struct msg_netconf nc;

			if (msg_get(&m, MSG_NETCONF, &nc, sizeof nc) < 0)
				fatalx("bad MSG_NETCONF");
			engine_netconf(&eng, &nc);
			eng.generation++;
			rules_changed();
			break;
		}
		case MSG_LINK: {
			struct msg_link l;

			if (msg_get(&m, MSG_LINK, &l, sizeof l) < 0)
				fatalx("bad MSG_LINK");
			engine_link(&eng, &l);
			/* who counts as another client changed: inter-VM
			 * verdicts may change */
			eng.generation++;
			rules_changed();
			break;
		}
		case MSG_CLIENTS: {
			const struct msg_clients *mc = msg_get_clients(&m);

			if (mc == NULL)
				fatalx("bad MSG_CLIENTS");
			engine_clients(&eng, mc, mc->count);
			eng.generation++;
			rules_changed();
			break;
		}
		case MSG_CLIENTS6: {
			const struct msg_clients6 *mc6 = msg_get_clients6(&m);

			if (mc6 == NULL)
				fatalx("bad MSG_CLIENTS6");
			engine_clients6(&eng, mc6, mc6->count);
			eng.generation++;
			rules_changed();
			break;
		}
		case MSG_QRULES_BEGIN:
			qrules_begin(&m);
			break;
		case MSG_QRULE:
			qrule(&m);
			break;
		case MSG_QRULES_END:
			qrules_end(&m);
			break;
		case MSG_CALL:
			call(&m);
			break;
		case MSG_RULES_HOLD: {
			struct msg_rules_hold h;

			if (msg_get(&m, MSG_RULES_HOLD, &h, sizeof h) < 0)
				fatalx("bad MSG_RULES_HOLD");
			if (held != (h.hold != 0))
				log_info("%s", h.hold ? "holding new flows until the "
				    "stored rules are in" : "deciding flows");
			held = h.hold != 0;
			break;
		}
		case MSG_DNS_ANSWER: {
			static struct msg_dns_answer a;

			if (msg_get(&m, MSG_DNS_ANSWER, &a, sizeof a) < 0)
				fatalx("bad MSG_DNS_ANSWER");
			log_debug("dns: answer %u: status %d, %u addresses, ttl %u",
			    a.qid, a.status, a.naddr, a.ttl);
			if (dnsc_answer(&dns, &a, now_ms()) && started)
				pd_flows_retry(&pf, now_ms(), time(NULL));
			break;
		}
#ifdef MOAT_TEST_HOOKS
		case MSG_TEST_RING:
			if (shm_test_break(&shm, &m) < 0)
				fatalx("MSG_TEST_RING for a ring policyd does not produce on");
			break;
#endif
		case MSG_SHUTDOWN:
			log_info("shutting down: %llu flows, %llu accepted, %llu "
			    "dropped, %llu rejected",
			    (unsigned long long)pf.nflows,
			    (unsigned long long)eng.naccept,
			    (unsigned long long)eng.ndrop,
			    (unsigned long long)eng.nreject);
			exit(0);
		default:
			if (!daemon_common_msg(&m))
				fatalx("unexpected %s on the control channel",
				    msg_name(m.hdr.type));
		}
	}
}

/* Queries for names the rules need go to natd through the supervisor. */
static void
dns_send(uint64_t now)
{
	struct msg_dns_query q;

	while (dnsc_next_query(&dns, now, &q)) {
		log_debug("dns: query %u: %s %s", q.qid, q.name,
		    q.qtype == DNS_QTYPE_A ? "A" : "AAAA");
		send_msg(MSG_DNS_QUERY, 0, &q, sizeof q, -1);
	}
}

/* Milliseconds until the next timer: a DNS deadline, a waiting flow's
 * deadline, or a rule's expiry; -1 when nothing is due. */
static int
timeout_ms(uint64_t now)
{
	uint64_t t = pd_flows_deadline(&pf), d = 0;
	int64_t ms = -1;

	if (dnsc_tick(&dns, now, &d) > 0)
		return 0;
	if (d != 0 && (t == 0 || d < t))
		t = d;
	if (t != 0)
		ms = t > now ? (int64_t)(t - now) : 0;
	if (next_expire != 0) {
		int64_t e = (next_expire - (int64_t)time(NULL) + 1) * 1000;

		if (e < 0)
			e = 0;
		if (ms < 0 || e < ms)
			ms = e;
	}
	return ms > 60000 ? 60000 : (int)ms;
}

static void
timers(void)
{
	uint64_t now = now_ms();
	int64_t t = time(NULL);

	if (pf.npending > 0 || dnsc_tick(&dns, now, NULL) > 0)
		pd_flows_retry(&pf, now, t);
	if (next_expire != 0 && t > next_expire) {
		/* a JSON rule stopped applying: flows it accepted must go */
		eng.generation++;
		log_info("a JSON rule expired: generation %u", eng.generation);
		rules_changed();
	}
}

static void
control_ready(struct evsrc *s, uint32_t events)
{
	(void)s;
	(void)events;
	control();
}

int
main(int argc, char **argv)
{
	struct evsrc ctl = { MSG_PARENT_FD, control_ready, NULL };
	unsigned nbusy = 0;

	(void)argc;
	(void)argv;
	log_init("policyd", LOG_LVL_INFO);
	dnsc_init(&dns);
	engine_init(&eng, &dns);
	if (set_nonblock(MSG_PARENT_FD) < 0)
		fatal("control channel");
	evloop_init(&loop);
	if (evloop_add(&loop, &ctl, EPOLLIN) < 0)
		fatal("epoll_ctl");
	for (;;) {
		int timeout = -1, busy = 0, slept = 0;

		/* Held (the supervisor is fetching the stored JSON rules):
		 * leave new flows in the ring; natd keeps their packets. */
		if (started && !held) {
			uint64_t now = now_ms();

			busy = pd_flows_step(&pf, now, time(NULL)) > 0;
			dns_send(now);
			if (busy) {
				/* busy: look at the control channel now and then */
				if (++nbusy % 64 != 0)
					continue;
				timeout = 0;
			} else {
				/* A broken ring never wakes us, nor takes a
				 * verdict: go, naming natd, before waiting on
				 * it (ring.h). */
				shm_check_rings(&shm, PROC_POLICYD);
				if (pf.nout > 0)
					timeout = 1;	/* natd's verdict ring is full: wait a little */
				else if (!mq_prepare_sleep(pf.req))
					continue;
				else {
					slept = 1;
					timeout = timeout_ms(now);
				}
			}
		}
		evloop_wait(&loop, timeout);
		if (slept)
			mq_wake_done(pf.req);
		if (busy || (slept && !held))
			timers();
	}
}
