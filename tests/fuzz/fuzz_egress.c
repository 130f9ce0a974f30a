/*
 * fuzz_egress.c: moat's egress invariant, checked against a reference model.
 *
 * "No frame crosses moat unless a rule allowed its flow." natd's engine,
 * policyd's engine and both rule loaders are linked together without any
 * I/O: the flow requests natd emits are answered by policyd's engine_decide
 * over the rule sets in force (as policyd/flows.c does), and every frame
 * natd hands out is checked, the moment it is handed out, against a
 * reference model written here from the documentation (docs/rules.md,
 * docs/egress-invariant.md). The model never calls natd's or policyd's
 * code: it has its own rule matcher over the same rule templates and its
 * own flow bookkeeping.
 *
 * Input: a script of events. Each event is an opcode byte followed by its
 * parameter bytes (a script that ends early reads zeros), so a mutation of
 * a byte changes one field of one event and the script still means
 * something. Frames are built from the parameters, with correct checksums
 * unless the event asks for a malformed variant. Opcode (byte % 16):
 *   0-3  client frame: client, proto, destination, ports, variant (plain,
 *        bad IPv4 or L4 checksum, TTL 1, IP options RR/LSRR/SSRR, first or
 *        later fragment, spoofed source, oversized), length, flags/frag id
 *   4    client ICMP error quoting a frame it received (or a made-up one),
 *        to the quoted sender or to any other address, checksum good or bad
 *   5-6  uplink reply to a frame natd sent out (variants as for clients)
 *   7    uplink frame made up: any source, any destination, any ports
 *        (also the forwarded ports of the templates)
 *   8    uplink ICMP error quoting a frame natd sent out (or a made-up one)
 *   9    ARP, on any port, requests and replies, spoofed or not
 *   10   a client's Qubes rule set replaced (policy and up to 3 rules from
 *        a menu of templates with fuzzer-chosen parameters, or a set with an
 *        unparsable rule); DNS names in rules resolve through a stub that
 *        always answers the same (see HOSTS), fails, or never answers
 *   11   the JSON rule set replaced (up to 4 rules from templates, among
 *        them inbound port forwards and rate limits, or a document that
 *        is refused and changes nothing)
 *   12-13 time moves forward (50 ms .. 130 s) and natd ticks; JSON rules
 *        expire as policyd's timer would notice
 *   14-15 control: verdicts immediate or delayed ("auto"), policyd decides
 *        the waiting requests, natd reads one or all verdicts, natd is told
 *        the rules changed, the flow-request ring full or not; with a
 *        byte >= 0xf0 a DNS lookup instead: a client asks the virtual
 *        resolver, the NetVM's answers (the wildcard name rules' section)
 * In auto mode (the start) every request is decided and delivered and
 * every rule change notified right after the event that caused it.
 *
 * Attribution: every frame the script sends carries an 8-byte tag (magic
 * and the event's record number) at a place natd never rewrites: the L4
 * payload, the start of a later fragment's data, or 8 bytes into the L4
 * header of the packet an ICMP error quotes. A frame natd emits is traced
 * back to the input it came from by that tag; an untagged frame is one
 * natd built itself (ARP, RST, an ICMP error quoting a TCP header).
 *
 * The model's rules, checked for every frame handed out:
 *  - to the uplink: IPv4 source is moat's address; a client's frame belongs
 *    to a flow of that client the model allows now, goes to the flow's
 *    destination (the real resolver for a DNS-redirected flow) and port; a
 *    later fragment to a destination the client has an allowed flow to,
 *    with the id of a first fragment it sent there; a client's ICMP error
 *    quotes a packet of an allowed flow of that client and goes to the
 *    quoted packet's sender; an uplink frame only goes back to its sender
 *    (echo reply, ICMP error); untagged: ARP as moat, a bare RST to the
 *    peer of a flow once accepted, an ICMP error about a peer's packet
 *    sent back to that peer;
 *  - to a client: addressed to it (ARP: answering it); from the uplink:
 *    a reply of an allowed flow of that client from the flow's peer (and
 *    no other client's translated port), or an ICMP error quoting a packet
 *    of such a flow; from a client: a client-to-client flow the model
 *    allows (either way), or moat's echo reply / ICMP error about the
 *    client's own frame; untagged: bare RST, ICMP error about its own
 *    packet;
 *  - inbound port forwards (their own section below): from the uplink to
 *    a client only to moat's address and a forwarded port in force, from
 *    a source it allows, to its client and port; from the client only as
 *    the exact reverse of such a flow the remote opened; never a
 *    forwarded port for a client's own flow;
 *  - rate limits (their own section below): a limited client's frames
 *    never pass while the model's bucket for them is empty, and only a
 *    client that had a limit has "rate" drops;
 *  - nothing is source-routed (LSRR/SSRR) and no bad checksum of a
 *    forwarded frame comes out good;
 *  - "allowed now": the last verdict natd was given for the flow accepted
 *    it, and either the model's rules in force accept it too, or the
 *    change that denies it is still in flight: natd has not been told of
 *    it yet, a request about the flow is still waiting for its verdict,
 *    or the ring refused a re-check and natd has not ticked since. Once
 *    natd has the deny, the flow is closed for good (until a new accept);
 *  - every verdict policyd's engine gives equals the model's;
 *  - buffers: natd only hands out buffers it holds, each once; at the end,
 *    once held frames have timed out, it holds exactly its reserve.
 *
 * Seeds: tests/fuzz/gen_egress_seeds.py writes tests/fuzz/corpus/egress/
 * (replayed in every build by replay_egress). Environment:
 * FUZZ_EGRESS_TRACE=1 prints the script as it runs, FUZZ_EGRESS_VERBOSE=1
 * a summary per input, FUZZ_EGRESS_KNOWN (see known()) skips the checks of
 * holes already reported.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "natd/nat.h"
#include "policyd/dnscache.h"
#include "policyd/engine.h"
#include "policyd/jrules.h"
#include "policyd/policyd.h"
#include "policyd/qrule.h"
#include "tests/natd_harness.h"
#include "fuzz_engine.h"
#include "fuzz_input.h"

#define NCLI		3
#define NBUFS		192
#define BUFSZ		2048
#define BOFF		32
#define OWN		8
#define HOLD_MAX	32
#define MAXREC		1024	/* tagged frames per input */
#define MAXFLOW		1024
#define QMAX		512	/* requests natd sent and not yet answered */
#define QCAP		24	/* the flow-request ring: undecided requests */
#define MAXR		4
#define NLOG		16
#define NFRAG		MAXREC	/* at most one first fragment per event */
#define UNIX0		1800000000LL

static const uint8_t TAGMAGIC[4] = { 0xeb, 0x9a, 0x5c, 0x01 };

/* ---- addresses ---- */

enum { A_R0, A_R1, A_R2, A_VDNS1, A_VDNS2, A_DNS1, A_DNS2, A_C1, A_C2, A_C3,
	A_VGW, A_US, A_ROUTER, A_GW, NADDR };
static uint32_t ad[NADDR];

static uint32_t
ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl((uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d);
}

static void
addr_init(void)
{
	ad[A_R0] = ip4(93, 184, 216, 34);
	ad[A_R1] = ip4(198, 51, 100, 7);
	ad[A_R2] = ip4(198, 51, 100, 200);
	ad[A_VDNS1] = ip4(10, 139, 1, 1);
	ad[A_VDNS2] = ip4(10, 139, 1, 2);
	ad[A_DNS1] = ip4(192, 0, 2, 53);
	ad[A_DNS2] = ip4(192, 0, 2, 54);
	ad[A_C1] = ip4(10, 137, 0, 10);
	ad[A_C2] = ip4(10, 137, 0, 11);
	ad[A_C3] = ip4(10, 137, 0, 12);
	ad[A_VGW] = ip4(10, 137, 0, 7);
	ad[A_US] = ip4(10, 137, 0, 6);
	ad[A_ROUTER] = ip4(203, 0, 113, 9);
	ad[A_GW] = ip4(10, 137, 0, 1);
}

/* client port p (1..NCLI) */
static uint32_t
cip(unsigned p)
{
	return ad[A_C1 + p - 1];
}

static int
client_of(uint32_t a)
{
	unsigned p;

	for (p = 1; p <= NCLI; p++)
		if (cip(p) == a)
			return (int)p;
	return 0;
}

/*
 * The uplink's resolver, stubbed: the names of the rule templates always
 * resolve the same way (see host_addr), nx.example fails at once and
 * slow.example never answers (the cache times it out).
 */
static const char *const HOSTS[5] = { "r0.example", "net.example",
	"c2.example", "nx.example", "slow.example" };

static int
host_addr(unsigned h, unsigned i, uint32_t *a)
{
	switch (h) {
	case 0:
		return i == 0 ? (*a = ad[A_R0], 1) : 0;
	case 1:
		return i < 2 ? (*a = ad[A_R1 + i], 1) : 0;
	case 2:
		return i == 0 ? (*a = ad[A_C2], 1) : 0;
	}
	return 0;
}

static const uint16_t PORTS[8] = { 53, 80, 443, 22, 25, 1024, 5000, 40000 };
static const uint8_t MAC_GW[6] = { 2, 0, 0, 0, 0, 0xfe };

static void
our_mac(unsigned port, uint8_t m[6])
{
	static const uint8_t b[6] = { 2, 0, 0, 0, 1, 0 };

	memcpy(m, b, 6);
	m[5] = (uint8_t)port;
}

static void
vm_mac(unsigned port, uint8_t m[6])
{
	static const uint8_t b[6] = { 2, 0, 0, 0, 0x10, 0 };

	memcpy(m, b, 6);
	m[5] = (uint8_t)port;
}

/* ---- state of one run ---- */

/* What the script sent (found again through the tag). */
struct rec {
	uint8_t		port;		/* 0 uplink, 1..NCLI clients */
	uint8_t		proto;
	uint8_t		icmperr;	/* an ICMP error (tag in its quote) */
	uint8_t		frag, first;
	uint8_t		l4bad;		/* its L4 checksum was wrong */
	uint8_t		icmptype;
	uint16_t	fid;
	uint32_t	src, dst;
	uint16_t	sport, dport;	/* ICMP echo: sport = identifier */
};

/* The model's flows, keyed as the client sent the first packet. */
struct mflow {
	uint8_t		port, proto;
	uint8_t		allowed;	/* natd's last verdict for it accepted */
	uint8_t		ever;
	uint32_t	src, dst;
	uint16_t	sport, dport;
	int32_t		nsport;		/* seen on the uplink, -1 not yet */
	uint32_t	outstanding;	/* requests about it without a verdict */
	uint32_t	lastseq;	/* natd's latest request about it */
};

struct mrule {
	uint8_t		action;		/* VERDICT_* */
	uint8_t		proto;		/* 0 any */
	uint8_t		dk;		/* 0 any, 1 address/prefix, 2 the DNS
					 * servers, 3 a host name (HOSTS[host]) */
	uint8_t		host;
	uint8_t		plen, peer, never, has_ports, has_it, it;
	uint16_t	lo, hi;
	uint32_t	addr;		/* network order */
	uint32_t	from;		/* JSON: 0 any */
	int64_t		expire;		/* JSON: 0 never */
};

struct mset {
	uint8_t		present, failed;
	uint8_t		n;		/* rules, the policy last */
	struct mrule	r[MAXR + 1];
};

struct qent {
	struct flow_req		r;
	struct flow_verdict	v;
	int			k;
	uint64_t		deadline;	/* waiting for a DNS name */
};

struct seen {
	uint8_t		hdr[68];	/* IPv4 header and 8 bytes of L4 */
	uint8_t		len;
};

/* First fragments seen: a client's by (dst, proto, id), the uplink's by
 * (src, proto, id) and the client it was delivered to. */
struct mfrags {
	struct { uint32_t a; uint16_t id; uint8_t proto, port; } e[NFRAG];
	unsigned	n;
};

static struct {
	struct nat_engine	*ne;
	struct engine		 pe;
	struct dnsc		 dns;
	uint64_t		 now;
	int64_t			 next_expire;
	uint8_t			 owner[NBUFS];	/* 1: natd holds it */
	unsigned		 nowned, bufcur;
	struct rec		 rec[MAXREC];
	unsigned		 nrec;
	int			 cur;		/* record being input, -1 none */
	struct mflow		 fl[MAXFLOW];
	unsigned		 nfl;
	int			 kmap[1024];	/* natd's flow slot -> model flow */
	/* the FLOWREQ ring, policyd's list of flows waiting for DNS names,
	 * and the VERDICT ring */
	struct qent		 rq[QMAX], wl[QMAX], vq[QMAX];
	unsigned		 rqh, rqt, nwl, vqh, vqt;
	int			 autom, ring_full;
	int			 unnotified, ring_refused, refused_now;
	struct mrule		 mj[MAXR];
	unsigned		 nmj;
	struct mset		 mq[NCLI + 1];
	struct mfrags		 cfrag, ufrag;	/* first fragments seen */
	struct seen		 uplog[NLOG], clog[NCLI + 1][NLOG];
	unsigned		 nuplog, nclog[NCLI + 1];
	/* what the run reached, printed with FUZZ_EGRESS_VERBOSE set */
	unsigned		 nout[NCLI + 1], nreq, nacc, ndeny, nev;
} S;

static uint8_t *mem;
static struct mq_pool pool;
static int trace;	/* FUZZ_EGRESS_TRACE: print the script as it runs */

#define TRACE(...) do { if (trace) fprintf(stderr, __VA_ARGS__); } while (0)

/* wildcard name rules: their section below */
struct mrule;
struct qent;
struct rec;
struct pkt_view;
static int	names_mmatch(const struct mrule *, unsigned, uint32_t);
static size_t	names_tag_off(const struct pkt_view *);
static void	names_out(unsigned, const struct rec *);
static int	names_fr(const struct flow_req *);
static void	names_apply(const struct qent *, unsigned);
static void	names_reset(void);
static unsigned	f_room(void *);
static void	ev_dns(void);
static int	names_wild(uint8_t, uint8_t, struct mrule *, const char **);
static int	names_recheck;	/* judging an established flow */

/*
 * FUZZ_EGRESS_KNOWN: holes already reported and being fixed, by name
 * (exfil: an ICMP error not sent to the quoted sender; csum: an ICMP
 * error's bad checksum made good; srcroute: LSRR/SSRR forwarded), so that
 * fuzzing can look past them meanwhile. Unset in the tests.
 */
