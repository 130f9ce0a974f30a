/*
 * test_policy_qrule.c: golden tests for the Qubes rule grammar: every form
 * dom0 writes parses and prints back canonically; every malformed form is
 * refused with a reason a user can act on.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "t.h"
#include "policyd/qrule.h"
#include "tests/testutil.h"

/* Parses, and formats to the canonical text want. */
static int
ok_form(const char *in, const char *want)
{
	struct qrule r;
	char err[256], out[512];

	if (qrule_parse(in, strlen(in), &r, err, sizeof err) != 0) {
		printf("# \"%s\" refused: %s\n", in, err);
		return 0;
	}
	qrule_format(&r, out, sizeof out);
	if (strcmp(out, want) != 0) {
		printf("# \"%s\" -> \"%s\", want \"%s\"\n", in, out, want);
		return 0;
	}
	return 1;
}

/* Refused, and the reason contains why. */
static int
bad_form(const char *in, size_t len, const char *why)
{
	struct qrule r;
	char err[256];

	if (qrule_parse(in, len, &r, err, sizeof err) == 0) {
		printf("# \"%s\" accepted\n", in);
		return 0;
	}
	if (strstr(err, why) == NULL) {
		printf("# \"%s\": reason \"%s\" lacks \"%s\"\n", in, err, why);
		return 0;
	}
	return 1;
}
#define BAD(s, why)	T_EXPECT(bad_form((s), strlen(s), (why)))

static void
test_valid_forms(void)
{
	static const char *const same[] = {
		"action=accept",
		"action=drop",
		"action=accept dst4=8.8.8.8/32 proto=udp dstports=53-53",
		"action=drop dst6=2a00:1450:4000::/37 proto=tcp",
		"action=drop proto=tcp specialtarget=dns",
		"action=accept specialtarget=dns",
		"action=accept proto=udp specialtarget=dns dstports=53-53",
		"action=drop proto=icmp",
		"action=accept proto=icmp icmptype=8",
		"action=accept proto=icmp icmptype=0",
		"action=accept proto=icmp icmptype=255",
		"action=accept dsthost=www.example.com proto=tcp dstports=443-443",
		"action=drop dsthost=ads-1_x.example",
		"action=accept dst4=10.0.0.0/8",
		"action=accept dst4=0.0.0.0/0",
		"action=accept dst6=::/0",
		"action=accept proto=tcp dstports=0-65535",
		"action=accept proto=udp dstports=1024-2048",
		"action=accept dst4=192.0.2.0/24 proto=tcp specialtarget=dns dstports=53-53",
	};
	size_t i;

	for (i = 0; i < sizeof same / sizeof same[0]; i++)
		T_EXPECT(ok_form(same[i], same[i]));
	/* normalised forms */
	T_EXPECT(ok_form("action=accept dst4=192.168.1.1", "action=accept dst4=192.168.1.1/32"));
	T_EXPECT(ok_form("action=accept dst6=::1", "action=accept dst6=::1/128"));
	T_EXPECT(ok_form("action=accept dst6=2001:DB8::1/64", "action=accept dst6=2001:db8::/64"));
	/* dom0 does not refuse host bits; they are cleared like iptables does */
	T_EXPECT(ok_form("action=accept dst4=192.168.1.77/24", "action=accept dst4=192.168.1.0/24"));
	T_EXPECT(ok_form("action=accept proto=tcp dstports=80", "action=accept proto=tcp dstports=80-80"));
}

/* firewall.py builds a dict: the order of options does not matter. */
static void
test_any_order(void)
{
	T_EXPECT(ok_form("proto=tcp action=accept dstports=22-22 dst4=1.2.3.4/32",
	    "action=accept dst4=1.2.3.4/32 proto=tcp dstports=22-22"));
	T_EXPECT(ok_form("icmptype=3 proto=icmp action=drop",
	    "action=drop proto=icmp icmptype=3"));
	T_EXPECT(ok_form("specialtarget=dns action=accept",
	    "action=accept specialtarget=dns"));
}

