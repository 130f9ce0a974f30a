/*
 * test_policy_json.c: the moat.SetRules format. Every refusal names the
 * rule and the field; a refused document leaves the rules in force exactly
 * as they were; what GetRules prints loads again to the same rules.
 */
#include "policy_testlib.h"
#include "log.h"

static void
test_example_from_docs_loads(void)
{
	const char *doc = "{\"version\": 1,\n"
	    " \"names\": {\"work\": \"10.137.0.5\", \"vault\": \"10.137.0.9\"},\n"
	    " \"rules\": [\n"
	    "   {\"from\": \"work\", \"action\": \"accept\", \"proto\": \"tcp\", \"to\": \"vault\", \"dstports\": \"22\"},\n"
	    "   {\"from\": \"*\", \"action\": \"reject\", \"proto\": \"tcp\", \"dst4\": \"192.0.2.0/24\", \"dstports\": \"25\"},\n"
	    "   {\"from\": \"10.137.0.5\", \"action\": \"drop\", \"dsthost\": \"ads.example.com\", \"log\": true}]}";
	struct rset s;
	void *d;
	char err[256];

	T_ASSERT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err) == 0);
	T_EQ_INT(s.n, 3);
	T_EQ_INT(s.rules[0].action, VERDICT_ACCEPT);
	T_EQ_INT(s.rules[0].peer, 1);
	T_EQ_INT(s.rules[0].plo, 22);
	T_EQ_INT(s.rules[1].action, VERDICT_REJECT);
	T_EQ_INT(s.rules[1].plen, 24);
	T_EQ_INT(s.rules[2].action, VERDICT_DROP);
	T_EQ_INT(s.rules[2].log, 1);
	T_EQ_STR(s.rules[2].host, "ads.example.com");
	T_EQ_INT(s.rules[0].from, s.rules[2].from);
	rset_free(&s);
	jrules_doc_free(d);
}

static void
test_document_refusals(void)
{
	T_EXPECT(refused("", "not valid JSON: line 1 column 0: '[' or '{' expected near end of file"));
	T_EXPECT(refused("[]", "the document must be an object {\"version\": 1, \"rules\": [...]}"));
	T_EXPECT(refused("{\"rules\":[]}", "\"version\": must be 1"));
	T_EXPECT(refused("{\"version\":2,\"rules\":[]}", "\"version\": must be 1"));
	T_EXPECT(refused("{\"version\":\"1\",\"rules\":[]}", "\"version\": must be 1"));
	T_EXPECT(refused("{\"version\":1}", "\"rules\": must be an array"));
	T_EXPECT(refused("{\"version\":1,\"rules\":{}}", "\"rules\": must be an array"));
	T_EXPECT(refused("{\"version\":1,\"rules\":[],\"extra\":1}",
	    "\"extra\": unknown field (expected \"version\", \"names\", \"rules\", \"learn\")"));
	/* GetRules' "note" is taken back only as a string */
	T_EXPECT(refused("{\"version\":1,\"rules\":[],\"note\":1}",
	    "\"note\": unknown field (expected \"version\", \"names\", \"rules\", \"learn\")"));
	T_EXPECT(refused("{\"version\":1,\"version\":1,\"rules\":[]}",
	    "not valid JSON: line 1 column 22: duplicate object key near '\"version\"'"));
	T_EXPECT(refused("{\"version\":1,\"names\":[],\"rules\":[]}",
	    "\"names\": must be an object of name: IPv4 address"));
	T_EXPECT(refused("{\"version\":1,\"names\":{\"a\":\"10.0.0.300\"},\"rules\":[]}",
	    "\"names\": \"a\": must be an IPv4 address"));
	T_EXPECT(refused("{\"version\":1,\"names\":{\"a b\":\"10.0.0.3\"},\"rules\":[]}",
	    "\"names\": \"a b\": a name is 1..64 letters, digits, '-', '_', '.' and not an address"));
	T_EXPECT(refused("{\"version\":1,\"names\":{\"10.0.0.4\":\"10.0.0.3\"},\"rules\":[]}",
	    "\"names\": \"10.0.0.4\": a name is 1..64 letters, digits, '-', '_', '.' and not an address"));
	T_EXPECT(refused("{\"version\":1,\"rules\":[]} x",
	    "not valid JSON: line 1 column 26: end of file expected near 'x'"));
}

