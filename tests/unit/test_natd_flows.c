/*
 * test_natd_flows.c: what moat.Flows shows (issue 17): each flow's
 * counters as the packets went, the rule that decided it, the filter by
 * client, and an answer that is valid JSON and within its bounds however
 * many flows there are and whatever a link is called.
 */
#include <jansson.h>
#include <stdio.h>

#include "t.h"
#include "natd_testlib.h"

/* In helpers that return a value: a failure there ends the program. */
#define H_ASSERT(c) do { if (!(c)) { t_fail(__FILE__, __LINE__, #c); \
	abort(); } } while (0)

static uint8_t F[70000];
static char J[1 << 20];

static json_t *
flows(struct tl *t, const char *filter, uint32_t max)
{
	size_t len = nat_flows_json(t->e, J, sizeof(J), filter, max, t->now);
	json_error_t err;
	json_t *root;

	H_ASSERT(len > 0 && len < sizeof(J));
	root = json_loadb(J, len, 0, &err);
	if (root == NULL)
		fprintf(stderr, "not JSON (%s): %.*s\n", err.text, (int)len, J);
	H_ASSERT(root != NULL);
	return root;
}

static json_int_t
ival(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	H_ASSERT(json_is_integer(v));
	return json_integer_value(v);
}

static const char *
sval(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	H_ASSERT(json_is_string(v));
	return json_string_value(v);
}

static void
verdict_rule(struct tl *t, uint32_t seq, uint8_t action, uint16_t rule)
{
	struct flow_verdict v;

	memset(&v, 0, sizeof(v));
	v.seq = seq;
	v.action = action;
	v.rule = rule;
	nat_verdict(t->e, &v, t->now);
}

/* A UDP flow of client 1 to port dport of the remote, accepted by rule;
 * returns the translated port. */
static uint16_t
open_udp(struct tl *t, uint16_t sport, uint16_t dport, uint16_t rule,
    size_t payload)
{
	size_t n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, sport, dport,
	    payload);
	struct pkt_view v;
	unsigned nfr = t->nfr;

	tl_in(t, 1, F, n);
	H_ASSERT(t->nfr == nfr + 1);
	verdict_rule(t, t->fr[nfr].seq, VERDICT_ACCEPT, rule);
	H_ASSERT(tl_parse(t, (unsigned)tl_last_sent(t), &v) == PKT_OK);
	return v.sport;
}

/* Counters follow what crossed, each way, and only that. */
static void
test_counters(void)
{
	struct tl *t = tl_new();
	size_t out = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 4000, 5000, 100);
	size_t in;
	uint16_t np;
	json_t *root, *a, *f;
	int i;

	np = open_udp(t, 4000, 5000, RULE_ID_QUBES | 12, 100);
	for (i = 0; i < 2; i++)
		tl_in(t, 1, F, mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE,
		    4000, 5000, 100));
	in = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 5000, np, 1000);
	tl_in(t, 0, F, in);
	/* not this flow's: a reply to a port nobody uses */
	tl_in(t, 0, F, mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 5000,
	    (uint16_t)(np + 1), 1000));
	t->now += 7000;
	root = flows(t, NULL, 100);
	T_EQ_INT(ival(root, "total"), 1);
	T_EQ_INT(ival(root, "shown"), 1);
	T_ASSERT(json_is_false(json_object_get(root, "truncated")));
	a = json_object_get(root, "flows");
	T_EQ_INT(json_array_size(a), 1);
	f = json_array_get(a, 0);
	T_EQ_STR(sval(f, "client"), "10.137.0.10");
	T_EQ_STR(sval(f, "link"), "eth1");
	T_EQ_STR(sval(f, "src"), "10.137.0.10");
	T_EQ_STR(sval(f, "proto"), "udp");
	T_EQ_STR(sval(f, "kind"), "nat");
	T_EQ_INT(ival(f, "family"), 4);
	T_EQ_STR(sval(f, "remote"), "93.184.216.34");
	T_EQ_INT(ival(f, "rport"), 5000);
	T_EQ_INT(ival(f, "sport"), 4000);
	T_EQ_INT(ival(f, "nat_port"), np);
	T_EQ_STR(sval(f, "state"), "active");
	T_EQ_STR(sval(f, "rule"), "qubes:12");
	T_EQ_INT(ival(f, "packets_out"), 3);	/* the held first one too */
	T_EQ_INT(ival(f, "bytes_out"), 3 * (json_int_t)out);
	T_EQ_INT(ival(f, "packets_in"), 1);
	T_EQ_INT(ival(f, "bytes_in"), (json_int_t)in);
	T_EQ_INT(ival(f, "age"), 7);
	T_EQ_INT(ival(f, "idle"), 7);
	T_ASSERT(json_object_get(f, "dst") == NULL);
	json_decref(root);
	tl_free(t);
}

