/*
 * netbackd: moves frames between network devices and natd.
 *
 * The core (this file) owns the rings to natd and the buffers netbackd
 * holds; a backend (devnet: Linux interfaces; xen: vifs; none) owns the
 * devices. Every descriptor natd sends back is checked before use: the
 * buffer must be inside the pool and one that netbackd handed to natd,
 * so a compromised natd can neither point us outside the pool nor make
 * us use one buffer twice.
 *
 * Threads. With a backend that allows it (devnet), the transmit side runs
 * on a thread of its own, so that the copies into and out of the kernel
 * use both cores:
 *   - the main thread: control channel, timer, the backend's receive
 *     callbacks, the producer end of RING_RX, the free stack (free[],
 *     nfree) and every nb_buf_alloc();
 *   - the tx thread: the consumer end of RING_TX and the backend's tx();
 *     the buffers it is done with go back to the main thread through
 *     the return ring (ret[], one producer: the tx thread, one consumer:
 *     the main thread), never straight onto the free stack.
 * state[] is written by both, always with atomics: a buffer passes from
 * BUF_AT_NATD back to BUF_OURS by one compare-and-swap, so of the tx
 * thread (natd sent it back) and the main thread (natd died, or RING_RX
 * was full) exactly one takes it, and it is freed once.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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
	/* The return ring: buffers the tx thread is done with. Holds nbufs
	 * (rounded up to a power of two) so it can never be full: each
	 * buffer is in it at most once. */
	uint32_t	*ret;
	uint32_t	 ret_mask;
	uint32_t	 ret_prod __attribute__((aligned(64)));	/* tx thread only */
	uint32_t	 ret_cons __attribute__((aligned(64)));	/* main thread only */
	/* The tx thread: woken by natd's kick (the TX eventfd) or ctl_efd;
	 * parks on resume_efd when pause_req is set, saying so on ack_efd. */
	int		 want_tx_thread;	/* --tx-thread (the backend allows it) */
	int		 tx_threaded;	/* the backend's tx() runs on the tx thread */
	int		 tx_running;	/* main thread: it was let go (MSG_START) */
	int		 tx_ep, ctl_efd, ack_efd, resume_efd;
	int		 pause_req, tx_parked;	/* atomics, see tx_pause() */
	pthread_t	 tx_thread;
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
/* Set on the tx thread: its nb_buf_free() goes to the return ring. */
static __thread int on_tx_thread;
/* Weak: a build without the Xen backend refuses --backend xen cleanly. */
extern const struct nb_backend nb_backend_xen __attribute__((weak));

/* ---- buffers ---- */

/* Main thread: the buffers the tx thread gave back, onto the free stack. */
static void
ret_drain(struct nb *nb)
{
	uint32_t cons = nb->ret_cons, prod;

	if (nb->ret == NULL)
		return;
	/* Pairs with the release store of ret_prod in ret_push(): the
	 * slots up to prod are written. */
	prod = __atomic_load_n(&nb->ret_prod, __ATOMIC_ACQUIRE);
	while (cons != prod && nb->nfree < nb->shm.pool.nbufs)
		nb->free[nb->nfree++] = nb->ret[cons++ & nb->ret_mask];
	/* Pairs with the acquire load of ret_cons in ret_push(): we are
	 * done reading those slots. */
	__atomic_store_n(&nb->ret_cons, cons, __ATOMIC_RELEASE);
}

/* tx thread: give a buffer back to the main thread. */
static void
ret_push(struct nb *nb, uint32_t idx)
{
	uint32_t prod = nb->ret_prod;

	/* Pairs with the release store of ret_cons in ret_drain(). Never
	 * full (see struct nb); were it so, losing a buffer beats
	 * overwriting one. */
	if (prod - __atomic_load_n(&nb->ret_cons, __ATOMIC_ACQUIRE) > nb->ret_mask) {
		log_rl(LOG_LVL_ERROR, "buffer return ring full: buffer %u lost", idx);
		return;
	}
	nb->ret[prod & nb->ret_mask] = idx;
	/* Pairs with the acquire load in ret_drain(). */
	__atomic_store_n(&nb->ret_prod, prod + 1, __ATOMIC_RELEASE);
}

