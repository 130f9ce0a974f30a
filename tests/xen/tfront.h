/*
 * tfront.h: a test netfront (a client VM's driver) and dom0's toolstack
 * steps, over the fake Xen. Honest by default; every ring field can also be
 * written raw to play a hostile frontend.
 */
#ifndef MOAT_TFRONT_H
#define MOAT_TFRONT_H

#include <stddef.h>
#include <stdint.h>
#include "xen_if.h"
#include "xen_proto.h"
#include "fakexen.h"
#include "tests/testutil.h"	/* tu_sum16, tu_fold: the frames' checksums */

#define TF_TXPAGES	64
#define TF_RXPAGES	64

struct tfront {
	struct xen_if		*x;
	unsigned		 dom, devid, bdom;
	char			 fpath[80], bpath[80];
	struct xnr_sring	*txs, *rxs;
	uint32_t		 txref, rxref;
	int			 port;
	uint8_t			*txpg, *rxpg;
	uint32_t		 txrefs[TF_TXPAGES], rxrefs[TF_RXPAGES];
	uint32_t		 tx_prod, tx_cons, rx_prod, rx_cons;
	uint32_t		 tx_pushed;
	unsigned		 txpage_next;
	/* TX responses seen */
	uint64_t		 rsp_ok, rsp_err, rsp_null, rsp_other;
};

/* dom0: a vif as libxl creates it (backend dir owned by the backend, the
 * client may read; frontend dir owned by the client). */
int	dom0_add_vif(struct xen_if *x0, unsigned bdom, unsigned dom, unsigned devid,
	    const char *mac, const char *ip);
/* dom0: detach as libxl does (online 0, state 5), wait for the backend to
 * remove its dir, then remove the frontend dir. 0 when the backend did. */
int	dom0_remove_vif(struct xen_if *x0, unsigned bdom, unsigned dom, unsigned devid,
	    int timeout_ms);
/* The same in two halves, to detach many at once. wait returns 0 only if
 * the backend showed Closed (libxl reads it) and then removed its dir. */
void	dom0_detach_vif(struct xen_if *x0, unsigned bdom, unsigned dom, unsigned devid);
int	dom0_wait_vif_gone(struct xen_if *x0, unsigned bdom, unsigned dom, unsigned devid,
	    int timeout_ms);
/* Poll a XenStore state node until it reads want; elapsed ms or -1. */
int	xs_wait_state(struct xen_if *x, const char *path, int want, int timeout_ms);
int	xs_state(struct xen_if *x, const char *path);

/* Frontend: share rings and pages, bind, write keys, go Connected and wait
 * for the backend's Connected. 0 or -1. */
int	tf_init(struct tfront *t, struct xen_if *x, unsigned bdom, unsigned devid);
int	tf_connect(struct tfront *t, int timeout_ms);
/* Tests: called after the keys are written, before Connected. */
extern void (*tf_pre_connect)(struct tfront *);
/* Post up to n RX buffers (at most TF_RXPAGES outstanding). */
void	tf_post_rx(struct tfront *t, unsigned n);
/* Queue a frame over nslots data slots (plus an optional extra slot);
 * not yet published. */
int	tf_queue(struct tfront *t, const uint8_t *frame, uint16_t len, unsigned nslots,
	    uint16_t flags, const struct netif_extra_info *extra);
void	tf_raw(struct tfront *t, const struct netif_tx_request *r);
void	tf_publish(struct tfront *t);
/* Collect TX responses; returns how many arrived. */
unsigned tf_reap(struct tfront *t);
/* Receive one frame (reposting its buffers); its length, or -1 on timeout,
 * -2 on a malformed RX answer. */
int	tf_recv(struct tfront *t, uint8_t *buf, size_t cap, int timeout_ms);
/* Send and receive the echo; 0 when it came back identical. */
int	tf_ping(struct tfront *t, const uint8_t *frame, uint16_t len, unsigned nslots,
	    uint16_t flags, int timeout_ms);
/* Frontend close as Linux does: Closing, wait, Closed. */
int	tf_close(struct tfront *t, int timeout_ms);
void	tf_free(struct tfront *t);

/* Frames */
size_t	frame_arp(uint8_t *b, const uint8_t src[6], uint32_t sip, uint32_t tip);
/* UDP/IPv4 of total length len, checksum field left as pseudo-header sum
 * (csum_blank) when partial, else a full checksum. */
size_t	frame_udp(uint8_t *b, size_t len, uint32_t sip, uint32_t dip, int partial);
int	frame_udp_csum_ok(const uint8_t *b, size_t len);

#endif

/* A test NetVM: the backend of our uplink, honest or not. After
 * tn_connect, tn_poll reacts to the frontend's state as Linux netback's
 * frontend_changed does (watch-driven, by value), including the online
 * key: Closing -> Closing, Closed -> Closed (the device goes unless online
 * is 1), Initialising -> (Closed ->) InitWait, Connected -> map the rings
 * named now and Connected. */
struct tnetvm {
	struct xen_if		*x;
	unsigned		 fdom;
	char			 bpath[96], fpath[96];
	struct xnr_sring	*txs, *rxs;
	int			 port;
	uint32_t		 tx_cons, rx_cons;
	uint16_t		 last_id;	/* of the last TX request answered */
	int			 bstate;	/* what we last wrote */
	int			 gone;		/* Closed while not online: unregistered */
	uint32_t		 txref, rxref, evch;	/* of the current connection */
	unsigned		 nconn;		/* connections made */
	uint32_t		 attach_tx, attach_rx;	/* rsp_prod found at connect */
	/* tn_recv: the last frame's first flags and GSO extra (0: none) */
	uint16_t		 last_flags, last_gso_size;
	uint8_t			 last_gso_type;
};
/* Nonzero: the next tn_connect offers feature-gso-tcpv4/6, as Linux. */
extern int tn_gso;
int	dom0_add_uplink(struct xen_if *x0, unsigned fdom, unsigned netvm, const char *mac);
void	dom0_remove_uplink(struct xen_if *x0, unsigned fdom, unsigned netvm);
int	tn_connect(struct tnetvm *n, struct xen_if *x, unsigned fdom, int timeout_ms);
/* Deliver a frame into the firewall's posted RX buffers (one slot). */
int	tn_send(struct tnetvm *n, const uint8_t *frame, uint16_t len);
/* Deliver a super-frame as Linux netback does: data slots of a page,
 * the GSO extra after the first, csum_blank. */
int	tn_send_gso(struct tnetvm *n, const uint8_t *frame, uint16_t len,
	    uint16_t gso_size, uint8_t gso_type);
/* Raw RX response in the next slot (consumes one posted request). */
void	tn_rx_raw(struct tnetvm *n, const struct netif_rx_response *r, int use_req_id);
void	tn_rx_push(struct tnetvm *n, uint32_t prod);
/* Take one frame the firewall transmitted (answering its slots OKAY). */
int	tn_recv(struct tnetvm *n, uint8_t *buf, size_t cap, int timeout_ms);
void	tn_tx_raw(struct tnetvm *n, uint16_t id, int16_t status, uint32_t prod_extra);
/* Handle frontend state changes seen since the last call; our state. */
int	tn_poll(struct tnetvm *n);
/* Write our own state (a hostile or restarting NetVM); leaving Connected
 * drops the rings. */
void	tn_force_state(struct tnetvm *n, int s);
/* Poll until our state is want; elapsed ms or -1. */
int	tn_wait(struct tnetvm *n, int want, int timeout_ms);
