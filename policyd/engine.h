/*
 * engine.h: policyd's rule sets, their index, and the evaluator.
 *
 * Two sources of rules, each evaluated first match:
 *  1. the JSON rules from moat.SetRules (one set, for every client);
 *  2. the client's own Qubes rules from QubesDB (one set per client
 *     address), ending in the policy key's action.
 * A JSON drop or reject decides. Traffic to the outside must then be
 * accepted by the Qubes rules (a JSON accept only lets it reach them);
 * traffic between clients is decided by the JSON rules alone (default
 * drop). engine_decide has the details; docs/rules.md says it for users.
 * Both are compiled into the same form (struct prule) and indexed the
 * same way (struct ridx): by source, then by destination prefix (one hash
 * probe per prefix length in use), each bucket a list of rule numbers in
 * ascending order. Evaluation takes the lowest-numbered matching rule over
 * every candidate list, which is exactly what a linear first-match scan
 * returns (tests/unit/test_policy_index.c checks this against one).
 *
 * Nothing here allocates on the evaluation path.
 */
#ifndef MOAT_POLICYD_ENGINE_H
#define MOAT_POLICYD_ENGINE_H

#include <stdint.h>
#include <stddef.h>

#include "flowreq.h"
#include "msg.h"
#include "ring.h"

struct dnsc;
struct nametab;

enum { PD_ANY = 0, PD_NET, PD_HOST, PD_NAME };

/* One compiled rule of either source. */
struct prule {
	uint8_t		action;		/* VERDICT_* */
	uint8_t		proto;		/* 0 any, 6, 17, 1 (= ICMPv6 on IPv6 flows) */
	uint8_t		dst;		/* PD_* */
	uint8_t		family;		/* PD_NET: 4 or 6 */
	uint8_t		plen;		/* PD_NET */
	uint8_t		specialdns;	/* destination must be a DNS server, port 53 */
	uint8_t		never;		/* can never match (kept for numbering) */
	uint8_t		peer;		/* names one address exactly: may accept inter-VM traffic */
	uint8_t		has_ports;
	uint8_t		has_icmptype;
	uint8_t		icmptype;
	uint8_t		log;
	uint8_t		to_client;	/* JSON "to": the client whose IPv4 is addr, by either of its addresses */
	uint16_t	plo, phi;
	uint16_t	id;		/* verdict.rule */
	uint32_t	from;		/* JSON: the source client's IPv4, network order; 0 = any */
	int64_t		expire;		/* Unix time after which it no longer applies; 0 never */
	uint8_t		addr[16];	/* PD_NET: prefix, host bits clear */
	const char	*host;		/* PD_HOST: owned by the set; PD_NAME: the
					 * suffix after "*.", lowercase */
	uint16_t	hostlen;	/* PD_NAME: strlen(host) */
};

/* The index over one ordered rule array. */
struct ridx_bucket {
	uint32_t	from;		/* source key (0 = any) */
	uint8_t		family;		/* 4, 6, or 0 for "no destination prefix" */
	uint8_t		plen;
	uint8_t		used;
	uint8_t		pad;
	uint8_t		addr[16];
	uint32_t	first;		/* into ridx.ids */
	uint32_t	count;
	uint32_t	sub;		/* index into ridx.subs + 1, 0 for none */
};

/*
 * A big bucket (many rules for one source and destination, e.g. a long
 * list of ports to "any") is split once more: rules for one exact TCP or
 * UDP port are listed under (protocol, port), the rest in one list. A flow
 * scans its (protocol, port) list and the rest, both ascending, so the
 * lowest matching rule is still found.
 */
