# policyd/local.mk: owned by policyd/.
#
# libqrule.a is the Qubes rule grammar alone: the supervisor links it to
# check a --qubesdb file before starting anything. libpolicy.a is the rest
# of the engine (JSON rules, index, DNS cache), shared by the daemon, its
# unit tests, the fuzz targets and the benchmark.
noinst_LIBRARIES += policyd/libqrule.a policyd/libpolicy.a
policyd_libqrule_a_SOURCES = policyd/qrule.c policyd/qrule.h
policyd_libpolicy_a_SOURCES = \
	policyd/engine.c policyd/engine.h policyd/rset.c \
	policyd/jrules.c policyd/jrules.h \
	policyd/forward.c policyd/forward.h \
	policyd/limit.c policyd/limit.h \
	policyd/dnscache.c policyd/dnscache.h \
	policyd/names.c policyd/names.h \
	policyd/flows.c policyd/policyd.h
policyd_libpolicy_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
POLICY_LIBS = policyd/libpolicy.a policyd/libqrule.a $(MOAT_COMMON_LIBS) $(JANSSON_LIBS)

moatlibexec_PROGRAMS += policyd/policyd
policyd_policyd_SOURCES = policyd/policyd.c policyd/policyd_sandbox.c
policyd_policyd_LDADD = $(POLICY_LIBS)
policyd_policyd_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)

MOAT_UNIT_TESTS += tests/unit/test_policy_qrule tests/unit/test_policy_json \
	tests/unit/test_policy_eval tests/unit/test_policy_index \
	tests/unit/test_policy_daemon tests/unit/test_policy_forward \
	tests/unit/test_policy_names
tests_unit_test_policy_names_SOURCES = tests/unit/test_policy_names.c
tests_unit_test_policy_names_LDADD = $(POLICY_LIBS)
tests_unit_test_policy_forward_SOURCES = tests/unit/test_policy_forward.c
tests_unit_test_policy_forward_LDADD = $(POLICY_LIBS)
tests_unit_test_policy_qrule_SOURCES = tests/unit/test_policy_qrule.c
tests_unit_test_policy_qrule_LDADD = $(POLICY_LIBS)
tests_unit_test_policy_json_SOURCES = tests/unit/test_policy_json.c
tests_unit_test_policy_json_LDADD = $(POLICY_LIBS)
tests_unit_test_policy_eval_SOURCES = tests/unit/test_policy_eval.c
tests_unit_test_policy_eval_LDADD = $(POLICY_LIBS)
tests_unit_test_policy_eval_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_policy_index_SOURCES = tests/unit/test_policy_index.c
tests_unit_test_policy_index_LDADD = $(POLICY_LIBS)
# Runs the built daemon (policyd/policyd) as the supervisor would.
tests_unit_test_policy_daemon_SOURCES = tests/unit/test_policy_daemon.c
tests_unit_test_policy_daemon_LDADD = $(MOAT_COMMON_LIBS)

MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_qrule tests/fuzz/fuzz_jrules
EXTRA_PROGRAMS += tests/fuzz/fuzz_qrule tests/fuzz/fuzz_jrules
tests_fuzz_fuzz_qrule_SOURCES = tests/fuzz/fuzz_qrule.c
tests_fuzz_fuzz_qrule_LDADD = $(POLICY_LIBS)
tests_fuzz_fuzz_qrule_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_jrules_SOURCES = tests/fuzz/fuzz_jrules.c
tests_fuzz_fuzz_jrules_LDADD = $(POLICY_LIBS)
tests_fuzz_fuzz_jrules_LDFLAGS = -fsanitize=fuzzer
MOAT_UNIT_TESTS += tests/fuzz/replay_qrule tests/fuzz/replay_jrules
tests_fuzz_replay_qrule_SOURCES = tests/fuzz/fuzz_qrule.c tests/fuzz/replay.c
tests_fuzz_replay_qrule_LDADD = $(POLICY_LIBS)
tests_fuzz_replay_jrules_SOURCES = tests/fuzz/fuzz_jrules.c tests/fuzz/replay.c
tests_fuzz_replay_jrules_LDADD = $(POLICY_LIBS)
EXTRA_DIST += tests/fuzz/corpus/qrule tests/fuzz/corpus/jrules

MOAT_BENCHES += tests/bench/bench_policy
EXTRA_PROGRAMS += tests/bench/bench_policy
tests_bench_bench_policy_SOURCES = tests/bench/bench_policy.c
tests_bench_bench_policy_LDADD = $(POLICY_LIBS)

# Per-client rate limits (issue 17): the JSON limit rules.
MOAT_UNIT_TESTS += tests/unit/test_policy_limit
tests_unit_test_policy_limit_SOURCES = tests/unit/test_policy_limit.c
tests_unit_test_policy_limit_LDADD = $(POLICY_LIBS)
