/*
 * xen_back_ring.c: the client vifs' rings: requests copied out once and
 * checked, packet data moved by grant copy, responses and notifications.
 *
 * TX and RX, here, in xen_back*.c and in xen_front.c, are the netif
 * rings' and so the guest's (the frontend's) point of view: TX carries
 * the frames the guest sends, RX the frames it receives. moat's core
 * names directions the other way round, from natd's side (nb_rx hands
 * natd what a link received; a backend's .tx sends natd's frames out):
 * so a client's TX feeds nb_rx, and natd's frames for a client, which
 * the core hands to nb_backend_xen.tx, go out on the client's RX. For
 * the uplink (xen_front.c) moat is the guest: its TX goes to the NetVM.
 *
 * Every request is read out of the peer's ring once, into private memory
 * (win[] for TX, r for RX), and only that copy is checked (xen_valid.c)
 * and used; frames are checked by the pkt offload family, which copies
 * their headers in one read too.
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "nb.h"
#include "pkt.h"
#include "xen_priv.h"

/* The super-frame limit pkt_gso_check applies is netif's. */
static_assert(PKT_GSO_MAX_LEN == XEN_NETIF_MAX_TX_SIZE, "GSO limit is netif's frame limit");

/* Scratch, reused on every pass (no allocation on the packet path). */
static struct netif_tx_request win[XNR_TX_RING_SIZE];
static struct {
	struct xnv_tx_pkt p;
	unsigned	 slot;		/* first request, index into win[] */
	uint32_t	 buf;
	unsigned	 seg0, nseg;
	int		 keep;		/* 1: data to copy and deliver */
} tb[XB_BATCH];
static struct xen_gcopy segs[XB_BATCH * XNV_TX_MAX_FRAGS];
static struct {
	uint32_t	 start;		/* first RX ring index */
	unsigned	 need, seg0;
	int		 gso;		/* slot 1 is a GSO extra */
	int		 cut;		/* a segment in cutbuf: no pool buffer */
	uint16_t	 id[XEN_NETIF_NR_SLOTS_MIN];
	struct mq_desc	 d;
} rb[XB_BATCH];
/* Segments cut for clients without TSO, one per batch entry: private
 * memory, so cutting takes no pool buffer (natd's reserve is half the
 * pool, and one super-frame makes up to 46 segments). */
static uint8_t cutbuf[XB_BATCH][XB_MTU + 14 + 2];

/* Guest TX: the client's frames, to natd */

static void
tx_respond(struct xvif *v, uint32_t idx, uint16_t id, int16_t status)
{
	union netif_tx_slot *s = (union netif_tx_slot *)v->tx->ring +
	    (idx & (XNR_TX_RING_SIZE - 1));
	struct netif_tx_response r = { id, status };

	memcpy(&s->rsp, &r, sizeof(r));
}

static void
tx_push(struct xvif *v, uint32_t old)
{
	uint32_t now = v->tx_cons, ev;

	/* Responses written before the producer moves; pairs with the
	 * frontend's read barrier after it loads rsp_prod. */
	__atomic_store_n(&v->tx->rsp_prod, now, __ATOMIC_RELEASE);
	/* Publish before reading rsp_event (RING_PUSH_..._CHECK_NOTIFY). */
	atomic_thread_fence(memory_order_seq_cst);
	ev = xring_load(&v->tx->rsp_event);
	if ((uint32_t)(now - ev) < (uint32_t)(now - old))
		xb_g.x->ev_notify(xb_g.x, (uint32_t)v->evport);
}

/* Copy n published requests starting at tx_cons out of the ring, once. */
static void
tx_copy(struct xvif *v, unsigned n)
{
	const union netif_tx_slot *ring = (const union netif_tx_slot *)v->tx->ring;
	unsigned i;

	for (i = 0; i < n; i++) {
		uint32_t k = (v->tx_cons + i) & (XNR_TX_RING_SIZE - 1);

		memcpy(&win[i], (const void *)&ring[k], sizeof(win[i]));
	}
}

/*
 * A client's super-frame, copied: checked here because natd forwards
 * super-frames without looking at their segments, and the egress (a
 * client's stack, the NetVM's kernel) segments by these headers. GSO
 * implies a partial checksum whatever the flags say (as in Linux). 0 to
 * deliver d, -1 to drop.
 */
