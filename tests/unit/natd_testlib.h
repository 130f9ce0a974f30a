/*
 * natd_testlib.h: a natd engine wired to arrays instead of rings, and
 * builders for the frames tests send into it. Header-only (static
 * functions) so each test program includes it once; the set-up it shares
 * with the fuzz targets and the benchmark is tests/natd_harness.c.
 */
#ifndef NATD_TESTLIB_H
#define NATD_TESTLIB_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "natd/nat.h"
#include "pkt.h"
#include "ring.h"
#include "tests/natd_harness.h"
#include "tests/testutil.h"

#define TL_MAXOUT	2048

struct tl {
	struct nat_engine	*e;
	struct mq_pool		 pool;
	uint8_t			*mem;
	uint32_t		 next_buf;
	uint64_t		 now;
	/* captured output */
	struct mq_desc		 tx[TL_MAXOUT];
	unsigned		 ntx;
	struct flow_req		 fr[TL_MAXOUT];
	unsigned		 nfr;
	int			 fr_full;
	struct msg_dns_answer	 dns[16];
	unsigned		 ndns;
};

#define MAC_UP		nh_mac_up	/* ours, uplink */
#define MAC_C1		nh_mac_c1	/* ours, port 1 */
#define MAC_C2		nh_mac_c2	/* ours, port 2 */
#define MAC_GW		nh_mac_gw	/* NetVM */
#define MAC_V1		nh_mac_v1	/* client 1 */
#define MAC_V2		nh_mac_v2	/* client 2 */

static inline uint32_t
A(const char *s)
{
	uint32_t a = 0;

	ip4_parse(s, &a);
	return a;
}

#define IP_US		NH_IP_US		/* /qubes-ip */
#define IP_GW		NH_IP_GW		/* /qubes-gateway */
#define IP_VGW		NH_IP_VGW		/* /qubes-netvm-gateway */
#define IP_C1		NH_IP_C1
#define IP_C2		NH_IP_C2
#define IP_REMOTE	A("93.184.216.34")
#define IP_VDNS1	NH_IP_VDNS1
#define IP_VDNS2	NH_IP_VDNS2
#define IP_DNS1		NH_IP_DNS1
#define IP_DNS2		NH_IP_DNS2

static void
tl_tx(void *arg, const struct mq_desc *d)
{
	struct tl *t = arg;

	if (t->ntx < TL_MAXOUT)
		t->tx[t->ntx++] = *d;
}

static int
tl_fr(void *arg, const struct flow_req *r)
{
	struct tl *t = arg;

	if (t->fr_full || t->nfr >= TL_MAXOUT)
		return -1;
	t->fr[t->nfr++] = *r;
	return 0;
}

static void
tl_dns(void *arg, const struct msg_dns_answer *a)
{
	struct tl *t = arg;

	if (t->ndns < 16)
		t->dns[t->ndns++] = *a;
}

static inline void
tl_link(struct tl *t, uint16_t port, int up, uint32_t ip, const uint8_t *mac,
    const uint8_t *peer)
{
	nh_link(t->e, port, up, ip, mac, peer, t->now);
}

static inline void
tl_netconf(struct tl *t)
{
	nh_netconf(t->e, t->now);
}

static inline void
tl_gift(struct tl *t)
{
	nh_gift(t->e, t->now);
}

/* An engine with an uplink, two clients, and no flow table memfd unless
 * ftmem is given. cfg may be NULL for the defaults (small table). */
