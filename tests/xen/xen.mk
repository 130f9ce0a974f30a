# tests/xen/xen.mk: owned by tests/xen/.
#
# make check-xen: Xen 4.17 under QEMU (TCG), a busybox dom0 playing the
# NetVM, a client domU with Debian's kernel, and moat's VM (the release
# image from "make vm-image", packaging/vm/moat/ in the build directory, or
# MOAT_XEN_VM=DIR) as the client's network backend.  Minutes of both cores,
# so it is not part of "make check".  See docs/xen-e2e.md.

EXTRA_DIST += tests/xen/run.sh tests/xen/build-images.sh tests/xen/dom0-init \
	tests/xen/client-init tests/xen/vif-direct tests/xen/vif-uplink \
	tests/xen/vif-selftest \
	tests/xen/qubesdb.json docs/xen-e2e.md \
	tests/xen/dom0-bench tests/xen/bench-hook

# Every step boots the release image (make vm-image, as check-vm does); the
# one step that needs a test hook (netbackd killed through moat.TestSyscall)
# boots the test-hooks image (make vm-image-hooks), when this build has the
# hooks; without them that step SKIPs.  Each moat TAP line names its image.
# MOAT_XEN_VM=DIR and MOAT_XEN_HOOKS_VM=DIR override.
check-xen: vm-image
	$(AM_V_at)if grep -q '^#define MOAT_TEST_HOOKS 1' config.h; then \
	  $(MAKE) $(AM_MAKEFLAGS) vm-image-hooks; fi
	@echo "# check-xen: moat VM image $${MOAT_XEN_VM:-$(VM_OUT)/moat} (release image) for every step;" \
	  "$${MOAT_XEN_HOOKS_VM:-$(VM_OUT)/moat-hooks} (test hooks) only for the netbackd kill"
	$(AM_V_at)MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  MOAT_XEN_VM=$${MOAT_XEN_VM:-$(VM_OUT)/moat} \
	  MOAT_XEN_HOOKS_VM=$${MOAT_XEN_HOOKS_VM:-$(VM_OUT)/moat-hooks} \
	  $(SHELL) $(srcdir)/tests/xen/run.sh

.PHONY: check-xen

# make bench-xen: on the same images, bulk TCP (64 MiB, MOAT_XEN_BENCH_MB)
# each way between a client domU and dom0, on dom0's kernel netback and
# through moat's VM (the release image), with TSO and without; prints the
# table (docs/xen-e2e.md, "make bench-xen").  Minutes of both cores; not
# part of any check.  xbench is the transfer tool in both images, static
# because the client's image has no C library.
EXTRA_PROGRAMS += tests/xen/xbench
tests_xen_xbench_SOURCES = tests/xen/xbench.c
tests_xen_xbench_LDFLAGS = -static
CLEANFILES += tests/xen/xbench

bench-xen: vm-image tests/xen/xbench
	$(AM_V_at)MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  MOAT_XEN_VM=$${MOAT_XEN_VM:-$(VM_OUT)/moat} MOAT_XEN_BENCH=1 \
	  MOAT_XEN_BENCH_TOOL=$(abs_builddir)/tests/xen/xbench \
	  $(SHELL) $(srcdir)/tests/xen/run.sh

.PHONY: bench-xen
