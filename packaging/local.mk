# packaging/local.mk: owned by packaging/.
#
# dom0 package (RPM), Salt formula, qrexec policy and the moat VM image.
# Fast checks of the dom0 side run in "make check"; the VM image and its
# boot test have their own targets because the kernel build takes ~12 min
# the first time (cached afterwards under /var/cache/moat/kernel):
#
#   make vm-image      kernel + initramfs -> packaging/vm/moat/ (a dom0 kernel dir)
#   make check-vm      boot it under QEMU (TCG, 32 MB), TAP output
#   make rpm           moat-dom0 RPM from packaging/vm/moat/
#   make check-packaging   the dom0-side tests only

MOAT_PACKAGING_TESTS = \
	tests/integ/packaging_policy.sh \
	tests/integ/packaging_salt.sh \
	tests/integ/packaging_moat_rules.sh \
	tests/integ/packaging_rpm.sh
MOAT_INTEG_TESTS += $(MOAT_PACKAGING_TESTS)

EXTRA_DIST += $(MOAT_PACKAGING_TESTS) \
	packaging/dom0/70-moat.policy packaging/dom0/moat-rules \
	packaging/dom0/check-policy.py \
	packaging/salt/moat/init.sls packaging/salt/moat/rollback.sls \
	packaging/salt/moat.top packaging/salt/pillar/moat.sls \
	packaging/salt/pillar/moat.top packaging/salt/check-salt.py \
	packaging/rpm/moat-dom0.spec packaging/rpm/build-rpm.sh \
	docs/install.md

check-packaging:
	$(AM_V_at)MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  $(SHELL) $(srcdir)/tests/run $(MOAT_PACKAGING_TESTS:%=$(abs_srcdir)/%)

.PHONY: check-packaging
