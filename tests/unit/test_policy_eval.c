/*
 * test_policy_eval.c: what a client sees from policyd's verdicts: JSON
 * rules narrow the Qubes rules and alone decide inter-VM traffic, first match, reject versus drop, expire,
 * specialtarget=dns, dsthost through a fake resolver (answers, failures,
 * TTL expiry, timeouts), fail-closed Qubes rule sets, inter-VM traffic.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "log.h"
#include "policyd/dnscache.h"
#include "policyd/engine.h"
#include "policyd/jrules.h"
#include "policyd/qrule.h"

static struct engine eng;
static struct dnsc dns;
static uint64_t tms = 1000000;		/* monotonic ms */
static int64_t tnow = 1800000000;	/* Unix time */

#define WORK	"10.137.0.5"
#define VAULT	"10.137.0.9"

static void
setup(void)
{
	struct msg_netconf nc = { 0 };
	struct msg_link l = { 0 };

	rset_free(&eng.json);
	jrules_doc_free(eng.jdoc);
	for (unsigned i = 0; i < ENG_MAX_QSETS; i++)
		if (eng.qsets[i]) {
			rset_free(&eng.qsets[i]->set);
			free(eng.qsets[i]);
		}
	engine_free_names(&eng);
	dnsc_init(&dns);
	engine_init(&eng, &dns);
	inet_pton(AF_INET, "10.139.1.1", &nc.netvm_dns[0]);
	inet_pton(AF_INET, "10.139.1.2", &nc.netvm_dns[1]);
	inet_pton(AF_INET, "192.168.1.1", &nc.dns[0]);
	engine_netconf(&eng, &nc);
	l.kind = LINK_CLIENT;
	l.up = 1;
	l.port = 1;
	inet_pton(AF_INET, WORK, &l.ip4);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:5", l.ip6);
	engine_link(&eng, &l);
	l.port = 2;
	inet_pton(AF_INET, VAULT, &l.ip4);
	memset(l.ip6, 0, 16);
	engine_link(&eng, &l);
}

/* Install Qubes rules "KEY=rule" ... for a client; policy may be NULL. */
static void
qubes(int family, const char *addr, const char *policy, int n, ...)
{
	struct qrule *r = calloc((size_t)n + 1, sizeof *r);
	uint32_t *keys = calloc((size_t)n + 1, sizeof *keys);
	uint8_t a[16] = { 0 };
	char err[256], why[300] = "";
	va_list ap;
	int i;

	inet_pton(family == 4 ? AF_INET : AF_INET6, addr, a);
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		const char *s = va_arg(ap, const char *);

		keys[i] = (uint32_t)atoi(s);
		s += 5;
		if (qrule_parse(s, strlen(s), &r[i], err, sizeof err) == -1 &&
		    why[0] == '\0')
			snprintf(why, sizeof why, "rule %04u: %s", keys[i], err);
	}
	va_end(ap);
	engine_qset_install(&eng, family, a,
	    policy ? qrule_policy(policy, strlen(policy)) : -1, r, keys,
	    (uint32_t)n, why[0] ? why : NULL);
	free(r);
	free(keys);
}

static int
json(const char *doc)
{
	struct rset s;
	void *d;
	char err[512];

	if (jrules_load(doc, strlen(doc), &s, &d, err, sizeof err) == -1) {
		printf("# json refused: %s\n", err);
		return -1;
	}
	engine_set_json(&eng, &s, d);
	return 0;
}

struct res {
	int	decided;
	int	action;
	int	rule;
	int	log;
};

static struct res
flow(int family, uint16_t port, const char *src, const char *dst, int proto,
    int dport)
{
	struct flow_req q = { 0 };
	struct flow_verdict v;
	struct res r;

	q.seq = 77;
	q.port = port;
	q.family = (uint8_t)family;
	q.proto = (uint8_t)proto;
	inet_pton(family == 4 ? AF_INET : AF_INET6, src, q.src);
	inet_pton(family == 4 ? AF_INET : AF_INET6, dst, q.dst);
	if (proto == IPPROTO_ICMP || proto == 58)
		q.icmp_type = (uint8_t)dport;
	else
		q.dport = (uint16_t)dport;
	q.sport = 40000;
	r.decided = engine_decide(&eng, &q, tms, tnow, 0, &v);
	r.action = r.decided ? v.action : 0;
	r.rule = v.rule;
	r.log = v.log;
	if (r.decided && (v.seq != 77 || v.generation != eng.generation))
		r.action = -1;
	return r;
}
#define F4(dst, proto, port)	flow(4, 1, WORK, dst, proto, port)
#define ACT(res)		((res).action)

static void
test_no_rules_drops_fail_closed(void)
{
	struct res r;

	setup();
	r = F4("93.184.216.34", IPPROTO_TCP, 443);
	T_EQ_INT(r.decided, 1);
	T_EQ_INT(r.action, VERDICT_DROP);
	T_EQ_INT(r.rule, RULE_ID_DEFAULT);
}

static void
test_qubes_first_match_and_reject(void)
{
	struct res r;

	setup();
	/* keys out of order and with gaps: evaluated by number */
	qubes(4, WORK, "accept", 3,
	    "0010=action=accept proto=tcp dstports=80-80",
	    "0002=action=drop proto=tcp dst4=192.0.2.0/24",
	    "0500=action=drop proto=udp");
	r = F4("192.0.2.7", IPPROTO_TCP, 80);
	T_EQ_INT(r.action, VERDICT_REJECT);	/* Qubes drop rejects */
	T_EQ_INT(r.rule, RULE_ID_QUBES | 2);
	r = F4("198.51.100.1", IPPROTO_TCP, 80);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, RULE_ID_QUBES | 10);
	T_EQ_INT(ACT(F4("198.51.100.1", IPPROTO_UDP, 53)), VERDICT_REJECT);
	r = F4("198.51.100.1", IPPROTO_ICMP, 8);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, RULE_ID_QPOLICY);
}

static void
test_qubes_policy_drop_rejects(void)
{
	setup();
	qubes(4, WORK, "drop", 1, "0000=action=accept proto=icmp icmptype=8");
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_ICMP, 8)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_ICMP, 0)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_REJECT);
}

static void
test_qubes_fail_closed(void)
{
	setup();
	/* one bad rule among good ones: the client rejects everything */
	qubes(4, WORK, "accept", 2, "0000=action=accept proto=tcp",
	    "0001=action=accept dpi=NO");
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_REJECT);
	/* a later good commit replaces it */
	qubes(4, WORK, "accept", 1, "0000=action=accept proto=tcp");
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_ACCEPT);
	/* no policy key */
	qubes(4, WORK, NULL, 1, "0000=action=accept");
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_REJECT);
	/* a bad policy value */
	qubes(4, WORK, "allow", 0);
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_REJECT);
	/* the same key twice */
	qubes(4, WORK, "accept", 2, "0003=action=accept", "0003=action=drop");
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_REJECT);
	/* a dst6 rule in the IPv4 tree */
	qubes(4, WORK, "accept", 1, "0000=action=drop dst6=::1");
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_REJECT);
	/* another client is not affected */
	qubes(4, VAULT, "accept", 0);
	T_EQ_INT(ACT(flow(4, 2, VAULT, "1.1.1.1", IPPROTO_TCP, 80)), VERDICT_ACCEPT);
}

