/*
 * fuzz_egress6.c: the egress invariant for IPv6 (issue 14), checked against
 * a small reference model. A companion of fuzz_egress.c (IPv4, JSON rules,
 * DNS), kept apart so that each model stays readable.
 *
 * natd's engine and policyd's are linked without I/O. IPv6 is configured
 * for the uplink and client 1; client 2 has no IPv6 address, so nothing
 * IPv6 may ever reach it or leave from it. Client 1's Qubes rules for its
 * IPv6 address are replaced by events (templates: dst6, proto, dstports);
 * until the first set arrives its IPv6 traffic is refused. Every request
 * natd sends is decided at once by engine_decide, which must agree with the
 * model, and every rule change is announced to natd at once, so after each
 * event natd's flows follow the rules in force.
 *
 * Input: events, an opcode byte (% 8) and its parameter bytes (zeros past
 * the end):
 *   0-1  a client frame: client, kind (TCP, UDP, ICMPv6 echo and reply,
 *        neighbour solicitation, router advertisement), destination, ports,
 *        variant (plain, forged source, link-local source, hop limit 1,
 *        bad checksum, extension headers, routing header with segments
 *        left, first or later fragment, multicast destination)
 *   2    client 1's ICMPv6 error about a reply it received, to the
 *        quoted sender or elsewhere, checksum good or bad
 *   3    the uplink answers a frame natd sent out (or a made-up one)
 *   4    an uplink frame from anyone to anyone
 *   5    an uplink ICMPv6 error quoting a frame natd sent out (or made up)
 *   6    client 1's rules replaced (and natd told)
 *   7    time moves on and natd ticks
 * FUZZ_EGRESS6_VERBOSE=1 prints what each input made natd do.
 * Every frame carries a tag (a neighbour-discovery option shape, so ND
 * parses it) as its last 8 bytes; a frame natd emits is traced back to the
 * event that caused it by the tag at its end, if any.
 *
 * What the model demands of every frame natd hands out:
 *  - client 2 gets nothing IPv6; nothing of client 2 leaves;
 *  - to the uplink, IPv6 comes from /qubes-ip6; a client frame only if it
 *    came from client 1, was not one that must be refused (forged or
 *    link-local source, hop limit 1, source-routed, multicast or link-local
 *    destination), and its flow (protocol, destination, port) is accepted
 *    by the rules in force; client 1's ICMPv6 error only with a good
 *    checksum, to the sender of the packet it quotes, about an accepted
 *    flow, the quote translated to /qubes-ip6; a later fragment only after a first fragment
 *    of an accepted flow with its id; an uplink frame only back to its
 *    sender (echo reply, ICMPv6 error); untagged: moat's own neighbour
 *    discovery, and a bare RST to a host some flow was accepted to;
 *  - to client 1: an uplink frame only as the reply of a flow client 1
 *    opened that the rules accept now, with client 1's address and port
 *    restored, or as an error quoting a packet of such a flow (translated
 *    back); moat's answers to client 1's own frames; untagged: neighbour
 *    advertisements and RSTs;
 *  - inbound forwards (their own section below), a fixed table: from the
 *    uplink to client 1 only to /qubes-ip6 and a port an IPv6 forward to
 *    client 1 takes from that source, translated to the forward's port,
 *    after the connection's first packet; client 1's frames leave through
 *    one only as the reverse of such a flow, from /qubes-ip6 and the
 *    forwarded port; NAT66 never picks a forwarded port; a forward to
 *    client 2 (no IPv6) or an IPv4-only one lets nothing IPv6 in.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "natd/nat.h"
#include "policyd/dnscache.h"
#include "policyd/engine.h"
#include "policyd/policyd.h"
#include "policyd/qrule.h"
#include "tests/natd_harness.h"
#include "fuzz_engine.h"
#include "fuzz_input.h"
#include "tests/testutil.h"

#define NBUFS	128
#define BUFSZ	2048
#define BOFF	32
#define OWN	8
#define MAXREC	512
#define NLOG	16
#define QMAX	256
#define MAXR	3

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Addresses: remote hosts, moat's, the clients'. */
static const uint8_t R0[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t R1[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t R2[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 5 };
static const uint8_t LL[16] = { 0xfe, 0x80, [15] = 9 };
static const uint8_t MC[16] = { 0xff, 0x02, [15] = 1 };
static const uint8_t C2FAKE[16] = { 0xfd, 0x09, [15] = 0x11 };
static const uint8_t *DSTS[8];
/* 8081 and 8083 are forwarded ports (the forwards' section below). */
static const uint16_t PORTS[8] = { 53, 80, 443, 1024, 5000, 40000, 8081, 8083 };
static const uint8_t MAC_GW[6] = { 2, 0, 0, 0, 0, 0xfe };
static const uint8_t MAC_UP[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t MAC_C[3][6] = { { 0 }, { 2, 0, 0, 0, 0, 2 },
	{ 2, 0, 0, 0, 0, 3 } };
static const uint8_t MAC_V[3][6] = { { 0 }, { 2, 0, 0, 0, 0, 0x21 },
	{ 2, 0, 0, 0, 0, 0x22 } };

enum { K_TCP, K_UDP, K_ECHO, K_ECHOREP, K_NS, K_RA, K_NKIND, K_CERR = 99 };
enum { V_PLAIN, V_SPOOF, V_LLSRC, V_HOP1, V_BADSUM, V_EXT, V_RH, V_FRAG1,
	V_FRAG2, V_MCAST, V_NVAR };

struct rec {
	uint16_t	port;		/* where it came in */
	uint8_t		proto, kind, variant, refuse;
	uint8_t		src[16], dst[16];
	uint16_t	sport, dport;	/* ICMPv6 echo: sport is the id */
	uint32_t	fid;
};

/* Client 1's IPv6 rules as the model reads them. */
struct mrule {
	uint8_t		accept, proto, plen, has_ports;
	uint8_t		addr[16];
	uint16_t	lo, hi;
};

static struct {
	struct nat_engine	*ne;
	struct engine		 pe;
	struct dnsc		 dns;
	uint64_t		 now;
	struct rec		 rec[MAXREC];
	unsigned		 nrec;
	int			 present;	/* client 1's v6 rules arrived */
	uint8_t			 policy_accept;
	struct mrule		 r[MAXR];
	unsigned		 nr;
	struct flow_req		 q[QMAX];
	unsigned		 nq;
	uint8_t			 uplog[NLOG][256];	/* IP packets sent out */
	size_t			 uplen[NLOG];
	unsigned		 nup;
	uint8_t			 clog[NLOG][256];	/* replies client 1 got */
	size_t			 clen[NLOG];
	unsigned		 ncl;
	uint8_t			 ever[32][16];	/* destinations once accepted */
	unsigned		 never;
	uint32_t		 bufcur;
	unsigned		 nout[3], nreq, nacc;
} S;

static uint8_t *mem;
static struct mq_pool pool;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_egress6: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* ---- the model's rules ---- */

static int
in_prefix(const uint8_t a[16], const uint8_t p[16], unsigned plen)
{
	unsigned i;

	for (i = 0; i < plen; i++)
		if (((a[i / 8] ^ p[i / 8]) >> (7 - i % 8)) & 1)
			return 0;
	return 1;
}

static int
maccept(uint8_t proto, const uint8_t dst[16], uint16_t dport)
{
	unsigned i;

	if (!S.present)
		return 0;
	for (i = 0; i < S.nr; i++) {
		const struct mrule *m = &S.r[i];

		if (m->proto != 0 && m->proto != proto)
			continue;
		if (!in_prefix(dst, m->addr, m->plen))
			continue;
		if (m->has_ports && (dport < m->lo || dport > m->hi))
			continue;
		return m->accept;
	}
	return S.policy_accept;
}

static void
ever_add(const uint8_t a[16])
{
	unsigned i;

	for (i = 0; i < S.never; i++)
		if (memcmp(S.ever[i], a, 16) == 0)
			return;
	if (S.never < 32)
		memcpy(S.ever[S.never++], a, 16);
}

/* Did client 1 send a plain frame of this flow (client port cport)? */
static int
sent_flow(uint8_t proto, const uint8_t dst[16], uint16_t cport, uint16_t dport)
{
	unsigned i;

	for (i = 0; i < S.nrec; i++) {
		const struct rec *r = &S.rec[i];

		if (r->port == 1 && !r->refuse && r->proto == proto &&
		    r->sport == cport && r->dport == dport &&
		    memcmp(r->dst, dst, 16) == 0 && r->variant != V_FRAG2)
			return 1;
	}
	return 0;
}

/* ---- inbound port forwards (the model's) ----
 *
 * A fixed table, given to natd at the start (docs/rules.md): TCP 8081 to
 * client 1's port 80 from anywhere (both families); UDP 8081 to client
 * 1's 5000, IPv6 only, from 2001:db8:1::/48 (R2, not R0 or R1); TCP 8083
 * to client 2, which has no IPv6; UDP 8083 to client 1's 53, IPv4 only.
 */
struct mfwd6 {
	uint8_t		proto, family, to, plen;
	uint16_t	port, toport;
	uint8_t		from[16];
};
static const struct mfwd6 MF6[4] = {
	{ IPPROTO_TCP_, 0, 1, 0, 8081, 80, { 0 } },
	{ IPPROTO_UDP_, 6, 1, 48, 8081, 5000, { 0x20, 0x01, 0x0d, 0xb8, 0, 1 } },
	{ IPPROTO_TCP_, 0, 2, 0, 8083, 22, { 0 } },
	{ IPPROTO_UDP_, 4, 1, 0, 8083, 53, { 0 } },
};

/* The IPv6 forward to client 1 that takes (proto, port) from src, or NULL. */
static const struct mfwd6 *
mfwd_find(uint8_t proto, uint16_t port, const uint8_t src[16])
{
	unsigned i;

	for (i = 0; i < 4; i++) {
		const struct mfwd6 *w = &MF6[i];

		if (w->proto == proto && w->port == port && w->family != 4 &&
		    w->to == 1 && in_prefix(src, w->from, w->plen))
			return w;
	}
	return NULL;
}

/* Did src:sport open a forwarded flow to /qubes-ip6:fport (a UDP datagram
 * or a TCP SYN that natd could take)? */
static int
mfwd_opened(uint8_t proto, const uint8_t src[16], uint16_t sport,
    uint16_t fport)
{
	unsigned i;

	if (mfwd_find(proto, fport, src) == NULL)
		return 0;
	for (i = 0; i < S.nrec; i++) {
		const struct rec *r = &S.rec[i];

		if (r->port == 0 && r->proto == proto && r->sport == sport &&
		    r->dport == fport && memcmp(r->src, src, 16) == 0 &&
		    memcmp(r->dst, nh_ip6_us, 16) == 0 &&
		    r->variant != V_HOP1 && r->variant != V_RH &&
		    r->variant != V_FRAG2 &&
		    (proto == IPPROTO_UDP_ || (r->kind == K_TCP && (fport & 1))))
			return 1;
	}
	return 0;
}

/* Is client 1's (proto, its port, remote, remote port) the reverse of an
 * opened forwarded flow? Its forwarded port if so, else 0. */
static uint16_t
mfwd_reverse(uint8_t proto, uint16_t cport, const uint8_t dst[16],
    uint16_t dport)
{
	unsigned i;

	for (i = 0; i < 4; i++) {
		const struct mfwd6 *w = &MF6[i];

		if (w->proto == proto && w->to == 1 && w->family != 4 &&
		    w->toport == cport && mfwd_opened(proto, dst, dport, w->port))
			return w->port;
	}
	return 0;
}

static void
mfwd_setup(void)
{
	static struct msg_forwards m;
	unsigned i;

	memset(&m, 0, sizeof m);
	m.count = 4;
	for (i = 0; i < 4; i++) {
		m.f[i].proto = MF6[i].proto;
		m.f[i].family = MF6[i].family;
		m.f[i].lo = m.f[i].hi = MF6[i].port;
		m.f[i].toport = MF6[i].toport;
		m.f[i].to4 = MF6[i].to == 1 ? NH_IP_C1 : NH_IP_C2;
		m.f[i].from6_plen = MF6[i].plen;
		memcpy(m.f[i].from6, MF6[i].from, 16);
		m.f[i].rule = (uint16_t)i;
	}
	nat_forwards(S.ne, &m, S.now);
}

/* ---- frames ---- */

static void
put_tag(uint8_t *p, unsigned rec)
{
	p[0] = 0xfe;		/* an ND option: type 254, 8 bytes */
	p[1] = 1;
	p[2] = 0xeb;
	p[3] = 0x96;
	p[4] = (uint8_t)(rec >> 24);
	p[5] = (uint8_t)(rec >> 16);
	p[6] = (uint8_t)(rec >> 8);
	p[7] = (uint8_t)rec;
}

static int
get_tag(const struct pkt_view *v)
{
	const uint8_t *p;
	uint32_t t;

	if (v->ip_end < v->l3_off + 48)
		return -1;
	p = v->frame + v->ip_end - 8;
	if (p[0] != 0xfe || p[1] != 1 || p[2] != 0xeb || p[3] != 0x96)
		return -1;
	t = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	return t < S.nrec ? (int)t : -1;
}

static void
inject(uint16_t port, const uint8_t *f, size_t n)
{
	struct mq_desc d;

	memset(&d, 0, sizeof d);
	d.buf = S.bufcur;
	S.bufcur = S.bufcur + 1 < NBUFS ? S.bufcur + 1 : OWN;
	d.off = BOFF;
	d.port = port;
	nh_input(S.ne, &d, f, n, S.now);
}

/*
 * Ethernet + IPv6 (+ extension headers per variant) + transport of kind
 * with the tag as its last 8 bytes. Returns the length.
 */
static size_t
build(uint8_t *f, uint16_t port, const uint8_t src[16], const uint8_t dst[16],
    const struct rec *r, unsigned recno, size_t pad)
{
	size_t off = 54, l4, n;
	uint8_t *nh = f + 20, proto = r->proto;
	struct pkt_view v;

	tu_eth_ip6(f, 1024, port ? MAC_C[port] : MAC_UP,
	    port ? MAC_V[port] : MAC_GW);
	if (r->variant == V_MCAST)
		memcpy(f, "\x33\x33\x00\x00\x00\x01", 6);
	f[21] = r->variant == V_HOP1 ? 1 : (r->kind == K_NS || r->kind == K_RA) ?
	    255 : 64;
	memcpy(f + 22, src, 16);
	memcpy(f + 38, dst, 16);
	if (r->variant == V_EXT) {
		*nh = IP6_NH_HOPOPTS;
		f[off] = IP6_NH_DSTOPTS;
		f[off + 2] = 1;
		f[off + 3] = 4;
		f[off + 8] = 0;	/* next set below */
		f[off + 10] = 1;
		f[off + 11] = 4;
		nh = f + off + 8;
		off += 16;
	} else if (r->variant == V_RH) {
		*nh = IP6_NH_ROUTING;
		f[off + 1] = 2;
		f[off + 3] = 1;
		memcpy(f + off + 8, R2, 16);
		nh = f + off;
		off += 24;
	} else if (r->variant == V_FRAG1 || r->variant == V_FRAG2) {
		uint16_t fo = r->variant == V_FRAG1 ? 1 : 1232;

		*nh = IP6_NH_FRAGMENT;
		f[off + 2] = (uint8_t)(fo >> 8);
		f[off + 3] = (uint8_t)fo;
		f[off + 4] = (uint8_t)(r->fid >> 24);
		f[off + 5] = (uint8_t)(r->fid >> 16);
		f[off + 6] = (uint8_t)(r->fid >> 8);
		f[off + 7] = (uint8_t)r->fid;
		nh = f + off;
		off += 8;
	}
	*nh = proto;
	if (r->variant == V_FRAG2) {
		l4 = 16 + pad;
	} else {
		uint8_t *t = f + off;

		switch (r->kind) {
		case K_TCP:
			t[0] = (uint8_t)(r->sport >> 8); t[1] = (uint8_t)r->sport;
			t[2] = (uint8_t)(r->dport >> 8); t[3] = (uint8_t)r->dport;
			t[12] = 5 << 4;
			t[13] = (uint8_t)(r->dport & 1 ? TCP_SYN : TCP_ACK | TCP_PSH);
			l4 = 20 + pad + 8;
			break;
		case K_UDP:
			t[0] = (uint8_t)(r->sport >> 8); t[1] = (uint8_t)r->sport;
			t[2] = (uint8_t)(r->dport >> 8); t[3] = (uint8_t)r->dport;
			l4 = 8 + pad + 8;
			/* A first fragment's UDP length is the whole datagram's. */
			n = r->variant == V_FRAG1 ? l4 + 1400 : l4;
			t[4] = (uint8_t)(n >> 8); t[5] = (uint8_t)n;
			break;
		case K_NS:
			t[0] = ND_NEIGHBOR_SOLICIT;
			memcpy(t + 8, dst[0] == 0xff ? R0 : dst, 16);
			t[24] = 1; t[25] = 1;
			memcpy(t + 26, port ? MAC_V[port] : MAC_GW, 6);
			l4 = 40;
			break;
		case K_RA:
			t[0] = ND_ROUTER_ADVERT;
			t[4] = 64;
			t[6] = 0x07;
			l4 = 16 + 8;
			break;
		default:
			t[0] = r->kind == K_ECHO ? ICMP6_ECHO_REQUEST : ICMP6_ECHO_REPLY;
			t[4] = (uint8_t)(r->sport >> 8); t[5] = (uint8_t)r->sport;
			t[7] = 1;
			l4 = 8 + pad + 8;
		}
	}
	put_tag(f + off + l4 - 8, recno);
	n = off + l4;
	f[18] = (uint8_t)((n - 54) >> 8);
	f[19] = (uint8_t)(n - 54);
	if (pkt_parse(&v, f, n) == PKT_OK && v.has_l4 && !v.is_frag) {
		pkt_l4_csum_set(&v);
		if (r->variant == V_BADSUM)
			f[v.l4_off + (proto == IPPROTO_TCP_ ? 16 : proto ==
			    IPPROTO_UDP_ ? 6 : 2)] ^= 0x5a;
	}
	return n;
}

static struct rec *
new_rec(void)
{
	struct rec *r;

	if (S.nrec == MAXREC)
		return NULL;
	r = &S.rec[S.nrec];
	memset(r, 0, sizeof *r);
	return r;
}

/* ---- events ---- */

static void
ev_client(void)
{
	uint8_t c = 1 + get() % 2, kind = get() % K_NKIND, ds = get() % 8;
	uint8_t sp = get(), dp = get(), var = get() % V_NVAR, pad = get() % 64;
	const uint8_t *cip = c == 1 ? nh_ip6_c1 : C2FAKE;
	uint8_t src[16], dst[16], f[1024];
	struct rec *r = new_rec();
	size_t n;

	if (r == NULL)
		return;
	memcpy(src, cip, 16);
	memcpy(dst, DSTS[ds], 16);
	if (var == V_SPOOF)
		memcpy(src, c == 1 ? C2FAKE : nh_ip6_c1, 16);
	else if (var == V_LLSRC)
		memcpy(src, LL, 16);
	else if (var == V_MCAST)
		memcpy(dst, MC, 16);
	r->port = c;
	r->kind = kind;
	r->variant = var;
	r->proto = kind == K_TCP ? IPPROTO_TCP_ : kind == K_UDP ? IPPROTO_UDP_ :
	    IPPROTO_ICMPV6_;
	if (r->proto == IPPROTO_ICMPV6_ && (var == V_FRAG1 || var == V_FRAG2))
		r->variant = var = V_PLAIN;
	r->sport = kind == K_ECHO || kind == K_ECHOREP ? (uint16_t)(0x100 + sp % 4) :
	    PORTS[sp % 8];
	r->dport = r->proto == IPPROTO_ICMPV6_ ? 0 : PORTS[dp % 8];
	r->fid = 0x1000u + dp % 4;
	memcpy(r->src, src, 16);
	memcpy(r->dst, dst, 16);
	r->refuse = c != 1 || var == V_SPOOF || var == V_LLSRC || var == V_HOP1 ||
	    var == V_RH || var == V_MCAST || dst[0] == 0xfe || dst[0] == 0xff ||
	    kind == K_NS || kind == K_RA || kind == K_ECHOREP;
	n = build(f, c, src, dst, r, S.nrec, pad);
	S.nrec++;
	inject(c, f, n);
}

/* The uplink answers a frame natd sent (a rec describing it, reversed). */
static void
ev_uplink_reply(void)
{
	uint8_t w = get(), var = get() % 4, pad = get() % 64;
	uint8_t f[1024], ip[256];
	struct rec *r = new_rec();
	struct pkt_view v;
	size_t n, len;

	if (r == NULL || S.nup == 0)
		return;
	len = S.uplen[w % (S.nup < NLOG ? S.nup : NLOG)];
	memcpy(ip, S.uplog[w % (S.nup < NLOG ? S.nup : NLOG)], len);
	memset(f, 0, 14);
	f[12] = 0x86;
	f[13] = 0xdd;
	memcpy(f + 14, ip, len);
	if (pkt_parse(&v, f, 14 + len) != PKT_OK || !v.has_l4 || v.is_frag)
		return;
	r->port = 0;
	r->proto = v.proto;
	r->kind = v.proto == IPPROTO_TCP_ ? K_TCP : v.proto == IPPROTO_UDP_ ?
	    K_UDP : K_ECHOREP;
	if (v.proto == IPPROTO_ICMPV6_ && v.icmp_type != ICMP6_ECHO_REQUEST)
		return;
	r->variant = var == 1 ? V_BADSUM : var == 2 ? V_HOP1 : V_PLAIN;
	memcpy(r->src, pkt_ip6(&v)->daddr, 16);
	memcpy(r->dst, var == 3 ? nh_ip6_c1 : nh_ip6_us, 16);
	r->sport = v.proto == IPPROTO_ICMPV6_ ? v.icmp_id : v.dport;
	r->dport = v.proto == IPPROTO_ICMPV6_ ? 0 : v.sport;
	n = build(f, 0, r->src, r->dst, r, S.nrec, pad);
	S.nrec++;
	inject(0, f, n);
}

static void
ev_uplink_made_up(void)
{
	uint8_t s = get() % 8, d = get() % 4, kind = get() % K_NKIND, sp = get(),
	    dp = get(), pad = get() % 64;
	struct rec *r = new_rec();
	uint8_t f[1024];
	size_t n;

	if (r == NULL)
		return;
	r->port = 0;
	r->kind = kind;
	r->proto = kind == K_TCP ? IPPROTO_TCP_ : kind == K_UDP ? IPPROTO_UDP_ :
	    IPPROTO_ICMPV6_;
	r->sport = kind == K_ECHO || kind == K_ECHOREP ? (uint16_t)(0x100 + sp % 4) :
	    PORTS[sp % 8];
	r->dport = r->proto == IPPROTO_ICMPV6_ ? 0 : PORTS[dp % 8];
	memcpy(r->src, s == 7 ? nh_ip6_c1 : s == 6 ? nh_ip6_gw : DSTS[s], 16);
	memcpy(r->dst, d == 0 ? nh_ip6_c1 : nh_ip6_us, 16);
	n = build(f, 0, r->src, r->dst, r, S.nrec, pad);
	S.nrec++;
	inject(0, f, n);
}

static void
ev_uplink_error(void)
{
	static const uint8_t types[4][2] = { { ICMP6_PACKET_TOO_BIG, 0 },
	    { ICMP6_DST_UNREACH, ICMP6_DST_PORT }, { ICMP6_TIME_EXCEEDED, 0 },
	    { ICMP6_PARAM_PROB, 0 } };
	uint8_t w = get(), ts = get() % 4, var = get(), from = get();
	struct rec *r = new_rec();
	uint8_t f[1024];
	struct pkt_view v;
	size_t q, n;
	uint32_t mtu = htonl(1280);

	if (r == NULL || S.nup == 0)
		return;
	q = S.uplen[w % (S.nup < NLOG ? S.nup : NLOG)];
	if (var & 2)
		q = q < 48 ? q : 48;
	r->port = 0;
	r->proto = IPPROTO_ICMPV6_;
	r->kind = 100;
	memcpy(r->src, from & 1 ? R2 : DSTS[from % 3], 16);
	memcpy(r->dst, nh_ip6_us, 16);
	tu_eth_ip6(f, 62, MAC_UP, MAC_GW);
	f[20] = IPPROTO_ICMPV6_;
	f[21] = 64;
	memcpy(f + 22, r->src, 16);
	memcpy(f + 38, r->dst, 16);
	f[54] = types[ts][0];
	f[55] = types[ts][1];
	memcpy(f + 58, &mtu, 4);
	memcpy(f + 62, S.uplog[w % (S.nup < NLOG ? S.nup : NLOG)], q);
	put_tag(f + 62 + q, S.nrec);
	n = 62 + q + 8;
	f[18] = (uint8_t)((n - 54) >> 8);
	f[19] = (uint8_t)(n - 54);
	if (pkt_parse(&v, f, n) == PKT_OK && v.has_l4) {
		pkt_l4_csum_set(&v);
		if (var & 1)
			f[57] ^= 0x11;
	}
	S.nrec++;
	inject(0, f, n);
}

/* Client 1 reports an error about a reply it got: only to its sender. */
static void
ev_client_error(void)
{
	uint8_t w = get(), to = get(), var = get();
	struct rec *r = new_rec();
	uint8_t f[1024];
	struct pkt_view v;
	const uint8_t *q;
	size_t ql, n;

	if (r == NULL || S.ncl == 0)
		return;
	q = S.clog[w % (S.ncl < NLOG ? S.ncl : NLOG)];
	ql = S.clen[w % (S.ncl < NLOG ? S.ncl : NLOG)];
	if (var & 2)
		ql = ql < 48 ? ql : 48;
	r->port = 1;
	r->kind = K_CERR;
	r->proto = IPPROTO_ICMPV6_;
	memcpy(r->src, nh_ip6_c1, 16);
	/* the quoted packet's source (its sender), or someone else */
	memcpy(r->dst, (to & 3) ? q + 8 : DSTS[to % 3], 16);
	r->refuse = (var & 1) || memcmp(r->dst, q + 8, 16) != 0;
	tu_eth_ip6(f, 62, MAC_C[1], MAC_V[1]);
	f[20] = IPPROTO_ICMPV6_;
	f[21] = 64;
	memcpy(f + 22, r->src, 16);
	memcpy(f + 38, r->dst, 16);
	f[54] = ICMP6_DST_UNREACH;
	f[55] = ICMP6_DST_PORT;
	memcpy(f + 62, q, ql);
	put_tag(f + 62 + ql, S.nrec);
	n = 62 + ql + 8;
	f[18] = (uint8_t)((n - 54) >> 8);
	f[19] = (uint8_t)(n - 54);
	if (pkt_parse(&v, f, n) == PKT_OK && v.has_l4) {
		pkt_l4_csum_set(&v);
		if (var & 1)
			f[57] ^= 0x22;
	}
	S.nrec++;
	inject(1, f, n);
}

static void
ev_rules(void)
{
	uint8_t b = get();
	unsigned n = b % (MAXR + 1), i;
	struct qrule qr[MAXR];
	uint32_t keys[MAXR];
	char text[160], err[256];

	S.present = 1;
	S.policy_accept = (b & 4) != 0;
	S.nr = n;
	for (i = 0; i < n; i++) {
		uint8_t act = get() & 1, ds = get() % 4, ps = get() % 4, xs = get() % 4;
		struct mrule *m = &S.r[i];
		static const char *const D[4] = { "", " dst6=2001:db8::1/128",
		    " dst6=2001:db8::/64", " dst6=2001:db8:1::5/128" };
		static const char *const P[4] = { "", " dstports=53-53",
		    " dstports=80-80", " dstports=1-1024" };
		int len;

		memset(m, 0, sizeof *m);
		m->accept = act;
		m->proto = ps == 1 ? IPPROTO_TCP_ : ps == 2 ? IPPROTO_UDP_ :
		    ps == 3 ? IPPROTO_ICMPV6_ : 0;
		if (ds == 1)
			memcpy(m->addr, R0, 16), m->plen = 128;
		else if (ds == 2)
			memcpy(m->addr, R0, 8), m->plen = 64;
		else if (ds == 3)
			memcpy(m->addr, R2, 16), m->plen = 128;
		if ((ps == 1 || ps == 2) && xs != 0) {
			m->has_ports = 1;
			m->lo = xs == 1 ? 53 : xs == 2 ? 80 : 1;
			m->hi = xs == 1 ? 53 : xs == 2 ? 80 : 1024;
		}
		len = snprintf(text, sizeof text, "action=%s%s%s%s",
		    act ? "accept" : "drop", D[ds], ps == 1 ? " proto=tcp" :
		    ps == 2 ? " proto=udp" : ps == 3 ? " proto=icmp" : "",
		    m->has_ports ? P[xs] : "");
		keys[i] = 10 * (i + 1);
		if (qrule_parse(text, (size_t)len, &qr[i], err, sizeof err) < 0)
			fail("template rule \"%s\" does not parse: %s", text, err);
	}
	engine_qset_install(&S.pe, 6, nh_ip6_c1, S.policy_accept ? QR_ACCEPT :
	    QR_DROP, qr, keys, n, NULL);
	nat_rules_changed(S.ne, 1, S.now);
}

static void
ev_time(void)
{
	uint8_t b = get();

	S.now += (b & 0x80) ? (uint64_t)(b & 0x7f) * 2000 : (uint64_t)b * 20;
	nat_tick(S.ne, S.now);
}

/* ---- natd's output, judged ---- */

static void
check_uplink(const struct pkt_view *v, const struct rec *r)
{
	const struct ipv6_hdr *ip = pkt_ip6(v);

	if (memcmp(ip->saddr, nh_ip6_us, 16) != 0)
		fail("IPv6 to the uplink not from /qubes-ip6");
	if (r == NULL) {
		if (v->proto == IPPROTO_ICMPV6_ && v->has_l4 &&
		    (v->icmp_type == ND_NEIGHBOR_SOLICIT ||
		    v->icmp_type == ND_NEIGHBOR_ADVERT))
			return;
		if (v->proto == IPPROTO_TCP_ && v->has_l4 &&
		    (v->tcp_flags & TCP_RST) && pkt_l4_payload_len(v) == 0) {
			unsigned i;

			for (i = 0; i < S.never; i++)
				if (memcmp(S.ever[i], ip->daddr, 16) == 0)
					return;
			fail("RST to a host no flow was accepted to");
		}
		fail("untagged IPv6 frame to the uplink (proto %u type %u)",
		    v->proto, v->icmp_type);
	}
	if (r->port == 0) {
		/* moat answering an uplink frame: only to its sender */
		if (memcmp(ip->daddr, r->src, 16) != 0)
			fail("an uplink frame went back out to someone else");
		if (!(v->proto == IPPROTO_ICMPV6_ && v->has_l4 &&
		    (v->icmp_type == ICMP6_ECHO_REPLY || v->icmp_type < 128)))
			fail("an uplink frame was sent back out as proto %u",
			    v->proto);
		return;
	}
	if (r->port != 1)
		fail("client %u's IPv6 left on the uplink", r->port);
	if (r->kind == K_CERR) {
		struct pkt_view q;
		size_t off = v->l4_off + 8;

		if (r->refuse)
			fail("client 1's error left to a host it does not "
			    "quote, or with a bad checksum");
		if (memcmp(ip->daddr, r->dst, 16) != 0)
			fail("client 1's error left to another host");
		if (pkt_parse_icmp6_quote(&q, v->frame + off, v->ip_end - off) !=
		    PKT_OK || !q.has_l4)
			fail("client 1's error left with an unreadable quote");
		if (memcmp(pkt_ip6(&q)->saddr, ip->daddr, 16) != 0 ||
		    memcmp(pkt_ip6(&q)->daddr, nh_ip6_us, 16) != 0)
			fail("client 1's error left quoting untranslated addresses");
		if (!maccept(q.proto, ip->daddr, q.proto == IPPROTO_ICMPV6_ ? 0 :
		    q.sport) && !(q.proto != IPPROTO_ICMPV6_ &&
		    mfwd_opened(q.proto, ip->daddr, q.sport, q.dport)))
			fail("client 1's error left about a flow the rules refuse");
		return;
	}
	if (r->refuse)
		fail("a frame that must be refused (kind %u variant %u) left",
		    r->kind, r->variant);
	if (memcmp(ip->daddr, r->dst, 16) != 0 || v->proto != r->proto)
		fail("a client frame left to another destination or protocol");
	if (r->variant == V_FRAG2) {
		unsigned i;

		for (i = 0; i < S.nrec; i++) {
			const struct rec *h = &S.rec[i];

			if (h->port == 1 && h->variant == V_FRAG1 &&
			    h->fid == r->fid && h->proto == r->proto &&
			    memcmp(h->dst, r->dst, 16) == 0 &&
			    (maccept(h->proto, h->dst, h->dport) ||
			    mfwd_reverse(h->proto, h->sport, h->dst, h->dport)))
				return;
		}
		fail("a later fragment left without an accepted first one");
	}
	if (r->proto != IPPROTO_ICMPV6_ && v->has_l4 &&
	    v->sport >= FWD_PORT_MIN && v->sport <= FWD_PORT_MAX) {
		/* only a forwarded flow's answer leaves from such a port */
		if (v->sport != mfwd_reverse(r->proto, r->sport, r->dst,
		    r->dport))
			fail("client 1's frame left from forwarded port %u not "
			    "as the reverse of a forwarded flow", v->sport);
		return;
	}
	if (!maccept(r->proto, r->dst, r->dport))
		fail("a frame of a flow the rules refuse left (proto %u port %u)",
		    r->proto, r->dport);
	ever_add(r->dst);
}

static void
check_client1(const struct pkt_view *v, const struct rec *r)
{
	const struct ipv6_hdr *ip = pkt_ip6(v);
	struct pkt_view q;

	if (r == NULL) {
		if (v->proto == IPPROTO_ICMPV6_ && v->has_l4 &&
		    v->icmp_type == ND_NEIGHBOR_ADVERT)
			return;
		if (v->proto == IPPROTO_TCP_ && v->has_l4 &&
		    (v->tcp_flags & TCP_RST) && pkt_l4_payload_len(v) == 0)
			return;
		fail("untagged IPv6 frame to client 1 (proto %u)", v->proto);
	}
	if (r->port == 1)
		return;		/* moat's answer to client 1's own frame */
	if (r->port != 0)
		fail("client %u's frame reached client 1", r->port);
	if (memcmp(ip->daddr, nh_ip6_c1, 16) != 0)
		fail("an uplink frame reached client 1 not addressed to it");
	if (v->proto == IPPROTO_ICMPV6_ && v->has_l4 && v->icmp_type < 128) {
		size_t off = v->l4_off + 8;
		uint16_t dp;

		if (pkt_parse_icmp6_quote(&q, v->frame + off, v->ip_end - off) !=
		    PKT_OK || !q.has_l4)
			fail("an error reached client 1 with an unreadable quote");
		if (memcmp(pkt_ip6(&q)->saddr, nh_ip6_c1, 16) != 0)
			fail("an error reached client 1 quoting another source");
		dp = q.proto == IPPROTO_ICMPV6_ ? 0 : q.dport;
		if (q.proto != IPPROTO_ICMPV6_ && mfwd_reverse(q.proto, q.sport,
		    pkt_ip6(&q)->daddr, dp) != 0)
			return;		/* about a forwarded flow's answer */
		if (!maccept(q.proto, pkt_ip6(&q)->daddr, dp) ||
		    !sent_flow(q.proto, pkt_ip6(&q)->daddr, q.proto ==
		    IPPROTO_ICMPV6_ ? q.icmp_id : q.sport, dp))
			fail("an error reached client 1 about a flow it may not have");
		return;
	}
	if (r->kind > K_ECHOREP || v->proto != r->proto)
		fail("uplink frame of kind %u reached client 1 as proto %u",
		    r->kind, v->proto);
	if (memcmp(r->dst, nh_ip6_us, 16) == 0 && r->proto != IPPROTO_ICMPV6_ &&
	    r->dport >= FWD_PORT_MIN && r->dport <= FWD_PORT_MAX) {
		const struct mfwd6 *w = mfwd_find(r->proto, r->dport, r->src);

		if (w == NULL)
			fail("a frame to port %u of /qubes-ip6 reached client 1 "
			    "with no IPv6 forward to it from there", r->dport);
		if (!mfwd_opened(r->proto, r->src, r->sport, r->dport))
			fail("a forwarded frame reached client 1 before its "
			    "connection's first packet");
		if (memcmp(ip->saddr, r->src, 16) != 0 || v->sport != r->sport ||
		    v->dport != w->toport)
			fail("a forwarded frame reached client 1 mistranslated");
		return;
	}
	if (!maccept(r->proto, r->src, r->sport) && r->proto != IPPROTO_ICMPV6_)
		fail("a reply of a refused flow reached client 1");
	if (r->proto == IPPROTO_ICMPV6_) {
		if (!maccept(r->proto, r->src, 0) ||
		    !sent_flow(r->proto, r->src, v->icmp_id, 0))
			fail("an echo reply of no accepted flow reached client 1");
	} else if (!sent_flow(r->proto, r->src, v->dport, r->sport))
		fail("a reply reached client 1 on a port it never used");
}

static void
f_tx(void *arg, const struct mq_desc *d)
{
	struct pkt_view v;
	uint8_t *fr;
	int t;

	(void)arg;
	if (d->port == MQ_PORT_DROP)
		return;
	fr = mq_buf(&pool, d->buf) + d->off;
	if (pkt_parse(&v, fr, d->len) != PKT_OK)
		fail("unparsable frame to port %u", d->port);
	if (v.l3 != PKT_L3_IPV6) {
		if (v.l3 == PKT_L3_ARP && d->port == MQ_PORT_UPLINK)
			return;		/* the IPv4 gateway's ARP */
		fail("non-IPv6 frame to port %u", d->port);
	}
	if (d->port == 2)
		fail("IPv6 reached client 2, which has none");
	t = get_tag(&v);
	S.nout[d->port]++;
	if (d->port == MQ_PORT_UPLINK) {
		check_uplink(&v, t >= 0 ? &S.rec[t] : NULL);
		if (v.ip_end - v.l3_off <= sizeof S.uplog[0] && v.has_l4 &&
		    !v.is_frag && !(v.proto == IPPROTO_ICMPV6_ &&
		    v.icmp_type != ICMP6_ECHO_REQUEST)) {
			unsigned k = S.nup++ % NLOG;

			S.uplen[k] = v.ip_end - v.l3_off;
			memcpy(S.uplog[k], v.frame + v.l3_off, S.uplen[k]);
		}
	} else if (d->port == 1) {
		check_client1(&v, t >= 0 ? &S.rec[t] : NULL);
		if (t >= 0 && S.rec[t].port == 0 && v.has_l4 && !v.is_frag &&
		    v.ip_end - v.l3_off <= sizeof S.clog[0] &&
		    !(v.proto == IPPROTO_ICMPV6_ && v.icmp_type < 128)) {
			unsigned k = S.ncl++ % NLOG;

			S.clen[k] = v.ip_end - v.l3_off;
			memcpy(S.clog[k], v.frame + v.l3_off, S.clen[k]);
		}
	}
	else
		fail("frame to port %u", d->port);
}

static int
f_fr(void *arg, const struct flow_req *r)
{
	(void)arg;
	if (S.nq == QMAX)
		return -1;
	S.q[S.nq++] = *r;
	return 0;
}

/* policyd decides every request now; the model must agree. */
static void
settle(void)
{
	unsigned rounds = 0;

	while (S.nq > 0 && rounds++ < 64) {
		struct flow_req q[QMAX];
		unsigned n = S.nq, i;

		memcpy(q, S.q, n * sizeof q[0]);
		S.nq = 0;
		for (i = 0; i < n; i++) {
			struct flow_verdict v;
			int acc;

			if (q[i].family != 6)
				fail("an IPv4 request in an IPv6-only script");
			if (!engine_decide(&S.pe, &q[i], S.now, 1800000000LL, 1, &v))
				fail("policyd waits with no name in the rules");
			acc = q[i].port == 1 &&
			    memcmp(q[i].src, nh_ip6_c1, 16) == 0 &&
			    maccept(q[i].proto, q[i].dst, q[i].dport);
			if ((v.action == VERDICT_ACCEPT) != acc)
				fail("policyd says %u, the model %s, for port %u "
				    "proto %u dport %u", v.action, acc ? "accept" :
				    "refuse", q[i].port, q[i].proto, q[i].dport);
			S.nreq++;
			S.nacc += acc;
			v.seq = q[i].seq;
			nat_verdict(S.ne, &v, S.now);
		}
	}
}

static void
setup(void)
{
	struct nat_config c;
	struct nat_io io = { NULL, f_tx, f_fr, nh_dns_none, NULL };
	struct msg_netconf nc;
	struct msg_link l;
	uint8_t f[128];
	unsigned i;
	size_t n;

	memset(&S, 0, sizeof S);
	S.now = 1000000;
	nh_config(&c, 64, 16, OWN, 7);
	c.pending_max = 8;
	c.hold_max = 32;
	if ((S.ne = nat_new(&c, &pool, &io)) == NULL)
		abort();
	dnsc_init(&S.dns);
	engine_init(&S.pe, &S.dns);
	nh_netconf6_msg(&nc);
	nat_netconf(S.ne, &nc, S.now);
	engine_netconf(&S.pe, &nc);
	for (i = 0; i <= 2; i++) {
		nh_link_msg(&l, (uint16_t)i, 1, i == 0 ? 0 : i == 1 ? NH_IP_C1 :
		    NH_IP_C2, i == 0 ? MAC_UP : MAC_C[i], i ? MAC_V[i] : NULL);
		if (i == 1)
			memcpy(l.ip6, nh_ip6_c1, 16);
		nat_link(S.ne, &l, S.now);
		engine_link(&S.pe, &l);
	}
	mfwd_setup();
	if (nat_start(S.ne, 0, S.now) != 0)
		abort();
	nh_gift(S.ne, S.now);
	S.bufcur = OWN;
	/* the IPv6 gateway is known */
	n = pkt_build_nd_na(f, sizeof f, MAC_GW, MAC_UP, nh_ip6_us, nh_ip6_gw, 1);
	inject(0, f, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned nev = 0;

	if (mem == NULL) {
		log_init("fuzz_egress6", -1);
		mem = nh_pool_new(&pool, NBUFS, BUFSZ);
		DSTS[0] = R0; DSTS[1] = R1; DSTS[2] = R2;
		DSTS[3] = nh_ip6_vgw; DSTS[4] = nh_ip6_us; DSTS[5] = LL;
		DSTS[6] = MC; DSTS[7] = R0;
	}
	setup();
	in_p = data;
	in_n = size;
	while (in_n > 0 && nev++ < 300) {
		switch (get() % 8) {
		case 0: case 1:
			ev_client();
			break;
		case 2:
			ev_client_error();
			break;
		case 3:
			ev_uplink_reply();
			break;
		case 4:
			ev_uplink_made_up();
			break;
		case 5:
			ev_uplink_error();
			break;
		case 6:
			ev_rules();
			break;
		default:
			ev_time();
		}
		settle();
	}
	/* FUZZ_EGRESS6_VERBOSE: what the input made natd do. */
	if (getenv("FUZZ_EGRESS6_VERBOSE") != NULL)
		fprintf(stderr, "events %u, requests %u (accepted %u), out: "
		    "uplink %u, client 1 %u\n", nev, S.nreq, S.nacc, S.nout[0],
		    S.nout[1]);
	nat_free(S.ne);
	fuzz_engine_free(&S.pe);
	return 0;
}
