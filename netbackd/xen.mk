# netbackd/xen.mk: the Xen backend of netbackd (netback towards client VMs,
# netfront towards the NetVM), and its tests, fuzz targets and benchmark,
# which run on the software Xen of tests/xen/. Included from
# netbackd/local.mk.
#
# netbackd links the backend and the real Xen (/dev/xen/*, xen_real.c)
# only. libmoatxen.a is the same sources for the tests; the fake Xen is
# tests/xen/libfakexen.a, which tests hand to the backend through its ops
# table (xen_if.h, xen_backend_use), or, for a whole moat on the fake Xen,
# through tests/xen/netbackd-fakexen (below).
MOAT_XEN_SOURCES = \
	netbackd/xen_proto.h netbackd/xen_if.h \
	netbackd/xen_valid.c netbackd/xen_valid.h \
	netbackd/xen_util.c netbackd/xen_priv.h \
	netbackd/xen_back.c netbackd/xen_back_ring.c netbackd/xen_back_xs.c \
	netbackd/xen_front.c netbackd/xen_real.c \
	netbackd/netbackd_sandbox.c
MOAT_XEN_SYSLIBS = $(XENGNTTAB_LIBS) $(XENEVTCHN_LIBS) $(XENSTORE_LIBS) -lpthread

# netbackd itself: its core refers to nb_backend_xen weakly, so the
# backend goes in as sources (an archive member is never pulled in to
# satisfy a weak reference).
netbackd_netbackd_SOURCES += $(MOAT_XEN_SOURCES)
netbackd_netbackd_LDADD += $(MOAT_XEN_SYSLIBS)

noinst_LIBRARIES += libmoatxen.a
libmoatxen_a_SOURCES = $(MOAT_XEN_SOURCES)
libmoatxen_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/netbackd
MOAT_XEN_LIBS = libmoatxen.a $(MOAT_XEN_SYSLIBS)

# The fake Xen (tests/xen/fakexen.h): never linked into a shipped binary
# (tests/integ/shipped_symbols.sh checks).
noinst_LIBRARIES += tests/xen/libfakexen.a
tests_xen_libfakexen_a_SOURCES = tests/xen/fakexen.c tests/xen/fakexen.h \
	tests/xen/fakexen_env.c
tests_xen_libfakexen_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/netbackd -I$(top_srcdir)/tests/xen
FAKEXEN_LIBS = tests/xen/libfakexen.a $(MOAT_XEN_LIBS)

XEN_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/netbackd -I$(top_srcdir)/tests/unit \
	-I$(top_srcdir)/tests/xen

MOAT_UNIT_TESTS += tests/unit/test_xen_valid tests/unit/test_fakexen
tests_unit_test_xen_valid_SOURCES = tests/unit/test_xen_valid.c tests/xen/stubs.c
tests_unit_test_xen_valid_CPPFLAGS = $(XEN_TEST_CPPFLAGS)
tests_unit_test_xen_valid_LDADD = $(MOAT_XEN_LIBS) $(MOAT_COMMON_LIBS)
tests_unit_test_fakexen_SOURCES = tests/unit/test_fakexen.c tests/xen/stubs.c
tests_unit_test_fakexen_CPPFLAGS = $(XEN_TEST_CPPFLAGS)
tests_unit_test_fakexen_LDADD = $(FAKEXEN_LIBS) $(MOAT_COMMON_LIBS)

# End-to-end: netbackd's Xen backend under a loopback core, client VMs as
# processes, on the fake Xen.
XEN_HARNESS = tests/xen/nbh.c tests/xen/nbh.h tests/xen/tfront.c tests/xen/tfront.h \
	tests/xen/stubs.c
MOAT_UNIT_TESTS += tests/xen/test_xen_netback
tests_xen_test_xen_netback_SOURCES = tests/xen/test_xen_netback.c $(XEN_HARNESS)
tests_xen_test_xen_netback_CPPFLAGS = $(XEN_TEST_CPPFLAGS) -I$(top_srcdir)/tests/xen
tests_xen_test_xen_netback_LDADD = $(FAKEXEN_LIBS) $(MOAT_COMMON_LIBS)

