/*
 * nat_rewrite.c: rewriting header fields of a frame natd forwards, with
 * the checksums updated incrementally (or left to the offload that will
 * compute them), and the same for the packet quoted inside an ICMP error.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* ---- checksummed field rewrites ---- */

/*
 * Sets an IPv4 header's destination (dst) or source address to n, with
 * its header checksum; returns the address it had (n: nothing changed).
 */
static uint32_t
ip4_set_addr(struct ipv4_hdr *ip, int dst, uint32_t n)
{
	uint32_t o = dst ? ip->daddr_be : ip->saddr_be;
	uint16_t c;

	if (o == n)
		return o;
	c = ip->csum;
	csum_update32(&c, o, n);
	ip->csum = c;
	if (dst)
		ip->daddr_be = n;
	else
		ip->saddr_be = n;
	return o;
}

void
nat_set_addr(struct pkt_view *v, const struct mq_desc *d, int dst, uint32_t n)
{
	uint32_t o;
	uint16_t c;

	if ((o = ip4_set_addr(pkt_ip4(v), dst, n)) == n)
		return;
	if (!v->has_l4)
		return;
	/* The address is in TCP's and UDP's pseudo-header; ICMP has none. */
	if (v->proto == IPPROTO_TCP_) {
		struct tcp_hdr *th = pkt_tcp(v);

		c = th->csum;
		if (d->flags & MQ_F_NEEDS_CSUM)
			csum_update32_partial(&c, o, n);
		else
			csum_update32(&c, o, n);
		th->csum = c;
	} else if (v->proto == IPPROTO_UDP_) {
		struct udp_hdr *uh = pkt_udp(v);

		c = uh->csum;
		if (d->flags & MQ_F_NEEDS_CSUM)
			csum_update32_partial(&c, o, n);
		else if (c != 0) {
			csum_update32(&c, o, n);
			if (c == 0)
				c = 0xffff;
		}
		uh->csum = c;
	}
}

/* Port (TCP/UDP) or echo identifier (ICMP), host order. */
void
nat_set_port(struct pkt_view *v, const struct mq_desc *d, int dst, uint16_t hn)
{
	uint16_t n = htons(hn), o, c;
	int partial = (d->flags & MQ_F_NEEDS_CSUM) != 0;

	if (!v->has_l4)
		return;
	if (v->proto == IPPROTO_TCP_) {
		struct tcp_hdr *th = pkt_tcp(v);

		o = dst ? th->dport_be : th->sport_be;
		if (o == n)
			return;
		if (dst)
			th->dport_be = n;
		else
			th->sport_be = n;
		/* A partial checksum covers only the pseudo-header: the
		 * ports are summed when the checksum is completed. */
		if (!partial) {
			c = th->csum;
			csum_update16(&c, o, n);
			th->csum = c;
		}
		if (dst)
			v->dport = hn;
		else
			v->sport = hn;
	} else if (v->proto == IPPROTO_UDP_) {
		struct udp_hdr *uh = pkt_udp(v);

		o = dst ? uh->dport_be : uh->sport_be;
		if (o == n)
			return;
		if (dst)
			uh->dport_be = n;
		else
			uh->sport_be = n;
		if (!partial && uh->csum != 0) {
			c = uh->csum;
			csum_update16(&c, o, n);
			uh->csum = c == 0 ? 0xffff : c;
		}
		if (dst)
			v->dport = hn;
		else
			v->sport = hn;
	} else if (v->proto == IPPROTO_ICMP_ && (v->icmp_type == ICMP_ECHO ||
	    v->icmp_type == ICMP_ECHOREPLY)) {
		struct icmp_hdr *ih = pkt_icmp(v);

		o = ih->u.echo.id_be;
		if (o == n)
			return;
		ih->u.echo.id_be = n;
		if (!partial) {
			c = ih->csum;
			csum_update16(&c, o, n);
			ih->csum = c;
		}
		v->icmp_id = hn;
	}
}

void
nat_dec_ttl(struct pkt_view *v)
{
	struct ipv4_hdr *ip = pkt_ip4(v);
	uint16_t o, n, c;

	memcpy(&o, &ip->ttl, 2);
	ip->ttl--;
	memcpy(&n, &ip->ttl, 2);
	c = ip->csum;
	csum_update16(&c, o, n);
	ip->csum = c;
	v->ttl = ip->ttl;
}

void
nat_set_macs(struct pkt_view *v, const uint8_t src[6], const uint8_t dst[6])
{
	struct eth_hdr *eh = pkt_eth(v);

	memcpy(eh->src, src, 6);
	memcpy(eh->dst, dst, 6);
}

/* A partial checksum must point at the L4 checksum field we update. */
int
nat_offload_ok(const struct mq_desc *d, const struct pkt_view *v)
{
	if (!(d->flags & MQ_F_NEEDS_CSUM))
		return 1;
	if (!v->has_l4 || d->csum_start != v->l4_off)
		return 0;
	switch (v->proto) {
	case IPPROTO_TCP_:
		return d->csum_offset == 16;
	case IPPROTO_UDP_:
		return d->csum_offset == 6;
	case IPPROTO_ICMP_:
		return d->csum_offset == 2;
	}
	return 0;
}

