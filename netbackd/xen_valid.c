/*
 * xen_valid.c: checks of netif requests/responses and XenStore values.
 *
 * Pure functions over private copies (see xen_valid.h). The TX rules are
 * Linux netback's (xenvif_count_requests, xenvif_get_extras,
 * xenvif_set_skb_gso) with two deliberate tightenings, because moat copies
 * every packet into a private linear buffer and serves no legacy guests:
 * a later slot larger than what the first slot left is fatal (Linux drops
 * it for old buggy frontends), and a packet shorter than an Ethernet header
 * is fatal (no netfront produces one).
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "util.h"
#include "xen_valid.h"

static void
fatal_(struct xnv_tx_pkt *p, const char *why)
{
	p->verdict = XNV_FATAL;
	p->reason = why;
}

int
xnv_prod_ok(uint32_t prod, uint32_t mine, uint32_t size)
{
	/* Free-running 32-bit indices: the distance is modulo 2^32. */
	return (uint32_t)(prod - mine) <= size;
}

int
xnv_tx_parse(const struct netif_tx_request *req, unsigned avail,
    struct xnv_tx_pkt *p)
{
	struct netif_tx_request first;
	struct netif_extra_info ex;
	unsigned i = 1, further = 0;
	uint32_t rest = 0;
	int more;

	/* Header only: frag[] entries are written before they are counted
	 * (this runs per packet; the array is most of the struct). */
	memset(p, 0, offsetof(struct xnv_tx_pkt, frag));
	if (avail == 0) {
		fatal_(p, "no request");
		return p->verdict;
	}
	first = req[0];
	p->flags = first.flags;
	p->total = first.size;

	if (first.flags & NETTXF_extra_info) {
		do {
			if (i >= avail) {
				fatal_(p, "extra info runs past the published requests");
				return p->verdict;
			}
			if (p->nextra >= XNV_TX_MAX_EXTRAS) {
				fatal_(p, "too many extra info slots");
				return p->verdict;
			}
			/* The extra overlays the first 8 bytes of the slot. */
			memcpy(&ex, &req[i], sizeof(ex));
			i++;
			p->nextra++;
			if (ex.type == XEN_NETIF_EXTRA_TYPE_NONE ||
			    ex.type >= XEN_NETIF_EXTRA_TYPE_MAX) {
				fatal_(p, "bad extra info type");
				return p->verdict;
			}
			if (ex.type == XEN_NETIF_EXTRA_TYPE_GSO) {
				if (ex.u.gso.size == 0) {
					fatal_(p, "GSO size zero");
					return p->verdict;
				}
				if (ex.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
				    ex.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6) {
					fatal_(p, "bad GSO type");
					return p->verdict;
				}
				p->gso_size = ex.u.gso.size;
				p->gso_type = ex.u.gso.type;
			}
			/* MCAST_ADD/DEL and HASH: not advertised, ignored. */
		} while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
	}

	more = (first.flags & NETTXF_more_data) != 0;
	while (more) {
		struct netif_tx_request r;

		if (further >= XNV_TX_FATAL_FURTHER) {
			fatal_(p, "too many slots in one packet");
			return p->verdict;
		}
		if (i >= avail) {
			fatal_(p, "packet runs past the published requests");
			return p->verdict;
		}
		r = req[i++];
		further++;
		if ((uint32_t)r.offset + r.size > XEN_PAGE_SIZE) {
			fatal_(p, "fragment crosses its page");
			return p->verdict;
		}
		if (r.size > first.size - rest) {
			fatal_(p, "fragments larger than the packet");
			return p->verdict;
		}
		rest += r.size;
		/* Bounded before writing: XSA-432 overran a fixed array here. */
		if (further <= XNV_TX_MAX_FURTHER && r.size != 0 &&
		    p->nfrags + 1 < XNV_TX_MAX_FRAGS) {
			/* frag[0] is reserved for the first slot; filled below. */
			p->frag[1 + p->nfrags].gref = r.gref;
			p->frag[1 + p->nfrags].off = r.offset;
			p->frag[1 + p->nfrags].len = r.size;
			p->nfrags++;
		}
		more = (r.flags & NETTXF_more_data) != 0;
	}
	p->nslots = i;

