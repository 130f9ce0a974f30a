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

# Both ends of Qubes' dom0<->VM wire: vchans (socket or Xen), QubesDB's
# framing, qrexec's messages. agentd speaks the VM's end, moat-dom0
# (tools/moat-dom0/) dom0's; neither's logic is in here.
noinst_LIBRARIES += agentd/libqubeswire.a
agentd_libqubeswire_a_SOURCES = \
	agentd/qdb_wire.c \
	agentd/qrexec_wire.c \
	agentd/vchan.c agentd/vchan.h \
	agentd/vchan_socket.c \
	agentd/vchan_xen.c
agentd_libqubeswire_a_CFLAGS = $(AM_CFLAGS) $(XENVCHAN_CFLAGS) $(XENSTORE_CFLAGS) -D__XEN_TOOLS__
# No libxenctrl: agentd makes no hypercall (agentd_xen.c); only moat-dom0,
# in dom0, links it.
AGENTD_XEN_LIBS = $(XENVCHAN_LIBS) $(XENSTORE_LIBS)
QUBESWIRE_LIBS = agentd/libqubeswire.a $(AGENTD_QDB_LIBS) $(MOAT_COMMON_LIBS) $(AGENTD_XEN_LIBS)

# agentd's logic without main(), for the unit tests and fuzz targets.
noinst_LIBRARIES += agentd/libagentd.a
agentd_libagentd_a_SOURCES = \
	agentd/agentd.h agentd/agentd_qx.h \
	agentd/agentd_conf.c \
	agentd/agentd_poll.c \
	agentd/agentd_qdb.c \
	agentd/agentd_qrexec.c \
	agentd/agentd_qrexec_out.c
agentd_libagentd_a_CFLAGS = $(AM_CFLAGS) $(XENVCHAN_CFLAGS) $(XENSTORE_CFLAGS) -D__XEN_TOOLS__
AGENTD_LIBS = agentd/libagentd.a $(QUBESWIRE_LIBS)

moatlibexec_PROGRAMS += agentd/agentd
agentd_agentd_SOURCES = \
	agentd/agentd.c \
	agentd/agentd_link.c \
	agentd/agentd_sandbox.c \
	agentd/agentd_xen.c
agentd_agentd_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(XENCTRL_CFLAGS) -D__XEN_TOOLS__
agentd_agentd_LDADD = $(AGENTD_LIBS)

MOAT_UNIT_TESTS += tests/unit/test_qdb
tests_unit_test_qdb_SOURCES = tests/unit/test_qdb.c
tests_unit_test_qdb_LDADD = $(AGENTD_LIBS)

MOAT_UNIT_TESTS += tests/unit/test_qdb_wire
tests_unit_test_qdb_wire_SOURCES = tests/unit/test_qdb_wire.c
tests_unit_test_qdb_wire_LDADD = $(AGENTD_LIBS)

MOAT_UNIT_TESTS += tests/unit/test_qrexec_wire
tests_unit_test_qrexec_wire_SOURCES = tests/unit/test_qrexec_wire.c
tests_unit_test_qrexec_wire_LDADD = $(AGENTD_LIBS)

MOAT_UNIT_TESTS += tests/unit/test_qrexec_agent
tests_unit_test_qrexec_agent_SOURCES = tests/unit/test_qrexec_agent.c
tests_unit_test_qrexec_agent_LDADD = $(AGENTD_LIBS)

# A stand-in supervisor in C (for the Xen domU, which has no Python).
check_PROGRAMS += tests/integ/agentd_minisup
tests_integ_agentd_minisup_SOURCES = tests/integ/agentd_minisup.c
tests_integ_agentd_minisup_LDADD = $(MOAT_COMMON_LIBS)

# Skips outside Xen; tests/integ/agentd_xen.sh runs it in dom0 under QEMU.
MOAT_UNIT_TESTS += tests/unit/test_agentd_xenvchan
tests_unit_test_agentd_xenvchan_SOURCES = tests/unit/test_agentd_xenvchan.c
tests_unit_test_agentd_xenvchan_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) -D__XEN_TOOLS__
tests_unit_test_agentd_xenvchan_LDADD = $(AGENTD_LIBS)

MOAT_UNIT_TESTS += tests/unit/test_agentd_conf
tests_unit_test_agentd_conf_SOURCES = tests/unit/test_agentd_conf.c
tests_unit_test_agentd_conf_LDADD = $(AGENTD_LIBS)

# agentd's seccomp tables: ioctl only for the named Xen requests (needs root).
MOAT_UNIT_TESTS += tests/unit/test_agentd_sandbox
tests_unit_test_agentd_sandbox_SOURCES = tests/unit/test_agentd_sandbox.c \
	agentd/agentd_sandbox.c agentd/agentd_xen.c
tests_unit_test_agentd_sandbox_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(XENCTRL_CFLAGS) -D__XEN_TOOLS__
tests_unit_test_agentd_sandbox_LDADD = $(AGENTD_LIBS)


MOAT_INTEG_TESTS += tests/integ/agentd_file.sh tests/integ/agentd_vchan.sh tests/integ/agentd_qubes.sh \
	tests/integ/agentd_moat.sh tests/integ/agentd_xen.sh
EXTRA_DIST += tests/integ/agentd_sup.py tests/integ/agentd_lib.sh

# Fuzz targets for both parsers, and their seed replays in every build.
MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_qdb tests/fuzz/fuzz_qrexec
EXTRA_PROGRAMS += tests/fuzz/fuzz_qdb tests/fuzz/fuzz_qrexec
tests_fuzz_fuzz_qdb_SOURCES = tests/fuzz/fuzz_qdb.c
tests_fuzz_fuzz_qdb_LDADD = $(AGENTD_LIBS)
tests_fuzz_fuzz_qdb_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_qrexec_SOURCES = tests/fuzz/fuzz_qrexec.c
tests_fuzz_fuzz_qrexec_LDADD = $(AGENTD_LIBS)
tests_fuzz_fuzz_qrexec_LDFLAGS = -fsanitize=fuzzer
MOAT_UNIT_TESTS += tests/fuzz/replay_qdb tests/fuzz/replay_qrexec
tests_fuzz_replay_qdb_SOURCES = tests/fuzz/fuzz_qdb.c tests/fuzz/replay.c
tests_fuzz_replay_qdb_LDADD = $(AGENTD_LIBS)
tests_fuzz_replay_qrexec_SOURCES = tests/fuzz/fuzz_qrexec.c tests/fuzz/replay.c
tests_fuzz_replay_qrexec_LDADD = $(AGENTD_LIBS)
EXTRA_DIST += tests/fuzz/corpus/qdb tests/fuzz/corpus/qrexec
EXTRA_DIST += docs/qubes.md
