/*
 * flowtab.c: the connection table's layout, hashing, lists and restart
 * recovery. Depends only on libc and flowtab.h, because the supervisor
 * links this file to size the memfd.
 */
#include <string.h>

#include "flowtab.h"

static uint32_t
ft_nbuckets(uint32_t nflows)
{
	uint32_t n = FT_MIN_FLOWS;

	while (n < nflows)
		n <<= 1;
	return n;
}

size_t
natd_flowtab_bytes(uint32_t nflows)
{
	if (nflows < FT_MIN_FLOWS || nflows > FT_MAX_FLOWS)
		return 0;
	return sizeof(struct ft_hdr) + (size_t)nflows * sizeof(struct ft_entry) +
	    2 * (size_t)ft_nbuckets(nflows) * sizeof(uint32_t) +
	    (size_t)nflows * sizeof(struct ft_addr6) +
	    (size_t)nflows * sizeof(struct ft_count);
}

/*
 * Keyed mix of a 5-tuple. Not a cryptographic PRF, but the key is random
 * per table, so a client cannot aim many flows at one chain without
 * learning it; chains are also bounded by the per-client quota.
 */
static inline uint32_t
ft_hash(uint64_t secret, uint32_t a, uint32_t b, uint8_t proto, uint16_t pa,
    uint16_t pb)
{
	uint64_t h;

	h = secret ^ ((uint64_t)a << 32 | b);
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 32;
	h ^= (uint64_t)pa << 24 | (uint64_t)pb << 8 | proto;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return (uint32_t)h;
}

static inline uint32_t
ft_hash_out(const struct flowtab *t, const struct ft_entry *e)
{
	return ft_hash(t->secret, e->csrc, e->odst, e->proto, e->csport,
	    e->dport) & t->mask;
}

static inline uint32_t
ft_hash_in(const struct flowtab *t, const struct ft_entry *e)
{
	/* Same mix with the roles swapped, so in and out keys of one flow
	 * land in unrelated buckets. */
	return ft_hash(~t->secret, e->rdst, e->nsrc, e->proto, e->dport,
	    e->nsport) & t->mask;
}

int
ft_attach(struct flowtab *t, void *mem, size_t len, uint32_t nflows,
    int fresh, uint64_t secret)
{
	size_t need = natd_flowtab_bytes(nflows);
	uint8_t *p = mem;
	uint32_t nb, i;

	if (need == 0 || len < need || mem == NULL)
		return -1;
	memset(t, 0, sizeof(*t));
	nb = ft_nbuckets(nflows);
	t->hdr = mem;
	t->ent = (struct ft_entry *)(p + sizeof(struct ft_hdr));
	t->bucket_out = (uint32_t *)(p + sizeof(struct ft_hdr) +
	    (size_t)nflows * sizeof(struct ft_entry));
	t->bucket_in = t->bucket_out + nb;
	t->a6 = (struct ft_addr6 *)(t->bucket_in + nb);
	t->cnt = (struct ft_count *)(t->a6 + nflows);
	t->nflows = nflows;
	t->mask = nb - 1;
	t->free_head = FT_NIL;
	for (i = 0; i < FT_NPORTS; i++)
		t->client[i].lru_head = t->client[i].lru_tail = FT_NIL;
	if (!fresh)
		return 0;
	memset(mem, 0, need);
	t->hdr->magic = FT_MAGIC;
	t->hdr->version = FT_VERSION;
	t->hdr->nflows = nflows;
	t->hdr->nbuckets = nb;
	t->hdr->entsz = sizeof(struct ft_entry);
	t->hdr->secret = secret;
	t->secret = secret;
	for (i = 0; i < nb; i++)
		t->bucket_out[i] = t->bucket_in[i] = FT_NIL;
	/* Free list in index order, so low indices are used first. */
	for (i = nflows; i-- > 0;) {
		t->ent[i].lru_next = t->free_head;
		t->free_head = i;
	}
	return 0;
}

int
ft_header_ok(const struct flowtab *t)
{
	const struct ft_hdr *h = t->hdr;

	return h->magic == FT_MAGIC && h->version == FT_VERSION &&
	    h->nflows == t->nflows && h->nbuckets == t->mask + 1 &&
	    h->entsz == sizeof(struct ft_entry);
}

uint32_t
ft_find_out(const struct flowtab *t, uint32_t csrc, uint32_t odst,
    uint8_t proto, uint16_t csport, uint16_t dport)
{
	uint32_t i, n = 0;

	i = t->bucket_out[ft_hash(t->secret, csrc, odst, proto, csport,
	    dport) & t->mask];
	/* The bound only matters if the table were corrupted while running. */
	while (i != FT_NIL && n++ < t->nflows) {
		const struct ft_entry *e = &t->ent[i];

		if (e->csrc == csrc && e->odst == odst && e->proto == proto &&
		    e->csport == csport && e->dport == dport &&
		    !(e->flags & FT_F_V6))
			return i;
		i = e->next_out;
	}
	return FT_NIL;
}

