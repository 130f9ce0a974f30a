/*
 * test_policy_daemon.c: policyd as the supervisor and natd see it. The
 * test plays both: it starts the built policyd on a control socketpair
 * (fd 3), hands it real rings, Qubes rules and a start message, then sends
 * flow requests and reads verdicts, answers its DNS queries, calls
 * moat.SetRules/moat.GetRules, and checks that a protocol violation on the
 * control channel makes it exit 1 and that its sandbox kills a forbidden
 * system call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "config.h"
#include "flowreq.h"
#include "log.h"
#include "msg.h"
#include "ring.h"
#include "util.h"

#define NSLOTS	256

static int sock = -1;
static pid_t pid = -1;
static struct mq_end req, ver;
static struct msg m;
static int sandboxed;
static uint32_t last_changed;	/* generation of the last RULES_CHANGED seen */

static int
recv_msg(int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	const char *why = NULL;
	int rc;

	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	rc = msg_recv(sock, &m, PROC_POLICYD, &why);
	if (rc != 1)
		printf("# msg_recv: %d %s\n", rc, why ? why : "");
	return rc == 1;
}

/* Wait for a message of this type, skipping RULES_CHANGED (and others). */
static int
expect(uint32_t type, int timeout_ms)
{
	while (recv_msg(timeout_ms)) {
		if (m.hdr.type == MSG_RULES_CHANGED) {
			struct msg_rules_changed rc;

			if (msg_get(&m, MSG_RULES_CHANGED, &rc, sizeof rc) < 0)
				abort();
			last_changed = rc.generation;
		}
		if (m.hdr.type == type)
			return 1;
		if (m.fd >= 0)
			close(m.fd);
	}
	return 0;
}

static void
send_qrules(const char *addr, const char *policy, int n, const char *const *rules)
{
	struct msg_qrules_begin b = { .family = 4, .count = (uint32_t)n };
	struct msg_qrules_end e = { .family = 4 };
	static struct msg_qrule r;
	int i;

	inet_pton(AF_INET, addr, b.addr);
	memcpy(e.addr, b.addr, 16);
	memcpy(b.policy, policy, strlen(policy) < sizeof b.policy ? strlen(policy) : sizeof b.policy);
	msg_send(sock, MSG_QRULES_BEGIN, 0, &b, sizeof b, -1);
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof r);
		r.key = (uint32_t)atoi(rules[i]);
		r.len = (uint32_t)strlen(rules[i] + 5);
		memcpy(r.text, rules[i] + 5, r.len);
		msg_send(sock, MSG_QRULE, 0, &r, sizeof r, -1);
	}
	msg_send(sock, MSG_QRULES_END, 0, &e, sizeof e, -1);
}

