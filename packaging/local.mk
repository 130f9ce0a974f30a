# packaging/local.mk: owned by packaging/.
#
# dom0 package (RPM), Salt formula, qrexec policy and the moat VM image.
# Fast checks of the dom0 side run in "make check"; the VM image and its
# boot test have their own targets because the kernel build takes ~12 min
# the first time (cached afterwards under /var/cache/moat/kernel):
#
#   make vm-image      kernel + initramfs -> packaging/vm/moat/ (a dom0 kernel
#                      dir), from a release configuration (see below)
#   make vm-image-hooks  the same from this build dir (test hooks), for tests
#   make check-vm      the release image: no test hooks (nor test code in the
#                      release tree, shipped_symbols.sh), boots under QEMU
#                      (TCG, 32 MB), TAP output
#   make check-vm-xen  boot it as a Xen PV and PVH guest (Xen inside QEMU)
#   make rpm           moat-dom0 RPM from packaging/vm/moat/
#   make check-packaging   the dom0-side tests only

MOAT_PACKAGING_TESTS = \
	tests/integ/packaging_policy.sh \
	tests/integ/packaging_salt.sh \
	tests/integ/packaging_moat_rules.sh \
	tests/integ/packaging_man.sh \
	tests/integ/packaging_docs.sh \
	tests/integ/packaging_rpm.sh \
	tests/integ/packaging_init.sh \
	tests/integ/packaging_release.sh
MOAT_INTEG_TESTS += $(MOAT_PACKAGING_TESTS)

# The dom0 tool, installed by "make install" too so that its manual page
# (man/moat-rules.8) never describes a program that is not there.
dist_bin_SCRIPTS = packaging/dom0/moat-rules

EXTRA_DIST += $(MOAT_PACKAGING_TESTS) \
	packaging/dom0/60-moat.policy packaging/dom0/moat-rules \
	packaging/dom0/70-moat.policy packaging/dom0/moat.StoredRules \
	packaging/dom0/check-policy.py \
	packaging/salt/moat/init.sls packaging/salt/moat/rollback.sls \
	packaging/salt/moat.top packaging/salt/pillar/moat.sls \
	packaging/salt/pillar/moat.top packaging/salt/check-salt.py \
	packaging/rpm/moat-dom0.spec packaging/rpm/build-rpm.sh \
	packaging/rpm/moat-dom0.rpmlintrc \
	docs/install.md docs/rules.md

check-packaging:
	$(AM_V_at)MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  $(SHELL) $(srcdir)/tests/run $(MOAT_PACKAGING_TESTS:%=$(abs_srcdir)/%)

.PHONY: check-packaging

# --- VM image -------------------------------------------------------------
# PID 1 of the VM, and a stand-in supervisor for image tests (VM_MOAT=standin)
# and for the boot-time floor.  Built with the tree, never installed.
noinst_PROGRAMS += packaging/vm/moat-init packaging/vm/standin-moat
packaging_vm_moat_init_SOURCES = packaging/vm/init.c packaging/vm/cmdline.c \
	packaging/vm/cmdline.h
packaging_vm_standin_moat_SOURCES = packaging/vm/standin-moat.c
MOAT_UNIT_TESTS += packaging/vm/test_cmdline
packaging_vm_test_cmdline_SOURCES = packaging/vm/test_cmdline.c \
	packaging/vm/cmdline.c packaging/vm/cmdline.h

EXTRA_DIST += packaging/vm/kernel.config packaging/vm/build-kernel.sh \
	packaging/vm/mkinitramfs.sh packaging/vm/qemu-boot.py \
	packaging/vm/xen-smoke.sh packaging/vm/xen/dom0-init \
	tests/integ/packaging_vm_boot.sh

# The shipped image -- "make vm-image", and so "make rpm" and "make
# check-vm" -- is built from a release configuration of this source tree in
# its own build directory, VM_RELEASE_DIR: seccomp sandbox, no test hooks,
# no sandbox debug, plain gcc -O2, whatever this build directory was
# configured with (CI's has the test hooks).  Command-line variables of this
# make (CFLAGS=...) are kept from it.
#
# "make vm-image-hooks" builds the same image from this build directory
# into packaging/vm/moat-hooks/, for the test steps that need the test
# hooks (check-xen's moat.TestSyscall); it is never packaged.
#
# VM_MOAT=real: the supervisor and daemons ("make install" into a staging
# dir); VM_MOAT=standin: packaging/vm/standin-moat as /sbin/moat.
VM_MOAT ?= real
VM_OUT = $(abs_builddir)/packaging/vm
VM_STAGE = $(VM_OUT)/stage
VM_KERNEL_FRAGMENT = $(abs_srcdir)/packaging/vm/kernel.config
VM_RELEASE_DIR = $(VM_OUT)/release-build
VM_RELEASE_CONFIG = --prefix=$(prefix) --sbindir=$(sbindir) \
	--libexecdir=$(libexecdir) --with-sandbox=seccomp --disable-test-hooks \
	--disable-sandbox-debug --disable-werror CC=gcc CFLAGS="-O2 -g"
VM_JOBS ?= 2
# A make of the release tree that inherits nothing from this one.
VM_RELEASE_MAKE = env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u CFLAGS \
	-u CPPFLAGS -u LDFLAGS -u CC $(MAKE) -j$(VM_JOBS) -C $(VM_RELEASE_DIR)

