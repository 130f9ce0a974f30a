/*
 * nat_dns.c: natd's small stub resolver, for policyd's dsthost rules.
 *
 * policyd cannot open sockets, so it asks natd (MSG_DNS_QUERY); natd sends
 * one UDP query from /qubes-ip out of the uplink to the primary resolver,
 * to the secondary as well if the primary is silent for 500 ms, and
 * answers MSG_DNS_ANSWER with the addresses, or status -1 after 1.5 s.
 * An answer must come from a server we asked, to the source port we used,
 * with our random id and our question: anything else is not it.
 *
 * The answer parser reads a hostile peer's bytes: every read is bounded
 * by the datagram's length, compression pointers are only skipped (never
 * followed), and the number of records walked is bounded by the header's
 * counts and by the bytes present.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

#define DNS_HDR		12
#define DNS_T_A		1
#define DNS_T_AAAA	28
#define DNS_C_IN	1

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

size_t
dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name,
    uint16_t qtype)
{
	size_t n = DNS_HDR, nlen = strnlen(name, DNS_NAME_MAX);
	const char *s = name, *dot;

	if (nlen == 0 || nlen >= DNS_NAME_MAX || cap < DNS_HDR + nlen + 6)
		return 0;
	memset(buf, 0, DNS_HDR);
	buf[0] = id >> 8;
	buf[1] = id & 0xff;
	buf[2] = 0x01;		/* RD */
	buf[5] = 1;		/* QDCOUNT */
	while (*s != '\0') {
		size_t l;

		dot = strchr(s, '.');
		l = dot ? (size_t)(dot - s) : strlen(s);
		if (l == 0 || l > 63)
			return 0;
		buf[n++] = (uint8_t)l;
		memcpy(buf + n, s, l);
		n += l;
		s += l;
		if (*s == '.')
			s++;
	}
	if (n - DNS_HDR + 1 > 255)
		return 0;
	buf[n++] = 0;
	buf[n++] = qtype >> 8;
	buf[n++] = qtype & 0xff;
	buf[n++] = 0;
	buf[n++] = DNS_C_IN;
	return n;
}

/* A resource record's fixed part, after its owner name. */
struct rr_fixed {
	uint16_t	type, class, rdlen;
	uint32_t	ttl;
};

/*
 * Reads the fixed part at *off and moves *off to the RDATA; -1 unless
 * both it and the RDATA it announces are inside the datagram.
 */
static int
read_rr_fixed(const uint8_t *p, size_t len, size_t *off, struct rr_fixed *r)
{
	if (*off + 10 > len)
		return -1;
	r->type = get16(p + *off);
	r->class = get16(p + *off + 2);
	r->ttl = get32(p + *off + 4);
	r->rdlen = get16(p + *off + 8);
	*off += 10;
	return *off + r->rdlen > len ? -1 : 0;
}

/* Skip a (possibly compressed) name at *off. 0 or -1. */
static int
skip_name(const uint8_t *p, size_t len, size_t *off)
{
	size_t o = *off;
	int labels = 0;

	while (o < len && labels++ < 128) {
		uint8_t l = p[o];

		if (l == 0) {
			*off = o + 1;
			return 0;
		}
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -1;
			*off = o + 2;
			return 0;
		}
		if ((l & 0xc0) != 0)
			return -1;
		o += 1 + (size_t)l;
	}
	return -1;
}

/* Does the uncompressed name at *off equal name (case-insensitively)? */
static int
match_name(const uint8_t *p, size_t len, size_t *off, const char *name)
{
	size_t o = *off;
	const char *s = name;

	for (;;) {
		uint8_t l;
		size_t i;

		if (o >= len)
			return 0;
		l = p[o++];
		if (l == 0)
			break;
		if (l > 63 || o + l > len)
			return 0;
		for (i = 0; i < l; i++) {
			char a = (char)p[o + i], b = s[i];

			if (b == '\0')
				return 0;
			if (a >= 'A' && a <= 'Z')
				a += 'a' - 'A';
			if (b >= 'A' && b <= 'Z')
				b += 'a' - 'A';
			if (a != b)
				return 0;
		}
		o += l;
		s += l;
		if (*s == '.')
			s++;
		else if (*s != '\0')
			return 0;
	}
	if (*s != '\0')
		return 0;
	*off = o;
	return 1;
}

