/*
 * xen_front.c: the uplink, a userspace netfront towards the NetVM.
 *
 * dom0 gives us device/vif/0 in our own domain; its backend lives in the
 * NetVM, which Qubes treats as untrusted (QSB-023). So the suspicion runs
 * in reverse here: the backend dir and state, both ring pages and every
 * byte of the pages we grant are the NetVM's to write. Responses are
 * copied out of the ring once and checked (xen_valid.c) before any id,
 * status, offset or size is used; received data is copied out of the
 * granted page into a core buffer before anyone parses it. A NetVM that
 * breaks the protocol loses the uplink (logged once, counted) until dom0
 * re-initialises the device; a marker in our own device dir keeps that
 * verdict across a restart of netbackd.
 *
 * TX and RX are the guest's, as everywhere in the Xen backend (see
 * xen_back_ring.c), and here moat is the guest: our TX carries natd's
 * frames to the NetVM, our RX brings the NetVM's to natd (nb_rx).
 *
 * Restart: the pages a dead netbackd shared went with its gntalloc fd, so
 * a new instance that finds our state left at Connected (or Initialised,
 * Closing...) cannot re-attach. It renegotiates as a frontend that was
 * unplugged would: Closing, then Closed once the backend has closed, then
 * Initialising, and connects afresh at the backend's InitWait (from a
 * Closed left behind, it starts at the second step). A backend
 * that closes on us and comes back to InitWait gets the same fresh start.
 * Each costs 514 new grants and a NetVM controls how often it happens, so
 * renegotiations are budgeted (XF_RENEG_*); a NetVM over budget is broken.
 *
 * Granted pages: a fixed set per connection (2 rings, 256 RX, 256 TX =
 * 514, under gntalloc's 1024), holding nothing but packets bound for the
 * NetVM or filled by it (XSA-403); never recycled for anything else, and
 * dropped whole at disconnect (XSA-396: the peer may keep its mapping).
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pkt.h"
#include "xen_priv.h"

#define XF_TXPAGES	XNR_TX_RING_SIZE	/* one page per TX id */
#define XF_RXPAGES	XNR_RX_RING_SIZE	/* one page per RX slot */
#define XF_RENEG_MAX	4	/* renegotiations per window... */
#define XF_RENEG_MS	60000	/* ...of this many ms */
#define XF_BROKEN_KEY	"moat-broken"	/* in our device dir; dom0 resets it */

/* Where a renegotiation stands: what we wrote, what we wait for. */
enum xf_reneg {
	XF_RN_NONE = 0,
	XF_RN_CLOSING,		/* wrote Closing, wait for Closing or Closed */
	XF_RN_CLOSED,		/* wrote Closed, wait for Closed or InitWait */
};

struct xfront {
	enum xenbus_state state;	/* ours, last written */
	int		 connected, broken, live;
	int		 stale;		/* our state was left by another instance */
	enum xf_reneg	 reneg;
	uint64_t	 reneg_t0;
	unsigned	 reneg_n;
	unsigned	 bdom;
	char		 fpath[64], bpath[96];
	uint8_t		 mac[6];
	struct xnr_sring *txs, *rxs;
	uint32_t	 txref, rxref;
	uint8_t		*txpg, *rxpg;
	uint32_t	 txrefs[XF_TXPAGES], rxrefs[XF_RXPAGES];
	int		 port;
	uint32_t	 tx_prod, tx_cons, rx_prod, rx_cons;
	uint32_t	 tx_pushed;	/* req_prod as we last published it */
	uint8_t		 tx_pending[XF_TXPAGES];
	uint16_t	 tx_free[XF_TXPAGES];
	unsigned	 ntx_free;
	int		 watching_b;
	int		 be_gso;	/* XB_GSO_*: super-frames the backend takes on our TX */
	int		 we_gso;	/* XB_GSO_*: what we asked for on our RX */
	uint64_t	 storm_t0, storm_n;
	union netif_rx_slot rxwin[XNR_RX_RING_SIZE];
	uint16_t	 expect[XNR_RX_RING_SIZE];
};

static struct xfront xf_g;

static void
xf_set_state(struct xenb *b, struct xfront *f, enum xenbus_state s)
{
	char p[96];

	if (f->state == s)
		return;
	f->state = s;
	snprintf(p, sizeof(p), "%s/state", f->fpath);
	xen_xs_printf(b->x, 0, p, "%u", (unsigned)s);
}

