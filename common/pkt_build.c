/*
 * pkt_build.c: the frames moat writes itself (ARP, ICMP errors, TCP
 * resets) and the address strings of its logs.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pkt.h"

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
	size_t q, min;
	uint8_t *ip;

	if (orig->l3 != PKT_L3_IPV4 || orig->ip_end <= orig->l3_off ||
	    orig->ip_end > orig->len)
		return 0;
	if ((orig->is_frag && !orig->frag_first) || is_icmp4_error(orig))
		return 0;
	osrc_be = pkt_ip4(orig)->saddr_be;
	if (bad_err_dst(osrc_be))
		return 0;

	/* The header and 8 transport bytes at least, whatever quote_max
	 * says; never more than fits in 576 bytes of IP. */
	min = orig->l3_hlen + 8;
	q = pkt_err_quote_len(orig, quote_max < min ? min : quote_max,
	    ICMP_ERR_MAX_IP - hdrs);
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

/* How much of orig an ICMP or ICMPv6 error quotes: want bytes of its IP
 * packet, at most room, at most the packet. */
size_t
pkt_err_quote_len(const struct pkt_view *orig, size_t want, size_t room)
{
	size_t olen = orig->ip_end - orig->l3_off, q = want;

	if (q > room)
		q = room;
	if (q > olen)
		q = olen;
	return q;
}

/*
 * The reset answering TCP segment orig (RFC 793), checksum 0: the caller
 * has it filled before writing any header, as buf may hold orig's frame.
 */
void
pkt_tcp_rst_hdr(const struct pkt_view *orig, struct tcp_hdr *t)
{
	const struct tcp_hdr *o = pkt_tcp(orig);
	uint8_t oflags = orig->tcp_flags;
	/* SYN and FIN each take a sequence number. */
	uint32_t seglen = (uint32_t)pkt_l4_payload_len(orig) +
	    ((oflags & TCP_SYN) != 0) + ((oflags & TCP_FIN) != 0);

	memset(t, 0, sizeof(*t));
	t->sport_be = o->dport_be;
	t->dport_be = o->sport_be;
	t->doff_rsv = (sizeof(*t) / 4) << 4;
	if (oflags & TCP_ACK) {
		t->seq_be = o->ack_be;
		t->flags = TCP_RST;
	} else {
		t->ack_be = htonl(ntohl(o->seq_be) + seglen);
		t->flags = TCP_RST | TCP_ACK;
	}
}

size_t
pkt_build_tcp_rst4(uint8_t *buf, size_t cap,
    const uint8_t src_mac[6], const uint8_t dst_mac[6],
    const struct pkt_view *orig)
{
	const size_t tlen = sizeof(struct ipv4_hdr) + sizeof(struct tcp_hdr);
	uint32_t osrc_be, odst_be;
	struct tcp_hdr rst, *t;
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
	pkt_tcp_rst_hdr(orig, &rst);

	ip = put_eth(buf, dst_mac, src_mac, ETHERTYPE_IPV4);
	put_ip4(ip, 0, tlen, IPPROTO_TCP_, odst_be, osrc_be);
	t = (struct tcp_hdr *)(ip + sizeof(struct ipv4_hdr));
	memcpy(t, &rst, sizeof(*t));
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
