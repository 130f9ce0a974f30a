/*
 * test_natd.c: natd's engine driven with crafted frames and a fake output.
 * Every test checks what a client or the outside would see on the wire.
 */
#include <jansson.h>
#include <stdio.h>

#include "t.h"
#include "natd_testlib.h"

static uint8_t F[70000];

/* Open a flow from client 1 and accept it; returns the index of the
 * frame that went out. */
static int
open_udp(struct tl *t, uint16_t sport, uint32_t dst, uint16_t dport)
{
	size_t n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, dst, sport, dport, 20);
	unsigned nfr = t->nfr;

	tl_in(t, 1, F, n);
	if (t->nfr != nfr + 1)
		return -1;
	tl_verdict(t, t->fr[nfr].seq, VERDICT_ACCEPT);
	return tl_last_sent(t);
}

static void
test_arp_client(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	struct arp_ipv4 *a;
	size_t n;

	/* Any address but its own: answered with our MAC on that link. */
	n = pkt_build_arp(F, sizeof(F), ARPOP_REQUEST_, MAC_V1, IP_C1,
	    (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	    (const uint8_t[6]){ 0 }, IP_VGW);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(v.l3, PKT_L3_ARP);
	a = pkt_arp(&v);
	T_EQ_INT(ntohs(a->op_be), ARPOP_REPLY_);
	T_EQ_MEM(a->sha, MAC_C1, 6);
	T_EQ_INT(a->spa_be, IP_VGW);
	T_EQ_INT(a->tpa_be, IP_C1);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_V1, 6);
	/* An arbitrary outside address too (VPN clients ARP for anything). */
	t->ntx = 0;
	n = pkt_build_arp(F, sizeof(F), ARPOP_REQUEST_, MAC_V1, IP_C1,
	    MAC_C1, (const uint8_t[6]){ 0 }, IP_REMOTE);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	/* Its own address: no answer. */
	t->ntx = 0;
	n = pkt_build_arp(F, sizeof(F), ARPOP_REQUEST_, MAC_V1, 0,
	    MAC_C1, (const uint8_t[6]){ 0 }, IP_C1);
	tl_in(t, 1, F, n);
	TL_DROPPED(t, 1, NAT_R_ARP, 1);
	/* Gratuitous ARP claiming another address: never believed. */
	n = pkt_build_arp(F, sizeof(F), ARPOP_REPLY_, MAC_V1, IP_GW,
	    MAC_C1, MAC_C1, IP_GW);
	tl_in(t, 1, F, n);
	TL_DROPPED(t, 1, NAT_R_ARP_SPOOF, 1);
	/* A request pretending to come from someone else. */
	n = pkt_build_arp(F, sizeof(F), ARPOP_REQUEST_, MAC_V1, IP_C2,
	    MAC_C1, (const uint8_t[6]){ 0 }, IP_VGW);
	tl_in(t, 1, F, n);
	TL_DROPPED(t, 1, NAT_R_ARP_SPOOF, 2);
	tl_free(t);
}

static void
test_arp_uplink(void)
{
	struct tl *t = tl_new_cfg(NULL, 512, 4096, NULL, 0, 0, 0);
	struct pkt_view v;
	size_t n;

	/* Gateway unknown: one request now, again each second. */
	nat_tick(t->e, t->now);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 0);
	T_EQ_INT(ntohs(pkt_arp(&v)->op_be), ARPOP_REQUEST_);
	T_EQ_INT(pkt_arp(&v)->tpa_be, IP_GW);
	T_EQ_INT(pkt_arp(&v)->spa_be, IP_US);
	nat_tick(t->e, t->now + 500);
	T_EQ_INT(tl_nsent(t), 1);
	nat_tick(t->e, t->now + 1000);
	T_EQ_INT(tl_nsent(t), 2);
	/* Forwarding waits for the gateway's MAC. */
	t->ntx = 0;
	T_ASSERT(open_udp(t, 5000, IP_REMOTE, 80) == -1);
	T_EQ_INT(tl_drops(t, 1, NAT_R_NO_GATEWAY), 1);
	/* The answer teaches us the MAC; retries stop. */
	n = pkt_build_arp(F, sizeof(F), ARPOP_REPLY_, MAC_GW, IP_GW, MAC_UP,
	    MAC_UP, IP_US);
	tl_in(t, 0, F, n);
	T_ASSERT(t->e->gw_known);
	T_EQ_MEM(t->e->gw_mac, MAC_GW, 6);
	t->ntx = 0;
	nat_tick(t->e, t->now + 5000);
	T_EQ_INT(tl_nsent(t), 0);
	/* ... until the periodic refresh. */
	nat_tick(t->e, t->now + NAT_ARP_REFRESH_MS + 10);
	T_EQ_INT(tl_nsent(t), 1);
	/* ARP for our uplink address is answered. */
	t->ntx = 0;
	n = pkt_build_arp(F, sizeof(F), ARPOP_REQUEST_, MAC_GW, IP_GW,
	    (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	    (const uint8_t[6]){ 0 }, IP_US);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(ntohs(pkt_arp(&v)->op_be), ARPOP_REPLY_);
	T_EQ_MEM(pkt_arp(&v)->sha, MAC_UP, 6);
	T_EQ_INT(pkt_arp(&v)->spa_be, IP_US);
	tl_free(t);
}

static void
test_spoof_and_ipv6(void)
{
	struct tl *t = tl_new();
	size_t n;

	n = mk_udp(F, MAC_V1, MAC_C1, IP_C2, IP_REMOTE, 1000, 53, 10);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 0);
	T_EQ_INT(t->nfr, 0);
	T_EQ_INT(tl_drops(t, 1, NAT_R_SPOOFED), 1);
	/* From the uplink with a client's source address. */
	n = mk_udp(F, MAC_GW, MAC_UP, IP_C1, IP_US, 1000, 53, 10);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_drops(t, 0, NAT_R_SPOOFED), 1);
	/* IPv6 from a client. */
	tu_eth_ip6(F, 100, MAC_C1, MAC_V1);
	F[19] = 8;	/* payload 8 */
	F[20] = 17;
	F[21] = 64;
	F[59] = 8;	/* UDP length */
	tl_in(t, 1, F, 14 + 40 + 8);
	T_EQ_INT(tl_drops(t, 1, NAT_R_IPV6), 1);
	/* A client dom0 lists as connected but whose link is not up yet is
	 * no more a valid source on the uplink. */
	{
		uint32_t ip = A("10.137.0.99"), vis = 0;

		nat_clients(t->e, &ip, &vis, 1);
		n = mk_udp(F, MAC_GW, MAC_UP, ip, IP_US, 1000, 53, 10);
		tl_in(t, 0, F, n);
		T_EQ_INT(tl_drops(t, 0, NAT_R_SPOOFED), 2);
	}
	/* A bad IPv4 header checksum is not forwarded (nor laundered). */
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1000, 53, 10);
	F[24] ^= 0x55;
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_drops(t, 1, NAT_R_MALFORMED), 1);
	T_EQ_INT(t->nfr, 0);
	/* Unsolicited inbound traffic. */
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 53, 40000, 10);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_drops(t, 0, NAT_R_NO_FLOW), 1);
	T_EQ_INT(tl_nsent(t), 0);
	tl_free(t);
}

static void
test_udp_snat_and_reply(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;
	int i;

	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 9999, 100);
	tl_in(t, 1, F, n);
	/* First packet waits for policyd, which gets the original tuple. */
	T_EQ_INT(tl_nsent(t), 0);
	T_EQ_INT(t->nfr, 1);
	T_EQ_INT(t->fr[0].port, 1);
	T_EQ_INT(t->fr[0].family, 4);
	T_EQ_INT(t->fr[0].proto, IPPROTO_UDP_);
	T_EQ_MEM(t->fr[0].src, &(uint32_t){ IP_C1 }, 4);
	T_EQ_MEM(t->fr[0].dst, &(uint32_t){ IP_REMOTE }, 4);
	T_EQ_INT(t->fr[0].sport, 40000);
	T_EQ_INT(t->fr[0].dport, 9999);
	T_EQ_INT(t->fr[0].flags, 0);
	T_EQ_INT(t->e->link[1].npending, 1);
	/* A second packet of the same flow is held, not asked again. */
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_EQ_INT(tl_nsent(t), 2);
	T_EQ_INT(t->e->link[1].npending, 0);
	for (i = 0; i < 2; i++) {
		T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
		T_EQ_INT(t->tx[i].port, 0);
		T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
		T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_REMOTE);
		T_EQ_INT(v.sport, 40000);	/* the client's port is kept */
		T_EQ_INT(v.dport, 9999);
		T_EQ_INT(v.ttl, 63);
		T_EQ_MEM(pkt_eth(&v)->src, MAC_UP, 6);
		T_EQ_MEM(pkt_eth(&v)->dst, MAC_GW, 6);
		T_ASSERT(csums_ok(&v));
	}
	/* The next packet goes straight out. */
	t->ntx = 0;
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->nfr, 1);
	/* The reply reaches the client, translated back. */
	t->ntx = 0;
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 9999, 40000, 300);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_REMOTE);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_EQ_INT(v.dport, 40000);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_V1, 6);
	T_EQ_MEM(pkt_eth(&v)->src, MAC_C1, 6);
	T_ASSERT(csums_ok(&v));
	/* Stats count what crossed each link. */
	T_EQ_INT(t->e->link[1].c.rx_packets, 3);
	T_EQ_INT(t->e->link[1].c.tx_packets, 1);
	T_EQ_INT(t->e->link[0].c.tx_packets, 3);
	tl_free(t);
}