static void
xf_disconnect(struct xenb *b, struct xfront *f)
{
	struct xen_if *x = b->x;

	if (f->connected) {
		f->connected = 0;
		b->st.uplink_connected = 0;
		nb_link_down(b->nb, MQ_PORT_UPLINK);
	}
	if (f->port > 0)
		x->ev_unbind(x, (uint32_t)f->port);
	f->port = -1;
	/* Never reused: a NetVM may still map them (XSA-396). */
	if (f->txs)
		x->gunshare(x, f->txs, 1);
	if (f->rxs)
		x->gunshare(x, f->rxs, 1);
	if (f->txpg)
		x->gunshare(x, f->txpg, XF_TXPAGES);
	if (f->rxpg)
		x->gunshare(x, f->rxpg, XF_RXPAGES);
	f->txs = f->rxs = NULL;
	f->txpg = f->rxpg = NULL;
	f->live = 0;
}

/* Our device dir is ours to write; the NetVM can read it, not change it. */
static void
xf_mark_broken(struct xenb *b, struct xfront *f, int on)
{
	char p[96];

	snprintf(p, sizeof(p), "%s/" XF_BROKEN_KEY, f->fpath);
	if (on)
		b->x->xs_write(b->x, 0, p, "1", 1);
	else
		b->x->xs_rm(b->x, 0, p);
}

static int
xf_marked_broken(struct xenb *b, struct xfront *f)
{
	char p[96];
	uint64_t n;

	snprintf(p, sizeof(p), "%s/" XF_BROKEN_KEY, f->fpath);
	return xen_xs_read_uint(b->x, 0, p, 1, &n) == 0 && n == 1;
}

static void
xf_fail(struct xenb *b, struct xfront *f, const char *why)
{
	b->st.violations++;
	snprintf(b->st.last_violation, sizeof(b->st.last_violation), "uplink: %s", why);
	log_rl(LOG_LVL_WARN, "uplink: NetVM disconnected: %s", why);
	f->broken = 1;
	f->reneg = XF_RN_NONE;
	xf_disconnect(b, f);
	xf_set_state(b, f, XB_CLOSING);
	/* Read by the next netbackd if this one dies before dom0 resets
	 * the device: a restart must not launder the verdict. */
	xf_mark_broken(b, f, 1);
}

/* One call, so the pages are contiguous and page i is at base + i * 4096. */
static uint8_t *
share_pages(struct xen_if *x, unsigned bdom, unsigned n, uint32_t *refs)
{
	return x->gshare(x, (uint16_t)bdom, n, refs, 1);
}

static int
xf_setup(struct xenb *b, struct xfront *f)
{
	struct xen_if *x = b->x;
	char p[128], v[32];
	uint32_t t;
	unsigned i, tries;

	if ((f->txs = x->gshare(x, (uint16_t)f->bdom, 1, &f->txref, 1)) == NULL ||
	    (f->rxs = x->gshare(x, (uint16_t)f->bdom, 1, &f->rxref, 1)) == NULL ||
	    (f->txpg = share_pages(x, f->bdom, XF_TXPAGES, f->txrefs)) == NULL ||
	    (f->rxpg = share_pages(x, f->bdom, XF_RXPAGES, f->rxrefs)) == NULL) {
		log_warn("uplink: cannot share pages with domain %u", f->bdom);
		return -1;
	}
	/* SHARED_RING_INIT: only the frontend initialises the pages. */
	memset(f->txs, 0, XEN_PAGE_SIZE);
	memset(f->rxs, 0, XEN_PAGE_SIZE);
	f->txs->req_event = f->txs->rsp_event = 1;
	f->rxs->req_event = f->rxs->rsp_event = 1;
	f->tx_prod = f->tx_cons = f->rx_prod = f->rx_cons = f->tx_pushed = 0;
	memset(f->tx_pending, 0, sizeof(f->tx_pending));
	for (i = 0; i < XF_TXPAGES; i++)
		f->tx_free[i] = (uint16_t)(XF_TXPAGES - 1 - i);
	f->ntx_free = XF_TXPAGES;
	if ((f->port = x->ev_bind_unbound(x, (uint16_t)f->bdom)) < 0) {
		log_warn("uplink: cannot allocate an event channel");
		return -1;
	}
	f->live = 1;
	for (tries = 0;; tries++) {
		t = x->xs_tx_start(x);
#define W(k, ...) do { snprintf(p, sizeof(p), "%s/" k, f->fpath); \
	snprintf(v, sizeof(v), __VA_ARGS__); x->xs_write(x, t, p, v, (unsigned)strlen(v)); } while (0)
		W("tx-ring-ref", "%u", f->txref);
		W("rx-ring-ref", "%u", f->rxref);
		W("event-channel", "%d", f->port);
		W("request-rx-copy", "1");
		W("feature-rx-notify", "1");
		W("feature-sg", "1");
		if (f->we_gso) {
			/* Super-frames on our RX. Linux keeps TSO only with
			 * checksum offload, so we take partial checksums
			 * too and finish them (xf_rx_offload). */
			W("feature-gso-tcpv4", "1");
			W("feature-gso-tcpv6", "1");
			W("feature-ipv6-csum-offload", "1");
		} else {
			/* The NetVM's Linux netback then finishes
			 * checksums itself. */
			W("feature-no-csum-offload", "1");
		}
		W("state", "%u", (unsigned)XB_CONNECTED);
#undef W
		if (x->xs_tx_end(x, t, 0) == 0)
			break;
		if (errno != EAGAIN || tries == 100) {
			log_warn("uplink: cannot write our keys");
			return -1;
		}
	}
	f->state = XB_CONNECTED;
	return 0;
}

