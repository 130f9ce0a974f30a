/*
 * test_natd_flowtab.c: the connection table alone, and what a restarted
 * natd does with a table a crashed one left behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "natd/flowtab.h"

#define N	256

static uint8_t *mem;
static size_t len;

/* A new active UDP NAT entry, its index in *ip; NULL when the table is
 * full (*ip is FT_NIL). */
static struct ft_entry *
new_udp(struct flowtab *t, uint32_t *ip)
{
	struct ft_entry *e;

	if ((*ip = ft_alloc(t)) == FT_NIL)
		return NULL;
	e = ft_ent(t, *ip);
	e->state = FT_ACTIVE;
	e->proto = 17;
	e->kind = FT_K_NAT;
	return e;
}

static uint32_t
add(struct flowtab *t, uint16_t cport, uint32_t csrc, uint16_t sport)
{
	uint32_t i;
	struct ft_entry *e = new_udp(t, &i);

	if (e == NULL)
		return FT_NIL;
	e->cport = cport;
	e->csrc = csrc;
	e->odst = e->rdst = 0x01020304;
	e->nsrc = 0x0a000006;
	e->csport = sport;
	e->nsport = sport;
	e->dport = 53;
	ft_link(t, i);
	return i;
}

static void
fill(struct flowtab *t)
{
	uint16_t k;

	len = natd_flowtab_bytes(N);
	free(mem);
	mem = malloc(len);
	memset(mem, 0xa5, len);		/* garbage before format */
	if (ft_attach(t, mem, len, N, 1, 0x1234567890abcdefull) != 0)
		abort();
	for (k = 0; k < 100; k++)
		add(t, (uint16_t)(1 + k % 3), 0x0a00000a + k % 3, (uint16_t)(1000 + k));
}

static void
test_sizes(void)
{
	T_EQ_INT(natd_flowtab_bytes(0), 0);
	T_EQ_INT(natd_flowtab_bytes(FT_MAX_FLOWS + 1), 0);
	/* Header, entries, two bucket arrays, the IPv6 address array, the
	 * counters. */
	T_EQ_INT(natd_flowtab_bytes(16384), 64 + 16384 * 64 + 2 * 16384 * 4 +
	    16384 * 32 + 16384 * 32);
	T_ASSERT(natd_flowtab_bytes(10000) >= 64 + 10000 * 64 + 2 * 10000 * 4);
}

static void
test_basic(void)
{
	struct flowtab t;
	uint32_t i;

	fill(&t);
	T_EQ_INT(t.nused, 100);
	T_EQ_INT(ft_check(&t), 0);
	i = ft_find_out(&t, 0x0a00000a, 0x01020304, 17, 1000, 53);
	T_ASSERT(i != FT_NIL);
	T_EQ_INT(ft_find_in(&t, 0x01020304, 0x0a000006, 17, 53, 1000), i);
	ft_remove(&t, i);
	T_EQ_INT(ft_find_out(&t, 0x0a00000a, 0x01020304, 17, 1000, 53), FT_NIL);
	T_EQ_INT(ft_check(&t), 0);
	/* Full table: alloc says so. */
	while (add(&t, 1, 0x0a00000a, (uint16_t)(20000 + t.nused)) != FT_NIL)
		;
	T_EQ_INT(t.nused, N);
	T_EQ_INT(ft_check(&t), 0);
}

static void
test_rebuild_clean(void)
{
	struct flowtab t, u;
	uint32_t dropped = 99;

	fill(&t);
	T_ASSERT(ft_attach(&u, mem, len, N, 0, 0) == 0);
	T_ASSERT(ft_header_ok(&u));
	T_EQ_INT(ft_rebuild(&u, NULL, NULL, &dropped), 100);
	T_EQ_INT(dropped, 0);
	T_EQ_INT(ft_check(&u), 0);
	T_ASSERT(ft_find_out(&u, 0x0a00000b, 0x01020304, 17, 1001, 53) != FT_NIL);
	/* Geometry mismatch is noticed. */
	T_ASSERT(ft_attach(&u, mem, len, N / 2, 0, 0) == 0);
	T_ASSERT(!ft_header_ok(&u));
}

