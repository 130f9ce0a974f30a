/*
 * test_natd_dns.c: natd's stub resolver for policyd: the wire format, and
 * queries going out of the uplink with answers, failures and timeouts.
 */
#include <stdio.h>
#include <string.h>

#include "t.h"
#include "natd_testlib.h"

static uint8_t F[4096];

/* An answer to query id for name/qtype with the given A records. */
static size_t
mk_answer(uint8_t *p, uint16_t id, const char *name, uint16_t qtype,
    uint8_t rcode, const uint32_t *addrs, int naddr, uint32_t ttl)
{
	size_t n = dns_build_query(p, 1024, id, name, qtype);
	int i;

	p[2] = 0x81;		/* QR, RD */
	p[3] = 0x80 | rcode;	/* RA */
	p[7] = (uint8_t)(naddr + 1);
	/* A CNAME first, owner name compressed (pointer to offset 12). */
	p[n++] = 0xc0; p[n++] = 12;
	p[n++] = 0; p[n++] = 5; p[n++] = 0; p[n++] = 1;
	p[n++] = 0; p[n++] = 0; p[n++] = 0; p[n++] = 60;
	p[n++] = 0; p[n++] = 2; p[n++] = 0xc0; p[n++] = 12;
	for (i = 0; i < naddr; i++) {
		p[n++] = 0xc0; p[n++] = 12;
		p[n++] = 0; p[n++] = (uint8_t)qtype; p[n++] = 0; p[n++] = 1;
		p[n++] = (uint8_t)(ttl >> 24); p[n++] = (uint8_t)(ttl >> 16);
		p[n++] = (uint8_t)(ttl >> 8); p[n++] = (uint8_t)ttl;
		p[n++] = 0; p[n++] = 4;
		memcpy(p + n, &addrs[i], 4);
		n += 4;
	}
	return n;
}

static void
test_build_query(void)
{
	uint8_t b[512];
	size_t n;

	n = dns_build_query(b, sizeof(b), 0xbeef, "www.Example.org", 1);
	T_EQ_INT(n, 12 + 17 + 4);
	T_EQ_INT(b[0], 0xbe);
	T_EQ_INT(b[1], 0xef);
	T_EQ_INT(b[5], 1);
	T_EQ_MEM(b + 12, "\3www\7Example\3org\0", 17);
	T_EQ_INT(b[12 + 17 + 1], 1);
	/* Trailing dot accepted; empty labels and long labels refused. */
	T_ASSERT(dns_build_query(b, sizeof(b), 1, "example.org.", 1) == n - 4);
	T_EQ_INT(dns_build_query(b, sizeof(b), 1, "", 1), 0);
	T_EQ_INT(dns_build_query(b, sizeof(b), 1, "a..b", 1), 0);
	T_EQ_INT(dns_build_query(b, sizeof(b), 1,
	    "0123456789012345678901234567890123456789012345678901234567890123.org", 1), 0);
	T_EQ_INT(dns_build_query(b, 20, 1, "example.org", 1), 0);
}