static int
start_policyd_offering(int offer_packets)
{
	const char *bd = getenv("MOAT_BUILDDIR");
	char path[4096];
	size_t r0 = mq_ring_bytes(NSLOTS, sizeof(struct flow_req));
	size_t r1 = mq_ring_bytes(NSLOTS, sizeof(struct flow_verdict));
	struct msg_queues q = { 0 };
	struct msg_eventfd ev;
	struct msg_netconf nc = { 0 };
	struct msg_link l = { 0 };
	struct msg_start st = { 0 };
	int sv[2], mfd, efd_req, efd_ver;
	uint8_t *mem;

	snprintf(path, sizeof path, "%s/policyd/policyd", bd ? bd : ".");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(sv[1], 3);
		execl(path, "policyd", (char *)NULL);
		_exit(99);
	}
	close(sv[1]);
	sock = sv[0];
	/* The flow region as the supervisor makes it: FLOWREQ then VERDICT,
	 * no pool, sealed. */
	q.region = QREGION_FLOWS;
	q.nrings = RING_COUNT;
	q.ring[RING_FLOWREQ].off = 0;
	q.ring[RING_FLOWREQ].nslots = NSLOTS;
	q.ring[RING_FLOWREQ].elemsz = sizeof(struct flow_req);
	q.ring[RING_VERDICT].off = r0;
	q.ring[RING_VERDICT].nslots = NSLOTS;
	q.ring[RING_VERDICT].elemsz = sizeof(struct flow_verdict);
	q.pool_off = r0 + r1;
	q.shm_size = r0 + r1;
	if (offer_packets) {
		/* What the old single memfd gave policyd: the same rings,
		 * and a packet pool (every client's frames) after them. */
		q.region = QREGION_PACKETS;
		q.nbufs = 4;
		q.bufsz = 2048;
		q.pool_off = (r0 + r1 + 4095) & ~(size_t)4095;
		q.shm_size = q.pool_off + 4 * 2048;
	}
	mfd = memfd_create("test-flowreq", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, (off_t)q.shm_size) < 0 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return -1;
	mem = mmap(NULL, q.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (mem == MAP_FAILED ||
	    mq_ring_format(mem, r0, NSLOTS, sizeof(struct flow_req)) < 0 ||
	    mq_ring_format(mem + r0, r1, NSLOTS, sizeof(struct flow_verdict)) < 0)
		return -1;
	efd_req = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	efd_ver = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mq_attach(&req, mem, r0, NSLOTS, sizeof(struct flow_req),
	    MQ_PRODUCER, efd_req) < 0 ||
	    mq_attach(&ver, mem + r0, r1, NSLOTS, sizeof(struct flow_verdict),
	    MQ_CONSUMER, efd_ver) < 0)
		return -1;
	msg_send(sock, MSG_QUEUES, 0, &q, sizeof q, mfd);
	close(mfd);
	ev.ring = RING_FLOWREQ;
	ev.role = MQ_CONSUMER;
	msg_send(sock, MSG_EVENTFD, 0, &ev, sizeof ev, efd_req);
	ev.ring = RING_VERDICT;
	ev.role = MQ_PRODUCER;
	msg_send(sock, MSG_EVENTFD, 0, &ev, sizeof ev, efd_ver);
	inet_pton(AF_INET, "10.139.1.1", &nc.netvm_dns[0]);
	inet_pton(AF_INET, "192.168.1.1", &nc.dns[0]);
	msg_send(sock, MSG_NETCONF, 0, &nc, sizeof nc, -1);
	l.port = 1;
	l.up = 1;
	l.kind = LINK_CLIENT;
	inet_pton(AF_INET, "10.137.0.5", &l.ip4);
	strcpy(l.name, "eth1");
	msg_send(sock, MSG_LINK, 0, &l, sizeof l, -1);
	{
		static struct msg_clients mc;

		mc.count = 2;
		inet_pton(AF_INET, "10.137.0.5", &mc.c[0].ip);
		inet_pton(AF_INET, "10.137.0.9", &mc.c[1].ip);
		mc.c[0].flags = mc.c[1].flags = CLIENT_F_CONNECTED;
		msg_send(sock, MSG_CLIENTS, 0, &mc, 8 + 16 * mc.count, -1);
	}
	{
		static const char *const rules[] = {
			"0000=action=accept proto=tcp dstports=443-443",
			"0003=action=accept dsthost=example.com",
			"0001=action=accept specialtarget=dns",
		};

		send_qrules("10.137.0.5", "drop", 3, rules);
	}
	msg_send(sock, MSG_START, 0, &st, sizeof st, -1);
	if (!expect(MSG_READY, 5000))
		return -1;
	{
		struct msg_ready r;

		if (msg_get(&m, MSG_READY, &r, sizeof r) < 0)
			abort();
		sandboxed = (int)r.sandbox;
		if ((pid_t)r.pid != pid)
			return -1;
	}
	return 0;
}

static int
start_policyd(void)
{
	return start_policyd_offering(0);
}

/* Send one flow and wait for its verdict, answering DNS queries with
 * addr (NULL: failure). Returns the verdict, action 0 on timeout. */