static int
known(const char *name)
{
	const char *k = getenv("FUZZ_EGRESS_KNOWN");

	return k != NULL && strstr(k, name) != NULL;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_egress: invariant broken: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

static const char *
A(uint32_t a)
{
	static char b[4][16];
	static unsigned i;

	i = (i + 1) % 4;
	return ip4_str(a, b[i]);
}

/* ---- the reference policy ---- */

static int64_t
unix_now(void)
{
	return UNIX0 + (int64_t)(S.now / 1000);
}

static int
is_dns_server(uint32_t a)
{
	return a == ad[A_VDNS1] || a == ad[A_VDNS2] || a == ad[A_DNS1] ||
	    a == ad[A_DNS2];
}

/* 1 or 0 (its final flag) while the model judges one of policyd's
 * decisions, -1 otherwise: see the dsthost case in mmatch */
static int judging = -1;

static int
mmatch(const struct mrule *r, unsigned port, uint8_t proto, uint32_t dst,
    uint16_t dport, uint8_t itype)
{
	uint32_t mask = r->plen ? htonl(~0u << (32 - r->plen)) : 0;

	if (r->never)
		return 0;
	if (r->expire != 0 && unix_now() > r->expire)
		return 0;
	if (r->from != 0 && r->from != cip(port))
		return 0;
	if (r->proto != 0 && r->proto != proto)
		return 0;
	if (r->has_ports && (proto == IPPROTO_ICMP_ || dport < r->lo || dport > r->hi))
		return 0;
	if (r->has_it && (proto != IPPROTO_ICMP_ || itype != r->it))
		return 0;
	if (r->dk == 2 && ((proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_) ||
	    dport != 53 || !is_dns_server(dst)))
		return 0;
	/* Inter-VM: only an accept naming the other VM exactly lets it in. */
	if (client_of(dst) && r->action == VERDICT_ACCEPT &&
	    !(r->peer && r->dk == 1 && r->plen == 32))
		return 0;
	if (r->dk == 1 && (dst & mask) != r->addr)
		return 0;
	if (r->dk == 4)
		return names_mmatch(r, port, dst);
	if (r->dk == 3) {
		uint32_t a;
		unsigned i;

		/*
		 * A drop or reject whose name cannot be resolved takes every
		 * flow that reaches it, an accept none (docs/rules.md, issue
		 * 18). nx.example's lookup fails and slow.example's is never
		 * answered, so they never resolve. Whether the stub's answer
		 * for another name was there when policyd decided is the DNS
		 * cache's state, not a rule's meaning: when judging a decision
		 * (judging >= 0) the model reads it (dnsc_peek) and gives it
		 * the meaning above; otherwise (which frames may cross now)
		 * it takes the answer as there, the most that a rule allows
		 * (a name unresolved only ever makes a verdict stricter).
		 */
		if (r->host == 3 || r->host == 4)
			return r->action != VERDICT_ACCEPT;
		if (judging >= 0) {
			const struct dnsc_entry *e;

			switch (dnsc_peek(&S.dns, HOSTS[r->host], DNS_QTYPE_A,
			    S.now, &e)) {
			case DNSC_OK:
				break;
			case DNSC_FAIL:
				return r->action != VERDICT_ACCEPT;
			default:
				/* not yet answered: only a final decision
				 * gets this far (else policyd waits) */
				return judging && r->action != VERDICT_ACCEPT;
			}
		}
		for (i = 0; host_addr(r->host, i, &a); i++)
			if (a == dst)
				return 1;
		return 0;
	}
	return 1;
}

/* The verdict for a flow of client port (source src) as the rules say now. */
static uint8_t
meval(unsigned port, uint32_t src, uint8_t proto, uint32_t dst, uint16_t dport,
    uint8_t itype)
{
	const struct mset *q;
	unsigned i;
	int c;

	if (proto == IPPROTO_ICMP_)
		dport = 0;
	/* The first matching JSON rule: a drop or reject decides; an accept
	 * decides between clients, and to the outside the Qubes rules must
	 * accept too (docs/rules.md: JSON rules narrow, never widen them). */
	for (i = 0; i < S.nmj; i++)
		if (mmatch(&S.mj[i], port, proto, dst, dport, itype)) {
			if (S.mj[i].action != VERDICT_ACCEPT)
				return S.mj[i].action;
			break;
		}
	c = client_of(src);
	if (c == 0 || !S.mq[c].present)
		return VERDICT_DROP;
	q = &S.mq[c];
	if (q->failed)
		return VERDICT_REJECT;
	if (client_of(dst))
		return i < S.nmj ? VERDICT_ACCEPT : VERDICT_DROP;
	for (i = 0; i < q->n; i++)
		if (mmatch(&q->r[i], port, proto, dst, dport, itype))
			return q->r[i].action;
	return VERDICT_DROP;
}

static uint8_t
meval_flow(const struct mflow *f)
{
	return meval(f->port, f->src, f->proto, f->dst, f->dport, ICMP_ECHO);
}

/* Where the flow really goes: the virtual DNS servers are redirected. */
static uint32_t
rdst(const struct mflow *f)
{
	if ((f->proto == IPPROTO_TCP_ || f->proto == IPPROTO_UDP_) && f->dport == 53) {
		if (f->dst == ad[A_VDNS1])
			return ad[A_DNS1];
		if (f->dst == ad[A_VDNS2])
			return ad[A_DNS2];
	}
	return f->dst;
}

static int
find_flow(unsigned port, uint8_t proto, uint32_t src, uint32_t dst,
    uint16_t sport, uint16_t dport)
{
	unsigned i;

	if (proto == IPPROTO_ICMP_)
		dport = 0;
	for (i = 0; i < S.nfl; i++) {
		const struct mflow *f = &S.fl[i];

		if (f->port == port && f->proto == proto && f->src == src &&
		    f->dst == dst && f->sport == sport && f->dport == dport)
			return (int)i;
	}
	return -1;
}

static int
get_flow(unsigned port, uint8_t proto, uint32_t src, uint32_t dst,
    uint16_t sport, uint16_t dport)
{
	int k = find_flow(port, proto, src, dst, sport, dport);
	struct mflow *f;

	if (k >= 0)
		return k;
	if (S.nfl == MAXFLOW)
		fail("model flow table full (script too long)");
	f = &S.fl[S.nfl];
	memset(f, 0, sizeof *f);
	f->port = (uint8_t)port;
	f->proto = proto;
	f->src = src;
	f->dst = dst;
	f->sport = sport;
	f->dport = proto == IPPROTO_ICMP_ ? 0 : dport;
	f->nsport = -1;
	return (int)S.nfl++;
}

/* May a frame of flow k cross now? (see the header) */
static int
allowed_now(int k)
{
	const struct mflow *f;

	if (k < 0)
		return 0;
	f = &S.fl[k];
	if (!f->allowed)
		return 0;
	/* established: an expired name learning still counts */
	names_recheck = 1;
	if (meval_flow(f) == VERDICT_ACCEPT) {
		names_recheck = 0;
		return 1;
	}
	names_recheck = 0;
	return S.unnotified || S.ring_refused || f->outstanding > 0;
}

/* ---- frames ---- */

static int
icmp_is_err(uint8_t t)
{
	return t == ICMP_DEST_UNREACH || t == ICMP_TIME_EXCEEDED ||
	    t == ICMP_PARAMPROB;
}

/* Where the tag sits in a parsed frame (0: nowhere). */
static size_t
tag_off(const struct pkt_view *v)
{
	size_t o;

	if (v->l3 != PKT_L3_IPV4)
		return 0;
	if (v->is_frag && !v->frag_first)
		o = v->l3_off + v->l3_hlen;
	else if (!v->has_l4)
		return 0;
	else if (v->proto == IPPROTO_ICMP_ && icmp_is_err(v->icmp_type)) {
		size_t in = v->l4_off + 8;

		if (in >= v->ip_end || (v->frame[in] & 0x0f) < 5)
			return 0;
		o = in + (size_t)(v->frame[in] & 0x0f) * 4 + 8;
	} else
		o = v->l4_off + v->l4_hlen;
	return o + 8 <= v->ip_end ? o : 0;
}

static int
get_tag(const struct pkt_view *v)
{
	size_t o = tag_off(v);
	uint32_t n;

	if ((o == 0 || memcmp(v->frame + o, TAGMAGIC, 4) != 0) &&
	    ((o = names_tag_off(v)) == 0 ||
	    memcmp(v->frame + o, TAGMAGIC, 4) != 0))
		return -1;
	memcpy(&n, v->frame + o + 4, 4);
	if (n >= S.nrec)
		fail("frame with tag %u, never sent", n);
	return (int)n;
}

static int
has_srcroute(const struct pkt_view *v)
{
	const uint8_t *o = v->frame + v->l3_off + 20;
	size_t n = v->l3_hlen - 20, i = 0;

	while (i < n) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (o[i] == 0x83 || o[i] == 0x89)
			return 1;
		if (i + 1 >= n || o[i + 1] < 2)
			break;
		i += o[i + 1];
	}
	return 0;
}

/* The packet quoted in an ICMP error. */
static int
quote(const struct pkt_view *v, struct pkt_view *in)
{
	if (v->is_frag || v->ip_end < v->l4_off + 8)
		return -1;
	return pkt_parse_icmp_quote(in, v->frame + v->l4_off + 8,
	    v->ip_end - v->l4_off - 8) == PKT_OK ? 0 : -1;
}

static uint32_t
qsrc(const struct pkt_view *in)
{
	return ((const struct ipv4_hdr *)in->frame)->saddr_be;
}

static uint32_t
qdst(const struct pkt_view *in)
{
	return ((const struct ipv4_hdr *)in->frame)->daddr_be;
}

static void
logseen(struct seen *ring, unsigned *n, const struct pkt_view *v)
{
	struct seen *s = &ring[*n % NLOG];
	size_t l = v->l3_hlen + 8;

	if (l > sizeof s->hdr || v->l3_off + l > v->ip_end)
		return;
	memcpy(s->hdr, v->frame + v->l3_off, l);
	s->len = (uint8_t)l;
	(*n)++;
}

/* ---- the checks ---- */

static int
frag_has(const struct mfrags *t, unsigned port, uint32_t a, uint8_t proto,
    uint16_t id)
{
	unsigned i;

	for (i = 0; i < t->n && i < NFRAG; i++)
		if (t->e[i].port == port && t->e[i].a == a &&
		    t->e[i].proto == proto && t->e[i].id == id)
			return 1;
	return 0;
}

static void
frag_add(struct mfrags *t, unsigned port, uint32_t a, uint8_t proto, uint16_t id)
{
	if (t->n == NFRAG)
		return;
	t->e[t->n].a = a;
	t->e[t->n].proto = proto;
	t->e[t->n].id = id;
	t->e[t->n++].port = (uint8_t)port;
}

/* An allowed flow of client c that a quoted, translated packet (as the
 * peer sent it to moat) belongs to. */
static int
quoted_flow_ok(unsigned c, const struct pkt_view *in)
{
	unsigned i;

	for (i = 0; i < S.nfl; i++) {
		const struct mflow *f = &S.fl[i];

		if (f->port != c || f->proto != in->proto || rdst(f) != qsrc(in))
			continue;
		if (f->proto == IPPROTO_ICMP_) {
			if (f->nsport >= 0 && f->nsport != in->icmp_id)
				continue;
		} else if (f->dport != in->sport ||
		    (f->nsport >= 0 && f->nsport != in->dport))
			continue;
		if (allowed_now((int)i))
			return 1;
	}
	return 0;
}


/* ---- inbound port forwards (the model's) ----
 *
 * The JSON "forward" rules in force (docs/rules.md): a frame from the
 * uplink reaches a client through one only when it was sent to moat's
 * address and a forwarded port, from a source the forward allows, and
 * arrives from that source at the forward's client and port. The client's
 * frames leave through one only as the exact reverse of a forwarded flow
 * the remote opened (and that the forwards in force still allow), from
 * moat's address and the forwarded port. natd's own NAT never uses a
 * forwarded port. A forward that goes closes its flows for good.
 */
struct mfwd {
	uint8_t		proto, port, plen, v4;	/* v4: 0 for an IPv6-only forward */
	uint16_t	lo, hi, toport;
	uint32_t	from;		/* prefix, network order */
};
struct mfwdopen {
	uint8_t		port, proto;
	uint16_t	rport, fport;
	uint32_t	rsrc;
};
static struct {
	struct mfwd	w[MAXR];
	unsigned	n;
	struct mfwdopen	o[MAXFLOW];
	unsigned	no;
} MF;

/* A forwarded port of the script's templates (fwd_template). */
static uint16_t
fwd_port_pick(uint8_t d1, uint8_t d2)
{
	return (uint16_t)(8000 + 100 * (d1 % 4) + (d2 >> 3) % 5);
}

static void
fwd_reset(void)
{
	memset(&MF, 0, sizeof MF);
}

/* The forward in force that takes (proto, fport) from rsrc, or NULL. */
static const struct mfwd *
fwd_find(uint8_t proto, uint16_t fport, uint32_t rsrc)
{
	unsigned i;

	for (i = 0; i < MF.n; i++) {
		const struct mfwd *w = &MF.w[i];
		uint32_t mask = w->plen ? htonl(~0u << (32 - w->plen)) : 0;

		if (w->v4 && w->proto == proto && fport >= w->lo &&
		    fport <= w->hi && (rsrc & mask) == w->from)
			return w;
	}
	return NULL;
}

/* Is the forwarded flow (client port, proto, remote, its port, the
 * forwarded port) open and still allowed? Its client port if so, else 0. */
static unsigned
fwd_open(unsigned port, uint8_t proto, uint32_t rsrc, uint16_t rport,
    uint16_t fport)
{
	const struct mfwd *w = fwd_find(proto, fport, rsrc);
	unsigned i;

	if (w == NULL || w->port != port)
		return 0;
	for (i = 0; i < MF.no; i++)
		if (MF.o[i].port == port && MF.o[i].proto == proto &&
		    MF.o[i].rsrc == rsrc && MF.o[i].rport == rport &&
		    MF.o[i].fport == fport)
			return (unsigned)(w->toport + (fport - w->lo));
	return 0;
}

/* The remote's frame r opens a forwarded flow of client p (kept once). */
static void
fwd_add_open(unsigned p, const struct rec *r)
{
	unsigned i;

	for (i = 0; i < MF.no; i++)
		if (MF.o[i].port == p && MF.o[i].proto == r->proto &&
		    MF.o[i].rsrc == r->src && MF.o[i].rport == r->sport &&
		    MF.o[i].fport == r->dport)
			return;
	if (MF.no == MAXFLOW)
		return;
	MF.o[MF.no].port = (uint8_t)p;
	MF.o[MF.no].proto = r->proto;
	MF.o[MF.no].rsrc = r->src;
	MF.o[MF.no].rport = r->sport;
	MF.o[MF.no++].fport = r->dport;
}

/*
 * A frame the uplink sends (r, TCP flags fl) that a forward in force takes
 * opens its flow as natd takes it in, whether or not the frame itself then
 * reaches the client (too big for its link, say): as for a client's flow,
 * the flow is open once accepted.
 */
