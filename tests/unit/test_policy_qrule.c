/*
 * test_policy_qrule.c: golden tests for the Qubes rule grammar: every form
 * dom0 writes parses and prints back canonically; every malformed form is
 * refused with a reason a user can act on.
 */
#include <netinet/in.h>
#include <string.h>

#include "t.h"
#include "policyd/qrule.h"

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
	BAD("action=accept dst4=1.2.3.4/08", "not an IPv4");
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
	T_RUN(test_address_errors);
	T_RUN(test_port_and_icmp_errors);
	T_RUN(test_policy_values);
	T_RUN(test_long_input_quoted_safely);
	return t_done();
}
