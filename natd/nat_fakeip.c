/*
 * nat_fakeip.c: the net.fake-ip feature. dom0 may show a client another
 * address than the one it is routed by (/mapped-ip/<ip>/visible-ip) and
 * another gateway (visible-gateway). The stock Linux NetVM gives such a
 * vif a namespace of its own (QubesOS network/vif-qubes-nat.sh) that
 * translates, and so does this file, at the edge of the client's port:
 *   from the client: source visible-ip -> ip, destination visible-gateway
 *     -> the gateway we are (/qubes-netvm-gateway);
 *   to the client: the reverse;
 * in ARP and in the packet quoted by an ICMP error too. Everything else in
 * natd (anti-spoofing, rules, NAT) sees the real addresses only. Like the
 * stock namespace, which drops all IPv6, a mapped client gets no IPv6.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* The addresses port's client is shown, 0 when it is not mapped: worked
 * out again when the mappings or the port's address changed since. */
static uint32_t
port_vis(struct nat_engine *e, uint16_t port, uint32_t *vgw)
{
	struct nat_fakeip *fk = &e->fake;
	const struct nat_link *l = &e->link[port];
	uint32_t k;

	if (fk->pgen[port] != fk->gen || fk->for_ip[port] != l->ip) {
		fk->vis_ip[port] = fk->vis_gw[port] = 0;
		for (k = 0; k < fk->n && l->ip != 0; k++)
			if (fk->ip[k] == l->ip) {
				fk->vis_ip[port] = fk->vis[k];
				fk->vis_gw[port] = fk->gw[k];
				break;
			}
		fk->for_ip[port] = l->ip;
		fk->pgen[port] = fk->gen;
	}
	*vgw = fk->vis_gw[port];
	return fk->vis_ip[port];
}

void
nat_fakeip_set(struct nat_engine *e, const struct msg_clients *mc)
{
	struct nat_fakeip *fk = &e->fake;
	uint32_t k;
	char a[16], b[16], c[16];

	fk->n = 0;
	for (k = 0; k < mc->count && k < CLIENTS_MAX; k++) {
		const struct msg_client *cl = &mc->c[k];

		if (cl->ip == 0 || cl->visible_ip == 0 || cl->visible_ip == cl->ip)
			continue;
		fk->ip[fk->n] = cl->ip;
		fk->vis[fk->n] = cl->visible_ip;
		fk->gw[fk->n] = cl->visible_gw;
		fk->n++;
		log_info("client %s is shown as %s, gateway %s (net.fake-ip)",
		    ip4_str(cl->ip, a), ip4_str(cl->visible_ip, b),
		    cl->visible_gw ? ip4_str(cl->visible_gw, c) : "unchanged");
	}
	/* never 0, which a port that has not looked yet holds */
	if (++fk->gen == 0)
		fk->gen = 1;
}

/* old -> new for one address of the frame's IPv4 header, then the same for
 * the quote of an ICMP error (where the roles are swapped: the quoted
 * packet went the other way). */
static void
swap_addr(struct pkt_view *v, const struct mq_desc *d, int dst, uint32_t old,
    uint32_t new)
{
	const struct ipv4_hdr *ip = pkt_ip4(v);

	if (old != 0 && new != 0 && (dst ? ip->daddr_be : ip->saddr_be) == old)
		nat_set_addr(v, d, dst, new);
}

static void
swap_quote(struct pkt_view *v, const struct mq_desc *d, uint32_t s_old,
    uint32_t s_new, uint32_t d_old, uint32_t d_new)
{
	struct pkt_view in;
	const struct ipv4_hdr *qip;
	size_t qlen;

	if (v->proto != IPPROTO_ICMP_ || !v->has_l4 ||
	    !nat_icmp_is_error(v->icmp_type) ||
	    nat_quote_parse(d, v, &in, &qlen) != NAT_R_MAX)
		return;		/* natd's own checks drop it later */
	qip = (const struct ipv4_hdr *)in.frame;
	if (s_old != 0 && s_new != 0 && qip->saddr_be == s_old)
		nat_quote_set_addr(&in, qlen, 0, s_new);
	if (d_old != 0 && d_new != 0 && qip->daddr_be == d_old)
		nat_quote_set_addr(&in, qlen, 1, d_new);
	nat_icmp_resum(v);
}