static void
test_parse_answer(void)
{
	uint8_t p[1024];
	struct msg_dns_answer a;
	uint32_t addrs[2] = { A("192.0.2.1"), A("192.0.2.2") };
	size_t n, k;

	n = mk_answer(p, 7, "example.org", 1, 0, addrs, 2, 300);
	memset(&a, 0, sizeof(a));
	T_EQ_INT(dns_parse_answer(p, n, 7, "EXAMPLE.org", 1, &a), 0);
	T_EQ_INT(a.status, 0);
	T_EQ_INT(a.naddr, 2);
	T_EQ_INT(a.ttl, 300);
	T_EQ_MEM(a.addr[0], &addrs[0], 4);
	T_EQ_MEM(a.addr[1], &addrs[1], 4);
	/* Not ours: wrong id, wrong name, wrong type, not a response. */
	T_EQ_INT(dns_parse_answer(p, n, 8, "example.org", 1, &a), -1);
	T_EQ_INT(dns_parse_answer(p, n, 7, "example.com", 1, &a), -1);
	T_EQ_INT(dns_parse_answer(p, n, 7, "example.org", 28, &a), -1);
	p[2] &= 0x7f;
	T_EQ_INT(dns_parse_answer(p, n, 7, "example.org", 1, &a), -1);
	p[2] |= 0x80;
	/* Every truncation fails cleanly or parses a prefix: never reads past. */
	for (k = 0; k < n; k++) {
		int r = dns_parse_answer(p, k, 7, "example.org", 1, &a);

		T_ASSERT(r == -1 || (r == 0 && a.naddr < 2));
	}
	/* NXDOMAIN: answered, no address. SERVFAIL: failed. */
	n = mk_answer(p, 9, "nx.example", 1, 3, NULL, 0, 0);
	T_EQ_INT(dns_parse_answer(p, n, 9, "nx.example", 1, &a), 0);
	T_EQ_INT(a.status, 0);
	T_EQ_INT(a.naddr, 0);
	n = mk_answer(p, 9, "nx.example", 1, 2, NULL, 0, 0);
	T_EQ_INT(dns_parse_answer(p, n, 9, "nx.example", 1, &a), 0);
	T_EQ_INT(a.status, -1);
	/* An answer count that lies about what follows. */
	n = mk_answer(p, 7, "example.org", 1, 0, addrs, 2, 300);
	p[7] = 200;
	T_EQ_INT(dns_parse_answer(p, n, 7, "example.org", 1, &a), -1);
	/* More addresses than a message holds: capped. */
	{
		uint32_t many[20];
		int i;

		for (i = 0; i < 20; i++)
			many[i] = htonl(0xc0000200u + (uint32_t)i);
		n = mk_answer(p, 7, "example.org", 1, 0, many, 20, 5);
		T_EQ_INT(dns_parse_answer(p, n, 7, "example.org", 1, &a), 0);
		T_EQ_INT(a.naddr, DNS_ANSWER_MAX);
	}
}

/* The query natd sent, and its source port / id. */
static int
sent_query(struct tl *t, uint32_t *dst, uint16_t *sport, uint16_t *id)
{
	struct pkt_view v;
	int i = tl_last_sent(t);
	const uint8_t *q;

	if (i < 0 || tl_parse(t, (unsigned)i, &v) != PKT_OK || t->tx[i].port != 0 ||
	    v.proto != IPPROTO_UDP_ || v.dport != 53 || !csums_ok(&v) ||
	    pkt_ip4(&v)->saddr_be != IP_US)
		return -1;
	q = v.frame + v.l4_off + 8;
	*dst = pkt_ip4(&v)->daddr_be;
	*sport = v.sport;
	*id = (uint16_t)(q[0] << 8 | q[1]);
	return 0;
}

