/*
 * test_policy_forward.c: the "forward" rules of moat.SetRules (docs/rules.md,
 * "Forwarding a port to a qube"): what a forward compiles to for natd,
 * every refusal naming the rule, a forward never deciding an outbound
 * flow, and GetRules printing it back in the same form.
 */
#include "policy_testlib.h"
#include "log.h"

static void
test_forward_compiles(void)
{
	const char *doc = HDR
	    "{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"tcp\",\"dstports\":\"443\"},"
	    "{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80,\"comment\":\"web\"},"
	    "{\"action\":\"forward\",\"proto\":\"udp\",\"dstports\":\"8100-8109\",\"to\":\"10.137.0.9\",\"toport\":\"7000-7009\",\"from4\":\"203.0.113.0/24\"},"
	    "{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":8081,\"to\":\"vault\",\"toport\":22,\"family\":\"6\"}"
	    "]}";
	struct rset s;
	void *d;
	char err[256];
	const struct msg_forward *f;

	T_ASSERT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err) == 0);
	/* Numbering is kept: rule 3 is the fourth, forward or not. */
	T_EQ_INT(s.n, 4);
	T_ASSERT(s.fwd != NULL);
	T_EQ_INT(s.fwd->count, 3);
	f = &s.fwd->f[0];
	T_EQ_INT(f->rule, 1);
	T_EQ_INT(f->proto, IPPROTO_TCP);
	T_EQ_INT(f->family, 0);
	T_EQ_INT(f->lo, 8080);
	T_EQ_INT(f->hi, 8080);
	T_EQ_INT(f->toport, 80);
	T_EQ_INT(f->to4, ip("10.137.0.5"));
	T_EQ_INT(f->from4_plen, 0);
	f = &s.fwd->f[1];
	T_EQ_INT(f->rule, 2);
	T_EQ_INT(f->proto, IPPROTO_UDP);
	T_EQ_INT(f->family, 4);		/* from4 alone: an IPv4 forward */
	T_EQ_INT(f->lo, 8100);
	T_EQ_INT(f->hi, 8109);
	T_EQ_INT(f->toport, 7000);
	T_EQ_INT(f->to4, ip("10.137.0.9"));
	T_EQ_INT(f->from4, ip("203.0.113.0"));
	T_EQ_INT(f->from4_plen, 24);
	f = &s.fwd->f[2];
	T_EQ_INT(f->rule, 3);
	T_EQ_INT(f->family, 6);
	T_EQ_INT(f->lo, 8081);
	/* The forwards are no filtering rules: numbered, never matching. */
	T_EQ_INT(s.rules[1].never, 1);
	T_EQ_INT(s.rules[0].never, 0);
	rset_free(&s);
	jrules_doc_free(d);
}

/* A forward never matches a flow a client opens: it is not an accept. */
static void
test_forward_decides_nothing(void)
{
	const char *doc = HDR
	    "{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80}"
	    "]}";
	struct rset s;
	void *d;
	char err[256];
	struct dnsc dns;
	struct evctx cx = { .dns = &dns, .now = 1, .now_ms = 1, .final = 1 };
	struct fkey k = { .family = 4, .proto = IPPROTO_TCP, .dport = 8080 };
	uint32_t w;

	dnsc_init(&dns);
	k.from = ip("10.137.0.5");
	memcpy(k.dst, &(uint32_t){ ip("192.0.2.1") }, 4);
	T_ASSERT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err) == 0);
	T_EQ_INT(rset_eval(&s, &k, &cx, &w), EV_NOMATCH);
	k.dport = 80;
	T_EQ_INT(rset_eval(&s, &k, &cx, &w), EV_NOMATCH);
	rset_free(&s);
	jrules_doc_free(d);
}

