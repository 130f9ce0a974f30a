/*
 * test_natd_forward.c: natd's inbound port forwards (nat_forward.c), seen
 * from the wire: what the remote host and the client get, what is cut
 * when the forward goes, what a restarted natd keeps, and that a client
 * cannot use a forwarded flow to reach anything else.
 */
#include <jansson.h>
#include <stdio.h>

#include "t.h"
#include "natd_testlib.h"

static uint8_t F[4096];

#define IP_R	A("198.51.100.20")	/* the remote host */
#define IP_R2	A("203.0.113.5")

static void
set_forwards(struct tl *t, const struct msg_forward *f, uint32_t n)
{
	static struct msg_forwards m;

	memset(&m, 0, sizeof m);
	m.count = n;
	if (n > 0)	/* f may be NULL for "no forwards": memcpy's arguments must not */
		memcpy(m.f, f, n * sizeof *f);
	nat_forwards(t->e, &m, t->now);
}

/* tcp 8080 -> client 1 port 80; udp 8100-8109 from 203.0.113.0/24 -> client 2 7000.. */
static const struct msg_forward *
fwds(void)
{
	static struct msg_forward f[2];

	memset(f, 0, sizeof f);
	f[0].proto = IPPROTO_TCP_;
	f[0].lo = f[0].hi = 8080;
	f[0].toport = 80;
	f[0].to4 = IP_C1;
	f[1].proto = IPPROTO_UDP_;
	f[1].family = 4;
	f[1].lo = 8100;
	f[1].hi = 8109;
	f[1].toport = 7000;
	f[1].to4 = IP_C2;
	f[1].from4 = A("203.0.113.0");
	f[1].from4_plen = 24;
	f[1].rule = 1;
	return f;
}

static void
test_fwd_tcp(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	uint32_t idx;
	size_t n;

	/* Without a forward, a SYN to moat's address is dropped. */
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_SYN, 100, 0, 0);
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_NO_FLOW, 1);

	set_forwards(t, fwds(), 2);
	t->ntx = 0;
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 1);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_R);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C1);
	T_EQ_INT(v.sport, 5555);
	T_EQ_INT(v.dport, 80);
	T_EQ_INT(v.ttl, 63);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_V1, 6);
	T_ASSERT(csums_ok(&v));
	T_EQ_INT(t->nfr, 0);		/* policyd is not asked */
	idx = ft_find_in(&t->e->ft, IP_R, IP_US, IPPROTO_TCP_, 5555, 8080);
	T_ASSERT(idx != FT_NIL);
	T_EQ_INT(t->e->ft.ent[idx].kind, FT_K_FWD);
	T_EQ_INT(t->e->ft.ent[idx].tcp, FT_TCP_SYN_SENT);

	/* The client's SYN+ACK leaves from moat's address and port 8080. */
	t->ntx = 0;
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_R, 80, 5555, TCP_SYN | TCP_ACK, 900, 101, 0);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 0);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_R);
	T_EQ_INT(v.sport, 8080);
	T_EQ_INT(v.dport, 5555);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_GW, 6);
	T_ASSERT(csums_ok(&v));
	T_EQ_INT(t->e->ft.ent[idx].tcp, FT_TCP_SYN_RECV);
	/* The remote's ACK establishes it, as conntrack has it. */
	t->ntx = 0;
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_ACK, 101, 901, 10);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->e->ft.ent[idx].tcp, FT_TCP_ESTABLISHED);
	/* Established: it lasts the established timeout, not the SYN one. */
	t->now += (uint64_t)(t->e->cfg.to_tcp_syn + 5) * 1000;
	nat_tick(t->e, t->now);
	T_ASSERT(ft_find_in(&t->e->ft, IP_R, IP_US, IPPROTO_TCP_, 5555, 8080) == idx);

	/* Not a SYN and no flow: dropped, nothing reaches the client. */
	t->ntx = 0;
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5556, 8080, TCP_ACK, 1, 1, 0);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 0);
	/* Another port of moat's address: dropped. */
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5556, 8081, TCP_SYN, 1, 0, 0);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 0);
	/* From a multicast or loopback source: dropped. */
	n = mk_tcp(F, MAC_GW, MAC_UP, A("224.0.0.9"), IP_US, 5556, 8080, TCP_SYN, 1, 0, 0);
	tl_in(t, 0, F, n);
	n = mk_tcp(F, MAC_GW, MAC_UP, A("127.0.0.1"), IP_US, 5556, 8080, TCP_SYN, 1, 0, 0);
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_MARTIAN, 2);
	/* UDP to the TCP forward's port: dropped. */
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5556, 8080, 10);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 0);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

/* The client's packets match the forwarded flow only as its exact reverse:
 * from its forwarded port to the remote's port. Anything else is a new
 * flow of the client, which policyd decides. */
static void
test_fwd_client_only_reverse(void)
{
	struct tl *t = tl_new();
	size_t n;

	set_forwards(t, fwds(), 2);
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_SYN, 100, 0, 0);
	tl_in(t, 0, F, n);
	t->ntx = 0;
	/* to another host, from the forwarded port */
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_R2, 80, 5555, TCP_SYN | TCP_ACK, 900, 101, 0);
	tl_in(t, 1, F, n);
	/* to the remote, another port */
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_R, 80, 5556, TCP_SYN | TCP_ACK, 900, 101, 0);
	tl_in(t, 1, F, n);
	/* to the remote, from another port */
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_R, 81, 5555, TCP_SYN | TCP_ACK, 900, 101, 0);
	tl_in(t, 1, F, n);
	T_EQ_INT(tl_nsent(t), 0);
	T_EQ_INT(t->nfr, 3);		/* each asked policyd as a new flow */
	/* the other client, spoofing client 1's reply: dropped */
	n = mk_tcp(F, MAC_V2, MAC_C2, IP_C1, IP_R, 80, 5555, TCP_SYN | TCP_ACK, 900, 101, 0);
	tl_in(t, 2, F, n);
	TL_DROPPED(t, 2, NAT_R_SPOOFED, 1);
	tl_free(t);
}

