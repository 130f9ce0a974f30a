/*
 * test_fakexen.c: the software Xen behaves like Xen where netbackd's tests
 * depend on it (grant rules, event-channel binding and masking, XenStore
 * permissions and watches), also across processes.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"
#include "fakexen.h"
#include "netbackd/xen_proto.h"

static struct fx_world *W;

static char **
wait_watch(struct xen_if *x, int ms)
{
	struct pollfd pfd = { x->xs_fd(x), POLLIN, 0 };
	char **ev;

	if ((ev = x->xs_check_watch(x)) != NULL)
		return ev;
	if (poll(&pfd, 1, ms) <= 0)
		return NULL;
	return x->xs_check_watch(x);
}

static int
wait_port(struct xen_if *x, int ms)
{
	struct pollfd pfd = { x->ev_fd(x), POLLIN, 0 };
	int p;

	if ((p = x->ev_pending(x)) >= 0)
		return p;
	if (poll(&pfd, 1, ms) <= 0)
		return -1;
	return x->ev_pending(x);
}

static void
xs_perms(void)
{
	struct xen_if *d0 = fx_open(W, 0), *g = fx_open(W, 11);
	struct xen_perm pr[2] = { { 0, 'n' }, { 11, 'r' } };
	unsigned len, n;
	char *v, **dir;

	T_ASSERT(d0 && g);
	T_EQ_INT(d0->xs_write(d0, 0, "/local/domain/11/secret", "x", 1), 0);
	v = g->xs_read(g, 0, "/local/domain/11/secret", &len);
	T_ASSERT(v != NULL);
	free(v);
	T_EQ_INT(d0->xs_write(d0, 0, "/local/domain/3/backend/vif/11/0/mac", "m", 1), 0);
	/* 3's dir is 3-owned, others none: a guest can't read it */
	T_ASSERT(g->xs_read(g, 0, "/local/domain/3/backend/vif/11/0/mac", &len) == NULL);
	T_EQ_INT(errno, EACCES);
	T_EQ_INT(d0->xs_set_perms(d0, 0, "/local/domain/3/backend/vif/11/0/mac", pr, 2), 0);
	v = g->xs_read(g, 0, "/local/domain/3/backend/vif/11/0/mac", &len);
	T_ASSERT(v != NULL);
	T_EQ_STR(v, "m");
	free(v);
	T_EQ_INT(len, 1);
	/* read is not write */
	T_EQ_INT(g->xs_write(g, 0, "/local/domain/3/backend/vif/11/0/mac", "evil", 4), -1);
	T_EQ_INT(errno, EACCES);
	/* a guest cannot create under a dir it cannot write */
	T_EQ_INT(g->xs_write(g, 0, "/local/domain/3/foo", "1", 1), -1);
	/* a guest owns what it creates and cannot give it away */
	T_EQ_INT(g->xs_write(g, 0, "/local/domain/11/device/vif/0/state", "1", 1), 0);
	pr[0].domid = 3;
	T_EQ_INT(g->xs_set_perms(g, 0, "/local/domain/11/device/vif/0/state", pr, 2), -1);
	dir = d0->xs_directory(d0, 0, "/local/domain/11", &n);
	T_ASSERT(dir != NULL);
	T_EQ_INT(n, 2);
	free(dir);
	T_EQ_INT(d0->xs_rm(d0, 0, "/local/domain/11/device"), 0);
	T_ASSERT(d0->xs_read(d0, 0, "/local/domain/11/device/vif/0/state", &len) == NULL);
	T_EQ_INT(errno, ENOENT);
	T_EQ_INT(d0->xs_write(d0, 0, "relative/path", "1", 1), -1);
	T_EQ_INT(d0->xs_write(d0, 0, "/bad//path", "1", 1), -1);
	d0->xs_rm(d0, 0, "/local/domain/3");
	d0->xs_rm(d0, 0, "/local/domain/11/secret");
	g->close(g);
	d0->close(d0);
}