/* Each way a flow can be decided is named as docs/rules.md says. */
static void
test_rule_names(void)
{
	struct tl *t = tl_new();
	size_t n;
	json_t *root, *a;
	const char *want[] = { "json:3", "qubes:policy", "default", "dropped",
	    "rejected", "pending" };

	open_udp(t, 1, 7, 3, 10);
	open_udp(t, 2, 7, RULE_ID_QPOLICY, 10);
	/* a stray 0xfffd (natd's own "none") from policyd is the default */
	open_udp(t, 3, 7, 0xfffd, 10);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 4, 7, 10);
	tl_in(t, 1, F, n);
	verdict_rule(t, t->fr[t->nfr - 1].seq, VERDICT_DROP, RULE_ID_QUBES | 9);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 5, 7, 10);
	tl_in(t, 1, F, n);
	verdict_rule(t, t->fr[t->nfr - 1].seq, VERDICT_REJECT, 0);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 6, 7, 10);
	tl_in(t, 1, F, n);
	root = flows(t, NULL, 100);
	a = json_object_get(root, "flows");
	T_EQ_INT(json_array_size(a), 6);
	T_EQ_STR(sval(json_array_get(a, 0), "rule"), "json:3");
	T_EQ_STR(sval(json_array_get(a, 1), "rule"), "qubes:policy");
	T_EQ_STR(sval(json_array_get(a, 2), "rule"), "default");
	T_EQ_STR(sval(json_array_get(a, 3), "rule"), "qubes:9");
	T_EQ_STR(sval(json_array_get(a, 3), "state"), want[3]);
	T_EQ_INT(ival(json_array_get(a, 3), "packets_out"), 0);
	T_EQ_STR(sval(json_array_get(a, 4), "rule"), "json:0");
	T_EQ_STR(sval(json_array_get(a, 4), "state"), want[4]);
	T_EQ_STR(sval(json_array_get(a, 5), "rule"), want[5]);
	T_EQ_STR(sval(json_array_get(a, 5), "state"), want[5]);
	json_decref(root);
	tl_free(t);
}

/* TCP states and the DNS redirect, as a client sees them. */
static void
test_tcp_and_dns(void)
{
	struct tl *t = tl_new();
	size_t n;
	json_t *root, *a;

	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 443, TCP_SYN, 1, 0, 0);
	tl_in(t, 1, F, n);
	verdict_rule(t, t->fr[0].seq, VERDICT_ACCEPT, 0);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_VDNS1, 3333, 53, 30);
	tl_in(t, 1, F, n);
	verdict_rule(t, t->fr[1].seq, VERDICT_ACCEPT, RULE_ID_QUBES | 1);
	root = flows(t, NULL, 100);
	a = json_object_get(root, "flows");
	T_EQ_STR(sval(json_array_get(a, 0), "proto"), "tcp");
	T_EQ_STR(sval(json_array_get(a, 0), "state"), "syn_sent");
	T_EQ_STR(sval(json_array_get(a, 1), "remote"), "192.0.2.53");
	T_EQ_STR(sval(json_array_get(a, 1), "dst"), "10.139.1.1");
	json_decref(root);
	tl_free(t);
}

/* The filter: a client's address or link name; a flow's source address. */
static void
test_filter(void)
{
	struct tl *t = tl_new();
	json_t *root, *a;
	size_t n;
	unsigned k;

	open_udp(t, 1, 7, 0, 10);
	open_udp(t, 2, 7, 0, 10);
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 3, 7, 10);
	tl_in(t, 2, F, n);
	verdict_rule(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT, 1);
	root = flows(t, "10.137.0.11", 100);
	a = json_object_get(root, "flows");
	T_EQ_INT(json_array_size(a), 1);
	T_EQ_INT(ival(root, "total"), 1);
	T_EQ_STR(sval(json_array_get(a, 0), "client"), "10.137.0.11");
	json_decref(root);
	root = flows(t, "eth1", 100);
	a = json_object_get(root, "flows");
	T_EQ_INT(json_array_size(a), 2);
	for (k = 0; k < 2; k++)
		T_EQ_STR(sval(json_array_get(a, k), "client"), "10.137.0.10");
	json_decref(root);
	root = flows(t, "", 100);
	T_EQ_INT(ival(root, "total"), 3);
	json_decref(root);
	/* a prefix of a name or an address is not the client */
	root = flows(t, "eth", 100);
	T_EQ_INT(ival(root, "total"), 0);
	T_EQ_INT(json_array_size(json_object_get(root, "flows")), 0);
	json_decref(root);
	root = flows(t, "10.137.0.1", 100);
	T_EQ_INT(ival(root, "total"), 0);
	json_decref(root);
	tl_free(t);
}

