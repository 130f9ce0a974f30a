/*
 * test_natd_rate.c: natd's per-client rate limits (nat_rate.c): the token
 * bucket's arithmetic (refill, burst, debt, no overflow at 10 and 100
 * Gbit/s), and through the engine: each direction limited on its own,
 * another client untouched, a super-frame counted as the packets it
 * becomes, drops counted on the limited client, a limit following the
 * client's address, and lifting it restoring full speed.
 */
#include <stdio.h>

#include "t.h"
#include "natd_testlib.h"

static uint8_t F[70000];

static void
set_limits(struct tl *t, const struct msg_limit *l, uint32_t n)
{
	static struct msg_limits m;

	memset(&m, 0, sizeof m);
	m.count = n;
	if (n > 0)
		memcpy(m.l, l, n * sizeof *l);
	nat_limits(t->e, &m, t->now);
}

static struct msg_limit
lim(uint32_t client, uint64_t up, uint64_t upb, uint64_t down, uint64_t downb)
{
	struct msg_limit l;

	memset(&l, 0, sizeof l);
	l.client4 = client;
	l.up_rate = up;
	l.up_burst = upb;
	l.down_rate = down;
	l.down_burst = downb;
	l.rule = 7;
	return l;
}

static void
test_bucket(void)
{
	struct nat_bucket b;
	uint64_t now = 5000;
	int i, n;

	memset(&b, 0, sizeof b);
	/* 50 Mbit/s = 6,250,000 bytes/s, burst 256 KiB */
	nat_bucket_set(&b, 6250000, 262144, now);
	T_EQ_INT(b.tokens, 262144000);
	/* frames pass while there are tokens; the last may go into debt */
	for (n = 0; nat_bucket_take(&b, now, 1500); n++)
		;
	T_EQ_INT(n, 175);		/* ceil(262144 / 1500) */
	T_EQ_INT(b.tokens, (262144 - 175 * 1500) * 1000);
	/* 1 ms brings exactly 6250 bytes: debt paid, then 4 frames */
	now++;
	for (n = 0; nat_bucket_take(&b, now, 1500); n++)
		;
	T_EQ_INT(n, 4);
	/* a long idle fills the bucket to its burst, not beyond */
	now += 3600 * 1000;
	T_ASSERT(nat_bucket_take(&b, now, 0));
	T_EQ_INT(b.tokens, 262144000);
	/* over a second the rate holds to the byte: a second's worth of
	 * 1500-byte frames at 1 ms steps, after the burst is spent */
	for (; nat_bucket_take(&b, now, 1500);)
		;
	n = 0;
	for (i = 0; i < 1000; i++) {
		now++;
		while (nat_bucket_take(&b, now, 1500))
			n++;
	}
	/* 6,250,000 bytes less the debt it started with, to a packet */
	T_EXPECT(n == 4166 || n == 4167);
	/* a clock that goes back refills nothing */
	{
		int64_t k = b.tokens;

		T_EXPECT(!nat_bucket_take(&b, now - 10, 1500));
		T_EQ_INT(b.tokens, k);
	}

	/* 10 Gbit/s and 100 Gbit/s with the largest burst, and a refill
	 * after any idle time: no overflow, the bucket just full */
	nat_bucket_set(&b, 1250000000, 64ull << 20, 0);
	T_ASSERT(nat_bucket_take(&b, 0, 64ull << 20));
	T_EQ_INT(b.tokens, 0);
	T_ASSERT(nat_bucket_take(&b, UINT64_MAX / 2, 0));
	T_EQ_INT(b.tokens, (int64_t)(64ull << 20) * 1000);
	nat_bucket_set(&b, 12500000000ull, 64ull << 20, 0);
	T_ASSERT(nat_bucket_take(&b, 0, 64ull << 20));
	T_ASSERT(nat_bucket_take(&b, 0, 1));	/* at zero: passes, into debt */
	T_ASSERT(!nat_bucket_take(&b, 0, 1));
	T_ASSERT(nat_bucket_take(&b, 1, 1500));	/* 1 ms: 12.5 MB */
	T_EQ_INT(b.tokens, 12500000000ll - 1000 - 1500000);
	T_ASSERT(nat_bucket_take(&b, 60000 + 1, 0));
	T_EQ_INT(b.tokens, (int64_t)(64ull << 20) * 1000);
	/* the largest frame accounting can produce, at 100 Gbit/s */
	T_ASSERT(nat_bucket_take(&b, 60000 + 1, 65535ull * 120));
	T_EXPECT(b.tokens > 0);
}

/* A UDP flow from c (port) to the remote, accepted; returns the
 * translated source port the remote answers. */
static uint16_t
udp_flow(struct tl *t, uint16_t port, uint32_t cip, const uint8_t *cmac,
    const uint8_t *omac, uint16_t sport)
{
	struct pkt_view v;
	size_t n;
	int k;

	t->ntx = 0;
	t->nfr = 0;
	n = mk_udp(F, cmac, omac, cip, IP_REMOTE, sport, 5001, 10);
	tl_in(t, port, F, n);
	if (t->nfr != 1)
		abort();
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	if ((k = tl_last_sent(t)) < 0 || tl_parse(t, (unsigned)k, &v) != PKT_OK)
		abort();
	t->ntx = 0;
	return v.sport;
}

