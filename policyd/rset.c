/*
 * rset.c: one rule set, its index and its evaluation (see engine.h);
 * engine.c holds the engine around it (clients, links, verdicts).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dnscache.h"
#include "engine.h"
#include "log.h"
#include "names.h"
#include "qrule.h"

#define ICMP6_PROTO	58

/* --- matching one rule ------------------------------------------------ */

static int
prefix_eq(const uint8_t *a, const uint8_t *p, unsigned plen)
{
	unsigned full = plen / 8, rem = plen % 8;

	if (memcmp(a, p, full) != 0)
		return 0;
	if (rem == 0)
		return 1;
	return ((a[full] ^ p[full]) & (uint8_t)(0xff00u >> rem)) == 0;
}

#define R_NO		0
#define R_YES		1
#define R_UNRESOLVED	2

/*
 * A host rule whose lookup failed (server failure, no answer in time) or
 * is still unanswered at the flow's deadline. Skipping it would let a later
 * accept pass what a drop was written to stop, so a drop or reject takes
 * every flow that reaches it; an accept takes none. Either way the client
 * fails closed. (An answer with no address is not a failure: there is
 * nothing to stop.)
 */
static int
unresolved(const struct prule *r)
{
	return r->action == VERDICT_ACCEPT ? R_NO : R_YES;
}

int
prule_match(const struct prule *r, const struct fkey *f, const struct evctx *cx)
{
	if (r->never)
		return R_NO;
	if (r->expire != 0 && cx->now > r->expire)
		return R_NO;
	if (r->from != 0 && r->from != f->from)
		return R_NO;
	if (r->proto != 0) {
		if (r->proto == IPPROTO_ICMP) {
			if (f->proto != (f->family == 4 ? IPPROTO_ICMP : ICMP6_PROTO))
				return R_NO;
		} else if (f->proto != r->proto)
			return R_NO;
	}
	if (r->has_ports && (f->dport < r->plo || f->dport > r->phi))
		return R_NO;
	if (r->has_icmptype && f->icmptype != r->icmptype)
		return R_NO;
	if (r->specialdns) {
		int i, hit = 0;

		if ((f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP) ||
		    f->dport != 53 || f->family != 4)
			return R_NO;
		for (i = 0; i < cx->ndnsaddr && !hit; i++)
			hit = memcmp(cx->dnsaddr[i], f->dst, 4) == 0;
		if (!hit)
			return R_NO;
	}
	if (f->interclient && r->action == VERDICT_ACCEPT && !r->to_client &&
	    !(r->peer && r->dst == PD_NET &&
	    r->plen == (f->family == 4 ? 32 : 128)))
		return R_NO;
	if (r->to_client) {
		/* a client named by its IPv4 address is also its IPv6 one */
		if (f->family == 4 ? memcmp(f->dst, r->addr, 4) != 0 :
		    f->peer4 == 0 || memcmp(&f->peer4, r->addr, 4) != 0)
			return R_NO;
	} else if (r->dst == PD_NET) {
		if (r->family != f->family || !prefix_eq(f->dst, r->addr, r->plen))
			return R_NO;
	} else if (r->dst == PD_HOST) {
		const struct dnsc_entry *e = NULL;
		unsigned i, alen = f->family == 4 ? 4 : 16;

		switch (dnsc_peek(cx->dns, r->host, f->family == 4 ?
		    DNS_QTYPE_A : DNS_QTYPE_AAAA, cx->now_ms, &e)) {
		case DNSC_OK:
			for (i = 0; i < e->naddr; i++)
				if (memcmp(e->addr[i], f->dst, alen) == 0)
					return R_YES;
			return R_NO;
		case DNSC_FAIL:
			return unresolved(r);
		default:
			return cx->final ? unresolved(r) : R_UNRESOLVED;
		}
	} else if (r->dst == PD_NAME) {
		/* What this client resolved through moat, nobody else */
		if (!nt_match(cx->names, f->port, f->family, f->dst, r->host,
		    r->hostlen, cx->now_ms, f->recheck))
			return R_NO;
	}
	return R_YES;
}

