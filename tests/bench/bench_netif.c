/*
 * bench_netif.c: frames per second through netbackd's netback on the fake
 * Xen (grant copy = memcpy), against a plain memcpy of the same bytes, in
 * the same page-sized pieces, as the floor.
 *
 * TX (client -> moat): the client VM fills its TX ring, the backend copies
 * each frame out of the client's pages into a core buffer, delivers it to
 * a sink for natd, and answers on the ring. Measured with the backend in
 * its own process, as in production, and in one loop with the client.
 *
 * RX (moat -> client): "natd" hands the backend frames (nbh_inject), which
 * copies them into the buffers the client posted and answers on the RX
 * ring; the client takes the responses and posts the buffers again
 * without reading them (a guest gives the pages to its stack). One loop
 * only: injecting needs the core in this process. The 64 KiB row is a
 * TCP super-frame to a client that wrote feature-gso-tcpv4: 16 data slots
 * and a GSO extra per frame; the "cut" row the same super-frames to a
 * client that did not, cut into 46 MSS-sized segments by netbackd
 * (pkt_gso.c), in frames per second of super-frames.
 *
 * The pool has the supervisor's devnet buffer size (66048), the size at
 * which the backend offers TSO.
 */
#include "config.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakexen.h"
#include "nbh.h"
#include "tfront.h"
#include "tests/testutil.h"

#define FW	1
#define DOM	10
#define SECS	2
#define BUFSZ	66048
#define GSO	65535u		/* the super-frame row's size */
#define MSS	1448

/*
 * The floor: frames of size bytes copied from 64 source pages' worth into
 * 1024 destinations, in pieces of at most a page (as grant copy does).
 */
static double
floor_memcpy(unsigned size)
{
	static uint8_t src[(64 + 16) * 4096], dst[64 * 4096];
	unsigned stride = size > 2048 ? 64 * 1024 : 4096;
	double t0 = tu_now_s(), t;
	uint64_t n = 0;

	memset(src, 1, sizeof(src));
	do {
		unsigned i, k;

		for (i = 0; i < 256; i++) {
			const uint8_t *s = src + (size_t)((n + i) % (size > 2048 ? 4 : 64)) * stride;

			for (k = 0; k < size; k += 4096)
				memcpy(dst + (size_t)((n + i + k / 4096) % 64) * 4096, s + k,
				    size - k > 4096 ? 4096 : size - k);
		}
		n += 256;
		__asm__ volatile("" ::: "memory");
		t = tu_now_s();
	} while (t - t0 < SECS);
	return (double)n / (t - t0);
}

static void
row(const char *mode, const char *dir, unsigned size, int gso, double fn)
{
	double fm = floor_memcpy(size);

	printf("%-14s %-3s %6u%-4s %10.3f %8.2f %9.0f %10.3f %8.2f %8.0f %7.1fx\n", mode,
	    dir, size, gso == 2 ? " cut" : gso ? " GSO" : "", fn / 1e6, fn * size * 8 / 1e9,
	    fn > 0 ? 1e9 / fn : 0, fm / 1e6, fm * size * 8 / 1e9, 1e9 / fm, fm / fn);
	fflush(stdout);
}

/* A TCP/IPv4 super-frame's headers (54 bytes), its checksum field holding
 * the pseudo-header sum as TSO leaves it. */
static void
tso_headers(uint8_t *b, unsigned len)
{
	uint8_t *ip = b + 14, *th = b + 34;
	uint16_t c;

	memset(b, 0, 54);
	memcpy(b, "\x00\x16\x3e\x5e\x6c\x0a\xfe\xff\xff\xff\xff\xff\x08\x00", 14);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x08\x08\x08\x08\x0a\x89\x00\x0a", 8);
	c = tu_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	th[12] = 0x50;
	th[13] = 0x10;
	c = tu_fold(tu_sum16(0, ip + 12, 8) + 6 + (len - 34));
	th[16] = (uint8_t)(c >> 8);
	th[17] = (uint8_t)c;
}

