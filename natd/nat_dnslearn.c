/*
 * nat_dnslearn.c: what a client learns from the DNS answers moat relays,
 * for policyd's wildcard "dsthost" rules (docs/rules.md, *Wildcard names*).
 *
 * A client's UDP queries to the virtual DNS addresses go out on a
 * redirected flow (FT_F_REDIRECT). natd notes each query's id, question,
 * source port and resolver in the client's own few slots; an answer that
 * comes back on a flow of that client from that port and resolver, with
 * that id and that question, within NAT_DNSW_MS, is parsed
 * (nat_dns.c: CNAME chain from the question, addresses of its end, least
 * TTL) and its learning queued on the FLOWREQ ring before the answer is
 * handed to the client. policyd reads that ring in order, so the learning
 * is in force before the client's first packet to the address is judged.
 * If the ring has no room for the whole learning, the answer is dropped
 * (policyd_busy): the client asks again, and no flow waits on a learning
 * that never came. Each client may queue NAT_DNSLEARN_BURST learnings at
 * once and NAT_DNSLEARN_RATE a second: past that, its answers are dropped
 * the same way (counted as "limited"), so that one client's lookups
 * cannot keep the ring that carries every client's new flows full.
 *
 * What teaches nothing (the client's flows then fall to the other rules):
 * answers to queries natd did not see from that port to that resolver, a client's own
 * packets, answers over TCP, truncated, fragmented or over
 * NAT_DNSLEARN_BYTES, and anything the parser refuses. The answer itself
 * is forwarded as before in every case but the full ring.
 */
#include <string.h>

#include "log.h"
#include "nat_priv.h"

#define DNS_T_A		1
#define DNS_T_AAAA	28

/* A keyed hash of the question: the slot keeps 8 bytes, not the name. An
 * answer whose question only collides with it could have been given for
 * the question itself by the same resolver, so it opens nothing more. */
