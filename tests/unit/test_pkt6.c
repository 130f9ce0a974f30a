/*
 * test_pkt6.c: IPv6 in the packet library: the extension-header walk and
 * its refusals, fragments, checksums under the IPv6 pseudo-header, address
 * rewrites, the ICMPv6 quote parser, and the IPv6 builders (errors, RSTs,
 * neighbour discovery).
 *
 * Frames are assembled here field by field; checksums are checked against
 * ref_sum(), a byte-at-a-time RFC 1071 sum that shares no code with pkt.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"
#include "t.h"
#include "tests/testutil.h"

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x02 };
/* fd09:24ef:4179::a89:5 (a client) and 2001:db8::1 (a server). */
static const uint8_t a_cli[16] = { 0xfd, 0x09, 0x24, 0xef, 0x41, 0x79,
	[12] = 0x0a, 0x89, 0x00, 0x05 };
static const uint8_t a_srv[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t a_new[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x99,
	[14] = 0xbe, 0xef };

/* An independent one's-complement sum over the IPv6 pseudo-header and
 * the transport bytes: 0 when the checksum in them is right. */
static uint16_t
ref_sum(const uint8_t *src, const uint8_t *dst, uint8_t proto,
    const uint8_t *l4, size_t len)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i < 16; i += 2)
		s += (uint32_t)(src[i] << 8 | src[i + 1]) +
		    (uint32_t)(dst[i] << 8 | dst[i + 1]);
	s += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + proto;
	for (i = 0; i < len; i++)
		s += i & 1 ? l4[i] : (uint32_t)l4[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * Build Ethernet + IPv6 + the extension headers in ext (each a next-header
 * type; the builder fills lengths) + an L4 header of proto with plen
 * payload bytes. Returns the frame length; buf must hold 2048 bytes.
 */
struct ext {
	uint8_t	type;
	uint8_t	len8;		/* hdr ext len (units of 8 beyond the first 8) */
	uint8_t	segleft;	/* routing */
	uint16_t fragoff;	/* fragment: offset (bytes) | M */
};
static size_t
mk(uint8_t *buf, const struct ext *ext, int next, uint8_t proto, size_t plen)
{
	size_t off = 14 + 40, l4len = 0;
	uint8_t *nh = buf + 20;
	int i;

	tu_eth_ip6(buf, 2048, mac_b, mac_a);
	buf[21] = 64;
	memcpy(buf + 22, a_cli, 16);
	memcpy(buf + 38, a_srv, 16);
	for (i = 0; i < next; i++) {
		*nh = ext[i].type;
		nh = buf + off;
		if (ext[i].type == IP6_NH_FRAGMENT) {
			buf[off + 2] = (uint8_t)(ext[i].fragoff >> 8);
			buf[off + 3] = (uint8_t)ext[i].fragoff;
			buf[off + 7] = 0x42;
			off += 8;
		} else {
			buf[off + 1] = ext[i].len8;
			if (ext[i].type == IP6_NH_ROUTING)
				buf[off + 3] = ext[i].segleft;
			else
				buf[off + 2] = 1;	/* PadN */
			off += ((size_t)ext[i].len8 + 1) * 8;
		}
	}
	*nh = proto;
	switch (proto) {
	case IPPROTO_TCP_:
		buf[off] = 0xc3; buf[off + 1] = 0x50;	/* 50000 */
		buf[off + 3] = 80;
		buf[off + 12] = 5 << 4;
		buf[off + 13] = TCP_SYN;
		l4len = 20 + plen;
		break;
	case IPPROTO_UDP_:
		buf[off + 1] = 53; buf[off + 3] = 53;
		l4len = 8 + plen;
		buf[off + 4] = (uint8_t)(l4len >> 8);
		buf[off + 5] = (uint8_t)l4len;
		break;
	case IPPROTO_ICMPV6_:
		buf[off] = ICMP6_ECHO_REQUEST;
		buf[off + 4] = 0x12; buf[off + 5] = 0x34;
		l4len = 8 + plen;
		break;
	default:
		l4len = plen;
	}
	for (i = 0; i < (int)plen; i++)
		buf[off + l4len - plen + (size_t)i] = (uint8_t)(i * 7);
	off += l4len;
	buf[18] = (uint8_t)((off - 54) >> 8);
	buf[19] = (uint8_t)(off - 54);
	return off;
}

static void
test_plain(void)
{
	uint8_t b[2048];
	struct pkt_view v;
	size_t n;

	n = mk(b, NULL, 0, IPPROTO_TCP_, 10);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	T_EQ_INT(v.l3, PKT_L3_IPV6);
	T_EQ_INT(v.l4_off, 54);
	T_EQ_INT(v.proto, IPPROTO_TCP_);
	T_EQ_INT(v.has_l4, 1);
	T_EQ_INT(v.sport, 50000);
	T_EQ_INT(v.dport, 80);
	T_EQ_INT(v.ttl, 64);
	T_EQ_INT(v.ip6_fh_off, 0);
	T_EQ_INT(v.is_frag, 0);
	T_EQ_INT(v.ip6_next_ext, 0);
}

static void
test_ext_chain(void)
{
	const struct ext e[] = {
		{ IP6_NH_HOPOPTS, 0, 0, 0 }, { IP6_NH_DSTOPTS, 1, 0, 0 },
		{ IP6_NH_ROUTING, 0, 0, 0 }, { IP6_NH_DSTOPTS, 0, 0, 0 },
	};
	uint8_t b[2048];
	struct pkt_view v;
	size_t n, k;

	n = mk(b, e, 4, IPPROTO_UDP_, 5);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	T_EQ_INT(v.l4_off, 54 + 8 + 16 + 8 + 8);
	T_EQ_INT(v.proto, IPPROTO_UDP_);
	T_EQ_INT(v.has_l4, 1);
	T_EQ_INT(v.sport, 53);
	T_EQ_INT(v.ip6_next_ext, 4);
	/* Every shorter payload length cuts a header or the datagram: never
	 * a parse that reads past what the packet holds. */
	for (k = 0; k < n - 54; k++) {
		b[18] = (uint8_t)(k >> 8);
		b[19] = (uint8_t)k;
		T_ASSERT(pkt_parse(&v, b, n) != PKT_OK);
		T_ASSERT(pkt_parse(&v, b, 54 + k) != PKT_OK);
	}
}

static void
test_ext_refused(void)
{
	const struct ext rh[] = { { IP6_NH_ROUTING, 2, 1, 0 } };
	const struct ext hbh2[] = { { IP6_NH_DSTOPTS, 0, 0, 0 },
		{ IP6_NH_HOPOPTS, 0, 0, 0 } };
	const struct ext many[] = {
		{ IP6_NH_DSTOPTS, 0, 0, 0 }, { IP6_NH_DSTOPTS, 0, 0, 0 },
		{ IP6_NH_DSTOPTS, 0, 0, 0 }, { IP6_NH_DSTOPTS, 0, 0, 0 },
		{ IP6_NH_DSTOPTS, 0, 0, 0 }, { IP6_NH_DSTOPTS, 0, 0, 0 },
	};
	const struct ext frag2[] = { { IP6_NH_FRAGMENT, 0, 0, 0 },
		{ IP6_NH_FRAGMENT, 0, 0, 0 } };
	uint8_t b[2048];
	struct pkt_view v;
	size_t n;

	n = mk(b, rh, 1, IPPROTO_TCP_, 0);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_E_IP6_RH);
	/* Segments left 0: the route is over, the packet is ordinary. */
	b[54 + 3] = 0;
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	T_EQ_INT(v.has_l4, 1);
	n = mk(b, hbh2, 2, IPPROTO_TCP_, 0);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_E_IP6_EXT);
	n = mk(b, many, 5, IPPROTO_TCP_, 0);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	n = mk(b, many, 6, IPPROTO_TCP_, 0);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_E_IP6_EXT);
	n = mk(b, frag2, 2, IPPROTO_TCP_, 0);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_E_IP6_EXT);
	/* A length byte claiming past the packet. */
	n = mk(b, hbh2 + 1, 1, IPPROTO_TCP_, 0);
	b[55] = 200;
	T_EQ_INT(pkt_parse(&v, b, n), PKT_E_IP6_EXT);
	/* Upper layers moat does not walk (ESP, no next header) are opaque:
	 * the parse succeeds without a transport, natd refuses them. */
	n = mk(b, NULL, 0, 50, 16);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	T_EQ_INT(v.proto, 50);
	T_EQ_INT(v.has_l4, 0);
}

