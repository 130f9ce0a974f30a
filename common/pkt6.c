/*
 * pkt6.c: IPv6 builders and address helpers: ICMPv6 errors, TCP resets,
 * neighbour discovery (RFC 4861) solicitations and advertisements.
 * Parsing is in pkt.c with IPv4's, as both share the transport code.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pkt.h"

/* RFC 4443 2.4(c): an error is no bigger than the minimum MTU. */
#define ICMP6_ERR_MAX_IP	IP6_MIN_MTU

int
ip6_eq(const uint8_t a[16], const uint8_t b[16])
{
	return memcmp(a, b, 16) == 0;
}

int
ip6_is_zero(const uint8_t a[16])
{
	static const uint8_t z[16];

	return memcmp(a, z, 16) == 0;
}

int
ip6_is_multicast(const uint8_t a[16])
{
	return a[0] == 0xff;
}

int
ip6_is_linklocal(const uint8_t a[16])
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

int
ip6_is_loopback(const uint8_t a[16])
{
	static const uint8_t lo[16] = { [15] = 1 };

	return memcmp(a, lo, 16) == 0;
}

/* Unspecified, loopback, multicast, link-local and v4-mapped: addresses a
 * router never forwards to (or, as a source, from). */
int
ip6_is_martian(const uint8_t a[16])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return ip6_is_zero(a) || ip6_is_loopback(a) || ip6_is_multicast(a) ||
	    ip6_is_linklocal(a) || memcmp(a, mapped, 12) == 0;
}

void
ip6_linklocal(uint8_t out[16], const uint8_t mac[6])
{
	memset(out, 0, 16);
	out[0] = 0xfe;
	out[1] = 0x80;
	/* Modified EUI-64 (RFC 4291 appendix A). */
	out[8] = mac[0] ^ 0x02;
	out[9] = mac[1];
	out[10] = mac[2];
	out[11] = 0xff;
	out[12] = 0xfe;
	out[13] = mac[3];
	out[14] = mac[4];
	out[15] = mac[5];
}

void
ip6_solicited_node(uint8_t out[16], uint8_t mac[6], const uint8_t target[16])
{
	static const uint8_t pfx[13] = { 0xff, 0x02, [11] = 0x01, [12] = 0xff };

	memcpy(out, pfx, 13);
	memcpy(out + 13, target + 13, 3);
	mac[0] = 0x33;
	mac[1] = 0x33;
	memcpy(mac + 2, out + 12, 4);
}

const char *
ip6_str(const uint8_t a[16], char buf[46])
{
	if (inet_ntop(AF_INET6, a, buf, 46) == NULL)
		snprintf(buf, 46, "?");
	return buf;
}

static uint8_t *
put_eth6(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6])
{
	struct eth_hdr *eth = (struct eth_hdr *)buf;

	memcpy(eth->dst, dst, ETH_ALEN_);
	memcpy(eth->src, src, ETH_ALEN_);
	eth->type_be = htons(ETHERTYPE_IPV6);
	return buf + ETH_HLEN_;
}

static struct ipv6_hdr *
put_ip6(uint8_t *p, uint16_t plen, uint8_t next, uint8_t hlim,
    const uint8_t src[16], const uint8_t dst[16])
{
	struct ipv6_hdr *ip = (struct ipv6_hdr *)p;

	ip->vtc_flow_be = htonl(6u << 28);
	ip->payload_len_be = htons(plen);
	ip->next = next;
	ip->hop_limit = hlim;
	memcpy(ip->saddr, src, 16);
	memcpy(ip->daddr, dst, 16);
	return ip;
}

/* The ICMPv6 checksum of the len bytes at icmp, under ip's addresses. */
static void
icmp6_sum(struct icmp_hdr *icmp, size_t len, const struct ipv6_hdr *ip)
{
	icmp->csum = 0;
	icmp->csum = csum_fold(csum_add(csum_pseudo6(ip->saddr, ip->daddr,
	    IPPROTO_ICMPV6_, (uint32_t)len), icmp, len));
}