static void
fwd_note_in(const struct rec *r, uint8_t fl)
{
	const struct mfwd *w;

	if (r->port != MQ_PORT_UPLINK || r->icmperr || r->dst != ad[A_US] ||
	    (r->frag && !r->first) || (r->proto == IPPROTO_TCP_ &&
	    (fl & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN) ||
	    (r->proto != IPPROTO_TCP_ && r->proto != IPPROTO_UDP_) ||
	    (w = fwd_find(r->proto, r->dport, r->src)) == NULL)
		return;
	fwd_add_open(w->port, r);
}

/* A frame from the uplink (r) delivered to client p through a forward. */
static int
fwd_in_ok(unsigned p, const struct pkt_view *v, const struct rec *r)
{
	const struct ipv4_hdr *ip = pkt_ip4(v);
	const struct mfwd *w;

	if ((r->proto != IPPROTO_TCP_ && r->proto != IPPROTO_UDP_) ||
	    r->icmperr || r->dst != ad[A_US] || v->proto != r->proto ||
	    (w = fwd_find(r->proto, r->dport, r->src)) == NULL)
		return 0;
	if (w->port != p)
		fail("frame from %s to moat's port %u (forwarded to client %u) "
		    "delivered to client %u", A(r->src), r->dport, w->port, p);
	if (ip->saddr_be != r->src || v->sport != r->sport ||
	    v->dport != w->toport + (r->dport - w->lo))
		fail("frame from %s:%u to moat's port %u forwarded to client %u "
		    "as %s:%u > :%u, not to port %u", A(r->src), r->sport,
		    r->dport, p, A(ip->saddr_be), v->sport, v->dport,
		    w->toport + (r->dport - w->lo));
	fwd_add_open(p, r);
	if (v->is_frag)
		frag_add(&S.ufrag, p, r->src, r->proto, r->fid);
	return 1;
}

/* A later fragment from the uplink (r) to client p: a forwarded flow of p
 * from that source is open, and its first fragment came (first). */
static int
fwd_frag_in_ok(unsigned p, const struct rec *r, int first)
{
	const struct rec *h = S.cur >= 0 ? &S.rec[S.cur] : NULL;
	const struct mfwd *w;
	unsigned i;

	if (!first)
		return 0;
	/* released as its first fragment comes in, before that one: the
	 * first fragment is what a forward in force takes to p */
	if (h != NULL && h->port == MQ_PORT_UPLINK && h->first &&
	    h->src == r->src && h->proto == r->proto && h->fid == r->fid &&
	    h->dst == ad[A_US] && (w = fwd_find(h->proto, h->dport,
	    h->src)) != NULL && w->port == p)
		return 1;
	for (i = 0; i < MF.no; i++)
		if (MF.o[i].port == p && MF.o[i].proto == r->proto &&
		    MF.o[i].rsrc == r->src && fwd_open(p, r->proto, r->src,
		    MF.o[i].rport, MF.o[i].fport))
			return 1;
	return 0;
}

/* An ICMP error from the uplink to client p quoting (in, translated back)
 * a packet the client sent on a forwarded flow. */
static int
fwd_icmp_in_ok(unsigned p, const struct pkt_view *in)
{
	unsigned i;

	if (qsrc(in) != cip(p) || (in->proto != IPPROTO_TCP_ &&
	    in->proto != IPPROTO_UDP_))
		return 0;
	for (i = 0; i < MF.no; i++)
		if (MF.o[i].port == p && MF.o[i].proto == in->proto &&
		    MF.o[i].rsrc == qdst(in) && MF.o[i].rport == in->dport &&
		    fwd_open(p, in->proto, qdst(in), in->dport,
		    MF.o[i].fport) == in->sport)
			return 1;
	return 0;
}

/* Client c's frame (r) left to the uplink as v: the reverse of an open
 * forwarded flow? */
static int
fwd_reply_ok(unsigned c, const struct pkt_view *v, const struct rec *r)
{
	const struct ipv4_hdr *ip = pkt_ip4(v);
	unsigned i;

	if (r->proto != IPPROTO_TCP_ && r->proto != IPPROTO_UDP_)
		return 0;
	for (i = 0; i < MF.no; i++) {
		const struct mfwdopen *o = &MF.o[i];

		if (o->port != c || o->proto != r->proto || o->rsrc != r->dst ||
		    ip->daddr_be != r->dst)
			continue;
		if (v->is_frag && !v->frag_first) {
			if (frag_has(&S.cfrag, c, r->dst, r->proto, r->fid) &&
			    fwd_open(c, o->proto, o->rsrc, o->rport, o->fport))
				return 1;
			continue;
		}
		if (o->rport == r->dport && v->dport == r->dport &&
		    v->sport == o->fport && fwd_open(c, o->proto, o->rsrc,
		    o->rport, o->fport) == r->sport)
			return 1;
	}
	return 0;
}

/* Client c's ICMP error quoting (in, translated) a packet the remote sent
 * on an open forwarded flow of c. */
static int
fwd_quote_ok(unsigned c, const struct pkt_view *in)
{
	return (in->proto == IPPROTO_TCP_ || in->proto == IPPROTO_UDP_) &&
	    fwd_open(c, in->proto, qsrc(in), in->sport, in->dport) != 0;
}

/* moat's RST to dst:dport on the uplink: a forwarded flow it cut. */
static int
fwd_rst_ok(uint32_t dst, uint16_t dport)
{
	unsigned i;

	for (i = 0; i < MF.no; i++)
		if (MF.o[i].proto == IPPROTO_TCP_ && MF.o[i].rsrc == dst &&
		    MF.o[i].rport == dport)
			return 1;
	return 0;
}

/* A client's own flow leaves from a translated port: never a forwarded one. */
static void
fwd_check_nat_port(unsigned c, const struct pkt_view *v)
{
	if ((v->proto == IPPROTO_TCP_ || v->proto == IPPROTO_UDP_) &&
	    v->sport >= FWD_PORT_MIN && v->sport <= FWD_PORT_MAX)
		fail("client %u's own flow left from port %u, kept for forwards",
		    c, v->sport);
}

/* The forwards of a new JSON rule set: policyd's table must say what the
 * model's does; natd gets it (as MSG_FORWARDS, at once), which cuts the
 * forwarded flows it no longer allows; so does the model. */
static void
fwd_set_table(const struct mfwd *w, unsigned n)
{
	static struct msg_forwards t;
	const struct msg_forwards *pt = S.pe.json.fwd;
	unsigned i, k;

	memset(&t, 0, sizeof t);
	if (pt != NULL)
		t = *pt;
	if (t.count != n)
		fail("policyd has %u forwards, the model %u", t.count, n);
	for (i = 0; i < n; i++)
		if (t.f[i].proto != w[i].proto || t.f[i].lo != w[i].lo ||
		    t.f[i].hi != w[i].hi || t.f[i].toport != w[i].toport ||
		    t.f[i].to4 != cip(w[i].port) ||
		    t.f[i].from4_plen != w[i].plen || t.f[i].from4 != w[i].from ||
		    (t.f[i].family == 6) != !w[i].v4)
			fail("policyd's forward %u is not the model's", i);
	t.generation = S.pe.generation;
	/* natd cuts first (its RSTs go to flows the model knew open) */
	nat_forwards(S.ne, &t, S.now);
	memcpy(MF.w, w, n * sizeof *w);
	MF.n = n;
	for (i = k = 0; i < MF.no; i++) {
		const struct mfwdopen *o = &MF.o[i];

		if (fwd_open(o->port, o->proto, o->rsrc, o->rport, o->fport))
			MF.o[k++] = *o;
	}
	MF.no = k;
}

/* ---- rate limits (the model's) ----
 *
 * The JSON limit rules in force (docs/rules.md, "Rate limits"). A limit
 * only ever drops: nothing above changes for it, and a frame natd drops as
 * "rate" is simply one that never comes out. What the model adds: the
 * table policyd compiles is the templates'; "rate" drops happen only on a
 * client that was limited; and natd never lets a limited client's frame
 * through while the model's own bucket for that client and direction is
 * empty. The model charges its bucket only for frames natd surely charged
 * too (TCP and UDP along a flow between a client and the uplink, no
 * fragment, no DNS), and fills it at every rule change (natd keeps the
 * bucket of an unchanged limit), so it never holds fewer tokens than
 * natd's: when it is empty, natd's is.
 */
struct mlim {
	uint32_t	client;			/* 0: every client */
	uint64_t	up, upb, down, downb;	/* bytes/s, bytes; 0 none */
};

static struct {
	struct mlim	l[MAXR];
	unsigned	n;
	uint64_t	rate[NCLI + 1][2];	/* [port][0 up, 1 down] */
	int64_t		burst[NCLI + 1][2];	/* thousandths of a byte */
	int64_t		tokens[NCLI + 1][2];
	uint64_t	last[NCLI + 1][2];
	uint8_t		ever[NCLI + 1];		/* limited at some time */
} ML;

static void
lim_reset(void)
{
	memset(&ML, 0, sizeof ML);
}

static const char *const LRATE[4] = { "64kbit", "200kbit", "1mbit", "8mbit" };
static const uint64_t LRATE_B[4] = { 8000, 25000, 125000, 1000000 };
static const char *const LBURST[4] = { NULL, "2kb", "3kb", "8kb" };
static const uint64_t LBURST_B[4] = { 0, 2048, 3072, 8192 };

/* Without "burst", docs/rules.md: 300 ms of the rate, at least 128 kb. */
static uint64_t
lim_default_burst_model(uint64_t rate)
{
	uint64_t b = rate * 3 / 10;

	return b < 128 * 1024 ? 128 * 1024 : b;
}

/*
 * Rule i, a limit: for the client fs selects (as JSON rules' "from"),
 * rate LRATE[ps % 4], burst LBURST[xs % 4] (none: the default), as
 * "rate", "up", "down" or both (ds % 4; "down" then one rate faster).
 * *refused when an earlier limit already has that client or all of them
 * (moat.SetRules refuses such a document).
 */
static const char *const LFROM[5] = { "*", "10.137.0.10", "work",
	"10.137.0.12", "198.51.100.7" };

static size_t
lim_template(unsigned i, uint8_t fs, uint8_t ds, uint8_t ps, uint8_t xs,
    struct mlim *set, unsigned *n, char *doc, size_t cap, int *refused)
{
	static const uint32_t *const from[5] = { NULL, &ad[A_C1], &ad[A_C2],
		&ad[A_C3], &ad[A_R1] };
	struct mlim l;
	uint64_t r = LRATE_B[ps % 4], r2 = LRATE_B[(ps + 1) % 4];
	uint64_t b = LBURST_B[xs % 4];
	char what[96], burst[32] = "";
	unsigned k;

	memset(&l, 0, sizeof l);
	l.client = from[fs] ? *from[fs] : 0;
	switch (ds % 4) {
	case 0:
		l.up = l.down = r;
		snprintf(what, sizeof what, "\"rate\": \"%s\"", LRATE[ps % 4]);
		break;
	case 1:
		l.up = r;
		snprintf(what, sizeof what, "\"up\": \"%s\"", LRATE[ps % 4]);
		break;
	case 2:
		l.down = r;
		snprintf(what, sizeof what, "\"down\": \"%s\"", LRATE[ps % 4]);
		break;
	default:
		l.up = r;
		l.down = r2;
		snprintf(what, sizeof what, "\"up\": \"%s\", \"down\": \"%s\"",
		    LRATE[ps % 4], LRATE[(ps + 1) % 4]);
	}
	if (LBURST[xs % 4] != NULL)
		snprintf(burst, sizeof burst, ", \"burst\": \"%s\"",
		    LBURST[xs % 4]);
	if (l.up)
		l.upb = b ? b : lim_default_burst_model(l.up);
	if (l.down)
		l.downb = b ? b : lim_default_burst_model(l.down);
	for (k = 0; k < *n; k++)
		if (set[k].client == 0 || set[k].client == l.client)
			*refused = 1;
	if (*n < MAXR)
		set[(*n)++] = l;
	return (size_t)snprintf(doc, cap, "%s{\"from\": \"%s\", %s%s}",
	    i ? ", " : "", LFROM[fs], what, burst);
}

/* A new JSON rule set with limits set[0..n): policyd's table must be
 * the model's; natd gets it (as MSG_LIMITS); every limited client's
 * bucket starts full. */
static void
lim_set_table(const struct mlim *set, unsigned n)
{
	static struct msg_limits t;
	const struct msg_limits *pt = S.pe.json.lim;
	unsigned i, p, d;

	memcpy(ML.l, set, n * sizeof *set);
	ML.n = n;
	memset(&t, 0, sizeof t);
	if (pt != NULL)
		t = *pt;
	if (t.count != ML.n)
		fail("policyd has %u rate limits, the model %u", t.count, ML.n);
	for (i = 0; i < ML.n; i++)
		if (t.l[i].client4 != ML.l[i].client ||
		    t.l[i].up_rate != ML.l[i].up ||
		    t.l[i].up_burst != ML.l[i].upb ||
		    t.l[i].down_rate != ML.l[i].down ||
		    t.l[i].down_burst != ML.l[i].downb)
			fail("policyd's rate limit %u is not the model's", i);
	t.generation = S.pe.generation;
	nat_limits(S.ne, &t, S.now);
	for (p = 1; p <= NCLI; p++) {
		const struct mlim *m = NULL;

		for (i = 0; i < ML.n && m == NULL; i++)
			if (ML.l[i].client == 0 || ML.l[i].client == cip(p))
				m = &ML.l[i];
		for (d = 0; d < 2; d++) {
			ML.rate[p][d] = m == NULL ? 0 : d ? m->down : m->up;
			ML.burst[p][d] = m == NULL ? 0 :
			    (int64_t)(d ? m->downb : m->upb) * 1000;
			ML.tokens[p][d] = ML.burst[p][d];
			ML.last[p][d] = S.now;
		}
		if (m != NULL)
			ML.ever[p] = 1;
	}
}

/* A frame natd handed out to port (v; r what the script sent): within
 * the model's bucket, which it is then charged to. */
static void
lim_check_frame(unsigned port, const struct pkt_view *v, const struct rec *r)
{
	unsigned c, d;
	uint64_t dt;

	if (r == NULL || r->icmperr || r->frag || v->is_frag ||
	    (v->proto != IPPROTO_TCP_ && v->proto != IPPROTO_UDP_) ||
	    v->proto != r->proto || is_dns_server(r->src) ||
	    is_dns_server(r->dst) || r->sport == 53 || r->dport == 53)
		return;
	if (port == MQ_PORT_UPLINK && r->port != MQ_PORT_UPLINK) {
		c = r->port;
		d = 0;
	} else if (port != MQ_PORT_UPLINK && r->port == MQ_PORT_UPLINK) {
		c = port;
		d = 1;
	} else
		return;
	if (c > NCLI || ML.rate[c][d] == 0)
		return;
	if (S.now > ML.last[c][d]) {
		dt = S.now - ML.last[c][d];
		if (dt > 60000)
			dt = 60000;
		ML.tokens[c][d] += (int64_t)(ML.rate[c][d] * dt);
		if (ML.tokens[c][d] > ML.burst[c][d])
			ML.tokens[c][d] = ML.burst[c][d];
		ML.last[c][d] = S.now;
	}
	if (ML.tokens[c][d] < 0)
		fail("client %u's frame went %s over its rate limit of %llu "
		    "bytes/s (%lld bytes in debt)", c, d ? "down" : "up",
		    (unsigned long long)ML.rate[c][d],
		    (long long)(-ML.tokens[c][d] / 1000));
	ML.tokens[c][d] -= (int64_t)(v->ip_end - v->l3_off) * 1000;
}

/* "rate" drops only where a limit was. */
static void
lim_check_drops(void)
{
	unsigned p;

	for (p = 0; p <= NCLI; p++)
		if (!ML.ever[p] && S.ne->link[p].c.drops[NAT_R_RATE] != 0)
			fail("port %u has %llu rate drops and never had a limit",
			    p, (unsigned long long)S.ne->link[p].c.drops[NAT_R_RATE]);
}

static void
check_arp(unsigned port, const struct pkt_view *v)
{
	const struct arp_ipv4 *a = pkt_arp(v);
	unsigned op = ntohs(a->op_be);

	if (port == MQ_PORT_UPLINK) {
		if (a->spa_be != ad[A_US] || (op == ARPOP_REQUEST_ &&
		    a->tpa_be != ad[A_GW]) || (op != ARPOP_REQUEST_ &&
		    op != ARPOP_REPLY_))
			fail("ARP to the uplink that is not moat's own (%u %s > %s)",
			    op, A(a->spa_be), A(a->tpa_be));
		return;
	}
	if (op != ARPOP_REPLY_ || (a->tpa_be != cip(port) && a->tpa_be != 0))
		fail("ARP to client %u that does not answer it (%u %s > %s)", port,
		    op, A(a->spa_be), A(a->tpa_be));
}

static void
check_uplink(const struct pkt_view *v, const struct rec *r)
{
	const struct ipv4_hdr *ip = pkt_ip4(v);
	uint32_t src = ip->saddr_be, dst = ip->daddr_be;
	int err = v->proto == IPPROTO_ICMP_ && v->has_l4 && icmp_is_err(v->icmp_type);
	struct pkt_view in;
	unsigned i, c;
	int k;

	if (src != ad[A_US])
		fail("frame to the uplink from %s, not moat's address", A(src));
	if (r == NULL) {
		if (v->proto == IPPROTO_TCP_ && v->has_l4 &&
		    (v->tcp_flags & TCP_RST) && pkt_l4_payload_len(v) == 0) {
			for (i = 0; i < S.nfl; i++)
				if (S.fl[i].ever && S.fl[i].proto == IPPROTO_TCP_ &&
				    rdst(&S.fl[i]) == dst && S.fl[i].dport == v->dport)
					return;
			if (fwd_rst_ok(dst, v->dport))
				return;
			fail("RST to %s:%u, no flow there was ever accepted",
			    A(dst), v->dport);
		}
		if (err && quote(v, &in) == 0 && qdst(&in) == ad[A_US] &&
		    qsrc(&in) == dst && !client_of(dst))
			return;
		fail("untagged frame to the uplink: proto %u %s > %s", v->proto,
		    A(src), A(dst));
	}
	if (r->port == MQ_PORT_UPLINK) {
		if (!((v->proto == IPPROTO_ICMP_ && v->has_l4 &&
		    v->icmp_type == ICMP_ECHOREPLY) || err) || dst != r->src)
			fail("uplink frame from %s sent back out to %s", A(r->src),
			    A(dst));
		return;
	}
	c = r->port;
	if (err) {
		if (!r->icmperr)
			fail("ICMP error about client %u's frame sent to the uplink", c);
		if (quote(v, &in) == -1)
			fail("client %u's ICMP error left with a broken quote", c);
		if (qdst(&in) != ad[A_US])
			fail("client %u's ICMP error left quoting a packet to %s, "
			    "not to moat", c, A(qdst(&in)));
		if (qsrc(&in) != dst && !known("exfil"))
			fail("client %u's ICMP error sent to %s, but it quotes a "
			    "packet from %s (exfiltration)", c, A(dst), A(qsrc(&in)));
		if (!quoted_flow_ok(c, &in) && !fwd_quote_ok(c, &in))
			fail("client %u's ICMP error about a %s flow (proto %u) the "
			    "policy does not allow now", c, A(qsrc(&in)), in.proto);
		return;
	}
	if (r->icmperr)
		fail("client %u's ICMP error left as type %u", c, v->icmp_type);
	if (v->proto != r->proto)
		fail("client %u's proto %u frame left as proto %u", c, r->proto,
		    v->proto);
	if (v->is_frag && !v->frag_first) {
		for (i = 0; i < S.nfl; i++) {
			const struct mflow *f = &S.fl[i];

			if (f->port == c && f->proto == r->proto && f->dst == r->dst &&
			    rdst(f) == dst && allowed_now((int)i) &&
			    frag_has(&S.cfrag, c, r->dst, r->proto, r->fid))
				return;
		}
		if (fwd_reply_ok(c, v, r))
			return;
		fail("client %u's fragment (id %u) to %s left without an "
		    "allowed flow", c, r->fid, A(dst));
	}
	/* (the reverse of a forwarded flow first: the model may also think
	 * a flow of the client's own on that 5-tuple allowed, one natd no
	 * longer has) */
	if (fwd_reply_ok(c, v, r))
		return;
	k = find_flow(c, r->proto, r->src, r->dst, r->sport, r->dport);
	if (!allowed_now(k))
		fail("client %u's frame proto %u %s:%u > %s:%u left; the policy "
		    "does not allow that flow now", c, r->proto, A(r->src), r->sport,
		    A(r->dst), r->dport);
	if (dst != rdst(&S.fl[k]))
		fail("client %u's frame to %s left for %s", c, A(r->dst), A(dst));
	if (v->proto == IPPROTO_ICMP_)
		S.fl[k].nsport = v->icmp_id;
	else {
		if (v->dport != r->dport)
			fail("client %u's frame to port %u left for port %u", c,
			    r->dport, v->dport);
		S.fl[k].nsport = v->sport;
		fwd_check_nat_port(c, v);
	}
}

static void
check_client(unsigned p, const struct pkt_view *v, const struct rec *r)
{
	const struct ipv4_hdr *ip = pkt_ip4(v);
	uint32_t src = ip->saddr_be, dst = ip->daddr_be;
	int err = v->proto == IPPROTO_ICMP_ && v->has_l4 && icmp_is_err(v->icmp_type);
	struct pkt_view in;
	unsigned i, c;
	int k, k2;

	if (dst != cip(p))
		fail("frame to client %u addressed to %s", p, A(dst));
	if (err && quote(v, &in) == -1)
		fail("ICMP error to client %u with a broken quote", p);
	if (r == NULL) {
		if (v->proto == IPPROTO_TCP_ && v->has_l4 &&
		    (v->tcp_flags & TCP_RST) && pkt_l4_payload_len(v) == 0)
			return;
		if (err && qsrc(&in) == cip(p) && (src == ad[A_VGW] || src == ad[A_US]))
			return;
		if (err && qsrc(&in) == cip(p) && allowed_now(find_flow(p, in.proto,
		    cip(p), qdst(&in), in.proto == IPPROTO_ICMP_ ? in.icmp_id :
		    in.sport, in.dport)))
			return;
		fail("untagged frame to client %u: proto %u %s > %s", p, v->proto,
		    A(src), A(dst));
	}
	if (r->port == MQ_PORT_UPLINK) {
		if (err) {
			if ((qsrc(&in) != cip(p) || !allowed_now(find_flow(p, in.proto,
			    cip(p), qdst(&in), in.proto == IPPROTO_ICMP_ ?
			    in.icmp_id : in.sport, in.dport))) &&
			    !fwd_icmp_in_ok(p, &in))
				fail("ICMP error from %s to client %u about a flow "
				    "%s > %s proto %u it has not (or no longer) open",
				    A(src), p, A(qsrc(&in)), A(qdst(&in)), in.proto);
			return;
		}
		if (v->is_frag && !v->frag_first) {
			/* natd releases the fragments that came early as the
			 * first one arrives, before forwarding that one */
			const struct rec *h = S.cur >= 0 ? &S.rec[S.cur] : NULL;
			int first = (h != NULL && h->port == MQ_PORT_UPLINK &&
			    h->first && h->src == r->src && h->proto == r->proto &&
			    h->fid == r->fid) || frag_has(&S.ufrag, p, r->src, r->proto, r->fid);

			for (i = 0; i < S.nfl; i++)
				if (S.fl[i].port == p && S.fl[i].proto == r->proto &&
				    rdst(&S.fl[i]) == r->src && allowed_now((int)i) &&
				    first)
					return;
			if (fwd_frag_in_ok(p, r, first))
				return;
			fail("fragment from %s (id %u) to client %u without an "
			    "allowed flow", A(r->src), r->fid, p);
		}
		if (fwd_in_ok(p, v, r))
			return;
		if (v->proto == IPPROTO_ICMP_) {
			if (v->icmp_type != ICMP_ECHOREPLY)
				fail("ICMP type %u from %s to client %u", v->icmp_type,
				    A(r->src), p);
			k = find_flow(p, IPPROTO_ICMP_, cip(p), src, v->icmp_id, 0);
		} else
			k = find_flow(p, v->proto, cip(p), src, v->dport, v->sport);
		if (!allowed_now(k))
			fail("frame from %s to client %u (proto %u, as %s:%u > :%u) of "
			    "a flow it has not (or no longer) open", A(r->src), p,
			    v->proto, A(src), v->sport, v->dport);
		if (r->src != rdst(&S.fl[k]))
			fail("client %u's flow to %s answered by %s", p, A(src),
			    A(r->src));
		/* Another client's translated port must not reach this one.
		 * (A flow whose first frame never left, e.g. too big for the
		 * link, has no known port yet: it is learned here.) */
		if (S.fl[k].nsport < 0)
			S.fl[k].nsport = v->proto == IPPROTO_ICMP_ ? r->sport :
			    r->dport;
		for (i = 0; i < S.nfl; i++) {
			const struct mflow *f = &S.fl[i];

			if (f->port != p && f->proto == v->proto &&
			    rdst(f) == r->src && (v->proto == IPPROTO_ICMP_ ||
			    f->dport == r->sport) &&
			    f->nsport >= 0 && f->nsport == (v->proto ==
			    IPPROTO_ICMP_ ? r->sport : r->dport) &&
			    S.fl[k].nsport != f->nsport && allowed_now((int)i))
				fail("frame for client %u's port %u delivered to "
				    "client %u", f->port, f->nsport, p);
		}
		if (v->is_frag)
			frag_add(&S.ufrag, p, r->src, r->proto, r->fid);
		return;
	}
	c = r->port;
	if (c == p) {
		/* moat's own answers to the client */
		if (v->proto == IPPROTO_ICMP_ && v->has_l4 &&
		    v->icmp_type == ICMP_ECHOREPLY && r->proto == IPPROTO_ICMP_ &&
		    !r->icmperr && (r->dst == ad[A_VGW] || r->dst == ad[A_US]) &&
		    src == r->dst)
			return;
		if (err && !r->icmperr && qsrc(&in) == cip(p) &&
		    (src == ad[A_VGW] || src == ad[A_US]))
			return;
	}
	if (err)
		fail("ICMP error from client %u delivered to client %u", c, p);
	if (src != cip(c))
		fail("frame from client %u to client %u with source %s", c, p,
		    A(src));
	if (v->is_frag && !v->frag_first) {
		for (i = 0; i < S.nfl; i++) {
			const struct mflow *f = &S.fl[i];

			if (f->proto == r->proto && allowed_now((int)i) &&
			    ((f->port == c && f->dst == cip(p)) ||
			    (f->port == p && f->dst == cip(c))))
				return;
		}
		fail("fragment from client %u to client %u without a rule", c, p);
	}
	if (v->proto == IPPROTO_ICMP_) {
		k = find_flow(c, IPPROTO_ICMP_, cip(c), cip(p), v->icmp_id, 0);
		k2 = find_flow(p, IPPROTO_ICMP_, cip(p), cip(c), v->icmp_id, 0);
		if (v->icmp_type == ICMP_ECHO)
			k2 = -1;
		else
			k = -1;
	} else {
		k = find_flow(c, v->proto, cip(c), cip(p), v->sport, v->dport);
		k2 = find_flow(p, v->proto, cip(p), cip(c), v->dport, v->sport);
	}
	if (!allowed_now(k) && !allowed_now(k2))
		fail("client %u reached client %u (proto %u %u > %u) without a rule",
		    c, p, v->proto, v->sport, v->dport);
}

/* A frame natd hands out, checked the moment it does. */
static void
check_out(const struct mq_desc *d)
{
	struct pkt_view v;
	const struct rec *r;
	int t;

	if (pkt_parse(&v, mem + (size_t)d->buf * BUFSZ + d->off, d->len) != PKT_OK)
		fail("unparsable frame to port %u", d->port);
	if (d->port != MQ_PORT_UPLINK && (d->port > NCLI || d->port == 0))
		fail("frame to port %u, which does not exist", d->port);
	if (v.l3 == PKT_L3_ARP) {
		check_arp(d->port, &v);
		return;
	}
	if (v.l3 != PKT_L3_IPV4)
		fail("non-IPv4 frame (ethertype %#x) to port %u", v.ethertype,
		    d->port);
	if (has_srcroute(&v) && !known("srcroute"))
		fail("source-routed packet (LSRR/SSRR) sent to port %u", d->port);
	t = get_tag(&v);
	r = t >= 0 ? &S.rec[t] : NULL;
	names_out(d->port, r);
	S.nout[d->port]++;
	TRACE("  out port %u proto %u %s > %s tag %d\n", d->port, v.proto,
	    A(pkt_ip4(&v)->saddr_be), A(pkt_ip4(&v)->daddr_be), t);
	lim_check_frame(d->port, &v, r);
	if (d->port == MQ_PORT_UPLINK)
		check_uplink(&v, r);
	else
		check_client(d->port, &v, r);
	/* A forwarded frame keeps a bad checksum bad. */
	if (r != NULL && r->l4bad && !v.is_frag && v.proto == r->proto &&
	    r->icmperr == (v.proto == IPPROTO_ICMP_ && icmp_is_err(v.icmp_type)) &&
	    pkt_l4_csum_ok(&v) && !(r->icmperr && known("csum")))
		fail("a frame with a bad proto %u checksum left port %u with a "
		    "good one", v.proto, d->port);
	if (v.has_l4 && !(v.proto == IPPROTO_ICMP_ && icmp_is_err(v.icmp_type))) {
		if (d->port == MQ_PORT_UPLINK)
			logseen(S.uplog, &S.nuplog, &v);
		else
			logseen(S.clog[d->port], &S.nclog[d->port], &v);
	}
}

/* ---- natd's output interface ---- */

static void
f_tx(void *arg, const struct mq_desc *d)
{
	(void)arg;
	if (!mq_desc_ok(&pool, d) || d->buf >= NBUFS)
		fail("bad descriptor (buf %u)", d->buf);
	if (!S.owner[d->buf])
		fail("buffer %u handed out, but natd does not hold it", d->buf);
	S.owner[d->buf] = 0;
	S.nowned--;
	if (d->port != MQ_PORT_DROP)
		check_out(d);
}

static int
f_fr(void *arg, const struct flow_req *r)
{
	struct qent *e;
	int k;

	(void)arg;
	if (r->flags & FREQ_LEARN)
		return names_fr(r);
	if (S.ring_full || S.rqt - S.rqh >= QCAP ||
	    S.rqt - S.rqh + S.nwl + S.vqt - S.vqh >= QMAX - 1) {
		if (r->flags & FREQ_RECHECK)
			S.refused_now = S.ring_refused = 1;
		return -1;
	}
	if (r->family != 4 || r->port == 0 || r->port > NCLI)
		fail("flow request family %u port %u", r->family, r->port);
	if (!(r->flags & FREQ_RECHECK)) {
		/* A new flow: asked while its first packet is being input. */
		const struct rec *in = S.cur >= 0 ? &S.rec[S.cur] : NULL;
		uint32_t s, t;

		memcpy(&s, r->src, 4);
		memcpy(&t, r->dst, 4);
		if (in == NULL || in->port != r->port || in->src != s ||
		    in->dst != t || in->proto != r->proto ||
		    (r->proto != IPPROTO_ICMP_ && (in->sport != r->sport ||
		    in->dport != r->dport)) ||
		    (r->proto == IPPROTO_ICMP_ && r->icmp_type != ICMP_ECHO))
			fail("natd asked about a new flow port %u proto %u %s:%u > "
			    "%s:%u that is not the frame being input", r->port,
			    r->proto, A(s), r->sport, A(t), r->dport);
		k = get_flow(in->port, in->proto, in->src, in->dst, in->sport,
		    in->dport);
		/* natd's seq carries the flow's slot (nat.h): it names the
		 * flow its later re-checks are about. */
		S.kmap[r->seq & (FT_MAX_FLOWS - 1) & 1023] = k;
	} else {
		const struct mflow *f;
		uint32_t s, t;

		k = S.kmap[r->seq & (FT_MAX_FLOWS - 1) & 1023];
		memcpy(&s, r->src, 4);
		memcpy(&t, r->dst, 4);
		if (k < 0)
			fail("re-check of a flow natd never asked about");
		f = &S.fl[k];
		if (f->port != r->port || f->src != s || f->dst != t ||
		    f->proto != r->proto || (r->proto != IPPROTO_ICMP_ &&
		    (f->sport != r->sport || f->dport != r->dport)))
			fail("re-check port %u proto %u %s:%u > %s:%u does not match "
			    "the flow in that slot", r->port, r->proto, A(s),
			    r->sport, A(t), r->dport);
	}
	S.nreq++;
	S.fl[k].lastseq = r->seq;
	TRACE("  request seq %#x flow %d%s\n", r->seq, k,
	    r->flags & FREQ_RECHECK ? " (re-check)" : "");
	e = &S.rq[S.rqt++ % QMAX];
	e->r = *r;
	e->k = k;
	S.fl[k].outstanding++;
	return 0;
}

/* ---- policyd, as policyd/flows.c and policyd.c drive its engine ---- */

/* 1 when policyd decided (and the reference agrees), 0 when it waits. */
static int
decide(struct qent *e, int final)
{
	uint32_t s, t;
	uint8_t m;

	if (!engine_decide(&S.pe, &e->r, S.now, unix_now(), final, &e->v)) {
		if (final)
			fail("policyd still waits for a DNS name on its final try");
		return 0;
	}
	memcpy(&s, e->r.src, 4);
	memcpy(&t, e->r.dst, 4);
	judging = final;
	names_recheck = (e->r.flags & FREQ_RECHECK) != 0;
	m = meval(e->r.port, s, e->r.proto, t, e->r.dport, e->r.icmp_type);
	names_recheck = 0;
	judging = -1;
	if (e->v.action != m)
		fail("policyd says %u, the reference %u, for port %u proto "
		    "%u %s > %s:%u type %u", e->v.action, m, e->r.port,
		    e->r.proto, A(s), A(t), e->r.dport, e->r.icmp_type);
	S.vq[S.vqt++ % QMAX] = *e;
	return 1;
}

/* pd_flows_retry: the flows waiting for names, final past their deadline */
static void
retry(void)
{
	unsigned i = 0;

	while (i < S.nwl)
		if (decide(&S.wl[i], S.now >= S.wl[i].deadline))
			S.wl[i] = S.wl[--S.nwl];
		else
			i++;
}

static void
dns_stub(void)
{
	struct msg_dns_query mq;
	int more = 1;

	while (more) {
		more = 0;
		while (dnsc_next_query(&S.dns, S.now, &mq)) {
			struct msg_dns_answer a;
			unsigned h;

			for (h = 0; h < 5 && strcmp(mq.name, HOSTS[h]) != 0; h++)
				;
			if (h == 5)
				fail("policyd asks for %s, which no rule names", mq.name);
			if (h == 4)
				continue;
			memset(&a, 0, sizeof a);
			a.qid = mq.qid;
			a.qtype = mq.qtype;
			a.ttl = 30;
			a.status = h == 3 ? -1 : 0;
			while (a.naddr < DNS_ANSWER_MAX &&
			    host_addr(h, a.naddr, (uint32_t *)a.addr[a.naddr]))
				a.naddr++;
			more |= dnsc_answer(&S.dns, &a, S.now);
		}
		/* an answer may let waiting flows be decided, or need more */
		if (more)
			retry();
	}
}

/* pd_flows_step: every request in the ring is decided or waits. */
static void
decide_all(void)
{
	retry();
	while (S.rqh != S.rqt) {
		struct qent *e = &S.rq[S.rqh++ % QMAX];

		if (e->r.flags & FREQ_LEARN) {
			names_apply(e, S.rqh - 1);
			continue;
		}
		if (!decide(e, 0)) {
			e->deadline = S.now + PD_DNS_WAIT_MS;
			S.wl[S.nwl++] = *e;
		}
	}
	dns_stub();
}

static void
deliver(unsigned n)
{
	while (n-- > 0 && S.vqh != S.vqt) {
		struct qent *e = &S.vq[S.vqh++ % QMAX];
		struct flow_verdict v = e->v;
		struct mflow *f = &S.fl[e->k];

		/* The model takes the verdict as natd does, before natd
		 * releases (or cuts) the flow's frames. natd only listens to
		 * the answer to its latest request about a flow: an older one
		 * may be about an earlier flow in the same slot. A newer
		 * request is then outstanding, and its verdict decides. */
		f->outstanding--;
		if (v.action == VERDICT_ACCEPT)
			S.nacc++;
		else
			S.ndeny++;
		if (v.seq != f->lastseq)
			;
		else if (v.action == VERDICT_ACCEPT) {
			if (!(e->r.flags & FREQ_RECHECK))
				f->allowed = f->ever = 1;
		} else
			f->allowed = 0;
		TRACE("  verdict seq %#x flow %d: %u\n", v.seq, e->k, v.action);
		nat_verdict(S.ne, &v, S.now);
	}
}

static void
notify(void)
{
	TRACE("  natd told: rules changed\n");
	S.unnotified = 0;
	S.refused_now = 0;
	nat_rules_changed(S.ne, S.pe.generation, S.now);
	if (!S.refused_now)
		S.ring_refused = 0;
}

static void
tick(void)
{
	S.refused_now = 0;
	nat_tick(S.ne, S.now);
	if (!S.refused_now)
		S.ring_refused = 0;
}

static void
settle(void)
{
	unsigned n;

	if (!S.autom)
		return;
	if (S.unnotified)
		notify();
	for (n = 0; n < 8 && (S.rqh != S.rqt || S.vqh != S.vqt); n++) {
		decide_all();
		deliver(QMAX);
	}
}

static void
rules_changed(void)
{
	S.unnotified = 1;
	S.next_expire = engine_next_expire(&S.pe, unix_now());
}

/* ---- input (fuzz_input.h: get()) ---- */

static int
new_rec(const struct rec *r)
{
	if (S.nrec == MAXREC)
		return -1;
	S.rec[S.nrec] = *r;
	return (int)S.nrec++;
}

static void
put_tag(uint8_t *p, int n)
{
	uint32_t u = (uint32_t)n;

	memcpy(p, TAGMAGIC, 4);
	memcpy(p + 4, &u, 4);
}

/* Hand a frame to natd on port (as netbackd would). */
static void
inject(unsigned port, const uint8_t *f, size_t len, int rec)
{
	struct mq_desc d;
	unsigned i;

	for (i = 0; i < NBUFS && S.owner[S.bufcur]; i++)
		S.bufcur = (S.bufcur + 1) % NBUFS;
	if (S.owner[S.bufcur])
		return;		/* natd holds every buffer: netbackd waits */
	memset(&d, 0, sizeof d);
	d.buf = S.bufcur;
	d.off = BOFF;
	d.len = (uint32_t)len;
	d.port = (uint16_t)port;
	memcpy(mem + (size_t)d.buf * BUFSZ + BOFF, f, len);
	S.owner[d.buf] = 1;
	S.nowned++;
	S.cur = rec;
	TRACE("  in port %u rec %d (%zu bytes)\n", port, rec, len);
	nat_input(S.ne, &d, S.now);
	S.cur = -1;
}

/* Ethernet and IPv4 header (with options); returns the L4 offset. */
static size_t
mk_ip(uint8_t *f, unsigned port, uint32_t src, uint32_t dst, uint8_t proto,
    uint8_t ttl, uint16_t id, uint16_t frag, const uint8_t *opt, size_t optlen,
    size_t l4len)
{
	struct eth_hdr *eh = (struct eth_hdr *)f;
	uint8_t m[6];

	if (port == MQ_PORT_UPLINK) {
		memcpy(eh->src, MAC_GW, 6);
		our_mac(0, eh->dst);
	} else {
		vm_mac(port, eh->src);
		our_mac(port, m);
		memcpy(eh->dst, m, 6);
	}
	eh->type_be = htons(ETHERTYPE_IPV4);
	nh_ip4_hdr(f + 14, src, dst, proto, ttl, id, frag, optlen, l4len);
	if (optlen)	/* the DNS events pass no options (opt NULL) */
		memcpy(f + 34, opt, optlen);
	return 34 + optlen;
}

static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* Checksums right, then spoiled as the variant asks. */
static void
finish(uint8_t *f, size_t len, int bad_ip, int bad_l4)
{
	struct pkt_view v;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(f + 14);

	ip->csum = 0;
	ip->csum = ip_checksum(ip, (size_t)(ip->ver_ihl & 0x0f) * 4);
	if (pkt_parse(&v, f, len) == PKT_OK && v.has_l4 && !v.is_frag) {
		pkt_l4_csum_set(&v);
		if (bad_l4) {
			uint8_t *c = v.frame + v.l4_off + (v.proto == IPPROTO_TCP_ ?
			    16 : v.proto == IPPROTO_UDP_ ? 6 : 2);
			uint16_t x;

			/* Wrong by one bit, and never 0 or 0xffff: UDP's "no
			 * checksum", or the other form of a right one. */
			memcpy(&x, c, 2);
			x ^= htons(1);
			if (x == 0 || x == 0xffff)
				x ^= htons(3);
			memcpy(c, &x, 2);
		}
	}
	if (bad_ip)
		ip->csum ^= 0x0101;
}

/* The IP options of a variant: 0 none, 1 record route, 2 LSRR, 3 SSRR,
 * 4 NOPs and a timestamp. */
static size_t
options(unsigned kind, uint8_t *o)
{
	uint32_t a = ad[A_ROUTER];

	memset(o, 0, 12);
	switch (kind) {
	case 1:
	case 2:
	case 3:
		o[0] = kind == 1 ? 0x07 : kind == 2 ? 0x83 : 0x89;
		o[1] = 7;
		o[2] = 4;
		memcpy(o + 3, &a, 4);
		o[7] = 0;
		return 8;
	case 4:
		o[0] = 1;
		o[1] = 1;
		o[2] = 0x44;
		o[3] = 8;
		o[4] = 5;
		o[5] = 0;
		return 12;
	}
	return 0;
}

struct l4spec {
	uint8_t		proto, flags, itype;
	uint16_t	sport, dport;	/* ICMP: sport is the echo id */
	uint32_t	seq, ack;
};

/* L4 header + tag + filler into p; returns its length. frag: 0 whole,
 * 1 first fragment, 2 a later one (data only). */
static size_t
mk_l4(uint8_t *p, const struct l4spec *s, size_t paylen, int frag, int tag)
{
	size_t h;

	if (paylen < 8)
		paylen = 8;
	if (frag == 2) {
		put_tag(p, tag);
		fill(p + 8, paylen - 8, (uint8_t)tag);
		return paylen;
	}
	switch (s->proto) {
	case IPPROTO_TCP_: {
		struct tcp_hdr *th = (struct tcp_hdr *)p;

		memset(th, 0, 20);
		th->sport_be = htons(s->sport);
		th->dport_be = htons(s->dport);
		/* never the tag's first byte: ICMP errors quote this */
		th->seq_be = htonl(s->seq & 0x7fffffff);
		th->ack_be = htonl(s->ack & 0x7fffffff);
		th->doff_rsv = 5 << 4;
		th->flags = s->flags;
		th->win_be = htons(65535);
		h = 20;
		break;
	}
	case IPPROTO_UDP_: {
		struct udp_hdr *uh = (struct udp_hdr *)p;

		uh->sport_be = htons(s->sport);
		uh->dport_be = htons(s->dport);
		uh->len_be = htons((uint16_t)(8 + paylen + (frag ? 64 : 0)));
		uh->csum = 0;
		h = 8;
		break;
	}
	default: {
		struct icmp_hdr *ih = (struct icmp_hdr *)p;

		memset(ih, 0, 8);
		ih->type = s->itype;
		ih->u.echo.id_be = htons(s->sport);
		ih->u.echo.seq_be = htons(s->dport);
		h = 8;
	}
	}
	put_tag(p + h, tag);
	fill(p + h + 8, paylen - 8, (uint8_t)tag);
	return h + paylen;
}

static const uint8_t TCPFL[8] = { TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK,
	TCP_ACK | TCP_PSH, TCP_FIN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK, 0 };
static const uint16_t FIDS[4] = { 0x1111, 0x2222, 0x3333, 0x4444 };

/*
 * One frame from a client or the uplink. variant: 0-5 plain, 6 bad IPv4
 * checksum, 7 bad L4 checksum, 8 TTL 1, 9 record route + timestamp,
 * 10 LSRR, 11 SSRR, 12 first fragment, 13 later fragment, 14 spoofed
 * source, 15 too big for the link.
 */
static void
send_frame(unsigned port, uint32_t src, uint32_t dst, const struct l4spec *s,
    unsigned variant, size_t paylen, uint8_t fsel)
{
	static uint8_t f[BUFSZ];
	uint8_t opt[12];
	size_t optlen = 0, l4off, l4len;
	struct rec r;
	uint16_t frag = 0, fid = FIDS[fsel % 4];
	uint8_t ttl = 64;
	int frg = 0, n;

	variant %= 16;
	if (variant == 9)
		optlen = options((fsel & 1) ? 4 : 1, opt);
	else if (variant == 10 || variant == 11)
		optlen = options(variant - 8, opt);
	if (variant == 8)
		ttl = 1;
	if (variant == 12) {
		frg = 1;
		frag = IPV4_MF;
	} else if (variant == 13) {
		frg = 2;
		/* offset in 8-byte units, past any first fragment we build */
		frag = (uint16_t)((200 + (fsel >> 2) % 4) |
		    ((fsel & 0x40) ? IPV4_MF : 0));
	} else if (s->proto == IPPROTO_TCP_)
		frag = IPV4_DF;
	if (variant == 14)
		src = port == MQ_PORT_UPLINK ? ad[A_C2] : ad[A_R1 + fsel % 2];
	if (variant == 15) {
		paylen = 1480;
		frag = (fsel & 1) ? IPV4_DF : 0;
	}
	memset(&r, 0, sizeof r);
	r.port = (uint8_t)port;
	r.proto = s->proto;
	r.frag = frg != 0;
	r.first = frg == 1;
	r.fid = fid;
	r.src = src;
	r.dst = dst;
	r.sport = s->sport;
	r.dport = s->proto == IPPROTO_ICMP_ ? 0 : s->dport;
	r.icmptype = s->itype;
	r.l4bad = variant == 7 && !frg;
	if ((n = new_rec(&r)) < 0)
		return;
	l4off = 14 + 20 + optlen;
	l4len = mk_l4(f + l4off, s, paylen, frg, n);
	mk_ip(f, port, src, dst, s->proto, ttl, frg ? fid : (uint16_t)(n * 13),
	    frag, opt, optlen, l4len);
	finish(f, l4off + l4len, variant == 6, variant == 7);
	if (port != MQ_PORT_UPLINK && frg == 1)
		frag_add(&S.cfrag, port, dst, s->proto, fid);
	fwd_note_in(&S.rec[n], s->flags);
	inject(port, f, l4off + l4len, n);
}

static void
ev_client_frame(void)
{
	unsigned p = 1 + get() % NCLI, pr = get() % 4, variant;
	struct l4spec s;
	uint32_t dst = ad[get() % NADDR];
	uint8_t b, len, fl;

	memset(&s, 0, sizeof s);
	s.sport = PORTS[get() % 8];
	s.dport = PORTS[get() % 8];
	variant = get();
	len = get();
	fl = get();
	b = get();
	s.seq = (uint32_t)b << 8 | fl;
	s.ack = (uint32_t)len << 4;
	s.proto = pr == 0 ? IPPROTO_TCP_ : pr == 1 ? IPPROTO_UDP_ : IPPROTO_ICMP_;
	s.flags = TCPFL[fl % 8];
	s.itype = pr == 3 ? ICMP_ECHOREPLY : ICMP_ECHO;
	if (s.proto == IPPROTO_ICMP_)
		s.sport = (uint16_t)(0x100 + (b % 4));
	send_frame(p, cip(p), dst, &s, variant, (size_t)len * 2 + 8, fl);
}

/* An ICMP error whose quote (hdr, hlen bytes: IPv4 header + 8) is followed
 * by the tag and extra bytes. */
static void
send_icmp_error(unsigned port, uint32_t src, uint32_t dst, uint8_t type,
    uint8_t code, const uint8_t *hdr, size_t hlen, size_t extra, int bad,
    unsigned optkind)
{
	static uint8_t f[BUFSZ];
	uint8_t opt[12];
	size_t optlen = options(optkind, opt), l4off = 34 + optlen, l4len;
	struct icmp_hdr *ih;
	struct rec r;
	int n;

	memset(&r, 0, sizeof r);
	r.port = (uint8_t)port;
	r.proto = IPPROTO_ICMP_;
	r.icmperr = 1;
	r.src = src;
	r.dst = dst;
	r.icmptype = type;
	r.l4bad = bad != 0;
	if ((n = new_rec(&r)) < 0)
		return;
	ih = (struct icmp_hdr *)(f + l4off);
	memset(ih, 0, 8);
	ih->type = type;
	ih->code = code;
	if (type == ICMP_DEST_UNREACH && code == ICMP_FRAG_NEEDED)
		ih->u.frag.mtu_be = htons(1400);
	memcpy(f + l4off + 8, hdr, hlen);
	put_tag(f + l4off + 8 + hlen, n);
	fill(f + l4off + 16 + hlen, extra, 0x55);
	l4len = 16 + hlen + extra;
	mk_ip(f, port, src, dst, IPPROTO_ICMP_, 64, (uint16_t)(n * 13), 0, opt,
	    optlen, l4len);
	finish(f, l4off + l4len, 0, bad);
	inject(port, f, l4off + l4len, n);
}

/* A quote of a packet nobody sent: src -> dst with ports. */
static size_t
made_up_quote(uint8_t *h, uint32_t src, uint32_t dst, uint8_t pr, uint16_t sp,
    uint16_t dp)
{
	struct ipv4_hdr *ip = (struct ipv4_hdr *)h;

	memset(h, 0, 28);
	ip->ver_ihl = 0x45;
	ip->tot_len_be = htons(100);
	ip->ttl = 60;
	ip->proto = pr;
	ip->saddr_be = src;
	ip->daddr_be = dst;
	ip->csum = ip_checksum(ip, 20);
	if (pr == IPPROTO_ICMP_) {
		h[20] = ICMP_ECHOREPLY;
		h[24] = (uint8_t)(sp >> 8);
		h[25] = (uint8_t)sp;
	} else {
		h[20] = (uint8_t)(sp >> 8);
		h[21] = (uint8_t)sp;
		h[22] = (uint8_t)(dp >> 8);
		h[23] = (uint8_t)dp;
	}
	return 28;
}

/* b = 0 is the newest frame of the log, 1 the one before... */
static const struct seen *
logpick(const struct seen *ring, unsigned n, uint8_t b)
{
	unsigned have = n < NLOG ? n : NLOG;

	return &ring[(n - 1 - b % have) % NLOG];
}

static const uint8_t ERRS[5][2] = { { 3, 3 }, { 3, 4 }, { 11, 0 }, { 12, 0 },
	{ 3, 13 } };

static void
ev_client_error(void)
{
	unsigned p = 1 + get() % NCLI;
	uint8_t qs = get(), ds = get(), ts = get() % 5, var = get(), a = get();
	uint8_t h[68];
	size_t hl;
	uint32_t dst;

	if (!(qs & 0x80) && S.nclog[p] > 0) {
		const struct seen *s = logpick(S.clog[p], S.nclog[p], qs);

		memcpy(h, s->hdr, s->len);
		hl = s->len;
	} else
		hl = made_up_quote(h, ad[a % NADDR], cip(p), (uint8_t)(a & 0x40 ?
		    IPPROTO_ICMP_ : a & 0x20 ? IPPROTO_TCP_ : IPPROTO_UDP_),
		    PORTS[(a >> 2) % 8], (uint16_t)(0x100 + (a & 3)));
	/* to the quoted packet's sender, or anywhere */
	dst = ds < 0x80 ? ((struct ipv4_hdr *)h)->saddr_be : ad[ds % NADDR];
	send_icmp_error(p, cip(p), dst, ERRS[ts][0], ERRS[ts][1], h, hl,
	    (size_t)(var >> 2) * 24, var & 1, (var & 2) ? 2 : 0);
}

static const struct seen *
uplog_pick(uint8_t b)
{
	return S.nuplog == 0 ? NULL : logpick(S.uplog, S.nuplog, b);
}

static void
ev_uplink_reply(void)
{
	const struct seen *o = uplog_pick(get());
	unsigned variant = get();
	uint8_t len = get(), fl = get(), fs = get();
	const struct ipv4_hdr *ip;
	const uint8_t *l4;
	struct l4spec s;
	uint32_t src;

	if (o == NULL)
		return;
	ip = (const struct ipv4_hdr *)o->hdr;
	l4 = o->hdr + (ip->ver_ihl & 0x0f) * 4;
	memset(&s, 0, sizeof s);
	s.proto = ip->proto;
	s.flags = TCPFL[fl % 8];
	s.seq = (uint32_t)fl << 12 | len;
	s.ack = (uint32_t)fs << 8;
	if (s.proto == IPPROTO_ICMP_) {
		if (l4[0] != ICMP_ECHO)
			return;
		s.itype = ICMP_ECHOREPLY;
		s.sport = (uint16_t)(l4[4] << 8 | l4[5]);
	} else {
		s.sport = (uint16_t)(l4[2] << 8 | l4[3]);
		s.dport = (uint16_t)(l4[0] << 8 | l4[1]);
	}
	src = ip->daddr_be;
	if (variant % 16 == 14) {
		/* the reply comes from someone else: not spoofing, a stranger */
		src = ad[A_R0 + fs % 3];
		variant = 0;
	}
	send_frame(MQ_PORT_UPLINK, src, ip->saddr_be, &s, variant,
	    (size_t)len * 2 + 8, fs);
}

static void
ev_uplink_made_up(void)
{
	uint32_t src = ad[get() % NADDR];
	uint8_t ds = get(), pr = get() % 4, sp = get(), d1 = get(), d2 = get();
	unsigned variant = get();
	struct l4spec s;

	memset(&s, 0, sizeof s);
	s.proto = pr == 0 ? IPPROTO_TCP_ : pr == 1 ? IPPROTO_UDP_ : IPPROTO_ICMP_;
	s.itype = pr == 3 ? ICMP_ECHOREPLY : ICMP_ECHO;
	s.sport = PORTS[sp % 8];
	s.dport = (d1 & 0x80) ? (uint16_t)(d1 << 8 | d2) : PORTS[d2 % 8];
	if (sp & 0x80)
		s.dport = fwd_port_pick(d1, d2);
	s.flags = TCPFL[d2 % 8];
	if (s.proto == IPPROTO_ICMP_)
		s.sport = (d1 & 0x80) ? (uint16_t)(d1 << 8 | d2) :
		    (uint16_t)(0x100 + d2 % 4);
	send_frame(MQ_PORT_UPLINK, src, ds < 0xc0 ? ad[A_US] : ad[ds % NADDR], &s,
	    variant % 16 == 14 ? 0 : variant, (size_t)(sp & 0x3f) * 4 + 8, d2);
}

static void
ev_uplink_error(void)
{
	uint8_t qs = get(), ts = get() % 5, ss = get(), var = get(), a = get();
	const struct seen *o = (qs & 0x80) ? NULL : uplog_pick(qs);
	uint8_t h[68];
	size_t hl;
	uint32_t src;

	if (o != NULL) {
		memcpy(h, o->hdr, o->len);
		hl = o->len;
	} else
		hl = made_up_quote(h, ad[A_US], ad[a % NADDR], (uint8_t)(a & 0x40 ?
		    IPPROTO_ICMP_ : a & 0x20 ? IPPROTO_TCP_ : IPPROTO_UDP_),
		    (uint16_t)(0x100 + (a & 3)), PORTS[(a >> 2) % 8]);
	if (hl >= 20 && h[9] == IPPROTO_ICMP_ && hl >= 28)
		h[(h[0] & 0x0f) * 4] = ICMP_ECHO;
	/* from the quoted packet's destination or from a router on the way */
	src = ss < 0x80 ? ((struct ipv4_hdr *)h)->daddr_be : ad[ss % NADDR];
	send_icmp_error(MQ_PORT_UPLINK, src, ad[A_US], ERRS[ts][0], ERRS[ts][1],
	    h, hl, (size_t)(var >> 2) * 24, var & 1, (var & 2) ? 2 : 0);
}

static void
ev_arp(void)
{
	unsigned port = get() % (NCLI + 1), kind = get() % 4;
	uint8_t f[64], m[6], sha[6];
	static const uint8_t zero[6], bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint32_t spa, tpa;
	uint16_t op = ARPOP_REQUEST_;
	size_t n;

	our_mac(port, m);
	if (port == MQ_PORT_UPLINK) {
		memcpy(sha, MAC_GW, 6);
		spa = ad[A_GW];
		tpa = kind == 2 ? ad[A_R1] : ad[A_US];
		if (kind == 1)
			op = ARPOP_REPLY_;
		if (kind == 3)
			spa = ad[A_R0];
	} else {
		vm_mac(port, sha);
		spa = kind == 1 ? cip(1 + port % NCLI) : kind == 3 ? 0 : cip(port);
		tpa = kind == 2 ? cip(port) : ad[A_VGW];
		if (kind == 2)
			op = ARPOP_REPLY_;
	}
	n = pkt_build_arp(f, sizeof f, op, sha, spa, op == ARPOP_REQUEST_ ? bc : m,
	    op == ARPOP_REQUEST_ ? zero : m, tpa);
	if (n != 0)
		inject(port, f, n, -1);
}

/* ---- rule sets ---- */

static const char *const QDST[15] = { "", " dst4=93.184.216.34/32",
	" dst4=198.51.100.0/24", " dst4=10.137.0.10/32", " dst4=10.137.0.11",
	" dst4=10.137.0.12/32", " dst4=10.137.0.0/24", " specialtarget=dns",
	" dst4=10.139.1.1/32", " dst4=192.0.2.53/32", " dsthost=r0.example",
	" dsthost=net.example", " dsthost=c2.example", " dsthost=nx.example",
	" dsthost=slow.example" };
static const char *const QPORTS[8] = { NULL, "53-53", "80-80", "1-1024",
	"443-443", "5000-5003", "0-65535", "40000-40000" };
static const int QIT[4] = { -1, 8, 0, 3 };

static void
mrule_dst(struct mrule *m, uint32_t a, uint8_t plen)
{
	m->dk = 1;
	m->plen = plen;
	m->addr = a & (plen ? htonl(~0u << (32 - plen)) : 0);
}

static void
ev_qubes(void)
{
	unsigned c = 1 + get() % NCLI, b = get(), n = b % 4, i;
	int policy = (b & 4) ? QR_ACCEPT : QR_DROP, bad = (b & 0xe0) == 0xe0;
	struct qrule qr[MAXR];
	uint32_t keys[MAXR];
	struct mset ms;
	char text[160], err[256], why[300];
	uint32_t caddr = cip(c);

	memset(&ms, 0, sizeof ms);
	why[0] = '\0';
	for (i = 0; i < n; i++) {
		uint8_t act = get() & 1, ds = get() % 15, ps = get() % 4, xs = get();
		struct mrule *m = &ms.r[i];
		uint8_t proto = ps == 1 ? IPPROTO_TCP_ : ps == 2 ? IPPROTO_UDP_ :
		    ps == 3 ? IPPROTO_ICMP_ : 0;
		int len;
		char extra[40] = "";

		if (ds == 7 && proto == IPPROTO_ICMP_)
			proto = 0;
		m->action = act ? VERDICT_ACCEPT : VERDICT_REJECT;
		m->proto = proto;
		switch (ds) {
		case 1: mrule_dst(m, ad[A_R0], 32); break;
		case 2: mrule_dst(m, ad[A_R1], 24); break;
		case 3: mrule_dst(m, ad[A_C1], 32); break;
		case 4: mrule_dst(m, ad[A_C2], 32); break;
		case 5: mrule_dst(m, ad[A_C3], 32); break;
		case 6: mrule_dst(m, ad[A_C1], 24); break;
		case 7: m->dk = 2; break;
		case 8: mrule_dst(m, ad[A_VDNS1], 32); break;
		case 9: mrule_dst(m, ad[A_DNS1], 32); break;
		case 0: break;
		default: m->dk = 3; m->host = (uint8_t)(ds - 10); break;
		}
		m->peer = m->dk == 1 && m->plen == 32;
		if ((proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_) && QPORTS[xs % 8]) {
			m->has_ports = 1;
			sscanf(QPORTS[xs % 8], "%hu-%hu", &m->lo, &m->hi);
			snprintf(extra, sizeof extra, " dstports=%s", QPORTS[xs % 8]);
			/* specialtarget=dns on other ports never matches */
			m->never = m->dk == 2 && (m->lo != 53 || m->hi != 53);
		} else if (proto == IPPROTO_ICMP_ && QIT[xs % 4] >= 0) {
			m->has_it = 1;
			m->it = (uint8_t)QIT[xs % 4];
			snprintf(extra, sizeof extra, " icmptype=%d", QIT[xs % 4]);
		}
		len = snprintf(text, sizeof text, "action=%s%s%s%s%s",
		    act ? "accept" : "drop", ds == 7 ? "" : QDST[ds],
		    proto ? (proto == IPPROTO_TCP_ ? " proto=tcp" : proto ==
		    IPPROTO_UDP_ ? " proto=udp" : " proto=icmp") : "",
		    ds == 7 ? QDST[7] : "", extra);
		if (bad && i == n - 1)
			len = snprintf(text, sizeof text, "action=accept dst4=10.0.0.256");
		TRACE("  client %u rule %u: %s\n", c, 10 * (i + 1), text);
		/* keys in reverse: the engine must order them itself */
		keys[n - 1 - i] = 10 * (i + 1);
		if (qrule_parse(text, (size_t)len, &qr[n - 1 - i], err, sizeof err) < 0) {
			if (!(bad && i == n - 1))
				fail("template rule \"%s\" does not parse: %s", text, err);
			snprintf(why, sizeof why, "rule %04u: %s", 10 * (i + 1), err);
		}
	}
	ms.present = 1;
	ms.failed = bad && n > 0;
	ms.n = (uint8_t)(n + 1);
	ms.r[n].action = policy == QR_ACCEPT ? VERDICT_ACCEPT : VERDICT_REJECT;
	engine_qset_install(&S.pe, 4, (const uint8_t *)&caddr, policy, qr, keys,
	    n, why[0] ? why : NULL);
	S.mq[c] = ms;
	rules_changed();
}


/* ---- inbound port forwards (the script's) ----
 *
 * A JSON rule whose action byte is 0xc0 or more is a forward: rule i
 * forwards port 8000 + 100 i (or the range of 4 from there: ds bit 0) to
 * the client fs selects, at port PORTS[xs % 8]; ds bit 1 lets only
 * 198.51.100.0/24 in (2001:db8::/32 for an IPv6 one), ds bit 2 makes it
 * IPv6 only; ps odd: UDP. A made-up
 * uplink frame whose sport byte has bit 7 set goes to one of those ports.
 */
static const char *const FWTO[5] = { "10.137.0.10", "work", "10.137.0.12",
	"10.137.0.10", "10.137.0.11" };

static size_t
fwd_template(unsigned i, uint8_t fs, uint8_t ds, uint8_t ps, uint8_t xs,
    struct mfwd *w, char *doc, size_t cap)
{
	static const unsigned to[5] = { 1, 2, 3, 1, 2 };
	char ports[16], from[48] = "";

	memset(w, 0, sizeof *w);
	w->proto = (ps & 1) ? IPPROTO_UDP_ : IPPROTO_TCP_;
	w->port = (uint8_t)to[fs % 5];
	w->lo = (uint16_t)(8000 + 100 * i);
	w->hi = (ds & 1) ? (uint16_t)(w->lo + 3) : w->lo;
	w->toport = PORTS[xs % 8];
	w->v4 = !(ds & 4);
	if ((ds & 2) && w->v4) {
		w->from = ip4(198, 51, 100, 0);
		w->plen = 24;
		snprintf(from, sizeof from, ", \"from4\": \"198.51.100.0/24\"");
	} else if (ds & 2)
		snprintf(from, sizeof from, ", \"from6\": \"2001:db8::/32\"");
	if (w->lo == w->hi)
		snprintf(ports, sizeof ports, "%u", w->lo);
	else
		snprintf(ports, sizeof ports, "%u-%u", w->lo, w->hi);
	return (size_t)snprintf(doc, cap, "%s{\"action\": \"forward\", "
	    "\"proto\": \"%s\", \"dstports\": \"%s\", \"to\": \"%s\", "
	    "\"toport\": %u%s%s}", i ? ", " : "", w->proto == IPPROTO_UDP_ ?
	    "udp" : "tcp", ports, FWTO[fs % 5], w->toport, from,
	    (ds & 4) ? ", \"family\": \"6\"" : "");
}

static const char *const JFROM[5] = { "*", "10.137.0.10", "work",
	"10.137.0.12", "198.51.100.7" };
static const char *const JDST[13] = { "", ", \"dst4\": \"93.184.216.34\"",
	", \"dst4\": \"198.51.100.0/24\"", ", \"to\": \"10.137.0.10\"",
	", \"to\": \"work\"", ", \"to\": \"10.137.0.12\"",
	", \"specialtarget\": \"dns\"", ", \"dst4\": \"10.137.0.11/32\"",
	", \"dsthost\": \"r0.example\"", ", \"dsthost\": \"net.example\"",
	", \"dsthost\": \"c2.example\"", ", \"dsthost\": \"nx.example\"",
	", \"dsthost\": \"slow.example\"" };
static const char *const JPORTS[8] = { NULL, "\"53\"", "\"80\"", "\"1-1024\"",
	"\"443\"", "\"5000-5003\"", "53", "\"0-65535\"" };
static const char *const JACT[3] = { "accept", "drop", "reject" };

static void
ev_json(void)
{
	unsigned b = get(), n = b % (MAXR + 1), i;
	char doc[2048], err[512];
	size_t off = 0;
	struct mrule mj[MAXR];
	struct mfwd fw[MAXR];
	unsigned nfw = 0;
	struct mlim ml[MAXR];
	unsigned nml = 0;
	int lim_refused = 0;
	struct rset s;
	void *jd;

	memset(mj, 0, sizeof mj);
	off += (size_t)snprintf(doc + off, sizeof doc - off, "{\"version\": 1, "
	    "\"names\": {\"work\": \"10.137.0.11\"}, \"rules\": [");
	for (i = 0; i < n; i++) {
		uint8_t fsb = get(), fs = fsb % 5, asb = get(), as = asb % 3;
		uint8_t ds = get() % 13;
		const char *dstr = JDST[ds];
		uint8_t ps = get() % 4, xs = get(), es = get() % 4;
		struct mrule *m = &mj[i];
		uint8_t proto = ps == 1 ? IPPROTO_TCP_ : ps == 2 ? IPPROTO_UDP_ :
		    ps == 3 ? IPPROTO_ICMP_ : 0;
		char extra[64] = "";
		static const uint32_t *const from[5] = { NULL, &ad[A_C1], &ad[A_C2],
			&ad[A_C3], &ad[A_R1] };

		if (asb >= 0xb8 && asb < 0xc0) {
			/* a rate limit: numbered, never matching a flow */
			m->never = 1;
			off += lim_template(i, fs, ds, ps, xs, ml, &nml,
			    doc + off, sizeof doc - off, &lim_refused);
			continue;
		}
		if (asb >= 0xc0) {
			/* a forward: numbered, never matching a flow */
			m->never = 1;
			off += fwd_template(i, fs, ds, ps, xs, &fw[nfw++],
			    doc + off, sizeof doc - off);
			continue;
		}
		if (ds == 6 && proto == IPPROTO_ICMP_)
			proto = 0;
		m->action = (uint8_t)(as + 1);
		m->proto = proto;
		m->from = from[fs] ? *from[fs] : 0;
		switch (ds) {
		case 1: mrule_dst(m, ad[A_R0], 32); break;
		case 2: mrule_dst(m, ad[A_R1], 24); break;
		case 3: mrule_dst(m, ad[A_C1], 32); m->peer = 1; break;
		case 4: mrule_dst(m, ad[A_C2], 32); m->peer = 1; break;
		case 5: mrule_dst(m, ad[A_C3], 32); m->peer = 1; break;
		case 6: m->dk = 2; break;
		case 7: mrule_dst(m, ad[A_C2], 32); break;
		case 0: break;
		default: m->dk = 3; m->host = (uint8_t)(ds - 8); break;
		}
		names_wild(fsb, ds, m, &dstr);
		if ((proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_) &&
		    JPORTS[xs % 8] && (ds != 6 || xs % 8 == 1 || xs % 8 == 6)) {
			const char *p = JPORTS[xs % 8];

			m->has_ports = 1;
			if (sscanf(p[0] == '"' ? p + 1 : p, "%hu-%hu", &m->lo,
			    &m->hi) != 2)
				m->hi = m->lo;
			snprintf(extra, sizeof extra, ", \"dstports\": %s", p);
		} else if (proto == IPPROTO_ICMP_ && QIT[xs % 4] >= 0) {
			m->has_it = 1;
			m->it = (uint8_t)QIT[xs % 4];
			snprintf(extra, sizeof extra, ", \"icmptype\": %d", QIT[xs % 4]);
		}
		if (es >= 2) {
			m->expire = unix_now() + (es == 2 ? 3 : 30);
			snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
			    ", \"expire\": %lld", (long long)m->expire);
		}
		off += (size_t)snprintf(doc + off, sizeof doc - off,
		    "%s{\"from\": \"%s\", \"action\": \"%s\"%s%s%s}", i ? ", " : "",
		    JFROM[fs], JACT[as], proto ? (proto == IPPROTO_TCP_ ?
		    ", \"proto\": \"tcp\"" : proto == IPPROTO_UDP_ ?
		    ", \"proto\": \"udp\"" : ", \"proto\": \"icmp\"") : "", dstr,
		    extra);
	}
	snprintf(doc + off, sizeof doc - off, "]}");
	if (b >= 0xf0) {
		/* refused as a whole: the rules in force stay */
		snprintf(doc, sizeof doc, "{\"version\": 1, \"rules\": [{\"from\": "
		    "\"*\", \"action\": \"accept\", \"dstport\": \"80\"}]}");
		if (jrules_load(doc, strlen(doc), &s, &jd, err, sizeof err) == 0)
			fail("a JSON document with a misspelt field loads");
		return;
	}
	TRACE("  JSON rules: %s\n", doc);
	if (lim_refused) {
		/* two limits for one client: refused, the rules in force stay */
		if (jrules_load(doc, strlen(doc), &s, &jd, err, sizeof err) == 0)
			fail("a JSON document limiting a client twice loads: %s",
			    doc);
		return;
	}
	if (jrules_load(doc, strlen(doc), &s, &jd, err, sizeof err) != 0)
		fail("template JSON rules do not load: %s: %s", err, doc);
	engine_set_json(&S.pe, &s, jd);
	memcpy(S.mj, mj, sizeof mj);
	S.nmj = n;
	fwd_set_table(fw, nfw);
	lim_set_table(ml, nml);
	rules_changed();
}