static void
test_specialtarget_other_port_never_matches(void)
{
	struct qrule r;
	char err[128];
	const char *s = "action=accept proto=tcp specialtarget=dns dstports=80-80";

	T_ASSERT(qrule_parse(s, strlen(s), &r, err, sizeof err) == 0);
	T_EXPECT(r.never == 1);
	s = "action=accept proto=tcp specialtarget=dns dstports=53-53";
	T_ASSERT(qrule_parse(s, strlen(s), &r, err, sizeof err) == 0);
	T_EXPECT(r.never == 0);
}

static void
test_fields(void)
{
	struct qrule r;
	char err[128];
	const char *s = "action=accept dst4=10.1.2.0/23 proto=udp dstports=5-7";
	const uint8_t want[4] = { 10, 1, 2, 0 };

	T_ASSERT(qrule_parse(s, strlen(s), &r, err, sizeof err) == 0);
	T_EQ_INT(r.action, QR_ACCEPT);
	T_EQ_INT(r.dst, QR_DST4);
	T_EQ_INT(r.plen, 23);
	T_EQ_MEM(r.addr, want, 4);
	T_EQ_INT(r.proto, IPPROTO_UDP);
	T_EQ_INT(r.has_ports, 1);
	T_EQ_INT(r.plo, 5);
	T_EQ_INT(r.phi, 7);
}

static void
test_structure_errors(void)
{
	BAD("", "empty rule");
	BAD("proto=tcp", "no action");
	BAD("action=accept  proto=tcp", "empty option");
	BAD(" action=accept", "empty option");
	BAD("action=accept ", "empty option");
	BAD("action=accept proto", "has no '='");
	BAD("action=accept\tproto=tcp", "more than one '='");
	BAD("action=accept proto=tcp=udp", "more than one '='");
	BAD("action=accept =tcp", "unknown option");
	BAD("action=accept proto=", "empty value");
	BAD("action=accept action=drop", "given twice");
	BAD("action=accept proto=tcp proto=udp", "given twice");
	T_EXPECT(bad_form("action=accept\0 proto=tcp", 24, "action"));
}

static void
test_unknown_options(void)
{
	BAD("action=accept dpi=NO", "unknown option \"dpi\"");
	BAD("action=accept expire=1700000000", "unknown option \"expire\"");
	BAD("action=accept comment=hello", "unknown option \"comment\"");
	BAD("action=accept dstname=example.com", "unknown option \"dstname\"");
	BAD("Action=accept", "unknown option");
}

static void
test_value_errors(void)
{
	BAD("action=allow", "must be accept or drop");
	BAD("action=ACCEPT", "must be accept or drop");
	BAD("action=reject", "must be accept or drop");
	BAD("action=accept proto=sctp", "tcp, udp or icmp");
	BAD("action=accept proto=TCP", "tcp, udp or icmp");
	BAD("action=accept specialtarget=ntp", "only dns");
	BAD("action=accept dsthost=Example.com", "dsthost");
	BAD("action=accept dsthost=a/b", "dsthost");
	BAD("action=accept dsthost=a:b", "dsthost");
}

/* dsthost=S parses as the IPv4 address want (dotted), kept as typed. */
static int
numeric_host(const char *host, const char *want)
{
	struct qrule r;
	char in[300], err[256], out[512], got[INET_ADDRSTRLEN];

	snprintf(in, sizeof in, "action=drop dsthost=%s", host);
	if (qrule_parse(in, strlen(in), &r, err, sizeof err) != 0) {
		printf("# \"%s\" refused: %s\n", in, err);
		return 0;
	}
	inet_ntop(AF_INET, r.addr, got, sizeof got);
	if (r.dst != QR_DSTHOST || !r.numeric || r.plen != 32 ||
	    strcmp(got, want) != 0) {
		printf("# \"%s\": dst %u numeric %u /%u %s, want %s\n", in, r.dst,
		    r.numeric, r.plen, got, want);
		return 0;
	}
	qrule_format(&r, out, sizeof out);
	if (strcmp(out, in) != 0) {
		printf("# \"%s\" formats as \"%s\"\n", in, out);
		return 0;
	}
	return 1;
}

/*
 * A dsthost the C library reads as an IPv4 address (issue 18): dom0 stores
 * it as a name, sys-firewall's getaddrinfo() turns it into the address
 * inet_aton gives, with no DNS lookup. moat reads the same address.
 */
