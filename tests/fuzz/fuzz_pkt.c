/*
 * fuzz_pkt.c: libFuzzer target for the packet parser.
 *
 * Input is one Ethernet frame. After a successful parse every offset the
 * view holds is used the way natd uses it (accessors, checksums, the ICMP
 * quote, the builders), so a parse that accepts lengths it should not
 * shows up as an out-of-bounds access under ASan. The builders' output
 * must itself parse: that is checked, not assumed.
 *
 * The same frame also goes through the offload family (pkt_offload.c) as
 * a client's super-frame of either family with a spread of segment sizes,
 * and as a partial checksum to finish: what pkt_gso_check accepts must
 * describe the frame exactly, and where pkt_parse and pkt_csum_locate both
 * accept a frame they must agree, and the completed checksum must verify.
 * Accepted super-frames are also cut into segments (pkt_gso.c), each of
 * which must be a valid frame carrying its share of the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t mac_b[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

static volatile uint32_t sink;

static void
touch(const struct pkt_view *v)
{
	uint32_t x = pkt_eth(v)->type_be;

	switch (v->l3) {
	case PKT_L3_ARP:
		x += pkt_arp(v)->op_be + pkt_arp(v)->tpa_be;
		break;
	case PKT_L3_IPV4:
		x += pkt_ip4(v)->saddr_be + pkt_ip4(v)->daddr_be;
		/* Options run up to the header length. */
		x += v->frame[v->l3_off + v->l3_hlen - 1];
		break;
	case PKT_L3_IPV6:
		x += pkt_ip6(v)->saddr[15] + pkt_ip6(v)->daddr[15];
		break;
	default:
		abort();
	}
	if (v->ip_end > v->len || v->l3_off + v->l3_hlen > v->ip_end)
		abort();
	if (!v->has_l4)
		return;
	if (v->l4_off + v->l4_hlen > v->ip_end)
		abort();
	if (v->proto == IPPROTO_TCP_)
		x += pkt_tcp(v)->seq_be + v->frame[v->l4_off + v->l4_hlen - 1];
	else if (v->proto == IPPROTO_UDP_)
		x += pkt_udp(v)->len_be;
	else
		x += pkt_icmp(v)->u.rest_be;
	if (pkt_l4_payload_len(v) > 0)
		x += v->frame[v->ip_end - 1];
	sink = x;
}

static void
check_quote(const struct pkt_view *v)
{
	struct pkt_view q;
	size_t off = v->l4_off + v->l4_hlen;

	if (pkt_parse_icmp_quote(&q, v->frame + off, v->ip_end - off) != PKT_OK)
		return;
	if (q.ip_end > q.len || (q.has_l4 && q.l4_off + 8 > q.ip_end))
		abort();
	sink = pkt_ip4(&q)->daddr_be + q.sport + q.dport + q.icmp_id +
	    (q.has_l4 ? q.frame[q.l4_off + 7] : 0);
}

static void
check_builders(const struct pkt_view *v)
{
	uint8_t out[1600];
	struct pkt_view b;
	size_t n;

	n = pkt_build_icmp4_error(out, sizeof(out), mac_a, mac_b, 0x0100000a,
	    ICMP_DEST_UNREACH, ICMP_ADMIN_PROHIBITED, 0, v, v->len & 0x3ff);
	if (n != 0 && (pkt_parse(&b, out, n) != PKT_OK ||
	    !pkt_ip4_csum_ok(&b) || !pkt_l4_csum_ok(&b)))
		abort();
	n = pkt_build_tcp_rst4(out, sizeof(out), mac_a, mac_b, v);
	if (n != 0 && (pkt_parse(&b, out, n) != PKT_OK ||
	    !pkt_ip4_csum_ok(&b) || !pkt_l4_csum_ok(&b) ||
	    !(b.tcp_flags & TCP_RST)))
		abort();
}

