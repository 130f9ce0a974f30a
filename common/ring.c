/*
 * ring.c: single-producer/single-consumer rings and the packet buffer pool
 * in memory shared between processes. See ring.h for the layout and the
 * trust model.
 *
 * Memory ordering, in one place. Labels name each atomic operation; every
 * operation's comment names the label it pairs with.
 *
 *   R1 producer: release store of prod after writing the slots.
 *   A2 consumer: acquire load of prod before reading the slots (pairs R1).
 *   R2 consumer: release store of cons after reading the slots.
 *   A1 producer: acquire load of cons before overwriting slots (pairs R2).
 *   A3 either end, at attach: acquire loads of both indices (pair R1, R2
 *      of whoever held the ends before).
 *   A4 consumer: acquire re-load of prod in mq_prepare_sleep (pairs R1).
 *   F1 consumer: full fence between setting cons_sleeping and re-reading
 *      prod in mq_prepare_sleep.
 *   F2 producer: full fence between publishing prod (R1) and reading
 *      cons_sleeping in mq_kick.
 *
 * F1/F2 are the store-load (Dekker) pair that makes sleeping safe: the
 * consumer stores "sleeping" then loads prod; the producer stores prod then
 * loads "sleeping". With a sequentially consistent fence between the store
 * and the load on each side, at least one of them sees the other's store,
 * so either the consumer finds the new elements and does not sleep, or the
 * producer finds the flag and writes the eventfd. Acquire/release alone
 * would allow both loads to miss (store buffering), losing the wake-up.
 *
 * Indices are free-running uint32_t; prod - cons is computed modulo 2^32
 * and is correct across wrap-around as long as it never exceeds nslots,
 * which every reader checks (nslots <= MQ_MAX_SLOTS < 2^31).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"

static_assert(MQ_MAX_SLOTS <= (1u << 31), "distances must fit below 2^31");
static_assert(sizeof(struct mq_ring_hdr) % MQ_CACHELINE == 0, "slots start on a cache line");
static_assert(offsetof(struct mq_ring_hdr, cons_sleeping) == 3 * MQ_CACHELINE + 4,
    "the sleeping flag is on the consumer's line");
static_assert(offsetof(struct mq_ring_hdr, guard0) == 2 * MQ_CACHELINE, "guard line between prod and cons");
static_assert(offsetof(struct mq_ring_hdr, guard1) == 4 * MQ_CACHELINE, "guard line after cons");

static int
geometry_ok(uint32_t nslots, uint32_t elemsz)
{
	if (nslots < 2 || nslots > MQ_MAX_SLOTS || (nslots & (nslots - 1)) != 0)
		return 0;
	if (elemsz == 0 || elemsz > MQ_MAX_ELEMSZ || elemsz % 8 != 0)
		return 0;
	return 1;
}

size_t
mq_ring_bytes(uint32_t nslots, uint32_t elemsz)
{
	uint64_t sz;

	if (!geometry_ok(nslots, elemsz))
		return 0;
	/* At most 2^24 * 2^16 bytes: no overflow in 64 bits. */
	sz = sizeof(struct mq_ring_hdr) + (uint64_t)nslots * elemsz;
	sz = (sz + MQ_CACHELINE - 1) & ~(uint64_t)(MQ_CACHELINE - 1);
	if (sz > SIZE_MAX)
		return 0;
	return (size_t)sz;
}

int
mq_ring_format(void *mem, size_t avail, uint32_t nslots, uint32_t elemsz)
{
	struct mq_ring_hdr *h = mem;
	size_t need = mq_ring_bytes(nslots, elemsz);

	if (need == 0 || mem == NULL || avail < need ||
	    ((uintptr_t)mem & (MQ_CACHELINE - 1)) != 0)
		return -1;
	/*
	 * Formatting happens before any other process has the memfd; the
	 * fd's hand-over (sendmsg) orders these plain stores before the
	 * peers' first loads.
	 */
	memset(mem, 0, need);
	h->nslots = nslots;
	h->elemsz = elemsz;
	h->magic = MQ_MAGIC;
	return 0;
}

