/*
 * tfront.c: the test netfront and dom0 helpers (tfront.h).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tfront.h"

static int
wrt(struct xen_if *x, uint32_t t, const char *dir, const char *key, const char *val)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	return x->xs_write(x, t, p, val, (unsigned)strlen(val));
}

static int
wr(struct xen_if *x, const char *dir, const char *key, const char *val)
{
	return wrt(x, 0, dir, key, val);
}

int
dom0_add_vif(struct xen_if *x0, unsigned bdom, unsigned dom, unsigned devid,
    const char *mac, const char *ip)
{
	char b[96], f[96], v[32];
	struct xen_perm bp[2] = { { (uint16_t)bdom, 'n' }, { (uint16_t)dom, 'r' } };
	struct xen_perm fp[2] = { { (uint16_t)dom, 'n' }, { (uint16_t)bdom, 'r' } };
	uint32_t t;
	int tries;

	snprintf(b, sizeof(b), "/local/domain/%u/backend/vif/%u/%u", bdom, dom, devid);
	snprintf(f, sizeof(f), "/local/domain/%u/device/vif/%u", dom, devid);
	/* Frontend dir first, so it exists when the backend looks. */
	if (x0->xs_mkdir(x0, 0, f) < 0 || x0->xs_set_perms(x0, 0, f, fp, 2) < 0)
		return -1;
	if (x0->xs_mkdir(x0, 0, b) < 0 || x0->xs_set_perms(x0, 0, b, bp, 2) < 0)
		return -1;
	/* One transaction, as libxl does: nobody sees half a device. */
	for (tries = 0; tries < 100; tries++) {
		t = x0->xs_tx_start(x0);
		wrt(x0, t, f, "backend", b);
		snprintf(v, sizeof(v), "%u", bdom);
		wrt(x0, t, f, "backend-id", v);
		snprintf(v, sizeof(v), "%u", devid);
		wrt(x0, t, f, "handle", v);
		/* The frontend's own idea of its MAC: not what the backend trusts. */
		wrt(x0, t, f, "mac", "00:16:3e:ee:ee:ee");
		wrt(x0, t, f, "state", "1");
		wrt(x0, t, b, "frontend", f);
		snprintf(v, sizeof(v), "%u", dom);
		wrt(x0, t, b, "frontend-id", v);
		wrt(x0, t, b, "online", "1");
		wrt(x0, t, b, "mac", mac);
		wrt(x0, t, b, "ip", ip);
		wrt(x0, t, b, "script", "/etc/xen/scripts/vif-route-qubes");
		snprintf(v, sizeof(v), "%u", devid);
		wrt(x0, t, b, "handle", v);
		wrt(x0, t, b, "type", "vif");
		wrt(x0, t, b, "hotplug-status", "");
		wrt(x0, t, b, "state", "1");
		if (x0->xs_tx_end(x0, t, 0) == 0)
			return 0;
		if (errno != EAGAIN)
			break;
	}
	return -1;
}

int
xs_state(struct xen_if *x, const char *path)
{
	unsigned len;
	char *v = x->xs_read(x, 0, path, &len);
	int s;

	if (v == NULL)
		return -1;
	s = atoi(v);
	free(v);
	return s;
}

int
xs_wait_state(struct xen_if *x, const char *path, int want, int timeout_ms)
{
	uint64_t t0 = tu_now_ms();

	do {
		if (xs_state(x, path) == want)
			return (int)(tu_now_ms() - t0);
		usleep(1000);
	} while (tu_now_ms() - t0 < (uint64_t)timeout_ms);
	return -1;
}

void
dom0_detach_vif(struct xen_if *x0, unsigned bdom, unsigned dom, unsigned devid)
{
	char b[96], p[128], q[160];
	int tries;

	snprintf(b, sizeof(b), "/local/domain/%u/backend/vif/%u/%u", bdom, dom, devid);
	snprintf(p, sizeof(p), "%s/state", b);
	snprintf(q, sizeof(q), "%s/online", b);
	/* One transaction, as libxl does it. */
	for (tries = 0; tries < 100; tries++) {
		uint32_t t = x0->xs_tx_start(x0);

		x0->xs_write(x0, t, q, "0", 1);
		if (xs_state(x0, p) != 6)
			x0->xs_write(x0, t, p, "5", 1);
		if (x0->xs_tx_end(x0, t, 0) == 0 || errno != EAGAIN)
			break;
	}
}

