# natd/local.mk: owned by natd/.
# The engine is a library so the daemon, the unit tests, the fuzz targets
# and the benchmark all link the same code.
noinst_LIBRARIES += natd/libnatd.a
natd_libnatd_a_SOURCES = \
	natd/nat.h natd/nat_priv.h natd/nat_engine.c natd/nat_client.c \
	natd/nat_uplink.c natd/nat_ip6.c natd/nat_nd.c natd/nat_flow.c natd/nat_verdict.c natd/nat_frag.c \
	natd/nat_rewrite.c natd/nat_answer.c natd/nat_setup.c \
	natd/nat_dns.c natd/nat_dnslearn.c natd/nat_stats.c natd/nat_forward.c natd/flowtab.c natd/flowtab.h
# Per-client rate limits (issue 17).
natd_libnatd_a_SOURCES += natd/nat_rate.c
NATD_LIBS = natd/libnatd.a $(MOAT_COMMON_LIBS)
# The set-up shared by every program that drives the engine without natd.
NATD_HARNESS = tests/natd_harness.c tests/natd_harness.h

moatlibexec_PROGRAMS += natd/natd
natd_natd_SOURCES = natd/natd.c natd/natd.h natd/natd_ctl.c natd/natd_sandbox.c
natd_natd_LDADD = $(NATD_LIBS)

# The supervisor sizes the connection table's memfd with natd_flowtab_bytes().
moat_moat_SOURCES += natd/flowtab.c natd/flowtab.h

MOAT_UNIT_TESTS += tests/unit/test_natd tests/unit/test_natd_flowtab tests/unit/test_natd_dns \
	tests/unit/test_natd_options tests/unit/test_natd_forward tests/unit/test_natd_flows
tests_unit_test_natd_flows_SOURCES = tests/unit/test_natd_flows.c tests/unit/natd_testlib.h tests/unit/t.h \
	$(NATD_HARNESS)
tests_unit_test_natd_flows_LDADD = $(NATD_LIBS) $(JANSSON_LIBS)
tests_unit_test_natd_flows_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_natd_forward_SOURCES = tests/unit/test_natd_forward.c tests/unit/natd_testlib.h tests/unit/t.h \
	$(NATD_HARNESS)
tests_unit_test_natd_forward_LDADD = $(NATD_LIBS) $(JANSSON_LIBS)
tests_unit_test_natd_forward_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_natd_SOURCES = tests/unit/test_natd.c tests/unit/natd_testlib.h tests/unit/t.h \
	$(NATD_HARNESS)
tests_unit_test_natd_LDADD = $(NATD_LIBS) $(JANSSON_LIBS)
tests_unit_test_natd_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_natd_flowtab_SOURCES = tests/unit/test_natd_flowtab.c tests/unit/t.h
tests_unit_test_natd_flowtab_LDADD = $(NATD_LIBS)
tests_unit_test_natd_dns_SOURCES = tests/unit/test_natd_dns.c tests/unit/natd_testlib.h tests/unit/t.h \
	$(NATD_HARNESS)
tests_unit_test_natd_dns_LDADD = $(NATD_LIBS)
MOAT_UNIT_TESTS += tests/unit/test_natd_ip6
tests_unit_test_natd_ip6_SOURCES = tests/unit/test_natd_ip6.c tests/unit/natd_testlib.h \
	tests/unit/t.h $(NATD_HARNESS)
tests_unit_test_natd_ip6_LDADD = $(NATD_LIBS)
# Runs the natd binary with bad options.
tests_unit_test_natd_options_SOURCES = tests/unit/test_natd_options.c tests/unit/t.h

# Fuzz targets: frames into the engine, and the DNS answer parser; their
# seed corpora are replayed as unit tests in every build.
MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_natd tests/fuzz/fuzz_dns
EXTRA_PROGRAMS += tests/fuzz/fuzz_natd tests/fuzz/fuzz_dns
tests_fuzz_fuzz_natd_SOURCES = tests/fuzz/fuzz_natd.c $(NATD_HARNESS)
tests_fuzz_fuzz_natd_LDADD = $(NATD_LIBS)
tests_fuzz_fuzz_natd_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_dns_SOURCES = tests/fuzz/fuzz_dns.c
tests_fuzz_fuzz_dns_LDADD = $(NATD_LIBS)
tests_fuzz_fuzz_dns_LDFLAGS = -fsanitize=fuzzer
MOAT_UNIT_TESTS += tests/fuzz/replay_natd tests/fuzz/replay_dns
tests_fuzz_replay_natd_SOURCES = tests/fuzz/fuzz_natd.c tests/fuzz/replay.c $(NATD_HARNESS)
tests_fuzz_replay_natd_LDADD = $(NATD_LIBS)
tests_fuzz_replay_dns_SOURCES = tests/fuzz/fuzz_dns.c tests/fuzz/replay.c
tests_fuzz_replay_dns_LDADD = $(NATD_LIBS)
EXTRA_DIST += tests/fuzz/corpus/natd tests/fuzz/corpus/dns

MOAT_BENCHES += tests/bench/bench_natd
EXTRA_PROGRAMS += tests/bench/bench_natd
tests_bench_bench_natd_SOURCES = tests/bench/bench_natd.c $(NATD_HARNESS)
tests_bench_bench_natd_LDADD = $(NATD_LIBS)

# net.fake-ip (issue 14): its own file, and its unit test.
natd_libnatd_a_SOURCES += natd/nat_fakeip.c
MOAT_UNIT_TESTS += tests/unit/test_natd_fakeip
tests_unit_test_natd_fakeip_SOURCES = tests/unit/test_natd_fakeip.c tests/unit/natd_testlib.h tests/unit/t.h \
	$(NATD_HARNESS)
tests_unit_test_natd_fakeip_LDADD = $(NATD_LIBS)
# Hostile frames through the translation: the mapped client never sees its
# real address; the seeds are replayed in every build.
MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_fakeip
EXTRA_PROGRAMS += tests/fuzz/fuzz_fakeip
tests_fuzz_fuzz_fakeip_SOURCES = tests/fuzz/fuzz_fakeip.c $(NATD_HARNESS)
tests_fuzz_fuzz_fakeip_LDADD = $(NATD_LIBS)
tests_fuzz_fuzz_fakeip_LDFLAGS = -fsanitize=fuzzer
MOAT_UNIT_TESTS += tests/fuzz/replay_fakeip
tests_fuzz_replay_fakeip_SOURCES = tests/fuzz/fuzz_fakeip.c tests/fuzz/replay.c $(NATD_HARNESS)
tests_fuzz_replay_fakeip_LDADD = $(NATD_LIBS)
EXTRA_DIST += tests/fuzz/corpus/fakeip
MOAT_UNIT_TESTS += tests/unit/test_natd_rate
tests_unit_test_natd_rate_SOURCES = tests/unit/test_natd_rate.c tests/unit/natd_testlib.h tests/unit/t.h \
	$(NATD_HARNESS)
tests_unit_test_natd_rate_LDADD = $(NATD_LIBS)