static void
test_port_conflict(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	uint16_t p2;
	size_t n;
	int i;

	/* Two clients, same source port, same destination. */
	i = open_udp(t, 5353, IP_REMOTE, 53);
	T_ASSERT(i >= 0);
	T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
	T_EQ_INT(v.sport, 5353);
	t->ntx = 0;
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 5353, 53, 20);
	tl_in(t, 2, F, n);
	T_EQ_INT(t->nfr, 2);
	tl_verdict(t, t->fr[1].seq, VERDICT_ACCEPT);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	p2 = v.sport;
	T_ASSERT(p2 != 5353);
	T_ASSERT(p2 >= 1024);
	T_ASSERT(csums_ok(&v));
	/* Replies go to the right client each. */
	t->ntx = 0;
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 53, p2, 20);
	tl_in(t, 0, F, n);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 53, 5353, 20);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 2);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 2);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C2);
	T_EQ_INT(v.dport, 5353);
	T_ASSERT(csums_ok(&v));
	T_ASSERT(tl_parse(t, 1, &v) == PKT_OK);
	T_EQ_INT(t->tx[1].port, 1);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	tl_free(t);
}

static void
test_icmp_echo_nat_and_gateway_ping(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;

	n = mk_echo(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, ICMP_ECHO, 77, 1, 56);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	T_EQ_INT(t->fr[0].proto, IPPROTO_ICMP_);
	T_EQ_INT(t->fr[0].icmp_type, ICMP_ECHO);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_EQ_INT(v.icmp_id, 77);
	T_ASSERT(csums_ok(&v));
	t->ntx = 0;
	n = mk_echo(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, ICMP_ECHOREPLY, 77, 1, 56);
	tl_in(t, 0, F, n);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_EQ_INT(v.icmp_type, ICMP_ECHOREPLY);
	T_ASSERT(csums_ok(&v));
	/* Client 2 pings with the same id: translated to another one. */
	t->ntx = 0;
	n = mk_echo(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, ICMP_ECHO, 77, 1, 56);
	tl_in(t, 2, F, n);
	tl_verdict(t, t->fr[1].seq, VERDICT_ACCEPT);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_ASSERT(v.icmp_id != 77);
	T_ASSERT(csums_ok(&v));
	/* Ping of the gateway address is answered by natd itself. */
	t->ntx = 0;
	n = mk_echo(F, MAC_V1, MAC_C1, IP_C1, IP_VGW, ICMP_ECHO, 9, 3, 32);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 2);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(v.icmp_type, ICMP_ECHOREPLY);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_VGW);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_V1, 6);
	T_ASSERT(csums_ok(&v));
	/* Anything else to natd itself is dropped. */
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_VGW, 1, 22, 4);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_drops(t, 1, NAT_R_LOCAL), 1);
	tl_free(t);
}

/* An ICMP error from a router quoting the packet natd sent. */
static size_t
mk_icmp_err(uint8_t *f, uint32_t from, uint8_t type, uint8_t code,
    uint16_t mtu, const uint8_t *quote, size_t qlen)
{
	struct icmp_hdr *ih = (struct icmp_hdr *)(f + 34);
	size_t n = mk_ip(f, MAC_GW, MAC_UP, from, IP_US, IPPROTO_ICMP_, 60, 9,
	    0, 8 + qlen);

	memset(ih, 0, 8);
	ih->type = type;
	ih->code = code;
	ih->u.frag.mtu_be = htons(mtu);
	memcpy(f + 42, quote, qlen);
	fix_csums(f, n);
	return n;
}

static void
test_icmp_error_translation(void)
{
	struct tl *t = tl_new();
	struct pkt_view v, in;
	uint8_t quote[64];
	struct ipv4_hdr *iip;
	struct udp_hdr *iuh;
	size_t n;
	int i;

	/* Client 2 takes port 6000 first so client 1's flow is translated. */
	T_ASSERT(open_udp(t, 7000, IP_REMOTE, 33434) >= 0);
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 6000, 33435, 20);
	tl_in(t, 2, F, n);
	tl_verdict(t, t->fr[1].seq, VERDICT_ACCEPT);
	t->ntx = 0;
	i = open_udp(t, 6000, IP_REMOTE, 33435);
	T_ASSERT(i >= 0);
	T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
	T_ASSERT(v.sport != 6000);
	/* A router says time exceeded, quoting what natd sent (header + 28). */
	memcpy(quote, tl_frame(t, (unsigned)i) + 14, 48);
	t->ntx = 0;
	n = mk_icmp_err(F, A("198.51.100.1"), ICMP_TIME_EXCEEDED, 0, 0, quote, 48);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, A("198.51.100.1"));
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_EQ_INT(v.icmp_type, ICMP_TIME_EXCEEDED);
	T_ASSERT(pkt_ip4_csum_ok(&v));
	T_EQ_INT(ip_checksum(pkt_icmp(&v), v.ip_end - v.l4_off), 0);
	T_ASSERT(pkt_parse_icmp_quote(&in, v.frame + v.l4_off + 8,
	    v.ip_end - v.l4_off - 8) == PKT_OK);
	iip = (struct ipv4_hdr *)in.frame;
	iuh = (struct udp_hdr *)(in.frame + in.l3_hlen);
	T_EQ_INT(iip->saddr_be, IP_C1);
	T_EQ_INT(iip->daddr_be, IP_REMOTE);
	T_EQ_INT(ntohs(iuh->sport_be), 6000);
	T_EQ_INT(ntohs(iuh->dport_be), 33435);
	T_EQ_INT(ip_checksum(iip, 20), 0);
	/* The quoted UDP checksum still verifies over the whole quote. */
	{
		uint32_t s = csum_pseudo4(iip->saddr_be, iip->daddr_be,
		    IPPROTO_UDP_, 28);

		s = csum_add(s, iuh, 28);
		T_EQ_INT(csum_fold(s), 0);
	}
	/* Path MTU discovery: frag-needed carries the MTU through. */
	t->ntx = 0;
	n = mk_icmp_err(F, IP_REMOTE, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400,
	    quote, 48);
	tl_in(t, 0, F, n);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(v.icmp_code, ICMP_FRAG_NEEDED);
	T_EQ_INT(ntohs(pkt_icmp(&v)->u.frag.mtu_be), 1400);
	T_EQ_INT(ip_checksum(pkt_icmp(&v), v.ip_end - v.l4_off), 0);
	/* An error about no flow of ours is dropped. */
	((struct udp_hdr *)(quote + 20))->sport_be = htons(1);
	n = mk_icmp_err(F, IP_REMOTE, ICMP_DEST_UNREACH, 3, 0, quote, 48);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_drops(t, 0, NAT_R_NO_FLOW), 1);
	tl_free(t);
}

static void
test_ttl_expiry(void)
{
	struct tl *t = tl_new();
	struct pkt_view v, in;
	size_t n;

	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 33000, 33434, 24);
	((struct ipv4_hdr *)(F + 14))->ttl = 1;
	fix_csums(F, n);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 0);
	T_EQ_INT(tl_drops(t, 1, NAT_R_TTL), 1);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(v.icmp_type, ICMP_TIME_EXCEEDED);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_VGW);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_ASSERT(csums_ok(&v));
	T_ASSERT(pkt_parse_icmp_quote(&in, v.frame + v.l4_off + 8,
	    v.ip_end - v.l4_off - 8) == PKT_OK);
	T_EQ_INT(in.dport, 33434);
	tl_free(t);
}

