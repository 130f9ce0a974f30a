/*
 * nbh_main.c: nb_backend_xen under the loopback test core, as a program:
 * a netbackd whose natd echoes every frame back where it came from. It
 * finds its Xen like netbackd does (MOAT_FAKEXEN=<socket> and
 * MOAT_FAKEXEN_DOMID=<id>, else /dev/xen).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>

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
	if ((sh = nbh_shared_new()) == NULL)
		return 1;
	signal(SIGTERM, stop);
	signal(SIGINT, stop);
	nbh_run(sh, NULL);
}