int
dom0_wait_vif_gone(struct xen_if *x0, unsigned bdom, unsigned dom, unsigned devid,
    int timeout_ms)
{
	char b[96], f[96], p[128];
	uint64_t t0 = tu_now_ms();
	int gone = 0, closed = 0;

	snprintf(b, sizeof(b), "/local/domain/%u/backend/vif/%u/%u", bdom, dom, devid);
	snprintf(f, sizeof(f), "/local/domain/%u/device/vif/%u", dom, devid);
	snprintf(p, sizeof(p), "%s/state", b);
	while (tu_now_ms() - t0 < (uint64_t)timeout_ms) {
		unsigned len;
		char *v = x0->xs_read(x0, 0, p, &len);

		if (v == NULL && errno == ENOENT) {
			gone = 1;
			break;
		}
		/* libxl must be able to read Closed before the dir goes */
		if (v != NULL && strcmp(v, "6") == 0)
			closed = 1;
		free(v);
		usleep(1000);
	}
	if (getenv("MOAT_TEST_VERBOSE") != NULL && (!gone || !closed)) {
		char q[160];

		snprintf(q, sizeof(q), "%s/state", f);
		printf("# remove vif%u.%u: gone %d, Closed seen %d, backend state %d, "
		    "frontend state %d\n", dom, devid, gone, closed, xs_state(x0, p),
		    xs_state(x0, q));
	}
	x0->xs_rm(x0, 0, f);
	x0->xs_rm(x0, 0, b);	/* libxl's forced cleanup */
	return gone && closed ? 0 : -1;
}

int
dom0_remove_vif(struct xen_if *x0, unsigned bdom, unsigned dom, unsigned devid,
    int timeout_ms)
{
	dom0_detach_vif(x0, bdom, dom, devid);
	return dom0_wait_vif_gone(x0, bdom, dom, devid, timeout_ms);
}

void	(*tf_pre_connect)(struct tfront *);

int
tf_init(struct tfront *t, struct xen_if *x, unsigned bdom, unsigned devid)
{
	memset(t, 0, sizeof(*t));
	t->x = x;
	t->dom = x->self;
	t->bdom = bdom;
	t->devid = devid;
	snprintf(t->fpath, sizeof(t->fpath), "/local/domain/%u/device/vif/%u", t->dom, devid);
	snprintf(t->bpath, sizeof(t->bpath), "/local/domain/%u/backend/vif/%u/%u", bdom,
	    t->dom, devid);
	if ((t->txs = x->gshare(x, (uint16_t)bdom, 1, &t->txref, 1)) == NULL ||
	    (t->rxs = x->gshare(x, (uint16_t)bdom, 1, &t->rxref, 1)) == NULL)
		return -1;
	/* SHARED_RING_INIT */
	t->txs->req_event = t->txs->rsp_event = 1;
	t->rxs->req_event = t->rxs->rsp_event = 1;
	if ((t->txpg = x->gshare(x, (uint16_t)bdom, TF_TXPAGES, t->txrefs, 0)) == NULL ||
	    (t->rxpg = x->gshare(x, (uint16_t)bdom, TF_RXPAGES, t->rxrefs, 1)) == NULL)
		return -1;
	if ((t->port = x->ev_bind_unbound(x, (uint16_t)bdom)) < 0)
		return -1;
	return 0;
}

