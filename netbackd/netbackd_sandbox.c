/*
 * netbackd_sandbox.c: netbackd's sandbox policy and its one seccomp table
 * beyond the common one (sandbox.c): the core's lines, and each backend's,
 * loaded only with that backend (nb_backend.sc_mode). One line per system
 * call, each saying why.
 *
 * netbackd opens nothing after MSG_START: its devices (packet sockets, or
 * the Xen devices) are open by then, the shared queues mapped.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <xenctrl.h>	/* domid_t, which the device headers use */
#include <xen/sys/evtchn.h>
#include <xen/sys/gntalloc.h>
#include <xen/sys/gntdev.h>

#include "nb.h"
#include "sandbox.h"

_Static_assert(IOCTL_GNTALLOC_SET_UNMAP_NOTIFY == IOCTL_GNTDEV_SET_UNMAP_NOTIFY,
    "gntalloc's and gntdev's SET_UNMAP_NOTIFY differ");

/* One table: lines without a mode serve every backend (the core,
 * netbackd.c); the others only the backend they name (nb_backend.sc_mode). */
static const struct sc_rule netbackd_rules[] = {
	SC_ALLOW(epoll_wait, "main loop: control channel, TX ring eventfd, tick timer, the backend's fds"),
	SC_ALLOW(epoll_ctl, "the TX eventfd once started; nb_watch/nb_unwatch of backend fds"),

	/* devnet: AF_PACKET sockets opened (MSG_DEVNET_LINK) before MSG_START. */
	SC_ALLOW_IN(NB_SC_DEVNET, recvmmsg, "a burst of frames from an interface"),
	SC_ALLOW_IN(NB_SC_DEVNET, recvfrom, "recv(): one frame, or the frames queued before bind() drained"),
	/* frames go out with sendmsg, in the common table */

	/*
	 * xen: the netback (xen_back.c), the uplink netfront (xen_front.c), over
	 * Debian's libxengnttab/gntshr, libxenevtchn and libxenstore (xen_real.c).
	 * Nothing here is for tests: the fake Xen (tests/xen/) is not in netbackd,
	 * and tests/xen/netbackd-fakexen runs under this very table. Also used,
	 * from the common table: read/write (event channel, xenbus, the watch pipe), mmap (read/
	 * write only) and munmap (grants), close.
	 */
	/* ioctl only for the named requests of the three devices we opened */
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_GNTDEV_MAP_GRANT_REF, "gntdev: map a frontend's ring pages"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_GNTDEV_UNMAP_GRANT_REF, "gntdev: unmap them at disconnect"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR, "gntdev: libxengnttab's unmap asks it first (SIGSYS at teardown on real Xen without it)"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_GNTDEV_SET_MAX_GRANTS, "gntdev: sizing at open"),
	/* one number for gntdev's and gntalloc's (asserted above) */
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_GNTDEV_SET_UNMAP_NOTIFY,
	    "gntdev: notify the peer if we die; gntalloc: notify the NetVM if we die"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_GNTDEV_GRANT_COPY, "gntdev: TX copy-in, RX copy-out of frames"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_EVTCHN_BIND_INTERDOMAIN, "evtchn: bind a frontend's channel"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_EVTCHN_BIND_UNBOUND_PORT, "evtchn: our uplink netfront's channel"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_EVTCHN_UNBIND, "evtchn: disconnect"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_EVTCHN_NOTIFY, "evtchn: kick a peer"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_GNTALLOC_ALLOC_GREF, "gntalloc: share the uplink's ring and buffers"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, ioctl, 1, IOCTL_GNTALLOC_DEALLOC_GREF, "gntalloc: end that sharing"),
	SC_ALLOW_IN(NB_SC_XEN, futex, "libxenstore: its watch reader thread and our thread share a mutex and "
	    "condition variables"),
	SC_ALLOW_ARG_IN(NB_SC_XEN, rt_sigaction, 0, SIGPIPE,
	    "libxenstore: every request ignores SIGPIPE around its write, then restores it"),
	SC_ALLOW_IN(NB_SC_XEN, clock_nanosleep, "libxengnttab: a grant mmap failing with EAGAIN is retried after usleep(1000)"),
	SC_ALLOW_IN(NB_SC_XEN, nanosleep, "the same usleep, with a libc that does not use clock_nanosleep"),
	SC_ALLOW_IN(NB_SC_XEN, restart_syscall, "that usleep resumes so after a stop (SIGSTOP, a debugger)"),
	/* glibc's malloc in libxenstore's reader thread has an arena of its
	 * own: a backlog of watch events (a client writing its keys fast)
	 * grows it, and frees trim it. */
	SC_ALLOW_BITS_IN(NB_SC_XEN, mprotect, 2, PROT_READ | PROT_WRITE, "growing that arena (read/write, never exec)"),
	SC_ALLOW_IN(NB_SC_XEN, madvise, "trimming it (MADV_DONTNEED); its stack released when it ends"),
	SC_ALLOW_IN(NB_SC_XEN, exit, "that thread ending (xenbus read error), rather than SIGSYS for all of netbackd"),
	SC_DENY_IN(NB_SC_XEN, openat, ENOENT, "glibc reads /proc/sys/vm/overcommit_memory before the first trim: "
	    "the answer the empty root would give, and no open"),
};

const struct sandbox_policy netbackd_sandbox_policy =
    SANDBOX_POLICY("netbackd", PROC_NETBACKD, 4096, netbackd_rules);
