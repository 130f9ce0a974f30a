/*
 * daemon.h: the control messages every daemon answers the same way.
 */
#ifndef MOAT_DAEMON_H
#define MOAT_DAEMON_H

#include "msg.h"

/*
 * MSG_LOGLEVEL (checked and applied) and, in test builds,
 * MSG_TEST_SYSCALL. Returns 1 when m was one of them, 0 otherwise; a
 * malformed one is fatal, like any protocol error from the supervisor.
 */
int	daemon_common_msg(const struct msg *m);
/*
 * The end of a msg_recv() loop: MSG_AGAIN returns; end of file means the
 * supervisor is gone, so the daemon exits quietly; anything else is a
 * broken channel and fatal.
 */
void	daemon_recv_end(int rc, const char *why);
/*
 * The next message from the supervisor into m: 1, or 0 when none is
 * waiting (ended as daemon_recv_end does). Loop: while (daemon_recv(&m)).
 */
int	daemon_recv(struct msg *m);

#endif
