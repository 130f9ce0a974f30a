/*
 * test_policy_names.c: the names clients learned (policyd/names.c) and the
 * wildcard "dsthost" rules that use them: suffix matching, one client's
 * learnings never another's, TTL clamp and expiry (a re-check keeps an
 * established flow), the quota with its eviction count, hostile learning
 * records from natd, and the verdicts a client sees through the engine.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "policyd/engine.h"
#include "policyd/jrules.h"
#include "policyd/names.h"
#include "policyd/qrule.h"

static uint8_t
*ip(const char *s)
{
	static uint8_t a[4][16];
	static int k;
	uint8_t *r = a[k++ % 4];

	memset(r, 0, 16);
	if (inet_pton(AF_INET, s, r) != 1)
		inet_pton(AF_INET6, s, r);
	return r;
}

#define M(t, port, a, suf, now, re) \
	nt_match((t), (port), strchr((a), ':') ? 6 : 4, ip(a), (suf), strlen(suf), (now), (re))

static void
test_match_suffix(void)
{
	static struct nametab t;

	nt_init(&t);
	T_EQ_INT(nt_add(&t, 1, "www.example.org", 4, ip("192.0.2.1"), 60, 1000), 0);
	T_EQ_INT(nt_add(&t, 1, "example.org", 4, ip("192.0.2.2"), 60, 1000), 0);
	T_EQ_INT(nt_add(&t, 1, "badexample.org", 4, ip("192.0.2.3"), 60, 1000), 0);
	T_EQ_INT(nt_add(&t, 1, "a.b.example.org", 6, ip("2001:db8::1"), 60, 1000), 0);
	T_EQ_INT(M(&t, 1, "192.0.2.1", "example.org", 1000, 0), 1);
	/* the bare name is not under "*.example.org" */
	T_EQ_INT(M(&t, 1, "192.0.2.2", "example.org", 1000, 0), 0);
	/* nor is a name that only ends in the same letters */
	T_EQ_INT(M(&t, 1, "192.0.2.3", "example.org", 1000, 0), 0);
	/* any depth, IPv6 too */
	T_EQ_INT(M(&t, 1, "2001:db8::1", "example.org", 1000, 0), 1);
	T_EQ_INT(M(&t, 1, "2001:db8::1", "b.example.org", 1000, 0), 1);
	T_EQ_INT(M(&t, 1, "2001:db8::1", "a.b.example.org", 1000, 0), 0);
	/* the address must be the one learned, of its family */
	T_EQ_INT(M(&t, 1, "192.0.2.9", "example.org", 1000, 0), 0);
	/* names are learned lowercase and valid only */
	T_EQ_INT(nt_add(&t, 1, "WWW.example.org", 4, ip("192.0.2.4"), 60, 1000), -1);
	T_EQ_INT(nt_add(&t, 1, "a..org", 4, ip("192.0.2.4"), 60, 1000), -1);
	T_EQ_INT(nt_add(&t, 1, ".org", 4, ip("192.0.2.4"), 60, 1000), -1);
	T_EQ_INT(nt_add(&t, 1, "a b.org", 4, ip("192.0.2.4"), 60, 1000), -1);
	T_EQ_INT(nt_add(&t, 0, "a.org", 4, ip("192.0.2.4"), 60, 1000), -1);
	T_EQ_INT(nt_add(&t, MQ_PORT_MAX, "a.org", 4, ip("192.0.2.4"), 60, 1000), -1);
	nt_free(&t);
}

static void
test_isolation_and_ttl(void)
{
	static struct nametab t;

	nt_init(&t);
	nt_add(&t, 1, "www.example.org", 4, ip("192.0.2.1"), 10, 1000);
	/* client 2 never asked */
	T_EQ_INT(M(&t, 2, "192.0.2.1", "example.org", 1000, 0), 0);
	T_EQ_INT(M(&t, 1, "192.0.2.1", "example.org", 10999, 0), 1);
	/* expired: no new flow; a re-check keeps an established one */
	T_EQ_INT(M(&t, 1, "192.0.2.1", "example.org", 11000, 0), 0);
	T_EQ_INT(M(&t, 1, "192.0.2.1", "example.org", 11000, 1), 1);
	/* learned again: young again */
	nt_add(&t, 1, "www.example.org", 4, ip("192.0.2.1"), 10, 20000);
	T_EQ_INT(M(&t, 1, "192.0.2.1", "example.org", 29999, 0), 1);
	T_EQ_INT(nt_count(&t), 1);
	/* the client leaves: its learnings go */
	nt_forget(&t, 1);
	T_EQ_INT(M(&t, 1, "192.0.2.1", "example.org", 20000, 1), 0);
	T_EQ_INT(nt_count(&t), 0);
	nt_free(&t);
}