int
nb_buf_alloc(struct nb *nb, uint32_t *idx)
{
	if (nb->nfree == 0)
		ret_drain(nb);
	if (nb->nfree == 0)
		return -1;
	*idx = nb->free[--nb->nfree];
	return 0;
}

void
nb_buf_free(struct nb *nb, uint32_t idx)
{
	if (idx >= nb->shm.pool.nbufs)
		return;
	/* Relaxed: who holds a buffer is told by the rings and the return
	 * ring, whose barriers order this store too. */
	__atomic_store_n(&nb->state[idx], BUF_OURS, __ATOMIC_RELAXED);
	if (on_tx_thread) {
		ret_push(nb, idx);
		return;
	}
	if (nb->nfree >= nb->shm.pool.nbufs)
		return;
	nb->free[nb->nfree++] = idx;
}

/*
 * Take back a buffer that is BUF_AT_NATD, or report that another thread
 * already did: the one compare-and-swap both threads make (acq_rel, so
 * the winner sees what was written into the buffer before it went out).
 */
static int
take_from_natd(struct nb *nb, uint32_t idx)
{
	uint8_t want = BUF_AT_NATD;

	return __atomic_compare_exchange_n(&nb->state[idx], &want, BUF_OURS, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
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
		/* natd never got it, but a natd that guessed its index may
		 * have sent it back to the tx thread already: then that
		 * thread frees it */
		if (take_from_natd(nb, nb->rxq[i].buf))
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
	/* Before natd can see it (the release in mq_enqueue_burst orders
	 * this store), so that the tx thread accepts it when natd sends it
	 * back. A natd that guesses the index and sends it back sooner
	 * only confuses itself: the compare-and-swap still frees it once. */
	__atomic_store_n(&nb->state[d->buf], BUF_AT_NATD, __ATOMIC_RELAXED);
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

/* ---- the tx thread ---- */

static int tx_burst(struct nb *nb);

static void
efd_write(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

/* Blocking read of a blocking eventfd: sleep until efd_write(). */
static void
efd_wait(int fd)
{
	uint64_t x;

	while (read(fd, &x, sizeof x) < 0)
		if (errno != EINTR)
			fatal("tx thread: eventfd");
}

/*
 * Main thread: stop the tx thread between two bursts, so that the
 * consumer end of RING_TX can be read here (reclaim_from_natd). Returns
 * once it is parked.
 */
static void
tx_pause(struct nb *nb)
{
	if (!nb->tx_running)
		return;
	/* Pairs with the acquire load at the top of tx_main's loop. */
	__atomic_store_n(&nb->pause_req, 1, __ATOMIC_RELEASE);
	efd_write(nb->ctl_efd);
	efd_wait(nb->ack_efd);
	/* Pairs with the release store of tx_parked in tx_main: everything
	 * the tx thread did to its ring end is visible from here. */
	if (!__atomic_load_n(&nb->tx_parked, __ATOMIC_ACQUIRE))
		fatalx("tx thread acknowledged a pause without parking");
}

/* Main thread: let the tx thread go (the first time: at MSG_START). */
static void
tx_resume(struct nb *nb)
{
	if (!nb->tx_threaded)
		return;
	/* Pairs with the acquire loads in tx_main: what the main thread
	 * did while the tx thread was parked is visible to it. */
	__atomic_store_n(&nb->pause_req, 0, __ATOMIC_RELEASE);
	nb->tx_running = 1;
	efd_write(nb->resume_efd);
}

static void *
tx_main(void *arg)
{
	struct nb *nb = arg;
	struct mq_end *tx = &nb->shm.ring[RING_TX];
	struct epoll_event evs[2];
	uint64_t x;

	on_tx_thread = 1;
	/* libc's start of a thread (set_robust_list, rseq) is behind us:
	 * the filter may come (tx_thread_start waits for this). */
	efd_write(nb->ack_efd);
	efd_wait(nb->resume_efd);	/* MSG_START: the sandbox is on */
	/* Pairs with the release store of pause_req in tx_resume (the
	 * rings, the pool and the backend's links are all set up). */
	(void)__atomic_load_n(&nb->pause_req, __ATOMIC_ACQUIRE);
	for (;;) {
		if (__atomic_load_n(&nb->pause_req, __ATOMIC_ACQUIRE)) {
			/* Pairs with the acquire load in tx_pause. */
			__atomic_store_n(&nb->tx_parked, 1, __ATOMIC_RELEASE);
			efd_write(nb->ack_efd);
			efd_wait(nb->resume_efd);
			__atomic_store_n(&nb->tx_parked, 0, __ATOMIC_RELAXED);
			continue;
		}
		if (tx_burst(nb) == BURST)
			continue;
		/* A broken ring never wakes us: go, naming natd (ring.h). */
		shm_check_ring(&nb->shm, RING_TX, PROC_NETBACKD);
		if (!mq_prepare_sleep(tx))
			continue;
		if (epoll_wait(nb->tx_ep, evs, 2, -1) < 0 && errno != EINTR)
			fatal("tx thread: epoll_wait");
		mq_wake_done(tx);
		(void)!read(nb->ctl_efd, &x, sizeof x);	/* non-blocking */
	}
	return NULL;
}

/*
 * Called by sandbox_enter (struct sandbox_policy.threads) inside the
 * sandbox's root, before the uid change and the filter, which then cover
 * this thread too. Its system calls after that: epoll_wait, read and
 * write on its eventfds, and the backend's tx() (devnet: sendmsg).
 */
static void
tx_thread_start(void *arg)
{
	struct nb *nb = arg;
	struct epoll_event ev = { .events = EPOLLIN };
	uint32_t n = 1;
	int rc;

	while (n < nb->shm.pool.nbufs)
		n <<= 1;
	if ((nb->ret = calloc(n, sizeof *nb->ret)) == NULL)
		fatal("return ring");
	nb->ret_mask = n - 1;
	if ((nb->tx_ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (nb->ctl_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    (nb->ack_efd = eventfd(0, EFD_CLOEXEC)) < 0 ||
	    (nb->resume_efd = eventfd(0, EFD_CLOEXEC)) < 0)
		fatal("tx thread: eventfds");
	if (epoll_ctl(nb->tx_ep, EPOLL_CTL_ADD, nb->shm.ring[RING_TX].efd, &ev) < 0 ||
	    epoll_ctl(nb->tx_ep, EPOLL_CTL_ADD, nb->ctl_efd, &ev) < 0)
		fatal("tx thread: epoll_ctl");
	if ((rc = pthread_create(&nb->tx_thread, NULL, tx_main, nb)) != 0) {
		errno = rc;
		fatal("tx thread");
	}
	/* Not before it runs: the system calls libc makes to start a
	 * thread are in no table, and a thread first scheduled after the
	 * filter is on would die of them (SIGSYS, all of netbackd). */
	efd_wait(nb->ack_efd);
	nb->tx_threaded = 1;
}

/*
 * natd's reserve: empty buffers sent on the RX ring with port
 * MQ_PORT_DROP, from which it builds the frames it originates.
 */
static void
gift_reserve(struct nb *nb)
{
	/* A pool too small to spare a reserve (tests) gives none. Xen's
	 * 512 (64 KiB each, in a 64 MB VM) spares one and keeps half. */
	uint32_t want = nb->shm.reg[QREGION_PACKETS].q.own_count < NATD_RESERVE_BUFS * 2 ?
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
	tx_pause(nb);	/* the TX ring's consumer end is the tx thread's */
	rx_flush(nb);	/* frames still in our hands count as queued */
	nq = mq_peek(&nb->shm.ring[RING_RX], q, nb->shm.ring[RING_RX].nslots);
	nq += mq_peek(&nb->shm.ring[RING_TX], q + nq, nb->shm.ring[RING_TX].nslots);
	for (i = 0; i < nq; i++)
		if (q[i].buf < nb->shm.pool.nbufs)
			inring[q[i].buf] = 1;
	for (i = 0; i < nb->shm.pool.nbufs; i++)
		if (!inring[i] && take_from_natd(nb, i)) {
			nb_buf_free(nb, i);
			n++;
		}
	tx_resume(nb);
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
		if (!take_from_natd(nb, d[i].buf)) {
			nb->tx_not_ours++;
			log_rl(LOG_LVL_WARN, "natd sent buffer %u which it does not hold (%llu so far)",
			    d[i].buf, (unsigned long long)nb->tx_not_ours);
			continue;
		}
		if (d[i].port == MQ_PORT_DROP || nb->be->tx == NULL)
			nb_buf_free(nb, d[i].buf);
		else
			nb->be->tx(nb, &d[i]);	/* the backend frees it */
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
	/* netbackd_sandbox.c: the core's lines, and the backend's; the
	 * transmit thread (devnet) is started inside the sandbox, before the
	 * filter, which then covers it too */
	struct sandbox_policy p = netbackd_sandbox_policy;
	struct msg_ready r = { .pid = (uint32_t)getpid() };

	p.mode = nb->be->sc_mode;
	p.threads = nb->want_tx_thread ? tx_thread_start : NULL;
	p.threads_arg = nb;
	r.sandbox = (uint32_t)sandbox_enter(&p);
	if (msg_send(MSG_PARENT_FD, MSG_READY, 0, &r, sizeof r, -1) < 0)
		fatal("sending READY");
}

static void
handle_control(struct nb *nb)
{
	static struct msg m;

	while (daemon_recv(&m)) {
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
			tx_resume(nb);
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
	if ((argc != 3 && argc != 4) || strcmp(argv[1], "--backend") != 0 ||
	    (nb->be = pick_backend(argv[2])) == NULL ||
	    (argc == 4 && strcmp(argv[3], "--tx-thread") != 0))
		fatalx("usage: netbackd --backend none|devnet|xen [--tx-thread] (started by moat)");
	/* Off by default: on two cores the second thread's wake-ups cost
	 * more round-trip time than its copies gain (make bench). */
	if (argc == 4 && !nb->be->tx_thread)
		fatalx("--tx-thread: the %s backend transmits on one thread", argv[2]);
	nb->want_tx_thread = argc == 4;
	signal(SIGPIPE, SIG_IGN);
	set_nonblock(MSG_PARENT_FD);
	evloop_init(&nb->loop);
	tck.fd = evloop_tick_open(TICK_MS);
	if (evloop_add(&nb->loop, &ctl, EPOLLIN) < 0 ||
	    evloop_add(&nb->loop, &tck, EPOLLIN) < 0)
		fatal("epoll_ctl");

	for (;;) {
		int timeout = -1, slept = 0;

		if (nb->started)
			ret_drain(nb);
		if (nb->started && txk.fd == -1 && !nb->tx_threaded) {
			txk.fd = nb->shm.ring[RING_TX].efd;
			if (evloop_add(&nb->loop, &txk, EPOLLIN) < 0)
				fatal("epoll_ctl tx eventfd");
		}
		/* Sleep only when natd has nothing queued for us: the re-check
		 * inside mq_prepare_sleep closes the race with natd's kick. */
		if (nb->started && nb->tx_threaded)
			shm_check_ring(&nb->shm, RING_RX, PROC_NETBACKD);
		else if (nb->started) {
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
