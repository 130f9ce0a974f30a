/*
 * flowtab.h: natd's connection table, laid out to live in a memfd that
 * outlives natd.
 *
 * The supervisor creates the memfd (sized with natd_flowtab_bytes()) and
 * keeps it across natd restarts, so established flows survive a crash of
 * natd. Nothing in it is a pointer: a header, a flat array of fixed-size
 * entries, and two arrays of hash bucket heads, all linked by entry
 * indices. A restarted natd trusts none of the links: ft_rebuild() checks
 * every entry on its own, drops what is impossible or duplicated, and
 * re-creates every chain, list and counter from the entries that remain.
 *
 * Each flow is found two ways:
 *   out key (client side):  client addr, destination as sent, proto,
 *                           client port (or ICMP echo id), destination port
 *   in key (reply side):    remote addr, local addr, proto, remote port,
 *                           local port (or the translated ICMP echo id)
 * For a NAT flow the local address is /qubes-ip and the local port the
 * translated one; for a client-to-client flow both sides are clients and
 * nothing is translated.
 *
 * IPv6 flows (FT_F_V6) use the same entries and chains: their 32-bit
 * address fields hold ft_tag6() of the addresses, a keyed hash, and the
 * addresses themselves are in a second array indexed like the entries
 * (struct ft_addr6). Lookups compare tags and then the whole addresses,
 * so two addresses sharing a tag are still two flows; an IPv4 lookup
 * never matches an IPv6 entry nor the reverse.
 *
 * What moat.Flows shows and the fast path does not need to find a flow
 * (counters, start time, the rule that decided it) is in a third array
 * indexed like the entries (struct ft_count), so the entry stays one cache
 * line and a lookup never touches it.
 */
#ifndef MOAT_NATD_FLOWTAB_H
#define MOAT_NATD_FLOWTAB_H

#include <stddef.h>
#include <stdint.h>
#include <assert.h>

#define FT_MAGIC	0x6e617466u	/* "natf" */
#define FT_VERSION	3	/* 2: the IPv6 address array; 3: the counters */
#define FT_NIL		0xffffffffu
/* Flow indices fit in 20 bits so that a flow_req seq can carry one (nat.h). */
#define FT_MAX_FLOWS	(1u << 20)
#define FT_MIN_FLOWS	16

/* Entry states. */
enum ft_state {
	FT_FREE = 0,
	FT_PENDING,		/* waiting for policyd; never survives a restart */
	FT_ACTIVE,		/* accepted: packets are forwarded */
	FT_BLOCKED,		/* policyd said drop/reject; the verdict is cached */
	FT_STATE_MAX
};

/* Flow kinds. */
enum ft_kind {
	FT_K_NAT = 1,		/* client -> outside, source-NATed to /qubes-ip */
	FT_K_C2C,		/* client -> client, forwarded untranslated */
	/* outside -> client, an inbound port forward (natd/nat_forward.c).
	 * Keyed as a NAT flow the client would have opened to the remote
	 * from its forwarded port: csrc:csport the client and its port,
	 * odst = rdst:dport the remote, nsrc:nsport moat's address and the
	 * forwarded port. The remote opened it: tcp states run the other way. */
	FT_K_FWD,
	FT_K_MAX
};

/* TCP states, a reduced version of Linux conntrack's. */
enum ft_tcp {
	FT_TCP_NONE = 0,	/* not TCP */
	FT_TCP_SYN_SENT,	/* client SYN seen */
	FT_TCP_SYN_RECV,	/* SYN+ACK seen from the other side */
	FT_TCP_ESTABLISHED,
	FT_TCP_CLOSING,		/* FIN seen in either direction */
	FT_TCP_CLOSED,		/* RST seen */
	FT_TCP_MAX
};

/* Entry flags. */
#define FT_F_REPLIED	0x01	/* a packet came back the other way */
#define FT_F_RECHECK	0x02	/* a FREQ_RECHECK flow_req is outstanding */
#define FT_F_REDIRECT	0x04	/* DNS redirect: rdst differs from odst */
#define FT_F_REJECT	0x08	/* BLOCKED with VERDICT_REJECT rather than DROP */
#define FT_F_ALL	0x0f
#define FT_F_V6		0x80	/* IPv6: addresses in ft_addr6, tags in the entry */

struct ft_entry {
	uint8_t		state;		/* enum ft_state */
	uint8_t		proto;		/* 1, 6 or 17 */
	uint8_t		kind;		/* enum ft_kind */
	uint8_t		flags;		/* FT_F_* */
	uint8_t		tcp;		/* enum ft_tcp */
	uint8_t		pad0;
	uint16_t	cport;		/* client link the flow came from */
	uint16_t	csport;		/* client's source port / echo id (host order) */
	uint16_t	dport;		/* destination port, 0 for ICMP */
	uint16_t	nsport;		/* translated source port / echo id */
	uint16_t	pad1;
	uint32_t	csrc;		/* client address (network order, as all addresses) */
	uint32_t	odst;		/* destination the client sent to */
	uint32_t	rdst;		/* destination after DNS redirect (= odst otherwise) */
	uint32_t	nsrc;		/* translated source; the client address for C2C */
	uint32_t	seq;		/* outstanding flow_req seq */
	uint32_t	last;		/* last packet, CLOCK_MONOTONIC seconds */
	uint32_t	c_ack;		/* TCP: last ACK number the client sent */
	uint32_t	r_ack;		/* TCP: last ACK number the other side sent */
	/* Links: rebuilt on restart, never trusted from the memfd. */
	uint32_t	next_out;	/* out-key hash chain */
	uint32_t	next_in;	/* in-key hash chain */
	uint32_t	lru_prev;	/* per-client list, least recently used first; */
	uint32_t	lru_next;	/* lru_next also links the free list */
};
static_assert(sizeof(struct ft_entry) == 64, "a flow entry is one cache line");

