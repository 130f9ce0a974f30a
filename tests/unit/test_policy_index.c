/*
 * test_policy_index.c: the rule index must give exactly what a linear
 * first-match scan gives. Random rule sets (sources, protocols, prefixes
 * of every length over a small address space so that they overlap, port
 * ranges, ICMP types, specialtarget, dsthost names resolved, failed or
 * pending, expired rules, inter-VM flows) against random flows.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "log.h"
#include "policyd/dnscache.h"
#include "policyd/engine.h"
#include "tests/testutil.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)(tu_xorshift64(&rng) % n);
}

static const char *const hosts[] = { "a.example", "b.example", "c.example", "d.example" };
static const uint8_t dnsaddr[2][4] = { { 10, 139, 1, 1 }, { 192, 168, 1, 1 } };
static struct dnsc dns;

static void
rand_addr(int family, uint8_t *a)
{
	memset(a, 0, 16);
	if (family == 4) {
		a[0] = rnd(4) == 0 ? 10 : 192;
		a[1] = (uint8_t)(rnd(3) == 0 ? 139 : 168);
		a[2] = (uint8_t)rnd(3);
		a[3] = (uint8_t)rnd(6);
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
		a[7] = (uint8_t)rnd(3);
		a[15] = (uint8_t)rnd(4);
	}
}

static void
rand_rule(struct prule *r, uint32_t i)
{
	static const uint8_t lens4[] = { 0, 1, 8, 16, 22, 23, 24, 29, 30, 31, 32 };
	static const uint8_t lens6[] = { 0, 32, 48, 64, 127, 128 };
	static const uint8_t protos[] = { 0, 0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
	unsigned k;

	memset(r, 0, sizeof *r);
	r->id = (uint16_t)i;
	r->action = (uint8_t)(1 + rnd(3));
	r->from = rnd(3) == 0 ? 0 : htonl(0x0a890000u | (1 + rnd(3)));
	r->proto = protos[rnd(sizeof protos)];
	switch (rnd(6)) {
	case 0:
	case 1:
	case 2:
		r->dst = PD_NET;
		r->family = rnd(4) == 0 ? 6 : 4;
		rand_addr(r->family, r->addr);
		r->plen = r->family == 4 ? lens4[rnd(sizeof lens4)] :
		    lens6[rnd(sizeof lens6)];
		for (k = r->plen; k < (r->family == 4 ? 32u : 128u); k++)
			r->addr[k / 8] &= (uint8_t)~(0x80u >> (k % 8));
		r->peer = rnd(2);
		/* a JSON "to": an IPv4 /32 that also names the client's
		 * IPv6 address (through fkey.peer4) */
		if (r->family == 4 && r->plen == 32 && rnd(3) == 0) {
			static const uint8_t peers[2][4] = { { 192, 168, 0, 1 }, { 192, 168, 0, 2 } };

			r->peer = r->to_client = 1;
			memcpy(r->addr, peers[rnd(2)], 4);
		}
		break;
	case 3:
		r->dst = PD_HOST;
		r->host = hosts[rnd(4)];
		break;
	default:
		break;
	}
	if ((r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP) && rnd(2)) {
		r->has_ports = 1;
		r->plo = (uint16_t)(50 + rnd(10));
		r->phi = (uint16_t)(r->plo + rnd(5));
	}
	if (r->proto == IPPROTO_ICMP && rnd(2)) {
		r->has_icmptype = 1;
		r->icmptype = (uint8_t)rnd(3);
	}
	if (r->proto != IPPROTO_ICMP && rnd(8) == 0)
		r->specialdns = 1;
	if (rnd(10) == 0)
		r->expire = 1000 + rnd(20);
	if (rnd(30) == 0)
		r->never = 1;
}

/* Port-heavy sets: long lists of exact ports to any destination, so that
 * buckets get split by (protocol, port). */
static int port_mode;

static void
rand_port_rule(struct prule *r, uint32_t i)
{
	rand_rule(r, i);
	if (rnd(10) < 7) {
		r->dst = PD_ANY;
		r->host = NULL;
		r->proto = rnd(2) ? IPPROTO_TCP : IPPROTO_UDP;
		r->has_ports = 1;
		r->plo = (uint16_t)(1 + rnd(200));
		r->phi = rnd(8) ? r->plo : (uint16_t)(r->plo + rnd(20));
		r->specialdns = 0;
		r->has_icmptype = 0;
	}
}