static struct flow_verdict
decide(uint32_t seq, const char *dst, int proto, int dport, const char *dnsaddr)
{
	struct flow_req q = { .seq = seq, .port = 1, .family = 4,
	    .proto = (uint8_t)proto, .sport = 40000, .dport = (uint16_t)dport };
	struct flow_verdict v = { 0 };
	int i;

	inet_pton(AF_INET, "10.137.0.5", q.src);
	inet_pton(AF_INET, dst, q.dst);
	mq_enqueue_burst(&req, &q, 1);
	mq_kick(&req);
	for (i = 0; i < 500; i++) {
		if (mq_dequeue_burst(&ver, &v, 1) == 1)
			return v;
		if (recv_msg(10) && m.hdr.type == MSG_DNS_QUERY) {
			struct msg_dns_query dq;
			struct msg_dns_answer a = { 0 };

			if (msg_get(&m, MSG_DNS_QUERY, &dq, sizeof dq) < 0)
				abort();
			a.qid = dq.qid;
			a.qtype = dq.qtype;
			a.ttl = 300;
			if (dnsaddr != NULL && dq.qtype == 1) {
				a.naddr = 1;
				inet_pton(AF_INET, dnsaddr, a.addr[0]);
			} else
				a.status = -1;
			msg_send(sock, MSG_DNS_ANSWER, 0, &a, sizeof a, -1);
		}
	}
	v.action = 0;
	return v;
}

/* Call a service; returns the status, output in out (stdout then stderr). */
static int
call(const char *svc, const char *input, char *out, size_t outsz,
    uint32_t *olen, uint32_t *elen)
{
	struct msg_call c = { .callid = 42 };
	struct msg_call_done d;
	size_t len;
	char *buf;
	int fd = memfd_from("in", input, strlen(input));

	c.in_len = (uint32_t)strlen(input);
	strcpy(c.service, svc);
	strcpy(c.source, "dom0");
	msg_send(sock, MSG_CALL, 7, &c, sizeof c, fd);
	close(fd);
	if (!expect(MSG_CALL_DONE, 5000))
		return -1000;
	if (msg_get(&m, MSG_CALL_DONE, &d, sizeof d) < 0 || d.callid != 42 || m.hdr.id != 7 || m.fd < 0)
		return -1001;
	buf = memfd_read(m.fd, 1 << 20, &len);
	close(m.fd);
	if (buf == NULL || len != (size_t)d.out_len + d.err_len)
		return -1002;
	snprintf(out, outsz, "%s", buf);
	free(buf);
	*olen = d.out_len;
	*elen = d.err_len;
	return d.status;
}

static void
test_start(void)
{
	T_ASSERT(start_policyd() == 0);
}

static void
test_verdicts(void)
{
	struct flow_verdict v;

	T_ASSERT(pid > 0);
	v = decide(1, "1.2.3.4", IPPROTO_TCP, 443, NULL);
	T_EQ_INT(v.action, VERDICT_ACCEPT);
	T_EQ_INT(v.seq, 1);
	T_EQ_INT(v.rule, 0x8000);
	v = decide(2, "10.139.1.1", IPPROTO_UDP, 53, NULL);
	T_EQ_INT(v.action, VERDICT_ACCEPT);
	T_EQ_INT(v.rule, 0x8001);
	/* dsthost: policyd asks natd (here: us) and waits for the answer */
	v = decide(3, "93.184.216.34", IPPROTO_TCP, 80, "93.184.216.34");
	T_EQ_INT(v.action, VERDICT_ACCEPT);
	T_EQ_INT(v.seq, 3);
	T_EQ_INT(v.rule, 0x8003);
	v = decide(4, "93.184.216.35", IPPROTO_TCP, 80, NULL);
	T_EQ_INT(v.action, VERDICT_REJECT);	/* policy drop rejects */
	T_EQ_INT(v.rule, 0xfffe);
	/* 10.137.0.9 is a connected client (MSG_CLIENTS): the JSON rules
	 * alone govern traffic between clients, and none accepts it: the
	 * default drop, not the Qubes tcp/443 accept or policy */
	v = decide(5, "10.137.0.9", IPPROTO_TCP, 443, NULL);
	T_EQ_INT(v.action, VERDICT_DROP);
	T_EQ_INT(v.rule, 0xffff);
}

