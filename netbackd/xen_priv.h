/*
 * xen_priv.h: state shared by the Xen backend's files: xen_back.c (glue
 * to the core), xen_back_ring.c and xen_back_xs.c for the client vifs,
 * xen_front.c for the uplink to the NetVM. TX and RX are the guest's
 * (the frontend's) directions throughout; see xen_back_ring.c.
 */
#ifndef MOAT_XEN_PRIV_H
#define MOAT_XEN_PRIV_H

#include <stdint.h>
#include "nb.h"
#include "pkt.h"
#include "ring.h"
#include "xen_if.h"
#include "xen_proto.h"
#include "xen_valid.h"

#define XB_MAXVIF	64
#define XB_RXQ		128	/* frames queued per client waiting for RX slots */
#define XB_RXQ_MS	2000	/* ...and for at most this long (XSA-392) */
#define XB_BATCH	64	/* packets per grant-copy batch */
#define XB_ROUNDS	16	/* ring passes per wakeup before yielding */
#define XB_STORM	1000	/* idle wakeups per second that make a storm */
#define XB_RM_DELAY_MS	300	/* Closed stays readable this long for libxl */
/* Connects per client: a burst of XB_CONN_BURST, then one per XB_CONN_MS.
 * A frontend flapping its state would otherwise have us map its rings,
 * bind its channel and log a line at every cycle, as fast as it can write
 * XenStore; a reboot or module reload needs one connect, a backend restart
 * one more. A connect beyond that waits (the frontend sees InitWait) until
 * a token is there. */
#define XB_CONN_BURST	5
#define XB_CONN_MS	2000
#define XB_MTU		1500	/* a client link's; GSO segments must fit it */
#define XB_GSO_V4	1
#define XB_GSO_V6	2

/* Counters, readable by tests and stats. */
struct xen_stats {
	uint64_t	violations;	/* peers disconnected for breaking the protocol */
	uint64_t	tx_pkts;	/* frames from clients handed to natd */
	uint64_t	tx_drops;
	uint64_t	rx_pkts;	/* frames copied into clients */
	uint64_t	rx_drops;
	uint64_t	up_rx_pkts;	/* uplink: frames from the NetVM */
	uint64_t	up_tx_pkts;
	uint64_t	up_drops;
	uint32_t	vifs;		/* vifs known */
	uint32_t	vifs_connected;
	uint32_t	uplink_connected;
	char		last_violation[96];
	uint64_t	tx_gso;		/* super-frames from clients handed to natd */
	uint64_t	rx_gso;		/* super-frames copied into clients */
	uint64_t	up_renegs;	/* uplink: fresh connections after a close or restart */
	uint64_t	connects;	/* client rings mapped and channel bound (tried) */
	uint64_t	connects_deferred;	/* ...held back: that client reconnected too often */
	uint64_t	rx_gso_cut;	/* super-frames cut into segments for a client without GSO */
	uint64_t	up_gso_cut;	/* ...for a NetVM without GSO */
	uint64_t	up_tx_gso;	/* super-frames sent whole to the NetVM */
	uint64_t	up_rx_gso;	/* super-frames received whole from the NetVM */
};

struct xvif {
	uint8_t		 used, init_done, connected, broken, fe_watched;
	uint8_t		 fe_sg;
	uint8_t		 fe_gso;	/* XB_GSO_*: what the frontend takes on RX */
	uint8_t		 more;		/* budget ran out with work left */
	uint8_t		 link_up;	/* natd was told about this vif */
	uint8_t		 dying;		/* Closed for dom0; dir goes at rm_at */
	uint8_t		 conn_pending;	/* the frontend waits for a connect held back */
	uint8_t		 conn_logged;	/* ...said once since the last connect */
	uint64_t	 conn_tat;	/* connect bucket: next token's time (GCRA) */
	uint64_t	 rm_at;
	unsigned	 domid, devid;
	uint16_t	 port;
	enum xenbus_state state;	/* what we last wrote */
	char		 bpath[80], fpath[80], token[16], name[32];
	uint8_t		 mac[6];
	uint32_t	 ip4;
	uint8_t		 ip6[16];	/* all zero: none */
	struct xnr_sring *tx, *rx;	/* mapped ring pages (peer-writable) */
	uint32_t	 tx_cons;	/* private; also our TX response producer */
	uint32_t	 rx_cons;	/* RX requests taken */
	uint32_t	 rx_rsp;	/* RX responses produced */
	int		 evport;
	struct {
		struct mq_desc	d;
		uint64_t	t_ms;
	} rxq[XB_RXQ];
	unsigned	 rxq_head, rxq_len;
	uint64_t	 storm_t0, storm_n;
	/* The head of rxq being cut into segments for a client that takes
	 * no TSO (xb_rx_push): the headers checked, the next segment. */
	uint8_t		 cut_on;
	unsigned	 cut_next;
	struct pkt_gso_cut cut;
};

struct xfront;

struct xenb {
	struct nb	*nb;
	struct xen_if	*x;
	int		 xs_fd, ev_fd, kick_fd;
	struct xvif	 vif[XB_MAXVIF];
	struct xfront	*up;
	struct xen_stats st;
	char		 vifdir[64];	/* /local/domain/<self>/backend/vif */
	uint64_t	 last_scan;
	int		 gso;	/* pool buffers hold a 64 KiB frame: clients may send TSO */
};

extern struct xenb xb_g;

/* Test and configuration hooks */
void	xen_backend_use(struct xen_if *x);	/* before open(): use this Xen */
const struct xen_stats *xen_backend_stats(void);

/* Client vifs' rings (xen_back_ring.c). xb_tx_work takes what the
 * client transmitted (returns -1 when the vif was failed, 1 when the
 * budget ran out with work left); xb_rx_push fills the client's RX ring
 * from its queue. *did is set when there was work. */
int	xb_tx_work(struct xvif *v, int *did);
void	xb_rx_push(struct xvif *v, int *did);
/* Queue natd's frame d for the client's RX (a super-frame the client
 * takes no TSO for is cut into segments as xb_rx_push sends it); takes
 * d's buffer. xb_rxq_pop drops the head of the queue, its buffer freed
 * if free_buf. */
void	xb_rx_queue(struct xvif *v, const struct mq_desc *d);
void	xb_rxq_pop(struct xvif *v, int free_buf);

/* Client vifs' XenStore state machine (xen_back_xs.c) */
void	xb_on_xs(struct nb *nb, void *arg);	/* watch events */
void	xb_vif_update(struct xvif *v);	/* act on the vif's XenStore keys */
void	xb_vif_rescan(void);		/* every vif under our backend dir */
void	xb_vif_fail(struct xvif *v, const char *why);	/* protocol broken */
void	xb_vif_reap(struct xvif *v, uint64_t now);	/* dirs of a dying vif */
int	xb_conn_token(struct xvif *v, uint64_t now, int take);

/* Uplink netfront (xen_front.c) */
struct xfront *xfront_open(struct xenb *b);
int	xfront_on_xs(struct xenb *b, const char *path, const char *token);
int	xfront_on_event(struct xenb *b, int port);
void	xfront_tx(struct xenb *b, const struct mq_desc *d);
void	xfront_flush(struct xenb *b);
void	xfront_tick(struct xenb *b, uint64_t now);

/* Ring helpers: reads of a peer-written index happen once, here. */
static inline uint32_t
xring_load(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

#endif