int
tf_connect(struct tfront *t, int timeout_ms)
{
	struct xen_if *x = t->x;
	char p[160], v[32];
	unsigned len;
	char *s;

	snprintf(p, sizeof(p), "%s/state", t->bpath);
	if (xs_wait_state(x, p, XB_INITWAIT, timeout_ms) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/feature-rx-copy", t->bpath);
	if ((s = x->xs_read(x, 0, p, &len)) == NULL || strcmp(s, "1") != 0) {
		free(s);
		return -1;
	}
	free(s);
	snprintf(v, sizeof(v), "%u", t->txref);
	wr(x, t->fpath, "tx-ring-ref", v);
	snprintf(v, sizeof(v), "%u", t->rxref);
	wr(x, t->fpath, "rx-ring-ref", v);
	snprintf(v, sizeof(v), "%d", t->port);
	wr(x, t->fpath, "event-channel", v);
	wr(x, t->fpath, "request-rx-copy", "1");
	wr(x, t->fpath, "feature-rx-notify", "1");
	wr(x, t->fpath, "feature-sg", "1");
	if (tf_pre_connect != NULL)
		tf_pre_connect(t);
	wr(x, t->fpath, "state", "4");
	snprintf(p, sizeof(p), "%s/state", t->bpath);
	if (xs_wait_state(x, p, XB_CONNECTED, timeout_ms) < 0)
		return -1;
	tf_post_rx(t, TF_RXPAGES);
	return 0;
}

void
tf_post_rx(struct tfront *t, unsigned n)
{
	union netif_rx_slot *ring = (union netif_rx_slot *)t->rxs->ring;
	unsigned i;

	for (i = 0; i < n && t->rx_prod - t->rx_cons < TF_RXPAGES; i++) {
		uint32_t k = t->rx_prod & (XNR_RX_RING_SIZE - 1);

		ring[k].req.id = (uint16_t)k;
		ring[k].req.gref = t->rxrefs[k % TF_RXPAGES];
		t->rx_prod++;
	}
	__atomic_store_n(&t->rxs->req_prod, t->rx_prod, __ATOMIC_RELEASE);
	t->x->ev_notify(t->x, (uint32_t)t->port);
}

static uint8_t *
txpage(struct tfront *t, uint32_t *ref)
{
	unsigned k = t->txpage_next++ % TF_TXPAGES;

	*ref = t->txrefs[k];
	return t->txpg + (size_t)k * XEN_PAGE_SIZE;
}

void
tf_raw(struct tfront *t, const struct netif_tx_request *r)
{
	union netif_tx_slot *ring = (union netif_tx_slot *)t->txs->ring;

	memcpy(&ring[t->tx_prod & (XNR_TX_RING_SIZE - 1)], r, sizeof(*r));
	t->tx_prod++;
}

int
tf_queue(struct tfront *t, const uint8_t *frame, uint16_t len, unsigned nslots,
    uint16_t flags, const struct netif_extra_info *extra)
{
	struct netif_tx_request r;
	unsigned i, at, per;

	if (nslots == 0 || nslots > 25)
		return -1;
	per = len / nslots;
	at = len - per * (nslots - 1);	/* the first slot's own share */
	/* The first slot carries the total; later ones their own size. */
	for (i = 0; i < nslots; i++) {
		uint32_t ref;
		uint8_t *pg = txpage(t, &ref);
		unsigned own = i == 0 ? at : per, off = i == 0 ? 0 : at + per * (i - 1);
		uint16_t poff = (uint16_t)(i == 0 ? 0 : 100);

		if (poff + own > XEN_PAGE_SIZE)
			return -1;
		memcpy(pg + poff, frame + off, own);
		memset(&r, 0, sizeof(r));
		r.gref = ref;
		r.offset = poff;
		r.id = (uint16_t)(t->tx_prod & (XNR_TX_RING_SIZE - 1));
		r.size = i == 0 ? len : (uint16_t)own;
		r.flags = (uint16_t)((i + 1 < nslots ? NETTXF_more_data : 0) |
		    (i == 0 ? flags : 0) | (i == 0 && extra ? NETTXF_extra_info : 0));
		tf_raw(t, &r);
		if (i == 0 && extra) {
			memset(&r, 0, sizeof(r));
			memcpy(&r, extra, sizeof(*extra));
			tf_raw(t, &r);
		}
	}
	return 0;
}

void
tf_publish(struct tfront *t)
{
	uint32_t old = t->tx_pushed, ev;

	/* Slots before the producer (the backend's acquire pairs with this). */
	__atomic_store_n(&t->txs->req_prod, t->tx_prod, __ATOMIC_RELEASE);
	t->tx_pushed = t->tx_prod;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, as Linux netfront does;
	 * hostile tests that want to pester call ev_notify themselves. */
	ev = __atomic_load_n(&t->txs->req_event, __ATOMIC_ACQUIRE);
	if ((uint32_t)(t->tx_prod - ev) < (uint32_t)(t->tx_prod - old) ||
	    t->tx_prod == old || (uint32_t)(t->tx_prod - old) > XNR_TX_RING_SIZE)
		t->x->ev_notify(t->x, (uint32_t)t->port);
}

unsigned
tf_reap(struct tfront *t)
{
	const union netif_tx_slot *ring = (const union netif_tx_slot *)t->txs->ring;
	uint32_t prod = __atomic_load_n(&t->txs->rsp_prod, __ATOMIC_ACQUIRE);
	unsigned n = 0;

	while (t->tx_cons != prod) {
		struct netif_tx_response r;

		memcpy(&r, &ring[t->tx_cons & (XNR_TX_RING_SIZE - 1)].rsp, sizeof(r));
		if (r.status == NETIF_RSP_OKAY)
			t->rsp_ok++;
		else if (r.status == NETIF_RSP_NULL)
			t->rsp_null++;
		else if (r.status == NETIF_RSP_ERROR)
			t->rsp_err++;
		else
			t->rsp_other++;
		t->tx_cons++;
		n++;
	}
	t->txs->rsp_event = t->tx_cons + 1;
	return n;
}

static int
wait_ev(struct tfront *t, int timeout_ms)
{
	struct pollfd pfd = { t->x->ev_fd(t->x), POLLIN, 0 };
	int p;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	while ((p = t->x->ev_pending(t->x)) >= 0)
		t->x->ev_unmask(t->x, (uint32_t)p);
	return 0;
}

int
tf_recv(struct tfront *t, uint8_t *buf, size_t cap, int timeout_ms)
{
	const union netif_rx_slot *ring = (const union netif_rx_slot *)t->rxs->ring;
	uint64_t t0 = tu_now_ms();
	size_t got = 0;

	for (;;) {
		uint32_t prod = __atomic_load_n(&t->rxs->rsp_prod, __ATOMIC_ACQUIRE);

		while (t->rx_cons != prod) {
			struct netif_rx_response r;
			uint32_t k = t->rx_cons & (XNR_RX_RING_SIZE - 1);

			memcpy(&r, &ring[k].rsp, sizeof(r));
			t->rx_cons++;
			if (r.id != k || r.status < 0 || (uint32_t)r.offset + (uint32_t)r.status > XEN_PAGE_SIZE ||
			    got + (size_t)r.status > cap)
				return -2;
			memcpy(buf + got, t->rxpg + (size_t)(k % TF_RXPAGES) * XEN_PAGE_SIZE +
			    r.offset, (size_t)r.status);
			got += (size_t)r.status;
			tf_post_rx(t, 1);
			if (!(r.flags & NETRXF_more_data))
				return (int)got;
		}
		t->rxs->rsp_event = t->rx_cons + 1;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&t->rxs->rsp_prod, __ATOMIC_ACQUIRE) != t->rx_cons)
			continue;
		if (tu_now_ms() - t0 > (uint64_t)timeout_ms)
			return -1;
		wait_ev(t, 10);
		tf_reap(t);
	}
}

