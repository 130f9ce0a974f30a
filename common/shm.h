/*
 * shm.h: a daemon's side of the shared queues: mapping the memfds the
 * supervisor sends (MSG_QUEUES, one per region) and attaching to ring ends
 * (MSG_EVENTFD). The geometry is taken from the message, checked against
 * the memfd's real size, and then trusted only as far as mq_attach checks
 * it.
 *
 * Which region each ring lives in, and which daemon is at each of its
 * ends, is fixed here (ring_table): the supervisor hands memory out from
 * it, a daemon refuses a region it has no use for, and a daemon that
 * finds a ring broken names the peer from it before it exits.
 */
#ifndef MOAT_SHM_H
#define MOAT_SHM_H

#include "msg.h"
#include "ring.h"

struct ring_spec {
	const char	*name;
	enum proc_id	 producer, consumer;
	enum queue_region region;
	uint32_t	 elemsz;
};
extern const struct ring_spec ring_table[RING_COUNT];
/* The process at the other end of ring r from self (PROC_MOAT if self is at neither end). */
enum proc_id ring_peer(enum ring_id r, enum proc_id self);

struct shm_region {
	struct msg_queues q;
	uint8_t		*base;		/* NULL: not mapped */
	size_t		 size;
};

struct shm {
	struct shm_region reg[QREGION_END];	/* by enum queue_region; [0] unused */
	struct mq_pool	 pool;			/* in the packet region */
	struct mq_end	 ring[RING_COUNT];
	int		 attached[RING_COUNT];
};

/*
 * MSG_QUEUES: map the region's memfd (closes it). regions is a bit mask
 * (1 << enum queue_region) of those this daemon may map; any other, or one
 * mapped already, is refused. The packet region must carry a pool, the
 * flow region none. 0, or -1 with a log line.
 */
int	shm_map(struct shm *s, const struct msg *m, unsigned regions);
#define QR_BIT(r)	(1u << (r))

/*
 * MSG_EVENTFD: attach our end of a ring. Refused (-1) unless ring_table
 * says self is at the end the message names, with that element size, and
 * the ring's region is mapped. Returns the ring id. The eventfd stays open
 * as the end's efd.
 */
int	shm_attach_end(struct shm *s, const struct msg *m, enum proc_id self);

/*
 * A ring we use is broken (ring.h): the peer is compromised or corrupt.
 * Log the ring and the peer and exit(EXIT_RING_BROKEN + ring); the
 * supervisor restarts both ends. Returns when every ring is sound. Call it
 * before sleeping on a ring: a broken ring never wakes anyone.
 */
void	shm_check_rings(struct shm *s, enum proc_id self);
/* The same for ring r alone: for a daemon whose ring ends are on two threads. */
void	shm_check_ring(struct shm *s, int r, enum proc_id self);

/*
 * MSG_TEST_RING (test builds): behave as a broken producer of the named
 * ring, claiming more elements than it holds. 0, or -1 when we do not
 * produce on it.
 */
int	shm_test_break(struct shm *s, const struct msg *m);

#endif
