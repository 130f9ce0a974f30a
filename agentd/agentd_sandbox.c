/*
 * agentd_sandbox.c: what agentd may do once sandboxed, one line per
 * system call, each saying which code path needs it. The common rules
 * (logging, the control channel, exit, memory) are in sandbox.c.
 *
 * One table, agentd_rules: lines without a mode serve every mode (the
 * file source too), the others only the transport they name (main() sets
 * the policy's mode). With the socket transport (Qubes' test
 * builds) agentd must connect to new UNIX sockets for every qrexec call
 * (the data vchan) and whenever dom0 restarts a daemon, so its root is the
 * vchan directory (main() sets the policy's root to it): connect() reaches
 * those sockets and nothing else; those lines serve that mode only. Its listening socket (qrexec, port 512) is bound before the
 * sandbox and kept for its lifetime; bind/listen/unlink/chmod serve only
 * the data vchan of its own call to dom0, inside the vchan directory.
 * With the Xen transport, libxenvchan opens devices in /dev/xen for every
 * new vchan: agentd_xen.c gives it a root holding only those devices, and
 * the Xen lines serve that mode only. On Xen agentd therefore has no
 * socket call at all (test_sandbox_tables checks).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <xenctrl.h>	/* types only (domid_t for the device headers); not linked */
/* after xenctrl.h, which defines the domid_t they use */
#include <xen/sys/evtchn.h>
#include <xen/sys/gntalloc.h>
#include <xen/sys/gntdev.h>

#include "agentd.h"
#include "sandbox.h"

/* One ioctl line below serves both devices. */
_Static_assert(IOCTL_GNTALLOC_SET_UNMAP_NOTIFY == IOCTL_GNTDEV_SET_UNMAP_NOTIFY,
    "gntalloc's and gntdev's SET_UNMAP_NOTIFY differ");

/* Lines without a mode serve every mode. */
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

	/* The socket transport only (see the top). */
	SC_ALLOW_IN(AGENTD_SC_SOCKET, accept4, "qrexec: a dom0 qrexec-daemon connecting to port 512"),
	SC_ALLOW_IN(AGENTD_SC_SOCKET, connect, "vchan client: QubesDB (port 111) and each call's data vchan"),
	SC_ALLOW_ARG_IN(AGENTD_SC_SOCKET, socket, 0, AF_UNIX, "a new client socket, UNIX only"),
	SC_ALLOW_IN(AGENTD_SC_SOCKET, recvfrom, "vchan sockets (libc recv)"),
	SC_ALLOW_IN(AGENTD_SC_SOCKET, sendto, "vchan sockets (libc send)"),
	/* Our own call to dom0 (moat.StoredRules at start): dom0 connects to
	 * us, so we serve its data vchan: a new socket in the vchan directory
	 * (our root), which must be writable by our uid (docs/qubes.md). */
	SC_ALLOW_IN(AGENTD_SC_SOCKET, bind, "data vchan server of our call to dom0: its socket"),
	SC_ALLOW_IN(AGENTD_SC_SOCKET, listen, "the same socket"),
	SC_ALLOW_IN(AGENTD_SC_SOCKET, unlink, "vchan_socket_server: a stale socket of that name"),
	SC_ALLOW_IN(AGENTD_SC_SOCKET, unlinkat, "the same, through libc paths that use unlinkat"),
	SC_ALLOW_IN(AGENTD_SC_SOCKET, chmod, "vchan_socket_server: 0666, so a dom0 under another uid can connect"),
	SC_ALLOW_IN(AGENTD_SC_SOCKET, fchmodat, "the same, through libc paths that use fchmodat"),

	/* The Xen transport only: the calls libxenvchan, libxengnttab/gntshr,
	 * libxenevtchn and libxenstore make once agentd is sandboxed, read off
	 * Debian's Xen 4.17 libraries: what they import from libc and, where
	 * it matters, the arguments at each call site. */
	SC_ALLOW_IN(AGENTD_SC_XEN, access, "xs_open (libxenvchan, per new vchan): access(\"/dev/xen/xenbus\")"),
	SC_ALLOW_IN(AGENTD_SC_XEN, faccessat, "the same, through libc paths without access(2)"),
	SC_ALLOW_IN(AGENTD_SC_XEN, openat, "libxenvchan: /dev/xen/* in agentd's private root, per new vchan"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, rt_sigaction, 0, SIGPIPE,
	    "libxenstore: every request ignores SIGPIPE around its write, then restores it"),
	SC_ALLOW_IN(AGENTD_SC_XEN, clock_nanosleep, "libxengnttab: a grant mmap failing with EAGAIN is retried after usleep(1000)"),
	SC_ALLOW_IN(AGENTD_SC_XEN, nanosleep, "the same usleep, with a libc that does not use clock_nanosleep"),
	/*
	 * ioctl only for the requests Debian's Xen 4.17 libraries issue on
	 * the paths agentd reaches once sandboxed (read off their
	 * disassembly; the numbers match Linux 6.1's uapi headers). The
	 * devices are opened per vchan by libxenvchan; xengnttab_open,
	 * xengntshr_open and xenevtchn_open issue no device request, but
	 * each asks libxentoollog for a logger, which calls isatty();
	 * libxenstore issues none.
	 */
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_EVTCHN_BIND_UNBOUND_PORT,
	    "libxenvchan_server_init: a channel for the client to bind"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_EVTCHN_BIND_INTERDOMAIN,
	    "libxenvchan_client_init: bind the server's channel"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_EVTCHN_NOTIFY,
	    "libxenvchan read/write/close: kick the peer"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_EVTCHN_UNBIND,
	    "libxenvchan_{server,client}_init failing half-way (close() unbinds otherwise)"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_GNTALLOC_ALLOC_GREF,
	    "server: xengntshr_share_page{s,_notify} grants the ring and buffers"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_GNTALLOC_DEALLOC_GREF,
	    "server: xengntshr_share_* drops the fd's hold right after mmap (unshare is munmap)"),
	/* the same number for gntalloc and gntdev (asserted above) */
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_GNTALLOC_SET_UNMAP_NOTIFY,
	    "server share_page_notify / client map_grant_ref_notify: clear the live byte and kick if we die"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_GNTDEV_MAP_GRANT_REF,
	    "client: xengnttab_map_{grant_ref_notify,domain_grant_refs}, the server's ring and buffers"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR,
	    "client: xengnttab_unmap finds the mapping's offset (libxenvchan_close, failed init)"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, IOCTL_GNTDEV_UNMAP_GRANT_REF,
	    "client: xengnttab_unmap after munmap, and map_*_notify failing half-way"),
	SC_ALLOW_ARG_IN(AGENTD_SC_XEN, ioctl, 1, TCGETS,
	    "isatty(stderr): xen{gnttab,gntshr,evtchn}_open given no logger (libxenvchan passes ours, NULL) make a stdio one"),
	/*
	 * Also used here, from the tables agentd always loads: mmap (read/
	 * write only) and munmap for the rings' pages, read and write on the
	 * event channel and xenbus, newfstatat for xs_open's stat() of
	 * xenstored's socket, close. No privcmd request: see the top.
	 */
};


/* 256 descriptors: control channel, log, QubesDB, qrexec listener +
 * control, the Xen handles, and per call a data vchan and a memfd. */
const struct sandbox_policy agentd_sandbox_policy =
    SANDBOX_POLICY("agentd", PROC_AGENTD, 256, agentd_rules);
