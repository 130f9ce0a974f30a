/*
 * pkt.h: bounded parsing and building of the frames moat forwards.
 *
 * Every frame comes from a VM we do not trust. pkt_parse() checks every
 * length against every other (Ethernet frame vs IP total length vs header
 * lengths) before anything is read, and fills a pkt_view of offsets into
 * the frame. Code outside common/pkt*.c reads headers only
 * through the offsets a successful parse produced; no other file does
 * pointer arithmetic on raw frame bytes it has not had validated here.
 * The offload family (pkt_gso_check, pkt_csum_*; pkt_offload.c) is for
 * frames a peer may rewrite while they are read: it parses a private copy
 * of the headers taken in one read, never the frame twice.
 *
 * All multi-byte header fields are in network byte order in the wire
 * structs; the parsed values in pkt_view are in host order unless a name
 * says _be.
 */
#ifndef MOAT_PKT_H
#define MOAT_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <assert.h>

#define ETH_ALEN_	6
#define ETH_HLEN_	14
#define ETHERTYPE_IPV4	0x0800
#define ETHERTYPE_ARP	0x0806
#define ETHERTYPE_IPV6	0x86dd
#define ETHERTYPE_VLAN	0x8100

#define IPPROTO_ICMP_	1
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define IPPROTO_ICMPV6_	58

#define TCP_FIN	0x01
#define TCP_SYN	0x02
#define TCP_RST	0x04
#define TCP_PSH	0x08
#define TCP_ACK	0x10

#define ICMP_ECHOREPLY		0
#define ICMP_DEST_UNREACH	3
#define ICMP_ECHO		8
#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMPROB		12
/* Codes of ICMP_DEST_UNREACH */
#define ICMP_PORT_UNREACH	3
#define ICMP_FRAG_NEEDED	4
#define ICMP_ADMIN_PROHIBITED	13
/* RFC 1812 4.3.2.3: an ICMP error is at most 576 bytes of IP. */
#define ICMP_ERR_MAX_IP		576

#define ARPOP_REQUEST_	1
#define ARPOP_REPLY_	2

/* Wire layouts. Packed so their sizes are the protocol's. */
struct eth_hdr {
	uint8_t		dst[ETH_ALEN_];
	uint8_t		src[ETH_ALEN_];
	uint16_t	type_be;
} __attribute__((packed));
static_assert(sizeof(struct eth_hdr) == 14, "Ethernet header is 14 bytes");

/* ARP for IPv4 over Ethernet: the only kind moat answers. */
#define ARP_HTYPE_ETHER	1
struct arp_ipv4 {
	uint16_t	htype_be;	/* 1 = Ethernet */
	uint16_t	ptype_be;	/* 0x0800 */
	uint8_t		hlen;		/* 6 */
	uint8_t		plen;		/* 4 */
	uint16_t	op_be;
	uint8_t		sha[ETH_ALEN_];
	uint32_t	spa_be;
	uint8_t		tha[ETH_ALEN_];
	uint32_t	tpa_be;
} __attribute__((packed));
static_assert(sizeof(struct arp_ipv4) == 28, "ARP/IPv4 is 28 bytes");

struct ipv4_hdr {
	uint8_t		ver_ihl;
	uint8_t		tos;
	uint16_t	tot_len_be;
	uint16_t	id_be;
	uint16_t	frag_be;	/* flags (3 bits) + fragment offset (13) */
	uint8_t		ttl;
	uint8_t		proto;
	uint16_t	csum;		/* kept in wire order: checksums are byte-order neutral */
	uint32_t	saddr_be;
	uint32_t	daddr_be;
} __attribute__((packed));
static_assert(sizeof(struct ipv4_hdr) == 20, "IPv4 header without options is 20 bytes");
#define IPV4_DF		0x4000
#define IPV4_MF		0x2000
#define IPV4_OFFMASK	0x1fff