static void
test_fwd_udp_from4_and_range(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;

	set_forwards(t, fwds(), 2);
	/* a source outside from4: dropped */
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R, IP_US, 4000, 8103, 20);
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_NO_FLOW, 1);
	/* inside: port 8103 of the range goes to 7003 */
	t->ntx = 0;
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R2, IP_US, 4000, 8103, 20);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 2);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_C2);
	T_EQ_INT(v.dport, 7003);
	T_ASSERT(csums_ok(&v));
	/* the answer goes back from 8103 */
	t->ntx = 0;
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_R2, 7003, 4000, 30);
	tl_in(t, 2, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 0);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_EQ_INT(v.sport, 8103);
	T_EQ_INT(v.dport, 4000);
	T_ASSERT(csums_ok(&v));
	/* The client being down: dropped, not queued anywhere. */
	t->ntx = 0;
	tl_link(t, 2, 0, IP_C2, MAC_C2, MAC_V2);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R2, IP_US, 4001, 8100, 20);
	tl_in(t, 0, F, n);
	TL_DROPPED(t, 0, NAT_R_LINK_DOWN, 1);
	tl_free(t);
}

/* A forward's removal cuts its connections: RSTs both ways, and the next
 * packet finds nothing. */
static void
test_fwd_removed_cuts(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;
	unsigned i, rst_up = 0, rst_c1 = 0;

	set_forwards(t, fwds(), 2);
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_SYN, 100, 0, 0);
	tl_in(t, 0, F, n);
	n = mk_tcp(F, MAC_V1, MAC_C1, IP_C1, IP_R, 80, 5555, TCP_SYN | TCP_ACK, 900, 101, 0);
	tl_in(t, 1, F, n);
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_ACK, 101, 901, 0);
	tl_in(t, 0, F, n);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R2, IP_US, 4000, 8100, 20);
	tl_in(t, 0, F, n);
	T_EQ_INT(t->e->ft.nused, 2);
	/* A rule change elsewhere re-checks outbound flows only: the
	 * forwarded ones are not policyd's to decide. */
	t->nfr = 0;
	nat_rules_changed(t->e, 7, t->now);
	T_EQ_INT(t->nfr, 0);
	T_EQ_INT(t->e->ft.nused, 2);
	/* The same table again: nothing cut. */
	set_forwards(t, fwds(), 2);
	T_EQ_INT(t->e->ft.nused, 2);
	/* The TCP forward now goes to another port: its flow is cut. */
	{
		struct msg_forward f[2];

		memcpy(f, fwds(), sizeof f);
		f[0].toport = 81;
		t->ntx = 0;
		set_forwards(t, f, 2);
	}
	T_EQ_INT(t->e->ft.nused, 1);
	for (i = 0; i < t->ntx; i++) {
		if (tl_parse(t, i, &v) != PKT_OK || v.proto != IPPROTO_TCP_ ||
		    !(v.tcp_flags & TCP_RST))
			continue;
		if (t->tx[i].port == 0 && pkt_ip4(&v)->saddr_be == IP_US &&
		    v.sport == 8080 && pkt_ip4(&v)->daddr_be == IP_R &&
		    v.dport == 5555)
			rst_up++;
		if (t->tx[i].port == 1 && pkt_ip4(&v)->saddr_be == IP_R &&
		    v.sport == 5555 && pkt_ip4(&v)->daddr_be == IP_C1 &&
		    v.dport == 80)
			rst_c1++;
	}
	T_EQ_INT(rst_up, 1);
	T_EQ_INT(rst_c1, 1);
	/* No forwards: the UDP one goes too, and later packets are dropped. */
	set_forwards(t, NULL, 0);
	T_EQ_INT(t->e->ft.nused, 0);
	t->ntx = 0;
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R2, IP_US, 4000, 8100, 20);
	tl_in(t, 0, F, n);
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_ACK, 101, 901, 0);
	tl_in(t, 0, F, n);
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_R2, 7000, 4000, 30);
	tl_in(t, 2, F, n);
	T_EQ_INT(tl_nsent(t), 0);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

/* natd's own NAT never takes a port kept for forwards, even when the
 * client's source port is one. */
static void
test_fwd_nat_avoids_range(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	size_t n;
	int i;

	/* many flows, so the random scan starts everywhere, also just under
	 * the forwards' range */
	for (i = 0; i < 200; i++) {
		uint16_t sport = (uint16_t)(FWD_PORT_MIN + i * 5);

		t->ntx = 0;
		t->nfr = 0;
		n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_R, sport, (uint16_t)(1000 + i), 20);
		tl_in(t, 1, F, n);
		T_ASSERT(t->nfr == 1);
		tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
		T_ASSERT(tl_parse(t, (unsigned)tl_last_sent(t), &v) == PKT_OK);
		T_ASSERT(v.sport < FWD_PORT_MIN || v.sport > FWD_PORT_MAX);
		T_ASSERT(v.sport >= 1024);
	}
	tl_free(t);
}

