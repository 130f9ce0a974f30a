/*
 * fuzz_fakeip.c: net.fake-ip under hostile frames. Client 1 is shown
 * another address and gateway (natd/nat_fakeip.c); frames from it, from
 * the unmapped client 2 and from the uplink go through the engine, every
 * flow accepted.
 *
 * Input: records of [ctl:1][len:2 big-endian][frame:len]; ctl bits 0-1:
 * port (0 uplink, 1 the mapped client, 2 the other, 3 none); bit 7: clock
 * +10 s and a tick. The IPv4 header checksum is fixed before a frame goes
 * in. Every frame natd emits must parse, and none that reaches client 1
 * may name its real address (as destination, ARP target, or source of the
 * packet an ICMP error quotes): the client must never learn it.
 */
#include <stdlib.h>
#include <string.h>

#include "natd/nat.h"
#include "tests/natd_harness.h"
#include "fuzz_natd_common.h"

static void
f_tx(void *arg, const struct mq_desc *d)
{
	const uint8_t *f;
	struct pkt_view v;

	(void)arg;
	if (!mq_desc_ok(&pool, d))
		abort();
	if (d->port == MQ_PORT_DROP)
		return;
	f = mq_buf(&pool, d->buf) + d->off;
	if (pkt_parse(&v, (uint8_t *)f, d->len) != PKT_OK)
		abort();
	if (d->port != 1)
		return;
	if (v.l3 == PKT_L3_ARP && pkt_arp(&v)->tpa_be == NH_IP_C1)
		abort();
	if (v.l3 != PKT_L3_IPV4)
		return;
	if (pkt_ip4(&v)->daddr_be == NH_IP_C1)
		abort();
	if (v.proto == IPPROTO_ICMP_ && v.has_l4 && !v.is_frag &&
	    pkt_l4_payload_len(&v) >= 20 &&
	    (v.icmp_type == ICMP_DEST_UNREACH || v.icmp_type == ICMP_TIME_EXCEEDED)) {
		const struct ipv4_hdr *q = (const struct ipv4_hdr *)
		    (v.frame + v.l4_off + v.l4_hlen);

		if (q->saddr_be == NH_IP_C1)
			abort();
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msg_clients mc;
	struct nat_io io = { NULL, f_tx, f_fr, nh_dns_none, NULL };
	struct nat_engine *e;
	uint64_t now = 1000000;
	uint32_t next = 8;
	size_t off = 0, len;
	const uint8_t *frame;
	uint8_t ctl;

	e = fuzz_nat_new(&io);
	nh_netconf(e, now);
	nh_link(e, 0, 1, 0, nh_mac_up, NULL, now);
	nh_link(e, 1, 1, NH_IP_C1, nh_mac_c1, nh_mac_v1, now);
	nh_link(e, 2, 1, NH_IP_C2, nh_mac_c2, nh_mac_v2, now);
	nat_start(e, 0, now);
	nh_gift(e, now);
	nh_learn_gw(e, next++, now);
	mc.count = 1;
	mc.c[0].ip = NH_IP_C1;
	mc.c[0].visible_ip = nh_ip4(10, 137, 0, 55);
	mc.c[0].visible_gw = nh_ip4(10, 137, 0, 254);
	nat_fakeip_set(e, &mc);
	nfr = 0;
	while (nh_fuzz_next(data, size, &off, &ctl, &frame, &len)) {
		uint16_t port = ctl & 3;

		if (port != 3 && len > 0) {
			struct mq_desc d;

			nh_fuzz_desc(&d, mem, NBUFS, BUFSZ, &next, port, frame, len);
			nat_input(e, &d, now);
		}
		answer_all(e, VERDICT_ACCEPT, now);
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