int
dns_parse_answer(const uint8_t *p, size_t len, uint16_t id, const char *name,
    uint16_t qtype, struct msg_dns_answer *a)
{
	size_t off = DNS_HDR;
	uint16_t flags, qd, an, i;
	uint32_t ttl = 0xffffffffu;
	uint8_t rcode;

	if (len < DNS_HDR || get16(p) != id)
		return -1;
	flags = get16(p + 2);
	qd = get16(p + 4);
	an = get16(p + 6);
	/* A response (QR), standard query opcode, our one question. */
	if (!(flags & 0x8000) || (flags & 0x7800) != 0 || qd != 1)
		return -1;
	if (!match_name(p, len, &off, name) || off + 4 > len ||
	    get16(p + off) != qtype || get16(p + off + 2) != DNS_C_IN)
		return -1;
	off += 4;
	memset(a->addr, 0, sizeof(a->addr));
	a->qtype = qtype;
	a->naddr = 0;
	a->ttl = 0;
	rcode = flags & 0x0f;
	if (rcode != 0) {
		/* NXDOMAIN is an answer (no address); other errors are not. */
		a->status = rcode == 3 ? 0 : -1;
		return 0;
	}
	a->status = 0;
	for (i = 0; i < an; i++) {
		struct rr_fixed r;

		if (skip_name(p, len, &off) == -1 ||
		    read_rr_fixed(p, len, &off, &r) == -1)
			return -1;
		/* Addresses of any owner name: CNAME chains end in them. */
		if (r.class == DNS_C_IN && r.type == qtype &&
		    r.rdlen == (qtype == DNS_T_A ? 4 : 16) &&
		    a->naddr < DNS_ANSWER_MAX) {
			memcpy(a->addr[a->naddr++], p + off, r.rdlen);
			if (r.ttl < ttl)
				ttl = r.ttl;
		}
		off += r.rdlen;
	}
	/* RFC 2181: a TTL with the top bit set is zero. */
	a->ttl = a->naddr == 0 || ttl > 0x7fffffffu ? 0 : ttl;
	return 0;
}

/* ---- answers clients asked for, for the wildcard name rules ---- */

#define DNS_T_CNAME	5
#define DNS_PTR_MAX	16

static int
label_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
dns_read_name(const uint8_t *p, size_t len, size_t *off,
    char out[DNS_NAME_MAX])
{
	size_t o = *off, n = 0, end = 0, lim = len;
	int jumps = 0;

	for (;;) {
		uint8_t l;
		size_t i;

		if (o >= len)
			return -1;
		l = p[o];
		if (l == 0) {
			if (end == 0)
				end = o + 1;
			break;
		}
		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (o + 2 > len || ++jumps > DNS_PTR_MAX)
				return -1;
			to = (size_t)(l & 0x3f) << 8 | p[o + 1];
			/* Backwards from the pointer and below every earlier
			 * target: the targets only go down, so no chain of
			 * pointers loops (the count bounds it twice). */
			if (to >= o || to >= lim || to < DNS_HDR)
				return -1;
			lim = to;
			if (end == 0)
				end = o + 2;
			o = to;
			continue;
		}
		if ((l & 0xc0) != 0 || o + 1 + l > len)
			return -1;
		/* 253 characters at most, the dots included */
		if (n + (n ? 1 : 0) + l > DNS_NAME_MAX - 3)
			return -1;
		if (n)
			out[n++] = '.';
		for (i = 0; i < l; i++) {
			uint8_t c = p[o + 1 + i];

			if (!label_char(c))
				return -1;
			out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
		}
		o += 1 + (size_t)l;
	}
	out[n] = '\0';
	*off = end;
	return 0;
}

