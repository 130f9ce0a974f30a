/*
 * fuzz_input.h: the fuzz input as a stream of bytes, for the targets that
 * draw their events from it one byte at a time (fuzz_egress.c,
 * fuzz_egress6.c). Included once by each; set in_p and in_n to the input
 * first. Past its end every byte reads as 0, so a short input still runs.
 */
#ifndef MOAT_FUZZ_INPUT_H
#define MOAT_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

static const uint8_t *in_p;
static size_t in_n;

static inline uint8_t
get(void)
{
	if (in_n == 0)
		return 0;
	in_n--;
	return *in_p++;
}

#endif
