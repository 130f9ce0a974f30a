/*
 * xen_back.c: netbackd's Xen backend: a userspace netback for every client
 * vif dom0 gives us, and the glue (nb_backend_xen) to the netbackd core:
 * event channels and wakeups, natd's frames queued for the clients, the
 * tick. The vifs' rings are xen_back_ring.c's (which says what TX and RX
 * mean here), their XenStore state machine xen_back_xs.c's, the uplink
 * to the NetVM xen_front.c's.
 *
 * The frontend, its ring pages, its granted pages and everything under its
 * XenStore dir are the client VM's: hostile. We read each shared index once
 * per pass, copy every request out of the ring once and only then look at
 * it through xen_valid.c; packet data moves by grant copy into core
 * buffers, so the client can never change bytes we already checked.
 * A client breaking the protocol loses its vif (state Closing, link down),
 * logged once with the reason and counted; every other vif carries on.
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
#include "nb.h"
#include "sandbox.h"
#include "xen_priv.h"

struct xenb xb_g;
static struct xen_if *xb_injected;

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

	if ((rc = xb_tx_work(v, &did)) < 0)
		return -1;
	if (rc == 1) {
		v->more = 1;
		kick();
	}
	xb_rx_push(v, &did);
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
			xb_vif_fail(v, "event storm");
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

/* The Xen a test handed us (xen_backend_use), else the real one: the
 * shipped netbackd has no other (the fake lives in tests/xen/). */
static struct xen_if *
xen_choose(void)
{
	if (xb_injected != NULL)
		return xb_injected;
	return xen_real_open();
}

static int
xen_open(struct nb *nb)
{
	struct xen_if *x;

	memset(&xb_g, 0, sizeof(xb_g));
	xb_g.nb = nb;
	/*
	 * TSO to clients only when a super-frame fits one buffer (the
	 * supervisor's default for Xen). Every egress then carries
	 * super-frames: whole to a client or NetVM that negotiated GSO,
	 * cut into segments (pkt_gso.c) for one that did not.
	 */
	xb_g.gso = nb_buf_size(nb) >= XEN_NETIF_MAX_TX_SIZE;
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
	if (nb_watch(nb, xb_g.xs_fd, xb_on_xs, NULL) < 0 ||
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

/*
 * natd's frames (the core's .tx): the uplink's go out on its TX (moat is
 * the NetVM's guest), a client's wait in its queue for its RX ring.
 */
static void
xen_send(struct nb *nb, const struct mq_desc *d)
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
	if (v == NULL) {
		xb_g.st.rx_drops++;
		nb_buf_free(nb, d->buf);
		return;
	}
	xb_rx_queue(v, d);
}

/* The end of the core's batch: fill the clients' RX rings, push the uplink's TX. */
static void
xen_send_flush(struct nb *nb)
{
	int i, did = 0;

	(void)nb;
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].connected && xb_g.vif[i].rxq_len > 0)
			xb_rx_push(&xb_g.vif[i], &did);
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
			xb_rxq_pop(v, 1);
		}
	}
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].dying)
			xb_vif_reap(&xb_g.vif[i], now);
	/* Connects held back: their token is due. */
	for (i = 0; i < XB_MAXVIF; i++)
		if (xb_g.vif[i].used && xb_g.vif[i].conn_pending &&
		    xb_conn_token(&xb_g.vif[i], now, 0))
			xb_vif_update(&xb_g.vif[i]);
	/* Watches are the fast path; a slow rescan makes a lost event (a
	 * full xenstored queue) cost a second, not a stuck vif. */
	if (now - xb_g.last_scan >= 1000) {
		xb_g.last_scan = now;
		xb_vif_rescan();
	}
	if (xb_g.up != NULL)
		xfront_tick(&xb_g, now);
}

const struct nb_backend nb_backend_xen = {
	.name = "xen",
	.open = xen_open,
	.add_link = NULL,
	.tx = xen_send,
	.tx_flush = xen_send_flush,
	.tick = xen_tick,
	.sc_mode = NB_SC_XEN,		/* netbackd_sandbox.c */
};