int
dns_parse_query(const uint8_t *p, size_t len, uint16_t *id, uint16_t *qtype,
    char name[DNS_NAME_MAX])
{
	size_t off = DNS_HDR;
	uint16_t flags;

	if (len < DNS_HDR)
		return -1;
	flags = get16(p + 2);
	/* A query, standard opcode, one question. */
	if ((flags & 0x8000) || (flags & 0x7800) != 0 || get16(p + 4) != 1)
		return -1;
	if (dns_read_name(p, len, &off, name) == -1 || name[0] == '\0' ||
	    off + 4 > len || get16(p + off + 2) != DNS_C_IN)
		return -1;
	*id = get16(p);
	*qtype = get16(p + off);
	return 0;
}

static int
chain_has(const struct dns_learn *l, const char *name)
{
	int i;

	for (i = 0; i < l->nnames; i++)
		if (strcmp(l->names[i], name) == 0)
			return 1;
	return 0;
}

int
dns_parse_learn(const uint8_t *p, size_t len, struct dns_learn *l)
{
	size_t off = DNS_HDR;
	uint16_t flags, an, i;
	uint32_t ttl = 0x7fffffffu;
	const char *cur;

	l->nnames = l->naddr = 0;
	l->nrr = 0;
	l->ttl = 0;
	if (len < DNS_HDR)
		return -1;
	flags = get16(p + 2);
	an = get16(p + 6);
	/* A response, standard opcode, not truncated (its records may be
	 * cut: the client asks again over TCP, which teaches nothing), no
	 * error, one question. */
	if (!(flags & 0x8000) || (flags & 0x7800) != 0 || (flags & 0x0200) ||
	    (flags & 0x000f) != 0 || get16(p + 4) != 1 || an > DNS_RR_MAX)
		return -1;
	l->id = get16(p);
	if (dns_read_name(p, len, &off, l->names[0]) == -1 ||
	    l->names[0][0] == '\0' || off + 4 > len ||
	    get16(p + off + 2) != DNS_C_IN)
		return -1;
	l->qtype = get16(p + off);
	l->nnames = 1;
	off += 4;
	/* Every answer record once, each whole inside the datagram. */
	for (i = 0; i < an; i++) {
		struct rr_fixed r;

		if (dns_read_name(p, len, &off, l->rr[i].owner) == -1 ||
		    read_rr_fixed(p, len, &off, &r) == -1)
			return -1;
		/* RFC 2181: a TTL with the top bit set is zero. */
		l->rr[i].ttl = r.ttl > 0x7fffffffu ? 0 : r.ttl;
		l->rr[i].type = r.class == DNS_C_IN ? r.type : 0;
		l->rr[i].rdoff = (uint16_t)off;
		l->rr[i].rdlen = r.rdlen;
		off += r.rdlen;
	}
	l->nrr = an;
	/* Follow the CNAME chain from the question: each step one record
	 * whose owner is the name reached so far. */
	cur = l->names[0];
	for (;;) {
		char target[DNS_NAME_MAX];
		size_t o;

		for (i = 0; i < l->nrr; i++)
			if (l->rr[i].type == DNS_T_CNAME &&
			    strcmp(l->rr[i].owner, cur) == 0)
				break;
		if (i == l->nrr)
			break;
		o = l->rr[i].rdoff;
		if (dns_read_name(p, len, &o, target) == -1 ||
		    o != (size_t)l->rr[i].rdoff + l->rr[i].rdlen ||
		    target[0] == '\0')
			return -1;
		if (chain_has(l, target))
			return -1;	/* a loop: no address at its end */
		if (l->nnames == DNS_CHAIN_MAX)
			return -1;
		memcpy(l->names[l->nnames], target, sizeof target);
		cur = l->names[l->nnames++];
		if (l->rr[i].ttl < ttl)
			ttl = l->rr[i].ttl;
	}
	/* The addresses of the chain's end, of the type asked for. */
	for (i = 0; i < l->nrr; i++) {
		size_t alen = l->qtype == DNS_T_A ? 4 : 16;

		if ((l->qtype != DNS_T_A && l->qtype != DNS_T_AAAA) ||
		    l->rr[i].type != l->qtype || l->rr[i].rdlen != alen ||
		    strcmp(l->rr[i].owner, cur) != 0 ||
		    l->naddr == DNS_ANSWER_MAX)
			continue;
		memset(l->addr[l->naddr], 0, 16);
		memcpy(l->addr[l->naddr++], p + l->rr[i].rdoff, alen);
		if (l->rr[i].ttl < ttl)
			ttl = l->rr[i].ttl;
	}
	l->ttl = l->naddr ? ttl : 0;
	return 0;
}

