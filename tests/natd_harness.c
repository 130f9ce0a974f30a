/*
 * natd_harness.c: see natd_harness.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/natd_harness.h"

const uint8_t nh_mac_up[6] = { 2, 0, 0, 0, 0, 1 };
const uint8_t nh_mac_c1[6] = { 2, 0, 0, 0, 1, 1 };
const uint8_t nh_mac_c2[6] = { 2, 0, 0, 0, 1, 2 };
const uint8_t nh_mac_gw[6] = { 2, 0, 0, 0, 0, 0xfe };
const uint8_t nh_mac_v1[6] = { 2, 0, 0, 0, 0x10, 1 };
const uint8_t nh_mac_v2[6] = { 2, 0, 0, 0, 0x10, 2 };

uint32_t
nh_ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl((uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d);
}

uint8_t *
nh_pool_new(struct mq_pool *pool, uint32_t nbufs, uint32_t bufsz)
{
	uint8_t *mem = calloc(nbufs, bufsz);

	if (mem == NULL)
		abort();
	memset(pool, 0, sizeof(*pool));
	pool->base = mem;
	pool->nbufs = nbufs;
	pool->bufsz = bufsz;
	return mem;
}

void
nh_config(struct nat_config *c, uint32_t nflows, uint32_t client_quota,
    uint32_t own_count, uint64_t seed)
{
	nat_config_defaults(c);
	c->nflows = nflows;
	c->client_quota = client_quota;
	c->own_count = own_count;
	c->seed = seed;
}

void
nh_netconf_msg(struct msg_netconf *nc)
{
	memset(nc, 0, sizeof(*nc));
	nc->ip = NH_IP_US;
	nc->netmask = nh_ip4(255, 255, 255, 255);
	nc->gateway = NH_IP_GW;
	nc->dns[0] = NH_IP_DNS1;
	nc->dns[1] = NH_IP_DNS2;
	nc->netvm_gateway = NH_IP_VGW;
	nc->netvm_dns[0] = NH_IP_VDNS1;
	nc->netvm_dns[1] = NH_IP_VDNS2;
}

void
nh_netconf(struct nat_engine *e, uint64_t now_ms)
{
	struct msg_netconf nc;

	nh_netconf_msg(&nc);
	nat_netconf(e, &nc, now_ms);
}

const uint8_t nh_ip6_us[16] = { 0xfd, [15] = 6 };
const uint8_t nh_ip6_gw[16] = { 0xfd, [15] = 1 };
const uint8_t nh_ip6_vgw[16] = { 0xfd, 0x09, [15] = 7 };
const uint8_t nh_ip6_c1[16] = { 0xfd, 0x09, [15] = 0x10 };
const uint8_t nh_ip6_c2[16] = { 0xfd, 0x09, [15] = 0x11 };

void
nh_netconf6_msg(struct msg_netconf *nc)
{
	nh_netconf_msg(nc);
	memcpy(nc->ip6, nh_ip6_us, 16);
	memcpy(nc->gateway6, nh_ip6_gw, 16);
	memcpy(nc->netvm_gateway6, nh_ip6_vgw, 16);
}

void
nh_netconf6(struct nat_engine *e, uint64_t now_ms)
{
	struct msg_netconf nc;

	nh_netconf6_msg(&nc);
	nat_netconf(e, &nc, now_ms);
}

void
nh_link6(struct nat_engine *e, uint16_t port, int up, uint32_t ip4,
    const uint8_t *ip6, const uint8_t our_mac[6], const uint8_t *peer_mac,
    uint64_t now_ms)
{
	struct msg_link l;

	nh_link_msg(&l, port, up, ip4, our_mac, peer_mac);
	if (ip6 != NULL)
		memcpy(l.ip6, ip6, 16);
	nat_link(e, &l, now_ms);
}

void
nh_link_msg(struct msg_link *l, uint16_t port, int up, uint32_t ip4,
    const uint8_t our_mac[6], const uint8_t *peer_mac)
{
	memset(l, 0, sizeof(*l));
	l->port = port;
	l->up = (uint8_t)up;
	l->kind = port == MQ_PORT_UPLINK ? LINK_UPLINK : LINK_CLIENT;
	memcpy(l->our_mac, our_mac, 6);
	if (peer_mac != NULL)
		memcpy(l->peer_mac, peer_mac, 6);
	l->ip4 = ip4;
	l->mtu = 1500;
	snprintf(l->name, sizeof(l->name), "eth%u", port);
}

void
nh_link(struct nat_engine *e, uint16_t port, int up, uint32_t ip4,
    const uint8_t our_mac[6], const uint8_t *peer_mac, uint64_t now_ms)
{
	struct msg_link l;

	nh_link_msg(&l, port, up, ip4, our_mac, peer_mac);
	nat_link(e, &l, now_ms);
}

void
nh_ip4_hdr(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, uint8_t ttl,
    uint16_t id, uint16_t frag, size_t optlen, size_t l4len)
{
	struct ipv4_hdr *ip = (struct ipv4_hdr *)p;

	memset(ip, 0, 20);
	ip->ver_ihl = (uint8_t)(0x40 | (5 + optlen / 4));
	ip->tot_len_be = htons((uint16_t)(20 + optlen + l4len));
	ip->id_be = htons(id);
	ip->frag_be = htons(frag);
	ip->ttl = ttl;
	ip->proto = proto;
	ip->saddr_be = src;
	ip->daddr_be = dst;
}

int
nh_fuzz_next(const uint8_t *data, size_t size, size_t *off, uint8_t *ctl,
    const uint8_t **frame, size_t *len)
{
	if (*off + 3 > size)
		return 0;
	*ctl = data[*off];
	*len = (size_t)data[*off + 1] << 8 | data[*off + 2];
	*off += 3;
	if (*len > size - *off)
		*len = size - *off;
	*frame = data + *off;
	*off += *len;
	return 1;
}

void
nh_fuzz_desc(struct mq_desc *d, uint8_t *mem, uint32_t nbufs, size_t bufsz,
    uint32_t *next, uint16_t port, const uint8_t *frame, size_t len)
{
	uint8_t *p;
	struct pkt_view v;

	memset(d, 0, sizeof(*d));
	d->buf = *next;
	*next = *next + 1 < nbufs ? *next + 1 : 8;
	d->off = 64;
	d->len = (uint32_t)len;
	d->port = port;
	p = mem + (size_t)d->buf * bufsz + 64;
	memcpy(p, frame, len);
	if (pkt_parse(&v, p, len) == PKT_OK && v.l3 == PKT_L3_IPV4)
		pkt_ip4_csum_set(&v);
}

void
nh_dns_none(void *arg, const struct msg_dns_answer *a)
{
	(void)arg;
	(void)a;
}

void
nh_gift(struct nat_engine *e, uint64_t now_ms)
{
	uint32_t i;

	for (i = 0; i < e->cfg.own_count; i++) {
		struct mq_desc d;

		memset(&d, 0, sizeof(d));
		d.buf = i;
		d.port = MQ_PORT_DROP;
		nat_input(e, &d, now_ms);
	}
}

void
nh_input(struct nat_engine *e, struct mq_desc *d, const uint8_t *f, size_t len,
    uint64_t now_ms)
{
	memcpy(mq_buf(e->pool, d->buf) + d->off, f, len);
	d->len = (uint32_t)len;
	nat_input(e, d, now_ms);
}

void
nh_learn_gw(struct nat_engine *e, uint32_t buf, uint64_t now_ms)
{
	const uint8_t *us = e->link[MQ_PORT_UPLINK].mac;
	struct mq_desc d;
	uint8_t f[64];
	size_t n;

	n = pkt_build_arp(f, sizeof(f), ARPOP_REPLY_, nh_mac_gw, NH_IP_GW, us,
	    us, NH_IP_US);
	memset(&d, 0, sizeof(d));
	d.buf = buf;
	d.port = MQ_PORT_UPLINK;
	nh_input(e, &d, f, n, now_ms);
}
