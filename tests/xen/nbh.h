/*
 * nbh.h: a stand-in netbackd core for the Xen backend's tests.
 *
 * It implements nb.h (buffer pool, nb_rx, links, fd watches) in one
 * process that runs nb_backend_xen exactly as netbackd would, but instead
 * of natd it loops frames back: a frame received on port p is sent out on
 * pair[p] if set, else on p itself (echo). What it sees is published in a
 * shared page the test process reads.
 */
#ifndef MOAT_NBH_H
#define MOAT_NBH_H

#include <stdint.h>
#include <sys/types.h>
#include "xen_if.h"
#include "xen_priv.h"

struct fx_world;

#define NBH_PORTS	1024
#define NBH_NBUFS	1024
#define NBH_BUFSZ	10240	/* room for multi-page frames */
/* Buffer size of the next harness started (fork) or initialised; 64 KiB
 * super-frames need 65535 or more (the supervisor's devnet size: 66048). */
extern uint32_t nbh_bufsz;

struct nbh_link {
	uint8_t		up;
	uint32_t	ip4;
	uint8_t		ip6[16];
	uint8_t		peer_mac[6];
	char		name[32];
	uint32_t	ups, downs;
};

struct nbh_shared {
	volatile uint32_t	ready, stop;
	volatile uint16_t	pair[NBH_PORTS];
	struct nbh_link		link[NBH_PORTS];
	struct xen_stats	st;
	volatile uint32_t	bufs_free;
	volatile uint32_t	nfds;		/* open fds in the harness */
	volatile uint32_t	heap;		/* its malloc'd bytes in use */
	volatile uint64_t	loops;
	volatile uint64_t	frames;		/* nb_rx calls */
	struct mq_desc		last;		/* last descriptor nb_rx saw */
	volatile uint64_t	log_lines;	/* lines the backend logged at info or above */
};

/* stubs.c: lines logged at info level or above in this process. */
extern unsigned long xen_test_log_lines;

/* Fork the harness as domain domid; returns its pid. sh is MAP_SHARED. */
struct nbh_shared *nbh_shared_new(void);
pid_t	nbh_start(struct nbh_shared *sh, struct fx_world *w, unsigned domid);
void	nbh_stop(struct nbh_shared *sh, pid_t pid);
/* The same core in the caller's own loop: init, then one poll round per
 * step (timeout_ms 0: do what is ready and return). */
int	nbh_init(struct nbh_shared *sh, struct xen_if *x);
void	nbh_step(int timeout_ms);
/* In-process harness only: natd sends n copies of a frame to port; only
 * the first hdr bytes of frame are written into each buffer (its rest is
 * whatever the buffer held). Returns how many the backend took. */
unsigned nbh_inject(const struct mq_desc *tmpl, const uint8_t *frame, unsigned hdr,
	    unsigned n);
/* Run in this process until sh->stop; x NULL = choose as netbackd does. */
void	nbh_run(struct nbh_shared *sh, struct xen_if *x) __attribute__((noreturn));

#endif