struct ipv6_hdr {
	uint32_t	vtc_flow_be;
	uint16_t	payload_len_be;
	uint8_t		next;
	uint8_t		hop_limit;
	uint8_t		saddr[16];
	uint8_t		daddr[16];
} __attribute__((packed));
static_assert(sizeof(struct ipv6_hdr) == 40, "IPv6 fixed header is 40 bytes");

struct tcp_hdr {
	uint16_t	sport_be;
	uint16_t	dport_be;
	uint32_t	seq_be;
	uint32_t	ack_be;
	uint8_t		doff_rsv;	/* data offset in the high nibble */
	uint8_t		flags;
	uint16_t	win_be;
	uint16_t	csum;
	uint16_t	urg_be;
} __attribute__((packed));
static_assert(sizeof(struct tcp_hdr) == 20, "TCP header without options is 20 bytes");

struct udp_hdr {
	uint16_t	sport_be;
	uint16_t	dport_be;
	uint16_t	len_be;
	uint16_t	csum;
} __attribute__((packed));
static_assert(sizeof(struct udp_hdr) == 8, "UDP header is 8 bytes");

/* ICMP and ICMPv6 share the first 8 bytes' shape. */
struct icmp_hdr {
	uint8_t		type;
	uint8_t		code;
	uint16_t	csum;
	union {
		struct { uint16_t id_be, seq_be; } echo;
		struct { uint16_t unused_be, mtu_be; } frag;
		uint32_t	rest_be;
	} u;
} __attribute__((packed));
static_assert(sizeof(struct icmp_hdr) == 8, "ICMP header is 8 bytes");

/* Why a parse failed; also used as drop-reason detail. 0 is success. */
enum pkt_err {
	PKT_OK = 0,
	PKT_E_SHORT_ETH = -1,	/* frame shorter than an Ethernet header */
	PKT_E_SHORT_L3 = -2,	/* frame shorter than the L3 header it announces */
	PKT_E_BAD_VERSION = -3,	/* IP version field does not match the ethertype */
	PKT_E_BAD_IHL = -4,	/* IPv4 header length < 20 or past the frame */
	PKT_E_BAD_TOTLEN = -5,	/* IP total length < header length or past the frame */
	PKT_E_SHORT_L4 = -6,	/* L4 header cut short or past the IP payload */
	PKT_E_BAD_L4LEN = -7,	/* TCP data offset / UDP length inconsistent */
	PKT_E_BAD_ARP = -8,	/* ARP that is not IPv4-over-Ethernet */
	PKT_E_BAD_FRAG = -9,	/* fragment offset + length past 65535 */
	PKT_E_UNSUPPORTED = -10,	/* ethertype moat does not forward (VLAN, ...) */
	PKT_E_IP6_EXT = -11,	/* IPv6 extension headers truncated, too many (> 5),
				 * misplaced (hop-by-hop not first) or a
				 * second fragment header */
	PKT_E_IP6_RH = -12,	/* IPv6 routing header with segments left:
				 * source routing, refused as IPv4's is */
};

/* IPv6 next-header values moat walks (RFC 8200 4). */
#define IP6_NH_HOPOPTS	0
#define IP6_NH_ROUTING	43
#define IP6_NH_FRAGMENT	44
#define IP6_NH_NONE	59
#define IP6_NH_DSTOPTS	60
/* Extension headers walked, at most IP6_EXT_MAX - 1 of them: RFC 8200
 * allows each at most once (destination options twice), which makes five
 * of the kinds moat walks; a longer chain is an attack on whoever walks
 * it. */
#define IP6_EXT_MAX	6

#define ICMP6_DST_UNREACH	1
#define ICMP6_PACKET_TOO_BIG	2
#define ICMP6_TIME_EXCEEDED	3
#define ICMP6_PARAM_PROB	4
#define ICMP6_ECHO_REQUEST	128
#define ICMP6_ECHO_REPLY	129
#define ND_ROUTER_SOLICIT	133
#define ND_ROUTER_ADVERT	134
#define ND_NEIGHBOR_SOLICIT	135
#define ND_NEIGHBOR_ADVERT	136
#define ND_REDIRECT		137
/* Codes of ICMP6_DST_UNREACH */
#define ICMP6_DST_ADMIN		1
#define ICMP6_DST_ADDR		3
#define ICMP6_DST_PORT		4
#define IP6_MIN_MTU		1280

