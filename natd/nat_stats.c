/*
 * nat_stats.c: what natd shows: the moat.Stats JSON and the ring of the
 * last dropped or rejected frames that moat.DumpRejects writes as pcap.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nat_priv.h"

void
nat_pcap_add(struct nat_engine *e, const uint8_t *frame, size_t len)
{
	struct nat_pcap_rec *r = &e->pcap[e->pcap_head];

	r->ms = e->now_ms;
	r->origlen = (uint32_t)len;
	r->caplen = (uint32_t)(len < NAT_PCAP_SNAP ? len : NAT_PCAP_SNAP);
	memcpy(r->data, frame, r->caplen);
	e->pcap_head = (e->pcap_head + 1) % NAT_PCAP_SLOTS;
	if (e->pcap_count < NAT_PCAP_SLOTS)
		e->pcap_count++;
}

size_t
nat_pcap_bytes(const struct nat_engine *e)
{
	size_t n = 24;
	uint32_t i;

	for (i = 0; i < e->pcap_count; i++) {
		uint32_t k = (e->pcap_head + NAT_PCAP_SLOTS - e->pcap_count + i) %
		    NAT_PCAP_SLOTS;

		n += 16 + e->pcap[k].caplen;
	}
	return n;
}

static void
put32(uint8_t *p, uint32_t v)
{
	/* pcap files are written in the writer's byte order; the magic
	 * tells readers which. */
	memcpy(p, &v, 4);
}

size_t
nat_pcap_dump(const struct nat_engine *e, uint8_t *buf, size_t cap,
    int64_t wall_minus_mono_ms)
{
	size_t n = 24;
	uint32_t i;
	uint16_t v;

	if (cap < nat_pcap_bytes(e))
		return 0;
	put32(buf, 0xa1b2c3d4u);
	v = 2;
	memcpy(buf + 4, &v, 2);
	v = 4;
	memcpy(buf + 6, &v, 2);
	put32(buf + 8, 0);		/* thiszone */
	put32(buf + 12, 0);		/* sigfigs */
	put32(buf + 16, 65535);		/* snaplen */
	put32(buf + 20, 1);		/* LINKTYPE_ETHERNET */
	for (i = 0; i < e->pcap_count; i++) {
		uint32_t k = (e->pcap_head + NAT_PCAP_SLOTS - e->pcap_count + i) %
		    NAT_PCAP_SLOTS;
		const struct nat_pcap_rec *r = &e->pcap[k];
		int64_t ms = (int64_t)r->ms + wall_minus_mono_ms;

		if (ms < 0)
			ms = 0;
		put32(buf + n, (uint32_t)(ms / 1000));
		put32(buf + n + 4, (uint32_t)(ms % 1000) * 1000);
		put32(buf + n + 8, r->caplen);
		put32(buf + n + 12, r->origlen);
		memcpy(buf + n + 16, r->data, r->caplen);
		n += 16 + r->caplen;
	}
	return n;
}

struct jbuf {
	char	*p;
	size_t	 cap, len;
	int	 overflow;
};

static void __attribute__((format(printf, 2, 3)))
jprintf(struct jbuf *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->p + j->len, j->cap - j->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= j->cap - j->len) {
		j->overflow = 1;
		return;
	}
	j->len += (size_t)n;
}