static void
test_frag6(void)
{
	struct ext f[] = { { IP6_NH_FRAGMENT, 0, 0, 0x0001 } };
	uint8_t b[2048];
	struct pkt_view v;
	size_t n;

	/* First fragment: the UDP header is there, its length may exceed. */
	n = mk(b, f, 1, IPPROTO_UDP_, 100);
	b[54 + 8 + 4] = 0x10;
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	T_EQ_INT(v.is_frag, 1);
	T_EQ_INT(v.frag_first, 1);
	T_EQ_INT(v.frag_more, 1);
	T_EQ_INT(v.has_l4, 1);
	T_EQ_INT(v.frag_id6, 0x42);
	T_EQ_INT(v.ip6_fh_off, 54);
	/* Later fragment: no transport header, proto from the fragment
	 * header. */
	f[0].fragoff = 1232;
	n = mk(b, f, 1, IPPROTO_UDP_, 100);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	T_EQ_INT(v.is_frag, 1);
	T_EQ_INT(v.frag_first, 0);
	T_EQ_INT(v.frag_off, 1232);
	T_EQ_INT(v.has_l4, 0);
	T_EQ_INT(v.proto, IPPROTO_UDP_);
	T_EQ_INT(v.l4_off, 62);
	/* Atomic fragment (RFC 6946): whole. */
	f[0].fragoff = 0;
	n = mk(b, f, 1, IPPROTO_UDP_, 100);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	T_EQ_INT(v.is_frag, 0);
	T_EQ_INT(v.ip6_fh_off, 54);
	T_EQ_INT(v.has_l4, 1);
	/* Reassembly past 65535 bytes. */
	f[0].fragoff = 65528;
	n = mk(b, f, 1, IPPROTO_UDP_, 100);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_E_BAD_FRAG);
}