static void
test_json_before_qubes(void)
{
	struct res r;

	setup();
	qubes(4, WORK, "accept", 0);
	T_ASSERT(json("{\"version\":1,\"rules\":["
	    "{\"from\":\"*\",\"action\":\"reject\",\"proto\":\"tcp\",\"dst4\":\"192.0.2.0/24\",\"dstports\":\"25\"},"
	    "{\"from\":\"" WORK "\",\"action\":\"drop\",\"proto\":\"udp\",\"log\":true}]}") == 0);
	r = F4("192.0.2.9", IPPROTO_TCP, 25);
	T_EQ_INT(r.action, VERDICT_REJECT);
	T_EQ_INT(r.rule, 0);
	T_EQ_INT(r.log, 0);
	r = F4("192.0.2.9", IPPROTO_UDP, 25);
	T_EQ_INT(r.action, VERDICT_DROP);	/* JSON drop is silent */
	T_EQ_INT(r.rule, 1);
	T_EQ_INT(r.log, 1);
	/* not matched by JSON: the Qubes rules decide */
	r = F4("192.0.2.9", IPPROTO_TCP, 26);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, RULE_ID_QPOLICY);
	/* the udp rule is for WORK only */
	qubes(4, VAULT, "accept", 0);
	T_EQ_INT(ACT(flow(4, 2, VAULT, "192.0.2.9", IPPROTO_UDP, 25)), VERDICT_ACCEPT);
	/* a JSON accept cannot open what the Qubes rules deny: they stay
	 * the truth for traffic to the outside */
	qubes(4, WORK, "drop", 0);
	T_ASSERT(json("{\"version\":1,\"rules\":[{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"tcp\",\"dstports\":\"443\"}]}") == 0);
	r = F4("8.8.8.8", IPPROTO_TCP, 443);
	T_EQ_INT(r.action, VERDICT_REJECT);
	T_EQ_INT(r.rule, RULE_ID_QPOLICY);
	T_EQ_INT(ACT(F4("8.8.8.8", IPPROTO_TCP, 80)), VERDICT_REJECT);
}

/*
 * The two directions of the semantics (issue 14): a JSON accept lets a
 * flow to the outside through only where the client's Qubes rules accept
 * it too, and a JSON drop narrows a Qubes accept; between clients the
 * JSON rules alone decide.
 */
static void
test_json_narrows_qubes(void)
{
	struct res r;

	setup();
	qubes(4, WORK, "drop", 2,
	    "0000=action=drop dst4=198.51.100.0/24",
	    "0001=action=accept proto=tcp dstports=443-443");
	T_ASSERT(json("{\"version\":1,\"names\":{\"work\":\"" WORK "\"},\"rules\":["
	    "{\"from\":\"work\",\"action\":\"accept\",\"dst4\":\"198.51.100.7\",\"log\":true},"
	    "{\"from\":\"work\",\"action\":\"drop\",\"dst4\":\"203.0.113.0/24\"},"
	    "{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"udp\"}]}") == 0);
	/* JSON accepts, the Qubes rules deny: denied, by the Qubes rule */
	r = F4("198.51.100.7", IPPROTO_TCP, 443);
	T_EQ_INT(r.action, VERDICT_REJECT);
	T_EQ_INT(r.rule, RULE_ID_QUBES | 0);
	T_EQ_INT(r.log, 0);
	r = F4("1.1.1.1", IPPROTO_UDP, 53);
	T_EQ_INT(r.action, VERDICT_REJECT);
	T_EQ_INT(r.rule, RULE_ID_QPOLICY);
	/* JSON drops what the Qubes rules accept */
	r = F4("203.0.113.9", IPPROTO_TCP, 443);
	T_EQ_INT(r.action, VERDICT_DROP);
	T_EQ_INT(r.rule, 1);
	/* both accept: accepted, and the verdict names the JSON rule (its
	 * "log" asks for the flow to be logged) */
	qubes(4, WORK, "accept", 0);
	r = F4("198.51.100.7", IPPROTO_TCP, 80);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, 0);
	T_EQ_INT(r.log, 1);
	/* no JSON match: the Qubes rules decide alone */
	r = F4("192.0.2.1", IPPROTO_TCP, 80);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, RULE_ID_QPOLICY);
	/* a client without Qubes rules yet stays closed, JSON accept or not */
	T_EQ_INT(ACT(flow(4, 2, VAULT, "1.1.1.1", IPPROTO_UDP, 53)), VERDICT_DROP);
	/* a client whose Qubes rules failed too */
	qubes(4, WORK, "accept", 1, "0000=action=accept dpi=NO");
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_UDP, 53)), VERDICT_REJECT);
	/* between clients the Qubes rules count for nothing: a JSON accept
	 * opens what the Qubes policy drops... */
	qubes(4, WORK, "drop", 1, "0000=action=drop dst4=10.137.0.0/16");
	qubes(4, VAULT, "accept", 0);
	T_ASSERT(json("{\"version\":1,\"names\":{\"work\":\"" WORK "\",\"vault\":\"" VAULT "\"},\"rules\":["
	    "{\"from\":\"work\",\"action\":\"accept\",\"proto\":\"tcp\",\"to\":\"vault\",\"dstports\":\"22\"}]}") == 0);
	r = F4(VAULT, IPPROTO_TCP, 22);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, 0);
	/* ...and without one, the default drop, not the Qubes rule's reject */
	r = F4(VAULT, IPPROTO_TCP, 23);
	T_EQ_INT(r.action, VERDICT_DROP);
	T_EQ_INT(r.rule, RULE_ID_DEFAULT);
}

static void
test_json_first_match(void)
{
	setup();
	qubes(4, WORK, "accept", 0);
	T_ASSERT(json("{\"version\":1,\"names\":{\"work\":\"" WORK "\"},\"rules\":["
	    "{\"from\":\"work\",\"action\":\"accept\",\"dst4\":\"203.0.113.5\"},"
	    "{\"from\":\"*\",\"action\":\"reject\",\"dst4\":\"203.0.113.0/24\"},"
	    "{\"from\":\"work\",\"action\":\"accept\",\"dst4\":\"203.0.113.6\"}]}") == 0);
	T_EQ_INT(ACT(F4("203.0.113.5", IPPROTO_TCP, 1)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("203.0.113.6", IPPROTO_TCP, 1)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("203.0.114.6", IPPROTO_TCP, 1)), VERDICT_ACCEPT);
}

