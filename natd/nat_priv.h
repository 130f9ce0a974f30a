/*
 * nat_priv.h: declarations shared between the engine's files (see the map
 * in nat_engine.c); not part of the engine's API, which is nat.h. Each
 * function's comment is at its definition; like every symbol libnatd.a
 * exports, each name starts with nat_.
 */
#ifndef MOAT_NATD_NAT_PRIV_H
#define MOAT_NATD_NAT_PRIV_H

#include "nat.h"

/* Direction of a packet along its flow: client to remote, or back. */
#define DIR_OUT	1
#define DIR_IN	2

/* Buffers, output and drops (nat_engine.c), pcap (nat_stats.c), DNS (nat_dns.c). */
void	nat_drop(struct nat_engine *e, const struct mq_desc *d,
	    const struct pkt_view *v, enum nat_reason r);
void	nat_consume(struct nat_engine *e, const struct mq_desc *d);
void	nat_send(struct nat_engine *e, const struct mq_desc *d, uint16_t port);
/* A reply of n bytes (0: it did not fit, dropped as malformed), built
 * in d's own buffer (ARP, neighbour advertisement), goes out port as a
 * plain frame. */
void	nat_send_reply(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v, size_t n, uint16_t port);
uint64_t nat_rand(struct nat_engine *e);
uint8_t	*nat_frame(const struct nat_engine *e, const struct mq_desc *d);
/* nat_fakeip.c: net.fake-ip at the edge of a client's port. */
int	nat_fakeip_in(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v);
void	nat_fakeip_out(struct nat_engine *e, struct mq_desc *d);
int	nat_fakeip_shown(struct nat_engine *e, uint16_t port, uint32_t a);
int	nat_buf_get(struct nat_engine *e, struct mq_desc *d, uint8_t **buf,
	    size_t *cap);
void	nat_buf_put(struct nat_engine *e, uint32_t buf);
void	nat_pcap_add(struct nat_engine *e, const uint8_t *frame, size_t len);
int	nat_dns_input(struct nat_engine *e, const struct mq_desc *d,
	    const struct pkt_view *v);
int	nat_dns_port_busy(const struct nat_engine *e, uint32_t server,
	    uint16_t port);
void	nat_dns_tick(struct nat_engine *e);
/* nat_dnslearn.c: what clients learn from the answers moat relays. */
void	nat_dnslearn_out(struct nat_engine *e, const struct pkt_view *v,
	    uint32_t idx);
int	nat_dnslearn_in(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v, uint32_t idx);
void	nat_dnslearn_forget(struct nat_engine *e, uint16_t port);

/* The engine's clock in seconds, as flows keep it. */
static inline uint32_t
now_s(const struct nat_engine *e)
{
	return (uint32_t)(e->now_ms / 1000);
}

/* nat_rate.c: a port's limits after its link or the limits changed; the
 * frame d along flow f (from port from to port to) within both ports'
 * limits (1), or counted and dropped (0). Relayed DNS (to the virtual
 * resolvers) is never limited. */
void	nat_rate_assign(struct nat_engine *e, uint16_t port);
int	nat_rate_check(struct nat_engine *e, const struct mq_desc *d,
	    const struct pkt_view *v, uint16_t from, uint16_t to);
static inline int
nat_rate_pass(struct nat_engine *e, const struct ft_entry *f,
    const struct mq_desc *d, const struct pkt_view *v, uint16_t from,
    uint16_t to)
{
	return e->nlimited == 0 || (f->flags & FT_F_REDIRECT) ||
	    nat_rate_check(e, d, v, from, to);
}

/* nat_engine.c */
uint16_t nat_port_of_ip(const struct nat_engine *e, uint32_t ip);
int	nat_connected(const struct nat_engine *e, uint32_t a);

/* nat_rewrite.c */
void	nat_set_addr(struct pkt_view *v, const struct mq_desc *d, int dst,
	    uint32_t n);
void	nat_set_port(struct pkt_view *v, const struct mq_desc *d, int dst,
	    uint16_t hn);
void	nat_dec_ttl(struct pkt_view *v);
void	nat_set_macs(struct pkt_view *v, const uint8_t src[6],
	    const uint8_t dst[6]);
int	nat_offload_ok(const struct mq_desc *d, const struct pkt_view *v);
void	nat_quote_set_addr(struct pkt_view *in, size_t qlen, int dst,
	    uint32_t n);
void	nat_quote_set_port(struct pkt_view *in, size_t qlen, int dst,
	    uint16_t hn);
void	nat_icmp_resum(struct pkt_view *v);
int	nat_icmp_is_error(uint8_t type);
enum nat_reason nat_quote_parse(const struct mq_desc *d,
	    const struct pkt_view *v, struct pkt_view *in, size_t *qlen);