static void
test_csum6(void)
{
	const struct ext e[] = { { IP6_NH_DSTOPTS, 0, 0, 0 } };
	const uint8_t protos[] = { IPPROTO_TCP_, IPPROTO_UDP_, IPPROTO_ICMPV6_ };
	uint8_t b[2048];
	struct pkt_view v;
	size_t n, i;
	int partial;

	for (i = 0; i < sizeof(protos); i++) {
		n = mk(b, e, 1, protos[i], 33);
		T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
		T_ASSERT(!pkt_l4_csum_ok(&v));
		pkt_l4_csum_set(&v);
		T_EQ_INT(ref_sum(b + 22, b + 38, protos[i], b + v.l4_off,
		    n - v.l4_off), 0);
		T_ASSERT(pkt_l4_csum_ok(&v));
		/* Rewriting either address keeps the sum right. */
		T_EQ_INT(pkt_nat_addr6(&v, 0, a_new, 0), 0);
		T_EQ_MEM(pkt_ip6(&v)->saddr, a_new, 16);
		T_EQ_INT(ref_sum(b + 22, b + 38, protos[i], b + v.l4_off,
		    n - v.l4_off), 0);
		T_EQ_INT(pkt_nat_addr6(&v, 1, a_cli, 0), 0);
		T_ASSERT(pkt_l4_csum_ok(&v));
		T_EQ_INT(pkt_nat_port(&v, 0, 4242, 0), 0);
		T_ASSERT(pkt_l4_csum_ok(&v));
	}
	/* UDP over IPv6 must carry a checksum (RFC 8200 8.1). */
	n = mk(b, NULL, 0, IPPROTO_UDP_, 4);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	T_ASSERT(!pkt_l4_csum_ok(&v));
	/* Partial: the field holds the pseudo-header sum, uncomplemented. */
	for (partial = 0; partial < 2; partial++) {
		uint32_t s;
		uint16_t c, want;

		n = mk(b, NULL, 0, IPPROTO_TCP_, 7);
		T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
		s = csum_pseudo6(b + 22, b + 38, IPPROTO_TCP_, 27);
		memcpy(b + 54 + 16, &s, 2);
		c = (uint16_t)s;
		memcpy(b + 54 + 16, &c, 2);
		T_EQ_INT(pkt_nat_addr6(&v, partial, a_new, 1), 0);
		memcpy(&c, b + 54 + 16, 2);
		want = (uint16_t)csum_pseudo6(b + 22, b + 38, IPPROTO_TCP_, 27);
		T_EQ_INT(c, want);
	}
}

