/*
 * test_moat_options.c: the supervisor's --client IFACE=IPV4[,IPV6] is
 * strictly parsed; a bad one stops moat with a message naming it, before
 * any daemon starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "t.h"
#include "util.h"

static char moat[4096];
static char out[4096];

/* Run moat with args (NULL-terminated); exit status, stderr in out. */
static int
run(const char *const *args)
{
	const char *argv[16];
	int p[2], st, i;
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	argv[0] = moat;
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (pipe(p) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(p[1], 2);
		dup2(p[1], 1);
		execv(moat, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define SAYS(status, what, ...) do { \
	const char *const a[] = { __VA_ARGS__, NULL }; \
	T_EQ_INT(run(a), status); \
	if (strstr(out, what) == NULL) { \
		printf("# output: %s\n", out); \
		T_ASSERT(strstr(out, what) != NULL); \
	} \
} while (0)

static void
test_client_refused(void)
{
	SAYS(2, "--client eth1=10.137.0.5,fe80::1: the IPv6 address is not a global",
	    "--backend", "devnet", "--uplink", "eth0", "--client", "eth1=10.137.0.5,fe80::1");
	SAYS(2, "--client eth1=10.137.0.5,ff02::1: the IPv6",
	    "--backend", "devnet", "--uplink", "eth0", "--client", "eth1=10.137.0.5,ff02::1");
	SAYS(2, "--client eth1=10.137.0.5,10.137.0.6: the IPv6",
	    "--backend", "devnet", "--uplink", "eth0", "--client", "eth1=10.137.0.5,10.137.0.6");
	SAYS(2, "--client eth1=10.137.0.5,: the IPv6",
	    "--backend", "devnet", "--uplink", "eth0", "--client", "eth1=10.137.0.5,");
	SAYS(2, "--client eth1=10.137.0.5,fd09::5,fd09::6: the IPv6",
	    "--backend", "devnet", "--uplink", "eth0", "--client", "eth1=10.137.0.5,fd09::5,fd09::6");
	SAYS(2, "--client eth1=fd09::5: the IPv4 address is not a dotted quad",
	    "--backend", "devnet", "--uplink", "eth0", "--client", "eth1=fd09::5");
	SAYS(2, "--client eth1=,fd09::5: the IPv4 address",
	    "--backend", "devnet", "--uplink", "eth0", "--client", "eth1=,fd09::5");
	SAYS(2, "--client eth1=10.137.0.5.10.137.0.5.1,fd09::5: the IPv4 address",
	    "--backend", "devnet", "--uplink", "eth0", "--client",
	    "eth1=10.137.0.5.10.137.0.5.1,fd09::5");
	/* two clients may not share an IPv6 address */
	SAYS(2, "--client eth2=10.137.0.6,fd09:24ef:4179::a89:5: interface or address given twice",
	    "--backend", "devnet", "--uplink", "eth0",
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
	const char *b = getenv("MOAT_BUILDDIR");

	T_RUN(test_ip6_client_parse);
	snprintf(moat, sizeof(moat), "%s/moat/moat", b ? b : ".");
	if (access(moat, X_OK) != 0) {
		t_skip("moat options", "moat binary not built");
		return t_done();
	}
	T_RUN(test_client_refused);
	T_RUN(test_client_accepted);
	return t_done();
}