/* n frames of ip_len IP bytes each way; how many got through */
static unsigned
send_up(struct tl *t, uint16_t port, uint32_t cip, const uint8_t *cmac,
    const uint8_t *omac, uint16_t sport, unsigned n, size_t ip_len)
{
	unsigned i;
	size_t len = mk_udp(F, cmac, omac, cip, IP_REMOTE, sport, 5001,
	    ip_len - 28);

	t->ntx = 0;
	for (i = 0; i < n; i++)
		tl_in(t, port, F, len);
	return tl_nsent(t);
}

static unsigned
send_down(struct tl *t, uint16_t nport, unsigned n, size_t ip_len)
{
	unsigned i;
	size_t len = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 5001, nport,
	    ip_len - 28);

	t->ntx = 0;
	for (i = 0; i < n; i++)
		tl_in(t, 0, F, len);
	return tl_nsent(t);
}

static void
test_directions(void)
{
	struct tl *t = tl_new();
	struct msg_limit l;
	uint16_t p1, p2;

	p1 = udp_flow(t, 1, IP_C1, MAC_V1, MAC_C1, 40000);
	p2 = udp_flow(t, 2, IP_C2, MAC_V2, MAC_C2, 40000);
	/* client 1: up 1 Mbit/s (125,000 bytes/s) burst 4 KiB; down 8 Mbit/s
	 * (1,000,000 bytes/s) burst 10,000 bytes */
	l = lim(IP_C1, 125000, 4096, 1000000, 10000);
	set_limits(t, &l, 1);
	T_EQ_INT(t->e->nlimited, 1);
	/* up: 4096 bytes of burst pass five 1000-byte packets (the fifth
	 * into debt), then nothing until the debt is paid */
	T_EQ_INT(send_up(t, 1, IP_C1, MAC_V1, MAC_C1, 40000, 20, 1000), 5);
	T_EQ_INT(tl_drops(t, 1, NAT_R_RATE), 15);
	T_EQ_INT(t->e->bucket[1][NAT_RATE_UP].drops, 15);
	T_EQ_INT(t->e->bucket[1][NAT_RATE_UP].drop_bytes, 15000);
	/* the down direction has its own bucket, untouched by the above:
	 * 10,000 bytes pass eleven (the last at zero tokens) */
	T_EQ_INT(send_down(t, p1, 20, 1000), 11);
	T_EQ_INT(t->e->bucket[1][NAT_RATE_DOWN].drops, 9);
	/* counted on the limited client, not on the uplink it came from */
	T_EQ_INT(tl_drops(t, 1, NAT_R_RATE), 24);
	T_EQ_INT(tl_drops(t, 0, NAT_R_RATE), 0);
	/* client 2 is not limited */
	T_EQ_INT(send_up(t, 2, IP_C2, MAC_V2, MAC_C2, 40000, 20, 1000), 20);
	T_EQ_INT(send_down(t, p2, 20, 1000), 20);
	T_EQ_INT(tl_drops(t, 2, NAT_R_RATE), 0);
	/* 8 ms later: up got 1000 bytes back (its debt was 904), down 8000 */
	t->now += 8;
	T_EQ_INT(send_up(t, 1, IP_C1, MAC_V1, MAC_C1, 40000, 5, 1000), 1);
	T_EQ_INT(send_down(t, p1, 20, 1000), 8);
	/* a second later: a burst again, no more */
	t->now += 1000;
	T_EQ_INT(send_up(t, 1, IP_C1, MAC_V1, MAC_C1, 40000, 20, 1000), 5);
	/* the same table again (any rule change) grants no new burst */
	set_limits(t, &l, 1);
	T_EQ_INT(send_up(t, 1, IP_C1, MAC_V1, MAC_C1, 40000, 20, 1000), 0);
	/* lifted: full speed at once */
	set_limits(t, NULL, 0);
	T_EQ_INT(t->e->nlimited, 0);
	T_EQ_INT(send_up(t, 1, IP_C1, MAC_V1, MAC_C1, 40000, 50, 1000), 50);
	T_EQ_INT(send_down(t, p1, 50, 1000), 50);
	tl_free(t);
}

static void
test_gso_bytes(void)
{
	struct nat_config c;
	struct tl *t;
	struct mq_desc d;
	struct msg_limit l;
	size_t n;
	int64_t before;

	nh_config(&c, 64, 16, 4, 0);
	t = tl_new_cfg(&c, 32, 65536 + 256, NULL, 0, 0, 1);
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 5201, TCP_SYN, 1, 0, 0);
	tl_in(t, 1, F, n);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	l = lim(IP_C1, 6250000, 1 << 20, 0, 0);
	set_limits(t, &l, 1);
	/* 60000 bytes of payload in 1448-byte segments: 42 packets, each
	 * with its 20 + 20 bytes of headers */
	n = mk_tso(F, &d);
	before = t->e->bucket[1][NAT_RATE_UP].tokens;
	t->ntx = 0;
	tl_in_desc(t, 1, F, n, &d);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(before - t->e->bucket[1][NAT_RATE_UP].tokens,
	    (60040 + 41 * 40) * 1000);
	/* a plain segment is its IP length */
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 5201, TCP_ACK, 60002, 1, 1460);
	before = t->e->bucket[1][NAT_RATE_UP].tokens;
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 2);
	T_EQ_INT(before - t->e->bucket[1][NAT_RATE_UP].tokens, 1500 * 1000);
	tl_free(t);
}