/*
 * Bounds: at most max flows, at most cap bytes, valid JSON at every cap,
 * and the cut always said.
 */
static void
test_bounds(void)
{
	struct tl *t = tl_new();
	static char small[4096];
	json_t *root;
	size_t cap, len;
	uint16_t k;

	for (k = 0; k < 40; k++)
		open_udp(t, (uint16_t)(100 + k), 7, k, 10);
	root = flows(t, NULL, 10);
	T_EQ_INT(ival(root, "shown"), 10);
	T_EQ_INT(json_array_size(json_object_get(root, "flows")), 10);
	T_EQ_INT(ival(root, "total"), 40);
	T_ASSERT(json_is_true(json_object_get(root, "truncated")));
	json_decref(root);
	root = flows(t, NULL, 40);
	T_ASSERT(json_is_false(json_object_get(root, "truncated")));
	json_decref(root);
	/* too small for even an empty answer */
	T_EQ_INT(nat_flows_json(t->e, small, 0, NULL, 100, t->now), 0);
	T_EQ_INT(nat_flows_json(t->e, small, 96, NULL, 100, t->now), 0);
	for (cap = 97; cap <= sizeof(small); cap += 13) {
		json_t *a;

		memset(small, 'x', sizeof(small));
		len = nat_flows_json(t->e, small, cap, NULL, 1000, t->now);
		if (len == 0) {
			T_ASSERT(cap < 128);
			continue;
		}
		T_ASSERT(len < cap);
		T_EQ_INT(small[len], '\0');
		root = json_loadb(small, len, 0, NULL);
		if (root == NULL)
			printf("# cap %zu: %.*s\n", cap, (int)len, small);
		T_ASSERT(root != NULL);
		a = json_object_get(root, "flows");
		T_EQ_INT(ival(root, "total"), 40);
		T_EQ_INT((json_int_t)json_array_size(a), ival(root, "shown"));
		T_ASSERT(json_is_true(json_object_get(root, "truncated")) ==
		    (json_array_size(a) < 40));
		json_decref(root);
	}
	/* nothing written past cap */
	memset(small, 'x', sizeof(small));
	len = nat_flows_json(t->e, small, 500, NULL, 1000, t->now);
	T_ASSERT(len > 0 && len < 500);
	for (cap = 500; cap < sizeof(small); cap++)
		T_EQ_INT(small[cap], 'x');
	tl_free(t);
}

/* A link's name is netbackd's to choose: quoted, control bytes escaped,
 * and a name filling all 32 bytes without a NUL still ends. */
static void
test_escaping(void)
{
	struct tl *t = tl_new();
	static const char odd[] = "a\"b\\c\n\x01\x7f\xff";
	json_t *root, *f;

	open_udp(t, 1, 7, 0, 10);
	memset(t->e->link[1].name, 0, sizeof(t->e->link[1].name));
	memcpy(t->e->link[1].name, odd, sizeof(odd) - 1);
	root = flows(t, NULL, 100);
	f = json_array_get(json_object_get(root, "flows"), 0);
	T_ASSERT(f != NULL);
	/* jansson decodes \u00ff as the code point, not the byte */
	T_EQ_STR(sval(f, "link"), "a\"b\\c\n\x01\x7f\xc3\xbf");
	json_decref(root);
	memset(t->e->link[1].name, 'z', sizeof(t->e->link[1].name));
	root = flows(t, NULL, 100);
	f = json_array_get(json_object_get(root, "flows"), 0);
	T_EQ_INT(strlen(sval(f, "link")), 32);
	json_decref(root);
	root = flows(t, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 100);	/* 33 */
	T_EQ_INT(ival(root, "total"), 0);
	json_decref(root);
	root = flows(t, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 100);	/* 32 */
	T_EQ_INT(ival(root, "total"), 1);
	json_decref(root);
	tl_free(t);
}