enum pkt_l3 { PKT_L3_NONE = 0, PKT_L3_ARP, PKT_L3_IPV4, PKT_L3_IPV6 };

/*
 * The result of a successful parse: offsets into the frame, lengths that
 * have all been checked against each other, and the fields natd decides on.
 * Trailing Ethernet padding (frame longer than the IP total length) is
 * allowed and ignored: ip_end marks where the IP packet stops.
 */
struct pkt_view {
	uint8_t		*frame;
	size_t		 len;		/* whole frame */
	uint16_t	 ethertype;
	enum pkt_l3	 l3;
	size_t		 l3_off;	/* 14 */
	size_t		 l3_hlen;	/* IPv4: ihl*4 (20..60); IPv6: 40; ARP: 28 */
	size_t		 ip_end;	/* l3_off + IP total length, <= len */
	uint8_t		 proto;		/* IPv4 protocol or IPv6 next header */
	uint8_t		 ttl;		/* IPv4 TTL or IPv6 hop limit */
	/* IPv4 fragmentation (all zero for IPv6 and unfragmented IPv4). */
	uint8_t		 is_frag;	/* MF set or offset non-zero */
	uint8_t		 frag_first;	/* offset zero: carries the L4 header */
	uint16_t	 frag_id;
	uint32_t	 frag_off;	/* in bytes */
	uint8_t		 frag_more;
	/* Transport. has_l4 is 0 for non-first fragments and protocols other
	 * than TCP, UDP, ICMP and ICMPv6. */
	uint8_t		 has_l4;
	size_t		 l4_off;
	size_t		 l4_hlen;	/* TCP: doff*4; UDP: 8; ICMP: 8 */
	uint16_t	 sport, dport;	/* TCP/UDP ports, host order */
	uint8_t		 tcp_flags;
	uint8_t		 icmp_type, icmp_code;
	uint16_t	 icmp_id;	/* echo request/reply identifier, host order */
	/* IPv6 only: the fragment header's offset in the frame (0: none; an
	 * atomic fragment, offset 0 without M, has one but is_frag 0), its
	 * 32-bit identification, and how many extension headers preceded
	 * the transport header. frag_off, frag_more, frag_first and is_frag
	 * above mean the same as for IPv4. */
	size_t		 ip6_fh_off;
	uint32_t	 frag_id6;
	uint8_t		 ip6_next_ext;
};

/*
 * Parse a whole Ethernet frame. Returns PKT_OK and fills *v, or a negative
 * enum pkt_err and leaves *v unspecified. A first fragment too short to
 * hold its L4 header fails with PKT_E_SHORT_L4.
 */
int	pkt_parse(struct pkt_view *v, uint8_t *frame, size_t len);

/*
 * Parse the IPv4 packet quoted inside an ICMP error (RFC 792: the IP header
 * plus at least 8 bytes). Quoted packets are truncated by design, so the
 * total length is not checked against the bytes present, but the header
 * length and the 8 transport bytes are. On success *inner describes the
 * quoted packet with frame pointing at the quoted IP header, l3_off = 0,
 * and ports/ids filled from the first 8 transport bytes. l4_hlen is 8
 * (all a quote guarantees) and ip_end is the lesser of the claimed total
 * length and len, so offsets below ip_end are always readable.
 */
int	pkt_parse_icmp_quote(struct pkt_view *inner, uint8_t *p, size_t len);

