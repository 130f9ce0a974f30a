/*
 * nat.h: natd's engine. No I/O: it takes frame descriptors and a buffer
 * pool, and hands frames, flow requests and DNS answers to the callbacks
 * in struct nat_io. natd.c wires those to the rings and the control
 * channel; the unit tests wire them to arrays.
 *
 * Time comes in as an argument (CLOCK_MONOTONIC milliseconds) so tests
 * run a fake clock. Nothing on the packet path allocates: every table is
 * sized in nat_new().
 */
#ifndef MOAT_NATD_NAT_H
#define MOAT_NATD_NAT_H

#include <stddef.h>
#include <stdint.h>

#include "flowreq.h"
#include "msg.h"
#include "pkt.h"
#include "ring.h"
#include "flowtab.h"

/*
 * Drop reasons: counted per link, named in moat.Stats, logged.
 *   malformed      frame failed parsing, or its offload fields disagree with it
 *   ethertype      not IPv4, IPv6 or ARP (VLAN, ...)
 *   ipv6           IPv6 is not forwarded yet
 *   arp            ARP natd does not answer (for the client's own address,
 *                  replies, requests on the uplink for other addresses)
 *   arp_spoof      client ARP claiming an address that is not the client's
 *   spoofed        client frame whose source is not the client's address, or
 *                  uplink frame whose source is a client's address
 *   mac            unicast frame not addressed to natd's MAC on that link
 *   martian        broadcast, multicast, loopback or zero destination
 *   local          addressed to natd itself (other than ping of the gateway)
 *   not_ours       uplink frame not addressed to /qubes-ip
 *   ttl            TTL expired (natd answered with ICMP time exceeded)
 *   no_flow        no connection for an inbound packet or ICMP error
 *   proto          protocol or ICMP type natd does not translate
 *   policy_drop    policyd's verdict (or cached verdict) is drop
 *   policy_reject  policyd's verdict is reject (natd answered RST/ICMP 13)
 *   policy_timeout policyd did not answer in time
 *   cut            flow removed after a rule change; packet still in flight
 *   quota          the client was at its quota of flows: its new flow
 *                  displaced one of its own older flows (see the eviction
 *                  order in nat_flow.c) or, none being evictable, was
 *                  dropped; counted in both cases
 *   table_full     the table was full: a flow of the client holding the
 *                  most was evicted, or none could be and the frame was
 *                  dropped; counted in both cases
 *   pending_full   too many flows/packets waiting for verdicts
 *   policyd_busy   the flow-request ring was full
 *   ports          no free translated port
 *   no_gateway     uplink down or the gateway's MAC is not known yet
 *   link_down      destination link down or unknown
 *   mtu            too big for the next link (DF set: natd sent frag-needed)
 *   frag           fragment whose first fragment never came, or that found
 *                  its port's share of held fragments full
 *   no_dns         virtual DNS address with no real resolver configured
 *   no_netconf     addresses not configured yet
 *   no_buffer      natd's reserve was empty when it had to answer
 *   icmp_mismatch  ICMP error not addressed to the host it quotes: from a
 *                  client, the outer destination is not the quoted packet's
 *                  source (the flow's peer as the client saw it), so it
 *                  would carry the client's bytes to a host of its choosing
 *   bad_checksum   ICMP error whose checksum does not verify: natd re-sums
 *                  it after translating the quote, which would launder it
 *   srcroute       IPv4 source routing (LSRR/SSRR), in the header or in the
 *                  header an ICMP error quotes; Linux drops it by default;
 *                  an IPv6 routing header with segments left, the same
 *   ipv6           (above) also: IPv6 on a link without IPv6 configuration
 *                  (no /qubes-ip6 and gateway, no /qubes-netvm-gateway6 or
 *                  no IPv6 address for that client): every such frame
 *   nd             neighbour or router discovery natd neither answers nor
 *                  believes: router solicitations and advertisements,
 *                  redirects, advertisements from clients, duplicate
 *                  address probes, solicitations for a client's own
 *                  address, multicast listener reports
 *   ip6_ext        IPv6 extension headers natd will not walk: truncated,
 *                  more than five, hop-by-hop not first, two
 *                  fragment headers
 *   rate           over the client's rate limit (MSG_LIMITS, nat_rate.c);
 *                  counted on the limited client's port, whichever way
 *                  the frame went
 */
