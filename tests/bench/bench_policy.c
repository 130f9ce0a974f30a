/*
 * bench_policy.c: new flows per second through the natd -> policyd ->
 * natd round trip, over real rings between two processes, with 10, 1,000
 * and 10,000 JSON rules in force (plus each client's Qubes rules).
 *
 * The parent plays natd: it keeps a window of flow requests outstanding,
 * sends them in bursts and counts the verdicts. The child runs policyd's
 * own flow loop (pd_flows_step, sleeping on its eventfd when idle). Rule
 * sets look like real ones: many distinct destinations (hosts and
 * networks), ports and port ranges, rules per client and a few wildcard
 * rules; most flows match no JSON rule, which is the most expensive case
 * (every candidate is looked at, then the Qubes rules decide).
 *
 * Then (bench_names; alone with the argument "names") the cost of a
 * wildcard "dsthost" rule per new flow: flows/s with and without one, and
 * with clients that learned more and more names.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ring.h"
#include "policyd/dnscache.h"
#include "policyd/jrules.h"
#include "policyd/names.h"
#include "policyd/policyd.h"
#include "policyd/qrule.h"
#include "tests/testutil.h"

#define NSLOTS		4096
#define WINDOW		2048
#define BURST		32
#define NCLIENTS	20
#define NFLOWS		1000000
#define REPEAT		3	/* rounds over all sizes; the best of each is shown */

static struct engine eng;
static struct dnsc dns;
static struct pd_flows pf;
static uint64_t rng = 88172645463325252ull;

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)(tu_xorshift64(&rng) % n);
}

static uint32_t dests[20000];	/* destinations the rules name (host order) */
static uint32_t ndests;

static int port_heavy;	/* the last row: rules are long port lists */

static void
load_rules(unsigned n)
{
	size_t cap = 256 + (size_t)n * 160, len = 0;
	char *doc = malloc(cap), err[512];
	struct rset s;
	void *d;
	unsigned i;

	len += (size_t)sprintf(doc + len, "{\"version\":1,\"names\":{");
	for (i = 0; i < NCLIENTS; i++)
		len += (size_t)sprintf(doc + len, "%s\"vm%u\":\"10.137.0.%u\"",
		    i ? "," : "", i, 10 + i);
	len += (size_t)sprintf(doc + len, "},\"rules\":[");
	static const char *const acts[] = { "accept", "drop", "reject" };
	ndests = 0;
	for (i = 0; i < n; i++) {
		uint32_t a = 0x01000000u + rnd(0xdf000000u);	/* 1.0.0.0 .. 223.x */
		unsigned kind = rnd(100), plen = 32;
		char from[16], dst[64], ports[48] = "";

		if (port_heavy) {
			/* "block these ports everywhere" lists: no destination,
			 * one exact port each; they all land in one bucket */
			len += (size_t)sprintf(doc + len, "%s{\"from\":\"%s\",\"action\":"
			    "\"%s\",\"proto\":\"%s\",\"dstports\":\"%u\"}", i ? "," : "",
			    rnd(4) ? "*" : "vm1", acts[1 + rnd(2)], rnd(4) ? "tcp" : "udp",
			    1024 + rnd(60000));
			continue;
		}
		if (i % (n / 4 + 1) == n / 8) {
			/* a few wildcards: every flow is a candidate */
			len += (size_t)sprintf(doc + len, "%s{\"from\":\"*\",\"action\":"
			    "\"reject\",\"proto\":\"tcp\",\"dstports\":\"%u\"}",
			    i ? "," : "", 25 + rnd(3) * 1000);
			continue;
		}
		if (rnd(4) == 0)
			snprintf(from, sizeof from, "*");
		else
			snprintf(from, sizeof from, "vm%u", rnd(NCLIENTS));
		if (kind < 60)
			plen = 32;
		else if (kind < 85)
			plen = 24;
		else if (kind < 95)
			plen = 16;
		else
			plen = 28;
		a &= plen == 32 ? 0xffffffffu : ~((1u << (32 - plen)) - 1);
		if (ndests < sizeof dests / sizeof dests[0])
			dests[ndests++] = a | (plen == 32 ? 0 : rnd(1u << (32 - plen)));
		snprintf(dst, sizeof dst, "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 255,
		    (a >> 8) & 255, a & 255, plen);
		if (rnd(3) != 0) {
			unsigned lo = rnd(3) ? 443 : 1 + rnd(60000);

			snprintf(ports, sizeof ports, ",\"proto\":\"%s\",\"dstports\":"
			    "\"%u-%u\"", rnd(4) ? "tcp" : "udp", lo, lo + rnd(3) * rnd(50));
		}
		len += (size_t)sprintf(doc + len, "%s{\"from\":\"%s\",\"action\":\"%s\","
		    "\"dst4\":\"%s\"%s}", i ? "," : "", from, acts[rnd(3)], dst, ports);
	}
	len += (size_t)sprintf(doc + len, "]}");
	if (jrules_load(doc, len, &s, &d, err, sizeof err) < 0) {
		fprintf(stderr, "bench_policy: rules refused: %s\n", err);
		exit(1);
	}
	engine_set_json(&eng, &s, d);
	free(doc);
}

