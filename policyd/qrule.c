/*
 * qrule.c: the Qubes 4 firewall rule grammar (see qrule.h for what is
 * accepted and why).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qrule.h"

int
qr_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int
qr_rule_prefix(size_t ri, const char *key, int family, const char *s,
    size_t len, uint8_t out[16], uint8_t *plen, char *err, size_t errlen)
{
	int hb;

	if (qr_parse_prefix(family, s, len, out, plen, &hb) == -1)
		return qr_errf(err, errlen, "rule %zu: \"%s\": not an IPv%d "
		    "address or CIDR prefix", ri, key, family);
	if (hb)
		return qr_errf(err, errlen, "rule %zu: \"%s\": host bits set "
		    "beyond the /%u prefix", ri, key, *plen);
	return 0;
}

int
qr_word(const struct qr_word *w, const char *s)
{
	for (; w->s != NULL; w++)
		if (strcmp(w->s, s) == 0)
			return w->v;
	return -1;
}

int
qr_parse_dec(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int
qr_parse_ip4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0, start;
	uint32_t v;
	int part;

	for (part = 0; part < 4; part++) {
		start = i;
		while (i < len && s[i] != '.')
			i++;
		if (qr_parse_dec(s + start, i - start, 255, &v) == -1)
			return -1;
		out[part] = (uint8_t)v;
		if (part < 3) {
			if (i >= len)
				return -1;
			i++;	/* the dot */
		}
	}
	return i == len ? 0 : -1;
}

int
qr_parse_ip6(const char *s, size_t len, uint8_t out[16])
{
	char buf[INET6_ADDRSTRLEN + 1];
	size_t i;

	if (len == 0 || len >= sizeof buf)
		return -1;
	for (i = 0; i < len; i++)
		if (s[i] == '\0')
			return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

int
qr_parse_prefix(int family, const char *s, size_t len, uint8_t out[16],
    uint8_t *plen, int *hostbits)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	uint32_t maxlen = family == 4 ? 32 : 128, pl = maxlen, i;

	memset(out, 0, 16);
	if (family == 4) {
		if (qr_parse_ip4(s, alen, out) == -1)
			return -1;
	} else if (qr_parse_ip6(s, alen, out) == -1)
		return -1;
	if (slash != NULL &&
	    qr_parse_dec(slash + 1, len - alen - 1, maxlen, &pl) == -1)
		return -1;
	*hostbits = 0;
	for (i = pl; i < maxlen; i++) {
		uint8_t bit = (uint8_t)(0x80u >> (i % 8));

		if (out[i / 8] & bit) {
			*hostbits = 1;
			out[i / 8] &= (uint8_t)~bit;
		}
	}
	*plen = (uint8_t)pl;
	return 0;
}