enum nat_reason {
	NAT_R_MALFORMED = 0,
	NAT_R_ETHERTYPE,
	NAT_R_IPV6,
	NAT_R_ARP,
	NAT_R_ARP_SPOOF,
	NAT_R_SPOOFED,
	NAT_R_MAC,
	NAT_R_MARTIAN,
	NAT_R_LOCAL,
	NAT_R_NOT_OURS,
	NAT_R_TTL,
	NAT_R_NO_FLOW,
	NAT_R_PROTO,
	NAT_R_POLICY_DROP,
	NAT_R_POLICY_REJECT,
	NAT_R_POLICY_TIMEOUT,
	NAT_R_CUT,
	NAT_R_QUOTA,
	NAT_R_TABLE_FULL,
	NAT_R_PENDING_FULL,
	NAT_R_POLICYD_BUSY,
	NAT_R_PORTS,
	NAT_R_NO_GATEWAY,
	NAT_R_LINK_DOWN,
	NAT_R_MTU,
	NAT_R_FRAG,
	NAT_R_NO_DNS,
	NAT_R_NO_NETCONF,
	NAT_R_NO_BUFFER,
	NAT_R_ICMP_MISMATCH,
	NAT_R_BAD_CHECKSUM,
	NAT_R_SRCROUTE,
	NAT_R_ND,
	NAT_R_IP6_EXT,
	NAT_R_RATE,
	NAT_R_MAX
};
extern const char *const nat_reason_name[NAT_R_MAX];

/* Output interface. */
struct nat_io {
	void	*arg;
	/* A frame to netbackd: d->port is the link, or MQ_PORT_DROP to give
	 * the buffer back. The engine no longer owns d->buf afterwards. */
	void	(*tx)(void *arg, const struct mq_desc *d);
	/* A flow request to policyd: 0 queued, -1 ring full. */
	int	(*flowreq)(void *arg, const struct flow_req *r);
	/* The answer to a MSG_DNS_QUERY. */
	void	(*dns_answer)(void *arg, const struct msg_dns_answer *a);
	/* Free slots in the flow request ring (NULL: always room), so that
	 * a name learning goes whole or not at all (nat_dnslearn.c). */
	unsigned (*flowreq_room)(void *arg);
};

struct nat_config {
	uint32_t	nflows;
	uint32_t	client_quota;
	uint32_t	pending_max;	/* pending verdicts per client */
	uint32_t	to_tcp_syn, to_tcp_est, to_tcp_closing;	/* seconds */
	uint32_t	to_udp, to_udp_stream, to_icmp;
	uint32_t	own_first;	/* unused: netbackd owns every buffer */
	uint32_t	own_count;	/* size of natd's reserve, which netbackd
					 * fills with empty RX descriptors */
	uint32_t	hold_max;	/* frames held for verdicts, all clients */
	uint32_t	flows_view_max;	/* flows one moat.Flows answer lists */
	uint64_t	seed;		/* random: port choice, DNS ids */
	/* Hash key of the flow table and the fragment tables, from
	 * getrandom and never from seed: ports and DNS ids that clients see
	 * are outputs of the seeded stream, so a key drawn from that stream
	 * could be learned from them. Tests pass a fixed one. */
	uint64_t	secret;
};
void	nat_config_defaults(struct nat_config *c);

/* moat.Flows: flows one answer lists by default (--flows-view-max), and
 * the bytes it may take whatever the count: about 400 bytes a flow. */
#define NAT_FLOWS_VIEW_MAX	10000
#define NAT_FLOWS_VIEW_BYTES	(4 * 1024 * 1024)

/* Timeouts not exposed as options. */
#define NAT_TO_TCP_CLOSED	10	/* s after a RST, as Linux */
#define NAT_TO_PENDING_MS	5000	/* policyd must answer within this */
#define NAT_HOLD_PER_FLOW	64	/* frames held per pending flow (a 64 KiB
					 * UDP datagram is 45 fragments) */
