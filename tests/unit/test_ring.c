/*
 * test_ring.c: single-process tests of the shared-memory rings and pool:
 * geometry, empty/full, partial bursts, index wrap-around, a hostile peer
 * index, descriptor validation and the sleep/wake protocol. Producer and
 * consumer map the same memfd at two different addresses, as two daemons
 * would.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/mman.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "ring.h"
#include "t.h"

#define NSLOTS	8
#define ESZ	((uint32_t)sizeof(struct mq_desc))

/* One memfd holding a ring, mapped twice. */
struct shm {
	int	 fd;
	size_t	 len;
	void	*pmap;		/* producer's mapping */
	void	*cmap;		/* consumer's mapping */
};

static int
shm_open_ring(struct shm *s, uint32_t nslots, uint32_t elemsz)
{
	s->len = mq_ring_bytes(nslots, elemsz);
	if (s->len == 0)
		return -1;
	if ((s->fd = memfd_create("test_ring", MFD_CLOEXEC)) == -1)
		return -1;
	if (ftruncate(s->fd, (off_t)s->len) == -1)
		return -1;
	s->pmap = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	s->cmap = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (s->pmap == MAP_FAILED || s->cmap == MAP_FAILED)
		return -1;
	return mq_ring_format(s->pmap, s->len, nslots, elemsz);
}

static void
shm_close(struct shm *s)
{
	munmap(s->pmap, s->len);
	munmap(s->cmap, s->len);
	close(s->fd);
}

/* A pair of ends over one ring; efd is optional (-1). */
static int
pair_open(struct shm *s, struct mq_end *p, struct mq_end *c, uint32_t nslots, int efd)
{
	if (shm_open_ring(s, nslots, ESZ) == -1)
		return -1;
	if (mq_attach(p, s->pmap, s->len, nslots, ESZ, MQ_PRODUCER, efd) == -1)
		return -1;
	return mq_attach(c, s->cmap, s->len, nslots, ESZ, MQ_CONSUMER, efd);
}

static void
mkdescs(struct mq_desc *d, unsigned n, uint32_t first)
{
	unsigned i;

	memset(d, 0, n * sizeof *d);
	for (i = 0; i < n; i++) {
		d[i].buf = first + i;
		d[i].len = 60 + i;
	}
}

static void
test_geometry(void)
{
	static uint8_t mem[4096] __attribute__((aligned(64)));

	T_EQ_INT(mq_ring_bytes(8, 24), 5 * 64 + 192);
	T_EQ_INT(mq_ring_bytes(8, 20), 0);		/* not a multiple of 8 */
	T_EQ_INT(mq_ring_bytes(6, 24), 0);		/* not a power of two */
	T_EQ_INT(mq_ring_bytes(0, 24), 0);
	T_EQ_INT(mq_ring_bytes(1, 24), 0);
	T_EQ_INT(mq_ring_bytes(8, 0), 0);
	T_EQ_INT(mq_ring_bytes(MQ_MAX_SLOTS * 2, 8), 0);
	T_EQ_INT(mq_ring_bytes(8, MQ_MAX_ELEMSZ + 8), 0);
	/* 5 header lines + 3 * 8 bytes of slots, rounded up to a line. */
	T_EQ_INT(mq_ring_bytes(2, 8) % MQ_CACHELINE, 0);
	T_EQ_INT(mq_ring_format(mem, sizeof mem, 8, 24), 0);
	T_EQ_INT(mq_ring_format(mem, mq_ring_bytes(8, 24) - 1, 8, 24), -1);
	T_EQ_INT(mq_ring_format(mem + 8, sizeof mem - 8, 8, 24), -1);	/* misaligned */
	T_EQ_INT(mq_ring_format(mem, sizeof mem, 6, 24), -1);
}

