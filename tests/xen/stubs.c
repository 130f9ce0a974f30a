/*
 * stubs.c: weak stand-ins for common/log.c, so the Xen tests link before
 * (and after) the real logging lands; the real definitions win when present.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

#include "log.h"
#include "tests/testutil.h"

static int stub_level = LOG_LVL_WARN;
/* Lines a daemon at its default level (info) would have written, shown or
 * not: what a hostile peer costs the supervisor's log ring (nbh.h). */
unsigned long xen_test_log_lines;

__attribute__((weak)) void
log_vmsg(int level, const char *fmt, va_list ap)
{
	if (level <= LOG_LVL_INFO)
		xen_test_log_lines++;
	if (level > stub_level && getenv("MOAT_TEST_VERBOSE") == NULL)
		return;
	fprintf(stderr, "xen-test: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((weak)) void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

__attribute__((weak)) int
log_getlevel(void)
{
	return stub_level;
}

__attribute__((weak)) void
log_warn(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_WARN, "%s: %s", buf, strerror(e));
}

__attribute__((weak)) void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

__attribute__((weak)) void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

__attribute__((weak)) void
log_rl_msg(struct log_rl *rl, uint32_t key, int level, const char *fmt, ...)
{
	va_list ap;

	(void)rl;
	(void)key;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

__attribute__((weak)) uint64_t
now_ms(void)
{
	return tu_now_ms();
}
