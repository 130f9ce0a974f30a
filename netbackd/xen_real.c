/*
 * xen_real.c: struct xen_if over Xen's own libraries (Debian libxen-dev):
 * libxengnttab (gntdev and gntalloc), libxenevtchn, libxenstore. Each call
 * is a thin translation; the checks live in the callers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "log.h"
#include "xen_if.h"
#include "xen_proto.h"

#define GNTCOPY_SRC	(1u << 0)	/* GNTCOPY_source_gref */
#define GNTCOPY_DST	(1u << 1)	/* GNTCOPY_dest_gref */
#define XR_MAXSEG	2048

struct xr {
	xengnttab_handle	*gt;
	xengntshr_handle	*gs;
	xenevtchn_handle	*ev;
	struct xs_handle	*xs;
	xengnttab_grant_copy_segment_t seg[XR_MAXSEG];
};

static struct xr *
R(struct xen_if *x)
{
	return x->impl;
}

static int
r_gcopy(struct xen_if *x, struct xen_gcopy *g, unsigned n)
{
	struct xr *r = R(x);
	unsigned i;

	if (n > XR_MAXSEG) {
		errno = E2BIG;
		return -1;
	}
	for (i = 0; i < n; i++) {
		xengnttab_grant_copy_segment_t *s = &r->seg[i];

		memset(s, 0, sizeof(*s));
		if (g[i].to_foreign) {
			s->source.virt = g[i].local;
			s->dest.foreign.ref = g[i].ref;
			s->dest.foreign.offset = g[i].foff;
			s->dest.foreign.domid = g[i].domid;
			s->flags = GNTCOPY_DST;
		} else {
			s->dest.virt = g[i].local;
			s->source.foreign.ref = g[i].ref;
			s->source.foreign.offset = g[i].foff;
			s->source.foreign.domid = g[i].domid;
			s->flags = GNTCOPY_SRC;
		}
		s->len = g[i].len;
	}
	if (xengnttab_grant_copy(r->gt, n, r->seg) != 0)
		return -1;
	for (i = 0; i < n; i++)
		g[i].status = r->seg[i].status;
	return 0;
}

static void *
r_gmap(struct xen_if *x, uint16_t domid, uint32_t ref, int writable)
{
	return xengnttab_map_grant_ref(R(x)->gt, domid, ref,
	    PROT_READ | (writable ? PROT_WRITE : 0));
}

static int
r_gunmap(struct xen_if *x, void *addr)
{
	return xengnttab_unmap(R(x)->gt, addr, 1);
}

static void *
r_gshare(struct xen_if *x, uint16_t domid, unsigned count, uint32_t *refs, int writable)
{
	return xengntshr_share_pages(R(x)->gs, domid, (int)count, refs, writable);
}

static int
r_gunshare(struct xen_if *x, void *addr, unsigned count)
{
	return xengntshr_unshare(R(x)->gs, addr, count);
}

static int
r_ev_fd(struct xen_if *x)
{
	return xenevtchn_fd(R(x)->ev);
}

static int
r_ev_bind_interdomain(struct xen_if *x, uint16_t domid, uint32_t rport)
{
	return xenevtchn_bind_interdomain(R(x)->ev, domid, rport);
}

static int
r_ev_bind_unbound(struct xen_if *x, uint16_t domid)
{
	return xenevtchn_bind_unbound_port(R(x)->ev, domid);
}

static int
r_ev_notify(struct xen_if *x, uint32_t port)
{
	return xenevtchn_notify(R(x)->ev, port);
}

static int
r_ev_unbind(struct xen_if *x, uint32_t port)
{
	return xenevtchn_unbind(R(x)->ev, port);
}

static int
r_ev_pending(struct xen_if *x)
{
	/* The fd is non-blocking only in name (xenevtchn.h): the caller
	 * polls it first; once it has drained, read() says EAGAIN. */
	return xenevtchn_pending(R(x)->ev);
}

static int
r_ev_unmask(struct xen_if *x, uint32_t port)
{
	return xenevtchn_unmask(R(x)->ev, port);
}

static int
r_xs_fd(struct xen_if *x)
{
	return xs_fileno(R(x)->xs);
}

static char *
r_xs_read(struct xen_if *x, uint32_t t, const char *path, unsigned *len)
{
	unsigned dummy;

	return xs_read(R(x)->xs, t, path, len ? len : &dummy);
}

static int
r_xs_write(struct xen_if *x, uint32_t t, const char *path, const void *val, unsigned len)
{
	return xs_write(R(x)->xs, t, path, val, len) ? 0 : -1;
}

static int
r_xs_mkdir(struct xen_if *x, uint32_t t, const char *path)
{
	return xs_mkdir(R(x)->xs, t, path) ? 0 : -1;
}

static int
r_xs_rm(struct xen_if *x, uint32_t t, const char *path)
{
	return xs_rm(R(x)->xs, t, path) ? 0 : -1;
}

static char **
r_xs_directory(struct xen_if *x, uint32_t t, const char *path, unsigned *n)
{
	return xs_directory(R(x)->xs, t, path, n);
}

