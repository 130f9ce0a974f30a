/*
 * fakexen.c: the software Xen described in fakexen.h.
 *
 * All state lives in one shared mapping guarded by one process-shared,
 * robust mutex (a peer killed while holding it must not wedge the others).
 * Page contents are outside the lock: copies and mapped rings race exactly
 * as they would on real Xen, which is what the tests want.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fakexen.h"
#include "xen_proto.h"

#define FX_MAGIC	0x66786e31u	/* "fxn1" */
#define FX_MAXDOM	160
#define FX_NGRANT	1024
#define FX_GNT_FIRST	8		/* 0..7 reserved as on Xen */
#define FX_NPORTS	128
#define FX_MAXH		40
#define FX_NPAGES	16384
#define FX_NNODES	8192
#define FX_PATHMAX	160
#define FX_VALMAX	256
#define FX_NPERM	5
#define FX_NWATCH	1024
#define FX_TOKMAX	48
#define FX_EVQ		256
#define FX_WQ		2048

#define GTF_permit	1u
#define GTF_readonly	(1u << 2)

enum { PORT_FREE = 0, PORT_UNBOUND, PORT_INTER };

struct fx_port {
	uint8_t		state;
	uint8_t		pending, masked;
	uint16_t	rdom, rport;
	int16_t		handle;		/* owning handle slot, -1 none */
};

struct fx_gnt {
	uint16_t	flags;
	uint16_t	grantee;
	uint32_t	page;
	int16_t		handle;		/* whose gntalloc made it, -1 none */
};

struct fx_dom {
	uint8_t		used;
	uint16_t	domid;
	uint32_t	maps_held;	/* grants of others this domain maps */
	uint64_t	events_in;
	struct fx_port	port[FX_NPORTS];
	struct fx_gnt	gnt[FX_NGRANT];
};

struct fx_node {
	uint8_t		used;
	uint8_t		nperm;
	uint16_t	vlen;
	char		path[FX_PATHMAX];
	char		val[FX_VALMAX];
	struct xen_perm	perm[FX_NPERM];
};

struct fx_watch {
	uint8_t		used;
	int16_t		handle;
	char		path[FX_PATHMAX];
	char		token[FX_TOKMAX];
};

struct fx_wevent {
	char		path[FX_PATHMAX];
	char		token[FX_TOKMAX];
};

struct fx_handle {
	uint8_t		used;
	uint16_t	domid;
	int32_t		pid;		/* the process holding it */
	uint32_t	maps;		/* grants it has mapped */
	uint32_t	evq_prod, evq_cons;	/* pending ports */
	uint16_t	evq[FX_EVQ];
	uint32_t	wq_prod, wq_cons;	/* watch events */
	uint32_t	wq_lost;
	struct fx_wevent wq[FX_WQ];
};

struct fx_shared {
	uint32_t	magic;
	pthread_mutex_t	lock;
	uint32_t	fail_commits;
	uint32_t	next_tx;
	uint64_t	gen;		/* bumped by every change to the tree */
	struct fx_dom	dom[FX_MAXDOM];
	struct fx_handle hnd[FX_MAXH];
	uint8_t		page_used[FX_NPAGES];
	uint16_t	page_maps[FX_NPAGES];	/* mappings outstanding */
	uint8_t		page_orphan[FX_NPAGES];	/* unshared while mapped */
	struct fx_node	node[FX_NNODES];
	struct fx_watch	watch[FX_NWATCH];
};

struct fx_world {
	int		 memfd;
	int		 evfd[FX_MAXH];	/* event channels */
	int		 wfd[FX_MAXH];	/* xenstore watches */
	struct fx_shared *s;
	uint8_t		*pages;
	size_t		 size;
};

/* Process-private state of one handle. */
#define FX_MAXMAPS	1024
#define FX_TXOPS	32
struct fx_priv {
	struct fx_world	*w;
	int		 h;
	struct {
		void	*addr;
		uint16_t dom;
		uint32_t ref;
	} map[FX_MAXMAPS];
	uint32_t	 tx_id;		/* open transaction, one per handle */
	uint64_t	 tx_gen;
	unsigned	 ntxop;
	struct {
		uint8_t	 rm;
		uint16_t len;
		char	 path[FX_PATHMAX];
		char	 val[FX_VALMAX];
	} txop[FX_TXOPS];
};

static size_t
pages_off(void)
{
	return (sizeof(struct fx_shared) + 4095) & ~(size_t)4095;
}

static void
lock(struct fx_world *w)
{
	if (pthread_mutex_lock(&w->s->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&w->s->lock);
}

static void
unlock(struct fx_world *w)
{
	pthread_mutex_unlock(&w->s->lock);
}

static struct fx_dom *
dom_find(struct fx_world *w, unsigned domid)
{
	int i;

	for (i = 0; i < FX_MAXDOM; i++)
		if (w->s->dom[i].used && w->s->dom[i].domid == domid)
			return &w->s->dom[i];
	return NULL;
}

static int
world_map(struct fx_world *w)
{
	w->size = pages_off() + (size_t)FX_NPAGES * XEN_PAGE_SIZE;
	w->s = mmap(NULL, w->size, PROT_READ | PROT_WRITE, MAP_SHARED, w->memfd, 0);
	if (w->s == MAP_FAILED)
		return -1;
	w->pages = (uint8_t *)w->s + pages_off();
	return 0;
}

/* XenStore tree */

static int
path_ok(const char *p)
{
	size_t n = strlen(p), i;

	if (n < 1 || n >= FX_PATHMAX || p[0] != '/')
		return 0;
	if (n > 1 && p[n - 1] == '/')
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' ||
		    c == '@'))
			return 0;
		if (c == '/' && i + 1 < n && p[i + 1] == '/')
			return 0;
	}
	return 1;
}