static void
test_resolver(void)
{
	struct tl *t = tl_new();
	struct msg_dns_query q;
	uint32_t dst, addr = A("203.0.113.7");
	uint16_t sport, id;
	size_t n;
	uint8_t ans[512];

	memset(&q, 0, sizeof(q));
	q.qid = 42;
	q.qtype = 1;
	snprintf(q.name, sizeof(q.name), "updates.example.org");
	nat_dns_query(t->e, &q, t->now);
	T_ASSERT(sent_query(t, &dst, &sport, &id) == 0);
	T_EQ_INT(dst, IP_DNS1);
	T_ASSERT(sport >= 49152);
	/* A forged answer with the wrong id is not taken. */
	n = mk_answer(ans, (uint16_t)(id + 1), "updates.example.org", 1, 0, &addr, 1, 60);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_DNS1, IP_US, 53, sport, n);
	memcpy(F + 42, ans, n - 42);
	fix_csums(F, n);
	tl_in(t, 0, F, n);
	T_EQ_INT(t->ndns, 0);
	/* From another server: not taken either. */
	n = mk_answer(ans, id, "updates.example.org", 1, 0, &addr, 1, 60);
	n = mk_udp(F, MAC_GW, MAC_UP, A("198.51.100.99"), IP_US, 53, sport, n);
	memcpy(F + 42, ans, n - 42);
	fix_csums(F, n);
	tl_in(t, 0, F, n);
	T_EQ_INT(t->ndns, 0);
	/* The real one. */
	n = mk_answer(ans, id, "updates.example.org", 1, 0, &addr, 1, 60);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_DNS1, IP_US, 53, sport, n);
	memcpy(F + 42, ans, n - 42);
	fix_csums(F, n);
	tl_in(t, 0, F, n);
	T_EQ_INT(t->ndns, 1);
	T_EQ_INT(t->dns[0].qid, 42);
	T_EQ_INT(t->dns[0].status, 0);
	T_EQ_INT(t->dns[0].naddr, 1);
	T_EQ_INT(t->dns[0].ttl, 60);
	T_EQ_MEM(t->dns[0].addr[0], &addr, 4);
	/* A late duplicate is unsolicited now (as was the other server's). */
	tl_in(t, 0, F, n);
	T_EQ_INT(t->ndns, 1);
	T_EQ_INT(tl_drops(t, 0, NAT_R_NO_FLOW), 2);
	tl_free(t);
}

static void
test_resolver_secondary_and_timeout(void)
{
	struct tl *t = tl_new();
	struct msg_dns_query q;
	uint32_t dst;
	uint16_t sport, id;

	memset(&q, 0, sizeof(q));
	q.qid = 7;
	q.qtype = 28;
	snprintf(q.name, sizeof(q.name), "v6.example");
	nat_dns_query(t->e, &q, t->now);
	T_ASSERT(sent_query(t, &dst, &sport, &id) == 0);
	T_EQ_INT(dst, IP_DNS1);
	t->ntx = 0;
	nat_tick(t->e, t->now + 400);
	T_EQ_INT(tl_nsent(t), 0);
	/* The primary is silent: ask the secondary too. */
	nat_tick(t->e, t->now + NAT_DNS_SECONDARY_MS);
	T_ASSERT(sent_query(t, &dst, &sport, &id) == 0);
	T_EQ_INT(dst, IP_DNS2);
	T_EQ_INT(t->ndns, 0);
	/* Nobody answers: status -1 after 1.5 s. */
	nat_tick(t->e, t->now + NAT_DNS_TIMEOUT_MS - 1);
	T_EQ_INT(t->ndns, 0);
	nat_tick(t->e, t->now + NAT_DNS_TIMEOUT_MS);
	T_EQ_INT(t->ndns, 1);
	T_EQ_INT(t->dns[0].qid, 7);
	T_EQ_INT(t->dns[0].status, -1);
	/* Bad queries fail at once. */
	q.qid = 8;
	q.qtype = 15;
	nat_dns_query(t->e, &q, t->now);
	T_EQ_INT(t->ndns, 2);
	T_EQ_INT(t->dns[1].status, -1);
	q.qtype = 1;
	memset(q.name, 'a', sizeof(q.name));
	nat_dns_query(t->e, &q, t->now);
	T_EQ_INT(t->ndns, 3);
	T_EQ_INT(t->dns[2].status, -1);
	tl_free(t);
}

/* ---- what clients learn from the answers they asked for ---- */

/* A tiny writer of DNS messages for the learning tests. */
struct wb {
	uint8_t	p[2048];
	size_t	n;
};

static void
wb_name(struct wb *w, const char *s)
{
	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		w->p[w->n++] = (uint8_t)l;
		memcpy(w->p + w->n, s, l);
		w->n += l;
		s += l + (dot ? 1 : 0);
	}
	w->p[w->n++] = 0;
}

static void
wb16(struct wb *w, uint16_t v)
{
	w->p[w->n++] = (uint8_t)(v >> 8);
	w->p[w->n++] = (uint8_t)v;
}

