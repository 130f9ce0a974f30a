/*
 * dnscache.h: dsthost names resolved through natd (the uplink's DNS
 * servers), cached by TTL.
 *
 * The cache never blocks: a rule whose name is missing or stale asks for a
 * lookup (the query waits in a queue until one of DNSC_INFLIGHT slots is
 * free) and the flow that needed it waits in policyd's pending list. An
 * answer or a timeout (DNSC_TIMEOUT_MS) settles the entry; a failure is
 * remembered for DNSC_NEG_TTL_MS so that a dead resolver does not turn
 * every new flow into a two-second wait. Fixed memory: DNSC_SLOTS entries
 * in 8-way buckets; a full bucket evicts its least recently used settled
 * entry.
 */
#ifndef MOAT_POLICYD_DNSCACHE_H
#define MOAT_POLICYD_DNSCACHE_H

#include <stdint.h>

#include "msg.h"

#define DNSC_WAYS		8
#define DNSC_SLOTS		2048
#define DNSC_INFLIGHT		32
#define DNSC_TIMEOUT_MS		2000
#define DNSC_NEG_TTL_MS		5000
#define DNSC_MIN_TTL		5
#define DNSC_MAX_TTL		86400

#define DNS_QTYPE_A	1
#define DNS_QTYPE_AAAA	28

enum dnsc_state { DNSC_EMPTY = 0, DNSC_WANT, DNSC_SENT, DNSC_OK, DNSC_FAIL };

struct dnsc_entry {
	char		name[DNS_NAME_MAX];
	uint16_t	qtype;
	uint8_t		state;		/* enum dnsc_state */
	uint8_t		naddr;
	uint32_t	qid;
	uint64_t	until_ms;	/* OK/FAIL: fresh until; WANT/SENT: deadline */
	uint64_t	used_ms;
	uint8_t		addr[DNS_ANSWER_MAX][16];
};

struct dnsc {
	struct dnsc_entry e[DNSC_SLOTS];
	uint32_t	want[DNSC_SLOTS];	/* FIFO of entries waiting to be sent */
	uint32_t	whead, wtail;
	uint32_t	inflight[DNSC_INFLIGHT];	/* entry index + 1, 0 free */
	uint32_t	ninflight;
	uint32_t	nbusy;		/* entries in WANT or SENT: tick scans only then */
	uint32_t	next_qid;
	uint64_t	nqueries, nanswers, ntimeouts;
};

void	dnsc_init(struct dnsc *d);
/*
 * Look name up without side effects: DNSC_OK (with *out), DNSC_FAIL, or
 * DNSC_WANT when it is missing, stale or being resolved.
 */
int	dnsc_peek(struct dnsc *d, const char *name, uint16_t qtype,
	    uint64_t now_ms, const struct dnsc_entry **out);
/* Ask for a lookup unless one is under way or the entry is fresh. */
void	dnsc_want(struct dnsc *d, const char *name, uint16_t qtype,
	    uint64_t now_ms);
/* Next query to send, if a slot is free: 1 and *q filled, else 0. */
int	dnsc_next_query(struct dnsc *d, uint64_t now_ms, struct msg_dns_query *q);
/* Settle an entry from an answer; 1 when it matched a query in flight. */
int	dnsc_answer(struct dnsc *d, const struct msg_dns_answer *a,
	    uint64_t now_ms);
/*
 * Time out lookups past their deadline; returns how many settled.
 * *next_ms gets the earliest remaining deadline (0 none).
 */
int	dnsc_tick(struct dnsc *d, uint64_t now_ms, uint64_t *next_ms);

#endif
