/*
 * test_natd_dns.c: natd's stub resolver for policyd: the wire format, and
 * queries going out of the uplink with answers, failures and timeouts.
 */
#include <stdio.h>

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

int
main(void)
{
	T_RUN(test_build_query);
	T_RUN(test_parse_answer);
	T_RUN(test_resolver);
	T_RUN(test_resolver_secondary_and_timeout);
	return t_done();
}
