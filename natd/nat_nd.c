/*
 * nat_nd.c: IPv6 neighbour discovery (RFC 4861), the IPv6 counterpart of
 * ARP in nat_answer.c.
 *
 * Clients: natd answers a neighbour solicitation for any address but the
 * client's own with its MAC on that link (it routes every address; the
 * client's own would be a duplicate-address answer), from the client's
 * address or a link-local one. It learns nothing from clients and never
 * believes their router advertisements, redirects or advertisements:
 * those are dropped and counted ("nd"), as are duplicate-address probes
 * and multicast listener reports.
 *
 * Uplink: natd resolves /qubes-gateway6 by solicitation (retried each
 * second until answered, refreshed each minute, as the IPv4 gateway's
 * ARP) and answers solicitations for /qubes-ip6 and its link-local
 * address there. Router advertisements are not needed (Qubes configures
 * addresses and the gateway) and are dropped.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* ICMPv6 types that are neighbour or router discovery, or multicast
 * listener discovery (RFC 2710, 3810): link-local business. */
int
nat_is_nd(const struct pkt_view *v)
{
	if (v->proto != IPPROTO_ICMPV6_ || !v->has_l4 || v->is_frag)
		return 0;
	switch (v->icmp_type) {
	case 130: case 131: case 132: case 143:		/* MLD */
	case ND_ROUTER_SOLICIT:
	case ND_ROUTER_ADVERT:
	case ND_NEIGHBOR_SOLICIT:
	case ND_NEIGHBOR_ADVERT:
	case ND_REDIRECT:
		return 1;
	}
	return 0;
}

/* Answer in place with an advertisement of target at our MAC. */
static void
send_na(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    const uint8_t dmac[6], const uint8_t dst[16], const uint8_t target[16],
    int router)
{
	uint8_t m[6], a[16], t[16];
	size_t n;

	/* The builder writes over the solicitation these came from. */
	memcpy(m, dmac, 6);
	memcpy(a, dst, 16);
	memcpy(t, target, 16);
	n = pkt_build_nd_na(nat_frame(e, d), e->pool->bufsz - d->off,
	    e->link[d->port].mac, m, a, t, router);
	nat_send_reply(e, d, v, n, d->port);
}

void
nat_client_nd(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[d->port];
	const uint8_t *src = pkt_ip6(v)->saddr;
	struct pkt_nd nd;

	if (v->icmp_type != ND_NEIGHBOR_SOLICIT || pkt_nd_parse(v, &nd) != 0 ||
	    ip6_is_zero(src)) {
		/* Everything else, and duplicate-address probes (from ::),
		 * which natd must not answer: the client would give up an
		 * address that is its own. */
		nat_drop(e, d, v, NAT_R_ND);
		return;
	}
	if (!ip6_eq(src, l->ip6) && !ip6_is_linklocal(src)) {
		nat_drop(e, d, v, NAT_R_SPOOFED);
		return;
	}
	if (ip6_eq(nd.target, l->ip6) || ip6_is_multicast(nd.target) ||
	    ip6_is_zero(nd.target) || (pkt_eth(v)->src[0] & 1)) {
		nat_drop(e, d, v, NAT_R_ND);
		return;
	}
	send_na(e, d, v, pkt_eth(v)->src, src, nd.target, 1);
}

void
nat_uplink_nd(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	const uint8_t *src = pkt_ip6(v)->saddr;
	const uint8_t *emac = pkt_eth(v)->src;
	uint8_t ll[16];
	struct pkt_nd nd;

	if (pkt_nd_parse(v, &nd) != 0) {
		nat_drop(e, d, v, NAT_R_ND);
		return;
	}
	/* The gateway tells us its MAC when it answers us, or when it asks
	 * for us (as with ARP). */
	if ((nd.type == ND_NEIGHBOR_ADVERT && ip6_eq(nd.target, e->nc.gateway6)) ||
	    (nd.type == ND_NEIGHBOR_SOLICIT && nd.has_lladdr &&
	    ip6_eq(src, e->nc.gateway6))) {
		const uint8_t *m = nd.has_lladdr ? nd.lladdr : emac;

		if (!(m[0] & 1)) {
			if (!e->gw6_known || memcmp(e->gw6_mac, m, 6) != 0) {
				char s[18];

				log_info("IPv6 gateway is at %s", mac_str(m, s));
			}
			memcpy(e->gw6_mac, m, 6);
			e->gw6_known = 1;
			e->gw6_next_ns_ms = e->now_ms + NAT_ARP_REFRESH_MS;
		}
	}
	ip6_linklocal(ll, e->link[MQ_PORT_UPLINK].mac);
	if (nd.type != ND_NEIGHBOR_SOLICIT || ip6_is_zero(src) ||
	    (!ip6_eq(nd.target, e->nc.ip6) && !ip6_eq(nd.target, ll))) {
		/* Others' solicitations, advertisements: normal noise. */
		nat_consume(e, d);
		return;
	}
	send_na(e, d, v, nd.has_lladdr ? nd.lladdr : emac, src, nd.target, 0);
}

static void
send_gw_ns(struct nat_engine *e)
{
	struct mq_desc o;
	uint8_t *buf;
	size_t cap, n;

	if (nat_buf_get(e, &o, &buf, &cap) == -1)
		return;
	n = pkt_build_nd_ns(buf, cap, e->link[MQ_PORT_UPLINK].mac, e->nc.ip6,
	    e->nc.gateway6);
	if (n == 0) {
		nat_buf_put(e, o.buf);
		return;
	}
	o.len = (uint32_t)n;
	nat_send(e, &o, MQ_PORT_UPLINK);
}

void
nat_ip6_tick(struct nat_engine *e)
{
	if (!nat_ip6_on(e, MQ_PORT_UPLINK) || !e->link[MQ_PORT_UPLINK].up ||
	    e->now_ms < e->gw6_next_ns_ms)
		return;
	send_gw_ns(e);
	e->gw6_next_ns_ms = e->now_ms + (e->gw6_known ? NAT_ARP_REFRESH_MS :
	    NAT_ARP_RETRY_MS);
}