/* ICMP errors about a forwarded flow are translated both ways. */
static void
test_fwd_icmp_errors(void)
{
	struct tl *t = tl_new();
	struct pkt_view v, in;
	uint8_t err[200];
	struct ipv4_hdr *iip;
	size_t n, qlen;
	struct icmp_hdr *ih;

	set_forwards(t, fwds(), 2);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R2, IP_US, 4000, 8100, 20);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	/* Client 2 has nothing on 7000: port unreachable, quoting what it got. */
	qlen = 20 + 8 + 20;
	memcpy(err + 42, tl_frame(t, 0) + 14, qlen);
	n = mk_ip(err, MAC_V2, MAC_C2, IP_C2, IP_R2, IPPROTO_ICMP_, 64, 1, 0, 8 + qlen);
	ih = (struct icmp_hdr *)(err + 34);
	memset(ih, 0, 8);
	ih->type = ICMP_DEST_UNREACH;
	ih->code = ICMP_PORT_UNREACH;
	fix_csums(err, n);
	t->ntx = 0;
	tl_in(t, 2, err, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, 0, &v) == PKT_OK);
	T_EQ_INT(t->tx[0].port, 0);
	T_EQ_INT(pkt_ip4(&v)->saddr_be, IP_US);
	T_EQ_INT(pkt_ip4(&v)->daddr_be, IP_R2);
	T_ASSERT(csums_ok(&v));
	/* the quote is what the remote sent: to moat's address and port */
	T_ASSERT(pkt_parse_icmp_quote(&in, v.frame + v.l4_off + 8,
	    v.ip_end - v.l4_off - 8) == PKT_OK);
	iip = (struct ipv4_hdr *)in.frame;
	T_EQ_INT(iip->daddr_be, IP_US);
	T_EQ_INT(in.dport, 8100);
	T_EQ_INT(iip->saddr_be, IP_R2);
	T_EQ_INT(in.sport, 4000);
	tl_free(t);
}

/* A restarted natd keeps a forwarded flow the table still opens. */
static void
test_fwd_restart(void)
{
	size_t len;
	uint8_t *mem;
	struct tl *t = tl_new_restartable(&mem, &len);
	size_t n;
	int round;

	set_forwards(t, fwds(), 2);
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_SYN, 100, 0, 0);
	tl_in(t, 0, F, n);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R2, IP_US, 4000, 8100, 20);
	tl_in(t, 0, F, n);
	T_EQ_INT(t->e->ft.nused, 2);
	for (round = 0; round < 2; round++) {
		T_ASSERT(tl_restart(t, mem, len) == 0);
		/* the supervisor replays the table before MSG_START; the
		 * second time it has only the UDP forward left */
		set_forwards(t, round == 0 ? fwds() : fwds() + 1,
		    round == 0 ? 2 : 1);
		T_ASSERT(nat_start(t->e, 1, t->now) == 0);
		tl_gift(t);
		T_EQ_INT(t->e->restored, round == 0 ? 2 : 1);
		T_EQ_INT(t->e->discarded, round == 0 ? 0 : 1);
		T_EQ_INT(ft_check(&t->e->ft), 0);
		T_EQ_INT(t->e->ft.client[2].nfwd, 1);
	}
	nh_learn_gw(t->e, t->next_buf++, t->now);
	t->ntx = 0;
	n = mk_udp(F, MAC_V2, MAC_C2, IP_C2, IP_R2, 7000, 4000, 30);
	tl_in(t, 2, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->nfr, 0);
	tl_free(t);
	free(mem);
}

/* The remote side holds at most half of the client's quota, and never
 * displaces the client's own flows. */
static void
test_fwd_quota(void)
{
	struct nat_config c;
	struct tl *t;
	size_t n;
	uint16_t p;
	uint32_t own;

	nh_config(&c, 1024, 16, 16, 12345);
	c.secret = 1;
	t = tl_new_cfg(&c, 512, 4096, NULL, 0, 0, 1);
	set_forwards(t, fwds(), 2);
	/* client 1 has 4 established connections of its own */
	for (p = 0; p < 4; p++) {
		n = mk_udp(F, MAC_V1, MAC_C1, IP_C1, IP_R, (uint16_t)(40000 + p), 53, 10);
		tl_in(t, 1, F, n);
		tl_verdict(t, t->fr[t->nfr - 1].seq, VERDICT_ACCEPT);
		n = mk_udp(F, MAC_GW, MAC_UP, IP_R, IP_US, 53, (uint16_t)(40000 + p), 10);
		tl_in(t, 0, F, n);
	}
	own = t->e->ft.client[1].nflows;
	T_EQ_INT(own, 4);
	/* a flood of SYNs from the remote */
	for (p = 0; p < 40; p++) {
		n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, (uint16_t)(10000 + p), 8080, TCP_SYN, 1, 0, 0);
		tl_in(t, 0, F, n);
	}
	T_ASSERT(t->e->ft.client[1].nfwd <= 8);
	T_EQ_INT(t->e->ft.client[1].nflows - t->e->ft.client[1].nfwd, own);
	/* the client's own flows still answer */
	t->ntx = 0;
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R, IP_US, 53, 40000, 10);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

/* A client natd has no MAC for yet (devnet, after a restart): the first
 * forwarded frame can only go out broadcast, so natd asks the client for
 * its MAC, believes the answer from the client's own address only, and
 * the next frame goes to it. */
