/*
 * nat_client.c: frames from client VMs: ARP, ICMP errors about flows,
 * and IPv4 to the uplink or to another client (new flows go to policyd).
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* ---- ICMP errors about tracked flows ---- */

/* An ICMP error from a client about a packet it received through a flow
 * (e.g. port unreachable for a UDP reply). */
static void
client_icmp_error(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct pkt_view in;
	struct ipv4_hdr *iip;
	struct ft_entry *f;
	size_t qlen;
	uint32_t idx;
	uint16_t cport, rport;
	enum nat_reason r;

	if ((r = nat_quote_parse(d, v, &in, &qlen)) != NAT_R_MAX) {
		nat_drop(e, d, v, r);
		return;
	}
	iip = (struct ipv4_hdr *)in.frame;
	if (iip->daddr_be != pkt_ip4(v)->saddr_be) {
		nat_drop(e, d, v, NAT_R_SPOOFED);
		return;
	}
	if (in.proto == IPPROTO_TCP_ || in.proto == IPPROTO_UDP_) {
		rport = in.sport;
		cport = in.dport;
	} else if (in.proto == IPPROTO_ICMP_ && in.icmp_type == ICMP_ECHOREPLY) {
		rport = 0;
		cport = in.icmp_id;
	} else {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	idx = nat_flow_live(e, ft_find_out(&e->ft, iip->daddr_be, iip->saddr_be,
	    in.proto, cport, rport));
	if (idx == FT_NIL || e->ft.ent[idx].state != FT_ACTIVE ||
	    e->ft.ent[idx].kind == FT_K_C2C || e->ft.ent[idx].cport != d->port) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	f = &e->ft.ent[idx];
	/*
	 * An error goes back to whoever sent the packet it quotes: the
	 * flow's peer as the client saw it (for a redirected DNS flow, the
	 * virtual address it asked). Addressed anywhere else, it would carry
	 * the quote (the client's bytes) to a host no rule allowed, and
	 * policyd is never asked about errors. Linux conntrack calls such an
	 * error invalid.
	 */
	if (pkt_ip4(v)->daddr_be != iip->saddr_be) {
		nat_drop(e, d, v, NAT_R_ICMP_MISMATCH);
		return;
	}
	if (!e->gw_known || !e->link[MQ_PORT_UPLINK].up) {
		nat_drop(e, d, v, NAT_R_NO_GATEWAY);
		return;
	}
	nat_quote_set_addr(&in, qlen, 1, f->nsrc);
	nat_quote_set_port(&in, qlen, 1, f->nsport);
	if (f->flags & FT_F_REDIRECT) {
		nat_quote_set_addr(&in, qlen, 0, f->rdst);
		nat_set_addr(v, d, 1, f->rdst);
	}
	nat_set_addr(v, d, 0, f->nsrc);
	nat_icmp_resum(v);
	nat_dec_ttl(v);
	nat_set_macs(v, e->link[MQ_PORT_UPLINK].mac, e->gw_mac);
	nat_send(e, d, MQ_PORT_UPLINK);
}

/* ---- clients ---- */

static int
martian(uint32_t a_be)
{
	uint32_t a = ntohl(a_be);

	return a == 0xffffffffu || (a >> 28) == 0xe || (a >> 24) == 0 ||
	    (a >> 24) == 127;
}

static void
client_ip4(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[d->port];
	struct ipv4_hdr *ip = pkt_ip4(v);
	struct eth_hdr *eh = pkt_eth(v);
	uint32_t src = ip->saddr_be, dst = ip->daddr_be, idx;
	uint16_t sport = 0, dport = 0;

	if (src != l->ip) {
		nat_drop(e, d, v, NAT_R_SPOOFED);
		return;
	}
	if (!(eh->dst[0] & 1) && memcmp(eh->dst, l->mac, 6) != 0) {
		nat_drop(e, d, v, NAT_R_MAC);
		return;
	}
	if (!l->peer_mac_known && !(eh->src[0] & 1)) {
		/* Xen tells us the client's MAC; devnet does not, so take it
		 * from its first well-formed IP frame (never from ARP). */
		memcpy(l->peer_mac, eh->src, 6);
		l->peer_mac_known = 1;
	}
	if (martian(dst)) {
		nat_drop(e, d, v, NAT_R_MARTIAN);
		return;
	}
	if (!nat_offload_ok(d, v)) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	if (dst == e->nc.netvm_gateway || dst == e->nc.ip) {
		if (v->proto == IPPROTO_ICMP_ && v->has_l4 && !v->is_frag &&
		    v->icmp_type == ICMP_ECHO)
			nat_echo_reply(e, d, v);
		else
			nat_drop(e, d, v, NAT_R_LOCAL);
		return;
	}
	if (v->ttl <= 1) {
		nat_send_icmp_error(e, d, v, ICMP_TIME_EXCEEDED, 0, 0);
		nat_drop(e, d, v, NAT_R_TTL);
		return;
	}
	if (v->is_frag && !v->frag_first) {
		nat_client_frag(e, d, v);
		return;
	}
	switch (v->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
		sport = v->sport;
		dport = v->dport;
		break;
	case IPPROTO_ICMP_:
		if (nat_icmp_is_error(v->icmp_type)) {
			client_icmp_error(e, d, v);
			return;
		}
		if (v->icmp_type != ICMP_ECHO && v->icmp_type != ICMP_ECHOREPLY) {
			nat_drop(e, d, v, NAT_R_PROTO);
			return;
		}
		sport = v->icmp_id;
		break;
	default:
		nat_drop(e, d, v, NAT_R_PROTO);
		return;
	}
	/* A reply on a client-to-client flow opened by the other client? */
	idx = nat_flow_live(e, ft_find_in(&e->ft, src, dst, v->proto,
	    v->proto == IPPROTO_ICMP_ ? 0 : sport,
	    v->proto == IPPROTO_ICMP_ ? sport : dport));
	if (idx != FT_NIL && e->ft.ent[idx].kind == FT_K_C2C &&
	    (v->proto != IPPROTO_ICMP_ || v->icmp_type == ICMP_ECHOREPLY)) {
		if (e->ft.ent[idx].state == FT_ACTIVE) {
			if (v->is_frag)
				nat_frag_first_done(e, v, src, dst, DIR_IN, idx, d->port);
			nat_flow_forward_in(e, d, v, idx);
		} else
			nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	if (v->proto == IPPROTO_ICMP_ && v->icmp_type == ICMP_ECHOREPLY) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	idx = nat_flow_live(e, ft_find_out(&e->ft, src, dst, v->proto, sport, dport));
	if (idx == FT_NIL) {
		nat_new_flow(e, d, v, sport, dport);
		return;
	}
	switch (e->ft.ent[idx].state) {
	case FT_PENDING:
		if (nat_hold_push(e, idx, d) == -1)
			nat_drop(e, d, v, NAT_R_PENDING_FULL);
		else
			nat_frag_first_done(e, v, src, dst, DIR_OUT, idx,
			    d->port);
		return;
	case FT_ACTIVE:
		nat_frag_first_done(e, v, src, dst, DIR_OUT, idx, d->port);
		nat_flow_forward_out(e, d, v, idx);
		return;
	default:
		nat_blocked(e, d, v, &e->ft.ent[idx]);
	}
}

void
nat_client_input(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[d->port];

	if (!l->known || !l->up || l->kind != LINK_CLIENT || l->ip == 0) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	if (nat_fakeip_in(e, d, v) < 0)
		return;
	switch (v->l3) {
	case PKT_L3_ARP:
		nat_client_arp(e, d, v);
		break;
	case PKT_L3_IPV4:
		client_ip4(e, d, v);
		break;
	case PKT_L3_IPV6:
		nat_client_ip6(e, d, v);	/* nat_ip6_gate let it in */
		break;
	default:
		nat_drop(e, d, v, NAT_R_ETHERTYPE);
	}
}
