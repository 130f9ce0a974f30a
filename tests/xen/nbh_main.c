/*
 * nbh_main.c: nb_backend_xen under the loopback test core, as a program:
 * a netbackd whose natd echoes every frame back where it came from, on
 * the fake Xen named by MOAT_FAKEXEN=<socket> and MOAT_FAKEXEN_DOMID=<id>
 * (fakexen_env.c), or on /dev/xen when MOAT_FAKEXEN is unset.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "fakexen.h"
#include "nbh.h"

static struct nbh_shared *sh;

static void
stop(int sig)
{
	(void)sig;
	sh->stop = 1;
}

int
main(void)
{
	struct xen_if *x = NULL;	/* NULL: the backend opens /dev/xen */

	if (getenv("MOAT_FAKEXEN") != NULL && (x = fx_open_env()) == NULL)
		return 1;
	if ((sh = nbh_shared_new()) == NULL)
		return 1;
	signal(SIGTERM, stop);
	signal(SIGINT, stop);
	nbh_run(sh, x);
}
