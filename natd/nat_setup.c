/*
 * nat_setup.c: the control path: configuration, the engine's allocation,
 * links and addresses, and starting (or restarting over a table a previous
 * natd left behind). May allocate; the packet path never does.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* ---- small helpers ---- */

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

void
nat_clients(struct nat_engine *e, const uint32_t *ips, const uint32_t *visible,
    uint32_t count)
{
	uint32_t k;

	(void)visible;	/* nat_fakeip_set() has the mappings */
	memset(e->connected, 0, sizeof(e->connected));
	for (k = 0; k < count && k < NAT_CONNECTED_SLOTS / 2; k++) {
		uint32_t h = (ntohl(ips[k]) * 2654435761u) & (NAT_CONNECTED_SLOTS - 1);

		if (ips[k] == 0)
			continue;
		while (e->connected[h] != 0 && e->connected[h] != ips[k])
			h = (h + 1) & (NAT_CONNECTED_SLOTS - 1);
		e->connected[h] = ips[k];
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
	c->flows_view_max = NAT_FLOWS_VIEW_MAX;
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
	/* Pages of ports that never ask are never touched. */
	e->dnsw = calloc((size_t)MQ_PORT_MAX * NAT_DNSW_CLIENT, sizeof(*e->dnsw));
	e->dnslearn_scratch = calloc(1, sizeof(*e->dnslearn_scratch));
	if (e->dnsw == NULL || e->dnslearn_scratch == NULL) {
		nat_free(e);
		return NULL;
	}
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
	free(e->dnsw);
	free(e->dnslearn_scratch);
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
 * or, with port 0, every NAT or forwarded flow (our uplink address
 * changed). */
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
		if (port != 0 ? f->cport == port : f->kind != FT_K_C2C)
			nat_flow_remove(e, i, NAT_R_LINK_DOWN);
	}
}

void
nat_netconf(struct nat_engine *e, const struct msg_netconf *nc, uint64_t now)
{
	int ip_changed = e->have_nc && (nc->ip != e->nc.ip ||
	    memcmp(nc->ip6, e->nc.ip6, 16) != 0);

	e->now_ms = now;
	if (!e->have_nc || nc->gateway != e->nc.gateway) {
		e->gw_known = 0;
		e->gw_next_arp_ms = now;
	}
	if (!e->have_nc || memcmp(nc->gateway6, e->nc.gateway6, 16) != 0) {
		e->gw6_known = 0;
		e->gw6_next_ns_ms = now;
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
	if (m->port != MQ_PORT_UPLINK && (!m->up || (l->known &&
	    (l->ip != m->ip4 || memcmp(l->ip6, m->ip6, 16) != 0)))) {
		flush_flows(e, m->port);
		nat_dnslearn_forget(e, m->port);
	}
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
	memcpy(l->ip6, m->ip6, 16);
	if (!ip6_is_zero(m->ip6) && m->port > e->ip6_maxport)
		e->ip6_maxport = m->port;
	l->mtu = m->mtu >= 576 && m->mtu <= 65535 ? m->mtu : 1500;
	memcpy(l->name, m->name, sizeof(l->name));
	l->name[sizeof(l->name) - 1] = '\0';
	ipmap_rebuild(e);
	/* its limit follows its address (MSG_LIMITS names clients) */
	nat_rate_assign(e, m->port);
	if (m->port == MQ_PORT_UPLINK && l->up) {
		e->gw_next_arp_ms = now;
		e->gw6_next_ns_ms = now;
	}
}

static int
restore_keep(void *arg, const struct ft_entry *f)
{
	struct nat_engine *e = arg;
	const struct nat_link *l = &e->link[f->cport];

	if (f->state == FT_PENDING)
		return 0;	/* its held frames died with the old natd */
	if (f->flags & FT_F_V6) {
		if (!nat_keep6(e, f))
			return 0;
	} else if (!l->known || l->ip != f->csrc)
		return 0;
	if (f->kind == FT_K_NAT && !(f->flags & FT_F_V6) && f->nsrc != e->nc.ip)
		return 0;
	/* The forward table came before MSG_START (the supervisor replays
	 * it): a forwarded flow stays only if a forward still opens it. */
	if (f->kind == FT_K_FWD && !nat_fwd_allowed(e, f))
		return 0;
	if (f->last > now_s(e) + 5 || nat_flow_expired(e, f))
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
