/*
 * test_natd_options.c: natd's options are strictly parsed; a bad one
 * stops natd with a message naming it, before anything else happens.
 */
#include "run_testlib.h"

static char natd[4096];
static char out[4096];

/* natd runs without its control channel (fd 3). */
#define REFUSED(what, ...)	RUN_SAYS(natd, 1, out, 1, what, __VA_ARGS__)

static void
test_bad_options(void)
{
	REFUSED("unknown option: --bogus", "--bogus", "1");
	REFUSED("missing value for: --flows", "--flows");
	REFUSED("--flows wants a number in 16..1048576, not 'abc'", "--flows", "abc");
	REFUSED("--flows wants a number", "--flows", "5");
	REFUSED("--flows wants a number", "--flows", "2000000");
	REFUSED("--flows wants a number", "--flows", "100x");
	REFUSED("--timeout-udp wants a number", "--timeout-udp", "0");
	REFUSED("--pending-max wants a number", "--pending-max", "-1");
	REFUSED("--client-quota 5000 is larger than --flows 4096",
	    "--flows", "4096", "--client-quota", "5000");
}

static void
test_good_options(void)
{
	/* Accepted: natd goes on to look for its control channel. */
	const char *const a[] = { "--flows", "4096", "--client-quota", "100",
	    "--timeout-tcp-syn", "60", "--timeout-tcp-established", "432000",
	    "--timeout-tcp-closing", "120", "--timeout-udp", "30",
	    "--timeout-udp-stream", "120", "--timeout-icmp", "30",
	    "--pending-max", "64", NULL };

	T_EQ_INT(run_capture(natd, a, 1, out, sizeof(out)), 1);
	T_ASSERT(strstr(out, "not a control channel") != NULL);
}

int
main(void)
{
	if (built_prog(natd, sizeof(natd), "natd/natd", "natd options",
	    "natd binary not built")) {
		T_RUN(test_bad_options);
		T_RUN(test_good_options);
	}
	return t_done();
}