static void
test_dsthost_numeric(void)
{
	struct qrule r;
	char err[256];
	const char *s;

	T_EXPECT(numeric_host("010.0.0.1", "8.0.0.1"));
	T_EXPECT(numeric_host("1.2.3", "1.2.0.3"));
	T_EXPECT(numeric_host("0x7f.1", "127.0.0.1"));
	T_EXPECT(numeric_host("3232235777", "192.168.1.1"));
	T_EXPECT(numeric_host("0xc6.51.100.20", "198.51.100.20"));
	T_EXPECT(numeric_host("3325256724", "198.51.100.20"));
	T_EXPECT(numeric_host("0", "0.0.0.0"));
	T_EXPECT(numeric_host("0x0", "0.0.0.0"));
	T_EXPECT(numeric_host("4294967295", "255.255.255.255"));
	T_EXPECT(numeric_host("037777777777", "255.255.255.255"));
	T_EXPECT(numeric_host("1.16777215", "1.255.255.255"));
	T_EXPECT(numeric_host("1.2.65535", "1.2.255.255"));
	T_EXPECT(numeric_host("0377.0xff.0.0377", "255.255.0.255"));
	T_EXPECT(numeric_host("00000000000000000000001.2.3.4", "1.2.3.4"));
	/* the plain dotted form dom0 turns into dst4 is read the same */
	T_EXPECT(numeric_host("192.0.2.1", "192.0.2.1"));
	/* a real name stays a name */
	s = "action=drop dsthost=1e100.net";
	T_ASSERT(qrule_parse(s, strlen(s), &r, err, sizeof err) == 0);
	T_EXPECT(r.numeric == 0);
	s = "action=drop dsthost=0x7f.example";
	T_ASSERT(qrule_parse(s, strlen(s), &r, err, sizeof err) == 0);
	T_EXPECT(r.numeric == 0);
}

/*
 * Names that look like numbers but that inet_aton refuses: sys-firewall
 * looks them up, no DNS name ends in a label starting with a digit, the
 * lookup fails and the client is cut off. moat refuses the rule set.
 */
static void
test_dsthost_number_like_refused(void)
{
	static const char *const bad[] = {
		"256.1.1.1", "1.2.3.4.5", "08.1.2.3", "1.2.3.08", "09",
		"4294967296", "1.16777216", "1.2.65536", "1.2.3.256",
		"0x100.1", "0x", "0x.1", "0xg", "1.0x", "1.2.3.4.",
		"99999999999999999999999", "0x1ffffffff", "1.2.3.4a", "3com",
	};
	char in[300];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(in, sizeof in, "action=drop dsthost=%s", bad[i]);
		T_EXPECT(bad_form(in, strlen(in), "starts with a digit"));
	}
}

/*
 * Host names sys-firewall cannot resolve however the DNS answers (Python's
 * IDNA step in firewall.py refuses empty and over-long labels; the
 * resolver cannot send a name over 253): refused at parse time, so a
 * malformed drop rule fails closed instead of being skipped.
 */