static void
xf_post_rx(struct xenb *b, struct xfront *f)
{
	union netif_rx_slot *ring = (union netif_rx_slot *)f->rxs->ring;
	uint32_t old = f->rx_prod, ev;

	while (f->rx_prod - f->rx_cons < XNR_RX_RING_SIZE) {
		uint32_t k = f->rx_prod & (XNR_RX_RING_SIZE - 1);
		struct netif_rx_request r = { (uint16_t)k, 0, f->rxrefs[k] };

		/* Slot k always posts page k under id k: the same-slot rule
		 * then tells us which page a response describes. */
		memcpy(&ring[k].req, &r, sizeof(r));
		f->expect[k] = (uint16_t)k;
		f->rx_prod++;
	}
	if (f->rx_prod == old)
		return;
	/* Requests before the producer; pairs with the backend's acquire. */
	__atomic_store_n(&f->rxs->req_prod, f->rx_prod, __ATOMIC_RELEASE);
	/* Full fence: publish before reading req_event (..._CHECK_NOTIFY). */
	atomic_thread_fence(memory_order_seq_cst);
	ev = xring_load(&f->rxs->req_event);
	if ((uint32_t)(f->rx_prod - ev) < (uint32_t)(f->rx_prod - old))
		b->x->ev_notify(b->x, (uint32_t)f->port);
}

static void
xf_connected(struct xenb *b, struct xfront *f)
{
	struct msg_link l;

	f->connected = 1;
	f->storm_t0 = now_ms();
	f->storm_n = 0;
	b->st.uplink_connected = 1;
	xf_post_rx(b, f);
	memset(&l, 0, sizeof(l));
	l.port = MQ_PORT_UPLINK;
	l.up = 1;
	l.kind = LINK_UPLINK;
	memcpy(l.our_mac, f->mac, 6);
	l.mtu = 1500;
	snprintf(l.name, sizeof(l.name), "uplink%u", f->bdom);
	nb_link_up(b->nb, &l);
	log_info("uplink: connected to domain %u", f->bdom);
}

/*
 * One more renegotiation, or the NetVM is over its budget and broken. The
 * window restarts like the event-storm one; only dom0 (Initialising in
 * our dir) clears the count early.
 */
static int
xf_reneg_allow(struct xenb *b, struct xfront *f)
{
	uint64_t t = now_ms();

	if (f->reneg_n == 0 || t - f->reneg_t0 >= XF_RENEG_MS) {
		f->reneg_t0 = t;
		f->reneg_n = 0;
	}
	if (++f->reneg_n > XF_RENEG_MAX) {
		xf_fail(b, f, "backend keeps renegotiating");
		return -1;
	}
	b->st.up_renegs++;
	return 0;
}

/* Step a renegotiation as far as the backend's state bs lets it go. */
static void
xf_reneg_step(struct xenb *b, struct xfront *f, enum xenbus_state bs)
{
	if (f->reneg == XF_RN_CLOSING && (bs == XB_CLOSING || bs == XB_CLOSED)) {
		xf_set_state(b, f, XB_CLOSED);
		f->reneg = XF_RN_CLOSED;
	}
	/* Linux netback answers our Closed with Closed when dom0 marked the
	 * device online; one that skips ahead to InitWait is as good. */
	if (f->reneg == XF_RN_CLOSED && (bs == XB_CLOSED || bs == XB_INITWAIT)) {
		f->reneg = XF_RN_NONE;
		xf_set_state(b, f, XB_INITIALISING);
	}
}

/*
 * What the backend takes (its feature keys: absent, or anything but 0 or
 * 1, is no) and what we ask for: super-frames both ways only when our
 * buffers hold one. Without them our TX cuts super-frames (xfront_tx).
 */
