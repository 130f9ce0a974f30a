/*
 * pkt.c: bounded parsing, checksums and builders for the frames moat
 * forwards.
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

#define ARP_HTYPE_ETHER	1
#define ICMPV6_ECHO_REQUEST	128
#define ICMPV6_ECHO_REPLY	129
/* RFC 1812 4.3.2.3: an ICMP error is at most 576 bytes of IP. */
#define ICMP_ERR_MAX_IP	576
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
		    (l4[0] == ICMPV6_ECHO_REQUEST ||
		    l4[0] == ICMPV6_ECHO_REPLY)))
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

int
pkt_parse_icmp_quote(struct pkt_view *inner, uint8_t *p, size_t len)
{
	size_t tot;
	int rc;

	memset(inner, 0, sizeof(*inner));
	inner->frame = p;
	inner->len = len;
	inner->ethertype = ETHERTYPE_IPV4;
	inner->l3_off = 0;
	if ((rc = parse_ip4_hdr(inner, len, &tot)) != PKT_OK)
		return rc;
	inner->l4_off = inner->l3_hlen;
	/* The quote may stop anywhere after the header; ip_end is what is
	 * both claimed and present, so nobody reads past either. */
	inner->ip_end = tot < len ? tot : len;
	if (inner->is_frag && !inner->frag_first)
		return PKT_OK;
	switch (inner->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
	case IPPROTO_ICMP_:
		break;
	default:
		return PKT_OK;
	}
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
pkt_parse_icmp6_quote(struct pkt_view *inner, uint8_t *p, size_t len)
{
	size_t plen;
	int rc;

	memset(inner, 0, sizeof(*inner));
	inner->frame = p;
	inner->len = len;
	inner->ethertype = ETHERTYPE_IPV6;
	inner->l3_off = 0;
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
	switch (inner->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
	case IPPROTO_ICMPV6_:
		break;
	default:
		return PKT_OK;
	}
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

/*
 * Checksums. The one's-complement sum is byte-order independent (RFC 1071
 * 2(B)), so words are added as loaded and results come out in the
 * order they are stored in.
 */
uint32_t
csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum;
	uint32_t w;
	uint16_t h;

	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w, p, 4);
		acc += w;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The odd byte is the first of a zero-padded word. */
		uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		acc += h;
	}
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	return (uint32_t)acc;
}