/* While the supervisor fetches the stored rules (MSG_RULES_HOLD), no flow
 * is decided; rules set meanwhile decide it once the hold ends. */
static void
test_hold(void)
{
	struct msg_rules_hold h = { .hold = 1 };
	struct flow_req q = { .seq = 30, .port = 1, .family = 4,
	    .proto = IPPROTO_TCP, .sport = 40000, .dport = 444 };
	struct flow_verdict v;
	const char *doc = "{\"version\":1,\"rules\":[{\"from\":\"*\","
	    "\"action\":\"drop\",\"proto\":\"tcp\",\"dstports\":\"444\"}]}";
	char out[512];
	uint32_t ol, el;
	int i, got = 0;

	T_ASSERT(pid > 0);
	T_EQ_INT(msg_send(sock, MSG_RULES_HOLD, 0, &h, sizeof h, -1), 0);
	inet_pton(AF_INET, "10.137.0.5", q.src);
	inet_pton(AF_INET, "1.2.3.4", q.dst);
	mq_enqueue_burst(&req, &q, 1);
	mq_kick(&req);
	for (i = 0; i < 30 && !got; i++) {
		got = mq_dequeue_burst(&ver, &v, 1) == 1;
		(void)recv_msg(10);
	}
	T_EQ_INT(got, 0);
	/* a SetRules call is still served while held */
	T_EQ_INT(call("moat.SetRules", doc, out, sizeof out, &ol, &el), 0);
	h.hold = 0;
	T_EQ_INT(msg_send(sock, MSG_RULES_HOLD, 0, &h, sizeof h, -1), 0);
	for (i = 0; i < 300 && !got; i++) {
		got = mq_dequeue_burst(&ver, &v, 1) == 1;
		if (!got)
			(void)recv_msg(10);
	}
	T_EQ_INT(got, 1);
	T_EQ_INT(v.seq, 30);
	T_EQ_INT(v.action, VERDICT_DROP);	/* by the rules set while held */
	T_EQ_INT(v.rule, 0);
	/* back to no JSON rules for the tests after this one */
	T_EQ_INT(call("moat.SetRules", "{\"version\":1,\"rules\":[]}", out,
	    sizeof out, &ol, &el), 0);
}

static void
test_services(void)
{
	char out[8192];
	uint32_t ol, el;
	struct flow_verdict v, before;
	const char *good = "{\"version\":1,\"names\":{\"work\":\"10.137.0.5\"},"
	    "\"rules\":[{\"from\":\"work\",\"action\":\"reject\",\"proto\":\"tcp\","
	    "\"dstports\":\"443\",\"comment\":\"no https\"}]}";

	T_ASSERT(pid > 0);
	before = decide(10, "1.2.3.4", IPPROTO_TCP, 443, NULL);
	/* refused: non-zero status, the reason on stderr, nothing changes */
	T_EQ_INT(call("moat.SetRules", "{\"version\":1,\"rules\":[{\"from\":\"*\","
	    "\"action\":\"accept\",\"dstports\":\"22\"}]}", out, sizeof out, &ol, &el), 1);
	T_EQ_INT(ol, 0);
	T_EXPECT(strcmp(out, "moat.SetRules: rule 0: \"dstports\": needs \"proto\": \"tcp\" or \"udp\"\n") == 0);
	v = decide(11, "1.2.3.4", IPPROTO_TCP, 443, NULL);
	T_EQ_INT(v.action, VERDICT_ACCEPT);
	T_EQ_INT(v.generation, before.generation);
	/* accepted: status 0, natd told to re-check, new verdicts */
	T_EQ_INT(call("moat.SetRules", good, out, sizeof out, &ol, &el), 0);
	T_EQ_INT(el, 0);
	T_EXPECT(strstr(out, "1 rules in force") != NULL);
	/* CALL_DONE first, then RULES_CHANGED */
	T_ASSERT(expect(MSG_RULES_CHANGED, 2000));
	T_EXPECT(last_changed > before.generation);
	v = decide(12, "1.2.3.4", IPPROTO_TCP, 443, NULL);
	T_EQ_INT(v.action, VERDICT_REJECT);
	T_EQ_INT(v.rule, 0);
	T_EQ_INT(v.generation, last_changed);
	/* GetRules prints what SetRules accepts */
	T_EQ_INT(call("moat.GetRules", "", out, sizeof out, &ol, &el), 0);
	T_EXPECT(strstr(out, "\"comment\": \"no https\"") != NULL);
	T_EQ_INT(call("moat.SetRules", out, out, sizeof out, &ol, &el), 0);
	T_EQ_INT(call("moat.NoSuch", "", out, sizeof out, &ol, &el), 127);
}