/* nat_answer.c */
const uint8_t *nat_client_mac(const struct nat_engine *e, uint16_t port);
void	nat_send_icmp_error(struct nat_engine *e, const struct mq_desc *d,
	    const struct pkt_view *v, uint8_t type, uint8_t code,
	    uint32_t rest_be);
void	nat_send_rst(struct nat_engine *e, uint16_t port, const uint8_t dmac[6],
	    uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
	    uint32_t seq);
void	nat_rst_send(struct nat_engine *e, struct mq_desc *o, uint8_t *buf,
	    size_t len, uint16_t port, struct tcp_hdr *th, uint16_t sport,
	    uint16_t dport, uint32_t seq);
void	nat_client_arp(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
void	nat_echo_reply(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
void	nat_blocked(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
	    const struct ft_entry *f);
void	nat_uplink_arp(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
void	nat_send_gw_arp(struct nat_engine *e);
void	nat_client_arp_probe(struct nat_engine *e, uint16_t port);

/* nat_frag.c */
void	nat_frag_first_done(struct nat_engine *e, const struct pkt_view *v,
	    uint32_t src, uint32_t dst, int dir, uint32_t idx, uint16_t port);
void	nat_client_frag(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
void	nat_uplink_frag(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);

/* nat_flow.c */
int	nat_flow_expired(const struct nat_engine *e, const struct ft_entry *f);
void	nat_flow_remove(struct nat_engine *e, uint32_t idx, enum nat_reason r);
uint32_t nat_flow_live(struct nat_engine *e, uint32_t idx);
/* The reply-side ports of the packet an uplink ICMP error quotes (natd sent
 * it: its source port or echo id is ours), for IPv4 and IPv6 alike; only a
 * quoted echo request (echo_proto/echo_type) or TCP/UDP can name a flow.
 * NAT_R_MAX when it does, else the reason to drop the error. */
enum nat_reason nat_quote_ports(const struct pkt_view *in, uint8_t echo_proto,
	    uint8_t echo_type, uint16_t *rport, uint16_t *lport);
int	nat_hold_push(struct nat_engine *e, uint32_t idx,
	    const struct mq_desc *d);
int	nat_send_flowreq(struct nat_engine *e, uint32_t idx,
	    const struct pkt_view *v, uint8_t flags);
void	nat_flow_forward_out(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v, uint32_t idx);
void	nat_flow_forward_in(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v, uint32_t idx);
void	nat_new_flow(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v, uint16_t sport, uint16_t dport);

/* nat_client.c */
void	nat_client_input(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);

/* nat_forward.c */
int	nat_fwd_inbound(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
int	nat_fwd_inbound6(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
int	nat_fwd_allowed(const struct nat_engine *e, const struct ft_entry *f);

/* nat_verdict.c */
void	nat_cut_flow(struct nat_engine *e, uint32_t idx);

/* nat_uplink.c */
void	nat_uplink_input(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);

/* nat_ip6.c: IPv6 forwarding, NAT66, its flows and ICMPv6 errors */
int	nat_ip6_on(const struct nat_engine *e, uint16_t port);
int	nat_ip6_gate(struct nat_engine *e, const struct mq_desc *d,
	    const uint8_t *f);
void	nat_client_ip6(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
void	nat_uplink_ip6(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
void	nat_forward_out6(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v, uint32_t idx);
void	nat_forward_in6(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v, uint32_t idx);
void	nat_flowreq6(struct nat_engine *e, uint32_t idx,
	    const struct pkt_view *v, struct flow_req *r);
void	nat_reject6(struct nat_engine *e, const struct mq_desc *d,
	    const struct pkt_view *v);
void	nat_cut6(struct nat_engine *e, uint32_t idx);
int	nat_keep6(struct nat_engine *e, const struct ft_entry *f);
void	nat_send_icmp6_error(struct nat_engine *e, const struct mq_desc *d,
	    const struct pkt_view *v, uint8_t type, uint8_t code,
	    uint32_t rest_be);
uint16_t nat_port_of_ip6(const struct nat_engine *e, const uint8_t a[16]);

/* nat_nd.c: neighbour discovery on both sides */
void	nat_client_nd(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
void	nat_uplink_nd(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
int	nat_is_nd(const struct pkt_view *v);
void	nat_ip6_tick(struct nat_engine *e);

/* nat_flow.c, for the IPv6 flows */
uint32_t nat_flow_take(struct nat_engine *e, struct mq_desc *d,
	    struct pkt_view *v);
void	nat_flow_track(struct nat_engine *e, uint32_t idx,
	    const struct pkt_view *v, int dir, uint32_t len);
int	nat_alloc_nsport(struct nat_engine *e, uint8_t proto, uint32_t rdst,
	    const uint8_t *dst6, uint16_t dport, uint16_t want, uint16_t *out);

#endif
