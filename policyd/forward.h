/*
 * forward.h: the "forward" rules of the JSON rules: inbound port
 * forwarding from the uplink to a client (format: docs/rules.md, "Forwarding
 * a port to a qube"). policyd only checks them and hands the table to natd
 * (MSG_FORWARDS); they never decide an outbound flow.
 */
#ifndef MOAT_POLICYD_FORWARD_H
#define MOAT_POLICYD_FORWARD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* Is this rule object a forward ("action": "forward")? */
int	fwd_is_forward(const json_t *o);
/*
 * Check rule ri, a forward, into out (toward table t: refused when it
 * would be one too many, or overlaps an earlier forward). 0, or -1 with
 * one line naming the rule and the field in err.
 */
int	fwd_check_rule(size_t ri, const json_t *o, const json_t *names,
	    struct msg_forwards *t, char *err, size_t errlen);

/* jrules.c: a client named in "names" or an IPv4 address: 0 and *ip. */
int	jr_client_addr(const json_t *names, const char *s, uint32_t *ip);

#endif
