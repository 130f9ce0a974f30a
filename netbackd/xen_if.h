/*
 * xen_if.h: the Xen services netbackd uses, behind one table of functions.
 *
 * Two implementations: xen_real.c over Debian's libxengnttab, libxengntshr,
 * libxenevtchn and libxenstore (/dev/xen/...), the only one in netbackd,
 * and tests/xen/fakexen.c, a software Xen in shared memory that tests hand
 * to the backend (xen_backend_use), in which every test peer (client VM,
 * NetVM, dom0) is a separate process. The netback/netfront code cannot
 * tell them apart. All XenStore paths given here are absolute.
 */
#ifndef MOAT_XEN_IF_H
#define MOAT_XEN_IF_H

#include <stdint.h>

/* One grant-copy segment: between a local buffer and a foreign page. */
struct xen_gcopy {
	void		*local;
	uint32_t	 ref;		/* foreign grant */
	uint16_t	 domid;		/* foreign domain */
	uint16_t	 foff;		/* offset in the foreign page */
	uint16_t	 len;		/* foff + len <= 4096, checked by the caller */
	uint8_t		 to_foreign;	/* 1: local -> foreign page */
	uint8_t		 pad;
	int16_t		 status;	/* GNTST_*, per segment */
};

/* XenStore permission: 'n' none, 'r' read, 'w' write, 'b' both. The first
 * entry names the owner and the default for every other domain. */
struct xen_perm {
	uint16_t	domid;
	char		perm;
};

#define XEN_XS_TX_NONE	0u

struct xen_if {
	unsigned	 self;		/* our domain id */
	void		*impl;

	/* Grants we were given (gnttab) */
	int	(*gcopy)(struct xen_if *, struct xen_gcopy *segs, unsigned n);
	void	*(*gmap)(struct xen_if *, uint16_t domid, uint32_t ref, int writable);
	int	(*gunmap)(struct xen_if *, void *addr);
	/* Grants we give (gntshr): count zeroed contiguous pages */
	void	*(*gshare)(struct xen_if *, uint16_t domid, unsigned count,
		    uint32_t *refs, int writable);
	int	(*gunshare)(struct xen_if *, void *addr, unsigned count);

	/* Event channels: one handle; ports are local port numbers */
	int	(*ev_fd)(struct xen_if *);
	int	(*ev_bind_interdomain)(struct xen_if *, uint16_t domid, uint32_t rport);
	int	(*ev_bind_unbound)(struct xen_if *, uint16_t domid);
	int	(*ev_notify)(struct xen_if *, uint32_t port);
	int	(*ev_unbind)(struct xen_if *, uint32_t port);
	int	(*ev_pending)(struct xen_if *);		/* a port, or -1 when none */
	int	(*ev_unmask)(struct xen_if *, uint32_t port);

	/* XenStore; values are malloc'd and NUL-terminated, *len excludes it */
	int	(*xs_fd)(struct xen_if *);
	char	*(*xs_read)(struct xen_if *, uint32_t t, const char *path, unsigned *len);
	int	(*xs_write)(struct xen_if *, uint32_t t, const char *path,
		    const void *val, unsigned len);
	int	(*xs_mkdir)(struct xen_if *, uint32_t t, const char *path);
	int	(*xs_rm)(struct xen_if *, uint32_t t, const char *path);
	/* Children names; one free() releases the array and the strings. */
	char	**(*xs_directory)(struct xen_if *, uint32_t t, const char *path, unsigned *n);
	int	(*xs_set_perms)(struct xen_if *, uint32_t t, const char *path,
		    const struct xen_perm *p, unsigned n);
	int	(*xs_watch)(struct xen_if *, const char *path, const char *token);
	int	(*xs_unwatch)(struct xen_if *, const char *path, const char *token);
	/* Non-blocking: [0] path, [1] token, one free(); NULL when none. */
	char	**(*xs_check_watch)(struct xen_if *);
	uint32_t (*xs_tx_start)(struct xen_if *);
	/* 0, or -1 with errno (EAGAIN: redo the transaction) */
	int	(*xs_tx_end)(struct xen_if *, uint32_t t, int abort);

	void	(*close)(struct xen_if *);
};

/* Real Xen through /dev/xen/...; NULL with a logged reason on failure. */
struct xen_if *xen_real_open(void);

/* Convenience wrappers shared by netback and netfront (xen_util.c). */
int	 xen_xs_printf(struct xen_if *, uint32_t t, const char *path, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* Read an unsigned decimal value (strict); -1 when absent or malformed. */
int	 xen_xs_read_uint(struct xen_if *, uint32_t t, const char *path, uint64_t max,
	    uint64_t *out);

#endif
