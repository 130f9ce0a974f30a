/*
 * test_pkt_gso: software segmentation (common/pkt_gso.c). What a client
 * without TSO, or a NetVM without GSO, receives in place of a super-frame
 * must be the TCP stream the sender meant: every segment a frame its
 * stack accepts (lengths, both checksums), sequence numbers and IPv4 ids
 * counting on, FIN/PSH only at the end, CWR only at the start, and the
 * payloads, put back together, the super-frame's.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "pkt.h"
#include "t.h"

static uint8_t sf[PKT_GSO_MAX_LEN];
static uint8_t seg[2048];
static uint8_t joined[PKT_GSO_MAX_LEN];

/* A super-frame: Ethernet, IPv4 or IPv6, TCP with 12 bytes of options
 * (timestamps), payload bytes that differ by position. Returns its length. */
static size_t
mk_super(int v6, size_t payload, uint32_t seq, uint16_t ipid, uint8_t flags)
{
	size_t l3 = 14, l4 = l3 + (v6 ? 40 : 20), hl = l4 + 32, len = hl + payload, i;

	memset(sf, 0, hl);
	memset(sf, 0x02, 6);
	memset(sf + 6, 0xfe, 6);
	sf[12] = v6 ? 0x86 : 0x08;
	sf[13] = v6 ? 0xdd : 0x00;
	if (!v6) {
		sf[l3] = 0x45;
		sf[l3 + 2] = (uint8_t)((len - l3) >> 8);
		sf[l3 + 3] = (uint8_t)(len - l3);
		sf[l3 + 4] = (uint8_t)(ipid >> 8);
		sf[l3 + 5] = (uint8_t)ipid;
		sf[l3 + 6] = 0x40;	/* DF */
		sf[l3 + 8] = 64;
		sf[l3 + 9] = 6;
		memcpy(sf + l3 + 12, "\x0a\x89\x00\x05\xc0\x00\x02\x01", 8);
	} else {
		sf[l3] = 0x60;
		sf[l3 + 4] = (uint8_t)((len - l4) >> 8);
		sf[l3 + 5] = (uint8_t)(len - l4);
		sf[l3 + 6] = 6;
		sf[l3 + 7] = 64;
		sf[l3 + 8] = 0xfd;
		sf[l3 + 23] = 5;
		sf[l3 + 24] = 0x20;
		sf[l3 + 25] = 0x01;
		sf[l3 + 39] = 1;
	}
	sf[l4] = 0xc3; sf[l4 + 1] = 0x50;	/* 50000 */
	sf[l4 + 3] = 80;
	sf[l4 + 4] = (uint8_t)(seq >> 24);
	sf[l4 + 5] = (uint8_t)(seq >> 16);
	sf[l4 + 6] = (uint8_t)(seq >> 8);
	sf[l4 + 7] = (uint8_t)seq;
	sf[l4 + 11] = 7;		/* ack */
	sf[l4 + 12] = 8 << 4;		/* 32-byte header */
	sf[l4 + 13] = flags;
	sf[l4 + 14] = 0xff;
	sf[l4 + 20] = 1; sf[l4 + 21] = 1; sf[l4 + 22] = 8; sf[l4 + 23] = 10;
	/* Pseudo-header sum only, as a sender's TSO leaves it: the cutter
	 * must not depend on it. */
	sf[l4 + 16] = 0x12; sf[l4 + 17] = 0x34;
	for (i = 0; i < payload; i++)
		sf[hl + i] = (uint8_t)(i * 7 + i / 251);
	return len;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Cut, and check every segment as a receiver would. */
static void
cut_all(int v6, size_t payload, uint16_t mss, uint32_t seq0, uint16_t id0,
    uint8_t flags)
{
	size_t len = mk_super(v6, payload, seq0, id0, flags), at = 0;
	size_t hl = 14 + (v6 ? 40 : 20) + 32;
	struct pkt_gso_cut c;
	const char *why = NULL;
	unsigned i, want = (unsigned)((payload + mss - 1) / mss);

	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, v6, mss, 1500, &why), 0);
	T_EQ_INT(c.g.segs, want);
	for (i = 0; i < c.g.segs; i++) {
		struct pkt_view v;
		size_t n = pkt_gso_cut(&c, i, sf, seg, sizeof(seg));
		size_t pl = payload - at < mss ? payload - at : mss;
		uint8_t *th;

		T_EQ_INT(n, hl + pl);
		T_EQ_INT(n, pkt_gso_cut_len(&c, i));
		T_EQ_INT(pkt_parse(&v, seg, n), PKT_OK);
		T_EQ_INT(v.ip_end, n);
		T_ASSERT(v.has_l4 && v.proto == 6);
		T_ASSERT(pkt_l4_csum_ok(&v));
		if (!v6) {
			T_ASSERT(pkt_ip4_csum_ok(&v));
			T_EQ_INT(seg[18] << 8 | seg[19], (uint16_t)(id0 + i));
			T_EQ_INT(seg[20], 0x40);	/* DF kept */
		}
		th = seg + v.l4_off;
		T_EQ_INT(be32(th + 4), (uint32_t)(seq0 + at));
		T_EQ_INT(th[13] & 0x09, i + 1 == c.g.segs ? (flags & 0x09) : 0);
		T_EQ_INT(th[13] & 0x80, i == 0 ? (flags & 0x80) : 0);
		T_EQ_INT(th[13] & 0x10, flags & 0x10);	/* ACK on all */
		T_EQ_MEM(th + 20, sf + v.l4_off + 20, 12);	/* options kept */
		memcpy(joined + at, seg + hl, pl);
		at += pl;
	}
	T_EQ_INT(at, payload);
	T_EQ_MEM(joined, sf + hl, payload);
	/* Past the last segment: nothing. */
	T_EQ_INT(pkt_gso_cut(&c, c.g.segs, sf, seg, sizeof(seg)), 0);
}