uint32_t
ft_find_in(const struct flowtab *t, uint32_t rsrc, uint32_t ldst,
    uint8_t proto, uint16_t rport, uint16_t lport)
{
	uint32_t i, n = 0;

	i = t->bucket_in[ft_hash(~t->secret, rsrc, ldst, proto, rport,
	    lport) & t->mask];
	while (i != FT_NIL && n++ < t->nflows) {
		const struct ft_entry *e = &t->ent[i];

		if (e->rdst == rsrc && e->nsrc == ldst && e->proto == proto &&
		    e->dport == rport && e->nsport == lport &&
		    !(e->flags & FT_F_V6))
			return i;
		i = e->next_in;
	}
	return FT_NIL;
}

uint32_t
ft_tag6(const struct flowtab *t, const uint8_t a[16])
{
	uint64_t h = t->secret ^ 0x736f6d6570736575ull, w;
	int i;

	for (i = 0; i < 16; i += 8) {
		memcpy(&w, a + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	/* 0 means "no address" to entry_sane. */
	return (uint32_t)h != 0 ? (uint32_t)h : 1;
}

uint32_t
ft_find_out6(const struct flowtab *t, const uint8_t csrc[16],
    const uint8_t odst[16], uint8_t proto, uint16_t csport, uint16_t dport)
{
	uint32_t i, n = 0, ts = ft_tag6(t, csrc), td = ft_tag6(t, odst);

	i = t->bucket_out[ft_hash(t->secret, ts, td, proto, csport, dport) &
	    t->mask];
	while (i != FT_NIL && n++ < t->nflows) {
		const struct ft_entry *e = &t->ent[i];

		if (e->csrc == ts && e->odst == td && e->proto == proto &&
		    e->csport == csport && e->dport == dport &&
		    (e->flags & FT_F_V6) && memcmp(t->a6[i].src, csrc, 16) == 0 &&
		    memcmp(t->a6[i].dst, odst, 16) == 0)
			return i;
		i = e->next_out;
	}
	return FT_NIL;
}

/* tl: the local address's tag; ldst the address itself, compared whole
 * for a client-to-client flow. */
static uint32_t
find_in6(const struct flowtab *t, const uint8_t rsrc[16], uint32_t tl,
    const uint8_t ldst[16], uint8_t proto, uint16_t rport, uint16_t lport)
{
	uint32_t i, n = 0, tr = ft_tag6(t, rsrc);

	i = t->bucket_in[ft_hash(~t->secret, tr, tl, proto, rport, lport) &
	    t->mask];
	while (i != FT_NIL && n++ < t->nflows) {
		const struct ft_entry *e = &t->ent[i];

		if (e->rdst == tr && e->nsrc == tl && e->proto == proto &&
		    e->dport == rport && e->nsport == lport &&
		    (e->flags & FT_F_V6) && memcmp(t->a6[i].dst, rsrc, 16) == 0 &&
		    (e->kind != FT_K_C2C || memcmp(t->a6[i].src, ldst, 16) == 0))
			return i;
		i = e->next_in;
	}
	return FT_NIL;
}

uint32_t
ft_find_in6(const struct flowtab *t, const uint8_t rsrc[16],
    const uint8_t ldst[16], uint8_t proto, uint16_t rport, uint16_t lport)
{
	return find_in6(t, rsrc, ft_tag6(t, ldst), ldst, proto, rport, lport);
}

/* The same lookups for the entry at i itself, whichever its family. */
static uint32_t
find_out_of(const struct flowtab *t, uint32_t i)
{
	const struct ft_entry *e = &t->ent[i];

	if (e->flags & FT_F_V6)
		return ft_find_out6(t, t->a6[i].src, t->a6[i].dst, e->proto,
		    e->csport, e->dport);
	return ft_find_out(t, e->csrc, e->odst, e->proto, e->csport, e->dport);
}

static uint32_t
find_in_of(const struct flowtab *t, uint32_t i)
{
	const struct ft_entry *e = &t->ent[i];

	if (e->flags & FT_F_V6)
		return find_in6(t, t->a6[i].dst, e->nsrc, t->a6[i].src,
		    e->proto, e->dport, e->nsport);
	return ft_find_in(t, e->rdst, e->nsrc, e->proto, e->dport, e->nsport);
}

uint32_t
ft_alloc(struct flowtab *t)
{
	uint32_t i = t->free_head;

	if (i == FT_NIL)
		return FT_NIL;
	t->free_head = t->ent[i].lru_next;
	memset(&t->ent[i], 0, sizeof(t->ent[i]));
	memset(&t->a6[i], 0, sizeof(t->a6[i]));
	memset(&t->cnt[i], 0, sizeof(t->cnt[i]));
	t->cnt[i].rule = FT_RULE_NONE;
	t->ent[i].next_out = t->ent[i].next_in = FT_NIL;
	t->ent[i].lru_prev = t->ent[i].lru_next = FT_NIL;
	return i;
}

void
ft_unalloc(struct flowtab *t, uint32_t idx)
{
	t->ent[idx].state = FT_FREE;
	t->ent[idx].lru_next = t->free_head;
	t->free_head = idx;
}

static void
lru_unlink(struct flowtab *t, uint32_t idx)
{
	struct ft_entry *e = &t->ent[idx];
	struct ft_client *c = &t->client[e->cport];

	if (e->lru_prev != FT_NIL)
		t->ent[e->lru_prev].lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next != FT_NIL)
		t->ent[e->lru_next].lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = FT_NIL;
}

static void
lru_append(struct flowtab *t, uint32_t idx)
{
	struct ft_entry *e = &t->ent[idx];
	struct ft_client *c = &t->client[e->cport];

	e->lru_next = FT_NIL;
	e->lru_prev = c->lru_tail;
	if (c->lru_tail != FT_NIL)
		t->ent[c->lru_tail].lru_next = idx;
	else
		c->lru_head = idx;
	c->lru_tail = idx;
}

void
ft_link(struct flowtab *t, uint32_t idx)
{
	struct ft_entry *e = &t->ent[idx];
	uint32_t h;

	h = ft_hash_out(t, e);
	e->next_out = t->bucket_out[h];
	t->bucket_out[h] = idx;
	h = ft_hash_in(t, e);
	e->next_in = t->bucket_in[h];
	t->bucket_in[h] = idx;
	lru_append(t, idx);
	t->client[e->cport].nflows++;
	if (e->kind == FT_K_FWD)
		t->client[e->cport].nfwd++;
	t->nused++;
}

static void
chain_unlink(uint32_t *bucket, struct ft_entry *ent, uint32_t idx, int in,
    uint32_t bound)
{
	uint32_t *pp = bucket, n = 0;

	while (*pp != FT_NIL && n++ < bound) {
		if (*pp == idx) {
			*pp = in ? ent[idx].next_in : ent[idx].next_out;
			return;
		}
		pp = in ? &ent[*pp].next_in : &ent[*pp].next_out;
	}
}

void
ft_remove(struct flowtab *t, uint32_t idx)
{
	struct ft_entry *e = &t->ent[idx];

	chain_unlink(&t->bucket_out[ft_hash_out(t, e)], t->ent, idx, 0,
	    t->nflows);
	chain_unlink(&t->bucket_in[ft_hash_in(t, e)], t->ent, idx, 1,
	    t->nflows);
	lru_unlink(t, idx);
	t->client[e->cport].nflows--;
	if (e->kind == FT_K_FWD)
		t->client[e->cport].nfwd--;
	t->nused--;
	/* Clear it before it goes on the free list: a restart must not see
	 * a stale flow here. */
	memset(e, 0, sizeof(*e));
	memset(&t->a6[idx], 0, sizeof(t->a6[idx]));
	memset(&t->cnt[idx], 0, sizeof(t->cnt[idx]));
	e->next_out = e->next_in = e->lru_prev = FT_NIL;
	e->lru_next = t->free_head;
	t->free_head = idx;
}

void
ft_touch(struct flowtab *t, uint32_t idx)
{
	struct ft_client *c = &t->client[t->ent[idx].cport];

	if (c->lru_tail == idx)
		return;
	lru_unlink(t, idx);
	lru_append(t, idx);
}

/* Fields that can be checked without knowing natd's configuration. */
static int
entry_sane(const struct flowtab *t, uint32_t i)
{
	const struct ft_entry *e = &t->ent[i];
	int v6 = (e->flags & FT_F_V6) != 0;

	if (e->state != FT_ACTIVE && e->state != FT_PENDING &&
	    e->state != FT_BLOCKED)
		return 0;
	if (e->kind != FT_K_NAT && e->kind != FT_K_C2C && e->kind != FT_K_FWD)
		return 0;
	if ((e->flags & ~(FT_F_ALL | FT_F_V6)) != 0)
		return 0;
	if (e->cport == 0 || e->cport >= FT_NPORTS)
		return 0;
	if (e->csrc == 0 || e->odst == 0 || e->rdst == 0 || e->nsrc == 0)
		return 0;
	switch (e->proto) {
	case 6:
		if (e->tcp == FT_TCP_NONE || e->tcp >= FT_TCP_MAX)
			return 0;
		break;
	case 17:
		if (e->tcp != FT_TCP_NONE)
			return 0;
		break;
	case 1:
	case 58:
		if (e->tcp != FT_TCP_NONE || e->dport != 0 ||
		    (e->proto == 58) != v6)
			return 0;
		break;
	default:
		return 0;
	}
	/* The tags must be those of the addresses kept beside the entry
	 * (the translated source, /qubes-ip6, is restore_keep's to check). */
	if (v6 && (e->csrc != ft_tag6(t, t->a6[i].src) ||
	    e->odst != ft_tag6(t, t->a6[i].dst) || e->rdst != e->odst ||
	    (e->flags & FT_F_REDIRECT)))
		return 0;
	if (e->kind == FT_K_C2C && (e->nsrc != e->csrc ||
	    e->nsport != e->csport || e->rdst != e->odst))
		return 0;
	if (((e->flags & FT_F_REDIRECT) != 0) != (e->rdst != e->odst))
		return 0;
	/* Counters are whatever natd counted, but a flow cannot have
	 * started after its last packet. */
	if (t->cnt[i].start > e->last)
		return 0;
	/* A forward is never pending or blocked (natd's own table decides
	 * it), never redirected, and always TCP or UDP to a real port. */
	if (e->kind == FT_K_FWD && (e->state != FT_ACTIVE ||
	    (e->flags & FT_F_REDIRECT) || e->proto == 1 || e->csport == 0 ||
	    e->nsport == 0))
		return 0;
	return 1;
}

uint32_t
ft_rebuild(struct flowtab *t, int (*keep)(void *, const struct ft_entry *),
    void *arg, uint32_t *dropped)
{
	uint32_t i, nb = t->mask + 1, kept = 0, drop = 0;

	t->secret = t->hdr->secret;
	for (i = 0; i < nb; i++)
		t->bucket_out[i] = t->bucket_in[i] = FT_NIL;
	for (i = 0; i < FT_NPORTS; i++) {
		t->client[i].lru_head = t->client[i].lru_tail = FT_NIL;
		t->client[i].nflows = 0;
		t->client[i].nfwd = 0;
	}
	t->nused = 0;
	t->free_head = FT_NIL;
	for (i = 0; i < t->nflows; i++) {
		struct ft_entry *e = &t->ent[i];

		if (e->state == FT_FREE)
			continue;
		/* keep() last: it may count what it keeps (quotas). */
		if (!entry_sane(t, i) || find_out_of(t, i) != FT_NIL ||
		    find_in_of(t, i) != FT_NIL ||
		    (keep != NULL && !keep(arg, e))) {
			memset(e, 0, sizeof(*e));
			memset(&t->a6[i], 0, sizeof(t->a6[i]));
			memset(&t->cnt[i], 0, sizeof(t->cnt[i]));
			drop++;
			continue;
		}
		e->flags &= ~FT_F_RECHECK;
		ft_link(t, i);
		kept++;
	}
	/* Free list: every entry not kept, lowest index first. */
	for (i = t->nflows; i-- > 0;) {
		struct ft_entry *e = &t->ent[i];

		if (e->state != FT_FREE)
			continue;
		memset(e, 0, sizeof(*e));
		memset(&t->a6[i], 0, sizeof(t->a6[i]));
		memset(&t->cnt[i], 0, sizeof(t->cnt[i]));
		e->next_out = e->next_in = e->lru_prev = FT_NIL;
		e->lru_next = t->free_head;
		t->free_head = i;
	}
	if (dropped != NULL)
		*dropped = drop;
	return kept;
}

int
ft_check(const struct flowtab *t)
{
	uint32_t i, n, nb = t->mask + 1, seen = 0, nfree = 0;
	uint32_t per[FT_NPORTS];

	memset(per, 0, sizeof(per));
	for (i = 0; i < t->nflows; i++) {
		const struct ft_entry *e = &t->ent[i];

		if (e->state == FT_FREE)
			continue;
		if (find_out_of(t, i) != i)
			return -1;
		if (find_in_of(t, i) != i)
			return -2;
		per[e->cport]++;
		seen++;
	}
	if (seen != t->nused)
		return -3;
	for (i = 0; i < FT_NPORTS; i++) {
		uint32_t j = t->client[i].lru_head;

		n = 0;
		while (j != FT_NIL && n <= t->nflows) {
			if (t->ent[j].cport != i || t->ent[j].state == FT_FREE)
				return -4;
			n++;
			j = t->ent[j].lru_next;
		}
		if (n != per[i] || n != t->client[i].nflows)
			return -5;
	}
	for (i = t->free_head; i != FT_NIL && nfree <= t->nflows;
	    i = t->ent[i].lru_next)
		nfree++;
	if (nfree + seen != t->nflows)
		return -6;
	(void)nb;
	return 0;
}
