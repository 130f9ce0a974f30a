/*
 * evloop.h: the one main-loop shape of moat's processes. Each thing a
 * process waits on is a source: a descriptor and the callback to run
 * when it is ready, in one epoll set. A daemon's main() is then its own
 * work between waits:
 *
 *	for (;;) {
 *		timeout = <work that needs no waiting; 0 while busy>;
 *		evloop_wait(&loop, timeout);	(runs the ready callbacks)
 *	}
 *
 * Sources are level-triggered: a callback that leaves its descriptor
 * readable is called again on the next wait. A callback may remove any
 * source and free its own; a source cleared (cb = NULL) is skipped even
 * when already reported. Sources added before sandbox_enter() need no
 * epoll_ctl in the daemon's table; the wait itself is epoll_wait.
 */
#ifndef MOAT_EVLOOP_H
#define MOAT_EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct evsrc {
	int	  fd;
	/* events: EPOLLIN, EPOLLOUT, EPOLLHUP... as epoll reported them */
	void	(*cb)(struct evsrc *, uint32_t events);
	void	 *arg;
};

struct evloop {
	int	 epfd;
};

/* Create the set, or die. */
void	evloop_init(struct evloop *l);
/* Watch s->fd for events (EPOLLIN, EPOLLOUT...): 0, or -1 (errno). */
int	evloop_add(struct evloop *l, struct evsrc *s, uint32_t events);
/* Change what s is watched for: 0, or -1 (errno). */
int	evloop_mod(struct evloop *l, struct evsrc *s, uint32_t events);
/* Stop watching s (its descriptor is still open). */
void	evloop_del(struct evloop *l, struct evsrc *s);
/*
 * Wait up to timeout_ms (-1: until a source is ready; 0: only look) and
 * run the callback of every ready source. The number of sources ready,
 * 0 on a timeout or a signal; any other failure is fatal.
 */
int	evloop_wait(struct evloop *l, int timeout_ms);

/* A callback for a source that only ends the wait (a ring's eventfd, whose
 * ring the loop reads anyway). */
void	evloop_nop(struct evsrc *s, uint32_t events);

/* A periodic tick as a source: a timerfd firing every ms milliseconds,
 * or die. Its callback calls evloop_tick_read() to re-arm it. */
int	evloop_tick_open(unsigned ms);
void	evloop_tick_read(int fd);

#endif
