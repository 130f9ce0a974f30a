/*
 * test_policy_limit.c: the rate-limit rules of moat.SetRules (docs/rules.md,
 * "Rate limits"): units, bounds and overflow of the values, what a limit
 * compiles to for natd, every refusal naming the rule, a limit never
 * deciding a flow, and GetRules printing it back so that it loads again.
 */
#include "policy_testlib.h"
#include "policyd/limit.h"

/* The parsers of a rate and a size, given a C string. */
#define rate(s, v)	lim_parse_rate(s, strlen(s), v)
#define size(s, v)	lim_parse_size(s, strlen(s), v)

static void
test_units(void)
{
	uint64_t v;

	T_ASSERT(rate("50mbit", &v) == 0);
	T_EQ_INT(v, 6250000);
	T_ASSERT(rate("64kbit", &v) == 0);
	T_EQ_INT(v, 8000);
	T_ASSERT(rate("10gbit", &v) == 0);
	T_EQ_INT(v, 1250000000);
	T_ASSERT(rate("1500kbit", &v) == 0);
	T_EQ_INT(v, 187500);
	T_ASSERT(size("256kb", &v) == 0);
	T_EQ_INT(v, 262144);
	T_ASSERT(size("2mb", &v) == 0);
	T_EQ_INT(v, 2097152);
	/* not numbers with a unit */
	T_EXPECT(rate("", &v) == -1);
	T_EXPECT(rate("50", &v) == -1);
	T_EXPECT(rate("mbit", &v) == -1);
	T_EXPECT(rate("50mbps", &v) == -1);
	T_EXPECT(rate("50 mbit", &v) == -1);
	T_EXPECT(rate("50Mbit", &v) == -1);
	T_EXPECT(rate("1.5mbit", &v) == -1);
	T_EXPECT(rate("-5mbit", &v) == -1);
	T_EXPECT(rate("+5mbit", &v) == -1);
	T_EXPECT(rate("50kb", &v) == -1);	/* a size, not a rate */
	T_EXPECT(size("50kbit", &v) == -1);
	T_EXPECT(size("50", &v) == -1);
	T_EXPECT(rate("50mbit\n", &v) == -1);
	/* an embedded NUL: the length decides, not strlen */
	T_EXPECT(lim_parse_rate("5\0mbit", 6, &v) == -1);
	/* overflow: 12 digits at most, the product saturates (and then is
	 * above every bound) rather than wrapping into a small rate */
	T_EXPECT(rate("1234567890123mbit", &v) == -1);
	T_ASSERT(rate("999999999999gbit", &v) == 0);
	T_EXPECT(v > LIM_RATE_MAX);
	T_ASSERT(size("999999999999mb", &v) == 0);
	T_EXPECT(v > LIM_BURST_MAX);
	T_ASSERT(rate("18446744073gbit", &v) == -1 || v > LIM_RATE_MAX);
}

static void
test_default_burst(void)
{
	/* 300 ms of the rate, at least 128 KiB, at most 64 MiB */
	T_EQ_INT(lim_default_burst(6250000), 1875000);
	T_EQ_INT(lim_default_burst(8000), 128 * 1024);
	T_EQ_INT(lim_default_burst(LIM_RATE_MAX), LIM_BURST_MAX);
}

