/*
 * xen_back_xs.c: the client vifs' XenStore state machine: a vif found
 * under our backend dir, its keys read and checked, the frontend's
 * states followed through connect (rate-limited) and disconnect, and the
 * device's dirs removed after the toolstack unplugs it.
 *
 * The backend dir (/local/domain/<self>/backend/vif/<dom>/<dev>) is
 * written by dom0 and not writable by the client: the client's MAC and IP
 * come from there, never from the frontend dir. Everything under the
 * frontend dir is the client's: hostile, and parsed by xen_valid.c.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nb.h"
#include "xen_priv.h"

/* The MAC moat shows clients (Qubes convention, as in the stock firewall). */
static const uint8_t xb_our_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

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
	while (v->rxq_len > 0)
		xb_rxq_pop(v, 1);
	xb_g.st.vifs_connected--;
}

/* The client broke the protocol: its vif only goes away. */
void
xb_vif_fail(struct xvif *v, const char *why)
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
	memcpy(l.ip6, v->ip6, sizeof(l.ip6));
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
	/* A bad IPv6 word costs the client its IPv6, not its link: without
	 * an address none of its IPv6 frames is forwarded. */
	memset(v->ip6, 0, sizeof(v->ip6));
	if (ok && xnv_parse_ip6_in_list(s, len, v->ip6) < 0) {
		memset(v->ip6, 0, sizeof(v->ip6));
		log_rlk(v->domid, LOG_LVL_WARN, "%s: the ip key's IPv6 address "
		    "is not a client's address: no IPv6 for this client", v->name);
	}
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
	xen_xs_printf(x, 0, path, "%d", xb_g.gso);
	snprintf(path, sizeof(path), "%s/feature-gso-tcpv6", v->bpath);
	xen_xs_printf(x, 0, path, "%d", xb_g.gso);
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
		xb_vif_fail(v, "frontend did not request rx-copy");
		return;
	}
	if (fread_uint(v, "multi-queue-num-queues", 0xffffffffu, &n) == 0 && n != 1) {
		xb_vif_fail(v, "frontend asked for several queues");
		return;
	}
	if (fread_uint(v, "tx-ring-ref", 0xffffffffu, &txref) != 0 ||
	    fread_uint(v, "rx-ring-ref", 0xffffffffu, &rxref) != 0 ||
	    fread_uint(v, "event-channel", 0x7fffffff, &evch) != 0) {
		xb_vif_fail(v, "frontend ring keys missing or malformed");
		return;
	}
	/* Without it we would have to poll its RX ring; every netfront we
	 * serve (Linux, mirage) writes it, so we do not. */
	if (fread_uint(v, "feature-rx-notify", 1, &n) != 0 || n != 1) {
		xb_vif_fail(v, "frontend without feature-rx-notify");
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
		xb_vif_fail(v, "cannot map the TX ring grant");
		return;
	}
	if ((v->rx = x->gmap(x, (uint16_t)v->domid, (uint32_t)rxref, 1)) == NULL) {
		x->gunmap(x, v->tx);
		v->tx = NULL;
		xb_vif_fail(v, "cannot map the RX ring grant");
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
		xb_vif_fail(v, "cannot bind the event channel");
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
	xb_vif_fail(v, "ring indices impossible at connect");
}

/* May this client connect now? A token bucket kept as the time the next
 * token is due (GCRA): XB_CONN_BURST at once, then one per XB_CONN_MS. */
int
xb_conn_token(struct xvif *v, uint64_t now, int take)
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
	if (!xb_conn_token(v, now_ms(), 1)) {
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
 * little later, from xb_vif_update or the tick.
 */
static void
vif_dying(struct xvif *v)
{
	if (!v->dying) {
		v->dying = 1;
		v->rm_at = now_ms() + XB_RM_DELAY_MS;
	}
}

void
xb_vif_reap(struct xvif *v, uint64_t now)
{
	if (!v->dying || now < v->rm_at)
		return;
	xb_g.x->xs_rm(xb_g.x, 0, v->bpath);
	vif_rm_parent(v);
	vif_free(v);
}

void
xb_vif_update(struct xvif *v)
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
		xb_vif_reap(v, now_ms());
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
	xb_vif_update(v);
}

/* The first watch event (and a removal of backend/vif) means: rescan. */
void
xb_vif_rescan(void)
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
			xb_vif_update(&xb_g.vif[i]);
}

void
xb_on_xs(struct nb *nb, void *arg)
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
				xb_vif_rescan();
		} else if (ev[1][0] == 'f' && ev[1][1] == 'e') {
			uint64_t i;

			if (xnv_parse_uint(ev[1] + 2, strlen(ev[1] + 2), XB_MAXVIF - 1, &i) == 0 &&
			    xb_g.vif[i].used && xb_g.vif[i].fe_watched)
				xb_vif_update(&xb_g.vif[i]);
		} else if (xb_g.up != NULL)
			xfront_on_xs(&xb_g, ev[0], ev[1]);
		free(ev);
	}
}
