# common/core.mk: tests of msg, log, util.
MOAT_UNIT_TESTS += tests/unit/test_msg tests/unit/test_log
tests_unit_test_msg_SOURCES = tests/unit/test_msg.c tests/unit/t.h
tests_unit_test_msg_LDADD = $(MOAT_COMMON_LIBS)
tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_LDADD = $(MOAT_COMMON_LIBS)
MOAT_UNIT_TESTS += tests/unit/test_sandbox
tests_unit_test_sandbox_SOURCES = tests/unit/test_sandbox.c
tests_unit_test_sandbox_LDADD = $(MOAT_COMMON_LIBS)