int
mq_attach(struct mq_end *e, void *mem, size_t avail, uint32_t nslots,
    uint32_t elemsz, int role, int efd)
{
	struct mq_ring_hdr *h = mem;
	size_t need = mq_ring_bytes(nslots, elemsz);
	uint32_t prod, cons;

	/* A failed attach leaves an end that refuses every operation. */
	memset(e, 0, sizeof *e);
	e->efd = -1;
	e->broken = 1;
	if (need == 0 || mem == NULL || avail < need ||
	    ((uintptr_t)mem & (MQ_CACHELINE - 1)) != 0)
		return -1;
	if (role != MQ_PRODUCER && role != MQ_CONSUMER)
		return -1;
	/*
	 * The geometry we use is the caller's; the shared copy is only
	 * compared with it. Relaxed loads: these fields were written before
	 * the memfd was handed to us and are never written again.
	 */
	if (__atomic_load_n(&h->magic, __ATOMIC_RELAXED) != MQ_MAGIC ||
	    __atomic_load_n(&h->nslots, __ATOMIC_RELAXED) != nslots ||
	    __atomic_load_n(&h->elemsz, __ATOMIC_RELAXED) != elemsz)
		return -1;
	/*
	 * A3: acquire loads of both indices, pairing with R1 and R2 of an
	 * earlier holder of either end, so that a re-attach after a restart
	 * starts from indices consistent with the slots. Each is read once.
	 */
	prod = __atomic_load_n(&h->prod, __ATOMIC_ACQUIRE);
	cons = __atomic_load_n(&h->cons, __ATOMIC_ACQUIRE);
	if (prod - cons > nslots)
		return -1;

	e->hdr = h;
	e->slots = (uint8_t *)mem + sizeof *h;
	e->nslots = nslots;
	e->mask = nslots - 1;
	e->elemsz = elemsz;
	e->role = role;
	e->efd = efd;
	e->mine = role == MQ_PRODUCER ? prod : cons;
	e->peer = role == MQ_PRODUCER ? cons : prod;
	if (role == MQ_CONSUMER) {
		/*
		 * Nobody sleeps yet. Relaxed: a stale 1 only costs the
		 * producer one needless eventfd write.
		 */
		__atomic_store_n(&h->cons_sleeping, 0, __ATOMIC_RELAXED);
	}
	e->broken = 0;
	return 0;
}

/*
 * The peer's index, read once, or -1 (and the end is broken for good) when
 * it is more than a ring away from ours: a peer that claims to have
 * produced more than fits, or consumed what was never produced, is
 * compromised or corrupt, and nothing it says can be trusted again.
 */
static int
peer_load(struct mq_end *e, uint32_t *peer)
{
	uint32_t v, dist;

	if (e->role == MQ_PRODUCER) {
		/*
		 * A1: acquire, pairs with R2 in mq_dequeue_burst: the
		 * consumer's reads of the slots it released happen before
		 * we overwrite them.
		 */
		v = __atomic_load_n(&e->hdr->cons, __ATOMIC_ACQUIRE);
		dist = e->mine - v;
	} else {
		/*
		 * A2: acquire, pairs with R1 in mq_enqueue_burst: the
		 * producer's writes to the slots happen before our reads.
		 */
		v = __atomic_load_n(&e->hdr->prod, __ATOMIC_ACQUIRE);
		dist = v - e->mine;
	}
	if (dist > e->nslots) {
		e->broken = 1;
		return -1;
	}
	e->peer = v;
	*peer = v;
	return 0;
}

/* Free slots (producer) or waiting elements (consumer) as of peer. */
static uint32_t
have_at(const struct mq_end *e, uint32_t peer)
{
	return e->role == MQ_PRODUCER ? e->nslots - (e->mine - peer) :
	    peer - e->mine;
}

/*
 * How many of want can move now. Our cached copy of the peer's index
 * can only be behind the real one, so what it shows is a lower bound;
 * the shared index is re-read (once) only when that is not enough
 * (AF_XDP does the same). 0 when the peer broke the ring.
 */