int
qr_parse_ports(const char *s, size_t len, uint16_t *lo, uint16_t *hi)
{
	const char *dash = memchr(s, '-', len);
	uint32_t a, b;

	if (dash == NULL) {
		if (qr_parse_dec(s, len, 65535, &a) == -1)
			return -1;
		b = a;
	} else if (qr_parse_dec(s, (size_t)(dash - s), 65535, &a) == -1 ||
	    qr_parse_dec(dash + 1, len - (size_t)(dash - s) - 1, 65535, &b) == -1)
		return -1;
	if (a > b)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

int
qr_parse_aton(const char *s, size_t len, uint8_t out[4])
{
	/* What the last part may hold after 0, 1, 2 or 3 dotted bytes. */
	static const uint32_t max[4] = { 0xffffffff, 0xffffff, 0xffff, 0xff };
	uint8_t b[4] = { 0 };
	unsigned nparts = 0, base, ndig, k;
	size_t i = 0;
	uint64_t v;

	for (;;) {
		/* inet_aton wants a decimal digit first, then reads the part
		 * as strtoul(base 0) does: 0x hex, 0 octal, else decimal. */
		if (i >= len || s[i] < '0' || s[i] > '9')
			return -1;
		base = 10;
		ndig = 0;
		v = 0;
		if (s[i] == '0') {
			i++;
			ndig = 1;
			base = 8;
			if (i < len && (s[i] == 'x' || s[i] == 'X')) {
				/* "0x" with no hex digit reads as 0 followed by
				 * the garbage "x": refused either way. */
				i++;
				base = 16;
				ndig = 0;
			}
		}
		for (; i < len; i++) {
			unsigned d;
			char c = s[i];

			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a') + 10;
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A') + 10;
			else
				break;
			if (d >= base)
				break;		/* 8 or 9 in octal, a-f outside hex */
			v = v * base + d;
			/* strtoul's range error and inet_aton's 32-bit cap */
			if (v > 0xffffffffu)
				return -1;
			ndig++;
		}
		if (ndig == 0)
			return -1;
		if (i < len && s[i] == '.') {
			if (nparts == 3 || v > 0xff)
				return -1;
			b[nparts++] = (uint8_t)v;
			i++;
			continue;
		}
		break;
	}
	/* getaddrinfo uses the exact form: nothing may follow */
	if (i != len || v > max[nparts])
		return -1;
	for (k = 0; k < 4; k++)
		b[k] |= (uint8_t)(v >> (8 * (3 - k)));
	memcpy(out, b, 4);
	return 0;
}

/*
 * Why s cannot be a dsthost name (NULL when it can), assuming it is not an
 * inet_aton address. Python's IDNA codec in firewall.py refuses empty and
 * over-long labels (but lets one trailing dot pass); the resolver cannot
 * send a name over 253; a last label starting with a digit never exists.
 */
static const char *
host_problem(const char *s, size_t len)
{
	size_t i, lab = 0, last = 0;

	if (len == 0 || len > QR_HOST_MAX)
		return "not a host name (a-z 0-9 - . _, at most 253)";
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_'))
			return "not a host name (a-z 0-9 - . _, at most 253)";
	}
	if (s[len - 1] == '.')
		len--;		/* one trailing dot: the root */
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (++lab > 63)
				return "a label is longer than 63 characters";
			continue;
		}
		if (lab == 0)
			return "empty label (leading dot, two dots in a row, "
			    "or a lone dot)";
		last = i - lab;
		lab = 0;
	}
	if (s[last] >= '0' && s[last] <= '9')
		return "last label starts with a digit, yet the C library does "
		    "not read it as an IPv4 address (no DNS name ends so)";
	return NULL;
}

int
qr_valid_host(const char *s, size_t len)
{
	uint8_t a[4];

	if (qr_parse_aton(s, len, a) == 0 || host_problem(s, len) != NULL)
		return -1;
	return 0;
}

int
qrule_policy(const char *s, size_t len)
{
	if (len == 6 && memcmp(s, "accept", 6) == 0)
		return QR_ACCEPT;
	if (len == 4 && memcmp(s, "drop", 4) == 0)
		return QR_DROP;
	return -1;
}

enum { K_ACTION, K_DST4, K_DST6, K_DSTHOST, K_PROTO, K_SPECIAL, K_PORTS,
	K_ICMPTYPE, K_COUNT };
static const char *const keys[K_COUNT] = {
	"action", "dst4", "dst6", "dsthost", "proto", "specialtarget",
	"dstports", "icmptype"
};

