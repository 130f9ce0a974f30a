/*
 * vchan_xen.c: vchans over Xen shared memory, with Xen's libxenvchan for
 * the rings and Qubes' libvchan conventions on top (qubes-core-vchan-xen):
 *   - a server publishes under its own data/vchan/<client>/<port>, i.e.
 *     /local/domain/<server>/data/vchan/<client>/<port>/{ring-ref,
 *     event-channel}, and removes those keys once a client is connected,
 *     so that no second client can attach;
 *   - a client connects only once event-channel exists and is non-empty
 *     (probing XenStore ourselves keeps libxenvchan from logging a failed
 *     attempt every retry);
 *   - peer death: libxenvchan sees a zeroed live byte when the peer
 *     process dies; a destroyed peer domain leaves the byte alone but its
 *     event channel stops being interdomain, which we check as Qubes does
 *     where a hypercall is allowed (env->peer_alive: moat-dom0). agentd
 *     may not make one (issue 12): its calls end by their timeouts.
 * All handles are non-blocking; the event-channel fd drives poll.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxenvchan.h>
#include <xenstore.h>

#include "vchan.h"

static int
xen_pollfd(struct vchan *v, int want_write, short *events)
{
	struct libxenvchan *xv = v->xv;

	if (xv == NULL)
		return -1;
	if (want_write && v->state == VCHAN_CONNECTED)
		/* arms a notification for when the peer frees ring space */
		(void)libxenvchan_buffer_space(xv);
	*events = POLLIN;
	return libxenvchan_fd_for_select(xv);
}

/* Qubes' extra check, where the environment can make it: is our end of
 * the event channel still bound to a live peer domain? */
static int
xen_peer_alive(struct vchan *v)
{
	struct libxenvchan *xv = v->xv;

	if (v->env->peer_alive == NULL)
		return 1;
	return v->env->peer_alive(v->env, (unsigned int)xv->event_port);
}

static void
xen_server_cleanup(struct vchan *v)
{
	char path[128];

	if (v->xs_cleaned || v->env->xs == NULL)
		return;
	snprintf(path, sizeof(path), "/local/domain/%d/data/vchan/%d/%d",
	    v->env->domid, v->peer, v->port);
	(void)xs_rm(v->env->xs, XBT_NULL, path);
	v->xs_cleaned = 1;
}

static int
xen_try_connect(struct vchan *v)
{
	struct libxenvchan *xv;
	char path[128], key[160];
	unsigned int len = 0;
	char *val;

	snprintf(path, sizeof(path), "/local/domain/%d/data/vchan/%d/%d",
	    v->peer, v->env->domid, v->port);
	if (v->env->xs != NULL) {
		snprintf(key, sizeof(key), "%s/event-channel", path);
		val = xs_read(v->env->xs, XBT_NULL, key, &len);
		free(val);
		if (val == NULL || len == 0)
			return 0;
	}
	xv = libxenvchan_client_init(NULL, v->peer, path);
	if (xv == NULL)
		return 0;
	xv->blocking = 0;
	v->xv = xv;
	v->state = VCHAN_CONNECTED;
	return 1;
}

static int
xen_progress(struct vchan *v, short revents)
{
	struct libxenvchan *xv = v->xv;
	int open;

	if (xv == NULL) {
		if (!v->server)
			(void)xen_try_connect(v);
		return v->state;
	}
	if (revents & POLLIN)
		(void)libxenvchan_wait(xv);	/* consume and unmask the event */
	open = libxenvchan_is_open(xv);
	/* A client that came, wrote and left before we looked (open 0 with
	 * data in the ring) did connect. */
	if (v->state == VCHAN_WAITING && (open == 1 ||
	    (open == 0 && libxenvchan_data_ready(xv) > 0))) {
		v->state = VCHAN_CONNECTED;
		if (v->server)
			xen_server_cleanup(v);
	}
	/* A peer that writes its last bytes and closes (a qrexec service's
	 * exit code, say) leaves them in the ring: they are read first, as
	 * a socket's are before its EOF; xen_read then sees the close. */
	if (v->state == VCHAN_CONNECTED && libxenvchan_data_ready(xv) > 0)
		return v->state;
	if (open == 0)
		v->state = VCHAN_DISCONNECTED;
	if (v->state == VCHAN_CONNECTED && !xen_peer_alive(v))
		v->state = VCHAN_DISCONNECTED;
	return v->state;
}

static ssize_t
xen_read(struct vchan *v, void *buf, size_t len)
{
	int n;

	if (len > (size_t)1 << 30)
		len = (size_t)1 << 30;
	n = libxenvchan_read(v->xv, buf, len);
	if (n > 0)
		return n;
	if (n == -1 || libxenvchan_is_open(v->xv) == 0) {
		v->state = VCHAN_DISCONNECTED;
		return -1;
	}
	return 0;
}

static ssize_t
xen_write(struct vchan *v, const void *buf, size_t len)
{
	int n;

	if (len > (size_t)1 << 30)
		len = (size_t)1 << 30;
	n = libxenvchan_write(v->xv, buf, len);
	if (n >= 0)
		return n;
	v->state = VCHAN_DISCONNECTED;
	return -1;
}

static int
xen_listen(struct vchan *v)
{
	struct libxenvchan *xv;
	char path[64];

	/* Relative: XenStore puts it under our own /local/domain/<self>. */
	snprintf(path, sizeof(path), "data/vchan/%d/%d", v->peer, v->port);
	xv = libxenvchan_server_init(NULL, v->peer, path, v->rmin, v->wmin);
	if (xv == NULL)
		return -1;
	xv->blocking = 0;
	v->xv = xv;
	v->xs_cleaned = 0;
	v->state = VCHAN_WAITING;
	return 0;
}

static int
xen_rearm(struct vchan *v)
{
	if (v->xv != NULL)
		libxenvchan_close(v->xv);
	v->xv = NULL;
	return xen_listen(v);
}

static void
xen_close(struct vchan *v)
{
	if (v->xv != NULL)
		libxenvchan_close(v->xv);
	v->xv = NULL;
}

static const struct vchan_ops xen_ops = {
	xen_pollfd, xen_progress, xen_read, xen_write, xen_rearm, xen_close,
};

int
vchan_xen_server(struct vchan *v)
{
	v->ops = &xen_ops;
	return xen_listen(v);
}

int
vchan_xen_client(struct vchan *v)
{
	v->ops = &xen_ops;
	v->state = VCHAN_WAITING;
	return 0;
}
