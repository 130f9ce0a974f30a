/*
 * qrule.h: the Qubes 4 firewall rule grammar, as dom0 writes it into
 * QubesDB under /qubes-firewall/<client address>/NNNN.
 *
 * A rule string is space-separated key=value options, e.g.
 *   action=accept dst4=192.0.2.0/24 proto=tcp dstports=443-443
 * Parsing is a pure function (no allocation, no global state) so that the
 * supervisor can link it to check a --qubesdb file before starting, and
 * so that it can be fuzzed on its own. The caller fails closed on error:
 * a client with any unparsable rule drops everything (Qubes' contract).
 *
 * What is accepted follows the parser the stock sys-firewall runs
 * (qubes-core-agent-linux qubesagent/firewall.py) where dom0's output can
 * reach it, and is stricter where that parser would crash or hand garbage
 * to nft:
 *  - options in any order (firewall.py builds a dict); dom0 writes them
 *    in the order action, dst4/dst6/dsthost, proto, specialtarget,
 *    dstports, icmptype;
 *  - exactly one space between options, exactly one '=' per option;
 *  - a repeated option is an error (the spec forbids it; firewall.py
 *    would silently keep the last one);
 *  - options other than action, dst4, dst6, dsthost, proto, dstports,
 *    specialtarget, icmptype are errors (so are dpi, expire, comment);
 *  - at most one of dst4, dst6, dsthost;
 *  - dstports needs proto=tcp or udp, icmptype needs proto=icmp, as
 *    dom0's Rule class enforces; specialtarget=dns cannot take proto=icmp;
 *  - dst4/dst6 with or without /prefix (a bare address is /32 or /128);
 *    host bits beyond the prefix are cleared, as iptables and nft do,
 *    because dom0 does not refuse them;
 *  - dstports as LO-HI (dom0's form) or a single port, 0..65535, LO <= HI;
 *  - icmptype 0..255; dsthost 1..253 characters of a-z 0-9 - . _
 *    (dom0's safe set), see below.
 * specialtarget=dns with dstports other than 53-53 parses but never
 * matches, as in firewall.py, which skips such a rule.
 *
 * dsthost: dom0 stores anything of its safe set that inet_pton does not
 * read as an address; firewall.py hands it to getaddrinfo(), so:
 *  - a name the C library's inet_aton reads as an IPv4 address
 *    ("010.0.0.1" is 8.0.0.1, "1.2.3" is 1.2.0.3, "0x7f.1", "3232235777")
 *    is that address, never looked up: numeric is set and addr/plen hold
 *    it as a /32 (a DNS lookup would fail and skip a drop rule);
 *  - what Python's IDNA step refuses (an empty label: ".", "a..b", ".a";
 *    a label over 63) and what the resolver cannot send (over 253) is an
 *    error, so the client fails closed as it does on sys-firewall;
 *  - a name whose last label starts with a digit but that inet_aton does
 *    not read ("256.1.1.1", "1.2.3.4.5", "08.1.2.3") is an error too: no
 *    such name exists in the DNS (top-level labels are alphabetic, RFC
 *    1123 2.1), so sys-firewall's lookup fails and cuts the client off;
 *  - one trailing dot is allowed ("example.com."), as there.
 * A prefix length with a leading zero ("/010") is refused with its own
 * reason: nftables on sys-firewall would read it as octal (/8), a wider
 * network than written.
 */
#ifndef MOAT_QRULE_H
#define MOAT_QRULE_H

#include <stddef.h>
#include <stdint.h>

#define QR_HOST_MAX	253

enum qr_action { QR_ACCEPT = 1, QR_DROP = 2 };
enum qr_dst { QR_DST_ANY = 0, QR_DST4, QR_DST6, QR_DSTHOST };

struct qrule {
	uint8_t		action;		/* enum qr_action */
	uint8_t		proto;		/* 0 any, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP */
	uint8_t		dst;		/* enum qr_dst */
	uint8_t		plen;		/* QR_DST4/6: prefix length */
	uint8_t		addr[16];	/* QR_DST4/6: network order, host bits clear */
	uint8_t		specialdns;	/* specialtarget=dns */
	uint8_t		has_ports;
	uint8_t		never;		/* parses, but can never match */
	uint8_t		has_icmptype;
	uint8_t		numeric;	/* QR_DSTHOST read as IPv4: addr, plen 32 */
	uint16_t	plo, phi;
	uint8_t		icmptype;
	char		host[QR_HOST_MAX + 1];	/* QR_DSTHOST, NUL-terminated */
};

/*
 * Parse len bytes of s (need not be NUL-terminated). Returns 0 and fills
 * *r, or -1 with a one-line reason in err (always terminated).
 */
int	qrule_parse(const char *s, size_t len, struct qrule *r, char *err,
	    size_t errlen);
/* The policy key's value: "accept" or "drop". Returns the action, or -1. */
int	qrule_policy(const char *s, size_t len);
/* Format r back into dom0's canonical option order; returns snprintf's count. */
int	qrule_format(const struct qrule *r, char *buf, size_t size);

/* Strict address and port helpers, shared with the JSON loader. */
/* "a.b.c.d" (no leading zeros) into 4 bytes; 0 or -1. */
int	qr_parse_ip4(const char *s, size_t len, uint8_t out[4]);
/* inet_pton(AF_INET6) over a bounded copy; 0 or -1. */
int	qr_parse_ip6(const char *s, size_t len, uint8_t out[16]);
/* Decimal without sign or leading zeros, <= max; 0 or -1. */
int	qr_parse_dec(const char *s, size_t len, uint32_t max, uint32_t *out);
/*
 * "ADDR" or "ADDR/LEN" of the given family (4 or 6). *hostbits is set
 * when bits beyond the prefix were set (they are cleared in out).
 */
int	qr_parse_prefix(int family, const char *s, size_t len, uint8_t out[16],
	    uint8_t *plen, int *hostbits);
/* "N" or "LO-HI"; 0 or -1 (with lo > hi an error). */
int	qr_parse_ports(const char *s, size_t len, uint16_t *lo, uint16_t *hi);
/*
 * The whole of s as glibc's inet_aton reads an IPv4 address (1 to 4 parts,
 * each decimal, 0-prefixed octal or 0x-prefixed hex; the last part fills
 * the remaining bytes), without inet_aton's leniency for trailing
 * whitespace and garbage (getaddrinfo does not have it either). 0 or -1.
 */
int	qr_parse_aton(const char *s, size_t len, uint8_t out[4]);
/*
 * A DNS name for dsthost: 1..253 of [a-z0-9-._], labels of 1..63 with one
 * trailing dot allowed, and neither an IPv4 address for inet_aton nor
 * ending in a label that starts with a digit. 0 or -1.
 */
int	qr_valid_host(const char *s, size_t len);
/*
 * Formats a parse error into err (errlen bytes; none when 0) and returns
 * -1, so that every rule parser can end with "return qr_errf(...)".
 */
/* A keyword and its value, in tables ended by a NULL keyword. */
struct qr_word {
	const char	*s;
	int		 v;
};
/* The value of s in table w; -1 when s is none of its keywords. */
int	qr_word(const struct qr_word *w, const char *s);
/*
 * qr_parse_prefix for the JSON field key of rule ri, refusing host bits;
 * on error the message is in err and -1 returned.
 */
int	qr_rule_prefix(size_t ri, const char *key, int family, const char *s,
	    size_t len, uint8_t out[16], uint8_t *plen, char *err, size_t errlen);
int	qr_errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
