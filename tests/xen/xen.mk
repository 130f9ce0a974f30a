# tests/xen/xen.mk: owned by tests/xen/.
#
# make check-xen: Xen 4.17 under QEMU (TCG), a busybox dom0 playing the
# NetVM, a client domU with Debian's kernel, and moat's VM (from
# "make vm-image", packaging/vm/moat/ in the build directory, or
# MOAT_XEN_VM=DIR) as the client's network backend.  Minutes of both cores,
# so it is not part of "make check".  See docs/xen-e2e.md.

EXTRA_DIST += tests/xen/run.sh tests/xen/build-images.sh tests/xen/dom0-init \
	tests/xen/client-init tests/xen/vif-direct tests/xen/vif-uplink \
	tests/xen/vif-selftest \
	tests/xen/qubesdb.json docs/xen-e2e.md

check-xen: vm-image
	$(AM_V_at)MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  $(SHELL) $(srcdir)/tests/xen/run.sh

.PHONY: check-xen
