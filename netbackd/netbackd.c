/*
 * netbackd: moves frames between network devices and natd.
 *
 * The core (this file) owns the rings to natd and the buffers netbackd
 * holds; a backend (devnet: Linux interfaces; xen: vifs; none) owns the
 * devices. Every descriptor natd sends back is checked before use: the
 * buffer must be inside the pool and one that netbackd handed to natd,
 * so a compromised natd can neither point us outside the pool nor make
 * us use one buffer twice.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "log.h"
#include "daemon.h"
#include "msg.h"
#include "nb.h"
#include "evloop.h"
#include "pkt.h"
#include "proc.h"
#include "sandbox.h"
#include "shm.h"
#include "util.h"

#define BURST		64
#define MAX_WATCH	1024
#define TICK_MS		100

enum buf_state { BUF_OURS = 0, BUF_AT_NATD = 1 };

/* A backend's descriptor: a loop source calling the backend back. */
struct watch {
	struct evsrc	 src;
	void		(*cb)(struct nb *, void *);
	void		*arg;
};

struct nb {
	struct shm	 shm;
	const struct nb_backend *be;
	uint32_t	*free;		/* stack of buffer indices we own */
	uint32_t	 nfree;
	uint8_t		*state;		/* enum buf_state per buffer of the pool */
	struct mq_desc	 rxq[BURST];	/* frames waiting to be enqueued to natd */
	unsigned	 nrxq;
	struct evloop	 loop;
	struct watch	 watch[MAX_WATCH];
	uint64_t	 rx_full_drops, tx_bad_desc, tx_not_ours;
	int		 started;
	struct msg_netconf netconf;
};

static struct nb NB;
/* Weak: a build without the Xen backend refuses --backend xen cleanly. */
extern const struct nb_backend nb_backend_xen __attribute__((weak));

/* ---- buffers ---- */

int
nb_buf_alloc(struct nb *nb, uint32_t *idx)
{
	if (nb->nfree == 0)
		return -1;
	*idx = nb->free[--nb->nfree];
	return 0;
}

void
nb_buf_free(struct nb *nb, uint32_t idx)
{
	if (idx >= nb->shm.pool.nbufs || nb->nfree >= nb->shm.pool.nbufs)
		return;
	nb->state[idx] = BUF_OURS;
	nb->free[nb->nfree++] = idx;
}

uint8_t *
nb_buf(struct nb *nb, uint32_t idx)
{
	return mq_buf(&nb->shm.pool, idx);
}

uint32_t
nb_buf_size(struct nb *nb)
{
	return nb->shm.pool.bufsz;
}

static void
rx_flush(struct nb *nb)
{
	unsigned n;

	if (nb->nrxq == 0)
		return;
	n = mq_enqueue_burst(&nb->shm.ring[RING_RX], nb->rxq, nb->nrxq);
	if (n)
		mq_kick(&nb->shm.ring[RING_RX]);
	/* natd is behind: drop the rest here rather than queue without bound */
	for (unsigned i = n; i < nb->nrxq; i++) {
		nb->rx_full_drops++;
		nb_buf_free(nb, nb->rxq[i].buf);
	}
	if (n < nb->nrxq)
		log_rl(LOG_LVL_WARN, "natd is not keeping up: %llu frames dropped so far",
		    (unsigned long long)nb->rx_full_drops);
	nb->nrxq = 0;
}

int
nb_rx(struct nb *nb, const struct mq_desc *d)
{
	nb->state[d->buf] = BUF_AT_NATD;
	nb->rxq[nb->nrxq++] = *d;
	if (nb->nrxq == BURST)
		rx_flush(nb);
	return 0;
}

/* ---- links and control ---- */