#define RIDX_SUB_MIN	32	/* bucket size from which it is split */
struct ridx_port {
	uint16_t	port;
	uint8_t		proto;
	uint8_t		used;
	uint32_t	first;		/* into ridx.ids2 */
	uint32_t	count;
};
struct ridx_sub {
	struct ridx_port *tab;
	uint32_t	 mask;
	uint32_t	 rest_first;	/* into ridx.ids2 */
	uint32_t	 rest_count;
};
struct ridx {
	struct ridx_sub	*subs;
	uint32_t	 nsubs;
	uint32_t	*ids2;
	struct ridx_bucket *tab;
	uint32_t	 mask;		/* tab has mask + 1 slots */
	uint32_t	*ids;
	/* One bit per key hash: most probes (a prefix length in use, but not
	 * this prefix) end here, in a few cache lines, instead of in tab. */
	uint64_t	*filter;
	uint32_t	 fmask;		/* bits - 1 */
	uint8_t		 lens4[33], nlens4;	/* prefix lengths in use, longest first */
	uint8_t		 lens6[129], nlens6;
	uint8_t		 has_from;	/* some rule names a source */
};

/* One rule set: rules in order and their index. */
struct rset {
	struct prule	*rules;
	uint32_t	 n;
	struct ridx	 idx;
	char		*strings;	/* host names the rules point into */
	int64_t		 next_expire;	/* earliest expire in the future, 0 none */
	struct msg_forwards *fwd;	/* JSON: the "forward" rules, for natd; NULL in a Qubes set */
	uint32_t	 ttl_min, ttl_max;	/* JSON "learn": clamp of learned names' TTL (0: defaults) */
	struct msg_limits *lim;		/* JSON: the rate limits, for natd; NULL in a Qubes set */
	uint64_t	*hits;		/* n: new flows each rule decided (rset_build) */
};

int	rset_build(struct rset *s);	/* (re)build the index; 0 or -1 (ENOMEM) */
void	rset_free(struct rset *s);

/* The flow as the evaluator sees it. */
struct fkey {
	uint8_t		family;
	uint8_t		proto;
	uint8_t		icmptype;
	uint8_t		interclient;	/* destination is another client */
	uint32_t	from;		/* the client's IPv4, network order (0 unknown) */
	uint32_t	peer4;		/* IPv6 inter-VM: the IPv4 of the client owning dst (0 unknown) */
	uint16_t	dport;
	uint8_t		dst[16];
	uint16_t	port;		/* the client's link, for its learned names */
	uint8_t		recheck;	/* FREQ_RECHECK: expired learnings still count */
};

/* Result of evaluating one set. */
#define EV_NOMATCH	0
#define EV_MATCH	1
#define EV_PENDING	2	/* a dsthost rule that could decide awaits DNS */

struct evctx {
	struct dnsc	*dns;
	uint64_t	 now_ms;	/* monotonic, for the DNS cache */
	int64_t		 now;		/* Unix time, for expire */
	int		 final;		/* treat unresolved names as not matching */
	const uint8_t	(*dnsaddr)[4];	/* DNS server addresses (specialtarget=dns) */
	int		 ndnsaddr;
	const struct nametab *names;	/* learned names (PD_NAME), or NULL */
};

/* Match one rule (for the index and for the naive reference evaluator). */
int	prule_match(const struct prule *r, const struct fkey *f,
	    const struct evctx *cx);
/* First match in s for f: EV_*; *which gets the rule number on EV_MATCH. */
int	rset_eval(const struct rset *s, const struct fkey *f,
	    const struct evctx *cx, uint32_t *which);
/* The same by a linear scan, for tests. */
int	rset_eval_linear(const struct rset *s, const struct fkey *f,
	    const struct evctx *cx, uint32_t *which);

/*
 * The engine: JSON rules, Qubes rules per client, what it knows of the
 * clients and of DNS.
 */
#define ENG_MAX_QSETS	4096

struct qset {
	uint8_t		family;
	uint8_t		failed;		/* a rule did not parse: reject everything */
	uint8_t		addr[16];
	struct rset	set;
};

struct eng_client {
	uint8_t		up;
	uint32_t	ip4;
	uint8_t		ip6[16];
	char		name[32];
	uint8_t		warned[2];	/* "no Qubes rules" logged, per family */
};

