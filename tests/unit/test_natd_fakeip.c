/*
 * test_natd_fakeip.c: net.fake-ip. A client dom0 shows another address
 * (visible-ip) and gateway (visible-gateway) than it is routed by: what
 * it sends is translated to the real addresses before natd looks at it,
 * what it receives back to the visible ones, checksums intact.
 */
#include <stdio.h>

#include "t.h"
#include "natd_testlib.h"

static uint8_t F[4096];
#define VIS	A("10.137.0.55")
#define VGW	A("10.137.0.254")

static struct tl *
mapped(void)
{
	static struct msg_clients mc;
	struct tl *t = tl_new();

	mc.count = 2;
	mc.c[0].ip = IP_C1;
	mc.c[0].visible_ip = VIS;
	mc.c[0].visible_gw = VGW;
	mc.c[1].ip = IP_C2;
	mc.c[1].visible_ip = IP_C2;	/* the normal case: no mapping */
	nat_fakeip_set(t->e, &mc);
	return t;
}

static void
test_flow_both_ways(void)
{
	struct tl *t = mapped();
	struct pkt_view v;
	uint16_t nport;
	size_t n;
	int i;

	n = mk_udp(F, MAC_V1, MAC_C1, VIS, IP_REMOTE, 1000, 53, 10);
	tl_in(t, 1, F, n);
	/* policyd is asked about the real client */
	T_EQ_INT(t->nfr, 1);
	T_EQ_MEM(t->fr[0].src, &(uint32_t){ IP_C1 }, 4);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_ASSERT((i = tl_last_sent(t)) >= 0);
	T_EQ_INT(t->tx[i].port, 0);
	T_EQ_INT(tl_parse(t, (unsigned)i, &v), PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_ASSERT(csums_ok(&v));
	nport = v.sport;
	/* the answer reaches the client at its visible address */
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 53, nport, 10);
	tl_in(t, 0, F, n);
	T_ASSERT((i = tl_last_sent(t)) >= 0);
	T_EQ_INT(t->tx[i].port, 1);
	T_EQ_INT(tl_parse(t, (unsigned)i, &v), PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, VIS);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_REMOTE);
	T_EQ_INT(v.dport, 1000);
	T_ASSERT(csums_ok(&v));
	tl_free(t);
}

static void
test_gateway_and_spoofing(void)
{
	struct tl *t = mapped();
	struct pkt_view v;
	size_t n;
	int i;

	/* a ping to the visible gateway is answered from it */
	n = mk_echo(F, MAC_V1, MAC_C1, VIS, VGW, ICMP_ECHO, 7, 1, 16);
	tl_in(t, 1, F, n);
	T_ASSERT((i = tl_last_sent(t)) >= 0);
	T_EQ_INT(t->tx[i].port, 1);
	T_EQ_INT(tl_parse(t, (unsigned)i, &v), PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, VGW);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, VIS);
	T_EQ_INT(v.icmp_type, ICMP_ECHOREPLY);
	T_ASSERT(csums_ok(&v));
	/* the client does not have its real address: using it is spoofing */
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1000, 53, 10);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_drops(t, 1, NAT_R_SPOOFED), 1);
	T_EQ_INT(t->nfr, 0);
	/* the other client is not mapped: its real address is its own */
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 1000, 53, 10);
	tl_in(t, 2, F, n);
	T_EQ_INT(t->nfr, 1);
	T_EQ_INT(tl_drops(t, 2, NAT_R_SPOOFED), 0);
	tl_free(t);
}

