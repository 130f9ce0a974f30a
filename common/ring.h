/*
 * ring.h: single-producer/single-consumer rings and a buffer pool in memory
 * shared between processes.
 *
 * A memfd (made by the supervisor, mapped only by the daemons at an end of
 * one of its rings; see shm.c for the split) holds a set of rings and,
 * for the packet rings, a pool of fixed-size packet buffers. Slots hold
 * fixed-size elements: packet descriptors naming a buffer by index, never a
 * pointer, or small request/verdict records. Hand-off is zero-copy: the
 * frame stays in its buffer; only the 24-byte descriptor moves.
 *
 * The peer on the other side of a ring may be compromised. Each side keeps
 * its own trusted copy of the ring's geometry (size, element size) and of
 * the index it owns; it reads the other side's index exactly once per
 * burst, rejects a distance larger than the ring (the ring is then marked
 * broken and never used again), and every consumer checks each buffer
 * index and length against the pool's geometry before touching the buffer
 * (mq_desc_ok). A daemon that finds a ring broken reports the peer by
 * exiting (shm_check_rings); the supervisor restarts both ends over a
 * freshly formatted ring.
 *
 * Wake-ups: a consumer that finds the ring empty sets its "sleeping" flag,
 * re-checks, and only then blocks on its eventfd. A producer writes the
 * eventfd only when that flag is set, so a busy pipeline makes no system
 * calls.
 */
#ifndef MOAT_RING_H
#define MOAT_RING_H

#include <stdint.h>
#include <stddef.h>
#include <assert.h>

#define MQ_CACHELINE	64
#define MQ_MAGIC	0x6d6f6174u	/* "moat" */

/*
 * Shared ring header. Each index lives on its own cache line, with a guard
 * line between them, so producer and consumer never write the same line.
 * (p) = written by the producer only, (c) = by the consumer only,
 * (s) = by the supervisor at creation only.
 */
struct mq_ring_hdr {
	uint32_t	magic;		/* (s) MQ_MAGIC */
	uint32_t	nslots;		/* (s) power of two */
	uint32_t	elemsz;		/* (s) bytes per slot, multiple of 8 */
	uint32_t	pad0[MQ_CACHELINE / 4 - 3];
	uint32_t	prod;		/* (p) free-running count of elements produced */
	uint32_t	pad1[MQ_CACHELINE / 4 - 1];
	uint32_t	guard0[MQ_CACHELINE / 4];
	uint32_t	cons;		/* (c) free-running count of elements consumed */
	uint32_t	cons_sleeping;	/* (c) 1 while the consumer may block on its eventfd */
	uint32_t	pad2[MQ_CACHELINE / 4 - 2];
	uint32_t	guard1[MQ_CACHELINE / 4];
	/* nslots * elemsz bytes of slots follow */
};
static_assert(sizeof(struct mq_ring_hdr) == 5 * MQ_CACHELINE, "ring header is five cache lines");
static_assert(offsetof(struct mq_ring_hdr, prod) == 1 * MQ_CACHELINE, "prod on its own line");
static_assert(offsetof(struct mq_ring_hdr, cons) == 3 * MQ_CACHELINE, "cons on its own line, a guard line away");

/*
 * Geometry limits: nslots a power of two in [2, MQ_MAX_SLOTS], elemsz a
 * multiple of 8 in [8, MQ_MAX_ELEMSZ], pool buffers at most MQ_MAX_BUFSZ.
 */
#define MQ_MAX_SLOTS	(1u << 24)
#define MQ_MAX_ELEMSZ	4096u
#define MQ_MAX_BUFSZ	(1u << 20)

/*
 * Bytes a ring of nslots elements of elemsz bytes needs (cache-line
 * multiple), or 0 when the geometry is outside the limits above.
 */
size_t	mq_ring_bytes(uint32_t nslots, uint32_t elemsz);
/* Supervisor: format a ring in shared memory. Returns 0, or -1 on bad geometry. */
int	mq_ring_format(void *mem, size_t avail, uint32_t nslots, uint32_t elemsz);

enum mq_role { MQ_PRODUCER = 1, MQ_CONSUMER = 2 };

/*
 * One side's private, trusted view of a ring. Nothing here is shared.
 */
struct mq_end {
	struct mq_ring_hdr *hdr;
	uint8_t		*slots;
	uint32_t	 nslots, mask, elemsz;
	uint32_t	 mine;		/* our own index, never re-read from shared memory */
	int		 role;
	int		 efd;		/* eventfd the consumer sleeps on */
	int		 broken;	/* the peer violated the protocol */
	uint32_t	 peer;		/* last validated peer index (a cache, see ring.c) */
};

/*
 * Attach to a formatted ring at mem (avail bytes mapped). The expected
 * geometry comes from the caller, not from shared memory; attaching fails
 * (-1) when the shared header disagrees, or when its indices are more than
 * a ring apart. Our index starts from its shared value (0 after format).
 * efd is the consumer's eventfd (EFD_NONBLOCK), given to both ends; -1 for
 * none. A failed attach leaves e broken, so every call on it does nothing.
 */
int	mq_attach(struct mq_end *e, void *mem, size_t avail, uint32_t nslots,
	    uint32_t elemsz, int role, int efd);

