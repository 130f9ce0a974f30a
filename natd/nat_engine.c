/*
 * nat_engine.c: the per-frame decisions. Frames from clients and from the
 * uplink are classified here, matched to flows, translated and handed to
 * the output interface. Everything a peer sends is parsed by pkt_parse()
 * first; only offsets it produced are used.
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
 * Expired flows are also removed by a sweep once a second.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nat.h"

const char *const nat_reason_name[NAT_R_MAX] = {
	[NAT_R_MALFORMED] = "malformed",
	[NAT_R_ETHERTYPE] = "ethertype",
	[NAT_R_IPV6] = "ipv6",
	[NAT_R_ARP] = "arp",
	[NAT_R_ARP_SPOOF] = "arp_spoof",
	[NAT_R_SPOOFED] = "spoofed",
	[NAT_R_MAC] = "mac",
	[NAT_R_MARTIAN] = "martian",
	[NAT_R_LOCAL] = "local",
	[NAT_R_NOT_OURS] = "not_ours",
	[NAT_R_TTL] = "ttl",
	[NAT_R_NO_FLOW] = "no_flow",
	[NAT_R_PROTO] = "proto",
	[NAT_R_POLICY_DROP] = "policy_drop",
	[NAT_R_POLICY_REJECT] = "policy_reject",
	[NAT_R_POLICY_TIMEOUT] = "policy_timeout",
	[NAT_R_CUT] = "cut",
	[NAT_R_QUOTA] = "quota",
	[NAT_R_TABLE_FULL] = "table_full",
	[NAT_R_PENDING_FULL] = "pending_full",
	[NAT_R_POLICYD_BUSY] = "policyd_busy",
	[NAT_R_PORTS] = "ports",
	[NAT_R_NO_GATEWAY] = "no_gateway",
	[NAT_R_LINK_DOWN] = "link_down",
	[NAT_R_MTU] = "mtu",
	[NAT_R_FRAG] = "frag",
	[NAT_R_NO_DNS] = "no_dns",
	[NAT_R_NO_NETCONF] = "no_netconf",
	[NAT_R_NO_BUFFER] = "no_buffer",
	[NAT_R_ICMP_MISMATCH] = "icmp_mismatch",
	[NAT_R_BAD_CHECKSUM] = "bad_checksum",
	[NAT_R_SRCROUTE] = "srcroute",
};

#define DIR_OUT	1
#define DIR_IN	2

static const uint8_t mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void flow_forward_out(struct nat_engine *, struct mq_desc *,
    struct pkt_view *, uint32_t);
static void flow_forward_in(struct nat_engine *, struct mq_desc *,
    struct pkt_view *, uint32_t);
static void client_frag(struct nat_engine *, struct mq_desc *, struct pkt_view *);
static void uplink_frag(struct nat_engine *, struct mq_desc *, struct pkt_view *);

/* ---- small helpers ---- */

uint64_t
nat_rand(struct nat_engine *e)
{
	/* xorshift64*: unpredictability matters little here (port choice,
	 * DNS ids are also matched by port and server). */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 0x2545f4914f6cdd1dull;
}

static inline uint32_t
now_s(const struct nat_engine *e)
{
	return (uint32_t)(e->now_ms / 1000);
}

uint8_t *
nat_frame(const struct nat_engine *e, const struct mq_desc *d)
{
	uint8_t *b = mq_buf(e->pool, d->buf);

	return b == NULL ? NULL : b + d->off;
}

static uint16_t
port_of_ip(const struct nat_engine *e, uint32_t ip)
{
	uint32_t h, n;

	if (ip == 0)
		return 0;
	h = (ntohl(ip) * 2654435761u) & (2 * MQ_PORT_MAX - 1);
	for (n = 0; n < 2 * MQ_PORT_MAX; n++) {
		uint32_t i = (h + n) & (2 * MQ_PORT_MAX - 1);

		if (e->ipmap_ip[i] == 0)
			return 0;
		if (e->ipmap_ip[i] == ip)
			return e->ipmap_port[i];
	}
	return 0;
}

static void
ipmap_rebuild(struct nat_engine *e)
{
	uint32_t p;

	memset(e->ipmap_ip, 0, sizeof(e->ipmap_ip));
	for (p = 1; p < MQ_PORT_MAX; p++) {
		const struct nat_link *l = &e->link[p];
		uint32_t h, n;

		if (!l->known || !l->up || l->ip == 0)
			continue;
		h = (ntohl(l->ip) * 2654435761u) & (2 * MQ_PORT_MAX - 1);
		for (n = 0; n < 2 * MQ_PORT_MAX; n++) {
			uint32_t i = (h + n) & (2 * MQ_PORT_MAX - 1);

			if (e->ipmap_ip[i] == 0 || e->ipmap_ip[i] == l->ip) {
				if (e->ipmap_ip[i] == l->ip)
					log_warnx("client address on ports %u and %u",
					    e->ipmap_port[i], p);
				e->ipmap_ip[i] = l->ip;
				e->ipmap_port[i] = (uint16_t)p;
				break;
			}
		}
	}
}

/* Is a an address dom0 lists in /connected-ips (linked or not yet)? */
static int
connected(const struct nat_engine *e, uint32_t a)
{
	uint32_t h, n;

	if (a == 0)
		return 0;
	h = (ntohl(a) * 2654435761u) & (NAT_CONNECTED_SLOTS - 1);
	for (n = 0; n < NAT_CONNECTED_SLOTS; n++) {
		uint32_t i = (h + n) & (NAT_CONNECTED_SLOTS - 1);

		if (e->connected[i] == 0)
			return 0;
		if (e->connected[i] == a)
			return 1;
	}
	return 0;
}

void
nat_clients(struct nat_engine *e, const uint32_t *ips, const uint32_t *visible,
    uint32_t count)
{
	uint32_t k;

	memset(e->connected, 0, sizeof(e->connected));
	for (k = 0; k < count && k < NAT_CONNECTED_SLOTS / 2; k++) {
		uint32_t h = (ntohl(ips[k]) * 2654435761u) & (NAT_CONNECTED_SLOTS - 1);
		char a[16], b[16];

		if (ips[k] == 0)
			continue;
		while (e->connected[h] != 0 && e->connected[h] != ips[k])
			h = (h + 1) & (NAT_CONNECTED_SLOTS - 1);
		e->connected[h] = ips[k];
		if (visible[k] != 0 && visible[k] != ips[k])
			log_warnx("client %s is mapped to %s: mapped addresses are "
			    "not supported, it is routed as %s", ip4_str(ips[k], a),
			    ip4_str(visible[k], b), a);
	}
}

/* ---- buffers, output, drops ---- */

void
nat_buf_put(struct nat_engine *e, uint32_t buf)
{
	struct mq_desc d;

	/* Keep the reserve full from buffers we would give back anyway. */
	if (e->nreserve < e->reserve_cap) {
		e->reserve[e->nreserve++] = buf;
		return;
	}
	memset(&d, 0, sizeof(d));
	d.buf = buf;
	d.port = MQ_PORT_DROP;
	e->io.tx(e->io.arg, &d);
}