static void
test_fwd_client_mac_unknown(void)
{
	struct tl *t = tl_new();
	struct pkt_view v;
	unsigned i, narp = 0;
	size_t n;
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x99 };

	set_forwards(t, fwds(), 2);
	tl_link(t, 1, 1, IP_C1, MAC_C1, NULL);
	t->e->link[1].peer_mac_known = 0;
	t->ntx = 0;
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_SYN, 100, 0, 0);
	tl_in(t, 0, F, n);
	for (i = 0; i < t->ntx; i++) {
		if (tl_parse(t, i, &v) != PKT_OK || t->tx[i].port != 1)
			continue;
		if (v.l3 == PKT_L3_ARP) {
			T_EQ_INT(ntohs(pkt_arp(&v)->op_be), ARPOP_REQUEST_);
			T_EQ_INT(pkt_arp(&v)->tpa_be, IP_C1);
			T_EQ_INT(pkt_arp(&v)->spa_be, IP_VGW);
			narp++;
		}
	}
	T_EQ_INT(narp, 1);
	/* the SYN again (a retransmission) a moment later: no second question */
	t->ntx = 0;
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	/* an answer for another address, or unasked-for, is not believed */
	n = pkt_build_arp(F, sizeof(F), ARPOP_REPLY_, other, IP_C2, MAC_C1, MAC_C1, IP_VGW);
	tl_in(t, 1, F, n);
	T_ASSERT(!t->e->link[1].peer_mac_known);
	n = pkt_build_arp(F, sizeof(F), ARPOP_REPLY_, other, IP_C1, MAC_C2, MAC_C2, IP_VGW);
	tl_in(t, 2, F, n);
	T_ASSERT(!t->e->link[2].peer_mac_known || memcmp(t->e->link[2].peer_mac, other, 6) != 0);
	/* the client's answer is */
	n = pkt_build_arp(F, sizeof(F), ARPOP_REPLY_, MAC_V1, IP_C1, MAC_C1, MAC_C1, IP_VGW);
	tl_in(t, 1, F, n);
	T_ASSERT(t->e->link[1].peer_mac_known);
	T_EQ_MEM(t->e->link[1].peer_mac, MAC_V1, 6);
	t->ntx = 0;
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 5555, 8080, TCP_SYN, 100, 0, 0);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_ASSERT(tl_parse(t, (unsigned)tl_last_sent(t), &v) == PKT_OK);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_V1, 6);
	tl_free(t);
}

/* A fragment of a datagram forwarded to client 2 that comes after the
 * forward moved to client 1 does not reach client 1, even when client 1's
 * new forwarded flow from the same host took the old flow's entry (the
 * fuzzer found it: the fragment's mapping only knew the entry). */
static void
test_fwd_fragment_after_move(void)
{
	struct tl *t = tl_new();
	struct msg_forward f[2];
	struct ipv4_hdr *ip;
	uint8_t g[200];
	size_t n;
	uint32_t idx;

	memcpy(f, fwds(), sizeof f);
	f[1].from4 = 0;
	f[1].from4_plen = 0;
	set_forwards(t, f, 2);
	/* the first fragment of a datagram from R to 8100: to client 2 */
	n = mk_udp(g, MAC_GW, MAC_UP, IP_R, IP_US, 4000, 8100, 64);
	ip = (struct ipv4_hdr *)(g + 14);
	ip->id_be = htons(0x5151);
	ip->frag_be = htons(IPV4_MF);
	fix_csums(g, n);
	tl_in(t, 0, g, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->tx[tl_last_sent(t)].port, 2);
	idx = ft_find_in(&t->e->ft, IP_R, IP_US, IPPROTO_UDP_, 4000, 8100);
	T_ASSERT(idx != FT_NIL);
	/* the forward moves to client 1: the flow is cut, and a new one from
	 * R takes its entry */
	f[1].to4 = IP_C1;
	set_forwards(t, f, 2);
	n = mk_udp(F, MAC_GW, MAC_UP, IP_R, IP_US, 4001, 8100, 20);
	t->ntx = 0;
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->tx[tl_last_sent(t)].port, 1);
	T_EQ_INT(ft_find_in(&t->e->ft, IP_R, IP_US, IPPROTO_UDP_, 4001, 8100), idx);
	/* the old datagram's next fragment */
	n = mk_ip(g, MAC_GW, MAC_UP, IP_R, IP_US, IPPROTO_UDP_, 64, 0x5151,
	    (uint16_t)(80 / 8), 40);
	memset(g + 34, 0x77, 40);
	fix_csums(g, n);
	t->ntx = 0;
	tl_in(t, 0, g, n);
	T_EQ_INT(tl_nsent(t), 0);
	tl_free(t);
}

/* What a restarted natd finds of forwarded flows: a sane one is kept (and
 * counted as forwarded), impossible ones are discarded by ft_rebuild. */
static void
test_fwd_rebuild_checks(void)
{
	size_t len = natd_flowtab_bytes(64);
	uint8_t *mem = calloc(1, len);
	struct flowtab t;
	uint32_t i, kept, dropped = 0;
	int v;

	T_ASSERT(mem != NULL);
	T_ASSERT(ft_attach(&t, mem, len, 64, 1, 42) == 0);
	for (v = 0; v < 6; v++) {
		struct ft_entry *f;

		i = ft_alloc(&t);
		f = ft_ent(&t, i);
		f->state = FT_ACTIVE;
		f->kind = FT_K_FWD;
		f->proto = IPPROTO_UDP_;
		f->cport = 1;
		f->csrc = IP_C1;
		f->csport = 80;
		f->odst = f->rdst = IP_R;
		f->dport = (uint16_t)(5000 + v);
		f->nsrc = IP_US;
		f->nsport = 8080;
		switch (v) {
		case 1: f->state = FT_PENDING; break;	/* never asked policyd */
		case 2: f->state = FT_BLOCKED; break;
		case 3: f->proto = IPPROTO_ICMP_; f->dport = 0; break;
		case 4: f->nsport = 0; break;
		case 5: f->rdst = IP_R2; f->flags = FT_F_REDIRECT; break;
		}
		ft_link(&t, i);
	}
	kept = ft_rebuild(&t, NULL, NULL, &dropped);
	T_EQ_INT(kept, 1);
	T_EQ_INT(dropped, 5);
	T_EQ_INT(t.client[1].nfwd, 1);
	T_EQ_INT(ft_check(&t), 0);
	T_ASSERT(ft_find_in(&t, IP_R, IP_US, IPPROTO_UDP_, 5000, 8080) != FT_NIL);
	free(mem);
}

