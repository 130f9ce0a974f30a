# natd/local.mk: owned by natd/.
# The engine is a library so the daemon, the unit tests, the fuzz targets
# and the benchmark all link the same code.
noinst_LIBRARIES += natd/libnatd.a
natd_libnatd_a_SOURCES = \
	natd/nat.h natd/nat_engine.c natd/nat_dns.c natd/nat_stats.c \
	natd/flowtab.c natd/flowtab.h
NATD_LIBS = natd/libnatd.a $(MOAT_COMMON_LIBS)

moatlibexec_PROGRAMS += natd/natd
natd_natd_SOURCES = natd/natd.c natd/natd.h natd/natd_ctl.c natd/natd_sandbox.c
natd_natd_LDADD = $(NATD_LIBS)

# The supervisor sizes the connection table's memfd with natd_flowtab_bytes().
moat_moat_SOURCES += natd/flowtab.c natd/flowtab.h

MOAT_UNIT_TESTS += tests/unit/test_natd tests/unit/test_natd_flowtab
tests_unit_test_natd_SOURCES = tests/unit/test_natd.c tests/unit/natd_testlib.h tests/unit/t.h
tests_unit_test_natd_LDADD = $(NATD_LIBS) $(JANSSON_LIBS)
tests_unit_test_natd_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_natd_flowtab_SOURCES = tests/unit/test_natd_flowtab.c tests/unit/natd_testlib.h tests/unit/t.h
tests_unit_test_natd_flowtab_LDADD = $(NATD_LIBS)