/*
 * Addresses whose 32-bit word sum comes within a protocol number of 2^32
 * (a remote may pick its own): the pseudo-header sum must keep that carry,
 * or pkt_l4_csum_ok passes a checksum that is off by one and
 * pkt_l4_csum_set writes one (a forged ICMPv6 error would leave laundered).
 */
static void
test_csum6_carry(void)
{
	const uint8_t protos[] = { IPPROTO_TCP_, IPPROTO_UDP_, IPPROTO_ICMPV6_ };
	uint8_t b[2048];
	struct pkt_view v;
	size_t n, i, co;
	unsigned k, bad = 0, passed = 0;

	for (i = 0; i < sizeof(protos); i++)
		for (k = 0; k < 0x10000; k++) {
			n = mk(b, NULL, 0, protos[i], k % 9);
			memset(b + 22, 0xff, 32);
			b[22] = 0xfe;		/* not multicast */
			b[36] = (uint8_t)(k >> 8);	/* steps the sum */
			b[37] = (uint8_t)k;
			T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
			pkt_l4_csum_set(&v);
			if (ref_sum(b + 22, b + 38, protos[i], b + v.l4_off,
			    n - v.l4_off) != 0)
				bad++;
			/* One off is refused. */
			co = v.l4_off + (protos[i] == IPPROTO_TCP_ ? 17 :
			    protos[i] == IPPROTO_UDP_ ? 7 : 3);
			b[co] ^= 1;
			if (pkt_l4_csum_ok(&v))
				passed++;
		}
	T_EQ_INT(bad, 0);
	T_EQ_INT(passed, 0);
}

static void
test_quote6(void)
{
	const struct ext e[] = { { IP6_NH_DSTOPTS, 0, 0, 0 } };
	uint8_t b[2048];
	struct pkt_view q;
	size_t n;

	n = mk(b, e, 1, IPPROTO_TCP_, 500);
	/* The quote is the IP packet, cut anywhere after 8 transport bytes. */
	T_EQ_INT(pkt_parse_icmp6_quote(&q, b + 14, 40 + 8 + 8), PKT_OK);
	T_EQ_INT(q.has_l4, 1);
	T_EQ_INT(q.sport, 50000);
	T_EQ_INT(q.dport, 80);
	T_EQ_INT(q.l4_off, 48);
	T_EQ_INT(q.ip_end, 56);
	T_EQ_INT(pkt_parse_icmp6_quote(&q, b + 14, 40 + 8 + 7), PKT_E_SHORT_L4);
	T_ASSERT(pkt_parse_icmp6_quote(&q, b + 14, 40 + 4) != PKT_OK);
	T_EQ_INT(pkt_parse_icmp6_quote(&q, b + 14, 39), PKT_E_SHORT_L3);
	b[14] = 0x45;
	T_EQ_INT(pkt_parse_icmp6_quote(&q, b + 14, n - 14), PKT_E_BAD_VERSION);
	/* A claimed length shorter than the quote bounds it. */
	n = mk(b, NULL, 0, IPPROTO_ICMPV6_, 64);
	b[18] = 0;
	b[19] = 8;
	T_EQ_INT(pkt_parse_icmp6_quote(&q, b + 14, n - 14), PKT_OK);
	T_EQ_INT(q.ip_end, 48);
	T_EQ_INT(q.icmp_id, 0x1234);
}