int
nat_buf_get(struct nat_engine *e, struct mq_desc *d, uint8_t **buf, size_t *cap)
{
	uint8_t *b;

	if (e->nreserve == 0)
		return -1;
	memset(d, 0, sizeof(*d));
	d->buf = e->reserve[--e->nreserve];
	b = mq_buf(e->pool, d->buf);
	if (b == NULL)
		return -1;
	*buf = b;
	*cap = e->pool->bufsz;
	return 0;
}

void
nat_send(struct nat_engine *e, const struct mq_desc *d, uint16_t port)
{
	struct mq_desc o = *d;

	o.port = port;
	if (port < MQ_PORT_MAX) {
		e->link[port].c.tx_packets++;
		e->link[port].c.tx_bytes += o.len;
	}
	e->io.tx(e->io.arg, &o);
}

void
nat_consume(struct nat_engine *e, const struct mq_desc *d)
{
	nat_buf_put(e, d->buf);
}

void
nat_drop(struct nat_engine *e, const struct mq_desc *d, const struct pkt_view *v,
    enum nat_reason r)
{
	uint16_t port = d->port;
	uint8_t *f = nat_frame(e, d);

	if (port < MQ_PORT_MAX)
		e->link[port].c.drops[r]++;
	if (f != NULL)
		nat_pcap_add(e, f, d->len);
	if (v != NULL && v->l3 == PKT_L3_IPV4) {
		const struct ipv4_hdr *ip = pkt_ip4(v);
		char s[16], t[16];

		log_rlk(port, LOG_LVL_INFO, "port %u: drop (%s) %s > %s proto %u",
		    port, nat_reason_name[r], ip4_str(ip->saddr_be, s),
		    ip4_str(ip->daddr_be, t), v->proto);
	} else
		/* IPv6 is not forwarded, by design, and every NetVM and client
		 * sends it all the time (neighbour and router discovery): that
		 * is counted, not worth a line a second in the user's log. */
		log_rlk(port, r == NAT_R_IPV6 ? LOG_LVL_DEBUG : LOG_LVL_INFO,
		    "port %u: drop (%s) %u bytes", port, nat_reason_name[r], d->len);
	nat_buf_put(e, d->buf);
}

/* ---- checksummed field rewrites ---- */