static void
test_attach_mismatch(void)
{
	static uint8_t mem[4096] __attribute__((aligned(64)));
	struct mq_ring_hdr *h = (struct mq_ring_hdr *)mem;
	size_t len = mq_ring_bytes(NSLOTS, ESZ);
	struct mq_end e;
	struct mq_desc d[1];

	T_EQ_INT(mq_ring_format(mem, sizeof mem, NSLOTS, ESZ), 0);
	T_EQ_INT(mq_attach(&e, mem, len, NSLOTS, ESZ, MQ_CONSUMER, -1), 0);
	T_EQ_INT(mq_attach(&e, mem, len, NSLOTS * 2, ESZ, MQ_CONSUMER, -1), -1);
	T_EQ_INT(mq_attach(&e, mem, len, NSLOTS, ESZ + 8, MQ_CONSUMER, -1), -1);
	T_EQ_INT(mq_attach(&e, mem, len - 1, NSLOTS, ESZ, MQ_CONSUMER, -1), -1);
	T_EQ_INT(mq_attach(&e, mem, len, NSLOTS, ESZ, 3, -1), -1);
	T_EQ_INT(mq_attach(&e, mem + 8, len, NSLOTS, ESZ, MQ_CONSUMER, -1), -1);	/* misaligned */
	/* A failed attach leaves an end that does nothing. */
	mkdescs(d, 1, 0);
	T_EQ_INT(mq_enqueue_burst(&e, d, 1), 0);
	T_EQ_INT(mq_dequeue_burst(&e, d, 1), 0);
	T_ASSERT(e.broken);

	/* The shared header lies about its geometry. */
	h->nslots = NSLOTS * 2;
	T_EQ_INT(mq_attach(&e, mem, sizeof mem, NSLOTS, ESZ, MQ_PRODUCER, -1), -1);
	h->nslots = NSLOTS;
	h->elemsz = ESZ * 2;
	T_EQ_INT(mq_attach(&e, mem, sizeof mem, NSLOTS, ESZ, MQ_PRODUCER, -1), -1);
	h->elemsz = ESZ;
	h->magic ^= 1;
	T_EQ_INT(mq_attach(&e, mem, sizeof mem, NSLOTS, ESZ, MQ_PRODUCER, -1), -1);
	h->magic ^= 1;
	/* Indices more than a ring apart, either way. */
	h->prod = NSLOTS + 1;
	T_EQ_INT(mq_attach(&e, mem, sizeof mem, NSLOTS, ESZ, MQ_PRODUCER, -1), -1);
	h->prod = UINT32_MAX;
	T_EQ_INT(mq_attach(&e, mem, sizeof mem, NSLOTS, ESZ, MQ_CONSUMER, -1), -1);
	h->prod = NSLOTS;	/* full is fine */
	T_EQ_INT(mq_attach(&e, mem, sizeof mem, NSLOTS, ESZ, MQ_CONSUMER, -1), 0);
	T_EQ_INT(mq_count(&e), NSLOTS);
}

static void
test_empty_full(void)
{
	struct shm s;
	struct mq_end p, c;
	struct mq_desc in[NSLOTS + 1], out[NSLOTS + 1];

	T_ASSERT(pair_open(&s, &p, &c, NSLOTS, -1) == 0);
	T_EQ_INT(mq_count(&c), 0);
	T_EQ_INT(mq_free(&p), NSLOTS);
	T_EQ_INT(mq_dequeue_burst(&c, out, NSLOTS), 0);
	mkdescs(in, NSLOTS + 1, 100);
	T_EQ_INT(mq_enqueue_burst(&p, in, NSLOTS), NSLOTS);
	T_EQ_INT(mq_free(&p), 0);
	T_EQ_INT(mq_count(&c), NSLOTS);
	T_EQ_INT(mq_enqueue_burst(&p, in + NSLOTS, 1), 0);	/* full */
	T_EQ_INT(mq_dequeue_burst(&c, out, NSLOTS + 1), NSLOTS);
	T_EQ_MEM(out, in, NSLOTS * sizeof in[0]);
	T_EQ_INT(mq_count(&c), 0);
	T_EQ_INT(mq_free(&p), NSLOTS);
	T_EQ_INT(mq_dequeue_burst(&c, out, 1), 0);		/* empty again */
	/* Wrong-role calls move nothing. */
	T_EQ_INT(mq_enqueue_burst(&c, in, 1), 0);
	T_EQ_INT(mq_dequeue_burst(&p, out, 1), 0);
	T_ASSERT(!p.broken && !c.broken);
	shm_close(&s);
}