static uint16_t
csum_fold_nocomp(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t
csum_fold(uint32_t sum)
{
	return (uint16_t)~csum_fold_nocomp(sum);
}

uint16_t
ip_checksum(const void *data, size_t len)
{
	return csum_fold(csum_add(0, data, len));
}

uint32_t
csum_pseudo4(uint32_t saddr_be, uint32_t daddr_be, uint8_t proto,
    uint32_t l4len)
{
	uint64_t acc;
	uint32_t len_be = htonl(l4len);

	acc = (uint64_t)(saddr_be & 0xffff) + (saddr_be >> 16) +
	    (daddr_be & 0xffff) + (daddr_be >> 16) +
	    htons(proto) + (len_be & 0xffff) + (len_be >> 16);
	return csum_fold_nocomp((uint32_t)acc);
}

uint32_t
csum_pseudo6(const uint8_t saddr[16], const uint8_t daddr[16], uint8_t proto,
    uint32_t l4len)
{
	uint32_t sum, len_be = htonl(l4len);

	sum = csum_add(0, saddr, 16);
	sum = csum_add(sum, daddr, 16);
	sum = csum_add(sum, &len_be, 4);
	/* Folded before the protocol is added: a 32-bit sum near 2^32 would
	 * lose that carry (the remote picks its address, and so the sum). */
	return csum_fold_nocomp((uint32_t)csum_fold_nocomp(sum) + htons(proto));
}

/*
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Working on the complement keeps
 * the result identical to a full recomputation, including the
 * representation of zero (eqn. 2 of RFC 1141 gets that wrong).
 */
void
csum_update16(uint16_t *csum, uint16_t old_be, uint16_t new_be)
{
	uint32_t sum;

	sum = (uint16_t)~*csum + (uint32_t)(uint16_t)~old_be + new_be;
	*csum = csum_fold(sum);
}

void
csum_update32(uint16_t *csum, uint32_t old_be, uint32_t new_be)
{
	uint32_t sum;

	/* Two 16-bit words: five terms of at most 0xffff cannot overflow. */
	sum = (uint16_t)~*csum +
	    (uint32_t)(uint16_t)~(old_be & 0xffff) + (uint16_t)~(old_be >> 16) +
	    (new_be & 0xffff) + (new_be >> 16);
	*csum = csum_fold(sum);
}

/*
 * A CHECKSUM_PARTIAL field holds the folded pseudo-header sum S, not its
 * complement; whoever completes it adds the transport bytes and only then
 * complements. So an address change is S' = S + ~m + m' with no
 * complement on either side (Linux inet_proto_csum_replace4, pseudohdr).
 */
void
csum_update16_partial(uint16_t *csum, uint16_t old_be, uint16_t new_be)
{
	uint32_t sum;

	sum = (uint32_t)*csum + (uint16_t)~old_be + new_be;
	*csum = csum_fold_nocomp(sum);
}

void
csum_update32_partial(uint16_t *csum, uint32_t old_be, uint32_t new_be)
{
	uint32_t sum;

	sum = (uint32_t)*csum +
	    (uint32_t)(uint16_t)~(old_be & 0xffff) + (uint16_t)~(old_be >> 16) +
	    (new_be & 0xffff) + (new_be >> 16);
	*csum = csum_fold_nocomp(sum);
}

void
csum_update16_at(void *field, uint16_t old_be, uint16_t new_be, int partial)
{
	uint16_t c;

	memcpy(&c, field, 2);
	if (partial)
		csum_update16_partial(&c, old_be, new_be);
	else
		csum_update16(&c, old_be, new_be);
	memcpy(field, &c, 2);
}

void
csum_update32_at(void *field, uint32_t old_be, uint32_t new_be, int partial)
{
	uint16_t c;

	memcpy(&c, field, 2);
	if (partial)
		csum_update32_partial(&c, old_be, new_be);
	else
		csum_update32(&c, old_be, new_be);
	memcpy(field, &c, 2);
}

/* Offset of the checksum field in the transport header, or 0. */
static size_t
l4_csum_off(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP_:
		return offsetof(struct tcp_hdr, csum);
	case IPPROTO_UDP_:
		return offsetof(struct udp_hdr, csum);
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_:
		return offsetof(struct icmp_hdr, csum);
	}
	return 0;
}

/*
 * Sum over the pseudo-header (if the protocol has one) and the whole
 * transport segment as it stands. Only for parses that produced a
 * complete, unfragmented transport segment.
 */
static int
l4_sum(const struct pkt_view *v, uint32_t *sum)
{
	size_t l4len;

	if (!v->has_l4 || v->is_frag || l4_csum_off(v->proto) == 0)
		return -1;
	l4len = v->ip_end - v->l4_off;
	if (v->l3 == PKT_L3_IPV4) {
		const struct ipv4_hdr *ip = pkt_ip4(v);

		if (v->proto == IPPROTO_ICMPV6_)
			return -1;
		*sum = v->proto == IPPROTO_ICMP_ ? 0 :
		    csum_pseudo4(ip->saddr_be, ip->daddr_be, v->proto,
		    (uint32_t)l4len);
	} else if (v->l3 == PKT_L3_IPV6) {
		const struct ipv6_hdr *ip = pkt_ip6(v);

		if (v->proto == IPPROTO_ICMP_)
			return -1;
		*sum = csum_pseudo6(ip->saddr, ip->daddr, v->proto,
		    (uint32_t)l4len);
	} else
		return -1;
	*sum = csum_add(*sum, v->frame + v->l4_off, l4len);
	return 0;
}

