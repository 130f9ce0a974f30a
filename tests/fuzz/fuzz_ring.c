/*
 * fuzz_ring.c: the fuzzer plays a hostile peer. Its bytes become a ring's
 * shared header (indices, sleeping flag, even the geometry fields) and slot
 * contents, then a script of moves: dequeue bursts, the peer rewriting prod
 * or a slot between bursts, enqueues by our own producer end against a
 * forged cons, sleep preparation. Every descriptor that mq_desc_ok accepts
 * is read in full from the pool. The ring and the pool are allocated at
 * their exact sizes, so ASan reports any access past either; the target
 * also aborts when a call breaks its contract (more elements than asked
 * for or than the ring holds, elements that are not the slots' contents,
 * a broken end coming back to life).
 *
 * Input: [geometry][pool][flags][prod u32][cons u32][sleeping u32]
 * [magic u32][nslots u32][elemsz u32] (the last three only when flags say
 * so), then nslots * elemsz bytes of slots, then the move script.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cursor {
	const uint8_t	*p;
	size_t		 n;
};

/* Missing input reads as zeros, so every prefix is a complete case. */
static uint8_t
get8(struct cursor *c)
{
	if (c->n == 0)
		return 0;
	c->n--;
	return *c->p++;
}

static uint32_t
get32(struct cursor *c)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v |= (uint32_t)get8(c) << (8 * i);
	return v;
}

static void
getbytes(struct cursor *c, uint8_t *dst, size_t n)
{
	size_t k = n < c->n ? n : c->n;

	memcpy(dst, c->p, k);
	memset(dst + k, 0, n - k);
	c->p += k;
	c->n -= k;
}

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

/* Read every byte mq_desc_ok vouched for; the sum keeps the reads alive. */
static volatile uint32_t sink;

static void
use_desc(const struct mq_pool *pool, const struct mq_desc *d)
{
	const uint8_t *b;
	uint32_t i, sum = 0;

	if (!mq_desc_ok(pool, d))
		return;
	CHECK(d->buf < pool->nbufs);
	CHECK((uint64_t)d->off + d->len <= pool->bufsz);
	b = mq_buf(pool, d->buf);
	CHECK(b != NULL);
	b += d->off;
	for (i = 0; i < d->len; i++)
		sum += b[i];
	if (d->flags & MQ_F_NEEDS_CSUM) {
		CHECK((uint32_t)d->csum_start + d->csum_offset + 2 <= d->len);
		sum += b[d->csum_start + d->csum_offset];
		sum += b[d->csum_start + d->csum_offset + 1];
	}
	sink += sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor c = { data, size };
	struct mq_ring_hdr *h;
	struct mq_end cons, prod;
	struct mq_pool pool;
	uint8_t *ring = NULL, *bufs = NULL, *out = NULL, *in = NULL, *slots;
	uint8_t g, pg, flags, op;
	uint32_t nslots, elemsz, nbufs, bufsz, before, idx, i;
	unsigned k, max, was_broken;
	size_t rlen;
	int descs, prod_ok;

	g = get8(&c);
	nslots = 2u << (g & 3);				/* 2..16 */
	descs = (g & 4) == 0;
	elemsz = descs ? sizeof(struct mq_desc) : 8u * (1 + ((g >> 3) & 7));
	pg = get8(&c);
	nbufs = 1 + (pg & 7);
	bufsz = 64u << ((pg >> 3) & 7);			/* 64..8192 */
	flags = get8(&c);

	rlen = mq_ring_bytes(nslots, elemsz);
	CHECK(rlen != 0);
	ring = aligned_alloc(MQ_CACHELINE, rlen);
	bufs = malloc((size_t)nbufs * bufsz);
	out = malloc((size_t)nslots * 2 * elemsz);
	in = malloc((size_t)nslots * 2 * elemsz);
	if (ring == NULL || bufs == NULL || out == NULL || in == NULL)
		goto done;
	memset(bufs, 0xa5, (size_t)nbufs * bufsz);
	CHECK(mq_ring_format(ring, rlen, nslots, elemsz) == 0);
	CHECK(mq_pool_init(&pool, bufs, (size_t)nbufs * bufsz, nbufs, bufsz) == 0);
	h = (struct mq_ring_hdr *)ring;
	slots = ring + sizeof *h;

	/* The peer's view of the shared header. */
	h->prod = get32(&c);
	h->cons = get32(&c);
	h->cons_sleeping = get32(&c);
	if (flags & 1) {
		h->magic = get32(&c);
		h->nslots = get32(&c);
		h->elemsz = get32(&c);
	}
	getbytes(&c, slots, (size_t)nslots * elemsz);

	if (mq_attach(&cons, ring, rlen, nslots, elemsz, MQ_CONSUMER, -1) == -1) {
		/* A refused attach must leave an end that does nothing. */
		CHECK(cons.broken);
		CHECK(mq_dequeue_burst(&cons, out, nslots) == 0);
		CHECK(mq_count(&cons) == 0);
		goto done;
	}
	CHECK(h->magic == MQ_MAGIC && h->nslots == nslots && h->elemsz == elemsz);
	CHECK(h->prod - h->cons <= nslots);
	prod_ok = mq_attach(&prod, ring, rlen, nslots, elemsz, MQ_PRODUCER, -1) == 0;

	while (c.n > 0) {
		op = get8(&c);
		switch (op % 6) {
		case 0:		/* dequeue a burst and use what is valid */
			max = 1 + get8(&c) % (2 * nslots);
			before = cons.mine;
			was_broken = cons.broken;
			k = mq_dequeue_burst(&cons, out, max);
			CHECK(k <= max && k <= nslots);
			CHECK(cons.mine == before + k);
			if (was_broken)
				CHECK(k == 0 && cons.broken);
			for (i = 0; i < k; i++) {
				/* Each element is a copy of its slot, wrap included. */
				idx = (before + i) & (nslots - 1);
				CHECK(memcmp(out + (size_t)i * elemsz,
				    slots + (size_t)idx * elemsz, elemsz) == 0);
				if (descs)
					use_desc(&pool, (struct mq_desc *)
					    (void *)(out + (size_t)i * elemsz));
			}
			break;
		case 1:		/* the peer moves prod anywhere */
			h->prod = get32(&c);
			break;
		case 2:		/* the peer rewrites a slot */
			idx = get8(&c) % nslots;
			getbytes(&c, slots + (size_t)idx * elemsz, elemsz);
			break;
		case 3:		/* our producer end, against a forged cons */
			if (get8(&c) & 1)
				h->cons = get32(&c);
			if (!prod_ok)
				break;
			max = get8(&c) % (2 * nslots + 1);
			getbytes(&c, in, (size_t)max * elemsz);
			was_broken = prod.broken;
			k = mq_enqueue_burst(&prod, in, max);
			CHECK(k <= max && k <= nslots);
			if (was_broken)
				CHECK(k == 0);
			mq_kick(&prod);
			CHECK(mq_free(&prod) <= nslots);
			break;
		case 4:		/* about to sleep */
			was_broken = cons.broken;
			if (mq_prepare_sleep(&cons) == 0)
				CHECK(!cons.broken);
			CHECK(!was_broken || cons.broken);
			break;
		case 5:
			CHECK(mq_count(&cons) <= nslots);
			CHECK(mq_free(&cons) <= nslots);
			break;
		}
	}
done:
	free(ring);
	free(bufs);
	free(out);
	free(in);
	return 0;
}
