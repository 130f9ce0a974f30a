/*
 * testutil.h: what unit tests, benchmarks and the Xen test programs each
 * used to carry a private copy of: a reference Internet checksum written
 * independently of common/pkt.c (so a test does not check pkt.c against
 * itself), the monotonic clock, and a small seeded random number
 * generator (so a failing run can be replayed). Header-only: static inline
 * functions, no link-time dependency.
 */
#ifndef MOAT_TESTUTIL_H
#define MOAT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/*
 * RFC 1071, the plain way: s plus the big-endian 16-bit words of p[0..n),
 * an odd last byte padded with zero. Not folded: add more (a pseudo-header,
 * a second piece) before tu_fold.
 */
static inline uint32_t
tu_sum16(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

/* End-around carry, not complemented: a pseudo-header sum as a partial
 * checksum holds it; ~tu_fold(...) is the checksum to store. */
static inline uint16_t
tu_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The checksum of p[0..n) as a header stores it. */
static inline uint16_t
tu_csum(const uint8_t *p, size_t n)
{
	return (uint16_t)~tu_fold(tu_sum16(0, p, n));
}

/* CLOCK_MONOTONIC, in the unit each caller wants. */
static inline uint64_t
tu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline double
tu_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Marsaglia's xorshift64 (13, 7, 17): the next state of *s, which must not
 * be 0. Each test keeps its own seed, so its stream is the same every run.
 */
static inline uint64_t
tu_xorshift64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * The start of an IPv6 frame: f[0..clear) zeroed, then an Ethernet header
 * to dst from src for IPv6, and the IPv6 header's version nibble.
 */
static inline void
tu_eth_ip6(uint8_t *f, size_t clear, const uint8_t *dst, const uint8_t *src)
{
	memset(f, 0, clear);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x86;
	f[13] = 0xdd;
	f[14] = 0x60;
}

#endif