static struct fx_node *
node_find(struct fx_world *w, const char *path)
{
	int i;

	for (i = 0; i < FX_NNODES; i++)
		if (w->s->node[i].used && strcmp(w->s->node[i].path, path) == 0)
			return &w->s->node[i];
	return NULL;
}

/* Is a at or below b? */
static int
is_under(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (strcmp(b, "/") == 0)
		return 1;
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

static int
can(const struct fx_node *n, unsigned dom, char want)
{
	char p;
	int i;

	if (dom == 0 || n->perm[0].domid == dom)
		return 1;
	p = n->perm[0].perm;
	for (i = 1; i < n->nperm; i++)
		if (n->perm[i].domid == dom)
			p = n->perm[i].perm;
	return p == 'b' || p == want;
}

static void
wq_push(struct fx_world *w, int h, const char *path, const char *token)
{
	struct fx_handle *hd = &w->s->hnd[h];
	struct fx_wevent *e;
	uint64_t one = 1;

	if (hd->wq_prod - hd->wq_cons >= FX_WQ) {
		hd->wq_lost++;	/* a full queue loses events, as xenstored may */
		return;
	}
	e = &hd->wq[hd->wq_prod % FX_WQ];
	snprintf(e->path, sizeof(e->path), "%s", path);
	snprintf(e->token, sizeof(e->token), "%s", token);
	hd->wq_prod++;
	if (write(w->wfd[h], &one, sizeof(one)) < 0) {
		/* the counter cannot overflow in a test's lifetime */
	}
}

/* path changed; removed: whether it (and its subtree) went away. */
static void
fire(struct fx_world *w, const char *path, int removed)
{
	int i;

	for (i = 0; i < FX_NWATCH; i++) {
		struct fx_watch *wa = &w->s->watch[i];

		if (!wa->used)
			continue;
		if (is_under(path, wa->path))
			wq_push(w, wa->handle, path, wa->token);
		else if (removed && is_under(wa->path, path))
			wq_push(w, wa->handle, wa->path, wa->token);
	}
}

static void
parent_of(const char *path, char *out)
{
	const char *sl = strrchr(path, '/');
	size_t n = (size_t)(sl - path);

	if (n == 0)
		n = 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

/* Find or create path (and missing parents) for dom. */
static struct fx_node *
node_make(struct fx_world *w, unsigned dom, const char *path, int *created)
{
	struct fx_node *n, *par;
	char pp[FX_PATHMAX];
	int i, c2;

	*created = 0;
	if ((n = node_find(w, path)) != NULL)
		return n;
	if (strcmp(path, "/") == 0)
		return NULL;
	parent_of(path, pp);
	if ((par = node_make(w, dom, pp, &c2)) == NULL)
		return NULL;
	if (!can(par, dom, 'w')) {
		errno = EACCES;
		return NULL;
	}
	for (i = 0; i < FX_NNODES; i++)
		if (!w->s->node[i].used)
			break;
	if (i == FX_NNODES) {
		errno = ENOSPC;
		return NULL;
	}
	n = &w->s->node[i];
	memset(n, 0, sizeof(*n));
	n->used = 1;
	snprintf(n->path, sizeof(n->path), "%s", path);
	n->nperm = par->nperm;
	memcpy(n->perm, par->perm, sizeof(n->perm));
	/* Guests own what they create (xenstored). */
	if (dom != 0)
		n->perm[0].domid = (uint16_t)dom;
	*created = 1;
	if (c2)
		fire(w, pp, 0);
	return n;
}

/* The handle API */

static struct fx_priv *
P(struct xen_if *x)
{
	return x->impl;
}

static int
write_locked(struct fx_world *w, unsigned dom, const char *path, const void *val,
    unsigned len)
{
	struct fx_node *n;
	int created;

	if ((n = node_make(w, dom, path, &created)) == NULL)
		return -1;
	if (!created && !can(n, dom, 'w')) {
		errno = EACCES;
		return -1;
	}
	memcpy(n->val, val, len);
	n->val[len] = '\0';
	n->vlen = (uint16_t)len;
	w->s->gen++;
	fire(w, path, 0);
	return 0;
}

static int
rm_locked(struct fx_world *w, unsigned dom, const char *path)
{
	struct fx_node *n;
	int i;

	if ((n = node_find(w, path)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	if (!can(n, dom, 'w')) {
		errno = EACCES;
		return -1;
	}
	for (i = 0; i < FX_NNODES; i++)
		if (w->s->node[i].used && is_under(w->s->node[i].path, path))
			w->s->node[i].used = 0;
	w->s->gen++;
	fire(w, path, 1);
	return 0;
}

/* Inside a transaction writes wait for the commit (watches fire then). */
static int
tx_defer(struct xen_if *x, uint32_t t, int rm, const char *path, const void *val,
    unsigned len)
{
	struct fx_priv *pv = P(x);

	if (t != pv->tx_id || pv->ntxop == FX_TXOPS) {
		errno = t != pv->tx_id ? EINVAL : ENOSPC;
		return -1;
	}
	pv->txop[pv->ntxop].rm = (uint8_t)rm;
	snprintf(pv->txop[pv->ntxop].path, FX_PATHMAX, "%s", path);
	if (!rm)
		memcpy(pv->txop[pv->ntxop].val, val, len);
	pv->txop[pv->ntxop].len = (uint16_t)len;
	pv->ntxop++;
	return 0;
}

static int
xs_write_(struct xen_if *x, uint32_t t, const char *path, const void *val, unsigned len)
{
	struct fx_world *w = P(x)->w;
	int rc;

	if (!path_ok(path) || len >= FX_VALMAX) {
		errno = EINVAL;
		return -1;
	}
	if (t != XEN_XS_TX_NONE)
		return tx_defer(x, t, 0, path, val, len);
	lock(w);
	rc = write_locked(w, x->self, path, val, len);
	unlock(w);
	return rc;
}

static int
xs_mkdir_(struct xen_if *x, uint32_t t, const char *path)
{
	struct fx_world *w = P(x)->w;
	int created;

	(void)t;
	if (!path_ok(path)) {
		errno = EINVAL;
		return -1;
	}
	lock(w);
	if (node_make(w, x->self, path, &created) == NULL) {
		unlock(w);
		return -1;
	}
	if (created)
		fire(w, path, 0);
	unlock(w);
	return 0;
}

static char *
xs_read_(struct xen_if *x, uint32_t t, const char *path, unsigned *len)
{
	struct fx_world *w = P(x)->w;
	struct fx_node *n;
	char *v = NULL;

	(void)t;
	if (!path_ok(path)) {
		errno = EINVAL;
		return NULL;
	}
	lock(w);
	if ((n = node_find(w, path)) == NULL)
		errno = ENOENT;
	else if (!can(n, x->self, 'r'))
		errno = EACCES;
	else if ((v = malloc((size_t)n->vlen + 1)) != NULL) {
		memcpy(v, n->val, (size_t)n->vlen + 1);
		if (len)
			*len = n->vlen;
	}
	unlock(w);
	return v;
}

static int
xs_rm_(struct xen_if *x, uint32_t t, const char *path)
{
	struct fx_world *w = P(x)->w;
	int rc;

	if (!path_ok(path) || strcmp(path, "/") == 0) {
		errno = EINVAL;
		return -1;
	}
	if (t != XEN_XS_TX_NONE)
		return tx_defer(x, t, 1, path, NULL, 0);
	lock(w);
	rc = rm_locked(w, x->self, path);
	unlock(w);
	return rc;
}

static char **
xs_directory_(struct xen_if *x, uint32_t t, const char *path, unsigned *num)
{
	struct fx_world *w = P(x)->w;
	struct fx_node *n;
	size_t plen = strlen(path), bytes = 0;
	unsigned cnt = 0, k = 0;
	char **res = NULL, *sp;
	int i;

	(void)t;
	if (!path_ok(path)) {
		errno = EINVAL;
		return NULL;
	}
	lock(w);
	if ((n = node_find(w, path)) == NULL || !can(n, x->self, 'r')) {
		errno = n ? EACCES : ENOENT;
		unlock(w);
		return NULL;
	}
	if (strcmp(path, "/") == 0)
		plen = 0;
	for (i = 0; i < FX_NNODES; i++) {
		const char *c = w->s->node[i].path;

		if (w->s->node[i].used && strncmp(c, path, plen) == 0 &&
		    c[plen] == '/' && c[plen + 1] != '\0' &&
		    strchr(c + plen + 1, '/') == NULL) {
			cnt++;
			bytes += strlen(c + plen + 1) + 1;
		}
	}
	if ((res = malloc((cnt + 1) * sizeof(char *) + bytes + 1)) == NULL) {
		unlock(w);
		return NULL;
	}
	sp = (char *)(res + cnt + 1);
	for (i = 0; i < FX_NNODES && k < cnt; i++) {
		const char *c = w->s->node[i].path;

		if (w->s->node[i].used && strncmp(c, path, plen) == 0 &&
		    c[plen] == '/' && c[plen + 1] != '\0' &&
		    strchr(c + plen + 1, '/') == NULL) {
			size_t l = strlen(c + plen + 1) + 1;

			memcpy(sp, c + plen + 1, l);
			res[k++] = sp;
			sp += l;
		}
	}
	res[k] = NULL;
	*num = k;
	unlock(w);
	return res;
}

static int
xs_set_perms_(struct xen_if *x, uint32_t t, const char *path,
    const struct xen_perm *p, unsigned np)
{
	struct fx_world *w = P(x)->w;
	struct fx_node *n;

	(void)t;
	if (!path_ok(path) || np == 0 || np > FX_NPERM) {
		errno = EINVAL;
		return -1;
	}
	lock(w);
	if ((n = node_find(w, path)) == NULL) {
		unlock(w);
		errno = ENOENT;
		return -1;
	}
	if (x->self != 0 && (n->perm[0].domid != x->self || p[0].domid != x->self)) {
		unlock(w);
		errno = EPERM;
		return -1;
	}
	memcpy(n->perm, p, np * sizeof(*p));
	n->nperm = (uint8_t)np;
	fire(w, path, 0);
	unlock(w);
	return 0;
}

static int
xs_watch_(struct xen_if *x, const char *path, const char *token)
{
	struct fx_world *w = P(x)->w;
	int i;

	if (!path_ok(path) || strlen(token) >= FX_TOKMAX) {
		errno = EINVAL;
		return -1;
	}
	lock(w);
	for (i = 0; i < FX_NWATCH; i++)
		if (!w->s->watch[i].used)
			break;
	if (i == FX_NWATCH) {
		unlock(w);
		errno = ENOSPC;
		return -1;
	}
	w->s->watch[i].used = 1;
	w->s->watch[i].handle = (int16_t)P(x)->h;
	snprintf(w->s->watch[i].path, FX_PATHMAX, "%s", path);
	snprintf(w->s->watch[i].token, FX_TOKMAX, "%s", token);
	/* A new watch fires once at once, like xenstored. */
	wq_push(w, P(x)->h, path, token);
	unlock(w);
	return 0;
}

static int
xs_unwatch_(struct xen_if *x, const char *path, const char *token)
{
	struct fx_world *w = P(x)->w;
	int i, found = 0;

	lock(w);
	for (i = 0; i < FX_NWATCH; i++) {
		struct fx_watch *wa = &w->s->watch[i];

		if (wa->used && wa->handle == P(x)->h && strcmp(wa->path, path) == 0 &&
		    strcmp(wa->token, token) == 0) {
			wa->used = 0;
			found = 1;
		}
	}
	unlock(w);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

static char **
xs_check_watch_(struct xen_if *x)
{
	struct fx_world *w = P(x)->w;
	struct fx_handle *hd = &w->s->hnd[P(x)->h];
	char **res = NULL;
	uint64_t v;

	/* Drain first: an event queued after this read re-arms the fd. */
	if (read(w->wfd[P(x)->h], &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled */
	}
	lock(w);
	if (hd->wq_cons != hd->wq_prod) {
		struct fx_wevent *e = &hd->wq[hd->wq_cons % FX_WQ];
		size_t pl = strlen(e->path) + 1, tl = strlen(e->token) + 1;

		if ((res = malloc(2 * sizeof(char *) + pl + tl)) != NULL) {
			res[0] = (char *)(res + 2);
			res[1] = res[0] + pl;
			memcpy(res[0], e->path, pl);
			memcpy(res[1], e->token, tl);
			hd->wq_cons++;
		}
	} else
		errno = EAGAIN;
	unlock(w);
	return res;
}

static uint32_t
xs_tx_start_(struct xen_if *x)
{
	struct fx_world *w = P(x)->w;
	uint32_t t;

	lock(w);
	t = ++w->s->next_tx;
	if (t == XEN_XS_TX_NONE)
		t = ++w->s->next_tx;
	P(x)->tx_gen = w->s->gen;
	unlock(w);
	P(x)->tx_id = t;
	P(x)->ntxop = 0;
	return t;
}

static int
xs_tx_end_(struct xen_if *x, uint32_t t, int abort)
{
	struct fx_world *w = P(x)->w;
	struct fx_priv *pv = P(x);
	unsigned i;
	int rc = 0;

	if (t != pv->tx_id) {
		errno = EINVAL;
		return -1;
	}
	lock(w);
	if (!abort && w->s->fail_commits > 0) {
		w->s->fail_commits--;
		errno = EAGAIN;
		rc = -1;
	} else if (!abort && w->s->gen != pv->tx_gen) {
		/* Anything changed since the start: redo (coarse, like the
		 * first xenstored's whole-store transactions). */
		errno = EAGAIN;
		rc = -1;
	} else if (!abort) {
		/* All at once, under the one lock: nobody sees half of it. */
		for (i = 0; i < pv->ntxop; i++) {
			if (pv->txop[i].rm)
				rm_locked(w, x->self, pv->txop[i].path);
			else
				write_locked(w, x->self, pv->txop[i].path, pv->txop[i].val,
				    pv->txop[i].len);
		}
	}
	unlock(w);
	pv->tx_id = XEN_XS_TX_NONE;
	pv->ntxop = 0;
	return rc;
}

static int
xs_fd_(struct xen_if *x)
{
	return P(x)->w->wfd[P(x)->h];
}

/* Event channels */

static void
deliver(struct fx_world *w, struct fx_dom *d, unsigned port)
{
	struct fx_port *p = &d->port[port];
	struct fx_handle *hd;
	uint64_t one = 1;

	d->events_in++;
	if (p->handle < 0)
		return;
	if (p->masked) {
		p->pending = 1;
		return;
	}
	p->masked = 1;
	p->pending = 0;
	hd = &w->s->hnd[p->handle];
	if (hd->evq_prod - hd->evq_cons < FX_EVQ) {
		hd->evq[hd->evq_prod % FX_EVQ] = (uint16_t)port;
		hd->evq_prod++;
	}
	if (write(w->evfd[p->handle], &one, sizeof(one)) < 0) {
		/* cannot overflow in a test's lifetime */
	}
}

static int
port_alloc(struct fx_dom *d)
{
	int i;

	for (i = 1; i < FX_NPORTS; i++)
		if (d->port[i].state == PORT_FREE)
			return i;
	return -1;
}

static int
ev_bind_unbound_(struct xen_if *x, uint16_t rdom)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *d;
	int p = -1;

	lock(w);
	if ((d = dom_find(w, x->self)) != NULL && (p = port_alloc(d)) > 0) {
		memset(&d->port[p], 0, sizeof(d->port[p]));
		d->port[p].state = PORT_UNBOUND;
		d->port[p].rdom = rdom;
		d->port[p].handle = (int16_t)P(x)->h;
	} else
		errno = ENOSPC;
	unlock(w);
	return p;
}

static int
ev_bind_interdomain_(struct xen_if *x, uint16_t rdom, uint32_t rport)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *d, *rd;
	int p = -1;

	lock(w);
	d = dom_find(w, x->self);
	rd = dom_find(w, rdom);
	if (d == NULL || rd == NULL || rport == 0 || rport >= FX_NPORTS ||
	    rd->port[rport].state != PORT_UNBOUND || rd->port[rport].rdom != x->self) {
		errno = EINVAL;
	} else if ((p = port_alloc(d)) < 0) {
		errno = ENOSPC;
	} else {
		memset(&d->port[p], 0, sizeof(d->port[p]));
		d->port[p].state = PORT_INTER;
		d->port[p].rdom = rdom;
		d->port[p].rport = (uint16_t)rport;
		d->port[p].handle = (int16_t)P(x)->h;
		rd->port[rport].state = PORT_INTER;
		rd->port[rport].rport = (uint16_t)p;
		/* Xen leaves a fresh interdomain port pending. */
		deliver(w, d, (unsigned)p);
	}
	unlock(w);
	return p;
}

static int
ev_notify_(struct xen_if *x, uint32_t port)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *d, *rd;
	int rc = -1;

	lock(w);
	d = dom_find(w, x->self);
	if (d == NULL || port == 0 || port >= FX_NPORTS || d->port[port].handle != P(x)->h)
		errno = EINVAL;
	else if (d->port[port].state != PORT_INTER)
		errno = ENOTCONN;
	else if ((rd = dom_find(w, d->port[port].rdom)) == NULL)
		errno = ENOTCONN;
	else {
		deliver(w, rd, d->port[port].rport);
		rc = 0;
	}
	unlock(w);
	return rc;
}

static void
port_close(struct fx_world *w, struct fx_dom *d, unsigned port)
{
	struct fx_port *p = &d->port[port];
	struct fx_dom *rd;

	if (p->state == PORT_INTER && (rd = dom_find(w, p->rdom)) != NULL &&
	    rd->port[p->rport].state == PORT_INTER &&
	    rd->port[p->rport].rport == port) {
		/* The peer's end returns to unbound (EVTCHNOP_close). */
		rd->port[p->rport].state = PORT_UNBOUND;
		rd->port[p->rport].rport = 0;
	}
	memset(p, 0, sizeof(*p));
	p->handle = -1;
}

static int
ev_unbind_(struct xen_if *x, uint32_t port)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *d;
	int rc = -1;

	lock(w);
	d = dom_find(w, x->self);
	if (d == NULL || port == 0 || port >= FX_NPORTS ||
	    d->port[port].state == PORT_FREE || d->port[port].handle != P(x)->h)
		errno = EINVAL;
	else {
		port_close(w, d, port);
		rc = 0;
	}
	unlock(w);
	return rc;
}

static int
ev_pending_(struct xen_if *x)
{
	struct fx_world *w = P(x)->w;
	struct fx_handle *hd = &w->s->hnd[P(x)->h];
	uint64_t v;
	int port = -1;

	if (read(w->evfd[P(x)->h], &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled */
	}
	lock(w);
	if (hd->evq_cons != hd->evq_prod) {
		port = hd->evq[hd->evq_cons % FX_EVQ];
		hd->evq_cons++;
	}
	unlock(w);
	return port;
}

static int
ev_unmask_(struct xen_if *x, uint32_t port)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *d;

	lock(w);
	d = dom_find(w, x->self);
	if (d != NULL && port > 0 && port < FX_NPORTS && d->port[port].handle == P(x)->h) {
		d->port[port].masked = 0;
		if (d->port[port].pending) {
			d->port[port].pending = 0;
			d->events_in--;		/* counted when it was raised */
			deliver(w, d, port);
		}
	}
	unlock(w);
	return 0;
}

static int
ev_fd_(struct xen_if *x)
{
	return P(x)->w->evfd[P(x)->h];
}

/* Grants */

static int
gcopy_(struct xen_if *x, struct xen_gcopy *segs, unsigned n)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *d = NULL;
	unsigned i;

	for (i = 0; i < n; i++)
		if ((uint32_t)segs[i].foff + segs[i].len > XEN_PAGE_SIZE) {
			errno = EINVAL;		/* gntdev refuses the whole call */
			return -1;
		}
	lock(w);
	for (i = 0; i < n; i++) {
		struct xen_gcopy *g = &segs[i];
		struct fx_gnt e;

		/* A batch is nearly always one peer's: look it up once. */
		if (d == NULL || d->domid != g->domid)
			d = dom_find(w, g->domid);
		uint8_t *pg;

		if (d == NULL) {
			g->status = GNTST_bad_domain;
			continue;
		}
		if (g->ref >= FX_NGRANT) {
			g->status = GNTST_bad_gntref;
			continue;
		}
		e = d->gnt[g->ref];
		if (!(e.flags & GTF_permit) || e.grantee != x->self ||
		    e.page >= FX_NPAGES) {
			g->status = GNTST_bad_gntref;
			continue;
		}
		if (g->to_foreign && (e.flags & GTF_readonly)) {
			g->status = GNTST_permission_denied;
			continue;
		}
		pg = w->pages + (size_t)e.page * XEN_PAGE_SIZE + g->foff;
		if (g->to_foreign)
			memcpy(pg, g->local, g->len);
		else
			memcpy(g->local, pg, g->len);
		g->status = GNTST_okay;
	}
	unlock(w);
	return 0;
}

static void *
gmap_(struct xen_if *x, uint16_t domid, uint32_t ref, int writable)
{
	struct fx_world *w = P(x)->w;
	struct fx_priv *pv = P(x);
	struct fx_dom *d, *me;
	void *a = NULL;
	int i;

	for (i = 0; i < FX_MAXMAPS; i++)
		if (pv->map[i].addr == NULL)
			break;
	lock(w);
	d = dom_find(w, domid);
	me = dom_find(w, x->self);
	if (i == FX_MAXMAPS || d == NULL || me == NULL || ref >= FX_NGRANT ||
	    !(d->gnt[ref].flags & GTF_permit) || d->gnt[ref].grantee != x->self ||
	    d->gnt[ref].page >= FX_NPAGES ||
	    (writable && (d->gnt[ref].flags & GTF_readonly))) {
		errno = EINVAL;
	} else {
		uint32_t pg = d->gnt[ref].page;

		a = w->pages + (size_t)pg * XEN_PAGE_SIZE;
		w->s->page_maps[pg]++;
		me->maps_held++;
		w->s->hnd[pv->h].maps++;
		pv->map[i].addr = a;
		pv->map[i].dom = domid;
		pv->map[i].ref = ref;
	}
	unlock(w);
	return a;
}

static int
gunmap_(struct xen_if *x, void *addr)
{
	struct fx_world *w = P(x)->w;
	struct fx_priv *pv = P(x);
	struct fx_dom *me;
	uint32_t pg;
	int i;

	for (i = 0; i < FX_MAXMAPS; i++)
		if (pv->map[i].addr == addr && addr != NULL)
			break;
	if (i == FX_MAXMAPS) {
		errno = EINVAL;
		return -1;
	}
	pv->map[i].addr = NULL;
	pg = (uint32_t)(((uint8_t *)addr - w->pages) / XEN_PAGE_SIZE);
	lock(w);
	if (w->s->page_maps[pg] > 0)
		w->s->page_maps[pg]--;
	if ((me = dom_find(w, x->self)) != NULL && me->maps_held > 0)
		me->maps_held--;
	if (w->s->hnd[pv->h].maps > 0)
		w->s->hnd[pv->h].maps--;
	if (w->s->page_maps[pg] == 0 && w->s->page_orphan[pg]) {
		w->s->page_orphan[pg] = 0;
		w->s->page_used[pg] = 0;
	}
	unlock(w);
	return 0;
}

static void *
gshare_(struct xen_if *x, uint16_t domid, unsigned count, uint32_t *refs, int writable)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *me;
	unsigned i, run = 0, start = 0, r, k;
	uint8_t *a = NULL;

	if (count == 0 || count > 512) {
		errno = EINVAL;
		return NULL;
	}
	lock(w);
	if ((me = dom_find(w, x->self)) == NULL)
		goto out;
	for (i = 0; i < FX_NPAGES && run < count; i++) {
		if (w->s->page_used[i]) {
			run = 0;
			continue;
		}
		if (run++ == 0)
			start = i;
	}
	if (run < count) {
		errno = ENOSPC;
		goto out;
	}
	/* Grant refs first, so a failure leaves nothing behind. */
	for (r = FX_GNT_FIRST, k = 0; r < FX_NGRANT && k < count; r++)
		if (me->gnt[r].flags == 0)
			refs[k++] = r;
	if (k < count) {
		errno = ENOSPC;
		goto out;
	}
	a = w->pages + (size_t)start * XEN_PAGE_SIZE;
	memset(a, 0, (size_t)count * XEN_PAGE_SIZE);
	for (k = 0; k < count; k++) {
		w->s->page_used[start + k] = 1;
		me->gnt[refs[k]].page = start + k;
		me->gnt[refs[k]].grantee = domid;
		me->gnt[refs[k]].flags = (uint16_t)(GTF_permit | (writable ? 0 : GTF_readonly));
		me->gnt[refs[k]].handle = (int16_t)P(x)->h;
	}
out:
	unlock(w);
	return a;
}