int
pkt_l4_csum_ok(const struct pkt_view *v)
{
	uint32_t sum;

	if (l4_sum(v, &sum) != 0)
		return 0;
	/* RFC 768: zero means the sender did not compute one. IPv6 made it
	 * mandatory (RFC 8200 8.1). */
	if (v->proto == IPPROTO_UDP_ && v->l3 == PKT_L3_IPV4 &&
	    pkt_udp(v)->csum == 0)
		return 1;
	return csum_fold(sum) == 0;
}

void
pkt_l4_csum_set(struct pkt_view *v)
{
	uint8_t *field;
	uint32_t sum;
	uint16_t c;

	if (l4_sum(v, &sum) != 0)
		return;
	field = v->frame + v->l4_off + l4_csum_off(v->proto);
	memset(field, 0, 2);
	(void)l4_sum(v, &sum);
	c = csum_fold(sum);
	/* A computed zero is sent as all ones: zero means "none" in UDP. */
	if (v->proto == IPPROTO_UDP_ && c == 0)
		c = 0xffff;
	memcpy(field, &c, 2);
}

void
pkt_ip4_csum_set(struct pkt_view *v)
{
	struct ipv4_hdr *ip;

	if (v->l3 != PKT_L3_IPV4)
		return;
	ip = pkt_ip4(v);
	ip->csum = 0;
	ip->csum = ip_checksum(ip, v->l3_hlen);
}

int
pkt_ip4_csum_ok(const struct pkt_view *v)
{
	if (v->l3 != PKT_L3_IPV4)
		return 0;
	return ip_checksum(v->frame + v->l3_off, v->l3_hlen) == 0;
}

/*
 * Patch the transport checksum of v for a 16- or 32-bit change. UDP's
 * "no checksum" zero must survive, and a real sum that comes out zero
 * must not be mistaken for it (RFC 768).
 */
static void
l4_csum_patch(struct pkt_view *v, uint32_t old_be, uint32_t new_be,
    int wide, int partial)
{
	uint8_t *field = v->frame + v->l4_off + l4_csum_off(v->proto);
	int udp = v->proto == IPPROTO_UDP_ && !partial;
	uint16_t c;

	memcpy(&c, field, 2);
	if (udp && c == 0)
		return;
	if (wide)
		csum_update32_at(field, old_be, new_be, partial);
	else
		csum_update16_at(field, (uint16_t)old_be, (uint16_t)new_be,
		    partial);
	memcpy(&c, field, 2);
	if (udp && c == 0)
		memset(field, 0xff, 2);
	/*
	 * RFC 1624 eqn. 3 yields 0x0000 for a message whose sum is zero;
	 * that is right (-0) unless every covered byte is zero, where the
	 * checksum must be 0xffff. A pseudo-header never is all zero, but an
	 * ICMPv4 echo reply with zero id, sequence and payload is: recompute
	 * in that rare case rather than send a checksum receivers reject.
	 */
	if (!partial && c == 0 && v->proto == IPPROTO_ICMP_)
		pkt_l4_csum_set(v);
}

int
pkt_nat_addr4(struct pkt_view *v, int dst, uint32_t new_be, int partial)
{
	struct ipv4_hdr *ip;
	uint32_t old_be;
	uint8_t *addr;

	if (v->l3 != PKT_L3_IPV4)
		return -1;
	ip = pkt_ip4(v);
	addr = (uint8_t *)ip + (dst ? offsetof(struct ipv4_hdr, daddr_be) :
	    offsetof(struct ipv4_hdr, saddr_be));
	memcpy(&old_be, addr, 4);
	memcpy(addr, &new_be, 4);
	/* The IPv4 header checksum is never offloaded. */
	csum_update32_at(&ip->csum, old_be, new_be, 0);
	if (v->has_l4 &&
	    (v->proto == IPPROTO_TCP_ || v->proto == IPPROTO_UDP_))
		l4_csum_patch(v, old_be, new_be, 1, partial);
	return 0;
}

