/*
 * fuzz_netif.c: random ring contents through the netif checks netbackd
 * runs on every request and response (netbackd/xen_valid.c).
 *
 * Byte 0 picks the ring: even = TX requests from a client (12-byte slots),
 * odd = RX responses from the NetVM (8-byte slots, expected id = slot).
 * Whatever the input, an accepted packet must describe only bytes inside
 * the published slots and inside each 4 KiB page, with sizes adding up,
 * and a GSO extra only of a known type with a non-zero MSS (seeds: 64 KiB
 * super-frames over 16 data slots plus the extra, both rings).
 * The super-frame and checksum checks on the frames themselves are
 * common/pkt_offload.c's, fuzzed by fuzz_pkt.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xen_valid.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void
tx(const uint8_t *d, size_t n)
{
	struct netif_tx_request req[XNR_TX_RING_SIZE];
	unsigned avail = (unsigned)(n / sizeof(req[0])), off = 0;

	if (avail > XNR_TX_RING_SIZE)
		avail = XNR_TX_RING_SIZE;
	memcpy(req, d, avail * sizeof(req[0]));
	while (off < avail) {
		struct xnv_tx_pkt p;
		uint32_t sum = 0;
		unsigned i;

		xnv_tx_parse(req + off, avail - off, &p);
		if (p.verdict == XNV_FATAL) {
			CHECK(p.reason != NULL);
			return;
		}
		CHECK(p.nslots >= 1 && p.nslots <= avail - off);
		CHECK(p.nslots <= XNV_TX_MAX_SLOTS);
		CHECK(p.nextra < p.nslots);
		if (p.verdict == XNV_OK) {
			CHECK(p.nfrags <= XNV_TX_MAX_FRAGS);
			CHECK(p.total >= XNV_ETH_HLEN && p.total <= XEN_NETIF_MAX_TX_SIZE);
			for (i = 0; i < p.nfrags; i++) {
				CHECK(p.frag[i].len > 0);
				CHECK((uint32_t)p.frag[i].off + p.frag[i].len <= XEN_PAGE_SIZE);
				sum += p.frag[i].len;
			}
			CHECK(sum == p.total);
			if (p.gso_size)
				CHECK(p.gso_type == XEN_NETIF_GSO_TYPE_TCPV4 ||
				    p.gso_type == XEN_NETIF_GSO_TYPE_TCPV6);
		} else
			CHECK(p.verdict == XNV_DROP && p.reason != NULL);
		off += p.nslots;
	}
}

static void
rx(const uint8_t *d, size_t n)
{
	struct netif_rx_response rsp[XNR_RX_RING_SIZE];
	uint16_t ids[XNR_RX_RING_SIZE];
	unsigned avail = (unsigned)(n / sizeof(rsp[0])), off = 0, i;

	if (avail > XNR_RX_RING_SIZE)
		avail = XNR_RX_RING_SIZE;
	memcpy(rsp, d, avail * sizeof(rsp[0]));
	for (i = 0; i < avail; i++)
		ids[i] = (uint16_t)(i & 3);	/* small ids so fuzzers hit them */
	while (off < avail) {
		struct xnv_rx_pkt p;
		uint32_t sum = 0;

		xnv_rx_parse(rsp + off, ids + off, avail - off, &p);
		if (p.verdict == XNV_FATAL || p.verdict == XNV_MORE)
			return;
		CHECK(p.nslots >= 1 && p.nslots <= avail - off);
		CHECK(p.nfrags <= XEN_NETIF_NR_SLOTS_MIN);
		for (i = 0; i < p.nfrags; i++) {
			CHECK(p.frag[i].slot < p.nslots);
			CHECK((uint32_t)p.frag[i].off + p.frag[i].len <= XEN_PAGE_SIZE);
			sum += p.frag[i].len;
		}
		CHECK(sum == p.total);
		if (p.verdict == XNV_OK)
			CHECK(p.total >= XNV_ETH_HLEN);
		/* A GSO extra the uplink acts on is a known type, MSS set. */
		if (p.gso_size || p.gso_type)
			CHECK(p.gso_size != 0 && (p.gso_type == XEN_NETIF_GSO_TYPE_TCPV4 ||
			    p.gso_type == XEN_NETIF_GSO_TYPE_TCPV6));
		off += p.nslots;
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		rx(data + 1, size - 1);
	else
		tx(data + 1, size - 1);
	return 0;
}
