/*
 * pkt_offload.c: the checks and the checksum completion behind checksum
 * and segmentation offload (pkt_gso_check, pkt_csum_locate,
 * pkt_csum_complete; see pkt.h), for frames that sit in shared memory.
 *
 * Frames in the packet pool are shared memory: natd maps every buffer
 * read-write and may rewrite one while netbackd checks it, and netbackd
 * itself, were it compromised, while natd parses it. A length checked in
 * one load and used in another (XSA-155's double fetch) would then be
 * used unchecked. So, unlike pkt_parse, every function here first copies
 * the headers it bounds-checks into private memory, once, and both the
 * check and the use read the copy: Ethernet, IPv4 with options (longer
 * than IPv6's fixed header) and a TCP header with options. Every offset
 * the parsers read is below the copy's length, and they never read at or
 * past len, which bounds the copy too.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "pkt.h"

#define HDR_COPY	(ETH_HLEN_ + 60 + 60)

static size_t
hdr_copy(uint8_t h[HDR_COPY], const uint8_t *f, size_t len)
{
	size_t n = len < HDR_COPY ? len : HDR_COPY;

	memcpy(h, f, n);
	return n;
}

/*
 * Super-frames. Segmentation (in whoever receives it, or the NetVM's
 * kernel) copies these headers into every segment and trusts the lengths:
 * so the headers must be whole and exact, and the segment size bounded on
 * both sides (an MSS of 1 turns 64 KiB into 64000 frames for someone).
 * f is the private header copy; len the frame's length.
 */
static int
gso_check(const uint8_t *f, size_t len, int v6, uint16_t gso_size,
    unsigned mtu, struct pkt_gso *g, const char **why)
{
	size_t l3 = ETH_HLEN_, l4, hl;
	uint16_t et;

	memset(g, 0, sizeof(*g));
	if (gso_size == 0) {
		*why = "GSO size zero";
		return -1;
	}
	if (len > PKT_GSO_MAX_LEN) {
		*why = "super-frame over 64 KiB";
		return -1;
	}
	if (len < ETH_HLEN_) {
		*why = "super-frame shorter than an Ethernet header";
		return -1;
	}
	et = (uint16_t)(f[12] << 8 | f[13]);
	if (et != (v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4)) {
		*why = "GSO type is not the frame's IP version";
		return -1;
	}
	if (!v6) {
		size_t ihl;

		if (len < l3 + 20 || (f[l3] >> 4) != 4) {
			*why = "super-frame without an IPv4 header";
			return -1;
		}
		ihl = (size_t)(f[l3] & 0x0f) * 4;
		if (ihl < 20 || len < l3 + ihl) {
			*why = "super-frame without an IPv4 header";
			return -1;
		}
		if ((size_t)(f[l3 + 2] << 8 | f[l3 + 3]) != len - l3) {
			*why = "super-frame IP length is not the frame's";
			return -1;
		}
		if ((f[l3 + 6] & 0x3f) != 0 || f[l3 + 7] != 0) {
			*why = "super-frame is an IP fragment";
			return -1;
		}
		if (f[l3 + 9] != IPPROTO_TCP_) {
			*why = "super-frame is not TCP";
			return -1;
		}
		l4 = l3 + ihl;
	} else {
		if (len < l3 + 40 || (f[l3] >> 4) != 6) {
			*why = "super-frame without an IPv6 header";
			return -1;
		}
		if ((size_t)(f[l3 + 4] << 8 | f[l3 + 5]) != len - l3 - 40) {
			*why = "super-frame IP length is not the frame's";
			return -1;
		}
		/* Extension headers: no netfront's TSO makes them. */
		if (f[l3 + 6] != IPPROTO_TCP_) {
			*why = "super-frame is not TCP";
			return -1;
		}
		l4 = l3 + 40;
	}
	if (len < l4 + 20 || (f[l4 + 12] >> 4) < 5 ||
	    len < l4 + (size_t)(f[l4 + 12] >> 4) * 4) {
		*why = "super-frame without a whole TCP header";
		return -1;
	}
	hl = l4 + (size_t)(f[l4 + 12] >> 4) * 4;
	if (gso_size < PKT_GSO_MIN_MSS) {
		*why = "GSO size below TCP's minimum segment";
		return -1;
	}
	if (hl - l3 + gso_size > mtu) {
		*why = "GSO segments larger than the MTU";
		return -1;
	}
	g->csum_start = (uint16_t)l4;
	g->csum_off = 16;
	g->hdr_len = (uint16_t)hl;
	g->payload = (uint32_t)(len - hl);
	g->segs = (g->payload + gso_size - 1) / gso_size;
	return 0;
}