/*
 * Fragment state is per port, so that one client's fragments can only ever
 * displace its own: each port has its own table of fragment id -> flow
 * mappings (sets of NAT_FRAG_WAYS, chosen by a keyed hash) and its own few
 * slots for fragments that overtook their first fragment. The uplink
 * carries every client's inbound fragments and gets more of both.
 */
#define NAT_FRAG_WAYS		8	/* mappings per hash set */
#define NAT_FRAG_CLIENT		32	/* mappings per client port */
#define NAT_FRAG_UPLINK		256	/* mappings for the uplink */
#define NAT_FRAG_TTL_MS		10000
#define NAT_FRAG_V6		4	/* in nat_frag.dir: an IPv6 fragment */
#define NAT_FRAGHOLD_CLIENT	4	/* out-of-order fragments held, per client */
#define NAT_FRAGHOLD_UPLINK	32	/* and for the uplink */
#define NAT_FRAG_HOLD_MS	1000
#define NAT_DNSQ_MAX		16
#define NAT_DNS_SECONDARY_MS	500	/* ask the secondary resolver after */
#define NAT_DNS_TIMEOUT_MS	1500
#define NAT_ARP_RETRY_MS	1000
#define NAT_ARP_REFRESH_MS	60000
#define NAT_PCAP_SLOTS		256
#define NAT_PCAP_SNAP		1600
#define NAT_CONNECTED_SLOTS	512	/* twice CLIENTS_MAX */
#define NAT_EVICT_SCAN		64	/* LRU entries looked at for an unreplied one */

struct nat_counters {
	uint64_t	rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t	drops[NAT_R_MAX];
};

struct nat_link {
	uint8_t		known, up, kind;
	uint8_t		mac[6];		/* ours on this link */
	uint8_t		peer_mac[6];	/* the client's (from netbackd, or learned) */
	uint8_t		peer_mac_known;
	uint32_t	ip;		/* the client's address; 0 for the uplink */
	uint32_t	mtu;
	char		name[32];
	uint32_t	npending;	/* pending flows */
	uint32_t	nheld;		/* frames held for them */
	struct nat_counters c;
	uint8_t		ip6[16];	/* the client's IPv6 address, or zero */
	uint64_t	arp_probe_ms;	/* when natd last asked for peer_mac (0 never) */
};

/*
 * A token bucket (nat_rate.c). Tokens are thousandths of a byte, so that
 * a refill of rate (bytes/s) times the milliseconds elapsed is exact in
 * integers: at 100 Gbit/s and the refill capped at a minute, 7.5e14,
 * far from int64's limit. A frame passes while tokens >= 0 and may take
 * them below zero (a 64 KiB super-frame through a 2 KiB burst), the
 * debt paid back before the next one passes: the rate holds on average.
 */
struct nat_bucket {
	uint64_t	rate;		/* bytes/s; 0: no limit */
	int64_t		burst;		/* in thousandths of a byte */
	int64_t		tokens;
	uint64_t	last_ms;
	uint64_t	drops, drop_bytes;
	uint16_t	rule;		/* the JSON rule of the limit */
};
#define NAT_RATE_UP	0	/* what the client sends */
#define NAT_RATE_DOWN	1	/* what it receives */
#define NAT_RATE_REFILL_MAX_MS	60000

struct nat_hold {
	struct mq_desc	d;
	uint32_t	next;
};

struct nat_frag {
	uint32_t	src, dst;	/* IPv6: the addresses' ft_tag6() */
	uint32_t	id;		/* IPv4's 16 bits or IPv6's 32 */
	uint8_t		proto;
	uint8_t		dir;		/* 1 out (client -> ...), 2 in (uplink -> client);
					 * | NAT_FRAG_V6 for IPv6 */
	uint32_t	flow;
	uint16_t	cport;		/* the flow's client when mapped: a flow
					 * entry reused by another client's flow
					 * (same remote) is not this one */
	uint64_t	expire_ms;
};

struct nat_fraghold {
	struct mq_desc	d;
	uint64_t	since_ms;
	uint8_t		used;
};