/* --- the index -------------------------------------------------------- */

/* Also hashes engine.c's client and link sets. */
uint32_t
key_hash(uint32_t from, uint8_t family, uint8_t plen, const uint8_t *addr)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ from ^ ((uint64_t)family << 40) ^
	    ((uint64_t)plen << 48);
	uint64_t w[2];

	memcpy(w, addr, 16);
	h = (h ^ w[0]) * 0xff51afd7ed558ccdull;
	h = (h ^ w[1] ^ (h >> 29)) * 0xc4ceb9fe1a85ec53ull;
	return (uint32_t)(h ^ (h >> 32));
}

static uint32_t
filter_bit(const struct ridx *x, uint32_t h)
{
	return ((h >> 16) | (h << 16)) & x->fmask;
}

/* The bucket for a key whose hash h is known, NULL when there is none. */
static const struct ridx_bucket *
ridx_find_h(const struct ridx *x, uint32_t h, uint32_t from, uint8_t family,
    uint8_t plen, const uint8_t *addr)
{
	uint32_t i = h & x->mask;

	for (;; i = (i + 1) & x->mask) {
		const struct ridx_bucket *b = &x->tab[i];

		if (!b->used)
			return NULL;
		if (b->from == from && b->family == family && b->plen == plen &&
		    memcmp(b->addr, addr, 16) == 0)
			return b;
	}
}

static int
filter_has(const struct ridx *x, uint32_t h)
{
	uint32_t bit = filter_bit(x, h);

	return (x->filter[bit / 64] >> (bit % 64)) & 1;
}

static struct ridx_bucket *
ridx_slot(struct ridx *x, uint32_t from, uint8_t family, uint8_t plen,
    const uint8_t *addr)
{
	uint32_t h = key_hash(from, family, plen, addr), i = h & x->mask;
	uint32_t bit = filter_bit(x, h);

	x->filter[bit / 64] |= 1ull << (bit % 64);

	for (;; i = (i + 1) & x->mask) {
		struct ridx_bucket *b = &x->tab[i];

		if (!b->used) {
			b->used = 1;
			b->from = from;
			b->family = family;
			b->plen = plen;
			memcpy(b->addr, addr, 16);
			return b;
		}
		if (b->from == from && b->family == family && b->plen == plen &&
		    memcmp(b->addr, addr, 16) == 0)
			return b;
	}
}

static void
rule_key(const struct prule *r, uint8_t *family, uint8_t *plen,
    const uint8_t **addr)
{
	static const uint8_t zero[16];

	if (r->dst == PD_NET && !r->to_client) {
		*family = r->family;
		*plen = r->plen;
		*addr = r->addr;
	} else {
		/* to_client rules too: prule_match checks either family */
		*family = 0;
		*plen = 0;
		*addr = zero;
	}
}

static void
ridx_free(struct ridx *x)
{
	uint32_t i;

	for (i = 0; i < x->nsubs; i++)
		free(x->subs[i].tab);
	free(x->subs);
	free(x->ids2);
	free(x->tab);
	free(x->ids);
	free(x->filter);
	memset(x, 0, sizeof *x);
}

static int
exact_port(const struct prule *r)
{
	return (r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP) &&
	    r->has_ports && r->plo == r->phi;
}

static uint32_t
port_hash(uint8_t proto, uint16_t port)
{
	return ((uint32_t)port * 0x9e3779b1u) ^ ((uint32_t)proto << 7);
}

static const struct ridx_port *
port_find(const struct ridx_sub *sub, uint8_t proto, uint16_t port)
{
	uint32_t i = port_hash(proto, port) & sub->mask;

	for (;; i = (i + 1) & sub->mask) {
		const struct ridx_port *p = &sub->tab[i];

		if (!p->used)
			return NULL;
		if (p->proto == proto && p->port == port)
			return p;
	}
}