/* up links (2 addresses each) and dom0's connected clients (real and
 * visible address each) always leave a quarter of the table free */
#define ENG_LSET	(4 * MQ_PORT_MAX + 4 * CLIENTS_MAX + 4 * CLIENTS6_MAX)

struct engine {
	struct rset	 json;
	void		*jdoc;		/* the accepted JSON document (json_t *), for GetRules */
	struct qset	*qsets[ENG_MAX_QSETS];	/* open addressing by address */
	uint32_t	 nqsets;
	struct eng_client clients[MQ_PORT_MAX];
	struct {
		uint8_t	family;
		uint8_t	a[16];
	}		 lset[ENG_LSET];	/* clients' addresses: links and cips */
	uint32_t	 cips[2 * CLIENTS_MAX];	/* MSG_CLIENTS: real and visible IPv4 */
	uint32_t	 ncips;
	uint8_t		 cips6[2 * CLIENTS6_MAX][16];	/* MSG_CLIENTS6: real and visible */
	uint32_t	 ncips6;
	uint8_t		 dnsaddr[8][4];
	int		 ndnsaddr;
	uint32_t	 generation;
	struct dnsc	*dns;
	struct nametab	*names;		/* what clients learned (names.h); NULL: nothing */
	/* counters for logs */
	uint64_t	 nflows, naccept, ndrop, nreject;
	uint64_t	 default_hits;	/* new flows no rule decided (GetRules) */
};

void	engine_init(struct engine *e, struct dnsc *dns);
void	engine_netconf(struct engine *e, const struct msg_netconf *nc);
void	engine_link(struct engine *e, const struct msg_link *l);
/* dom0's list of connected clients (count entries of mc, checked by the
 * caller): their addresses count as clients for inter-VM traffic. */
void	engine_clients(struct engine *e, const struct msg_clients *mc,
	    uint32_t count);
/* The same for dom0's connected IPv6 clients (/connected-ips6). */
void	engine_clients6(struct engine *e, const struct msg_clients6 *mc,
	    uint32_t count);
/* Replace (or create) the Qubes rule set of one client address. */
struct qset *engine_qset_get(struct engine *e, int family, const uint8_t *addr,
	    int create);
struct qrule;
/*
 * Install one client's Qubes rules as committed: rules[i] came from key
 * keys[i] (any order, sorted here); policy is QR_ACCEPT, QR_DROP or -1
 * (missing). why != NULL (a rule did not parse), a bad policy, a repeated
 * key, or a dst of the wrong family make the client reject everything,
 * logged with the reason. Bumps the generation. 0, or -1 when the client
 * table is full.
 */
int	engine_qset_install(struct engine *e, int family, const uint8_t *addr,
	    int policy, const struct qrule *rules, const uint32_t *keys,
	    uint32_t n, const char *why);
/* Is addr (family) another client's address? */
int	engine_is_client(const struct engine *e, int family, const uint8_t *addr);

/*
 * Decide one flow. Returns 1 with *v filled, or 0 when the flow must wait
 * for DNS (queries have been queued in the cache) unless final is set.
 * A decided new flow (not a FREQ_RECHECK) counts one hit for the rule
 * that decided it, or for default_hits.
 */
int	engine_decide(struct engine *e, const struct flow_req *req,
	    uint64_t now_ms, int64_t now, int final, struct flow_verdict *v);
/* Free what the clients learned (the engine's only allocation outside its
 * rule sets); engine_init allocates it again. */
void	engine_free_names(struct engine *e);
/* One FREQ_LEARN record from natd (policyd/names.h). */
void	engine_learn(struct engine *e, const struct flow_req *rec, uint64_t now_ms);
/* The earliest future expire time of any JSON rule, 0 if none. */
int64_t	engine_next_expire(const struct engine *e, int64_t now);

/* The index's key hash (rset.c), also used for the client sets. */
uint32_t key_hash(uint32_t from, uint8_t family, uint8_t plen,
	    const uint8_t *addr);

#endif
