# tests/local.mk: owned by tests/.

# Network-namespace integration suite: one script per data-plane behaviour,
# each building its own topology (tests/integ/lib.sh) around moat. Run as
# root. MOAT_INTEG_FW=kernel runs the same scripts against the Linux kernel
# doing the firewall's job, to check the tests themselves.
MOAT_INTEG_TESTS += \
	tests/integ/dp_qubes_rules.sh \
	tests/integ/dp_qubes_numeric_host.sh \
	tests/integ/dp_json_rules.sh \
	tests/integ/dp_reject_fast.sh \
	tests/integ/dp_bad_rules.sh \
	tests/integ/dp_spoof.sh \
	tests/integ/dp_client_to_client.sh \
	tests/integ/dp_inbound.sh \
	tests/integ/dp_forward.sh \
	tests/integ/dp_arp.sh \
	tests/integ/dp_dns.sh \
	tests/integ/dp_names.sh \
	tests/integ/dp_icmp_errors.sh \
	tests/integ/dp_fragments.sh \
	tests/integ/dp_egress_holes.sh \
	tests/integ/dp_timeouts.sh \
	tests/integ/dp_quota.sh \
	tests/integ/dp_rule_change.sh \
	tests/integ/dp_pcap.sh \
	tests/integ/dp_logs.sh \
	tests/integ/dp_debug.sh \
	tests/integ/dp_getrules.sh \
	tests/integ/dp_stats.sh \
	tests/integ/dp_ecn.sh \
	tests/integ/dp_nat.sh \
	tests/integ/dp_ipv6_topo.sh \
	tests/integ/dp_fake_ip.sh \
	tests/integ/demo_smoke.sh
# No test code (fake Xen, harnesses, stubs) in a shipped program, and no
# test hook in a build without them (the release tree of make vm-image).
MOAT_INTEG_TESTS += tests/integ/shipped_symbols.sh
# IPv6 through moat (issue 14): needs lib.sh's topo_up --ipv6 (branch v6-conf).
MOAT_INTEG_TESTS += tests/integ/dp_ipv6.sh
# An outside review's IPv6 findings through real stacks.
MOAT_INTEG_TESTS += tests/integ/dp_review_v6.sh
# IPv6 port forwards (issue 14).
MOAT_INTEG_TESTS += tests/integ/dp_forward6.sh
# Per-client rate limits (issue 17), measured with iperf3.
MOAT_INTEG_TESTS += tests/integ/dp_rate.sh
# netbackd's transmit thread (issue 15): sandboxed like the rest, parked over natd restarts.
MOAT_INTEG_TESTS += tests/integ/dp_threads.sh
EXTRA_DIST += tests/integ/pkt6.py
EXTRA_DIST += $(MOAT_INTEG_TESTS) tests/integ/lib.sh tests/integ/tap.sh tests/integ/kfw.py \
	tests/integ/pkt.py tests/integ/services.py tests/bench/e2e.sh scripts/demo

# "make check-integ": only the integration scripts (as root).
check-integ: all
	$(AM_V_at)MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  $(SHELL) $(srcdir)/tests/run $(MOAT_INTEG_TESTS:%=$(abs_srcdir)/%)
# "make check-kernel": the same scripts with the Linux kernel as the firewall.
MOAT_DP_TESTS = $(filter tests/integ/dp_%,$(MOAT_INTEG_TESTS))
check-kernel:
	$(AM_V_at)MOAT_INTEG_FW=kernel MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  $(SHELL) $(srcdir)/tests/run $(MOAT_DP_TESTS:%=$(abs_srcdir)/%)

# End-to-end benchmark (make bench): moat vs the kernel, iperf3 through the
# namespaces, and moat's memory. A tiny wrapper in the build tree runs the
# script from the source tree against this build.
MOAT_BENCHES += tests/bench/e2e
tests/bench/e2e: $(srcdir)/tests/bench/e2e.sh
	$(AM_V_GEN)mkdir -p tests/bench && \
	  printf '#!/bin/sh\nMOAT_BUILDDIR=%s MOAT_SRCDIR=%s exec bash %s "$$@"\n' \
	    '$(abs_builddir)' '$(abs_srcdir)' '$(abs_srcdir)/tests/bench/e2e.sh' >$@ && chmod +x $@
CLEANFILES += tests/bench/e2e
.PHONY: check-integ check-kernel

# The egress invariant (docs/egress-invariant.md): natd's and policyd's
# engines and both rule loaders driven by a script of events, every frame
# natd hands out checked against a reference model. Its seed corpus is
# replayed in every build.
MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_egress
EXTRA_PROGRAMS += tests/fuzz/fuzz_egress
tests_fuzz_fuzz_egress_SOURCES = tests/fuzz/fuzz_egress.c $(NATD_HARNESS)
tests_fuzz_fuzz_egress_LDADD = $(NATD_LIBS) $(POLICY_LIBS)
tests_fuzz_fuzz_egress_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_egress_LDFLAGS = -fsanitize=fuzzer
MOAT_UNIT_TESTS += tests/fuzz/replay_egress
tests_fuzz_replay_egress_SOURCES = tests/fuzz/fuzz_egress.c tests/fuzz/replay.c $(NATD_HARNESS)
tests_fuzz_replay_egress_LDADD = $(NATD_LIBS) $(POLICY_LIBS)
tests_fuzz_replay_egress_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
# The same for IPv6 (issue 14): its own, smaller model.
MOAT_FUZZ_TARGETS += tests/fuzz/fuzz_egress6
EXTRA_PROGRAMS += tests/fuzz/fuzz_egress6
tests_fuzz_fuzz_egress6_SOURCES = tests/fuzz/fuzz_egress6.c $(NATD_HARNESS)
tests_fuzz_fuzz_egress6_LDADD = $(NATD_LIBS) $(POLICY_LIBS)
tests_fuzz_fuzz_egress6_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_egress6_LDFLAGS = -fsanitize=fuzzer
MOAT_UNIT_TESTS += tests/fuzz/replay_egress6
tests_fuzz_replay_egress6_SOURCES = tests/fuzz/fuzz_egress6.c tests/fuzz/replay.c $(NATD_HARNESS)
tests_fuzz_replay_egress6_LDADD = $(NATD_LIBS) $(POLICY_LIBS)
tests_fuzz_replay_egress6_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
EXTRA_DIST += tests/fuzz/corpus/egress6
EXTRA_DIST += tests/fuzz/corpus/egress \
	tests/fuzz/gen_egress_seeds.py

# Included (not linked) by unit tests, benchmarks and the Xen test programs:
# the reference checksum, the monotonic clock and the seeded test RNG.
EXTRA_DIST += tests/testutil.h
# moat.Flows and GetRules' hit counts as dom0 calls them, moat-rules flows|top (issue 17).
MOAT_INTEG_TESTS += tests/integ/dp_flows.sh
# Helpers included by several unit tests and fuzz targets (issue 13: one copy, not one a file).
EXTRA_DIST += tests/unit/policy_testlib.h tests/unit/run_testlib.h tests/fuzz/fuzz_input.h tests/fuzz/fuzz_natd_common.h \
	tests/fuzz/fuzz_engine.h