static struct ridx_port *
port_slot(struct ridx_sub *sub, uint8_t proto, uint16_t port, int create)
{
	uint32_t i = port_hash(proto, port) & sub->mask;

	for (;; i = (i + 1) & sub->mask) {
		struct ridx_port *p = &sub->tab[i];

		if (!p->used) {
			if (!create)
				return NULL;
			p->used = 1;
			p->proto = proto;
			p->port = port;
			return p;
		}
		if (p->proto == proto && p->port == port)
			return p;
	}
}

/* Split the big buckets by (protocol, exact port); see engine.h. */
static int
ridx_split(struct rset *s)
{
	struct ridx *x = &s->idx;
	uint32_t i, k, pos = 0, nbig = 0, total = 0;

	for (i = 0; i <= x->mask; i++)
		if (x->tab[i].used && x->tab[i].count >= RIDX_SUB_MIN) {
			nbig++;
			total += x->tab[i].count;
		}
	if (nbig == 0)
		return 0;
	x->subs = calloc(nbig, sizeof *x->subs);
	x->ids2 = calloc(total, sizeof *x->ids2);
	if (x->subs == NULL || x->ids2 == NULL)
		return -1;
	for (i = 0; i <= x->mask; i++) {
		struct ridx_bucket *b = &x->tab[i];
		const uint32_t *ids = x->ids + b->first;
		struct ridx_sub *sub;
		uint32_t size = 16, nexact = 0;

		if (!b->used || b->count < RIDX_SUB_MIN)
			continue;
		for (k = 0; k < b->count; k++)
			nexact += exact_port(&s->rules[ids[k]]);
		while (size < 2 * nexact + 16)
			size *= 2;
		sub = &x->subs[x->nsubs];
		if ((sub->tab = calloc(size, sizeof *sub->tab)) == NULL)
			return -1;
		sub->mask = size - 1;
		b->sub = ++x->nsubs;
		/* count, lay out, fill in ascending order (as rset_build) */
		for (k = 0; k < b->count; k++) {
			const struct prule *r = &s->rules[ids[k]];

			if (exact_port(r))
				port_slot(sub, r->proto, r->plo, 1)->count++;
			else
				sub->rest_count++;
		}
		sub->rest_first = pos;
		pos += sub->rest_count;
		sub->rest_count = 0;
		for (k = 0; k < size; k++) {
			if (!sub->tab[k].used)
				continue;
			sub->tab[k].first = pos;
			pos += sub->tab[k].count;
			sub->tab[k].count = 0;
		}
		for (k = 0; k < b->count; k++) {
			const struct prule *r = &s->rules[ids[k]];
			struct ridx_port *p;

			if (exact_port(r)) {
				p = port_slot(sub, r->proto, r->plo, 1);
				x->ids2[p->first + p->count++] = ids[k];
			} else
				x->ids2[sub->rest_first + sub->rest_count++] = ids[k];
		}
	}
	return 0;
}

static int
cmp_desc(const void *a, const void *b)
{
	return (int)*(const uint8_t *)b - (int)*(const uint8_t *)a;
}