/* Where a port's share starts in e->frag / e->fraghold, and its size. */
static inline uint32_t
nat_frag_base(uint16_t port)
{
	return port == 0 ? 0 : NAT_FRAG_UPLINK + (uint32_t)(port - 1) * NAT_FRAG_CLIENT;
}
static inline uint32_t
nat_frag_size(uint16_t port)
{
	return port == 0 ? NAT_FRAG_UPLINK : NAT_FRAG_CLIENT;
}
static inline uint32_t
nat_fraghold_base(uint16_t port)
{
	return port == 0 ? 0 : NAT_FRAGHOLD_UPLINK + (uint32_t)(port - 1) * NAT_FRAGHOLD_CLIENT;
}
static inline uint32_t
nat_fraghold_size(uint16_t port)
{
	return port == 0 ? NAT_FRAGHOLD_UPLINK : NAT_FRAGHOLD_CLIENT;
}
#define NAT_FRAG_TOTAL		(NAT_FRAG_UPLINK + (MQ_PORT_MAX - 1) * NAT_FRAG_CLIENT)
#define NAT_FRAGHOLD_TOTAL	(NAT_FRAGHOLD_UPLINK + (MQ_PORT_MAX - 1) * NAT_FRAGHOLD_CLIENT)

struct nat_dnsq {
	uint8_t		used;
	uint8_t		tries;		/* resolvers asked so far */
	uint16_t	dnsid, sport, qtype;
	uint32_t	qid;
	uint32_t	server[2];	/* addresses asked (network order) */
	uint64_t	start_ms;
	char		name[DNS_NAME_MAX];
};

/* A client's query on a redirected DNS flow, awaiting its answer. */
#define NAT_DNSW_CLIENT		16	/* per client port */
#define NAT_DNSW_MS		10000	/* an answer later than this teaches nothing */
#define NAT_DNSLEARN_BYTES	4096	/* bigger answers teach nothing */
#define NAT_DNSLEARN_BURST	64	/* learnings a client may queue at once, */
#define NAT_DNSLEARN_RATE	64	/* and per second after that */
struct nat_dnsw {
	uint64_t	t_ms;		/* when asked; 0 free */
	uint64_t	qhash;		/* keyed hash of the question */
	uint32_t	rdst;		/* the resolver it went to */
	uint16_t	id;
	uint16_t	csport;		/* the client's source port */
};

/* A client's bucket of learnings (nat_dnslearn.c). */
struct nat_dnsrate {
	uint64_t	t_ms;		/* last refill; 0 never used */
	uint32_t	tokens;
};

struct nat_pcap_rec {
	uint64_t	ms;		/* monotonic */
	uint32_t	caplen, origlen;
	uint8_t		data[NAT_PCAP_SNAP];
};

/* net.fake-ip (nat_fakeip.c): dom0's mappings, and per port the addresses
 * its client is shown (0: none), worked out for the port's address for_ip
 * under the mappings of generation gen. */
struct nat_fakeip {
	uint32_t	ip[CLIENTS_MAX], vis[CLIENTS_MAX], gw[CLIENTS_MAX];
	uint32_t	n, gen;
	uint32_t	vis_ip[MQ_PORT_MAX], vis_gw[MQ_PORT_MAX];
	uint32_t	for_ip[MQ_PORT_MAX], pgen[MQ_PORT_MAX];
};

struct nat_engine {
	struct nat_config	 cfg;
	struct nat_io		 io;
	const struct mq_pool	*pool;
	struct flowtab		 ft;
	void			*ft_mem;	/* the MSG_FLOWTAB mapping, or */
	size_t			 ft_len;
	void			*ft_private;	/* private memory without one */
	int			 started;
	uint64_t		 now_ms;
	uint64_t		 rng;

	struct msg_netconf	 nc;
	int			 have_nc;
	struct nat_link		 link[MQ_PORT_MAX];
	/* client address -> port, open addressing (0 = empty) */
	uint32_t		 ipmap_ip[2 * MQ_PORT_MAX];
	uint16_t		 ipmap_port[2 * MQ_PORT_MAX];

	/* uplink gateway */
	uint8_t			 gw_mac[6];
	int			 gw_known;
	uint64_t		 gw_next_arp_ms;

	/* natd's reserve of buffers */
	uint32_t		*reserve;
	uint32_t		 nreserve, reserve_cap;

	/* /connected-ips: never a source on the uplink (0 = empty slot) */
	uint32_t		 connected[NAT_CONNECTED_SLOTS];
	struct nat_fakeip	 fake;