static void
jstr(struct jbuf *j, const char *s)
{
	jprintf(j, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jprintf(j, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			jprintf(j, "\\u%04x", c);
		else
			jprintf(j, "%c", c);
	}
	jprintf(j, "\"");
}

static void
jcounters(struct jbuf *j, const struct nat_counters *c)
{
	jprintf(j, "\"rx_packets\": %llu, \"rx_bytes\": %llu, "
	    "\"tx_packets\": %llu, \"tx_bytes\": %llu",
	    (unsigned long long)c->rx_packets, (unsigned long long)c->rx_bytes,
	    (unsigned long long)c->tx_packets, (unsigned long long)c->tx_bytes);
}

static void
jdrops(struct jbuf *j, const struct nat_counters *c)
{
	int r;

	/* Every reason, zero or not, so readers can index without checks. */
	jprintf(j, "\"drops\": {");
	for (r = 0; r < NAT_R_MAX; r++)
		jprintf(j, "%s\"%s\": %llu", r ? ", " : "", nat_reason_name[r],
		    (unsigned long long)c->drops[r]);
	jprintf(j, "}");
}

/* A client's limits (bits/s, 0 none) and what each dropped. */
static void
jrate(struct jbuf *j, const struct nat_bucket *b)
{
	const struct nat_bucket *u = &b[NAT_RATE_UP], *d = &b[NAT_RATE_DOWN];

	jprintf(j, ", \"rate\": {\"rule\": %d, \"up_bits_per_s\": %llu, "
	    "\"down_bits_per_s\": %llu, \"up_drops\": %llu, "
	    "\"up_drop_bytes\": %llu, \"down_drops\": %llu, "
	    "\"down_drop_bytes\": %llu}",
	    u->rate || d->rate ? (int)u->rule : -1,
	    (unsigned long long)u->rate * 8, (unsigned long long)d->rate * 8,
	    (unsigned long long)u->drops, (unsigned long long)u->drop_bytes,
	    (unsigned long long)d->drops, (unsigned long long)d->drop_bytes);
}

size_t
nat_stats_json(struct nat_engine *e, char *buf, size_t cap)
{
	struct jbuf j = { buf, cap, 0, 0 };
	const struct nat_link *u = &e->link[MQ_PORT_UPLINK];
	char m[18], a[16];
	uint32_t p;
	int first = 1;

	jprintf(&j, "{\"flows\": %u, \"flows_max\": %u, \"uplink\": {\"name\": ",
	    e->started ? e->ft.nused : 0, e->cfg.nflows);
	jstr(&j, u->name);
	jprintf(&j, ", ");
	jcounters(&j, &u->c);
	jprintf(&j, ", \"gateway_mac\": ");
	jstr(&j, e->gw_known ? mac_str(e->gw_mac, m) : "");
	jprintf(&j, ", ");
	jdrops(&j, &u->c);
	jprintf(&j, "}, \"clients\": [");
	for (p = 1; p < MQ_PORT_MAX; p++) {
		const struct nat_link *l = &e->link[p];

		if (!l->known)
			continue;
		jprintf(&j, "%s{\"port\": %u, \"name\": ", first ? "" : ", ", p);
		first = 0;
		jstr(&j, l->name);
		jprintf(&j, ", \"ip\": ");
		jstr(&j, ip4_str(l->ip, a));
		jprintf(&j, ", ");
		jcounters(&j, &l->c);
		jprintf(&j, ", \"flows\": %u, \"pending\": %u, ",
		    e->started ? e->ft.client[p].nflows : 0, l->npending);
		jdrops(&j, &l->c);
		jrate(&j, e->bucket[p]);
		jprintf(&j, "}");
	}
	/* names clients learned from relayed answers (nat_dnslearn.c) */
	jprintf(&j, "], \"dns_learn\": {\"queries\": %llu, \"learned\": %llu, "
	    "\"unasked\": %llu, \"refused\": %llu, \"busy\": %llu, \"limited\": %llu",
	    (unsigned long long)e->dnslearn.queries,
	    (unsigned long long)e->dnslearn.learned,
	    (unsigned long long)e->dnslearn.unasked,
	    (unsigned long long)e->dnslearn.refused,
	    (unsigned long long)e->dnslearn.busy,
	    (unsigned long long)e->dnslearn.limited);
	jprintf(&j, "}}\n");
	return j.overflow ? 0 : j.len;
}

/* ---- moat.Flows ---- */

static const char *
flow_state(const struct ft_entry *f)
{
	static const char *const tcp[FT_TCP_MAX] = {
		[FT_TCP_NONE] = "active", [FT_TCP_SYN_SENT] = "syn_sent",
		[FT_TCP_SYN_RECV] = "syn_recv",
		[FT_TCP_ESTABLISHED] = "established",
		[FT_TCP_CLOSING] = "closing", [FT_TCP_CLOSED] = "closed",
	};

	if (f->state == FT_PENDING)
		return "pending";
	if (f->state == FT_BLOCKED)
		return f->flags & FT_F_REJECT ? "rejected" : "dropped";
	return f->tcp < FT_TCP_MAX ? tcp[f->tcp] : "active";
}

static const char *
flow_proto(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP_:
		return "tcp";
	case IPPROTO_UDP_:
		return "udp";
	case IPPROTO_ICMP_:
		return "icmp";
	default:
		return "icmp6";
	}
}

/* The deciding rule in the words of docs/rules.md: "json:N" (the JSON
 * rule's index), "qubes:N" (the Qubes rule's key), "qubes:policy",
 * "default", "forward:N" (the JSON forward rule), "pending". */
void
nat_flow_rule_str(const struct ft_entry *f, uint16_t rule, char *buf,
    size_t len)
{
	if (f->kind == FT_K_FWD)
		snprintf(buf, len, "forward:%u", rule);
	else if (f->state == FT_PENDING || rule == FT_RULE_NONE)
		snprintf(buf, len, "pending");
	else if (rule == RULE_ID_DEFAULT)
		snprintf(buf, len, "default");
	else if (rule == RULE_ID_QPOLICY)
		snprintf(buf, len, "qubes:policy");
	else if (rule & RULE_ID_QUBES)
		snprintf(buf, len, "qubes:%u", rule & ~RULE_ID_QUBES);
	else
		snprintf(buf, len, "json:%u", rule);
}

