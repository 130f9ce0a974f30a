/*
 * nb.h: the netbackd core, shared by its backends (devnet, xen).
 *
 * The core owns the two rings to natd and the packet buffers netbackd
 * holds. A backend moves frames between its devices and the core:
 *   - received frame: take a buffer with nb_buf_alloc(), fill it, hand it
 *     to natd with nb_rx() (the buffer now belongs to natd);
 *   - frame to send: the core calls the backend's tx() with a descriptor
 *     whose buffer the backend must give back with nb_buf_free() once the
 *     bytes are out (or dropped);
 *   - links: nb_link_up()/nb_link_down() announce a port to natd and
 *     policyd (through the supervisor).
 * Backends register their file descriptors with nb_watch(); the core's
 * epoll loop calls back when they are readable.
 */
#ifndef MOAT_NB_H
#define MOAT_NB_H

#include <stdint.h>
#include "ring.h"
#include "msg.h"
#include "sandbox.h"

struct nb;

struct nb_backend {
	const char	*name;
	/* Called once after the queues are attached and before the sandbox:
	 * open devices. Returns 0 or -1 (fatal). */
	int	(*open)(struct nb *nb);
	/* One devnet link to open (devnet only). */
	int	(*add_link)(struct nb *nb, const struct msg_devnet_link *l);
	/* Transmit the frame in d on d->port; always returns the buffer with
	 * nb_buf_free(), now or later. */
	void	(*tx)(struct nb *nb, const struct mq_desc *d);
	/* Called when the tx burst is over: flush batched sends. May be NULL. */
	void	(*tx_flush)(struct nb *nb);
	/* Periodic work (timeouts, re-open of lost links); may be NULL. */
	void	(*tick)(struct nb *nb, uint64_t now_ms);
	/* 1: tx() and tx_flush() run on a thread of their own (netbackd.c),
	 * so they touch nothing the rest of the backend does, except the
	 * buffers, which they give back with nb_buf_free() as always. */
	int	tx_thread;
	/* Its mode in netbackd's sandbox table (netbackd_sandbox.c): the
	 * lines of NB_SC_* it loads; 0: the core's only. */
	uint32_t sc_mode;
};

/* Buffers */
int	 nb_buf_alloc(struct nb *nb, uint32_t *idx);	/* 0, or -1 when none is free */
void	 nb_buf_free(struct nb *nb, uint32_t idx);
uint8_t	*nb_buf(struct nb *nb, uint32_t idx);
uint32_t nb_buf_size(struct nb *nb);
/* Hand a received frame to natd. On a full ring the frame is dropped and
 * counted, and its buffer freed: returns -1. */
int	 nb_rx(struct nb *nb, const struct mq_desc *d);
/* Links */
void	 nb_link_up(struct nb *nb, const struct msg_link *l);
void	 nb_link_down(struct nb *nb, uint16_t port);
/* Event loop: cb(nb, arg) when fd is readable. 0 or -1. */
int	 nb_watch(struct nb *nb, int fd, void (*cb)(struct nb *, void *), void *arg);
void	 nb_unwatch(struct nb *nb, int fd);

/* netbackd_sandbox.c: the policy, whose one table has lines for every
 * backend and lines for one (its sc_mode). */
#define NB_SC_DEVNET	(1u << 0)
#define NB_SC_XEN	(1u << 1)
extern const struct sandbox_policy netbackd_sandbox_policy;

extern const struct nb_backend nb_backend_devnet;
extern const struct nb_backend nb_backend_xen;
extern const struct nb_backend nb_backend_none;

#endif