int
tf_ping(struct tfront *t, const uint8_t *frame, uint16_t len, unsigned nslots,
    uint16_t flags, int timeout_ms)
{
	static uint8_t back[65536];
	int n;

	if (tf_queue(t, frame, len, nslots, flags, NULL) < 0)
		return -1;
	tf_publish(t);
	n = tf_recv(t, back, sizeof(back), timeout_ms);
	tf_reap(t);
	if (n != (int)len || memcmp(back, frame, len) != 0)
		return -1;
	return 0;
}

int
tf_close(struct tfront *t, int timeout_ms)
{
	char p[160];

	wr(t->x, t->fpath, "state", "5");
	snprintf(p, sizeof(p), "%s/state", t->bpath);
	if (xs_wait_state(t->x, p, XB_CLOSING, timeout_ms) < 0 &&
	    xs_state(t->x, p) != XB_CLOSED)
		return -1;
	wr(t->x, t->fpath, "state", "6");
	return xs_wait_state(t->x, p, XB_CLOSED, timeout_ms) < 0 ? -1 : 0;
}

void
tf_free(struct tfront *t)
{
	struct xen_if *x = t->x;

	if (t->port > 0)
		x->ev_unbind(x, (uint32_t)t->port);
	if (t->txs)
		x->gunshare(x, t->txs, 1);
	if (t->rxs)
		x->gunshare(x, t->rxs, 1);
	if (t->txpg)
		x->gunshare(x, t->txpg, TF_TXPAGES);
	if (t->rxpg)
		x->gunshare(x, t->rxpg, TF_RXPAGES);
	memset(t, 0, sizeof(*t));
}

/* Frames */

size_t
frame_arp(uint8_t *b, const uint8_t src[6], uint32_t sip, uint32_t tip)
{
	memset(b, 0, 42);
	memset(b, 0xff, 6);
	memcpy(b + 6, src, 6);
	b[12] = 0x08;
	b[13] = 0x06;
	b[14] = 0; b[15] = 1; b[16] = 0x08; b[17] = 0; b[18] = 6; b[19] = 4;
	b[20] = 0; b[21] = 1;
	memcpy(b + 22, src, 6);
	memcpy(b + 28, &sip, 4);
	memcpy(b + 38, &tip, 4);
	return 42;
}