static void
test_quota(void)
{
	static struct nametab t;
	char name[64];
	uint8_t a[16] = { 0 };
	unsigned i;

	nt_init(&t);
	for (i = 0; i < NT_QUOTA + 10; i++) {
		snprintf(name, sizeof name, "n%u.example.org", i);
		a[0] = 10;
		a[2] = (uint8_t)(i >> 8);
		a[3] = (uint8_t)i;
		T_EQ_INT(nt_add(&t, 1, name, 4, a, 100, 1000), 0);
	}
	/* full at the quota, the ten oldest pushed out and counted */
	T_EQ_INT(nt_count(&t), NT_QUOTA);
	T_EQ_INT(t.evicted, 10);
	a[2] = 0;
	a[3] = 9;
	T_EQ_INT(nt_match(&t, 1, 4, a, "example.org", 11, 1000, 1), 0);
	a[3] = 10;
	T_EQ_INT(nt_match(&t, 1, 4, a, "example.org", 11, 1000, 0), 1);
	a[2] = (uint8_t)((NT_QUOTA + 9) >> 8);
	a[3] = (uint8_t)(NT_QUOTA + 9);
	T_EQ_INT(nt_match(&t, 1, 4, a, "example.org", 11, 1000, 0), 1);
	/* another client has a table of its own */
	a[0] = 11;
	T_EQ_INT(nt_add(&t, 2, "x.example.org", 4, a, 100, 1000), 0);
	T_EQ_INT(nt_count(&t), NT_QUOTA + 1);
	T_EQ_INT(t.evicted, 10);
	/* once they expired, new learnings take their places uncounted */
	a[0] = 12;
	T_EQ_INT(nt_add(&t, 1, "y.example.org", 4, a, 100, 200000), 0);
	T_EQ_INT(t.evicted, 10);
	T_EQ_INT(nt_count(&t), NT_QUOTA + 1);
	nt_free(&t);
}

/* The records natd would send for one answer. */
static unsigned
group(struct flow_learn *r, uint16_t port, uint32_t ttl, const char *const *names,
    int nnames, const char *addr)
{
	unsigned n = 0;
	int i;

	memset(r, 0, 16 * sizeof *r);
	r[n].flags = FREQ_LEARN;
	r[n].kind = LEARN_BEGIN;
	r[n].port = port;
	r[n++].ttl = ttl;
	for (i = 0; i < nnames; i++) {
		const char *s = names[i];
		size_t left = strlen(s);

		while (left > 0) {
			size_t c = left < LEARN_CHUNK ? left : LEARN_CHUNK;

			r[n].flags = FREQ_LEARN;
			r[n].port = port;
			r[n].kind = c == left ? LEARN_NAME_END : LEARN_NAME;
			r[n].len = (uint8_t)c;
			memcpy(r[n++].data, s, c);
			s += c;
			left -= c;
		}
	}
	r[n].flags = FREQ_LEARN;
	r[n].port = port;
	r[n].kind = LEARN_ADDR;
	r[n].family = strchr(addr, ':') ? 6 : 4;
	memcpy(r[n++].data, ip(addr), 16);
	return n;
}

static int up2;
static int
up(const void *arg, uint16_t port)
{
	(void)arg;
	return port == 1 || (port == 2 && up2);
}

static void
feed(struct nametab *t, const struct flow_learn *r, unsigned n, uint64_t now)
{
	unsigned i;

	for (i = 0; i < n; i++)
		nt_record(t, &r[i], now, NT_TTL_MIN, NT_TTL_MAX, up, NULL);
}

