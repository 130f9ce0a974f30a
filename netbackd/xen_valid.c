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

/*
 * Frames in the packet pool are shared memory: natd maps every buffer
 * read-write and may rewrite one while netbackd checks it, and netbackd
 * itself, were it compromised, while natd parses it. A length checked in
 * one load and used in another (XSA-155's double fetch) would then be
 * used unchecked. So every header a function here bounds-checks is first
 * copied into private memory, once, and both the check and the use read
 * the copy: Ethernet, IPv4 with options (longer than IPv6's fixed header)
 * and a TCP header with options. Every offset the parsers read is below
 * the copy's length, and they never read at or past len, which bounds
 * the copy too.
 */
#define XNV_HDR_COPY	(XNV_ETH_HLEN + 60 + 60)

static size_t
hdr_copy(uint8_t h[XNV_HDR_COPY], const uint8_t *f, size_t len)
{
	size_t n = len < XNV_HDR_COPY ? len : XNV_HDR_COPY;

	memcpy(h, f, n);
	return n;
}

/*
 * Super-frames. Segmentation (in whoever receives it, or the NetVM's
 * kernel) copies these headers into every segment and trusts the lengths:
 * so the headers must be whole and exact, and the segment size bounded on
 * both sides (an MSS of 1 turns 64 KiB into 64000 frames for someone).
 * f is the private header copy; len the frame's length.
 */
static int
gso_check(const uint8_t *f, size_t len, int v6, uint16_t gso_size,
    unsigned mtu, struct xnv_gso *g, const char **why)
{
	size_t l3 = XNV_ETH_HLEN, l4, hl;
	uint16_t et;

	memset(g, 0, sizeof(*g));
	if (gso_size == 0) {
		*why = "GSO size zero";
		return XNV_DROP;
	}
	if (len > XEN_NETIF_MAX_TX_SIZE) {
		*why = "super-frame over 64 KiB";
		return XNV_DROP;
	}
	if (len < XNV_ETH_HLEN) {
		*why = "super-frame shorter than an Ethernet header";
		return XNV_DROP;
	}
	et = (uint16_t)(f[12] << 8 | f[13]);
	if (et != (v6 ? 0x86dd : 0x0800)) {
		*why = "GSO type is not the frame's IP version";
		return XNV_DROP;
	}
	if (!v6) {
		size_t ihl;

		if (len < l3 + 20 || (f[l3] >> 4) != 4) {
			*why = "super-frame without an IPv4 header";
			return XNV_DROP;
		}
		ihl = (size_t)(f[l3] & 0x0f) * 4;
		if (ihl < 20 || len < l3 + ihl) {
			*why = "super-frame without an IPv4 header";
			return XNV_DROP;
		}
		if ((size_t)(f[l3 + 2] << 8 | f[l3 + 3]) != len - l3) {
			*why = "super-frame IP length is not the frame's";
			return XNV_DROP;
		}
		if ((f[l3 + 6] & 0x3f) != 0 || f[l3 + 7] != 0) {
			*why = "super-frame is an IP fragment";
			return XNV_DROP;
		}
		if (f[l3 + 9] != 6) {
			*why = "super-frame is not TCP";
			return XNV_DROP;
		}
		l4 = l3 + ihl;
	} else {
		if (len < l3 + 40 || (f[l3] >> 4) != 6) {
			*why = "super-frame without an IPv6 header";
			return XNV_DROP;
		}
		if ((size_t)(f[l3 + 4] << 8 | f[l3 + 5]) != len - l3 - 40) {
			*why = "super-frame IP length is not the frame's";
			return XNV_DROP;
		}
		/* Extension headers: no netfront's TSO makes them. */
		if (f[l3 + 6] != 6) {
			*why = "super-frame is not TCP";
			return XNV_DROP;
		}
		l4 = l3 + 40;
	}
	if (len < l4 + 20 || (f[l4 + 12] >> 4) < 5 ||
	    len < l4 + (size_t)(f[l4 + 12] >> 4) * 4) {
		*why = "super-frame without a whole TCP header";
		return XNV_DROP;
	}
	hl = l4 + (size_t)(f[l4 + 12] >> 4) * 4;
	if (gso_size < XNV_GSO_MIN_MSS) {
		*why = "GSO size below TCP's minimum segment";
		return XNV_DROP;
	}
	if (hl - l3 + gso_size > mtu) {
		*why = "GSO segments larger than the MTU";
		return XNV_DROP;
	}
	g->csum_start = (uint16_t)l4;
	g->csum_off = 16;
	g->hdr_len = (uint16_t)hl;
	g->payload = (uint32_t)(len - hl);
	g->segs = (g->payload + gso_size - 1) / gso_size;
	return XNV_OK;
}