	/* held frames of pending flows */
	struct nat_hold		*hold;
	uint32_t		 hold_free;
	uint32_t		*hold_head, *hold_tail;	/* per flow */
	uint8_t			*hold_n;		/* per flow */
	uint32_t		 seq_ctr;

	/* re-check after a rule change */
	int			 recheck_active;
	uint32_t		 recheck_cursor;
	uint32_t		 rules_gen;

	/* Per-port shares (nat_frag_base), allocated in nat_new: pages of
	 * ports that never fragment are never touched. */
	struct nat_frag		*frag;
	struct nat_fraghold	*fraghold;
	uint8_t			 nfraghold[MQ_PORT_MAX];
	uint64_t		 frag_key;	/* from cfg.secret */

	struct nat_dnsq		 dnsq[NAT_DNSQ_MAX];
	/* names clients learn (nat_dnslearn.c) */
	struct nat_dnsw		*dnsw;		/* NAT_DNSW_CLIENT per port */
	struct dns_learn	*dnslearn_scratch;
	uint8_t			 dnsbuf[NAT_DNSLEARN_BYTES];
	struct {
		uint64_t queries, learned, unasked, refused, busy, limited;
	}			 dnslearn;
	struct nat_dnsrate	 dnsrate[MQ_PORT_MAX];	/* learnings per client */

	struct nat_pcap_rec	*pcap;
	uint32_t		 pcap_head, pcap_count;

	uint64_t		 last_sweep_ms;
	uint32_t		 restored, discarded;	/* at the last restart */

	/* IPv6 (nat_ip6.c, nat_nd.c): the uplink's gateway, from NS/NA */
	uint8_t			 gw6_mac[6];
	int			 gw6_known;
	uint64_t		 gw6_next_ns_ms;
	uint16_t		 ip6_maxport;	/* highest port that had an IPv6 address */
	/* inbound port forwards in force (MSG_FORWARDS, nat_forward.c) */
	struct msg_forward	 fwd[FWD_MAX];
	uint32_t		 nfwd;
	/* rate limits in force (MSG_LIMITS) and each port's buckets
	 * (nat_rate.c); nlimited ports have one, none: no work per frame */
	struct msg_limit	 lim[LIMITS_MAX];
	uint32_t		 nlim;
	uint32_t		 nlimited;
	struct nat_bucket	 bucket[MQ_PORT_MAX][2];
};

/* Setup and configuration (control path; may allocate). */
struct nat_engine *nat_new(const struct nat_config *cfg, const struct mq_pool *pool,
	    const struct nat_io *io);
void	nat_free(struct nat_engine *e);
/* Give the engine the flow table memory (the MSG_FLOWTAB memfd). Without
 * it, nat_start() uses private memory. 0, or -1 when too small. */
int	nat_set_flowtab(struct nat_engine *e, void *mem, size_t len);
void	nat_netconf(struct nat_engine *e, const struct msg_netconf *nc, uint64_t now_ms);
void	nat_link(struct nat_engine *e, const struct msg_link *l, uint64_t now_ms);
/* MSG_CLIENTS: the addresses of /connected-ips (and their mapped ones). */
void	nat_clients(struct nat_engine *e, const uint32_t *ips,
	    const uint32_t *visible, uint32_t count);
/* MSG_CLIENTS' visible-ip and visible-gateway (net.fake-ip). */
void	nat_fakeip_set(struct nat_engine *e, const struct msg_clients *mc);
/* Format the table, or on restart validate what a previous natd left. */
int	nat_start(struct nat_engine *e, int restart, uint64_t now_ms);

/* Packet path. */
void	nat_input(struct nat_engine *e, const struct mq_desc *d, uint64_t now_ms);
void	nat_verdict(struct nat_engine *e, const struct flow_verdict *v, uint64_t now_ms);
/* Timers: call at least every 100 ms and after each burst. */
void	nat_tick(struct nat_engine *e, uint64_t now_ms);
void	nat_rules_changed(struct nat_engine *e, uint32_t generation, uint64_t now_ms);
void	nat_dns_query(struct nat_engine *e, const struct msg_dns_query *q, uint64_t now_ms);
/* MSG_FORWARDS: the forwards now in force; forwarded flows none of them
 * allows any more are cut. */
