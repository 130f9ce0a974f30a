/*
 * agentd_sandbox.c: what agentd may do once sandboxed, one line per
 * system call, each saying which code path needs it. The common rules
 * (logging, the control channel, exit, memory) are in sandbox.c.
 *
 * agentd_rules serve every mode. With the socket transport (Qubes' test
 * builds) agentd must connect to new UNIX sockets for every qrexec call
 * (the data vchan) and whenever dom0 restarts a daemon, so its root is the
 * vchan directory (main() sets the policy's root to it): connect() reaches
 * those sockets and nothing else; agentd_socket_rules are added in that
 * mode only. Its listening socket (qrexec, port 512) is bound before the
 * sandbox and kept for its lifetime; bind/listen/unlink/chmod serve only
 * the data vchan of its own call to dom0, inside the vchan directory.
 * With the Xen transport, libxenvchan opens devices in /dev/xen for every
 * new vchan: agentd_xen.c gives it a root holding only those devices and
 * adds its own table (agentd_xen_rules) in that mode only. On Xen agentd
 * therefore has no socket call at all.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <fcntl.h>

#include "agentd.h"
#include "sandbox.h"

static const struct sc_rule agentd_rules[] = {
	SC_ALLOW(epoll_wait, "the main loop (evloop)"),
	/* its parts want other descriptors every round (pollset_wait) */
	SC_ALLOW(epoll_ctl, "the main loop: a round's vchan and control descriptors in and out"),
	SC_ALLOW(restart_syscall, "usleep (xen) resumes so after a stop"),
	SC_ALLOW_ARG(fcntl, 1, F_GETFL, "set_nonblock: the control channel, new vchan sockets"),
	SC_ALLOW_ARG(fcntl, 1, F_SETFL, "set_nonblock: O_NONBLOCK on them"),
	SC_ALLOW_ARG(fcntl, 1, F_ADD_SEALS, "memfd_from: sealing a service's input"),
	SC_ALLOW(memfd_create, "MSG_SVC_REQ: a service's input travels in a memfd"),
	SC_ALLOW(newfstatat, "memfd_read: the size of a service's reply (glibc's fstat); stat() in xs_open (xen)"),
	SC_ALLOW(pread64, "memfd_read: a service's reply"),
	/* MREMAP_MAYMOVE only: no mapping moved onto an address of our choosing */
	SC_ALLOW_BITS(mremap, 3, MREMAP_MAYMOVE, "realloc of a call's input (up to 1 MiB) and QubesDB entries"),
};

const struct sc_rule agentd_socket_rules[] = {
	SC_ALLOW(accept4, "qrexec: a dom0 qrexec-daemon connecting to port 512"),
	SC_ALLOW(connect, "vchan client: QubesDB (port 111) and each call's data vchan"),
	SC_ALLOW_ARG(socket, 0, AF_UNIX, "a new client socket, UNIX only"),
	SC_ALLOW(recvfrom, "vchan sockets (libc recv)"),
	SC_ALLOW(sendto, "vchan sockets (libc send)"),
	/* Our own call to dom0 (moat.StoredRules at start): dom0 connects to
	 * us, so we serve its data vchan: a new socket in the vchan directory
	 * (our root), which must be writable by our uid (docs/qubes.md). */
	SC_ALLOW(bind, "data vchan server of our call to dom0: its socket"),
	SC_ALLOW(listen, "the same socket"),
	SC_ALLOW(unlink, "vchan_socket_server: a stale socket of that name"),
	SC_ALLOW(unlinkat, "the same, through libc paths that use unlinkat"),
	SC_ALLOW(chmod, "vchan_socket_server: 0666, so a dom0 under another uid can connect"),
	SC_ALLOW(fchmodat, "the same, through libc paths that use fchmodat"),
};
const size_t agentd_socket_nrules = sizeof(agentd_socket_rules) / sizeof(agentd_socket_rules[0]);

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