vm-kernel:
	$(AM_V_at)mkdir -p $(VM_OUT)/moat
	$(AM_V_GEN)$(SHELL) $(srcdir)/packaging/vm/build-kernel.sh \
	  $(VM_KERNEL_FRAGMENT) $(VM_OUT)/moat/vmlinuz >/dev/null

vm-release-build:
	$(AM_V_at)mkdir -p $(VM_RELEASE_DIR)
	$(AM_V_GEN)cd $(VM_RELEASE_DIR) && if test ! -f Makefile; then \
	  env -u CFLAGS -u CPPFLAGS -u LDFLAGS -u CC $(abs_srcdir)/configure \
	    $(VM_RELEASE_CONFIG) >configure.log 2>&1 || { tail -20 configure.log; exit 1; }; \
	fi
	$(AM_V_at)$(VM_RELEASE_MAKE) >$(VM_RELEASE_DIR)/make.log 2>&1 || \
	  { grep -E 'error|warning' $(VM_RELEASE_DIR)/make.log | head -40; exit 1; }

# The initramfs alone (no kernel build), from the release tree.
vm-initramfs: vm-release-build
	$(AM_V_at)rm -rf $(VM_STAGE) && mkdir -p $(VM_OUT)/moat
	$(AM_V_at)if test "$(VM_MOAT)" = standin; then \
	  $(SHELL) $(srcdir)/packaging/vm/mkinitramfs.sh --out $(VM_OUT)/moat/initramfs \
	    --init $(VM_RELEASE_DIR)/packaging/vm/moat-init \
	    --moat $(VM_RELEASE_DIR)/packaging/vm/standin-moat; \
	else \
	  $(VM_RELEASE_MAKE) install DESTDIR=$(VM_STAGE) >/dev/null && \
	  $(SHELL) $(srcdir)/packaging/vm/mkinitramfs.sh --out $(VM_OUT)/moat/initramfs \
	    --init $(VM_RELEASE_DIR)/packaging/vm/moat-init --moat $(VM_STAGE)$(sbindir)/moat \
	    --libexec $(VM_STAGE)$(libexecdir)/moat; \
	fi
	$(AM_V_at)$(SHELL) $(srcdir)/packaging/vm/mkinitramfs.sh --out $(VM_OUT)/floor.cpio.gz \
	  --init $(VM_RELEASE_DIR)/packaging/vm/moat-init \
	  --moat $(VM_RELEASE_DIR)/packaging/vm/standin-moat 2>/dev/null
	$(AM_V_at)rm -rf $(VM_STAGE)
	$(AM_V_at)sed -n 's/^moat: //p' $(VM_RELEASE_DIR)/configure.log >$(VM_OUT)/moat.build

vm-image: vm-kernel vm-initramfs
	@echo "vm-image: release image ($$(cat $(VM_OUT)/moat.build)) in $(VM_OUT)/moat/"
	@echo "  (dom0: /var/lib/qubes/vm-kernels/moat/, or make rpm)"
	@ls -l $(VM_OUT)/moat/

vm-image-hooks: vm-kernel all
	$(AM_V_at)grep -q '^#define MOAT_TEST_HOOKS 1' config.h || \
	  { echo "vm-image-hooks: configure this build with --enable-test-hooks" >&2; exit 1; }
	$(AM_V_at)rm -rf $(VM_STAGE)-hooks && mkdir -p $(VM_OUT)/moat-hooks
	$(AM_V_at)cp $(VM_OUT)/moat/vmlinuz $(VM_OUT)/moat-hooks/vmlinuz
	$(AM_V_at)$(MAKE) $(AM_MAKEFLAGS) install DESTDIR=$(VM_STAGE)-hooks >/dev/null
	$(AM_V_GEN)$(SHELL) $(srcdir)/packaging/vm/mkinitramfs.sh --out $(VM_OUT)/moat-hooks/initramfs \
	  --init packaging/vm/moat-init --moat $(VM_STAGE)-hooks$(sbindir)/moat \
	  --libexec $(VM_STAGE)-hooks$(libexecdir)/moat
	$(AM_V_at)rm -rf $(VM_STAGE)-hooks
	@echo "vm-image-hooks: TEST image (test hooks compiled in) in $(VM_OUT)/moat-hooks/: never ship it"

check-vm: vm-image
	$(AM_V_at)MOAT_BUILDDIR=$(abs_builddir) MOAT_SRCDIR=$(abs_srcdir) \
	  $(SHELL) $(srcdir)/tests/run $(abs_srcdir)/tests/integ/packaging_release.sh \
	  $(abs_srcdir)/tests/integ/shipped_symbols.sh \
	  $(abs_srcdir)/tests/integ/packaging_vm_boot.sh

# The image as a Xen PV and PVH guest (Xen in QEMU, ~1 min, downloads
# Debian's Xen packages into /var/cache/moat/xen the first time).
check-vm-xen: vm-image
	$(AM_V_at)MOAT_XEN_PVH=1 $(SHELL) $(srcdir)/packaging/vm/xen-smoke.sh \
	  $(VM_OUT)/moat/vmlinuz $(VM_OUT)/moat/initramfs

rpm: vm-image
	$(AM_V_GEN)$(SHELL) $(srcdir)/packaging/rpm/build-rpm.sh $(VM_OUT)/moat \
	  $(abs_builddir)/packaging/rpm $(PACKAGE_VERSION)

.PHONY: vm-kernel vm-release-build vm-initramfs vm-image vm-image-hooks \
	check-vm check-vm-xen rpm