static void
test_rule_refusals(void)
{
	REFUSED("1", "rule 0: must be an object");
	REFUSED("{\"action\":\"accept\"}", "rule 0: \"from\": missing (a name, an IPv4 address or \"*\")");
	REFUSED("{\"from\":\"*\"}", "rule 0: \"action\": missing");
	REFUSED("{\"from\":\"*\",\"action\":\"allow\"}", "rule 0: \"action\": must be \"accept\", \"drop\", \"reject\" or \"forward\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"color\":\"red\"}", "rule 0: \"color\": unknown field");
	REFUSED("{\"from\":\"nobody\",\"action\":\"accept\"}", "rule 0: \"from\": \"nobody\" is not in \"names\", an IPv4 address or \"*\"");
	REFUSED("{\"from\":5,\"action\":\"accept\"}", "rule 0: \"from\": must be a string");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"sctp\"}", "rule 0: \"proto\": must be \"tcp\", \"udp\" or \"icmp\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":6}", "rule 0: \"proto\": must be a string");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\"},{\"from\":\"*\",\"action\":\"accept\"},"
	    "{\"from\":\"*\",\"action\":\"accept\"},{\"from\":\"*\",\"action\":\"accept\",\"dstports\":\"22\"}",
	    "rule 3: \"dstports\": needs \"proto\": \"tcp\" or \"udp\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"icmp\",\"dstports\":\"22\"}",
	    "rule 0: \"dstports\": needs \"proto\": \"tcp\" or \"udp\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"tcp\",\"dstports\":\"80-79\"}",
	    "rule 0: \"dstports\": must be \"N\" or \"N-M\" with 0 <= N <= M <= 65535");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"tcp\",\"dstports\":\"65536\"}",
	    "rule 0: \"dstports\": must be \"N\" or \"N-M\" with 0 <= N <= M <= 65535");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"tcp\",\"dstports\":-1}",
	    "rule 0: \"dstports\": must be \"N\" or \"N-M\" with 0 <= N <= M <= 65535");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"tcp\",\"dstports\":true}",
	    "rule 0: \"dstports\": must be a string \"N\" or \"N-M\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"icmptype\":8}", "rule 0: \"icmptype\": needs \"proto\": \"icmp\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"icmp\",\"icmptype\":256}", "rule 0: \"icmptype\": must be 0..255");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"icmp\",\"icmptype\":\"8\"}", "rule 0: \"icmptype\": must be an integer");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dst4\":\"192.0.2.1/24\"}", "rule 0: \"dst4\": host bits set beyond the /24 prefix");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dst4\":\"192.0.2.0/33\"}", "rule 0: \"dst4\": not an IPv4 address or CIDR prefix");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dst4\":\"::1\"}", "rule 0: \"dst4\": not an IPv4 address or CIDR prefix");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dst6\":\"2001:db8::1/32\"}", "rule 0: \"dst6\": host bits set beyond the /32 prefix");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dst6\":\"10.0.0.0/8\"}", "rule 0: \"dst6\": not an IPv6 address or CIDR prefix");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dst4\":\"10.0.0.0/8\",\"dsthost\":\"a.example\"}",
	    "rule 0: at most one of \"dst4\", \"dst6\", \"dsthost\", \"to\", \"specialtarget\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"to\":\"vault\",\"specialtarget\":\"dns\"}",
	    "rule 0: at most one of \"dst4\", \"dst6\", \"dsthost\", \"to\", \"specialtarget\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dsthost\":\"1.2.3.4\"}", "rule 0: \"dsthost\": is an address: use \"dst4\" or \"dst6\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dsthost\":\"Ads.Example\"}",
	    "rule 0: \"dsthost\": not a host name (lowercase letters, digits, '-', '.', '_'; at most 253)");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"dsthost\":\"a\\u0000b\"}",
	    "not valid JSON: line 1 column 123: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"'");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"to\":\"nobody\"}", "rule 0: \"to\": \"nobody\" is not in \"names\" or an IPv4 address");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"specialtarget\":\"ntp\"}", "rule 0: \"specialtarget\": only \"dns\" exists");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"icmp\",\"specialtarget\":\"dns\"}",
	    "rule 0: \"specialtarget\": DNS is \"tcp\" or \"udp\", not \"icmp\"");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"udp\",\"dstports\":\"54\",\"specialtarget\":\"dns\"}",
	    "rule 0: \"specialtarget\": DNS is port 53, \"dstports\" says otherwise");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"log\":1}", "rule 0: \"log\": must be true or false");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"expire\":\"soon\"}", "rule 0: \"expire\": must be an integer");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"expire\":0}", "rule 0: \"expire\": must be a Unix time (seconds), > 0");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"comment\":7}", "rule 0: \"comment\": must be a string");
	REFUSED("{\"from\":\"*\",\"action\":\"accept\",\"from\":\"work\"}",
	    "not valid JSON: line 1 column 109: duplicate object key near '\"from\"'");
}

static char *
many(size_t n)
{
	char *doc = malloc(64 + n * 40), *p = doc;
	size_t i;

	p += sprintf(p, "{\"version\":1,\"rules\":[");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s{\"from\":\"*\",\"action\":\"drop\"}", i ? "," : "");
	sprintf(p, "]}");
	return doc;
}

static void
test_limits(void)
{
	char *doc = many(10001);
	struct rset s;
	void *d;
	char err[256];

	T_EXPECT(refused(doc, "\"rules\": 10001 rules, more than the limit of 10000"));
	free(doc);
	/* 10,000 is fine */
	doc = many(10000);
	T_EXPECT(jrules_load(doc, strlen(doc), &s, &d, err, sizeof err) == 0);
	T_EQ_INT(s.n, 10000);
	rset_free(&s);
	jrules_doc_free(d);
	free(doc);
	/* over 1 MiB, whatever it holds */
	doc = malloc(JR_MAX_INPUT + 2);
	memset(doc, ' ', JR_MAX_INPUT + 1);
	doc[JR_MAX_INPUT + 1] = '\0';
	memcpy(doc, "{\"version\":1,\"rules\":[]}", 24);
	T_EXPECT(refused(doc, "input is 1048577 bytes, more than the limit of 1048576"));
	free(doc);
}