static void
test_arp(void)
{
	struct tl *t = mapped();
	struct pkt_view v;
	const struct arp_ipv4 *a;
	size_t n;
	int i;

	/* who has the visible gateway? moat does, and says so with it */
	n = pkt_build_arp(F, sizeof(F), ARPOP_REQUEST_, MAC_V1, VIS,
	    (const uint8_t *)"\xff\xff\xff\xff\xff\xff", (const uint8_t *)"\0\0\0\0\0\0", VGW);
	T_ASSERT(n > 0);
	tl_in(t, 1, F, n);
	T_ASSERT((i = tl_last_sent(t)) >= 0);
	T_EQ_INT(t->tx[i].port, 1);
	T_EQ_INT(tl_parse(t, (unsigned)i, &v), PKT_OK);
	T_EQ_INT(v.l3, PKT_L3_ARP);
	a = pkt_arp(&v);
	T_EQ_INT(a->spa_be, VGW);
	T_EQ_INT(a->tpa_be, VIS);
	/* its own (visible) address: duplicate address detection, no answer */
	t->ntx = 0;
	n = pkt_build_arp(F, sizeof(F), ARPOP_REQUEST_, MAC_V1, 0,
	    (const uint8_t *)"\xff\xff\xff\xff\xff\xff", (const uint8_t *)"\0\0\0\0\0\0", VIS);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 0);
	tl_free(t);
}

/* An ICMP error to the client quotes its packet with its visible source,
 * one from it about a packet it got is translated back. */
static void
test_icmp_error_quote(void)
{
	struct tl *t = mapped();
	struct pkt_view v;
	const struct ipv4_hdr *q;
	size_t n;
	int i;

	/* TTL 1: moat answers time-exceeded itself */
	n = mk_udp(F, MAC_V1, MAC_C1, VIS, IP_REMOTE, 1000, 33434, 10);
	((struct ipv4_hdr *)(F + 14))->ttl = 1;
	fix_csums(F, n);
	tl_in(t, 1, F, n);
	T_ASSERT((i = tl_last_sent(t)) >= 0);
	T_EQ_INT(t->tx[i].port, 1);
	T_EQ_INT(tl_parse(t, (unsigned)i, &v), PKT_OK);
	T_EQ_INT(v.icmp_type, ICMP_TIME_EXCEEDED);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, VGW);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, VIS);
	q = (const struct ipv4_hdr *)(v.frame + v.l4_off + 8);
	T_EQ_INT(q->saddr_be, VIS);
	T_ASSERT(csums_ok(&v));
	T_EQ_INT(ip_checksum(q, 20), 0);
	tl_free(t);
}

/* The mapping goes when dom0 removes it. */
static void
test_unmapped_again(void)
{
	static struct msg_clients mc;
	struct tl *t = mapped();
	size_t n;

	mc.count = 0;
	nat_fakeip_set(t->e, &mc);
	n = mk_udp(F, MAC_V1, MAC_C1, VIS, IP_REMOTE, 1000, 53, 10);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_drops(t, 1, NAT_R_SPOOFED), 1);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1000, 53, 10);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	tl_free(t);
}

/* The mapping is the address's, not the port's: a port given another
 * client loses it, and the mapped client keeps it on another port. */
static void
test_follows_the_address(void)
{
	struct tl *t = mapped();
	size_t n;

	tl_link(t, 1, 1, A("10.137.0.77"), MAC_C1, MAC_V1);
	n = mk_udp(F, MAC_V1, MAC_C1, VIS, IP_REMOTE, 1000, 53, 10);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_drops(t, 1, NAT_R_SPOOFED), 1);
	T_EQ_INT(t->nfr, 0);
	tl_link(t, 2, 1, IP_C1, MAC_C2, MAC_V2);
	n = mk_udp(F, MAC_V2, MAC_C2, VIS, IP_REMOTE, 1000, 53, 10);
	tl_in(t, 2, F, n);
	T_EQ_INT(t->nfr, 1);
	T_EQ_MEM(t->fr[0].src, &(uint32_t){ IP_C1 }, 4);
	tl_free(t);
}

int
main(void)
{
	T_RUN(test_flow_both_ways);
	T_RUN(test_gateway_and_spoofing);
	T_RUN(test_arp);
	T_RUN(test_icmp_error_quote);
	T_RUN(test_unmapped_again);
	T_RUN(test_follows_the_address);
	return t_done();
}