static void
test_expire(void)
{
	char doc[512];

	setup();
	qubes(4, WORK, "accept", 0);
	snprintf(doc, sizeof doc, "{\"version\":1,\"rules\":["
	    "{\"from\":\"*\",\"action\":\"reject\",\"proto\":\"tcp\",\"expire\":%lld},"
	    "{\"from\":\"*\",\"action\":\"drop\",\"proto\":\"udp\",\"expire\":%lld}]}",
	    (long long)tnow - 1, (long long)tnow + 60);
	T_ASSERT(json(doc) == 0);
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_UDP, 80)), VERDICT_DROP);
	T_EQ_INT(engine_next_expire(&eng, tnow), tnow + 60);
	tnow += 61;
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_UDP, 80)), VERDICT_ACCEPT);
	T_EQ_INT(engine_next_expire(&eng, tnow), 0);
}

static void
test_specialtarget_dns(void)
{
	setup();
	qubes(4, WORK, "drop", 2, "0000=action=accept specialtarget=dns",
	    "0001=action=accept proto=tcp dstports=443-443");
	T_EQ_INT(ACT(F4("10.139.1.1", IPPROTO_UDP, 53)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("10.139.1.2", IPPROTO_TCP, 53)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("192.168.1.1", IPPROTO_UDP, 53)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("8.8.8.8", IPPROTO_UDP, 53)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("10.139.1.1", IPPROTO_UDP, 54)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("10.139.1.1", IPPROTO_ICMP, 8)), VERDICT_REJECT);
	/* "drop DNS over TCP" from the Qubes docs: only TCP to DNS */
	qubes(4, WORK, "accept", 1, "0000=action=drop proto=tcp specialtarget=dns");
	T_EQ_INT(ACT(F4("10.139.1.1", IPPROTO_TCP, 53)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("10.139.1.1", IPPROTO_UDP, 53)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	/* specialtarget with another port is skipped, as firewall.py does */
	qubes(4, WORK, "accept", 1,
	    "0000=action=drop proto=tcp specialtarget=dns dstports=80-80");
	T_EQ_INT(ACT(F4("10.139.1.1", IPPROTO_TCP, 80)), VERDICT_ACCEPT);
	/* JSON */
	qubes(4, WORK, "accept", 0);
	T_ASSERT(json("{\"version\":1,\"rules\":[{\"from\":\"*\",\"action\":\"reject\",\"proto\":\"udp\",\"specialtarget\":\"dns\"}]}") == 0);
	T_EQ_INT(ACT(F4("10.139.1.2", IPPROTO_UDP, 53)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("10.139.1.2", IPPROTO_TCP, 53)), VERDICT_ACCEPT);
}

/* Answer query q with one IPv6 address. */
static void
a6_answer(const struct msg_dns_query *q, const char *addr)
{
	struct msg_dns_answer a = { 0 };

	a.qid = q->qid;
	a.qtype = q->qtype;
	a.ttl = 60;
	a.naddr = 1;
	inet_pton(AF_INET6, addr, a.addr[0]);
	T_EQ_INT(dnsc_answer(&dns, &a, tms), 1);
}

/* The fake resolver: answer the next query from the cache's queue. */
static int
answer(const char *want_name, int status, uint32_t ttl, int naddr,
    const char *a1)
{
	struct msg_dns_query q;
	struct msg_dns_answer a = { 0 };

	if (!dnsc_next_query(&dns, tms, &q) || strcmp(q.name, want_name) != 0)
		return 0;
	a.qid = q.qid;
	a.qtype = q.qtype;
	a.status = status;
	a.ttl = ttl;
	a.naddr = (uint16_t)naddr;
	if (naddr > 0)
		inet_pton(q.qtype == DNS_QTYPE_A ? AF_INET : AF_INET6, a1, a.addr[0]);
	return dnsc_answer(&dns, &a, tms);
}

static void
test_dsthost(void)
{
	struct msg_dns_query q;
	struct res r;

	setup();
	qubes(4, WORK, "drop", 2, "0000=action=accept dsthost=example.com",
	    "0001=action=accept proto=icmp");
	/* the first flow waits for the name; others that cannot match it
	 * are not held up... */
	r = F4("93.184.216.34", IPPROTO_TCP, 443);
	T_EQ_INT(r.decided, 0);
	/* ...but rule 0 could match any flow, so they wait too */
	T_EQ_INT(F4("1.2.3.4", IPPROTO_ICMP, 8).decided, 0);
	T_ASSERT(answer("example.com", 0, 60, 1, "93.184.216.34"));
	T_EQ_INT(dnsc_next_query(&dns, tms, &q), 0);	/* asked once */
	T_EQ_INT(ACT(F4("93.184.216.34", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("93.184.216.35", IPPROTO_TCP, 443)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_ICMP, 8)), VERDICT_ACCEPT);
	/* cached: no new query within the TTL */
	tms += 59 * 1000;
	T_EQ_INT(F4("93.184.216.34", IPPROTO_TCP, 443).decided, 1);
	T_EQ_INT(dnsc_next_query(&dns, tms, &q), 0);
	/* stale: re-resolved, and the new address counts */
	tms += 2000;
	T_EQ_INT(F4("93.184.216.34", IPPROTO_TCP, 443).decided, 0);
	T_ASSERT(answer("example.com", 0, 60, 1, "93.184.216.99"));
	T_EQ_INT(ACT(F4("93.184.216.34", IPPROTO_TCP, 443)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("93.184.216.99", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
}

static void
test_dsthost_failure_only_skips_rule(void)
{
	setup();
	qubes(4, WORK, "drop", 2, "0000=action=accept dsthost=nx.example",
	    "0001=action=accept proto=tcp dstports=443-443");
	qubes(4, VAULT, "accept", 0);
	T_EQ_INT(F4("1.2.3.4", IPPROTO_TCP, 443).decided, 0);
	/* another client without dsthost rules is answered meanwhile */
	T_EQ_INT(ACT(flow(4, 2, VAULT, "1.2.3.4", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	T_ASSERT(answer("nx.example", -1, 0, 0, NULL));
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 80)), VERDICT_REJECT);
}

static void
test_dsthost_timeout(void)
{
	struct flow_req q = { .seq = 5, .port = 1, .family = 4,
	    .proto = IPPROTO_TCP, .dport = 443 };
	struct flow_verdict v;
	struct msg_dns_query dq;
	uint64_t next;

	setup();
	qubes(4, WORK, "drop", 2, "0000=action=drop dsthost=slow.example",
	    "0001=action=accept proto=tcp");
	inet_pton(AF_INET, WORK, q.src);
	inet_pton(AF_INET, "1.2.3.4", q.dst);
	T_EQ_INT(engine_decide(&eng, &q, tms, tnow, 0, &v), 0);
	T_ASSERT(dnsc_next_query(&dns, tms, &dq) == 1);
	T_EQ_INT(dnsc_tick(&dns, tms + 1000, &next), 0);
	T_EQ_INT(next, tms + DNSC_TIMEOUT_MS);
	T_EQ_INT(dnsc_tick(&dns, tms + DNSC_TIMEOUT_MS, &next), 1);
	/* the drop rule's name has no answer: it is not skipped (rule 1
	 * would accept what it was written to stop), it takes the flow */
	T_EQ_INT(engine_decide(&eng, &q, tms + DNSC_TIMEOUT_MS, tnow, 0, &v), 1);
	T_EQ_INT(v.action, VERDICT_REJECT);
	T_EQ_INT(v.rule, RULE_ID_QUBES | 0);
	/* a late answer is ignored */
	{
		struct msg_dns_answer a = { .qid = dq.qid, .qtype = 1, .naddr = 1,
		    .ttl = 60 };

		T_EQ_INT(dnsc_answer(&dns, &a, tms + 3000), 0);
	}
	/* final evaluation (the flow's own deadline) never waits, and an
	 * unanswered drop rule still takes the flow */
	tms += DNSC_NEG_TTL_MS + 1;
	T_EQ_INT(engine_decide(&eng, &q, tms, tnow, 1, &v), 1);
	T_EQ_INT(v.action, VERDICT_REJECT);
}

/*
 * What a drop rule does when its name cannot be resolved (issue 18): a
 * failed lookup never lets a later accept pass what the drop was written to
 * stop; an answer without an address (no such name, no A record) has
 * nothing to stop and skips the rule.
 */
static void
test_dsthost_drop_fails_closed(void)
{
	setup();
	qubes(4, WORK, "drop", 3, "0000=action=accept proto=tcp dstports=22-22",
	    "0001=action=drop dsthost=broken.example",
	    "0002=action=accept");
	/* rules before it still decide, without waiting for the name */
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	T_EQ_INT(F4("1.2.3.4", IPPROTO_TCP, 443).decided, 0);
	/* server failure: the drop rule takes every flow that reaches it */
	T_ASSERT(answer("broken.example", -1, 0, 0, NULL));
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 443)), VERDICT_REJECT);
	T_EQ_INT(F4("1.2.3.4", IPPROTO_TCP, 443).rule, RULE_ID_QUBES | 1);
	T_EQ_INT(ACT(F4("5.6.7.8", IPPROTO_UDP, 53)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	/* an accept whose name fails matches nothing (as before) */
	setup();
	qubes(4, WORK, "drop", 1, "0000=action=accept dsthost=broken.example");
	T_EQ_INT(F4("1.2.3.4", IPPROTO_TCP, 443).decided, 0);
	T_ASSERT(answer("broken.example", -1, 0, 0, NULL));
	T_EQ_INT(F4("1.2.3.4", IPPROTO_TCP, 443).rule, RULE_ID_QPOLICY);
	/* NXDOMAIN (natd: status 0, no address): nothing to stop */
	setup();
	qubes(4, WORK, "drop", 2, "0000=action=drop dsthost=nx.example",
	    "0001=action=accept");
	T_EQ_INT(F4("1.2.3.4", IPPROTO_TCP, 443).decided, 0);
	T_ASSERT(answer("nx.example", 0, 60, 0, NULL));
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	/* the same for a JSON drop rule */
	setup();
	qubes(4, WORK, "accept", 0);
	T_ASSERT(json("{\"version\":1,\"rules\":[{\"from\":\"*\","
	    "\"action\":\"drop\",\"dsthost\":\"broken.example\"}]}") == 0);
	T_EQ_INT(F4("1.2.3.4", IPPROTO_TCP, 443).decided, 0);
	T_ASSERT(answer("broken.example", -1, 0, 0, NULL));
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 443)), VERDICT_DROP);
}

static char logged[16][512];
static int nlogged;

static void
log_keep(const char *line, size_t len)
{
	if (nlogged < 16)
		snprintf(logged[nlogged++], sizeof logged[0], "%.*s", (int)len, line);
}

/*
 * A rule moat refuses on purpose although dom0 writes it (a prefix length
 * with a leading zero, which sys-firewall's nftables reads as octal): the
 * client fails closed and one log line names the client, the rule and why.
 */
static void
test_qubes_refused_rule_logged(void)
{
	const char *want = "Qubes rules for " WORK ": rule 0007: dst4 "
	    "\"1.2.3.4/010\": leading zero in the prefix length: "
	    "sys-firewall's nftables reads it as octal (/8), wider than "
	    "written: rejecting all its traffic";

	setup();
	nlogged = 0;
	log_setlevel(LOG_LVL_INFO);
	log_set_hook(log_keep);
	qubes(4, WORK, "accept", 2, "0003=action=accept proto=tcp",
	    "0007=action=accept dst4=1.2.3.4/010");
	log_set_hook(NULL);
	log_setlevel(LOG_LVL_ERROR);
	T_EQ_INT(nlogged, 1);
	T_EXPECT(strstr(logged[0], want) != NULL);
	if (strstr(logged[0], want) == NULL)
		printf("# logged: %s\n", logged[0]);
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 80)), VERDICT_REJECT);
	T_EQ_INT(F4("1.2.3.4", IPPROTO_TCP, 80).rule, RULE_ID_DEFAULT);
}