static void
wb32(struct wb *w, uint32_t v)
{
	wb16(w, (uint16_t)(v >> 16));
	wb16(w, (uint16_t)v);
}

/* Header (a response, ancount an) and the question. */
static void
wb_start(struct wb *w, uint16_t id, const char *q, uint16_t qtype, uint16_t an)
{
	w->n = 0;
	wb16(w, id);
	wb16(w, 0x8180);
	wb16(w, 1);
	wb16(w, an);
	wb16(w, 0);
	wb16(w, 0);
	wb_name(w, q);
	wb16(w, qtype);
	wb16(w, 1);
}

static void
wb_cname(struct wb *w, const char *owner, const char *target, uint32_t ttl)
{
	size_t at;

	wb_name(w, owner);
	wb16(w, 5);
	wb16(w, 1);
	wb32(w, ttl);
	at = w->n;
	wb16(w, 0);
	wb_name(w, target);
	w->p[at] = (uint8_t)((w->n - at - 2) >> 8);
	w->p[at + 1] = (uint8_t)(w->n - at - 2);
}

static void
wb_a(struct wb *w, const char *owner, uint32_t addr, uint32_t ttl)
{
	wb_name(w, owner);
	wb16(w, 1);
	wb16(w, 1);
	wb32(w, ttl);
	wb16(w, 4);
	memcpy(w->p + w->n, &addr, 4);
	w->n += 4;
}

static void
test_learn_parse_chain(void)
{
	static struct dns_learn l;
	struct wb w;
	uint32_t a1 = A("192.0.2.1"), a2 = A("192.0.2.2"), bad = A("203.0.113.66");
	size_t k;

	/* alias -> c -> d, two addresses of d, and an unrelated record */
	wb_start(&w, 77, "Alias.Other.TEST", 1, 5);
	wb_cname(&w, "alias.other.test", "c.Example.org", 300);
	wb_a(&w, "x.evil.org", bad, 600);
	wb_cname(&w, "c.example.org", "d.cdn.net", 40);
	wb_a(&w, "d.cdn.net", a1, 60);
	wb_a(&w, "d.cdn.net", a2, 20);
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), 0);
	T_EQ_INT(l.id, 77);
	T_EQ_INT(l.qtype, 1);
	T_EQ_INT(l.nnames, 3);
	T_EQ_STR(l.names[0], "alias.other.test");
	T_EQ_STR(l.names[1], "c.example.org");
	T_EQ_STR(l.names[2], "d.cdn.net");
	T_EQ_INT(l.naddr, 2);
	T_EQ_MEM(l.addr[0], &a1, 4);
	T_EQ_MEM(l.addr[1], &a2, 4);
	T_EQ_INT(l.ttl, 20);		/* the least on the way */

	/* Records in any order: addresses first, then the chain backwards. */
	wb_start(&w, 1, "a.test", 1, 3);
	wb_a(&w, "c.test", a1, 9);
	wb_cname(&w, "b.test", "c.test", 50);
	wb_cname(&w, "a.test", "b.test", 7);
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), 0);
	T_EQ_INT(l.nnames, 3);
	T_EQ_INT(l.naddr, 1);
	T_EQ_INT(l.ttl, 7);

	/* Addresses of a name off the chain teach nothing. */
	wb_start(&w, 1, "a.test", 1, 1);
	wb_a(&w, "b.test", a1, 9);
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), 0);
	T_EQ_INT(l.naddr, 0);

	/* A CNAME loop has no end: refused. */
	wb_start(&w, 1, "a.test", 1, 2);
	wb_cname(&w, "a.test", "b.test", 9);
	wb_cname(&w, "b.test", "a.test", 9);
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), -1);

	/* DNS_CHAIN_MAX names are taken, one more is not. */
	for (k = 0; k < 2; k++) {
		char from[16], to[16];
		unsigned i, len = DNS_CHAIN_MAX - 1 + (unsigned)k;

		wb_start(&w, 1, "n0.test", 1, (uint16_t)(len + 1));
		for (i = 0; i < len; i++) {
			snprintf(from, sizeof from, "n%u.test", i);
			snprintf(to, sizeof to, "n%u.test", i + 1);
			wb_cname(&w, from, to, 9);
		}
		wb_a(&w, to, a1, 9);
		T_EQ_INT(dns_parse_learn(w.p, w.n, &l), k == 0 ? 0 : -1);
		if (k == 0)
			T_EQ_INT(l.nnames, DNS_CHAIN_MAX);
	}

	/* AAAA: 16 bytes, for a question of that type only. */
	wb_start(&w, 1, "six.test", 28, 1);
	wb_name(&w, "six.test");
	wb16(&w, 28); wb16(&w, 1); wb32(&w, 0x80000000u); wb16(&w, 16);
	memset(w.p + w.n, 0x20, 16);
	w.n += 16;
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), 0);
	T_EQ_INT(l.naddr, 1);
	T_EQ_INT(l.ttl, 0);		/* the top bit set reads as zero */
}