static void
setup_clients(void)
{
	static const char *const qr[] = {
		"action=accept specialtarget=dns",
		"action=drop dst4=192.168.0.0/16",
		"action=accept proto=tcp dstports=443-443",
		"action=accept proto=tcp dstports=80-80",
		"action=drop proto=udp dstports=137-139",
		"action=accept proto=icmp",
	};
	struct qrule r[6];
	uint32_t keys[6];
	unsigned i, k;
	char err[128];

	for (k = 0; k < 6; k++) {
		keys[k] = k;
		if (qrule_parse(qr[k], strlen(qr[k]), &r[k], err, sizeof err) < 0)
			exit(1);
	}
	for (i = 0; i < NCLIENTS; i++) {
		struct msg_link l = { .port = (uint16_t)(1 + i), .up = 1,
		    .kind = LINK_CLIENT, .ip4 = htonl(0x0a890000u + 10 + i) };

		engine_link(&eng, &l);
		engine_qset_install(&eng, 4, (const uint8_t *)&l.ip4, QR_ACCEPT,
		    r, keys, 6, NULL);
	}
}

static void
make_flow(struct flow_req *q, uint32_t seq)
{
	uint32_t c = rnd(NCLIENTS), src = htonl(0x0a890000u + 10 + c), dst;
	static const uint16_t ports[] = { 443, 443, 443, 80, 53, 22, 25, 8080 };

	memset(q, 0, sizeof *q);
	q->seq = seq;
	q->port = (uint16_t)(1 + c);
	q->family = 4;
	q->proto = rnd(5) ? IPPROTO_TCP : IPPROTO_UDP;
	if (rnd(10) < 3 && ndests > 0)
		dst = htonl(dests[rnd(ndests)]);
	else
		dst = htonl(0x01000000u + rnd(0xdf000000u));
	memcpy(q->src, &src, 4);
	memcpy(q->dst, &dst, 4);
	q->sport = (uint16_t)(32768 + rnd(28000));
	q->dport = port_heavy && rnd(2) ? (uint16_t)(1024 + rnd(60000)) :
	    ports[rnd(8)];
}

static void
child(struct mq_end *req, struct mq_end *ver)
{
	pf.eng = &eng;
	pf.req = req;
	pf.ver = ver;
	for (;;) {
		if (pd_flows_step(&pf, 1000, 1800000000) > 0 || pf.nout > 0)
			continue;
		if (mq_prepare_sleep(req)) {
			struct pollfd p = { .fd = req->efd, .events = POLLIN };

			poll(&p, 1, 100);
			mq_wake_done(req);
		}
	}
}

/* The evaluation alone, in this process: what the index costs per flow,
 * without the rings and the scheduler (which dominate on a busy machine). */
static double
eval_only(void)
{
	static struct flow_req q[4096];
	struct flow_verdict v;
	unsigned i, k;
	double t0;

	for (i = 0; i < 4096; i++)
		make_flow(&q[i], i);
	t0 = tu_now_s();
	for (k = 0; k < 250; k++)
		for (i = 0; i < 4096; i++)
			engine_decide(&eng, &q[i], 1000, 1800000000, 0, &v);
	return 4096.0 * 250 / (tu_now_s() - t0);
}