/* 64 KiB of IPv4 at Ethernet's MSS; the id and the sequence number
 * wrap on the way. */
static void
cut_tcp4_64k(void)
{
	cut_all(0, PKT_GSO_MAX_LEN - 14 - 20 - 32, 1448, 0xffffd000u, 0xfff0,
	    0x10 | 0x08 | 0x01 | 0x80);
}

static void
cut_tcp6_64k(void)
{
	cut_all(1, PKT_GSO_MAX_LEN - 14 - 40 - 32, 1428, 0x7ffffff0u, 0,
	    0x10 | 0x08 | 0x80);
}

/* A last segment shorter than the MSS, and one exactly full. */
static void
cut_tails(void)
{
	cut_all(0, 3000, 1448, 1, 1, 0x18);
	cut_all(0, 2 * 1448, 1448, 1, 1, 0x18);
	cut_all(1, 1000, 536, 99, 0, 0x11);
}

/* The cutter keeps the headers it checked: a peer rewriting the frame's
 * headers after init (the pool is shared) cannot change the lengths or
 * offsets segments are built by, nor push a read past the frame. */
static void
cut_headers_read_once(void)
{
	size_t len = mk_super(0, 5000, 1000, 7, 0x18), n;
	struct pkt_gso_cut c;
	const char *why;
	struct pkt_view v;

	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, 0, 1448, 1500, &why), 0);
	sf[14] = 0x4f;		/* IHL 60 */
	sf[14 + 20 + 12] = 0xf0;	/* TCP header 60 */
	sf[16] = 0xff;
	sf[17] = 0xff;
	n = pkt_gso_cut(&c, 3, sf, seg, sizeof(seg));
	T_EQ_INT(n, 14 + 20 + 32 + 5000 - 3 * 1448);
	T_EQ_INT(pkt_parse(&v, seg, n), PKT_OK);
	T_ASSERT(pkt_ip4_csum_ok(&v));
	T_ASSERT(pkt_l4_csum_ok(&v));
}

/* What pkt_gso_check refuses, the cutter refuses: nothing is cut from a
 * frame a peer could have lied about. */
static void
cut_refusals(void)
{
	struct pkt_gso_cut c;
	const char *why;
	size_t len;

	len = mk_super(0, 4000, 1, 1, 0x10);
	why = NULL;
	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, 0, 0, 1500, &why), -1);
	T_ASSERT(why != NULL);
	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, 0, 1, 1500, &why), -1);	/* MSS 1 */
	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, 0, 1449, 1500, &why), -1);	/* > MTU */
	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, 1, 1448, 1500, &why), -1);	/* family */
	T_EQ_INT(pkt_gso_cut_init(&c, sf, len - 1, 0, 1448, 1500, &why), -1);	/* IP length */
	sf[14 + 9] = 17;	/* UDP */
	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, 0, 1448, 1500, &why), -1);
	len = mk_super(0, 0, 1, 1, 0x10);	/* headers only */
	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, 0, 1448, 1500, &why), -1);
	/* A segment larger than the room given: nothing written. */
	len = mk_super(0, 4000, 1, 1, 0x10);
	T_EQ_INT(pkt_gso_cut_init(&c, sf, len, 0, 1448, 1500, &why), 0);
	memset(seg, 0xaa, sizeof(seg));
	T_EQ_INT(pkt_gso_cut(&c, 0, sf, seg, 1000), 0);
	T_EQ_INT(seg[0], 0xaa);
}

int
main(void)
{
	T_RUN(cut_tcp4_64k);
	T_RUN(cut_tcp6_64k);
	T_RUN(cut_tails);
	T_RUN(cut_headers_read_once);
	T_RUN(cut_refusals);
	return t_done();
}
