/*
 * natd_sandbox.c: natd's sandbox policy and its one table.
 *
 * natd opens nothing after start: every descriptor (control channel,
 * rings' memfd and eventfds, the flow table's memfd) arrives before
 * MSG_START, and everything is mapped by then; its randomness too (the
 * conntrack secret and the seed of its port and DNS-id stream are drawn
 * when the queues arrive), so it has no getrandom. Beyond the common table
 * (sandbox.c) it needs only what the lines below name; the seccomp default
 * kills.
 */
#include <fcntl.h>
#include <sys/syscall.h>

#include "msg.h"
#include "natd.h"
#include "sandbox.h"
#include "util.h"

static const struct sc_rule natd_rules[] = {
	SC_ALLOW(epoll_wait, "main loop: control channel, ring eventfds, tick timer"),
	SC_ALLOW(epoll_ctl, "adding the RX/VERDICT eventfds once the loop runs"),
	SC_ALLOW(memfd_create, "moat.Stats / moat.DumpRejects output handed back sealed (memfd_from)"),
	SC_ALLOW_ARG(fcntl, 1, F_ADD_SEALS, "sealing that output memfd"),
};

const struct sandbox_policy natd_sandbox_policy =
    SANDBOX_POLICY("natd", PROC_NATD, 32, natd_rules);
