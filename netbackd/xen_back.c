/*
 * xen_back.c: netbackd's Xen backend: a userspace netback for every client
 * vif dom0 gives us, and the glue (nb_backend_xen) to the netbackd core.
 *
 * The frontend, its ring pages, its granted pages and everything under its
 * XenStore dir are the client VM's: hostile. We read each shared index once
 * per pass, copy every request out of the ring once (into win[]) and only
 * then look at it through xen_valid.c; packet data moves by grant copy into
 * core buffers, so the client can never change bytes we already checked.
 * A client breaking the protocol loses its vif (state Closing, link down),
 * logged once with the reason and counted; every other vif carries on.
 *
 * The backend dir (/local/domain/<self>/backend/vif/<dom>/<dev>) is
 * written by dom0 and not writable by the client: the client's MAC and IP
 * come from there, never from the frontend dir.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <xenctrl.h>	/* domid_t, which the device headers use */
#include <xen/sys/evtchn.h>
#include <xen/sys/gntalloc.h>
#include <xen/sys/gntdev.h>

#include "log.h"
#include "pkt.h"
#include "nb.h"
#include "sandbox.h"
#include "xen_priv.h"
#include "fakexen.h"

/* The super-frame limit pkt_gso_check applies is netif's. */
static_assert(PKT_GSO_MAX_LEN == XEN_NETIF_MAX_TX_SIZE, "GSO limit is netif's frame limit");

struct xenb xb_g;
static struct xen_if *xb_injected;
/* 1: pool buffers hold a 64 KiB frame, so clients may send TSO. */
static int xb_gso;

/* The MAC moat shows clients (Qubes convention, as in the stock firewall). */
static const uint8_t xb_our_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

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
	uint16_t	 id[XEN_NETIF_NR_SLOTS_MIN];
	struct mq_desc	 d;
} rb[XB_BATCH];

void
xen_backend_use(struct xen_if *x)
{
	xb_injected = x;
}

const struct xen_stats *
xen_backend_stats(void)
{
	return &xb_g.st;
}

static struct xvif *
vif_find(unsigned domid, unsigned devid)
{
	int i;

	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].domid == domid &&
		    xb_g.vif[i].devid == devid)
			return &xb_g.vif[i];
	return NULL;
}

static void
set_state(struct xvif *v, enum xenbus_state s)
{
	char path[96];

	if (v->state == s)
		return;
	v->state = s;
	snprintf(path, sizeof(path), "%s/state", v->bpath);
	if (xen_xs_printf(xb_g.x, 0, path, "%u", (unsigned)s) < 0)
		log_warn("%s: cannot write state %u", v->name, (unsigned)s);
}

static void
vif_disconnect(struct xvif *v)
{
	struct xen_if *x = xb_g.x;

	if (!v->connected)
		return;
	v->connected = 0;
	x->ev_unbind(x, (uint32_t)v->evport);
	x->gunmap(x, v->tx);
	x->gunmap(x, v->rx);
	v->tx = v->rx = NULL;
	v->evport = -1;
	while (v->rxq_len > 0) {
		nb_buf_free(xb_g.nb, v->rxq[v->rxq_head].d.buf);
		v->rxq_head = (v->rxq_head + 1) % XB_RXQ;
		v->rxq_len--;
	}
	xb_g.st.vifs_connected--;
}

/* The client broke the protocol: its vif only goes away. */
static void
vif_fail(struct xvif *v, const char *why)
{
	xb_g.st.violations++;
	snprintf(xb_g.st.last_violation, sizeof(xb_g.st.last_violation), "%s: %s",
	    v->name, why);
	log_rlk(v->domid, LOG_LVL_WARN, "%s: disconnected: %s", v->name, why);
	v->broken = 1;
	vif_disconnect(v);
	set_state(v, XB_CLOSING);
}