static uint32_t
ready(struct mq_end *e, uint32_t want)
{
	uint32_t peer, have = have_at(e, e->peer);

	if (have < want) {
		if (peer_load(e, &peer) == -1)
			return 0;
		have = have_at(e, peer);
	}
	return have < want ? have : want;
}

/*
 * Copies n elements from our index on, in two pieces where the slots
 * wrap, out of the ring into out or into it from in (the other is NULL),
 * and moves our index past them; the caller publishes it.
 */
static void
slots_copy(struct mq_end *e, void *out, const void *in, uint32_t n)
{
	size_t esz = e->elemsz;
	uint32_t idx = e->mine & e->mask, first = e->nslots - idx;

	if (first > n)
		first = n;
	if (in != NULL) {
		memcpy(e->slots + idx * esz, in, first * esz);
		if (n > first)
			memcpy(e->slots, (const uint8_t *)in + first * esz,
			    (n - first) * esz);
	} else {
		memcpy(out, e->slots + idx * esz, first * esz);
		if (n > first)
			memcpy((uint8_t *)out + first * esz, e->slots,
			    (n - first) * esz);
	}
	e->mine += n;
}

unsigned
mq_enqueue_burst(struct mq_end *e, const void *elems, unsigned n)
{
	if (e->broken || e->role != MQ_PRODUCER || n == 0)
		return 0;
	if ((n = ready(e, n)) == 0)
		return 0;
	slots_copy(e, NULL, elems, n);
	/*
	 * R1: release, pairs with A2 in mq_dequeue_burst (and with A4 in
	 * mq_prepare_sleep): the slot contents are visible before the new
	 * prod is.
	 */
	__atomic_store_n(&e->hdr->prod, e->mine, __ATOMIC_RELEASE);
	return n;
}

void
mq_kick(struct mq_end *e)
{
	uint64_t one = 1;

	if (e->broken || e->role != MQ_PRODUCER || e->efd == -1)
		return;
	/*
	 * F2: full fence, pairs with F1 in mq_prepare_sleep: our store of
	 * prod (R1) is globally visible before we load cons_sleeping, so we
	 * cannot both miss each other's store.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Relaxed: F2 orders it; the flag carries no data. */
	if (__atomic_load_n(&e->hdr->cons_sleeping, __ATOMIC_RELAXED) == 0)
		return;
	/*
	 * A full counter (EAGAIN) already means "readable"; any other error
	 * leaves the consumer to its poll timeout, which is all we can do.
	 */
	while (write(e->efd, &one, sizeof one) == -1 && errno == EINTR)
		;
}

unsigned
mq_dequeue_burst(struct mq_end *e, void *elems, unsigned max)
{
	uint32_t n;

	if (e->broken || e->role != MQ_CONSUMER || max == 0)
		return 0;
	if ((n = ready(e, max)) == 0)
		return 0;
	/*
	 * Copy out before anyone looks at the elements: the producer can
	 * rewrite a slot at any time, so checks must run on our copy.
	 */
	slots_copy(e, elems, NULL, n);
	/*
	 * R2: release, pairs with A1 in mq_enqueue_burst: our reads of the
	 * slots complete before the producer may reuse them.
	 */
	__atomic_store_n(&e->hdr->cons, e->mine, __ATOMIC_RELEASE);
	return n;
}

int
mq_prepare_sleep(struct mq_end *e)
{
	uint32_t prod;

	/* Nothing will ever arrive on a broken ring: blocking is safe. */
	if (e->broken || e->role != MQ_CONSUMER)
		return 1;
	/* Relaxed store: F1 below orders it before the re-check. */
	__atomic_store_n(&e->hdr->cons_sleeping, 1, __ATOMIC_RELAXED);
	/*
	 * F1: full fence, pairs with F2 in mq_kick: the flag is globally
	 * visible before we re-read prod, so a producer that published
	 * after our re-check is certain to see the flag and kick.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/*
	 * A4: acquire, pairs with R1 in mq_enqueue_burst (the ordering
	 * matters only for the dequeue that follows a 0 return).
	 */
	prod = __atomic_load_n(&e->hdr->prod, __ATOMIC_ACQUIRE);
	if (prod - e->mine > e->nslots) {
		e->broken = 1;
		return 1;
	}
	if (prod == e->mine)
		return 1;
	e->peer = prod;
	/* Work arrived: we stay awake. Relaxed: see mq_wake_done. */
	__atomic_store_n(&e->hdr->cons_sleeping, 0, __ATOMIC_RELAXED);
	return 0;
}