/*
 * The IPv6 packet quoted inside an ICMPv6 error (RFC 4443 2.4(c): as much
 * as fits in the minimum MTU, so truncated). Like pkt_parse_icmp_quote:
 * frame points at the quoted IPv6 header, l3_off = 0, ip_end the lesser
 * of the claimed and the present length; extension headers are walked
 * (within those bytes) and 8 transport bytes are required for TCP, UDP
 * and ICMPv6, whose ports or echo id fill the view.
 */
int	pkt_parse_icmp6_quote(struct pkt_view *inner, uint8_t *p, size_t len);

/*
 * Walk the options of the IPv4 header at ip (hlen bytes, as a successful
 * parse checked: 20..60 and present). Returns 1 when they ask for source
 * routing (LSRR or SSRR), 0 when they do not, -1 when the option list is
 * malformed (a length that is missing, below 2 or past the header): Linux
 * refuses such a header, and past a bad length nobody can say whether a
 * source route follows.
 */
#define IPOPT_LSRR_	0x83
#define IPOPT_SSRR_	0x89
int	pkt_ip4_srcroute(const uint8_t *ip, size_t hlen);

/* Typed pointers at offsets a successful parse produced. */
static inline struct eth_hdr *pkt_eth(const struct pkt_view *v) { return (struct eth_hdr *)v->frame; }
static inline struct arp_ipv4 *pkt_arp(const struct pkt_view *v) { return (struct arp_ipv4 *)(v->frame + v->l3_off); }
static inline struct ipv4_hdr *pkt_ip4(const struct pkt_view *v) { return (struct ipv4_hdr *)(v->frame + v->l3_off); }
static inline struct ipv6_hdr *pkt_ip6(const struct pkt_view *v) { return (struct ipv6_hdr *)(v->frame + v->l3_off); }
static inline struct tcp_hdr *pkt_tcp(const struct pkt_view *v) { return (struct tcp_hdr *)(v->frame + v->l4_off); }
static inline struct udp_hdr *pkt_udp(const struct pkt_view *v) { return (struct udp_hdr *)(v->frame + v->l4_off); }
static inline struct icmp_hdr *pkt_icmp(const struct pkt_view *v) { return (struct icmp_hdr *)(v->frame + v->l4_off); }
/* Bytes after the L4 header up to the end of the IP packet. */
static inline size_t pkt_l4_payload_len(const struct pkt_view *v) { return v->ip_end - v->l4_off - v->l4_hlen; }

/*
 * Checksums. csum_add() accumulates RFC 1071 one's-complement sums over a
 * byte range (any length, any alignment); csum_fold() folds and complements
 * to the 16-bit field value. Results are in network byte order as stored in
 * the header, so no byte swapping is needed around them.
 */
uint32_t csum_add(uint32_t sum, const void *data, size_t len);
uint16_t csum_fold(uint32_t sum);
uint16_t ip_checksum(const void *data, size_t len);	/* fold(add(0, data)) */
/* Pseudo-header sums (RFC 793/768/2460) for a transport of length l4len. */
uint32_t csum_pseudo4(uint32_t saddr_be, uint32_t daddr_be, uint8_t proto, uint32_t l4len);
uint32_t csum_pseudo6(const uint8_t saddr[16], const uint8_t daddr[16], uint8_t proto, uint32_t l4len);
/*
 * RFC 1624 eqn. 3 incremental update: a field covered by checksum *csum
 * changed from old to new (both as stored, network order). The 32-bit
 * variant covers IPv4 addresses. For a "partial" checksum (the
 * pseudo-header sum a CHECKSUM_PARTIAL frame carries uncomplemented), use
 * the _partial variants, which update the sum without complementing.
 * Eqn. 3 gives 0x0000 where a full computation gives 0xffff only when all
 * the covered data is zero; that cannot happen under a pseudo-header or
 * in an IPv4 header, and pkt_nat_port handles the ICMPv4 case.
 */