size_t
frame_udp(uint8_t *b, size_t len, uint32_t sip, uint32_t dip, int partial)
{
	uint8_t *ip = b + 14, *u = ip + 20;
	size_t ulen = len - 34, i;
	uint32_t ps;
	uint16_t c;

	memset(b, 0, len);
	memcpy(b, "\xfe\xff\xff\xff\xff\xff\x00\x16\x3e\x00\x00\x01", 12);
	b[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &sip, 4);
	memcpy(ip + 16, &dip, 4);
	c = (uint16_t)~tu_fold(tu_sum16(0, ip, 20));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	u[0] = 0x30; u[1] = 0x39; u[2] = 0; u[3] = 53;
	u[4] = (uint8_t)(ulen >> 8);
	u[5] = (uint8_t)ulen;
	for (i = 8; i < ulen; i++)
		u[i] = (uint8_t)(i * 31 + 7);
	ps = tu_sum16(0, ip + 12, 8) + 17 + (uint32_t)ulen;
	if (partial) {
		c = tu_fold(ps);
	} else {
		c = (uint16_t)~tu_fold(tu_sum16(ps, u, ulen));
		if (c == 0)
			c = 0xffff;
	}
	u[6] = (uint8_t)(c >> 8);
	u[7] = (uint8_t)c;
	return len;
}

int
frame_udp_csum_ok(const uint8_t *b, size_t len)
{
	const uint8_t *ip = b + 14, *u = ip + 20;
	size_t ulen = len - 34;
	uint32_t s = tu_sum16(0, ip + 12, 8) + 17 + (uint32_t)ulen;

	return tu_fold(tu_sum16(s, u, ulen)) == 0xffff;
}

/* The test NetVM */

int
dom0_add_uplink(struct xen_if *x0, unsigned fdom, unsigned netvm, const char *mac)
{
	char b[96], f[96], v[32];
	struct xen_perm bp[2] = { { (uint16_t)netvm, 'n' }, { (uint16_t)fdom, 'r' } };
	uint32_t t;
	int tries = 0;
	struct xen_perm fp[2] = { { (uint16_t)fdom, 'n' }, { (uint16_t)netvm, 'r' } };

	snprintf(b, sizeof(b), "/local/domain/%u/backend/vif/%u/0", netvm, fdom);
	snprintf(f, sizeof(f), "/local/domain/%u/device/vif/0", fdom);
	if (x0->xs_mkdir(x0, 0, b) < 0 || x0->xs_set_perms(x0, 0, b, bp, 2) < 0)
		return -1;
	if (x0->xs_mkdir(x0, 0, f) < 0 || x0->xs_set_perms(x0, 0, f, fp, 2) < 0)
		return -1;
	/* One transaction, as libxl does: nobody sees half a device. */
again:
	t = x0->xs_tx_start(x0);
	wrt(x0, t, b, "frontend", f);
	snprintf(v, sizeof(v), "%u", fdom);
	wrt(x0, t, b, "frontend-id", v);
	wrt(x0, t, b, "online", "1");
	wrt(x0, t, b, "state", "1");
	wrt(x0, t, f, "backend", b);
	snprintf(v, sizeof(v), "%u", netvm);
	wrt(x0, t, f, "backend-id", v);
	wrt(x0, t, f, "mac", mac);
	wrt(x0, t, f, "handle", "0");
	wrt(x0, t, f, "state", "1");
	if (x0->xs_tx_end(x0, t, 0) == 0)
		return 0;
	if (errno == EAGAIN && tries++ < 100)
		goto again;
	return -1;
}

void
dom0_remove_uplink(struct xen_if *x0, unsigned fdom, unsigned netvm)
{
	char b[96], f[96];

	snprintf(b, sizeof(b), "/local/domain/%u/backend/vif/%u/0", netvm, fdom);
	snprintf(f, sizeof(f), "/local/domain/%u/device/vif/0", fdom);
	x0->xs_rm(x0, 0, f);
	x0->xs_rm(x0, 0, b);
}

static uint32_t
rd_uint(struct xen_if *x, const char *dir, const char *key)
{
	char p[160];
	unsigned len;
	char *v;
	uint32_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	if ((v = x->xs_read(x, 0, p, &len)) == NULL)
		return 0xffffffffu;
	n = (uint32_t)strtoul(v, NULL, 10);
	free(v);
	return n;
}

static void
tn_switch(struct tnetvm *n, int s)
{
	char v[8];

	snprintf(v, sizeof(v), "%d", s);
	wr(n->x, n->bpath, "state", v);
	n->bstate = s;
}

static void
tn_disconnect(struct tnetvm *n)
{
	if (n->txs != NULL)
		n->x->gunmap(n->x, n->txs);
	if (n->rxs != NULL)
		n->x->gunmap(n->x, n->rxs);
	if (n->port > 0)
		n->x->ev_unbind(n->x, (uint32_t)n->port);
	n->txs = n->rxs = NULL;
	n->port = -1;
}

/* The keys the frontend names now; its rings are attached where their
 * responses stand, as Linux does. */
