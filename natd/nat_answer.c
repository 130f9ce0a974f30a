/*
 * nat_answer.c: frames natd originates or answers itself: ICMP errors and
 * RSTs for rejected or undeliverable packets, echo replies, ARP replies on
 * every link and the ARP requests for the uplink's gateway.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

static const uint8_t mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t zero6[6];

/* ---- frames natd originates ---- */

const uint8_t *
nat_client_mac(const struct nat_engine *e, uint16_t port)
{
	const struct nat_link *l = &e->link[port];

	return l->peer_mac_known ? l->peer_mac : mac_bcast;
}

/* An ICMP error about the frame in v, sent back where it came from. */
void
nat_send_icmp_error(struct nat_engine *e, const struct mq_desc *d,
    const struct pkt_view *v, uint8_t type, uint8_t code, uint32_t rest_be)
{
	struct mq_desc o;
	uint8_t *buf;
	size_t cap, n;
	uint16_t port = d->port;
	uint32_t src;
	const uint8_t *dmac;

	if (port == MQ_PORT_UPLINK) {
		if (!e->gw_known)
			return;
		src = e->nc.ip;
		dmac = e->gw_mac;
	} else {
		src = e->nc.netvm_gateway ? e->nc.netvm_gateway : e->nc.ip;
		dmac = pkt_eth(v)->src;
	}
	/* Never an error about an error, a fragment tail or a broadcast. */
	if (v->is_frag && !v->frag_first)
		return;
	if (v->proto == IPPROTO_ICMP_ && v->has_l4 &&
	    v->icmp_type != ICMP_ECHO && v->icmp_type != ICMP_ECHOREPLY)
		return;
	if (nat_buf_get(e, &o, &buf, &cap) == -1) {
		e->link[port].c.drops[NAT_R_NO_BUFFER]++;
		return;
	}
	n = pkt_build_icmp4_error(buf, cap, e->link[port].mac, dmac, src,
	    type, code, rest_be, v, 548);
	if (n == 0) {
		nat_buf_put(e, o.buf);
		return;
	}
	o.len = (uint32_t)n;
	nat_send(e, &o, port);
}

static void
send_reject(struct nat_engine *e, const struct mq_desc *d, const struct pkt_view *v)
{
	struct mq_desc o;
	uint8_t *buf;
	size_t cap, n;

	if (v->l3 == PKT_L3_IPV6) {
		nat_reject6(e, d, v);
		return;
	}
	if (v->proto != IPPROTO_TCP_ || !v->has_l4) {
		nat_send_icmp_error(e, d, v, ICMP_DEST_UNREACH, ICMP_ADMIN_PROHIBITED, 0);
		return;
	}
	if (v->tcp_flags & TCP_RST)
		return;
	if (nat_buf_get(e, &o, &buf, &cap) == -1) {
		e->link[d->port].c.drops[NAT_R_NO_BUFFER]++;
		return;
	}
	n = pkt_build_tcp_rst4(buf, cap, e->link[d->port].mac, pkt_eth(v)->src, v);
	if (n == 0) {
		nat_buf_put(e, o.buf);
		return;
	}
	o.len = (uint32_t)n;
	nat_send(e, &o, d->port);
}

/*
 * The end of a bare RST of either family: th's fields, the checksums, and
 * off to port; buf (len bytes, zeroed, the IP header written) is o's.
 */
void
nat_rst_send(struct nat_engine *e, struct mq_desc *o, uint8_t *buf,
    size_t len, uint16_t port, struct tcp_hdr *th, uint16_t sport,
    uint16_t dport, uint32_t seq)
{
	struct pkt_view v;

	th->sport_be = htons(sport);
	th->dport_be = htons(dport);
	th->seq_be = htonl(seq);
	th->doff_rsv = 5 << 4;
	th->flags = TCP_RST;
	if (pkt_parse(&v, buf, len) != PKT_OK) {
		nat_buf_put(e, o->buf);
		return;
	}
	pkt_ip4_csum_set(&v);	/* IPv4 only */
	pkt_l4_csum_set(&v);
	o->len = (uint32_t)len;
	nat_send(e, o, port);
}

