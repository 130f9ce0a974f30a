/*
 * names.c: per-client tables of learned names (see names.h).
 */
#include <stdlib.h>
#include <string.h>

#include "names.h"

void
nt_init(struct nametab *t)
{
	memset(t, 0, sizeof *t);
}

void
nt_free(struct nametab *t)
{
	unsigned p;

	for (p = 0; p < MQ_PORT_MAX; p++)
		free(t->c[p]);
	memset(t, 0, sizeof *t);
}

int
nt_name_ok(const char *s, size_t len)
{
	size_t i, l = 0;

	if (len == 0 || len > NT_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (l == 0)
				return 0;
			l = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_') || ++l > 63)
			return 0;
	}
	return l > 0;
}

static uint32_t
addr_hash(int family, const uint8_t *a)
{
	uint64_t w[2], h;

	memcpy(w, a, 16);
	h = (w[0] ^ ((uint64_t)family << 56)) * 0x9e3779b97f4a7c15ull;
	h = (h ^ w[1] ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(h >> 40) & (NT_BUCKETS - 1);
}

static void
unlink_entry(struct nt_client *c, uint32_t i)
{
	struct nt_entry *x = &c->ent[i];
	uint32_t *pp = &c->head[addr_hash(x->family, x->addr)];

	while (*pp != NT_NIL && *pp != i)
		pp = &c->ent[*pp].next;
	if (*pp == i)
		*pp = x->next;
}

int
nt_add(struct nametab *t, uint16_t port, const char *name, int family,
    const uint8_t *addr, uint32_t ttl_s, uint64_t now_ms)
{
	struct nt_client *c;
	struct nt_entry *x;
	uint8_t a[16] = { 0 };
	size_t len = strlen(name);
	uint32_t i, h, victim;

	if (port == 0 || port >= MQ_PORT_MAX || (family != 4 && family != 6) ||
	    !nt_name_ok(name, len))
		return -1;
	memcpy(a, addr, family == 4 ? 4 : 16);
	if ((c = t->c[port]) == NULL) {
		if ((c = calloc(1, sizeof *c)) == NULL)
			return -1;
		for (i = 0; i < NT_BUCKETS; i++)
			c->head[i] = NT_NIL;
		t->c[port] = c;
	}
	h = addr_hash(family, a);
	/* Learned again: a new expiry, and young again. */
	for (i = c->head[h]; i != NT_NIL; i = c->ent[i].next) {
		x = &c->ent[i];
		if (x->family == family && memcmp(x->addr, a, 16) == 0 &&
		    x->namelen == len && memcmp(x->name, name, len) == 0) {
			x->expire_ms = now_ms + (uint64_t)ttl_s * 1000;
			x->stamp = ++t->stamp;
			t->learned++;
			return 0;
		}
	}
	if (c->n < NT_QUOTA)
		victim = c->n++;
	else {
		/* Full: an expired entry if there is one, else the oldest. */
		uint32_t old = 0, exp = NT_NIL;

		for (i = 0; i < NT_QUOTA; i++) {
			if (c->ent[i].expire_ms <= now_ms &&
			    (exp == NT_NIL || c->ent[i].stamp < c->ent[exp].stamp))
				exp = i;
			if (c->ent[i].stamp < c->ent[old].stamp)
				old = i;
		}
		victim = exp != NT_NIL ? exp : old;
		if (exp == NT_NIL)
			t->evicted++;
		unlink_entry(c, victim);
	}
	x = &c->ent[victim];
	memset(x, 0, sizeof *x);
	x->family = (uint8_t)family;
	memcpy(x->addr, a, 16);
	x->namelen = (uint8_t)len;
	memcpy(x->name, name, len);
	x->expire_ms = now_ms + (uint64_t)ttl_s * 1000;
	x->stamp = ++t->stamp;
	x->next = c->head[h];
	c->head[h] = victim;
	t->learned++;
	return 0;
}

int
nt_match(const struct nametab *t, uint16_t port, int family,
    const uint8_t *addr, const char *suffix, size_t slen, uint64_t now_ms,
    int recheck)
{
	const struct nt_client *c;
	uint8_t a[16] = { 0 };
	uint32_t i;

	if (t == NULL || port == 0 || port >= MQ_PORT_MAX ||
	    (c = t->c[port]) == NULL)
		return 0;
	memcpy(a, addr, family == 4 ? 4 : 16);
	for (i = c->head[addr_hash(family, a)]; i != NT_NIL; i = c->ent[i].next) {
		const struct nt_entry *x = &c->ent[i];

		if (x->family != family || memcmp(x->addr, a, 16) != 0 ||
		    (!recheck && x->expire_ms <= now_ms))
			continue;
		/* at least one label before ".suffix" */
		if (x->namelen > slen + 1 &&
		    x->name[x->namelen - slen - 1] == '.' &&
		    memcmp(x->name + x->namelen - slen, suffix, slen) == 0)
			return 1;
	}
	return 0;
}

void
nt_forget(struct nametab *t, uint16_t port)
{
	if (port >= MQ_PORT_MAX)
		return;
	free(t->c[port]);
	t->c[port] = NULL;
	if (t->g.active && t->g.port == port)
		t->g.active = 0;
}

uint64_t
nt_count(const struct nametab *t)
{
	uint64_t n = 0;
	unsigned p;

	for (p = 0; p < MQ_PORT_MAX; p++)
		if (t->c[p] != NULL)
			n += t->c[p]->n;
	return n;
}

static void
refuse(struct nametab *t)
{
	t->g.active = 0;
	t->refused++;
}

void
nt_record(struct nametab *t, const struct flow_learn *r, uint64_t now_ms,
    uint32_t ttl_min, uint32_t ttl_max,
    int (*up)(const void *arg, uint16_t port), const void *arg)
{
	uint32_t i, ttl;
	char *n;

	switch (r->kind) {
	case LEARN_BEGIN:
		/* an unfinished group before it is simply dropped */
		memset(&t->g, 0, sizeof t->g);
		if (r->port == 0 || r->port >= MQ_PORT_MAX ||
		    (up != NULL && !up(arg, r->port))) {
			t->refused++;
			return;
		}
		t->g.active = 1;
		t->g.port = r->port;
		t->g.ttl = r->ttl;
		return;
	case LEARN_NAME:
	case LEARN_NAME_END:
		if (!t->g.active || r->port != t->g.port || r->len == 0 ||
		    r->len > LEARN_CHUNK || t->g.nnames == NT_GROUP_NAMES ||
		    t->g.len + r->len > NT_NAME_MAX) {
			refuse(t);
			return;
		}
		n = t->g.names[t->g.nnames];
		memcpy(n + t->g.len, r->data, r->len);
		t->g.len += r->len;
		n[t->g.len] = '\0';
		if (r->kind == LEARN_NAME_END) {
			if (!nt_name_ok(n, t->g.len)) {
				refuse(t);
				return;
			}
			t->g.nnames++;
			t->g.len = 0;
		}
		return;
	case LEARN_ADDR:
		if (!t->g.active || r->port != t->g.port || t->g.len != 0 ||
		    t->g.nnames == 0 || (r->family != 4 && r->family != 6)) {
			refuse(t);
			return;
		}
		ttl = t->g.ttl;
		if (ttl < ttl_min)
			ttl = ttl_min;
		if (ttl > ttl_max)
			ttl = ttl_max;
		for (i = 0; i < t->g.nnames; i++)
			nt_add(t, t->g.port, t->g.names[i], r->family, r->data,
			    ttl, now_ms);
		return;
	default:
		refuse(t);
	}
}
