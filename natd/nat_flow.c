/*
 * nat_flow.c: a flow's life: created on a client's first packet (held
 * while policyd decides), timed out, evicted, and the forwarding of
 * packets along it in both directions.
 *
 * Eviction order when a new flow needs an entry (documented contract):
 *   1. the client is at its quota: among the 64 least recently used flows
 *      of that same client, the first one that is expired, blocked, closing
 *      or never answered; else that client's least recently used flow.
 *      Pending flows are never evicted. Nothing found: drop ("quota").
 *   2. the table is full: the same choice made in the client that holds
 *      the most flows (the flooding one), so one client can only ever evict
 *      its own flows or those of a client holding at least as many.
 *      Nothing found: drop ("table_full").
 * Expired flows are also removed by a sweep once a second (nat_tick).
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* ---- flows ---- */

static uint32_t
flow_timeout(const struct nat_engine *e, const struct ft_entry *f)
{
	const struct nat_config *c = &e->cfg;
	int replied = (f->flags & FT_F_REPLIED) && f->state == FT_ACTIVE;

	switch (f->proto) {
	case IPPROTO_TCP_:
		if (!replied)
			return f->tcp == FT_TCP_CLOSED ? NAT_TO_TCP_CLOSED : c->to_tcp_syn;
		switch (f->tcp) {
		case FT_TCP_ESTABLISHED:
			return c->to_tcp_est;
		case FT_TCP_CLOSING:
			return c->to_tcp_closing;
		case FT_TCP_CLOSED:
			return NAT_TO_TCP_CLOSED;
		default:
			return c->to_tcp_syn;
		}
	case IPPROTO_UDP_:
		return replied ? c->to_udp_stream : c->to_udp;
	default:
		return c->to_icmp;
	}
}

int
nat_flow_expired(const struct nat_engine *e, const struct ft_entry *f)
{
	uint32_t t = now_s(e);

	if (f->state == FT_PENDING)
		return (uint64_t)(t - f->last) * 1000 >= NAT_TO_PENDING_MS;
	return t - f->last > flow_timeout(e, f);
}

static void
hold_drop_all(struct nat_engine *e, uint32_t idx, enum nat_reason r)
{
	uint32_t h = e->hold_head[idx];
	struct nat_link *l = &e->link[e->ft.ent[idx].cport];

	while (h != FT_NIL) {
		uint32_t next = e->hold[h].next;

		nat_drop(e, &e->hold[h].d, NULL, r);
		e->hold[h].next = e->hold_free;
		e->hold_free = h;
		l->nheld--;
		h = next;
	}
	e->hold_head[idx] = e->hold_tail[idx] = FT_NIL;
	e->hold_n[idx] = 0;
}

void
nat_flow_remove(struct nat_engine *e, uint32_t idx, enum nat_reason r)
{
	struct ft_entry *f = &e->ft.ent[idx];

	if (f->state == FT_PENDING) {
		hold_drop_all(e, idx, r);
		e->link[f->cport].npending--;
	}
	ft_remove(&e->ft, idx);
}

/* Returns the index if the flow is usable, FT_NIL (after removing it) if
 * it has expired. */
uint32_t
nat_flow_live(struct nat_engine *e, uint32_t idx)
{
	if (idx == FT_NIL)
		return FT_NIL;
	if (nat_flow_expired(e, &e->ft.ent[idx])) {
		nat_flow_remove(e, idx, NAT_R_POLICY_TIMEOUT);
		return FT_NIL;
	}
	return idx;
}

/* A frame of len bytes went along flow idx in direction dir (DIR_*). */
static void
flow_seen(struct nat_engine *e, uint32_t idx, int dir, uint32_t len)
{
	struct ft_entry *f = &e->ft.ent[idx];
	struct ft_count *c = &e->ft.cnt[idx];
	uint32_t t = now_s(e);

	/* Plain adds: natd is the only writer, and moat.Flows reads them
	 * from natd's own loop, between packets. */
	c->bytes[dir == DIR_IN] += len;
	c->pkts[dir == DIR_IN]++;

	/* Re-linking once a second is enough to keep the LRU order useful. */
	if (f->last != t) {
		f->last = t;
		ft_touch(&e->ft, idx);
	}
}