static uint64_t
qhash(const struct nat_engine *e, const char *name, uint16_t qtype)
{
	uint64_t h = e->frag_key ^ 0x243f6a8885a308d3ull ^ qtype;
	const unsigned char *s = (const unsigned char *)name;

	for (; *s != '\0'; s++)
		h = (h ^ *s) * 0x100000001b3ull;
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

/* The port's share: NAT_DNSW_CLIENT slots nobody else touches. */
static struct nat_dnsw *
share(struct nat_engine *e, uint16_t port)
{
	return &e->dnsw[(size_t)port * NAT_DNSW_CLIENT];
}

/* Private copy of the UDP payload (the frame is shared memory), or 0. */
static size_t
payload(struct nat_engine *e, const struct pkt_view *v)
{
	size_t n = pkt_l4_payload_len(v);

	if (n == 0 || n > NAT_DNSLEARN_BYTES)
		return 0;
	memcpy(e->dnsbuf, v->frame + v->l4_off + v->l4_hlen, n);
	return n;
}

/* A client's packet on its redirected DNS flow idx, on its way out. */
void
nat_dnslearn_out(struct nat_engine *e, const struct pkt_view *v, uint32_t idx)
{
	const struct ft_entry *f = &e->ft.ent[idx];
	struct nat_dnsw *w, *slot = NULL;
	char name[DNS_NAME_MAX];
	uint16_t id, qtype;
	uint64_t h;
	size_t n;
	int i;

	if (e->dnsw == NULL || v->is_frag || f->cport == 0 ||
	    f->cport >= MQ_PORT_MAX || (n = payload(e, v)) == 0 ||
	    dns_parse_query(e->dnsbuf, n, &id, &qtype, name) == -1 ||
	    (qtype != DNS_T_A && qtype != DNS_T_AAAA))
		return;
	h = qhash(e, name, qtype);
	w = share(e, f->cport);
	/* The same query again (a retry) keeps its slot; else a free or
	 * stale slot; else the client's own oldest goes. */
	for (i = 0; i < NAT_DNSW_CLIENT; i++) {
		if (w[i].t_ms != 0 && w[i].rdst == f->rdst &&
		    w[i].csport == f->csport && w[i].id == id &&
		    w[i].qhash == h) {
			slot = &w[i];
			break;
		}
		if (w[i].t_ms == 0 || e->now_ms - w[i].t_ms > NAT_DNSW_MS) {
			if (slot == NULL || slot->t_ms != 0)
				slot = &w[i];
		} else if (slot == NULL || (slot->t_ms != 0 &&
		    w[i].t_ms < slot->t_ms))
			slot = &w[i];
	}
	slot->t_ms = e->now_ms ? e->now_ms : 1;
	slot->qhash = h;
	slot->rdst = f->rdst;
	slot->id = id;
	slot->csport = f->csport;
	e->dnslearn.queries++;
}

/* Records of one learning; NULL io.flowreq_room means room enough. */
static int
send_learning(struct nat_engine *e, uint16_t port, const struct dns_learn *l)
{
	struct flow_learn r;
	unsigned need = 1 + l->naddr, room;
	int i;

	for (i = 0; i < l->nnames; i++) {
		size_t len = strlen(l->names[i]);

		need += (unsigned)((len + LEARN_CHUNK - 1) / LEARN_CHUNK);
	}
	room = e->io.flowreq_room ? e->io.flowreq_room(e->io.arg) : need;
	if (room < need)
		return -1;
	memset(&r, 0, sizeof r);
	r.flags = FREQ_LEARN;
	r.port = port;
	r.kind = LEARN_BEGIN;
	r.ttl = l->ttl;
	if (e->io.flowreq(e->io.arg, (const struct flow_req *)&r) == -1)
		return -1;
	for (i = 0; i < l->nnames; i++) {
		const char *s = l->names[i];
		size_t left = strlen(s);

		while (left > 0) {
			size_t c = left < LEARN_CHUNK ? left : LEARN_CHUNK;

			memset(&r, 0, sizeof r);
			r.flags = FREQ_LEARN;
			r.port = port;
			r.kind = c == left ? LEARN_NAME_END : LEARN_NAME;
			r.len = (uint8_t)c;
			memcpy(r.data, s, c);
			if (e->io.flowreq(e->io.arg, (const struct flow_req *)&r) == -1)
				return -1;
			s += c;
			left -= c;
		}
	}
	for (i = 0; i < l->naddr; i++) {
		memset(&r, 0, sizeof r);
		r.flags = FREQ_LEARN;
		r.port = port;
		r.kind = LEARN_ADDR;
		r.family = l->qtype == DNS_T_A ? 4 : 6;
		memcpy(r.data, l->addr[i], 16);
		if (e->io.flowreq(e->io.arg, (const struct flow_req *)&r) == -1)
			return -1;
	}
	return 0;
}

/* A token of the port's bucket, if it has one left. */
static int
rate_ok(struct nat_engine *e, uint16_t port)
{
	struct nat_dnsrate *b = &e->dnsrate[port];
	uint64_t add;

	if (b->t_ms == 0) {
		b->t_ms = e->now_ms;
		b->tokens = NAT_DNSLEARN_BURST;
	}
	add = (e->now_ms - b->t_ms) * NAT_DNSLEARN_RATE / 1000;
	if (add > 0) {
		/* the time of the whole tokens only: the rest still counts */
		b->t_ms += add * 1000 / NAT_DNSLEARN_RATE;
		add += b->tokens;
		b->tokens = add > NAT_DNSLEARN_BURST ? NAT_DNSLEARN_BURST :
		    (uint32_t)add;
	}
	if (b->tokens == 0)
		return 0;
	b->tokens--;
	return 1;
}

/*
 * An answer on the redirected DNS flow idx, on its way to the client.
 * 0: forward it; -1: it was dropped (no room to queue its learning).
 */
int
nat_dnslearn_in(struct nat_engine *e, struct mq_desc *d, struct pkt_view *v,
    uint32_t idx)
{
	const struct ft_entry *f = &e->ft.ent[idx];
	struct dns_learn *l = e->dnslearn_scratch;
	struct nat_dnsw *w, *slot = NULL;
	size_t n;
	int i;

	if (e->dnsw == NULL || l == NULL || v->is_frag || f->cport == 0 ||
	    f->cport >= MQ_PORT_MAX)
		return 0;
	w = share(e, f->cport);
	for (i = 0; i < NAT_DNSW_CLIENT; i++)
		if (w[i].t_ms != 0 && w[i].rdst == f->rdst &&
		    w[i].csport == f->csport &&
		    e->now_ms - w[i].t_ms <= NAT_DNSW_MS)
			break;
	if (i == NAT_DNSW_CLIENT)
		return 0;		/* nothing asked on this flow */
	if ((n = payload(e, v)) == 0 || dns_parse_learn(e->dnsbuf, n, l) == -1) {
		e->dnslearn.refused++;
		return 0;
	}
	for (i = 0; i < NAT_DNSW_CLIENT && slot == NULL; i++)
		if (w[i].t_ms != 0 && w[i].rdst == f->rdst &&
		    w[i].id == l->id && w[i].csport == f->csport &&
		    w[i].qhash == qhash(e, l->names[0], l->qtype) &&
		    e->now_ms - w[i].t_ms <= NAT_DNSW_MS)
			slot = &w[i];
	if (slot == NULL) {
		e->dnslearn.unasked++;
		return 0;
	}
	if (l->naddr > 0 && !rate_ok(e, f->cport)) {
		e->dnslearn.limited++;
		nat_drop(e, d, v, NAT_R_POLICYD_BUSY);
		return -1;
	}
	if (l->naddr > 0 && send_learning(e, f->cport, l) == -1) {
		/* Nothing of it was queued (send_learning checks the room
		 * first): the query stays noted for the client's retry. */
		e->dnslearn.busy++;
		nat_drop(e, d, v, NAT_R_POLICYD_BUSY);
		return -1;
	}
	/* One answer per query: a second one (forged or repeated) teaches
	 * nothing more. An answer dropped above did not count. */
	slot->t_ms = 0;
	if (l->naddr > 0)
		e->dnslearn.learned++;
	return 0;
}

/* The port's client changed or left: what it asked goes. */
void
nat_dnslearn_forget(struct nat_engine *e, uint16_t port)
{
	if (e->dnsw != NULL && port < MQ_PORT_MAX)
		memset(share(e, port), 0, NAT_DNSW_CLIENT * sizeof(struct nat_dnsw));
	if (port < MQ_PORT_MAX)
		memset(&e->dnsrate[port], 0, sizeof e->dnsrate[port]);
}