void	csum_update16(uint16_t *csum, uint16_t old_be, uint16_t new_be);
void	csum_update32(uint16_t *csum, uint32_t old_be, uint32_t new_be);
void	csum_update16_partial(uint16_t *csum, uint16_t old_be, uint16_t new_be);
void	csum_update32_partial(uint16_t *csum, uint32_t old_be, uint32_t new_be);
/*
 * The same updates on a checksum field inside a frame, partial or not.
 * The field may be unaligned, and gcc refuses (-Waddress-of-packed-member)
 * to turn &pkt_tcp(v)->csum into a uint16_t *; a void * is fine.
 */
void	csum_update16_at(void *field, uint16_t old_be, uint16_t new_be, int partial);
void	csum_update32_at(void *field, uint32_t old_be, uint32_t new_be, int partial);
/* Verify / compute a full L4 checksum of a parsed IPv4 or IPv6 packet
 * (non-fragmented only). pkt_l4_csum_ok returns 1 when it verifies. */
int	pkt_l4_csum_ok(const struct pkt_view *v);
void	pkt_l4_csum_set(struct pkt_view *v);
void	pkt_ip4_csum_set(struct pkt_view *v);
/* 1 when the IPv4 header checksum (options included) verifies. pkt_parse
 * does not check it: a router must, so natd calls this. */
int	pkt_ip4_csum_ok(const struct pkt_view *v);

/*
 * Checksum and segmentation offload, for frames in memory a peer shares
 * read-write (the packet pool): these take the frame itself, not a view,
 * because a view's offsets would be read from the frame once and trusted
 * after. Each copies the headers it checks into private memory in one
 * read and checks and uses only that copy (XSA-155's double fetch), so a
 * peer rewriting them meanwhile cannot push a read past len.
 *
 * pkt_gso_check: a TCP super-frame (GSO), whichever side it comes from.
 * v6 says which family the sender claimed; mtu is the link's. Returns 0
 * with g filled, or -1 with *why: the frame is not TCP of that family
 * with whole headers, is not one IP datagram covering exactly the frame,
 * is over 64 KiB, or its segments (headers + gso_size) would not fit the
 * MTU or carry less than TCP's minimum MSS. g->segs is how many segments
 * the payload makes; 0 or 1 means it is no super-frame and the caller may
 * send it as a plain one.
 */
#define PKT_GSO_MIN_MSS	48u	/* Linux's tcp_min_snd_mss default */
#define PKT_GSO_MAX_LEN	0xffffu	/* netif's and virtio's largest frame */
struct pkt_gso {
	uint16_t	csum_start;	/* the TCP header, from the frame start */
	uint16_t	csum_off;	/* the checksum field in it (16) */
	uint16_t	hdr_len;	/* Ethernet + IP + TCP headers */
	uint32_t	payload;	/* TCP payload bytes */
	uint32_t	segs;
};
int	pkt_gso_check(const uint8_t *f, size_t len, int v6, uint16_t gso_size,
	    unsigned mtu, struct pkt_gso *g, const char **why);
/*
 * Software segmentation (pkt_gso.c), for an egress that takes no
 * super-frames. pkt_gso_cut_init copies the super-frame's headers once
 * and checks them as pkt_gso_check does (0, or -1 with *why); then
 * pkt_gso_cut writes segment i (0 <= i < c->g.segs) of f into out, with
 * its own IP length, IPv4 id, TCP sequence number and flags, and both
 * checksums complete, and returns its length, or 0 when i is out of
 * range or out is smaller than pkt_gso_cut_len(c, i). f must be the
 * frame c was made from (the same len); its headers are not read again.
 */
#define PKT_GSO_HDR_MAX	(14 + 60 + 60)
struct pkt_gso_cut {
	uint8_t		hdr[PKT_GSO_HDR_MAX];
	struct pkt_gso	g;
	uint32_t	len;
	uint16_t	mss;
	int		v6;
};
int	pkt_gso_cut_init(struct pkt_gso_cut *c, const uint8_t *f, size_t len, int v6,
	    uint16_t gso_size, unsigned mtu, const char **why);