static void
rand_flow(struct fkey *f)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 58 };

	memset(f, 0, sizeof *f);
	f->family = rnd(4) == 0 ? 6 : 4;
	f->proto = protos[rnd(4)];
	if (f->family == 4 && f->proto == 58)
		f->proto = IPPROTO_ICMP;
	rand_addr(f->family, f->dst);
	if (f->family == 4 && rnd(5) == 0)
		memcpy(f->dst, dnsaddr[rnd(2)], 4);
	f->dport = (uint16_t)(rnd(4) == 0 ? 53 : port_mode ? 1 + rnd(220) :
	    48 + rnd(20));
	f->icmptype = (uint8_t)rnd(3);
	f->from = htonl(0x0a890000u | (1 + rnd(4)));
	f->interclient = rnd(5) == 0;
	if (f->family == 6 && f->interclient && rnd(2)) {
		static const uint8_t peers[2][4] = { { 192, 168, 0, 1 }, { 192, 168, 0, 2 } };

		memcpy(&f->peer4, peers[rnd(2)], 4);
	}
}

/* Names: a resolves to 192.168.1.x, b fails, c and d are not known yet
 * (for AAAA, only a is answered). */
static void
prime_dns(void)
{
	struct msg_dns_query q;
	struct msg_dns_answer a;
	int i;

	dnsc_init(&dns);
	for (i = 0; i < 2; i++) {
		dnsc_want(&dns, hosts[i], DNS_QTYPE_A, 1);
		T_ASSERT(dnsc_next_query(&dns, 1, &q));
		memset(&a, 0, sizeof a);
		a.qid = q.qid;
		a.qtype = q.qtype;
		a.ttl = 1000000;
		a.status = i == 0 ? 0 : -1;
		a.naddr = 3;
		memcpy(a.addr[0], (uint8_t[4]){ 192, 168, 1, 1 }, 4);
		memcpy(a.addr[1], (uint8_t[4]){ 192, 168, 2, 3 }, 4);
		memcpy(a.addr[2], (uint8_t[4]){ 10, 139, 0, 0 }, 4);
		dnsc_answer(&dns, &a, 1);
	}
	dnsc_want(&dns, hosts[0], DNS_QTYPE_AAAA, 1);
	T_ASSERT(dnsc_next_query(&dns, 1, &q));
	memset(&a, 0, sizeof a);
	a.qid = q.qid;
	a.qtype = q.qtype;
	a.ttl = 1000000;
	a.naddr = 1;
	a.addr[0][0] = 0x20;
	a.addr[0][1] = 0x01;
	a.addr[0][2] = 0x0d;
	a.addr[0][3] = 0xb8;
	a.addr[0][15] = 1;
	dnsc_answer(&dns, &a, 1);
}

static void
test_index_matches_linear(void)
{
	static const uint32_t sizes[] = { 0, 1, 2, 5, 20, 100, 1000, 3000 };
	struct evctx cx = { .dns = &dns, .now_ms = 2, .now = 1010,
	    .dnsaddr = dnsaddr, .ndnsaddr = 2 };
	uint64_t checked = 0, matched = 0, pending = 0, subs = 0;
	unsigned si, round, j;

	prime_dns();
	for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		for (round = 0; round < 20; round++) {
			struct rset s = { 0 };
			uint32_t i;

			s.n = sizes[si];
			s.rules = calloc(s.n ? s.n : 1, sizeof *s.rules);
			T_ASSERT(s.rules != NULL);
			port_mode = round % 2;
			for (i = 0; i < s.n; i++) {
				if (port_mode)
					rand_port_rule(&s.rules[i], i);
				else
					rand_rule(&s.rules[i], i);
			}
			T_ASSERT(rset_build(&s) == 0);
			subs += s.idx.nsubs;
			for (j = 0; j < 400; j++) {
				struct fkey f;
				uint32_t w1 = 12345, w2 = 12345;
				int r1, r2;

				rand_flow(&f);
				cx.final = rnd(4) == 0;
				r1 = rset_eval(&s, &f, &cx, &w1);
				r2 = rset_eval_linear(&s, &f, &cx, &w2);
				checked++;
				if (r1 != r2 || (r1 == EV_MATCH && w1 != w2)) {
					printf("# n=%u round %u flow %u: index %d/%u, "
					    "linear %d/%u\n", s.n, round, j, r1, w1,
					    r2, w2);
					T_EXPECT(0);
					rset_free(&s);
					return;
				}
				matched += r1 == EV_MATCH;
				pending += r1 == EV_PENDING;
			}
			s.strings = NULL;	/* hosts are static */
			rset_free(&s);
		}
	}
	printf("# %llu flows compared, %llu matched, %llu pending, %llu split "
	    "buckets\n", (unsigned long long)checked, (unsigned long long)matched,
	    (unsigned long long)pending, (unsigned long long)subs);
	T_EXPECT(subs > 0);
	/* the random sets must exercise every outcome */
	T_EXPECT(matched > checked / 4);
	T_EXPECT(pending > 0);
	T_EXPECT(checked - matched - pending > 0);
}

int
main(void)
{
	log_init("test", LOG_LVL_ERROR);
	T_RUN(test_index_matches_linear);
	return t_done();
}
