/*
 * policyd_sandbox.c: the system calls policyd makes after MSG_START
 * beyond sandbox_common_rules (control channel, rings, eventfds, memfds,
 * memory, time, exit). policyd opens nothing and has no socket: its
 * only ways out are the control channel and its two rings.
 */
#include <stddef.h>
#include <sys/syscall.h>

#include "sandbox.h"

const struct sc_rule policyd_sc_rules[] = {
	SC_ALLOW(poll, "main loop: control channel and the flow-request eventfd"),
	SC_ALLOW(ppoll, "main loop, where libc implements poll() with ppoll"),
};
const size_t policyd_sc_nrules = sizeof policyd_sc_rules / sizeof policyd_sc_rules[0];