static void
test_learn_parse_refusals(void)
{
	static struct dns_learn l;
	struct wb w, good;
	uint32_t a1 = A("192.0.2.1");
	uint16_t id, qtype;
	char name[DNS_NAME_MAX];
	size_t k, at;

	wb_start(&good, 5, "www.example.org", 1, 2);
	wb_cname(&good, "www.example.org", "edge.example.net", 9);
	wb_a(&good, "edge.example.net", a1, 9);
	T_EQ_INT(dns_parse_learn(good.p, good.n, &l), 0);
	/* Every truncation of it is refused. */
	for (k = 0; k < good.n; k++)
		T_EQ_INT(dns_parse_learn(good.p, k, &l), -1);
	/* Truncated (TC), an error, a query, two questions. */
	w = good;
	w.p[2] |= 0x02;
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), -1);
	w = good;
	w.p[3] |= 0x03;
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), -1);
	w = good;
	w.p[2] &= 0x7f;
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), -1);
	w = good;
	w.p[5] = 2;
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), -1);
	/* A record whose data runs past the end. */
	w = good;
	w.p[w.n - 5] = 5;
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), -1);
	/* More records announced than DNS_RR_MAX. */
	w = good;
	w.p[6] = 1;
	T_EQ_INT(dns_parse_learn(w.p, w.n, &l), -1);

	/* Compression: a name at 12, then "www" + pointer to it. */
	w.n = 0;
	wb_start(&w, 5, "example.org", 1, 1);
	w.p[w.n++] = 3;
	memcpy(w.p + w.n, "www", 3);
	w.n += 3;
	w.p[w.n++] = 0xc0;
	w.p[w.n++] = 12;
	wb16(&w, 1); wb16(&w, 1); wb32(&w, 9); wb16(&w, 4);
	memcpy(w.p + w.n, &a1, 4);
	w.n += 4;
	at = w.n;
	k = 12 + 13 + 4;		/* the owner's offset */
	T_EQ_INT(dns_read_name(w.p, w.n, &k, name), 0);
	T_EQ_STR(name, "www.example.org");
	T_EQ_INT(k, 12 + 13 + 4 + 6);
	/* A pointer to itself, a pointer forwards, and two pointers that
	 * would take turns: all refused, none loops. */
	w.p[12 + 13 + 4 + 4] = 0xc0;
	w.p[12 + 13 + 4 + 5] = (uint8_t)(12 + 13 + 4 + 4);
	k = 12 + 13 + 4;
	T_EQ_INT(dns_read_name(w.p, at, &k, name), -1);
	T_EQ_INT(dns_parse_learn(w.p, at, &l), -1);
	w.p[12 + 13 + 4 + 5] = (uint8_t)(at - 2);
	k = 12 + 13 + 4;
	T_EQ_INT(dns_read_name(w.p, at, &k, name), -1);
	/* 12: pointer to 20; 20: label then pointer back to 12 */
	memset(w.p + 12, 0, 40);
	w.p[12] = 0xc0; w.p[13] = 20;
	w.p[20] = 1; w.p[21] = 'x'; w.p[22] = 0xc0; w.p[23] = 12;
	k = 20;
	T_EQ_INT(dns_read_name(w.p, 64, &k, name), -1);
	k = 12;
	T_EQ_INT(dns_read_name(w.p, 64, &k, name), -1);
	/* A pointer into the header, a label with a dot or a NUL in it. */
	w.p[12] = 0xc0; w.p[13] = 2;
	k = 12;
	T_EQ_INT(dns_read_name(w.p, 64, &k, name), -1);
	memcpy(w.p + 12, "\3a.b\3org\0", 9);
	k = 12;
	T_EQ_INT(dns_read_name(w.p, 64, &k, name), -1);
	memcpy(w.p + 12, "\3a\0b\3org\0", 9);
	k = 12;
	T_EQ_INT(dns_read_name(w.p, 64, &k, name), -1);

	/* Queries: ours parse, a response does not. */
	k = dns_build_query(w.p, sizeof w.p, 0x1234, "Mail.Example.org", 28);
	T_EQ_INT(dns_parse_query(w.p, k, &id, &qtype, name), 0);
	T_EQ_INT(id, 0x1234);
	T_EQ_INT(qtype, 28);
	T_EQ_STR(name, "mail.example.org");
	w.p[2] |= 0x80;
	T_EQ_INT(dns_parse_query(w.p, k, &id, &qtype, name), -1);
}