static void
revoke_page(struct fx_world *w, uint32_t pg)
{
	if (w->s->page_maps[pg] > 0)
		w->s->page_orphan[pg] = 1;	/* freed at the peer's unmap */
	else
		w->s->page_used[pg] = 0;
}

static int
gunshare_(struct xen_if *x, void *addr, unsigned count)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *me;
	uint32_t pg0 = (uint32_t)(((uint8_t *)addr - w->pages) / XEN_PAGE_SIZE);
	unsigned r;

	lock(w);
	if ((me = dom_find(w, x->self)) != NULL) {
		for (r = 0; r < FX_NGRANT; r++)
			if (me->gnt[r].flags && me->gnt[r].page >= pg0 &&
			    me->gnt[r].page < pg0 + count)
				memset(&me->gnt[r], 0, sizeof(me->gnt[r]));
		for (r = 0; r < count; r++)
			revoke_page(w, pg0 + r);
	}
	unlock(w);
	return 0;
}

static void
close_(struct xen_if *x)
{
	struct fx_world *w = P(x)->w;
	struct fx_dom *d;
	int h = P(x)->h, i;
	uint64_t v;

	for (i = 0; i < FX_MAXMAPS; i++)
		if (P(x)->map[i].addr != NULL)
			gunmap_(x, P(x)->map[i].addr);
	lock(w);
	if ((d = dom_find(w, x->self)) != NULL) {
		for (i = 1; i < FX_NPORTS; i++)
			if (d->port[i].state != PORT_FREE && d->port[i].handle == h)
				port_close(w, d, (unsigned)i);
		/* Its grants stay; the slot's next owner must not inherit them. */
		for (i = 0; i < FX_NGRANT; i++)
			if (d->gnt[i].flags && d->gnt[i].handle == h)
				d->gnt[i].handle = -1;
	}
	for (i = 0; i < FX_NWATCH; i++)
		if (w->s->watch[i].used && w->s->watch[i].handle == h)
			w->s->watch[i].used = 0;
	memset(&w->s->hnd[h], 0, sizeof(w->s->hnd[h]));
	unlock(w);
	if (read(w->evfd[h], &v, sizeof(v)) < 0 || read(w->wfd[h], &v, sizeof(v)) < 0) {
		/* nothing was pending */
	}
	free(x->impl);
	free(x);
}