static void
vif_free(struct xvif *v)
{
	char path[96];

	vif_disconnect(v);
	if (v->link_up)
		nb_link_down(xb_g.nb, v->port);
	if (v->fe_watched) {
		snprintf(path, sizeof(path), "%s/state", v->fpath);
		xb_g.x->xs_unwatch(xb_g.x, path, v->token);
	}
	log_info("%s: removed", v->name);
	memset(v, 0, sizeof(*v));
	xb_g.st.vifs--;
}

/* Transmit path: client -> natd */

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

	if (!xb_gso || pkt_gso_check(f, d->len, p->gso_type == XEN_NETIF_GSO_TYPE_TCPV6,
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
static int
tx_work(struct xvif *v, int *did)
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
			vif_fail(v, "TX request producer ran ahead of the ring");
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
				vif_fail(v, p->reason);
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
					vif_fail(v, "TX grant copy failed");
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
			vif_fail(v, "TX grant copy failed");
			return -1;
		}
		v->tx_cons = prod;
		tx_push(v, old);
	}
	/* Budget spent with requests maybe left: the frontend will not
	 * notify for those, so we must come back by ourselves. */
	return 1;
}

/* Receive path: natd -> client */

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
		if (g.segs > 1) {
			/* No software segmentation here: a client that
			 * takes no TSO loses the frame, counted. */
			if (!v->fe_sg || !(v->fe_gso & (v6 ? XB_GSO_V6 : XB_GSO_V4))) {
				xb_g.st.rx_gso_drops++;
				return -1;
			}
			return 1;
		}
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