/* Producer: copy up to n elements in; returns how many fit (0..n). */
unsigned mq_enqueue_burst(struct mq_end *e, const void *elems, unsigned n);
/* Producer: wake the consumer if it announced it may sleep. Call once per burst. */
void	mq_kick(struct mq_end *e);
/* Consumer: copy up to max elements out; returns how many (0 when empty or broken). */
unsigned mq_dequeue_burst(struct mq_end *e, void *elems, unsigned max);
/*
 * Consumer: about to block. Sets the sleeping flag and re-checks the ring;
 * returns 1 when it is safe to poll(efd), 0 when work arrived meanwhile
 * (the flag is cleared again). Also 1 on a broken ring: nothing will come.
 */
int	mq_prepare_sleep(struct mq_end *e);
/*
 * Consumer: after waking from a sleep that mq_prepare_sleep allowed, drain
 * efd and clear the flag. Safe after any wake-up (timeout, another fd) as
 * long as efd is EFD_NONBLOCK. A broken end stays broken: check e->broken
 * after a 0 from mq_dequeue_burst and report the peer.
 */
void	mq_wake_done(struct mq_end *e);
/*
 * Either end: copy out up to max of the elements still queued, without
 * consuming them (the peer's index read once and checked, as in a burst).
 * For accounting after the peer died; returns how many.
 */
unsigned mq_peek(struct mq_end *e, void *elems, unsigned max);
/* Elements waiting (consumer) or free slots (producer), from our view. */
unsigned mq_count(struct mq_end *e);
unsigned mq_free(struct mq_end *e);

/*
 * The packet buffer pool: nbufs buffers of bufsz bytes each, after the
 * rings in the same memfd. Buffers are owned by whichever side holds their
 * index; the pool itself keeps no shared free list.
 */
struct mq_pool {
	uint8_t		*base;
	uint32_t	 nbufs;
	uint32_t	 bufsz;
};

/*
 * The descriptor of one frame. port is the link the frame came in on
 * (natd-bound) or goes out on (netbackd-bound); MQ_PORT_DROP returns a
 * buffer unused. The checksum/GSO fields mirror virtio_net_hdr so that
 * super-frames from AF_PACKET with PACKET_VNET_HDR, or from Xen netif with
 * its GSO extra slot, cross moat whole.
 */
struct mq_desc {
	uint32_t	buf;		/* buffer index in the pool */
	uint32_t	len;		/* frame length */
	uint16_t	off;		/* frame start within the buffer */
	uint16_t	port;		/* link id */
	uint16_t	flags;		/* MQ_F_* */
	uint16_t	csum_start;	/* NEEDS_CSUM: checksumming starts here (from frame start) */
	uint16_t	csum_offset;	/* NEEDS_CSUM: field offset from csum_start */
	uint16_t	gso_size;	/* GSO: payload bytes per segment */
	uint8_t		gso_type;	/* MQ_GSO_* */
	uint8_t		reason;		/* drop reason when port == MQ_PORT_DROP */
	uint16_t	pad;
};
static_assert(sizeof(struct mq_desc) == 24, "descriptor is 24 bytes");

#define MQ_F_NEEDS_CSUM	0x0001	/* L4 checksum field holds the pseudo-header sum only */
#define MQ_F_CSUM_VALID	0x0002	/* checksum already verified by the sender */
/* TCP GSO whose first segment carries CWR (virtio's GSO_ECN, Linux's
 * SKB_GSO_TCP_ECN): the flow negotiated ECN and has just reacted to a CE
 * mark. Meaningful with MQ_GSO_TCPV4/V6 only; natd passes it through. */
#define MQ_F_GSO_ECN	0x0004
#define MQ_F_ALL	(MQ_F_NEEDS_CSUM | MQ_F_CSUM_VALID | MQ_F_GSO_ECN)	/* mq_desc_ok refuses other bits */
#define MQ_GSO_NONE	0
#define MQ_GSO_TCPV4	1
#define MQ_GSO_UDP	3
#define MQ_GSO_TCPV6	4

#define MQ_PORT_DROP	0xffff
#define MQ_PORT_UPLINK	0
#define MQ_PORT_MAX	1024	/* client ports are 1..MQ_PORT_MAX-1 */

/*
 * Describe a pool of nbufs buffers of bufsz bytes at mem (avail bytes
 * mapped). The geometry is the caller's trusted copy. 0, or -1 when it
 * does not fit or bufsz > MQ_MAX_BUFSZ.
 */
int	mq_pool_init(struct mq_pool *p, void *mem, size_t avail, uint32_t nbufs,
	    uint32_t bufsz);
/* Pointer to buffer idx, or NULL when idx is outside the pool. */
uint8_t *mq_buf(const struct mq_pool *p, uint32_t idx);
/*
 * Consumer-side validation of a descriptor read from a ring: buffer index
 * inside the pool, off + len inside the buffer, checksum offsets inside the
 * frame (csum_start + csum_offset + 2 <= len when MQ_F_NEEDS_CSUM), no
 * unknown flag bits, port below MQ_PORT_MAX or MQ_PORT_DROP, a known
 * gso_type with a non-zero gso_size. Returns 1 when it may be used.
 */
int	mq_desc_ok(const struct mq_pool *p, const struct mq_desc *d);

#endif