/*
 * A process that died without closing its handle: what the kernel does
 * when a process holding /dev/xen/evtchn, gntdev and gntalloc exits. Its
 * ports close (the peers' ends return to unbound, so a restarted backend
 * can bind them again), its watches go, its mappings stop counting, and
 * the grants it gave end (a page a peer still maps lives until unmapped).
 * (Called locked; page reference counts of its maps are not tracked per
 * handle, so such pages are only freed with their grants.)
 */
static void
handles_gc(struct fx_world *w)
{
	int h, i;

	for (h = 0; h < FX_MAXH; h++) {
		struct fx_handle *hd = &w->s->hnd[h];
		struct fx_dom *d;

		if (!hd->used || hd->pid <= 0 || kill(hd->pid, 0) == 0 || errno != ESRCH)
			continue;
		if ((d = dom_find(w, hd->domid)) != NULL) {
			for (i = 1; i < FX_NPORTS; i++)
				if (d->port[i].state != PORT_FREE && d->port[i].handle == h)
					port_close(w, d, (unsigned)i);
			d->maps_held -= d->maps_held >= hd->maps ? hd->maps : d->maps_held;
			for (i = 0; i < FX_NGRANT; i++)
				if (d->gnt[i].flags && d->gnt[i].handle == h) {
					revoke_page(w, d->gnt[i].page);
					memset(&d->gnt[i], 0, sizeof(d->gnt[i]));
				}
		}
		for (i = 0; i < FX_NWATCH; i++)
			if (w->s->watch[i].used && w->s->watch[i].handle == h)
				w->s->watch[i].used = 0;
		memset(hd, 0, sizeof(*hd));
	}
}