static void
test_partial_burst(void)
{
	struct shm s;
	struct mq_end p, c;
	struct mq_desc in[16], out[16];

	T_ASSERT(pair_open(&s, &p, &c, NSLOTS, -1) == 0);
	mkdescs(in, 16, 0);
	T_EQ_INT(mq_enqueue_burst(&p, in, 5), 5);
	T_EQ_INT(mq_enqueue_burst(&p, in + 5, 5), 3);	/* only 3 fit */
	T_EQ_INT(mq_dequeue_burst(&c, out, 2), 2);
	T_EQ_INT(mq_dequeue_burst(&c, out + 2, 16), 6);
	T_EQ_MEM(out, in, 8 * sizeof in[0]);
	/* A burst that straddles the end of the slot array. */
	T_EQ_INT(mq_enqueue_burst(&p, in + 8, 7), 7);
	T_EQ_INT(mq_dequeue_burst(&c, out + 8, 3), 3);
	T_EQ_INT(mq_enqueue_burst(&p, in + 15, 1), 1);
	T_EQ_INT(mq_dequeue_burst(&c, out + 11, 16), 5);
	T_EQ_MEM(out, in, 16 * sizeof in[0]);
	shm_close(&s);
}

/*
 * Free-running indices across 2^32: start both just below UINT32_MAX (as
 * a ring that has carried four billion elements would be) and run varied
 * bursts through the wrap, checking every element.
 */
static void
test_wrap(void)
{
	struct shm s;
	struct mq_end p, c;
	struct mq_ring_hdr *h;
	struct mq_desc in[NSLOTS], out[NSLOTS];
	uint32_t sent = 0, got = 0, start = UINT32_MAX - 20;
	unsigned i, n, k;

	T_ASSERT(shm_open_ring(&s, NSLOTS, ESZ) == 0);
	h = s.pmap;
	h->prod = h->cons = start;
	T_ASSERT(mq_attach(&p, s.pmap, s.len, NSLOTS, ESZ, MQ_PRODUCER, -1) == 0);
	T_ASSERT(mq_attach(&c, s.cmap, s.len, NSLOTS, ESZ, MQ_CONSUMER, -1) == 0);
	T_EQ_INT(p.mine, start);
	for (i = 0; i < 40; i++) {
		n = 1 + (i * 5) % NSLOTS;
		mkdescs(in, n, sent);
		n = mq_enqueue_burst(&p, in, n);
		sent += n;
		k = mq_dequeue_burst(&c, out, 1 + (i * 3) % NSLOTS);
		for (n = 0; n < k; n++)
			T_EQ_INT(out[n].buf, got + n);
		got += k;
	}
	while ((k = mq_dequeue_burst(&c, out, NSLOTS)) > 0) {
		for (n = 0; n < k; n++)
			T_EQ_INT(out[n].buf, got + n);
		got += k;
	}
	T_EQ_INT(got, sent);
	T_ASSERT(sent > 40);
	/* The shared indices really crossed zero. */
	T_ASSERT(h->prod < start && h->prod == start + sent);
	T_EQ_INT(h->cons, h->prod);
	T_ASSERT(!p.broken && !c.broken);
	shm_close(&s);
}

/* A peer index more than a ring away breaks the end for good. */
static void
test_broken_prod(void)
{
	struct shm s;
	struct mq_end p, c;
	struct mq_ring_hdr *h;
	struct mq_desc in[NSLOTS], out[NSLOTS];

	T_ASSERT(pair_open(&s, &p, &c, NSLOTS, -1) == 0);
	h = s.cmap;
	mkdescs(in, NSLOTS, 0);
	T_EQ_INT(mq_enqueue_burst(&p, in, 3), 3);
	T_EQ_INT(mq_dequeue_burst(&c, out, 1), 1);
	/* The producer claims NSLOTS+1 elements past our cons. */
	h->prod = c.mine + NSLOTS + 1;
	T_EQ_INT(mq_dequeue_burst(&c, out, NSLOTS), 0);
	T_ASSERT(c.broken);
	/* Putting it back does not help: the peer is not trusted again. */
	h->prod = c.mine + 2;
	T_EQ_INT(mq_dequeue_burst(&c, out, NSLOTS), 0);
	T_EQ_INT(mq_count(&c), 0);
	T_EQ_INT(mq_prepare_sleep(&c), 1);
	shm_close(&s);

	/* Exactly a ring ahead is a full ring, not an attack. */
	T_ASSERT(pair_open(&s, &p, &c, NSLOTS, -1) == 0);
	h = s.cmap;
	h->prod = NSLOTS;
	T_EQ_INT(mq_dequeue_burst(&c, out, NSLOTS), NSLOTS);
	T_ASSERT(!c.broken);
	/* prod moving backwards (behind cons) is a huge distance too. */
	h->prod = c.mine - 1;
	T_EQ_INT(mq_dequeue_burst(&c, out, NSLOTS), 0);
	T_ASSERT(c.broken);
	shm_close(&s);
}