static void
tcp_track(struct ft_entry *f, const struct pkt_view *v, int dir)
{
	uint8_t fl = v->tcp_flags;
	/* The side that opened: the client, or the remote for a forward. */
	int init = f->kind == FT_K_FWD ? DIR_IN : DIR_OUT;

	if (!v->has_l4)
		return;
	if (fl & TCP_ACK) {
		uint32_t ack = ntohl(pkt_tcp(v)->ack_be);

		if (dir == DIR_OUT)
			f->c_ack = ack;
		else
			f->r_ack = ack;
	}
	if (fl & TCP_RST) {
		f->tcp = FT_TCP_CLOSED;
		return;
	}
	if (fl & TCP_FIN) {
		if (f->tcp != FT_TCP_CLOSED)
			f->tcp = FT_TCP_CLOSING;
		return;
	}
	switch (f->tcp) {
	case FT_TCP_SYN_SENT:
		if (dir != init && (fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
			f->tcp = FT_TCP_SYN_RECV;
		break;
	case FT_TCP_SYN_RECV:
		if (dir == init && (fl & (TCP_SYN | TCP_ACK)) == TCP_ACK)
			f->tcp = FT_TCP_ESTABLISHED;
		break;
	case FT_TCP_CLOSING:
	case FT_TCP_CLOSED:
		/* The opener reuses the port pair: a new connection. */
		if (dir == init && (fl & (TCP_SYN | TCP_ACK)) == TCP_SYN)
			f->tcp = FT_TCP_SYN_SENT;
		break;
	}
}

static int
evict_from(struct nat_engine *e, uint16_t port)
{
	struct flowtab *t = &e->ft;
	uint32_t i, n = 0, oldest = FT_NIL;

	for (i = t->client[port].lru_head; i != FT_NIL && n < NAT_EVICT_SCAN;
	    i = t->ent[i].lru_next, n++) {
		const struct ft_entry *f = &t->ent[i];

		if (f->state == FT_PENDING)
			continue;
		if (oldest == FT_NIL)
			oldest = i;
		if (nat_flow_expired(e, f) || f->state == FT_BLOCKED ||
		    !(f->flags & FT_F_REPLIED) || f->tcp == FT_TCP_CLOSING ||
		    f->tcp == FT_TCP_CLOSED) {
			nat_flow_remove(e, i, NAT_R_TABLE_FULL);
			return 1;
		}
	}
	if (oldest == FT_NIL)
		return 0;
	nat_flow_remove(e, oldest, NAT_R_TABLE_FULL);
	return 1;
}

static int
evict_global(struct nat_engine *e, uint16_t asking)
{
	uint32_t p, best = asking, most = e->ft.client[asking].nflows;

	for (p = 1; p < MQ_PORT_MAX; p++)
		if (e->ft.client[p].nflows > most) {
			most = e->ft.client[p].nflows;
			best = p;
		}
	return most > 0 && evict_from(e, (uint16_t)best);
}

/* Where a NAT flow's replies would come from: a translated port is free
 * when no flow takes replies from there on it. */
struct nsport_key {
	uint8_t		 proto;
	uint16_t	 dport;
	uint32_t	 rdst;		/* IPv4 */
	const uint8_t	*dst6;		/* IPv6, or NULL */
};

static int
nsport_free(const struct nat_engine *e, const struct nsport_key *k,
    uint16_t p)
{
	if (k->dst6 != NULL)
		return ft_find_in6(&e->ft, k->dst6, e->nc.ip6, k->proto,
		    k->dport, p) == FT_NIL;
	if (ft_find_in(&e->ft, k->rdst, e->nc.ip, k->proto, k->dport, p) !=
	    FT_NIL)
		return 0;
	if (k->proto == IPPROTO_UDP_ && k->dport == 53 &&
	    nat_dns_port_busy(e, k->rdst, p))
		return 0;
	return 1;
}

/* Forwarded ports are never a NAT flow's (msg.h, FWD_PORT_MIN), in
 * either family: an echo id is not a port. */
static int
nsport_ok(const struct nat_engine *e, const struct nsport_key *k, int echo,
    uint16_t p)
{
	if (!echo && p >= FWD_PORT_MIN && p <= FWD_PORT_MAX)
		return 0;
	return nsport_free(e, k, p);
}

/* Keep the client's port when free, as Linux masquerading does; else a
 * random one of the same class (below 1024 or not; never one kept for
 * forwards). The remote is rdst (IPv4) or dst6 when not NULL. */
int
nat_alloc_nsport(struct nat_engine *e, uint8_t proto, uint32_t rdst,
    const uint8_t *dst6, uint16_t dport, uint16_t want, uint16_t *out)
{
	const struct nsport_key key = { proto, dport, rdst, dst6 }, *k = &key;
	int echo = proto == IPPROTO_ICMP_ || proto == IPPROTO_ICMPV6_;
	uint32_t lo, hi, span, start, i;

	if (nsport_ok(e, k, echo, want)) {
		*out = want;
		return 0;
	}
	if (echo) {
		lo = 1;
		hi = 65535;
	} else if (want < 1024) {
		lo = 600;
		hi = 1023;
	} else {
		/* 1024-65535 less the forwards' range, which is stepped over
		 * below (a scan from a start just under it must not spend its
		 * tries inside it) */
		lo = 1024;
		hi = 65535 - (FWD_PORT_MAX - FWD_PORT_MIN + 1);
	}
	span = hi - lo + 1;
	start = (uint32_t)(nat_rand(e) % span);
	for (i = 0; i < 512 && i < span; i++) {
		uint32_t q = lo + (start + i) % span;
		uint16_t p;

		if (!echo && q >= FWD_PORT_MIN)
			q += FWD_PORT_MAX - FWD_PORT_MIN + 1;
		p = (uint16_t)q;

		if (nsport_ok(e, k, echo, p)) {
			*out = p;
			return 0;
		}
	}
	return -1;
}

int
nat_hold_push(struct nat_engine *e, uint32_t idx, const struct mq_desc *d)
{
	struct nat_link *l = &e->link[e->ft.ent[idx].cport];
	uint32_t h = e->hold_free;

	if (h == FT_NIL || e->hold_n[idx] >= NAT_HOLD_PER_FLOW ||
	    l->nheld >= 4 * e->cfg.pending_max)
		return -1;
	e->hold_free = e->hold[h].next;
	e->hold[h].d = *d;
	e->hold[h].next = FT_NIL;
	if (e->hold_tail[idx] == FT_NIL)
		e->hold_head[idx] = h;
	else
		e->hold[e->hold_tail[idx]].next = h;
	e->hold_tail[idx] = h;
	e->hold_n[idx]++;
	l->nheld++;
	return 0;
}

int
nat_send_flowreq(struct nat_engine *e, uint32_t idx, const struct pkt_view *v,
    uint8_t flags)
{
	struct ft_entry *f = &e->ft.ent[idx];
	struct flow_req r;

	memset(&r, 0, sizeof(r));
	e->seq_ctr++;
	r.seq = (e->seq_ctr << 20) | idx;
	r.port = f->cport;
	r.family = 4;
	r.proto = f->proto;
	memcpy(r.src, &f->csrc, 4);
	memcpy(r.dst, &f->odst, 4);
	if (f->proto == IPPROTO_ICMP_) {
		r.icmp_type = v != NULL ? v->icmp_type : ICMP_ECHO;
		r.icmp_code = v != NULL ? v->icmp_code : 0;
	} else {
		r.sport = f->csport;
		r.dport = f->dport;
	}
	r.flags = flags;
	if (f->flags & FT_F_V6)
		nat_flowreq6(e, idx, v, &r);
	/* Only a request that was sent replaces the one outstanding: a
	 * verdict already on its way for that one still counts (a deny
	 * must not be ignored because the ring was full for the next). */
	if (e->io.flowreq(e->io.arg, &r) == -1)
		return -1;
	f->seq = r.seq;
	return 0;
}

/* ---- forwarding along a flow ---- */

static uint32_t
link_mtu(const struct nat_engine *e, uint16_t port)
{
	return e->link[port].mtu ? e->link[port].mtu : 1500;
}

/* 1 when the frame fits the next link; else answered and dropped. */
static int
mtu_ok(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint16_t out)
{
	uint32_t mtu = link_mtu(e, out);

	if (d->gso_type != MQ_GSO_NONE || v->ip_end - v->l3_off <= mtu)
		return 1;
	if (ntohs(pkt_ip4(v)->frag_be) & IPV4_DF)
		nat_send_icmp_error(e, d, v, ICMP_DEST_UNREACH,
		    ICMP_FRAG_NEEDED, htonl(mtu & 0xffff));
	nat_drop(e, d, v, NAT_R_MTU);
	return 0;
}

void
nat_flow_forward_out(struct nat_engine *e, struct mq_desc *d,
    struct pkt_view *v, uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	const uint8_t *smac, *dmac;
	uint16_t out;

	if (f->flags & FT_F_V6) {
		nat_forward_out6(e, d, v, idx);
		return;
	}
	if (f->kind != FT_K_C2C) {
		if (!e->gw_known || !e->link[MQ_PORT_UPLINK].up) {
			nat_drop(e, d, v, NAT_R_NO_GATEWAY);
			return;
		}
		out = MQ_PORT_UPLINK;
		dmac = e->gw_mac;
	} else {
		out = nat_port_of_ip(e, f->odst);
		if (out == 0) {
			nat_drop(e, d, v, NAT_R_LINK_DOWN);
			return;
		}
		dmac = nat_client_mac(e, out);
	}
	smac = e->link[out].mac;
	if (!mtu_ok(e, d, v, out))
		return;
	if (!nat_rate_pass(e, f, d, v, d->port, out))
		return;
	if (f->proto == IPPROTO_TCP_)
		tcp_track(f, v, DIR_OUT);
	if (f->kind == FT_K_FWD)
		f->flags |= FT_F_REPLIED;	/* the client answered */
	if ((f->flags & FT_F_REDIRECT) && f->proto == IPPROTO_UDP_)
		nat_dnslearn_out(e, v, idx);
	if (f->kind != FT_K_C2C) {
		nat_set_addr(v, d, 0, f->nsrc);
		nat_set_addr(v, d, 1, f->rdst);
		nat_set_port(v, d, 0, f->nsport);
	}
	nat_dec_ttl(v);
	nat_set_macs(v, smac, dmac);
	flow_seen(e, idx, DIR_OUT, d->len);
	nat_send(e, d, out);
}

void
nat_flow_forward_in(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	struct nat_link *l = &e->link[f->cport];

	if (f->flags & FT_F_V6) {
		nat_forward_in6(e, d, v, idx);
		return;
	}
	if (!l->up || l->ip != f->csrc) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	if (!mtu_ok(e, d, v, f->cport))
		return;
	if (!nat_rate_pass(e, f, d, v, d->port, f->cport))
		return;
	/* What the answer teaches goes to policyd before the client has it. */
	if ((f->flags & FT_F_REDIRECT) && f->proto == IPPROTO_UDP_ &&
	    nat_dnslearn_in(e, d, v, idx) == -1)
		return;
	/* This frame goes out broadcast; the next ones to its MAC. */
	if (!l->peer_mac_known)
		nat_client_arp_probe(e, f->cport);
	if (f->kind != FT_K_FWD)
		f->flags |= FT_F_REPLIED;
	if (f->proto == IPPROTO_TCP_)
		tcp_track(f, v, DIR_IN);
	if (f->kind != FT_K_C2C) {
		nat_set_addr(v, d, 0, f->odst);
		nat_set_addr(v, d, 1, f->csrc);
		nat_set_port(v, d, 1, f->csport);
	}
	nat_dec_ttl(v);
	nat_set_macs(v, l->mac, nat_client_mac(e, f->cport));
	flow_seen(e, idx, DIR_IN, d->len);
	nat_send(e, d, f->cport);
}

/* ---- clients ---- */

/*
 * An entry for a new flow of the client on d->port, evicting as the
 * contract at the top of this file says; FT_NIL after dropping the frame
 * (pending_full, quota, table_full). The entry is not linked: give it
 * back with ft_unalloc if it cannot be used.
 */
uint32_t
nat_flow_take(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[d->port];
	uint32_t idx;

	if (l->npending >= e->cfg.pending_max) {
		nat_drop(e, d, v, NAT_R_PENDING_FULL);
		return FT_NIL;
	}
	if (e->ft.client[d->port].nflows >= e->cfg.client_quota) {
		/* Counted either way: the client is at its quota. */
		if (!evict_from(e, d->port)) {
			nat_drop(e, d, v, NAT_R_QUOTA);
			return FT_NIL;
		}
		l->c.drops[NAT_R_QUOTA]++;
	}
	idx = ft_alloc(&e->ft);
	if (idx == FT_NIL && evict_global(e, d->port)) {
		l->c.drops[NAT_R_TABLE_FULL]++;
		idx = ft_alloc(&e->ft);
	}
	if (idx == FT_NIL)
		nat_drop(e, d, v, NAT_R_TABLE_FULL);
	return idx;
}

/* A packet of len bytes went along flow idx in direction dir: TCP state,
 * counters and LRU. */
void
nat_flow_track(struct nat_engine *e, uint32_t idx, const struct pkt_view *v,
    int dir, uint32_t len)
{
	if (e->ft.ent[idx].proto == IPPROTO_TCP_)
		tcp_track(&e->ft.ent[idx], v, dir);
	flow_seen(e, idx, dir, len);
}

void
nat_new_flow(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint16_t sport, uint16_t dport)
{
	struct nat_link *l = &e->link[d->port];
	const struct ipv4_hdr *ip = pkt_ip4(v);
	uint32_t src = ip->saddr_be, dst = ip->daddr_be, rdst = dst, idx;
	struct ft_entry *f;
	uint16_t nsport = sport;
	int kind = FT_K_NAT;

	if ((v->proto == IPPROTO_TCP_ || v->proto == IPPROTO_UDP_) && dport == 53) {
		int i;

		for (i = 0; i < 2; i++)
			if (e->nc.netvm_dns[i] != 0 && dst == e->nc.netvm_dns[i]) {
				rdst = e->nc.dns[i];
				if (rdst == 0) {
					nat_drop(e, d, v, NAT_R_NO_DNS);
					return;
				}
				break;
			}
	}
	if (rdst == dst && nat_port_of_ip(e, dst) != 0)
		kind = FT_K_C2C;
	if ((idx = nat_flow_take(e, d, v)) == FT_NIL)
		return;
	if (kind == FT_K_NAT && nat_alloc_nsport(e, v->proto, rdst, NULL,
	    dport, sport, &nsport) == -1) {
		/* Give the entry back: it is not linked yet. */
		ft_unalloc(&e->ft, idx);
		nat_drop(e, d, v, NAT_R_PORTS);
		return;
	}
	f = &e->ft.ent[idx];
	f->state = FT_PENDING;
	f->proto = v->proto;
	f->kind = (uint8_t)kind;
	f->cport = d->port;
	f->csport = sport;
	f->dport = dport;
	f->nsport = kind == FT_K_NAT ? nsport : sport;
	f->csrc = src;
	f->odst = dst;
	f->rdst = rdst;
	f->nsrc = kind == FT_K_NAT ? e->nc.ip : src;
	if (rdst != dst)
		f->flags |= FT_F_REDIRECT;
	if (v->proto == IPPROTO_TCP_)
		f->tcp = (v->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN ?
		    FT_TCP_SYN_SENT : FT_TCP_ESTABLISHED;
	f->last = now_s(e);
	e->ft.cnt[idx].start = f->last;
	ft_link(&e->ft, idx);
	e->hold_head[idx] = e->hold_tail[idx] = FT_NIL;
	e->hold_n[idx] = 0;
	if (log_getlevel() >= LOG_LVL_DEBUG) {
		char a[16], b[16];

		log_debug("port %u: new flow %s:%u > %s:%u proto %u, asking policyd",
		    d->port, ip4_str(src, a), sport, ip4_str(dst, b), dport,
		    v->proto);
	}
	if (nat_send_flowreq(e, idx, v, 0) == -1) {
		ft_remove(&e->ft, idx);
		nat_drop(e, d, v, NAT_R_POLICYD_BUSY);
		return;
	}
	l->npending++;
	if (nat_hold_push(e, idx, d) == -1) {
		nat_drop(e, d, v, NAT_R_PENDING_FULL);
		return;
	}
	nat_frag_first_done(e, v, src, dst, DIR_OUT, idx, d->port);
}

enum nat_reason
nat_quote_ports(const struct pkt_view *in, uint8_t echo_proto,
    uint8_t echo_type, uint16_t *rport, uint16_t *lport)
{
	if (in->proto == echo_proto) {
		if (in->icmp_type != echo_type)
			return NAT_R_NO_FLOW;
		*rport = 0;
		*lport = in->icmp_id;
	} else if (in->proto == IPPROTO_TCP_ || in->proto == IPPROTO_UDP_) {
		*rport = in->dport;
		*lport = in->sport;
	} else
		return NAT_R_PROTO;
	return NAT_R_MAX;
}