/*
 * A forward open to any source still never opens from moat's own client-
 * side addresses (the gateway and the virtual DNS servers the clients
 * see): nothing beyond the NetVM has them, and the client would take the
 * packet for its gateway's, or for an answer of its DNS server.
 */
static void
test_fwd_not_from_moat_addrs(void)
{
	struct tl *t = tl_new();
	const uint32_t ours[] = { IP_VGW, IP_VDNS1, IP_VDNS2 };
	size_t n, i;

	set_forwards(t, fwds(), 2);
	for (i = 0; i < 3; i++) {
		n = mk_tcp(F, MAC_GW, MAC_UP, ours[i], IP_US, 53, 8080,
		    TCP_SYN, 1, 0, 0);
		tl_in(t, 0, F, n);
	}
	TL_DROPPED(t, 0, NAT_R_MARTIAN, 3);
	/* Nor from the addresses net.fake-ip shows the forward's client:
	 * its visible gateway (and address), which it takes for moat's. */
	{
		static struct msg_clients mc;

		mc.count = 1;
		mc.c[0].ip = IP_C1;
		mc.c[0].visible_ip = A("10.137.0.55");
		mc.c[0].visible_gw = A("10.137.0.254");
		nat_fakeip_set(t->e, &mc);
		n = mk_tcp(F, MAC_GW, MAC_UP, A("10.137.0.254"), IP_US, 53,
		    8080, TCP_SYN, 1, 0, 0);
		tl_in(t, 0, F, n);
		n = mk_tcp(F, MAC_GW, MAC_UP, A("10.137.0.55"), IP_US, 53,
		    8080, TCP_SYN, 1, 0, 0);
		tl_in(t, 0, F, n);
		TL_DROPPED(t, 0, NAT_R_MARTIAN, 5);
	}
	/* The same from a host out there is forwarded. */
	n = mk_tcp(F, MAC_GW, MAC_UP, IP_R, IP_US, 53, 8080, TCP_SYN, 1, 0, 0);
	tl_in(t, 0, F, n);
	T_EQ_INT(tl_nsent(t), 1);
	tl_free(t);
}

/* ---- IPv6 forwards, on /qubes-ip6 (client 1 has IPv6, client 2 not) ---- */

static const uint8_t R6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x80 };
static const uint8_t R6B[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 5 };

/* tcp 8080 -> client 1 port 80 (both families); udp 8100-8109 -> client 1
 * 7000.. from 2001:db8:1::/48 (IPv6 only); tcp 8200 -> client 2 (IPv4 has
 * no IPv6); tcp 8300 -> client 1, IPv4 only. */
static const struct msg_forwards *
fwds6(void)
{
	static struct msg_forwards m;
	struct msg_forward *f = m.f;

	memset(&m, 0, sizeof m);
	m.count = 4;
	f[0].proto = IPPROTO_TCP_;
	f[0].lo = f[0].hi = 8080;
	f[0].toport = 80;
	f[0].to4 = IP_C1;
	f[1].proto = IPPROTO_UDP_;
	f[1].family = 6;
	f[1].lo = 8100;
	f[1].hi = 8109;
	f[1].toport = 7000;
	f[1].to4 = IP_C1;
	memcpy(f[1].from6, R6B, 6);
	f[1].from6_plen = 48;
	f[1].rule = 1;
	f[2].proto = IPPROTO_TCP_;
	f[2].lo = f[2].hi = 8200;
	f[2].toport = 22;
	f[2].to4 = IP_C2;
	f[2].rule = 2;
	f[3].proto = IPPROTO_TCP_;
	f[3].family = 4;
	f[3].lo = f[3].hi = 8300;
	f[3].toport = 80;
	f[3].to4 = IP_C1;
	f[3].rule = 3;
	return &m;
}

static struct tl *
tl6_fwd(void)
{
	struct tl *t = tl6();

	nat_forwards(t->e, fwds6(), t->now);
	return t;
}

