/*
 * engine.c: the engine: clients, links, verdicts, installing Qubes rules (see
 * engine.h); the rule sets and their index are in rset.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dnscache.h"
#include "engine.h"
#include "log.h"
#include "names.h"
#include "qrule.h"

#define ICMP6_PROTO	58

/* --- the engine ------------------------------------------------------- */

static void	lset_rebuild(struct engine *);

void
engine_init(struct engine *e, struct dnsc *dns)
{
	memset(e, 0, sizeof *e);
	e->dns = dns;
	e->generation = 1;
	/* Without it no wildcard name ever matches: fail closed. */
	if ((e->names = malloc(sizeof *e->names)) != NULL)
		nt_init(e->names);
}

void
engine_netconf(struct engine *e, const struct msg_netconf *nc)
{
	const uint32_t a[4] = { nc->netvm_dns[0], nc->netvm_dns[1], nc->dns[0],
	    nc->dns[1] };
	int i;

	e->ndnsaddr = 0;
	for (i = 0; i < 4; i++)
		if (a[i] != 0)
			memcpy(e->dnsaddr[e->ndnsaddr++], &a[i], 4);
}

void
engine_link(struct engine *e, const struct msg_link *l)
{
	struct eng_client *c;

	if (l->kind != LINK_CLIENT || l->port == MQ_PORT_UPLINK ||
	    l->port >= MQ_PORT_MAX)
		return;
	c = &e->clients[l->port];
	/* Another client (or none) on the port: what it learned goes. */
	if (e->names != NULL && (!l->up || !c->up || c->ip4 != l->ip4 ||
	    memcmp(c->ip6, l->ip6, 16) != 0))
		nt_forget(e->names, l->port);
	c->up = l->up;
	c->ip4 = l->up ? l->ip4 : 0;
	memset(c->ip6, 0, 16);
	memset(c->name, 0, sizeof c->name);
	if (l->up) {
		memcpy(c->ip6, l->ip6, 16);
		memcpy(c->name, l->name, sizeof c->name - 1);
	}
	lset_rebuild(e);
}

void
engine_clients(struct engine *e, const struct msg_clients *mc, uint32_t count)
{
	uint32_t i;

	e->ncips = 0;
	for (i = 0; i < count && i < CLIENTS_MAX; i++) {
		if (mc->c[i].ip != 0)
			e->cips[e->ncips++] = mc->c[i].ip;
		if (mc->c[i].visible_ip != 0 && mc->c[i].visible_ip != mc->c[i].ip)
			e->cips[e->ncips++] = mc->c[i].visible_ip;
	}
	lset_rebuild(e);
}

void
engine_clients6(struct engine *e, const struct msg_clients6 *mc, uint32_t count)
{
	static const uint8_t zero[16];
	uint32_t i;

	e->ncips6 = 0;
	for (i = 0; i < count && i < CLIENTS6_MAX; i++) {
		if (memcmp(mc->c[i].ip, zero, 16) != 0)
			memcpy(e->cips6[e->ncips6++], mc->c[i].ip, 16);
		if (memcmp(mc->c[i].visible_ip, zero, 16) != 0 &&
		    memcmp(mc->c[i].visible_ip, mc->c[i].ip, 16) != 0)
			memcpy(e->cips6[e->ncips6++], mc->c[i].visible_ip, 16);
	}
	lset_rebuild(e);
}

static uint32_t
lset_hash(int family, const uint8_t *a)
{
	return key_hash(1, (uint8_t)family, 0, a) % ENG_LSET;
}

static void
lset_add(struct engine *e, int family, const uint8_t *addr)
{
	uint8_t a[16] = { 0 };
	uint32_t i;

	memcpy(a, addr, family == 4 ? 4 : 16);
	for (i = lset_hash(family, a); e->lset[i].family != 0;
	    i = (i + 1) % ENG_LSET)
		if (e->lset[i].family == family && memcmp(e->lset[i].a, a, 16) == 0)
			return;
	e->lset[i].family = (uint8_t)family;
	memcpy(e->lset[i].a, a, 16);
}

/* The addresses of the clients whose links are up (at most 2 per port) and
 * dom0's connected ones (at most 2 per entry of each family's list):
 * ENG_LSET is twice all of that, so probing always ends. */
static void
lset_rebuild(struct engine *e)
{
	static const uint8_t zero[16];
	unsigned p;

	memset(e->lset, 0, sizeof e->lset);
	for (p = 0; p < e->ncips; p++)
		lset_add(e, 4, (const uint8_t *)&e->cips[p]);
	for (p = 0; p < e->ncips6; p++)
		lset_add(e, 6, e->cips6[p]);
	for (p = 0; p < MQ_PORT_MAX; p++) {
		if (!e->clients[p].up)
			continue;
		if (e->clients[p].ip4 != 0)
			lset_add(e, 4, (const uint8_t *)&e->clients[p].ip4);
		if (memcmp(e->clients[p].ip6, zero, 16) != 0)
			lset_add(e, 6, e->clients[p].ip6);
	}
}

