/*
 * agentd_poll.c: the poll set agentd's loop rebuilds every round: each
 * part adds its descriptors with a callback, and the nearest timer; the
 * round waits on them as sources of the one loop (evloop).
 */
#include "agentd.h"
#include "log.h"

void
pollset_init(struct pollset *ps)
{
	ps->n = 0;
	ps->timeout_ms = -1;
	ps->stop = NULL;
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

static void
pollset_ready(struct evsrc *s, uint32_t events)
{
	struct pollset *ps = s->arg;
	int i = (int)(s - ps->src);

	if (ps->stop == NULL || !*ps->stop)
		ps->cb[i](ps->arg[i], (short)events);
}

/*
 * Wait for the round's descriptors, run the callbacks of those ready
 * (until *ps->stop is set), and take them out of the loop again: the next
 * round may want others, and a call's descriptor may be closed by then.
 * A descriptor epoll refuses is reported as poll(2) would (POLLNVAL).
 */
void
pollset_wait(struct pollset *ps, struct evloop *l)
{
	int i, bad = 0;

	for (i = 0; i < ps->n; i++) {
		ps->src[i] = (struct evsrc){ ps->pfd[i].fd, pollset_ready, ps };
		ps->pfd[i].revents = 0;
		if (evloop_add(l, &ps->src[i], (uint32_t)ps->pfd[i].events) < 0) {
			ps->src[i].fd = -1;
			ps->pfd[i].revents = POLLNVAL;
			bad = 1;
		}
	}
	evloop_wait(l, bad ? 0 : ps->timeout_ms);
	for (i = 0; i < ps->n; i++)
		if (ps->src[i].fd != -1)
			evloop_del(l, &ps->src[i]);
	for (i = 0; i < ps->n && bad; i++)
		if (ps->pfd[i].revents == POLLNVAL && (ps->stop == NULL || !*ps->stop))
			ps->cb[i](ps->arg[i], POLLNVAL);
}
