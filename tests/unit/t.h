/*
 * t.h: a tiny TAP harness for unit tests.
 *
 * A test is a void function; T_ASSERT stops it at the first broken
 * expectation and T_EXPECT records a failure and goes on. main() calls
 * t_run() for each test and returns t_done(). Output is TAP, which
 * tests/run counts.
 */
#ifndef MOAT_T_H
#define MOAT_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_num, t_failed_total, t_cur_failed;

static inline void
t_fail(const char *file, int line, const char *what)
{
	printf("# %s:%d: %s\n", file, line, what);
	t_cur_failed++;
}

#define T_EXPECT(c) do { if (!(c)) t_fail(__FILE__, __LINE__, #c); } while (0)
#define T_ASSERT(c) do { if (!(c)) { t_fail(__FILE__, __LINE__, #c); return; } } while (0)
#define T_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { char _m[256]; snprintf(_m, sizeof _m, "%s == %s (%lld != %lld)", #a, #b, _a, _b); \
	t_fail(__FILE__, __LINE__, _m); return; } } while (0)
#define T_EQ_STR(a, b) do { const char *_a = (a), *_b = (b); \
	if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) { char _m[512]; \
	snprintf(_m, sizeof _m, "%s == %s (\"%s\" != \"%s\")", #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
	t_fail(__FILE__, __LINE__, _m); return; } } while (0)
#define T_EQ_MEM(a, b, n) do { if (memcmp((a), (b), (n)) != 0) { \
	t_fail(__FILE__, __LINE__, "memcmp(" #a ", " #b ", " #n ") == 0"); return; } } while (0)

static inline void
t_run(const char *name, void (*fn)(void))
{
	t_cur_failed = 0;
	fn();
	t_num++;
	if (t_cur_failed) {
		t_failed_total++;
		printf("not ok %d - %s\n", t_num, name);
	} else
		printf("ok %d - %s\n", t_num, name);
	fflush(stdout);
}

#define T_RUN(fn) t_run(#fn, fn)

static inline void
t_skip(const char *name, const char *why)
{
	t_num++;
	printf("ok %d - %s # SKIP %s\n", t_num, name, why);
}

static inline int
t_done(void)
{
	printf("1..%d\n", t_num);
	return t_failed_total ? 1 : 0;
}

#endif