size_t	pkt_gso_cut_len(const struct pkt_gso_cut *c, unsigned i);
size_t	pkt_gso_cut(const struct pkt_gso_cut *c, unsigned i, const uint8_t *f,
	    uint8_t *out, size_t cap);
/*
 * Finish the L4 checksum of a frame whose checksum field holds only the
 * pseudo-header sum (CHECKSUM_PARTIAL, netif's csum_blank): IPv4 or IPv6
 * without extension headers, TCP or UDP, not fragmented. Returns 0, or
 * -1 when the headers do not allow it (the caller drops the frame).
 * pkt_csum_locate gives the offsets MQ_F_NEEDS_CSUM would carry.
 */
int	pkt_csum_locate(const uint8_t *f, size_t len, uint16_t *csum_start,
	    uint16_t *csum_off);
int	pkt_csum_complete(uint8_t *f, size_t len);

/*
 * NAT rewrites of a parsed packet that keep every checksum right; they
 * return 0, or -1 (changing nothing) when the packet has no such field.
 * pkt_nat_addr4 sets the IPv4 source (dst = 0) or destination (dst = 1)
 * and updates the IPv4 header checksum and, for TCP and UDP with their
 * header present (unfragmented or first fragment, whose checksum covers
 * the whole datagram), the transport checksum. pkt_nat_port sets a TCP or
 * UDP port, or the ICMP/ICMPv6 echo identifier (dst ignored), in host
 * order, and keeps the view's sport/dport/icmp_id in step. With partial
 * set the transport field is a CHECKSUM_PARTIAL pseudo-header sum: address
 * changes fold into it uncomplemented and port changes leave it alone.
 * A UDP checksum of 0 ("none") stays 0; a computed 0 is stored as 0xffff.
 */
int	pkt_nat_addr4(struct pkt_view *v, int dst, uint32_t new_be, int partial);
/* The same for an IPv6 address: TCP's, UDP's and ICMPv6's checksums all
 * cover it through the pseudo-header. */
int	pkt_nat_addr6(struct pkt_view *v, int dst, const uint8_t new[16],
	    int partial);
int	pkt_nat_port(struct pkt_view *v, int dst, uint16_t port, int partial);

/*
 * Builders write a complete Ethernet frame into buf (capacity cap) and
 * return its length, or 0 if it does not fit. Addresses are in network
 * order.
 */
size_t	pkt_build_arp(uint8_t *buf, size_t cap, uint16_t op,
	    const uint8_t src_mac[6], uint32_t sip_be,
	    const uint8_t dst_mac[6], const uint8_t tha[6], uint32_t tip_be);
/*
 * An ICMPv4 error (type/code, with rest_be as the 4 bytes after the
 * checksum, e.g. the MTU for frag-needed) about the IPv4 packet in orig,
 * quoting its IP header and up to quote_max bytes of it (RFC 1812 allows
 * up to 576 bytes of whole error packet; 8 transport bytes is the minimum).
 * The error goes from src_be to the original's source, TTL 64.
 * Returns 0, building nothing, for what RFC 1812 4.3.2.7 forbids an error
 * about: an ICMP error, a non-first fragment, a source that is 0,
 * broadcast, multicast or loopback. buf may be orig's frame.
 */
size_t	pkt_build_icmp4_error(uint8_t *buf, size_t cap,
	    const uint8_t src_mac[6], const uint8_t dst_mac[6], uint32_t src_be,
	    uint8_t type, uint8_t code, uint32_t rest_be,
	    const struct pkt_view *orig, size_t quote_max);
/* A TCP RST answering the TCP segment in orig (RFC 793 reset generation:
 * seq = orig ack if ACK set, else ack = seq + seg len), sent as if from the
 * original's destination. Returns 0 for a RST (never answered), a
 * fragment, or a source an error may not go to. buf may be orig's frame. */
size_t	pkt_build_tcp_rst4(uint8_t *buf, size_t cap,
	    const uint8_t src_mac[6], const uint8_t dst_mac[6],
	    const struct pkt_view *orig);