static void
rx_push(struct xvif *v, int *did)
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
		vif_fail(v, "RX request producer ran ahead of the ring");
		return;
	}
	while (v->rxq_len > 0 && npk < XB_BATCH) {
		struct mq_desc *d = &v->rxq[v->rxq_head].d;
		unsigned need = (d->len + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE, c;
		uint8_t *src = nb_buf(nb, d->buf) + d->off;
		int gso;

		if ((gso = rx_shape(v, d, src)) < 0) {
			xb_g.st.rx_drops++;
			nb_buf_free(nb, d->buf);
			v->rxq_head = (v->rxq_head + 1) % XB_RXQ;
			v->rxq_len--;
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
		rb[npk].d = *d;
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
		v->rxq_head = (v->rxq_head + 1) % XB_RXQ;
		v->rxq_len--;
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
			nb_buf_free(nb, rb[i].d.buf);
		vif_fail(v, "RX grant copy failed");
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

/* XenStore state machine */

static char *
bread(struct xvif *v, const char *key, unsigned *len)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", v->bpath, key);
	return xb_g.x->xs_read(xb_g.x, 0, path, len);
}

/* An unsigned frontend key; -1 when absent or malformed. */
static int
fread_uint(struct xvif *v, const char *key, uint64_t max, uint64_t *out)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", v->fpath, key);
	return xen_xs_read_uint(xb_g.x, 0, path, max, out);
}

/*
 * natd learns the client (port, address, MAC) as soon as dom0 has given us
 * the device, as the stock vif script sets up routes at hotplug: frames go
 * to natd by ring and link news by way of the supervisor, and Linux
 * netfront sends its gratuitous ARP the moment we say Connected.
 */
static void
link_up(struct xvif *v)
{
	struct msg_link l;

	memset(&l, 0, sizeof(l));
	l.port = v->port;
	l.up = 1;
	l.kind = LINK_CLIENT;
	memcpy(l.our_mac, xb_our_mac, 6);
	memcpy(l.peer_mac, v->mac, 6);
	l.ip4 = v->ip4;
	l.mtu = XB_MTU;
	snprintf(l.name, sizeof(l.name), "%s", v->name);
	nb_link_up(xb_g.nb, &l);
	v->link_up = 1;
}

static int
vif_init(struct xvif *v)
{
	struct xen_if *x = xb_g.x;
	char want[80], path[128], *s;
	unsigned len;
	uint64_t n;
	int ok = 0;

	/* dom0's keys, in the dir the client cannot write. */
	snprintf(path, sizeof(path), "%s/frontend-id", v->bpath);
	if (xen_xs_read_uint(x, 0, path, 0x7fef, &n) != 0 || n != v->domid)
		return -1;
	snprintf(want, sizeof(want), "/local/domain/%u/device/vif/%u", v->domid, v->devid);
	if ((s = bread(v, "frontend", &len)) == NULL)
		return -1;
	ok = len == strlen(want) && memcmp(s, want, len) == 0;
	free(s);
	if (!ok) {
		log_rlk(v->domid, LOG_LVL_WARN, "%s: backend frontend key is not %s", v->name, want);
		return -1;
	}
	if ((s = bread(v, "mac", &len)) == NULL)
		return -1;
	ok = xnv_parse_mac(s, len, v->mac) == 0;
	free(s);
	if (!ok)
		return -1;
	if ((s = bread(v, "ip", &len)) == NULL)
		return -1;
	ok = xnv_parse_ip4_first(s, len, &v->ip4) == 0;
	free(s);
	if (!ok)
		return -1;
	snprintf(v->fpath, sizeof(v->fpath), "%s", want);

	/* Features before InitWait: netfront samples them when it sees 2. */
	snprintf(path, sizeof(path), "%s/feature-sg", v->bpath);
	xen_xs_printf(x, 0, path, "1");
	snprintf(path, sizeof(path), "%s/feature-rx-copy", v->bpath);
	xen_xs_printf(x, 0, path, "1");
	snprintf(path, sizeof(path), "%s/feature-rx-flip", v->bpath);
	xen_xs_printf(x, 0, path, "0");
	snprintf(path, sizeof(path), "%s/feature-ipv6-csum-offload", v->bpath);
	xen_xs_printf(x, 0, path, "1");
	/* A client's super-frame is copied whole into one pool buffer. */
	snprintf(path, sizeof(path), "%s/feature-gso-tcpv4", v->bpath);
	xen_xs_printf(x, 0, path, "%d", xb_gso);
	snprintf(path, sizeof(path), "%s/feature-gso-tcpv6", v->bpath);
	xen_xs_printf(x, 0, path, "%d", xb_gso);
	/* We are the driver domain; no vif script runs (xl devd is off). */
	snprintf(path, sizeof(path), "%s/hotplug-status", v->bpath);
	xen_xs_printf(x, 0, path, "connected");
	set_state(v, XB_INITWAIT);
	v->init_done = 1;
	link_up(v);

	snprintf(v->token, sizeof(v->token), "fe%u", (unsigned)(v - xb_g.vif));
	snprintf(path, sizeof(path), "%s/state", v->fpath);
	if (x->xs_watch(x, path, v->token) == 0)
		v->fe_watched = 1;
	log_info("%s: port %u, InitWait", v->name, v->port);
	return 0;
}

static void
vif_connect(struct xvif *v)
{
	struct xen_if *x = xb_g.x;
	uint64_t txref, rxref, evch, n;
	uint32_t rp, qp;

	if (fread_uint(v, "request-rx-copy", 1, &n) != 0 || n != 1) {
		vif_fail(v, "frontend did not request rx-copy");
		return;
	}
	if (fread_uint(v, "multi-queue-num-queues", 0xffffffffu, &n) == 0 && n != 1) {
		vif_fail(v, "frontend asked for several queues");
		return;
	}
	if (fread_uint(v, "tx-ring-ref", 0xffffffffu, &txref) != 0 ||
	    fread_uint(v, "rx-ring-ref", 0xffffffffu, &rxref) != 0 ||
	    fread_uint(v, "event-channel", 0x7fffffff, &evch) != 0) {
		vif_fail(v, "frontend ring keys missing or malformed");
		return;
	}
	/* Without it we would have to poll its RX ring; every netfront we
	 * serve (Linux, mirage) writes it, so we do not. */
	if (fread_uint(v, "feature-rx-notify", 1, &n) != 0 || n != 1) {
		vif_fail(v, "frontend without feature-rx-notify");
		return;
	}
	v->fe_sg = fread_uint(v, "feature-sg", 1, &n) == 0 && n == 1;
	/* What it takes on RX; absent or malformed: nothing. */
	v->fe_gso = 0;
	if (fread_uint(v, "feature-gso-tcpv4", 1, &n) == 0 && n == 1)
		v->fe_gso |= XB_GSO_V4;
	if (fread_uint(v, "feature-gso-tcpv6", 1, &n) == 0 && n == 1)
		v->fe_gso |= XB_GSO_V6;
	if ((v->tx = x->gmap(x, (uint16_t)v->domid, (uint32_t)txref, 1)) == NULL) {
		vif_fail(v, "cannot map the TX ring grant");
		return;
	}
	if ((v->rx = x->gmap(x, (uint16_t)v->domid, (uint32_t)rxref, 1)) == NULL) {
		x->gunmap(x, v->tx);
		v->tx = NULL;
		vif_fail(v, "cannot map the RX ring grant");
		return;
	}
	/* Attach where the frontend's responses stand (a ring reused across
	 * a backend restart), refusing impossible request counts. */
	rp = xring_load(&v->tx->rsp_prod);
	qp = xring_load(&v->tx->req_prod);
	v->tx_cons = rp;
	if (!xnv_prod_ok(qp, rp, XNR_TX_RING_SIZE))
		goto bad;
	rp = xring_load(&v->rx->rsp_prod);
	qp = xring_load(&v->rx->req_prod);
	v->rx_cons = v->rx_rsp = rp;
	if (!xnv_prod_ok(qp, rp, XNR_RX_RING_SIZE))
		goto bad;
	if ((v->evport = x->ev_bind_interdomain(x, (uint16_t)v->domid, (uint32_t)evch)) < 0) {
		x->gunmap(x, v->tx);
		x->gunmap(x, v->rx);
		v->tx = v->rx = NULL;
		vif_fail(v, "cannot bind the event channel");
		return;
	}
	v->connected = 1;
	v->storm_t0 = now_ms();
	v->storm_n = 0;
	xb_g.st.vifs_connected++;
	set_state(v, XB_CONNECTED);
	log_rlk(v->domid, LOG_LVL_INFO, "%s: connected", v->name);
	return;
bad:
	x->gunmap(x, v->tx);
	x->gunmap(x, v->rx);
	v->tx = v->rx = NULL;
	vif_fail(v, "ring indices impossible at connect");
}

/* May this client connect now? A token bucket kept as the time the next
 * token is due (GCRA): XB_CONN_BURST at once, then one per XB_CONN_MS. */
static int
conn_token(struct xvif *v, uint64_t now, int take)
{
	uint64_t span = (uint64_t)(XB_CONN_BURST - 1) * XB_CONN_MS;

	if (v->conn_tat > now + span)
		return 0;
	if (take)
		v->conn_tat = (v->conn_tat > now ? v->conn_tat : now) + XB_CONN_MS;
	return 1;
}

/* The frontend asks for a connect: do it, or hold it back (counted, and
 * said once per held-back stretch) until the tick finds a token. */
static void
vif_connect_limited(struct xvif *v)
{
	if (!conn_token(v, now_ms(), 1)) {
		if (!v->conn_pending) {
			v->conn_pending = 1;
			xb_g.st.connects_deferred++;
		}
		if (!v->conn_logged) {
			v->conn_logged = 1;
			log_rlk(v->domid, LOG_LVL_WARN, "%s: reconnecting too often: "
			    "connects held back to one per %u s", v->name,
			    XB_CONN_MS / 1000);
		}
		return;
	}
	v->conn_pending = 0;
	v->conn_logged = 0;
	xb_g.st.connects++;
	vif_connect(v);
}

/* backend/vif/<dom> is ours too: left empty it would eat our node quota. */
static void
vif_rm_parent(struct xvif *v)
{
	struct xen_if *x = xb_g.x;
	char path[96], **d;
	unsigned n = 1;

	snprintf(path, sizeof(path), "%s/%u", xb_g.vifdir, v->domid);
	if ((d = x->xs_directory(x, 0, path, &n)) != NULL) {
		free(d);
		if (n == 0)
			x->xs_rm(x, 0, path);
	}
}

/*
 * libxl first waits (10 s) to read state Closed, then (10 s) for a driver
 * domain to delete the dir: deleting it together with writing Closed makes
 * libxl miss the Closed and sit out the first 10 s. So the dir goes a
 * little later, from vif_update or the tick.
 */
static void
vif_dying(struct xvif *v)
{
	if (!v->dying) {
		v->dying = 1;
		v->rm_at = now_ms() + XB_RM_DELAY_MS;
	}
}

static void
vif_reap(struct xvif *v, uint64_t now)
{
	if (!v->dying || now < v->rm_at)
		return;
	xb_g.x->xs_rm(xb_g.x, 0, v->bpath);
	vif_rm_parent(v);
	vif_free(v);
}

static void
vif_update(struct xvif *v)
{
	struct xen_if *x = xb_g.x;
	enum xenbus_state bs, fs = XB_UNKNOWN;
	char path[128], *s;
	unsigned len;
	uint64_t online = 0;
	int have_fs = 0;

	if ((s = bread(v, "state", &len)) == NULL) {
		if (errno == ENOENT) {
			/* dom0 removed the device */
			vif_free(v);
		}
		return;
	}
	if (v->dying) {
		free(s);
		vif_reap(v, now_ms());
		return;
	}
	if (xnv_parse_state(s, len, &bs) != 0)
		bs = XB_UNKNOWN;
	free(s);
	snprintf(path, sizeof(path), "%s/online", v->bpath);
	if (xen_xs_read_uint(x, 0, path, 1, &online) != 0)
		online = 0;
	if (!v->init_done) {
		if (online == 0 && bs >= XB_CLOSING) {
			/* A device being removed that we never set up:
			 * as the driver domain, its dir is ours to delete. */
			set_state(v, XB_CLOSED);
			vif_dying(v);
			return;
		}
		if (online != 1 || vif_init(v) != 0)
			return;		/* keys not (all) there yet */
	}
	snprintf(path, sizeof(path), "%s/state", v->fpath);
	if ((s = x->xs_read(x, 0, path, &len)) != NULL) {
		have_fs = xnv_parse_state(s, len, &fs) == 0;
		free(s);
	}
	if (!have_fs)
		fs = XB_UNKNOWN;	/* absent or garbage: the frontend is gone */

	/* Toolstack removal: online 0, our state set to Closing by dom0. */
	if (online == 0 && (bs == XB_CLOSING || bs == XB_CLOSED || fs == XB_CLOSED ||
	    fs == XB_UNKNOWN)) {
		vif_disconnect(v);
		v->state = XB_UNKNOWN;
		set_state(v, XB_CLOSED);
		vif_dying(v);
		return;
	}
	/* A held-back connect is no longer asked for. */
	if (fs != XB_INITIALISED && fs != XB_CONNECTED)
		v->conn_pending = 0;
	switch (fs) {
	case XB_INITIALISING:
		if ((v->state == XB_CLOSED || v->state == XB_CLOSING) && online == 1) {
			/* A frontend starting over (reboot, module reload). */
			vif_disconnect(v);
			v->broken = 0;
			set_state(v, XB_INITWAIT);
		}
		break;
	case XB_INITIALISED:
	case XB_CONNECTED:
		if (v->state == XB_INITWAIT && !v->broken)
			vif_connect_limited(v);
		break;
	case XB_CLOSING:
		vif_disconnect(v);
		if (v->state != XB_CLOSED)
			set_state(v, XB_CLOSING);
		break;
	case XB_CLOSED:
		vif_disconnect(v);
		set_state(v, XB_CLOSED);
		break;
	default:
		/* No (valid) state: before the frontend dir exists that is
		 * normal; after it was there, the frontend is gone. */
		if (v->state != XB_INITWAIT) {
			vif_disconnect(v);
			set_state(v, XB_CLOSED);
		}
		break;
	}
}

static void
vif_seen(unsigned domid, unsigned devid)
{
	struct xvif *v;
	int i, p;

	if ((v = vif_find(domid, devid)) == NULL) {
		char path[128], *s;

		if (domid == 0 || domid == xb_g.x->self)
			return;
		/* Our own removal of a dir fires too: only a dir with a
		 * state is a device. */
		snprintf(path, sizeof(path), "%s/%u/%u/state", xb_g.vifdir, domid, devid);
		if ((s = xb_g.x->xs_read(xb_g.x, 0, path, NULL)) == NULL)
			return;
		free(s);
		for (i = 0; i < XB_MAXVIF; i++)
			if (!xb_g.vif[i].used)
				break;
		if (i == XB_MAXVIF) {
			log_rl(LOG_LVL_WARN, "vif%u.%u: too many vifs", domid, devid);
			return;
		}
		/* Lowest free client port. */
		for (p = 1; p < MQ_PORT_MAX; p++) {
			int j, taken = 0;

			for (j = 0; j < XB_MAXVIF; j++)
				if (xb_g.vif[j].used && xb_g.vif[j].port == p)
					taken = 1;
			if (!taken)
				break;
		}
		v = &xb_g.vif[i];
		memset(v, 0, sizeof(*v));
		v->used = 1;
		v->domid = domid;
		v->devid = devid;
		v->port = (uint16_t)p;
		v->evport = -1;
		v->state = XB_UNKNOWN;
		snprintf(v->bpath, sizeof(v->bpath), "%s/%u/%u", xb_g.vifdir, domid, devid);
		snprintf(v->name, sizeof(v->name), "vif%u.%u", domid, devid);
		xb_g.st.vifs++;
	}
	vif_update(v);
}

/* The first watch event (and a removal of backend/vif) means: rescan. */
static void
vif_rescan(void)
{
	struct xen_if *x = xb_g.x;
	char **doms, **devs, path[128];
	unsigned nd, nv, i, j;
	uint64_t d, v;

	if ((doms = x->xs_directory(x, 0, xb_g.vifdir, &nd)) != NULL) {
		for (i = 0; i < nd; i++) {
			if (xnv_parse_uint(doms[i], strlen(doms[i]), 0x7fef, &d) != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", xb_g.vifdir, doms[i]);
			if ((devs = x->xs_directory(x, 0, path, &nv)) == NULL)
				continue;
			for (j = 0; j < nv; j++)
				if (xnv_parse_uint(devs[j], strlen(devs[j]), 0xffff, &v) == 0)
					vif_seen((unsigned)d, (unsigned)v);
			free(devs);
		}
		free(doms);
	}
	/* Vifs whose dirs went away. */
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used)
			vif_update(&xb_g.vif[i]);
}

static void
on_xs(struct nb *nb, void *arg)
{
	struct xen_if *x = xb_g.x;
	char **ev;
	int n = 0;

	(void)nb;
	(void)arg;
	/* Bounded per wakeup; the fd stays readable while more are queued. */
	while (n++ < 256 && (ev = x->xs_check_watch(x)) != NULL) {
		unsigned domid, devid;
		const char *rest;

		if (strcmp(ev[1], "be") == 0) {
			if (xnv_parse_vif_path(ev[0], x->self, &domid, &devid, &rest) == 0)
				vif_seen(domid, devid);
			else
				vif_rescan();
		} else if (ev[1][0] == 'f' && ev[1][1] == 'e') {
			uint64_t i;

			if (xnv_parse_uint(ev[1] + 2, strlen(ev[1] + 2), XB_MAXVIF - 1, &i) == 0 &&
			    xb_g.vif[i].used && xb_g.vif[i].fe_watched)
				vif_update(&xb_g.vif[i]);
		} else if (xb_g.up != NULL)
			xfront_on_xs(&xb_g, ev[0], ev[1]);
		free(ev);
	}
}

static void
kick(void)
{
	uint64_t one = 1;

	if (write(xb_g.kick_fd, &one, sizeof(one)) < 0) {
		/* already readable: the wakeup is pending anyway */
	}
}

/* Returns -1 when the vif went away, else whether there was work. */
static int
vif_work(struct xvif *v)
{
	int did = 0, rc;

	if ((rc = tx_work(v, &did)) < 0)
		return -1;
	if (rc == 1) {
		v->more = 1;
		kick();
	}
	rx_push(v, &did);
	if (!v->connected)
		return -1;
	return did;
}

static void
vif_event(struct xvif *v)
{
	int did;
	uint64_t t;

	if ((did = vif_work(v)) < 0)
		return;
	/* Events are hints: a stream of them that brings no work is a storm
	 * (XSA-332); it costs the other clients, so the vif goes. */
	if (!did) {
		t = now_ms();
		if (t - v->storm_t0 >= 1000) {
			v->storm_t0 = t;
			v->storm_n = 0;
		}
		if (++v->storm_n > XB_STORM) {
			vif_fail(v, "event storm");
			return;
		}
	}
	xb_g.x->ev_unmask(xb_g.x, (uint32_t)v->evport);
}

/* Our own wakeup: vifs that used their whole budget go again, after the
 * core has served everything else that was ready. */
static void
on_kick(struct nb *nb, void *arg)
{
	uint64_t v;
	int i;

	(void)nb;
	(void)arg;
	if (read(xb_g.kick_fd, &v, sizeof(v)) < 0) {
		/* spurious */
	}
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].connected && xb_g.vif[i].more) {
			xb_g.vif[i].more = 0;
			vif_work(&xb_g.vif[i]);
		}
}