/* A bare RST (for cutting a flow), built field by field. */
void
nat_send_rst(struct nat_engine *e, uint16_t port, const uint8_t dmac[6],
    uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
    uint32_t seq)
{
	struct mq_desc o;
	struct eth_hdr *eh;
	struct ipv4_hdr *ip;
	uint8_t *buf;
	size_t cap, len = 14 + 20 + 20;

	if (nat_buf_get(e, &o, &buf, &cap) == -1 || cap < 60)
		return;
	memset(buf, 0, 60);
	eh = (struct eth_hdr *)buf;
	memcpy(eh->dst, dmac, 6);
	memcpy(eh->src, e->link[port].mac, 6);
	eh->type_be = htons(ETHERTYPE_IPV4);
	ip = (struct ipv4_hdr *)(buf + 14);
	ip->ver_ihl = 0x45;
	ip->tot_len_be = htons(40);
	ip->frag_be = htons(IPV4_DF);
	ip->ttl = 64;
	ip->proto = IPPROTO_TCP_;
	ip->saddr_be = saddr;
	ip->daddr_be = daddr;
	nat_rst_send(e, &o, buf, len, port, (struct tcp_hdr *)(buf + 34),
	    sport, dport, seq);
}

/* ---- clients ---- */

void
nat_send_reply(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    size_t n, uint16_t port)
{
	if (n == 0) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	d->len = (uint32_t)n;
	d->flags = 0;
	d->gso_type = MQ_GSO_NONE;
	d->gso_size = 0;
	d->csum_start = d->csum_offset = 0;
	nat_send(e, d, port);
}

void
nat_client_arp(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[d->port];
	struct arp_ipv4 *a = pkt_arp(v);
	uint8_t sha[6];
	uint32_t spa = a->spa_be, tpa = a->tpa_be;
	uint8_t *f = nat_frame(e, d);
	size_t n;

	/* The answer to natd's own question (nat_client_arp_probe), from the
	 * client's address on its own link: as good a source for its MAC as
	 * its first IP frame, and the only one when it has sent none. */
	if (ntohs(a->op_be) == ARPOP_REPLY_ && !l->peer_mac_known &&
	    l->arp_probe_ms != 0 && spa == l->ip && tpa == e->nc.netvm_gateway &&
	    !(a->sha[0] & 1) && memcmp(a->sha, zero6, 6) != 0) {
		memcpy(l->peer_mac, a->sha, 6);
		l->peer_mac_known = 1;
		nat_consume(e, d);
		return;
	}
	if (ntohs(a->op_be) != ARPOP_REQUEST_ || spa == tpa) {
		/* Replies and gratuitous ARP: logged, never believed. */
		nat_drop(e, d, v, spa == l->ip ? NAT_R_ARP : NAT_R_ARP_SPOOF);
		return;
	}
	if (spa != l->ip && spa != 0) {
		nat_drop(e, d, v, NAT_R_ARP_SPOOF);
		return;
	}
	if (tpa == l->ip) {
		/* Duplicate address detection: nobody else has it. */
		nat_drop(e, d, v, NAT_R_ARP);
		return;
	}
	memcpy(sha, a->sha, 6);
	n = pkt_build_arp(f, e->pool->bufsz - d->off, ARPOP_REPLY_, l->mac, tpa,
	    sha, sha, spa);
	nat_send_reply(e, d, v, n, d->port);
}

/* Echo request to natd's own address: answered in place. */
void
nat_echo_reply(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct ipv4_hdr *ip = pkt_ip4(v);
	struct icmp_hdr *ih = pkt_icmp(v);
	struct eth_hdr *eh = pkt_eth(v);
	uint32_t a = ip->saddr_be;
	uint16_t o, n, c;
	uint8_t mac[6];

	memcpy(&o, ih, 2);
	ih->type = ICMP_ECHOREPLY;
	memcpy(&n, ih, 2);
	if (!(d->flags & MQ_F_NEEDS_CSUM)) {
		c = ih->csum;
		csum_update16(&c, o, n);
		ih->csum = c;
	}
	/* Swapping the addresses leaves every checksum unchanged. */
	ip->saddr_be = ip->daddr_be;
	ip->daddr_be = a;
	memcpy(&o, &ip->ttl, 2);
	ip->ttl = 64;
	memcpy(&n, &ip->ttl, 2);
	c = ip->csum;
	csum_update16(&c, o, n);
	ip->csum = c;
	memcpy(mac, eh->src, 6);
	memcpy(eh->src, e->link[d->port].mac, 6);
	memcpy(eh->dst, mac, 6);
	nat_send(e, d, d->port);
}