static inline struct tl *
tl_new_cfg(const struct nat_config *cfg, uint32_t nbufs, uint32_t bufsz,
    void *ftmem, size_t ftlen, int restart, int learn_gw)
{
	struct tl *t = calloc(1, sizeof(*t));
	struct nat_config c;
	struct nat_io io = { t, tl_tx, tl_fr, tl_dns, NULL };

	if (cfg == NULL) {
		nh_config(&c, 1024, 256, 16, 12345);
		c.secret = 0x5eed5eed5eed5eedull;
	} else
		c = *cfg;
	t->mem = nh_pool_new(&t->pool, nbufs, bufsz);
	t->next_buf = c.own_first + c.own_count;
	t->now = 1000000;
	t->e = nat_new(&c, &t->pool, &io);
	if (t->e == NULL)
		abort();
	if (ftmem != NULL && nat_set_flowtab(t->e, ftmem, ftlen) != 0)
		abort();
	tl_netconf(t);
	tl_link(t, 0, 1, 0, MAC_UP, NULL);
	tl_link(t, 1, 1, IP_C1, MAC_C1, MAC_V1);
	tl_link(t, 2, 1, IP_C2, MAC_C2, MAC_V2);
	if (nat_start(t->e, restart, t->now) != 0)
		abort();
	tl_gift(t);
	if (learn_gw)
		nh_learn_gw(t->e, t->next_buf++, t->now);
	t->ntx = 0;
	return t;
}

static inline struct tl *
tl_new(void)
{
	return tl_new_cfg(NULL, 512, 4096, NULL, 0, 0, 1);
}

static inline void
tl_free(struct tl *t)
{
	nat_free(t->e);
	free(t->mem);
	free(t);
}

/*
 * natd restarting (its flow table outlives it, as the memfd does): a tl
 * whose 1024 flows live in *mem (len bytes; free it after tl_free), and
 * tl_restart: natd dies, its successor finds the table in mem and gets the
 * configuration and the three links again; the caller sends MSG_START.
 * 0, or -1 when the successor could not be made or refused the table.
 */
static inline struct tl *
tl_new_restartable(uint8_t **mem, size_t *len)
{
	*len = natd_flowtab_bytes(1024);
	*mem = calloc(1, *len);
	return tl_new_cfg(NULL, 512, 4096, *mem, *len, 0, 1);
}

static inline int
tl_restart(struct tl *t, uint8_t *mem, size_t len)
{
	struct nat_config c;
	struct nat_io io = { t, tl_tx, tl_fr, tl_dns, NULL };

	nat_free(t->e);
	nh_config(&c, 1024, 256, 16, 999);
	if ((t->e = nat_new(&c, &t->pool, &io)) == NULL ||
	    nat_set_flowtab(t->e, mem, len) != 0)
		return -1;
	tl_netconf(t);
	tl_link(t, 0, 1, 0, MAC_UP, NULL);
	tl_link(t, 1, 1, IP_C1, MAC_C1, MAC_V1);
	tl_link(t, 2, 1, IP_C2, MAC_C2, MAC_V2);
	return 0;
}

/* Send a frame into the engine on port. Returns the buffer index used. */
static inline uint32_t
tl_in_desc(struct tl *t, uint16_t port, const uint8_t *f, size_t len,
    const struct mq_desc *tmpl)
{
	struct mq_desc d;

	if (tmpl != NULL)
		d = *tmpl;
	else
		memset(&d, 0, sizeof(d));
	if (t->next_buf >= t->pool.nbufs)
		t->next_buf = t->e->cfg.own_first + t->e->cfg.own_count;
	d.buf = t->next_buf++;
	d.off = 0;
	d.port = port;
	nh_input(t->e, &d, f, len, t->now);
	return d.buf;
}

static inline uint32_t
tl_in(struct tl *t, uint16_t port, const uint8_t *f, size_t len)
{
	return tl_in_desc(t, port, f, len, NULL);
}

static inline uint8_t *
tl_frame(struct tl *t, unsigned i)
{
	return mq_buf(&t->pool, t->tx[i].buf) + t->tx[i].off;
}

/* The i-th output, parsed; NULL when it is a buffer return. */
static inline int
tl_parse(struct tl *t, unsigned i, struct pkt_view *v)
{
	if (i >= t->ntx || t->tx[i].port == MQ_PORT_DROP)
		return -1;
	return pkt_parse(v, tl_frame(t, i), t->tx[i].len);
}

