/*
 * daemon.c: the control messages every daemon answers the same way.
 */
#include <stdlib.h>

#include "daemon.h"
#include "log.h"
#include "sandbox.h"

int
daemon_common_msg(const struct msg *m)
{
	switch (m->hdr.type) {
	case MSG_LOGLEVEL: {
		struct msg_loglevel ll;

		if (msg_get(m, MSG_LOGLEVEL, &ll, sizeof ll) < 0 || ll.level > LOG_LVL_DEBUG)
			fatalx("bad LOGLEVEL from the supervisor");
		log_setlevel((int)ll.level);
		return 1;
	}
#ifdef MOAT_TEST_HOOKS
	case MSG_TEST_SYSCALL: {
		struct msg_test_syscall t;

		if (msg_get(m, MSG_TEST_SYSCALL, &t, sizeof t) < 0)
			fatalx("bad TEST_SYSCALL from the supervisor");
		sandbox_test_forbidden(t.what);
		return 1;
	}
#endif
	default:
		return 0;
	}
}

void
daemon_recv_end(int rc, const char *why)
{
	if (rc == MSG_AGAIN)
		return;
	if (rc == MSG_EOF)
		exit(0);	/* the supervisor is gone */
	fatalx("control channel: %s", why ? why : "error");
}

int
daemon_recv(struct msg *m)
{
	const char *why = NULL;
	int rc;

	if ((rc = msg_recv(MSG_PARENT_FD, m, PROC_MOAT, &why)) == 1)
		return 1;
	daemon_recv_end(rc, why);
	return 0;
}