/* Quote at most 40 bytes of untrusted text, printable ASCII only. */
static const char *
q(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < size && i < 40; i++)
		buf[o++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
	if (i < len && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/*
 * A dst4/dst6 value whose address is fine but whose prefix length is
 * digits with a leading zero ("1.2.3.4/010"): 1, with what nftables makes
 * of it in note (" (/8), wider than written").
 */
static int
octal_prefix(int family, const char *val, size_t vlen, char *note,
    size_t size)
{
	const char *slash = memchr(val, '/', vlen);
	size_t alen, plen, i;
	uint8_t a[16];
	unsigned long o = 0, d = 0;
	int octal = 1;

	if (slash == NULL)
		return 0;
	alen = (size_t)(slash - val);
	plen = vlen - alen - 1;
	if (plen < 2 || plen > 4 || slash[1] != '0' || (family == 4 ?
	    qr_parse_ip4(val, alen, a) : qr_parse_ip6(val, alen, a)) == -1)
		return 0;
	for (i = 1; i < plen; i++) {
		char c = slash[1 + i];

		if (c < '0' || c > '9')
			return 0;
		if (c > '7')
			octal = 0;
		o = o * 8 + (unsigned long)(c - '0');
		d = d * 10 + (unsigned long)(c - '0');
	}
	if (!octal || o > (family == 4 ? 32u : 128u))
		snprintf(note, size, ", not as written");
	else if (o < d)
		snprintf(note, size, " (/%lu), wider than written", o);
	else
		snprintf(note, size, " (/%lu)", o);
	return 1;
}

int
qrule_parse(const char *s, size_t len, struct qrule *r, char *err,
    size_t errlen)
{
	unsigned seen = 0;
	size_t pos = 0;
	char qb[64];
	int hb;

	memset(r, 0, sizeof *r);
	if (errlen > 0)
		err[0] = '\0';
	if (len == 0)
		return qr_errf(err, errlen, "empty rule");
	while (pos <= len) {
		const char *opt = s + pos, *eq, *val;
		size_t olen, klen, vlen;
		int k;

		eq = NULL;
		for (olen = 0; pos + olen < len && opt[olen] != ' '; olen++)
			;
		if (olen == 0)
			return qr_errf(err, errlen, "empty option at offset %zu "
			    "(options are separated by exactly one space)", pos);
		eq = memchr(opt, '=', olen);
		if (eq == NULL)
			return qr_errf(err, errlen, "option \"%s\" has no '='",
			    q(opt, olen, qb, sizeof qb));
		klen = (size_t)(eq - opt);
		val = eq + 1;
		vlen = olen - klen - 1;
		if (memchr(val, '=', vlen) != NULL)
			return qr_errf(err, errlen, "option \"%s\" has more than one '='",
			    q(opt, olen, qb, sizeof qb));
		for (k = 0; k < K_COUNT; k++)
			if (strlen(keys[k]) == klen && memcmp(keys[k], opt, klen) == 0)
				break;
		if (k == K_COUNT)
			return qr_errf(err, errlen, "unknown option \"%s\"",
			    q(opt, klen, qb, sizeof qb));
		if (seen & (1u << k))
			return qr_errf(err, errlen, "option \"%s\" given twice", keys[k]);
		seen |= 1u << k;
		if (vlen == 0)
			return qr_errf(err, errlen, "option \"%s\" has an empty value",
			    keys[k]);
		switch (k) {
		case K_ACTION:
			if (qrule_policy(val, vlen) == -1)
				return qr_errf(err, errlen, "action \"%s\": must be "
				    "accept or drop", q(val, vlen, qb, sizeof qb));
			r->action = (uint8_t)qrule_policy(val, vlen);
			break;
		case K_DST4:
		case K_DST6:
			if (qr_parse_prefix(k == K_DST4 ? 4 : 6, val, vlen, r->addr,
			    &r->plen, &hb) == -1) {
				char oct[48];

				if (octal_prefix(k == K_DST4 ? 4 : 6, val, vlen,
				    oct, sizeof oct))
					return qr_errf(err, errlen, "%s \"%s\": leading "
					    "zero in the prefix length: sys-firewall's "
					    "nftables reads it as octal%s", keys[k],
					    q(val, vlen, qb, sizeof qb), oct);
				return qr_errf(err, errlen, "%s \"%s\": not an IPv%d "
				    "address or prefix", keys[k],
				    q(val, vlen, qb, sizeof qb), k == K_DST4 ? 4 : 6);
			}
			r->dst = k == K_DST4 ? QR_DST4 : QR_DST6;
			break;
		case K_DSTHOST: {
			const char *why;

			/* As getaddrinfo on sys-firewall: an address inet_aton
			 * reads is that address, never a DNS lookup. */
			if (qr_parse_aton(val, vlen, r->addr) == 0) {
				r->numeric = 1;
				r->plen = 32;
			} else if ((why = host_problem(val, vlen)) != NULL)
				return qr_errf(err, errlen, "dsthost \"%s\": %s",
				    q(val, vlen, qb, sizeof qb), why);
			memcpy(r->host, val, vlen);
			r->host[vlen] = '\0';
			r->dst = QR_DSTHOST;
			break;
		}
		case K_PROTO:
			if (vlen == 3 && memcmp(val, "tcp", 3) == 0)
				r->proto = IPPROTO_TCP;
			else if (vlen == 3 && memcmp(val, "udp", 3) == 0)
				r->proto = IPPROTO_UDP;
			else if (vlen == 4 && memcmp(val, "icmp", 4) == 0)
				r->proto = IPPROTO_ICMP;
			else
				return qr_errf(err, errlen, "proto \"%s\": must be "
				    "tcp, udp or icmp", q(val, vlen, qb, sizeof qb));
			break;
		case K_SPECIAL:
			if (vlen != 3 || memcmp(val, "dns", 3) != 0)
				return qr_errf(err, errlen, "specialtarget \"%s\": "
				    "only dns exists", q(val, vlen, qb, sizeof qb));
			r->specialdns = 1;
			break;
		case K_PORTS:
			if (qr_parse_ports(val, vlen, &r->plo, &r->phi) == -1)
				return qr_errf(err, errlen, "dstports \"%s\": must be "
				    "LO-HI with 0 <= LO <= HI <= 65535",
				    q(val, vlen, qb, sizeof qb));
			r->has_ports = 1;
			break;
		case K_ICMPTYPE: {
			uint32_t t;

			if (qr_parse_dec(val, vlen, 255, &t) == -1)
				return qr_errf(err, errlen, "icmptype \"%s\": must be "
				    "0..255", q(val, vlen, qb, sizeof qb));
			r->icmptype = (uint8_t)t;
			r->has_icmptype = 1;
			break;
		}
		}
		pos += olen + 1;
	}
	if (!(seen & (1u << K_ACTION)))
		return qr_errf(err, errlen, "no action");
	if (__builtin_popcount(seen & ((1u << K_DST4) | (1u << K_DST6) |
	    (1u << K_DSTHOST))) > 1)
		return qr_errf(err, errlen, "more than one of dst4, dst6, dsthost");
	if (r->has_ports && r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
		return qr_errf(err, errlen, "dstports needs proto=tcp or proto=udp");
	if (r->has_icmptype && r->proto != IPPROTO_ICMP)
		return qr_errf(err, errlen, "icmptype needs proto=icmp");
	if (r->specialdns && r->proto == IPPROTO_ICMP)
		return qr_errf(err, errlen, "specialtarget=dns cannot be proto=icmp");
	if (r->specialdns && r->has_ports && (r->plo != 53 || r->phi != 53))
		r->never = 1;
	return 0;
}

int
qrule_format(const struct qrule *r, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	const char *proto = r->proto == IPPROTO_TCP ? "tcp" :
	    r->proto == IPPROTO_UDP ? "udp" : "icmp";
	char dst[300] = "", pr[16] = "", po[24] = "", it[16] = "";

	if (r->dst == QR_DST4 || r->dst == QR_DST6) {
		inet_ntop(r->dst == QR_DST4 ? AF_INET : AF_INET6, r->addr, a,
		    sizeof a);
		snprintf(dst, sizeof dst, " dst%c=%s/%u",
		    r->dst == QR_DST4 ? '4' : '6', a, r->plen);
	} else if (r->dst == QR_DSTHOST)
		snprintf(dst, sizeof dst, " dsthost=%s", r->host);
	if (r->proto)
		snprintf(pr, sizeof pr, " proto=%s", proto);
	if (r->has_ports)
		snprintf(po, sizeof po, " dstports=%u-%u", r->plo, r->phi);
	if (r->has_icmptype)
		snprintf(it, sizeof it, " icmptype=%u", r->icmptype);
	return snprintf(buf, size, "action=%s%s%s%s%s%s",
	    r->action == QR_ACCEPT ? "accept" : "drop", dst, pr,
	    r->specialdns ? " specialtarget=dns" : "", po, it);
}
