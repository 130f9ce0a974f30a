/*
 * xen_proto.h: the Xen PV network (netif) wire format, as netbackd sees it.
 *
 * Our own declarations of the layouts in Xen's public io/netif.h and
 * io/ring.h (stable-4.17); sizes and offsets are asserted below so a
 * mistake cannot compile. Everything in these structs comes from a peer VM
 * (a client's netfront, or the NetVM's netback) and is untrusted: it is
 * copied out of the shared page once (xnr_copy_*) and then checked by
 * xen_valid.c before any field is used.
 */
#ifndef MOAT_XEN_PROTO_H
#define MOAT_XEN_PROTO_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define XEN_PAGE_SIZE		4096u

/* One shared ring page: a 64-byte header, then the slots. */
struct xnr_sring {
	uint32_t	req_prod;	/* frontend */
	uint32_t	req_event;	/* backend */
	uint32_t	rsp_prod;	/* backend */
	uint32_t	rsp_event;	/* frontend */
	uint8_t		pvt[4];
	uint8_t		pad[44];
	uint8_t		ring[];		/* XNR_RING_SIZE slots */
};
static_assert(sizeof(struct xnr_sring) == 64, "ring header is 64 bytes");

/* TX request: first slot's size is the whole packet, later ones the fragment. */
struct netif_tx_request {
	uint32_t	gref;
	uint16_t	offset;
	uint16_t	flags;		/* NETTXF_* */
	uint16_t	id;
	uint16_t	size;
};
static_assert(sizeof(struct netif_tx_request) == 12, "tx request is 12 bytes");

struct netif_tx_response {
	uint16_t	id;
	int16_t		status;		/* NETIF_RSP_* */
};
static_assert(sizeof(struct netif_tx_response) == 4, "tx response is 4 bytes");

struct netif_rx_request {
	uint16_t	id;
	uint16_t	pad;
	uint32_t	gref;		/* a whole page, writable by the backend */
};
static_assert(sizeof(struct netif_rx_request) == 8, "rx request is 8 bytes");

struct netif_rx_response {
	uint16_t	id;
	uint16_t	offset;
	uint16_t	flags;		/* NETRXF_* */
	int16_t		status;		/* > 0 bytes in this slot, < 0 error */
};
static_assert(sizeof(struct netif_rx_response) == 8, "rx response is 8 bytes");

/* An extra-info slot overlays a TX request or an RX response. */
struct netif_extra_info {
	uint8_t		type;		/* XEN_NETIF_EXTRA_TYPE_* */
	uint8_t		flags;		/* XEN_NETIF_EXTRA_FLAG_MORE */
	union {
		struct {
			uint16_t	size;	/* MSS, never 0 */
			uint8_t		type;	/* XEN_NETIF_GSO_TYPE_* */
			uint8_t		pad;
			uint16_t	features;
		} gso;
		uint8_t		mcast_addr[6];
		uint8_t		raw[6];
	} u;
};
static_assert(sizeof(struct netif_extra_info) == 8, "extra info is 8 bytes");
static_assert(offsetof(struct netif_extra_info, u.gso.type) == 4, "gso type at 4");

/* A TX ring slot (12 bytes) and an RX ring slot (8 bytes). */
union netif_tx_slot {
	struct netif_tx_request	 req;
	struct netif_tx_response rsp;
	struct netif_extra_info	 extra;
};
static_assert(sizeof(union netif_tx_slot) == 12, "tx slot is 12 bytes");
union netif_rx_slot {
	struct netif_rx_request	 req;
	struct netif_rx_response rsp;
	struct netif_extra_info	 extra;
};
static_assert(sizeof(union netif_rx_slot) == 8, "rx slot is 8 bytes");

/* (4096 - 64) / 12 and / 8, rounded down to a power of two. */
#define XNR_TX_RING_SIZE	256u
#define XNR_RX_RING_SIZE	256u
static_assert(64 + XNR_TX_RING_SIZE * 12 <= XEN_PAGE_SIZE, "tx ring fits a page");
static_assert(64 + XNR_RX_RING_SIZE * 8 <= XEN_PAGE_SIZE, "rx ring fits a page");

#define NETTXF_csum_blank	(1u << 0)
#define NETTXF_data_validated	(1u << 1)
#define NETTXF_more_data	(1u << 2)
#define NETTXF_extra_info	(1u << 3)

/* Note the RX bit order differs from TX. */
#define NETRXF_data_validated	(1u << 0)
#define NETRXF_csum_blank	(1u << 1)
#define NETRXF_more_data	(1u << 2)
#define NETRXF_extra_info	(1u << 3)
#define NETRXF_gso_prefix	(1u << 4)

#define XEN_NETIF_EXTRA_TYPE_NONE	0
#define XEN_NETIF_EXTRA_TYPE_GSO	1
#define XEN_NETIF_EXTRA_TYPE_MCAST_ADD	2
#define XEN_NETIF_EXTRA_TYPE_MCAST_DEL	3
#define XEN_NETIF_EXTRA_TYPE_HASH	4
#define XEN_NETIF_EXTRA_TYPE_MAX	5
#define XEN_NETIF_EXTRA_FLAG_MORE	(1u << 0)

#define XEN_NETIF_GSO_TYPE_NONE		0
#define XEN_NETIF_GSO_TYPE_TCPV4	1
#define XEN_NETIF_GSO_TYPE_TCPV6	2

#define NETIF_RSP_DROPPED	(-2)
#define NETIF_RSP_ERROR		(-1)
#define NETIF_RSP_OKAY		0
#define NETIF_RSP_NULL		1	/* the answer to an extra-info slot */

#define XEN_NETIF_MAX_TX_SIZE	0xffffu
/* Slots every backend must accept per packet, and what Linux netfront
 * sends at most (MAX_XEN_SKB_FRAGS + 1). */
#define XEN_NETIF_NR_SLOTS_MIN	18u

/* XenbusState, stored in XenStore as a decimal string. */
enum xenbus_state {
	XB_UNKNOWN = 0, XB_INITIALISING = 1, XB_INITWAIT = 2, XB_INITIALISED = 3,
	XB_CONNECTED = 4, XB_CLOSING = 5, XB_CLOSED = 6, XB_RECONFIGURING = 7,
	XB_RECONFIGURED = 8
};

/* Grant status codes (public/grant_table.h), unless Xen's headers are in. */
#ifndef GNTST_okay
#define GNTST_okay		0
#define GNTST_general_error	(-1)
#define GNTST_bad_domain	(-2)
#define GNTST_bad_gntref	(-3)
#define GNTST_permission_denied	(-8)
#define GNTST_bad_copy_arg	(-10)
#endif

#endif
