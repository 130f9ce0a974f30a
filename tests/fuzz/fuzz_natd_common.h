/*
 * fuzz_natd_common.h: what the natd fuzz targets that drive the engine
 * alone share (fuzz_natd.c, fuzz_fakeip.c): the buffer pool, natd's engine
 * as both start it, and policyd's side: natd's flow requests kept as they
 * come (f_fr, natd's callback), all of them answered with one action.
 * Included once by each.
 */
#ifndef MOAT_FUZZ_NATD_COMMON_H
#define MOAT_FUZZ_NATD_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "natd/nat.h"
#include "tests/natd_harness.h"

#define NBUFS	64
#define BUFSZ	(65536 + 512)

static uint8_t *mem;
static struct mq_pool pool;

static struct flow_req fr[4096];
static unsigned nfr;

static inline int
f_fr(void *arg, const struct flow_req *r)
{
	(void)arg;
	if (nfr == sizeof(fr) / sizeof(fr[0]))
		return -1;
	fr[nfr++] = *r;
	return 0;
}

/* Every request since the last answer gets action. */
static inline void
answer_all(struct nat_engine *e, uint8_t action, uint64_t now)
{
	unsigned i;

	for (i = 0; i < nfr; i++) {
		struct flow_verdict v;

		memset(&v, 0, sizeof(v));
		v.seq = fr[i].seq;
		v.action = action;
		nat_verdict(e, &v, now);
	}
	nfr = 0;
}

/* natd's engine with a small table, 8 flows pending, 16 frames held; the
 * pool is made once (the fuzzer runs many inputs in one process). */
static inline struct nat_engine *
fuzz_nat_new(const struct nat_io *io)
{
	struct nat_config c;
	struct nat_engine *e;

	if (mem == NULL)
		mem = nh_pool_new(&pool, NBUFS, BUFSZ);
	nh_config(&c, 64, 16, 8, 1);
	c.pending_max = 8;
	c.hold_max = 16;
	c.secret = 2;
	if ((e = nat_new(&c, &pool, io)) == NULL)
		abort();
	return e;
}

#endif