static void
test_compiles(void)
{
	const char *doc = HDR
	    "{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"tcp\",\"dstports\":\"443\"},"
	    "{\"from\":\"work\",\"rate\":\"50mbit\",\"burst\":\"256kb\",\"comment\":\"work\"},"
	    "{\"from\":\"10.137.0.9\",\"up\":\"1mbit\",\"down\":\"20mbit\"},"
	    "{\"from\":\"10.137.0.7\",\"rate\":\"10mbit\",\"down\":\"100mbit\"},"
	    "{\"from\":\"*\",\"down\":\"1gbit\"}"
	    "]}";
	struct rset s;
	void *d;
	char err[512];
	const struct msg_limit *l;

	T_ASSERT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err) == 0);
	T_ASSERT(s.lim != NULL);
	T_EQ_INT(s.n, 5);
	T_EQ_INT(s.lim->count, 4);
	l = &s.lim->l[0];
	T_EQ_INT(l->rule, 1);
	T_EXPECT(l->client4 == ip("10.137.0.5"));
	T_EQ_INT(l->up_rate, 6250000);
	T_EQ_INT(l->down_rate, 6250000);
	T_EQ_INT(l->up_burst, 262144);
	T_EQ_INT(l->down_burst, 262144);
	l = &s.lim->l[1];
	T_EQ_INT(l->rule, 2);
	T_EXPECT(l->client4 == ip("10.137.0.9"));
	T_EQ_INT(l->up_rate, 125000);
	T_EQ_INT(l->down_rate, 2500000);
	/* each direction's default burst from its own rate */
	T_EQ_INT(l->up_burst, 128 * 1024);
	T_EQ_INT(l->down_burst, 750000);
	l = &s.lim->l[2];
	T_EQ_INT(l->up_rate, 1250000);		/* "rate" */
	T_EQ_INT(l->down_rate, 12500000);	/* "down" wins over "rate" */
	l = &s.lim->l[3];
	T_EQ_INT(l->client4, 0);
	T_EQ_INT(l->up_rate, 0);		/* up not limited */
	T_EQ_INT(l->up_burst, 0);
	T_EQ_INT(l->down_rate, 125000000);
	/* a limit decides no flow: the accept of rule 0 still does, and the
	 * limits' places are rules that never match */
	T_EXPECT(s.rules[1].never && s.rules[2].never && s.rules[4].never);
	T_EXPECT(!s.rules[0].never);
	rset_free(&s);
	jrules_doc_free(d);
}

static void
test_refusals(void)
{
	REFUSED("{\"from\":\"work\",\"rate\":\"50mbps\"}",
	    "rule 0: \"rate\": \"50mbps\" is not a rate: a whole number and kbit, "
	    "mbit or gbit, e.g. \"50mbit\"");
	REFUSED("{\"from\":\"work\",\"up\":\"50\"}",
	    "rule 0: \"up\": \"50\" is not a rate: a whole number and kbit, "
	    "mbit or gbit, e.g. \"50mbit\"");
	REFUSED("{\"from\":\"work\",\"rate\":50}",
	    "rule 0: \"rate\": must be a string");
	REFUSED("{\"from\":\"work\",\"rate\":\"10kbit\"}",
	    "rule 0: \"rate\": 10kbit is below the least rate, 64kbit");
	REFUSED("{\"from\":\"work\",\"down\":\"101gbit\"}",
	    "rule 0: \"down\": 101gbit is above the greatest rate, 100gbit");
	REFUSED("{\"from\":\"work\",\"rate\":\"999999999999gbit\"}",
	    "rule 0: \"rate\": 999999999999gbit is above the greatest rate, 100gbit");
	REFUSED("{\"from\":\"work\",\"rate\":\"50mbit\",\"burst\":\"1kb\"}",
	    "rule 0: \"burst\": 1kb is not in 2kb-64mb");
	REFUSED("{\"from\":\"work\",\"rate\":\"50mbit\",\"burst\":\"65mb\"}",
	    "rule 0: \"burst\": 65mb is not in 2kb-64mb");
	REFUSED("{\"from\":\"work\",\"rate\":\"50mbit\",\"burst\":\"256k\"}",
	    "rule 0: \"burst\": \"256k\" is not a size: a whole number and kb or "
	    "mb, e.g. \"256kb\"");
	REFUSED("{\"from\":\"work\",\"burst\":\"256kb\"}",
	    "rule 0: \"burst\": without \"rate\", \"up\" or \"down\" it limits "
	    "nothing");
	REFUSED("{\"from\":\"work\",\"rate\":\"1mbit\",\"up\":\"1mbit\",\"down\":\"2mbit\"}",
	    "rule 0: \"rate\": both \"up\" and \"down\" are given, so it applies "
	    "to neither");
	REFUSED("{\"from\":\"work\",\"action\":\"accept\",\"rate\":\"50mbit\"}",
	    "rule 0: \"action\": a rate limit has none (it limits all of the "
	    "client's traffic; accept or drop in a rule of its own)");
	REFUSED("{\"from\":\"work\",\"rate\":\"50mbit\",\"proto\":\"tcp\"}",
	    "rule 0: \"proto\": not a field of a rate limit (it is for all of a "
	    "client's traffic: \"from\", \"rate\", \"up\", \"down\", \"burst\", "
	    "\"comment\")");
	REFUSED("{\"rate\":\"50mbit\"}",
	    "rule 0: \"from\": missing (a name, an IPv4 address or \"*\")");
	REFUSED("{\"from\":\"wrok\",\"rate\":\"50mbit\"}",
	    "rule 0: \"from\": \"wrok\" is not in \"names\", an IPv4 address or \"*\"");
	/* a limit that could never apply */
	REFUSED("{\"from\":\"work\",\"rate\":\"50mbit\"},"
	    "{\"from\":\"*\",\"action\":\"drop\",\"proto\":\"udp\"},"
	    "{\"from\":\"10.137.0.5\",\"rate\":\"10mbit\"}",
	    "rule 2: \"from\": 10.137.0.5 already has the limit of rule 0");
	REFUSED("{\"from\":\"*\",\"rate\":\"50mbit\"},"
	    "{\"from\":\"vault\",\"rate\":\"10mbit\"}",
	    "rule 1: \"from\": never applies: rule 0 (\"from\": \"*\") limits "
	    "every client already");
	/* a forward keeps its own fields */
	REFUSED("{\"action\":\"forward\",\"proto\":\"tcp\",\"dstports\":\"8080\","
	    "\"to\":\"work\",\"toport\":80,\"rate\":\"1mbit\"}",
	    "rule 0: \"rate\": not a field of a forward (see docs/rules.md)");
}