void	nat_forwards(struct nat_engine *e, const struct msg_forwards *m, uint64_t now_ms);

/* MSG_LIMITS: the rate limits now in force, each client's buckets set
 * (full) when its limit changed; a client that has none goes at full
 * speed. */
void	nat_limits(struct nat_engine *e, const struct msg_limits *m, uint64_t now_ms);
/* nat_rate.c, exposed for tests and the fuzzer's model: refill b to now
 * and take bytes (IP bytes, thousandths counted inside); 1 when the frame
 * passes. */
int	nat_bucket_take(struct nat_bucket *b, uint64_t now_ms, uint64_t bytes);
void	nat_bucket_set(struct nat_bucket *b, uint64_t rate, uint64_t burst,
	    uint64_t now_ms);

/* Services. Return bytes written (truncated output is an error: 0). */
size_t	nat_stats_json(struct nat_engine *e, char *buf, size_t cap);
/*
 * moat.Flows: the flows of the client filter names (its link's name or
 * IPv4 address, or a flow's source address; NULL or "" for all) as one
 * JSON object, at most max_flows of them and what fits in cap; the rest
 * are counted ("total") and the object says "truncated". Ages are as of
 * now_ms. 0 only when cap cannot hold even an empty answer.
 */
size_t	nat_flows_json(struct nat_engine *e, char *buf, size_t cap,
	    const char *filter, uint32_t max_flows, uint64_t now_ms);
/* The rule that decided flow f as moat.Flows names it ("json:3"). */
void	nat_flow_rule_str(const struct ft_entry *f, uint16_t rule, char *buf,
	    size_t len);
size_t	nat_pcap_bytes(const struct nat_engine *e);
size_t	nat_pcap_dump(const struct nat_engine *e, uint8_t *buf, size_t cap,
	    int64_t wall_minus_mono_ms);

/* nat_dns.c: the resolver's wire format, exposed for tests and fuzzing. */
size_t	dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name,
	    uint16_t qtype);
/* Parse an answer to query id/name/qtype into *a (qid untouched). 0 when it
 * is the answer to that query (status 0, maybe no address), -1 otherwise. */
int	dns_parse_answer(const uint8_t *p, size_t len, uint16_t id,
	    const char *name, uint16_t qtype, struct msg_dns_answer *a);
/*
 * What a client may learn from an answer it asked for (nat_dnslearn.c):
 * the question's name and the CNAME chain from it (names[0] the question),
 * the addresses of the chain's end of the question's type, and the least
 * TTL on the way. The parser walks at most DNS_RR_MAX answer records.
 */
#define DNS_CHAIN_MAX	8	/* names in a chain, the question's included */
#define DNS_RR_MAX	64	/* answer records an answer may have to teach */
struct dns_learn {
	uint16_t	id, qtype;
	uint32_t	ttl;
	uint8_t		nnames, naddr;
	char		names[DNS_CHAIN_MAX][DNS_NAME_MAX];	/* lowercase, dotted */
	uint8_t		addr[DNS_ANSWER_MAX][16];
	/* scratch: the answer records, read once */
	uint16_t	nrr;
	struct {
		uint16_t type, rdoff, rdlen;
		uint32_t ttl;
		char	 owner[DNS_NAME_MAX];
	}		rr[DNS_RR_MAX];
};
/*
 * Read a name at *off (compression pointers followed, each strictly
 * backwards, at most 16) as lowercase dotted text; labels only of letters,
 * digits, '-' and '_'. 0 with *off past the name where it sits, or -1.
 */
int	dns_read_name(const uint8_t *p, size_t len, size_t *off,
	    char out[DNS_NAME_MAX]);
/* A client's query: one question for class IN. 0 (id, name, type), or -1. */
int	dns_parse_query(const uint8_t *p, size_t len, uint16_t *id,
	    uint16_t *qtype, char name[DNS_NAME_MAX]);
/*
 * An answer for learning: a response, not truncated, no error, one
 * question of class IN. 0 (l filled; naddr may be 0) or -1 (teaches
 * nothing: malformed, truncated, a chain too long).
 */
int	dns_parse_learn(const uint8_t *p, size_t len, struct dns_learn *l);

#endif