/* ---- the resolver's traffic ---- */

static void
dns_answer_fail(struct nat_engine *e, uint32_t qid, uint16_t qtype)
{
	struct msg_dns_answer a;

	memset(&a, 0, sizeof(a));
	a.qid = qid;
	a.status = -1;
	a.qtype = qtype;
	e->io.dns_answer(e->io.arg, &a);
}

int
nat_dns_port_busy(const struct nat_engine *e, uint32_t server, uint16_t port)
{
	int i;

	for (i = 0; i < NAT_DNSQ_MAX; i++) {
		const struct nat_dnsq *q = &e->dnsq[i];

		if (q->used && q->sport == port &&
		    (q->server[0] == server || q->server[1] == server))
			return 1;
	}
	return 0;
}

static int
dns_send(struct nat_engine *e, struct nat_dnsq *q, uint32_t server)
{
	struct mq_desc o;
	struct pkt_view v;
	struct eth_hdr *eh;
	struct ipv4_hdr *ip;
	struct udp_hdr *uh;
	uint8_t *buf;
	size_t cap, n;

	if (!e->gw_known || !e->link[MQ_PORT_UPLINK].up ||
	    nat_buf_get(e, &o, &buf, &cap) == -1)
		return -1;
	if (cap < 14 + 20 + 8 + 512) {
		nat_buf_put(e, o.buf);
		return -1;
	}
	n = dns_build_query(buf + 42, cap - 42, q->dnsid, q->name, q->qtype);
	if (n == 0) {
		nat_buf_put(e, o.buf);
		return -1;
	}
	eh = (struct eth_hdr *)buf;
	memcpy(eh->dst, e->gw_mac, 6);
	memcpy(eh->src, e->link[MQ_PORT_UPLINK].mac, 6);
	eh->type_be = htons(ETHERTYPE_IPV4);
	ip = (struct ipv4_hdr *)(buf + 14);
	memset(ip, 0, 20);
	ip->ver_ihl = 0x45;
	ip->tot_len_be = htons((uint16_t)(20 + 8 + n));
	ip->id_be = htons(q->dnsid);
	ip->frag_be = htons(IPV4_DF);
	ip->ttl = 64;
	ip->proto = IPPROTO_UDP_;
	ip->saddr_be = e->nc.ip;
	ip->daddr_be = server;
	uh = (struct udp_hdr *)(buf + 34);
	uh->sport_be = htons(q->sport);
	uh->dport_be = htons(53);
	uh->len_be = htons((uint16_t)(8 + n));
	uh->csum = 0;
	if (pkt_parse(&v, buf, 42 + n) != PKT_OK) {
		nat_buf_put(e, o.buf);
		return -1;
	}
	pkt_ip4_csum_set(&v);
	pkt_l4_csum_set(&v);
	o.len = (uint32_t)(42 + n);
	nat_send(e, &o, MQ_PORT_UPLINK);
	return 0;
}