	if (first.size < XNV_ETH_HLEN) {
		fatal_(p, "packet shorter than an Ethernet header");
		return p->verdict;
	}
	/* rest <= first.size by the loop's check: no underflow. */
	if ((uint32_t)first.offset + (first.size - rest) > XEN_PAGE_SIZE) {
		fatal_(p, "first fragment crosses its page");
		return p->verdict;
	}
	if (further > XNV_TX_MAX_FURTHER) {
		p->verdict = XNV_DROP;
		p->reason = "more slots than netfront sends";
		return p->verdict;
	}
	/* Put the first slot's own fragment in front of the others. */
	if (first.size - rest != 0) {
		p->frag[0].gref = first.gref;
		p->frag[0].off = first.offset;
		p->frag[0].len = first.size - rest;
		p->nfrags++;
	} else {
		memmove(&p->frag[0], &p->frag[1], (p->nfrags) * sizeof(p->frag[0]));
	}
	p->verdict = XNV_OK;
	return p->verdict;
}

int
xnv_tx_rsp_check(const struct netif_tx_response *r, const uint8_t *pending,
    unsigned npending, const char **why)
{
	if (r->status == NETIF_RSP_NULL)
		return 0;
	if (r->id >= npending || !pending[r->id]) {
		*why = "TX response for an id with nothing pending";
		return -1;
	}
	if (r->status != NETIF_RSP_OKAY && r->status != NETIF_RSP_ERROR &&
	    r->status != NETIF_RSP_DROPPED) {
		*why = "TX response with an unknown status";
		return -1;
	}
	return 1;
}

int
xnv_rx_parse(const struct netif_rx_response *rsp, const uint16_t *expect_id,
    unsigned avail, struct xnv_rx_pkt *p)
{
	unsigned i = 0, ndata = 0;
	int more, dropped = 0;

	memset(p, 0, sizeof(*p));
	do {
		struct netif_rx_response r;

		if (i >= avail) {
			p->verdict = XNV_MORE;
			p->reason = "RX packet continues past the published responses";
			return p->verdict;
		}
		r = rsp[i];
		if (r.id != expect_id[i]) {
			p->verdict = XNV_FATAL;
			p->reason = "RX response id not the one posted in its slot";
			return p->verdict;
		}
		if (++ndata > XEN_NETIF_NR_SLOTS_MIN) {
			p->verdict = XNV_FATAL;
			p->reason = "too many RX slots in one packet";
			return p->verdict;
		}
		if (i == 0)
			p->flags = r.flags;
		if (r.status < 0) {
			/* NETIF_RSP_ERROR/DROPPED or a GNTST code: the
			 * packet is lost, the ring is fine. */
			dropped = 1;
		} else if ((uint32_t)r.offset + (uint16_t)r.status > XEN_PAGE_SIZE) {
			p->verdict = XNV_FATAL;
			p->reason = "RX data past the end of its page";
			return p->verdict;
		} else if (r.status > 0) {
			p->frag[p->nfrags].slot = i;
			p->frag[p->nfrags].off = r.offset;
			p->frag[p->nfrags].len = (uint16_t)r.status;
			p->nfrags++;
			p->total += (uint16_t)r.status;
		}
		more = (r.flags & NETRXF_more_data) != 0;
		i++;
		if (r.flags & NETRXF_extra_info) {
			struct netif_extra_info ex;

			if (ndata != 1) {
				p->verdict = XNV_FATAL;
				p->reason = "RX extra info after a later slot";
				return p->verdict;
			}
			do {
				if (i >= avail) {
					p->verdict = XNV_MORE;
					p->reason = "RX extra info continues past the responses";
					return p->verdict;
				}
				if (i - ndata >= XNV_TX_MAX_EXTRAS) {
					p->verdict = XNV_FATAL;
					p->reason = "too many RX extra info slots";
					return p->verdict;
				}
				memcpy(&ex, &rsp[i], sizeof(ex));
				i++;
				if (ex.type == XEN_NETIF_EXTRA_TYPE_NONE ||
				    ex.type >= XEN_NETIF_EXTRA_TYPE_MAX) {
					p->verdict = XNV_FATAL;
					p->reason = "bad RX extra info type";
					return p->verdict;
				}
				if (ex.type == XEN_NETIF_EXTRA_TYPE_GSO) {
					if (ex.u.gso.size == 0 ||
					    (ex.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
					    ex.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6)) {
						p->verdict = XNV_FATAL;
						p->reason = "bad RX GSO extra";
						return p->verdict;
					}
					p->gso_size = ex.u.gso.size;
					p->gso_type = ex.u.gso.type;
				}
			} while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
		}
	} while (more);
	p->nslots = i;
	if (dropped) {
		p->verdict = XNV_DROP;
		p->reason = "NetVM reported an RX error";
	} else if (p->total < XNV_ETH_HLEN) {
		p->verdict = XNV_DROP;
		p->reason = "RX packet shorter than an Ethernet header";
	} else
		p->verdict = XNV_OK;
	return p->verdict;
}