int
pkt_icmp6_is_error(const struct pkt_view *v)
{
	return v->l3 == PKT_L3_IPV6 && v->proto == IPPROTO_ICMPV6_ &&
	    v->has_l4 && v->icmp_type < 128;
}

size_t
pkt_build_icmp6_error(uint8_t *buf, size_t cap, const uint8_t src_mac[6],
    const uint8_t dst_mac[6], const uint8_t src[16], uint8_t type,
    uint8_t code, uint32_t rest_be, const struct pkt_view *orig,
    size_t quote_max)
{
	const size_t hdrs = sizeof(struct ipv6_hdr) + sizeof(struct icmp_hdr);
	uint8_t osrc[16];
	struct ipv6_hdr *ip;
	struct icmp_hdr *icmp;
	size_t q;

	if (orig->l3 != PKT_L3_IPV6 || orig->ip_end <= orig->l3_off ||
	    orig->ip_end > orig->len)
		return 0;
	/* RFC 4443 2.4(e): never about an error, a packet from an address
	 * that names no single host, or (for all but packet-too-big) a
	 * packet sent to a multicast address. */
	if (pkt_icmp6_is_error(orig))
		return 0;
	memcpy(osrc, pkt_ip6(orig)->saddr, 16);
	if (ip6_is_zero(osrc) || ip6_is_multicast(osrc) || ip6_is_loopback(osrc))
		return 0;
	if (type != ICMP6_PACKET_TOO_BIG &&
	    ip6_is_multicast(pkt_ip6(orig)->daddr))
		return 0;
	q = pkt_err_quote_len(orig, quote_max, ICMP6_ERR_MAX_IP - hdrs);
	if (cap < ETH_HLEN_ + hdrs + q)
		return 0;
	/* The quote first: buf may be orig's own frame. */
	memmove(buf + ETH_HLEN_ + hdrs, orig->frame + orig->l3_off, q);
	ip = put_ip6(put_eth6(buf, dst_mac, src_mac),
	    (uint16_t)(sizeof(struct icmp_hdr) + q), IPPROTO_ICMPV6_, 64, src,
	    osrc);
	icmp = (struct icmp_hdr *)(ip + 1);
	icmp->type = type;
	icmp->code = code;
	icmp->u.rest_be = rest_be;
	icmp6_sum(icmp, sizeof(*icmp) + q, ip);
	return ETH_HLEN_ + hdrs + q;
}

size_t
pkt_build_tcp_rst6(uint8_t *buf, size_t cap, const uint8_t src_mac[6],
    const uint8_t dst_mac[6], const struct pkt_view *orig)
{
	const size_t tlen = sizeof(struct ipv6_hdr) + sizeof(struct tcp_hdr);
	uint8_t osrc[16], odst[16];
	struct ipv6_hdr *ip;
	struct tcp_hdr rst, *t;

	if (orig->l3 != PKT_L3_IPV6 || orig->proto != IPPROTO_TCP_ ||
	    !orig->has_l4 || orig->is_frag || (orig->tcp_flags & TCP_RST))
		return 0;
	if (cap < ETH_HLEN_ + tlen)
		return 0;
	memcpy(osrc, pkt_ip6(orig)->saddr, 16);
	memcpy(odst, pkt_ip6(orig)->daddr, 16);
	if (ip6_is_zero(osrc) || ip6_is_multicast(osrc))
		return 0;
	pkt_tcp_rst_hdr(orig, &rst);
	ip = put_ip6(put_eth6(buf, dst_mac, src_mac), sizeof(*t),
	    IPPROTO_TCP_, 64, odst, osrc);
	t = (struct tcp_hdr *)(ip + 1);
	memcpy(t, &rst, sizeof(*t));
	t->csum = csum_fold(csum_add(csum_pseudo6(odst, osrc, IPPROTO_TCP_,
	    sizeof(*t)), t, sizeof(*t)));
	return ETH_HLEN_ + tlen;
}

/*
 * Neighbour solicitation (NS) and advertisement (NA): the 8-byte ICMPv6
 * header, the 16-byte target, one link-layer address option (source for
 * an NS, target for an NA). Hop limit 255, which is how a receiver knows
 * it never crossed a router (RFC 4861 7.1).
 */
