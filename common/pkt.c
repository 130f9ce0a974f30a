/*
 * pkt.c: bounded parsing of the frames moat forwards (checksums and
 * rewrites: pkt_csum.c; builders: pkt_build.c).
 *
 * Every length in a frame comes from a VM we do not trust, so each one is
 * compared with the bytes actually present before anything behind it is
 * read: the frame length bounds the IP total length, which bounds the IP
 * header length and the transport header. Only after all of them agree is
 * a pkt_view filled in; callers read headers through its offsets.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pkt.h"

#define IPV4_MAX_LEN	65535

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * The first 8 transport bytes are all an ICMP quote guarantees, and all
 * moat needs for a flow key: ports for TCP/UDP, type/code/id for ICMP.
 */
static void
l4_key(struct pkt_view *v, const uint8_t *l4)
{
	switch (v->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
		v->sport = rd16(l4);
		v->dport = rd16(l4 + 2);
		break;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_:
		v->icmp_type = l4[0];
		v->icmp_code = l4[1];
		if ((v->proto == IPPROTO_ICMP_ &&
		    (l4[0] == ICMP_ECHO || l4[0] == ICMP_ECHOREPLY)) ||
		    (v->proto == IPPROTO_ICMPV6_ &&
		    (l4[0] == ICMP6_ECHO_REQUEST ||
		    l4[0] == ICMP6_ECHO_REPLY)))
			v->icmp_id = rd16(l4 + 4);
		break;
	}
}

/*
 * Transport header of an IP packet whose payload runs from v->l4_off to
 * v->ip_end. whole is 0 for a first fragment, whose payload is only the
 * start of the transport segment.
 */
static int
parse_l4(struct pkt_view *v, int whole)
{
	const uint8_t *l4 = v->frame + v->l4_off;
	size_t avail = v->ip_end - v->l4_off;
	size_t hlen, ulen;

	switch (v->proto) {
	case IPPROTO_TCP_:
		if (avail < sizeof(struct tcp_hdr))
			return PKT_E_SHORT_L4;
		hlen = (size_t)(l4[12] >> 4) * 4;
		if (hlen < sizeof(struct tcp_hdr))
			return PKT_E_BAD_L4LEN;
		if (hlen > avail)
			return PKT_E_SHORT_L4;
		v->tcp_flags = l4[13];
		break;
	case IPPROTO_UDP_:
		if (avail < sizeof(struct udp_hdr))
			return PKT_E_SHORT_L4;
		hlen = sizeof(struct udp_hdr);
		ulen = rd16(l4 + 4);
		/*
		 * A UDP length shorter than the IP payload would hide bytes
		 * from the checksum and from anyone reading by UDP length;
		 * longer would read past the packet. Neither is sent by a
		 * sane stack, so both are refused. A first fragment holds
		 * only part of the datagram, so its length may be larger.
		 */
		if (ulen < hlen || (whole ? ulen != avail : ulen < avail))
			return PKT_E_BAD_L4LEN;
		break;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_:
		/* Each IP version has its own ICMP; the other is opaque. */
		if ((v->proto == IPPROTO_ICMP_) != (v->l3 == PKT_L3_IPV4))
			return PKT_OK;
		if (avail < sizeof(struct icmp_hdr))
			return PKT_E_SHORT_L4;
		hlen = sizeof(struct icmp_hdr);
		break;
	default:
		/* Forwarded as opaque IP; natd decides whether to. */
		return PKT_OK;
	}
	v->has_l4 = 1;
	v->l4_hlen = hlen;
	l4_key(v, l4);
	return PKT_OK;
}

/*
 * The IPv4 header at v->frame + v->l3_off, with len bytes present from
 * there. Fills ttl, proto, l3_hlen, fragment fields and the unchecked
 * total length; the caller decides how that must relate to len.
 */
static int
parse_ip4_hdr(struct pkt_view *v, size_t len, size_t *totlen)
{
	const uint8_t *ip = v->frame + v->l3_off;
	size_t hlen, tot;
	uint16_t frag;

	if (len < sizeof(struct ipv4_hdr))
		return PKT_E_SHORT_L3;
	if ((ip[0] >> 4) != 4)
		return PKT_E_BAD_VERSION;
	hlen = (size_t)(ip[0] & 0x0f) * 4;
	if (hlen < sizeof(struct ipv4_hdr) || hlen > len)
		return PKT_E_BAD_IHL;
	tot = rd16(ip + 2);
	if (tot < hlen)
		return PKT_E_BAD_TOTLEN;
	v->l3 = PKT_L3_IPV4;
	v->l3_hlen = hlen;
	v->ttl = ip[8];
	v->proto = ip[9];
	frag = rd16(ip + 6);
	v->frag_off = (uint32_t)(frag & IPV4_OFFMASK) * 8;
	v->frag_more = (frag & IPV4_MF) != 0;
	v->is_frag = v->frag_more || v->frag_off != 0;
	if (v->is_frag) {
		/* Reassembly would overflow a 16-bit total length: the
		 * classic "ping of death". */
		if (v->frag_off + tot > IPV4_MAX_LEN)
			return PKT_E_BAD_FRAG;
		v->frag_first = v->frag_off == 0;
		v->frag_id = rd16(ip + 4);
	}
	*totlen = tot;
	return PKT_OK;
}