static void
test_tcp_states_and_timeouts(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	struct ft_entry *f;
	uint32_t idx;
	size_t n;

	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 45000, 443, TCP_SYN, 100, 0, 0);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_ASSERT(csums_ok(&v));
	idx = ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_TCP_, 45000, 443);
	T_ASSERT(idx != FT_NIL);
	f = ft_ent(&t->e->ft, idx);
	T_EQ_INT(f->tcp, FT_TCP_SYN_SENT);
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 443, 45000,
	    TCP_SYN | TCP_ACK, 5000, 101, 0);
	tl_in(t, 0, F, n);
	T_EQ_INT(f->tcp, FT_TCP_SYN_RECV);
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 45000, 443, TCP_ACK, 101, 5001, 0);
	tl_in(t, 1, F, n);
	T_EQ_INT(f->tcp, FT_TCP_ESTABLISHED);
	/* Established flows live long (Linux: 5 days); a UDP flow does not. */
	T_ASSERT(open_udp(t, 999, IP_REMOTE, 1234) >= 0);
	t->now += 31000;
	nat_tick(t->e, t->now);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 999, 1234), FT_NIL);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_TCP_, 45000, 443), idx);
	t->now += 3600 * 1000;
	nat_tick(t->e, t->now);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_TCP_, 45000, 443), idx);
	/* FIN: the closing timeout (120 s) applies. */
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 45000, 443,
	    TCP_FIN | TCP_ACK, 101, 5001, 0);
	tl_in(t, 1, F, n);
	T_EQ_INT(f->tcp, FT_TCP_CLOSING);
	t->now += 119 * 1000;
	nat_tick(t->e, t->now);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_TCP_, 45000, 443), idx);
	t->now += 3 * 1000;
	nat_tick(t->e, t->now);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_TCP_, 45000, 443), FT_NIL);
	/* A SYN never answered: the syn timeout. */
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 45001, 443, TCP_SYN, 1, 0, 0);
	tl_in(t, 1, F, n);
	tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
	t->now += 121 * 1000;
	nat_tick(t->e, t->now);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_TCP_, 45001, 443), FT_NIL);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

static void
test_udp_stream_timeout(void)
{
	struct tl *t = tl_new();
	size_t n;

	T_ASSERT(open_udp(t, 1111, IP_REMOTE, 2222) >= 0);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 2222, 1111, 8);
	tl_in(t, 0, F, n);
	/* Answered: 120 s, not 30. */
	t->now += 60 * 1000;
	nat_tick(t->e, t->now);
	T_ASSERT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 1111, 2222) != FT_NIL);
	t->now += 61 * 1000;
	nat_tick(t->e, t->now);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 1111, 2222), FT_NIL);
	tl_free(t);
}

/* An IPv4 fragment: a UDP datagram of total payload len cut at off. */
static size_t
mk_frag(uint8_t *f, const uint8_t *smac, const uint8_t *dmac, uint32_t src,
    uint32_t dst, uint16_t id, const uint8_t *dgram, size_t off, size_t len,
    int more)
{
	size_t n = mk_ip(f, smac, dmac, src, dst, IPPROTO_UDP_, 64, id,
	    (uint16_t)((more ? IPV4_MF : 0) | (off / 8)), len);

	memcpy(f + 34, dgram + off, len);
	fix_csums(f, n);
	return n;
}

static void
test_fragments(void)
{
	struct tl *t = tl_new();
	static uint8_t dg[3008], g[70000];
	struct udp_hdr *uh = (struct udp_hdr *)dg;
	struct pkt_view v;
	size_t n, i;
	uint32_t s;

	/* A 3000-byte UDP datagram from client 1 in three fragments,
	 * the last one arriving first. */
	for (i = 8; i < sizeof(dg); i++)
		dg[i] = (uint8_t)i;
	uh->sport_be = htons(7777);
	uh->dport_be = htons(8888);
	uh->len_be = htons(sizeof(dg));
	uh->csum = 0;
	s = csum_pseudo4(IP_C1, IP_REMOTE, IPPROTO_UDP_, sizeof(dg));
	uh->csum = csum_fold(csum_add(s, dg, sizeof(dg)));
	n = mk_frag(g, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 0xabc, dg, 2960, 48, 0);
	tl_in(t, 1, g, n);
	T_EQ_INT(tl_nsent(t), 0);
	n = mk_frag(g, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 0xabc, dg, 0, 1480, 1);
	tl_in(t, 1, g, n);
	T_EQ_INT(t->nfr, 1);
	T_EQ_INT(t->fr[0].sport, 7777);
	n = mk_frag(g, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 0xabc, dg, 1480, 1480, 1);
	tl_in(t, 1, g, n);
	T_EQ_INT(tl_nsent(t), 0);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_EQ_INT(tl_nsent(t), 3);
	/* All three leave with our address; reassembled, the UDP checksum
	 * verifies against the translated pseudo-header. */
	memset(g, 0, sizeof(dg));
	for (i = 0; i < t->ntx; i++) {
		if (t->tx[i].port == MQ_PORT_DROP)
			continue;
		T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
		T_EQ_INT(t->tx[i].port, 0);
		T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
		T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_REMOTE);
		T_ASSERT(pkt_ip4_csum_ok(&v));
		memcpy(g + v.frag_off, v.frame + v.l3_off + v.l3_hlen,
		    v.ip_end - v.l3_off - v.l3_hlen);
	}
	s = csum_pseudo4(IP_US, IP_REMOTE, IPPROTO_UDP_, sizeof(dg));
	T_EQ_INT(csum_fold(csum_add(s, g, sizeof(dg))), 0);
	/* Fragmented reply (ping -s 4000 style) back to the client. */
	memcpy(dg, g, sizeof(dg));
	uh->sport_be = htons(8888);
	uh->dport_be = htons(7777);
	uh->csum = 0;
	s = csum_pseudo4(IP_REMOTE, IP_US, IPPROTO_UDP_, sizeof(dg));
	uh->csum = csum_fold(csum_add(s, dg, sizeof(dg)));
	t->ntx = 0;
	n = mk_frag(g, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 0x55, dg, 0, 1480, 1);
	tl_in(t, 0, g, n);
	n = mk_frag(g, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 0x55, dg, 2960, 48, 0);
	tl_in(t, 0, g, n);
	n = mk_frag(g, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 0x55, dg, 1480, 1480, 1);
	tl_in(t, 0, g, n);
	T_EQ_INT(tl_nsent(t), 3);
	memset(g, 0, sizeof(dg));
	for (i = 0; i < 3; i++) {
		T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
		T_EQ_INT(t->tx[i].port, 1);
		T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
		T_ASSERT(pkt_ip4_csum_ok(&v));
		memcpy(g + v.frag_off, v.frame + v.l3_off + v.l3_hlen,
		    v.ip_end - v.l3_off - v.l3_hlen);
	}
	s = csum_pseudo4(IP_REMOTE, IP_C1, IPPROTO_UDP_, sizeof(dg));
	T_EQ_INT(csum_fold(csum_add(s, g, sizeof(dg))), 0);
	/* A tail with TTL 0 is not forwarded (it would arrive with 255). */
	t->ntx = 0;
	n = mk_frag(g, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 0x56, dg, 0, 1480, 1);
	tl_in(t, 0, g, n);
	n = mk_frag(g, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 0x56, dg, 1480, 1480, 1);
	g[22] = 0;
	fix_csums(g, n);
	tl_in(t, 0, g, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(tl_drops(t, 0, NAT_R_TTL), 1);
	/* A lone tail fragment whose head never comes is dropped later. */
	n = mk_frag(g, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 0x999, dg, 1480, 1480, 0);
	tl_in(t, 1, g, n);
	t->now += NAT_FRAG_HOLD_MS + 1;
	nat_tick(t->e, t->now);
	T_EQ_INT(tl_drops(t, 1, NAT_R_FRAG), 1);
	tl_free(t);
}

static void
test_dns_redirect(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;

	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_VDNS2, 30000, 53, 30);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	/* policyd sees the address the client asked. */
	T_EQ_MEM(t->fr[0].dst, &(uint32_t){ IP_VDNS2 }, 4);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_DNS2);	/* same index */
	T_EQ_INT(v.dport, 53);
	T_ASSERT(csums_ok(&v));
	t->ntx = 0;
	n = mk_udp(F, MAC_GW, MAC_UP, IP_DNS2, IP_US, 53, 30000, 90);
	tl_in(t, 0, F, n);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_VDNS2);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_EQ_INT(v.sport, 53);
	T_ASSERT(csums_ok(&v));
	/* TCP too. */
	t->ntx = 0;
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_VDNS1, 30001, 53, TCP_SYN, 1, 0, 0);
	tl_in(t, 1, F, n);
	tl_verdict(t, t->fr[1].seq, VERDICT_ACCEPT);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_DNS1);
	T_ASSERT(csums_ok(&v));
	tl_free(t);
}

