/*
 * nat_frag.c: IP fragments. Only a first fragment carries ports, so the
 * flow it matched is remembered per port (src, dst, id, proto, direction)
 * for the fragments after it; those that arrive before their first one are
 * held for a while in the port's share and released when it comes.
 * IPv6 fragments use the same tables: their addresses are keyed by the
 * tags their flows carry (ft_tag6), their 32-bit id kept whole, and the
 * direction marked IPv6 so that the two families never match.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* ---- fragments ---- */

/*
 * Keyed, so that nobody can aim fragment ids at one set of a port's table.
 * Only the port's own frames ever land in its table, so a collision costs
 * that port alone; the key keeps the uplink's table (fragments from every
 * remote peer) from being flooded into one set.
 */
static uint32_t
frag_set(const struct nat_engine *e, uint16_t port, uint32_t src, uint32_t dst,
    uint32_t id, uint8_t proto, int dir)
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

/* A fragment's key: its addresses (IPv6: their tags), id, and the
 * direction marked with its family. */
static void
frag_key(const struct nat_engine *e, const struct pkt_view *v, int dir,
    uint32_t *src, uint32_t *dst, uint32_t *id, int *kdir)
{
	if (v->l3 == PKT_L3_IPV6) {
		*src = ft_tag6(&e->ft, pkt_ip6(v)->saddr);
		*dst = ft_tag6(&e->ft, pkt_ip6(v)->daddr);
		*id = v->frag_id6;
		*kdir = dir | NAT_FRAG_V6;
	} else {
		*src = pkt_ip4(v)->saddr_be;
		*dst = pkt_ip4(v)->daddr_be;
		*id = v->frag_id;
		*kdir = dir;
	}
}

/* The flow the fragment in v (before translation, arriving on port) was
 * mapped to by its first fragment, for direction dir; or FT_NIL. */
static uint32_t
frag_find(struct nat_engine *e, const struct pkt_view *v, uint16_t port, int dir)
{
	struct nat_frag *tab = &e->frag[nat_frag_base(port)];
	uint32_t src, dst, id, set, k;
	int kdir;

	frag_key(e, v, dir, &src, &dst, &id, &kdir);
	set = frag_set(e, port, src, dst, id, v->proto, kdir);
	for (k = 0; k < NAT_FRAG_WAYS; k++) {
		const struct nat_frag *s = &tab[set + k];
		const struct ft_entry *f;

		if (s->src != src || s->dst != dst || s->id != id ||
		    s->proto != v->proto || s->dir != kdir ||
		    s->expire_ms <= e->now_ms)
			continue;
		/* The flow may have been removed and its entry reused. */
		f = &e->ft.ent[s->flow];
		if (f->state == FT_FREE || f->proto != v->proto ||
		    ((f->flags & FT_F_V6) != 0) != (v->l3 == PKT_L3_IPV6) ||
		    f->cport != s->cport)
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
    uint32_t id, uint8_t proto, int kdir, uint16_t port)
{
	struct nat_fraghold *hs = &e->fraghold[nat_fraghold_base(port)];
	uint32_t i, n = nat_fraghold_size(port);

	for (i = 0; i < n && e->nfraghold[port] > 0; i++) {
		struct nat_fraghold *h = &hs[i];
		struct pkt_view w;
		struct mq_desc d;
		uint32_t ws, wd, wid;
		int wdir;

		if (!h->used)
			continue;
		if (pkt_parse(&w, nat_frame(e, &h->d), h->d.len) != PKT_OK)
			continue;
		frag_key(e, &w, kdir & ~NAT_FRAG_V6, &ws, &wd, &wid, &wdir);
		if (ws != src || wd != dst || wid != id || w.proto != proto ||
		    wdir != kdir)
			continue;
		d = h->d;
		h->used = 0;
		e->nfraghold[port]--;
		if (port == MQ_PORT_UPLINK)
			nat_uplink_frag(e, &d, &w);
		else
			nat_client_frag(e, &d, &w);
	}
}

/* Map the fragments that will follow this first fragment to its flow, by
 * the addresses they carry before translation, and process those that
 * arrived early. The mapping goes in the table of the port the fragments
 * arrive on: when that port's set is full, one of its own mappings (the
 * one closest to expiring) makes room. */
void
nat_frag_first_done(struct nat_engine *e, const struct pkt_view *v,
    uint32_t src, uint32_t dst, int dir, uint32_t idx, uint16_t port)
{
	struct nat_frag *tab, *s = NULL;
	uint32_t set, k, id, ks, kd;
	int kdir;

	if (!v->is_frag)
		return;
	/* The key from the frame itself: for IPv4 the src and dst callers
	 * pass are its addresses, for IPv6 the key holds their tags. */
	(void)src;
	(void)dst;
	frag_key(e, v, dir, &ks, &kd, &id, &kdir);
	tab = &e->frag[nat_frag_base(port)];
	set = frag_set(e, port, ks, kd, id, v->proto, kdir);
	for (k = 0; k < NAT_FRAG_WAYS; k++) {
		struct nat_frag *c = &tab[set + k];

		if ((c->src == ks && c->dst == kd && c->id == id &&
		    c->proto == v->proto && c->dir == kdir) ||
		    c->expire_ms <= e->now_ms) {
			s = c;
			break;
		}
		if (s == NULL || c->expire_ms < s->expire_ms)
			s = c;
	}
	s->src = ks;
	s->dst = kd;
	s->id = id;
	s->proto = v->proto;
	s->dir = (uint8_t)kdir;
	s->flow = idx;
	s->cport = e->ft.ent[idx].cport;
	s->expire_ms = e->now_ms + NAT_FRAG_TTL_MS;
	fraghold_release(e, ks, kd, id, v->proto, kdir, port);
}

/* ---- clients ---- */

void
nat_client_frag(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
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
			    ((f->flags & FT_F_V6) ?
			    nat_port_of_ip6(e, e->ft.a6[idx].dst) :
			    nat_port_of_ip(e, f->odst)) != d->port)
				nat_drop(e, d, v, NAT_R_NO_FLOW);
			else
				nat_flow_forward_in(e, d, v, idx);
			return;
		}
		if (fraghold_add(e, d) == -1)
			nat_drop(e, d, v, NAT_R_FRAG);
		return;
	}
	f = &e->ft.ent[idx];
	switch (f->state) {
	case FT_PENDING:
		if (nat_hold_push(e, idx, d) == -1)
			nat_drop(e, d, v, NAT_R_PENDING_FULL);
		break;
	case FT_ACTIVE:
		if (f->cport != d->port)
			nat_drop(e, d, v, NAT_R_NO_FLOW);
		else
			nat_flow_forward_out(e, d, v, idx);
		break;
	default:
		nat_drop(e, d, v, (f->flags & FT_F_REJECT) ?
		    NAT_R_POLICY_REJECT : NAT_R_POLICY_DROP);
	}
}

/* ---- uplink ---- */

void
nat_uplink_frag(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	uint32_t idx = frag_find(e, v, MQ_PORT_UPLINK, DIR_IN);

	if (idx == FT_NIL) {
		if (fraghold_add(e, d) == -1)
			nat_drop(e, d, v, NAT_R_FRAG);
		return;
	}
	if (e->ft.ent[idx].state != FT_ACTIVE || e->ft.ent[idx].kind == FT_K_C2C) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	nat_flow_forward_in(e, d, v, idx);
}