/* The learning records natd queued since index from, decoded. */
struct learned {
	int	 ngroups;
	uint16_t port;
	uint32_t ttl;
	int	 nnames, naddr;
	char	 names[DNS_CHAIN_MAX][DNS_NAME_MAX];
	uint8_t	 addr[DNS_ANSWER_MAX][16];
};

static void
decode(const struct tl *t, unsigned from, struct learned *o)
{
	unsigned i;
	size_t len = 0;

	memset(o, 0, sizeof *o);
	for (i = from; i < t->nfr; i++) {
		struct flow_learn r;

		memcpy(&r, &t->fr[i], sizeof r);
		if (!(r.flags & FREQ_LEARN))
			continue;
		switch (r.kind) {
		case LEARN_BEGIN:
			o->ngroups++;
			o->port = r.port;
			o->ttl = r.ttl;
			break;
		case LEARN_NAME:
		case LEARN_NAME_END:
			memcpy(o->names[o->nnames] + len, r.data, r.len);
			len += r.len;
			if (r.kind == LEARN_NAME_END) {
				o->nnames++;
				len = 0;
			}
			break;
		case LEARN_ADDR:
			memcpy(o->addr[o->naddr++], r.data, 16);
			break;
		}
	}
}

/* Client port's query id for name out of its redirected DNS flow from
 * sport (accepting the flow when it is new). */
static void
client_query(struct tl *t, uint16_t port, uint16_t sport, uint16_t id,
    const char *name)
{
	uint8_t q[512];
	size_t qn, n;
	unsigned before = t->nfr;

	qn = dns_build_query(q, sizeof q, id, name, 1);
	n = mk_udp(F, port == 1 ? MAC_V1 : MAC_V2, port == 1 ? MAC_C1 : MAC_C2,
	    port == 1 ? IP_C1 : IP_C2, IP_VDNS1, sport, 53, qn);
	memcpy(F + 42, q, qn);
	fix_csums(F, n);
	tl_in(t, port, F, n);
	if (t->nfr > before && !(t->fr[t->nfr - 1].flags & FREQ_LEARN))
		tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
}

