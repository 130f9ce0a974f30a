/*
 * agentd_poll.c: the poll set agentd's loop rebuilds every round: each
 * part adds its descriptors with a callback, and the nearest timer.
 */
#include "agentd.h"
#include "log.h"

void
pollset_init(struct pollset *ps)
{
	ps->n = 0;
	ps->timeout_ms = -1;
}

void
pollset_add(struct pollset *ps, int fd, short events,
    void (*cb)(void *, short), void *arg)
{
	if (ps->n >= POLLSET_MAX)
		fatalx("pollset full");
	ps->pfd[ps->n].fd = fd;
	ps->pfd[ps->n].events = events;
	ps->pfd[ps->n].revents = 0;
	ps->cb[ps->n] = cb;
	ps->arg[ps->n] = arg;
	ps->n++;
}

/* Wake up by at_ms (CLOCK_MONOTONIC ms) at the latest. */
void
pollset_timer(struct pollset *ps, uint64_t at_ms)
{
	uint64_t now = now_ms();
	int t = at_ms <= now ? 0 : (at_ms - now > 60000 ? 60000 :
	    (int)(at_ms - now));

	if (ps->timeout_ms == -1 || t < ps->timeout_ms)
		ps->timeout_ms = t;
}