/*
 * A dsthost the C library reads as an IPv4 address is that address on
 * sys-firewall (getaddrinfo never asks the DNS): a drop rule blocks exactly
 * it, at once, and an IPv6 rule set holding it never matches IPv6 flows.
 */
static void
test_dsthost_numeric(void)
{
	struct msg_dns_query q;
	struct res r;

	setup();
	qubes(4, WORK, "drop", 5,
	    "0000=action=drop dsthost=010.0.0.1",
	    "0001=action=drop dsthost=1.2.3",
	    "0002=action=drop dsthost=0x7f.1",
	    "0003=action=drop dsthost=3232235777",
	    "0004=action=accept");
	r = F4("8.0.0.1", IPPROTO_TCP, 443);
	T_EQ_INT(r.decided, 1);
	T_EQ_INT(r.action, VERDICT_REJECT);
	T_EQ_INT(r.rule, RULE_ID_QUBES | 0);
	T_EQ_INT(F4("1.2.0.3", IPPROTO_UDP, 53).rule, RULE_ID_QUBES | 1);
	T_EQ_INT(F4("127.0.0.1", IPPROTO_ICMP, 8).rule, RULE_ID_QUBES | 2);
	T_EQ_INT(F4("192.168.1.1", IPPROTO_TCP, 80).rule, RULE_ID_QUBES | 3);
	/* not what the digits look like in decimal */
	T_EQ_INT(ACT(F4("10.0.0.1", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("1.2.3.0", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("8.0.0.2", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	/* and never a DNS lookup */
	T_EQ_INT(dnsc_next_query(&dns, tms, &q), 0);
	/* IPv6: the address is IPv4, so the rule matches no IPv6 flow */
	qubes(6, "fd09:24ef:4179::a89:5", "drop", 2,
	    "0000=action=accept dsthost=0x7f.1",
	    "0001=action=accept proto=tcp");
	T_EQ_INT(ACT(flow(6, 1, "fd09:24ef:4179::a89:5", "::ffff:127.0.0.1",
	    IPPROTO_UDP, 53)), VERDICT_REJECT);
	T_EQ_INT(flow(6, 1, "fd09:24ef:4179::a89:5", "2001:db8::1", IPPROTO_TCP,
	    80).rule, RULE_ID_QUBES | 1);
	T_EQ_INT(dnsc_next_query(&dns, tms, &q), 0);
	/* the log says what each means, the first 8 of them */
	nlogged = 0;
	log_setlevel(LOG_LVL_INFO);
	log_set_hook(log_keep);
	qubes(4, WORK, "drop", 10, "0000=action=drop dsthost=010.0.0.1",
	    "0001=action=drop dsthost=0x7f.1", "0002=action=drop dsthost=3",
	    "0003=action=drop dsthost=4", "0004=action=drop dsthost=5",
	    "0005=action=drop dsthost=6", "0006=action=drop dsthost=7",
	    "0007=action=drop dsthost=8", "0008=action=drop dsthost=9",
	    "0009=action=drop dsthost=10");
	log_set_hook(NULL);
	log_setlevel(LOG_LVL_ERROR);
	T_EQ_INT(nlogged, 10);
	T_EXPECT(strstr(logged[0], "Qubes rules for " WORK ": rule 0000: "
	    "dsthost=010.0.0.1 is the IPv4 address 8.0.0.1") != NULL);
	T_EXPECT(strstr(logged[1], "rule 0001: dsthost=0x7f.1 is the IPv4 "
	    "address 127.0.0.1") != NULL);
	T_EXPECT(strstr(logged[8], "2 more dsthost values") != NULL);
	T_EQ_INT(F4("0.0.0.10", IPPROTO_TCP, 1).rule, RULE_ID_QUBES | 9);
	/* it does not open inter-VM traffic (no Qubes rule does) */
	qubes(4, VAULT, "accept", 0);
	qubes(4, WORK, "drop", 1, "0000=action=accept dsthost=10.137.9");
	r = F4(VAULT, IPPROTO_TCP, 22);
	T_EQ_INT(r.action, VERDICT_DROP);
	T_EQ_INT(r.rule, RULE_ID_DEFAULT);
}

static void
test_dsthost_not_needed_when_earlier_rule_matches(void)
{
	struct msg_dns_query q;

	setup();
	qubes(4, WORK, "drop", 2, "0000=action=accept proto=tcp dstports=22-22",
	    "0001=action=accept dsthost=example.com");
	T_EQ_INT(ACT(F4("1.2.3.4", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	T_EQ_INT(dnsc_next_query(&dns, tms, &q), 0);
}

/* At most DNSC_INFLIGHT lookups at once; the rest wait their turn and
 * time out like the others; nothing stays pending forever. */
static void
test_dns_bounded(void)
{
	struct msg_dns_query q[2 * DNSC_INFLIGHT];
	struct msg_dns_answer a = { 0 };
	const struct dnsc_entry *e;
	char name[32];
	int i, n = 0;
	uint64_t next;

	dnsc_init(&dns);
	for (i = 0; i < 3 * DNSC_INFLIGHT; i++) {
		snprintf(name, sizeof name, "n%d.example", i);
		dnsc_want(&dns, name, DNS_QTYPE_A, tms);
	}
	while (n < 2 * DNSC_INFLIGHT && dnsc_next_query(&dns, tms, &q[n]))
		n++;
	T_EQ_INT(n, DNSC_INFLIGHT);
	/* an answer frees a slot for the next name */
	a.qid = q[0].qid;
	a.qtype = DNS_QTYPE_A;
	a.ttl = 60;
	T_EQ_INT(dnsc_answer(&dns, &a, tms), 1);
	T_EQ_INT(dnsc_answer(&dns, &a, tms), 0);	/* not twice */
	T_EQ_INT(dnsc_next_query(&dns, tms, &q[n]), 1);
	T_EQ_INT(dnsc_next_query(&dns, tms, &q[n]), 0);
	/* everything else times out together */
	T_EQ_INT(dnsc_tick(&dns, tms + DNSC_TIMEOUT_MS, &next), 3 * DNSC_INFLIGHT - 1);
	T_EQ_INT(next, 0);
	T_EQ_INT(dns.nbusy, 0);
	T_EQ_INT(dnsc_peek(&dns, "n5.example", DNS_QTYPE_A, tms + DNSC_TIMEOUT_MS, &e),
	    DNSC_FAIL);
	/* ...and is asked again once the failure is old */
	dnsc_want(&dns, "n5.example", DNS_QTYPE_A, tms + DNSC_TIMEOUT_MS + DNSC_NEG_TTL_MS);
	T_EQ_INT(dnsc_next_query(&dns, tms, &q[0]), 1);
	T_EQ_STR(q[0].name, "n5.example");
}

static void
test_intervm(void)
{
	setup();
	qubes(4, WORK, "accept", 0);
	qubes(4, VAULT, "accept", 0);
	/* default: denied although both clients' policy is accept */
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 22)), VERDICT_DROP);
	/* a wide Qubes accept does not name the address: still denied */
	qubes(4, WORK, "accept", 1, "0000=action=accept dst4=10.137.0.0/16");
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 22)), VERDICT_DROP);
	T_EQ_INT(ACT(F4("10.137.99.1", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	/* nor does a Qubes rule naming exactly that address: the JSON
	 * rules alone govern traffic between clients */
	qubes(4, WORK, "drop", 1, "0000=action=accept dst4=10.137.0.9/32 proto=tcp");
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 22)), VERDICT_DROP);
	qubes(4, WORK, "accept", 0);
	/* JSON: only "to" accepts; wide accepts do not */
	T_ASSERT(json("{\"version\":1,\"names\":{\"work\":\"" WORK "\",\"vault\":\"" VAULT "\"},\"rules\":["
	    "{\"from\":\"work\",\"action\":\"accept\",\"proto\":\"tcp\",\"to\":\"vault\",\"dstports\":\"22\"},"
	    "{\"from\":\"*\",\"action\":\"accept\",\"dst4\":\"10.137.0.9\"},"
	    "{\"from\":\"*\",\"action\":\"accept\"}]}") == 0);
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 80)), VERDICT_DROP);
	T_EQ_INT(ACT(flow(4, 2, VAULT, WORK, IPPROTO_TCP, 22)), VERDICT_DROP);
	/* non-client destinations are unaffected */
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 80)), VERDICT_ACCEPT);
	/* deny rules do apply to inter-VM traffic */
	T_ASSERT(json("{\"version\":1,\"rules\":[{\"from\":\"*\",\"action\":\"reject\",\"proto\":\"tcp\"}]}") == 0);
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 22)), VERDICT_REJECT);
}

