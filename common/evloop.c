/*
 * evloop.c: an epoll set of sources with callbacks (see evloop.h).
 */
#include <errno.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "evloop.h"
#include "log.h"

/* Enough for one wait to report every source of the busiest process
 * (the supervisor: its daemons' channels and logs, control clients);
 * more ready at once are reported by the next wait. */
#define EVLOOP_BATCH	32

void
evloop_init(struct evloop *l)
{
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		fatal("epoll_create1");
}

int
evloop_add(struct evloop *l, struct evsrc *s, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = s };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &e);
}

int
evloop_mod(struct evloop *l, struct evsrc *s, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = s };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &e);
}

void
evloop_del(struct evloop *l, struct evsrc *s)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

int
evloop_wait(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int i, n;

	if ((n = epoll_wait(l->epfd, evs, EVLOOP_BATCH, timeout_ms)) < 0) {
		if (errno != EINTR)
			fatal("epoll_wait");
		return 0;
	}
	for (i = 0; i < n; i++) {
		struct evsrc *s = evs[i].data.ptr;

		if (s->cb != NULL)
			s->cb(s, evs[i].events);
	}
	return n;
}

void
evloop_nop(struct evsrc *s, uint32_t events)
{
	(void)s;
	(void)events;
}

int
evloop_tick_open(unsigned ms)
{
	struct itimerspec it = {
		{ ms / 1000, (long)(ms % 1000) * 1000000 },
		{ ms / 1000, (long)(ms % 1000) * 1000000 },
	};
	int fd;

	if ((fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    timerfd_settime(fd, 0, &it, NULL) < 0)
		fatal("timerfd");
	return fd;
}

void
evloop_tick_read(int fd)
{
	uint64_t x;

	(void)!read(fd, &x, sizeof x);
}