static double
run(unsigned nrules, double *accepted, double *evalrate)
{
	size_t r0 = mq_ring_bytes(NSLOTS, sizeof(struct flow_req));
	size_t r1 = mq_ring_bytes(NSLOTS, sizeof(struct flow_verdict));
	uint8_t *mem = mmap(NULL, r0 + r1, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int efd_req = eventfd(0, EFD_NONBLOCK), efd_ver = eventfd(0, EFD_NONBLOCK);
	struct mq_end preq, pver, creq, cver;
	struct flow_req burst[BURST];
	struct flow_verdict vs[256];
	uint32_t sent = 0, got = 0, nacc = 0;
	double t0, t1;
	pid_t pid;

	if (mem == MAP_FAILED || efd_req < 0 || efd_ver < 0 ||
	    mq_ring_format(mem, r0, NSLOTS, sizeof(struct flow_req)) < 0 ||
	    mq_ring_format(mem + r0, r1, NSLOTS, sizeof(struct flow_verdict)) < 0) {
		perror("bench_policy: setup");
		exit(1);
	}
	load_rules(nrules);
	*evalrate = eval_only();
	if ((pid = fork()) == 0) {
		if (mq_attach(&creq, mem, r0, NSLOTS, sizeof(struct flow_req),
		    MQ_CONSUMER, efd_req) < 0 ||
		    mq_attach(&cver, mem + r0, r1, NSLOTS,
		    sizeof(struct flow_verdict), MQ_PRODUCER, efd_ver) < 0)
			_exit(1);
		child(&creq, &cver);
	}
	if (mq_attach(&preq, mem, r0, NSLOTS, sizeof(struct flow_req),
	    MQ_PRODUCER, efd_req) < 0 ||
	    mq_attach(&pver, mem + r0, r1, NSLOTS, sizeof(struct flow_verdict),
	    MQ_CONSUMER, efd_ver) < 0)
		exit(1);
	t0 = tu_now_s();
	while (got < NFLOWS) {
		unsigned n, i;

		if (sent < NFLOWS && sent - got + BURST <= WINDOW) {
			for (i = 0; i < BURST; i++)
				make_flow(&burst[i], sent + i);
			/* the window is smaller than the ring: always fits */
			if (mq_enqueue_burst(&preq, burst, BURST) != BURST) {
				fprintf(stderr, "bench_policy: request ring full\n");
				exit(1);
			}
			sent += BURST;
			mq_kick(&preq);
		}
		n = mq_dequeue_burst(&pver, vs, 256);
		for (i = 0; i < n; i++) {
			if (vs[i].seq != got + i) {
				fprintf(stderr, "bench_policy: verdict %u for %u\n",
				    vs[i].seq, got + i);
				exit(1);
			}
			nacc += vs[i].action == VERDICT_ACCEPT;
		}
		got += n;
	}
	t1 = tu_now_s();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	munmap(mem, r0 + r1);
	close(efd_req);
	close(efd_ver);
	*accepted = 100.0 * nacc / got;
	return got / (t1 - t0);
}

/* ---- wildcard name rules: the cost of a learned-name lookup ---- */

/*
 * Rules where a wildcard comes first (so that every TCP flow looks the
 * client's learned names up), or the same rules without it; clients that
 * learned nlearn (name, address) pairs each, all under example.org; flows
 * of which 30% go to an address their client learned. with_rule 1: the
 * wildcard is a drop for another domain, so that it never matches and
 * every verdict takes the same path as without it (the lookup's cost
 * alone); 2: it accepts *.example.org (30% of the flows accepted by it).
 * The evaluation alone, as eval_only.
 */
static double
names_eval(int with_rule, unsigned nlearn)
{
	static struct flow_req q[4096];
	char doc[512], err[256];
	struct flow_verdict v;
	struct rset rs;
	void *d;
	unsigned i, k;
	double t0;

	snprintf(doc, sizeof doc, "{\"version\":1,\"rules\":[%s"
	    "{\"from\":\"*\",\"action\":\"reject\",\"proto\":\"tcp\",\"dstports\":\"25\"},"
	    "{\"from\":\"*\",\"action\":\"drop\",\"dst4\":\"192.0.2.0/24\"},"
	    "{\"from\":\"*\",\"action\":\"drop\",\"proto\":\"udp\",\"dstports\":\"137-139\"}]}",
	    with_rule == 1 ? "{\"from\":\"*\",\"action\":\"drop\",\"proto\":\"tcp\","
	    "\"dsthost\":\"*.ads.example.net\"}," : with_rule == 2 ?
	    "{\"from\":\"*\",\"action\":\"accept\",\"proto\":\"tcp\","
	    "\"dsthost\":\"*.example.org\"}," : "");
	if (jrules_load(doc, strlen(doc), &rs, &d, err, sizeof err) == -1) {
		fprintf(stderr, "bench_policy: %s\n", err);
		exit(1);
	}
	engine_set_json(&eng, &rs, d);
	for (i = 0; i < NCLIENTS; i++) {
		nt_forget(eng.names, (uint16_t)(1 + i));
		for (k = 0; k < nlearn; k++) {
			char name[64];
			uint32_t a = htonl(0x64400000u | i << 12 | k);

			snprintf(name, sizeof name, "h%u.cdn%u.example.org", k, k % 7);
			nt_add(eng.names, (uint16_t)(1 + i), name, 4,
			    (const uint8_t *)&a, 3600, 1000);
		}
	}
	for (i = 0; i < 4096; i++) {
		make_flow(&q[i], i);
		q[i].proto = IPPROTO_TCP;
		if (nlearn > 0 && rnd(10) < 3) {
			uint32_t a = htonl(0x64400000u | (uint32_t)(q[i].port - 1) << 12 |
			    rnd(nlearn));

			memcpy(q[i].dst, &a, 4);
		}
	}
	t0 = tu_now_s();
	for (k = 0; k < 250; k++)
		for (i = 0; i < 4096; i++)
			engine_decide(&eng, &q[i], 1000, 1800000000, 0, &v);
	return 4096.0 * 250 / (tu_now_s() - t0);
}

static void
bench_names(void)
{
#define NNROWS	7
#define NREPEAT	9
	static const struct { int rule; unsigned nlearn; } rows[NNROWS] = {
		{ 0, 0 }, { 0, NT_QUOTA }, { 1, 0 }, { 1, 16 }, { 1, 128 },
		{ 1, NT_QUOTA }, { 2, NT_QUOTA },
	};
	static const char *const what[] = { "3 rules (no wildcard)",
	    "wildcard drop + 3", "wildcard accept + 3" };
	double best[NNROWS] = { 0 }, r;
	unsigned i, k;

	for (k = 0; k < NREPEAT; k++)
		for (i = 0; i < NNROWS; i++)
			if ((r = names_eval(rows[i].rule, rows[i].nlearn)) > best[i])
				best[i] = r;
	printf("\nwildcard name rule first (drop \"*.ads.example.net\": never "
	    "matches, every TCP\nflow looks its client's learned names up; "
	    "accept \"*.example.org\": matches\nthe learned names), TCP flows, "
	    "30%% to an address the client learned,\n%d clients; evaluation alone, "
	    "best of %d interleaved rounds:\n", NCLIENTS, NREPEAT);
	printf("%-22s %14s %14s %9s\n", "rules", "learned/client",
	    "eval flows/s", "slower");
	for (i = 0; i < NNROWS; i++)
		printf("%-22s %14u %14.0f %8.2fx\n", what[rows[i].rule],
		    rows[i].nlearn, best[i], best[0] / best[i]);
}

int
main(int argc, char **argv)
{
#define NROWS	4	/* 10, 1,000, 10,000 rules, then 10,000 port rules */
	static const unsigned sizes[NROWS] = { 10, 1000, 10000, 10000 };
	double best[NROWS] = { 0 }, ebest[NROWS] = { 0 }, accp[NROWS], acc, ev, r;
	unsigned i, k;

	log_init("bench_policy", LOG_LVL_ERROR);
	dnsc_init(&dns);
	engine_init(&eng, &dns);
	setup_clients();
	/* "bench_policy names": the name rule rows only */
	if (argc > 1 && strcmp(argv[1], "names") == 0) {
		bench_names();
		return 0;
	}
	printf("round trip natd -> policyd -> natd over rings, two processes;\n"
	    "\"eval\" is the rule evaluation alone in one process. Best of %d\n"
	    "interleaved rounds, so that load from other processes on the\n"
	    "machine does not land on one row only.\n", REPEAT);
	for (k = 0; k < REPEAT; k++)
		for (i = 0; i < NROWS; i++) {
			port_heavy = i == NROWS - 1;
			r = run(port_heavy ? 10000 : sizes[i], &acc, &ev);
			if (r > best[i])
				best[i] = r;
			if (ev > ebest[i])
				ebest[i] = ev;
			accp[i] = acc;
		}
	printf("%9s %10s %12s %9s %14s %9s %9s\n", "rules", "flows", "flows/s",
	    "slower", "eval flows/s", "slower", "accepted");
	for (i = 0; i < NROWS; i++)
		printf("%8u%s %10u %12.0f %8.2fx %14.0f %8.2fx %8.1f%%\n",
		    i == NROWS - 1 ? 10000 : sizes[i], i == NROWS - 1 ? "p" : " ",
		    NFLOWS, best[i], best[0] / best[i], ebest[i], ebest[0] / ebest[i],
		    accp[i]);
	printf("(10000p: 10,000 rules that are all single ports to any "
	    "destination)\n");
	bench_names();
	return 0;
}