/* An IPv6 flow's addresses (src: the client's; dst: where it sends, no DNS
 * redirect over IPv6; the translated source is /qubes-ip6). */
struct ft_addr6 {
	uint8_t		src[16];
	uint8_t		dst[16];
};
static_assert(sizeof(struct ft_addr6) == 32, "two IPv6 addresses");

/*
 * A flow's counters and history. Only natd writes them, one packet at a
 * time, so plain adds are enough. Directions are the client's: out is
 * what the client sent, in what it received. Packets count 32 bits (they
 * wrap after 4 Gi frames of one flow; bytes do not).
 */
#define FT_RULE_NONE	0xfffd	/* not decided yet (pending) */
struct ft_count {
	uint64_t	bytes[2];	/* [0] out, [1] in: frame bytes */
	uint32_t	pkts[2];
	uint32_t	start;		/* created, CLOCK_MONOTONIC seconds (<= last) */
	uint16_t	rule;		/* flow_verdict.rule that decided it; for a
					 * forward, the forward rule's index */
	uint16_t	pad;
};
static_assert(sizeof(struct ft_count) == 32, "flow counters: half a cache line");

struct ft_hdr {
	uint32_t	magic;
	uint32_t	version;
	uint32_t	nflows;
	uint32_t	nbuckets;	/* power of two >= nflows */
	uint32_t	entsz;		/* sizeof(struct ft_entry) */
	uint32_t	pad;
	uint64_t	secret;		/* hash key: chains an attacker cannot predict */
	uint8_t		pad2[32];
};
static_assert(sizeof(struct ft_hdr) == 64, "flow table header is one cache line");

/*
 * natd's private, trusted view of the table. Counters and list heads are
 * private too (rebuilt from the entries).
 */
#define FT_NPORTS	1024	/* = MQ_PORT_MAX, kept here so the file stands alone */
struct ft_client {
	uint32_t	lru_head, lru_tail;
	uint32_t	nflows;
	uint32_t	nfwd;		/* of which FT_K_FWD */
};

struct flowtab {
	struct ft_hdr	*hdr;
	struct ft_entry	*ent;
	uint32_t	*bucket_out, *bucket_in;
	uint32_t	 nflows, mask;
	uint64_t	 secret;
	uint32_t	 free_head;
	uint32_t	 nused;
	struct ft_client client[FT_NPORTS];
	struct ft_addr6	*a6;		/* nflows of them, after the buckets */
	struct ft_count	*cnt;		/* nflows of them, after a6 */
};

/* Bytes the memfd must hold for nflows entries, 0 when nflows is out of
 * range. Depends only on libc and this header: the supervisor links it. */
size_t	natd_flowtab_bytes(uint32_t nflows);

/* Attach to mem (len bytes). fresh: format it (with secret). Returns 0 or -1
 * when len is too small or nflows out of range. A non-fresh attach does not
 * trust the contents: call ft_rebuild() before any lookup. */
int	ft_attach(struct flowtab *t, void *mem, size_t len, uint32_t nflows,
	    int fresh, uint64_t secret);
/* Does the header describe a table of this geometry? */
int	ft_header_ok(const struct flowtab *t);
/*
 * Restart recovery: check every entry (fields in range, then keep(arg, e)
 * for the caller's semantic checks), discard duplicates of a key already
 * kept, and rebuild chains, lists, free list and counters. Returns the
 * number of flows kept; *dropped gets how many were discarded.
 */
uint32_t ft_rebuild(struct flowtab *t, int (*keep)(void *, const struct ft_entry *),
	    void *arg, uint32_t *dropped);

/* Lookups return an entry index or FT_NIL. */
uint32_t ft_find_out(const struct flowtab *t, uint32_t csrc, uint32_t odst,
	    uint8_t proto, uint16_t csport, uint16_t dport);
uint32_t ft_find_in(const struct flowtab *t, uint32_t rsrc, uint32_t ldst,
	    uint8_t proto, uint16_t rport, uint16_t lport);
/* IPv6: the tag the entry's address fields hold (never 0), and lookups by
 * whole address. The local address of an in lookup is /qubes-ip6 for a
 * NAT flow (compared by tag: the caller checked it is ours) and the
 * client's for a client-to-client one. */
uint32_t ft_tag6(const struct flowtab *t, const uint8_t a[16]);
uint32_t ft_find_out6(const struct flowtab *t, const uint8_t csrc[16],
	    const uint8_t odst[16], uint8_t proto, uint16_t csport, uint16_t dport);
uint32_t ft_find_in6(const struct flowtab *t, const uint8_t rsrc[16],
	    const uint8_t ldst[16], uint8_t proto, uint16_t rport, uint16_t lport);
/* Take a free entry (zeroed, state FT_FREE) or FT_NIL when full. */
uint32_t ft_alloc(struct flowtab *t);
/* Give back an entry ft_alloc returned that was never linked (the caller
 * found it could not use it), so no caller edits the free list itself. */
void	ft_unalloc(struct flowtab *t, uint32_t idx);
/* Link a filled-in entry (keys set) into both chains and its client's list. */
void	ft_link(struct flowtab *t, uint32_t idx);
/* Unlink and free. */
void	ft_remove(struct flowtab *t, uint32_t idx);
/* Move to the most-recently-used end of its client's list. */
void	ft_touch(struct flowtab *t, uint32_t idx);
/* Check the structure (chains reach every used entry once, counters add
 * up); for tests. Returns 0 when consistent. */
int	ft_check(const struct flowtab *t);

static inline struct ft_entry *
ft_ent(const struct flowtab *t, uint32_t idx)
{
	return &t->ent[idx];
}

#endif
