# common/ring.mk: shared-memory rings and pool; stress test and benchmark.
libmoatcommon_a_SOURCES += common/ring.c common/ring.h

MOAT_UNIT_TESTS += tests/unit/test_ring
tests_unit_test_ring_SOURCES = tests/unit/test_ring.c tests/unit/t.h
tests_unit_test_ring_LDADD = $(MOAT_COMMON_LIBS)

# Two processes over a memfd, several million descriptors, both sleep paths.
MOAT_UNIT_TESTS += tests/unit/stress_ring
tests_unit_stress_ring_SOURCES = tests/unit/stress_ring.c tests/unit/t.h
tests_unit_stress_ring_LDADD = $(MOAT_COMMON_LIBS)