static int
r_xs_set_perms(struct xen_if *x, uint32_t t, const char *path,
    const struct xen_perm *p, unsigned n)
{
	struct xs_permissions xp[8];
	unsigned i;

	if (n == 0 || n > 8) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		xp[i].id = p[i].domid;
		xp[i].perms = p[i].perm == 'b' ? (XS_PERM_READ | XS_PERM_WRITE) :
		    p[i].perm == 'r' ? XS_PERM_READ : p[i].perm == 'w' ? XS_PERM_WRITE :
		    XS_PERM_NONE;
	}
	return xs_set_permissions(R(x)->xs, t, path, xp, n) ? 0 : -1;
}

static int
r_xs_watch(struct xen_if *x, const char *path, const char *token)
{
	return xs_watch(R(x)->xs, path, token) ? 0 : -1;
}

static int
r_xs_unwatch(struct xen_if *x, const char *path, const char *token)
{
	return xs_unwatch(R(x)->xs, path, token) ? 0 : -1;
}

static char **
r_xs_check_watch(struct xen_if *x)
{
	return xs_check_watch(R(x)->xs);
}

static uint32_t
r_xs_tx_start(struct xen_if *x)
{
	return xs_transaction_start(R(x)->xs);
}

static int
r_xs_tx_end(struct xen_if *x, uint32_t t, int abort)
{
	return xs_transaction_end(R(x)->xs, t, abort ? true : false) ? 0 : -1;
}

static void
r_close(struct xen_if *x)
{
	struct xr *r = R(x);

	if (r->xs)
		xs_close(r->xs);
	if (r->ev)
		xenevtchn_close(r->ev);
	if (r->gs)
		xengntshr_close(r->gs);
	if (r->gt)
		xengnttab_close(r->gt);
	free(r);
	free(x);
}

struct xen_if *
xen_real_open(void)
{
	struct xen_if *x;
	struct xr *r;
	char *dom;
	unsigned len;
	uint64_t d = 0;
	size_t i;
	int fl;

	if ((x = calloc(1, sizeof(*x))) == NULL || (r = calloc(1, sizeof(*r))) == NULL) {
		free(x);
		return NULL;
	}
	x->impl = r;
	x->close = r_close;
	if ((r->gt = xengnttab_open(NULL, 0)) == NULL) {
		log_warn("xengnttab_open (/dev/xen/gntdev)");
		goto fail;
	}
	if ((r->gs = xengntshr_open(NULL, 0)) == NULL) {
		log_warn("xengntshr_open (/dev/xen/gntalloc)");
		goto fail;
	}
	if ((r->ev = xenevtchn_open(NULL, 0)) == NULL) {
		log_warn("xenevtchn_open (/dev/xen/evtchn)");
		goto fail;
	}
	/* pending() is a read(): without O_NONBLOCK the loop that drains
	 * ports until none is left would block in the last call. */
	if ((fl = fcntl(xenevtchn_fd(r->ev), F_GETFL)) < 0 ||
	    fcntl(xenevtchn_fd(r->ev), F_SETFL, fl | O_NONBLOCK) < 0) {
		log_warn("evtchn: O_NONBLOCK");
		goto fail;
	}
	if ((r->xs = xs_open(0)) == NULL) {
		log_warn("xs_open (/dev/xen/xenbus)");
		goto fail;
	}
	/* Our own domain id: the relative key "domid" of our home dir. */
	if ((dom = xs_read(r->xs, XBT_NULL, "domid", &len)) == NULL) {
		log_warn("xenstore: cannot read our domid");
		goto fail;
	}
	for (i = 0; i < len; i++)
		if (dom[i] < '0' || dom[i] > '9' || (d = d * 10 + (uint64_t)(dom[i] - '0')) > 0x7fef)
			break;
	free(dom);
	if (len == 0 || i != len) {
		log_warnx("xenstore: malformed domid");
		goto fail;
	}
	x->self = (unsigned)d;
	x->gcopy = r_gcopy;
	x->gmap = r_gmap;
	x->gunmap = r_gunmap;
	x->gshare = r_gshare;
	x->gunshare = r_gunshare;
	x->ev_fd = r_ev_fd;
	x->ev_bind_interdomain = r_ev_bind_interdomain;
	x->ev_bind_unbound = r_ev_bind_unbound;
	x->ev_notify = r_ev_notify;
	x->ev_unbind = r_ev_unbind;
	x->ev_pending = r_ev_pending;
	x->ev_unmask = r_ev_unmask;
	x->xs_fd = r_xs_fd;
	x->xs_read = r_xs_read;
	x->xs_write = r_xs_write;
	x->xs_mkdir = r_xs_mkdir;
	x->xs_rm = r_xs_rm;
	x->xs_directory = r_xs_directory;
	x->xs_set_perms = r_xs_set_perms;
	x->xs_watch = r_xs_watch;
	x->xs_unwatch = r_xs_unwatch;
	x->xs_check_watch = r_xs_check_watch;
	x->xs_tx_start = r_xs_tx_start;
	x->xs_tx_end = r_xs_tx_end;
	return x;
fail:
	r_close(x);
	return NULL;
}
