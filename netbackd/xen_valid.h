/*
 * xen_valid.h: pure checks of everything a Xen peer hands netbackd.
 *
 * No function here reads a Xen ring: callers copy ring slots and XenStore
 * values into private memory first (once), then ask these functions
 * whether, and how, they may be used. That keeps the double-fetch class
 * (XSA-155, QSB-023) out by construction and lets the fuzzers drive the
 * exact code the daemon runs. The checks of frames in the shared packet
 * pool (GSO, checksum completion) are common/pkt_offload.c's, which
 * copies the headers in one read by the same rule.
 */
#ifndef MOAT_XEN_VALID_H
#define MOAT_XEN_VALID_H

#include <stddef.h>
#include <stdint.h>
#include "xen_proto.h"

/*
 * TX packets from a client's netfront. Linux netfront sends at most 18
 * data slots; like Linux netback we accept up to 18 slots after the first,
 * drop (answer ERROR, keep the vif) at 19 or 20, and disconnect beyond.
 */
#define XNV_TX_MAX_FURTHER	18u
#define XNV_TX_FATAL_FURTHER	20u
#define XNV_TX_MAX_FRAGS	(1u + XNV_TX_MAX_FURTHER)
#define XNV_TX_MAX_EXTRAS	(XEN_NETIF_EXTRA_TYPE_MAX - 1)
/* The most ring slots one packet may use; callers copy at least this many
 * when that many are published. */
#define XNV_TX_MAX_SLOTS	(1u + XNV_TX_MAX_EXTRAS + XNV_TX_FATAL_FURTHER)
#define XNV_ETH_HLEN		14u

/* XNV_MORE (RX only): the packet continues past what the backend has
 * published so far (Linux netback may push mid-packet); wait for more. */
enum xnv_verdict { XNV_OK = 0, XNV_DROP = 1, XNV_FATAL = 2, XNV_MORE = 3 };

struct xnv_frag {
	uint32_t	gref;
	uint16_t	off;
	uint16_t	len;
};

struct xnv_tx_pkt {
	int		 verdict;	/* enum xnv_verdict */
	const char	*reason;	/* for DROP and FATAL */
	unsigned	 nslots;	/* ring slots this packet used */
	unsigned	 nextra;	/* slots 1..nextra were extra info */
	unsigned	 nfrags;	/* non-empty data fragments in frag[] */
	uint32_t	 total;		/* packet bytes */
	uint16_t	 flags;		/* first slot's NETTXF_* */
	uint16_t	 gso_size;	/* 0 unless a GSO extra came */
	uint8_t		 gso_type;	/* XEN_NETIF_GSO_TYPE_* */
	struct xnv_frag	 frag[XNV_TX_MAX_FRAGS];
};

/*
 * Parse the packet starting at req[0]; req[0..avail) are private copies of
 * the published, not yet consumed requests (avail >= 1). On XNV_OK and
 * XNV_DROP, nslots says how many requests to consume and answer (data slots
 * with their id, slots 1..nextra with NETIF_RSP_NULL). On XNV_FATAL the
 * frontend broke the protocol and must be disconnected.
 */
int	xnv_tx_parse(const struct netif_tx_request *req, unsigned avail,
	    struct xnv_tx_pkt *p);

/*
 * Ring indices. prod is the peer's producer, read once from the page; mine
 * is our private index it is measured against. Returns 1 when the peer's
 * claim fits in a ring of size entries.
 */
int	xnv_prod_ok(uint32_t prod, uint32_t mine, uint32_t size);

/*
 * Uplink netfront: a TX response from the NetVM. pending[id] is nonzero
 * for ids we have a request outstanding under. Returns 1 to use it,
 * 0 for a NULL response (skip), -1 for a protocol violation.
 */
int	xnv_tx_rsp_check(const struct netif_tx_response *r,
	    const uint8_t *pending, unsigned npending, const char **why);

/*
 * Uplink netfront: the RX responses of one packet. rsp[0..avail) are
 * private copies, expect_id[i] the id we posted in the same ring slot.
 * Fills frag[] (offset/len in the page granted for slot i) like the TX
 * parser. A negative status drops the packet; anything impossible is fatal.
 */
struct xnv_rx_pkt {
	int		 verdict;
	const char	*reason;
	unsigned	 nslots;	/* slots used, extras included */
	unsigned	 nfrags;
	uint32_t	 total;
	uint16_t	 flags;		/* first response's NETRXF_* */
	uint16_t	 gso_size;
	uint8_t		 gso_type;
	struct {
		unsigned	slot;	/* index into rsp[] */
		uint16_t	off;
		uint16_t	len;
	} frag[XEN_NETIF_NR_SLOTS_MIN + 1];
};
int	xnv_rx_parse(const struct netif_rx_response *rsp, const uint16_t *expect_id,
	    unsigned avail, struct xnv_rx_pkt *p);

/*
 * XenStore values: bytes of length len, not NUL-terminated by contract
 * (a NUL inside is refused). All return 0 on success, -1 otherwise.
 */
int	xnv_parse_uint(const char *v, size_t len, uint64_t max, uint64_t *out);
int	xnv_parse_mac(const char *v, size_t len, uint8_t mac[6]);
/* The first IPv4 address of a space-separated list ("10.137.0.5 fd09::5"). */
int	xnv_parse_ip4_first(const char *v, size_t len, uint32_t *ip_be);
/* The first IPv6 address of the same list (Qubes writes "IPV4 IPV6" when
 * the client has the `ipv6` feature): 1 with it in ip6, 0 when the list has
 * none, -1 when its first IPv6 word is not a client's address (link-local,
 * multicast, too long, a NUL in it...). */
int	xnv_parse_ip6_in_list(const char *v, size_t len, uint8_t ip6[16]);
int	xnv_parse_state(const char *v, size_t len, enum xenbus_state *st);
/* "/local/domain/<self>/backend/vif/<domid>/<devid>" plus an optional
 * "/rest"; *rest points into path at the rest ("" if none). */
int	xnv_parse_vif_path(const char *path, unsigned self, unsigned *domid,
	    unsigned *devid, const char **rest);

#endif
