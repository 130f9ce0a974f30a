# common/ring.mk: shared-memory rings and pool; unit, stress, fuzz, benchmark.
libmoatcommon_a_SOURCES += common/ring.c common/ring.h

MOAT_UNIT_TESTS += tests/unit/test_ring
tests_unit_test_ring_SOURCES = tests/unit/test_ring.c tests/unit/t.h
tests_unit_test_ring_LDADD = $(MOAT_COMMON_LIBS)

# Two processes over a memfd, several million descriptors, both sleep paths.
MOAT_UNIT_TESTS += tests/unit/stress_ring
tests_unit_stress_ring_SOURCES = tests/unit/stress_ring.c tests/unit/t.h
tests_unit_stress_ring_LDADD = $(MOAT_COMMON_LIBS)

# make bench: descriptors/s across two processes against socketpair/pipe
# baselines. Also compiled by "make check" so it cannot rot unnoticed.
MOAT_BENCHES += tests/bench/bench_ring
EXTRA_PROGRAMS += tests/bench/bench_ring
check_PROGRAMS += tests/bench/bench_ring
tests_bench_bench_ring_SOURCES = tests/bench/bench_ring.c
tests_bench_bench_ring_LDADD = $(MOAT_COMMON_LIBS)

# The ring/descriptor validator against a hostile peer's shared memory.
MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_ring
EXTRA_PROGRAMS += tests/fuzz/fuzz_ring
tests_fuzz_fuzz_ring_SOURCES = tests/fuzz/fuzz_ring.c
tests_fuzz_fuzz_ring_LDADD = $(MOAT_COMMON_LIBS)
tests_fuzz_fuzz_ring_LDFLAGS = -fsanitize=fuzzer
MOAT_UNIT_TESTS += tests/fuzz/replay_ring
tests_fuzz_replay_ring_SOURCES = tests/fuzz/fuzz_ring.c tests/fuzz/replay.c
tests_fuzz_replay_ring_LDADD = $(MOAT_COMMON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/ring

# A daemon's side of the shared queues (shm.c): regions, ends, broken rings.
MOAT_UNIT_TESTS += tests/unit/test_shm
tests_unit_test_shm_SOURCES = tests/unit/test_shm.c tests/unit/t.h
tests_unit_test_shm_LDADD = $(MOAT_COMMON_LIBS)