/* A TCP connection through an IPv6 forward, both ways, with its states. */
static void
test_fwd6_tcp(void)
{
	struct tl *t = tl6();
	struct pkt_view v;
	uint8_t f[256];
	uint32_t idx;
	size_t n;

	/* Without a forward, a SYN to moat's IPv6 address is dropped. */
	n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_TCP_, 64, 5555, 8080,
	    TCP_SYN, 0);
	tl_in(t, 0, f, n);
	TL_DROPPED(t, 0, NAT_R_NO_FLOW, 1);

	nat_forwards(t->e, fwds6(), t->now);
	tl_in(t, 0, f, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(last6(t, 1, &v), 0);
	T_EQ_MEM(pkt_ip6(&v)->saddr, R6, 16);
	T_EQ_MEM(pkt_ip6(&v)->daddr, nh_ip6_c1, 16);
	T_EQ_INT(v.sport, 5555);
	T_EQ_INT(v.dport, 80);
	T_EQ_INT(pkt_ip6(&v)->hop_limit, 63);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_V1, 6);
	T_ASSERT(pkt_l4_csum_ok(&v));
	T_EQ_INT(t->nfr, 0);		/* policyd is not asked */
	idx = ft_find_in6(&t->e->ft, R6, nh_ip6_us, IPPROTO_TCP_, 5555, 8080);
	T_ASSERT(idx != FT_NIL);
	T_EQ_INT(t->e->ft.ent[idx].kind, FT_K_FWD);
	T_ASSERT(t->e->ft.ent[idx].flags & FT_F_V6);
	T_EQ_INT(t->e->ft.ent[idx].tcp, FT_TCP_SYN_SENT);
	T_EQ_INT(t->e->ft.client[1].nfwd, 1);

	/* The client's SYN+ACK leaves from moat's address and port 8080. */
	t->ntx = 0;
	n = mk6(f, MAC_V1, MAC_C1, nh_ip6_c1, R6, IPPROTO_TCP_, 64, 80, 5555,
	    TCP_SYN | TCP_ACK, 0);
	tl_in(t, 1, f, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(last6(t, 0, &v), 0);
	T_EQ_MEM(pkt_ip6(&v)->saddr, nh_ip6_us, 16);
	T_EQ_MEM(pkt_ip6(&v)->daddr, R6, 16);
	T_EQ_INT(v.sport, 8080);
	T_EQ_INT(v.dport, 5555);
	T_EQ_MEM(pkt_eth(&v)->dst, MAC_GW, 6);
	T_ASSERT(pkt_l4_csum_ok(&v));
	T_EQ_INT(t->e->ft.ent[idx].tcp, FT_TCP_SYN_RECV);
	T_ASSERT(t->e->ft.ent[idx].flags & FT_F_REPLIED);
	t->ntx = 0;
	n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_TCP_, 64, 5555, 8080,
	    TCP_ACK, 10);
	tl_in(t, 0, f, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(t->e->ft.ent[idx].tcp, FT_TCP_ESTABLISHED);
	t->now += (uint64_t)(t->e->cfg.to_tcp_syn + 5) * 1000;
	nat_tick(t->e, t->now);
	T_ASSERT(ft_find_in6(&t->e->ft, R6, nh_ip6_us, IPPROTO_TCP_, 5555,
	    8080) == idx);

	/* Not a SYN and no flow: dropped. */
	t->ntx = 0;
	n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_TCP_, 64, 5556, 8080,
	    TCP_ACK, 0);
	tl_in(t, 0, f, n);
	/* An IPv4-only forward's port opens nothing over IPv6. */
	n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_TCP_, 64, 5556, 8300,
	    TCP_SYN, 0);
	tl_in(t, 0, f, n);
	T_EQ_INT(tl_nsent(t), 0);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