/* ---- ICMP errors about tracked flows ---- */

/*
 * Translate the IPv4 packet quoted in an ICMP error: the addresses and
 * ports it carries, its header checksum and whatever part of its L4
 * checksum was quoted. in describes the quote; qlen bytes are present.
 */
void
nat_quote_set_addr(struct pkt_view *in, size_t qlen, int dst, uint32_t n)
{
	uint8_t *l4 = in->frame + in->l3_hlen;
	size_t l4len = qlen - in->l3_hlen;
	uint32_t o;
	uint16_t c;

	if ((o = ip4_set_addr((struct ipv4_hdr *)in->frame, dst, n)) == n)
		return;
	if (in->proto == IPPROTO_TCP_ && l4len >= 18) {
		struct tcp_hdr *th = (struct tcp_hdr *)l4;

		c = th->csum;
		csum_update32(&c, o, n);
		th->csum = c;
	} else if (in->proto == IPPROTO_UDP_) {
		struct udp_hdr *uh = (struct udp_hdr *)l4;

		if (uh->csum != 0) {
			c = uh->csum;
			csum_update32(&c, o, n);
			uh->csum = c == 0 ? 0xffff : c;
		}
	}
}

void
nat_quote_set_port(struct pkt_view *in, size_t qlen, int dst, uint16_t hn)
{
	uint8_t *l4 = in->frame + in->l3_hlen;
	size_t l4len = qlen - in->l3_hlen;
	uint16_t n = htons(hn), o, c;

	if (in->proto == IPPROTO_TCP_) {
		struct tcp_hdr *th = (struct tcp_hdr *)l4;

		o = dst ? th->dport_be : th->sport_be;
		if (dst)
			th->dport_be = n;
		else
			th->sport_be = n;
		if (l4len >= 18 && o != n) {
			c = th->csum;
			csum_update16(&c, o, n);
			th->csum = c;
		}
	} else if (in->proto == IPPROTO_UDP_) {
		struct udp_hdr *uh = (struct udp_hdr *)l4;

		o = dst ? uh->dport_be : uh->sport_be;
		if (dst)
			uh->dport_be = n;
		else
			uh->sport_be = n;
		if (uh->csum != 0 && o != n) {
			c = uh->csum;
			csum_update16(&c, o, n);
			uh->csum = c == 0 ? 0xffff : c;
		}
	} else if (in->proto == IPPROTO_ICMP_) {
		struct icmp_hdr *ih = (struct icmp_hdr *)l4;

		o = ih->u.echo.id_be;
		ih->u.echo.id_be = n;
		if (o != n) {
			c = ih->csum;
			csum_update16(&c, o, n);
			ih->csum = c;
		}
	}
}

/* The outer ICMP checksum covers the quote: recompute it whole (the
 * message is short, at most 576 bytes by RFC 1812). */
void
nat_icmp_resum(struct pkt_view *v)
{
	struct icmp_hdr *ih = pkt_icmp(v);

	ih->csum = 0;
	ih->csum = ip_checksum(ih, v->ip_end - v->l4_off);
}

int
nat_icmp_is_error(uint8_t type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	    type == ICMP_PARAMPROB;
}

/*
 * Checks common to ICMP errors from either side, before anything is looked
 * up or rewritten. Returns NAT_R_MAX when the error may be translated,
 * else the reason to drop it.
 */
enum nat_reason
nat_quote_parse(const struct mq_desc *d, const struct pkt_view *v,
    struct pkt_view *in, size_t *qlen)
{
	uint8_t *q = v->frame + v->l4_off + v->l4_hlen;
	size_t len = pkt_l4_payload_len(v);
	int sr;

	if (v->is_frag || (d->flags & MQ_F_NEEDS_CSUM) ||
	    pkt_parse_icmp_quote(in, q, len) != PKT_OK ||
	    in->l3_hlen + 8 > len)
		return NAT_R_MALFORMED;
	/* nat_icmp_resum() makes the checksum right whatever it was: verify it
	 * first, or a corrupted (or crafted) error leaves looking intact. */
	if (ip_checksum(pkt_icmp(v), v->ip_end - v->l4_off) != 0)
		return NAT_R_BAD_CHECKSUM;
	/* natd never forwards a source-routed packet, so an error about one
	 * is about nothing it sent. */
	if ((sr = pkt_ip4_srcroute(in->frame, in->l3_hlen)) != 0)
		return sr > 0 ? NAT_R_SRCROUTE : NAT_R_MALFORMED;
	/* A non-first fragment carries no ports: it names no flow, and no
	 * router sends an error about one (RFC 1812 4.3.2.7). */
	if (in->is_frag && !in->frag_first)
		return NAT_R_NO_FLOW;
	*qlen = len;
	return NAT_R_MAX;
}