static void
on_ev(struct nb *nb, void *arg)
{
	struct xen_if *x = xb_g.x;
	int port, n = 0, i;

	(void)nb;
	(void)arg;
	while (n++ < 1024 && (port = x->ev_pending(x)) >= 0) {
		for (i = 0; i < XB_MAXVIF; i++)
			if (xb_g.vif[i].used && xb_g.vif[i].connected &&
			    xb_g.vif[i].evport == port)
				break;
		if (i < XB_MAXVIF)
			vif_event(&xb_g.vif[i]);
		else if (xb_g.up != NULL)
			xfront_on_event(&xb_g, port);
	}
}

/* nb_backend_xen */

static struct xen_if *
xen_choose(void)
{
	const char *sock = getenv("MOAT_FAKEXEN"), *dom = getenv("MOAT_FAKEXEN_DOMID");
	struct fx_world *w;
	uint64_t d;

	if (xb_injected != NULL)
		return xb_injected;
	if (sock == NULL)
		return xen_real_open();
	if (dom == NULL || xnv_parse_uint(dom, strlen(dom), 0x7fef, &d) != 0) {
		log_warnx("MOAT_FAKEXEN set without a valid MOAT_FAKEXEN_DOMID");
		return NULL;
	}
	if ((w = fx_connect(sock)) == NULL) {
		log_warn("cannot reach the fake Xen at %s", sock);
		return NULL;
	}
	log_warnx("using the FAKE Xen at %s as domain %u (tests only)", sock, (unsigned)d);
	return fx_open(w, (unsigned)d);
}