static void
test_client_to_client(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;

	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_C2, 40000, 22, TCP_SYN, 1, 0, 0);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	T_EQ_MEM(t->fr[0].dst, &(uint32_t){ IP_C2 }, 4);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 2);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_C1);	/* no NAT between clients */
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C2);
	T_EQ_INT(v.ttl, 63);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_V2, 6);
	T_EQ_MEM(pkt_eth(&v)->src, MAC_C2, 6);
	T_ASSERT(csums_ok(&v));
	t->ntx = 0;
	n = mk_tcp(F, MAC_V2, MAC_C2, IP_C2, IP_C1, 22, 40000, TCP_SYN | TCP_ACK, 9, 2, 0);
	tl_in(t, 2, F, n);
	T_EQ_INT(t->nfr, 1);	/* a reply, not a new flow */
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_C2);
	T_ASSERT(csums_ok(&v));
	/* Client 2 opening its own connection to client 1 asks policyd. */
	n = mk_tcp(F, MAC_V2, MAC_C2, IP_C2, IP_C1, 5000, 80, TCP_SYN, 9, 0, 0);
	tl_in(t, 2, F, n);
	T_EQ_INT(t->nfr, 2);
	tl_verdict(t, t->fr[1].seq, VERDICT_DROP);
	T_EQ_INT(tl_drops(t, 2, NAT_R_POLICY_DROP), 1);
	tl_free(t);
}

static void
test_verdict_drop_reject(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;

	/* Drop: silent, and cached. */
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1000, 1001, 4);
	tl_in(t, 1, F, n);
	tl_verdict(t, t->fr[0].seq, VERDICT_DROP);
	TL_DROPPED(t, 1, NAT_R_POLICY_DROP, 1);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	T_EQ_INT(tl_drops(t, 1, NAT_R_POLICY_DROP), 2);
	/* Reject of TCP: a RST to the client, at once. */
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40001, 25, TCP_SYN, 5000, 0, 0);
	tl_in(t, 1, F, n);
	tl_verdict(t, t->fr[1].seq, VERDICT_REJECT);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, (unsigned)tl_last_sent(t), &v) == PKT_OK);
	T_EQ_INT(t->tx[tl_last_sent(t)].port, 1);
	T_EQ_INT(v.proto, IPPROTO_TCP_);
	T_ASSERT(v.tcp_flags & TCP_RST);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_REMOTE);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_EQ_INT(v.sport, 25);
	T_EQ_INT(v.dport, 40001);
	T_EQ_INT(ntohl(pkt_tcp(&v)->ack_be), 5001);
	T_ASSERT(csums_ok(&v));
	T_EQ_INT(tl_drops(t, 1, NAT_R_POLICY_REJECT), 1);
	/* Reject of UDP: ICMP admin prohibited. */
	t->ntx = 0;
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1002, 1003, 4);
	tl_in(t, 1, F, n);
	tl_verdict(t, t->fr[2].seq, VERDICT_REJECT);
	T_ASSERT(tl_parse(t, (unsigned)tl_last_sent(t), &v) == PKT_OK);
	T_EQ_INT(v.icmp_type, ICMP_DEST_UNREACH);
	T_EQ_INT(v.icmp_code, ICMP_ADMIN_PROHIBITED);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_ASSERT(csums_ok(&v));
	/* A stale or unknown verdict changes nothing. */
	tl_verdict(t, t->fr[2].seq ^ 0x100000, VERDICT_ACCEPT);
	tl_verdict(t, 0xffffffff, VERDICT_ACCEPT);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

static void
test_pending_limits(void)
{
	struct nat_config c;
	struct tl *t;
	size_t n;

	nh_config(&c, 64, 16, 16, 1);
	c.pending_max = 2;
	t = tl_new_cfg(&c, 512, 4096, NULL, 0, 0, 1);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1, 2, 4);
	tl_in(t, 1, F, n);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 3, 4, 4);
	tl_in(t, 1, F, n);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 5, 6, 4);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 2);
	T_EQ_INT(tl_drops(t, 1, NAT_R_PENDING_FULL), 1);
	/* The other client is not affected. */
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 5, 6, 4);
	tl_in(t, 2, F, n);
	T_EQ_INT(t->nfr, 3);
	/* policyd never answers: the held frames go after the timeout. */
	t->now += NAT_TO_PENDING_MS + 1000;
	nat_tick(t->e, t->now);
	T_EQ_INT(tl_drops(t, 1, NAT_R_POLICY_TIMEOUT), 2);
	T_EQ_INT(t->e->link[1].npending, 0);
	T_EQ_INT(t->e->link[1].nheld, 0);
	/* A full flow-request ring drops and forgets the flow. */
	t->fr_full = 1;
	tl_in(t, 1, F, n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 7, 8, 4));
	T_EQ_INT(tl_drops(t, 1, NAT_R_POLICYD_BUSY), 1);
	T_EQ_INT(t->e->ft.client[1].nflows, 0);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

static void
test_quota_and_eviction(void)
{
	struct nat_config c;
	struct tl *t;
	size_t n;
	uint16_t p;

	nh_config(&c, 16, 8, 16, 2);
	t = tl_new_cfg(&c, 512, 4096, NULL, 0, 0, 1);
	/* Client 2 has 8 answered flows. */
	for (p = 1; p <= 8; p++) {
		n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, p, 53, 4);
		tl_in(t, 2, F, n);
		tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
		n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 53, p, 4);
		tl_in(t, 0, F, n);
	}
	/* Client 1 floods new flows: it only ever evicts its own. */
	for (p = 100; p < 140; p++) {
		n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, p, 53, 4);
		tl_in(t, 1, F, n);
		tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
	}
	T_EQ_INT(t->e->ft.client[2].nflows, 8);
	T_EQ_INT(t->e->ft.client[1].nflows, 8);
	/* Every flow past the quota is counted. */
	T_EQ_INT(tl_drops(t, 1, NAT_R_QUOTA), 40 - 8);
	T_EQ_INT(tl_drops(t, 2, NAT_R_QUOTA), 0);
	for (p = 1; p <= 8; p++)
		T_ASSERT(ft_find_out(&t->e->ft, IP_C2, IP_REMOTE, IPPROTO_UDP_, p, 53) != FT_NIL);
	/* The newest flows of the flooder are the ones kept. */
	T_ASSERT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 139, 53) != FT_NIL);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 100, 53), FT_NIL);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	/* Client 2, at quota, evicts its own flows (answered ones, oldest
	 * first, when none is unanswered). */
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 9, 53, 4);
	tl_in(t, 2, F, n);
	T_EQ_INT(t->e->ft.client[2].nflows, 8);
	T_EQ_INT(t->e->ft.client[1].nflows, 8);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C2, IP_REMOTE, IPPROTO_UDP_, 1, 53), FT_NIL);
	tl_free(t);
}

static void
test_table_full(void)
{
	struct nat_config c;
	struct tl *t;
	size_t n;
	uint16_t p;

	nh_config(&c, 16, 12, 16, 3);
	t = tl_new_cfg(&c, 512, 4096, NULL, 0, 0, 1);
	for (p = 1; p <= 8; p++) {
		n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, p, 53, 4);
		tl_in(t, 2, F, n);
		tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
	}
	/* Client 1 fills the rest, then the table is full: it evicts from
	 * the biggest holder, which (ties included) is itself. */
	for (p = 100; p < 112; p++) {
		n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, p, 53, 4);
		tl_in(t, 1, F, n);
		tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
	}
	T_EQ_INT(t->e->ft.nused, 16);
	T_EQ_INT(t->e->ft.client[2].nflows, 8);
	T_EQ_INT(t->e->ft.client[1].nflows, 8);
	T_EQ_INT(tl_drops(t, 1, NAT_R_TABLE_FULL), 4);
	T_ASSERT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 111, 53) != FT_NIL);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