void
mq_wake_done(struct mq_end *e)
{
	uint64_t v;

	if (e->role != MQ_CONSUMER || e->hdr == NULL)
		return;
	/*
	 * Relaxed: clearing the flag only suppresses kicks while we are
	 * awake; a producer that still saw it set writes the eventfd once
	 * more, and the next poll returns at once, which is harmless.
	 */
	if (!e->broken)
		__atomic_store_n(&e->hdr->cons_sleeping, 0, __ATOMIC_RELAXED);
	/* The counter's value means nothing; this only re-arms poll(). */
	if (e->efd != -1)
		while (read(e->efd, &v, sizeof v) == -1 && errno == EINTR)
			;
}

unsigned
mq_peek(struct mq_end *e, void *elems, unsigned max)
{
	uint32_t peer, first, n, i;
	size_t esz = e->elemsz;

	if (e->broken || peer_load(e, &peer) == -1)
		return 0;
	/* queued = [cons, prod): ours is one end, the peer's the other */
	first = e->role == MQ_PRODUCER ? peer : e->mine;
	n = e->role == MQ_PRODUCER ? e->mine - peer : peer - e->mine;
	if (n > max)
		n = max;
	for (i = 0; i < n; i++)
		memcpy((uint8_t *)elems + (size_t)i * esz,
		    e->slots + (size_t)((first + i) & e->mask) * esz, esz);
	return n;
}

unsigned
mq_count(struct mq_end *e)
{
	uint32_t peer;

	if (e->broken || peer_load(e, &peer) == -1)
		return 0;
	if (e->role == MQ_PRODUCER)
		return e->mine - peer;
	return peer - e->mine;
}

unsigned
mq_free(struct mq_end *e)
{
	uint32_t peer;

	if (e->broken || peer_load(e, &peer) == -1)
		return 0;
	if (e->role == MQ_PRODUCER)
		return e->nslots - (e->mine - peer);
	return e->nslots - (peer - e->mine);
}

int
mq_pool_init(struct mq_pool *p, void *mem, size_t avail, uint32_t nbufs,
    uint32_t bufsz)
{
	memset(p, 0, sizeof *p);
	if (mem == NULL || nbufs == 0 || bufsz == 0 || bufsz > MQ_MAX_BUFSZ)
		return -1;
	if ((uint64_t)nbufs * bufsz > avail)
		return -1;
	p->base = mem;
	p->nbufs = nbufs;
	p->bufsz = bufsz;
	return 0;
}

uint8_t *
mq_buf(const struct mq_pool *p, uint32_t idx)
{
	if (idx >= p->nbufs)
		return NULL;
	return p->base + (size_t)idx * p->bufsz;
}

int
mq_desc_ok(const struct mq_pool *p, const struct mq_desc *d)
{
	if (d->buf >= p->nbufs)
		return 0;
	/* Written so that nothing can overflow: len is 32 bits wide. */
	if (d->off > p->bufsz || d->len > p->bufsz - d->off)
		return 0;
	if (d->flags & ~MQ_F_ALL)
		return 0;
	if (d->port >= MQ_PORT_MAX && d->port != MQ_PORT_DROP)
		return 0;
	/* The 16-bit checksum field must lie inside the frame. */
	if ((d->flags & MQ_F_NEEDS_CSUM) &&
	    (uint32_t)d->csum_start + d->csum_offset + 2 > d->len)
		return 0;
	switch (d->gso_type) {
	case MQ_GSO_NONE:
		break;
	case MQ_GSO_TCPV4:
	case MQ_GSO_UDP:
	case MQ_GSO_TCPV6:
		/* A segment size of 0 makes Linux and Xen netback refuse it. */
		if (d->gso_size == 0)
			return 0;
		break;
	default:
		return 0;
	}
	return 1;
}
