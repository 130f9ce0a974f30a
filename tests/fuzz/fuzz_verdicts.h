/*
 * fuzz_verdicts.h: policyd's side for the natd fuzz targets that answer
 * every question at once (fuzz_natd.c, fuzz_fakeip.c): natd's flow
 * requests kept as they come (f_fr, natd's callback), and all of them
 * answered with one action.
 */
#ifndef MOAT_FUZZ_VERDICTS_H
#define MOAT_FUZZ_VERDICTS_H

#include <string.h>

#include "natd/nat.h"

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

#endif
