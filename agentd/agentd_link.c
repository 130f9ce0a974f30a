/*
 * agentd_link.c: the vchan side of agentd's loop (placeholder until the
 * transports land: file mode is complete without it).
 */
#include "agentd.h"
#include "log.h"

int
agentd_vchan_setup(struct agentd *ad)
{
	log_warnx("vchan transports are not built yet");
	return -1;
}

void
agentd_vchan_sandboxed(struct agentd *ad)
{
}

void
agentd_vchan_poll(struct agentd *ad, struct pollset *ps)
{
}

void
agentd_vchan_tick(struct agentd *ad)
{
}

void
qx_svc_reply(struct agentd *ad, const struct msg *m)
{
	fatalx("SVC_REPLY without a qrexec agent");
}