static void
test_rebuild_corrupt(void)
{
	struct flowtab t, u;
	struct ft_entry *e;
	uint32_t dropped = 0, kept, i;

	fill(&t);
	/* A crashed natd left: chains that loop and point outside the
	 * table, an impossible state, a bad port, a duplicate key, a C2C flow
	 * that claims translation, garbage in a free slot. */
	t.bucket_out[0] = 5;
	ft_ent(&t, 5)->next_out = 5;
	ft_ent(&t, 6)->next_in = 0xfffffff0;
	ft_ent(&t, 7)->lru_next = 7;
	ft_ent(&t, 10)->state = 9;
	ft_ent(&t, 11)->cport = 5000;
	ft_ent(&t, 12)->tcp = FT_TCP_ESTABLISHED;	/* on a UDP flow */
	e = ft_ent(&t, 13);
	*ft_ent(&t, 14) = *e;				/* duplicate of 13 */
	ft_ent(&t, 15)->kind = FT_K_C2C;
	memset(ft_ent(&t, 200), 0x5a, sizeof(struct ft_entry));
	ft_ent(&t, 200)->state = FT_ACTIVE;
	T_ASSERT(ft_attach(&u, mem, len, N, 0, 0) == 0);
	kept = ft_rebuild(&u, NULL, NULL, &dropped);
	T_EQ_INT(dropped, 6);
	T_EQ_INT(kept, 95);
	T_EQ_INT(ft_check(&u), 0);
	/* Lookups terminate and the survivors are findable. */
	T_ASSERT(ft_find_out(&u, ft_ent(&u, 5)->csrc, 0x01020304, 17,
	    ft_ent(&u, 5)->csport, 53) == 5);
	T_ASSERT(ft_find_out(&u, ft_ent(&u, 13)->csrc, 0x01020304, 17,
	    ft_ent(&u, 13)->csport, 53) == 13);
	/* The table is usable again. */
	for (i = 0; i < 20; i++)
		T_ASSERT(add(&u, 2, 0x0a00000b, (uint16_t)(30000 + i)) != FT_NIL);
	T_EQ_INT(ft_check(&u), 0);
}

static void
test_rebuild_random(void)
{
	struct flowtab t, u;
	uint32_t r = 1, round, i, dropped;

	/* Random damage, many times: recovery always ends consistent. */
	for (round = 0; round < 200; round++) {
		fill(&t);
		for (i = 0; i < 40; i++) {
			r = r * 1103515245 + 12345;
			mem[64 + (r >> 8) % (len - 64)] = (uint8_t)(r >> 3);
		}
		if (ft_attach(&u, mem, len, N, 0, 0) != 0 || !ft_header_ok(&u))
			continue;
		ft_rebuild(&u, NULL, NULL, &dropped);
		T_EQ_INT(ft_check(&u), 0);
	}
}

static int
keep_odd(void *arg, const struct ft_entry *e)
{
	(void)arg;
	return e->csport & 1;
}

static void
test_rebuild_keep(void)
{
	struct flowtab t, u;
	uint32_t dropped;

	fill(&t);
	T_ASSERT(ft_attach(&u, mem, len, N, 0, 0) == 0);
	T_EQ_INT(ft_rebuild(&u, keep_odd, NULL, &dropped), 50);
	T_EQ_INT(dropped, 50);
	T_EQ_INT(ft_check(&u), 0);
}

/* An entry taken and given back unlinked is free again: the next alloc
 * returns it, nothing counts it, and the table stays consistent. */