static void
test_recheck(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;
	unsigned i, rsts = 0;
	uint32_t seq_tcp = 0, seq_udp = 0;

	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 80, TCP_SYN, 1000, 0, 0);
	tl_in(t, 1, F, n);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 80, 40000, TCP_SYN | TCP_ACK, 7000, 1001, 0);
	tl_in(t, 0, F, n);
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 80, TCP_ACK, 1001, 7001, 0);
	tl_in(t, 1, F, n);
	T_ASSERT(open_udp(t, 5000, IP_REMOTE, 5001) >= 0);
	t->nfr = 0;
	t->ntx = 0;
	nat_rules_changed(t->e, 2, t->now);
	T_EQ_INT(t->nfr, 2);
	for (i = 0; i < 2; i++) {
		T_EQ_INT(t->fr[i].flags, FREQ_RECHECK);
		T_EQ_MEM(t->fr[i].dst, &(uint32_t){ IP_REMOTE }, 4);
		if (t->fr[i].proto == IPPROTO_TCP_)
			seq_tcp = t->fr[i].seq;
		else
			seq_udp = t->fr[i].seq;
	}
	T_ASSERT(seq_tcp && seq_udp);
	/* Allowed: untouched; denied: cut, with a RST each way. */
	tl_verdict(t, seq_udp, VERDICT_ACCEPT);
	tl_verdict(t, seq_tcp, VERDICT_DROP);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_TCP_, 40000, 80), FT_NIL);
	T_ASSERT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 5000, 5001) != FT_NIL);
	for (i = 0; i < t->ntx; i++) {
		if (tl_parse(t, i, &v) != PKT_OK)
			continue;
		T_ASSERT(v.tcp_flags & TCP_RST);
		T_ASSERT(csums_ok(&v));
		if (t->tx[i].port == 1) {
			T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
			T_EQ_INT(ntohl(pkt_tcp(&v)->seq_be), 7001);
		} else {
			T_EQ_INT(t->tx[i].port, 0);
			T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
			T_EQ_INT(ntohl(pkt_tcp(&v)->seq_be), 1001);
		}
		rsts++;
	}
	T_EQ_INT(rsts, 2);
	/* The cut flow's next packet asks policyd again. */
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 80, TCP_ACK, 1001, 7001, 10);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 3);
	T_EQ_INT(t->fr[2].flags, 0);
	/* A flow still waiting for its verdict when the rules change is
	 * re-checked once accepted: its verdict may be from the old rules. */
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 6000, 6001, 4);
	tl_in(t, 1, F, n);
	seq_udp = t->fr[t->nfr - 1].seq;
	i = t->nfr;
	nat_rules_changed(t->e, 3, t->now);
	tl_verdict(t, seq_udp, VERDICT_ACCEPT);
	T_ASSERT(t->nfr > i);
	T_EQ_INT(t->fr[t->nfr - 1].flags, FREQ_RECHECK);
	T_EQ_INT(t->fr[t->nfr - 1].sport, 6000);
	tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_DROP);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 6000, 6001), FT_NIL);
	/* A ring too small for all re-checks: the rest go on later ticks. */
	t->nfr = 0;
	t->fr_full = 1;
	nat_rules_changed(t->e, 4, t->now);
	T_EQ_INT(t->nfr, 0);
	t->fr_full = 0;
	nat_tick(t->e, t->now);
	T_EQ_INT(t->nfr, 1);	/* only the UDP flow is active */
	tl_free(t);
}

/* A flow accepted under rules that changed while it waited must be
 * re-checked; when the ring is full at that moment, the re-check is not
 * lost: the next tick asks (found by fuzz_egress). */
static void
test_recheck_ring_full(void)
{
	struct tl *t = tl_new();
	size_t n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 6000, 6001, 4);
	uint32_t seq;

	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	seq = t->fr[0].seq;
	nat_rules_changed(t->e, 2, t->now);
	t->fr_full = 1;
	tl_verdict(t, seq, VERDICT_ACCEPT);
	T_EQ_INT(t->nfr, 1);		/* the re-check did not fit */
	t->fr_full = 0;
	nat_tick(t->e, t->now);
	T_EQ_INT(t->nfr, 2);
	T_EQ_INT(t->fr[1].flags, FREQ_RECHECK);
	T_EQ_INT(t->fr[1].sport, 6000);
	tl_verdict(t, t->fr[1].seq, VERDICT_DROP);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 6000, 6001),
	    FT_NIL);
	tl_free(t);
}

/* A re-check that does not fit the ring leaves the one outstanding in
 * force: its verdict, a deny, still cuts the flow (found by fuzz_egress). */
static void
test_recheck_verdict_kept(void)
{
	struct tl *t = tl_new();
	uint32_t seq;

	T_ASSERT(open_udp(t, 5000, IP_REMOTE, 5001) >= 0);
	t->nfr = 0;
	nat_rules_changed(t->e, 2, t->now);
	T_EQ_INT(t->nfr, 1);
	seq = t->fr[0].seq;
	t->fr_full = 1;
	nat_rules_changed(t->e, 3, t->now);	/* its re-check does not fit */
	T_EQ_INT(t->nfr, 1);
	tl_verdict(t, seq, VERDICT_DROP);
	T_EQ_INT(ft_find_out(&t->e->ft, IP_C1, IP_REMOTE, IPPROTO_UDP_, 5000, 5001),
	    FT_NIL);
	tl_free(t);
}

static void
test_gso_partial(void)
{
	struct nat_config c;
	struct tl *t;
	struct mq_desc d;
	struct pkt_view v;
	static uint8_t g[65600];
	size_t n, l4len;
	uint16_t partial, c16;

	nh_config(&c, 64, 16, 4, 0);
	t = tl_new_cfg(&c, 32, 65536 + 256, NULL, 0, 0, 1);
	/* Establish the flow with a plain SYN. */
	n = mk_tcp(g, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 5201, TCP_SYN, 1, 0, 0);
	tl_in(t, 1, g, n);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	/* A 60000-byte TSO super-frame with a partial checksum. */
	n = mk_tso(g, &d);
	l4len = n - 34;
	t->ntx = 0;
	tl_in_desc(t, 1, g, n, &d);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->tx[0].port, 0);
	T_EQ_INT(t->tx[0].flags, MQ_F_NEEDS_CSUM);
	T_EQ_INT(t->tx[0].gso_type, MQ_GSO_TCPV4);
	T_EQ_INT(t->tx[0].gso_size, 1448);
	T_EQ_INT(t->tx[0].csum_start, 34);
	T_EQ_INT(t->tx[0].csum_offset, 16);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_ASSERT(pkt_ip4_csum_ok(&v));
	/* The field is the new pseudo-header sum, uncomplemented ... */
	partial = (uint16_t)~csum_fold(csum_pseudo4(IP_US, IP_REMOTE, IPPROTO_TCP_,
	    (uint32_t)l4len));
	T_EQ_INT(pkt_tcp(&v)->csum, partial);
	/* ... and completing it as the kernel would gives a valid segment. */
	c16 = csum_fold(csum_add(0, pkt_tcp(&v), l4len));
	pkt_tcp(&v)->csum = c16;
	T_ASSERT(pkt_l4_csum_ok(&v));
	/* Offload fields that do not point at the checksum: malformed. */
	d.csum_offset = 6;
	n = mk_tcp(g, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 5201, TCP_ACK, 2, 1, 100);
	tl_in_desc(t, 1, g, n, &d);
	T_EQ_INT(tl_drops(t, 1, NAT_R_MALFORMED), 1);
	tl_free(t);
}

static void
test_pcap_ring_and_stats(void)
{
	struct tl *t = tl_new();
	static uint8_t out[NAT_PCAP_SLOTS * (NAT_PCAP_SNAP + 16) + 24];
	static char js[1 << 20];
	size_t n, len, off;
	uint32_t magic, linktype, nrec = 0;
	json_t *root, *c, *d;
	json_error_t err;
	int i;

	for (i = 0; i < 300; i++) {
		n = mk_udp(F, MAC_V1, MAC_C1, IP_C2, IP_REMOTE, (uint16_t)i, 53, 10);
		tl_in(t, 1, F, n);
	}
	len = nat_pcap_dump(t->e, out, sizeof(out), 1700000000000LL);
	T_ASSERT(len > 24);
	T_EQ_INT(len, nat_pcap_bytes(t->e));
	memcpy(&magic, out, 4);
	memcpy(&linktype, out + 20, 4);
	T_EQ_INT(magic, 0xa1b2c3d4u);
	T_EQ_INT(linktype, 1);
	for (off = 24; off < len; nrec++) {
		uint32_t incl, sec;
		struct pkt_view v;

		memcpy(&sec, out + off, 4);
		memcpy(&incl, out + off + 8, 4);
		T_ASSERT(sec >= 1700000000u);
		T_ASSERT(off + 16 + incl <= len);
		T_ASSERT(pkt_parse(&v, out + off + 16, incl) == PKT_OK);
		if (nrec == NAT_PCAP_SLOTS - 1)
			T_EQ_INT(pkt_udp(&v)->sport_be, htons(299));	/* newest last */
		off += 16 + incl;
	}
	T_EQ_INT(nrec, NAT_PCAP_SLOTS);
	/* Stats: the documented shape, with the drops counted. */
	len = nat_stats_json(t->e, js, sizeof(js));
	T_ASSERT(len > 0);
	root = json_loadb(js, len, 0, &err);
	T_ASSERT(root != NULL);
	T_ASSERT(json_is_integer(json_object_get(root, "flows")));
	T_EQ_INT(json_integer_value(json_object_get(root, "flows_max")), 1024);
	c = json_object_get(root, "uplink");
	T_ASSERT(json_is_object(c));
	T_EQ_STR(json_string_value(json_object_get(c, "gateway_mac")), "02:00:00:00:00:fe");
	T_ASSERT(json_is_integer(json_object_get(c, "rx_packets")));
	c = json_object_get(root, "clients");
	T_ASSERT(json_is_array(c));
	T_EQ_INT(json_array_size(c), 2);
	c = json_array_get(c, 0);
	T_EQ_INT(json_integer_value(json_object_get(c, "port")), 1);
	T_EQ_STR(json_string_value(json_object_get(c, "name")), "eth1");
	T_EQ_STR(json_string_value(json_object_get(c, "ip")), "10.137.0.10");
	T_EQ_INT(json_integer_value(json_object_get(c, "rx_packets")), 300);
	T_ASSERT(json_is_integer(json_object_get(c, "pending")));
	T_ASSERT(json_is_integer(json_object_get(c, "flows")));
	d = json_object_get(c, "drops");
	T_EQ_INT(json_integer_value(json_object_get(d, "spoofed")), 300);
	T_EQ_INT(json_integer_value(json_object_get(d, "ipv6")), 0);
	json_decref(root);
	tl_free(t);
}