static void
swap_arp(struct pkt_view *v, uint32_t s_old, uint32_t s_new, uint32_t t_old,
    uint32_t t_new, uint32_t t_old2, uint32_t t_new2)
{
	struct arp_ipv4 *a = pkt_arp(v);

	if (s_old != 0 && s_new != 0 && a->spa_be == s_old)
		a->spa_be = s_new;
	if (t_old != 0 && t_new != 0 && a->tpa_be == t_old)
		a->tpa_be = t_new;
	else if (t_old2 != 0 && t_new2 != 0 && a->tpa_be == t_old2)
		a->tpa_be = t_new2;
}

/* Is a one of the addresses port's client is shown (its visible address or
 * gateway)? Nothing from the uplink may come from those. */
int
nat_fakeip_shown(struct nat_engine *e, uint16_t port, uint32_t a)
{
	uint32_t vis, vgw;

	if (e->fake.n == 0 || port == MQ_PORT_UPLINK || port >= MQ_PORT_MAX ||
	    (vis = port_vis(e, port, &vgw)) == 0 || a == 0)
		return 0;
	return a == vis || a == vgw;
}

/* A frame from a mapped client, before anything else looks at it: 0 to
 * go on with it (translated), -1 when it was dropped. */
int
nat_fakeip_in(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	uint32_t real = e->link[d->port].ip, vis, vgw, gw = e->nc.netvm_gateway;

	if (e->fake.n == 0 || d->port >= MQ_PORT_MAX ||
	    (vis = port_vis(e, d->port, &vgw)) == 0)
		return 0;
	switch (v->l3) {
	case PKT_L3_IPV4:
		/* the client does not have its real address: one that uses
		 * it spoofs (the stock namespace drops all but the visible) */
		if (pkt_ip4(v)->saddr_be == real) {
			nat_drop(e, d, v, NAT_R_SPOOFED);
			return -1;
		}
		swap_quote(v, d, vgw, gw, vis, real);
		swap_addr(v, d, 0, vis, real);
		swap_addr(v, d, 1, vgw, gw);
		return 0;
	case PKT_L3_ARP:
		if (pkt_arp(v)->spa_be == real) {
			nat_drop(e, d, v, NAT_R_ARP_SPOOF);
			return -1;
		}
		/* asking for its own (visible) address is asking for its own */
		swap_arp(v, vis, real, vgw, gw, vis, real);
		return 0;
	case PKT_L3_IPV6:
		nat_drop(e, d, v, NAT_R_IPV6);
		return -1;
	default:
		return 0;
	}
}

/* A frame natd sends to a client's port: the client sees its addresses. */
void
nat_fakeip_out(struct nat_engine *e, struct mq_desc *d)
{
	uint32_t real, vis, vgw, gw = e->nc.netvm_gateway;
	struct pkt_view v;
	uint8_t *f;

	if (e->fake.n == 0 || d->port == MQ_PORT_UPLINK || d->port >= MQ_PORT_MAX ||
	    (vis = port_vis(e, d->port, &vgw)) == 0)
		return;
	real = e->link[d->port].ip;
	if ((f = nat_frame(e, d)) == NULL || pkt_parse(&v, f, d->len) != PKT_OK)
		return;
	if (v.l3 == PKT_L3_IPV4) {
		swap_addr(&v, d, 1, real, vis);
		swap_addr(&v, d, 0, gw, vgw);
		swap_quote(&v, d, real, vis, gw, vgw);
	} else if (v.l3 == PKT_L3_ARP)
		swap_arp(&v, gw, vgw, real, vis, 0, 0);
}
