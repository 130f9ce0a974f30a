/*
 * dnscache.c: the dsthost name cache (see dnscache.h).
 */
#include <string.h>

#include "dnscache.h"

void
dnsc_init(struct dnsc *d)
{
	memset(d, 0, sizeof *d);
	d->next_qid = 1;
}

static uint32_t
bucket_of(const char *name, uint16_t qtype)
{
	uint32_t h = 2166136261u ^ qtype;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return (h % (DNSC_SLOTS / DNSC_WAYS)) * DNSC_WAYS;
}

static struct dnsc_entry *
find(struct dnsc *d, const char *name, uint16_t qtype)
{
	uint32_t b = bucket_of(name, qtype), i;

	for (i = b; i < b + DNSC_WAYS; i++)
		if (d->e[i].state != DNSC_EMPTY && d->e[i].qtype == qtype &&
		    strcmp(d->e[i].name, name) == 0)
			return &d->e[i];
	return NULL;
}

int
dnsc_peek(struct dnsc *d, const char *name, uint16_t qtype, uint64_t now_ms,
    const struct dnsc_entry **out)
{
	struct dnsc_entry *e = find(d, name, qtype);

	if (e == NULL)
		return DNSC_WANT;
	if ((e->state == DNSC_OK || e->state == DNSC_FAIL) && now_ms < e->until_ms) {
		e->used_ms = now_ms;
		*out = e;
		return e->state;
	}
	return DNSC_WANT;
}

static void
enqueue(struct dnsc *d, struct dnsc_entry *e, uint64_t now_ms)
{
	e->state = DNSC_WANT;
	d->nbusy++;
	e->until_ms = now_ms + DNSC_TIMEOUT_MS;
	e->used_ms = now_ms;
	e->qid = 0;
	/* Stale FIFO positions (entries that timed out unsent) are skipped
	 * when read; if they fill it, this lookup just times out. */
	if (d->wtail - d->whead < DNSC_SLOTS)
		d->want[d->wtail++ % DNSC_SLOTS] = (uint32_t)(e - d->e);
}

void
dnsc_want(struct dnsc *d, const char *name, uint16_t qtype, uint64_t now_ms)
{
	struct dnsc_entry *e = find(d, name, qtype), *victim = NULL;
	uint32_t b, i;

	if (strlen(name) >= DNS_NAME_MAX)
		return;
	if (e != NULL) {
		if (e->state == DNSC_WANT || e->state == DNSC_SENT)
			return;
		if (now_ms < e->until_ms)
			return;		/* fresh */
		enqueue(d, e, now_ms);
		return;
	}
	b = bucket_of(name, qtype);
	for (i = b; i < b + DNSC_WAYS; i++) {
		struct dnsc_entry *c = &d->e[i];

		if (c->state == DNSC_EMPTY) {
			victim = c;
			break;
		}
		if (c->state == DNSC_WANT || c->state == DNSC_SENT)
			continue;
		if (victim == NULL || c->used_ms < victim->used_ms)
			victim = c;
	}
	if (victim == NULL)
		return;		/* every way busy: the rule waits and times out */
	memset(victim, 0, sizeof *victim);
	strcpy(victim->name, name);	/* length checked above */
	victim->qtype = qtype;
	enqueue(d, victim, now_ms);
}

int
dnsc_next_query(struct dnsc *d, uint64_t now_ms, struct msg_dns_query *q)
{
	uint32_t slot;

	if (d->ninflight >= DNSC_INFLIGHT)
		return 0;
	while (d->whead != d->wtail) {
		struct dnsc_entry *e = &d->e[d->want[d->whead++ % DNSC_SLOTS]];

		if (e->state != DNSC_WANT || e->qid != 0)
			continue;
		for (slot = 0; slot < DNSC_INFLIGHT; slot++)
			if (d->inflight[slot] == 0)
				break;
		d->inflight[slot] = (uint32_t)(e - d->e) + 1;
		d->ninflight++;
		e->state = DNSC_SENT;
		e->qid = d->next_qid++;
		if (d->next_qid == 0)
			d->next_qid = 1;
		memset(q, 0, sizeof *q);
		q->qid = e->qid;
		q->qtype = e->qtype;
		strcpy(q->name, e->name);
		d->nqueries++;
		(void)now_ms;
		return 1;
	}
	return 0;
}

static void
settle_fail(struct dnsc *d, struct dnsc_entry *e, uint64_t now_ms)
{
	d->nbusy--;
	e->state = DNSC_FAIL;
	e->naddr = 0;
	e->until_ms = now_ms + DNSC_NEG_TTL_MS;
}

static void
release(struct dnsc *d, uint32_t slot)
{
	d->inflight[slot] = 0;
	d->ninflight--;
}

int
dnsc_answer(struct dnsc *d, const struct msg_dns_answer *a, uint64_t now_ms)
{
	uint32_t slot, ttl, i;
	struct dnsc_entry *e;

	for (slot = 0; slot < DNSC_INFLIGHT; slot++) {
		if (d->inflight[slot] == 0)
			continue;
		e = &d->e[d->inflight[slot] - 1];
		if (e->state == DNSC_SENT && e->qid == a->qid)
			break;
	}
	if (slot == DNSC_INFLIGHT)
		return 0;	/* late (timed out) or unknown: ignore */
	release(d, slot);
	d->nanswers++;
	e->qid = 0;
	if (a->status != 0 || a->qtype != e->qtype || a->naddr > DNS_ANSWER_MAX) {
		settle_fail(d, e, now_ms);
		return 1;
	}
	d->nbusy--;
	ttl = a->ttl;
	if (ttl < DNSC_MIN_TTL)
		ttl = DNSC_MIN_TTL;
	if (ttl > DNSC_MAX_TTL)
		ttl = DNSC_MAX_TTL;
	e->state = DNSC_OK;
	e->naddr = (uint8_t)a->naddr;
	for (i = 0; i < a->naddr; i++) {
		memset(e->addr[i], 0, 16);
		memcpy(e->addr[i], a->addr[i], e->qtype == DNS_QTYPE_A ? 4 : 16);
	}
	e->until_ms = now_ms + (uint64_t)ttl * 1000;
	return 1;
}

int
dnsc_tick(struct dnsc *d, uint64_t now_ms, uint64_t *next_ms)
{
	uint32_t i, slot;
	int n = 0;
	uint64_t next = 0;

	for (i = 0; i < DNSC_SLOTS && d->nbusy > 0; i++) {
		struct dnsc_entry *e = &d->e[i];

		if (e->state != DNSC_WANT && e->state != DNSC_SENT)
			continue;
		if (now_ms >= e->until_ms) {
			if (e->state == DNSC_SENT) {
				for (slot = 0; slot < DNSC_INFLIGHT; slot++)
					if (d->inflight[slot] == i + 1)
						release(d, slot);
			}
			e->qid = 0;
			settle_fail(d, e, now_ms);
			d->ntimeouts++;
			n++;
		} else if (next == 0 || e->until_ms < next)
			next = e->until_ms;
	}
	if (next_ms != NULL)
		*next_ms = next;
	return n;
}
