/*
 * limit.h: the per-client rate limits of the JSON rules (format:
 * docs/rules.md, "Rate limits"). A limit rule has "rate", "up", "down"
 * or "burst" and no "action": it never decides a flow. policyd only
 * checks them and hands the table to natd (MSG_LIMITS), whose token
 * buckets drop what goes over.
 */
#ifndef MOAT_POLICYD_LIMIT_H
#define MOAT_POLICYD_LIMIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* Bounds, in bytes per second and bytes. Below 64 kbit/s a 1500-byte
 * packet takes a fifth of a second: more likely a typo than a wish. */
#define LIM_RATE_MIN	(64000ull / 8)			/* 64kbit */
#define LIM_RATE_MAX	(100000000000ull / 8)		/* 100gbit */
#define LIM_BURST_MIN	(2ull * 1024)			/* 2kb: a frame */
#define LIM_BURST_MAX	(64ull * 1024 * 1024)		/* 64mb */
/*
 * Without "burst": what the rate brings in LIM_BURST_MS, and at least
 * LIM_BURST_DEF_MIN (two GSO super-frames). A drop policer needs a deep
 * bucket for TCP: each drop takes a whole super-frame (up to 44
 * segments), and measured through moat (tests/integ/dp_rate.sh, docs/
 * rules.md) a 50 Mbit/s limit gave TCP 8-20 Mbit/s with a 20 ms bucket,
 * 40-43 with 160 ms, 46-49 with 300 ms.
 */
#define LIM_BURST_MS	300
#define LIM_BURST_DEF_MIN	(128ull * 1024)

/* Is this rule object a rate limit (it has "rate", "up", "down" or "burst")? */
int	lim_is_limit(const json_t *o);
/*
 * Check rule ri, a limit, into table t (refused when it would be one too
 * many, names a client an earlier limit already has, or follows a limit
 * of every client). 0, or -1 with one line naming the rule and the field
 * in err.
 */
int	lim_check_rule(size_t ri, const json_t *o, const json_t *names,
	    struct msg_limits *t, char *err, size_t errlen);
/*
 * "50mbit" into bytes per second (kbit, mbit, gbit: 1000, 10^6, 10^9 bits)
 * or "256kb" into bytes (kb, mb: 1024, 1024^2 bytes): a whole number of
 * 1..12 digits and the unit. 0, or -1 when s is not one; the bounds are
 * the caller's.
 */
int	lim_parse_rate(const char *s, size_t len, uint64_t *bytes_per_s);
int	lim_parse_size(const char *s, size_t len, uint64_t *bytes);
/* The burst a rate gets without "burst". */
uint64_t lim_default_burst(uint64_t bytes_per_s);

#endif