static void
test_buffer_reserve(void)
{
	struct tl *t = tl_new();
	size_t n;
	unsigned i, ret = 0;

	/* Use up the reserve by making natd answer ARP... no: ARP replies
	 * reuse the request's buffer. Time-exceeded takes one each. */
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1, 2, 4);
	((struct ipv4_hdr *)(F + 14))->ttl = 1;
	fix_csums(F, n);
	for (i = 0; i < 10; i++)
		tl_in(t, 1, F, n);
	/* Each answer took a reserve buffer and each dropped original
	 * refilled it: the reserve is still full and nothing was returned. */
	T_EQ_INT(t->e->nreserve, 16);
	T_EQ_INT(tl_nsent(t), 10);
	for (i = 0; i < t->ntx; i++)
		if (t->tx[i].port == MQ_PORT_DROP)
			ret++;
	T_EQ_INT(ret, 0);
	/* Full reserve: further drops, and further gifts, go back to
	 * netbackd; gifts are not counted as traffic. */
	t->ntx = 0;
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C2, IP_REMOTE, 1, 2, 4);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->ntx, 1);
	T_EQ_INT(t->tx[0].port, MQ_PORT_DROP);
	tl_gift(t);
	T_EQ_INT(t->ntx, 17);
	T_EQ_INT(t->e->link[0].c.rx_packets, 1);	/* the gateway's ARP reply */
	T_EQ_INT(tl_drops(t, 0, NAT_R_MALFORMED), 0);
	tl_free(t);
	/* Before any gift natd cannot answer, and says so. */
	t = tl_new_cfg(NULL, 512, 4096, NULL, 0, 0, 1);
	t->e->nreserve = 0;
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1, 2, 4);
	((struct ipv4_hdr *)(F + 14))->ttl = 1;
	fix_csums(F, n);
	tl_in(t, 1, F, n);
	TL_DROPPED(t, 1, NAT_R_NO_BUFFER, 1);
	tl_free(t);
}

static void
test_restart_keeps_flows(void)
{
	size_t len;
	uint8_t *mem;
	struct tl *t = tl_new_restartable(&mem, &len);
	struct pkt_view v;
	uint16_t nsport;
	size_t n;
	int i;

	/* Flows: one established TCP, one pending (lost in the crash). */
	n = mk_tcp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 40000, 443, TCP_SYN, 1, 0, 0);
	tl_in(t, 2, F, n);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 443, TCP_SYN, 1, 0, 0);
	tl_in(t, 1, F, n);
	tl_verdict(t, t->fr[1].seq, VERDICT_ACCEPT);
	i = tl_last_sent(t);
	T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
	nsport = v.sport;
	T_ASSERT(nsport != 40000);
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 443, nsport, TCP_SYN | TCP_ACK, 9, 2, 0);
	tl_in(t, 0, F, n);
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 443, TCP_ACK, 2, 10, 0);
	tl_in(t, 1, F, n);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 1, 2, 4);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->e->ft.nused, 3);
	/* natd dies; its successor finds the memfd. */
	T_ASSERT(tl_restart(t, mem, len) == 0);
	T_ASSERT(nat_start(t->e, 1, t->now + 2000) == 0);
	tl_gift(t);
	T_EQ_INT(t->e->restored, 2);
	T_EQ_INT(t->e->discarded, 1);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	/* Learn the gateway again, then the established flow still works. */
	n = pkt_build_arp(F, sizeof(F), ARPOP_REPLY_, MAC_GW, IP_GW, MAC_UP, MAC_UP, IP_US);
	tl_in(t, 0, F, n);
	t->ntx = 0;
	t->nfr = 0;
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 443, nsport, TCP_ACK, 10, 2, 100);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(v.dport, 40000);
	T_ASSERT(csums_ok(&v));
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 40000, 443, TCP_ACK, 2, 110, 0);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 2);
	/* Rules may have changed while natd was down: re-checked. */
	nat_tick(t->e, t->now + 2000);
	T_EQ_INT(t->nfr, 2);
	T_EQ_INT(t->fr[0].flags, FREQ_RECHECK);
	tl_free(t);
	free(mem);
}

/* ---- issue 12: holes an outside review found ---- */

/* An ICMP error a client sends (smac/dmac on its link), from src to dst,
 * quoting qlen bytes. */
static size_t
mk_err_from(uint8_t *f, const uint8_t *smac, const uint8_t *dmac,
    uint32_t src, uint32_t dst, uint8_t type, uint8_t code,
    const uint8_t *quote, size_t qlen)
{
	struct icmp_hdr *ih = (struct icmp_hdr *)(f + 34);
	size_t n = mk_ip(f, smac, dmac, src, dst, IPPROTO_ICMP_, 64, 9, 0,
	    8 + qlen);

	memset(ih, 0, 8);
	ih->type = type;
	ih->code = code;
	memcpy(f + 42, quote, qlen);
	fix_csums(f, n);
	return n;
}

/* Insert IPv4 options (olen, a multiple of 4) after the 20-byte header of
 * frame f (n bytes) and fix lengths and checksums; returns the new length. */
static size_t
add_ip_opts(uint8_t *f, size_t n, const uint8_t *opt, size_t olen)
{
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(f + 14);

	memmove(f + 34 + olen, f + 34, n - 34);
	memcpy(f + 34, opt, olen);
	ip->ver_ihl = (uint8_t)(0x40 | (20 + olen) / 4);
	ip->tot_len_be = htons((uint16_t)(ntohs(ip->tot_len_be) + olen));
	fix_csums(f, n + olen);
	return n + olen;
}

/* The frame sent to port, or -1. */
static int
tl_sent_to(struct tl *t, uint16_t port)
{
	unsigned i;

	for (i = 0; i < t->ntx; i++)
		if (t->tx[i].port == port)
			return (int)i;
	return -1;
}

/*
 * Hole 1: a client allowed one flow sends an ICMP error quoting a packet of
 * that flow, addressed to a host of its choosing, its own bytes in the
 * quote. It must only ever go to the quoted packet's source.
 */
static void
test_icmp_error_outer_dst(void)
{
	struct tl *t = tl_new();
	struct pkt_view v, in;
	uint8_t quote[600];
	size_t n, qlen;
	int i;

	/* Client 1's DNS-like flow to the remote host, answered. */
	T_ASSERT(open_udp(t, 6000, IP_REMOTE, 53) >= 0);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 53, 6000, 500);
	t->ntx = 0;
	tl_in(t, 0, F, n);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	/* The reply as client 1 saw it, quoted with 500 bytes of "data". */
	qlen = v.ip_end - v.l3_off;
	memcpy(quote, v.frame + v.l3_off, qlen);
	memset(quote + 28, 'X', qlen - 28);
	/* Exfiltration: port unreachable about it, sent to another host. */
	t->ntx = 0;
	n = mk_err_from(F, MAC_V1, MAC_C1, IP_C1, A("203.0.113.66"),
	    ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quote, qlen);
	tl_in(t, 1, F, n);
	TL_DROPPED(t, 1, NAT_R_ICMP_MISMATCH, 1);
	T_EQ_INT(t->nfr, 1);
	/* The same error to the host it quotes goes out, translated. */
	n = mk_err_from(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE,
	    ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quote, 48);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	i = tl_sent_to(t, 0);
	T_ASSERT(i >= 0);
	T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_REMOTE);
	T_EQ_INT(ip_checksum(pkt_icmp(&v), v.ip_end - v.l4_off), 0);
	T_ASSERT(pkt_parse_icmp_quote(&in, v.frame + v.l4_off + 8,
	    v.ip_end - v.l4_off - 8) == PKT_OK);
	T_EQ_INT(((struct ipv4_hdr *)in.frame)->daddr_be, IP_US);
	T_EQ_INT(tl_drops(t, 1, NAT_R_ICMP_MISMATCH), 1);
	/* Addressed to the uplink gateway or natd itself: not the quoted
	 * sender either. */
	t->ntx = 0;
	n = mk_err_from(F, MAC_V1, MAC_C1, IP_C1, IP_GW,
	    ICMP_TIME_EXCEEDED, 0, quote, 48);
	tl_in(t, 1, F, n);
	TL_DROPPED(t, 1, NAT_R_ICMP_MISMATCH, 2);
	tl_free(t);
}

/* Hole 1 for a redirected DNS flow: the client talked to the virtual DNS
 * address, so that is where its errors go (and natd sends them on to the
 * real resolver); nowhere else, the real resolver's address included. */