# Fuzz targets (libFuzzer, clang builds) and their seed replays (every build).
MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_netif tests/fuzz/fuzz_xs
EXTRA_PROGRAMS += tests/fuzz/fuzz_netif tests/fuzz/fuzz_xs
tests_fuzz_fuzz_netif_SOURCES = tests/fuzz/fuzz_netif.c
tests_fuzz_fuzz_netif_CPPFLAGS = $(XEN_TEST_CPPFLAGS)
tests_fuzz_fuzz_netif_LDADD = $(MOAT_XEN_LIBS) $(MOAT_COMMON_LIBS)
tests_fuzz_fuzz_netif_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_xs_SOURCES = tests/fuzz/fuzz_xs.c
tests_fuzz_fuzz_xs_CPPFLAGS = $(XEN_TEST_CPPFLAGS)
tests_fuzz_fuzz_xs_LDADD = $(MOAT_XEN_LIBS) $(MOAT_COMMON_LIBS)
tests_fuzz_fuzz_xs_LDFLAGS = -fsanitize=fuzzer
MOAT_UNIT_TESTS += tests/fuzz/replay_netif tests/fuzz/replay_xs
tests_fuzz_replay_netif_SOURCES = tests/fuzz/fuzz_netif.c tests/fuzz/replay.c tests/xen/stubs.c
tests_fuzz_replay_netif_CPPFLAGS = $(XEN_TEST_CPPFLAGS)
tests_fuzz_replay_netif_LDADD = $(MOAT_XEN_LIBS) $(MOAT_COMMON_LIBS)
tests_fuzz_replay_xs_SOURCES = tests/fuzz/fuzz_xs.c tests/fuzz/replay.c tests/xen/stubs.c
tests_fuzz_replay_xs_CPPFLAGS = $(XEN_TEST_CPPFLAGS)
tests_fuzz_replay_xs_LDADD = $(MOAT_XEN_LIBS) $(MOAT_COMMON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/netif tests/fuzz/corpus/xs

# make bench: netback TX throughput on the fake Xen vs memcpy.
MOAT_BENCHES += tests/bench/bench_netif
EXTRA_PROGRAMS += tests/bench/bench_netif
tests_bench_bench_netif_SOURCES = tests/bench/bench_netif.c $(XEN_HARNESS)
tests_bench_bench_netif_CPPFLAGS = $(XEN_TEST_CPPFLAGS) -I$(top_srcdir)/tests/xen
tests_bench_bench_netif_LDADD = $(FAKEXEN_LIBS) $(MOAT_COMMON_LIBS)

# The fake Xen as a command and the loopback netbackd, for scripts (and for
# running a whole moat on the fake Xen); their end-to-end script.
noinst_PROGRAMS += tests/xen/fakexen tests/xen/nbh_main
tests_xen_fakexen_SOURCES = tests/xen/fakexen_tool.c tests/xen/tfront.c tests/xen/tfront.h
tests_xen_fakexen_CPPFLAGS = $(XEN_TEST_CPPFLAGS) -I$(top_srcdir)/tests/xen
tests_xen_fakexen_LDADD = $(FAKEXEN_LIBS) $(MOAT_COMMON_LIBS)
tests_xen_nbh_main_SOURCES = tests/xen/nbh_main.c $(XEN_HARNESS)
tests_xen_nbh_main_CPPFLAGS = $(XEN_TEST_CPPFLAGS) -I$(top_srcdir)/tests/xen
tests_xen_nbh_main_LDADD = $(FAKEXEN_LIBS) $(MOAT_COMMON_LIBS)

# netbackd on the fake Xen, for the supervisor to start in its place
# (tests/xen/moat_fakexen.sh points MOAT_LIBEXEC at a directory naming it
# netbackd): the shipped netbackd's very objects, plus the fake. The one
# call the backend makes to open Xen, xen_real_open(), is redirected at
# link time to tests/xen/netbackd_fakexen.c, which opens the fake named by
# MOAT_FAKEXEN; the shipped netbackd has no such switch. Its sandbox is
# netbackd's own: the fake needs nothing beyond the Xen table (futex, for
# its process-shared lock, is there for libxenstore's reader thread).
noinst_PROGRAMS += tests/xen/netbackd-fakexen
tests_xen_netbackd_fakexen_SOURCES = $(netbackd_netbackd_SOURCES) tests/xen/netbackd_fakexen.c
tests_xen_netbackd_fakexen_LDADD = tests/xen/libfakexen.a $(netbackd_netbackd_LDADD)
tests_xen_netbackd_fakexen_LDFLAGS = -Wl,--wrap=xen_real_open
MOAT_INTEG_TESTS += tests/xen/fakexen_socket.sh tests/xen/moat_fakexen.sh
EXTRA_DIST += tests/xen/fakexen_socket.sh tests/xen/moat_fakexen.sh
