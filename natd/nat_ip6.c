/*
 * nat_ip6.c: IPv6 from clients and from the uplink: anti-spoofing, NAT66
 * to /qubes-ip6 for TCP, UDP and ICMPv6 echo (the Linux sys-firewall's
 * masquerade) on the flow table IPv4 uses, client-to-client flows, the hop
 * limit, packet-too-big (routers do not fragment IPv6), and ICMPv6 errors
 * about tracked flows under IPv4's rules (nat_client.c, nat_uplink.c).
 * Neighbour discovery is nat_nd.c.
 *
 * Without IPv6 configuration (/qubes-ip6 and /qubes-gateway6 for the
 * uplink; /qubes-netvm-gateway6 and the client's own IPv6 address for a
 * client) nat_ip6_gate drops every IPv6 frame of that link, parsed or not,
 * as "ipv6": nothing is forwarded by default (Qubes security bulletin 4).
 * IPv6 fragments go through nat_frag.c as IPv4's do: per-port state maps
 * the later fragments to the flow their first fragment matched.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

int
nat_ip6_on(const struct nat_engine *e, uint16_t port)
{
	if (!e->have_nc || ip6_is_zero(e->nc.ip6) || ip6_is_zero(e->nc.gateway6))
		return 0;
	if (port == MQ_PORT_UPLINK)
		return 1;
	return port < MQ_PORT_MAX && !ip6_is_zero(e->nc.netvm_gateway6) &&
	    !ip6_is_zero(e->link[port].ip6);
}

/* 1 when the frame was IPv6 on a link without IPv6 and is dropped. */
int
nat_ip6_gate(struct nat_engine *e, const struct mq_desc *d, const uint8_t *f)
{
	if (d->len < ETH_HLEN_ || f[12] != 0x86 || f[13] != 0xdd)
		return 0;
	if (e->started && nat_ip6_on(e, d->port))
		return 0;
	nat_drop(e, d, NULL, NAT_R_IPV6);
	return 1;
}

uint16_t
nat_port_of_ip6(const struct nat_engine *e, const uint8_t a[16])
{
	uint16_t p;

	if (ip6_is_zero(a))
		return 0;
	for (p = 1; p <= e->ip6_maxport && p < MQ_PORT_MAX; p++) {
		const struct nat_link *l = &e->link[p];

		if (l->known && l->up && ip6_eq(l->ip6, a))
			return p;
	}
	return 0;
}

static uint32_t
link_mtu(const struct nat_engine *e, uint16_t port)
{
	return e->link[port].mtu ? e->link[port].mtu : 1500;
}

/* ---- frames natd originates ---- */

/* An ICMPv6 error about v, back where it came from. */
void
nat_send_icmp6_error(struct nat_engine *e, const struct mq_desc *d,
    const struct pkt_view *v, uint8_t type, uint8_t code, uint32_t rest_be)
{
	struct mq_desc o;
	uint8_t *buf;
	size_t cap, n;
	uint16_t port = d->port;
	const uint8_t *src, *dmac;

	if (port == MQ_PORT_UPLINK) {
		if (!e->gw6_known)
			return;
		src = e->nc.ip6;
		dmac = e->gw6_mac;
	} else {
		src = e->nc.netvm_gateway6;
		dmac = pkt_eth(v)->src;
	}
	if (v->is_frag && !v->frag_first)
		return;
	if (nat_buf_get(e, &o, &buf, &cap) == -1) {
		e->link[port].c.drops[NAT_R_NO_BUFFER]++;
		return;
	}
	n = pkt_build_icmp6_error(buf, cap, e->link[port].mac, dmac, src, type,
	    code, rest_be, v, IP6_MIN_MTU);
	if (n == 0) {
		nat_buf_put(e, o.buf);
		return;
	}
	o.len = (uint32_t)n;
	nat_send(e, &o, port);
}