static void
test_icmp_error_outer_dst_dns(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	uint8_t quote[64];
	size_t n;
	int i;

	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_VDNS1, 30000, 53, 30);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	t->ntx = 0;
	n = mk_udp(F, MAC_GW, MAC_UP, IP_DNS1, IP_US, 53, 30000, 90);
	tl_in(t, 0, F, n);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_VDNS1);
	memcpy(quote, v.frame + v.l3_off, 48);
	t->ntx = 0;
	n = mk_err_from(F, MAC_V1, MAC_C1, IP_C1, IP_DNS1,
	    ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quote, 48);
	tl_in(t, 1, F, n);
	n = mk_err_from(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE,
	    ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quote, 48);
	tl_in(t, 1, F, n);
	TL_DROPPED(t, 1, NAT_R_ICMP_MISMATCH, 2);
	n = mk_err_from(F, MAC_V1, MAC_C1, IP_C1, IP_VDNS1,
	    ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quote, 48);
	tl_in(t, 1, F, n);
	i = tl_sent_to(t, 0);
	T_ASSERT(i >= 0);
	T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_DNS1);
	T_EQ_INT(ip_checksum(pkt_icmp(&v), v.ip_end - v.l4_off), 0);
	tl_free(t);
}

/* Hole 1, uplink side: an error must quote a packet natd sent on a live
 * flow; its own TTL is checked like any forwarded packet's. */
static void
test_icmp_error_uplink_checks(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	uint8_t quote[64], sent[64];
	size_t n;
	int i;

	i = open_udp(t, 7000, IP_REMOTE, 33434);
	T_ASSERT(i >= 0);
	memcpy(sent, tl_frame(t, (unsigned)i) + 14, 48);
	memcpy(quote, sent, 48);
	/* Quoting a packet from some other address: not ours. */
	((struct ipv4_hdr *)quote)->saddr_be = A("10.137.0.99");
	((struct ipv4_hdr *)quote)->csum = 0;
	((struct ipv4_hdr *)quote)->csum = ip_checksum(quote, 20);
	t->ntx = 0;
	n = mk_icmp_err(F, A("198.51.100.1"), ICMP_TIME_EXCEEDED, 0, 0, quote, 48);
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_NO_FLOW, 1);
	/* The real one, but with TTL 1: not forwarded (it used to leave
	 * with TTL 0, and TTL 0 with 255). */
	memcpy(quote, sent, 48);
	n = mk_icmp_err(F, A("198.51.100.1"), ICMP_TIME_EXCEEDED, 0, 0, quote, 48);
	((struct ipv4_hdr *)(F + 14))->ttl = 1;
	fix_csums(F, n);
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_TTL, 1);
	/* A quoted non-first fragment names no ports, hence no flow. */
	n = mk_icmp_err(F, A("198.51.100.1"), ICMP_TIME_EXCEEDED, 0, 0, quote, 48);
	((struct ipv4_hdr *)(F + 42))->frag_be = htons(185);
	fix_csums(F, n);
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_NO_FLOW, 2);
	/* And the well-formed one is delivered. */
	n = mk_icmp_err(F, A("198.51.100.1"), ICMP_TIME_EXCEEDED, 0, 0, quote, 48);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, (unsigned)tl_last_sent(t), &v) == PKT_OK);
	T_EQ_INT(v.ttl, 59);
	tl_free(t);
}

/*
 * Hole 2: natd re-sums an ICMP error after translating its quote, so an
 * error with a bad checksum would leave with a good one. Both directions.
 * Echo is updated incrementally, which keeps a bad checksum bad.
 */
static void
test_icmp_error_bad_checksum(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	uint8_t quote[64];
	size_t n;
	int i;

	i = open_udp(t, 7000, IP_REMOTE, 33434);
	T_ASSERT(i >= 0);
	memcpy(quote, tl_frame(t, (unsigned)i) + 14, 48);
	t->ntx = 0;
	n = mk_icmp_err(F, IP_REMOTE, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0,
	    quote, 48);
	F[34 + 2] ^= 0x40;		/* ICMP checksum */
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_BAD_CHECKSUM, 1);
	/* A quoted byte changed after summing: same. */
	n = mk_icmp_err(F, IP_REMOTE, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0,
	    quote, 48);
	F[n - 1] ^= 0x01;
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_BAD_CHECKSUM, 2);
	/* From the client, about the reply it got. */
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 33434, 7000, 20);
	tl_in(t, 0, F, n);
	T_ASSERT(tl_parse(t, (unsigned)tl_last_sent(t), &v) == PKT_OK);
	memcpy(quote, v.frame + v.l3_off, 48);
	t->ntx = 0;
	n = mk_err_from(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE,
	    ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quote, 48);
	F[34 + 3] ^= 0x10;
	tl_in(t, 1, F, n);
	TL_DROPPED(t, 1, NAT_R_BAD_CHECKSUM, 1);
	/* Echo with a bad checksum: forwarded, still bad. */
	n = mk_echo(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, ICMP_ECHO, 77, 1, 32);
	F[34 + 2] ^= 0x04;
	tl_in(t, 1, F, n);
	T_ASSERT(t->nfr >= 2);
	tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
	i = tl_sent_to(t, 0);
	T_ASSERT(i >= 0);
	T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
	T_ASSERT(ip_checksum(pkt_icmp(&v), v.ip_end - v.l4_off) != 0);
	tl_free(t);
}

/* Hole 3: source-routed IPv4 is dropped both ways; other options pass. */
static void
test_source_route(void)
{
	static const uint8_t lsrr[8] = { 1, IPOPT_LSRR_, 7, 4, 198, 51, 100, 9 };
	static const uint8_t ssrr[8] = { IPOPT_SSRR_, 7, 4, 198, 51, 100, 9, 0 };
	static const uint8_t rr[8] = { 7, 7, 4, 0, 0, 0, 0, 0 };
	static const uint8_t bad[4] = { 0x44, 1, 0, 0 };	/* length 1 */
	struct tl *t = tl_new();
	struct pkt_view v;
	uint8_t quote[80];
	size_t n;
	int i;

	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 5000, 9999, 20);
	n = add_ip_opts(F, n, lsrr, sizeof(lsrr));
	tl_in(t, 1, F, n);
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 5001, 9999, 20);
	n = add_ip_opts(F, n, ssrr, sizeof(ssrr));
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 0);
	TL_DROPPED(t, 1, NAT_R_SRCROUTE, 2);
	/* A malformed option list hides what follows: refused. */
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 5002, 9999, 20);
	n = add_ip_opts(F, n, bad, sizeof(bad));
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 0);
	T_EQ_INT(tl_drops(t, 1, NAT_R_MALFORMED), 1);
	/* Record route passes, as Linux passes it. */
	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, 5003, 9999, 20);
	n = add_ip_opts(F, n, rr, sizeof(rr));
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	i = tl_sent_to(t, 0);
	T_ASSERT(i >= 0);
	T_ASSERT(tl_parse(t, (unsigned)i, &v) == PKT_OK);
	T_EQ_INT(v.l3_hlen, 28);
	T_ASSERT(csums_ok(&v));
	/* A source-routed reply on that open flow: dropped too. */
	memcpy(quote, v.frame + v.l3_off, 56);
	t->ntx = 0;
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 9999, 5003, 20);
	n = add_ip_opts(F, n, ssrr, sizeof(ssrr));
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_SRCROUTE, 1);
	/* An error quoting a source-routed packet is about nothing natd
	 * sent. */
	memcpy(quote + 20, lsrr, 8);
	quote[0] = 0x47;
	((struct ipv4_hdr *)quote)->csum = 0;
	((struct ipv4_hdr *)quote)->csum = ip_checksum(quote, 28);
	n = mk_icmp_err(F, A("198.51.100.1"), ICMP_TIME_EXCEEDED, 0, 0, quote, 56);
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_SRCROUTE, 2);
	/* The plain reply still arrives. */
	n = mk_udp(F, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 9999, 5003, 20);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	tl_free(t);
}

/* A UDP datagram of len bytes from src:sport to dst:dport, ready for
 * mk_frag. */
static void
mk_dgram(uint8_t *dg, size_t len, uint32_t src, uint32_t dst, uint16_t sport,
    uint16_t dport)
{
	struct udp_hdr *uh = (struct udp_hdr *)dg;
	size_t i;

	for (i = 8; i < len; i++)
		dg[i] = (uint8_t)i;
	uh->sport_be = htons(sport);
	uh->dport_be = htons(dport);
	uh->len_be = htons((uint16_t)len);
	uh->csum = 0;
	uh->csum = csum_fold(csum_add(csum_pseudo4(src, dst, IPPROTO_UDP_,
	    (uint32_t)len), dg, len));
}