static int
tn_map(struct tnetvm *n)
{
	struct xen_if *x = n->x;

	n->txref = rd_uint(x, n->fpath, "tx-ring-ref");
	n->rxref = rd_uint(x, n->fpath, "rx-ring-ref");
	n->evch = rd_uint(x, n->fpath, "event-channel");
	if (rd_uint(x, n->fpath, "request-rx-copy") != 1)
		return -1;
	if ((n->txs = x->gmap(x, (uint16_t)n->fdom, n->txref, 1)) == NULL ||
	    (n->rxs = x->gmap(x, (uint16_t)n->fdom, n->rxref, 1)) == NULL ||
	    (n->port = x->ev_bind_interdomain(x, (uint16_t)n->fdom, n->evch)) < 0) {
		tn_disconnect(n);
		return -2;
	}
	n->tx_cons = n->attach_tx = __atomic_load_n(&n->txs->rsp_prod, __ATOMIC_ACQUIRE);
	n->rx_cons = n->attach_rx = __atomic_load_n(&n->rxs->rsp_prod, __ATOMIC_ACQUIRE);
	n->nconn++;
	return 0;
}

/* Linux netback's set_backend_state: walk the allowed transitions. */
static void
tn_set_state(struct tnetvm *n, int want)
{
	int guard = 0;

	while (n->bstate != want && guard++ < 8) {
		switch (n->bstate) {
		case XB_INITIALISING:
			tn_switch(n, want == XB_CLOSED ? XB_CLOSED : XB_INITWAIT);
			break;
		case XB_CLOSED:
			tn_switch(n, want == XB_CLOSING ? XB_CLOSING : XB_INITWAIT);
			break;
		case XB_INITWAIT:
			if (want == XB_CONNECTED) {
				/* xenbus_dev_fatal: mapping failed */
				if (tn_map(n) != 0) {
					tn_switch(n, XB_CLOSING);
					return;
				}
				tn_switch(n, XB_CONNECTED);
			} else
				tn_switch(n, XB_CLOSING);
			break;
		case XB_CONNECTED:
			tn_disconnect(n);
			tn_switch(n, XB_CLOSING);
			break;
		case XB_CLOSING:
			tn_switch(n, XB_CLOSED);
			break;
		default:
			return;
		}
	}
}

int
tn_poll(struct tnetvm *n)
{
	char p[160], **ev;
	int changed = 0, fs;

	while ((ev = n->x->xs_check_watch(n->x)) != NULL) {
		changed |= strcmp(ev[1], "tnfe") == 0;
		free(ev);
	}
	if (!changed || n->gone)
		return n->bstate;
	/* By value, as Linux reads it when the watch fires. */
	snprintf(p, sizeof(p), "%s/state", n->fpath);
	switch ((fs = xs_state(n->x, p))) {
	case XB_INITIALISING:
		tn_set_state(n, XB_INITWAIT);
		break;
	case XB_CONNECTED:
		tn_set_state(n, XB_CONNECTED);
		break;
	case XB_CLOSING:
		tn_set_state(n, XB_CLOSING);
		break;
	case XB_CLOSED:
	case XB_UNKNOWN:
	case -1:
		tn_set_state(n, XB_CLOSED);
		if (fs == XB_CLOSED && rd_uint(n->x, n->bpath, "online") == 1)
			break;
		/* not online: the device is unregistered */
		n->gone = 1;
		break;
	default:
		break;
	}
	return n->bstate;
}

void
tn_force_state(struct tnetvm *n, int s)
{
	if (s != XB_CONNECTED)
		tn_disconnect(n);
	tn_switch(n, s);
}

int
tn_wait(struct tnetvm *n, int want, int timeout_ms)
{
	uint64_t t0 = tu_now_ms();

	while (tn_poll(n) != want) {
		if (tu_now_ms() - t0 > (uint64_t)timeout_ms)
			return -1;
		usleep(1000);
	}
	return (int)(tu_now_ms() - t0);
}

int tn_gso;