/* ---- wildcard name rules (the model's) ----
 *
 * A client learns names from the DNS answers moat relays to it
 * (docs/rules.md, *Wildcard names*). ev_dns (ev_control with a byte >=
 * 0xf0) has a client ask the virtual resolver for a name of NMENU and the
 * uplink's resolver answer, right or wrong in one of NVAR ways; JSON rule
 * templates with "dsthost" may be wildcards instead (a "from" byte >=
 * 0x80). The model decides from what it built, never from natd's records:
 * an answer teaches the client that asked, when it answers the query the
 * client sent out on that flow (same id, same question), once, is not
 * truncated, and has addresses at the end of its CNAME chain; every name
 * of the chain counts, for min(TTL) clamped to [5, 3600] s from when
 * policyd reads the learning off the ring (in order, before the flows
 * after it). A learning that expired no longer opens a new flow, but an
 * established flow keeps it (frames, re-checks). The DNS frames carry
 * their tag in the last 8 bytes (the first are the DNS header).
 */
#define NMENU	5
#define NPAT	2
#define NML	128
static const char *const NAMES[NMENU] = { "a.w.example", "b.w.example",
	"w.example", "x.other.example", "alias.other.example" };
static const char *const CHAIN_END = "c.w.example";	/* alias's CNAME */
static const char *const PATS[NPAT] = { "w.example", "other.example" };
static const uint32_t TTLS[4] = { 0, 3, 30, 7200 };
enum { V_GOOD, V_BADID, V_BADQ, V_TC, V_NX, V_OFFCHAIN, NVAR };