int
xnv_gso_check(const uint8_t *f, size_t len, int v6, uint16_t gso_size,
    unsigned mtu, struct xnv_gso *g, const char **why)
{
	uint8_t h[XNV_HDR_COPY];

	hdr_copy(h, f, len);
	return gso_check(h, len, v6, gso_size, mtu, g, why);
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

/* Checksums */

static uint32_t
sum16(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

/*
 * Where the L4 checksum of the frame whose private header copy is f lies,
 * and where the IP packet ends (end <= len; Ethernet padding excluded).
 */
struct csum_loc {
	uint16_t	start, off;
	size_t		end;
};

static int
csum_locate(const uint8_t *f, size_t len, struct csum_loc *c)
{
	size_t l3 = XNV_ETH_HLEN, l4, end;
	uint16_t et;
	uint8_t proto;

	if (len < XNV_ETH_HLEN)
		return -1;
	et = (uint16_t)(f[12] << 8 | f[13]);
	if (et == 0x0800) {
		size_t ihl, tot;

		if (len < l3 + 20)
			return -1;
		ihl = (size_t)(f[l3] & 0x0f) * 4;
		tot = (size_t)(f[l3 + 2] << 8 | f[l3 + 3]);
		if ((f[l3] >> 4) != 4 || ihl < 20 || tot < ihl || l3 + tot > len)
			return -1;
		/* MF set or a fragment offset: no whole L4 segment here. */
		if ((f[l3 + 6] & 0x3f) != 0 || f[l3 + 7] != 0)
			return -1;
		proto = f[l3 + 9];
		l4 = l3 + ihl;
		end = l3 + tot;
	} else if (et == 0x86dd) {
		size_t plen;

		if (len < l3 + 40 || (f[l3] >> 4) != 6)
			return -1;
		plen = (size_t)(f[l3 + 4] << 8 | f[l3 + 5]);
		if (l3 + 40 + plen > len)
			return -1;
		proto = f[l3 + 6];
		l4 = l3 + 40;
		end = l4 + plen;
	} else
		return -1;
	if (proto == 6) {
		if (end < l4 + 20)
			return -1;
		c->off = 16;
	} else if (proto == 17) {
		if (end < l4 + 8)
			return -1;
		c->off = 6;
	} else
		return -1;
	if (l4 > 0xffff)
		return -1;
	c->start = (uint16_t)l4;
	c->end = end;
	return 0;
}

int
xnv_csum_locate(const uint8_t *f, size_t len, uint16_t *csum_start,
    uint16_t *csum_off)
{
	uint8_t h[XNV_HDR_COPY];
	struct csum_loc c;

	hdr_copy(h, f, len);
	if (csum_locate(h, len, &c) != 0)
		return -1;
	*csum_start = c.start;
	*csum_off = c.off;
	return 0;
}

int
xnv_csum_complete(uint8_t *f, size_t len)
{
	uint8_t h[XNV_HDR_COPY];
	struct csum_loc c;
	uint16_t v;
	uint32_t s;

	/*
	 * One read of the headers: the extent summed and the field written
	 * come from the copy (start + off + 2 <= end <= len), never from
	 * the frame again. The bytes summed are the frame's as they are; a
	 * peer rewriting them only spoils its own checksum.
	 */
	hdr_copy(h, f, len);
	if (csum_locate(h, len, &c) != 0)
		return -1;
	/* The field holds the pseudo-header sum: summing over it folds it in. */
	s = sum16(0, f + c.start, c.end - c.start);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	v = (uint16_t)~s;
	if (v == 0 && c.off == 6)
		v = 0xffff;	/* UDP: 0 means "no checksum" */
	f[c.start + c.off] = (uint8_t)(v >> 8);
	f[c.start + c.off + 1] = (uint8_t)v;
	return 0;
}