static void
test_recheck_and_new_qubes_rules(void)
{
	static const char *const rules[] = { "0000=action=drop proto=tcp" };
	uint32_t g = last_changed;
	struct flow_req q = { .seq = 20, .port = 1, .family = 4,
	    .proto = IPPROTO_UDP, .dport = 5000, .flags = FREQ_RECHECK };
	struct flow_verdict v;
	int i;

	T_ASSERT(pid > 0);
	send_qrules("10.137.0.5", "accept", 1, rules);
	T_ASSERT(expect(MSG_RULES_CHANGED, 2000));
	T_EXPECT(last_changed > g);
	inet_pton(AF_INET, "10.137.0.5", q.src);
	inet_pton(AF_INET, "8.8.4.4", q.dst);
	mq_enqueue_burst(&req, &q, 1);
	mq_kick(&req);
	for (i = 0; i < 200 && mq_dequeue_burst(&ver, &v, 1) == 0; i++)
		usleep(10000);
	T_ASSERT(i < 200);
	T_EQ_INT(v.seq, 20);
	T_EQ_INT(v.action, VERDICT_ACCEPT);
	v = decide(21, "8.8.4.4", IPPROTO_TCP, 80, NULL);
	T_EQ_INT(v.action, VERDICT_REJECT);
	T_EQ_INT(v.rule, 0x8000);
}

/* An expiring JSON rule stops applying on time, and natd is told. */
static void
test_expire_tells_natd(void)
{
	char doc[256], out[1024];
	uint32_t ol, el, g;
	struct flow_verdict v;

	T_ASSERT(pid > 0);
	snprintf(doc, sizeof doc, "{\"version\":1,\"rules\":[{\"from\":\"*\","
	    "\"action\":\"drop\",\"proto\":\"udp\",\"dstports\":\"5001\","
	    "\"expire\":%lld}]}", (long long)time(NULL) + 2);
	T_EQ_INT(call("moat.SetRules", doc, out, sizeof out, &ol, &el), 0);
	T_ASSERT(expect(MSG_RULES_CHANGED, 2000));
	g = last_changed;
	v = decide(30, "8.8.4.4", IPPROTO_UDP, 5001, NULL);
	T_EQ_INT(v.action, VERDICT_DROP);
	T_ASSERT(expect(MSG_RULES_CHANGED, 4000));
	T_EXPECT(last_changed > g);
	v = decide(31, "8.8.4.4", IPPROTO_UDP, 5001, NULL);
	T_EQ_INT(v.action, VERDICT_ACCEPT);
	T_EQ_INT(v.generation, last_changed);
}

static int
wait_exit(int *status)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		usleep(10000);
	}
	return -1;
}