int
tn_connect(struct tnetvm *n, struct xen_if *x, unsigned fdom, int timeout_ms)
{
	char p[160], **ev;

	memset(n, 0, sizeof(*n));
	n->x = x;
	n->fdom = fdom;
	n->port = -1;
	snprintf(n->bpath, sizeof(n->bpath), "/local/domain/%u/backend/vif/%u/0", x->self, fdom);
	snprintf(n->fpath, sizeof(n->fpath), "/local/domain/%u/device/vif/0", fdom);
	wr(x, n->bpath, "feature-rx-copy", "1");
	wr(x, n->bpath, "feature-sg", "1");
	if (tn_gso) {
		/* As Linux netback does: TSO offered to the frontend. */
		wr(x, n->bpath, "feature-gso-tcpv4", "1");
		wr(x, n->bpath, "feature-gso-tcpv6", "1");
	}
	tn_switch(n, XB_INITWAIT);
	snprintf(p, sizeof(p), "%s/state", n->fpath);
	if (xs_wait_state(x, p, XB_CONNECTED, timeout_ms) < 0)
		return -1;
	if (tn_map(n) != 0)
		return -2;
	tn_switch(n, XB_CONNECTED);
	/* From here tn_poll follows the frontend. The watch fires once at
	 * registration: that is the Connected just handled. */
	x->xs_watch(x, p, "tnfe");
	while ((ev = x->xs_check_watch(x)) != NULL)
		free(ev);
	return 0;
}

void
tn_rx_push(struct tnetvm *n, uint32_t prod)
{
	__atomic_store_n(&n->rxs->rsp_prod, prod, __ATOMIC_RELEASE);
	n->x->ev_notify(n->x, (uint32_t)n->port);
}

int
tn_send(struct tnetvm *n, const uint8_t *frame, uint16_t len)
{
	union netif_rx_slot *ring = (union netif_rx_slot *)n->rxs->ring;
	struct netif_rx_request q;
	struct netif_rx_response r;
	struct xen_gcopy g;
	uint64_t t0 = tu_now_ms();

	while (__atomic_load_n(&n->rxs->req_prod, __ATOMIC_ACQUIRE) == n->rx_cons) {
		if (tu_now_ms() - t0 > 2000)
			return -1;
		usleep(1000);
	}
	memcpy(&q, &ring[n->rx_cons & (XNR_RX_RING_SIZE - 1)].req, sizeof(q));
	memset(&g, 0, sizeof(g));
	g.local = (void *)frame;
	g.ref = q.gref;
	g.domid = (uint16_t)n->fdom;
	g.len = len;
	g.to_foreign = 1;
	if (n->x->gcopy(n->x, &g, 1) < 0 || g.status != 0)
		return -1;
	r.id = q.id;
	r.offset = 0;
	r.flags = 0;
	r.status = (int16_t)len;
	memcpy(&ring[n->rx_cons & (XNR_RX_RING_SIZE - 1)].rsp, &r, sizeof(r));
	n->rx_cons++;
	tn_rx_push(n, n->rx_cons);
	return 0;
}