static struct {
	/* what the script sent: per record, 1 query, 2 answer */
	uint8_t		kind[MAXREC];
	uint8_t		name[MAXREC], var[MAXREC], addr[MAXREC], ttl[MAXREC];
	uint16_t	id[MAXREC], sport[MAXREC];
	/* the queries natd noted, as natd keeps them: 16 slots per client
	 * (t 0: free), all to the one resolver ev_dns uses */
	struct nask { uint8_t name; uint16_t sport, id; uint64_t t; } ask[NCLI + 1][16];
	/* learnings natd queued: where its latest group begins in the ring */
	int		began;		/* in the current input, the BEGIN's position, -1 none */
	uint8_t		began_port;
	/* the model's expectation for the group at each ring position */
	struct { uint8_t valid, port, nnames, addr; uint32_t ttl;
		const char *names[2]; } exp[QMAX];
	/* the model's learned names */
	struct { uint8_t port; const char *name; uint32_t addr; uint64_t expire; } ml[NML];
	unsigned	nml;
} N;

static void
names_reset(void)
{
	memset(&N, 0, sizeof N);
	N.began = -1;
}

static unsigned
f_room(void *arg)
{
	unsigned used = S.rqt - S.rqh, all = used + S.nwl + S.vqt - S.vqh;

	(void)arg;
	if (S.ring_full || used >= QCAP || all >= QMAX - 1)
		return 0;
	return QCAP - used < QMAX - 1 - all ? QCAP - used : QMAX - 1 - all;
}

