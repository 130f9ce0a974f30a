/*
 * nat_uplink.c: frames from the uplink: ARP, DNS answers, ICMP errors
 * about flows, IPv4 replies on flows that clients opened, and the first
 * packets of forwarded ports (nat_forward.c).
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* ---- ICMP errors about tracked flows ---- */

/* An ICMP error from outside about a packet natd sent for a client. */
static void
uplink_icmp_error(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct pkt_view in;
	struct ipv4_hdr *iip;
	struct ft_entry *f;
	size_t qlen;
	uint32_t idx;
	uint16_t lport, rport;
	enum nat_reason r;

	if ((r = nat_quote_parse(d, v, &in, &qlen)) != NAT_R_MAX) {
		nat_drop(e, d, v, r);
		return;
	}
	/* It is forwarded like any packet: never with a TTL that ran out
	 * (no error is sent about an error). */
	if (v->ttl <= 1) {
		nat_drop(e, d, v, NAT_R_TTL);
		return;
	}
	/* Its outer source may be any router on the path; what it quotes
	 * must be a packet natd sent, from our address, on a flow of ours
	 * (the lookup below is by the translated tuple). */
	iip = (struct ipv4_hdr *)in.frame;
	if (iip->saddr_be != e->nc.ip) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	if ((r = nat_quote_ports(&in, IPPROTO_ICMP_, ICMP_ECHO, &rport,
	    &lport)) != NAT_R_MAX) {
		nat_drop(e, d, v, r);
		return;
	}
	idx = nat_flow_live(e, ft_find_in(&e->ft, iip->daddr_be, iip->saddr_be,
	    in.proto, rport, lport));
	if (idx == FT_NIL || e->ft.ent[idx].state != FT_ACTIVE ||
	    e->ft.ent[idx].kind == FT_K_C2C) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	f = &e->ft.ent[idx];
	if (!e->link[f->cport].up || e->link[f->cport].ip != f->csrc) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	nat_quote_set_addr(&in, qlen, 0, f->csrc);
	nat_quote_set_port(&in, qlen, 0, f->csport);
	if (f->flags & FT_F_REDIRECT) {
		nat_quote_set_addr(&in, qlen, 1, f->odst);
		if (pkt_ip4(v)->saddr_be == f->rdst)
			nat_set_addr(v, d, 0, f->odst);
	}
	nat_set_addr(v, d, 1, f->csrc);
	nat_icmp_resum(v);
	nat_dec_ttl(v);
	nat_set_macs(v, e->link[f->cport].mac, nat_client_mac(e, f->cport));
	nat_send(e, d, f->cport);
}

/* ---- uplink ---- */

static void
uplink_ip4(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[MQ_PORT_UPLINK];
	struct ipv4_hdr *ip = pkt_ip4(v);
	struct eth_hdr *eh = pkt_eth(v);
	uint32_t src = ip->saddr_be, dst = ip->daddr_be, idx;
	uint16_t rport = 0, lport = 0;

	if (!(eh->dst[0] & 1) && memcmp(eh->dst, l->mac, 6) != 0) {
		nat_drop(e, d, v, NAT_R_MAC);
		return;
	}
	if (nat_port_of_ip(e, src) != 0 || src == e->nc.ip ||
	    nat_connected(e, src)) {
		nat_drop(e, d, v, NAT_R_SPOOFED);
		return;
	}
	if (dst != e->nc.ip) {
		nat_drop(e, d, v, NAT_R_NOT_OURS);
		return;
	}
	if (!nat_offload_ok(d, v)) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	if (v->proto == IPPROTO_UDP_ && v->has_l4 && v->sport == 53 &&
	    nat_dns_input(e, d, v))
		return;
	if (v->is_frag && !v->frag_first) {
		/* TTL here, not with the first's below: forwarded, 0 would
		 * wrap to 255. */
		if (v->ttl <= 1) {
			nat_drop(e, d, v, NAT_R_TTL);
			return;
		}
		nat_uplink_frag(e, d, v);
		return;
	}
	switch (v->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
		rport = v->sport;
		lport = v->dport;
		break;
	case IPPROTO_ICMP_:
		if (v->icmp_type == ICMP_ECHO && !v->is_frag) {
			nat_echo_reply(e, d, v);
			return;
		}
		if (nat_icmp_is_error(v->icmp_type)) {
			uplink_icmp_error(e, d, v);
			return;
		}
		if (v->icmp_type != ICMP_ECHOREPLY) {
			nat_drop(e, d, v, NAT_R_PROTO);
			return;
		}
		lport = v->icmp_id;
		break;
	default:
		nat_drop(e, d, v, NAT_R_PROTO);
		return;
	}
	if (v->ttl <= 1) {
		nat_send_icmp_error(e, d, v, ICMP_TIME_EXCEEDED, 0, 0);
		nat_drop(e, d, v, NAT_R_TTL);
		return;
	}
	idx = nat_flow_live(e, ft_find_in(&e->ft, src, dst, v->proto, rport, lport));
	if (idx == FT_NIL && nat_fwd_inbound(e, d, v))
		return;
	if (idx == FT_NIL || e->ft.ent[idx].kind == FT_K_C2C) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	if (e->ft.ent[idx].state != FT_ACTIVE) {
		nat_drop(e, d, v, e->ft.ent[idx].state == FT_BLOCKED ?
		    NAT_R_POLICY_DROP : NAT_R_NO_FLOW);
		return;
	}
	if (v->is_frag)
		nat_frag_first_done(e, v, src, dst, DIR_IN, idx,
		    MQ_PORT_UPLINK);
	nat_flow_forward_in(e, d, v, idx);
}

void
nat_uplink_input(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	if (!e->link[MQ_PORT_UPLINK].known || !e->link[MQ_PORT_UPLINK].up) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	switch (v->l3) {
	case PKT_L3_ARP:
		nat_uplink_arp(e, d, v);
		break;
	case PKT_L3_IPV4:
		uplink_ip4(e, d, v);
		break;
	case PKT_L3_IPV6:
		nat_uplink_ip6(e, d, v);	/* nat_ip6_gate let it in */
		break;
	default:
		nat_drop(e, d, v, NAT_R_ETHERTYPE);
	}
}