static void
test_every_client_and_between(void)
{
	struct tl *t = tl_new();
	struct msg_limit l[2];

	udp_flow(t, 1, IP_C1, MAC_V1, MAC_C1, 40000);
	udp_flow(t, 2, IP_C2, MAC_V2, MAC_C2, 40000);
	/* client 2 its own; "*" for the rest: each client its own bucket */
	l[0] = lim(IP_C2, 125000, 2048, 125000, 2048);
	l[1] = lim(0, 125000, 8192, 0, 0);
	set_limits(t, l, 2);
	T_EQ_INT(t->e->nlimited, 2);
	T_EQ_INT(send_up(t, 1, IP_C1, MAC_V1, MAC_C1, 40000, 20, 1000), 9);
	T_EQ_INT(send_up(t, 2, IP_C2, MAC_V2, MAC_C2, 40000, 20, 1000), 3);
	/* the limit follows the address: port 1 given another client's
	 * address has no limit of its own... */
	tl_link(t, 1, 1, A("10.137.0.77"), MAC_C1, MAC_V1);
	T_EQ_INT(t->e->bucket[1][NAT_RATE_UP].rate, 125000);	/* "*" still */
	l[1] = lim(IP_C1, 125000, 8192, 0, 0);
	set_limits(t, l, 2);
	T_EQ_INT(t->e->bucket[1][NAT_RATE_UP].rate, 0);
	T_EQ_INT(t->e->nlimited, 1);
	/* ...and back at its own address, its limit comes back */
	tl_link(t, 1, 1, IP_C1, MAC_C1, MAC_V1);
	T_EQ_INT(t->e->bucket[1][NAT_RATE_UP].rate, 125000);
	T_EQ_INT(t->e->nlimited, 2);
	tl_free(t);
}

static void
test_ipv6(void)
{
	static const uint8_t remote[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x80 };
	struct tl *t = tl6();
	struct msg_limit l;
	struct pkt_view v;
	size_t n;
	uint16_t np;
	unsigned i;

	n = mk6(F, MAC_V1, MAC_C1, nh_ip6_c1, remote, IPPROTO_UDP_, 64, 40000,
	    5001, 0, 10);
	tl_in(t, 1, F, n);
	T_ASSERT(t->nfr == 1);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_ASSERT(tl_parse(t, (unsigned)tl_last_sent(t), &v) == PKT_OK);
	np = v.sport;
	/* the client's limit (named by its IPv4 address) covers its IPv6:
	 * 1000-byte packets (40 + 8 + 952) through a 4 KiB burst */
	l = lim(IP_C1, 125000, 4096, 125000, 4096);
	set_limits(t, &l, 1);
	n = mk6(F, MAC_V1, MAC_C1, nh_ip6_c1, remote, IPPROTO_UDP_, 64, 40000,
	    5001, 0, 952);
	t->ntx = 0;
	for (i = 0; i < 20; i++)
		tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 5);
	n = mk6(F, MAC_GW, MAC_UP, remote, nh_ip6_us, IPPROTO_UDP_, 60, 5001,
	    np, 0, 952);
	t->ntx = 0;
	for (i = 0; i < 20; i++)
		tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 5);
	T_EQ_INT(tl_drops(t, 1, NAT_R_RATE), 30);
	tl_free(t);
}

static void
test_bad_entries(void)
{
	struct tl *t = tl_new();
	struct msg_limit l[3];

	/* a rate without a burst, a burst without a rate, a rate past
	 * 100 Gbit/s: natd keeps none of them */
	l[0] = lim(IP_C1, 125000, 0, 0, 0);
	l[1] = lim(IP_C1, 0, 0, 0, 4096);
	l[2] = lim(IP_C2, 12500000001ull, 4096, 0, 0);
	set_limits(t, l, 3);
	T_EQ_INT(t->e->nlim, 0);
	T_EQ_INT(t->e->nlimited, 0);
	tl_free(t);
}

int
main(void)
{
	t_run("bucket: refill, burst, debt, exact rate, 10/100 Gbit/s", test_bucket);
	t_run("engine: up and down limited apart, others untouched, lifted", test_directions);
	t_run("engine: a GSO super-frame counts as its packets", test_gso_bytes);
	t_run("engine: \"*\" gives each client a bucket; limits follow addresses", test_every_client_and_between);
	t_run("engine: IPv6 limited as the client's IPv4", test_ipv6);
	t_run("engine: malformed entries are ignored", test_bad_entries);
	return t_done();
}