static void
xf_read_gso(struct xenb *b, struct xfront *f)
{
	char p[160];
	uint64_t sg = 0, v4 = 0, v6 = 0;

	snprintf(p, sizeof(p), "%s/feature-sg", f->bpath);
	if (xen_xs_read_uint(b->x, 0, p, 1, &sg) != 0)
		sg = 0;
	snprintf(p, sizeof(p), "%s/feature-gso-tcpv4", f->bpath);
	if (xen_xs_read_uint(b->x, 0, p, 1, &v4) != 0)
		v4 = 0;
	snprintf(p, sizeof(p), "%s/feature-gso-tcpv6", f->bpath);
	if (xen_xs_read_uint(b->x, 0, p, 1, &v6) != 0)
		v6 = 0;
	f->be_gso = 0;
	if (b->gso && sg == 1)
		f->be_gso = (v4 == 1 ? XB_GSO_V4 : 0) | (v6 == 1 ? XB_GSO_V6 : 0);
	f->we_gso = b->gso ? XB_GSO_V4 | XB_GSO_V6 : 0;
}

/* Read our device dir (dom0's keys) and the backend's state; act. */
static void
xf_update(struct xenb *b, struct xfront *f)
{
	struct xen_if *x = b->x;
	char p[128], want[96], *s;
	enum xenbus_state bs = XB_UNKNOWN, ours = XB_UNKNOWN;
	unsigned len;
	uint64_t bid, n;

	snprintf(p, sizeof(p), "%s/state", f->fpath);
	if ((s = x->xs_read(x, 0, p, &len)) == NULL) {
		/* dom0 removed our device */
		xf_disconnect(b, f);
		f->state = XB_UNKNOWN;
		f->stale = 0;
		f->reneg = XF_RN_NONE;
		return;
	}
	if (xnv_parse_state(s, len, &ours) != 0)
		ours = XB_UNKNOWN;
	free(s);
	if (ours == XB_INITIALISING && f->state != XB_INITIALISING) {
		/* dom0 (re)attached the device: start over */
		xf_disconnect(b, f);
		xf_mark_broken(b, f, 0);
		f->broken = 0;
		f->stale = 0;
		f->reneg = XF_RN_NONE;
		f->reneg_n = 0;
		f->state = XB_INITIALISING;
	}
	if (f->state == XB_UNKNOWN && ours != XB_UNKNOWN) {
		/* Written by a netbackd before us, whose pages died with it. */
		f->state = ours;
		if (xf_marked_broken(b, f)) {
			/* It caught this NetVM breaking the protocol; so do we. */
			f->broken = 1;
			log_info("uplink: NetVM was disconnected for a violation; "
			    "waiting for dom0");
		} else
			f->stale = !f->live;
	}
	snprintf(p, sizeof(p), "%s/backend-id", f->fpath);
	if (xen_xs_read_uint(x, 0, p, 0x7fef, &bid) != 0)
		return;
	snprintf(want, sizeof(want), "/local/domain/%u/backend/vif/%u/0", (unsigned)bid, x->self);
	snprintf(p, sizeof(p), "%s/backend", f->fpath);
	if ((s = x->xs_read(x, 0, p, &len)) == NULL)
		return;
	if (len != strlen(want) || memcmp(s, want, len) != 0) {
		free(s);
		log_rl(LOG_LVL_WARN, "uplink: backend path is not %s", want);
		return;
	}
	free(s);
	if (!f->watching_b || f->bdom != bid) {
		if (f->watching_b) {
			snprintf(p, sizeof(p), "%s/state", f->bpath);
			x->xs_unwatch(x, p, "upb");
		}
		f->bdom = (unsigned)bid;
		snprintf(f->bpath, sizeof(f->bpath), "%s", want);
		snprintf(p, sizeof(p), "%s/state", f->bpath);
		f->watching_b = x->xs_watch(x, p, "upb") == 0;
	}
	snprintf(p, sizeof(p), "%s/mac", f->fpath);
	if ((s = x->xs_read(x, 0, p, &len)) != NULL) {
		if (xnv_parse_mac(s, len, f->mac) != 0)
			memset(f->mac, 0, 6);
		free(s);
	}
	snprintf(p, sizeof(p), "%s/state", f->bpath);
	if ((s = x->xs_read(x, 0, p, &len)) != NULL) {
		if (xnv_parse_state(s, len, &bs) != 0)
			bs = XB_UNKNOWN;
		free(s);
	}
	if (f->stale) {
		f->stale = 0;
		if (xf_reneg_allow(b, f) == 0) {
			log_info("uplink: state %u left by an earlier netbackd; "
			    "renegotiating with domain %u", (unsigned)f->state, f->bdom);
			if (f->state == XB_CLOSED) {
				/* Closed already (it may have died halfway
				 * through this): a backend that is closed too
				 * waits for our Initialising, for ever. */
				f->reneg = XF_RN_CLOSED;
			} else {
				/* Written even when it already reads Closing:
				 * the backend must see a frontend going away. */
				f->state = XB_UNKNOWN;
				xf_set_state(b, f, XB_CLOSING);
				f->reneg = XF_RN_CLOSING;
			}
		}
	}
	if (f->reneg != XF_RN_NONE) {
		xf_reneg_step(b, f, bs);
		if (f->reneg != XF_RN_NONE)
			return;
	}
	switch (bs) {
	case XB_INITWAIT:
		if (f->broken || f->live)
			break;
		/* The backend closed on us and wants a frontend again. */
		if (f->state == XB_CLOSED) {
			if (xf_reneg_allow(b, f) != 0)
				break;
			log_rl(LOG_LVL_INFO, "uplink: domain %u wants a frontend again; "
			    "reconnecting", f->bdom);
			xf_set_state(b, f, XB_INITIALISING);
		}
		if (f->state != XB_INITIALISING)
			break;
		snprintf(p, sizeof(p), "%s/feature-rx-copy", f->bpath);
		if (xen_xs_read_uint(x, 0, p, 1, &n) != 0 || n != 1) {
			xf_fail(b, f, "backend without feature-rx-copy");
			break;
		}
		xf_read_gso(b, f);
		if (xf_setup(b, f) != 0) {
			xf_disconnect(b, f);
			xf_set_state(b, f, XB_CLOSING);
		}
		break;
	case XB_CONNECTED:
		if (f->state == XB_CONNECTED && f->live && !f->connected)
			xf_connected(b, f);
		break;
	case XB_CLOSING:
	case XB_CLOSED:
		/* Our Initialising is what brings a closed backend (Linux:
		 * online=1) back to InitWait: wait for it, do not close. */
		if (f->state == XB_INITIALISING && !f->live)
			break;
		if (f->live || f->state == XB_CONNECTED) {
			xf_disconnect(b, f);
			xf_set_state(b, f, XB_CLOSING);
		}
		if (bs == XB_CLOSED || f->state == XB_CLOSING)
			xf_set_state(b, f, XB_CLOSED);
		break;
	default:
		if (f->live) {
			/* the backend went away under us */
			xf_disconnect(b, f);
			xf_set_state(b, f, XB_CLOSED);
		}
		break;
	}
}

