# common/pkt.mk: packet parsing, checksums, builders; their tests and fuzz target.
libmoatcommon_a_SOURCES += common/pkt.c common/pkt_csum.c common/pkt_build.c \
	common/pkt_offload.c common/pkt_gso.c common/pkt6.c common/pkt.h

MOAT_UNIT_TESTS += tests/unit/test_pkt
tests_unit_test_pkt_SOURCES = tests/unit/test_pkt.c tests/unit/t.h
tests_unit_test_pkt_LDADD = $(MOAT_COMMON_LIBS)

# The fuzz target, and its seed corpus replayed as an ordinary unit test.
MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_pkt
EXTRA_PROGRAMS += tests/fuzz/fuzz_pkt
tests_fuzz_fuzz_pkt_SOURCES = tests/fuzz/fuzz_pkt.c
tests_fuzz_fuzz_pkt_LDADD = $(MOAT_COMMON_LIBS)
tests_fuzz_fuzz_pkt_LDFLAGS = -fsanitize=fuzzer

MOAT_UNIT_TESTS += tests/fuzz/replay_pkt
tests_fuzz_replay_pkt_SOURCES = tests/fuzz/fuzz_pkt.c tests/fuzz/replay.c
tests_fuzz_replay_pkt_LDADD = $(MOAT_COMMON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/pkt

MOAT_UNIT_TESTS += tests/unit/test_pkt6
tests_unit_test_pkt6_SOURCES = tests/unit/test_pkt6.c tests/unit/t.h
tests_unit_test_pkt6_LDADD = $(MOAT_COMMON_LIBS)

MOAT_UNIT_TESTS += tests/unit/test_pkt_gso
tests_unit_test_pkt_gso_SOURCES = tests/unit/test_pkt_gso.c tests/unit/t.h
tests_unit_test_pkt_gso_LDADD = $(MOAT_COMMON_LIBS)
