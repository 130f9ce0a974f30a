/*
 * agentd_xen.c: what the Xen transport needs around the vchans.
 *
 *  - control/shutdown: dom0's qvm-shutdown goes through libxl, which
 *    writes "poweroff" (or "reboot") into our XenStore control/shutdown.
 *    agentd reads it every second, acknowledges a request by clearing the
 *    key as Linux's own handler does, and asks the supervisor to power off
 *    (MSG_POWEROFF), so qvm-shutdown does not time out and kill the VM.
 *    It polls rather than watches: libxenstore serves watches from a
 *    thread of its own, which seccomp (loaded by the main thread only)
 *    would not cover. qvm-shutdown waits up to 60 s; a second is fine.
 *  - the sandbox root: libxenvchan opens /dev/xen/{evtchn,gntdev,
 *    gntalloc,xenbus} for every new vchan (a data vchan per qrexec call).
 *    After sandbox_enter() agentd is no longer root and sees only its
 *    root, so it builds a private one: a tmpfs in its own mount namespace
 *    holding just those character devices, owned by agentd's uid. Nothing
 *    else of the VM's filesystem is reachable.
 *  - no privcmd, ever: a process with a privcmd fd and its HYPERCALL ioctl
 *    can ask Xen for anything the VM's kernel may (its memory included),
 *    which would make every layer of the sandbox moot. Qubes' libvchan
 *    asks Xen for an event channel's status (xc_evtchn_status) to notice a
 *    destroyed peer domain; agentd does not open libxenctrl at all (nor
 *    link it: the vchan libraries never reach libxencall), privcmd is not
 *    in its root and the ioctl not in its table. A peer process that dies
 *    or closes still zeroes its live byte; a peer domain destroyed outright
 *    leaves a call that ends by its own timeouts (agentd_qx.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <xenctrl.h>	/* types only (domid_t for the device headers); not linked */
#include <xenstore.h>
/* after xenctrl.h, which defines the domid_t they use */
#include <xen/sys/evtchn.h>
#include <xen/sys/gntalloc.h>
#include <xen/sys/gntdev.h>

#include "agentd.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"
#include "vchan.h"

#define XEN_ROOT	"/run/moat-agentd-xen"

#define SHUTDOWN_POLL_MS	1000

struct xenctl {
	struct xs_handle	*xs;
	int			 poweroff_sent;
	uint64_t		 next_poll;
};
static struct xenctl	xenctl;

/* Not privcmd: see the top of this file. */
static const char *const xen_devs[] = {
	"evtchn", "gntdev", "gntalloc", "xenbus",
};

/* A root with only the /dev/xen devices, usable by agentd's uid after it drops root. */
static int
xen_root(void)
{
	char src[64], dst[96];
	struct stat st;
	size_t i;
	uid_t uid = MOAT_UID_BASE + PROC_AGENTD;

	/* Our own mount namespace first, so the tmpfs is nobody else's. */
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		log_warn("xen: private mount namespace");
		return -1;
	}
	if ((mkdir(XEN_ROOT, 0755) == -1 && errno != EEXIST) ||
	    mount("moat-agentd", XEN_ROOT, "tmpfs", MS_NOSUID | MS_NOEXEC,
	    "size=16k,mode=0755") == -1 ||
	    mkdir(XEN_ROOT "/dev", 0755) == -1 ||
	    mkdir(XEN_ROOT "/dev/xen", 0755) == -1) {
		log_warn("xen: building %s", XEN_ROOT);
		return -1;
	}
	for (i = 0; i < nitems(xen_devs); i++) {
		snprintf(src, sizeof(src), "/dev/xen/%s", xen_devs[i]);
		snprintf(dst, sizeof(dst), XEN_ROOT "/dev/xen/%s", xen_devs[i]);
		if (stat(src, &st) == -1 || !S_ISCHR(st.st_mode)) {
			log_warnx("xen: %s missing (the VM kernel needs it)", src);
			continue;
		}
		if (mknod(dst, S_IFCHR | 0600, st.st_rdev) == -1 ||
		    chown(dst, uid, uid) == -1) {
			log_warn("xen: %s", dst);
			return -1;
		}
	}
	/* read-only from here on: nothing for agentd to write but devices */
	if (mount(NULL, XEN_ROOT, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID |
	    MS_NOEXEC, NULL) == -1) {
		log_warn("xen: remount %s read-only", XEN_ROOT);
		return -1;
	}
	return 0;
}

int
xenctl_setup(struct agentd *ad, struct vchan_env *env)
{
	if ((xenctl.xs = xs_open(0)) == NULL) {
		log_warn("xen: cannot open XenStore");
		return -1;
	}
	if (ad->domid < 0) {
		char *v = xs_read(xenctl.xs, XBT_NULL, "domid", NULL);
		uint64_t id;

		if (v == NULL || parse_u64(v, 1, 32751, &id) != 0) {
			log_warnx("xen: no --domid and no usable XenStore "
			    "\"domid\" key");
			free(v);
			return -1;
		}
		free(v);
		ad->domid = (int)id;
		env->domid = (int)id;
		log_info("xen: we are domain %d", ad->domid);
	}
	env->xs = xenctl.xs;
	/* env->xc and env->peer_alive stay NULL: no hypercalls here */
	ad->xc = &xenctl;
	return xen_root();
}

const char *
xenctl_root(void)
{
	return XEN_ROOT;
}

static void
xenctl_check(void)
{
	struct msg_poweroff po;
	char *val;
	unsigned int len = 0;

	/* relative: our own /local/domain/<self>/control/shutdown */
	val = xs_read(xenctl.xs, XBT_NULL, "control/shutdown", &len);
	if (val == NULL || len == 0) {
		free(val);
		return;
	}
	memset(&po, 0, sizeof(po));
	if (strcmp(val, "poweroff") == 0 || strcmp(val, "halt") == 0)
		po.reboot = 0;
	else if (strcmp(val, "reboot") == 0)
		po.reboot = 1;
	else {
		log_rl(LOG_LVL_WARN, "xen: ignoring control/shutdown \"%.16s\"",
		    val);
		free(val);
		return;
	}
	free(val);
	/* Acknowledge as Linux does, so the toolstack sees it taken. */
	(void)xs_write(xenctl.xs, XBT_NULL, "control/shutdown", "", 0);
	if (xenctl.poweroff_sent)
		return;
	log_info("xen: dom0 asks for %s", po.reboot ? "reboot" : "poweroff");
	if (msg_send(MSG_PARENT_FD, MSG_POWEROFF, 0, &po, sizeof(po), -1) == -1)
		log_warn("send POWEROFF");
	else
		xenctl.poweroff_sent = 1;
}

void
xenctl_poll(struct agentd *ad, struct pollset *ps)
{
	if (xenctl.xs != NULL)
		pollset_timer(ps, xenctl.next_poll);
}

void
xenctl_tick(struct agentd *ad)
{
	if (xenctl.xs == NULL || now_ms() < xenctl.next_poll)
		return;
	xenctl.next_poll = now_ms() + SHUTDOWN_POLL_MS;
	xenctl_check();
}