struct xfront *
xfront_open(struct xenb *b)
{
	struct xfront *f = &xf_g;
	memset(f, 0, sizeof(*f));
	f->port = -1;
	snprintf(f->fpath, sizeof(f->fpath), "/local/domain/%u/device/vif/0", b->x->self);
	/* Fires now (the device may already be there) and on any change. */
	if (b->x->xs_watch(b->x, f->fpath, "up") != 0) {
		log_warn("uplink: cannot watch %s", f->fpath);
		return NULL;
	}
	return f;
}

int
xfront_on_xs(struct xenb *b, const char *path, const char *token)
{
	(void)path;
	if (strcmp(token, "up") == 0 || strcmp(token, "upb") == 0)
		xf_update(b, b->up);
	return 0;
}

/* TX responses: every id must be one we have outstanding (QSB-023). */
static int
xf_reap_tx(struct xenb *b, struct xfront *f)
{
	const union netif_tx_slot *ring = (const union netif_tx_slot *)f->txs->ring;
	uint32_t prod;
	int did = 0, pass = 0;

again:
	/* Acquire: responses after rsp_prod; pairs with the backend's push. */
	prod = xring_load(&f->txs->rsp_prod);
	if ((uint32_t)(prod - f->tx_cons) > (uint32_t)(f->tx_prod - f->tx_cons)) {
		xf_fail(b, f, "TX responses for requests never made");
		return -1;
	}
	while (f->tx_cons != prod) {
		struct netif_tx_response r;
		const char *why = NULL;
		int rc;

		memcpy(&r, (const void *)&ring[f->tx_cons & (XNR_TX_RING_SIZE - 1)].rsp,
		    sizeof(r));
		f->tx_cons++;
		did = 1;
		if ((rc = xnv_tx_rsp_check(&r, f->tx_pending, XF_TXPAGES, &why)) < 0) {
			xf_fail(b, f, why);
			return -1;
		}
		if (rc == 0)
			continue;
		f->tx_pending[r.id] = 0;
		f->tx_free[f->ntx_free++] = r.id;
		if (r.status != NETIF_RSP_OKAY)
			b->st.up_drops++;
	}
	/* Ask for an event at the next response, then look again: one
	 * pushed in between would otherwise wait for an unrelated event
	 * (RING_FINAL_CHECK_FOR_RESPONSES). Bounded: the tick reaps too. */
	__atomic_store_n(&f->txs->rsp_event, f->tx_cons + 1, __ATOMIC_RELAXED);
	/* Full fence: the store above before the re-read below. */
	atomic_thread_fence(memory_order_seq_cst);
	if (xring_load(&f->txs->rsp_prod) != f->tx_cons && ++pass < 4)
		goto again;
	return did;
}