static void
test_records(void)
{
	static struct nametab t;
	struct flow_learn r[16];
	const char *chain[] = { "alias.other.test",
	    "a-rather-long-label-to-need-two-chunks.example.org" };
	const char *bad[] = { "Upper.example.org" };
	unsigned n;

	nt_init(&t);
	n = group(r, 1, 1, chain, 2, "192.0.2.1");
	T_EQ_INT(n, 1 + 1 + 2 + 1);
	feed(&t, r, n, 1000);
	/* both names of the chain teach the address; the TTL of 1 s is
	 * clamped to NT_TTL_MIN */
	T_EQ_INT(M(&t, 1, "192.0.2.1", "example.org", 1000 + NT_TTL_MIN * 1000 - 1, 0), 1);
	T_EQ_INT(M(&t, 1, "192.0.2.1", "other.test", 1000, 0), 1);
	T_EQ_INT(M(&t, 1, "192.0.2.1", "example.org", 1000 + NT_TTL_MIN * 1000, 0), 0);
	/* a TTL of a week is clamped to NT_TTL_MAX */
	n = group(r, 1, 7 * 86400, chain, 1, "192.0.2.2");
	feed(&t, r, n, 1000);
	T_EQ_INT(M(&t, 1, "192.0.2.2", "other.test", 1000 + NT_TTL_MAX * 1000ull - 1, 0), 1);
	T_EQ_INT(M(&t, 1, "192.0.2.2", "other.test", 1000 + NT_TTL_MAX * 1000ull, 0), 0);
	T_EQ_INT(t.refused, 0);

	/* Hostile records: each refused, none teaches. */
	n = group(r, 2, 60, chain, 1, "192.0.2.3");	/* port 2 is down */
	feed(&t, r, n, 1000);
	T_EQ_INT(M(&t, 2, "192.0.2.3", "other.test", 1000, 0), 0);
	T_ASSERT(t.refused >= 1);
	up2 = 1;
	n = group(r, 2, 60, chain, 1, "192.0.2.3");
	r[2].port = 1;				/* a record for another port */
	feed(&t, r, n, 1000);
	T_EQ_INT(M(&t, 1, "192.0.2.3", "other.test", 1000, 0), 0);
	T_EQ_INT(M(&t, 2, "192.0.2.3", "other.test", 1000, 0), 0);
	n = group(r, 2, 60, bad, 1, "192.0.2.3");	/* not lowercase */
	feed(&t, r, n, 1000);
	T_EQ_INT(M(&t, 2, "192.0.2.3", "example.org", 1000, 0), 0);
	n = group(r, 2, 60, chain, 1, "192.0.2.3");
	r[n - 1].family = 5;			/* no such family */
	feed(&t, r, n, 1000);
	r[1].len = LEARN_CHUNK + 1;		/* a chunk longer than data */
	feed(&t, r, n, 1000);
	n = group(r, 2, 60, chain, 1, "192.0.2.3");
	feed(&t, r + 1, n - 1, 1000);		/* no LEARN_BEGIN */
	feed(&t, r + 2, 1, 1000);		/* an address before any name */
	{
		/* a name longer than a name can be, chunk after chunk */
		struct flow_learn x = r[1];

		feed(&t, r, 1, 1000);
		x.kind = LEARN_NAME;
		x.len = LEARN_CHUNK;
		memset(x.data, 'a', LEARN_CHUNK);
		for (int i = 0; i < 8; i++)
			feed(&t, &x, 1, 1000);
		feed(&t, &r[n - 1], 1, 1000);
	}
	T_EQ_INT(M(&t, 2, "192.0.2.3", "other.test", 1000, 0), 0);
	T_EQ_INT(nt_count(&t), 3);
	T_ASSERT(t.refused >= 7);
	nt_free(&t);
}

/* Through the engine: the verdicts clients see. */
static struct engine eng;

static void
json(const char *doc)
{
	struct rset s;
	void *d;
	char err[512];

	if (jrules_load(doc, strlen(doc), &s, &d, err, sizeof err) == -1) {
		printf("# json refused: %s\n", err);
		abort();
	}
	engine_set_json(&eng, &s, d);
}

static int
decide(uint16_t port, const char *src, const char *dst, int recheck,
    uint64_t now)
{
	struct flow_req q = { 0 };
	struct flow_verdict v;

	q.port = port;
	q.family = 4;
	q.proto = IPPROTO_TCP;
	q.dport = 443;
	q.flags = recheck ? FREQ_RECHECK : 0;
	inet_pton(AF_INET, src, q.src);
	inet_pton(AF_INET, dst, q.dst);
	engine_decide(&eng, &q, now, 1800000000, 1, &v);
	return v.action;
}

static void
learn(uint16_t port, const char *name, const char *addr, uint32_t ttl,
    uint64_t now)
{
	struct flow_learn r[16];
	unsigned i, n = group(r, port, ttl, &name, 1, addr);

	for (i = 0; i < n; i++) {
		struct flow_req q;

		memcpy(&q, &r[i], sizeof q);
		engine_learn(&eng, &q, now);
	}
}