/* A learning record natd queues (f_fr). */
static int
names_fr(const struct flow_req *r)
{
	struct flow_learn l;
	struct qent *e;

	if (f_room(NULL) == 0)
		fail("natd queued a learning record the ring has no room for");
	memcpy(&l, r, sizeof l);
	if (l.kind == LEARN_BEGIN) {
		if (S.cur < 0 || N.kind[S.cur] != 2)
			fail("natd taught a name outside an answer's input");
		N.began = (int)(S.rqt % QMAX);
		N.began_port = (uint8_t)l.port;
		N.exp[S.rqt % QMAX].valid = 0;
	}
	TRACE("  learning record kind %u port %u\n", l.kind, l.port);
	e = &S.rq[S.rqt++ % QMAX];
	e->r = *r;
	e->k = -1;
	return 0;
}

static int
name_matches(const char *name, const char *pat)
{
	size_t n = strlen(name), p = strlen(pat);

	return n > p + 1 && name[n - p - 1] == '.' && strcmp(name + n - p, pat) == 0;
}

/* mmatch for a wildcard (mrule.host: the pattern) */
static int
names_mmatch(const struct mrule *r, unsigned port, uint32_t dst)
{
	unsigned i;

	for (i = 0; i < N.nml; i++)
		if (N.ml[i].port == port && N.ml[i].addr == dst &&
		    (names_recheck || N.ml[i].expire > S.now) &&
		    name_matches(N.ml[i].name, PATS[r->host]))
			return 1;
	return 0;
}