static void
test_dsthost_malformed(void)
{
	char in[400], name[300];

	BAD("action=drop dsthost=a..b", "empty label");
	BAD("action=drop dsthost=.", "empty label");
	BAD("action=drop dsthost=..", "empty label");
	BAD("action=drop dsthost=.example.com", "empty label");
	BAD("action=drop dsthost=example.com..", "empty label");
	BAD("action=drop dsthost=a...b", "empty label");
	/* one trailing dot is the root, as firewall.py lets it through */
	T_EXPECT(ok_form("action=drop dsthost=example.com.",
	    "action=drop dsthost=example.com."));
	/* labels: 63 is fine, 64 is not (first, middle and last label) */
	memset(name, 'a', 63);
	name[63] = '\0';
	snprintf(in, sizeof in, "action=drop dsthost=%s.example", name);
	T_EXPECT(ok_form(in, in));
	snprintf(in, sizeof in, "action=drop dsthost=x.%s", name);
	T_EXPECT(ok_form(in, in));
	memset(name, 'a', 64);
	name[64] = '\0';
	snprintf(in, sizeof in, "action=drop dsthost=%s.example", name);
	BAD(in, "longer than 63");
	snprintf(in, sizeof in, "action=drop dsthost=x.%s.example", name);
	BAD(in, "longer than 63");
	snprintf(in, sizeof in, "action=drop dsthost=x.%s", name);
	BAD(in, "longer than 63");
	snprintf(in, sizeof in, "action=drop dsthost=%s", name);
	BAD(in, "longer than 63");
	/* the whole name: 253 is fine, 254 is not */
	memset(name, 'a', 253);
	for (size_t i = 50; i < 253; i += 51)
		name[i] = '.';
	name[253] = '\0';
	snprintf(in, sizeof in, "action=drop dsthost=%s", name);
	T_EXPECT(ok_form(in, in));
	name[253] = 'a';
	name[254] = '\0';
	snprintf(in, sizeof in, "action=drop dsthost=%s", name);
	BAD(in, "at most 253");
	/* the JSON loader's check refuses the same, and the numeric forms */
	T_EXPECT(qr_valid_host("a..b", 4) == -1);
	T_EXPECT(qr_valid_host(".", 1) == -1);
	T_EXPECT(qr_valid_host("010.0.0.1", 9) == -1);
	T_EXPECT(qr_valid_host("3232235777", 10) == -1);
	T_EXPECT(qr_valid_host("256.1.1.1", 9) == -1);
	T_EXPECT(qr_valid_host("www.example.com", 15) == 0);
	T_EXPECT(qr_valid_host("www.example.com.", 16) == 0);
}

/*
 * A prefix length with a leading zero: dom0 stores it as typed, nftables
 * on sys-firewall reads it as octal (a wider network). Refused, with a
 * reason that says so (policyd logs it with the client and rule number).
 */
static void
test_prefix_leading_zero(void)
{
	BAD("action=accept dst4=1.2.3.4/010", "leading zero");
	BAD("action=accept dst4=1.2.3.4/010", "(/8)");
	BAD("action=drop dst4=10.0.0.0/024", "(/20)");
	BAD("action=drop dst6=2001:db8::/064", "(/52)");
	BAD("action=drop dst6=2001:db8::/0100", "(/64)");
	BAD("action=accept dst4=1.2.3.4/09", "not as written");
	BAD("action=accept dst4=1.2.3.4/00", "octal (/0)");
	BAD("action=accept dst4=1.2.3.4/07", "octal (/7)");
	BAD("action=accept dst4=1.2.3.4/077", "octal, not as written");
	BAD("action=drop dst6=::/0777", "octal, not as written");
	/* no leading zero, or a bad address: the usual reason */
	T_EXPECT(ok_form("action=accept dst4=1.2.3.4/0", "action=accept dst4=0.0.0.0/0"));
	BAD("action=accept dst4=1.2.3/010", "not an IPv4");
	BAD("action=accept dst4=1.2.3.4/0x8", "not an IPv4");
}

/* inet_aton's reading, exact (no trailing text), or -1: the oracle. */
static int
libc_aton(const char *s, uint8_t out[4])
{
	struct addrinfo hints = { .ai_family = AF_INET,
	    .ai_flags = AI_NUMERICHOST }, *res = NULL;
	struct in_addr a;
	int ok_aton, ok_gai;

	/* glibc's getaddrinfo reads numbers with the exact inet_aton; the
	 * plain inet_aton also takes "1.2.3.4 anything": the two agree on
	 * strings without white space. */
	ok_aton = inet_aton(s, &a) == 1 && strpbrk(s, " \t\n\v\f\r") == NULL;
	ok_gai = getaddrinfo(s, NULL, &hints, &res) == 0;
	if (ok_gai) {
		struct in_addr g = ((struct sockaddr_in *)res->ai_addr)->sin_addr;

		freeaddrinfo(res);
		if (!ok_aton || g.s_addr != a.s_addr)
			return -2;	/* the oracles disagree */
	} else if (ok_aton)
		return -2;
	if (!ok_aton)
		return -1;
	memcpy(out, &a, 4);
	return 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)((tu_xorshift64(&rng) >> 11) % n);
}