static void
test_atomic_replace(void)
{
	static struct engine e;
	static struct dnsc dns;
	const char *good = HDR "{\"from\":\"work\",\"action\":\"reject\",\"proto\":\"tcp\"}]}";
	const char *bad = HDR "{\"from\":\"*\",\"action\":\"accept\"},{\"from\":\"*\",\"action\":\"accept\",\"dst4\":\"1.2.3.4/8\"}]}";
	char *before, *after;
	size_t lb, la;
	struct rset s;
	void *d;
	char err[256];
	uint32_t gen;

	dnsc_init(&dns);
	engine_init(&e, &dns);
	T_ASSERT(jrules_load(good, strlen(good), &s, &d, err, sizeof err) == 0);
	engine_set_json(&e, &s, d);
	gen = e.generation;
	before = jrules_dump(e.jdoc, &lb);
	/* the caller installs only on success; check that a failed load does
	 * not touch its output either */
	memset(&s, 0xa5, sizeof s);
	T_ASSERT(jrules_load(bad, strlen(bad), &s, &d, err, sizeof err) == -1);
	T_EQ_STR(err, "rule 1: \"dst4\": host bits set beyond the /8 prefix");
	T_EXPECT(s.n == 0xa5a5a5a5u);
	after = jrules_dump(e.jdoc, &la);
	T_EQ_STR(after, before);
	T_EQ_INT(e.generation, gen);
	T_EQ_INT(e.json.n, 1);
	free(before);
	free(after);
	rset_free(&e.json);
	jrules_doc_free(e.jdoc);
}

static void
test_round_trip(void)
{
	const char *doc = HDR
	    "{\"from\":\"work\",\"action\":\"accept\",\"proto\":\"tcp\",\"to\":\"vault\",\"dstports\":\"22\",\"comment\":\"ssh\"},"
	    "{\"from\":\"*\",\"action\":\"reject\",\"proto\":\"udp\",\"dst6\":\"2001:db8::/32\",\"dstports\":\"1000-2000\"},"
	    "{\"from\":\"10.137.0.9\",\"action\":\"drop\",\"dsthost\":\"ads.example.com\",\"log\":true,\"expire\":1900000000},"
	    "{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"icmp\",\"icmptype\":8},"
	    "{\"from\":\"*\",\"action\":\"accept\",\"specialtarget\":\"dns\"}]}";
	struct rset a, b;
	void *da, *db;
	char err[256], *t1, *t2;
	size_t l1, l2;
	uint32_t i;

	T_ASSERT(jrules_load(doc, strlen(doc), &a, &da, err, sizeof err) == 0);
	T_ASSERT((t1 = jrules_dump(da, &l1)) != NULL);
	T_ASSERT(jrules_load(t1, l1, &b, &db, err, sizeof err) == 0);
	T_ASSERT((t2 = jrules_dump(db, &l2)) != NULL);
	T_EQ_STR(t2, t1);
	T_EQ_INT(a.n, b.n);
	for (i = 0; i < a.n; i++) {
		struct prule x = a.rules[i], y = b.rules[i];

		T_EXPECT((x.host == NULL) == (y.host == NULL));
		if (x.host)
			T_EQ_STR(x.host, y.host);
		x.host = y.host = NULL;
		T_EQ_MEM(&x, &y, sizeof x);
	}
	T_EXPECT(t1[l1 - 1] == '\n');
	T_EXPECT(strstr(t1, "\"comment\": \"ssh\"") != NULL);
	/* the note on how JSON and Qubes rules combine comes first, and
	 * (above) loads back and is printed once, not twice */
	T_EXPECT(strncmp(t1, "{\n  \"note\": \"JSON drop and reject",
	    sizeof "{\n  \"note\": \"JSON drop and reject" - 1) == 0);
	T_EXPECT(strstr(strstr(t1, "\"note\"") + 1, "\"note\"") == NULL);
	free(t1);
	free(t2);
	rset_free(&a);
	rset_free(&b);
	jrules_doc_free(da);
	jrules_doc_free(db);
	/* nothing set yet: an empty document that loads */
	T_ASSERT((t1 = jrules_dump(NULL, &l1)) != NULL);
	T_ASSERT(jrules_load(t1, l1, &a, &da, err, sizeof err) == 0);
	T_EQ_INT(a.n, 0);
	T_EXPECT(strstr(t1, "\"note\": \"" JR_NOTE "\"") != NULL);
	free(t1);
	rset_free(&a);
	jrules_doc_free(da);
}

int
main(void)
{
	log_init("test", LOG_LVL_ERROR);
	T_RUN(test_example_from_docs_loads);
	T_RUN(test_document_refusals);
	T_RUN(test_rule_refusals);
	T_RUN(test_limits);
	T_RUN(test_atomic_replace);
	T_RUN(test_round_trip);
	return t_done();
}
