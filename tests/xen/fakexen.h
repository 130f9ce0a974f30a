/*
 * fakexen.h: a software Xen for tests, shared between processes.
 *
 * The "world" is one memfd mapped MAP_SHARED by every process taking part
 * (dom0 harness, netbackd, client VMs, NetVM), plus two eventfds per handle
 * slot, created up front and inherited over fork() or received over a unix
 * socket (fx_serve/fx_connect). A process opens a handle for one domain id
 * with fx_open() and gets a struct xen_if with Xen's semantics:
 *   - grants: per-domain v1 grant tables over a pool of 4 KiB pages in the
 *     memfd; copy checks the grantee, read-only flag and page bounds (whole
 *     call EINVAL when a foreign side crosses its page, per-segment GNTST
 *     codes otherwise); maps are counted so tests can find leaks;
 *   - event channels: per-domain port tables, unbound/interdomain binding
 *     rules, one pending bit and a mask per port (a delivered port stays
 *     masked until unmasked; a signal meanwhile is delivered at unmask), an
 *     event right after bind_interdomain, delivery by eventfd;
 *   - XenStore: a tree with owner/ACL permissions (dom0 bypasses them,
 *     children inherit, guests own what they create), watches that fire once
 *     at registration and on any change at or below them, removal firing the
 *     watches inside a removed subtree, and transactions that can be made to
 *     fail with EAGAIN. Transactions are not isolated (writes apply at once).
 */
#ifndef MOAT_FAKEXEN_H
#define MOAT_FAKEXEN_H

#include <stdint.h>
#include "netbackd/xen_if.h"

struct fx_world;

/* Creator: a new empty world (XenStore has /local/domain). NULL on error. */
struct fx_world *fx_world_create(void);
/* Hand the world's descriptors to a process on a connected unix socket. */
int	 fx_serve(struct fx_world *w, int sock);
/* The other end: receive a world from a unix socket path. */
struct fx_world *fx_connect(const char *path);
/* A handle for domid in this process. NULL when all handle slots are used. */
struct xen_if *fx_open(struct fx_world *w, unsigned domid);

/* dom0 powers: create / destroy a domain (its ports close, its grants are
 * revoked, its handles die). Creating writes /local/domain/<id> owned by it. */
int	 fx_domain_create(struct fx_world *w, unsigned domid);
void	 fx_domain_destroy(struct fx_world *w, unsigned domid);

/* The world and domain named by MOAT_FAKEXEN=<socket> and
 * MOAT_FAKEXEN_DOMID=<id> (fakexen_env.c), for the test programs that run
 * as a daemon would (nbh_main, netbackd-fakexen): a handle, or NULL with a
 * logged reason. */
struct xen_if *fx_open_env(void);

/* Test observations and knobs */
unsigned fx_maps_held(struct fx_world *w, unsigned domid);	/* grants mapped by domid */
unsigned fx_ports_bound(struct fx_world *w, unsigned domid);	/* ports in use */
unsigned fx_grants_active(struct fx_world *w, unsigned domid);	/* grants domid gives */
unsigned fx_nodes_under(struct fx_world *w, const char *path);
unsigned fx_pages_used(struct fx_world *w);
void	 fx_fail_commits(struct fx_world *w, unsigned n);		/* next n tx_end: EAGAIN */
/* Event channels signalled into domid since creation (storm tests). */
uint64_t fx_events_sent(struct fx_world *w, unsigned domid);

#endif