struct xen_if *
fx_open(struct fx_world *w, unsigned domid)
{
	struct xen_if *x;
	struct fx_priv *pv;
	int h;

	if ((x = calloc(1, sizeof(*x))) == NULL || (pv = calloc(1, sizeof(*pv))) == NULL) {
		free(x);
		return NULL;
	}
	lock(w);
	handles_gc(w);
	for (h = 0; h < FX_MAXH; h++)
		if (!w->s->hnd[h].used)
			break;
	if (h == FX_MAXH || dom_find(w, domid) == NULL) {
		unlock(w);
		free(pv);
		free(x);
		errno = ENOSPC;
		return NULL;
	}
	memset(&w->s->hnd[h], 0, sizeof(w->s->hnd[h]));
	w->s->hnd[h].used = 1;
	w->s->hnd[h].domid = (uint16_t)domid;
	w->s->hnd[h].pid = (int32_t)getpid();
	unlock(w);
	pv->w = w;
	pv->h = h;
	x->self = domid;
	x->impl = pv;
	x->gcopy = gcopy_;
	x->gmap = gmap_;
	x->gunmap = gunmap_;
	x->gshare = gshare_;
	x->gunshare = gunshare_;
	x->ev_fd = ev_fd_;
	x->ev_bind_interdomain = ev_bind_interdomain_;
	x->ev_bind_unbound = ev_bind_unbound_;
	x->ev_notify = ev_notify_;
	x->ev_unbind = ev_unbind_;
	x->ev_pending = ev_pending_;
	x->ev_unmask = ev_unmask_;
	x->xs_fd = xs_fd_;
	x->xs_read = xs_read_;
	x->xs_write = xs_write_;
	x->xs_mkdir = xs_mkdir_;
	x->xs_rm = xs_rm_;
	x->xs_directory = xs_directory_;
	x->xs_set_perms = xs_set_perms_;
	x->xs_watch = xs_watch_;
	x->xs_unwatch = xs_unwatch_;
	x->xs_check_watch = xs_check_watch_;
	x->xs_tx_start = xs_tx_start_;
	x->xs_tx_end = xs_tx_end_;
	x->close = close_;
	return x;
}