static uint32_t
qset_hash(int family, const uint8_t *addr)
{
	return key_hash(0, (uint8_t)family, 0, addr) % ENG_MAX_QSETS;
}

struct qset *
engine_qset_get(struct engine *e, int family, const uint8_t *addr, int create)
{
	uint8_t a[16] = { 0 };
	uint32_t i, n;

	memcpy(a, addr, family == 4 ? 4 : 16);
	i = qset_hash(family, a);
	for (n = 0; n < ENG_MAX_QSETS; n++, i = (i + 1) % ENG_MAX_QSETS) {
		struct qset *q = e->qsets[i];

		if (q == NULL) {
			/* Keep a quarter free so that probes stay short. */
			if (!create || e->nqsets >= ENG_MAX_QSETS * 3 / 4)
				return NULL;
			if ((q = calloc(1, sizeof *q)) == NULL)
				return NULL;
			q->family = (uint8_t)family;
			memcpy(q->addr, a, 16);
			e->qsets[i] = q;
			e->nqsets++;
			return q;
		}
		if (q->family == family && memcmp(q->addr, a, 16) == 0)
			return q;
	}
	return NULL;
}

int
engine_is_client(const struct engine *e, int family, const uint8_t *addr)
{
	uint8_t a[16] = { 0 };
	uint32_t i, n;

	memcpy(a, addr, family == 4 ? 4 : 16);
	for (i = lset_hash(family, a); e->lset[i].family != 0;
	    i = (i + 1) % ENG_LSET)
		if (e->lset[i].family == family && memcmp(e->lset[i].a, a, 16) == 0)
			return 1;
	/* Clients with Qubes rules: every client dom0 knows about. */
	i = qset_hash(family, a);
	for (n = 0; n < ENG_MAX_QSETS; n++, i = (i + 1) % ENG_MAX_QSETS) {
		const struct qset *q = e->qsets[i];

		if (q == NULL)
			break;
		if (q->family == family && memcmp(q->addr, a, 16) == 0)
			return 1;
	}
	return 0;
}

int64_t
engine_next_expire(const struct engine *e, int64_t now)
{
	int64_t next = 0;
	uint32_t i;

	for (i = 0; i < e->json.n; i++) {
		int64_t x = e->json.rules[i].expire;

		if (x != 0 && x >= now && (next == 0 || x < next))
			next = x;
	}
	return next;
}

static int
client_up(const void *arg, uint16_t port)
{
	const struct engine *e = arg;

	return port < MQ_PORT_MAX && e->clients[port].up;
}

void
engine_free_names(struct engine *e)
{
	if (e->names != NULL)
		nt_free(e->names);
	free(e->names);
	e->names = NULL;
}

void
engine_learn(struct engine *e, const struct flow_req *rec, uint64_t now_ms)
{
	struct flow_learn r;

	if (e->names == NULL)
		return;
	memcpy(&r, rec, sizeof r);
	nt_record(e->names, &r, now_ms,
	    e->json.ttl_min ? e->json.ttl_min : NT_TTL_MIN,
	    e->json.ttl_max ? e->json.ttl_max : NT_TTL_MAX, client_up, e);
}

/* The verdict of rule i of set s; *hit: its counter. */
static void
verdict_from(struct flow_verdict *v, const struct rset *s, uint32_t i,
    uint64_t **hit)
{
	const struct prule *r = &s->rules[i];

	v->action = r->action;
	v->log = r->log;
	v->rule = r->id;
	*hit = s->hits != NULL ? &s->hits[i] : NULL;
}

