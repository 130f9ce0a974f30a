/*
 * nat_rate.c: per-client rate limits (MSG_LIMITS; docs/rules.md, "Rate
 * limits"). Each client port has a token bucket per direction: "up" for
 * what the client sends, "down" for what it receives, whether the other
 * end is the uplink or another client. A frame along a flow passes only
 * when every bucket it crosses has tokens; otherwise it is dropped and
 * counted (reason "rate") on the limited client's port.
 *
 * A drop policer, not a shaper: nothing is queued (natd holds no frames
 * for this), so TCP finds the rate by loss, as through a policing router;
 * the burst is what keeps a sender's window from losing its tail.
 *
 * Nothing here allocates or asks the kernel for anything: the clock is
 * the one natd read for the batch (e->now_ms), and a port without a limit
 * costs one test (nat_rate_pass in nat_priv.h).
 */
#include <string.h>

#include "log.h"
#include "nat_priv.h"

void
nat_bucket_set(struct nat_bucket *b, uint64_t rate, uint64_t burst,
    uint64_t now)
{
	b->rate = rate;
	b->burst = (int64_t)burst * 1000;
	b->tokens = b->burst;
	b->last_ms = now;
}

static void
refill(struct nat_bucket *b, uint64_t now)
{
	uint64_t dt;

	/* A clock that went back (a restored bucket) just waits. */
	if (now <= b->last_ms)
		return;
	dt = now - b->last_ms;
	/* Past a minute the bucket is full anyway: the cap keeps the
	 * product in range at any rate (nat.h). */
	if (dt > NAT_RATE_REFILL_MAX_MS)
		dt = NAT_RATE_REFILL_MAX_MS;
	b->tokens += (int64_t)(b->rate * dt);
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last_ms = now;
}

int
nat_bucket_take(struct nat_bucket *b, uint64_t now, uint64_t bytes)
{
	refill(b, now);
	if (b->tokens < 0)
		return 0;
	b->tokens -= (int64_t)bytes * 1000;
	return 1;
}

/*
 * What the frame puts on the wire in IP bytes: a GSO super-frame becomes
 * one packet per gso_size of payload, each with the headers again.
 */
static uint64_t
ip_bytes(const struct mq_desc *d, const struct pkt_view *v)
{
	uint64_t len = v->ip_end - v->l3_off, hdr, payload, segs;

	if (d->gso_type == MQ_GSO_NONE || d->gso_size == 0 || !v->has_l4)
		return len;
	hdr = v->l4_off + v->l4_hlen - v->l3_off;
	if (hdr >= len)
		return len;
	payload = len - hdr;
	segs = (payload + d->gso_size - 1) / d->gso_size;
	return len + (segs - 1) * hdr;
}

static void
over(struct nat_engine *e, struct nat_bucket *b, uint16_t port, uint64_t bytes)
{
	b->drops++;
	b->drop_bytes += bytes;
	e->link[port].c.drops[NAT_R_RATE]++;
}

int
nat_rate_check(struct nat_engine *e, const struct mq_desc *d,
    const struct pkt_view *v, uint16_t from, uint16_t to)
{
	struct nat_bucket *u = NULL, *w = NULL;
	uint64_t bytes;

	if (from != MQ_PORT_UPLINK && from < MQ_PORT_MAX &&
	    e->bucket[from][NAT_RATE_UP].rate != 0)
		u = &e->bucket[from][NAT_RATE_UP];
	if (to != MQ_PORT_UPLINK && to < MQ_PORT_MAX &&
	    e->bucket[to][NAT_RATE_DOWN].rate != 0)
		w = &e->bucket[to][NAT_RATE_DOWN];
	if (u == NULL && w == NULL)
		return 1;
	bytes = ip_bytes(d, v);
	if (u != NULL)
		refill(u, e->now_ms);
	if (w != NULL)
		refill(w, e->now_ms);
	/* Both or neither: a frame one bucket dropped took nothing from
	 * the other. */
	if ((u != NULL && u->tokens < 0) || (w != NULL && w->tokens < 0)) {
		if (u != NULL && u->tokens < 0)
			over(e, u, from, bytes);
		if (w != NULL && w->tokens < 0)
			over(e, w, to, bytes);
		log_rlk(from, LOG_LVL_DEBUG, "port %u: drop (rate) %llu bytes "
		    "to port %u", from, (unsigned long long)bytes, to);
		nat_buf_put(e, d->buf);
		return 0;
	}
	if (u != NULL)
		u->tokens -= (int64_t)bytes * 1000;
	if (w != NULL)
		w->tokens -= (int64_t)bytes * 1000;
	return 1;
}

static void
set_dir(struct nat_engine *e, uint16_t port, int dir, uint64_t rate,
    uint64_t burst, uint16_t rule)
{
	struct nat_bucket *b = &e->bucket[port][dir];

	b->rule = rule;
	/* The same limit again (another LINK, a rule change elsewhere)
	 * keeps the bucket as it is: refilling it would grant a burst. */
	if (b->rate == rate && b->burst == (int64_t)burst * 1000)
		return;
	nat_bucket_set(b, rate, burst, e->now_ms);
}

void
nat_rate_assign(struct nat_engine *e, uint16_t port)
{
	const struct nat_link *l;
	const struct msg_limit *m = NULL;
	int was, now;
	uint32_t i;

	if (port == MQ_PORT_UPLINK || port >= MQ_PORT_MAX)
		return;
	l = &e->link[port];
	if (l->known && l->ip != 0)
		for (i = 0; i < e->nlim; i++)
			if (e->lim[i].client4 == 0 || e->lim[i].client4 == l->ip) {
				m = &e->lim[i];
				break;
			}
	was = e->bucket[port][0].rate != 0 || e->bucket[port][1].rate != 0;
	set_dir(e, port, NAT_RATE_UP, m ? m->up_rate : 0, m ? m->up_burst : 0,
	    m ? m->rule : 0);
	set_dir(e, port, NAT_RATE_DOWN, m ? m->down_rate : 0,
	    m ? m->down_burst : 0, m ? m->rule : 0);
	now = m != NULL;
	e->nlimited = e->nlimited + (uint32_t)now - (uint32_t)was;
}

/* The bounds policyd checks (policyd/limit.h), again: a rate and its
 * burst come together, each direction. */
#define RATE_MAX	(100000000000ull / 8)
#define BURST_MAX	(64ull * 1024 * 1024)
static int
dir_ok(uint64_t rate, uint64_t burst)
{
	if (rate == 0)
		return burst == 0;
	return rate <= RATE_MAX && burst >= 1 && burst <= BURST_MAX;
}

void
nat_limits(struct nat_engine *e, const struct msg_limits *m, uint64_t now)
{
	uint32_t i, n = m->count < LIMITS_MAX ? m->count : LIMITS_MAX;
	uint16_t p;

	e->now_ms = now;
	e->nlim = 0;
	for (i = 0; i < n; i++) {
		const struct msg_limit *l = &m->l[i];

		if (!dir_ok(l->up_rate, l->up_burst) ||
		    !dir_ok(l->down_rate, l->down_burst) ||
		    (l->up_rate == 0 && l->down_rate == 0)) {
			log_warnx("rate limit of rule %u: bad entry ignored",
			    l->rule);
			continue;
		}
		e->lim[e->nlim++] = *l;
	}
	for (p = 1; p < MQ_PORT_MAX; p++)
		nat_rate_assign(e, p);
	log_info("%u rate limits in force, %u clients limited (rules "
	    "generation %u)", e->nlim, e->nlimited, m->generation);
}