/* World creation and sharing */

static struct fx_node *
node_raw(struct fx_world *w, const char *path, uint16_t owner, char others)
{
	struct fx_node *n = node_find(w, path);
	int i;

	if (n == NULL) {
		for (i = 0; i < FX_NNODES; i++)
			if (!w->s->node[i].used)
				break;
		if (i == FX_NNODES)
			return NULL;
		n = &w->s->node[i];
		memset(n, 0, sizeof(*n));
		n->used = 1;
		snprintf(n->path, sizeof(n->path), "%s", path);
	}
	n->nperm = 1;
	n->perm[0].domid = owner;
	n->perm[0].perm = others;
	return n;
}

struct fx_world *
fx_world_create(void)
{
	struct fx_world *w;
	pthread_mutexattr_t ma;
	int i;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->memfd = memfd_create("fakexen", MFD_CLOEXEC)) < 0)
		goto fail;
	if (ftruncate(w->memfd, (off_t)(pages_off() + (size_t)FX_NPAGES * XEN_PAGE_SIZE)) < 0)
		goto fail;
	if (world_map(w) < 0)
		goto fail;
	for (i = 0; i < FX_MAXH; i++) {
		w->evfd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		w->wfd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->evfd[i] < 0 || w->wfd[i] < 0)
			goto fail;
	}
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&w->s->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	w->s->magic = FX_MAGIC;
	node_raw(w, "/", 0, 'n');
	node_raw(w, "/local", 0, 'n');
	node_raw(w, "/local/domain", 0, 'n');
	fx_domain_create(w, 0);
	return w;