void
nat_dns_query(struct nat_engine *e, const struct msg_dns_query *m, uint64_t now)
{
	struct nat_dnsq *q = NULL;
	int i, k;

	e->now_ms = now;
	for (i = 0; i < NAT_DNSQ_MAX; i++)
		if (!e->dnsq[i].used) {
			q = &e->dnsq[i];
			break;
		}
	if (q == NULL || !e->have_nc || e->nc.ip == 0 ||
	    (e->nc.dns[0] == 0 && e->nc.dns[1] == 0) ||
	    (m->qtype != DNS_T_A && m->qtype != DNS_T_AAAA) ||
	    strnlen(m->name, DNS_NAME_MAX) == DNS_NAME_MAX ||
	    dns_build_query((uint8_t[DNS_NAME_MAX + 32]){0}, DNS_NAME_MAX + 32,
	    0, m->name, m->qtype) == 0) {
		dns_answer_fail(e, m->qid, m->qtype);
		return;
	}
	memset(q, 0, sizeof(*q));
	q->used = 1;
	q->qid = m->qid;
	q->qtype = m->qtype;
	q->start_ms = now;
	memcpy(q->name, m->name, sizeof(q->name));
	q->server[0] = e->nc.dns[0] ? e->nc.dns[0] : e->nc.dns[1];
	q->server[1] = e->nc.dns[1] != q->server[0] ? e->nc.dns[1] : 0;
	q->dnsid = (uint16_t)nat_rand(e);
	/* A source port no NAT flow to these servers uses. */
	for (k = 0; k < 64; k++) {
		uint16_t p;

		p = (uint16_t)(49152 + nat_rand(e) % 16384);
		if (ft_find_in(&e->ft, q->server[0], e->nc.ip, IPPROTO_UDP_, 53, p) == FT_NIL &&
		    (q->server[1] == 0 || ft_find_in(&e->ft, q->server[1],
		    e->nc.ip, IPPROTO_UDP_, 53, p) == FT_NIL)) {
			q->sport = p;
			break;
		}
	}
	if (q->sport == 0) {
		q->used = 0;
		dns_answer_fail(e, m->qid, m->qtype);
		return;
	}
	if (dns_send(e, q, q->server[0]) == 0)
		q->tries = 1;
}

int
nat_dns_input(struct nat_engine *e, const struct mq_desc *d,
    const struct pkt_view *v)
{
	const struct ipv4_hdr *ip = pkt_ip4(v);
	const uint8_t *p;
	struct msg_dns_answer a;
	size_t len;
	int i;

	if (v->is_frag)
		return 0;
	for (i = 0; i < NAT_DNSQ_MAX; i++) {
		struct nat_dnsq *q = &e->dnsq[i];

		if (!q->used || q->sport != v->dport ||
		    (ip->saddr_be != q->server[0] && ip->saddr_be != q->server[1]))
			continue;
		p = v->frame + v->l4_off + v->l4_hlen;
		len = pkt_l4_payload_len(v);
		memset(&a, 0, sizeof(a));
		if (dns_parse_answer(p, len, q->dnsid, q->name, q->qtype, &a) == -1) {
			/* Not the answer (spoofed or garbled): keep waiting. */
			nat_drop(e, d, v, NAT_R_MALFORMED);
			return 1;
		}
		a.qid = q->qid;
		q->used = 0;
		e->io.dns_answer(e->io.arg, &a);
		nat_consume(e, d);
		return 1;
	}
	return 0;
}

void
nat_dns_tick(struct nat_engine *e)
{
	int i;

	for (i = 0; i < NAT_DNSQ_MAX; i++) {
		struct nat_dnsq *q = &e->dnsq[i];
		uint64_t age;

		if (!q->used)
			continue;
		age = e->now_ms - q->start_ms;
		if (age >= NAT_DNS_TIMEOUT_MS) {
			q->used = 0;
			dns_answer_fail(e, q->qid, q->qtype);
			continue;
		}
		/* The gateway was unknown when the query came: send now. */
		if (q->tries == 0 && dns_send(e, q, q->server[0]) == 0)
			q->tries = 1;
		if (q->tries == 1 && age >= NAT_DNS_SECONDARY_MS &&
		    q->server[1] != 0 && dns_send(e, q, q->server[1]) == 0)
			q->tries = 2;
	}
}