/* The resolver's answer on the flow from nsport; 1 if it reached port. */
static int
resolver_answer(struct tl *t, uint16_t nsport, const struct wb *w,
    uint16_t port)
{
	size_t n = mk_udp(F, MAC_GW, MAC_UP, IP_DNS1, IP_US, 53, nsport, w->n);
	int i;

	memcpy(F + 42, w->p, w->n);
	fix_csums(F, n);
	t->ntx = 0;
	tl_in(t, 0, F, n);
	i = tl_last_sent(t);
	return i >= 0 && t->tx[i].port == port;
}

static unsigned room_left = 1000;
static unsigned
room(void *arg)
{
	(void)arg;
	return room_left;
}

static void
test_learn_engine(void)
{
	struct tl *t = tl_new();
	struct learned o;
	struct wb w;
	uint32_t a1 = A("198.51.100.7");
	unsigned from;

	t->e->io.flowreq_room = room;
	/* c1 asks; the answer teaches c1 (port 1), queued before the answer
	 * reaches c1. */
	client_query(t, 1, 30000, 0x4242, "www.example.org");
	wb_start(&w, 0x4242, "www.example.org", 1, 2);
	wb_cname(&w, "www.example.org", "edge.example.net", 300);
	wb_a(&w, "edge.example.net", a1, 120);
	from = t->nfr;
	T_EQ_INT(resolver_answer(t, 30000, &w, 1), 1);
	decode(t, from, &o);
	T_EQ_INT(o.ngroups, 1);
	T_EQ_INT(o.port, 1);
	T_EQ_INT(o.ttl, 120);
	T_EQ_INT(o.nnames, 2);
	T_EQ_STR(o.names[0], "www.example.org");
	T_EQ_STR(o.names[1], "edge.example.net");
	T_EQ_INT(o.naddr, 1);
	T_EQ_MEM(o.addr[0], &a1, 4);
	/* The same answer again: one answer per query. */
	from = t->nfr;
	T_EQ_INT(resolver_answer(t, 30000, &w, 1), 1);
	decode(t, from, &o);
	T_EQ_INT(o.ngroups, 0);

	/* Wrong id, then the right id for another question: the answers
	 * still reach the client, and teach nothing. */
	client_query(t, 1, 30000, 0x5151, "mail.example.org");
	wb_start(&w, 0x5152, "mail.example.org", 1, 1);
	wb_a(&w, "mail.example.org", a1, 60);
	from = t->nfr;
	T_EQ_INT(resolver_answer(t, 30000, &w, 1), 1);
	wb_start(&w, 0x5151, "evil.example.org", 1, 1);
	wb_a(&w, "evil.example.org", a1, 60);
	T_EQ_INT(resolver_answer(t, 30000, &w, 1), 1);
	decode(t, from, &o);
	T_EQ_INT(o.ngroups, 0);
	/* The real one still teaches. */
	wb_start(&w, 0x5151, "mail.example.org", 1, 1);
	wb_a(&w, "mail.example.org", a1, 60);
	T_EQ_INT(resolver_answer(t, 30000, &w, 1), 1);
	decode(t, from, &o);
	T_EQ_INT(o.ngroups, 1);

	/* A client's own "answer" sent towards the resolver teaches nothing. */
	from = t->nfr;
	{
		size_t n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_VDNS1, 30000, 53, w.n);

		memcpy(F + 42, w.p, w.n);
		fix_csums(F, n);
		tl_in(t, 1, F, n);
	}
	decode(t, from, &o);
	T_EQ_INT(o.ngroups, 0);

	/* c2's question answered on c2's flow teaches port 2 only; c1's
	 * flow does not carry it. */
	client_query(t, 2, 30001, 0x0707, "two.example.org");
	wb_start(&w, 0x0707, "two.example.org", 1, 1);
	wb_a(&w, "two.example.org", a1, 60);
	from = t->nfr;
	T_EQ_INT(resolver_answer(t, 30000, &w, 1), 1);	/* on c1's flow */
	decode(t, from, &o);
	T_EQ_INT(o.ngroups, 0);
	T_EQ_INT(resolver_answer(t, 30001, &w, 2), 1);
	decode(t, from, &o);
	T_EQ_INT(o.ngroups, 1);
	T_EQ_INT(o.port, 2);

	/* Too late: NAT_DNSW_MS after the query, nothing. */
	client_query(t, 1, 30000, 0x0808, "late.example.org");
	wb_start(&w, 0x0808, "late.example.org", 1, 1);
	wb_a(&w, "late.example.org", a1, 60);
	t->now += NAT_DNSW_MS + 1;
	from = t->nfr;
	T_EQ_INT(resolver_answer(t, 30000, &w, 1), 1);
	decode(t, from, &o);
	T_EQ_INT(o.ngroups, 0);

	/* No room on the ring for the whole learning: the answer is
	 * dropped (the client asks again), nothing half-sent. */
	client_query(t, 1, 30000, 0x0909, "busy.example.org");
	wb_start(&w, 0x0909, "busy.example.org", 1, 1);
	wb_a(&w, "busy.example.org", a1, 60);
	room_left = 2;
	from = t->nfr;
	T_EQ_INT(resolver_answer(t, 30000, &w, 1), 0);
	T_EQ_INT(t->nfr, from);
	T_EQ_INT(tl_drops(t, 0, NAT_R_POLICYD_BUSY), 1);
	room_left = 1000;
	/* what moat.Stats shows as "dns_learn" */
	T_EQ_INT(t->e->dnslearn.learned, 3);
	T_EQ_INT(t->e->dnslearn.unasked, 2);
	T_EQ_INT(t->e->dnslearn.busy, 1);
	tl_free(t);
}