static int
xen_open(struct nb *nb)
{
	struct xen_if *x;

	memset(&xb_g, 0, sizeof(xb_g));
	xb_g.nb = nb;
	/*
	 * TSO to clients only when a super-frame fits one buffer. The
	 * supervisor gives the Xen backend 2048-byte buffers today; giving
	 * it devnet's 66048 turns TSO on, and then every egress must carry
	 * super-frames: client vifs that take GSO do, others count drops,
	 * and the uplink netfront (xfront_tx) drops them all until it
	 * learns GSO towards the NetVM, which would stall clients' TCP to
	 * the outside.
	 */
	xb_gso = nb_buf_size(nb) >= XEN_NETIF_MAX_TX_SIZE;
	if ((x = xen_choose()) == NULL)
		return -1;
	xb_g.x = x;
	snprintf(xb_g.vifdir, sizeof(xb_g.vifdir), "/local/domain/%u/backend/vif", x->self);
	xb_g.xs_fd = x->xs_fd(x);
	xb_g.ev_fd = x->ev_fd(x);
	if ((xb_g.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		log_warn("eventfd");
		return -1;
	}
	if (nb_watch(nb, xb_g.xs_fd, on_xs, NULL) < 0 ||
	    nb_watch(nb, xb_g.ev_fd, on_ev, NULL) < 0 ||
	    nb_watch(nb, xb_g.kick_fd, on_kick, NULL) < 0)
		return -1;
	/* Fires at once: the first event makes us scan what is already there. */
	if (x->xs_watch(x, xb_g.vifdir, "be") < 0) {
		log_warn("cannot watch %s", xb_g.vifdir);
		return -1;
	}
	xb_g.up = xfront_open(&xb_g);
	log_info("xen: domain %u, watching %s", x->self, xb_g.vifdir);
	return 0;
}

static void
xen_tx(struct nb *nb, const struct mq_desc *d)
{
	struct xvif *v = NULL;
	int i;

	if (d->port == MQ_PORT_UPLINK && xb_g.up != NULL) {
		xfront_tx(&xb_g, d);
		return;
	}
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].connected && xb_g.vif[i].port == d->port) {
			v = &xb_g.vif[i];
			break;
		}
	if (v == NULL || v->rxq_len == XB_RXQ) {
		xb_g.st.rx_drops++;
		nb_buf_free(nb, d->buf);
		return;
	}
	i = (int)((v->rxq_head + v->rxq_len) % XB_RXQ);
	v->rxq[i].d = *d;
	v->rxq[i].t_ms = now_ms();
	v->rxq_len++;
}