/* The IPv6 side: quote parser, ND parser and builders. */
static void
check_v6(const struct pkt_view *v)
{
	static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };
	uint8_t out[1600];
	struct pkt_view b, q;
	struct pkt_nd nd;
	size_t n, off = v->l4_off + v->l4_hlen;

	if (v->l3 != PKT_L3_IPV6)
		return;
	if (pkt_icmp6_is_error(v) &&
	    pkt_parse_icmp6_quote(&q, v->frame + off, v->ip_end - off) == PKT_OK) {
		if (q.ip_end > q.len || (q.has_l4 && q.l4_off + 8 > q.ip_end))
			abort();
		sink = q.frame[q.ip_end - 1] + q.sport + q.icmp_id;
	}
	if (pkt_nd_parse(v, &nd) == 0)
		sink = nd.target[15] + nd.lladdr[5];
	n = pkt_build_icmp6_error(out, sizeof(out), mac_a, mac_b, a6,
	    ICMP6_DST_UNREACH, ICMP6_DST_ADMIN, 0, v, v->len & 0x7ff);
	if (n != 0 && (n > 14 + IP6_MIN_MTU || pkt_parse(&b, out, n) != PKT_OK ||
	    !pkt_l4_csum_ok(&b) || !pkt_icmp6_is_error(&b)))
		abort();
	n = pkt_build_tcp_rst6(out, sizeof(out), mac_a, mac_b, v);
	if (n != 0 && (pkt_parse(&b, out, n) != PKT_OK ||
	    !pkt_l4_csum_ok(&b) || !(b.tcp_flags & TCP_RST)))
		abort();
}

/*
 * What the checker accepts, software segmentation cuts (pkt_gso.c): every
 * segment must parse, verify both checksums, stay within the MTU, and
 * the payloads must put the super-frame's back together.
 */
static void
check_cut(const uint8_t *f, size_t n, int v6, uint16_t gso_size,
    const struct pkt_gso *g)
{
	static uint8_t seg[1600];
	struct pkt_gso_cut c;
	struct pkt_view v;
	const char *why = NULL;
	size_t at = g->hdr_len, k;
	unsigned i;

	if (pkt_gso_cut_init(&c, f, n, v6, gso_size, 1500, &why) != 0) {
		CHECK(g->segs == 0 && why != NULL);
		return;
	}
	CHECK(c.g.segs == g->segs && c.g.hdr_len == g->hdr_len);
	for (i = 0; i < c.g.segs; i++) {
		k = pkt_gso_cut(&c, i, f, seg, sizeof(seg));
		CHECK(k > g->hdr_len && k == pkt_gso_cut_len(&c, i));
		CHECK(k - ETH_HLEN_ <= 1500);
		CHECK(pkt_parse(&v, seg, k) == PKT_OK && v.ip_end == k);
		CHECK(v.has_l4 && v.proto == IPPROTO_TCP_ && !v.is_frag);
		CHECK(pkt_l4_csum_ok(&v));
		CHECK(v6 || pkt_ip4_csum_ok(&v));
		CHECK(memcmp(seg + g->hdr_len, f + at, k - g->hdr_len) == 0);
		at += k - g->hdr_len;
	}
	CHECK(at == n);
	CHECK(pkt_gso_cut(&c, i, f, seg, sizeof(seg)) == 0);
}

static void
check_gso(uint8_t *f, size_t n, int v6, uint16_t gso_size)
{
	struct pkt_gso g;
	const char *why = NULL;
	uint16_t cs, co;

	if (pkt_gso_check(f, n, v6, gso_size, 1500, &g, &why) != 0) {
		CHECK(why != NULL);
		return;
	}
	CHECK(n <= PKT_GSO_MAX_LEN);
	CHECK(gso_size >= PKT_GSO_MIN_MSS);
	CHECK(f[12] == (v6 ? 0x86 : 0x08) && f[13] == (v6 ? 0xdd : 0x00));
	CHECK(g.hdr_len <= n && g.csum_start + g.csum_off + 2u <= g.hdr_len);
	CHECK(g.hdr_len - ETH_HLEN_ + (unsigned)gso_size <= 1500);
	CHECK(g.payload == n - g.hdr_len);
	CHECK((uint64_t)g.segs * gso_size >= g.payload);
	CHECK(g.segs == 0 || (uint64_t)(g.segs - 1) * gso_size < g.payload);
	/* netbackd finishes one-segment frames' checksums: it must be able
	 * to, and agree where the field is. */
	CHECK(pkt_csum_locate(f, n, &cs, &co) == 0);
	CHECK(cs == g.csum_start && co == g.csum_off);
	CHECK(pkt_csum_complete(f, n) == 0);
	check_cut(f, n, v6, gso_size, &g);
}

