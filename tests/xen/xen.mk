# tests/xen/xen.mk: owned by tests/xen/.
#
# make check-xen: Xen 4.17 under QEMU (TCG), a busybox dom0 playing the
# NetVM, a client domU with Debian's kernel, and moat's VM (from
# "make vm-image-hooks", packaging/vm/moat-hooks/ in the build directory, or
# MOAT_XEN_VM=DIR) as the client's network backend.  Minutes of both cores,
# so it is not part of "make check".  See docs/xen-e2e.md.

EXTRA_DIST += tests/xen/run.sh tests/xen/build-images.sh tests/xen/dom0-init \
	tests/xen/client-init tests/xen/vif-direct tests/xen/vif-uplink \
	tests/xen/vif-selftest \
	tests/xen/qubesdb.json docs/xen-e2e.md

# moat_restart kills netbackd through the test hook moat.TestSyscall, so
# until dom0-init can swap images for that one step the whole run boots the
# test-hooks image (make vm-image-hooks), not the release image
# (make vm-image, booted by check-vm).  MOAT_XEN_VM=DIR overrides.
check-xen: vm-image-hooks
	@if test -n "$$MOAT_XEN_VM"; then echo "# check-xen: moat VM image $$MOAT_XEN_VM (MOAT_XEN_VM)"; \
	else echo "# check-xen: moat VM image $(VM_OUT)/moat-hooks (test hooks compiled in; the shipped image is packaging/vm/moat, booted by check-vm)"; fi
	$(AM_V_at)MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  MOAT_XEN_VM=$${MOAT_XEN_VM:-$(VM_OUT)/moat-hooks} \
	  $(SHELL) $(srcdir)/tests/xen/run.sh

.PHONY: check-xen