static void
xen_tx_flush(struct nb *nb)
{
	int i, did = 0;

	(void)nb;
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].connected && xb_g.vif[i].rxq_len > 0)
			rx_push(&xb_g.vif[i], &did);
	if (xb_g.up != NULL)
		xfront_flush(&xb_g);
}

static void
xen_tick(struct nb *nb, uint64_t now)
{
	int i;

	/* Frames a client leaves without RX buffers expire (XSA-392). */
	for (i = 0; i < XB_MAXVIF; i++) {
		struct xvif *v = &xb_g.vif[i];

		while (v->used && v->rxq_len > 0) {
			if (now - v->rxq[v->rxq_head].t_ms < XB_RXQ_MS)
				break;
			xb_g.st.rx_drops++;
			nb_buf_free(nb, v->rxq[v->rxq_head].d.buf);
			v->rxq_head = (v->rxq_head + 1) % XB_RXQ;
			v->rxq_len--;
		}
	}
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].dying)
			vif_reap(&xb_g.vif[i], now);
	/* Connects held back: their token is due. */
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].conn_pending &&
		    conn_token(&xb_g.vif[i], now, 0))
			vif_update(&xb_g.vif[i]);
	/* Watches are the fast path; a slow rescan makes a lost event (a
	 * full xenstored queue) cost a second, not a stuck vif. */
	if (now - xb_g.last_scan >= 1000) {
		xb_g.last_scan = now;
		vif_rescan();
	}
	if (xb_g.up != NULL)
		xfront_tick(&xb_g, now);
}

const struct nb_backend nb_backend_xen = {
	.name = "xen",
	.open = xen_open,
	.add_link = NULL,
	.tx = xen_tx,
	.tx_flush = xen_tx_flush,
	.tick = xen_tick,
	.sc = &xen_sc,		/* netbackd_sandbox.c */
};