void
nb_link_up(struct nb *nb, const struct msg_link *l)
{
	static const uint8_t none6[16];
	char mac[18], a6[INET6_ADDRSTRLEN] = "";

	(void)nb;
	/* the client's IPv6 address in the log: how a user sees that the
	 * vif's `ip` key or --client gave one */
	if (memcmp(l->ip6, none6, sizeof none6) != 0 &&
	    inet_ntop(AF_INET6, l->ip6, a6, sizeof a6) == NULL)
		a6[0] = '\0';
	log_info("link %s up: port %u, our MAC %s%s%s", l->name, l->port,
	    mac_str(l->our_mac, mac), a6[0] ? ", client IPv6 " : "", a6);
	if (msg_send(MSG_PARENT_FD, MSG_LINK, 0, l, sizeof *l, -1) < 0)
		fatal("sending a link to the supervisor");
}

void
nb_link_down(struct nb *nb, uint16_t port)
{
	struct msg_link l = { .port = port, .up = 0 };

	(void)nb;
	if (msg_send(MSG_PARENT_FD, MSG_LINK, 0, &l, sizeof l, -1) < 0)
		fatal("sending a link to the supervisor");
}

static void
watch_ready(struct evsrc *s, uint32_t events)
{
	struct watch *w = s->arg;

	(void)events;
	if (w->cb)	/* not unwatched by an earlier callback of this wait */
		w->cb(&NB, w->arg);
}

int
nb_watch(struct nb *nb, int fd, void (*cb)(struct nb *, void *), void *arg)
{
	struct watch *w;
	int i;

	for (i = 0; i < MAX_WATCH && nb->watch[i].cb; i++)
		;
	if (i == MAX_WATCH)
		return -1;
	w = &nb->watch[i];
	*w = (struct watch){ { fd, watch_ready, w }, cb, arg };
	if (evloop_add(&nb->loop, &w->src, EPOLLIN) < 0) {
		w->cb = NULL;
		return -1;
	}
	return 0;
}

void
nb_unwatch(struct nb *nb, int fd)
{
	for (int i = 0; i < MAX_WATCH; i++)
		if (nb->watch[i].cb && nb->watch[i].src.fd == fd) {
			evloop_del(&nb->loop, &nb->watch[i].src);
			nb->watch[i].cb = NULL;
		}
}

/*
 * natd's reserve: empty buffers sent on the RX ring with port
 * MQ_PORT_DROP, from which it builds the frames it originates.
 */
static void
gift_reserve(struct nb *nb)
{
	/* a pool too small to spare a reserve (tests) gives none */
	uint32_t want = nb->shm.reg[QREGION_PACKETS].q.own_count < NATD_RESERVE_BUFS * 4 ?
	    0 : NATD_RESERVE_BUFS;

	for (uint32_t i = 0; i < want; i++) {
		struct mq_desc d = { .port = MQ_PORT_DROP };

		if (nb_buf_alloc(nb, &d.buf) < 0)
			break;
		nb_rx(nb, &d);
	}
	rx_flush(nb);
}

/*
 * natd died. Every buffer it held is ours again, except those still
 * queued in either ring: the ones in RX wait for the next natd, the ones
 * in TX we are about to consume. natd is dead, so neither ring moves
 * under us; its index is still read once and checked.
 */
static void
reclaim_from_natd(struct nb *nb)
{
	uint8_t *inring = calloc(nb->shm.pool.nbufs, 1);
	struct mq_desc *q = calloc(nb->shm.ring[RING_RX].nslots + nb->shm.ring[RING_TX].nslots,
	    sizeof *q);
	uint32_t n = 0, i, nq;

	if (inring == NULL || q == NULL)
		fatal("reclaim");
	rx_flush(nb);	/* frames still in our hands count as queued */
	nq = mq_peek(&nb->shm.ring[RING_RX], q, nb->shm.ring[RING_RX].nslots);
	nq += mq_peek(&nb->shm.ring[RING_TX], q + nq, nb->shm.ring[RING_TX].nslots);
	for (i = 0; i < nq; i++)
		if (q[i].buf < nb->shm.pool.nbufs)
			inring[q[i].buf] = 1;
	for (i = 0; i < nb->shm.pool.nbufs; i++)
		if (nb->state[i] == BUF_AT_NATD && !inring[i]) {
			nb_buf_free(nb, i);
			n++;
		}
	free(q);
	free(inring);
	log_info("natd restarted: %u buffers it held are back", n);
	gift_reserve(nb);
}

