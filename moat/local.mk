# moat/: the supervisor and its control client.
sbin_PROGRAMS += moat/moat moat/moatctl
moat_moat_SOURCES = moat/moat.c moat/moat.h moat/ctl.h moat/daemons.c moat/services.c
moat_moat_LDADD = agentd/libagentdqdb.a policyd/libqrule.a $(MOAT_COMMON_LIBS) $(JANSSON_LIBS)
moat_moat_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
moat_moatctl_SOURCES = moat/moatctl.c moat/ctl.h
moat_moatctl_LDADD = $(MOAT_COMMON_LIBS)

# A stand-in for a compromised daemon, for moat_rogue.sh.
check_PROGRAMS += tests/unit/rogue_daemon
tests_unit_rogue_daemon_SOURCES = tests/unit/rogue_daemon.c
tests_unit_rogue_daemon_LDADD = $(MOAT_COMMON_LIBS)
# The supervisor's integration tests (registered once every daemon is in the tree).
MOAT_SUPERVISOR_TESTS = tests/integ/moat_supervisor.sh tests/integ/moat_rogue.sh
EXTRA_DIST += $(MOAT_SUPERVISOR_TESTS)
MOAT_INTEG_TESTS += $(MOAT_SUPERVISOR_TESTS) tests/integ/fault_kill_transfer.sh tests/integ/dp_dom0.sh \
	tests/integ/fault_broken_ring.sh
# the JSON rules stored in dom0 (issue 14), through moat-dom0 and the dom0 script
MOAT_INTEG_TESTS += tests/integ/dp_persist.sh
EXTRA_DIST += tests/integ/fault_kill_transfer.sh tests/soak/soak.sh tests/soak/hostile.py
# Runs the moat binary with bad --client options; ip6_client_parse.
MOAT_UNIT_TESTS += tests/unit/test_moat_options
tests_unit_test_moat_options_SOURCES = tests/unit/test_moat_options.c tests/unit/t.h
tests_unit_test_moat_options_LDADD = $(MOAT_COMMON_LIBS)