/*
 * Hole 4: one client's burst of first fragments on its own allowed flow
 * must not evict another client's fragment mappings (nor the uplink's),
 * and its tails without heads must not fill another client's hold.
 */
static void
test_fragment_shares(void)
{
	struct tl *t = tl_new();
	static uint8_t dg[2960], g[4000];
	size_t n;
	int k;

	/* Both clients have an accepted flow. */
	T_ASSERT(open_udp(t, 7777, IP_REMOTE, 8888) >= 0);
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 6666, 8888, 20);
	tl_in(t, 2, F, n);
	tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
	/* Client 2 sends the head of a datagram; an answer to its flow
	 * starts arriving from the uplink too. */
	mk_dgram(dg, sizeof(dg), IP_C2, IP_REMOTE, 6666, 8888);
	n = mk_frag(g, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 0x2222, dg, 0, 1480, 1);
	tl_in(t, 2, g, n);
	mk_dgram(dg, sizeof(dg), IP_REMOTE, IP_US, 8888, 6666);
	n = mk_frag(g, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 0x3333, dg, 0, 1480, 1);
	tl_in(t, 0, g, n);
	/* Client 1 floods first fragments of its own flow. */
	mk_dgram(dg, sizeof(dg), IP_C1, IP_REMOTE, 7777, 8888);
	for (k = 0; k < 600; k++) {
		t->ntx = 0;
		n = mk_frag(g, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, (uint16_t)(0x8000 + k),
		    dg, 0, 1480, 1);
		tl_in(t, 1, g, n);
		T_EQ_INT(tl_nsent(t), 1);
	}
	/* ... and tails whose heads never come. */
	for (k = 0; k < 40; k++) {
		n = mk_frag(g, MAC_V1, MAC_C1, IP_C1, IP_REMOTE, (uint16_t)(0x100 + k),
		    dg, 1480, 1480, 1);
		tl_in(t, 1, g, n);
	}
	/* Client 2's tail still finds its head's mapping. */
	t->ntx = 0;
	mk_dgram(dg, sizeof(dg), IP_C2, IP_REMOTE, 6666, 8888);
	n = mk_frag(g, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 0x2222, dg, 1480, 1480, 0);
	tl_in(t, 2, g, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->tx[tl_last_sent(t)].port, 0);
	/* So does the uplink's. */
	t->ntx = 0;
	mk_dgram(dg, sizeof(dg), IP_REMOTE, IP_US, 8888, 6666);
	n = mk_frag(g, MAC_GW, MAC_UP, IP_REMOTE, IP_US, 0x3333, dg, 1480, 1480, 0);
	tl_in(t, 0, g, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->tx[tl_last_sent(t)].port, 2);
	/* Client 2's fragments out of order: the tail waits in client 2's
	 * own share, which client 1's orphans did not touch. */
	t->ntx = 0;
	mk_dgram(dg, sizeof(dg), IP_C2, IP_REMOTE, 6666, 8888);
	n = mk_frag(g, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 0x2223, dg, 1480, 1480, 0);
	tl_in(t, 2, g, n);
	TL_DROPPED(t, 2, NAT_R_FRAG, 0);
	n = mk_frag(g, MAC_V2, MAC_C2, IP_C2, IP_REMOTE, 0x2223, dg, 0, 1480, 1);
	tl_in(t, 2, g, n);
	T_EQ_INT(tl_nsent(t), 2);
	/* Client 1 paid for its flood alone. */
	T_ASSERT(tl_drops(t, 1, NAT_R_FRAG) > 0);
	T_EQ_INT(tl_drops(t, 2, NAT_R_FRAG), 0);
	T_EQ_INT(tl_drops(t, 0, NAT_R_FRAG), 0);
	tl_free(t);
}

/* Hole 4, second part: the reply fragments of an allowed client-to-client
 * flow reach the client that opened it, in order or not. */
static void
test_fragment_c2c_reply(void)
{
	struct tl *t = tl_new();
	static uint8_t dg[2960], g[4000];
	struct pkt_view v;
	size_t n;
	unsigned i;

	n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_C2, 4000, 5000, 20);
	tl_in(t, 1, F, n);
	T_EQ_INT(t->nfr, 1);
	tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
	T_EQ_INT(t->tx[tl_last_sent(t)].port, 2);
	/* Client 2 answers with a fragmented datagram. */
	mk_dgram(dg, sizeof(dg), IP_C2, IP_C1, 5000, 4000);
	t->ntx = 0;
	n = mk_frag(g, MAC_V2, MAC_C2, IP_C2, IP_C1, 0x4444, dg, 0, 1480, 1);
	tl_in(t, 2, g, n);
	n = mk_frag(g, MAC_V2, MAC_C2, IP_C2, IP_C1, 0x4444, dg, 1480, 1480, 0);
	tl_in(t, 2, g, n);
	T_EQ_INT(tl_nsent(t), 2);
	for (i = 0; i < t->ntx; i++) {
		if (t->tx[i].port == MQ_PORT_DROP)
			continue;
		T_EQ_INT(t->tx[i].port, 1);
		T_ASSERT(tl_parse(t, i, &v) == PKT_OK);
		T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
		T_ASSERT(pkt_ip4_csum_ok(&v));
	}
	/* Tail first. */
	t->ntx = 0;
	n = mk_frag(g, MAC_V2, MAC_C2, IP_C2, IP_C1, 0x4445, dg, 1480, 1480, 0);
	tl_in(t, 2, g, n);
	T_EQ_INT(tl_nsent(t), 0);
	n = mk_frag(g, MAC_V2, MAC_C2, IP_C2, IP_C1, 0x4445, dg, 0, 1480, 1);
	tl_in(t, 2, g, n);
	T_EQ_INT(tl_nsent(t), 2);
	T_EQ_INT(tl_drops(t, 2, NAT_R_FRAG), 0);
	/* Client 1 cannot borrow client 2's mapping: its own tail with
	 * client 2's id and addresses is spoofed anyway, but a tail to
	 * client 2 with that id finds nothing in client 1's table. */
	t->ntx = 0;
	n = mk_frag(g, MAC_V1, MAC_C1, IP_C1, IP_C2, 0x4445, dg, 1480, 1480, 0);
	tl_in(t, 1, g, n);
	T_EQ_INT(tl_nsent(t), 0);
	tl_free(t);
}

/* The xorshift64* stream natd seeds from cfg.seed (nat_rand), copied. */
static uint64_t
ref_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/*
 * Hole 11: the flow table's hash key is its own random value, not an
 * output of the stream whose other outputs (ports, DNS ids) clients see.
 */
static void
test_hash_secret(void)
{
	struct nat_config c;
	struct tl *t;
	uint64_t s, key;
	int k;

	nh_config(&c, 1024, 256, 16, 12345);
	c.secret = 0x0123456789abcdefull;
	t = tl_new_cfg(&c, 512, 4096, NULL, 0, 0, 1);
	key = t->e->ft.secret;
	T_EQ_INT(key, c.secret);
	s = c.seed | 1;
	for (k = 0; k < 16; k++)
		T_ASSERT(key != ref_rand(&s));
	tl_free(t);
	/* Same seed, another secret: another key. */
	c.secret = 0xfedcba9876543210ull;
	t = tl_new_cfg(&c, 512, 4096, NULL, 0, 0, 1);
	T_ASSERT(t->e->ft.secret != key);
	tl_free(t);
}

int
main(void)
{
	T_RUN(test_arp_client);
	T_RUN(test_arp_uplink);
	T_RUN(test_spoof_and_ipv6);
	T_RUN(test_udp_snat_and_reply);
	T_RUN(test_port_conflict);
	T_RUN(test_icmp_echo_nat_and_gateway_ping);
	T_RUN(test_icmp_error_translation);
	T_RUN(test_ttl_expiry);
	T_RUN(test_tcp_states_and_timeouts);
	T_RUN(test_udp_stream_timeout);
	T_RUN(test_fragments);
	T_RUN(test_dns_redirect);
	T_RUN(test_client_to_client);
	T_RUN(test_verdict_drop_reject);
	T_RUN(test_pending_limits);
	T_RUN(test_quota_and_eviction);
	T_RUN(test_table_full);
	T_RUN(test_recheck);
	T_RUN(test_recheck_ring_full);
	T_RUN(test_recheck_verdict_kept);
	T_RUN(test_gso_partial);
	T_RUN(test_pcap_ring_and_stats);
	T_RUN(test_buffer_reserve);
	T_RUN(test_restart_keeps_flows);
	T_RUN(test_icmp_error_outer_dst);
	T_RUN(test_icmp_error_outer_dst_dns);
	T_RUN(test_icmp_error_uplink_checks);
	T_RUN(test_icmp_error_bad_checksum);
	T_RUN(test_source_route);
	T_RUN(test_fragment_shares);
	T_RUN(test_fragment_c2c_reply);
	T_RUN(test_hash_secret);
	return t_done();
}