static int
decide(struct engine *e, const struct flow_req *req, uint64_t now_ms,
    int64_t now, int final, struct flow_verdict *v, uint64_t **hit)
{
	struct evctx cx = { .dns = e->dns, .now_ms = now_ms, .now = now,
	    .final = final, .dnsaddr = (const uint8_t (*)[4])e->dnsaddr,
	    .ndnsaddr = e->ndnsaddr, .names = e->names };
	struct fkey f = { 0 };
	const struct qset *q;
	const struct prule *jr = NULL;
	uint32_t which, jwhich = 0;
	int r;

	memset(v, 0, sizeof *v);
	v->seq = req->seq;
	v->generation = e->generation;
	v->action = VERDICT_DROP;
	v->rule = RULE_ID_DEFAULT;
	if (req->family != 4 && req->family != 6)
		return 1;
	f.family = req->family;
	f.proto = req->proto;
	memcpy(f.dst, req->dst, f.family == 4 ? 4 : 16);
	if (f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP)
		f.dport = req->dport;
	else if (f.proto == IPPROTO_ICMP || f.proto == ICMP6_PROTO)
		f.icmptype = req->icmp_type;
	if (req->port > 0 && req->port < MQ_PORT_MAX &&
	    e->clients[req->port].up && e->clients[req->port].ip4 != 0)
		f.from = e->clients[req->port].ip4;
	else if (f.family == 4)
		memcpy(&f.from, req->src, 4);
	f.port = req->port;
	f.recheck = (req->flags & FREQ_RECHECK) != 0;
	f.interclient = (uint8_t)engine_is_client(e, f.family, f.dst);
	if (f.family == 6 && f.interclient) {
		unsigned p;

		for (p = 1; p < MQ_PORT_MAX && f.peer4 == 0; p++)
			if (e->clients[p].up &&
			    memcmp(e->clients[p].ip6, f.dst, 16) == 0)
				f.peer4 = e->clients[p].ip4;
	}

	/*
	 * The JSON rules first: a drop or reject decides. A JSON accept
	 * decides only traffic between clients, which the Qubes rules do
	 * not govern; to the outside it hands the flow on to the client's
	 * Qubes rules, which must accept it too (docs/rules.md): JSON rules
	 * can narrow what the Qubes rules allow, never widen it.
	 */
	r = rset_eval(&e->json, &f, &cx, &which);
	if (r == EV_PENDING)
		return 0;
	if (r == EV_MATCH) {
		jr = &e->json.rules[which];
		jwhich = which;
		if (jr->action != VERDICT_ACCEPT) {
			verdict_from(v, &e->json, which, hit);
			return 1;
		}
	}
	q = engine_qset_get(e, f.family, req->src, 0);
	if (q == NULL) {
		/* No rules committed for this client (yet): fail closed. */
		if (req->port < MQ_PORT_MAX) {
			uint8_t *w = &e->clients[req->port].warned[f.family == 6];

			if (!*w) {
				*w = 1;
				log_warnx("client port %u: no Qubes rules for its "
				    "IPv%u address yet: dropping its traffic",
				    req->port, f.family);
			}
		}
		return 1;
	}
	if (q->failed) {
		v->action = VERDICT_REJECT;
		return 1;
	}
	if (f.interclient) {
		/* Only a JSON accept naming the other client opens it
		 * (prule_match); without one, the default drop. */
		if (jr != NULL)
			verdict_from(v, &e->json, jwhich, hit);
		return 1;
	}
	r = rset_eval(&q->set, &f, &cx, &which);
	if (r == EV_PENDING)
		return 0;
	if (r == EV_MATCH) {
		verdict_from(v, &q->set, which, hit);
		/* Both accept: the JSON rule is the one the user may have
		 * asked to log. */
		if (jr != NULL && v->action == VERDICT_ACCEPT)
			verdict_from(v, &e->json, jwhich, hit);
	}
	return 1;
}

int
engine_decide(struct engine *e, const struct flow_req *req, uint64_t now_ms,
    int64_t now, int final, struct flow_verdict *v)
{
	uint64_t *hit = NULL;

	if (decide(e, req, now_ms, now, final, v, &hit) == 0)
		return 0;
	/* A re-check after a rule change is the same flow again. */
	if (!(req->flags & FREQ_RECHECK))
		(*(hit != NULL ? hit : &e->default_hits))++;
	return 1;
}

/* --- installing a client's Qubes rules -------------------------------- */

static const uint32_t *sort_keys;

static int
cmp_key(const void *a, const void *b)
{
	uint32_t x = sort_keys[*(const uint32_t *)a];
	uint32_t y = sort_keys[*(const uint32_t *)b];

	return x < y ? -1 : x > y;
}