/* A client dom0 lists in /connected-ips counts as a client even before
 * (or without) its link being up here, and so does its visible address. */
static void
test_intervm_connected_ips(void)
{
	static struct msg_clients mc;

	setup();
	qubes(4, WORK, "accept", 0);
	T_EQ_INT(ACT(F4("10.137.0.20", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	mc.count = 1;
	inet_pton(AF_INET, "10.137.0.20", &mc.c[0].ip);
	inet_pton(AF_INET, "10.138.9.9", &mc.c[0].visible_ip);
	engine_clients(&eng, &mc, mc.count);
	T_EQ_INT(ACT(F4("10.137.0.20", IPPROTO_TCP, 22)), VERDICT_DROP);
	T_EQ_INT(ACT(F4("10.138.9.9", IPPROTO_TCP, 22)), VERDICT_DROP);
	/* links still count */
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 22)), VERDICT_DROP);
	/* a new snapshot replaces the old one */
	mc.count = 0;
	engine_clients(&eng, &mc, mc.count);
	T_EQ_INT(ACT(F4("10.137.0.20", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
}

/* The same for /connected-ips6: another client's IPv6 address is
 * inter-VM traffic, denied unless a JSON rule names it. */
static void
test_intervm_connected_ips6(void)
{
	static struct msg_clients6 mc;
	const char *me = "fd09:24ef:4179::a89:5", *other = "fd09:24ef:4179::a89:20";

	setup();
	qubes(4, WORK, "accept", 0);
	qubes(6, me, "accept", 0);
	T_EQ_INT(ACT(flow(6, 1, me, other, IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	mc.count = 1;
	inet_pton(AF_INET6, other, mc.c[0].ip);
	inet_pton(AF_INET6, "fd09:24ef:4179::a8a:99", mc.c[0].visible_ip);
	mc.c[0].flags = CLIENT_F_CONNECTED;
	engine_clients6(&eng, &mc, mc.count);
	T_EQ_INT(ACT(flow(6, 1, me, other, IPPROTO_TCP, 22)), VERDICT_DROP);
	T_EQ_INT(ACT(flow(6, 1, me, "fd09:24ef:4179::a8a:99", IPPROTO_TCP, 22)), VERDICT_DROP);
	/* the outside is unaffected, and so is the IPv4 list */
	T_EQ_INT(ACT(flow(6, 1, me, "2001:db8::1", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("10.137.0.20", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	/* not even a Qubes rule naming exactly that address opens it: only
	 * JSON rules decide between qubes (issue 14), for IPv6 as for IPv4 */
	qubes(6, me, "drop", 1, "0000=action=accept dst6=fd09:24ef:4179::a89:20/128 proto=tcp");
	T_EQ_INT(ACT(flow(6, 1, me, other, IPPROTO_TCP, 22)), VERDICT_DROP);
	qubes(6, me, "accept", 0);
	/* a new snapshot replaces the old one */
	mc.count = 0;
	engine_clients6(&eng, &mc, mc.count);
	T_EQ_INT(ACT(flow(6, 1, me, other, IPPROTO_TCP, 22)), VERDICT_ACCEPT);
}

static void
test_ipv6(void)
{
	setup();
	qubes(4, WORK, "accept", 0);
	qubes(6, "fd09:24ef:4179::a89:5", "drop", 2,
	    "0000=action=accept proto=icmp icmptype=128",
	    "0001=action=accept dst6=2001:db8::/32 proto=tcp");
	T_EQ_INT(ACT(flow(6, 1, "fd09:24ef:4179::a89:5", "2001:db8::1", 58, 128)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(flow(6, 1, "fd09:24ef:4179::a89:5", "2001:db8::1", IPPROTO_ICMP, 128)), VERDICT_REJECT);
	T_EQ_INT(ACT(flow(6, 1, "fd09:24ef:4179::a89:5", "2001:db8::1", IPPROTO_TCP, 80)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(flow(6, 1, "fd09:24ef:4179::a89:5", "2001:db9::1", IPPROTO_TCP, 80)), VERDICT_REJECT);
	/* a JSON rule "from" the client's IPv4 name covers its IPv6 flows */
	T_ASSERT(json("{\"version\":1,\"names\":{\"work\":\"" WORK "\"},\"rules\":["
	    "{\"from\":\"work\",\"action\":\"drop\",\"dst6\":\"2001:db8::/48\"}]}") == 0);
	T_EQ_INT(ACT(flow(6, 1, "fd09:24ef:4179::a89:5", "2001:db8::1", IPPROTO_TCP, 80)), VERDICT_DROP);
	/* an IPv4 flow never matches a dst6 rule */
	T_EQ_INT(ACT(F4("32.1.13.184", IPPROTO_TCP, 80)), VERDICT_ACCEPT);
}

/*
 * A client's /qubes-firewall/<ipv6>/ tree, as dom0 writes it with the
 * `ipv6` feature: the same grammar, proto=icmp is ICMPv6 (icmptype an
 * ICMPv6 type), dsthost is resolved to AAAA for IPv6 flows, and
 * specialtarget=dns never matches an IPv6 flow (the DNS servers clients
 * are given are IPv4).
 */
#define W6	"fd09:24ef:4179::a89:5"
#define F6(dst, proto, port)	flow(6, 1, W6, dst, proto, port)

static void
test_ipv6_qubes_tree(void)
{
	struct msg_dns_query q;
	struct res r;

	setup();
	qubes(4, WORK, "drop", 0);
	qubes(6, W6, "drop", 4,
	    "0000=action=accept specialtarget=dns",
	    "0002=action=accept dsthost=v6.example proto=tcp dstports=443-443",
	    "0003=action=drop dst6=2001:db8:bad::/48",
	    "0005=action=accept dst6=2001:db8::/32");
	/* dns: IPv6 DNS to anyone is not "dns", even to port 53 */
	T_EQ_INT(ACT(F6("2001:4860:4860::8888", IPPROTO_UDP, 53)), VERDICT_REJECT);
	T_EQ_INT(ACT(F6("::ffff:10.139.1.1", IPPROTO_UDP, 53)), VERDICT_REJECT);
	/* dst6, first match: drop (rejects, as Qubes' drop does) */
	r = F6("2001:db8:bad::1", IPPROTO_TCP, 443);
	T_EQ_INT(r.decided, 0);		/* rule 2 could match: it waits for AAAA */
	T_ASSERT(dnsc_next_query(&dns, tms, &q) == 1);
	T_EQ_STR(q.name, "v6.example");
	T_EQ_INT(q.qtype, DNS_QTYPE_AAAA);	/* not A: the flow is IPv6 */
	a6_answer(&q, "2001:db8:443::1");
	T_EQ_INT(ACT(F6("2001:db8:bad::1", IPPROTO_TCP, 443)), VERDICT_REJECT);
	T_EQ_INT(F6("2001:db8:bad::1", IPPROTO_TCP, 443).rule, RULE_ID_QUBES | 3);
	T_EQ_INT(ACT(F6("2001:db8:1::1", IPPROTO_UDP, 9)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F6("2001:db9::1", IPPROTO_UDP, 9)), VERDICT_REJECT);
	/* dsthost: the AAAA address, on the rule's port */
	r = F6("2001:db8:443::1", IPPROTO_TCP, 443);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, RULE_ID_QUBES | 2);
	T_EQ_INT(ACT(flow(6, 1, W6, "2a00::443", IPPROTO_TCP, 443)), VERDICT_REJECT);
	/* the IPv4 tree is the IPv4 tree: policy drop, nothing accepted */
	T_EQ_INT(ACT(F4("93.184.216.34", IPPROTO_TCP, 443)), VERDICT_REJECT);
	/* ICMPv6: proto=icmp with an ICMPv6 type */
	qubes(6, W6, "drop", 2, "0000=action=accept proto=icmp icmptype=128",
	    "0001=action=accept dst6=2001:db8::1/128 proto=icmp");
	T_EQ_INT(ACT(F6("2a00::1", 58, 128)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F6("2a00::1", 58, 8)), VERDICT_REJECT);	/* 8 is IPv4's echo */
	T_EQ_INT(ACT(F6("2001:db8::1", 58, 1)), VERDICT_ACCEPT);
	/* a dst4 rule has no place in the IPv6 tree (dom0 leaves them out):
	 * the client fails closed */
	qubes(6, W6, "accept", 1, "0000=action=drop dst4=1.1.1.1");
	T_EQ_INT(ACT(F6("2a00::1", IPPROTO_TCP, 80)), VERDICT_REJECT);
	/* without an IPv6 tree (dom0 wrote none): dropped, not rejected */
	setup();
	qubes(4, WORK, "accept", 0);
	r = F6("2a00::1", IPPROTO_TCP, 80);
	T_EQ_INT(r.action, VERDICT_DROP);
	T_EQ_INT(r.rule, RULE_ID_DEFAULT);
}

/* JSON rules: dst6, dsthost resolved to AAAA for IPv6 flows, "to" naming a
 * client covers its IPv6 address too, specialtarget=dns is IPv4 only. */
static void
test_ipv6_json(void)
{
	static struct msg_link l;
	struct msg_dns_query q;
	struct res r;

	setup();
	/* vault gets an IPv6 address */
	l.kind = LINK_CLIENT;
	l.up = 1;
	l.port = 2;
	inet_pton(AF_INET, VAULT, &l.ip4);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:9", l.ip6);
	engine_link(&eng, &l);
	qubes(4, WORK, "accept", 0);
	qubes(6, W6, "accept", 0);
	T_ASSERT(json("{\"version\":1,\"names\":{\"work\":\"" WORK "\",\"vault\":\"" VAULT "\"},\"rules\":["
	    "{\"from\":\"work\",\"action\":\"accept\",\"proto\":\"tcp\",\"to\":\"vault\",\"dstports\":\"22\"},"
	    "{\"from\":\"work\",\"action\":\"reject\",\"dst6\":\"2001:db8::/32\",\"proto\":\"tcp\"},"
	    "{\"from\":\"*\",\"action\":\"drop\",\"dsthost\":\"ads.example\"},"
	    "{\"from\":\"*\",\"action\":\"reject\",\"specialtarget\":\"dns\",\"proto\":\"udp\"}]}") == 0);
	/* a flow rules 0 and 1 do not take waits for the dsthost rule */
	r = F6("2a00:1::1", IPPROTO_UDP, 9);
	T_EQ_INT(r.decided, 0);
	T_ASSERT(dnsc_next_query(&dns, tms, &q) == 1);
	T_EQ_STR(q.name, "ads.example");
	T_EQ_INT(q.qtype, DNS_QTYPE_AAAA);
	a6_answer(&q, "2a00:ad5::1");
	/* inter-VM: "to" names vault, by either of its addresses */
	r = F6("fd09:24ef:4179::a89:9", IPPROTO_TCP, 22);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, 0);
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F6("fd09:24ef:4179::a89:9", IPPROTO_TCP, 23)), VERDICT_DROP);
	T_EQ_INT(ACT(F6("2a00:1::1", IPPROTO_UDP, 9)), VERDICT_ACCEPT);
	/* dst6 */
	r = F6("2001:db8::80", IPPROTO_TCP, 80);
	T_EQ_INT(r.action, VERDICT_REJECT);
	T_EQ_INT(r.rule, 1);
	T_EQ_INT(ACT(F6("2001:db8::80", IPPROTO_UDP, 80)), VERDICT_ACCEPT);
	/* dsthost: the AAAA address is dropped, the rest is the Qubes
	 * rules' (accept) */
	r = F6("2a00:ad5::1", IPPROTO_TCP, 443);
	T_EQ_INT(r.action, VERDICT_DROP);
	T_EQ_INT(r.rule, 2);
	T_EQ_INT(ACT(F6("2a00:ad5::2", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	/* "to" vault is vault only: not an outside IPv6 address */
	r = F6("2a00::9", IPPROTO_TCP, 22);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, RULE_ID_QPOLICY);
	/* specialtarget=dns: IPv4's virtual servers only (an IPv4 flow
	 * needs the name's A record first) */
	T_EQ_INT(F4("10.139.1.1", IPPROTO_UDP, 53).decided, 0);
	T_ASSERT(answer("ads.example", 0, 60, 1, "198.51.100.66"));
	r = F4("10.139.1.1", IPPROTO_UDP, 53);
	T_EQ_INT(r.action, VERDICT_REJECT);
	T_EQ_INT(r.rule, 3);
	r = F6("2001:4860::53", IPPROTO_UDP, 53);
	T_EQ_INT(r.action, VERDICT_ACCEPT);
	T_EQ_INT(r.rule, RULE_ID_QPOLICY);
	/* docs/rules.md's IPv6 example */
	T_ASSERT(json("{\"version\": 1, \"names\": {\"work\": \"10.137.0.5\", \"vault\": \"10.137.0.9\"},"
	    " \"rules\": ["
	    "{\"from\": \"work\", \"action\": \"reject\", \"dst6\": \"2001:db8:bad::/48\"},"
	    "{\"from\": \"work\", \"action\": \"accept\", \"proto\": \"icmp\", \"icmptype\": 128, \"dst6\": \"::/0\"},"
	    "{\"from\": \"work\", \"to\": \"vault\", \"action\": \"accept\", \"proto\": \"tcp\", \"dstports\": \"22\"}]}") == 0);
	T_EQ_INT(ACT(F6("2001:db8:bad::1", IPPROTO_UDP, 9)), VERDICT_REJECT);
	T_EQ_INT(ACT(F6("fd09:24ef:4179::a89:9", 58, 128)), VERDICT_DROP);	/* not "to" */
	T_EQ_INT(ACT(F6("2a00::1", 58, 128)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F6("fd09:24ef:4179::a89:9", IPPROTO_TCP, 22)), VERDICT_ACCEPT);
}

static void
test_generation(void)
{
	uint32_t g;

	setup();
	g = eng.generation;
	qubes(4, WORK, "accept", 0);
	T_EXPECT(eng.generation == g + 1);
	T_ASSERT(json("{\"version\":1,\"rules\":[]}") == 0);
	T_EXPECT(eng.generation == g + 2);
	/* verdicts carry it (flow() checks seq and generation) */
	T_EQ_INT(ACT(F4("1.1.1.1", IPPROTO_TCP, 1)), VERDICT_ACCEPT);
}

/*
 * GetRules' hit counters: each new flow counts for the rule that decided
 * it (the verdict's rule), a re-check counts nothing, and the output with
 * the counts loads back into SetRules as the same rules.
 */
static void
test_rule_hits(void)
{
	struct flow_req q = { .seq = 9, .port = 1, .family = 4,
	    .proto = IPPROTO_TCP, .dport = 443, .flags = FREQ_RECHECK };
	struct flow_verdict v;
	struct rset s;
	json_t *root, *rules, *h;
	char *text, err[256];
	size_t len;
	void *d;
	int i;

	setup();
	qubes(4, WORK, "drop", 2,
	    "0001=action=accept proto=tcp dstports=443-443",
	    "0003=action=accept proto=udp");
	T_ASSERT(json("{\"version\": 1, \"rules\": ["
	    "{\"from\": \"*\", \"action\": \"reject\", \"proto\": \"tcp\", \"dstports\": \"25\"},"
	    "{\"action\": \"forward\", \"proto\": \"tcp\", \"dstports\": \"8080\", \"to\": \"" WORK "\", \"toport\": 80},"
	    "{\"from\": \"" WORK "\", \"action\": \"accept\", \"to\": \"" VAULT "\"}]}") == 0);
	for (i = 0; i < 3; i++)
		T_EQ_INT(ACT(F4("198.51.100.1", IPPROTO_TCP, 25)), VERDICT_REJECT);
	T_EQ_INT(ACT(F4(VAULT, IPPROTO_TCP, 22)), VERDICT_ACCEPT);
	for (i = 0; i < 2; i++)
		T_EQ_INT(ACT(F4("198.51.100.1", IPPROTO_TCP, 443)), VERDICT_ACCEPT);
	T_EQ_INT(ACT(F4("198.51.100.1", IPPROTO_ICMP, 8)), VERDICT_REJECT);
	T_EQ_INT(ACT(flow(4, 3, "10.137.0.77", "198.51.100.1", IPPROTO_TCP, 1)),
	    VERDICT_DROP);
	/* a re-check of a flow already counted */
	inet_pton(AF_INET, WORK, q.src);
	inet_pton(AF_INET, "198.51.100.1", q.dst);
	T_EQ_INT(engine_decide(&eng, &q, tms, tnow, 0, &v), 1);
	T_EQ_INT(v.rule, RULE_ID_QUBES | 1);
	T_EQ_INT(eng.json.hits[0], 3);
	T_EQ_INT(eng.json.hits[1], 0);
	T_EQ_INT(eng.json.hits[2], 1);
	T_EQ_INT(eng.default_hits, 1);

	T_ASSERT((text = jrules_dump_hits(eng.jdoc, &eng, &len)) != NULL);
	root = json_loadb(text, len, 0, NULL);
	T_ASSERT(root != NULL);
	rules = json_object_get(root, "rules");
	T_EQ_INT(json_integer_value(json_object_get(json_array_get(rules, 0), "hits")), 3);
	T_ASSERT(json_object_get(json_array_get(rules, 1), "hits") == NULL);
	T_EQ_INT(json_integer_value(json_object_get(json_array_get(rules, 2), "hits")), 1);
	h = json_object_get(root, "hits");
	T_EQ_INT(json_integer_value(json_object_get(h, "default")), 1);
	h = json_object_get(json_object_get(h, "qubes"), WORK);
	T_EQ_INT(json_integer_value(json_object_get(h, "0001")), 2);
	T_EQ_INT(json_integer_value(json_object_get(h, "policy")), 1);
	T_ASSERT(json_object_get(h, "0003") == NULL);	/* never hit: not shown */
	/* the counters in the rules in force are not touched by printing */
	T_ASSERT(json_object_get(json_array_get(json_object_get(eng.jdoc,
	    "rules"), 0), "hits") == NULL);
	json_decref(root);
	/* fed back: the same rules, counters ignored (and restarted) */
	T_ASSERT(jrules_load(text, len, &s, &d, err, sizeof err) == 0);
	T_EQ_INT(s.n, 3);
	T_EQ_INT(s.rules[0].action, VERDICT_REJECT);
	T_EQ_INT(s.rules[2].action, VERDICT_ACCEPT);
	engine_set_json(&eng, &s, d);
	T_EQ_INT(eng.json.hits[0], 0);
	free(text);
	/* without the engine (fuzzing, old callers): no counts */
	T_ASSERT((text = jrules_dump(eng.jdoc, &len)) != NULL);
	T_ASSERT(strstr(text, "\"hits\"") == NULL);
	free(text);
	/* a count that is not a number is refused like any bad field */
	T_ASSERT(json("{\"version\": 1, \"rules\": [{\"from\": \"*\", "
	    "\"action\": \"drop\", \"hits\": \"many\"}]}") == -1);
}

int
main(void)
{
	log_init("test", LOG_LVL_ERROR);
	T_RUN(test_no_rules_drops_fail_closed);
	T_RUN(test_qubes_first_match_and_reject);
	T_RUN(test_qubes_policy_drop_rejects);
	T_RUN(test_qubes_fail_closed);
	T_RUN(test_json_before_qubes);
	T_RUN(test_json_first_match);
	T_RUN(test_json_narrows_qubes);
	T_RUN(test_expire);
	T_RUN(test_specialtarget_dns);
	T_RUN(test_dsthost);
	T_RUN(test_dsthost_failure_only_skips_rule);
	T_RUN(test_dsthost_timeout);
	T_RUN(test_dsthost_drop_fails_closed);
	T_RUN(test_dsthost_numeric);
	T_RUN(test_qubes_refused_rule_logged);
	T_RUN(test_dsthost_not_needed_when_earlier_rule_matches);
	T_RUN(test_dns_bounded);
	T_RUN(test_intervm);
	T_RUN(test_intervm_connected_ips);
	T_RUN(test_intervm_connected_ips6);
	T_RUN(test_ipv6_qubes_tree);
	T_RUN(test_ipv6_json);
	T_RUN(test_ipv6);
	T_RUN(test_generation);
	T_RUN(test_rule_hits);
	return t_done();
}
