/*
 * xen_util.c: small XenStore helpers over struct xen_if.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "xen_if.h"
#include "xen_valid.h"

int
xen_xs_printf(struct xen_if *x, uint32_t t, const char *path, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		errno = EINVAL;
		return -1;
	}
	return x->xs_write(x, t, path, buf, (unsigned)n);
}

int
xen_xs_read_uint(struct xen_if *x, uint32_t t, const char *path, uint64_t max,
    uint64_t *out)
{
	unsigned len;
	char *v;
	int rc;

	if ((v = x->xs_read(x, t, path, &len)) == NULL)
		return -1;
	rc = xnv_parse_uint(v, len, max, out);
	free(v);
	return rc;
}