static int
tx_gso(struct xvif *v, const struct xnv_tx_pkt *p, struct mq_desc *d)
{
	uint8_t *f = nb_buf(xb_g.nb, d->buf);
	const char *why = "TSO was not offered";
	struct pkt_gso g;

	if (!xb_g.gso || pkt_gso_check(f, d->len, p->gso_type == XEN_NETIF_GSO_TYPE_TCPV6,
	    p->gso_size, XB_MTU, &g, &why) != 0) {
		log_rlk(v->domid, LOG_LVL_INFO, "%s: super-frame dropped: %s", v->name, why);
		return -1;
	}
	if (g.segs <= 1)	/* one segment's worth: a plain frame */
		return pkt_csum_complete(f, d->len) == 0 ? 0 : -1;
	d->flags = MQ_F_NEEDS_CSUM;
	d->csum_start = g.csum_start;
	d->csum_offset = g.csum_off;
	d->gso_size = p->gso_size;
	d->gso_type = p->gso_type == XEN_NETIF_GSO_TYPE_TCPV4 ? MQ_GSO_TCPV4 : MQ_GSO_TCPV6;
	xb_g.st.tx_gso++;
	return 0;
}

/*
 * Copy the batch's packets and hand them to natd; answer every slot.
 * Returns -1 when a grant the frontend named could not be copied: an
 * honest netfront never names a grant it did not give us.
 */
static int
tx_batch(struct xvif *v, unsigned npk, unsigned nseg, uint32_t base)
{
	struct nb *nb = xb_g.nb;
	unsigned i, k;
	int copy_failed = 0, bad_grant = 0;

	if (nseg > 0 && xb_g.x->gcopy(xb_g.x, segs, nseg) < 0)
		copy_failed = 1;	/* offsets were checked: should not happen */
	for (i = 0; i < npk; i++) {
		struct xnv_tx_pkt *p = &tb[i].p;
		int16_t status = NETIF_RSP_OKAY;
		struct mq_desc d;

		if (p->verdict != XNV_OK)
			status = NETIF_RSP_ERROR;
		if (tb[i].keep) {
			for (k = 0; k < tb[i].nseg; k++)
				if (copy_failed || segs[tb[i].seg0 + k].status != GNTST_okay) {
					status = NETIF_RSP_ERROR;
					bad_grant = 1;
				}
			memset(&d, 0, sizeof(d));
			d.buf = tb[i].buf;
			d.len = p->total;
			d.port = v->port;
			if (status == NETIF_RSP_OKAY && p->gso_size != 0) {
				if (tx_gso(v, p, &d) != 0)
					status = -100;	/* dropped, still answered OKAY */
			} else if (status == NETIF_RSP_OKAY && (p->flags & NETTXF_csum_blank)) {
				if (pkt_csum_complete(nb_buf(nb, d.buf), d.len) != 0)
					status = -100;
			}
			if (status == NETIF_RSP_OKAY) {
				xb_g.st.tx_pkts++;
				nb_rx(nb, &d);
			} else {
				xb_g.st.tx_drops++;
				nb_buf_free(nb, d.buf);
				if (status == -100)
					status = NETIF_RSP_OKAY;
			}
		} else if (p->verdict == XNV_OK) {
			xb_g.st.tx_drops++;	/* no buffer, or larger than one */
		} else
			xb_g.st.tx_drops++;
		/* One response per slot: data slots by id, extras NULL. */
		for (k = 0; k < p->nslots; k++) {
			const struct netif_tx_request *r = &win[tb[i].slot + k];

			tx_respond(v, base + tb[i].slot + k, r->id,
			    (k >= 1 && k <= p->nextra) ? NETIF_RSP_NULL : status);
		}
	}
	return bad_grant ? -1 : 0;
}