static void
test_protocol_violation_is_fatal(void)
{
	struct msg_ready r = { 0 };
	int status;

	T_ASSERT(pid > 0);
	/* READY is a daemon's message, never the supervisor's */
	T_ASSERT(msg_send(sock, MSG_READY, 0, &r, sizeof r, -1) == 0);
	T_ASSERT(wait_exit(&status) == 0);
	T_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	close(sock);
	pid = -1;
}

static void
test_sandbox_kills_forbidden_call(void)
{
#ifdef MOAT_TEST_HOOKS
	struct msg_test_syscall t = { .what = 1 };
	int status;

	T_ASSERT(start_policyd() == 0);
	if (!sandboxed) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		t_skip("sandbox", "built without seccomp");
		return;
	}
	msg_send(sock, MSG_TEST_SYSCALL, 0, &t, sizeof t, -1);
	T_ASSERT(wait_exit(&status) == 0);
	T_EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
	close(sock);
#endif
}

/*
 * policyd holds no packet memory: offered its rings in a memfd that also
 * holds a packet pool (the old single memfd), it refuses the memory and
 * exits before it ever starts.
 */
static void
test_refuses_packet_memory(void)
{
	int status;

	T_ASSERT(start_policyd_offering(1) == -1);
	T_ASSERT(wait_exit(&status) == 0);
	T_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	close(sock);
	pid = -1;
}

/*
 * natd (here: us) claims on FLOWREQ more requests than the ring holds:
 * policyd exits with the status that tells the supervisor which ring
 * broke, so that natd is restarted with it (ring.h, daemons.c).
 */
static void
test_broken_flowreq_is_reported(void)
{
	uint64_t one = 1;
	int status;

	T_ASSERT(start_policyd() == 0);
	__atomic_store_n(&req.hdr->prod, req.mine + NSLOTS + 1, __ATOMIC_RELEASE);
	T_ASSERT(write(req.efd, &one, sizeof one) == sizeof one);
	T_ASSERT(wait_exit(&status) == 0);
	T_EXPECT(WIFEXITED(status));
	T_EQ_INT(WEXITSTATUS(status), EXIT_RING_BROKEN + RING_FLOWREQ);
	close(sock);
	pid = -1;
}

/* The same on VERDICT, where policyd is the producer: natd (us) claims to
 * have consumed verdicts never produced; policyd sees it at its next
 * verdict. */
static void
test_broken_verdict_is_reported(void)
{
	int status;

	T_ASSERT(start_policyd() == 0);
	/* the ring is empty: any cons but the producer's own index is a lie */
	__atomic_store_n(&ver.hdr->cons, ver.mine + NSLOTS + 1, __ATOMIC_RELEASE);
	/* Fill the ring with requests so policyd must look at cons to
	 * find room for its verdicts. */
	for (uint32_t i = 0; i < NSLOTS; i++) {
		struct flow_req q = { .seq = 100 + i, .port = 1, .family = 4,
		    .proto = IPPROTO_TCP, .sport = 40000, .dport = 443 };

		inet_pton(AF_INET, "10.137.0.5", q.src);
		inet_pton(AF_INET, "1.2.3.4", q.dst);
		mq_enqueue_burst(&req, &q, 1);
	}
	mq_kick(&req);
	T_ASSERT(wait_exit(&status) == 0);
	T_EXPECT(WIFEXITED(status));
	T_EQ_INT(WEXITSTATUS(status), EXIT_RING_BROKEN + RING_VERDICT);
	close(sock);
	pid = -1;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		t_skip("policyd daemon", "needs root (sandbox)");
		return t_done();
	}
	T_RUN(test_start);
	T_RUN(test_verdicts);
	T_RUN(test_hold);
	T_RUN(test_services);
	T_RUN(test_recheck_and_new_qubes_rules);
	T_RUN(test_expire_tells_natd);
	T_RUN(test_protocol_violation_is_fatal);
	T_RUN(test_sandbox_kills_forbidden_call);
	T_RUN(test_refuses_packet_memory);
	T_RUN(test_broken_flowreq_is_reported);
	T_RUN(test_broken_verdict_is_reported);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return t_done();
}
