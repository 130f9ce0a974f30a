/*
 * nat_engine.c: the per-frame decisions start here. Frames from clients and
 * from the uplink are classified (nat_input), matched to flows, translated
 * and handed to the output interface. Everything a peer sends is parsed by
 * pkt_parse() first; only offsets it produced are used.
 *
 * This file holds the entry point, the buffers, output and drops every
 * other part uses, and the address lookups. The rest of the engine, each
 * file one concern (declarations shared between them in nat_priv.h):
 *   nat_client.c   frames from clients
 *   nat_uplink.c   frames from the uplink
 *   nat_flow.c     flow lifecycle: create, evict, hold, forward along a flow
 *   nat_verdict.c  policyd's verdicts, re-checks after rule changes, timers
 *   nat_frag.c     fragments and the fragments held for their first one
 *   nat_rewrite.c  checksummed field rewrites, also inside ICMP quotes
 *   nat_answer.c   frames natd originates: ICMP errors, RSTs, echo and
 *                  ARP replies
 *   nat_setup.c    configuration, links, start and restart
 *   nat_dns.c      the stub resolver; nat_stats.c the counters and pcap
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

const char *const nat_reason_name[NAT_R_MAX] = {
	[NAT_R_MALFORMED] = "malformed",
	[NAT_R_ETHERTYPE] = "ethertype",
	[NAT_R_IPV6] = "ipv6",
	[NAT_R_ARP] = "arp",
	[NAT_R_ARP_SPOOF] = "arp_spoof",
	[NAT_R_SPOOFED] = "spoofed",
	[NAT_R_MAC] = "mac",
	[NAT_R_MARTIAN] = "martian",
	[NAT_R_LOCAL] = "local",
	[NAT_R_NOT_OURS] = "not_ours",
	[NAT_R_TTL] = "ttl",
	[NAT_R_NO_FLOW] = "no_flow",
	[NAT_R_PROTO] = "proto",
	[NAT_R_POLICY_DROP] = "policy_drop",
	[NAT_R_POLICY_REJECT] = "policy_reject",
	[NAT_R_POLICY_TIMEOUT] = "policy_timeout",
	[NAT_R_CUT] = "cut",
	[NAT_R_QUOTA] = "quota",
	[NAT_R_TABLE_FULL] = "table_full",
	[NAT_R_PENDING_FULL] = "pending_full",
	[NAT_R_POLICYD_BUSY] = "policyd_busy",
	[NAT_R_PORTS] = "ports",
	[NAT_R_NO_GATEWAY] = "no_gateway",
	[NAT_R_LINK_DOWN] = "link_down",
	[NAT_R_MTU] = "mtu",
	[NAT_R_FRAG] = "frag",
	[NAT_R_NO_DNS] = "no_dns",
	[NAT_R_NO_NETCONF] = "no_netconf",
	[NAT_R_NO_BUFFER] = "no_buffer",
	[NAT_R_ICMP_MISMATCH] = "icmp_mismatch",
	[NAT_R_BAD_CHECKSUM] = "bad_checksum",
	[NAT_R_SRCROUTE] = "srcroute",
	[NAT_R_ND] = "nd",
	[NAT_R_IP6_EXT] = "ip6_ext",
	[NAT_R_RATE] = "rate",
};

/* ---- small helpers ---- */

uint64_t
nat_rand(struct nat_engine *e)
{
	/* xorshift64*: unpredictability matters little here (port choice,
	 * DNS ids are also matched by port and server). */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 0x2545f4914f6cdd1dull;
}

uint8_t *
nat_frame(const struct nat_engine *e, const struct mq_desc *d)
{
	uint8_t *b = mq_buf(e->pool, d->buf);

	return b == NULL ? NULL : b + d->off;
}

uint16_t
nat_port_of_ip(const struct nat_engine *e, uint32_t ip)
{
	uint32_t h, n;

	if (ip == 0)
		return 0;
	h = (ntohl(ip) * 2654435761u) & (2 * MQ_PORT_MAX - 1);
	for (n = 0; n < 2 * MQ_PORT_MAX; n++) {
		uint32_t i = (h + n) & (2 * MQ_PORT_MAX - 1);

		if (e->ipmap_ip[i] == 0)
			return 0;
		if (e->ipmap_ip[i] == ip)
			return e->ipmap_port[i];
	}
	return 0;
}

/* Is a an address dom0 lists in /connected-ips (linked or not yet)? */
int
nat_connected(const struct nat_engine *e, uint32_t a)
{
	uint32_t h, n;

	if (a == 0)
		return 0;
	h = (ntohl(a) * 2654435761u) & (NAT_CONNECTED_SLOTS - 1);
	for (n = 0; n < NAT_CONNECTED_SLOTS; n++) {
		uint32_t i = (h + n) & (NAT_CONNECTED_SLOTS - 1);

		if (e->connected[i] == 0)
			return 0;
		if (e->connected[i] == a)
			return 1;
	}
	return 0;
}

/* ---- buffers, output, drops ---- */

void
nat_buf_put(struct nat_engine *e, uint32_t buf)
{
	struct mq_desc d;

	/* Keep the reserve full from buffers we would give back anyway. */
	if (e->nreserve < e->reserve_cap) {
		e->reserve[e->nreserve++] = buf;
		return;
	}
	memset(&d, 0, sizeof(d));
	d.buf = buf;
	d.port = MQ_PORT_DROP;
	e->io.tx(e->io.arg, &d);
}

