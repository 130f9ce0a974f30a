/*
 * shm.h: a daemon's side of the shared queues: mapping the memfd the
 * supervisor sends (MSG_QUEUES) and attaching to ring ends (MSG_EVENTFD).
 * The geometry is taken from the message, checked against the memfd's
 * real size, and then trusted only as far as mq_attach checks it.
 */
#ifndef MOAT_SHM_H
#define MOAT_SHM_H

#include "msg.h"
#include "ring.h"

struct shm {
	struct msg_queues q;
	uint8_t		*base;
	size_t		 size;
	struct mq_pool	 pool;
	struct mq_end	 ring[RING_COUNT];
	int		 attached[RING_COUNT];
};

/* MSG_QUEUES: map the memfd (closes it). 0, or -1 with a log line. */
int	shm_map(struct shm *s, const struct msg *m);
/* MSG_EVENTFD: attach our end of a ring. Returns the ring id, or -1. The
 * eventfd stays open as the end's efd. */
int	shm_attach_end(struct shm *s, const struct msg *m);

#endif