/*
 * A received frame's offloads, on our private copy f: a GSO extra makes
 * it a super-frame for natd, checked as a client's are (the egress
 * segments by its headers), and only if we asked for them; a partial
 * checksum (csum_blank, which we accept when we ask for GSO) is finished
 * here, or left to the egress for a super-frame. NETRXF_data_validated
 * is the NetVM's word, and not taken. 0, or -1 to drop.
 */
static int
xf_rx_offload(struct xenb *b, struct xfront *f, const struct xnv_rx_pkt *p,
    uint8_t *fr, struct mq_desc *d)
{
	struct pkt_gso g;
	const char *why;
	int v6 = p->gso_type == XEN_NETIF_GSO_TYPE_TCPV6;

	if (p->gso_size != 0) {
		if (!(f->we_gso & (v6 ? XB_GSO_V6 : XB_GSO_V4)) ||
		    pkt_gso_check(fr, d->len, v6, p->gso_size, XB_MTU, &g, &why) != 0) {
			log_rl(LOG_LVL_INFO, "uplink: super-frame dropped: %s",
			    f->we_gso ? why : "GSO was not asked for");
			return -1;
		}
		if (g.segs > 1) {
			d->flags = MQ_F_NEEDS_CSUM;
			d->csum_start = g.csum_start;
			d->csum_offset = g.csum_off;
			d->gso_size = p->gso_size;
			d->gso_type = v6 ? MQ_GSO_TCPV6 : MQ_GSO_TCPV4;
			b->st.up_rx_gso++;
			return 0;
		}
		/* One segment's worth: a plain frame, partial checksum. */
		return pkt_csum_complete(fr, d->len);
	}
	if (p->flags & NETRXF_csum_blank)
		return pkt_csum_complete(fr, d->len);
	return 0;
}

/* Our RX: the NetVM's frames, copied out and handed to natd. */
static int
xf_rx(struct xenb *b, struct xfront *f)
{
	struct nb *nb = b->nb;
	uint32_t prod, avail, i, off = 0;
	const union netif_rx_slot *ring = (const union netif_rx_slot *)f->rxs->ring;
	struct xnv_rx_pkt p;
	int did = 0, pass = 0;

again:
	off = 0;
	/* Acquire: responses after rsp_prod; pairs with the backend's push. */
	prod = xring_load(&f->rxs->rsp_prod);
	if ((uint32_t)(prod - f->rx_cons) > (uint32_t)(f->rx_prod - f->rx_cons)) {
		xf_fail(b, f, "RX responses for buffers never posted");
		return -1;
	}
	avail = prod - f->rx_cons;
	/* Each response is copied out of the ring once, here. */
	for (i = 0; i < avail; i++) {
		uint32_t k = (f->rx_cons + i) & (XNR_RX_RING_SIZE - 1);

		memcpy(&f->rxwin[i], (const void *)&ring[k], sizeof(f->rxwin[i]));
	}
	while (off < avail) {
		struct netif_rx_response rsp[XNR_RX_RING_SIZE];
		uint16_t ids[XNR_RX_RING_SIZE];
		unsigned n = avail - off, j;

		for (j = 0; j < n; j++) {
			rsp[j] = f->rxwin[off + j].rsp;
			ids[j] = f->expect[(f->rx_cons + off + j) & (XNR_RX_RING_SIZE - 1)];
		}
		xnv_rx_parse(rsp, ids, n, &p);
		if (p.verdict == XNV_FATAL) {
			xf_fail(b, f, p.reason);
			return -1;
		}
		if (p.verdict == XNV_MORE)
			break;
		did = 1;
		if (p.verdict == XNV_OK) {
			uint32_t buf;

			if (p.total > nb_buf_size(nb) || nb_buf_alloc(nb, &buf) != 0) {
				b->st.up_drops++;
			} else {
				uint8_t *dst = nb_buf(nb, buf);
				uint32_t at = 0;
				struct mq_desc d;

				for (j = 0; j < p.nfrags; j++) {
					uint32_t k = (f->rx_cons + off + p.frag[j].slot) &
					    (XNR_RX_RING_SIZE - 1);

					/* Out of the granted page before anyone
					 * parses it: the NetVM can still write it. */
					memcpy(dst + at, f->rxpg + (size_t)k * XEN_PAGE_SIZE +
					    p.frag[j].off, p.frag[j].len);
					at += p.frag[j].len;
				}
				memset(&d, 0, sizeof(d));
				d.buf = buf;
				d.len = p.total;
				d.port = MQ_PORT_UPLINK;
				if (xf_rx_offload(b, f, &p, dst, &d) != 0) {
					b->st.up_drops++;
					nb_buf_free(nb, buf);
				} else {
					b->st.up_rx_pkts++;
					nb_rx(nb, &d);
				}
			}
		} else
			b->st.up_drops++;
		off += p.nslots;
	}
	f->rx_cons += off;
	if (off > 0)
		xf_post_rx(b, f);
	/* Event at the next response, then the final re-check (as TX). A
	 * packet still incomplete leaves rx_cons behind prod: compare with
	 * what we saw, not with rx_cons. */
	__atomic_store_n(&f->rxs->rsp_event, f->rx_cons + 1, __ATOMIC_RELAXED);
	/* Full fence: the store above before the re-read below. */
	atomic_thread_fence(memory_order_seq_cst);
	if (xring_load(&f->rxs->rsp_prod) != prod && ++pass < 4)
		goto again;
	return did;
}

