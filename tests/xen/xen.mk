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
	tests/xen/qubesdb.json docs/xen-e2e.md

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