/* Count of frames sent to real ports (not buffer returns). */
static inline unsigned
tl_nsent(struct tl *t)
{
	unsigned i, n = 0;

	for (i = 0; i < t->ntx; i++)
		if (t->tx[i].port != MQ_PORT_DROP)
			n++;
	return n;
}

static inline int
tl_last_sent(struct tl *t)
{
	int i;

	for (i = (int)t->ntx - 1; i >= 0; i--)
		if (t->tx[i].port != MQ_PORT_DROP)
			return i;
	return -1;
}

static inline void
tl_verdict(struct tl *t, uint32_t seq, uint8_t action)
{
	struct flow_verdict v;

	memset(&v, 0, sizeof(v));
	v.seq = seq;
	v.action = action;
	nat_verdict(t->e, &v, t->now);
}

static inline uint64_t
tl_drops(struct tl *t, uint16_t port, enum nat_reason r)
{
	return t->e->link[port].c.drops[r];
}

/* Nothing went out, and port counted n drops for reason r in all: a macro,
 * so that a failure stops the test as T_EQ_INT does. */
#define TL_DROPPED(t, port, r, n) do { \
	T_EQ_INT(tl_nsent(t), 0); \
	T_EQ_INT(tl_drops(t, port, r), n); \
} while (0)

/* ---- frame builders (checksums computed) ---- */

static inline size_t
mk_ip(uint8_t *f, const uint8_t *smac, const uint8_t *dmac, uint32_t src,
    uint32_t dst, uint8_t proto, uint8_t ttl, uint16_t id, uint16_t frag,
    size_t l4len)
{
	struct eth_hdr *eh = (struct eth_hdr *)f;

	memcpy(eh->dst, dmac, 6);
	memcpy(eh->src, smac, 6);
	eh->type_be = htons(ETHERTYPE_IPV4);
	nh_ip4_hdr(f + 14, src, dst, proto, ttl, id, frag, 0, l4len);
	return 34 + l4len;
}

static inline void
fix_csums(uint8_t *f, size_t len)
{
	struct pkt_view v;

	if (pkt_parse(&v, f, len) != PKT_OK)
		abort();
	pkt_ip4_csum_set(&v);
	if (!v.is_frag)
		pkt_l4_csum_set(&v);
}

static inline size_t
mk_udp(uint8_t *f, const uint8_t *smac, const uint8_t *dmac, uint32_t src,
    uint32_t dst, uint16_t sport, uint16_t dport, size_t paylen)
{
	struct udp_hdr *uh = (struct udp_hdr *)(f + 34);
	size_t n = mk_ip(f, smac, dmac, src, dst, IPPROTO_UDP_, 64, 0x1234, 0,
	    8 + paylen), i;

	uh->sport_be = htons(sport);
	uh->dport_be = htons(dport);
	uh->len_be = htons((uint16_t)(8 + paylen));
	uh->csum = 0;
	for (i = 0; i < paylen; i++)
		f[42 + i] = (uint8_t)(i * 7 + 3);
	fix_csums(f, n);
	return n;
}

static inline size_t
mk_tcp(uint8_t *f, const uint8_t *smac, const uint8_t *dmac, uint32_t src,
    uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags,
    uint32_t seq, uint32_t ack, size_t paylen)
{
	struct tcp_hdr *th = (struct tcp_hdr *)(f + 34);
	size_t n = mk_ip(f, smac, dmac, src, dst, IPPROTO_TCP_, 64, 0x4321,
	    IPV4_DF, 20 + paylen), i;

	memset(th, 0, 20);
	th->sport_be = htons(sport);
	th->dport_be = htons(dport);
	th->seq_be = htonl(seq);
	th->ack_be = htonl(ack);
	th->doff_rsv = 5 << 4;
	th->flags = flags;
	th->win_be = htons(65535);
	for (i = 0; i < paylen; i++)
		f[54 + i] = (uint8_t)(i * 13 + 1);
	fix_csums(f, n);
	return n;
}

