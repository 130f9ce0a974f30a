/*
 * natd_sandbox.c: natd's sandbox policy.
 *
 * natd opens nothing after start: every descriptor (control channel,
 * rings' memfd and eventfds, the flow table's memfd) arrives before
 * MSG_START, and everything is mapped by then. Beyond the common table it
 * needs only what the lines below name; the seccomp default kills.
 */
#include <unistd.h>
#include <sys/syscall.h>

#include "log.h"
#include "msg.h"
#include "natd.h"
#include "sandbox.h"
#include "util.h"

static const struct sc_rule natd_rules[] = {
	SC_ALLOW(epoll_wait, "main loop: control channel, ring eventfds, tick timer"),
	SC_ALLOW(read, "draining the RX/VERDICT eventfds and the tick timerfd"),
	SC_ALLOW(write, "kicking netbackd (TX) and policyd (FLOWREQ) eventfds; log lines"),
	SC_ALLOW(recvmsg, "control messages: netconf, links, rule changes, DNS queries, calls"),
	SC_ALLOW(sendmsg, "READY, DNS answers, call results to the supervisor"),
	SC_ALLOW(memfd_create, "moat.Stats / moat.DumpRejects output handed back sealed"),
	SC_ALLOW(fcntl, "sealing that output memfd"),
	SC_ALLOW(close, "closing the output memfd once sent, and unused input memfds"),
	SC_ALLOW(clock_gettime, "CLOCK_MONOTONIC for timeouts, CLOCK_REALTIME for pcap stamps"),
	SC_ALLOW(brk, "malloc of the stats and pcap output buffers"),
	SC_ALLOW(mmap, "malloc of large output buffers"),
	SC_ALLOW(munmap, "freeing them"),
	SC_ALLOW(exit_group, "MSG_SHUTDOWN and fatal errors"),
};

void
natd_sandbox(void)
{
	struct sandbox_policy p = {
		.name = "natd",
		.uid = MOAT_UID_BASE + PROC_NATD,
		.gid = MOAT_UID_BASE + PROC_NATD,
		.nofile = 32,
		.rules = natd_rules,
		.nrules = nitems(natd_rules),
	};
	struct msg_ready r = { .pid = (uint32_t)getpid() };

	r.sandbox = (uint32_t)sandbox_enter(&p);
	if (msg_send(MSG_PARENT_FD, MSG_READY, 0, &r, sizeof(r), -1) < 0)
		fatal("sending READY");
}