int
pkt_nat_addr6(struct pkt_view *v, int dst, const uint8_t new[16], int partial)
{
	struct ipv6_hdr *ip;
	uint8_t *addr;
	uint32_t o, n;
	int i;

	if (v->l3 != PKT_L3_IPV6)
		return -1;
	ip = pkt_ip6(v);
	addr = dst ? ip->daddr : ip->saddr;
	/* IPv6 has no header checksum; the transport's covers the address
	 * in its pseudo-header, one 32-bit word at a time. */
	for (i = 0; i < 16; i += 4) {
		memcpy(&o, addr + i, 4);
		memcpy(&n, new + i, 4);
		memcpy(addr + i, &n, 4);
		if (o != n && v->has_l4 && (v->proto == IPPROTO_TCP_ ||
		    v->proto == IPPROTO_UDP_ || v->proto == IPPROTO_ICMPV6_))
			l4_csum_patch(v, o, n, 1, partial);
	}
	return 0;
}

int
pkt_nat_port(struct pkt_view *v, int dst, uint16_t port, int partial)
{
	uint16_t old_be, new_be = htons(port);
	size_t off;

	if (!v->has_l4)
		return -1;
	switch (v->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
		off = dst ? 2 : 0;
		if (dst)
			v->dport = port;
		else
			v->sport = port;
		break;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_:
		if ((v->proto == IPPROTO_ICMP_ && v->icmp_type != ICMP_ECHO &&
		    v->icmp_type != ICMP_ECHOREPLY) ||
		    (v->proto == IPPROTO_ICMPV6_ &&
		    v->icmp_type != ICMPV6_ECHO_REQUEST &&
		    v->icmp_type != ICMPV6_ECHO_REPLY))
			return -1;
		off = offsetof(struct icmp_hdr, u.echo.id_be);
		v->icmp_id = port;
		break;
	default:
		return -1;
	}
	memcpy(&old_be, v->frame + v->l4_off + off, 2);
	memcpy(v->frame + v->l4_off + off, &new_be, 2);
	/* A partial sum covers only the pseudo-header; the port is summed
	 * when the checksum is completed. */
	if (!partial)
		l4_csum_patch(v, old_be, new_be, 0, 0);
	return 0;
}

/* Builders. */

static uint8_t *
put_eth(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6],
    uint16_t type)
{
	struct eth_hdr *eth = (struct eth_hdr *)buf;

	memcpy(eth->dst, dst, ETH_ALEN_);
	memcpy(eth->src, src, ETH_ALEN_);
	eth->type_be = htons(type);
	return buf + ETH_HLEN_;
}

static void
put_ip4(uint8_t *p, uint8_t tos, uint16_t totlen, uint8_t proto,
    uint32_t saddr_be, uint32_t daddr_be)
{
	struct ipv4_hdr *ip = (struct ipv4_hdr *)p;

	ip->ver_ihl = 0x45;
	ip->tos = tos;
	ip->tot_len_be = htons(totlen);
	ip->id_be = 0;
	ip->frag_be = 0;
	ip->ttl = 64;
	ip->proto = proto;
	ip->saddr_be = saddr_be;
	ip->daddr_be = daddr_be;
	ip->csum = 0;
	ip->csum = ip_checksum(ip, sizeof(*ip));
}