static void
test_too_many(void)
{
	size_t cap = 64 * 1024, n;
	char *doc = malloc(cap);
	int i;

	T_ASSERT(doc != NULL);
	n = (size_t)snprintf(doc, cap, "{\"version\":1,\"rules\":[");
	for (i = 0; i <= LIMITS_MAX; i++)
		n += (size_t)snprintf(doc + n, cap - n, "%s{\"from\":\"10.137.%d.%d\","
		    "\"rate\":\"1mbit\"}", i ? "," : "", 1 + i / 200, 1 + i % 200);
	snprintf(doc + n, cap - n, "]}");
	T_EXPECT(refused(doc, "rule 256: more than 256 rate limits"));
	free(doc);
}

static void
test_getrules_round_trip(void)
{
	const char *doc = HDR
	    "{\"from\":\"work\",\"rate\":\"50mbit\",\"burst\":\"256kb\"},"
	    "{\"from\":\"vault\",\"up\":\"1mbit\",\"comment\":\"slow uploads\"}]}";
	struct round_trip rt;

	T_ASSERT(rt_dump(&rt, doc) == 0);
	T_EXPECT(strstr(rt.text, "\"rate\": \"50mbit\"") != NULL);
	T_EXPECT(strstr(rt.text, "\"burst\": \"256kb\"") != NULL);
	T_EXPECT(strstr(rt.text, "\"up\": \"1mbit\"") != NULL);
	T_ASSERT(rt_reload(&rt) == 0);
	T_ASSERT(rt.s2.lim != NULL);
	T_EXPECT(memcmp(rt.s.lim, rt.s2.lim, sizeof *rt.s.lim) == 0);
	rt_free(&rt);
}

int
main(void)
{
	t_run("units: kbit/mbit/gbit and kb/mb, whole numbers, no overflow", test_units);
	t_run("default burst: 300 ms of the rate, within bounds", test_default_burst);
	t_run("limits compile to natd's table in rule order", test_compiles);
	t_run("refusals name the rule and the field", test_refusals);
	t_run("at most LIMITS_MAX limits", test_too_many);
	t_run("GetRules prints limits back and they load again", test_getrules_round_trip);
	return t_done();
}
