/*
 * netbackd_fakexen.c: what makes tests/xen/netbackd-fakexen, the shipped
 * netbackd's objects linked with -Wl,--wrap=xen_real_open, run on the fake
 * Xen: the backend's one call to open Xen lands here instead of in
 * xen_real.c, and gets the fake named by MOAT_FAKEXEN (fakexen_env.c).
 * The supervisor starts this binary as netbackd when a test points
 * MOAT_LIBEXEC at a directory that names it so (moat_fakexen.sh).
 */
#include "config.h"

#include "fakexen.h"

struct xen_if *__wrap_xen_real_open(void);

struct xen_if *
__wrap_xen_real_open(void)
{
	/* Never the real Xen: a test that forgot MOAT_FAKEXEN fails here
	 * rather than reaching for /dev/xen on the host. */
	return fx_open_env();
}