int
pkt_gso_check(const uint8_t *f, size_t len, int v6, uint16_t gso_size,
    unsigned mtu, struct pkt_gso *g, const char **why)
{
	uint8_t h[HDR_COPY];

	hdr_copy(h, f, len);
	return gso_check(h, len, v6, gso_size, mtu, g, why);
}

/*
 * Where the L4 checksum of the frame whose private header copy is f lies,
 * and where the IP packet ends (end <= len; Ethernet padding excluded).
 */
struct csum_loc {
	uint16_t	start, off;
	size_t		end;
};

static int
csum_locate(const uint8_t *f, size_t len, struct csum_loc *c)
{
	size_t l3 = ETH_HLEN_, l4, end;
	uint16_t et;
	uint8_t proto;

	if (len < ETH_HLEN_)
		return -1;
	et = (uint16_t)(f[12] << 8 | f[13]);
	if (et == ETHERTYPE_IPV4) {
		size_t ihl, tot;

		if (len < l3 + 20)
			return -1;
		ihl = (size_t)(f[l3] & 0x0f) * 4;
		tot = (size_t)(f[l3 + 2] << 8 | f[l3 + 3]);
		if ((f[l3] >> 4) != 4 || ihl < 20 || tot < ihl || l3 + tot > len)
			return -1;
		/* MF set or a fragment offset: no whole L4 segment here. */
		if ((f[l3 + 6] & 0x3f) != 0 || f[l3 + 7] != 0)
			return -1;
		proto = f[l3 + 9];
		l4 = l3 + ihl;
		end = l3 + tot;
	} else if (et == ETHERTYPE_IPV6) {
		size_t plen;

		if (len < l3 + 40 || (f[l3] >> 4) != 6)
			return -1;
		plen = (size_t)(f[l3 + 4] << 8 | f[l3 + 5]);
		if (l3 + 40 + plen > len)
			return -1;
		proto = f[l3 + 6];
		l4 = l3 + 40;
		end = l4 + plen;
	} else
		return -1;
	if (proto == IPPROTO_TCP_) {
		if (end < l4 + 20)
			return -1;
		c->off = 16;
	} else if (proto == IPPROTO_UDP_) {
		if (end < l4 + 8)
			return -1;
		c->off = 6;
	} else
		return -1;
	if (l4 > 0xffff)
		return -1;
	c->start = (uint16_t)l4;
	c->end = end;
	return 0;
}

int
pkt_csum_locate(const uint8_t *f, size_t len, uint16_t *csum_start,
    uint16_t *csum_off)
{
	uint8_t h[HDR_COPY];
	struct csum_loc c;

	hdr_copy(h, f, len);
	if (csum_locate(h, len, &c) != 0)
		return -1;
	*csum_start = c.start;
	*csum_off = c.off;
	return 0;
}

int
pkt_csum_complete(uint8_t *f, size_t len)
{
	uint8_t h[HDR_COPY];
	struct csum_loc c;
	uint16_t v;

	/*
	 * One read of the headers: the extent summed and the field written
	 * come from the copy (start + off + 2 <= end <= len), never from
	 * the frame again. The bytes summed are the frame's as they are; a
	 * peer rewriting them only spoils its own checksum.
	 */
	hdr_copy(h, f, len);
	if (csum_locate(h, len, &c) != 0)
		return -1;
	/* The field holds the pseudo-header sum: summing over it folds it
	 * in. csum_fold's result is in stored order, like the field. */
	v = csum_fold(csum_add(0, f + c.start, c.end - c.start));
	if (v == 0 && c.off == 6)
		v = 0xffff;	/* UDP: 0 means "no checksum" */
	memcpy(f + c.start + c.off, &v, 2);
	return 0;
}