size_t
pkt_build_arp(uint8_t *buf, size_t cap, uint16_t op,
    const uint8_t src_mac[6], uint32_t sip_be,
    const uint8_t dst_mac[6], const uint8_t tha[6], uint32_t tip_be)
{
	const size_t len = ETH_HLEN_ + sizeof(struct arp_ipv4);
	struct arp_ipv4 *a;

	if (cap < len)
		return 0;
	a = (struct arp_ipv4 *)put_eth(buf, dst_mac, src_mac, ETHERTYPE_ARP);
	a->htype_be = htons(ARP_HTYPE_ETHER);
	a->ptype_be = htons(ETHERTYPE_IPV4);
	a->hlen = ETH_ALEN_;
	a->plen = 4;
	a->op_be = htons(op);
	memcpy(a->sha, src_mac, ETH_ALEN_);
	a->spa_be = sip_be;
	memcpy(a->tha, tha, ETH_ALEN_);
	a->tpa_be = tip_be;
	return len;
}

/* RFC 1122 3.2.2 / RFC 1812 4.3.2.7: never an error about an error. */
static int
is_icmp4_error(const struct pkt_view *v)
{
	if (v->proto != IPPROTO_ICMP_ || !v->has_l4)
		return 0;
	switch (v->icmp_type) {
	case ICMP_ECHOREPLY:
	case ICMP_ECHO:
	case 9: case 10:	/* router advertisement / solicitation */
	case 13: case 14:	/* timestamp */
	case 15: case 16:	/* information */
	case 17: case 18:	/* address mask */
		return 0;
	}
	return 1;
}

/* Sources no error may be sent to (RFC 1812 4.3.2.7). */
static int
bad_err_dst(uint32_t addr_be)
{
	uint32_t a = ntohl(addr_be);

	return a == 0 || a == 0xffffffff || (a >> 28) == 0xe ||
	    (a >> 24) == 127;
}

/*
 * Both builders read everything they need from orig before writing, so
 * buf may be orig's own frame buffer (answering in place).
 */
size_t
pkt_build_icmp4_error(uint8_t *buf, size_t cap,
    const uint8_t src_mac[6], const uint8_t dst_mac[6], uint32_t src_be,
    uint8_t type, uint8_t code, uint32_t rest_be,
    const struct pkt_view *orig, size_t quote_max)
{
	const size_t hdrs = sizeof(struct ipv4_hdr) + sizeof(struct icmp_hdr);
	struct icmp_hdr *icmp;
	uint32_t osrc_be;
	size_t olen, q, min;
	uint8_t *ip;

	if (orig->l3 != PKT_L3_IPV4 || orig->ip_end <= orig->l3_off ||
	    orig->ip_end > orig->len)
		return 0;
	if ((orig->is_frag && !orig->frag_first) || is_icmp4_error(orig))
		return 0;
	osrc_be = pkt_ip4(orig)->saddr_be;
	if (bad_err_dst(osrc_be))
		return 0;

	olen = orig->ip_end - orig->l3_off;
	/* The header and 8 transport bytes at least, whatever quote_max
	 * says; never more than fits in 576 bytes of IP. */
	min = orig->l3_hlen + 8;
	q = quote_max < min ? min : quote_max;
	if (q > ICMP_ERR_MAX_IP - hdrs)
		q = ICMP_ERR_MAX_IP - hdrs;
	if (q > olen)
		q = olen;
	if (cap < ETH_HLEN_ + hdrs + q)
		return 0;

	/* The quote first: it may overlap the headers we are about to
	 * write when buf is orig's frame. */
	memmove(buf + ETH_HLEN_ + hdrs, orig->frame + orig->l3_off, q);
	ip = put_eth(buf, dst_mac, src_mac, ETHERTYPE_IPV4);
	/* Precedence "internetwork control", as routers send errors. */
	put_ip4(ip, 0xc0, (uint16_t)(hdrs + q), IPPROTO_ICMP_, src_be, osrc_be);
	icmp = (struct icmp_hdr *)(ip + sizeof(struct ipv4_hdr));
	icmp->type = type;
	icmp->code = code;
	icmp->csum = 0;
	icmp->u.rest_be = rest_be;
	icmp->csum = ip_checksum(icmp, sizeof(*icmp) + q);
	return ETH_HLEN_ + hdrs + q;
}