static void
xs_watches(void)
{
	struct xen_if *d0 = fx_open(W, 0), *b = fx_open(W, 3);
	char **ev;
	pid_t pid;
	int st;

	T_ASSERT(d0 && b);
	T_EQ_INT(b->xs_watch(b, "/local/domain/3/backend", "be"), 0);
	/* fires once at registration */
	ev = wait_watch(b, 1000);
	T_ASSERT(ev != NULL);
	T_EQ_STR(ev[0], "/local/domain/3/backend");
	T_EQ_STR(ev[1], "be");
	free(ev);
	T_ASSERT(b->xs_check_watch(b) == NULL);
	/* a write below, from another process */
	if ((pid = fork()) == 0) {
		struct xen_if *c = fx_open(W, 0);

		c->xs_write(c, 0, "/local/domain/3/backend/vif/11/0/state", "1", 1);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	/* creating parents fires for them too; the leaf is last */
	do {
		ev = wait_watch(b, 1000);
		T_ASSERT(ev != NULL);
		if (strcmp(ev[0], "/local/domain/3/backend/vif/11/0/state") == 0)
			break;
		free(ev);
	} while (1);
	free(ev);
	while ((ev = b->xs_check_watch(b)) != NULL)
		free(ev);
	/* a watch inside a removed subtree fires with its own path */
	T_EQ_INT(b->xs_watch(b, "/local/domain/3/backend/vif/11/0/state", "st"), 0);
	ev = wait_watch(b, 1000);
	T_ASSERT(ev != NULL);
	free(ev);
	T_EQ_INT(d0->xs_rm(d0, 0, "/local/domain/3/backend/vif/11"), 0);
	{
		int saw_be = 0, saw_st = 0;

		while ((ev = wait_watch(b, 200)) != NULL) {
			if (strcmp(ev[1], "be") == 0 &&
			    strcmp(ev[0], "/local/domain/3/backend/vif/11") == 0)
				saw_be = 1;
			if (strcmp(ev[1], "st") == 0 &&
			    strcmp(ev[0], "/local/domain/3/backend/vif/11/0/state") == 0)
				saw_st = 1;
			free(ev);
		}
		T_ASSERT(saw_be && saw_st);
	}
	/* unwatch stops events */
	T_EQ_INT(b->xs_unwatch(b, "/local/domain/3/backend", "be"), 0);
	d0->xs_write(d0, 0, "/local/domain/3/backend/x", "1", 1);
	T_ASSERT(wait_watch(b, 100) == NULL);
	/* transactions: EAGAIN on demand */
	fx_fail_commits(W, 1);
	{
		uint32_t t = d0->xs_tx_start(d0);

		T_EQ_INT(d0->xs_tx_end(d0, t, 0), -1);
		T_EQ_INT(errno, EAGAIN);
		t = d0->xs_tx_start(d0);
		T_EQ_INT(d0->xs_tx_end(d0, t, 0), 0);
	}
	d0->xs_rm(d0, 0, "/local/domain/3/backend");
	b->close(b);
	d0->close(d0);
}

static void
evtchn(void)
{
	struct xen_if *f = fx_open(W, 11), *b = fx_open(W, 3), *o = fx_open(W, 12);
	int fp, bp, p, st;
	pid_t pid;

	T_ASSERT(f && b && o);
	fp = f->ev_bind_unbound(f, 3);
	T_ASSERT(fp > 0);
	/* only the named domain may bind it */
	T_EQ_INT(o->ev_bind_interdomain(o, 11, (uint32_t)fp), -1);
	T_EQ_INT(b->ev_bind_interdomain(b, 11, 999), -1);
	bp = b->ev_bind_interdomain(b, 11, (uint32_t)fp);
	T_ASSERT(bp > 0);
	/* bound twice: no longer unbound */
	T_EQ_INT(b->ev_bind_interdomain(b, 11, (uint32_t)fp), -1);
	/* pending right after bind */
	T_EQ_INT(wait_port(b, 1000), bp);
	T_EQ_INT(b->ev_pending(b), -1);
	/* masked until unmask: the signal waits */
	f->ev_notify(f, (uint32_t)fp);
	T_EQ_INT(wait_port(b, 100), -1);
	b->ev_unmask(b, (uint32_t)bp);
	T_EQ_INT(wait_port(b, 1000), bp);
	/* many signals while masked are one event */
	f->ev_notify(f, (uint32_t)fp);
	f->ev_notify(f, (uint32_t)fp);
	b->ev_unmask(b, (uint32_t)bp);
	T_EQ_INT(wait_port(b, 1000), bp);
	b->ev_unmask(b, (uint32_t)bp);
	T_EQ_INT(wait_port(b, 100), -1);
	/* the other way, from a child process */
	if ((pid = fork()) == 0) {
		struct xen_if *c = fx_open(W, 3);

		/* a handle that did not bind the port may not use it */
		_exit(c->ev_notify(c, (uint32_t)bp) == -1 ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	T_EQ_INT(WEXITSTATUS(st), 0);
	b->ev_notify(b, (uint32_t)bp);
	p = wait_port(f, 1000);
	T_EQ_INT(p, fp);
	/* closing one end returns the other to unbound */
	T_EQ_INT(b->ev_unbind(b, (uint32_t)bp), 0);
	T_EQ_INT(f->ev_notify(f, (uint32_t)fp), -1);
	T_EQ_INT(errno, ENOTCONN);
	bp = b->ev_bind_interdomain(b, 11, (uint32_t)fp);
	T_ASSERT(bp > 0);
	T_EQ_INT(fx_ports_bound(W, 3), 1);
	b->close(b);
	T_EQ_INT(fx_ports_bound(W, 3), 0);
	f->close(f);
	o->close(o);
	T_EQ_INT(fx_ports_bound(W, 11), 0);
}

static void
grants(void)
{
	struct xen_if *f = fx_open(W, 11), *b = fx_open(W, 3), *o = fx_open(W, 12);
	uint32_t refs[2], ro;
	uint8_t *pg, *rop, buf[64], *m;
	struct xen_gcopy g;
	unsigned used;

	T_ASSERT(f && b && o);
	used = fx_pages_used(W);
	pg = f->gshare(f, 3, 2, refs, 1);
	T_ASSERT(pg != NULL);
	rop = f->gshare(f, 3, 1, &ro, 0);
	T_ASSERT(rop != NULL);
	T_EQ_INT(fx_grants_active(W, 11), 3);
	memcpy(pg + 4096 + 100, "hello", 5);
	/* copy from the second page */
	memset(&g, 0, sizeof(g));
	g.local = buf;
	g.ref = refs[1];
	g.domid = 11;
	g.foff = 100;
	g.len = 5;
	T_EQ_INT(b->gcopy(b, &g, 1), 0);
	T_EQ_INT(g.status, GNTST_okay);
	T_EQ_MEM(buf, "hello", 5);
	/* write into a read-only grant */
	g.ref = ro;
	g.to_foreign = 1;
	T_EQ_INT(b->gcopy(b, &g, 1), 0);
	T_EQ_INT(g.status, GNTST_permission_denied);
	/* another domain cannot use the grant */
	g.ref = refs[0];
	T_EQ_INT(o->gcopy(o, &g, 1), 0);
	T_ASSERT(g.status < 0);
	/* bad refs and domains */
	g.ref = 100000;
	T_EQ_INT(b->gcopy(b, &g, 1), 0);
	T_EQ_INT(g.status, GNTST_bad_gntref);
	g.ref = refs[0];
	g.domid = 999;
	T_EQ_INT(b->gcopy(b, &g, 1), 0);
	T_EQ_INT(g.status, GNTST_bad_domain);
	/* crossing the foreign page fails the whole call */
	g.domid = 11;
	g.foff = 4090;
	g.len = 7;
	T_EQ_INT(b->gcopy(b, &g, 1), -1);
	T_EQ_INT(errno, EINVAL);
	/* map, unshare while mapped, unmap: page freed only then */
	m = b->gmap(b, 11, refs[0], 1);
	T_ASSERT(m == pg);
	T_ASSERT(b->gmap(b, 11, ro, 1) == NULL);	/* RW map of a RO grant */
	T_EQ_INT(fx_maps_held(W, 3), 1);
	f->gunshare(f, pg, 2);
	f->gunshare(f, rop, 1);
	T_EQ_INT(fx_grants_active(W, 11), 0);
	T_EQ_INT(fx_pages_used(W), used + 1);
	T_EQ_INT(b->gunmap(b, m), 0);
	T_EQ_INT(fx_maps_held(W, 3), 0);
	T_EQ_INT(fx_pages_used(W), used);
	/* a destroyed domain's grants are gone */
	fx_domain_create(W, 13);
	{
		struct xen_if *d = fx_open(W, 13);

		pg = d->gshare(d, 3, 1, refs, 1);
		T_ASSERT(pg != NULL);
		fx_domain_destroy(W, 13);
		g.ref = refs[0];
		g.domid = 13;
		g.foff = 0;
		g.len = 4;
		g.to_foreign = 0;
		T_EQ_INT(b->gcopy(b, &g, 1), 0);
		T_EQ_INT(g.status, GNTST_bad_domain);
		T_EQ_INT(fx_pages_used(W), used);
		free(d->impl);
		free(d);
	}
	f->close(f);
	b->close(b);
	o->close(o);
}

int
main(void)
{
	if ((W = fx_world_create()) == NULL) {
		printf("not ok 1 - fx_world_create\n");
		return 1;
	}
	fx_domain_create(W, 3);
	fx_domain_create(W, 11);
	fx_domain_create(W, 12);
	T_RUN(xs_perms);
	T_RUN(xs_watches);
	T_RUN(evtchn);
	T_RUN(grants);
	return t_done();
}