static void
set_addr(struct pkt_view *v, const struct mq_desc *d, int dst, uint32_t n)
{
	struct ipv4_hdr *ip = pkt_ip4(v);
	uint32_t o = dst ? ip->daddr_be : ip->saddr_be;
	uint16_t c;

	if (o == n)
		return;
	c = ip->csum;
	csum_update32(&c, o, n);
	ip->csum = c;
	if (dst)
		ip->daddr_be = n;
	else
		ip->saddr_be = n;
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
static void
set_port(struct pkt_view *v, const struct mq_desc *d, int dst, uint16_t hn)
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

static void
dec_ttl(struct pkt_view *v)
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

static void
set_macs(struct pkt_view *v, const uint8_t src[6], const uint8_t dst[6])
{
	struct eth_hdr *eh = pkt_eth(v);

	memcpy(eh->src, src, 6);
	memcpy(eh->dst, dst, 6);
}

/* A partial checksum must point at the L4 checksum field we update. */
static int
offload_ok(const struct mq_desc *d, const struct pkt_view *v)
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

/* ---- frames natd originates ---- */

static const uint8_t *
client_mac(const struct nat_engine *e, uint16_t port)
{
	const struct nat_link *l = &e->link[port];

	return l->peer_mac_known ? l->peer_mac : mac_bcast;
}

/* An ICMP error about the frame in v, sent back where it came from. */
static void
send_icmp_error(struct nat_engine *e, const struct mq_desc *d,
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

	if (v->proto != IPPROTO_TCP_ || !v->has_l4) {
		send_icmp_error(e, d, v, ICMP_DEST_UNREACH, ICMP_ADMIN_PROHIBITED, 0);
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

/* A bare RST (for cutting a flow), built field by field. */
static void
send_rst(struct nat_engine *e, uint16_t port, const uint8_t dmac[6],
    uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
    uint32_t seq)
{
	struct mq_desc o;
	struct pkt_view v;
	struct eth_hdr *eh;
	struct ipv4_hdr *ip;
	struct tcp_hdr *th;
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
	th = (struct tcp_hdr *)(buf + 34);
	th->sport_be = htons(sport);
	th->dport_be = htons(dport);
	th->seq_be = htonl(seq);
	th->doff_rsv = 5 << 4;
	th->flags = TCP_RST;
	if (pkt_parse(&v, buf, len) != PKT_OK) {
		nat_buf_put(e, o.buf);
		return;
	}
	pkt_ip4_csum_set(&v);
	pkt_l4_csum_set(&v);
	o.len = (uint32_t)len;
	nat_send(e, &o, port);
}

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

static int
flow_expired(const struct nat_engine *e, const struct ft_entry *f)
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

static void
flow_remove(struct nat_engine *e, uint32_t idx, enum nat_reason r)
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
static uint32_t
flow_live(struct nat_engine *e, uint32_t idx)
{
	if (idx == FT_NIL)
		return FT_NIL;
	if (flow_expired(e, &e->ft.ent[idx])) {
		flow_remove(e, idx, NAT_R_POLICY_TIMEOUT);
		return FT_NIL;
	}
	return idx;
}

static void
flow_seen(struct nat_engine *e, uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	uint32_t t = now_s(e);

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
		if (dir == DIR_IN && (fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
			f->tcp = FT_TCP_SYN_RECV;
		break;
	case FT_TCP_SYN_RECV:
		if (dir == DIR_OUT && (fl & (TCP_SYN | TCP_ACK)) == TCP_ACK)
			f->tcp = FT_TCP_ESTABLISHED;
		break;
	case FT_TCP_CLOSING:
	case FT_TCP_CLOSED:
		/* The client reuses the port pair: a new connection. */
		if (dir == DIR_OUT && (fl & (TCP_SYN | TCP_ACK)) == TCP_SYN)
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
		if (flow_expired(e, f) || f->state == FT_BLOCKED ||
		    !(f->flags & FT_F_REPLIED) || f->tcp == FT_TCP_CLOSING ||
		    f->tcp == FT_TCP_CLOSED) {
			flow_remove(e, i, NAT_R_TABLE_FULL);
			return 1;
		}
	}
	if (oldest == FT_NIL)
		return 0;
	flow_remove(e, oldest, NAT_R_TABLE_FULL);
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

static int
nsport_free(const struct nat_engine *e, uint8_t proto, uint32_t rdst,
    uint16_t dport, uint16_t p)
{
	if (ft_find_in(&e->ft, rdst, e->nc.ip, proto, dport, p) != FT_NIL)
		return 0;
	if (proto == IPPROTO_UDP_ && dport == 53 && nat_dns_port_busy(e, rdst, p))
		return 0;
	return 1;
}

/* Keep the client's port when free, as Linux masquerading does; else a
 * random one of the same class (below 1024 or not). */
static int
alloc_nsport(struct nat_engine *e, uint8_t proto, uint32_t rdst,
    uint16_t dport, uint16_t want, uint16_t *out)
{
	uint32_t lo, hi, span, start, k;

	if (nsport_free(e, proto, rdst, dport, want)) {
		*out = want;
		return 0;
	}
	if (proto == IPPROTO_ICMP_) {
		lo = 1;
		hi = 65535;
	} else if (want < 1024) {
		lo = 600;
		hi = 1023;
	} else {
		lo = 1024;
		hi = 65535;
	}
	span = hi - lo + 1;
	start = (uint32_t)(nat_rand(e) % span);
	for (k = 0; k < 512 && k < span; k++) {
		uint16_t p = (uint16_t)(lo + (start + k) % span);

		if (nsport_free(e, proto, rdst, dport, p)) {
			*out = p;
			return 0;
		}
	}
	return -1;
}

static int
hold_push(struct nat_engine *e, uint32_t idx, const struct mq_desc *d)
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

static int
send_flowreq(struct nat_engine *e, uint32_t idx, const struct pkt_view *v,
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
	/* Only a request that was sent replaces the one outstanding: a
	 * verdict already on its way for that one still counts (a deny
	 * must not be ignored because the ring was full for the next). */
	if (e->io.flowreq(e->io.arg, &r) == -1)
		return -1;
	f->seq = r.seq;
	return 0;
}

/* ---- fragments ---- */

/*
 * Keyed, so that nobody can aim fragment ids at one set of a port's table.
 * Only the port's own frames ever land in its table, so a collision costs
 * that port alone; the key keeps the uplink's table (fragments from every
 * remote peer) from being flooded into one set.
 */
static uint32_t
frag_set(const struct nat_engine *e, uint16_t port, uint32_t src, uint32_t dst,
    uint16_t id, uint8_t proto, int dir)
{
	uint64_t h;

	h = e->frag_key ^ ((uint64_t)src << 32 | dst);
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 32;
	h ^= (uint64_t)id << 16 | (uint64_t)proto << 8 | (uint64_t)dir;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)(h % (nat_frag_size(port) / NAT_FRAG_WAYS)) * NAT_FRAG_WAYS;
}

/* The flow the fragment in v (before translation, arriving on port) was
 * mapped to by its first fragment, for direction dir; or FT_NIL. */
static uint32_t
frag_find(struct nat_engine *e, const struct pkt_view *v, uint16_t port, int dir)
{
	const struct ipv4_hdr *ip = pkt_ip4(v);
	struct nat_frag *tab = &e->frag[nat_frag_base(port)];
	uint32_t set = frag_set(e, port, ip->saddr_be, ip->daddr_be, v->frag_id,
	    v->proto, dir);
	uint32_t k;

	for (k = 0; k < NAT_FRAG_WAYS; k++) {
		const struct nat_frag *s = &tab[set + k];
		const struct ft_entry *f;

		if (s->src != ip->saddr_be || s->dst != ip->daddr_be ||
		    s->id != v->frag_id || s->proto != v->proto ||
		    s->dir != dir || s->expire_ms <= e->now_ms)
			continue;
		/* The flow may have been removed and its entry reused. */
		f = &e->ft.ent[s->flow];
		if (f->state == FT_FREE || f->proto != v->proto)
			return FT_NIL;
		if (dir == DIR_OUT && (f->csrc != s->src || f->odst != s->dst ||
		    f->cport != port))
			return FT_NIL;
		if (dir == DIR_IN && (f->rdst != s->src || f->nsrc != s->dst))
			return FT_NIL;
		return s->flow;
	}
	return FT_NIL;
}

/* Park a fragment that overtook its first fragment, in its port's share. */
static int
fraghold_add(struct nat_engine *e, const struct mq_desc *d)
{
	struct nat_fraghold *h = &e->fraghold[nat_fraghold_base(d->port)];
	uint32_t i, n = nat_fraghold_size(d->port);

	for (i = 0; i < n; i++)
		if (!h[i].used) {
			h[i].d = *d;
			h[i].since_ms = e->now_ms;
			h[i].used = 1;
			e->nfraghold[d->port]++;
			return 0;
		}
	return -1;
}

/* The first fragment (v, before translation) has set up the mapping:
 * process the fragments that were waiting for it. */
static void
fraghold_release(struct nat_engine *e, uint32_t src, uint32_t dst,
    uint16_t id, uint8_t proto, uint16_t port)
{
	struct nat_fraghold *hs = &e->fraghold[nat_fraghold_base(port)];
	uint32_t i, n = nat_fraghold_size(port);

	for (i = 0; i < n && e->nfraghold[port] > 0; i++) {
		struct nat_fraghold *h = &hs[i];
		struct pkt_view w;
		struct mq_desc d;
		const struct ipv4_hdr *ip;

		if (!h->used)
			continue;
		if (pkt_parse(&w, nat_frame(e, &h->d), h->d.len) != PKT_OK)
			continue;
		ip = pkt_ip4(&w);
		if (ip->saddr_be != src || ip->daddr_be != dst ||
		    w.frag_id != id || w.proto != proto)
			continue;
		d = h->d;
		h->used = 0;
		e->nfraghold[port]--;
		if (port == MQ_PORT_UPLINK)
			uplink_frag(e, &d, &w);
		else
			client_frag(e, &d, &w);
	}
}

/* Map the fragments that will follow this first fragment to its flow, by
 * the addresses they carry before translation, and process those that
 * arrived early. The mapping goes in the table of the port the fragments
 * arrive on: when that port's set is full, one of its own mappings (the
 * one closest to expiring) makes room. */
static void
frag_first_done(struct nat_engine *e, const struct pkt_view *v,
    uint32_t src, uint32_t dst, int dir, uint32_t idx, uint16_t port)
{
	struct nat_frag *tab, *s = NULL;
	uint32_t set, k;

	if (!v->is_frag)
		return;
	tab = &e->frag[nat_frag_base(port)];
	set = frag_set(e, port, src, dst, v->frag_id, v->proto, dir);
	for (k = 0; k < NAT_FRAG_WAYS; k++) {
		struct nat_frag *c = &tab[set + k];

		if ((c->src == src && c->dst == dst && c->id == v->frag_id &&
		    c->proto == v->proto && c->dir == dir) ||
		    c->expire_ms <= e->now_ms) {
			s = c;
			break;
		}
		if (s == NULL || c->expire_ms < s->expire_ms)
			s = c;
	}
	s->src = src;
	s->dst = dst;
	s->id = v->frag_id;
	s->proto = v->proto;
	s->dir = (uint8_t)dir;
	s->flow = idx;
	s->expire_ms = e->now_ms + NAT_FRAG_TTL_MS;
	fraghold_release(e, src, dst, v->frag_id, v->proto, port);
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
		send_icmp_error(e, d, v, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED,
		    htonl(mtu & 0xffff));
	nat_drop(e, d, v, NAT_R_MTU);
	return 0;
}

static void
flow_forward_out(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	const uint8_t *smac, *dmac;
	uint16_t out;

	if (f->kind == FT_K_NAT) {
		if (!e->gw_known || !e->link[MQ_PORT_UPLINK].up) {
			nat_drop(e, d, v, NAT_R_NO_GATEWAY);
			return;
		}
		out = MQ_PORT_UPLINK;
		dmac = e->gw_mac;
	} else {
		out = port_of_ip(e, f->odst);
		if (out == 0) {
			nat_drop(e, d, v, NAT_R_LINK_DOWN);
			return;
		}
		dmac = client_mac(e, out);
	}
	smac = e->link[out].mac;
	if (!mtu_ok(e, d, v, out))
		return;
	if (f->proto == IPPROTO_TCP_)
		tcp_track(f, v, DIR_OUT);
	if (f->kind == FT_K_NAT) {
		set_addr(v, d, 0, f->nsrc);
		set_addr(v, d, 1, f->rdst);
		set_port(v, d, 0, f->nsport);
	}
	dec_ttl(v);
	set_macs(v, smac, dmac);
	flow_seen(e, idx);
	nat_send(e, d, out);
}

static void
flow_forward_in(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	struct nat_link *l = &e->link[f->cport];

	if (!l->up || l->ip != f->csrc) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	if (!mtu_ok(e, d, v, f->cport))
		return;
	f->flags |= FT_F_REPLIED;
	if (f->proto == IPPROTO_TCP_)
		tcp_track(f, v, DIR_IN);
	if (f->kind == FT_K_NAT) {
		set_addr(v, d, 0, f->odst);
		set_addr(v, d, 1, f->csrc);
		set_port(v, d, 1, f->csport);
	}
	dec_ttl(v);
	set_macs(v, l->mac, client_mac(e, f->cport));
	flow_seen(e, idx);
	nat_send(e, d, f->cport);
}

/* ---- ICMP errors about tracked flows ---- */

/*
 * Translate the IPv4 packet quoted in an ICMP error: the addresses and
 * ports it carries, its header checksum and whatever part of its L4
 * checksum was quoted. in describes the quote; qlen bytes are present.
 */
static void
quote_set_addr(struct pkt_view *in, size_t qlen, int dst, uint32_t n)
{
	struct ipv4_hdr *ip = (struct ipv4_hdr *)in->frame;
	uint32_t o = dst ? ip->daddr_be : ip->saddr_be;
	uint8_t *l4 = in->frame + in->l3_hlen;
	size_t l4len = qlen - in->l3_hlen;
	uint16_t c;

	if (o == n)
		return;
	c = ip->csum;
	csum_update32(&c, o, n);
	ip->csum = c;
	if (dst)
		ip->daddr_be = n;
	else
		ip->saddr_be = n;
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

static void
quote_set_port(struct pkt_view *in, size_t qlen, int dst, uint16_t hn)
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
static void
icmp_resum(struct pkt_view *v)
{
	struct icmp_hdr *ih = pkt_icmp(v);

	ih->csum = 0;
	ih->csum = ip_checksum(ih, v->ip_end - v->l4_off);
}

static int
icmp_is_error(uint8_t type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	    type == ICMP_PARAMPROB;
}

/*
 * Checks common to ICMP errors from either side, before anything is looked
 * up or rewritten. Returns NAT_R_MAX when the error may be translated,
 * else the reason to drop it.
 */
static enum nat_reason
quote_parse(const struct mq_desc *d, const struct pkt_view *v,
    struct pkt_view *in, size_t *qlen)
{
	uint8_t *q = v->frame + v->l4_off + v->l4_hlen;
	size_t len = pkt_l4_payload_len(v);
	int sr;

	if (v->is_frag || (d->flags & MQ_F_NEEDS_CSUM) ||
	    pkt_parse_icmp_quote(in, q, len) != PKT_OK ||
	    in->l3_hlen + 8 > len)
		return NAT_R_MALFORMED;
	/* icmp_resum() makes the checksum right whatever it was: verify it
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

	if ((r = quote_parse(d, v, &in, &qlen)) != NAT_R_MAX) {
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
	if (in.proto == IPPROTO_ICMP_) {
		if (in.icmp_type != ICMP_ECHO) {
			nat_drop(e, d, v, NAT_R_NO_FLOW);
			return;
		}
		rport = 0;
		lport = in.icmp_id;
	} else if (in.proto == IPPROTO_TCP_ || in.proto == IPPROTO_UDP_) {
		rport = in.dport;
		lport = in.sport;
	} else {
		nat_drop(e, d, v, NAT_R_PROTO);
		return;
	}
	idx = flow_live(e, ft_find_in(&e->ft, iip->daddr_be, iip->saddr_be,
	    in.proto, rport, lport));
	if (idx == FT_NIL || e->ft.ent[idx].state != FT_ACTIVE ||
	    e->ft.ent[idx].kind != FT_K_NAT) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	f = &e->ft.ent[idx];
	if (!e->link[f->cport].up || e->link[f->cport].ip != f->csrc) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	quote_set_addr(&in, qlen, 0, f->csrc);
	quote_set_port(&in, qlen, 0, f->csport);
	if (f->flags & FT_F_REDIRECT) {
		quote_set_addr(&in, qlen, 1, f->odst);
		if (pkt_ip4(v)->saddr_be == f->rdst)
			set_addr(v, d, 0, f->odst);
	}
	set_addr(v, d, 1, f->csrc);
	icmp_resum(v);
	dec_ttl(v);
	set_macs(v, e->link[f->cport].mac, client_mac(e, f->cport));
	nat_send(e, d, f->cport);
}

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

	if ((r = quote_parse(d, v, &in, &qlen)) != NAT_R_MAX) {
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
	idx = flow_live(e, ft_find_out(&e->ft, iip->daddr_be, iip->saddr_be,
	    in.proto, cport, rport));
	if (idx == FT_NIL || e->ft.ent[idx].state != FT_ACTIVE ||
	    e->ft.ent[idx].kind != FT_K_NAT || e->ft.ent[idx].cport != d->port) {
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
	quote_set_addr(&in, qlen, 1, f->nsrc);
	quote_set_port(&in, qlen, 1, f->nsport);
	if (f->flags & FT_F_REDIRECT) {
		quote_set_addr(&in, qlen, 0, f->rdst);
		set_addr(v, d, 1, f->rdst);
	}
	set_addr(v, d, 0, f->nsrc);
	icmp_resum(v);
	dec_ttl(v);
	set_macs(v, e->link[MQ_PORT_UPLINK].mac, e->gw_mac);
	nat_send(e, d, MQ_PORT_UPLINK);
}

/* ---- clients ---- */

static void
client_arp(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[d->port];
	struct arp_ipv4 *a = pkt_arp(v);
	uint8_t sha[6];
	uint32_t spa = a->spa_be, tpa = a->tpa_be;
	uint8_t *f = nat_frame(e, d);
	size_t n;

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
	if (n == 0) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	d->len = (uint32_t)n;
	d->flags = 0;
	d->gso_type = MQ_GSO_NONE;
	d->gso_size = 0;
	d->csum_start = d->csum_offset = 0;
	nat_send(e, d, d->port);
}

/* Echo request to natd's own address: answered in place. */
static void
echo_reply(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
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

static int
martian(uint32_t a_be)
{
	uint32_t a = ntohl(a_be);

	return a == 0xffffffffu || (a >> 28) == 0xe || (a >> 24) == 0 ||
	    (a >> 24) == 127;
}

/* The frame was dropped or rejected under a flow's cached verdict. */
static void
blocked(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    const struct ft_entry *f)
{
	if (f->flags & FT_F_REJECT) {
		send_reject(e, d, v);
		nat_drop(e, d, v, NAT_R_POLICY_REJECT);
	} else
		nat_drop(e, d, v, NAT_R_POLICY_DROP);
}

static void
new_flow(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
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
	if (rdst == dst && port_of_ip(e, dst) != 0)
		kind = FT_K_C2C;
	if (l->npending >= e->cfg.pending_max) {
		nat_drop(e, d, v, NAT_R_PENDING_FULL);
		return;
	}
	if (e->ft.client[d->port].nflows >= e->cfg.client_quota) {
		/* Counted either way: the client is at its quota. */
		if (!evict_from(e, d->port)) {
			nat_drop(e, d, v, NAT_R_QUOTA);
			return;
		}
		l->c.drops[NAT_R_QUOTA]++;
	}
	idx = ft_alloc(&e->ft);
	if (idx == FT_NIL && evict_global(e, d->port)) {
		l->c.drops[NAT_R_TABLE_FULL]++;
		idx = ft_alloc(&e->ft);
	}
	if (idx == FT_NIL) {
		nat_drop(e, d, v, NAT_R_TABLE_FULL);
		return;
	}
	if (kind == FT_K_NAT && alloc_nsport(e, v->proto, rdst, dport, sport,
	    &nsport) == -1) {
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
	ft_link(&e->ft, idx);
	e->hold_head[idx] = e->hold_tail[idx] = FT_NIL;
	e->hold_n[idx] = 0;
	if (log_getlevel() >= LOG_LVL_DEBUG) {
		char a[16], b[16];

		log_debug("port %u: new flow %s:%u > %s:%u proto %u, asking policyd",
		    d->port, ip4_str(src, a), sport, ip4_str(dst, b), dport,
		    v->proto);
	}
	if (send_flowreq(e, idx, v, 0) == -1) {
		ft_remove(&e->ft, idx);
		nat_drop(e, d, v, NAT_R_POLICYD_BUSY);
		return;
	}
	l->npending++;
	if (hold_push(e, idx, d) == -1) {
		nat_drop(e, d, v, NAT_R_PENDING_FULL);
		return;
	}
	frag_first_done(e, v, src, dst, DIR_OUT, idx, d->port);
}

static void
client_frag(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	uint32_t idx = frag_find(e, v, d->port, DIR_OUT);
	const struct ft_entry *f;

	if (idx == FT_NIL) {
		/* A fragment of a reply on a client-to-client flow the other
		 * client opened: its first fragment mapped it as inbound. */
		idx = frag_find(e, v, d->port, DIR_IN);
		if (idx != FT_NIL) {
			f = &e->ft.ent[idx];
			if (f->kind != FT_K_C2C || f->state != FT_ACTIVE ||
			    port_of_ip(e, f->odst) != d->port)
				nat_drop(e, d, v, NAT_R_NO_FLOW);
			else
				flow_forward_in(e, d, v, idx);
			return;
		}
		if (fraghold_add(e, d) == -1)
			nat_drop(e, d, v, NAT_R_FRAG);
		return;
	}
	f = &e->ft.ent[idx];
	switch (f->state) {
	case FT_PENDING:
		if (hold_push(e, idx, d) == -1)
			nat_drop(e, d, v, NAT_R_PENDING_FULL);
		break;
	case FT_ACTIVE:
		if (f->cport != d->port)
			nat_drop(e, d, v, NAT_R_NO_FLOW);
		else
			flow_forward_out(e, d, v, idx);
		break;
	default:
		nat_drop(e, d, v, (f->flags & FT_F_REJECT) ?
		    NAT_R_POLICY_REJECT : NAT_R_POLICY_DROP);
	}
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
	if (!offload_ok(d, v)) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	if (dst == e->nc.netvm_gateway || dst == e->nc.ip) {
		if (v->proto == IPPROTO_ICMP_ && v->has_l4 && !v->is_frag &&
		    v->icmp_type == ICMP_ECHO)
			echo_reply(e, d, v);
		else
			nat_drop(e, d, v, NAT_R_LOCAL);
		return;
	}
	if (v->ttl <= 1) {
		send_icmp_error(e, d, v, ICMP_TIME_EXCEEDED, 0, 0);
		nat_drop(e, d, v, NAT_R_TTL);
		return;
	}
	if (v->is_frag && !v->frag_first) {
		client_frag(e, d, v);
		return;
	}
	switch (v->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
		sport = v->sport;
		dport = v->dport;
		break;
	case IPPROTO_ICMP_:
		if (icmp_is_error(v->icmp_type)) {
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
	idx = flow_live(e, ft_find_in(&e->ft, src, dst, v->proto,
	    v->proto == IPPROTO_ICMP_ ? 0 : sport,
	    v->proto == IPPROTO_ICMP_ ? sport : dport));
	if (idx != FT_NIL && e->ft.ent[idx].kind == FT_K_C2C &&
	    (v->proto != IPPROTO_ICMP_ || v->icmp_type == ICMP_ECHOREPLY)) {
		if (e->ft.ent[idx].state == FT_ACTIVE) {
			if (v->is_frag)
				frag_first_done(e, v, src, dst, DIR_IN, idx, d->port);
			flow_forward_in(e, d, v, idx);
		} else
			nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	if (v->proto == IPPROTO_ICMP_ && v->icmp_type == ICMP_ECHOREPLY) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	idx = flow_live(e, ft_find_out(&e->ft, src, dst, v->proto, sport, dport));
	if (idx == FT_NIL) {
		new_flow(e, d, v, sport, dport);
		return;
	}
	switch (e->ft.ent[idx].state) {
	case FT_PENDING:
		if (hold_push(e, idx, d) == -1)
			nat_drop(e, d, v, NAT_R_PENDING_FULL);
		else
			frag_first_done(e, v, src, dst, DIR_OUT, idx, d->port);
		return;
	case FT_ACTIVE:
		frag_first_done(e, v, src, dst, DIR_OUT, idx, d->port);
		flow_forward_out(e, d, v, idx);
		return;
	default:
		blocked(e, d, v, &e->ft.ent[idx]);
	}
}

static void
client_input(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[d->port];

	if (!l->known || !l->up || l->kind != LINK_CLIENT || l->ip == 0) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	switch (v->l3) {
	case PKT_L3_ARP:
		client_arp(e, d, v);
		break;
	case PKT_L3_IPV4:
		client_ip4(e, d, v);
		break;
	case PKT_L3_IPV6:
		nat_drop(e, d, v, NAT_R_IPV6);
		break;
	default:
		nat_drop(e, d, v, NAT_R_ETHERTYPE);
	}
}

/* ---- uplink ---- */

static void
uplink_arp(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
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
	if (n == 0) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	d->len = (uint32_t)n;
	d->flags = 0;
	d->gso_type = MQ_GSO_NONE;
	d->gso_size = 0;
	d->csum_start = d->csum_offset = 0;
	nat_send(e, d, MQ_PORT_UPLINK);
}

static void
uplink_frag(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	uint32_t idx = frag_find(e, v, MQ_PORT_UPLINK, DIR_IN);

	if (idx == FT_NIL) {
		if (fraghold_add(e, d) == -1)
			nat_drop(e, d, v, NAT_R_FRAG);
		return;
	}
	if (e->ft.ent[idx].state != FT_ACTIVE || e->ft.ent[idx].kind != FT_K_NAT) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	flow_forward_in(e, d, v, idx);
}

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
	if (port_of_ip(e, src) != 0 || src == e->nc.ip || connected(e, src)) {
		nat_drop(e, d, v, NAT_R_SPOOFED);
		return;
	}
	if (dst != e->nc.ip) {
		nat_drop(e, d, v, NAT_R_NOT_OURS);
		return;
	}
	if (!offload_ok(d, v)) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	if (v->proto == IPPROTO_UDP_ && v->has_l4 && v->sport == 53 &&
	    nat_dns_input(e, d, v))
		return;
	if (v->is_frag && !v->frag_first) {
		uplink_frag(e, d, v);
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
			echo_reply(e, d, v);
			return;
		}
		if (icmp_is_error(v->icmp_type)) {
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
		send_icmp_error(e, d, v, ICMP_TIME_EXCEEDED, 0, 0);
		nat_drop(e, d, v, NAT_R_TTL);
		return;
	}
	idx = flow_live(e, ft_find_in(&e->ft, src, dst, v->proto, rport, lport));
	if (idx == FT_NIL || e->ft.ent[idx].kind != FT_K_NAT) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	if (e->ft.ent[idx].state != FT_ACTIVE) {
		nat_drop(e, d, v, e->ft.ent[idx].state == FT_BLOCKED ?
		    NAT_R_POLICY_DROP : NAT_R_NO_FLOW);
		return;
	}
	if (v->is_frag)
		frag_first_done(e, v, src, dst, DIR_IN, idx, MQ_PORT_UPLINK);
	flow_forward_in(e, d, v, idx);
}

static void
uplink_input(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	if (!e->link[MQ_PORT_UPLINK].known || !e->link[MQ_PORT_UPLINK].up) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	switch (v->l3) {
	case PKT_L3_ARP:
		uplink_arp(e, d, v);
		break;
	case PKT_L3_IPV4:
		uplink_ip4(e, d, v);
		break;
	case PKT_L3_IPV6:
		nat_drop(e, d, v, NAT_R_IPV6);
		break;
	default:
		nat_drop(e, d, v, NAT_R_ETHERTYPE);
	}
}

void
nat_input(struct nat_engine *e, const struct mq_desc *din, uint64_t now)
{
	struct mq_desc d = *din;
	struct pkt_view v;
	uint8_t *f;

	e->now_ms = now;
	if (!mq_desc_ok(e->pool, &d)) {
		/* Return a buffer we can name; a bad index is lost either way. */
		if (d.buf < e->pool->nbufs) {
			d.len = 0;
			d.off = 0;
			d.port = d.port < MQ_PORT_MAX ? d.port : MQ_PORT_UPLINK;
			d.flags = 0;
			nat_drop(e, &d, NULL, NAT_R_MALFORMED);
		}
		return;
	}
	if (d.port == MQ_PORT_DROP) {
		/* netbackd gives natd its reserve as empty descriptors. */
		nat_buf_put(e, d.buf);
		return;
	}
	e->link[d.port].c.rx_packets++;
	e->link[d.port].c.rx_bytes += d.len;
	f = nat_frame(e, &d);
	/* pkt_parse leaves the IPv4 header checksum to us: a router that
	 * forwards (and incrementally updates) a bad one launders it. */
	if (pkt_parse(&v, f, d.len) != PKT_OK ||
	    (v.l3 == PKT_L3_IPV4 && !pkt_ip4_csum_ok(&v))) {
		nat_drop(e, &d, NULL, NAT_R_MALFORMED);
		return;
	}
	/* Source routing would let the sender pick the path past us (and, on
	 * the way back, a client's replies); Linux drops it unless
	 * accept_source_route is set. Other options pass untouched. */
	if (v.l3 == PKT_L3_IPV4 && v.l3_hlen > sizeof(struct ipv4_hdr)) {
		int sr = pkt_ip4_srcroute(v.frame + v.l3_off, v.l3_hlen);

		if (sr != 0) {
			nat_drop(e, &d, &v, sr > 0 ? NAT_R_SRCROUTE : NAT_R_MALFORMED);
			return;
		}
	}
	if (!e->started || !e->have_nc || e->nc.ip == 0) {
		nat_drop(e, &d, &v, NAT_R_NO_NETCONF);
		return;
	}
	if (d.port == MQ_PORT_UPLINK)
		uplink_input(e, &d, &v);
	else
		client_input(e, &d, &v);
}

/* ---- verdicts and rule changes ---- */

static void
cut_flow(struct nat_engine *e, uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	char a[16], b[16];

	log_info("port %u: flow %s > %s proto %u cut by new rules", f->cport,
	    ip4_str(f->csrc, a), ip4_str(f->odst, b), f->proto);
	if (f->proto == IPPROTO_TCP_ && f->state == FT_ACTIVE &&
	    f->tcp != FT_TCP_CLOSED) {
		struct nat_link *l = &e->link[f->cport];

		/* RSTs each way, with the sequence number each side expects
		 * next: the last ACK that side itself sent. */
		if (l->up && l->ip == f->csrc && (f->flags & FT_F_REPLIED))
			send_rst(e, f->cport, client_mac(e, f->cport), f->odst,
			    f->csrc, f->dport, f->csport, f->c_ack);
		if (f->kind == FT_K_NAT && e->gw_known &&
		    e->link[MQ_PORT_UPLINK].up)
			send_rst(e, MQ_PORT_UPLINK, e->gw_mac, f->nsrc, f->rdst,
			    f->nsport, f->dport, f->r_ack);
		else if (f->kind == FT_K_C2C) {
			uint16_t p = port_of_ip(e, f->odst);

			if (p != 0)
				send_rst(e, p, client_mac(e, p), f->csrc,
				    f->odst, f->csport, f->dport, f->r_ack);
		}
	}
	flow_remove(e, idx, NAT_R_CUT);
}

void
nat_verdict(struct nat_engine *e, const struct flow_verdict *vd, uint64_t now)
{
	uint32_t idx = vd->seq & (FT_MAX_FLOWS - 1);
	struct ft_entry *f;
	struct nat_link *l;
	uint8_t act = vd->action;

	e->now_ms = now;
	if (!e->started || idx >= e->ft.nflows)
		return;
	f = &e->ft.ent[idx];
	if (f->state == FT_FREE || f->seq != vd->seq) {
		log_debug("stale verdict seq %u", vd->seq);
		return;
	}
	if (act != VERDICT_ACCEPT && act != VERDICT_DROP && act != VERDICT_REJECT) {
		log_rl(LOG_LVL_WARN, "verdict seq %u: bad action %u, dropping",
		    vd->seq, act);
		act = VERDICT_DROP;
	}
	l = &e->link[f->cport];
	if (f->state != FT_PENDING) {
		if (!(f->flags & FT_F_RECHECK))
			return;
		f->flags &= ~FT_F_RECHECK;
		if (act != VERDICT_ACCEPT)
			cut_flow(e, idx);
		return;
	}
	l->npending--;
	f->last = now_s(e);
	f->state = act == VERDICT_ACCEPT ? FT_ACTIVE : FT_BLOCKED;
	if (f->flags & FT_F_RECHECK) {
		f->flags &= ~FT_F_RECHECK;
		if (f->state == FT_ACTIVE) {
			if (send_flowreq(e, idx, NULL, FREQ_RECHECK) == 0)
				f->flags |= FT_F_RECHECK;
			else {
				/* The ring is full: a lost re-check would leave
				 * the flow open under rules that may deny it.
				 * The re-check pass asks again from this flow
				 * on, at the next tick. */
				if (!e->recheck_active || e->recheck_cursor > idx)
					e->recheck_cursor = idx;
				e->recheck_active = 1;
			}
		}
	}
	if (log_getlevel() >= LOG_LVL_DEBUG) {
		char a[16], b[16];

		log_debug("port %u: flow %s:%u > %s:%u proto %u: %s (rule %u)",
		    f->cport, ip4_str(f->csrc, a), f->csport, ip4_str(f->odst, b),
		    f->dport, f->proto, act == VERDICT_ACCEPT ? "accept" :
		    act == VERDICT_DROP ? "drop" : "reject", vd->rule);
	}
	if (act == VERDICT_REJECT)
		f->flags |= FT_F_REJECT;
	/* Release the held frames in arrival order. */
	while (e->hold_head[idx] != FT_NIL) {
		uint32_t h = e->hold_head[idx];
		struct mq_desc d = e->hold[h].d;
		struct pkt_view v;

		e->hold_head[idx] = e->hold[h].next;
		e->hold[h].next = e->hold_free;
		e->hold_free = h;
		e->hold_n[idx]--;
		l->nheld--;
		if (pkt_parse(&v, nat_frame(e, &d), d.len) != PKT_OK) {
			nat_drop(e, &d, NULL, NAT_R_MALFORMED);
			continue;
		}
		if (f->state == FT_ACTIVE)
			flow_forward_out(e, &d, &v, idx);
		else
			blocked(e, &d, &v, f);
		if (f->state == FT_FREE)
			break;
	}
	e->hold_tail[idx] = FT_NIL;
	e->hold_n[idx] = 0;
}

/* Send re-check requests for as many flows as the ring takes. */
static void
recheck_run(struct nat_engine *e)
{
	while (e->recheck_active && e->recheck_cursor < e->ft.nflows) {
		uint32_t i = e->recheck_cursor;
		struct ft_entry *f = &e->ft.ent[i];

		if (f->state == FT_ACTIVE) {
			if (send_flowreq(e, i, NULL, FREQ_RECHECK) == -1)
				return;		/* ring full: resume next tick */
			f->flags |= FT_F_RECHECK;
		} else if (f->state == FT_PENDING) {
			/* Its verdict may follow the old rules: re-check it
			 * once it has one (nat_verdict). */
			f->flags |= FT_F_RECHECK;
		}
		e->recheck_cursor++;
	}
	e->recheck_active = 0;
}

void
nat_rules_changed(struct nat_engine *e, uint32_t generation, uint64_t now)
{
	uint32_t i;

	e->now_ms = now;
	e->rules_gen = generation;
	if (!e->started)
		return;
	/* Cached drop/reject verdicts are forgotten: the next packet asks
	 * policyd again under the new rules. */
	for (i = 0; i < e->ft.nflows; i++)
		if (e->ft.ent[i].state == FT_BLOCKED)
			flow_remove(e, i, NAT_R_CUT);
	e->recheck_active = 1;
	e->recheck_cursor = 0;
	recheck_run(e);
}

/* ---- timers ---- */

static void
send_gw_arp(struct nat_engine *e)
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

void
nat_tick(struct nat_engine *e, uint64_t now)
{
	uint32_t i;

	e->now_ms = now;
	if (!e->started)
		return;
	if (e->have_nc && e->nc.gateway != 0 && e->nc.ip != 0 &&
	    e->link[MQ_PORT_UPLINK].up && now >= e->gw_next_arp_ms) {
		send_gw_arp(e);
		/* Unanswered: retry each second; answered: refresh. The old
		 * MAC stays in use until a new one is learned. */
		e->gw_next_arp_ms = now + (e->gw_known ? NAT_ARP_REFRESH_MS :
		    NAT_ARP_RETRY_MS);
	}
	for (i = 0; i < MQ_PORT_MAX; i++) {
		struct nat_fraghold *hs = &e->fraghold[nat_fraghold_base((uint16_t)i)];
		uint32_t k, n = nat_fraghold_size((uint16_t)i);

		for (k = 0; k < n && e->nfraghold[i] > 0; k++) {
			struct nat_fraghold *h = &hs[k];

			if (h->used && now - h->since_ms >= NAT_FRAG_HOLD_MS) {
				h->used = 0;
				e->nfraghold[i]--;
				nat_drop(e, &h->d, NULL, NAT_R_FRAG);
			}
		}
	}
	nat_dns_tick(e);
	recheck_run(e);
	if (now - e->last_sweep_ms >= 1000) {
		e->last_sweep_ms = now;
		for (i = 0; i < e->ft.nflows; i++) {
			struct ft_entry *f = &e->ft.ent[i];

			if (f->state != FT_FREE && flow_expired(e, f))
				flow_remove(e, i, NAT_R_POLICY_TIMEOUT);
		}
	}
}

/* ---- configuration ---- */

void
nat_config_defaults(struct nat_config *c)
{
	memset(c, 0, sizeof(*c));
	c->nflows = 16384;
	c->client_quota = c->nflows / 4;
	c->pending_max = 64;
	c->to_tcp_syn = 120;
	c->to_tcp_est = 432000;
	c->to_tcp_closing = 120;
	c->to_udp = 30;
	c->to_udp_stream = 120;
	c->to_icmp = 30;
	c->hold_max = 4096;
}

struct nat_engine *
nat_new(const struct nat_config *cfg, const struct mq_pool *pool,
    const struct nat_io *io)
{
	struct nat_engine *e;
	uint32_t i;

	if (cfg->nflows < FT_MIN_FLOWS || cfg->nflows > FT_MAX_FLOWS ||
	    cfg->hold_max == 0 || cfg->own_count > pool->nbufs)
		return NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->cfg = *cfg;
	e->io = *io;
	e->pool = pool;
	e->rng = cfg->seed | 1;
	/* Not the flow table's key itself: each table its own. */
	e->frag_key = (cfg->secret ^ 0x6a09e667f3bcc909ull) * 0x9e3779b97f4a7c15ull;
	e->reserve = calloc(cfg->own_count + 1, sizeof(uint32_t));
	e->hold = calloc(cfg->hold_max, sizeof(*e->hold));
	e->hold_head = calloc(cfg->nflows, sizeof(uint32_t));
	e->hold_tail = calloc(cfg->nflows, sizeof(uint32_t));
	e->hold_n = calloc(cfg->nflows, 1);
	e->pcap = calloc(NAT_PCAP_SLOTS, sizeof(*e->pcap));
	e->frag = calloc(NAT_FRAG_TOTAL, sizeof(*e->frag));
	e->fraghold = calloc(NAT_FRAGHOLD_TOTAL, sizeof(*e->fraghold));
	if (e->reserve == NULL || e->hold == NULL || e->hold_head == NULL ||
	    e->hold_tail == NULL || e->hold_n == NULL || e->pcap == NULL ||
	    e->frag == NULL || e->fraghold == NULL) {
		nat_free(e);
		return NULL;
	}
	/* Empty until netbackd gives us buffers (nat_input, port DROP). */
	e->reserve_cap = cfg->own_count;
	for (i = 0; i < cfg->hold_max; i++)
		e->hold[i].next = i + 1 < cfg->hold_max ? i + 1 : FT_NIL;
	e->hold_free = 0;
	for (i = 0; i < cfg->nflows; i++)
		e->hold_head[i] = e->hold_tail[i] = FT_NIL;
	e->seq_ctr = (uint32_t)nat_rand(e);
	return e;
}

void
nat_free(struct nat_engine *e)
{
	if (e == NULL)
		return;
	free(e->reserve);
	free(e->hold);
	free(e->hold_head);
	free(e->hold_tail);
	free(e->hold_n);
	free(e->pcap);
	free(e->frag);
	free(e->fraghold);
	free(e->ft_private);
	free(e);
}

int
nat_set_flowtab(struct nat_engine *e, void *mem, size_t len)
{
	if (mem == NULL || len < natd_flowtab_bytes(e->cfg.nflows))
		return -1;
	e->ft_mem = mem;
	e->ft_len = len;
	return 0;
}

/* Flush the flows of one client port (it went away or changed address),
 * or, with port 0, every NAT flow (our uplink address changed). */
static void
flush_flows(struct nat_engine *e, uint16_t port)
{
	uint32_t i;

	if (!e->started)
		return;
	for (i = 0; i < e->ft.nflows; i++) {
		const struct ft_entry *f = &e->ft.ent[i];

		if (f->state == FT_FREE)
			continue;
		if (port != 0 ? f->cport == port : f->kind == FT_K_NAT)
			flow_remove(e, i, NAT_R_LINK_DOWN);
	}
}

void
nat_netconf(struct nat_engine *e, const struct msg_netconf *nc, uint64_t now)
{
	int ip_changed = e->have_nc && nc->ip != e->nc.ip;

	e->now_ms = now;
	if (!e->have_nc || nc->gateway != e->nc.gateway) {
		e->gw_known = 0;
		e->gw_next_arp_ms = now;
	}
	e->nc = *nc;
	e->have_nc = 1;
	if (ip_changed)
		flush_flows(e, 0);
}

void
nat_link(struct nat_engine *e, const struct msg_link *m, uint64_t now)
{
	struct nat_link *l;
	static const uint8_t zero[6];

	e->now_ms = now;
	if (m->port >= MQ_PORT_MAX ||
	    (m->port == MQ_PORT_UPLINK) != (m->kind == LINK_UPLINK)) {
		log_warnx("link message for port %u kind %u ignored", m->port,
		    m->kind);
		return;
	}
	l = &e->link[m->port];
	if (m->port != MQ_PORT_UPLINK && (!m->up || (l->known && l->ip != m->ip4)))
		flush_flows(e, m->port);
	l->known = 1;
	l->up = m->up != 0;
	l->kind = m->kind;
	memcpy(l->mac, m->our_mac, 6);
	if (memcmp(m->peer_mac, zero, 6) != 0) {
		memcpy(l->peer_mac, m->peer_mac, 6);
		l->peer_mac_known = 1;
	} else if (l->ip != m->ip4)
		l->peer_mac_known = 0;
	l->ip = m->ip4;
	l->mtu = m->mtu >= 576 && m->mtu <= 65535 ? m->mtu : 1500;
	memcpy(l->name, m->name, sizeof(l->name));
	l->name[sizeof(l->name) - 1] = '\0';
	ipmap_rebuild(e);
	if (m->port == MQ_PORT_UPLINK && l->up)
		e->gw_next_arp_ms = now;
}

static int
restore_keep(void *arg, const struct ft_entry *f)
{
	struct nat_engine *e = arg;
	const struct nat_link *l = &e->link[f->cport];

	if (f->state == FT_PENDING)
		return 0;	/* its held frames died with the old natd */
	if (!l->known || l->ip != f->csrc)
		return 0;
	if (f->kind == FT_K_NAT && f->nsrc != e->nc.ip)
		return 0;
	if (f->last > now_s(e) + 5 || flow_expired(e, f))
		return 0;
	if (e->ft.client[f->cport].nflows >= e->cfg.client_quota)
		return 0;
	return 1;
}

int
nat_start(struct nat_engine *e, int restart, uint64_t now)
{
	void *mem = e->ft_mem;
	size_t len = e->ft_len;
	uint32_t kept, dropped = 0;

	e->now_ms = now;
	e->last_sweep_ms = now;
	if (mem == NULL) {
		len = natd_flowtab_bytes(e->cfg.nflows);
		if ((e->ft_private = calloc(1, len)) == NULL)
			return -1;
		mem = e->ft_private;
		restart = 0;
	}
	if (restart && ft_attach(&e->ft, mem, len, e->cfg.nflows, 0, 0) == 0 &&
	    ft_header_ok(&e->ft)) {
		kept = ft_rebuild(&e->ft, restore_keep, e, &dropped);
		e->restored = kept;
		e->discarded = dropped;
		log_info("restart: kept %u flows, discarded %u", kept, dropped);
		e->started = 1;
		/* A rule change may have happened while we were down. */
		e->recheck_active = 1;
		e->recheck_cursor = 0;
		return 0;
	}
	if (restart)
		log_warnx("restart: flow table header invalid, starting empty");
	if (ft_attach(&e->ft, mem, len, e->cfg.nflows, 1, e->cfg.secret) == -1)
		return -1;
	e->started = 1;
	return 0;
}
