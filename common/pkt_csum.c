/*
 * pkt_csum.c: Internet checksums (RFC 1071, 1624) and the rewrites NAT
 * makes to a parsed frame (addresses, ports), each keeping its checksums
 * right.
 */
#include <arpa/inet.h>
#include <string.h>

#include "pkt.h"

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
		    v->icmp_type != ICMP6_ECHO_REQUEST &&
		    v->icmp_type != ICMP6_ECHO_REPLY))
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