int
nat_buf_get(struct nat_engine *e, struct mq_desc *d, uint8_t **buf, size_t *cap)
{
	uint8_t *b;

	if (e->nreserve == 0)
		return -1;
	memset(d, 0, sizeof(*d));
	d->buf = e->reserve[--e->nreserve];
	b = mq_buf(e->pool, d->buf);
	if (b == NULL)
		return -1;
	*buf = b;
	*cap = e->pool->bufsz;
	return 0;
}

void
nat_send(struct nat_engine *e, const struct mq_desc *d, uint16_t port)
{
	struct mq_desc o = *d;

	o.port = port;
	nat_fakeip_out(e, &o);
	if (port < MQ_PORT_MAX) {
		e->link[port].c.tx_packets++;
		e->link[port].c.tx_bytes += o.len;
	}
	e->io.tx(e->io.arg, &o);
}

void
nat_consume(struct nat_engine *e, const struct mq_desc *d)
{
	nat_buf_put(e, d->buf);
}

void
nat_drop(struct nat_engine *e, const struct mq_desc *d, const struct pkt_view *v,
    enum nat_reason r)
{
	uint16_t port = d->port;
	uint8_t *f = nat_frame(e, d);

	if (port < MQ_PORT_MAX)
		e->link[port].c.drops[r]++;
	if (f != NULL)
		nat_pcap_add(e, f, d->len);
	if (v != NULL && v->l3 == PKT_L3_IPV6 && r != NAT_R_ND) {
		char s[46], t[46];

		log_rlk(port, LOG_LVL_INFO, "port %u: drop (%s) %s > %s proto %u",
		    port, nat_reason_name[r], ip6_str(pkt_ip6(v)->saddr, s),
		    ip6_str(pkt_ip6(v)->daddr, t), v->proto);
	} else if (v != NULL && v->l3 == PKT_L3_IPV4) {
		const struct ipv4_hdr *ip = pkt_ip4(v);
		char s[16], t[16];

		log_rlk(port, LOG_LVL_INFO, "port %u: drop (%s) %s > %s proto %u",
		    port, nat_reason_name[r], ip4_str(ip->saddr_be, s),
		    ip4_str(ip->daddr_be, t), v->proto);
	} else
		/* IPv6 is not forwarded, by design, and every NetVM and client
		 * sends it all the time (neighbour and router discovery): that
		 * is counted, not worth a line a second in the user's log. */
		log_rlk(port, r == NAT_R_IPV6 || r == NAT_R_ND ? LOG_LVL_DEBUG :
		    LOG_LVL_INFO,
		    "port %u: drop (%s) %u bytes", port, nat_reason_name[r], d->len);
	nat_buf_put(e, d->buf);
}

/* ---- uplink ---- */

void
nat_input(struct nat_engine *e, const struct mq_desc *din, uint64_t now)
{
	struct mq_desc d = *din;
	struct pkt_view v;
	uint8_t *f;
	int rc;

	e->now_ms = now;
	if (!mq_desc_ok(e->pool, &d)) {
		/* Return a buffer we can name; a bad index is lost either way. */
		if (d.buf < e->pool->nbufs) {
			d.len = 0;
			d.off = 0;
			d.port = d.port < MQ_PORT_MAX ? d.port : MQ_PORT_UPLINK;
			d.flags = 0;
			nat_drop(e, &d, NULL, NAT_R_MALFORMED);
		}
		return;
	}
	if (d.port == MQ_PORT_DROP) {
		/* netbackd gives natd its reserve as empty descriptors. */
		nat_buf_put(e, d.buf);
		return;
	}
	e->link[d.port].c.rx_packets++;
	e->link[d.port].c.rx_bytes += d.len;
	f = nat_frame(e, &d);
	if (nat_ip6_gate(e, &d, f))
		return;
	/* pkt_parse leaves the IPv4 header checksum to us: a router that
	 * forwards (and incrementally updates) a bad one launders it. */
	if ((rc = pkt_parse(&v, f, d.len)) != PKT_OK ||
	    (v.l3 == PKT_L3_IPV4 && !pkt_ip4_csum_ok(&v))) {
		nat_drop(e, &d, NULL, rc == PKT_E_IP6_RH ? NAT_R_SRCROUTE :
		    rc == PKT_E_IP6_EXT ? NAT_R_IP6_EXT : NAT_R_MALFORMED);
		return;
	}
	/* Source routing would let the sender pick the path past us (and, on
	 * the way back, a client's replies); Linux drops it unless
	 * accept_source_route is set. Other options pass untouched. */
	if (v.l3 == PKT_L3_IPV4 && v.l3_hlen > sizeof(struct ipv4_hdr)) {
		int sr = pkt_ip4_srcroute(v.frame + v.l3_off, v.l3_hlen);

		if (sr != 0) {
			nat_drop(e, &d, &v, sr > 0 ? NAT_R_SRCROUTE : NAT_R_MALFORMED);
			return;
		}
	}
	if (!e->started || !e->have_nc || e->nc.ip == 0) {
		nat_drop(e, &d, &v, NAT_R_NO_NETCONF);
		return;
	}
	if (d.port == MQ_PORT_UPLINK)
		nat_uplink_input(e, &d, &v);
	else
		nat_client_input(e, &d, &v);
}