/* ---- the tx path: natd -> devices ---- */

static int
tx_burst(struct nb *nb)
{
	struct mq_desc d[BURST];
	unsigned n, i;

	n = mq_dequeue_burst(&nb->shm.ring[RING_TX], d, BURST);
	for (i = 0; i < n; i++) {
		if (!mq_desc_ok(&nb->shm.pool, &d[i])) {
			/* the buffer index itself may be garbage: nothing to free */
			nb->tx_bad_desc++;
			log_rl(LOG_LVL_WARN, "natd sent a descriptor outside the pool (%llu so far)",
			    (unsigned long long)nb->tx_bad_desc);
			continue;
		}
		if (nb->state[d[i].buf] != BUF_AT_NATD) {
			nb->tx_not_ours++;
			log_rl(LOG_LVL_WARN, "natd sent buffer %u which it does not hold (%llu so far)",
			    d[i].buf, (unsigned long long)nb->tx_not_ours);
			continue;
		}
		if (d[i].port == MQ_PORT_DROP || nb->be->tx == NULL)
			nb_buf_free(nb, d[i].buf);
		else {
			nb->state[d[i].buf] = BUF_OURS;	/* the backend frees it */
			nb->be->tx(nb, &d[i]);
		}
	}
	if (n && nb->be->tx_flush)
		nb->be->tx_flush(nb);
	return (int)n;
}

/* ---- start-up ---- */

static void
init_buffers(struct nb *nb)
{
	const struct msg_queues *q = &nb->shm.reg[QREGION_PACKETS].q;
	uint32_t nbufs = nb->shm.pool.nbufs, i;

	nb->free = calloc(nbufs, sizeof *nb->free);
	nb->state = calloc(nbufs, 1);
	if (nb->free == NULL || nb->state == NULL)
		fatal("buffer tables");
	/* Buffers outside our share (none, as moat starts us) are natd's. */
	memset(nb->state, BUF_AT_NATD, nbufs);
	for (i = 0; i < q->own_count; i++)
		nb_buf_free(nb, q->own_first + q->own_count - 1 - i);
}

static void
enter_sandbox(struct nb *nb)
{
	/* netbackd_sandbox.c: the core's lines, and the backend's */
	struct sandbox_policy p = netbackd_sandbox_policy;
	struct msg_ready r = { .pid = (uint32_t)getpid() };

	p.mode = nb->be->sc_mode;
	r.sandbox = (uint32_t)sandbox_enter(&p);
	if (msg_send(MSG_PARENT_FD, MSG_READY, 0, &r, sizeof r, -1) < 0)
		fatal("sending READY");
}

static void
handle_control(struct nb *nb)
{
	static struct msg m;
	const char *why;
	int rc;

	while ((rc = msg_recv(MSG_PARENT_FD, &m, PROC_MOAT, &why)) == 1) {
		switch (m.hdr.type) {
		case MSG_QUEUES:
			/* The packet region only: netbackd has no flow ring. */
			if (shm_map(&nb->shm, &m, QR_BIT(QREGION_PACKETS)) < 0)
				fatalx("bad MSG_QUEUES");
			init_buffers(nb);
			break;
		case MSG_EVENTFD:
			/* Role and element size of RX and TX checked against
			 * ring_table, as natd and policyd check theirs. */
			if (nb->started || shm_attach_end(&nb->shm, &m, PROC_NETBACKD) < 0)
				fatalx("bad MSG_EVENTFD");
			break;
		case MSG_DEVNET_LINK: {
			struct msg_devnet_link l;

			if (msg_get(&m, MSG_DEVNET_LINK, &l, sizeof l) < 0)
				fatalx("bad MSG_DEVNET_LINK");
			l.ifname[IFNAME_MAX - 1] = '\0';
			if (nb->started || nb->be->add_link == NULL ||
			    nb->be->add_link(nb, &l) < 0)
				fatalx("cannot open link %s", l.ifname);
			break;
		}
		case MSG_START:
			if (!nb->shm.attached[RING_RX] || !nb->shm.attached[RING_TX])
				fatalx("START before the queues");
			if (nb->be->open && nb->be->open(nb) < 0)
				fatalx("backend %s failed to start", nb->be->name);
			enter_sandbox(nb);
			nb->started = 1;
			gift_reserve(nb);
			break;
		case MSG_PEER_DIED:
			reclaim_from_natd(nb);
			break;
		case MSG_NETCONF:
			/* Addresses are natd's business; a backend may want
			 * them later (Xen: our MAC), so they are accepted. */
			if (msg_get(&m, MSG_NETCONF, &nb->netconf, sizeof nb->netconf) < 0)
				fatalx("bad MSG_NETCONF");
			break;
		case MSG_SHUTDOWN:
			exit(0);
#ifdef MOAT_TEST_HOOKS
		case MSG_TEST_RING:
			if (shm_test_break(&nb->shm, &m) < 0)
				fatalx("MSG_TEST_RING for a ring netbackd does not produce on");
			break;
#endif
		default:
			if (!daemon_common_msg(&m))
				fatalx("unexpected %s from the supervisor", msg_name(m.hdr.type));
		}
	}
	daemon_recv_end(rc, why);
}

