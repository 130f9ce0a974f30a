/*
 * natd: moat's router. Frames from netbackd (RING_RX) go through the
 * engine (nat_*.c) and back out (RING_TX); new flows are asked of policyd
 * (RING_FLOWREQ) and its verdicts come back (RING_VERDICT). This file is
 * only main, setup and the event loop; control messages are in
 * natd_ctl.c, the decisions in the engine.
 */
#include <signal.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "natd.h"
#include "proc.h"
#include "util.h"

static struct natd N;

/* One burst from each input ring; returns 1 when more may be waiting. */
static int
natd_burst(struct natd *n)
{
	struct mq_desc d[NATD_BURST];
	struct flow_verdict v[NATD_VBURST];
	uint64_t now = now_ms();
	unsigned i, nr = 0, nv = 0;

	/* Back-pressure: take input only while its output surely fits. */
	if (natd_txq_room(n, NATD_VBURST * (NAT_HOLD_PER_FLOW + 2))) {
		nv = mq_dequeue_burst(&n->shm.ring[RING_VERDICT], v, NATD_VBURST);
		for (i = 0; i < nv; i++)
			nat_verdict(n->e, &v[i], now);
	}
	if (natd_txq_room(n, 3 * NATD_BURST)) {
		nr = mq_dequeue_burst(&n->shm.ring[RING_RX], d, NATD_BURST);
		for (i = 0; i < nr; i++)
			nat_input(n->e, &d[i], now);
	}
	natd_flush(n);
	return nr == NATD_BURST || nv == NATD_VBURST || n->ntxq > 0;
}

static void
control_ready(struct evsrc *s, uint32_t events)
{
	(void)events;
	natd_control(s->arg);
}

static void
tick(struct evsrc *s, uint32_t events)
{
	struct natd *n = s->arg;

	(void)events;
	evloop_tick_read(s->fd);
	if (n->started) {
		nat_tick(n->e, now_ms());
		natd_flush(n);
	}
}

int
main(int argc, char **argv)
{
	struct natd *n = &N;
	struct evloop loop;
	struct evsrc ctl = { MSG_PARENT_FD, control_ready, n };
	struct evsrc tck = { -1, tick, n };
	/* A ring's eventfd only ends the wait: natd_burst reads the rings,
	 * and mq_wake_done re-arms the eventfd. */
	struct evsrc rx = { -1, evloop_nop, n }, ver = { -1, evloop_nop, n };

	log_init("natd", LOG_LVL_INFO);
	natd_options(&n->cfg, argc, argv);
	proc_parent_channel();
	signal(SIGPIPE, SIG_IGN);
	set_nonblock(MSG_PARENT_FD);
	evloop_init(&loop);
	tck.fd = evloop_tick_open(NATD_TICK_MS);
	if (evloop_add(&loop, &ctl, EPOLLIN) < 0 || evloop_add(&loop, &tck, EPOLLIN) < 0)
		fatal("epoll_ctl");

	for (;;) {
		int timeout = -1, slept_rx = 0, slept_v = 0;

		if (n->started && rx.fd == -1) {
			rx.fd = n->shm.ring[RING_RX].efd;
			ver.fd = n->shm.ring[RING_VERDICT].efd;
			if (evloop_add(&loop, &rx, EPOLLIN) < 0 ||
			    evloop_add(&loop, &ver, EPOLLIN) < 0)
				fatal("epoll_ctl");
		}
		/* Block only when both input rings are empty; the re-check in
		 * mq_prepare_sleep closes the race with the producers' kicks. */
		if (n->started) {
			if (natd_burst(n))
				timeout = n->ntxq > 0 ? 1 : 0;
			else if ((slept_rx = mq_prepare_sleep(&n->shm.ring[RING_RX])) &&
			    (slept_v = mq_prepare_sleep(&n->shm.ring[RING_VERDICT])))
				timeout = -1;
			else
				timeout = 0;
			/* A broken ring never wakes us: go, naming the peer,
			 * before sleeping on it (ring.h). */
			shm_check_rings(&n->shm, PROC_NATD);
		}
		evloop_wait(&loop, timeout);
		if (slept_rx)
			mq_wake_done(&n->shm.ring[RING_RX]);
		if (slept_v)
			mq_wake_done(&n->shm.ring[RING_VERDICT]);
	}
}