static void
test_engine(void)
{
	struct msg_link l = { 0 };
	struct qrule none;
	uint8_t a[16] = { 0 };
	int port;

	engine_init(&eng, NULL);
	l.kind = LINK_CLIENT;
	l.up = 1;
	for (port = 1; port <= 2; port++) {
		l.port = (uint16_t)port;
		inet_pton(AF_INET, port == 1 ? "10.137.0.5" : "10.137.0.9", &l.ip4);
		engine_link(&eng, &l);
		memcpy(a, &l.ip4, 4);
		memset(&none, 0, sizeof none);
		engine_qset_install(&eng, 4, a, QR_ACCEPT, &none, NULL, 0, NULL);
	}
	json("{\"version\": 1, \"learn\": {\"ttl_min\": 2, \"ttl_max\": 30}, "
	    "\"rules\": [{\"from\": \"*\", \"action\": \"accept\", "
	    "\"dsthost\": \"*.Example.ORG\"}, {\"from\": \"*\", \"action\": \"reject\"}]}");
	/* Qubes policy accept, JSON: names under example.org only */
	T_EQ_INT(decide(1, "10.137.0.5", "192.0.2.1", 0, 1000), VERDICT_REJECT);
	learn(1, "www.example.org", "192.0.2.1", 1, 1000);
	T_EQ_INT(decide(1, "10.137.0.5", "192.0.2.1", 0, 1000), VERDICT_ACCEPT);
	T_EQ_INT(decide(2, "10.137.0.9", "192.0.2.1", 0, 1000), VERDICT_REJECT);
	/* TTL 1 s clamped to the document's 2 s */
	T_EQ_INT(decide(1, "10.137.0.5", "192.0.2.1", 0, 2999), VERDICT_ACCEPT);
	T_EQ_INT(decide(1, "10.137.0.5", "192.0.2.1", 0, 3000), VERDICT_REJECT);
	T_EQ_INT(decide(1, "10.137.0.5", "192.0.2.1", 1, 3000), VERDICT_ACCEPT);
	/* a name outside the pattern teaches nothing for it */
	learn(1, "example.org.evil.net", "192.0.2.7", 60, 1000);
	T_EQ_INT(decide(1, "10.137.0.5", "192.0.2.7", 0, 1000), VERDICT_REJECT);
	/* another client on port 1: the old one's learnings are gone */
	learn(1, "www.example.org", "192.0.2.1", 60, 4000);
	inet_pton(AF_INET, "10.137.0.77", &l.ip4);
	l.port = 1;
	engine_link(&eng, &l);
	/* (with the learning kept: the JSON accept, then no Qubes rules
	 * for .77 yet, a drop) */
	T_EQ_INT(decide(1, "10.137.0.77", "192.0.2.1", 1, 4000), VERDICT_REJECT);
}

static void
test_patterns(void)
{
	static const char *const bad[] = { "*", "*.", "a*.b", "*.*.x", "**.x",
	    "*x.org", "*.a..org", "*.-ok-but.space .org", "*.x.", NULL };
	char doc[512], err[256];
	struct rset s;
	void *d;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		snprintf(doc, sizeof doc, "{\"version\": 1, \"rules\": [{\"from\": "
		    "\"*\", \"action\": \"drop\"}, {\"from\": \"*\", \"action\": "
		    "\"accept\", \"dsthost\": \"%s\"}]}", bad[i]);
		T_EQ_INT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err), -1);
		T_ASSERT(strncmp(err, "rule 1: \"dsthost\": ", 19) == 0);
	}
	snprintf(doc, sizeof doc, "{\"version\": 1, \"learn\": {\"ttl_min\": 10, "
	    "\"ttl_max\": 5}, \"rules\": []}");
	T_EQ_INT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err), -1);
	T_EQ_STR(err, "\"learn\": \"ttl_min\" 10 is more than \"ttl_max\" 5");
	snprintf(doc, sizeof doc, "{\"version\": 1, \"learn\": {\"ttl\": 10}, "
	    "\"rules\": []}");
	T_EQ_INT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err), -1);
	/* a good one; the suffix kept lowercase */
	snprintf(doc, sizeof doc, "{\"version\": 1, \"rules\": [{\"from\": \"*\", "
	    "\"action\": \"accept\", \"dsthost\": \"*.Sub_1.Example-2.org\"}]}");
	T_EQ_INT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err), 0);
	T_EQ_INT(s.rules[0].dst, PD_NAME);
	T_EQ_STR(s.rules[0].host, "sub_1.example-2.org");
	T_EQ_INT(s.rules[0].hostlen, 19);
	rset_free(&s);
	jrules_doc_free(d);
}

int
main(void)
{
	T_RUN(test_match_suffix);
	T_RUN(test_isolation_and_ttl);
	T_RUN(test_quota);
	T_RUN(test_records);
	T_RUN(test_engine);
	T_RUN(test_patterns);
	return t_done();
}