static const struct nb_backend *
pick_backend(const char *name)
{
	if (strcmp(name, "devnet") == 0)
		return &nb_backend_devnet;
	if (strcmp(name, "xen") == 0)
		return &nb_backend_xen != NULL ? &nb_backend_xen : NULL;
	if (strcmp(name, "none") == 0)
		return &nb_backend_none;
	return NULL;
}

static void
control_ready(struct evsrc *s, uint32_t events)
{
	(void)events;
	handle_control(s->arg);
}

static void
tick(struct evsrc *s, uint32_t events)
{
	struct nb *nb = s->arg;

	(void)events;
	evloop_tick_read(s->fd);
	if (nb->started && nb->be->tick)
		nb->be->tick(nb, now_ms());
}

int
main(int argc, char **argv)
{
	struct nb *nb = &NB;
	struct evsrc ctl = { MSG_PARENT_FD, control_ready, nb };
	struct evsrc tck = { -1, tick, nb };
	/* natd's kick only ends the wait: tx_burst reads the ring, and
	 * mq_wake_done re-arms the eventfd. */
	struct evsrc txk = { -1, evloop_nop, nb };

	log_init("netbackd", LOG_LVL_INFO);
	proc_parent_channel();
	if (argc != 3 || strcmp(argv[1], "--backend") != 0 ||
	    (nb->be = pick_backend(argv[2])) == NULL)
		fatalx("usage: netbackd --backend none|devnet|xen (started by moat)");
	signal(SIGPIPE, SIG_IGN);
	set_nonblock(MSG_PARENT_FD);
	evloop_init(&nb->loop);
	tck.fd = evloop_tick_open(TICK_MS);
	if (evloop_add(&nb->loop, &ctl, EPOLLIN) < 0 ||
	    evloop_add(&nb->loop, &tck, EPOLLIN) < 0)
		fatal("epoll_ctl");

	for (;;) {
		int timeout = -1, slept = 0;

		if (nb->started && txk.fd == -1) {
			txk.fd = nb->shm.ring[RING_TX].efd;
			if (evloop_add(&nb->loop, &txk, EPOLLIN) < 0)
				fatal("epoll_ctl tx eventfd");
		}
		/* Sleep only when natd has nothing queued for us: the re-check
		 * inside mq_prepare_sleep closes the race with natd's kick. */
		if (nb->started) {
			if (tx_burst(nb) == BURST || !mq_prepare_sleep(&nb->shm.ring[RING_TX]))
				timeout = 0;
			else
				slept = 1;
			/* A broken ring never wakes us (TX) or takes nothing
			 * more (RX): go, naming natd, before sleeping (ring.h). */
			shm_check_rings(&nb->shm, PROC_NETBACKD);
		}
		evloop_wait(&nb->loop, timeout);
		if (slept)
			mq_wake_done(&nb->shm.ring[RING_TX]);
		rx_flush(nb);
	}
}