/* The consumer lies to the producer: cons ahead of prod. */
static void
test_broken_cons(void)
{
	struct shm s;
	struct mq_end p, c;
	struct mq_ring_hdr *h;
	struct mq_desc in[NSLOTS];

	T_ASSERT(pair_open(&s, &p, &c, NSLOTS, -1) == 0);
	h = s.pmap;
	mkdescs(in, NSLOTS, 0);
	T_EQ_INT(mq_enqueue_burst(&p, in, NSLOTS), NSLOTS);
	/* "Consumed" more than was produced, which would let us overwrite
	 * slots still in use if believed. */
	h->cons = p.mine + 4;
	T_EQ_INT(mq_enqueue_burst(&p, in, 2), 0);
	T_ASSERT(p.broken);
	T_EQ_INT(mq_free(&p), 0);
	shm_close(&s);
}

static void
test_desc_ok(void)
{
	static uint8_t pool[4 * 2048];
	struct mq_pool p;
	struct mq_desc ok, d;

	T_EQ_INT(mq_pool_init(&p, pool, sizeof pool, 4, 2048), 0);
	T_EQ_INT(mq_pool_init(&p, pool, sizeof pool, 5, 2048), -1);
	T_EQ_INT(mq_pool_init(&p, pool, sizeof pool, 0, 2048), -1);
	T_EQ_INT(mq_pool_init(&p, pool, sizeof pool, 1, MQ_MAX_BUFSZ + 1), -1);
	T_EQ_INT(mq_pool_init(&p, pool, sizeof pool, 4, 2048), 0);
	T_ASSERT(mq_buf(&p, 0) == pool);
	T_ASSERT(mq_buf(&p, 3) == pool + 3 * 2048);
	T_ASSERT(mq_buf(&p, 4) == NULL);
	T_ASSERT(mq_buf(&p, UINT32_MAX) == NULL);

	memset(&ok, 0, sizeof ok);
	ok.buf = 3;
	ok.off = 64;
	ok.len = 2048 - 64;
	ok.port = 1;
	ok.flags = MQ_F_NEEDS_CSUM;
	ok.csum_start = 34;
	ok.csum_offset = 2048 - 64 - 34 - 2;	/* field ends at the frame's last byte */
	ok.gso_type = MQ_GSO_TCPV4;
	ok.gso_size = 1448;
	T_EQ_INT(mq_desc_ok(&p, &ok), 1);
	d = ok; d.port = MQ_PORT_DROP;
	T_EQ_INT(mq_desc_ok(&p, &d), 1);
	d = ok; d.len = 0; d.flags = 0; d.gso_type = 0;
	T_EQ_INT(mq_desc_ok(&p, &d), 1);

	d = ok; d.buf = 4;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.buf = UINT32_MAX;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.len++;			/* one byte past the buffer */
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.off++;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.off = 2049; d.len = 0;	/* start past the end */
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.off = 65535; d.len = UINT32_MAX - 65534;	/* wraps 32 bits */
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.off = 100; d.len = UINT32_MAX - 99;	/* off + len wraps to 0 */
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.off = 0; d.len = UINT32_MAX;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.csum_offset++;		/* field's 2nd byte past the frame */
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.csum_start = 65535; d.csum_offset = 65535;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.flags = 0; d.csum_start = 65535;	/* ignored without NEEDS_CSUM */
	T_EQ_INT(mq_desc_ok(&p, &d), 1);
	d = ok; d.flags |= 0x0100;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.port = MQ_PORT_MAX;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.gso_size = 0;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.gso_type = 2;
	T_EQ_INT(mq_desc_ok(&p, &d), 0);
	d = ok; d.gso_type = MQ_GSO_NONE; d.gso_size = 0;
	T_EQ_INT(mq_desc_ok(&p, &d), 1);
}