static void
test_build6(void)
{
	uint8_t b[2048], o[2048];
	struct pkt_view v, e, q;
	struct pkt_nd nd;
	uint8_t ll[16], sn[16], snmac[6];
	size_t n, m;

	n = mk(b, NULL, 0, IPPROTO_UDP_, 1400);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	pkt_l4_csum_set(&v);
	m = pkt_build_icmp6_error(o, sizeof(o), mac_a, mac_b, a_new,
	    ICMP6_PACKET_TOO_BIG, 0, htonl(1280), &v, 2000);
	T_ASSERT(m > 0);
	T_EQ_INT(m - 14, 1280);		/* never past the minimum MTU */
	T_EQ_INT(pkt_parse(&e, o, m), PKT_OK);
	T_ASSERT(pkt_icmp6_is_error(&e));
	T_EQ_INT(e.icmp_type, ICMP6_PACKET_TOO_BIG);
	T_ASSERT(pkt_l4_csum_ok(&e));
	T_EQ_MEM(pkt_ip6(&e)->daddr, a_cli, 16);
	T_EQ_MEM(pkt_ip6(&e)->saddr, a_new, 16);
	T_EQ_INT(pkt_parse_icmp6_quote(&q, o + 62, m - 62), PKT_OK);
	T_EQ_INT(q.sport, 53);
	/* Never an error about an error; in place is allowed. */
	T_EQ_INT(pkt_build_icmp6_error(b, sizeof(b), mac_a, mac_b, a_new,
	    ICMP6_TIME_EXCEEDED, 0, 0, &e, 100), 0);
	T_ASSERT(pkt_build_icmp6_error(b, sizeof(b), mac_a, mac_b, a_new,
	    ICMP6_TIME_EXCEEDED, 0, 0, &v, 100) > 0);
	/* RST for a SYN. */
	n = mk(b, NULL, 0, IPPROTO_TCP_, 0);
	T_EQ_INT(pkt_parse(&v, b, n), PKT_OK);
	m = pkt_build_tcp_rst6(o, sizeof(o), mac_a, mac_b, &v);
	T_ASSERT(m == 14 + 60);
	T_EQ_INT(pkt_parse(&e, o, m), PKT_OK);
	T_ASSERT(pkt_l4_csum_ok(&e));
	T_EQ_INT(e.tcp_flags, TCP_RST | TCP_ACK);
	T_EQ_INT(e.sport, 80);
	T_EQ_INT(e.dport, 50000);
	T_EQ_MEM(pkt_ip6(&e)->saddr, a_srv, 16);
	/* ND: what we send, we parse. */
	m = pkt_build_nd_ns(o, sizeof(o), mac_a, a_cli, a_srv);
	T_EQ_INT(pkt_parse(&e, o, m), PKT_OK);
	T_EQ_INT(pkt_nd_parse(&e, &nd), 0);
	T_EQ_INT(nd.type, ND_NEIGHBOR_SOLICIT);
	T_EQ_MEM(nd.target, a_srv, 16);
	T_ASSERT(nd.has_lladdr);
	T_EQ_MEM(nd.lladdr, mac_a, 6);
	ip6_solicited_node(sn, snmac, a_srv);
	T_EQ_MEM(pkt_ip6(&e)->daddr, sn, 16);
	T_EQ_MEM(o, snmac, 6);
	T_EQ_INT(snmac[0], 0x33);
	T_EQ_INT(sn[11], 1);
	T_EQ_INT(sn[12], 0xff);
	T_EQ_INT(sn[15], 1);
	m = pkt_build_nd_na(o, sizeof(o), mac_a, mac_b, a_cli, a_srv, 1);
	T_EQ_INT(pkt_parse(&e, o, m), PKT_OK);
	T_EQ_INT(pkt_nd_parse(&e, &nd), 0);
	T_EQ_INT(nd.type, ND_NEIGHBOR_ADVERT);
	T_EQ_INT(nd.flags, 0xe0);
	T_EQ_MEM(pkt_ip6(&e)->saddr, a_srv, 16);
	/* RFC 4861 7.1: a hop limit below 255 crossed a router. */
	o[21] = 254;
	T_EQ_INT(pkt_parse(&e, o, m), PKT_OK);
	T_EQ_INT(pkt_nd_parse(&e, &nd), -1);
	o[21] = 255;
	o[m - 7] = 0;		/* option length 0: RFC 4861 says discard */
	T_EQ_INT(pkt_parse(&e, o, m), PKT_OK);
	T_EQ_INT(pkt_nd_parse(&e, &nd), -1);
	ip6_linklocal(ll, mac_a);
	T_EQ_INT(ll[0], 0xfe);
	T_EQ_INT(ll[8], 0x00);
	T_EQ_INT(ll[11], 0xff);
	T_EQ_INT(ll[15], 0x01);
	T_ASSERT(ip6_is_linklocal(ll) && ip6_is_martian(ll));
	T_ASSERT(!ip6_is_martian(a_srv) && ip6_is_martian(sn));
}

int
main(void)
{
	T_RUN(test_plain);
	T_RUN(test_ext_chain);
	T_RUN(test_ext_refused);
	T_RUN(test_frag6);
	T_RUN(test_csum6);
	T_RUN(test_csum6_carry);
	T_RUN(test_quote6);
	T_RUN(test_build6);
	return t_done();
}
