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
 * IPv4 only for now: the table already carries family and from6, so an
 * IPv6 forward needs only its own lookup here.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* Does fw take (proto, port) from src (IPv4)? */
static int
fwd_match4(const struct msg_forward *fw, uint8_t proto, uint16_t port,
    uint32_t src)
{
	uint32_t mask;

	if (fw->proto != proto || port < fw->lo || port > fw->hi ||
	    fw->family == 6)
		return 0;
	if (fw->from4_plen == 0)
		return 1;
	mask = htonl(0xffffffffu << (32 - fw->from4_plen));
	return (src & mask) == fw->from4;
}

static const struct msg_forward *
fwd_find4(const struct nat_engine *e, uint8_t proto, uint16_t port,
    uint32_t src)
{
	uint32_t i;

	for (i = 0; i < e->nfwd; i++)
		if (fwd_match4(&e->fwd[i], proto, port, src))
			return &e->fwd[i];
	return NULL;
}

/* Is the forwarded flow f still what a forward in force would open? */
int
nat_fwd_allowed(const struct nat_engine *e, const struct ft_entry *f)
{
	const struct msg_forward *fw;

	if (f->nsrc != e->nc.ip)
		return 0;
	fw = fwd_find4(e, f->proto, f->nsport, f->rdst);
	return fw != NULL && fw->to4 == f->csrc &&
	    f->csport == fw->toport + (f->nsport - fw->lo);
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
	    (fw->from4 & ~htonl(0xffffffffu << (32 - fw->from4_plen))) == 0);
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
	uint32_t src = ip->saddr_be, idx;
	struct ft_entry *f;
	struct nat_link *l;
	uint16_t port, toport;

	if ((v->proto != IPPROTO_TCP_ && v->proto != IPPROTO_UDP_) ||
	    !v->has_l4 || v->dport < FWD_PORT_MIN || v->dport > FWD_PORT_MAX ||
	    (fw = fwd_find4(e, v->proto, v->dport, src)) == NULL)
		return 0;
	/* No host sends from these: the client's answers could go nowhere
	 * else than to a group or back into moat. */
	{
		uint32_t a = ntohl(src);

		/* Nor from moat's own addresses on the clients' side: the
		 * client would take it for its gateway's or its DNS
		 * server's. */
		if (a == 0xffffffffu || (a >> 28) >= 0xe || (a >> 24) == 0 ||
		    (a >> 24) == 127 || src == e->nc.netvm_gateway ||
		    src == e->nc.netvm_dns[0] || src == e->nc.netvm_dns[1]) {
			nat_drop(e, d, v, NAT_R_MARTIAN);
			return 1;
		}
	}
	/* Only a connection's first packet opens one, as conntrack has it:
	 * anything else without a flow is a stray (or a scan). */
	if (v->proto == IPPROTO_TCP_ &&
	    (v->tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return 1;
	}
	port = nat_port_of_ip(e, fw->to4);
	l = &e->link[port];
	if (port == 0 || !l->up || l->ip != fw->to4) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return 1;
	}
	/* net.fake-ip: the gateway (and address) this client is shown are
	 * moat's own to it, as above. */
	if (nat_fakeip_shown(e, port, src)) {
		nat_drop(e, d, v, NAT_R_MARTIAN);
		return 1;
	}
	toport = (uint16_t)(fw->toport + (v->dport - fw->lo));
	/* The client already uses that 5-tuple for a connection of its own:
	 * the remote cannot take it over. */
	if (ft_find_out(&e->ft, fw->to4, src, v->proto, toport, v->sport) !=
	    FT_NIL) {
		nat_drop(e, d, v, NAT_R_PORTS);
		return 1;
	}
	if ((e->ft.client[port].nflows >= e->cfg.client_quota ||
	    e->ft.client[port].nfwd >= e->cfg.client_quota / 2) &&
	    !fwd_evict(e, port)) {
		nat_drop(e, d, v, NAT_R_QUOTA);
		return 1;
	}
	idx = ft_alloc(&e->ft);
	if (idx == FT_NIL && fwd_evict(e, port))
		idx = ft_alloc(&e->ft);
	if (idx == FT_NIL) {
		nat_drop(e, d, v, NAT_R_TABLE_FULL);
		return 1;
	}
	f = &e->ft.ent[idx];
	f->state = FT_ACTIVE;
	f->proto = v->proto;
	f->kind = FT_K_FWD;
	f->cport = port;
	f->csport = toport;
	f->dport = v->sport;
	f->nsport = v->dport;
	f->csrc = fw->to4;
	f->odst = f->rdst = src;
	f->nsrc = e->nc.ip;
	f->tcp = v->proto == IPPROTO_TCP_ ? FT_TCP_SYN_SENT : FT_TCP_NONE;
	f->last = now_s(e);
	ft_link(&e->ft, idx);
	e->hold_head[idx] = e->hold_tail[idx] = FT_NIL;
	e->hold_n[idx] = 0;
	if (log_getlevel() >= LOG_LVL_DEBUG) {
		char a[16], b[16];

		log_debug("forward (rule %u): %s:%u > :%u to %s:%u proto %u",
		    fw->rule, ip4_str(src, a), v->sport, v->dport,
		    ip4_str(fw->to4, b), toport, v->proto);
	}
	if (v->is_frag)
		nat_frag_first_done(e, v, src, ip->daddr_be, DIR_IN, idx,
		    MQ_PORT_UPLINK);
	nat_flow_forward_in(e, d, v, idx);
	return 1;
}