/* The 60000-byte TSO super-frame client 1 sends on its flow 40000 ->
 * IP_REMOTE:5201 (ACK, seq 2), with only the pseudo-header's checksum in
 * it, and the descriptor netback gives it: a partial checksum, TCPv4
 * segments of 1448. Returns its length. */
static inline size_t
mk_tso(uint8_t *f, struct mq_desc *d)
{
	struct tcp_hdr *th = (struct tcp_hdr *)(f + 34);
	size_t n = mk_tcp(f, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 5201,
	    TCP_ACK, 2, 1, 60000);

	th->csum = (uint16_t)~csum_fold(csum_pseudo4(IP_C1, IP_REMOTE,
	    IPPROTO_TCP_, (uint32_t)(n - 34)));
	memset(d, 0, sizeof(*d));
	d->flags = MQ_F_NEEDS_CSUM;
	d->csum_start = 34;
	d->csum_offset = 16;
	d->gso_type = MQ_GSO_TCPV4;
	d->gso_size = 1448;
	return n;
}

static inline size_t
mk_echo(uint8_t *f, const uint8_t *smac, const uint8_t *dmac, uint32_t src,
    uint32_t dst, uint8_t type, uint16_t id, uint16_t seq, size_t paylen)
{
	struct icmp_hdr *ih = (struct icmp_hdr *)(f + 34);
	size_t n = mk_ip(f, smac, dmac, src, dst, IPPROTO_ICMP_, 64, 0x777, 0,
	    8 + paylen), i;

	memset(ih, 0, 8);
	ih->type = type;
	ih->u.echo.id_be = htons(id);
	ih->u.echo.seq_be = htons(seq);
	for (i = 0; i < paylen; i++)
		f[42 + i] = (uint8_t)i;
	fix_csums(f, n);
	return n;
}

/* 1 when the IPv4 header and (unfragmented) L4 checksums verify. */
static inline int
csums_ok(const struct pkt_view *v)
{
	if (!pkt_ip4_csum_ok(v))
		return 0;
	if (v->is_frag)
		return 1;
	return pkt_l4_csum_ok(v);
}

/* ---- IPv6 ---- */

/* An engine with IPv6 on the uplink and client 1 (client 2 IPv4 only),
 * and the IPv6 gateway learned when learn is set; fw, when not NULL, the
 * forwards in force from before the start (as the supervisor replays them). */
static inline struct tl *
tl6_cfg(void *ftmem, size_t ftlen, int restart, int learn,
    const struct msg_forwards *fw)
{
	struct tl *t = calloc(1, sizeof(*t));
	struct nat_config c;
	struct nat_io io = { t, tl_tx, tl_fr, tl_dns, NULL };

	/* As tl_new_cfg, with IPv6 configured before the start: a restart
	 * judges the flows it finds against it. */
	nh_config(&c, 1024, 256, 16, 12345);
	c.secret = 0x5eed5eed5eed5eedull;
	t->mem = nh_pool_new(&t->pool, 512, 4096);
	t->next_buf = c.own_first + c.own_count;
	t->now = 1000000;
	if ((t->e = nat_new(&c, &t->pool, &io)) == NULL)
		abort();
	if (ftmem != NULL && nat_set_flowtab(t->e, ftmem, ftlen) != 0)
		abort();
	nh_netconf6(t->e, t->now);
	nh_link6(t->e, 0, 1, 0, NULL, MAC_UP, NULL, t->now);
	nh_link6(t->e, 1, 1, IP_C1, nh_ip6_c1, MAC_C1, MAC_V1, t->now);
	nh_link6(t->e, 2, 1, IP_C2, NULL, MAC_C2, MAC_V2, t->now);
	if (fw != NULL)
		nat_forwards(t->e, fw, t->now);
	if (nat_start(t->e, restart, t->now) != 0)
		abort();
	tl_gift(t);
	nh_learn_gw(t->e, t->next_buf++, t->now);
	if (learn) {
		uint8_t f[128];
		size_t n = pkt_build_nd_na(f, sizeof(f), MAC_GW, MAC_UP,
		    nh_ip6_us, nh_ip6_gw, 1);

		tl_in(t, 0, f, n);
		if (!t->e->gw6_known)
			abort();
	}
	t->ntx = 0;
	return t;
}

