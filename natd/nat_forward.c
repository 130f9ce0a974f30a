/*
 * nat_forward.c: inbound port forwards. A TCP SYN or a UDP datagram from
 * the uplink to /qubes-ip and a forwarded port, from a source the forward
 * allows, opens a flow of kind FT_K_FWD to the forward's client and port.
 * From then on the flow is an ordinary entry of the table (flowtab.h says
 * how it is keyed): the remote's packets are translated to the client on
 * the way in, the client's are translated back to /qubes-ip and the
 * forwarded port on the way out, and they can only ever be the reverse of
 * that flow (the client's packet is looked up by its exact 5-tuple).
 *
 * natd's own table decides these flows (policyd is never asked: only the
 * JSON forward rules govern them); a new table cuts the flows it no longer
 * allows, as a rule change cuts outbound flows. ICMP errors about a
 * forwarded flow are translated both ways as for an outbound flow
 * (nat_uplink.c, nat_client.c). A forwarded flow counts toward the
 * client's quota, but the remote side can hold at most half of it and only
 * ever displaces a forwarded flow that is not established.
 *
 * IPv6 forwards work the same way on /qubes-ip6: the flow goes to the
 * IPv6 address of the forward's client (the one its link has; a client
 * without IPv6 gets nothing), keyed as nat_ip6.c keys IPv6 flows.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* Is a (the first plen bits of) b? */
static int
prefix_eq(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned n = plen / 8, r = plen % 8;

	if (memcmp(a, b, n) != 0)
		return 0;
	return r == 0 || ((a[n] ^ b[n]) & (0xff << (8 - r))) == 0;
}

/* Does fw take (proto, port) from src, an IPv4 (4 bytes, network order)
 * or IPv6 (16) address? */
static int
fwd_match(const struct msg_forward *fw, uint8_t proto, uint16_t port,
    int family, const uint8_t *src)
{
	if (fw->proto != proto || port < fw->lo || port > fw->hi ||
	    (fw->family != 0 && fw->family != family))
		return 0;
	if (family == 4)
		return prefix_eq(src, (const uint8_t *)&fw->from4,
		    fw->from4_plen);
	return prefix_eq(src, fw->from6, fw->from6_plen);
}

static const struct msg_forward *
fwd_find(const struct nat_engine *e, uint8_t proto, uint16_t port,
    int family, const uint8_t *src)
{
	uint32_t i;

	for (i = 0; i < e->nfwd; i++)
		if (fwd_match(&e->fwd[i], proto, port, family, src))
			return &e->fwd[i];
	return NULL;
}

/* Is the forwarded flow f still what a forward in force would open? */
int
nat_fwd_allowed(const struct nat_engine *e, const struct ft_entry *f)
{
	const struct msg_forward *fw;

	if (f->flags & FT_F_V6) {
		const struct ft_addr6 *a = &e->ft.a6[f - e->ft.ent];
		const struct nat_link *l = &e->link[f->cport];

		if (ip6_is_zero(e->nc.ip6) ||
		    f->nsrc != ft_tag6(&e->ft, e->nc.ip6))
			return 0;
		fw = fwd_find(e, f->proto, f->nsport, 6, a->dst);
		return fw != NULL && l->known && l->ip == fw->to4 &&
		    ip6_eq(l->ip6, a->src) &&
		    f->csport == fw->toport + (f->nsport - fw->lo);
	}
	if (f->nsrc != e->nc.ip)
		return 0;
	fw = fwd_find(e, f->proto, f->nsport, 4, (const uint8_t *)&f->rdst);
	return fw != NULL && fw->to4 == f->csrc &&
	    f->csport == fw->toport + (f->nsport - fw->lo);
}