static int
parse_ip4(struct pkt_view *v)
{
	size_t tot;
	int rc;

	if ((rc = parse_ip4_hdr(v, v->len - v->l3_off, &tot)) != PKT_OK)
		return rc;
	/* Padding after the IP packet is Ethernet's business; a packet
	 * longer than its frame is a lie. */
	if (tot > v->len - v->l3_off)
		return PKT_E_BAD_TOTLEN;
	v->ip_end = v->l3_off + tot;
	v->l4_off = v->l3_off + v->l3_hlen;
	if (v->is_frag && !v->frag_first)
		return PKT_OK;
	return parse_l4(v, !v->is_frag);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * Walk the IPv6 extension headers from off (just past the fixed header)
 * to end, starting with next-header value next. Sets proto and l4_off to
 * the first header that is not one moat walks (hop-by-hop, routing,
 * fragment, destination options), and the fragment fields. Returns 1 when
 * the walk stopped at a non-first fragment (nothing after its header is
 * a transport header), 0 when proto/l4_off name the transport, or a
 * negative pkt_err.
 */
static int
walk_ip6(struct pkt_view *v, size_t off, size_t end, uint8_t next)
{
	const uint8_t *h;
	size_t hl;
	uint16_t fo;
	unsigned n;

	for (n = 0;; n++) {
		h = v->frame + off;
		switch (next) {
		case IP6_NH_HOPOPTS:
			/* RFC 8200 4.1: only right after the fixed header. */
			if (n != 0)
				return PKT_E_IP6_EXT;
			/* FALLTHROUGH */
		case IP6_NH_DSTOPTS:
		case IP6_NH_ROUTING:
			if (end - off < 8)
				return PKT_E_IP6_EXT;
			hl = ((size_t)h[1] + 1) * 8;
			if (hl > end - off)
				return PKT_E_IP6_EXT;
			/* Segments left: the packet asks to be routed on
			 * through addresses its sender chose. */
			if (next == IP6_NH_ROUTING && h[3] != 0)
				return PKT_E_IP6_RH;
			break;
		case IP6_NH_FRAGMENT:
			if (end - off < 8 || v->ip6_fh_off != 0)
				return PKT_E_IP6_EXT;
			hl = 8;
			fo = rd16(h + 2);
			v->ip6_fh_off = off;
			v->frag_off = fo & 0xfff8u;
			v->frag_more = fo & 1;
			v->frag_id6 = rd32(h + 4);
			/* RFC 6946: an atomic fragment is a whole packet. */
			v->is_frag = v->frag_more || v->frag_off != 0;
			if (v->is_frag) {
				if (v->frag_off + (end - off - hl) > 65535)
					return PKT_E_BAD_FRAG;
				v->frag_first = v->frag_off == 0;
				if (!v->frag_first) {
					v->proto = h[0];
					v->l4_off = off + hl;
					v->ip6_next_ext = (uint8_t)(n + 1);
					return 1;
				}
			}
			break;
		default:
			v->proto = next;
			v->l4_off = off;
			v->ip6_next_ext = (uint8_t)n;
			return 0;
		}
		if (n + 1 >= IP6_EXT_MAX)	/* the next would be one too many */
			return PKT_E_IP6_EXT;
		next = h[0];
		off += hl;
	}
}

static int
parse_ip6(struct pkt_view *v)
{
	const uint8_t *ip = v->frame + v->l3_off;
	size_t avail = v->len - v->l3_off;
	size_t plen;
	int rc;

	if (avail < sizeof(struct ipv6_hdr))
		return PKT_E_SHORT_L3;
	if ((ip[0] >> 4) != 6)
		return PKT_E_BAD_VERSION;
	plen = rd16(ip + 4);
	/* A zero payload length announces a jumbogram (RFC 2675), which no
	 * link of ours carries; it is refused with the other lies. */
	if (plen > avail - sizeof(struct ipv6_hdr))
		return PKT_E_BAD_TOTLEN;
	v->l3 = PKT_L3_IPV6;
	v->l3_hlen = sizeof(struct ipv6_hdr);
	v->ip_end = v->l3_off + sizeof(struct ipv6_hdr) + plen;
	v->ttl = ip[7];
	rc = walk_ip6(v, v->l3_off + sizeof(struct ipv6_hdr), v->ip_end, ip[6]);
	if (rc != 0)
		return rc < 0 ? rc : PKT_OK;
	return parse_l4(v, !v->is_frag);
}

static int
parse_arp(struct pkt_view *v)
{
	const uint8_t *a = v->frame + v->l3_off;

	if (v->len - v->l3_off < sizeof(struct arp_ipv4))
		return PKT_E_SHORT_L3;
	if (rd16(a) != ARP_HTYPE_ETHER || rd16(a + 2) != ETHERTYPE_IPV4 ||
	    a[4] != ETH_ALEN_ || a[5] != 4)
		return PKT_E_BAD_ARP;
	v->l3 = PKT_L3_ARP;
	v->l3_hlen = sizeof(struct arp_ipv4);
	v->ip_end = v->l3_off + sizeof(struct arp_ipv4);
	return PKT_OK;
}

int
pkt_parse(struct pkt_view *v, uint8_t *frame, size_t len)
{
	memset(v, 0, sizeof(*v));
	v->frame = frame;
	v->len = len;
	if (len < ETH_HLEN_)
		return PKT_E_SHORT_ETH;
	v->ethertype = rd16(frame + 12);
	v->l3_off = ETH_HLEN_;
	switch (v->ethertype) {
	case ETHERTYPE_IPV4:
		return parse_ip4(v);
	case ETHERTYPE_IPV6:
		return parse_ip6(v);
	case ETHERTYPE_ARP:
		return parse_arp(v);
	default:
		return PKT_E_UNSUPPORTED;
	}
}

/* A quoted packet is bare L3: no Ethernet header in front of it. */
static void
quote_init(struct pkt_view *inner, uint8_t *p, size_t len, uint16_t ethertype)
{
	memset(inner, 0, sizeof(*inner));
	inner->frame = p;
	inner->len = len;
	inner->ethertype = ethertype;
	inner->l3_off = 0;
}

/*
 * The transport header of a quoted TCP, UDP or ICMP (icmp: the family's
 * ICMP protocol) packet; any other protocol is quoted without one.
 */
static int
quote_l4(struct pkt_view *inner, const uint8_t *p, uint8_t icmp)
{
	if (inner->proto != IPPROTO_TCP_ && inner->proto != IPPROTO_UDP_ &&
	    inner->proto != icmp)
		return PKT_OK;
	/* RFC 792: at least 8 transport bytes, and the quoted packet must
	 * itself have been long enough to contain them. */
	if (inner->ip_end - inner->l4_off < 8)
		return PKT_E_SHORT_L4;
	inner->has_l4 = 1;
	inner->l4_hlen = 8;
	l4_key(inner, p + inner->l4_off);
	if (inner->proto == IPPROTO_TCP_ && inner->ip_end - inner->l4_off >= 14)
		inner->tcp_flags = p[inner->l4_off + 13];
	return PKT_OK;
}

int
pkt_parse_icmp_quote(struct pkt_view *inner, uint8_t *p, size_t len)
{
	size_t tot;
	int rc;

	quote_init(inner, p, len, ETHERTYPE_IPV4);
	if ((rc = parse_ip4_hdr(inner, len, &tot)) != PKT_OK)
		return rc;
	inner->l4_off = inner->l3_hlen;
	/* The quote may stop anywhere after the header; ip_end is what is
	 * both claimed and present, so nobody reads past either. */
	inner->ip_end = tot < len ? tot : len;
	if (inner->is_frag && !inner->frag_first)
		return PKT_OK;
	return quote_l4(inner, p, IPPROTO_ICMP_);
}

int
pkt_parse_icmp6_quote(struct pkt_view *inner, uint8_t *p, size_t len)
{
	size_t plen;
	int rc;

	quote_init(inner, p, len, ETHERTYPE_IPV6);
	if (len < sizeof(struct ipv6_hdr))
		return PKT_E_SHORT_L3;
	if ((p[0] >> 4) != 6)
		return PKT_E_BAD_VERSION;
	plen = rd16(p + 4);
	inner->l3 = PKT_L3_IPV6;
	inner->l3_hlen = sizeof(struct ipv6_hdr);
	inner->ttl = p[7];
	inner->ip_end = sizeof(struct ipv6_hdr) + plen < len ?
	    sizeof(struct ipv6_hdr) + plen : len;
	rc = walk_ip6(inner, sizeof(struct ipv6_hdr), inner->ip_end, p[6]);
	if (rc != 0)
		return rc < 0 ? rc : PKT_OK;
	return quote_l4(inner, p, IPPROTO_ICMPV6_);
}

int
pkt_ip4_srcroute(const uint8_t *ip, size_t hlen)
{
	size_t i = sizeof(struct ipv4_hdr), olen;

	while (i < hlen) {
		switch (ip[i]) {
		case 0:		/* end of options: the rest is padding */
			return 0;
		case 1:		/* no-op, one byte */
			i++;
			continue;
		case IPOPT_LSRR_:
		case IPOPT_SSRR_:
			return 1;
		}
		if (hlen - i < 2)
			return -1;
		olen = ip[i + 1];
		if (olen < 2 || olen > hlen - i)
			return -1;
		i += olen;
	}
	return 0;
}