static inline struct tl *
tl6(void)
{
	return tl6_cfg(NULL, 0, 0, 1, NULL);
}

/* Ethernet + IPv6 + an L4 header of proto with paylen bytes after it;
 * checksum computed. */
static inline size_t
mk6(uint8_t *f, const uint8_t *smac, const uint8_t *dmac, const uint8_t *src,
    const uint8_t *dst, uint8_t proto, uint8_t hlim, uint16_t sport,
    uint16_t dport, uint8_t flags_or_type, size_t paylen)
{
	struct pkt_view v;
	size_t l4 = proto == IPPROTO_TCP_ ? 20 : 8, n = 54 + l4 + paylen, i;

	tu_eth_ip6(f, n, dmac, smac);
	f[18] = (uint8_t)((l4 + paylen) >> 8);
	f[19] = (uint8_t)(l4 + paylen);
	f[20] = proto;
	f[21] = hlim;
	memcpy(f + 22, src, 16);
	memcpy(f + 38, dst, 16);
	if (proto == IPPROTO_ICMPV6_) {
		f[54] = flags_or_type;
		f[58] = (uint8_t)(sport >> 8);
		f[59] = (uint8_t)sport;
		f[61] = 1;
	} else {
		f[54] = (uint8_t)(sport >> 8);
		f[55] = (uint8_t)sport;
		f[56] = (uint8_t)(dport >> 8);
		f[57] = (uint8_t)dport;
		if (proto == IPPROTO_UDP_) {
			f[58] = (uint8_t)((8 + paylen) >> 8);
			f[59] = (uint8_t)(8 + paylen);
		} else {
			f[58 + 4] = 0;
			f[66] = 5 << 4;
			f[67] = flags_or_type;
			f[68] = 0xff;
		}
	}
	for (i = 0; i < paylen; i++)
		f[54 + l4 + i] = (uint8_t)(i * 5 + 1);
	if (pkt_parse(&v, f, n) != PKT_OK)
		abort();
	pkt_l4_csum_set(&v);
	return n;
}

/* The last frame sent, parsed, on port; NULL-safe checks follow. */
static inline int
last6(struct tl *t, uint16_t port, struct pkt_view *v)
{
	int i = tl_last_sent(t);

	if (i < 0 || t->tx[i].port != port || tl_parse(t, (unsigned)i, v) != PKT_OK)
		return -1;
	return v->l3 == PKT_L3_IPV6 ? 0 : -1;
}

/* An ICMPv6 error from the router quoting the first n bytes of the IP
 * packet in q (as it left moat). */
static inline size_t
mk_err6(uint8_t *f, const uint8_t *src, const uint8_t *dst, uint8_t type,
    uint32_t mtu, const uint8_t *q, size_t qlen)
{
	struct pkt_view v;
	size_t n = 54 + 8 + qlen;

	tu_eth_ip6(f, 62, MAC_UP, MAC_GW);
	f[18] = (uint8_t)((8 + qlen) >> 8);
	f[19] = (uint8_t)(8 + qlen);
	f[20] = IPPROTO_ICMPV6_;
	f[21] = 64;
	memcpy(f + 22, src, 16);
	memcpy(f + 38, dst, 16);
	f[54] = type;
	f[58] = (uint8_t)(mtu >> 24);
	f[59] = (uint8_t)(mtu >> 16);
	f[60] = (uint8_t)(mtu >> 8);
	f[61] = (uint8_t)mtu;
	memcpy(f + 62, q, qlen);
	if (pkt_parse(&v, f, n) != PKT_OK)
		abort();
	pkt_l4_csum_set(&v);
	return n;
}

#endif