/* Returns -1 when the vif was failed (its rings are gone). */
int
xb_tx_work(struct xvif *v, int *did)
{
	uint32_t bufsz = nb_buf_size(xb_g.nb);
	int round;

	for (round = 0; round < XB_ROUNDS; round++) {
		uint32_t prod, old = v->tx_cons, base = v->tx_cons;
		unsigned avail, off = 0, npk = 0, nseg = 0;

		/* Acquire: slots are read after req_prod; pairs with the
		 * frontend's write barrier before it publishes req_prod. */
		prod = xring_load(&v->tx->req_prod);
		if (!xnv_prod_ok(prod, v->tx_cons, XNR_TX_RING_SIZE)) {
			xb_vif_fail(v, "TX request producer ran ahead of the ring");
			return -1;
		}
		avail = prod - v->tx_cons;
		if (avail == 0) {
			/* Ask for an event at the next request, then look
			 * again so one published meanwhile is not missed. */
			__atomic_store_n(&v->tx->req_event, v->tx_cons + 1, __ATOMIC_RELAXED);
			/* Full fence: req_event stored before req_prod re-read. */
			atomic_thread_fence(memory_order_seq_cst);
			if (xring_load(&v->tx->req_prod) == v->tx_cons)
				return 0;
			continue;
		}
		*did = 1;
		tx_copy(v, avail);
		while (off < avail) {
			struct xnv_tx_pkt *p = &tb[npk].p;
			unsigned f;

			if (xnv_tx_parse(&win[off], avail - off, p) == XNV_FATAL) {
				/* Answer what was done so far, then go. */
				tx_batch(v, npk, nseg, base);
				xb_vif_fail(v, p->reason);
				return -1;
			}
			tb[npk].slot = off;
			tb[npk].keep = 0;
			tb[npk].seg0 = nseg;
			tb[npk].nseg = 0;
			if (p->verdict == XNV_OK && p->total <= bufsz &&
			    nb_buf_alloc(xb_g.nb, &tb[npk].buf) == 0) {
				uint8_t *dst = nb_buf(xb_g.nb, tb[npk].buf);
				uint32_t at = 0;

				tb[npk].keep = 1;
				for (f = 0; f < p->nfrags; f++) {
					struct xen_gcopy *g = &segs[nseg++];

					g->local = dst + at;
					g->ref = p->frag[f].gref;
					g->domid = (uint16_t)v->domid;
					g->foff = p->frag[f].off;
					g->len = p->frag[f].len;
					g->to_foreign = 0;
					g->status = GNTST_general_error;
					at += p->frag[f].len;
				}
				tb[npk].nseg = p->nfrags;
			} else if (p->verdict == XNV_DROP)
				log_rlk(v->domid, LOG_LVL_INFO, "%s: packet dropped: %s",
				    v->name, p->reason);
			off += p->nslots;
			npk++;
			if (npk == XB_BATCH) {
				if (tx_batch(v, npk, nseg, base) < 0) {
					xb_vif_fail(v, "TX grant copy failed");
					return -1;
				}
				npk = nseg = 0;
				base += off;
				avail -= off;
				memmove(win, win + off, avail * sizeof(win[0]));
				off = 0;
			}
		}
		if (tx_batch(v, npk, nseg, base) < 0) {
			xb_vif_fail(v, "TX grant copy failed");
			return -1;
		}
		v->tx_cons = prod;
		tx_push(v, old);
	}
	/* Budget spent with requests maybe left: the frontend will not
	 * notify for those, so we must come back by ourselves. */
	return 1;
}

/* Guest RX: natd's frames, into the client */

static int
rxq_put(struct xvif *v, const struct mq_desc *d)
{
	unsigned i;

	if (v->rxq_len == XB_RXQ) {
		xb_g.st.rx_drops++;
		nb_buf_free(xb_g.nb, d->buf);
		return -1;
	}
	i = (v->rxq_head + v->rxq_len) % XB_RXQ;
	v->rxq[i].d = *d;
	v->rxq[i].t_ms = now_ms();
	v->rxq_len++;
	return 0;
}

/* Whether natd's frame d must be cut for v: a super-frame of a family
 * the client did not ask for (feature-gso-tcpv4/6), or no feature-sg. */
static int
rx_needs_cut(const struct xvif *v, const struct mq_desc *d)
{
	int v6 = d->gso_type == MQ_GSO_TCPV6;

	return (d->gso_type == MQ_GSO_TCPV4 || v6) &&
	    (!v->fe_sg || !(v->fe_gso & (v6 ? XB_GSO_V6 : XB_GSO_V4)));
}

void
xb_rx_queue(struct xvif *v, const struct mq_desc *d)
{
	rxq_put(v, d);
}

void
xb_rxq_pop(struct xvif *v, int free_buf)
{
	if (v->rxq_len == 0)
		return;
	if (free_buf)
		nb_buf_free(xb_g.nb, v->rxq[v->rxq_head].d.buf);
	v->rxq_head = (v->rxq_head + 1) % XB_RXQ;
	v->rxq_len--;
	/* Whatever was being cut went with it. */
	v->cut_on = 0;
	v->cut_next = 0;
}

/*
 * How a queued frame can go to this client: 0 as it is, 1 as a
 * super-frame (a GSO extra after its first slot), -1 not at all (dropped
 * by the caller). Checksums are completed here, once: d's flags are
 * updated so that a frame waiting for RX slots is not summed twice.
 */
