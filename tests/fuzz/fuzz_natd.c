/*
 * fuzz_natd.c: frames from clients and from the uplink into natd's engine.
 *
 * Input: records of [ctl:1][len:2 big-endian][frame:len]. ctl bits 0-1:
 * port (0 uplink, 1 and 2 clients, 3: no frame, only the actions below);
 * bit 2: NEEDS_CSUM at the TCP checksum; bit 3: GSO TCPv4; bits 4-5:
 * verdict for every outstanding request (0 none, accept, drop, reject);
 * bit 6: rules changed, and the port forwards (see fwd_table) switched off
 * or back on; bit 7: clock +10 s and a tick. Seeds are frames a
 * real client sends, so the fuzzer starts from flows that get created,
 * answered and translated. After every step the flow table must be
 * consistent and every frame the engine emits must parse. The IPv4
 * header checksum of each frame is fixed before it goes in, so mutated
 * headers reach the engine instead of stopping at that check; so is the
 * ICMPv6 checksum (neighbour discovery and errors are checked by it).
 * IPv6 is configured for the uplink and client 1, not client 2.
 */
#include <stdlib.h>
#include <string.h>

#include "natd/nat.h"
#include "tests/natd_harness.h"
#include "fuzz_natd_common.h"

static void
f_tx(void *arg, const struct mq_desc *d)
{
	struct pkt_view v;

	(void)arg;
	if (!mq_desc_ok(&pool, d))
		abort();
	/* What natd sends must itself be a well-formed frame. */
	if (d->port != MQ_PORT_DROP &&
	    pkt_parse(&v, mq_buf(&pool, d->buf) + d->off, d->len) != PKT_OK)
		abort();
}

/* The seeds' frames are addressed to these MACs, and no client's MAC is
 * given: natd learns it from the first frame, which the fuzzer varies. */
static const uint8_t MAC_UP[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t MAC_C1[6] = { 2, 0, 0, 0, 0, 2 };
static const uint8_t MAC_C2[6] = { 2, 0, 0, 0, 0, 3 };

/* Inbound port forwards: tcp 8000-8003 to client 1's 80-83, udp 8100 to
 * client 2's 5000 from 198.51.100.0/24 only; or none. */
static void
fwd_table(struct nat_engine *e, int on, uint64_t now)
{
	static struct msg_forwards t;

	memset(&t, 0, sizeof t);
	if (on) {
		t.count = 2;
		t.f[0].proto = 6;
		t.f[0].lo = 8000;
		t.f[0].hi = 8003;
		t.f[0].toport = 80;
		t.f[0].to4 = NH_IP_C1;
		t.f[1].proto = 17;
		t.f[1].lo = t.f[1].hi = 8100;
		t.f[1].toport = 5000;
		t.f[1].to4 = NH_IP_C2;
		t.f[1].from4 = nh_ip4(198, 51, 100, 0);
		t.f[1].from4_plen = 24;
	}
	nat_forwards(e, &t, now);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nat_io io = { NULL, f_tx, f_fr, nh_dns_none, NULL };
	struct nat_engine *e;
	uint64_t now = 1000000;
	uint32_t next = 8;
	size_t off = 0, len;
	const uint8_t *frame;
	uint8_t ctl;
	int fwd_on = 1;

	e = fuzz_nat_new(&io);
	nh_netconf6(e, now);
	nh_link(e, 0, 1, 0, MAC_UP, NULL, 1000);
	nh_link6(e, 1, 1, NH_IP_C1, nh_ip6_c1, MAC_C1, NULL, 1000);
	nh_link(e, 2, 1, NH_IP_C2, MAC_C2, NULL, 1000);
	fwd_table(e, fwd_on, now);
	nat_start(e, 0, now);
	nh_gift(e, now);
	nfr = 0;
	while (nh_fuzz_next(data, size, &off, &ctl, &frame, &len)) {
		uint16_t port = ctl & 3;

		if (port != 3 && len > 0) {
			struct mq_desc d;
			struct pkt_view v;

			nh_fuzz_desc(&d, mem, NBUFS, BUFSZ, &next, port, frame, len);
			if (ctl & 4) {
				d.flags = MQ_F_NEEDS_CSUM;
				d.csum_start = 34;
				d.csum_offset = 16;
			}
			if (ctl & 8) {
				d.gso_type = MQ_GSO_TCPV4;
				d.gso_size = 1448;
			}
			/* and past the ICMPv6 checksum check */
			if (pkt_parse(&v, mem + (size_t)d.buf * BUFSZ + 64,
			    len) == PKT_OK && v.l3 == PKT_L3_IPV6 &&
			    v.proto == IPPROTO_ICMPV6_ && !v.is_frag)
				pkt_l4_csum_set(&v);
			nat_input(e, &d, now);
		}
		if (ctl & 0x30)
			answer_all(e, (ctl >> 4) & 3, now);
		if (ctl & 0x40) {
			fwd_on = !fwd_on;
			fwd_table(e, fwd_on, now);
			nat_rules_changed(e, 1, now);
		}
		if (ctl & 0x80) {
			now += 10000;
			nat_tick(e, now);
		}
		if (ft_check(&e->ft) != 0)
			abort();
	}
	nat_free(e);
	return 0;
}