/* Rejected by policy: a RST for TCP, else admin-prohibited. */
void
nat_reject6(struct nat_engine *e, const struct mq_desc *d,
    const struct pkt_view *v)
{
	struct mq_desc o;
	uint8_t *buf;
	size_t cap, n;

	if (v->proto != IPPROTO_TCP_ || !v->has_l4) {
		nat_send_icmp6_error(e, d, v, ICMP6_DST_UNREACH, ICMP6_DST_ADMIN,
		    0);
		return;
	}
	if (v->tcp_flags & TCP_RST)
		return;
	if (nat_buf_get(e, &o, &buf, &cap) == -1) {
		e->link[d->port].c.drops[NAT_R_NO_BUFFER]++;
		return;
	}
	n = pkt_build_tcp_rst6(buf, cap, e->link[d->port].mac, pkt_eth(v)->src,
	    v);
	if (n == 0) {
		nat_buf_put(e, o.buf);
		return;
	}
	o.len = (uint32_t)n;
	nat_send(e, &o, d->port);
}

/* A bare RST from saddr to daddr, for cutting a flow. */
static void
send_rst6(struct nat_engine *e, uint16_t port, const uint8_t dmac[6],
    const uint8_t saddr[16], const uint8_t daddr[16], uint16_t sport,
    uint16_t dport, uint32_t seq)
{
	const size_t len = ETH_HLEN_ + sizeof(struct ipv6_hdr) +
	    sizeof(struct tcp_hdr);
	struct mq_desc o;
	struct ipv6_hdr *ip;
	uint8_t *buf;
	size_t cap;

	if (nat_buf_get(e, &o, &buf, &cap) == -1)
		return;
	if (cap < len) {
		nat_buf_put(e, o.buf);
		return;
	}
	memset(buf, 0, len);
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, e->link[port].mac, 6);
	buf[12] = 0x86;
	buf[13] = 0xdd;
	ip = (struct ipv6_hdr *)(buf + ETH_HLEN_);
	ip->vtc_flow_be = htonl(6u << 28);
	ip->payload_len_be = htons(sizeof(struct tcp_hdr));
	ip->next = IPPROTO_TCP_;
	ip->hop_limit = 64;
	memcpy(ip->saddr, saddr, 16);
	memcpy(ip->daddr, daddr, 16);
	nat_rst_send(e, &o, buf, len, port, (struct tcp_hdr *)(ip + 1),
	    sport, dport, seq);
}

/* A rule change cut flow idx: RSTs each way, as cut_flow does for IPv4. */
void
nat_cut6(struct nat_engine *e, uint32_t idx)
{
	const struct ft_entry *f = &e->ft.ent[idx];
	const struct ft_addr6 *a = &e->ft.a6[idx];
	const struct nat_link *l = &e->link[f->cport];
	char s[46], t[46];

	log_info("port %u: %sflow %s > %s proto %u cut by new rules", f->cport,
	    f->kind == FT_K_FWD ? "forwarded " : "", ip6_str(a->src, s),
	    ip6_str(a->dst, t), f->proto);
	if (f->proto != IPPROTO_TCP_ || f->state != FT_ACTIVE ||
	    f->tcp == FT_TCP_CLOSED)
		return;
	if (l->up && ip6_eq(l->ip6, a->src) && (f->flags & FT_F_REPLIED))
		send_rst6(e, f->cport, nat_client_mac(e, f->cport), a->dst,
		    a->src, f->dport, f->csport, f->c_ack);
	if (f->kind != FT_K_C2C && e->gw6_known && e->link[MQ_PORT_UPLINK].up)
		send_rst6(e, MQ_PORT_UPLINK, e->gw6_mac, e->nc.ip6, a->dst,
		    f->nsport, f->dport, f->r_ack);
	else if (f->kind == FT_K_C2C) {
		uint16_t p = nat_port_of_ip6(e, a->dst);

		if (p != 0)
			send_rst6(e, p, nat_client_mac(e, p), a->src, a->dst,
			    f->csport, f->dport, f->r_ack);
	}
}

/* Echo request to one of natd's addresses: answered in place. */
static void
echo6_reply(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct ipv6_hdr *ip = pkt_ip6(v);
	struct icmp_hdr *ih = pkt_icmp(v);
	struct eth_hdr *eh = pkt_eth(v);
	uint8_t a[16], mac[6];
	uint16_t o, n, c;

	memcpy(&o, ih, 2);
	ih->type = ICMP6_ECHO_REPLY;
	memcpy(&n, ih, 2);
	if (!(d->flags & MQ_F_NEEDS_CSUM)) {
		c = ih->csum;
		csum_update16(&c, o, n);
		ih->csum = c;
	}
	/* Swapped addresses sum the same in the pseudo-header. */
	memcpy(a, ip->saddr, 16);
	memcpy(ip->saddr, ip->daddr, 16);
	memcpy(ip->daddr, a, 16);
	ip->hop_limit = 64;
	memcpy(mac, eh->src, 6);
	memcpy(eh->src, e->link[d->port].mac, 6);
	memcpy(eh->dst, mac, 6);
	nat_send(e, d, d->port);
}