static int
host_bits_clear(const uint8_t a[16], unsigned plen)
{
	unsigned i;

	for (i = plen; i < 128; i++)
		if (a[i / 8] & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

/* Is one entry of a table natd was given sane? policyd checked it, but
 * natd trusts nothing it is sent. */
static int
fwd_ok(const struct msg_forward *fw)
{
	uint32_t a = ntohl(fw->to4);

	return (fw->proto == IPPROTO_TCP_ || fw->proto == IPPROTO_UDP_) &&
	    (fw->family == 0 || fw->family == 4 || fw->family == 6) &&
	    fw->lo >= FWD_PORT_MIN && fw->hi <= FWD_PORT_MAX &&
	    fw->lo <= fw->hi && fw->toport != 0 &&
	    (uint32_t)fw->toport + (fw->hi - fw->lo) <= 65535 &&
	    a != 0 && (a >> 24) != 127 && (a >> 28) < 0xe &&
	    fw->from4_plen <= 32 && fw->from6_plen <= 128 &&
	    (fw->from4_plen == 0 ? fw->from4 == 0 :
	    (fw->from4 & ~htonl(0xffffffffu << (32 - fw->from4_plen))) == 0) &&
	    host_bits_clear(fw->from6, fw->from6_plen);
}

void
nat_forwards(struct nat_engine *e, const struct msg_forwards *m, uint64_t now)
{
	uint32_t i, n = m->count < FWD_MAX ? m->count : FWD_MAX;

	e->now_ms = now;
	e->nfwd = 0;
	for (i = 0; i < n; i++) {
		if (!fwd_ok(&m->f[i])) {
			log_warnx("forward of rule %u: bad entry ignored",
			    m->f[i].rule);
			continue;
		}
		e->fwd[e->nfwd++] = m->f[i];
	}
	log_info("%u port forwards in force (rules generation %u)", e->nfwd,
	    m->generation);
	if (!e->started)
		return;
	for (i = 0; i < e->ft.nflows; i++) {
		const struct ft_entry *f = &e->ft.ent[i];

		if (f->state != FT_FREE && f->kind == FT_K_FWD &&
		    !nat_fwd_allowed(e, f))
			nat_cut_flow(e, i);
	}
}

/*
 * Make room for a forwarded flow to the client on port: only another
 * forwarded flow of that client goes, and only one that has timed out,
 * was never answered, or is not (or no longer) an established TCP
 * connection. So a remote host can neither displace the client's own
 * connections nor the forwarded ones in use.
 */
static int
fwd_evict(struct nat_engine *e, uint16_t port)
{
	struct flowtab *t = &e->ft;
	uint32_t i, n = 0;

	for (i = t->client[port].lru_head; i != FT_NIL && n < NAT_EVICT_SCAN;
	    i = t->ent[i].lru_next, n++) {
		const struct ft_entry *f = &t->ent[i];

		if (f->kind != FT_K_FWD)
			continue;
		if (nat_flow_expired(e, f) || !(f->flags & FT_F_REPLIED) ||
		    (f->proto == IPPROTO_TCP_ && f->tcp != FT_TCP_ESTABLISHED)) {
			nat_flow_remove(e, i, NAT_R_QUOTA);
			return 1;
		}
	}
	return 0;
}

/* Where a new forwarded flow goes and what it is keyed by: the client's,
 * the remote's and moat's addresses (tags for IPv6, with the addresses). */
struct fwd_addrs {
	uint32_t	 c, r, n;
	const uint8_t	*c6, *r6;
};

/*
 * Open the forwarded flow for v, the first packet of a connection to fw
 * on the client at port (down: why it cannot be reached, or NAT_R_MAX),
 * unless the client already uses the 5-tuple (taken) or its quota is
 * full. FT_NIL when v was dropped; else the flow's index, linked.
 */
static uint32_t
fwd_open(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    const struct msg_forward *fw, uint16_t port, enum nat_reason down,
    const struct fwd_addrs *a)
{
	struct ft_entry *f;
	uint16_t toport = (uint16_t)(fw->toport + (v->dport - fw->lo));
	uint32_t idx;

	/* Only a connection's first packet opens one, as conntrack has it:
	 * anything else without a flow is a stray (or a scan). */
	if (v->proto == IPPROTO_TCP_ &&
	    (v->tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return FT_NIL;
	}
	if (down != NAT_R_MAX) {
		nat_drop(e, d, v, down);
		return FT_NIL;
	}
	/* The client already uses that 5-tuple for a connection of its own:
	 * the remote cannot take it over. */
	if ((a->c6 != NULL ? ft_find_out6(&e->ft, a->c6, a->r6, v->proto,
	    toport, v->sport) : ft_find_out(&e->ft, a->c, a->r, v->proto,
	    toport, v->sport)) != FT_NIL) {
		nat_drop(e, d, v, NAT_R_PORTS);
		return FT_NIL;
	}
	if ((e->ft.client[port].nflows >= e->cfg.client_quota ||
	    e->ft.client[port].nfwd >= e->cfg.client_quota / 2) &&
	    !fwd_evict(e, port)) {
		nat_drop(e, d, v, NAT_R_QUOTA);
		return FT_NIL;
	}
	idx = ft_alloc(&e->ft);
	if (idx == FT_NIL && fwd_evict(e, port))
		idx = ft_alloc(&e->ft);
	if (idx == FT_NIL) {
		nat_drop(e, d, v, NAT_R_TABLE_FULL);
		return FT_NIL;
	}
	f = &e->ft.ent[idx];
	f->state = FT_ACTIVE;
	f->proto = v->proto;
	f->kind = FT_K_FWD;
	f->cport = port;
	f->csport = toport;
	f->dport = v->sport;
	f->nsport = v->dport;
	f->csrc = a->c;
	f->odst = f->rdst = a->r;
	f->nsrc = a->n;
	if (a->c6 != NULL) {
		f->flags = FT_F_V6;
		memcpy(e->ft.a6[idx].src, a->c6, 16);
		memcpy(e->ft.a6[idx].dst, a->r6, 16);
	}
	f->tcp = v->proto == IPPROTO_TCP_ ? FT_TCP_SYN_SENT : FT_TCP_NONE;
	f->last = now_s(e);
	e->ft.cnt[idx].start = f->last;
	e->ft.cnt[idx].rule = fw->rule;
	ft_link(&e->ft, idx);
	e->hold_head[idx] = e->hold_tail[idx] = FT_NIL;
	e->hold_n[idx] = 0;
	return idx;
}

/* Is v a TCP or UDP packet to a forwarded port? */
static int
fwd_port(const struct pkt_view *v)
{
	return (v->proto == IPPROTO_TCP_ || v->proto == IPPROTO_UDP_) &&
	    v->has_l4 && v->dport >= FWD_PORT_MIN && v->dport <= FWD_PORT_MAX;
}

/*
 * The link of the forward's client and its port; *down (NAT_R_MAX
 * before) says the client cannot take the packet now.
 */
static uint16_t
fwd_client(struct nat_engine *e, const struct msg_forward *fw,
    struct nat_link **l, enum nat_reason *down)
{
	uint16_t port = nat_port_of_ip(e, fw->to4);

	*l = &e->link[port];
	if (port == 0 || !(*l)->up || (*l)->ip != fw->to4)
		*down = NAT_R_LINK_DOWN;
	return port;
}

/*
 * A TCP or UDP packet from the uplink for our address that no flow took.
 * 1 when it was a forwarded port's (forwarded or dropped), 0 when no
 * forward wants it (the caller drops it as before).
 */
int
nat_fwd_inbound(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	const struct ipv4_hdr *ip = pkt_ip4(v);
	const struct msg_forward *fw;
	struct fwd_addrs a;
	enum nat_reason down = NAT_R_MAX;
	uint32_t src = ip->saddr_be, idx;
	struct nat_link *l;
	uint16_t port;

	if (!fwd_port(v) || (fw = fwd_find(e, v->proto, v->dport, 4,
	    (const uint8_t *)&src)) == NULL)
		return 0;
	/* No host sends from these: the client's answers could go nowhere
	 * else than to a group or back into moat. */
	{
		uint32_t h = ntohl(src);

		/* Nor from moat's own addresses on the clients' side: the
		 * client would take it for its gateway's or its DNS
		 * server's. */
		if (h == 0xffffffffu || (h >> 28) >= 0xe || (h >> 24) == 0 ||
		    (h >> 24) == 127 || src == e->nc.netvm_gateway ||
		    src == e->nc.netvm_dns[0] || src == e->nc.netvm_dns[1]) {
			nat_drop(e, d, v, NAT_R_MARTIAN);
			return 1;
		}
	}
	port = fwd_client(e, fw, &l, &down);
	/* net.fake-ip: the gateway (and address) this client is shown are
	 * moat's own to it, as above. */
	if (down == NAT_R_MAX && nat_fakeip_shown(e, port, src)) {
		nat_drop(e, d, v, NAT_R_MARTIAN);
		return 1;
	}
	memset(&a, 0, sizeof(a));
	a.c = fw->to4;
	a.r = src;
	a.n = e->nc.ip;
	if ((idx = fwd_open(e, d, v, fw, port, down, &a)) == FT_NIL)
		return 1;
	if (log_getlevel() >= LOG_LVL_DEBUG) {
		char s1[16], s2[16];

		log_debug("forward (rule %u): %s:%u > :%u to %s:%u proto %u",
		    fw->rule, ip4_str(src, s1), v->sport, v->dport,
		    ip4_str(fw->to4, s2), e->ft.ent[idx].csport, v->proto);
	}
	if (v->is_frag)
		nat_frag_first_done(e, v, src, ip->daddr_be, DIR_IN, idx,
		    MQ_PORT_UPLINK);
	nat_flow_forward_in(e, d, v, idx);
	return 1;
}

/* The same for IPv6 (nat_uplink_ip6 checked the source: no martian, no
 * client's, not ours): to the forward's client's IPv6 address. */
int
nat_fwd_inbound6(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	const struct ipv6_hdr *ip = pkt_ip6(v);
	const struct msg_forward *fw;
	struct fwd_addrs a;
	enum nat_reason down = NAT_R_MAX;
	struct nat_link *l;
	uint32_t idx;
	uint16_t port;

	if (!fwd_port(v) || (fw = fwd_find(e, v->proto, v->dport, 6,
	    ip->saddr)) == NULL)
		return 0;
	/* Nor from the gateway the clients see (moat's own, as for IPv4). */
	if (ip6_eq(ip->saddr, e->nc.netvm_gateway6)) {
		nat_drop(e, d, v, NAT_R_MARTIAN);
		return 1;
	}
	port = fwd_client(e, fw, &l, &down);
	if (down == NAT_R_MAX && !nat_ip6_on(e, port))
		down = NAT_R_IPV6;	/* the client has no IPv6 */
	memset(&a, 0, sizeof(a));
	a.c6 = l->ip6;
	a.r6 = ip->saddr;
	a.c = ft_tag6(&e->ft, l->ip6);
	a.r = ft_tag6(&e->ft, ip->saddr);
	a.n = ft_tag6(&e->ft, e->nc.ip6);
	if ((idx = fwd_open(e, d, v, fw, port, down, &a)) == FT_NIL)
		return 1;
	if (log_getlevel() >= LOG_LVL_DEBUG) {
		char s1[46], s2[46];

		log_debug("forward (rule %u): [%s]:%u > :%u to [%s]:%u proto %u",
		    fw->rule, ip6_str(ip->saddr, s1), v->sport, v->dport,
		    ip6_str(l->ip6, s2), e->ft.ent[idx].csport, v->proto);
	}
	nat_frag_first_done(e, v, 0, 0, DIR_IN, idx, MQ_PORT_UPLINK);
	nat_flow_forward_in(e, d, v, idx);
	return 1;
}