/* Post n RX requests (at most a ring), cycling over the client's pages. */
static void
post_rx(struct tfront *tf, unsigned n)
{
	union netif_rx_slot *ring = (union netif_rx_slot *)tf->rxs->ring;
	unsigned i;

	for (i = 0; i < n && tf->rx_prod - tf->rx_cons < XNR_RX_RING_SIZE; i++) {
		uint32_t k = tf->rx_prod & (XNR_RX_RING_SIZE - 1);

		ring[k].req.id = (uint16_t)k;
		ring[k].req.gref = tf->rxrefs[k % TF_RXPAGES];
		tf->rx_prod++;
	}
	__atomic_store_n(&tf->rxs->req_prod, tf->rx_prod, __ATOMIC_RELEASE);
	tf->x->ev_notify(tf->x, (uint32_t)tf->port);
}

/* natd -> client, in this process (see the top). Frames per second.
 * gso 2: super-frames to a client without TSO, cut in netbackd; counted
 * as super-frames, each taking one RX slot per segment. */
static double
to_client(struct tfront *tf, uint16_t port, unsigned size, int gso)
{
	static uint8_t hdr[64];
	unsigned segs = (size - 54 + MSS - 1) / MSS;
	unsigned slots = gso == 2 ? segs : (size + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE + (gso ? 1 : 0);
	const struct xen_stats *st = xen_backend_stats();
	uint64_t start = st->rx_pkts, gso0 = st->rx_gso, drops0 = st->rx_drops;
	uint64_t cut0 = st->rx_gso_cut;
	struct mq_desc d;
	double t0 = tu_now_s(), t;

	memset(&d, 0, sizeof(d));
	d.port = port;
	d.len = size;
	if (gso) {
		tso_headers(hdr, size);
		d.flags = MQ_F_NEEDS_CSUM;
		d.csum_start = 34;
		d.csum_offset = 16;
		d.gso_type = MQ_GSO_TCPV4;
		d.gso_size = MSS;
	} else
		frame_udp(hdr, 64, inet_addr("10.137.0.1"), inet_addr("10.137.0.10"), 0);
	do {
		unsigned room;

		/* The client: take what was answered, post it all again. */
		tf->rx_cons = __atomic_load_n(&tf->rxs->rsp_prod, __ATOMIC_ACQUIRE);
		post_rx(tf, XNR_RX_RING_SIZE);
		/* The backend has answered all it took: the ring is ours. */
		room = XNR_RX_RING_SIZE / slots;
		if (room > XB_RXQ)
			room = XB_RXQ;
		nbh_inject(&d, hdr, size < 54 ? size : 54, room);
		t = tu_now_s();
	} while (t - t0 < SECS);
	if ((gso == 1 && st->rx_gso == gso0) || (gso == 2 && st->rx_gso_cut == cut0) ||
	    st->rx_drops != drops0) {
		fprintf(stderr, "bench_netif: RX dropped %llu frames, %llu super-frames sent, "
		    "%llu cut\n", (unsigned long long)(st->rx_drops - drops0),
		    (unsigned long long)(st->rx_gso - gso0),
		    (unsigned long long)(st->rx_gso_cut - cut0));
		return 0;
	}
	if (gso == 2)
		return (double)(st->rx_pkts - start) / segs / (t - t0);
	return (double)(st->rx_pkts - start) / (t - t0);
}

static int same_process;

/* The backend's counters: its own in one process, the core's copy else. */
static const struct xen_stats *
stats(struct nbh_shared *sh)
{
	return same_process ? xen_backend_stats() : &sh->st;
}

/*
 * Client -> natd. gso: 64 KiB TCP super-frames, each 16 data slots (one
 * per page) and a GSO extra, as Linux netfront sends a TSO frame.
 */
static double
through_netback(struct tfront *tf, struct nbh_shared *sh, unsigned size, int gso)
{
	static uint8_t frame[GSO + 1];
	uint64_t start = sh->frames, sent = 0, gso0 = stats(sh)->tx_gso;
	unsigned per = gso ? (size + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE + 1 : 1;
	double t0 = tu_now_s(), t;
	unsigned k;

	if (gso) {
		memset(frame, 7, size);
		tso_headers(frame, size);
		for (k = 0; k * XEN_PAGE_SIZE < size; k++)
			memcpy(tf->txpg + (size_t)k * XEN_PAGE_SIZE, frame + k * XEN_PAGE_SIZE,
			    size - k * XEN_PAGE_SIZE > XEN_PAGE_SIZE ? XEN_PAGE_SIZE :
			    size - k * XEN_PAGE_SIZE);
	} else {
		frame_udp(frame, size < 42 ? 42 : size, inet_addr("10.137.0.10"),
		    inet_addr("10.137.0.1"), 0);
		/* Like a guest's netfront, grant the frame where it lies: the
		 * pages are filled once and the loop only writes requests. */
		for (k = 0; k < TF_TXPAGES; k++)
			memcpy(tf->txpg + (size_t)k * XEN_PAGE_SIZE, frame, size);
	}
	do {
		unsigned room, i;

		tf_reap(tf);
		room = (XNR_TX_RING_SIZE - (tf->tx_prod - tf->tx_cons)) / per;
		for (i = 0; i < room; i++) {
			struct netif_tx_request r;

			if (!gso) {
				r.gref = tf->txrefs[(tf->tx_prod) % TF_TXPAGES];
				r.offset = 0;
				r.flags = 0;
				r.id = (uint16_t)(tf->tx_prod & (XNR_TX_RING_SIZE - 1));
				r.size = (uint16_t)size;
				tf_raw(tf, &r);
				continue;
			}
			for (k = 0; k + 1 < per; k++) {
				uint32_t left = size - k * XEN_PAGE_SIZE;

				r.gref = tf->txrefs[k];
				r.offset = 0;
				r.flags = (uint16_t)(k + 2 < per ? NETTXF_more_data : 0);
				if (k == 0)
					r.flags |= NETTXF_extra_info | NETTXF_csum_blank;
				r.id = (uint16_t)(tf->tx_prod & (XNR_TX_RING_SIZE - 1));
				r.size = (uint16_t)(k == 0 ? size : left > XEN_PAGE_SIZE ?
				    XEN_PAGE_SIZE : left);
				tf_raw(tf, &r);
				if (k == 0) {
					struct netif_extra_info e;

					memset(&e, 0, sizeof(e));
					memset(&r, 0, sizeof(r));
					e.type = XEN_NETIF_EXTRA_TYPE_GSO;
					e.u.gso.size = MSS;
					e.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
					memcpy(&r, &e, sizeof(e));
					tf_raw(tf, &r);
				}
			}
		}
		sent += room;
		if (room)
			tf_publish(tf);
		if (same_process)
			nbh_step(0);
		else if (!room) {
			struct pollfd pfd = { tf->x->ev_fd(tf->x), POLLIN, 0 };
			int p;

			poll(&pfd, 1, 1);
			while ((p = tf->x->ev_pending(tf->x)) >= 0)
				tf->x->ev_unmask(tf->x, (uint32_t)p);
		}
		t = tu_now_s();
	} while (t - t0 < SECS);
	/* let the backend finish what was published */
	while (tf->tx_cons != tf->tx_prod && tu_now_s() - t < 2) {
		if (same_process)
			nbh_step(0);
		else
			usleep(100);
		tf_reap(tf);
	}
	t = tu_now_s();
	(void)sent;
	if (!same_process)
		usleep(100000);		/* the core's copy of the counters */
	if (gso && stats(sh)->tx_gso == gso0) {
		fprintf(stderr, "bench_netif: the backend took no super-frame (TSO not offered?)\n");
		return 0;
	}
	return (double)(sh->frames - start) / (t - t0);
}

/* One client VM and netbackd's backend, as processes or in one loop. */
static int
run(int one_process)
{
	struct fx_world *w = fx_world_create();
	struct nbh_shared *sh = nbh_shared_new();
	unsigned sizes[2] = { 64, 1500 }, i, port = 0;
	struct xen_if *x0, *x, *xf;
	struct tfront tf;
	pid_t nbh = -1;

	same_process = one_process;
	nbh_bufsz = BUFSZ;
	if (w == NULL || sh == NULL || (x0 = fx_open(w, 0)) == NULL)
		return 1;
	if (one_process) {
		fx_domain_create(w, FW);
		if ((xf = fx_open(w, FW)) == NULL || nbh_init(sh, xf) != 0)
			return 1;
	} else if ((nbh = nbh_start(sh, w, FW)) < 0)
		return 1;
	fx_domain_create(w, DOM);
	if (dom0_add_vif(x0, FW, DOM, 0, "00:16:3e:5e:6c:0a", "10.137.0.10") < 0 ||
	    (x = fx_open(w, DOM)) == NULL || tf_init(&tf, x, FW, 0) < 0) {
		fprintf(stderr, "bench_netif: no client\n");
		return 1;
	}
	if (one_process) {
		/* tf_connect waits for the backend: step it meanwhile */
		char p[160];
		double t0 = tu_now_s();

		snprintf(p, sizeof(p), "%s/state", tf.bpath);
		while (xs_state(x0, p) != XB_INITWAIT && tu_now_s() - t0 < 3)
			nbh_step(1);
		tf_pre_connect = NULL;
		{
			char v[32];

#define FW_(k, ...) do { snprintf(p, sizeof(p), "%s/" k, tf.fpath); \
	snprintf(v, sizeof(v), __VA_ARGS__); x->xs_write(x, 0, p, v, (unsigned)strlen(v)); } while (0)
			FW_("tx-ring-ref", "%u", tf.txref);
			FW_("rx-ring-ref", "%u", tf.rxref);
			FW_("event-channel", "%d", tf.port);
			FW_("request-rx-copy", "1");
			FW_("feature-rx-notify", "1");
			FW_("feature-sg", "1");
			FW_("feature-gso-tcpv4", "1");
			FW_("state", "4");
#undef FW_
		}
		snprintf(p, sizeof(p), "%s/state", tf.bpath);
		while (xs_state(x0, p) != XB_CONNECTED && tu_now_s() - t0 < 3)
			nbh_step(1);
		if (xs_state(x0, p) != XB_CONNECTED) {
			fprintf(stderr, "bench_netif: client did not connect\n");
			return 1;
		}
	} else if (tf_connect(&tf, 3000) < 0) {
		fprintf(stderr, "bench_netif: client did not connect\n");
		nbh_stop(sh, nbh);
		return 1;
	}
	for (i = 1; i < NBH_PORTS; i++)
		if (sh->link[i].up)
			port = i;
	sh->pair[port] = MQ_PORT_DROP;
	for (i = 0; i < 2; i++)
		row(one_process ? "one core" : "two processes", "TX", sizes[i], 0,
		    through_netback(&tf, sh, sizes[i], 0));
	row(one_process ? "one core" : "two processes", "TX", GSO, 1,
	    through_netback(&tf, sh, GSO, 1));
	if (one_process) {
		/* Whatever the TX rows left answered and reposted first. */
		for (i = 0; i < 2; i++)
			row("one core", "RX", sizes[i], 0, to_client(&tf, (uint16_t)port, sizes[i], 0));
		row("one core", "RX", GSO, 1, to_client(&tf, (uint16_t)port, GSO, 1));
		/* The same client, now as one that took no TSO. */
		for (i = 0; i < XB_MAXVIF; i++)
			if (xb_g.vif[i].used && xb_g.vif[i].port == port)
				xb_g.vif[i].fe_gso = 0;
		row("one core", "RX", GSO, 2, to_client(&tf, (uint16_t)port, GSO, 2));
	}
	if (!one_process)
		nbh_stop(sh, nbh);
	return 0;
}

int
main(void)
{
	pid_t pid;
	int st;

	printf("bench_netif: netback on the fake Xen (grant copy = memcpy), %d s a row;"
	    " floor = memcpy of the same bytes in page pieces, same run\n", SECS);
	printf("%-14s %-3s %10s %10s %8s %9s %10s %8s %8s %8s\n", "mode", "dir", "frame",
	    "Mframes/s", "Gbit/s", "ns/frame", "floor Mf/s", "floor Gb", "floor ns", "ratio");
	fflush(stdout);
	/* The one-process run in a child: the backend's state is global. */
	if ((pid = fork()) == 0)
		{
			int rc = run(1);

			fflush(stdout);
			_exit(rc);
		}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	return run(0);
}