/* XenStore values */

int
xnv_parse_uint(const char *v, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (v == NULL || len == 0 || len > 20)
		return -1;
	if (v[0] == '0' && len > 1)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (v[i] < '0' || v[i] > '9')
			return -1;
		d = (unsigned)(v[i] - '0');
		if (d > max || n > (max - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
xnv_parse_mac(const char *v, size_t len, uint8_t mac[6])
{
	uint8_t m[6];
	int i;

	if (v == NULL || len != 17)
		return -1;
	for (i = 0; i < 6; i++) {
		int hi = hexval(v[i * 3]), lo = hexval(v[i * 3 + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		if (i < 5 && v[i * 3 + 2] != ':')
			return -1;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, m, 6);
	return 0;
}

int
xnv_parse_ip4_first(const char *v, size_t len, uint32_t *ip_be)
{
	uint8_t b[4];
	size_t i = 0, end;
	int k;

	if (v == NULL)
		return -1;
	for (end = 0; end < len && v[end] != ' '; end++)
		;
	for (k = 0; k < 4; k++) {
		size_t s = i;
		uint64_t n;

		while (i < end && v[i] != '.')
			i++;
		if (xnv_parse_uint(v + s, i - s, 255, &n) != 0)
			return -1;
		b[k] = (uint8_t)n;
		if (k < 3) {
			if (i >= end)
				return -1;
			i++;	/* the dot */
		}
	}
	if (i != end)
		return -1;
	memcpy(ip_be, b, 4);
	return 0;
}

int
xnv_parse_ip6_in_list(const char *v, size_t len, uint8_t ip6[16])
{
	char tok[46];	/* INET6_ADDRSTRLEN */
	size_t i = 0, s;

	if (v == NULL)
		return -1;
	while (i < len) {
		while (i < len && v[i] == ' ')
			i++;
		for (s = i; i < len && v[i] != ' '; i++)
			;
		if (i == s || memchr(v + s, ':', i - s) == NULL)
			continue;
		/* the first IPv6 word decides: a bad one is not skipped for
		 * a later one, so what we use is what dom0 meant first */
		if (i - s >= sizeof(tok) || memchr(v + s, '\0', i - s) != NULL)
			return -1;
		memcpy(tok, v + s, i - s);
		tok[i - s] = '\0';
		return ip6_client_parse(tok, ip6) == 0 ? 1 : -1;
	}
	return 0;
}

int
xnv_parse_state(const char *v, size_t len, enum xenbus_state *st)
{
	uint64_t n;

	if (xnv_parse_uint(v, len, XB_RECONFIGURED, &n) != 0)
		return -1;
	*st = (enum xenbus_state)n;
	return 0;
}

static int
parse_comp(const char **pp, uint64_t max, unsigned *out)
{
	const char *s = *pp, *e = s;
	uint64_t n;

	while (*e != '\0' && *e != '/')
		e++;
	if (xnv_parse_uint(s, (size_t)(e - s), max, &n) != 0)
		return -1;
	*out = (unsigned)n;
	*pp = e;
	return 0;
}

int
xnv_parse_vif_path(const char *path, unsigned self, unsigned *domid,
    unsigned *devid, const char **rest)
{
	static const char pfx[] = "/local/domain/";
	const char *p = path;
	unsigned me;

	if (strncmp(p, pfx, sizeof(pfx) - 1) != 0)
		return -1;
	p += sizeof(pfx) - 1;
	if (parse_comp(&p, 0x7fef, &me) != 0 || me != self)
		return -1;
	if (strncmp(p, "/backend/vif/", 13) != 0)
		return -1;
	p += 13;
	if (parse_comp(&p, 0x7fef, domid) != 0 || *p != '/')
		return -1;
	p++;
	if (parse_comp(&p, 0xffff, devid) != 0)
		return -1;
	if (*p != '\0' && *p != '/')
		return -1;
	*rest = p;
	return 0;
}