static void
check_offload(const uint8_t *data, size_t size)
{
	static const uint16_t gso_sizes[] = { 0, PKT_GSO_MIN_MSS - 1,
	    PKT_GSO_MIN_MSS, 536, 1448, 1460, 9000 };
	struct pkt_view v;
	uint16_t cs, co, ps;
	uint8_t *f;
	size_t i;
	int v6;

	if ((f = malloc(size ? size : 1)) == NULL)
		return;
	for (v6 = 0; v6 < 2; v6++)
		for (i = 0; i < sizeof(gso_sizes) / sizeof(gso_sizes[0]); i++) {
			memcpy(f, data, size);
			check_gso(f, size, v6, gso_sizes[i]);
		}
	memcpy(f, data, size);
	if (pkt_csum_locate(f, size, &cs, &co) != 0) {
		CHECK(pkt_csum_complete(f, size) != 0);
		free(f);
		return;
	}
	CHECK((size_t)cs + co + 2 <= size);
	/* Where the parser agrees, put the pseudo-header sum in the field
	 * as a CHECKSUM_PARTIAL sender does: completed, it must verify. */
	if (pkt_parse(&v, f, size) == PKT_OK && v.has_l4 && !v.is_frag &&
	    (v.proto == IPPROTO_TCP_ || v.proto == IPPROTO_UDP_)) {
		uint32_t l4len = (uint32_t)(v.ip_end - v.l4_off);

		CHECK(cs == v.l4_off);
		CHECK(co == (v.proto == IPPROTO_TCP_ ? 16 : 6));
		ps = (uint16_t)~csum_fold(v.l3 == PKT_L3_IPV4 ?
		    csum_pseudo4(pkt_ip4(&v)->saddr_be, pkt_ip4(&v)->daddr_be,
		    v.proto, l4len) :
		    csum_pseudo6(pkt_ip6(&v)->saddr, pkt_ip6(&v)->daddr,
		    v.proto, l4len));
		memcpy(f + cs + co, &ps, 2);
		CHECK(pkt_csum_complete(f, size) == 0);
		CHECK(pkt_l4_csum_ok(&v));
	} else
		CHECK(pkt_csum_complete(f, size) == 0);
	free(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_view v, q;
	uint8_t *f;

	/* An exact-size copy, so a read one past the end is caught. */
	if ((f = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(f, data, size);

	check_offload(data, size);

	/* The raw bytes as an ICMP quote too: that parser is reachable
	 * from any ICMP error a VM sends. */
	if (pkt_parse_icmp_quote(&q, f, size) == PKT_OK && q.ip_end > q.len)
		abort();
	/* The option walk reads only the header a parse bounded. */
	if (pkt_parse_icmp_quote(&q, f, size) == PKT_OK)
		sink = (uint32_t)pkt_ip4_srcroute(q.frame, q.l3_hlen);

	if (pkt_parse(&v, f, size) == PKT_OK) {
		touch(&v);
		sink = (uint32_t)pkt_l4_csum_ok(&v) +
		    (uint32_t)pkt_ip4_csum_ok(&v);
		if (v.l3 == PKT_L3_IPV4 && v.has_l4 && v.proto == IPPROTO_ICMP_)
			check_quote(&v);
		check_builders(&v);
		check_v6(&v);
		/* Recomputed checksums must verify. */
		pkt_ip4_csum_set(&v);
		pkt_l4_csum_set(&v);
		if (v.l3 == PKT_L3_IPV4 && !pkt_ip4_csum_ok(&v))
			abort();
		if (v.has_l4 && !v.is_frag && !pkt_l4_csum_ok(&v))
			abort();
		/* NAT rewrites keep verifying checksums verifying. */
		(void)pkt_nat_addr4(&v, 0, 0x0100000a, 0);
		(void)pkt_nat_addr4(&v, 1, 0xfeffffff, 0);
		(void)pkt_nat_port(&v, 0, (uint16_t)size, 0);
		(void)pkt_nat_port(&v, 1, 0, 0);
		(void)pkt_nat_addr6(&v, 0, v.frame, 0);
		if (v.l3 == PKT_L3_IPV4 && !pkt_ip4_csum_ok(&v))
			abort();
		if (v.has_l4 && !v.is_frag && !pkt_l4_csum_ok(&v))
			abort();
	}
	free(f);
	return 0;
}
