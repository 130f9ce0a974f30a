# agentd/local.mk: owned by agentd/.

# The database, its JSON loader and its checks: agentd, moat-dom0 and the
# supervisor (which checks a --qubesdb file before starting anything) link
# this. It does not log.
noinst_LIBRARIES += agentd/libagentdqdb.a
agentd_libagentdqdb_a_SOURCES = \
	agentd/qdb.c agentd/qdb.h \
	agentd/qdb_json.c \
	agentd/qdb_check.c
agentd_libagentdqdb_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
AGENTD_QDB_LIBS = agentd/libagentdqdb.a $(JANSSON_LIBS)

# agentd's logic without main(), for the unit tests and fuzz targets.
noinst_LIBRARIES += agentd/libagentd.a
agentd_libagentd_a_SOURCES = \
	agentd/agentd.h \
	agentd/agentd_conf.c
AGENTD_LIBS = agentd/libagentd.a $(AGENTD_QDB_LIBS) $(MOAT_COMMON_LIBS)

moatagentddir = $(libexecdir)/moat
moatagentd_PROGRAMS = agentd/agentd
agentd_agentd_SOURCES = \
	agentd/agentd.c \
	agentd/agentd_link.c \
	agentd/agentd_sandbox.c
agentd_agentd_LDADD = $(AGENTD_LIBS)

MOAT_UNIT_TESTS += tests/unit/test_qdb
tests_unit_test_qdb_SOURCES = tests/unit/test_qdb.c
tests_unit_test_qdb_LDADD = $(AGENTD_LIBS)

MOAT_UNIT_TESTS += tests/unit/test_agentd_conf
tests_unit_test_agentd_conf_SOURCES = tests/unit/test_agentd_conf.c
tests_unit_test_agentd_conf_LDADD = $(AGENTD_LIBS)


MOAT_INTEG_TESTS += tests/integ/agentd_file.sh
EXTRA_DIST += tests/integ/agentd_sup.py