/* ---- flows ---- */

void
nat_flowreq6(struct nat_engine *e, uint32_t idx, const struct pkt_view *v,
    struct flow_req *r)
{
	const struct ft_entry *f = &e->ft.ent[idx];

	r->family = 6;
	memcpy(r->src, e->ft.a6[idx].src, 16);
	memcpy(r->dst, e->ft.a6[idx].dst, 16);
	if (f->proto == IPPROTO_ICMPV6_) {
		r->sport = r->dport = 0;
		r->icmp_type = v != NULL ? v->icmp_type : ICMP6_ECHO_REQUEST;
		r->icmp_code = v != NULL ? v->icmp_code : 0;
	}
}

int
nat_keep6(struct nat_engine *e, const struct ft_entry *f)
{
	uint32_t idx = (uint32_t)(f - e->ft.ent);
	const struct nat_link *l = &e->link[f->cport];

	if (!l->known || !ip6_eq(l->ip6, e->ft.a6[idx].src))
		return 0;
	if (f->kind != FT_K_C2C && (ip6_is_zero(e->nc.ip6) ||
	    f->nsrc != ft_tag6(&e->ft, e->nc.ip6)))
		return 0;
	return 1;
}

static void
new_flow6(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint16_t sport, uint16_t dport)
{
	struct nat_link *l = &e->link[d->port];
	uint8_t src[16], dst[16];
	struct ft_entry *f;
	uint16_t nsport = sport;
	uint32_t idx;
	int kind = FT_K_NAT;

	memcpy(src, pkt_ip6(v)->saddr, 16);
	memcpy(dst, pkt_ip6(v)->daddr, 16);
	if (nat_port_of_ip6(e, dst) != 0)
		kind = FT_K_C2C;
	if ((idx = nat_flow_take(e, d, v)) == FT_NIL)
		return;
	if (kind == FT_K_NAT && nat_alloc_nsport(e, v->proto, 0, dst, dport,
	    sport, &nsport) == -1) {
		ft_unalloc(&e->ft, idx);
		nat_drop(e, d, v, NAT_R_PORTS);
		return;
	}
	f = &e->ft.ent[idx];
	f->state = FT_PENDING;
	f->proto = v->proto;
	f->kind = (uint8_t)kind;
	f->flags = FT_F_V6;
	f->cport = d->port;
	f->csport = sport;
	f->dport = dport;
	f->nsport = nsport;
	memcpy(e->ft.a6[idx].src, src, 16);
	memcpy(e->ft.a6[idx].dst, dst, 16);
	f->csrc = ft_tag6(&e->ft, src);
	f->odst = f->rdst = ft_tag6(&e->ft, dst);
	f->nsrc = kind == FT_K_NAT ? ft_tag6(&e->ft, e->nc.ip6) : f->csrc;
	if (v->proto == IPPROTO_TCP_)
		f->tcp = (v->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN ?
		    FT_TCP_SYN_SENT : FT_TCP_ESTABLISHED;
	f->last = now_s(e);
	e->ft.cnt[idx].start = f->last;
	ft_link(&e->ft, idx);
	e->hold_head[idx] = e->hold_tail[idx] = FT_NIL;
	e->hold_n[idx] = 0;
	if (log_getlevel() >= LOG_LVL_DEBUG) {
		char a[46], b[46];

		log_debug("port %u: new flow [%s]:%u > [%s]:%u proto %u, asking "
		    "policyd", d->port, ip6_str(src, a), sport, ip6_str(dst, b),
		    dport, v->proto);
	}
	if (nat_send_flowreq(e, idx, v, 0) == -1) {
		ft_remove(&e->ft, idx);
		nat_drop(e, d, v, NAT_R_POLICYD_BUSY);
		return;
	}
	l->npending++;
	if (nat_hold_push(e, idx, d) == -1) {
		nat_drop(e, d, v, NAT_R_PENDING_FULL);
		return;
	}
	nat_frag_first_done(e, v, 0, 0, DIR_OUT, idx, d->port);
}

/* 1 when the packet fits the next link; else packet-too-big goes back
 * (IPv6 routers never fragment) and it is dropped. */
static int
mtu_ok6(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint16_t out)
{
	uint32_t mtu = link_mtu(e, out);

	if (d->gso_type != MQ_GSO_NONE || v->ip_end - v->l3_off <= mtu)
		return 1;
	nat_send_icmp6_error(e, d, v, ICMP6_PACKET_TOO_BIG, 0, htonl(mtu));
	nat_drop(e, d, v, NAT_R_MTU);
	return 0;
}

static void
hop_dec(struct pkt_view *v)
{
	pkt_ip6(v)->hop_limit--;
	v->ttl--;
}

void
nat_forward_out6(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	int partial = (d->flags & MQ_F_NEEDS_CSUM) != 0;
	const uint8_t *dmac;
	uint16_t out;

	if (f->kind != FT_K_C2C) {
		if (!e->gw6_known || !e->link[MQ_PORT_UPLINK].up) {
			nat_drop(e, d, v, NAT_R_NO_GATEWAY);
			return;
		}
		out = MQ_PORT_UPLINK;
		dmac = e->gw6_mac;
	} else {
		out = nat_port_of_ip6(e, e->ft.a6[idx].dst);
		if (out == 0) {
			nat_drop(e, d, v, NAT_R_LINK_DOWN);
			return;
		}
		dmac = nat_client_mac(e, out);
	}
	if (!mtu_ok6(e, d, v, out))
		return;
	if (!nat_rate_pass(e, f, d, v, d->port, out))
		return;
	nat_flow_track(e, idx, v, DIR_OUT, d->len);
	if (f->kind == FT_K_FWD)
		f->flags |= FT_F_REPLIED;	/* the client answered */
	if (f->kind != FT_K_C2C) {
		pkt_nat_addr6(v, 0, e->nc.ip6, partial);
		pkt_nat_port(v, 0, f->nsport, partial);
	}
	hop_dec(v);
	nat_set_macs(v, e->link[out].mac, dmac);
	nat_send(e, d, out);
}

void
nat_forward_in6(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	struct nat_link *l = &e->link[f->cport];
	int partial = (d->flags & MQ_F_NEEDS_CSUM) != 0;

	if (!l->up || !ip6_eq(l->ip6, e->ft.a6[idx].src)) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	if (!mtu_ok6(e, d, v, f->cport))
		return;
	if (!nat_rate_pass(e, f, d, v, d->port, f->cport))
		return;
	/* A forward's first frame may find no MAC yet (nat_flow.c). */
	if (!l->peer_mac_known)
		nat_client_arp_probe(e, f->cport);
	if (f->kind != FT_K_FWD)
		f->flags |= FT_F_REPLIED;
	nat_flow_track(e, idx, v, DIR_IN, d->len);
	if (f->kind != FT_K_C2C) {
		pkt_nat_addr6(v, 1, e->ft.a6[idx].src, partial);
		pkt_nat_port(v, 1, f->csport, partial);
	}
	hop_dec(v);
	nat_set_macs(v, l->mac, nat_client_mac(e, f->cport));
	nat_send(e, d, f->cport);
}

/* ---- ICMPv6 errors about tracked flows ---- */

/* As nat_quote_parse: NAT_R_MAX when the error may be translated. */
static enum nat_reason
quote6_parse(const struct mq_desc *d, const struct pkt_view *v,
    struct pkt_view *in)
{
	uint8_t *q = v->frame + v->l4_off + v->l4_hlen;
	int rc;

	if (v->is_frag || (d->flags & MQ_F_NEEDS_CSUM))
		return NAT_R_MALFORMED;
	rc = pkt_parse_icmp6_quote(in, q, pkt_l4_payload_len(v));
	if (rc == PKT_E_IP6_RH)
		return NAT_R_SRCROUTE;
	if (rc != PKT_OK || !in->has_l4)
		return rc != PKT_OK ? NAT_R_MALFORMED : NAT_R_PROTO;
	/* The checksum is recomputed after the translation: it must verify
	 * first, or a forged error would leave laundered. */
	if (!pkt_l4_csum_ok(v))
		return NAT_R_BAD_CHECKSUM;
	if (in->is_frag && !in->frag_first)
		return NAT_R_NO_FLOW;
	return NAT_R_MAX;
}

/* Set an address (dst or source) and port (or echo id) of the quoted
 * packet, with its transport checksum when the quote holds it. */
static void
quote6_set(struct pkt_view *in, int dst, const uint8_t a[16], uint16_t port)
{
	size_t avail = in->ip_end - in->l4_off;
	int whole = avail >= (in->proto == IPPROTO_TCP_ ? 18u : 8u);
	uint8_t has = in->has_l4;
	uint16_t p = htons(port);

	if (!whole)
		in->has_l4 = 0;
	pkt_nat_addr6(in, dst, a, 0);
	in->has_l4 = has;
	if (whole)
		pkt_nat_port(in, dst, port, 0);
	else if (in->proto == IPPROTO_TCP_)
		/* The 8 bytes a quote holds at least: the ports are there. */
		memcpy(in->frame + in->l4_off + (dst ? 2 : 0), &p, 2);
}

static void
client_icmp6_error(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct pkt_view in;
	struct ipv6_hdr *iip;
	struct ft_entry *f;
	uint16_t cport, rport;
	uint32_t idx;
	enum nat_reason r;

	if ((r = quote6_parse(d, v, &in)) != NAT_R_MAX) {
		nat_drop(e, d, v, r);
		return;
	}
	iip = (struct ipv6_hdr *)in.frame;
	if (!ip6_eq(iip->daddr, pkt_ip6(v)->saddr)) {
		nat_drop(e, d, v, NAT_R_SPOOFED);
		return;
	}
	if (in.proto == IPPROTO_TCP_ || in.proto == IPPROTO_UDP_) {
		rport = in.sport;
		cport = in.dport;
	} else if (in.proto == IPPROTO_ICMPV6_ &&
	    in.icmp_type == ICMP6_ECHO_REPLY) {
		rport = 0;
		cport = in.icmp_id;
	} else {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	idx = nat_flow_live(e, ft_find_out6(&e->ft, iip->daddr, iip->saddr,
	    in.proto, cport, rport));
	if (idx == FT_NIL || e->ft.ent[idx].state != FT_ACTIVE ||
	    e->ft.ent[idx].kind == FT_K_C2C || e->ft.ent[idx].cport != d->port) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	f = &e->ft.ent[idx];
	/* Only to the host the quote came from (nat_client.c says why). */
	if (!ip6_eq(pkt_ip6(v)->daddr, iip->saddr)) {
		nat_drop(e, d, v, NAT_R_ICMP_MISMATCH);
		return;
	}
	if (!e->gw6_known || !e->link[MQ_PORT_UPLINK].up) {
		nat_drop(e, d, v, NAT_R_NO_GATEWAY);
		return;
	}
	quote6_set(&in, 1, e->nc.ip6, f->nsport);
	pkt_nat_addr6(v, 0, e->nc.ip6, 0);
	pkt_l4_csum_set(v);
	hop_dec(v);
	nat_set_macs(v, e->link[MQ_PORT_UPLINK].mac, e->gw6_mac);
	nat_send(e, d, MQ_PORT_UPLINK);
}

static void
uplink_icmp6_error(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct pkt_view in;
	struct ipv6_hdr *iip;
	struct ft_entry *f;
	uint16_t lport, rport;
	uint32_t idx;
	enum nat_reason r;

	if ((r = quote6_parse(d, v, &in)) != NAT_R_MAX) {
		nat_drop(e, d, v, r);
		return;
	}
	if (v->ttl <= 1) {
		nat_drop(e, d, v, NAT_R_TTL);
		return;
	}
	/* From any router on the path, about a packet natd sent. */
	iip = (struct ipv6_hdr *)in.frame;
	if (!ip6_eq(iip->saddr, e->nc.ip6)) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	if ((r = nat_quote_ports(&in, IPPROTO_ICMPV6_, ICMP6_ECHO_REQUEST,
	    &rport, &lport)) != NAT_R_MAX) {
		nat_drop(e, d, v, r);
		return;
	}
	idx = nat_flow_live(e, ft_find_in6(&e->ft, iip->daddr, iip->saddr,
	    in.proto, rport, lport));
	if (idx == FT_NIL || e->ft.ent[idx].state != FT_ACTIVE ||
	    e->ft.ent[idx].kind == FT_K_C2C) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	f = &e->ft.ent[idx];
	if (!e->link[f->cport].up ||
	    !ip6_eq(e->link[f->cport].ip6, e->ft.a6[idx].src)) {
		nat_drop(e, d, v, NAT_R_LINK_DOWN);
		return;
	}
	quote6_set(&in, 0, e->ft.a6[idx].src, f->csport);
	pkt_nat_addr6(v, 1, e->ft.a6[idx].src, 0);
	pkt_l4_csum_set(v);
	hop_dec(v);
	nat_set_macs(v, e->link[f->cport].mac, nat_client_mac(e, f->cport));
	nat_send(e, d, f->cport);
}

/* ---- clients ---- */

void
nat_client_ip6(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[d->port];
	struct eth_hdr *eh = pkt_eth(v);
	uint8_t src[16], dst[16];
	uint16_t sport = 0, dport = 0;
	int icmp = v->proto == IPPROTO_ICMPV6_;
	uint32_t idx;

	if (!(eh->dst[0] & 1) && memcmp(eh->dst, l->mac, 6) != 0) {
		nat_drop(e, d, v, NAT_R_MAC);
		return;
	}
	if (nat_is_nd(v)) {
		nat_client_nd(e, d, v);
		return;
	}
	memcpy(src, pkt_ip6(v)->saddr, 16);
	memcpy(dst, pkt_ip6(v)->daddr, 16);
	/* Link-local multicast (mDNS, LLMNR) is every client's background
	 * noise, not a forged source: counted as what it is. */
	if (ip6_is_multicast(dst)) {
		nat_drop(e, d, v, NAT_R_MARTIAN);
		return;
	}
	/* Link-local sources are for neighbour discovery only. */
	if (!ip6_eq(src, l->ip6)) {
		nat_drop(e, d, v, NAT_R_SPOOFED);
		return;
	}
	if (!l->peer_mac_known && !(eh->src[0] & 1)) {
		memcpy(l->peer_mac, eh->src, 6);
		l->peer_mac_known = 1;
	}
	if (ip6_is_martian(dst)) {
		nat_drop(e, d, v, NAT_R_MARTIAN);
		return;
	}
	if (!nat_offload_ok(d, v)) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	if (ip6_eq(dst, e->nc.netvm_gateway6) || ip6_eq(dst, e->nc.ip6)) {
		if (icmp && v->has_l4 && !v->is_frag &&
		    v->icmp_type == ICMP6_ECHO_REQUEST)
			echo6_reply(e, d, v);
		else
			nat_drop(e, d, v, NAT_R_LOCAL);
		return;
	}
	if (v->ttl <= 1) {
		nat_send_icmp6_error(e, d, v, ICMP6_TIME_EXCEEDED, 0, 0);
		nat_drop(e, d, v, NAT_R_TTL);
		return;
	}
	if (v->is_frag && !v->frag_first) {
		nat_client_frag(e, d, v);
		return;
	}
	switch (v->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
		sport = v->sport;
		dport = v->dport;
		break;
	case IPPROTO_ICMPV6_:
		if (v->has_l4 && v->icmp_type < 128) {
			client_icmp6_error(e, d, v);
			return;
		}
		if (!v->has_l4 || (v->icmp_type != ICMP6_ECHO_REQUEST &&
		    v->icmp_type != ICMP6_ECHO_REPLY)) {
			nat_drop(e, d, v, NAT_R_PROTO);
			return;
		}
		sport = v->icmp_id;
		break;
	default:
		nat_drop(e, d, v, NAT_R_PROTO);
		return;
	}
	/* A reply on a client-to-client flow the other client opened? */
	idx = nat_flow_live(e, ft_find_in6(&e->ft, src, dst, v->proto,
	    icmp ? 0 : sport, icmp ? sport : dport));
	if (idx != FT_NIL && e->ft.ent[idx].kind == FT_K_C2C &&
	    (!icmp || v->icmp_type == ICMP6_ECHO_REPLY)) {
		if (e->ft.ent[idx].state == FT_ACTIVE) {
			nat_frag_first_done(e, v, 0, 0, DIR_IN, idx, d->port);
			nat_forward_in6(e, d, v, idx);
		} else
			nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	if (icmp && v->icmp_type == ICMP6_ECHO_REPLY) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	idx = nat_flow_live(e, ft_find_out6(&e->ft, src, dst, v->proto, sport,
	    dport));
	if (idx == FT_NIL) {
		new_flow6(e, d, v, sport, dport);
		return;
	}
	switch (e->ft.ent[idx].state) {
	case FT_PENDING:
		if (nat_hold_push(e, idx, d) == -1)
			nat_drop(e, d, v, NAT_R_PENDING_FULL);
		else
			nat_frag_first_done(e, v, 0, 0, DIR_OUT, idx, d->port);
		return;
	case FT_ACTIVE:
		nat_frag_first_done(e, v, 0, 0, DIR_OUT, idx, d->port);
		nat_forward_out6(e, d, v, idx);
		return;
	default:
		nat_blocked(e, d, v, &e->ft.ent[idx]);
	}
}

/* ---- uplink ---- */

void
nat_uplink_ip6(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v)
{
	struct nat_link *l = &e->link[MQ_PORT_UPLINK];
	struct eth_hdr *eh = pkt_eth(v);
	uint8_t src[16], dst[16];
	uint16_t rport = 0, lport = 0;
	uint32_t idx;

	if (!(eh->dst[0] & 1) && memcmp(eh->dst, l->mac, 6) != 0) {
		nat_drop(e, d, v, NAT_R_MAC);
		return;
	}
	if (nat_is_nd(v)) {
		nat_uplink_nd(e, d, v);
		return;
	}
	memcpy(src, pkt_ip6(v)->saddr, 16);
	memcpy(dst, pkt_ip6(v)->daddr, 16);
	if (nat_port_of_ip6(e, src) != 0 || ip6_eq(src, e->nc.ip6) ||
	    ip6_is_martian(src)) {
		nat_drop(e, d, v, NAT_R_SPOOFED);
		return;
	}
	if (!ip6_eq(dst, e->nc.ip6)) {
		nat_drop(e, d, v, NAT_R_NOT_OURS);
		return;
	}
	if (!nat_offload_ok(d, v)) {
		nat_drop(e, d, v, NAT_R_MALFORMED);
		return;
	}
	if (v->is_frag && !v->frag_first) {
		/* Its hop limit is checked here, not with the first's below:
		 * forwarded, 0 would wrap to 255. No error about it (natd
		 * sends errors about first fragments only). */
		if (v->ttl <= 1) {
			nat_drop(e, d, v, NAT_R_TTL);
			return;
		}
		nat_uplink_frag(e, d, v);
		return;
	}
	switch (v->proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
		rport = v->sport;
		lport = v->dport;
		break;
	case IPPROTO_ICMPV6_:
		if (v->has_l4 && v->icmp_type == ICMP6_ECHO_REQUEST &&
		    !v->is_frag) {
			echo6_reply(e, d, v);
			return;
		}
		if (v->has_l4 && v->icmp_type < 128) {
			uplink_icmp6_error(e, d, v);
			return;
		}
		if (!v->has_l4 || v->icmp_type != ICMP6_ECHO_REPLY) {
			nat_drop(e, d, v, NAT_R_PROTO);
			return;
		}
		lport = v->icmp_id;
		break;
	default:
		nat_drop(e, d, v, NAT_R_PROTO);
		return;
	}
	if (v->ttl <= 1) {
		nat_send_icmp6_error(e, d, v, ICMP6_TIME_EXCEEDED, 0, 0);
		nat_drop(e, d, v, NAT_R_TTL);
		return;
	}
	idx = nat_flow_live(e, ft_find_in6(&e->ft, src, dst, v->proto, rport,
	    lport));
	if (idx == FT_NIL && nat_fwd_inbound6(e, d, v))
		return;
	if (idx == FT_NIL || e->ft.ent[idx].kind == FT_K_C2C) {
		nat_drop(e, d, v, NAT_R_NO_FLOW);
		return;
	}
	if (e->ft.ent[idx].state != FT_ACTIVE) {
		nat_drop(e, d, v, e->ft.ent[idx].state == FT_BLOCKED ?
		    NAT_R_POLICY_DROP : NAT_R_NO_FLOW);
		return;
	}
	nat_frag_first_done(e, v, 0, 0, DIR_IN, idx, MQ_PORT_UPLINK);
	nat_forward_in6(e, d, v, idx);
}