int
tn_send_gso(struct tnetvm *n, const uint8_t *frame, uint16_t len, uint16_t gso_size,
    uint8_t gso_type)
{
	union netif_rx_slot *ring = (union netif_rx_slot *)n->rxs->ring;
	unsigned ndata = (len + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE, k, c = 0;
	uint64_t t0 = tu_now_ms();

	while ((uint32_t)(__atomic_load_n(&n->rxs->req_prod, __ATOMIC_ACQUIRE) -
	    n->rx_cons) < ndata + 1) {
		if (tu_now_ms() - t0 > 2000)
			return -1;
		usleep(1000);
	}
	/* Data slot, the GSO extra, then the other data slots (rx.c). */
	for (k = 0; k < ndata + 1; k++) {
		union netif_rx_slot *sl = &ring[(n->rx_cons + k) & (XNR_RX_RING_SIZE - 1)];
		struct netif_rx_request q;
		struct netif_rx_response r;
		struct xen_gcopy g;
		size_t chunk;

		memcpy(&q, &sl->req, sizeof(q));
		if (k == 1) {
			struct netif_extra_info e;

			memset(&e, 0, sizeof(e));
			e.type = XEN_NETIF_EXTRA_TYPE_GSO;
			e.u.gso.size = gso_size;
			e.u.gso.type = gso_type;
			memcpy(&sl->extra, &e, sizeof(e));
			continue;
		}
		chunk = len - c * XEN_PAGE_SIZE;
		if (chunk > XEN_PAGE_SIZE)
			chunk = XEN_PAGE_SIZE;
		memset(&g, 0, sizeof(g));
		g.local = (void *)(frame + c * XEN_PAGE_SIZE);
		g.ref = q.gref;
		g.domid = (uint16_t)n->fdom;
		g.len = (uint16_t)chunk;
		g.to_foreign = 1;
		if (n->x->gcopy(n->x, &g, 1) < 0 || g.status != 0)
			return -1;
		r.id = q.id;
		r.offset = 0;
		r.flags = (uint16_t)(c + 1 < ndata ? NETRXF_more_data : 0);
		if (k == 0)
			r.flags |= NETRXF_extra_info | NETRXF_csum_blank | NETRXF_data_validated;
		r.status = (int16_t)chunk;
		memcpy(&sl->rsp, &r, sizeof(r));
		c++;
	}
	n->rx_cons += ndata + 1;
	tn_rx_push(n, n->rx_cons);
	return 0;
}

void
tn_rx_raw(struct tnetvm *n, const struct netif_rx_response *r, int use_req_id)
{
	union netif_rx_slot *ring = (union netif_rx_slot *)n->rxs->ring;
	struct netif_rx_response x = *r;

	if (use_req_id)
		x.id = ring[n->rx_cons & (XNR_RX_RING_SIZE - 1)].req.id;
	memcpy(&ring[n->rx_cons & (XNR_RX_RING_SIZE - 1)].rsp, &x, sizeof(x));
	n->rx_cons++;
}

int
tn_recv(struct tnetvm *n, uint8_t *buf, size_t cap, int timeout_ms)
{
	union netif_tx_slot *ring = (union netif_tx_slot *)n->txs->ring;
	uint64_t t0 = tu_now_ms();
	size_t got = 0, total = 0;
	int first = 1, extras = 0, more = 0;

	for (;;) {
		uint32_t prod = __atomic_load_n(&n->txs->req_prod, __ATOMIC_ACQUIRE);

		while (n->tx_cons != prod) {
			struct netif_tx_request q;
			struct netif_tx_response r;
			struct xen_gcopy g;
			size_t own;

			memcpy(&q, &ring[n->tx_cons & (XNR_TX_RING_SIZE - 1)].req, sizeof(q));
			if (extras) {
				/* An extra after the first slot: NULL answer. */
				struct netif_extra_info e;

				memcpy(&e, &q, sizeof(e));
				if (e.type == XEN_NETIF_EXTRA_TYPE_GSO) {
					n->last_gso_size = e.u.gso.size;
					n->last_gso_type = e.u.gso.type;
				}
				extras = (e.flags & XEN_NETIF_EXTRA_FLAG_MORE) != 0;
				r.id = 0;
				r.status = NETIF_RSP_NULL;
				memcpy(&ring[n->tx_cons & (XNR_TX_RING_SIZE - 1)].rsp, &r, sizeof(r));
				n->tx_cons++;
				__atomic_store_n(&n->txs->rsp_prod, n->tx_cons, __ATOMIC_RELEASE);
				if (!more)
					return (int)got;
				continue;
			}
			if (first) {
				total = q.size;
				n->last_gso_size = 0;
				n->last_gso_type = 0;
				n->last_flags = q.flags;
				extras = (q.flags & NETTXF_extra_info) != 0;
			}
			own = (q.flags & NETTXF_more_data) ? (first ? XEN_PAGE_SIZE : q.size) :
			    total - got;
			if (!first)
				own = q.size;
			if (first && (q.flags & NETTXF_more_data))
				own = XEN_PAGE_SIZE;
			if (got + own > cap)
				return -2;
			memset(&g, 0, sizeof(g));
			g.local = buf + got;
			g.ref = q.gref;
			g.domid = (uint16_t)n->fdom;
			g.foff = q.offset;
			g.len = (uint16_t)own;
			if (n->x->gcopy(n->x, &g, 1) < 0 || g.status != 0)
				return -3;
			got += own;
			n->last_id = q.id;
			r.id = q.id;
			r.status = NETIF_RSP_OKAY;
			memcpy(&ring[n->tx_cons & (XNR_TX_RING_SIZE - 1)].rsp, &r, sizeof(r));
			n->tx_cons++;
			__atomic_store_n(&n->txs->rsp_prod, n->tx_cons, __ATOMIC_RELEASE);
			n->x->ev_notify(n->x, (uint32_t)n->port);
			first = 0;
			more = (q.flags & NETTXF_more_data) != 0;
			if (!more && !extras)
				return (int)got;
		}
		if (tu_now_ms() - t0 > (uint64_t)timeout_ms)
			return -1;
		usleep(500);
	}
}

void
tn_tx_raw(struct tnetvm *n, uint16_t id, int16_t status, uint32_t prod_extra)
{
	union netif_tx_slot *ring = (union netif_tx_slot *)n->txs->ring;
	struct netif_tx_response r = { id, status };

	memcpy(&ring[n->tx_cons & (XNR_TX_RING_SIZE - 1)].rsp, &r, sizeof(r));
	n->tx_cons++;
	__atomic_store_n(&n->txs->rsp_prod, n->tx_cons + prod_extra, __ATOMIC_RELEASE);
	n->x->ev_notify(n->x, (uint32_t)n->port);
}