/* One client's many lookups: NAT_DNSLEARN_BURST at once, then
 * NAT_DNSLEARN_RATE a second; another client is not held back. */
static void
test_learn_rate(void)
{
	struct tl *t = tl_new();
	struct wb w;
	uint32_t a1 = A("198.51.100.7");
	unsigned i, ok = 0;
	char name[32];

	for (i = 0; i < NAT_DNSLEARN_BURST + 10; i++) {
		snprintf(name, sizeof name, "n%u.example.org", i);
		client_query(t, 1, 30000, (uint16_t)i, name);
		wb_start(&w, (uint16_t)i, name, 1, 1);
		wb_a(&w, name, a1, 60);
		ok += resolver_answer(t, 30000, &w, 1);
	}
	T_EQ_INT(ok, NAT_DNSLEARN_BURST);
	T_EQ_INT(t->e->dnslearn.learned, NAT_DNSLEARN_BURST);
	T_EQ_INT(t->e->dnslearn.limited, 10);
	/* client 2 still learns */
	client_query(t, 2, 30001, 1, "two.example.org");
	wb_start(&w, 1, "two.example.org", 1, 1);
	wb_a(&w, "two.example.org", a1, 60);
	T_EQ_INT(resolver_answer(t, 30001, &w, 2), 1);
	/* half a second later, half the rate again for client 1 */
	t->now += 500;
	for (i = 0, ok = 0; i < NAT_DNSLEARN_RATE; i++) {
		snprintf(name, sizeof name, "m%u.example.org", i);
		client_query(t, 1, 30000, (uint16_t)(1000 + i), name);
		wb_start(&w, (uint16_t)(1000 + i), name, 1, 1);
		wb_a(&w, name, a1, 60);
		ok += resolver_answer(t, 30000, &w, 1);
	}
	T_EQ_INT(ok, NAT_DNSLEARN_RATE / 2);
	tl_free(t);
}

int
main(void)
{
	T_RUN(test_build_query);
	T_RUN(test_parse_answer);
	T_RUN(test_resolver);
	T_RUN(test_resolver_secondary_and_timeout);
	T_RUN(test_learn_parse_chain);
	T_RUN(test_learn_parse_refusals);
	T_RUN(test_learn_engine);
	T_RUN(test_learn_rate);
	return t_done();
}