/* The quote of an ICMP/ICMPv6 error: want bytes, at most room, at most
 * orig's IP packet. */
size_t	pkt_err_quote_len(const struct pkt_view *orig, size_t want, size_t room);
/* Its TCP header, checksum 0, for either family (pkt_build_tcp_rst6). */
void	pkt_tcp_rst_hdr(const struct pkt_view *orig, struct tcp_hdr *t);

/*
 * IPv6 (pkt6.c). pkt_build_icmp6_error: an ICMPv6 error about the IPv6
 * packet in orig, quoting up to quote_max bytes of it (the whole error at
 * most 1280 bytes, RFC 4443 2.4(c)), from src to orig's source, hop limit
 * 64; 0 for what RFC 4443 2.4(e) forbids (an error about an error, a source
 * that is unspecified, multicast or loopback, a multicast destination
 * unless it is packet-too-big). pkt_build_tcp_rst6 as pkt_build_tcp_rst4.
 * buf may be orig's frame for both.
 */
size_t	pkt_build_icmp6_error(uint8_t *buf, size_t cap,
	    const uint8_t src_mac[6], const uint8_t dst_mac[6],
	    const uint8_t src[16], uint8_t type, uint8_t code, uint32_t rest_be,
	    const struct pkt_view *orig, size_t quote_max);
size_t	pkt_build_tcp_rst6(uint8_t *buf, size_t cap, const uint8_t src_mac[6],
	    const uint8_t dst_mac[6], const struct pkt_view *orig);
/* ICMPv6 error message (type < 128) with its header present. */
int	pkt_icmp6_is_error(const struct pkt_view *v);
/* Neighbour advertisement for target (ours, at smac) to dst/dmac,
 * solicited, override, router flag as asked; neighbour solicitation for
 * target from src to its solicited-node multicast address. */
size_t	pkt_build_nd_na(uint8_t *buf, size_t cap, const uint8_t smac[6],
	    const uint8_t dmac[6], const uint8_t dst[16],
	    const uint8_t target[16], int router);
size_t	pkt_build_nd_ns(uint8_t *buf, size_t cap, const uint8_t smac[6],
	    const uint8_t src[16], const uint8_t target[16]);
/* A neighbour solicitation or advertisement as RFC 4861 7.1 validates
 * it (hop limit 255, code 0, checksum, option lengths): 0 and *nd
 * filled, or -1. */
struct pkt_nd {
	uint8_t		type;		/* ND_NEIGHBOR_SOLICIT or _ADVERT */
	uint8_t		flags;		/* NA: R 0x80, S 0x40, O 0x20 */
	uint8_t		has_lladdr;
	uint8_t		lladdr[6];	/* source (NS) or target (NA) option */
	uint8_t		target[16];
};
int	pkt_nd_parse(const struct pkt_view *v, struct pkt_nd *nd);
/* Address classes, the modified-EUI-64 link-local address of a MAC, the
 * solicited-node multicast address of target and its Ethernet address. */
int	ip6_eq(const uint8_t a[16], const uint8_t b[16]);
int	ip6_is_zero(const uint8_t a[16]);
int	ip6_is_multicast(const uint8_t a[16]);
int	ip6_is_linklocal(const uint8_t a[16]);
int	ip6_is_loopback(const uint8_t a[16]);
int	ip6_is_martian(const uint8_t a[16]);
void	ip6_linklocal(uint8_t out[16], const uint8_t mac[6]);
void	ip6_solicited_node(uint8_t out[16], uint8_t mac[6],
	    const uint8_t target[16]);
const char *ip6_str(const uint8_t a[16], char buf[46]);

/* Formatting helpers for logs. buf must hold 16 / 18 bytes. */
const char *ip4_str(uint32_t addr_be, char buf[16]);
const char *mac_str(const uint8_t mac[6], char buf[18]);
int	ip4_parse(const char *s, uint32_t *addr_be);	/* strict dotted quad, 0 on success */

#endif
