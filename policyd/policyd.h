/*
 * policyd.h: the flow loop policyd runs between natd's request ring and
 * its verdict ring, shared by the daemon and tests/bench/bench_policy.
 *
 * Requests are taken from the ring only while their verdicts are sure to
 * fit (natd's verdict ring, plus a local queue for answers that come
 * later), so a stalled natd slows policyd down instead of losing verdicts.
 * A flow whose decision needs a dsthost name waits in a bounded list for at
 * most PD_DNS_WAIT_MS; other flows keep being answered meanwhile.
 */
#ifndef MOAT_POLICYD_H
#define MOAT_POLICYD_H

#include <stdint.h>

#include "engine.h"
#include "flowreq.h"
#include "ring.h"

#define PD_BURST	64
#define PD_MAX_PENDING	1024
#define PD_DNS_WAIT_MS	2500	/* a little more than DNSC_TIMEOUT_MS */

struct pd_pending {
	struct flow_req	req;
	uint64_t	deadline;
};

struct pd_flows {
	struct engine	*eng;
	struct mq_end	*req;		/* RING_FLOWREQ, consumer */
	struct mq_end	*ver;		/* RING_VERDICT, producer */
	struct pd_pending pending[PD_MAX_PENDING];
	uint32_t	 npending;
	struct flow_verdict outq[PD_MAX_PENDING + PD_BURST];
	uint32_t	 nout;
	uint64_t	 nflows, nwaited, nfull;
};

/*
 * One burst: flush queued verdicts, take up to PD_BURST requests, answer
 * them. Returns the number of requests taken (0: nothing to do, or no
 * room for verdicts).
 */
unsigned pd_flows_step(struct pd_flows *pf, uint64_t now_ms, int64_t now);
/* Decide the waiting flows again (a DNS answer came, or time passed). */
void	pd_flows_retry(struct pd_flows *pf, uint64_t now_ms, int64_t now);
/* Earliest deadline of a waiting flow, 0 when none waits. */
uint64_t pd_flows_deadline(const struct pd_flows *pf);

#endif
