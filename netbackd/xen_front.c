/*
 * xen_front.c: the uplink netfront towards the NetVM (not yet: netbackd
 * runs without an uplink on Xen until this lands).
 */
#include "config.h"

#include <stddef.h>

#include "xen_priv.h"

struct xfront *
xfront_open(struct xenb *b)
{
	(void)b;
	return NULL;
}

int
xfront_on_xs(struct xenb *b, const char *path, const char *token)
{
	(void)b; (void)path; (void)token;
	return 0;
}

int
xfront_on_event(struct xenb *b, int port)
{
	(void)b; (void)port;
	return 0;
}

void
xfront_tx(struct xenb *b, const struct mq_desc *d)
{
	nb_buf_free(b->nb, d->buf);
}

void
xfront_flush(struct xenb *b)
{
	(void)b;
}

void
xfront_tick(struct xenb *b, uint64_t now)
{
	(void)b; (void)now;
}