static int
readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static void
test_sleep_wake(void)
{
	struct shm s;
	struct mq_end p, c;
	struct mq_ring_hdr *h;
	struct mq_desc in[4], out[4];
	int efd;

	T_ASSERT((efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) != -1);
	T_ASSERT(pair_open(&s, &p, &c, NSLOTS, efd) == 0);
	h = s.cmap;
	mkdescs(in, 4, 0);

	/* Awake consumer: the producer makes no system call. */
	T_EQ_INT(mq_enqueue_burst(&p, in, 1), 1);
	mq_kick(&p);
	T_ASSERT(!readable(efd));

	/* Work is waiting: preparing to sleep says no and clears the flag. */
	T_EQ_INT(mq_prepare_sleep(&c), 0);
	T_EQ_INT(h->cons_sleeping, 0);
	T_EQ_INT(mq_dequeue_burst(&c, out, 4), 1);

	/* Empty: the consumer announces sleep, the producer kicks. */
	T_EQ_INT(mq_dequeue_burst(&c, out, 4), 0);
	T_EQ_INT(mq_prepare_sleep(&c), 1);
	T_EQ_INT(h->cons_sleeping, 1);
	T_ASSERT(!readable(efd));
	T_EQ_INT(mq_enqueue_burst(&p, in, 2), 2);
	mq_kick(&p);
	T_ASSERT(readable(efd));
	mq_wake_done(&c);
	T_EQ_INT(h->cons_sleeping, 0);
	T_ASSERT(!readable(efd));	/* drained: poll blocks next time */
	T_EQ_INT(mq_dequeue_burst(&c, out, 4), 2);
	T_EQ_MEM(out, in, 2 * sizeof in[0]);

	/* After waking, kicks stop again. */
	T_EQ_INT(mq_enqueue_burst(&p, in, 1), 1);
	mq_kick(&p);
	T_ASSERT(!readable(efd));
	shm_close(&s);
	close(efd);
}

/* mq_peek sees what is queued from either end, across the wrap, and
 * consumes nothing. */
static void
test_peek(void)
{
	struct shm s;
	struct mq_end p, c;
	struct mq_desc in[NSLOTS], out[NSLOTS];

	T_ASSERT(pair_open(&s, &p, &c, NSLOTS, -1) == 0);
	mkdescs(in, NSLOTS, 200);
	T_EQ_INT(mq_enqueue_burst(&p, in, NSLOTS - 2), NSLOTS - 2);
	T_EQ_INT(mq_dequeue_burst(&c, out, NSLOTS - 3), NSLOTS - 3);
	T_EQ_INT(mq_enqueue_burst(&p, in + NSLOTS - 2, 2), 2);	/* wraps */
	T_EQ_INT(mq_peek(&p, out, NSLOTS), 3);
	T_EQ_MEM(out, in + NSLOTS - 3, 3 * sizeof in[0]);
	memset(out, 0, sizeof out);
	T_EQ_INT(mq_peek(&c, out, NSLOTS), 3);
	T_EQ_MEM(out, in + NSLOTS - 3, 3 * sizeof in[0]);
	T_EQ_INT(mq_peek(&c, out, 1), 1);
	T_EQ_INT(mq_count(&c), 3);		/* nothing consumed */
	T_EQ_INT(mq_dequeue_burst(&c, out, NSLOTS), 3);
	T_EQ_MEM(out, in + NSLOTS - 3, 3 * sizeof in[0]);
	T_EQ_INT(mq_peek(&p, out, NSLOTS), 0);
	/* a corrupted peer index is refused, as in a burst */
	__atomic_store_n(&p.hdr->cons, p.mine + 5, __ATOMIC_RELAXED);
	T_EQ_INT(mq_peek(&p, out, NSLOTS), 0);
	T_ASSERT(p.broken);
	shm_close(&s);
}

int
main(void)
{
	T_RUN(test_geometry);
	T_RUN(test_peek);
	T_RUN(test_attach_mismatch);
	T_RUN(test_empty_full);
	T_RUN(test_partial_burst);
	T_RUN(test_wrap);
	T_RUN(test_broken_prod);
	T_RUN(test_broken_cons);
	T_RUN(test_desc_ok);
	T_RUN(test_sleep_wake);
	return t_done();
}
