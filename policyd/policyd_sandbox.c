/*
 * policyd_sandbox.c: policyd's sandbox policy; its one table has the
 * system calls policyd makes after MSG_START
 * beyond sandbox_common_rules (control channel, log, malloc, time, exit).
 * policyd opens nothing and has no socket: its only ways out are the
 * control channel and its two rings.
 */
#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "proc.h"
#include "sandbox.h"

static const struct sc_rule policyd_rules[] = {
	/* both sources are added before the sandbox: no epoll_ctl */
	SC_ALLOW(epoll_wait, "main loop (evloop): control channel and the flow-request eventfd"),
	SC_ALLOW(newfstatat, "memfd_read: the size of moat.SetRules input (glibc's fstat)"),
	SC_ALLOW(pread64, "memfd_read: moat.SetRules input"),
	SC_ALLOW(memfd_create, "moat.SetRules/GetRules output handed back sealed (memfd_from)"),
	SC_ALLOW_ARG(fcntl, 1, F_ADD_SEALS, "sealing that output memfd"),
	/* MREMAP_MAYMOVE only: no mapping moved onto an address of our choosing */
	SC_ALLOW_BITS(mremap, 3, MREMAP_MAYMOVE, "realloc of moat.GetRules output (jrules.c) once it is a large block"),
};

const struct sandbox_policy policyd_sandbox_policy =
    SANDBOX_POLICY("policyd", PROC_POLICYD, 64, policyd_rules);
