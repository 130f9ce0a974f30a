/*
 * agentd_sandbox.c: what agentd may do once sandboxed, one line per
 * system call, each saying which code path needs it. The common rules
 * (logging, the control channel, exit, memory) are in sandbox.c.
 *
 * agentd talks to dom0 over vchans. With the socket transport it must
 * connect to new UNIX sockets for every qrexec call (the data vchan) and
 * whenever dom0 restarts a daemon, so its root is the vchan directory
 * (main() sets the policy's root to it): connect() reaches those sockets
 * and nothing else. Its listening socket (qrexec, port 512) is bound
 * before the sandbox and kept for its lifetime, so bind/listen/unlink are
 * not here.
 * With the Xen transport, libxenvchan opens devices in /dev/xen for every new
 * vchan: agentd_xen.c gives it a root holding only those devices and
 * adds its own table (agentd_xen_rules) in that mode only.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <fcntl.h>

#include "agentd.h"
#include "sandbox.h"

static const struct sc_rule agentd_rules[] = {
	SC_ALLOW(accept4, "qrexec: a dom0 qrexec-daemon connecting to port 512 (socket vchan)"),
	SC_ALLOW(close, "closing finished call vchans and memfds"),
	SC_ALLOW(connect, "vchan client: QubesDB (port 111) and each call's data vchan (socket vchan)"),
	SC_ALLOW(fcntl, "O_NONBLOCK on new vchan sockets, memfd seals"),
	SC_ALLOW(fstat, "memfd_read: the size of a service's reply"),
	SC_ALLOW(getpid, "MSG_READY carries our pid"),
	SC_ALLOW(lseek, "memfd_read/memfd_from: rewinding a service's memfd"),
	SC_ALLOW(memfd_create, "MSG_SVC_REQ: a service's input travels in a memfd"),
	SC_ALLOW(mmap, "malloc of call buffers and service output"),
	SC_ALLOW(munmap, "free of call buffers"),
	SC_ALLOW(mremap, "realloc of call buffers"),
	SC_ALLOW(poll, "the main loop"),
	SC_ALLOW(ppoll, "the main loop (libc may implement poll with ppoll)"),
	SC_ALLOW(pread64, "memfd_read: a service's reply"),
	SC_ALLOW(read, "vchan sockets; the event-channel fd (xen)"),
	SC_ALLOW(recvfrom, "vchan sockets (libc recv)"),
	SC_ALLOW(sendto, "vchan sockets (libc send)"),
	SC_ALLOW_ARG(socket, 0, AF_UNIX, "socket vchan: a new client socket, UNIX only"),
	SC_ALLOW(write, "vchan sockets, the log, memfd_from; the event-channel fd (xen)"),
};

const struct sandbox_policy agentd_sandbox_policy = {
	.name = "agentd",
	.uid = MOAT_UID_BASE + PROC_AGENTD,
	.gid = MOAT_UID_BASE + PROC_AGENTD,
	/* control channel, log, QubesDB, qrexec listener + control, the Xen
	 * handles, and per call a data vchan and a memfd */
	.nofile = 256,
	.as_bytes = 0,
	.rules = agentd_rules,
	.nrules = sizeof(agentd_rules) / sizeof(agentd_rules[0]),
};