static void
addr_str(int family, const uint8_t *addr, char *buf, size_t size)
{
	if (inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf,
	    (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
}

int
engine_qset_install(struct engine *e, int family, const uint8_t *addr,
    int policy, const struct qrule *rules, const uint32_t *keys, uint32_t n,
    const char *why)
{
	struct rset ns = { 0 };
	struct qset *q;
	uint32_t *order = NULL, i, nnum = 0;
	size_t hostbytes = 0, off = 0;
	char a[INET6_ADDRSTRLEN], reason[320] = "";

	addr_str(family, addr, a, sizeof a);
	if ((q = engine_qset_get(e, family, addr, 1)) == NULL) {
		log_warnx("Qubes rules for %s: too many clients, ignored "
		    "(its traffic stays dropped)", a);
		return -1;
	}
	e->generation++;
	if (why != NULL)
		snprintf(reason, sizeof reason, "%s", why);
	else if (policy != QR_ACCEPT && policy != QR_DROP)
		snprintf(reason, sizeof reason, "no valid \"policy\" key");
	if (reason[0] == '\0' && n > 0 &&
	    (order = calloc(n, sizeof *order)) == NULL)
		snprintf(reason, sizeof reason, "out of memory");
	if (reason[0] == '\0') {
		for (i = 0; i < n; i++)
			order[i] = i;
		sort_keys = keys;
		if (n > 0)
			qsort(order, n, sizeof *order, cmp_key);
		for (i = 0; i < n && reason[0] == '\0'; i++) {
			const struct qrule *r = &rules[order[i]];

			if (keys[order[i]] > 9999)
				snprintf(reason, sizeof reason, "rule key %u is not "
				    "4 digits", keys[order[i]]);
			else if (i > 0 && keys[order[i]] == keys[order[i - 1]])
				snprintf(reason, sizeof reason, "rule key %04u given "
				    "twice", keys[order[i]]);
			else if ((r->dst == QR_DST4 && family == 6) ||
			    (r->dst == QR_DST6 && family == 4))
				snprintf(reason, sizeof reason, "rule %04u: dst%c "
				    "in the IPv%d rules", keys[order[i]],
				    family == 4 ? '6' : '4', family);
			if (r->dst == QR_DSTHOST && !r->numeric)
				hostbytes += strlen(r->host) + 1;
		}
	}
	if (reason[0] == '\0') {
		ns.rules = calloc(n + 1, sizeof *ns.rules);
		ns.strings = malloc(hostbytes ? hostbytes : 1);
		if (ns.rules == NULL || ns.strings == NULL)
			snprintf(reason, sizeof reason, "out of memory");
	}
	for (i = 0; reason[0] == '\0' && i < n; i++) {
		const struct qrule *r = &rules[order[i]];
		struct prule *p = &ns.rules[ns.n++];

		/* A Qubes "drop" rejects, as the Linux sys-firewall does, so
		 * the client's connection fails at once. */
		p->action = r->action == QR_ACCEPT ? VERDICT_ACCEPT : VERDICT_REJECT;
		p->proto = r->proto;
		p->specialdns = r->specialdns;
		p->never = r->never;
		p->has_ports = r->has_ports;
		p->plo = r->plo;
		p->phi = r->phi;
		p->has_icmptype = r->has_icmptype;
		p->icmptype = r->icmptype;
		p->id = (uint16_t)(RULE_ID_QUBES | keys[order[i]]);
		if (r->dst == QR_DST4 || r->dst == QR_DST6) {
			p->dst = PD_NET;
			p->family = r->dst == QR_DST4 ? 4 : 6;
			p->plen = r->plen;
			memcpy(p->addr, r->addr, 16);
			p->peer = p->plen == (p->family == 4 ? 32 : 128);
		} else if (r->dst == QR_DSTHOST && r->numeric) {
			char na[INET_ADDRSTRLEN];

			/* The address getaddrinfo gives on sys-firewall; it
			 * never matches IPv6 flows and, like any dsthost, does
			 * not name a peer for inter-VM traffic. */
			p->dst = PD_NET;
			p->family = 4;
			p->plen = 32;
			memcpy(p->addr, r->addr, 16);
			addr_str(4, r->addr, na, sizeof na);
			/* Say what it means (010.0.0.1 is 8.0.0.1), for the
			 * first few: a big rule set stays a few lines. */
			if (nnum++ < 8)
				log_info("Qubes rules for %s: rule %04u: dsthost=%s "
				    "is the IPv4 address %s (as the C library "
				    "reads it)", a, keys[order[i]], r->host, na);
		} else if (r->dst == QR_DSTHOST) {
			size_t l = strlen(r->host) + 1;

			p->dst = PD_HOST;
			memcpy(ns.strings + off, r->host, l);
			p->host = ns.strings + off;
			off += l;
		}
	}
	free(order);
	if (nnum > 8)
		log_info("Qubes rules for %s: %u more dsthost values read as "
		    "IPv4 addresses", a, nnum - 8);
	if (reason[0] == '\0') {
		struct prule *p = &ns.rules[ns.n++];

		p->action = policy == QR_ACCEPT ? VERDICT_ACCEPT : VERDICT_REJECT;
		p->id = RULE_ID_QPOLICY;
		if (rset_build(&ns) == -1)
			snprintf(reason, sizeof reason, "out of memory");
	}
	rset_free(&q->set);
	if (reason[0] != '\0') {
		rset_free(&ns);
		q->failed = 1;
		log_warnx("Qubes rules for %s: %s: rejecting all its traffic",
		    a, reason);
		return 0;
	}
	q->failed = 0;
	q->set = ns;
	log_info("Qubes rules for %s: %u rules and policy %s", a, n,
	    policy == QR_ACCEPT ? "accept" : "drop");
	return 0;
}