/* An IPv6-only forward opens nothing over IPv4, and from6 restricts. */
static void
test_fwd6_udp_from6(void)
{
	struct tl *t = tl6_fwd();
	struct pkt_view v;
	uint8_t f[256];
	size_t n;

	/* IPv4 to the IPv6-only forward: dropped */
	n = mk_udp(f, MAC_GW, MAC_UP, IP_R2, IP_US, 4000, 8103, 20);
	tl_in(t, 0, f, n);
	TL_DROPPED(t, 0, NAT_R_NO_FLOW, 1);
	/* a source outside from6: dropped */
	n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_UDP_, 64, 4000, 8103,
	    0, 20);
	tl_in(t, 0, f, n);
	TL_DROPPED(t, 0, NAT_R_NO_FLOW, 2);
	/* inside: port 8103 of the range goes to 7003 */
	n = mk6(f, MAC_GW, MAC_UP, R6B, nh_ip6_us, IPPROTO_UDP_, 64, 4000, 8103,
	    0, 20);
	tl_in(t, 0, f, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(last6(t, 1, &v), 0);
	T_EQ_MEM(pkt_ip6(&v)->daddr, nh_ip6_c1, 16);
	T_EQ_INT(v.dport, 7003);
	T_ASSERT(pkt_l4_csum_ok(&v));
	/* the answer goes back from 8103 */
	t->ntx = 0;
	n = mk6(f, MAC_V1, MAC_C1, nh_ip6_c1, R6B, IPPROTO_UDP_, 64, 7003, 4000,
	    0, 30);
	tl_in(t, 1, f, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(last6(t, 0, &v), 0);
	T_EQ_MEM(pkt_ip6(&v)->saddr, nh_ip6_us, 16);
	T_EQ_INT(v.sport, 8103);
	T_EQ_INT(v.dport, 4000);
	T_ASSERT(pkt_l4_csum_ok(&v));
	/* A forward to a client without IPv6: dropped and counted. */
	t->ntx = 0;
	n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_TCP_, 64, 5555, 8200,
	    TCP_SYN, 0);
	tl_in(t, 0, f, n);
	TL_DROPPED(t, 0, NAT_R_IPV6, 1);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

/* A changed or removed IPv6 forward cuts its connections, RSTs each way. */
static void
test_fwd6_removed_cuts(void)
{
	struct tl *t = tl6_fwd();
	struct msg_forwards m;
	struct pkt_view v;
	uint8_t f[256];
	unsigned i, rst_up = 0, rst_c1 = 0;
	size_t n;

	n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_TCP_, 64, 5555, 8080,
	    TCP_SYN, 0);
	tl_in(t, 0, f, n);
	n = mk6(f, MAC_V1, MAC_C1, nh_ip6_c1, R6, IPPROTO_TCP_, 64, 80, 5555,
	    TCP_SYN | TCP_ACK, 0);
	tl_in(t, 1, f, n);
	n = mk6(f, MAC_GW, MAC_UP, R6B, nh_ip6_us, IPPROTO_UDP_, 64, 4000, 8100,
	    0, 20);
	tl_in(t, 0, f, n);
	T_EQ_INT(t->e->ft.nused, 2);
	/* the same table again, or other rules: nothing cut */
	nat_forwards(t->e, fwds6(), t->now);
	nat_rules_changed(t->e, 7, t->now);
	T_EQ_INT(t->e->ft.nused, 2);
	/* the TCP forward now IPv4 only: its IPv6 flow is cut */
	m = *fwds6();
	m.f[0].family = 4;
	t->ntx = 0;
	nat_forwards(t->e, &m, t->now);
	T_EQ_INT(t->e->ft.nused, 1);
	for (i = 0; i < t->ntx; i++) {
		if (tl_parse(t, i, &v) != PKT_OK || v.l3 != PKT_L3_IPV6 ||
		    v.proto != IPPROTO_TCP_ || !(v.tcp_flags & TCP_RST))
			continue;
		if (t->tx[i].port == 0 &&
		    ip6_eq(pkt_ip6(&v)->saddr, nh_ip6_us) && v.sport == 8080 &&
		    ip6_eq(pkt_ip6(&v)->daddr, R6) && v.dport == 5555)
			rst_up++;
		if (t->tx[i].port == 1 && ip6_eq(pkt_ip6(&v)->saddr, R6) &&
		    v.sport == 5555 && ip6_eq(pkt_ip6(&v)->daddr, nh_ip6_c1) &&
		    v.dport == 80)
			rst_c1++;
	}
	T_EQ_INT(rst_up, 1);
	T_EQ_INT(rst_c1, 1);
	/* its from6 narrowed to another prefix: the UDP one goes too */
	m.f[1].from6[5] = 2;
	nat_forwards(t->e, &m, t->now);
	T_EQ_INT(t->e->ft.nused, 0);
	t->ntx = 0;
	n = mk6(f, MAC_V1, MAC_C1, nh_ip6_c1, R6B, IPPROTO_UDP_, 64, 7000, 4000,
	    0, 30);
	tl_in(t, 1, f, n);
	T_EQ_INT(t->nfr, 1);		/* a new flow of the client's own */
	T_EQ_INT(tl_nsent(t), 0);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

/* NAT66 never takes a port kept for forwards either. */
static void
test_fwd6_nat_avoids_range(void)
{
	struct tl *t = tl6();
	struct pkt_view v;
	uint8_t f[256];
	size_t n;
	int i;

	for (i = 0; i < 200; i++) {
		t->ntx = 0;
		t->nfr = 0;
		n = mk6(f, MAC_V1, MAC_C1, nh_ip6_c1, R6, IPPROTO_UDP_, 64,
		    (uint16_t)(FWD_PORT_MIN + i * 5), (uint16_t)(1000 + i), 0,
		    20);
		tl_in(t, 1, f, n);
		T_ASSERT(t->nfr == 1);
		tl_verdict(t, t->fr[0].seq, VERDICT_ACCEPT);
		T_ASSERT(last6(t, 0, &v) == 0);
		T_ASSERT(v.sport < FWD_PORT_MIN || v.sport > FWD_PORT_MAX);
		T_ASSERT(v.sport >= 1024);
	}
	tl_free(t);
}

/* ICMPv6 errors about a forwarded flow are translated both ways: the
 * client's port unreachable reaches the remote, quoting what the remote
 * sent (to moat's address and port), and a router's packet-too-big about
 * the client's answer reaches the client. */
static void
test_fwd6_icmp_error(void)
{
	struct tl *t = tl6_fwd();
	struct pkt_view v, in;
	uint8_t f[512], q[256];
	size_t n, ql;

	n = mk6(f, MAC_GW, MAC_UP, R6B, nh_ip6_us, IPPROTO_UDP_, 64, 4000, 8100,
	    0, 20);
	tl_in(t, 0, f, n);
	T_EQ_INT(last6(t, 1, &v), 0);
	ql = v.ip_end - 14;
	memcpy(q, v.frame + 14, ql);
	t->ntx = 0;
	n = mk_err6(f, nh_ip6_c1, R6B, ICMP6_DST_UNREACH, 0, q, ql);
	memcpy(f, MAC_C1, 6);
	memcpy(f + 6, MAC_V1, 6);
	f[55] = ICMP6_DST_PORT;
	pkt_parse(&v, f, n);
	pkt_l4_csum_set(&v);
	tl_in(t, 1, f, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(last6(t, 0, &v), 0);
	T_EQ_MEM(pkt_ip6(&v)->saddr, nh_ip6_us, 16);
	T_EQ_MEM(pkt_ip6(&v)->daddr, R6B, 16);
	T_ASSERT(pkt_l4_csum_ok(&v));
	T_EQ_INT(pkt_parse_icmp6_quote(&in, v.frame + v.l4_off + 8,
	    v.ip_end - v.l4_off - 8), PKT_OK);
	T_EQ_MEM(((struct ipv6_hdr *)in.frame)->daddr, nh_ip6_us, 16);
	T_EQ_INT(in.dport, 8100);
	T_EQ_INT(in.sport, 4000);

	/* The client's answer leaves from 8100; a router's packet-too-big
	 * about it reaches the client, quoting what the client sent. */
	t->ntx = 0;
	n = mk6(f, MAC_V1, MAC_C1, nh_ip6_c1, R6B, IPPROTO_UDP_, 64, 7000, 4000,
	    0, 30);
	tl_in(t, 1, f, n);
	T_EQ_INT(last6(t, 0, &v), 0);
	ql = v.ip_end - 14;
	memcpy(q, v.frame + 14, ql);
	t->ntx = 0;
	n = mk_err6(f, R6, nh_ip6_us, ICMP6_PACKET_TOO_BIG, 1280, q, ql);
	tl_in(t, 0, f, n);
	T_EQ_INT(tl_nsent(t), 1);
	T_EQ_INT(last6(t, 1, &v), 0);
	T_EQ_MEM(pkt_ip6(&v)->daddr, nh_ip6_c1, 16);
	T_ASSERT(pkt_l4_csum_ok(&v));
	T_EQ_INT(pkt_parse_icmp6_quote(&in, v.frame + v.l4_off + 8,
	    v.ip_end - v.l4_off - 8), PKT_OK);
	T_EQ_MEM(((struct ipv6_hdr *)in.frame)->saddr, nh_ip6_c1, 16);
	T_EQ_INT(in.sport, 7000);
	T_EQ_INT(in.dport, 4000);
	tl_free(t);
}

/* A restarted natd keeps an IPv6 forwarded flow a forward still opens,
 * and only then. */
static void
test_fwd6_restart(void)
{
	size_t len = natd_flowtab_bytes(1024);
	void *mem = calloc(1, len);
	struct msg_forwards m;
	struct pkt_view v;
	struct tl *t;
	uint8_t f[256];
	size_t n;

	t = tl6_cfg(mem, len, 0, 1, fwds6());
	n = mk6(f, MAC_GW, MAC_UP, R6B, nh_ip6_us, IPPROTO_UDP_, 64, 4000, 8100,
	    0, 20);
	tl_in(t, 0, f, n);
	n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_TCP_, 64, 5555, 8080,
	    TCP_SYN, 0);
	tl_in(t, 0, f, n);
	T_EQ_INT(t->e->ft.nused, 2);
	tl_free(t);
	/* The TCP forward became IPv4-only meanwhile: its flow goes. */
	m = *fwds6();
	m.f[0].family = 4;
	t = tl6_cfg(mem, len, 1, 1, &m);
	T_EQ_INT(t->e->restored, 1);
	T_EQ_INT(t->e->discarded, 1);
	T_EQ_INT(t->e->ft.client[1].nfwd, 1);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	t->ntx = 0;
	n = mk6(f, MAC_V1, MAC_C1, nh_ip6_c1, R6B, IPPROTO_UDP_, 64, 7000, 4000,
	    0, 30);
	tl_in(t, 1, f, n);
	T_EQ_INT(t->nfr, 0);
	T_EQ_INT(last6(t, 0, &v), 0);
	T_EQ_INT(v.sport, 8100);
	tl_free(t);
	/* Without forwards, nothing forwarded is kept. */
	t = tl6_cfg(mem, len, 1, 1, NULL);
	T_EQ_INT(t->e->restored, 0);
	T_EQ_INT(t->e->discarded, 1);
	tl_free(t);
	free(mem);
}

/* The remote side holds at most half of the client's quota over IPv6 as
 * over IPv4. */
static void
test_fwd6_quota(void)
{
	struct tl *t = tl6_fwd();
	uint8_t f[256];
	uint16_t p;
	size_t n;

	for (p = 0; p < 400; p++) {
		n = mk6(f, MAC_GW, MAC_UP, R6, nh_ip6_us, IPPROTO_TCP_, 64,
		    (uint16_t)(10000 + p), 8080, TCP_SYN, 0);
		tl_in(t, 0, f, n);
	}
	T_EQ_INT(t->e->ft.client[1].nfwd, t->e->cfg.client_quota / 2);
	T_EQ_INT(ft_check(&t->e->ft), 0);
	tl_free(t);
}

/* An IPv6 forward never opens from the gateway the clients see. */
static void
test_fwd6_not_from_gateway(void)
{
	struct tl *t = tl6();
	uint8_t f[256];
	size_t n;

	nat_forwards(t->e, fwds6(), t->now);
	n = mk6(f, MAC_GW, MAC_UP, nh_ip6_vgw, nh_ip6_us, IPPROTO_TCP_, 64,
	    5555, 8080, TCP_SYN, 0);
	tl_in(t, 0, f, n);
	TL_DROPPED(t, 0, NAT_R_MARTIAN, 1);
	tl_free(t);
}

int
main(void)
{
	T_RUN(test_fwd_tcp);
	T_RUN(test_fwd_client_only_reverse);
	T_RUN(test_fwd_udp_from4_and_range);
	T_RUN(test_fwd_removed_cuts);
	T_RUN(test_fwd_nat_avoids_range);
	T_RUN(test_fwd_icmp_errors);
	T_RUN(test_fwd_restart);
	T_RUN(test_fwd_quota);
	T_RUN(test_fwd_client_mac_unknown);
	T_RUN(test_fwd_fragment_after_move);
	T_RUN(test_fwd_rebuild_checks);
	T_RUN(test_fwd_not_from_moat_addrs);
	T_RUN(test_fwd6_tcp);
	T_RUN(test_fwd6_not_from_gateway);
	T_RUN(test_fwd6_udp_from6);
	T_RUN(test_fwd6_removed_cuts);
	T_RUN(test_fwd6_nat_avoids_range);
	T_RUN(test_fwd6_icmp_error);
	T_RUN(test_fwd6_restart);
	T_RUN(test_fwd6_quota);
	return t_done();
}
