/*
 * bench_netif.c: frames per second through netbackd's netback TX path on
 * the fake Xen (grant copy = memcpy), against a plain memcpy of the same
 * bytes as the floor.
 *
 * Two processes, as in production: this one is the client VM filling its
 * TX ring, the other runs nb_backend_xen under the test core (nbh.c) with
 * a sink for natd. Each frame is copied out of the client's page into a
 * core buffer, delivered, freed, and answered on the ring.
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

#define FW	1
#define DOM	10
#define SECS	2

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
floor_memcpy(unsigned size)
{
	static uint8_t src[64 * 4096], dst[1024 * 2048];
	double t0 = now_s(), t;
	uint64_t n = 0;

	memset(src, 1, sizeof(src));
	do {
		unsigned i;

		for (i = 0; i < 256; i++) {
			memcpy(dst + (size_t)((n + i) % 1024) * 2048,
			    src + (size_t)((n + i) % 64) * 4096, size);
		}
		n += 256;
		__asm__ volatile("" ::: "memory");
		t = now_s();
	} while (t - t0 < SECS);
	return (double)n / (t - t0);
}

static int same_process;

static double
through_netback(struct tfront *tf, struct nbh_shared *sh, unsigned size)
{
	static uint8_t frame[2048];
	uint64_t start = sh->frames, sent = 0;
	double t0 = now_s(), t;

	unsigned k;

	frame_udp(frame, size < 42 ? 42 : size, inet_addr("10.137.0.10"),
	    inet_addr("10.137.0.1"), 0);
	/* Like a guest's netfront, grant the frame where it lies: the pages
	 * are filled once and the loop only writes requests. */
	for (k = 0; k < TF_TXPAGES; k++)
		memcpy(tf->txpg + (size_t)k * XEN_PAGE_SIZE, frame, size);
	do {
		unsigned room, i;

		tf_reap(tf);
		room = XNR_TX_RING_SIZE - (tf->tx_prod - tf->tx_cons);
		for (i = 0; i < room; i++) {
			struct netif_tx_request r;

			r.gref = tf->txrefs[(tf->tx_prod) % TF_TXPAGES];
			r.offset = 0;
			r.flags = 0;
			r.id = (uint16_t)(tf->tx_prod & (XNR_TX_RING_SIZE - 1));
			r.size = (uint16_t)size;
			tf_raw(tf, &r);
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
		t = now_s();
	} while (t - t0 < SECS);
	/* let the backend finish what was published */
	while (tf->tx_cons != tf->tx_prod && now_s() - t < 2) {
		if (same_process)
			nbh_step(0);
		else
			usleep(100);
		tf_reap(tf);
	}
	t = now_s();
	(void)sent;
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
		double t0 = now_s();

		snprintf(p, sizeof(p), "%s/state", tf.bpath);
		while (xs_state(x0, p) != XB_INITWAIT && now_s() - t0 < 3)
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
			FW_("state", "4");
#undef FW_
		}
		snprintf(p, sizeof(p), "%s/state", tf.bpath);
		while (xs_state(x0, p) != XB_CONNECTED && now_s() - t0 < 3)
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
	for (i = 0; i < 2; i++) {
		double fn = through_netback(&tf, sh, sizes[i]);
		double fm = floor_memcpy(sizes[i]);

		printf("bench_netif: %s, %4u-byte frames: netback TX %.2f Mframes/s %.2f Gbit/s;"
		    " memcpy floor %.2f Mframes/s %.2f Gbit/s; ratio %.1fx\n",
		    one_process ? "one core (client+backend in one loop)" :
		    "two processes", sizes[i], fn / 1e6, fn * sizes[i] * 8 / 1e9, fm / 1e6,
		    fm * sizes[i] * 8 / 1e9, fm / fn);
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