static void
names_learn(uint8_t port, const char *name, uint32_t addr, uint64_t expire)
{
	unsigned i;

	for (i = 0; i < N.nml; i++)
		if (N.ml[i].port == port && N.ml[i].name == name &&
		    N.ml[i].addr == addr)
			break;
	if (i == N.nml) {
		if (N.nml == NML)
			fail("model name table full (script too long)");
		N.nml++;
	}
	N.ml[i].port = port;
	N.ml[i].name = name;
	N.ml[i].addr = addr;
	N.ml[i].expire = expire;
}

/* policyd reads a learning record off the ring (decide_all). */
static void
names_apply(const struct qent *e, unsigned pos)
{
	struct flow_learn l;
	unsigned i;

	engine_learn(&S.pe, &e->r, S.now);
	memcpy(&l, &e->r, sizeof l);
	if (l.kind != LEARN_BEGIN || !N.exp[pos % QMAX].valid)
		return;
	for (i = 0; i < N.exp[pos % QMAX].nnames; i++) {
		uint32_t t = N.exp[pos % QMAX].ttl;

		t = t < 5 ? 5 : t > 3600 ? 3600 : t;
		names_learn(N.exp[pos % QMAX].port, N.exp[pos % QMAX].names[i],
		    ad[A_R0 + N.exp[pos % QMAX].addr], S.now + (uint64_t)t * 1000);
	}
	N.exp[pos % QMAX].valid = 0;
}

#define FRESH(a)	((a).t != 0 && S.now - (a).t <= 10000)

