/*
 * natd: moat's router. Frames from netbackd (RING_RX) go through the
 * engine (nat_*.c) and back out (RING_TX); new flows are asked of policyd
 * (RING_FLOWREQ) and its verdicts come back (RING_VERDICT). This file is
 * only main, setup and the event loop; control messages are in
 * natd_ctl.c, the decisions in the engine.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "log.h"
#include "natd.h"
#include "proc.h"
#include "util.h"

enum { EV_CTL = 1, EV_TIMER, EV_RX, EV_VERDICT };

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
epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		fatal("epoll_ctl");
}

int
main(int argc, char **argv)
{
	struct natd *n = &N;
	struct itimerspec it = { { 0, NATD_TICK_MS * 1000000 },
	    { 0, NATD_TICK_MS * 1000000 } };
	int tfd, watching = 0;

	log_init("natd", LOG_LVL_INFO);
	natd_options(&n->cfg, argc, argv);
	proc_parent_channel();
	signal(SIGPIPE, SIG_IGN);
	if ((n->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		fatal("epoll_create1");
	set_nonblock(MSG_PARENT_FD);
	epoll_add(n->epfd, MSG_PARENT_FD, EV_CTL);
	if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    timerfd_settime(tfd, 0, &it, NULL) < 0)
		fatal("timerfd");
	epoll_add(n->epfd, tfd, EV_TIMER);

	for (;;) {
		struct epoll_event evs[8];
		int i, k, timeout = -1, slept_rx = 0, slept_v = 0;

		if (n->started && !watching) {
			epoll_add(n->epfd, n->shm.ring[RING_RX].efd, EV_RX);
			epoll_add(n->epfd, n->shm.ring[RING_VERDICT].efd, EV_VERDICT);
			watching = 1;
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
		k = epoll_wait(n->epfd, evs, 8, timeout);
		if (slept_rx)
			mq_wake_done(&n->shm.ring[RING_RX]);
		if (slept_v)
			mq_wake_done(&n->shm.ring[RING_VERDICT]);
		if (k < 0 && errno != EINTR)
			fatal("epoll_wait");
		for (i = 0; i < k; i++) {
			uint64_t x;

			switch (evs[i].data.u32) {
			case EV_CTL:
				natd_control(n);
				break;
			case EV_TIMER:
				(void)!read(tfd, &x, sizeof(x));
				if (n->started) {
					nat_tick(n->e, now_ms());
					natd_flush(n);
				}
				break;
			}
		}
	}
}