int
xfront_on_event(struct xenb *b, int port)
{
	struct xfront *f = b->up;
	int did = 0, rc;
	uint64_t t;

	if (f == NULL || !f->live || port != f->port)
		return 0;
	if (f->connected) {
		if ((rc = xf_reap_tx(b, f)) < 0)
			return 0;
		did |= rc;
		if ((rc = xf_rx(b, f)) < 0)
			return 0;
		did |= rc;
		/* A backend signalling without work is throttled (XSA-391). */
		if (!did) {
			t = now_ms();
			if (t - f->storm_t0 >= 1000) {
				f->storm_t0 = t;
				f->storm_n = 0;
			}
			if (++f->storm_n > XB_STORM) {
				xf_fail(b, f, "event storm");
				return 0;
			}
		}
	}
	b->x->ev_unmask(b->x, (uint32_t)port);
	return 0;
}

/*
 * A super-frame for a NetVM that takes none: each segment is cut straight
 * into a granted page of its own, one slot each, complete checksums.
 * All or nothing: 0, or -1 when there is no room for every segment.
 */
static int
xf_tx_cut(struct xenb *b, struct xfront *f, const struct pkt_gso_cut *c,
    const uint8_t *src)
{
	union netif_tx_slot *ring = (union netif_tx_slot *)f->txs->ring;
	unsigned i;

	if (c->g.segs > f->ntx_free ||
	    (uint32_t)(f->tx_prod - f->tx_cons) + c->g.segs > XNR_TX_RING_SIZE)
		return -1;
	for (i = 0; i < c->g.segs; i++) {
		uint16_t id = f->tx_free[--f->ntx_free];
		struct netif_tx_request r;

		r.size = (uint16_t)pkt_gso_cut(c, i, src,
		    f->txpg + (size_t)id * XEN_PAGE_SIZE, XEN_PAGE_SIZE);
		r.gref = f->txrefs[id];
		r.offset = 0;
		r.flags = 0;
		r.id = id;
		f->tx_pending[id] = 1;
		memcpy(&ring[f->tx_prod & (XNR_TX_RING_SIZE - 1)].req, &r, sizeof(r));
		f->tx_prod++;
		b->st.up_tx_pkts++;
	}
	b->st.up_gso_cut++;
	return 0;
}