/* Does flow i belong to the client named by filter: its link's name, its
 * IPv4 address, or the flow's own source address? NULL or "": all. */
static int
flow_matches(const struct nat_engine *e, uint32_t i, const char *filter,
    const char *client, const char *src)
{
	const struct nat_link *l = &e->link[e->ft.ent[i].cport];
	char name[sizeof l->name + 1];

	if (filter == NULL || filter[0] == '\0')
		return 1;
	memcpy(name, l->name, sizeof l->name);
	name[sizeof l->name] = '\0';
	return strcmp(filter, client) == 0 || strcmp(filter, src) == 0 ||
	    (name[0] != '\0' && strcmp(filter, name) == 0);
}

static void
flow_json(struct nat_engine *e, struct jbuf *j, uint32_t i, const char *client,
    const char *src, uint32_t now)
{
	const struct ft_entry *f = &e->ft.ent[i];
	const struct ft_count *c = &e->ft.cnt[i];
	const struct nat_link *l = &e->link[f->cport];
	char name[sizeof l->name + 1], rule[24], a[46];
	int v6 = (f->flags & FT_F_V6) != 0;

	memcpy(name, l->name, sizeof l->name);
	name[sizeof l->name] = '\0';
	jprintf(j, "{\"client\": ");
	jstr(j, client);
	jprintf(j, ", \"link\": ");
	jstr(j, name);
	jprintf(j, ", \"family\": %d, \"proto\": \"%s\", \"kind\": \"%s\", "
	    "\"src\": ", v6 ? 6 : 4, flow_proto(f->proto),
	    f->kind == FT_K_C2C ? "c2c" : f->kind == FT_K_FWD ? "forward" : "nat");
	jstr(j, src);
	jprintf(j, ", \"sport\": %u, \"remote\": ", f->csport);
	jstr(j, v6 ? ip6_str(e->ft.a6[i].dst, a) : ip4_str(f->rdst, a));
	jprintf(j, ", \"rport\": %u", f->dport);
	if (f->flags & FT_F_REDIRECT) {
		/* DNS to the virtual address, relayed to the NetVM's */
		jprintf(j, ", \"dst\": ");
		jstr(j, ip4_str(f->odst, a));
	}
	nat_flow_rule_str(f, c->rule, rule, sizeof rule);
	jprintf(j, ", \"nat_port\": %u, \"state\": \"%s\", \"age\": %u, "
	    "\"idle\": %u, \"bytes_out\": %llu, \"bytes_in\": %llu, "
	    "\"packets_out\": %u, \"packets_in\": %u, \"rule\": \"%s\"}",
	    f->nsport, flow_state(f), now >= c->start ? now - c->start : 0,
	    now >= f->last ? now - f->last : 0,
	    (unsigned long long)c->bytes[0], (unsigned long long)c->bytes[1],
	    c->pkts[0], c->pkts[1], rule);
}

size_t
nat_flows_json(struct nat_engine *e, char *buf, size_t cap,
    const char *filter, uint32_t max_flows, uint64_t now_ms)
{
	/* room kept for the closing fields whatever the flows took */
	const size_t tail = 96;
	struct jbuf j = { buf, cap, 0, 0 };
	uint32_t i, now = (uint32_t)(now_ms / 1000), shown = 0, total = 0;
	int cut = 0;

	jprintf(&j, "{\"flows\": [");
	if (j.overflow || cap - j.len <= tail)
		return 0;
	j.cap = cap - tail;
	for (i = 0; e->started && i < e->ft.nflows; i++) {
		const struct ft_entry *f = &e->ft.ent[i];
		char client[16], src[46];
		size_t before = j.len;

		if (f->state == FT_FREE)
			continue;
		/* The client by its IPv4 address, whichever family the flow
		 * is: that is the address rules and dom0 know it by. */
		if (f->flags & FT_F_V6) {
			ip4_str(e->link[f->cport].ip, client);
			ip6_str(e->ft.a6[i].src, src);
		} else {
			ip4_str(f->csrc, client);
			memcpy(src, client, sizeof client);
		}
		if (!flow_matches(e, i, filter, client, src))
			continue;
		total++;
		if (cut)
			continue;
		if (shown == max_flows) {
			cut = 1;
			continue;
		}
		jprintf(&j, "%s\n ", shown ? "," : "");
		flow_json(e, &j, i, client, src, now);
		if (j.overflow) {
			/* drop the flow that did not fit whole */
			j.len = before;
			j.overflow = 0;
			cut = 1;
			continue;
		}
		shown++;
	}
	j.cap = cap;
	jprintf(&j, "\n], \"shown\": %u, \"total\": %u, \"truncated\": %s}\n",
	    shown, total, cut ? "true" : "false");
	return j.overflow ? 0 : j.len;
}