fail:
	free(w);
	return NULL;
}

int
fx_domain_create(struct fx_world *w, unsigned domid)
{
	char path[64];
	int i, rc = -1;

	lock(w);
	if (dom_find(w, domid) != NULL) {
		unlock(w);
		return 0;
	}
	for (i = 0; i < FX_MAXDOM; i++)
		if (!w->s->dom[i].used) {
			struct fx_dom *d = &w->s->dom[i];
			int p;

			memset(d, 0, sizeof(*d));
			d->used = 1;
			d->domid = (uint16_t)domid;
			for (p = 0; p < FX_NPORTS; p++)
				d->port[p].handle = -1;
			rc = 0;
			break;
		}
	if (rc == 0) {
		snprintf(path, sizeof(path), "/local/domain/%u", domid);
		node_raw(w, path, (uint16_t)domid, 'n');
		fire(w, path, 0);
	}
	unlock(w);
	return rc;
}

void
fx_domain_destroy(struct fx_world *w, unsigned domid)
{
	struct fx_dom *d;
	int i;

	lock(w);
	if ((d = dom_find(w, domid)) == NULL) {
		unlock(w);
		return;
	}
	for (i = 1; i < FX_NPORTS; i++)
		if (d->port[i].state != PORT_FREE)
			port_close(w, d, (unsigned)i);
	for (i = 0; i < FX_NGRANT; i++)
		if (d->gnt[i].flags) {
			revoke_page(w, d->gnt[i].page);
			memset(&d->gnt[i], 0, sizeof(d->gnt[i]));
		}
	for (i = 0; i < FX_MAXH; i++)
		if (w->s->hnd[i].used && w->s->hnd[i].domid == domid) {
			int k;

			for (k = 0; k < FX_NWATCH; k++)
				if (w->s->watch[k].used && w->s->watch[k].handle == i)
					w->s->watch[k].used = 0;
			w->s->hnd[i].used = 0;
		}
	d->used = 0;
	unlock(w);
}