/* The frame was dropped or rejected under a flow's cached verdict. */
void
nat_blocked(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    const struct ft_entry *f)
{
	if (f->flags & FT_F_REJECT) {
		send_reject(e, d, v);
		nat_drop(e, d, v, NAT_R_POLICY_REJECT);
	} else
		nat_drop(e, d, v, NAT_R_POLICY_DROP);
}

/* ---- uplink ---- */

void
nat_uplink_arp(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[MQ_PORT_UPLINK];
	struct arp_ipv4 *a = pkt_arp(v);
	uint32_t spa = a->spa_be, tpa = a->tpa_be;
	uint8_t sha[6];
	size_t n;

	memcpy(sha, a->sha, 6);
	if (spa != 0 && spa == e->nc.gateway && !(sha[0] & 1)) {
		if (!e->gw_known || memcmp(e->gw_mac, sha, 6) != 0) {
			char m[18];

			log_info("gateway is at %s", mac_str(sha, m));
		}
		memcpy(e->gw_mac, sha, 6);
		e->gw_known = 1;
		e->gw_next_arp_ms = e->now_ms + NAT_ARP_REFRESH_MS;
	}
	if (ntohs(a->op_be) != ARPOP_REQUEST_ || tpa != e->nc.ip || spa == 0) {
		/* Requests for other hosts are normal broadcast noise. */
		nat_consume(e, d);
		return;
	}
	n = pkt_build_arp(nat_frame(e, d), e->pool->bufsz - d->off, ARPOP_REPLY_,
	    l->mac, tpa, sha, sha, spa);
	nat_send_reply(e, d, v, n, MQ_PORT_UPLINK);
}

/* ---- timers ---- */

/*
 * Ask a client for its MAC (devnet: netbackd does not know it, and natd
 * learns it from the client's first IP frame). A restarted natd that must
 * send to a client before the client has said anything (a forwarded
 * connection, a reply) would otherwise only have the broadcast address,
 * which Linux's TCP ignores. At most once a second per client.
 */
void
nat_client_arp_probe(struct nat_engine *e, uint16_t port)
{
	struct nat_link *l = &e->link[port];
	struct mq_desc o;
	uint8_t *buf;
	size_t cap, n;

	if (l->peer_mac_known || l->ip == 0 || e->nc.netvm_gateway == 0 ||
	    (l->arp_probe_ms != 0 && e->now_ms < l->arp_probe_ms + 1000))
		return;
	if (nat_buf_get(e, &o, &buf, &cap) == -1)
		return;
	n = pkt_build_arp(buf, cap, ARPOP_REQUEST_, l->mac,
	    e->nc.netvm_gateway, mac_bcast, zero6, l->ip);
	if (n == 0) {
		nat_buf_put(e, o.buf);
		return;
	}
	l->arp_probe_ms = e->now_ms ? e->now_ms : 1;
	o.len = (uint32_t)n;
	nat_send(e, &o, port);
}

void
nat_send_gw_arp(struct nat_engine *e)
{
	struct mq_desc o;
	uint8_t *buf;
	size_t cap, n;
	static const uint8_t zero[6];

	if (nat_buf_get(e, &o, &buf, &cap) == -1)
		return;
	n = pkt_build_arp(buf, cap, ARPOP_REQUEST_, e->link[MQ_PORT_UPLINK].mac,
	    e->nc.ip, mac_bcast, zero, e->nc.gateway);
	if (n == 0) {
		nat_buf_put(e, o.buf);
		return;
	}
	o.len = (uint32_t)n;
	nat_send(e, &o, MQ_PORT_UPLINK);
}