static int
rx_shape(struct xvif *v, struct mq_desc *d, uint8_t *src)
{
	unsigned ndata = (d->len + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE;
	struct pkt_gso g;
	const char *why;
	int v6;

	if (d->gso_type != MQ_GSO_NONE) {
		if (d->gso_type != MQ_GSO_TCPV4 && d->gso_type != MQ_GSO_TCPV6)
			return -1;
		v6 = d->gso_type == MQ_GSO_TCPV6;
		if (pkt_gso_check(src, d->len, v6, d->gso_size, XB_MTU, &g, &why) != 0 ||
		    !(d->flags & MQ_F_NEEDS_CSUM) || d->csum_start != g.csum_start ||
		    d->csum_offset != g.csum_off) {
			log_rl(LOG_LVL_INFO, "%s: super-frame from natd dropped: %s", v->name,
			    (d->flags & MQ_F_NEEDS_CSUM) ? why : "no partial checksum");
			return -1;
		}
		if (g.segs > 1)
			return 1;	/* xb_rx_push cut it if the client takes none */
		d->gso_type = MQ_GSO_NONE;
		d->gso_size = 0;
	}
	if (ndata == 0 || ndata > XEN_NETIF_NR_SLOTS_MIN || (ndata > 1 && !v->fe_sg))
		return -1;
	if (d->flags & MQ_F_NEEDS_CSUM) {
		if (pkt_csum_complete(src, d->len) != 0)
			return -1;
		d->flags &= (uint16_t)~MQ_F_NEEDS_CSUM;
	}
	return 0;
}

void
xb_rx_push(struct xvif *v, int *did)
{
	struct nb *nb = xb_g.nb;
	const union netif_rx_slot *ring;
	uint32_t prod, old;
	unsigned npk = 0, nseg = 0, i, k;
	int copy_failed = 0, retried = 0;

again:
	copy_failed = 0;
	ring = (const union netif_rx_slot *)v->rx->ring;
	/* Acquire: pairs with the frontend's barrier before req_prod. */
	prod = xring_load(&v->rx->req_prod);
	if (!xnv_prod_ok(prod, v->rx_rsp, XNR_RX_RING_SIZE)) {
		xb_vif_fail(v, "RX request producer ran ahead of the ring");
		return;
	}
	while (v->rxq_len > 0 && npk < XB_BATCH) {
		struct mq_desc *d = &v->rxq[v->rxq_head].d;
		unsigned need = (d->len + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE, c;
		uint8_t *src = nb_buf(nb, d->buf) + d->off;
		int gso, cut = 0;

		if (v->cut_on || rx_needs_cut(v, d)) {
			/*
			 * A super-frame this client takes no TSO for: cut
			 * here, a segment per RX slot as slots come, into
			 * private memory. The cutter keeps the headers it
			 * checked until the last segment is out.
			 */
			const char *why;

			if (!v->cut_on) {
				if (pkt_gso_cut_init(&v->cut, src, d->len,
				    d->gso_type == MQ_GSO_TCPV6, d->gso_size, XB_MTU, &why) != 0) {
					log_rl(LOG_LVL_INFO, "%s: super-frame from natd "
					    "dropped: %s", v->name, why);
					xb_g.st.rx_drops++;
					xb_rxq_pop(v, 1);
					continue;
				}
				v->cut_on = 1;
				v->cut_next = 0;
				xb_g.st.rx_gso_cut++;
			}
			if (prod == v->rx_cons)
				break;
			rb[npk].d = *d;
			rb[npk].d.len = (uint32_t)pkt_gso_cut(&v->cut, v->cut_next, src,
			    cutbuf[npk], sizeof(cutbuf[npk]));
			src = cutbuf[npk];
			need = 1;
			gso = 0;
			cut = 1;
		} else if ((gso = rx_shape(v, d, src)) < 0) {
			xb_g.st.rx_drops++;
			xb_rxq_pop(v, 1);
			continue;
		}
		/* The extra slot takes a posted buffer too (netif.h). */
		need += (unsigned)gso;
		if ((uint32_t)(prod - v->rx_cons) < need)
			break;
		rb[npk].start = v->rx_cons;
		rb[npk].need = need;
		rb[npk].seg0 = nseg;
		rb[npk].gso = gso;
		rb[npk].cut = cut;
		if (!cut)
			rb[npk].d = *d;
		d = &rb[npk].d;
		for (k = 0; k < need; k++) {
			struct netif_rx_request r;
			struct xen_gcopy *g;
			uint32_t chunk;

			/* Each request is read once, here. */
			memcpy(&r, (const void *)&ring[(v->rx_cons + k) & (XNR_RX_RING_SIZE - 1)],
			    sizeof(r));
			rb[npk].id[k] = r.id;
			if (gso && k == 1)
				continue;	/* the extra: no data */
			c = gso && k > 1 ? k - 1 : k;	/* data chunk */
			chunk = d->len - c * XEN_PAGE_SIZE;
			g = &segs[nseg++];
			g->local = src + c * XEN_PAGE_SIZE;
			g->ref = r.gref;
			g->domid = (uint16_t)v->domid;
			g->foff = 0;
			g->len = (uint16_t)(chunk > XEN_PAGE_SIZE ? XEN_PAGE_SIZE : chunk);
			g->to_foreign = 1;
			g->status = GNTST_general_error;
		}
		v->rx_cons += need;
		if (!cut) {
			/* The buffer travels in rb[] until the copy is done. */
			xb_rxq_pop(v, 0);
		} else if (++v->cut_next == v->cut.g.segs)
			xb_rxq_pop(v, 1);	/* all its segments are in cutbuf */
		npk++;
	}
	if (npk == 0) {
		if (v->rxq_len > 0 && !retried) {
			/* Wake us when the client posts more buffers. */
			__atomic_store_n(&v->rx->req_event, v->rx_cons + 1, __ATOMIC_RELAXED);
			/* Full fence: req_event stored before req_prod re-read. */
			atomic_thread_fence(memory_order_seq_cst);
			retried = 1;
			goto again;
		}
		return;
	}
	*did = 1;
	if (xb_g.x->gcopy(xb_g.x, segs, nseg) < 0)
		copy_failed = 1;
	for (i = 0; i < nseg; i++)
		if (segs[i].status != GNTST_okay)
			copy_failed = 1;
	if (copy_failed) {
		/* The client posted buffers it did not grant us. */
		for (i = 0; i < npk; i++)
			if (!rb[i].cut)
				nb_buf_free(nb, rb[i].d.buf);
		xb_vif_fail(v, "RX grant copy failed");
		return;
	}
	old = v->rx_rsp;
	for (i = 0; i < npk; i++) {
		int gso = rb[i].gso;

		for (k = 0; k < rb[i].need; k++) {
			union netif_rx_slot *s = (union netif_rx_slot *)v->rx->ring +
			    ((rb[i].start + k) & (XNR_RX_RING_SIZE - 1));
			struct netif_rx_response r;
			struct xen_gcopy *g;

			if (gso && k == 1) {
				struct netif_extra_info e;

				memset(&e, 0, sizeof(e));
				e.type = XEN_NETIF_EXTRA_TYPE_GSO;
				e.u.gso.size = rb[i].d.gso_size;
				e.u.gso.type = rb[i].d.gso_type == MQ_GSO_TCPV6 ?
				    XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4;
				memcpy(&s->extra, &e, sizeof(e));
				continue;
			}
			g = &segs[rb[i].seg0 + (gso && k > 1 ? k - 1 : k)];
			/* Same slot as the request it answers (netif.h). */
			r.id = rb[i].id[k];
			r.offset = 0;
			r.flags = k + 1 < rb[i].need ? NETRXF_more_data : 0;
			if (gso && k == 0)
				/* The TCP checksum holds the pseudo-header
				 * sum, as for any super-frame. */
				r.flags = (uint16_t)((rb[i].need > 2 ? NETRXF_more_data : 0) |
				    NETRXF_extra_info | NETRXF_csum_blank | NETRXF_data_validated);
			r.status = (copy_failed || g->status != GNTST_okay) ?
			    NETIF_RSP_ERROR : (int16_t)g->len;
			memcpy(&s->rsp, &r, sizeof(r));
		}
		xb_g.st.rx_pkts++;
		xb_g.st.rx_gso += (uint64_t)gso;
		if (!rb[i].cut)
			nb_buf_free(nb, rb[i].d.buf);
	}
	v->rx_rsp = v->rx_cons;
	/* Responses before the producer; pairs with the frontend's acquire. */
	__atomic_store_n(&v->rx->rsp_prod, v->rx_rsp, __ATOMIC_RELEASE);
	/* Full fence: publish before reading rsp_event (..._CHECK_NOTIFY). */
	atomic_thread_fence(memory_order_seq_cst);
	{
		uint32_t ev = xring_load(&v->rx->rsp_event), now = v->rx_rsp;

		if ((uint32_t)(now - ev) < (uint32_t)(now - old))
			xb_g.x->ev_notify(xb_g.x, (uint32_t)v->evport);
	}
	if (v->rxq_len > 0) {
		npk = nseg = 0;
		retried = 0;
		goto again;
	}
}