int
fx_serve(struct fx_world *w, int sock)
{
	int fds[1 + 2 * FX_MAXH], i;
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct msghdr m = { 0 };
	struct cmsghdr *c;
	struct iovec iov;
	uint32_t magic = FX_MAGIC;

	fds[0] = w->memfd;
	for (i = 0; i < FX_MAXH; i++) {
		fds[1 + i] = w->evfd[i];
		fds[1 + FX_MAXH + i] = w->wfd[i];
	}
	iov.iov_base = &magic;
	iov.iov_len = sizeof(magic);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(magic) ? 0 : -1;
}

struct fx_world *
fx_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fds[1 + 2 * FX_MAXH], s, i;
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct msghdr m = { 0 };
	struct cmsghdr *c;
	struct iovec iov;
	struct fx_world *w;
	uint32_t magic = 0;

	if (strlen(path) >= sizeof(sun.sun_path))
		return NULL;
	strcpy(sun.sun_path, path);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return NULL;
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(s);
		return NULL;
	}
	iov.iov_base = &magic;
	iov.iov_len = sizeof(magic);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	if (recvmsg(s, &m, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(magic) || magic != FX_MAGIC ||
	    (c = CMSG_FIRSTHDR(&m)) == NULL || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(fds))) {
		close(s);
		return NULL;
	}
	close(s);
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->memfd = fds[0];
	for (i = 0; i < FX_MAXH; i++) {
		w->evfd[i] = fds[1 + i];
		w->wfd[i] = fds[1 + FX_MAXH + i];
	}
	if (world_map(w) < 0 || w->s->magic != FX_MAGIC) {
		free(w);
		return NULL;
	}
	return w;
}

/* Observations */

unsigned
fx_maps_held(struct fx_world *w, unsigned domid)
{
	struct fx_dom *d;
	unsigned n = 0;

	lock(w);
	if ((d = dom_find(w, domid)) != NULL)
		n = d->maps_held;
	unlock(w);
	return n;
}

unsigned
fx_ports_bound(struct fx_world *w, unsigned domid)
{
	struct fx_dom *d;
	unsigned n = 0;
	int i;

	lock(w);
	if ((d = dom_find(w, domid)) != NULL)
		for (i = 1; i < FX_NPORTS; i++)
			n += d->port[i].state != PORT_FREE;
	unlock(w);
	return n;
}

unsigned
fx_grants_active(struct fx_world *w, unsigned domid)
{
	struct fx_dom *d;
	unsigned n = 0;
	int i;

	lock(w);
	if ((d = dom_find(w, domid)) != NULL)
		for (i = 0; i < FX_NGRANT; i++)
			n += d->gnt[i].flags != 0;
	unlock(w);
	return n;
}

unsigned
fx_nodes_under(struct fx_world *w, const char *path)
{
	unsigned n = 0;
	int i;

	lock(w);
	for (i = 0; i < FX_NNODES; i++)
		n += w->s->node[i].used && is_under(w->s->node[i].path, path);
	unlock(w);
	return n;
}

unsigned
fx_pages_used(struct fx_world *w)
{
	unsigned n = 0;
	int i;

	lock(w);
	for (i = 0; i < FX_NPAGES; i++)
		n += w->s->page_used[i];
	unlock(w);
	return n;
}

void
fx_fail_commits(struct fx_world *w, unsigned n)
{
	lock(w);
	w->s->fail_commits = n;
	unlock(w);
}

uint64_t
fx_events_sent(struct fx_world *w, unsigned domid)
{
	struct fx_dom *d;
	uint64_t n = 0;

	lock(w);
	if ((d = dom_find(w, domid)) != NULL)
		n = d->events_in;
	unlock(w);
	return n;
}