#define ND_LEN		(sizeof(struct icmp_hdr) + 16 + 8)

static size_t
build_nd(uint8_t *buf, size_t cap, uint8_t type, uint32_t flags_be,
    const uint8_t smac[6], const uint8_t dmac[6], const uint8_t src[16],
    const uint8_t dst[16], const uint8_t target[16])
{
	struct ipv6_hdr *ip;
	struct icmp_hdr *icmp;
	uint8_t *p;

	if (cap < ETH_HLEN_ + sizeof(struct ipv6_hdr) + ND_LEN)
		return 0;
	ip = put_ip6(put_eth6(buf, dmac, smac), ND_LEN, IPPROTO_ICMPV6_, 255,
	    src, dst);
	icmp = (struct icmp_hdr *)(ip + 1);
	icmp->type = type;
	icmp->code = 0;
	icmp->u.rest_be = flags_be;
	p = (uint8_t *)(icmp + 1);
	memcpy(p, target, 16);
	p[16] = type == ND_NEIGHBOR_SOLICIT ? 1 : 2;
	p[17] = 1;	/* in units of 8 bytes */
	memcpy(p + 18, smac, 6);
	icmp6_sum(icmp, ND_LEN, ip);
	return ETH_HLEN_ + sizeof(struct ipv6_hdr) + ND_LEN;
}

size_t
pkt_build_nd_na(uint8_t *buf, size_t cap, const uint8_t smac[6],
    const uint8_t dmac[6], const uint8_t dst[16], const uint8_t target[16],
    int router)
{
	/* Solicited and override: the answer replaces what the asker had. */
	uint32_t fl = 0x40000000u | 0x20000000u | (router ? 0x80000000u : 0);

	return build_nd(buf, cap, ND_NEIGHBOR_ADVERT, htonl(fl), smac, dmac,
	    target, dst, target);
}

size_t
pkt_build_nd_ns(uint8_t *buf, size_t cap, const uint8_t smac[6],
    const uint8_t src[16], const uint8_t target[16])
{
	uint8_t dst[16], dmac[6];

	ip6_solicited_node(dst, dmac, target);
	return build_nd(buf, cap, ND_NEIGHBOR_SOLICIT, 0, smac, dmac, src, dst,
	    target);
}

int
pkt_nd_parse(const struct pkt_view *v, struct pkt_nd *nd)
{
	const uint8_t *p;
	size_t len, off;

	memset(nd, 0, sizeof(*nd));
	if (v->l3 != PKT_L3_IPV6 || v->proto != IPPROTO_ICMPV6_ ||
	    !v->has_l4 || v->is_frag)
		return -1;
	if (v->icmp_type != ND_NEIGHBOR_SOLICIT &&
	    v->icmp_type != ND_NEIGHBOR_ADVERT)
		return -1;
	/* RFC 4861 7.1.1/7.1.2: hop limit 255, code 0, a whole target, no
	 * extension header in front, checksum right. */
	if (v->ttl != 255 || v->icmp_code != 0 || v->ip6_next_ext != 0 ||
	    v->ip_end - v->l4_off < sizeof(struct icmp_hdr) + 16 ||
	    !pkt_l4_csum_ok(v))
		return -1;
	p = v->frame + v->l4_off;
	len = v->ip_end - v->l4_off;
	nd->type = v->icmp_type;
	nd->flags = p[4];
	memcpy(nd->target, p + 8, 16);
	for (off = 24; off < len;) {
		size_t ol;

		if (len - off < 2 || p[off + 1] == 0)
			return -1;
		ol = (size_t)p[off + 1] * 8;
		if (ol > len - off)
			return -1;
		/* Source (NS) or target (NA) link-layer address. */
		if (ol == 8 && ((p[off] == 1 && nd->type == ND_NEIGHBOR_SOLICIT) ||
		    (p[off] == 2 && nd->type == ND_NEIGHBOR_ADVERT))) {
			memcpy(nd->lladdr, p + off + 2, 6);
			nd->has_lladdr = 1;
		}
		off += ol;
	}
	return 0;
}
