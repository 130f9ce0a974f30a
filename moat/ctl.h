/*
 * ctl.h: the control socket between moatctl and a running moat.
 *
 * A UNIX stream socket (mode 0600: only root may steer the firewall).
 * One request per connection: a fixed header, then in_len bytes of
 * input. One response: a fixed header, then out_len bytes of stdout and
 * err_len bytes of stderr. Sizes are checked against the limits before
 * anything is read or allocated.
 */
#ifndef MOAT_CTL_H
#define MOAT_CTL_H

#include <stdint.h>
#include <assert.h>
#include "msg.h"

#define CTL_MAGIC	0x4d43544cu	/* "MCTL" */
#define CTL_DEFAULT_SOCKET	"/run/moat/control"

enum ctl_op {
	CTL_OP_CALL = 1,	/* run service[+arg] with the input */
	CTL_OP_STATUS = 2,	/* daemons, pids, restarts, uptime */
};

struct ctl_req {
	uint32_t	magic;
	uint32_t	op;
	uint32_t	in_len;		/* <= SVC_MAX_INPUT + 1: one byte over says "too big" */
	uint32_t	pad;
	char		service[SVC_NAME_MAX];	/* NUL-terminated */
	char		arg[SVC_NAME_MAX];	/* NUL-terminated */
};
static_assert(sizeof(struct ctl_req) == 16 + 2 * SVC_NAME_MAX, "ctl_req size");

struct ctl_resp {
	uint32_t	magic;
	int32_t		status;
	uint32_t	out_len;
	uint32_t	err_len;
};
static_assert(sizeof(struct ctl_resp) == 16, "ctl_resp size");

#endif