/* The counters and the rule live in the memfd: a restarted natd shows
 * them; an entry claiming to have started after its last packet is not
 * one natd wrote, and is dropped. */
static void
test_restart(void)
{
	size_t len;
	uint8_t *mem;
	struct tl *t = tl_new_restartable(&mem, &len);
	json_t *root, *f;
	uint32_t i, bad = FT_NIL;

	open_udp(t, 1, 7, RULE_ID_QUBES | 4, 10);
	open_udp(t, 2, 7, 5, 10);
	for (i = 0; i < t->e->ft.nflows; i++)
		if (t->e->ft.ent[i].state != FT_FREE &&
		    t->e->ft.ent[i].csport == 2)
			bad = i;
	T_ASSERT(bad != FT_NIL);
	t->e->ft.cnt[bad].start = t->e->ft.ent[bad].last + 1;
	T_ASSERT(tl_restart(t, mem, len) == 0);
	t->now += 3000;
	T_ASSERT(nat_start(t->e, 1, t->now) == 0);
	T_EQ_INT(t->e->restored, 1);
	T_EQ_INT(t->e->discarded, 1);
	T_EQ_INT(t->e->ft.cnt[bad].start, 0);
	root = flows(t, NULL, 100);
	T_EQ_INT(ival(root, "total"), 1);
	f = json_array_get(json_object_get(root, "flows"), 0);
	T_EQ_STR(sval(f, "rule"), "qubes:4");
	T_EQ_INT(ival(f, "packets_out"), 1);
	T_EQ_INT(ival(f, "age"), 3);
	json_decref(root);
	tl_free(t);
	free(mem);
}

/* IPv6 flows count the same way, and show their own addresses with the
 * client's IPv4 one (the filter matches either). */
static void
test_ipv6(void)
{
	static const uint8_t remote[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x80 };
	struct tl *t = tl6();
	struct pkt_view v;
	size_t out, in;
	json_t *root, *f;

	out = mk6(F, MAC_V1, MAC_C1, nh_ip6_c1, remote, IPPROTO_UDP_, 64,
	    40000, 53, 0, 10);
	tl_in(t, 1, F, out);
	T_EQ_INT(t->nfr, 1);
	verdict_rule(t, t->fr[0].seq, VERDICT_ACCEPT, RULE_ID_QUBES | 7);
	T_EQ_INT(last6(t, 0, &v), 0);
	in = mk6(F, MAC_GW, MAC_UP, remote, nh_ip6_us, IPPROTO_UDP_, 60, 53,
	    v.sport, 0, 300);
	tl_in(t, 0, F, in);
	tl_in(t, 0, F, mk6(F, MAC_GW, MAC_UP, remote, nh_ip6_us, IPPROTO_UDP_,
	    60, 53, v.sport, 0, 300));
	root = flows(t, "fd09::11", 100);
	T_EQ_INT(ival(root, "total"), 0);	/* not that client's */
	json_decref(root);
	root = flows(t, "fd09::10", 100);	/* the flow's source */
	T_EQ_INT(ival(root, "total"), 1);
	T_EQ_STR(sval(json_array_get(json_object_get(root, "flows"), 0), "src"),
	    "fd09::10");
	json_decref(root);
	root = flows(t, "10.137.0.10", 100);
	T_EQ_INT(ival(root, "total"), 1);
	f = json_array_get(json_object_get(root, "flows"), 0);
	T_EQ_INT(ival(f, "family"), 6);
	T_EQ_STR(sval(f, "client"), "10.137.0.10");
	T_EQ_STR(sval(f, "remote"), "2001:db8::80");
	T_EQ_STR(sval(f, "rule"), "qubes:7");
	T_EQ_INT(ival(f, "packets_out"), 1);
	T_EQ_INT(ival(f, "bytes_out"), (json_int_t)out);
	T_EQ_INT(ival(f, "packets_in"), 2);
	T_EQ_INT(ival(f, "bytes_in"), 2 * (json_int_t)in);
	json_decref(root);
	tl_free(t);
}

int
main(void)
{
	T_RUN(test_counters);
	T_RUN(test_rule_names);
	T_RUN(test_tcp_and_dns);
	T_RUN(test_filter);
	T_RUN(test_bounds);
	T_RUN(test_escaping);
	T_RUN(test_restart);
	T_RUN(test_ipv6);
	return t_done();
}