/* Our TX: a frame of natd's, to the NetVM. */
void
xfront_tx(struct xenb *b, const struct mq_desc *d)
{
	struct xfront *f = b->up;
	union netif_tx_slot *ring;
	const uint8_t *src;
	unsigned need, k, gso = 0;
	int v6 = d->gso_type == MQ_GSO_TCPV6;

	if (!f->connected) {
		b->st.up_drops++;
		nb_buf_free(b->nb, d->buf);
		return;
	}
	src = nb_buf(b->nb, d->buf) + d->off;
	if (d->gso_type != MQ_GSO_NONE) {
		struct pkt_gso_cut c;
		const char *why;

		/* natd's word is checked as a client's would be: the
		 * NetVM, or our cutter, segments by these headers. */
		if ((d->gso_type != MQ_GSO_TCPV4 && !v6) || !(d->flags & MQ_F_NEEDS_CSUM) ||
		    pkt_gso_cut_init(&c, src, d->len, v6, d->gso_size, XB_MTU, &why) != 0 ||
		    d->csum_start != c.g.csum_start || d->csum_offset != c.g.csum_off) {
			log_rl(LOG_LVL_INFO, "uplink: super-frame from natd dropped");
			b->st.up_drops++;
			nb_buf_free(b->nb, d->buf);
			return;
		}
		if (!(f->be_gso & (v6 ? XB_GSO_V6 : XB_GSO_V4))) {
			if (xf_tx_cut(b, f, &c, src) != 0)
				b->st.up_drops++;
			nb_buf_free(b->nb, d->buf);
			return;
		}
		gso = c.g.segs > 1;
	}
	need = (d->len + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE;
	if (need == 0 || need > XEN_NETIF_NR_SLOTS_MIN || need > f->ntx_free ||
	    (uint32_t)(f->tx_prod - f->tx_cons) + need + gso > XNR_TX_RING_SIZE) {
		b->st.up_drops++;
		nb_buf_free(b->nb, d->buf);
		return;
	}
	/* A super-frame keeps its partial checksum: the NetVM's stack
	 * finishes each segment's (csum_blank). */
	if (!gso && (d->flags & MQ_F_NEEDS_CSUM) &&
	    pkt_csum_complete((uint8_t *)src, d->len) != 0) {
		b->st.up_drops++;
		nb_buf_free(b->nb, d->buf);
		return;
	}
	ring = (union netif_tx_slot *)f->txs->ring;
	for (k = 0; k < need; k++) {
		uint16_t id = f->tx_free[--f->ntx_free];
		uint32_t chunk = d->len - k * XEN_PAGE_SIZE;
		struct netif_tx_request r;

		if (chunk > XEN_PAGE_SIZE)
			chunk = XEN_PAGE_SIZE;
		memcpy(f->txpg + (size_t)id * XEN_PAGE_SIZE, src + k * XEN_PAGE_SIZE, chunk);
		r.gref = f->txrefs[id];
		r.offset = 0;
		r.flags = (uint16_t)(k + 1 < need ? NETTXF_more_data : 0);
		r.id = id;
		r.size = (uint16_t)(k == 0 ? d->len : chunk);
		if (k == 0 && gso)
			r.flags |= NETTXF_extra_info | NETTXF_csum_blank |
			    NETTXF_data_validated;
		f->tx_pending[id] = 1;
		memcpy(&ring[f->tx_prod & (XNR_TX_RING_SIZE - 1)].req, &r, sizeof(r));
		f->tx_prod++;
		if (k == 0 && gso) {
			/* The GSO extra follows the first slot; the
			 * backend answers it NETIF_RSP_NULL. */
			union netif_tx_slot e;

			memset(&e, 0, sizeof(e));
			e.extra.type = XEN_NETIF_EXTRA_TYPE_GSO;
			e.extra.u.gso.size = d->gso_size;
			e.extra.u.gso.type = v6 ? XEN_NETIF_GSO_TYPE_TCPV6 :
			    XEN_NETIF_GSO_TYPE_TCPV4;
			memcpy(&ring[f->tx_prod & (XNR_TX_RING_SIZE - 1)], &e, sizeof(e));
			f->tx_prod++;
		}
	}
	b->st.up_tx_pkts++;
	b->st.up_tx_gso += gso;
	nb_buf_free(b->nb, d->buf);
}

void
xfront_flush(struct xenb *b)
{
	struct xfront *f = b->up;
	uint32_t old, ev;

	if (!f->connected)
		return;
	old = f->tx_pushed;
	if (old == f->tx_prod)
		return;
	/* Requests before the producer; pairs with the backend's acquire. */
	__atomic_store_n(&f->txs->req_prod, f->tx_prod, __ATOMIC_RELEASE);
	f->tx_pushed = f->tx_prod;
	/* Full fence: publish before reading req_event (..._CHECK_NOTIFY). */
	atomic_thread_fence(memory_order_seq_cst);
	ev = xring_load(&f->txs->req_event);
	if ((uint32_t)(f->tx_prod - ev) < (uint32_t)(f->tx_prod - old))
		b->x->ev_notify(b->x, (uint32_t)f->port);
	/* Reclaim ids without waiting for an event. */
	xf_reap_tx(b, f);
}

void
xfront_tick(struct xenb *b, uint64_t now)
{
	struct xfront *f = b->up;

	(void)now;
	if (f->connected)
		xf_reap_tx(b, f);
}