/* Compare qr_parse_aton with the C library on s; 1 if they agree. */
static int
same_as_libc(const char *s)
{
	uint8_t a[4] = { 0 }, b[4] = { 0 };
	int want = libc_aton(s, a), got = qr_parse_aton(s, strlen(s), b);

	if (want == -2) {
		printf("# oracles disagree on \"%s\"\n", s);
		return 0;
	}
	if (want != got || (got == 0 && memcmp(a, b, 4) != 0)) {
		printf("# \"%s\": libc %d %u.%u.%u.%u, ours %d %u.%u.%u.%u\n", s,
		    want, a[0], a[1], a[2], a[3], got, b[0], b[1], b[2], b[3]);
		return 0;
	}
	return 1;
}

/* One part as inet_aton might see it: decimal, octal or hex, near a limit. */
static void
rand_part(char *buf, size_t size)
{
	static const uint64_t edge[] = { 0, 1, 7, 8, 9, 10, 0xff, 0x100, 0xffff,
	    0x10000, 0xffffff, 0x1000000, 0xffffffff, 0x100000000ull,
	    0xfffffffffull };
	uint64_t v = rnd(2) ? edge[rnd(sizeof edge / sizeof edge[0])] :
	    (rnd(2) ? rnd(300) : ((uint64_t)rnd(1u << 31) << rnd(3)));
	int zeros = rnd(6) == 0 ? (int)rnd(25) : 0;

	switch (rnd(3)) {
	case 0:
		snprintf(buf, size, "%llu", (unsigned long long)v);
		break;
	case 1:
		snprintf(buf, size, "0%.*d%llo", zeros, 0, (unsigned long long)v);
		break;
	default:
		snprintf(buf, size, rnd(2) ? "0%c%.*d%llx" : "0%c%.*d%llX",
		    rnd(4) ? 'x' : 'X', zeros, 0, (unsigned long long)v);
		break;
	}
}

static void
test_aton_against_libc(void)
{
	static const char alpha[] = "0123456789abcdefxX.g- \t";
	static const char small[] = "0189x.a";
	char s[128], part[40];
	unsigned long n = 0, bad = 0, valid = 0;
	size_t i, k, len;

	/* every string up to 5 characters over a small alphabet */
	for (len = 0; len <= 5; len++) {
		unsigned long total = 1, c;

		for (k = 0; k < len; k++)
			total *= sizeof small - 1;
		for (c = 0; c < total; c++) {
			unsigned long x = c;

			for (k = 0; k < len; k++, x /= sizeof small - 1)
				s[k] = small[x % (sizeof small - 1)];
			s[len] = '\0';
			n++;
			if (!same_as_libc(s) && ++bad > 20)
				goto out;
		}
	}
	/* parts near the limits, 1 to 5 of them, sometimes mutated */
	for (i = 0; i < 200000; i++) {
		unsigned parts = 1 + rnd(5), p;

		s[0] = '\0';
		for (p = 0; p < parts; p++) {
			rand_part(part, sizeof part);
			if (strlen(s) + strlen(part) + 2 >= sizeof s)
				break;
			if (p > 0)
				strcat(s, ".");
			strcat(s, part);
		}
		len = strlen(s);
		if (rnd(3) == 0 && len > 0) {
			size_t at = rnd((uint32_t)len);

			switch (rnd(3)) {
			case 0:
				s[at] = alpha[rnd(sizeof alpha - 1)];
				break;
			case 1:
				memmove(s + at, s + at + 1, len - at);
				break;
			default:
				if (len + 1 < sizeof s) {
					memmove(s + at + 1, s + at, len - at + 1);
					s[at] = alpha[rnd(sizeof alpha - 1)];
				}
			}
		}
		n++;
		valid += qr_parse_aton(s, strlen(s), (uint8_t[4]){ 0 }) == 0;
		if (!same_as_libc(s) && ++bad > 20)
			goto out;
	}
	/* random text */
	for (i = 0; i < 100000; i++) {
		len = rnd(24);
		for (k = 0; k < len; k++)
			s[k] = alpha[rnd(sizeof alpha - 1)];
		s[len] = '\0';
		n++;
		if (!same_as_libc(s) && ++bad > 20)
			goto out;
	}
out:
	printf("# %lu strings compared with inet_aton and getaddrinfo, %lu "
	    "addresses, %lu disagreements\n", n, valid, bad);
	T_EXPECT(bad == 0);
	/* the search must reach both sides */
	T_EXPECT(valid > 20000 && valid < 180000);
}

