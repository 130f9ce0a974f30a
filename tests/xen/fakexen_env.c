/*
 * fakexen_env.c: the fake Xen a test program is told to use, by the
 * environment a test script sets (MOAT_FAKEXEN=<socket> served by
 * `fakexen serve`, MOAT_FAKEXEN_DOMID=<our domain>). Only test programs
 * link this: the shipped netbackd opens /dev/xen and nothing else.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fakexen.h"
#include "log.h"
#include "xen_valid.h"

struct xen_if *
fx_open_env(void)
{
	const char *sock = getenv("MOAT_FAKEXEN"), *dom = getenv("MOAT_FAKEXEN_DOMID");
	struct fx_world *w;
	uint64_t d;

	if (sock == NULL) {
		log_warnx("no fake Xen named (MOAT_FAKEXEN=<socket>)");
		return NULL;
	}
	/* 0x7fef: the last ordinary domain id, as netbackd's peers check */
	if (dom == NULL || xnv_parse_uint(dom, strlen(dom), 0x7fef, &d) != 0) {
		log_warnx("MOAT_FAKEXEN set without a valid MOAT_FAKEXEN_DOMID");
		return NULL;
	}
	if ((w = fx_connect(sock)) == NULL) {
		log_warn("cannot reach the fake Xen at %s", sock);
		return NULL;
	}
	log_warnx("using the FAKE Xen at %s as domain %u (tests only)", sock, (unsigned)d);
	return fx_open(w, (unsigned)d);
}
