# common/core.mk: tests of msg, log, util, the sandbox.
MOAT_UNIT_TESTS += tests/unit/test_msg tests/unit/test_log
tests_unit_test_msg_SOURCES = tests/unit/test_msg.c tests/unit/t.h
tests_unit_test_msg_LDADD = $(MOAT_COMMON_LIBS)
tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_LDADD = $(MOAT_COMMON_LIBS)
MOAT_UNIT_TESTS += tests/unit/test_sandbox
tests_unit_test_sandbox_SOURCES = tests/unit/test_sandbox.c
tests_unit_test_sandbox_LDADD = $(MOAT_COMMON_LIBS)
# Every daemon's seccomp tables as it loads them: no call twice, the common
# table minimal, no PROT_EXEC (links each daemon's table file).
MOAT_UNIT_TESTS += tests/unit/test_sandbox_tables
tests_unit_test_sandbox_tables_SOURCES = tests/unit/test_sandbox_tables.c \
	natd/natd_sandbox.c policyd/policyd_sandbox.c \
	agentd/agentd_sandbox.c agentd/agentd_xen.c netbackd/netbackd_sandbox.c
tests_unit_test_sandbox_tables_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(XENCTRL_CFLAGS) -D__XEN_TOOLS__
tests_unit_test_sandbox_tables_LDADD = $(AGENTD_LIBS)