static void
test_address_errors(void)
{
	BAD("action=accept dst4=1.2.3/24", "not an IPv4");
	BAD("action=accept dst4=1.2.3.4.5", "not an IPv4");
	BAD("action=accept dst4=256.1.1.1", "not an IPv4");
	BAD("action=accept dst4=01.2.3.4", "not an IPv4");
	BAD("action=accept dst4=1.2.3.4/", "not an IPv4");
	BAD("action=accept dst4=1.2.3.4/33", "not an IPv4");
	BAD("action=accept dst4=1.2.3.4/-1", "not an IPv4");
	BAD("action=accept dst4=1.2.3.4/08", "leading zero");
	BAD("action=accept dst4=1.2.3.4/24/1", "not an IPv4");
	BAD("action=accept dst4=0x01.2.3.4", "not an IPv4");
	BAD("action=accept dst4=::1", "not an IPv4");
	BAD("action=accept dst6=1.2.3.4", "not an IPv6");
	BAD("action=accept dst6=::1/129", "not an IPv6");
	BAD("action=accept dst6=fe80::1%eth0", "not an IPv6");
	BAD("action=accept dst6=1:2:3:4:5:6:7:8:9", "not an IPv6");
	BAD("action=accept dst4=1.2.3.4/32 dsthost=a.com", "more than one of");
	BAD("action=accept dst4=1.2.3.4/32 dst6=::1/128", "more than one of");
}

static void
test_port_and_icmp_errors(void)
{
	BAD("action=accept dstports=80-80", "needs proto=tcp or proto=udp");
	BAD("action=accept proto=icmp dstports=80-80", "needs proto=tcp");
	BAD("action=accept proto=tcp dstports=80-79", "LO <= HI");
	BAD("action=accept proto=tcp dstports=65536", "dstports");
	BAD("action=accept proto=tcp dstports=1-65536", "dstports");
	BAD("action=accept proto=tcp dstports=1-2-3", "dstports");
	BAD("action=accept proto=tcp dstports=-1", "dstports");
	BAD("action=accept proto=tcp dstports=80-", "dstports");
	BAD("action=accept proto=tcp dstports=http", "dstports");
	BAD("action=accept proto=tcp icmptype=8", "needs proto=icmp");
	BAD("action=accept icmptype=8", "needs proto=icmp");
	BAD("action=accept proto=icmp icmptype=256", "0..255");
	BAD("action=accept proto=icmp icmptype=-1", "0..255");
	BAD("action=accept proto=icmp specialtarget=dns", "cannot be proto=icmp");
}

static void
test_policy_values(void)
{
	T_EQ_INT(qrule_policy("accept", 6), QR_ACCEPT);
	T_EQ_INT(qrule_policy("drop", 4), QR_DROP);
	T_EQ_INT(qrule_policy("reject", 6), -1);
	T_EQ_INT(qrule_policy("", 0), -1);
	T_EQ_INT(qrule_policy("ACCEPT", 6), -1);
	T_EQ_INT(qrule_policy("dropx", 5), -1);
}

static void
test_long_input_quoted_safely(void)
{
	char in[2000], err[64];
	struct qrule r;

	memset(in, 'x', sizeof in);
	memcpy(in, "action=accept dsthost=", 22);
	T_EXPECT(qrule_parse(in, sizeof in, &r, err, sizeof err) == -1);
	T_EXPECT(strlen(err) < sizeof err);
	T_EXPECT(strstr(err, "dsthost") != NULL);
}

int
main(void)
{
	T_RUN(test_valid_forms);
	T_RUN(test_any_order);
	T_RUN(test_specialtarget_other_port_never_matches);
	T_RUN(test_fields);
	T_RUN(test_structure_errors);
	T_RUN(test_unknown_options);
	T_RUN(test_value_errors);
	T_RUN(test_dsthost_numeric);
	T_RUN(test_dsthost_number_like_refused);
	T_RUN(test_dsthost_malformed);
	T_RUN(test_prefix_leading_zero);
	T_RUN(test_aton_against_libc);
	T_RUN(test_address_errors);
	T_RUN(test_port_and_icmp_errors);
	T_RUN(test_policy_values);
	T_RUN(test_long_input_quoted_safely);
	return t_done();
}