/* A frame natd hands out (check_out): a query leaving, an answer arriving. */
static void
names_out(unsigned port, const struct rec *r)
{
	int n = r != NULL ? (int)(r - S.rec) : -1, i, slot = -1;

	if (n < 0 || N.kind[n] == 0)
		return;
	if (N.kind[n] == 1 && port == MQ_PORT_UPLINK) {
		/* natd's choice of slot: the same query again; else a free or
		 * stale one; else the client's oldest */
		struct nask *w = N.ask[r->port];

		for (i = 0; i < 16; i++) {
			if (w[i].t != 0 && w[i].sport == r->sport &&
			    w[i].id == N.id[n] && w[i].name == N.name[n]) {
				slot = i;
				break;
			}
			if (!FRESH(w[i])) {
				if (slot < 0 || FRESH(w[slot]))
					slot = i;
			} else if (slot < 0 || (FRESH(w[slot]) && w[i].t < w[slot].t))
				slot = i;
		}
		w[slot].t = S.now;
		w[slot].sport = r->sport;
		w[slot].id = N.id[n];
		w[slot].name = N.name[n];
		return;
	}
	if (N.kind[n] == 2 && port != MQ_PORT_UPLINK) {
		struct nask *w = N.ask[port];
		int teach = 0, b = N.began, asked = 0;

		for (i = 0; i < 16; i++)
			asked |= FRESH(w[i]) && w[i].sport == N.sport[n];
		/* natd reads it only if it noted a query from that port;
		 * truncated and error answers it refuses. The answer's id and
		 * question (N.id, N.name) are the ones it carries: a wrong
		 * one may still answer an earlier query. */
		if (asked && N.var[n] != V_TC && N.var[n] != V_NX)
			for (i = 0; i < 16; i++)
				if (FRESH(w[i]) && w[i].sport == N.sport[n] &&
				    w[i].id == N.id[n] && w[i].name == N.name[n]) {
					w[i].t = 0;	/* one answer per query */
					teach = N.var[n] != V_OFFCHAIN;
					break;
				}
		N.began = -1;
		if (teach != (b >= 0) || (b >= 0 && N.began_port != port))
			fail("answer to port %u: natd %s, the model says it %s",
			    port, b >= 0 ? "taught" : "taught nothing",
			    teach ? "teaches" : "teaches nothing");
		if (!teach)
			return;
		N.exp[b].valid = 1;
		N.exp[b].port = (uint8_t)port;
		N.exp[b].addr = N.addr[n];
		N.exp[b].ttl = TTLS[N.ttl[n]];
		N.exp[b].names[0] = NAMES[N.name[n]];
		N.exp[b].nnames = 1;
		if (N.name[n] == 4)
			N.exp[b].names[N.exp[b].nnames++] = CHAIN_END;
	}
}

/* The tag of a DNS frame of ev_dns: the last 8 bytes. */
static size_t
names_tag_off(const struct pkt_view *v)
{
	if (v->l3 != PKT_L3_IPV4 || !v->has_l4 || v->proto != IPPROTO_UDP_ ||
	    v->is_frag || pkt_l4_payload_len(v) < 12 + 8)
		return 0;
	return v->ip_end - 8;
}

static void
put_name(uint8_t *p, size_t *n, const char *s)
{
	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		p[(*n)++] = (uint8_t)l;
		memcpy(p + *n, s, l);
		*n += l;
		s += l + (dot ? 1 : 0);
	}
	p[(*n)++] = 0;
}

static void
put_rr(uint8_t *p, size_t *n, uint16_t type, uint32_t ttl)
{
	p[(*n)++] = 0; p[(*n)++] = (uint8_t)type; p[(*n)++] = 0; p[(*n)++] = 1;
	p[(*n)++] = (uint8_t)(ttl >> 24); p[(*n)++] = (uint8_t)(ttl >> 16);
	p[(*n)++] = (uint8_t)(ttl >> 8); p[(*n)++] = (uint8_t)ttl;
}

/* DNS bytes into p: the question, then per the variant the answer. */
static size_t
dns_msg(uint8_t *p, int answer, uint16_t id, unsigned name, unsigned var,
    uint32_t addr, uint32_t ttl)
{
	const char *owner = var == V_OFFCHAIN ? "z.w.example" : name == 4 ?
	    CHAIN_END : NAMES[name];
	size_t n = 12, rd;

	memset(p, 0, 12);
	p[0] = (uint8_t)(id >> 8);
	p[1] = (uint8_t)id;
	p[2] = 0x01;
	p[5] = 1;
	put_name(p, &n, var == V_BADQ && answer ? "y.w.example" : NAMES[name]);
	p[n++] = 0; p[n++] = 1; p[n++] = 0; p[n++] = 1;
	if (!answer)
		return n;
	p[2] = (uint8_t)(0x81 | (var == V_TC ? 0x02 : 0));
	p[3] = (uint8_t)(0x80 | (var == V_NX ? 3 : 0));
	if (var == V_NX)
		return n;
	p[7] = name == 4 ? 2 : 1;
	if (name == 4) {
		/* alias CNAME c.w.example, its owner the question (compressed) */
		p[n++] = 0xc0;
		p[n++] = 12;
		put_rr(p, &n, 5, ttl);
		rd = n;
		n += 2;
		put_name(p, &n, CHAIN_END);
		p[rd] = 0;
		p[rd + 1] = (uint8_t)(n - rd - 2);
	}
	put_name(p, &n, owner);
	put_rr(p, &n, 1, ttl);
	p[n++] = 0;
	p[n++] = 4;
	memcpy(p + n, &addr, 4);
	return n + 4;
}

/* One frame of ev_dns into dnsf (DNS bytes, then the tag): its record,
 * or -1. */
static uint8_t dnsf[BUFSZ];
static size_t dnsflen;

static int
dns_frame(unsigned port, uint32_t src, uint32_t dst, uint16_t sport,
    uint16_t dport, const uint8_t *dns, size_t dlen)
{
	uint8_t *f = dnsf;
	struct udp_hdr *uh;
	struct rec r;
	size_t l4off = 34;
	int n;

	memset(&r, 0, sizeof r);
	r.port = (uint8_t)port;
	r.proto = IPPROTO_UDP_;
	r.src = src;
	r.dst = dst;
	r.sport = sport;
	r.dport = dport;
	if ((n = new_rec(&r)) < 0)
		return -1;
	uh = (struct udp_hdr *)(f + l4off);
	uh->sport_be = htons(sport);
	uh->dport_be = htons(dport);
	uh->len_be = htons((uint16_t)(8 + dlen + 8));
	uh->csum = 0;
	memcpy(f + l4off + 8, dns, dlen);
	put_tag(f + l4off + 8 + dlen, n);
	mk_ip(f, port, src, dst, IPPROTO_UDP_, 64, (uint16_t)(n * 13), 0, NULL,
	    0, 8 + dlen + 8);
	finish(f, l4off + 8 + dlen + 8, 0, 0);
	dnsflen = l4off + 8 + dlen + 8;
	return n;
}

/* A client asks, the uplink's resolver answers (ev_control, byte >= 0xf0). */
static void
ev_dns(void)
{
	unsigned p = 1 + get() % NCLI, name = get() % NMENU, var = get() % NVAR;
	unsigned a = get() % 3, t = get() % 4, sp = get() % 4;
	uint16_t id = (uint16_t)(0x100 + get()), sport = (uint16_t)(5300 + sp);
	uint8_t dns[512];
	size_t dl;
	int n, k;

	/* the query, from the client to the virtual resolver */
	dl = dns_msg(dns, 0, id, name, var, 0, 0);
	if ((n = dns_frame(p, cip(p), ad[A_VDNS1], sport, 53, dns, dl)) < 0)
		return;
	N.kind[n] = 1;
	N.name[n] = (uint8_t)name;
	N.id[n] = id;
	inject(p, dnsf, dnsflen, n);
	TRACE("  dns query port %u %s id %#x\n", p, NAMES[name], id);
	settle();
	k = find_flow(p, IPPROTO_UDP_, cip(p), ad[A_VDNS1], sport, 53);
	if (k < 0 || S.fl[k].nsport < 0)
		return;
	/* the answer, from the real resolver to the flow's translated port */
	dl = dns_msg(dns, 1, var == V_BADID ? (uint16_t)(id + 1) : id, name, var,
	    ad[A_R0 + a], TTLS[t]);
	if ((n = dns_frame(MQ_PORT_UPLINK, ad[A_DNS1], ad[A_US], 53,
	    (uint16_t)S.fl[k].nsport, dns, dl)) < 0)
		return;
	N.kind[n] = 2;
	N.name[n] = var == V_BADQ ? 0xff : (uint8_t)name;	/* no query asks it */
	N.var[n] = (uint8_t)var;
	N.addr[n] = (uint8_t)a;
	N.ttl[n] = (uint8_t)t;
	N.id[n] = var == V_BADID ? (uint16_t)(id + 1) : id;
	N.sport[n] = sport;
	TRACE("  dns answer variant %u %s -> %s ttl %u\n", var, NAMES[name],
	    A(ad[A_R0 + a]), TTLS[t]);
	inject(MQ_PORT_UPLINK, dnsf, dnsflen, n);
	settle();
}

/* A JSON "dsthost" template (ds 8..12) becomes a wildcard when its "from"
 * byte is >= 0x80. */
static int
names_wild(uint8_t fsb, uint8_t ds, struct mrule *m, const char **dstr)
{
	static const char *const J[NPAT] = { ", \"dsthost\": \"*.w.example\"",
		", \"dsthost\": \"*.Other.example\"" };

	if (ds < 8 || fsb < 0x80)
		return 0;
	m->dk = 4;
	m->host = (uint8_t)((ds - 8) % NPAT);
	*dstr = J[m->host];
	return 1;
}

static void
ev_time(void)
{
	static const uint32_t DT[8] = { 50, 400, 1000, 2600, 5200, 31000, 130000,
		700 };
	int64_t before = unix_now();
	unsigned i;

	S.now += DT[get() % 8];
	/* A JSON rule stops matching once now > expire: that is a change. */
	for (i = 0; i < S.nmj; i++)
		if (S.mj[i].expire != 0 && before <= S.mj[i].expire &&
		    unix_now() > S.mj[i].expire)
			S.unnotified = 1;
	/* policyd's timers (policyd.c): DNS timeouts, JSON rules expiring */
	dnsc_tick(&S.dns, S.now, NULL);
	if (S.next_expire != 0 && unix_now() > S.next_expire) {
		S.pe.generation++;
		rules_changed();
	}
	tick();
}

static void
ev_control(void)
{
	unsigned b = get();

	if (b >= 0xf0) {
		ev_dns();
		return;
	}
	switch (b % 6) {
	case 0:
		S.autom = !S.autom;
		break;
	case 1:
		decide_all();
		break;
	case 2:
		deliver(1);
		break;
	case 3:
		deliver(QMAX);
		break;
	case 4:
		notify();
		break;
	case 5:
		S.ring_full = !S.ring_full;
		break;
	}
}

/* ---- setup and teardown ---- */

static void
link_up(unsigned port)
{
	struct msg_link l;
	uint8_t m[6], v[6];

	our_mac(port, m);
	vm_mac(port, v);
	nh_link_msg(&l, (uint16_t)port, 1, port ? cip(port) : 0, m,
	    port ? v : NULL);
	nat_link(S.ne, &l, S.now);
	engine_link(&S.pe, &l);
}

static void
setup(void)
{
	struct nat_config c;
	struct nat_io io = { NULL, f_tx, f_fr, nh_dns_none, NULL };
	struct msg_netconf nc;
	uint8_t f[64], m[6];
	unsigned i;
	size_t n;

	memset(&S, 0, sizeof S);
	fwd_reset();
	lim_reset();
	for (i = 0; i < 1024; i++)
		S.kmap[i] = -1;
	S.cur = -1;
	S.autom = 1;
	S.now = 1000000;
	nh_config(&c, 64, 16, OWN, 7);
	c.pending_max = 8;
	c.hold_max = HOLD_MAX;
	if ((S.ne = nat_new(&c, &pool, &io)) == NULL)
		abort();
	names_reset();
	S.ne->io.flowreq_room = f_room;
	dnsc_init(&S.dns);
	engine_init(&S.pe, &S.dns);
	memset(&nc, 0, sizeof nc);
	nc.ip = ad[A_US];
	nc.netmask = 0xffffffff;
	nc.gateway = ad[A_GW];
	nc.dns[0] = ad[A_DNS1];
	nc.dns[1] = ad[A_DNS2];
	nc.netvm_gateway = ad[A_VGW];
	nc.netvm_dns[0] = ad[A_VDNS1];
	nc.netvm_dns[1] = ad[A_VDNS2];
	nat_netconf(S.ne, &nc, S.now);
	engine_netconf(&S.pe, &nc);
	for (i = 0; i <= NCLI; i++)
		link_up(i);
	if (nat_start(S.ne, 0, S.now) != 0)
		abort();
	/* netbackd's gift: natd's reserve, buffers 0 to OWN - 1 */
	for (i = 0; i < OWN; i++) {
		S.owner[i] = 1;
		S.nowned++;
	}
	nh_gift(S.ne, S.now);
	S.bufcur = OWN;
	/* the gateway answers natd's ARP */
	our_mac(0, m);
	n = pkt_build_arp(f, sizeof f, ARPOP_REPLY_, MAC_GW, ad[A_GW], m, m,
	    ad[A_US]);
	inject(MQ_PORT_UPLINK, f, n, -1);
}

static void
teardown(void)
{
	if (getenv("FUZZ_EGRESS_VERBOSE") != NULL)
		fprintf(stderr, "fuzz_egress: %u events, %u tagged frames, out: "
		    "uplink %u, clients %u %u %u; %u requests, %u accepted, %u "
		    "denied; %u flows\n", S.nev, S.nrec, S.nout[0], S.nout[1],
		    S.nout[2], S.nout[3], S.nreq, S.nacc, S.ndeny, S.nfl);
	/* Held frames time out; then natd holds exactly its reserve. */
	S.autom = 0;
	S.now += 20000;
	tick();
	S.now += 2000;
	tick();
	lim_check_drops();
	if (S.nowned != S.ne->nreserve)
		fail("natd holds %u buffers, %u of them in its reserve: %s",
		    S.nowned, S.ne->nreserve, S.nowned > S.ne->nreserve ?
		    "buffers lost" : "buffers counted twice");
	nat_free(S.ne);
	fuzz_engine_free(&S.pe);
	jrules_doc_free(S.pe.jdoc);
}

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * libFuzzer's entropic scheduling spends two thirds of the time here
 * updating its feature counts (a run covers many states): it is turned
 * off unless the command line asks for it. libFuzzer reads its flags
 * after this call.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char *args[64];
	static char off[] = "-entropic=0";
	int i;

	if (*argc + 1 >= (int)(sizeof args / sizeof args[0]))
		return 0;
	for (i = 0; i < *argc; i++) {
		if (strncmp((*argv)[i], "-entropic", 9) == 0)
			return 0;
		args[i] = (*argv)[i];
	}
	/* flags before the corpus directories: after argv[0] */
	memmove(args + 2, args + 1, (size_t)(*argc - 1) * sizeof args[0]);
	args[1] = off;
	args[*argc + 1] = NULL;
	*argc += 1;
	*argv = args;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (mem == NULL) {
		log_init("fuzz_egress", -1);
		addr_init();
		mem = nh_pool_new(&pool, NBUFS, BUFSZ);
	}
	setup();
	in_p = data;
	in_n = size;
	trace = getenv("FUZZ_EGRESS_TRACE") != NULL;
	while (in_n > 0 && S.nev++ < 400) {
		TRACE("event %u: op %u, now %llu, auto %d\n", S.nev, *in_p % 16,
		    (unsigned long long)S.now, S.autom);
		switch (get() % 16) {
		case 0: case 1: case 2: case 3:
			ev_client_frame();
			break;
		case 4:
			ev_client_error();
			break;
		case 5: case 6:
			ev_uplink_reply();
			break;
		case 7:
			ev_uplink_made_up();
			break;
		case 8:
			ev_uplink_error();
			break;
		case 9:
			ev_arp();
			break;
		case 10:
			ev_qubes();
			break;
		case 11:
			ev_json();
			break;
		case 12: case 13:
			ev_time();
			break;
		default:
			ev_control();
		}
		settle();
		/* its reserve, frames held for verdicts, early fragments
		 * (at most 64 here, whichever way nat.h shares them) */
		if (S.nowned > OWN + HOLD_MAX + 64)
			fail("natd holds %u buffers", S.nowned);
	}
	teardown();
	return 0;
}