int
rset_build(struct rset *s)
{
	struct ridx *x = &s->idx;
	uint8_t seen4[33] = { 0 }, seen6[129] = { 0 };
	uint32_t size = 16, fbits = 1024, i, pos;

	ridx_free(x);
	while (size < 2 * s->n + 16)
		size *= 2;
	while (fbits < 16 * s->n && fbits < (1u << 21))
		fbits *= 2;
	if (s->hits == NULL &&
	    (s->hits = calloc(s->n ? s->n : 1, sizeof *s->hits)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	x->tab = calloc(size, sizeof *x->tab);
	x->ids = calloc(s->n ? s->n : 1, sizeof *x->ids);
	x->filter = calloc(fbits / 64, sizeof *x->filter);
	x->fmask = fbits - 1;
	if (x->tab == NULL || x->ids == NULL || x->filter == NULL) {
		ridx_free(x);
		errno = ENOMEM;
		return -1;
	}
	x->mask = size - 1;
	/* Count per key, then lay the lists out and fill them in rule order,
	 * so that each list is ascending. */
	for (i = 0; i < s->n; i++) {
		const struct prule *r = &s->rules[i];
		uint8_t fam, plen;
		const uint8_t *addr;

		rule_key(r, &fam, &plen, &addr);
		ridx_slot(x, r->from, fam, plen, addr)->count++;
		if (r->from != 0)
			x->has_from = 1;
		if (fam == 4)
			seen4[plen] = 1;
		else if (fam == 6)
			seen6[plen] = 1;
	}
	for (pos = 0, i = 0; i <= x->mask; i++) {
		if (!x->tab[i].used)
			continue;
		x->tab[i].first = pos;
		pos += x->tab[i].count;
		x->tab[i].count = 0;
	}
	for (i = 0; i < s->n; i++) {
		const struct prule *r = &s->rules[i];
		struct ridx_bucket *b;
		uint8_t fam, plen;
		const uint8_t *addr;

		rule_key(r, &fam, &plen, &addr);
		b = ridx_slot(x, r->from, fam, plen, addr);
		x->ids[b->first + b->count++] = i;
	}
	if (ridx_split(s) == -1) {
		ridx_free(x);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i <= 32; i++)
		if (seen4[i])
			x->lens4[x->nlens4++] = (uint8_t)i;
	for (i = 0; i <= 128; i++)
		if (seen6[i])
			x->lens6[x->nlens6++] = (uint8_t)i;
	qsort(x->lens4, x->nlens4, 1, cmp_desc);
	qsort(x->lens6, x->nlens6, 1, cmp_desc);
	s->next_expire = 0;
	return 0;
}

void
rset_free(struct rset *s)
{
	ridx_free(&s->idx);
	free(s->rules);
	free(s->strings);
	free(s->fwd);
	free(s->lim);
	free(s->hits);
	memset(s, 0, sizeof *s);
}

#define MAX_UNRES	8

struct scan {
	uint32_t	best;
	uint32_t	unres[MAX_UNRES];
	int		nunres;
	uint32_t	min_unres;
};

static void
scan_list(const struct rset *s, const uint32_t *ids, uint32_t n,
    const struct fkey *f, const struct evctx *cx, struct scan *sc)
{
	uint32_t i;

	for (i = 0; i < n && ids[i] < sc->best; i++) {
		int m = prule_match(&s->rules[ids[i]], f, cx);

		if (m == R_YES) {
			sc->best = ids[i];
			return;
		}
		if (m == R_UNRESOLVED) {
			if (ids[i] < sc->min_unres)
				sc->min_unres = ids[i];
			if (sc->nunres < MAX_UNRES)
				sc->unres[sc->nunres++] = ids[i];
		}
	}
}

static void
scan_bucket(const struct rset *s, const struct ridx_bucket *b,
    const struct fkey *f, const struct evctx *cx, struct scan *sc)
{
	const struct ridx *x = &s->idx;
	const struct ridx_sub *sub;
	const struct ridx_port *p;

	if (b->sub == 0) {
		scan_list(s, x->ids + b->first, b->count, f, cx, sc);
		return;
	}
	sub = &x->subs[b->sub - 1];
	if ((f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP) &&
	    (p = port_find(sub, f->proto, f->dport)) != NULL)
		scan_list(s, x->ids2 + p->first, p->count, f, cx, sc);
	scan_list(s, x->ids2 + sub->rest_first, sub->rest_count, f, cx, sc);
}

static int
finish(const struct rset *s, const struct fkey *f, const struct evctx *cx,
    struct scan *sc, uint32_t *which)
{
	int i;

	if (sc->min_unres < sc->best) {
		/* A rule before the best match awaits its name: ask for every
		 * name that could still decide, in one go. */
		for (i = 0; i < sc->nunres; i++)
			if (sc->unres[i] < sc->best)
				dnsc_want(cx->dns, s->rules[sc->unres[i]].host,
				    f->family == 4 ? DNS_QTYPE_A : DNS_QTYPE_AAAA,
				    cx->now_ms);
		return EV_PENDING;
	}
	if (sc->best == UINT32_MAX)
		return EV_NOMATCH;
	*which = sc->best;
	return EV_MATCH;
}

/* One key to look up: a source and a destination prefix (or none). */
struct probe {
	uint32_t	h;
	uint32_t	from;
	uint8_t		plen;
	uint8_t		family;
	uint8_t		m[16];
};
#define MAX_PROBES	(2 * (1 + 129))

int
rset_eval(const struct rset *s, const struct fkey *f, const struct evctx *cx,
    uint32_t *which)
{
	const struct ridx *x = &s->idx;
	struct scan sc = { .best = UINT32_MAX, .min_unres = UINT32_MAX };
	struct probe pr[MAX_PROBES];
	uint32_t froms[2];
	const uint8_t *lens = f->family == 4 ? x->lens4 : x->lens6;
	int nfrom = 0, np = 0, k, l, nlens = f->family == 4 ? x->nlens4 : x->nlens6;

	if (s->n == 0)
		return EV_NOMATCH;
	froms[nfrom++] = 0;
	if (x->has_from && f->from != 0)
		froms[nfrom++] = f->from;
	/* Compute every key first and fetch their filter words and table
	 * slots ahead, so that the cache misses of a big rule set overlap
	 * instead of following one another. Any order finds the same rule:
	 * scan_list keeps the lowest match. */
	for (k = 0; k < nfrom; k++) {
		for (l = -1; l < nlens; l++) {
			struct probe *p = &pr[np++];

			memset(p->m, 0, sizeof p->m);
			p->from = froms[k];
			if (l < 0) {
				p->plen = 0;
				p->family = 0;
			} else {
				unsigned plen = lens[l], full = plen / 8;

				memcpy(p->m, f->dst, full);
				if (plen % 8)
					p->m[full] = f->dst[full] &
					    (uint8_t)(0xff00u >> (plen % 8));
				p->plen = (uint8_t)plen;
				p->family = f->family;
			}
			p->h = key_hash(p->from, p->family, p->plen, p->m);
			__builtin_prefetch(&x->filter[filter_bit(x, p->h) / 64]);
		}
	}
	for (k = 0, l = 0; k < np; k++)
		if (filter_has(x, pr[k].h)) {
			__builtin_prefetch(&x->tab[pr[k].h & x->mask]);
			pr[l++] = pr[k];
		}
	for (k = 0; k < l; k++) {
		const struct ridx_bucket *b = ridx_find_h(x, pr[k].h, pr[k].from,
		    pr[k].family, pr[k].plen, pr[k].m);

		if (b != NULL)
			scan_bucket(s, b, f, cx, &sc);
	}
	return finish(s, f, cx, &sc, which);
}

int
rset_eval_linear(const struct rset *s, const struct fkey *f,
    const struct evctx *cx, uint32_t *which)
{
	struct scan sc = { .best = UINT32_MAX, .min_unres = UINT32_MAX };
	uint32_t i;

	for (i = 0; i < s->n; i++) {
		int m = prule_match(&s->rules[i], f, cx);

		if (m == R_YES) {
			sc.best = i;
			break;
		}
		if (m == R_UNRESOLVED) {
			if (i < sc.min_unres)
				sc.min_unres = i;
			if (sc.nunres < MAX_UNRES)
				sc.unres[sc.nunres++] = i;
		}
	}
	return finish(s, f, cx, &sc, which);
}

