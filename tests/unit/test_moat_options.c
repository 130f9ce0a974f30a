/*
 * test_moat_options.c: the supervisor's --client IFACE=IPV4[,IPV6] is
 * strictly parsed; a bad one stops moat with a message naming it, before
 * any daemon starts.
 */
#include "run_testlib.h"
#include "util.h"

static char moat[4096];
static char out[4096];

#define SAYS(status, what, ...)	RUN_SAYS(moat, 0, out, status, what, __VA_ARGS__)
/* Refused with status 2: the devnet options around the --client ones. */
#define DEVNET_SAYS(what, ...)	SAYS(2, what, "--backend", "devnet", "--uplink", "eth0", __VA_ARGS__)

static void
test_client_refused(void)
{
	DEVNET_SAYS("--client eth1=10.137.0.5,fe80::1: the IPv6 address is not a global",
	    "--client", "eth1=10.137.0.5,fe80::1");
	DEVNET_SAYS("--client eth1=10.137.0.5,ff02::1: the IPv6",
	    "--client", "eth1=10.137.0.5,ff02::1");
	DEVNET_SAYS("--client eth1=10.137.0.5,10.137.0.6: the IPv6",
	    "--client", "eth1=10.137.0.5,10.137.0.6");
	DEVNET_SAYS("--client eth1=10.137.0.5,: the IPv6",
	    "--client", "eth1=10.137.0.5,");
	DEVNET_SAYS("--client eth1=10.137.0.5,fd09::5,fd09::6: the IPv6",
	    "--client", "eth1=10.137.0.5,fd09::5,fd09::6");
	DEVNET_SAYS("--client eth1=fd09::5: the IPv4 address is not a dotted quad",
	    "--client", "eth1=fd09::5");
	DEVNET_SAYS("--client eth1=,fd09::5: the IPv4 address",
	    "--client", "eth1=,fd09::5");
	DEVNET_SAYS("--client eth1=10.137.0.5.10.137.0.5.1,fd09::5: the IPv4 address",
	    "--client", "eth1=10.137.0.5.10.137.0.5.1,fd09::5");
	/* two clients may not share an IPv6 address */
	DEVNET_SAYS("--client eth2=10.137.0.6,fd09:24ef:4179::a89:5: interface or address given twice",
	    "--client", "eth1=10.137.0.5,fd09:24ef:4179::a89:5",
	    "--client", "eth2=10.137.0.6,fd09:24ef:4179::a89:5");
}

static void
test_client_accepted(void)
{
	/* Parsed: moat goes on to the next check, which is about the
	 * backend, not the addresses. */
	SAYS(2, "--uplink and --client are for --backend devnet",
	    "--client", "eth1=10.137.0.5,fd09:24ef:4179::a89:5",
	    "--client", "eth2=10.137.0.6,2001:db8::6", "--client", "eth3=10.137.0.7");
}

static void
test_ip6_client_parse(void)
{
	uint8_t a[16];
	static const uint8_t want[16] = { 0xfd, 0x09, 0x24, 0xef, 0x41, 0x79,
	    [12] = 0x0a, [13] = 0x89, [15] = 0x05 };

	T_EQ_INT(ip6_client_parse("fd09:24ef:4179::a89:5", a), 0);
	T_ASSERT(memcmp(a, want, 16) == 0);
	T_EQ_INT(ip6_client_parse("2001:db8::1", a), 0);
	T_EQ_INT(ip6_client_parse("::", a), -1);
	T_EQ_INT(ip6_client_parse("::1", a), -1);
	T_EQ_INT(ip6_client_parse("fe80::1", a), -1);
	T_EQ_INT(ip6_client_parse("febf::1", a), -1);
	T_EQ_INT(ip6_client_parse("fec0::1", a), 0);
	T_EQ_INT(ip6_client_parse("ff02::1", a), -1);
	T_EQ_INT(ip6_client_parse("::ffff:10.0.0.1", a), -1);
	T_EQ_INT(ip6_client_parse("10.0.0.1", a), -1);
	T_EQ_INT(ip6_client_parse("fd09::5 ", a), -1);
	T_EQ_INT(ip6_client_parse("fd09::5/128", a), -1);
	T_EQ_INT(ip6_client_parse("", a), -1);
	T_EQ_INT(ip6_client_parse(NULL, a), -1);
}

int
main(void)
{
	T_RUN(test_ip6_client_parse);
	if (!built_prog(moat, sizeof(moat), "moat/moat", "moat options",
	    "moat binary not built"))
		return t_done();
	T_RUN(test_client_refused);
	T_RUN(test_client_accepted);
	return t_done();
}