size_t
pkt_build_tcp_rst4(uint8_t *buf, size_t cap,
    const uint8_t src_mac[6], const uint8_t dst_mac[6],
    const struct pkt_view *orig)
{
	const size_t tlen = sizeof(struct ipv4_hdr) + sizeof(struct tcp_hdr);
	uint32_t osrc_be, odst_be, oseq, oack_be;
	uint16_t osport_be, odport_be;
	uint32_t seglen;
	uint8_t oflags;
	struct tcp_hdr *t;
	uint8_t *ip;

	if (orig->l3 != PKT_L3_IPV4 || orig->proto != IPPROTO_TCP_ ||
	    !orig->has_l4 || orig->is_frag)
		return 0;
	/* RFC 793: a reset is never answered with a reset. */
	if (orig->tcp_flags & TCP_RST)
		return 0;
	if (cap < ETH_HLEN_ + tlen)
		return 0;
	osrc_be = pkt_ip4(orig)->saddr_be;
	odst_be = pkt_ip4(orig)->daddr_be;
	if (bad_err_dst(osrc_be))
		return 0;
	osport_be = pkt_tcp(orig)->sport_be;
	odport_be = pkt_tcp(orig)->dport_be;
	oseq = ntohl(pkt_tcp(orig)->seq_be);
	oack_be = pkt_tcp(orig)->ack_be;
	oflags = orig->tcp_flags;
	/* SYN and FIN each take a sequence number. */
	seglen = (uint32_t)pkt_l4_payload_len(orig) +
	    ((oflags & TCP_SYN) != 0) + ((oflags & TCP_FIN) != 0);

	ip = put_eth(buf, dst_mac, src_mac, ETHERTYPE_IPV4);
	put_ip4(ip, 0, tlen, IPPROTO_TCP_, odst_be, osrc_be);
	t = (struct tcp_hdr *)(ip + sizeof(struct ipv4_hdr));
	memset(t, 0, sizeof(*t));
	t->sport_be = odport_be;
	t->dport_be = osport_be;
	t->doff_rsv = (sizeof(*t) / 4) << 4;
	if (oflags & TCP_ACK) {
		t->seq_be = oack_be;
		t->flags = TCP_RST;
	} else {
		t->ack_be = htonl(oseq + seglen);
		t->flags = TCP_RST | TCP_ACK;
	}
	t->csum = csum_fold(csum_add(csum_pseudo4(odst_be, osrc_be,
	    IPPROTO_TCP_, sizeof(*t)), t, sizeof(*t)));
	return ETH_HLEN_ + tlen;
}

/* Formatting. */

const char *
ip4_str(uint32_t addr_be, char buf[16])
{
	const uint8_t *b = (const uint8_t *)&addr_be;

	snprintf(buf, 16, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	return buf;
}

const char *
mac_str(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
	    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}

/*
 * Strict dotted quad: exactly four decimal parts of 1..3 digits, each at
 * most 255, no leading zeros (inet_aton would read "010" as octal 8), no
 * signs, spaces or trailing bytes.
 */
int
ip4_parse(const char *s, uint32_t *addr_be)
{
	uint8_t b[4];
	unsigned int val, digits;
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < 4; i++) {
		val = 0;
		for (digits = 0; s[digits] >= '0' && s[digits] <= '9';
		    digits++) {
			if (digits == 3)
				return -1;
			val = val * 10 + (unsigned int)(s[digits] - '0');
		}
		if (digits == 0 || val > 255 || (digits > 1 && s[0] == '0'))
			return -1;
		b[i] = (uint8_t)val;
		s += digits;
		if (*s != (i < 3 ? '.' : '\0'))
			return -1;
		s++;
	}
	memcpy(addr_be, b, 4);
	return 0;
}
