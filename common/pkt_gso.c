/*
 * pkt_gso.c: software segmentation of a TCP super-frame (GSO), for an
 * egress that takes no super-frames: a client whose netfront did not ask
 * for feature-gso-tcpv4/6, a NetVM whose netback does not offer it.
 * Without it such a frame could only be dropped, and a TCP sender that
 * keeps sending super-frames would stall.
 *
 * The super-frame sits in the packet pool, which a peer (natd, or
 * netbackd for natd) shares read-write. So, as in pkt_offload.c, its
 * headers are copied once into the cutter (pkt_gso_cut_init), checked
 * there by pkt_gso_check's rules, and every segment is built from that
 * copy: a peer rewriting the headers meanwhile changes nothing we rely
 * on. The payload is copied as it is at the time; rewriting it only
 * spoils the peer's own data, since each segment's checksums are summed
 * over the bytes in the segment, after the copy.
 *
 * Each segment is what the sender's stack would have sent at this MSS
 * (as Linux's tcp_gso_segment does): the same headers, the IP length of
 * the segment, IPv4 ids counting up from the super-frame's, the sequence
 * number advanced by the payload before it, FIN and PSH only on the last
 * segment, CWR only on the first, and both checksums in full.
 */
#include "config.h"

#include <string.h>

#include "pkt.h"

#define TCP_FIN_	0x01
#define TCP_PSH_	0x08
#define TCP_CWR_	0x80

int
pkt_gso_cut_init(struct pkt_gso_cut *c, const uint8_t *f, size_t len, int v6,
    uint16_t gso_size, unsigned mtu, const char **why)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->hdr, f, len < sizeof(c->hdr) ? len : sizeof(c->hdr));
	/* The check reads only the copy: what it bounds is what we use. */
	if (pkt_gso_check(c->hdr, len, v6, gso_size, mtu, &c->g, why) != 0)
		return -1;
	if (c->g.segs == 0) {
		*why = "super-frame without payload";
		return -1;
	}
	c->v6 = v6;
	c->mss = gso_size;
	c->len = (uint32_t)len;
	return 0;
}

size_t
pkt_gso_cut_len(const struct pkt_gso_cut *c, unsigned i)
{
	uint32_t done = (uint32_t)i * c->mss, n;

	if (i >= c->g.segs)
		return 0;
	n = c->g.payload - done;
	return (size_t)c->g.hdr_len + (n < c->mss ? n : c->mss);
}

size_t
pkt_gso_cut(const struct pkt_gso_cut *c, unsigned i, const uint8_t *f,
    uint8_t *out, size_t cap)
{
	size_t hl = c->g.hdr_len, l3 = ETH_HLEN_, l4 = c->g.csum_start, n;
	uint32_t seq, plen, sum;
	uint16_t v, zero = 0;
	uint8_t *th;

	n = pkt_gso_cut_len(c, i);
	if (n == 0 || n > cap)
		return 0;
	plen = (uint32_t)(n - hl);
	memcpy(out, c->hdr, hl);
	memcpy(out + hl, f + hl + (size_t)i * c->mss, plen);
	if (!c->v6) {
		uint16_t tot = (uint16_t)(n - l3), id;

		id = (uint16_t)((c->hdr[l3 + 4] << 8 | c->hdr[l3 + 5]) + i);
		out[l3 + 2] = (uint8_t)(tot >> 8);
		out[l3 + 3] = (uint8_t)tot;
		out[l3 + 4] = (uint8_t)(id >> 8);
		out[l3 + 5] = (uint8_t)id;
		memcpy(out + l3 + 10, &zero, 2);
		v = csum_fold(csum_add(0, out + l3, l4 - l3));
		memcpy(out + l3 + 10, &v, 2);
	} else {
		uint16_t pl = (uint16_t)(n - l3 - 40);

		out[l3 + 4] = (uint8_t)(pl >> 8);
		out[l3 + 5] = (uint8_t)pl;
	}
	th = out + l4;
	seq = (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 |
	    (uint32_t)th[6] << 8 | th[7];
	seq += (uint32_t)i * c->mss;
	th[4] = (uint8_t)(seq >> 24);
	th[5] = (uint8_t)(seq >> 16);
	th[6] = (uint8_t)(seq >> 8);
	th[7] = (uint8_t)seq;
	if (i + 1 < c->g.segs)
		th[13] &= (uint8_t)~(TCP_FIN_ | TCP_PSH_);
	if (i > 0)
		th[13] &= (uint8_t)~TCP_CWR_;
	/* Summed over the segment as it stands in out, field zeroed. */
	memcpy(th + 16, &zero, 2);
	if (!c->v6) {
		uint32_t sa, da;

		memcpy(&sa, out + l3 + 12, 4);
		memcpy(&da, out + l3 + 16, 4);
		sum = csum_pseudo4(sa, da, IPPROTO_TCP_, (uint32_t)(n - l4));
	} else
		sum = csum_pseudo6(out + l3 + 8, out + l3 + 24, IPPROTO_TCP_,
		    (uint32_t)(n - l4));
	v = csum_fold(csum_add(sum, th, n - l4));
	memcpy(th + 16, &v, 2);
	return n;
}