static void
test_unalloc(void)
{
	struct flowtab t;
	uint32_t i, used;

	fill(&t);
	used = t.nused;
	i = ft_alloc(&t);
	T_ASSERT(i != FT_NIL);
	ft_unalloc(&t, i);
	T_EQ_INT(t.nused, used);
	T_EQ_INT(ft_check(&t), 0);
	T_EQ_INT(ft_alloc(&t), i);
}

/* An IPv6 flow whose address fields hold the tags of src/dst. */
static uint32_t
add6(struct flowtab *t, const uint8_t src[16], const uint8_t dst[16],
    const uint8_t us[16], uint16_t sport)
{
	uint32_t i;
	struct ft_entry *e = new_udp(t, &i);

	if (e == NULL)
		return FT_NIL;
	e->flags = FT_F_V6;
	e->cport = 1;
	memcpy(t->a6[i].src, src, 16);
	memcpy(t->a6[i].dst, dst, 16);
	e->csrc = ft_tag6(t, src);
	e->odst = e->rdst = ft_tag6(t, dst);
	e->nsrc = ft_tag6(t, us);
	e->csport = e->nsport = sport;
	e->dport = 53;
	ft_link(t, i);
	return i;
}

static void
test_v6(void)
{
	static const uint8_t c[16] = { 0xfd, 9, [15] = 0x10 };
	static const uint8_t r1[16] = { 0x20, 1, [15] = 1 };
	static const uint8_t r2[16] = { 0x20, 1, [15] = 2 };
	static const uint8_t us[16] = { 0xfd, [15] = 6 };
	struct flowtab t;
	uint32_t a, b, kept, dropped;

	fill(&t);
	a = add6(&t, c, r1, us, 5000);
	b = add6(&t, c, r2, us, 5000);
	T_ASSERT(a != FT_NIL && b != FT_NIL);
	T_EQ_INT(ft_find_out6(&t, c, r1, 17, 5000, 53), a);
	T_EQ_INT(ft_find_out6(&t, c, r2, 17, 5000, 53), b);
	T_EQ_INT(ft_find_in6(&t, r2, us, 17, 53, 5000), b);
	T_EQ_INT(ft_find_in6(&t, r1, c, 17, 53, 5000), FT_NIL);
	/* The IPv4 lookups never see an IPv6 entry with the same numbers. */
	T_EQ_INT(ft_find_out(&t, ft_tag6(&t, c), ft_tag6(&t, r1), 17, 5000, 53),
	    FT_NIL);
	/* Same tags, other address: another flow, not this one. */
	t.a6[b].dst[15] = 3;
	T_EQ_INT(ft_find_out6(&t, c, r2, 17, 5000, 53), FT_NIL);
	t.a6[b].dst[15] = 2;
	T_EQ_INT(ft_check(&t), 0);
	/* A restart keeps both, and drops one whose tag lies. */
	kept = ft_rebuild(&t, NULL, NULL, &dropped);
	T_EQ_INT(kept, 102);
	T_EQ_INT(dropped, 0);
	t.a6[a].src[0] ^= 1;
	kept = ft_rebuild(&t, NULL, NULL, &dropped);
	T_EQ_INT(kept, 101);
	T_EQ_INT(dropped, 1);
	T_EQ_INT(ft_find_out6(&t, c, r2, 17, 5000, 53), b);
	T_EQ_INT(ft_check(&t), 0);
	/* ICMPv6 only in IPv6 entries, ICMP only in IPv4 ones. */
	ft_ent(&t, b)->proto = 1;
	kept = ft_rebuild(&t, NULL, NULL, &dropped);
	T_EQ_INT(dropped, 1);
}

int
main(void)
{
	T_RUN(test_sizes);
	T_RUN(test_basic);
	T_RUN(test_rebuild_clean);
	T_RUN(test_rebuild_corrupt);
	T_RUN(test_rebuild_random);
	T_RUN(test_rebuild_keep);
	T_RUN(test_unalloc);
	T_RUN(test_v6);
	free(mem);
	return t_done();
}
