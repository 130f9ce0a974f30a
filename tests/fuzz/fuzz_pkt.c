/*
 * fuzz_pkt.c: libFuzzer target for the packet parser.
 *
 * Input is one Ethernet frame. After a successful parse every offset the
 * view holds is used the way natd uses it (accessors, checksums, the ICMP
 * quote, the builders), so a parse that accepts lengths it should not
 * shows up as an out-of-bounds access under ASan. The builders' output
 * must itself parse: that is checked, not assumed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_view v, q;
	uint8_t *f;

	/* An exact-size copy, so a read one past the end is caught. */
	if ((f = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(f, data, size);

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
		if (v.l3 == PKT_L3_IPV4 && !pkt_ip4_csum_ok(&v))
			abort();
		if (v.has_l4 && !v.is_frag && !pkt_l4_csum_ok(&v))
			abort();
	}
	free(f);
	return 0;
}