static void
test_forward_refusals(void)
{
	/* the target is not a known client */
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"wrok\",\"toport\":80}",
	    "rule 0: \"to\": \"wrok\" is not a known client (not in \"names\" nor an IPv4 address)");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"toport\":80}",
	    "rule 0: \"to\": missing (the client VM, by name or IPv4 address)");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"224.0.0.1\",\"toport\":80}",
	    "rule 0: \"to\": 224.0.0.1 cannot be a client");
	/* overlaps, named by both rules */
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080-8089\",\"to\":\"work\",\"toport\":80},"
	    "{\"from\":\"*\",\"action\":\"drop\"},"
	    "{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8085\",\"to\":\"vault\",\"toport\":22}",
	    "rule 2: \"dstports\": tcp 8085-8085 overlaps the forward of rule 0 (8080-8089)");
	REFUSED("{\"action\":\"forward\",\"proto\":\"udp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80},"
	    "{\"action\":\"forward\",\"proto\":\"udp\",\"dstports\":\"8070-8080\",\"to\":\"work\",\"toport\":80,\"family\":\"4\"}",
	    "rule 1: \"dstports\": udp 8070-8080 overlaps the forward of rule 0 (8080-8080)");
	/* outside the range kept for forwards: NAT's own ports */
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"40000\",\"to\":\"work\",\"toport\":80}",
	    "rule 0: \"dstports\": 40000-40000 is not in 8000-8999, the ports moat keeps for forwards (its NAT uses the others for outbound connections)");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8990-9000\",\"to\":\"work\",\"toport\":80}",
	    "rule 0: \"dstports\": 8990-9000 is not in 8000-8999, the ports moat keeps for forwards (its NAT uses the others for outbound connections)");
	/* fields */
	REFUSED("{\"action\":\"forward\",\"from\":\"*\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80}",
	    "rule 0: \"from\": not a field of a forward (the remote source is \"from4\" or \"from6\")");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80,\"log\":true}",
	    "rule 0: \"log\": not a field of a forward (see docs/rules.md)");
	REFUSED("{\"action\":\"forward\",\"proto\":\"icmp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80}",
	    "rule 0: \"proto\": a forward is \"tcp\" or \"udp\"");
	REFUSED("{\"action\":\"forward\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80}",
	    "rule 0: \"proto\": a forward needs \"tcp\" or \"udp\"");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"to\":\"work\",\"toport\":80}",
	    "rule 0: \"dstports\": missing (the port or range on moat's address)");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\"}",
	    "rule 0: \"toport\": missing (the client's port)");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":0}",
	    "rule 0: \"toport\": must be \"N\" or \"N-M\" with 1 <= N <= M <= 65535");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080-8081\",\"to\":\"work\",\"toport\":\"80-90\"}",
	    "rule 0: \"toport\": the range 80-90 is not as long as \"dstports\" 8080-8081");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8000-8999\",\"to\":\"work\",\"toport\":65000}",
	    "rule 0: \"toport\": 65000 + 999 ports goes past 65535");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80,\"from4\":\"203.0.113.1/24\"}",
	    "rule 0: \"from4\": host bits set beyond the /24 prefix");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80,\"from4\":\"2001:db8::/32\"}",
	    "rule 0: \"from4\": not an IPv4 address or CIDR prefix");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80,\"from6\":\"2001:db8::/32\",\"family\":\"4\"}",
	    "rule 0: \"from6\": the forward is \"family\": \"4\"");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80,\"family\":\"5\"}",
	    "rule 0: \"family\": must be \"4\", \"6\" or \"both\"");
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":[8080],\"to\":\"work\",\"toport\":80}",
	    "rule 0: \"dstports\": must be a port \"N\" or a range \"N-M\"");
	/* one family each: no overlap */
	T_EXPECT(!refused(HDR
	    "{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80,\"family\":\"4\"},"
	    "{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"vault\",\"toport\":80,\"family\":\"6\"},"
	    "{\"action\":\"forward\",\"proto\":\"udp\",\"dstports\":\"8080\",\"to\":\"vault\",\"toport\":80}"
	    "]}", ""));
}

static void
test_forward_too_many(void)
{
	char *doc = malloc(64 * 1024), *p;
	int i;

	T_ASSERT(doc != NULL);
	p = doc + sprintf(doc, HDR);
	for (i = 0; i <= FWD_MAX; i++)
		p += sprintf(p, "%s{\"action\":\"forward\",\"proto\":\"tcp\","
		    "\"dstports\":\"%d\",\"to\":\"work\",\"toport\":80}",
		    i ? "," : "", 8000 + i);
	sprintf(p, "]}");
	T_EXPECT(refused(doc, "rule 64: more than 64 forwards"));
	free(doc);
}

/* GetRules prints a forward back as written, and it loads again the same. */
static void
test_forward_round_trip(void)
{
	const char *doc = HDR
	    "{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\",\"to\":\"work\",\"toport\":80,\"from4\":\"192.0.2.0/24\",\"comment\":\"web\"}"
	    "]}";
	struct round_trip rt;

	T_ASSERT(rt_dump(&rt, doc) == 0);
	T_ASSERT(strstr(rt.text, "\"action\": \"forward\"") != NULL);
	T_ASSERT(strstr(rt.text, "\"toport\": 80") != NULL);
	T_ASSERT(strstr(rt.text, "\"from4\": \"192.0.2.0/24\"") != NULL);
	T_ASSERT(rt_reload(&rt) == 0);
	T_ASSERT(rt.s2.fwd != NULL);
	T_EQ_MEM(rt.s.fwd, rt.s2.fwd, sizeof *rt.s.fwd);
	rt_free(&rt);
}

int
main(void)
{
	log_init("test", LOG_LVL_ERROR);
	T_RUN(test_forward_compiles);
	T_RUN(test_forward_decides_nothing);
	T_RUN(test_forward_refusals);
	T_RUN(test_forward_too_many);
	T_RUN(test_forward_round_trip);
	return t_done();
}
