#!/bin/bash
# Build the moat-dom0 RPM with rpmbuild (Debian's "rpm" package works).
#
#   build-rpm.sh KERNEL_DIR OUT_DIR [VERSION]
#
# KERNEL_DIR holds vmlinuz and initramfs (packaging/vm output, or a stand-in
# for tests).  VERSION is configure.ac's: "make rpm" passes PACKAGE_VERSION,
# and without it the AC_INIT line is read, so the version is written in one
# place only.  Prints the path of the built .rpm.
set -euo pipefail
kdir=$(realpath "${1:?usage: build-rpm.sh KERNEL_DIR OUT_DIR [VERSION]}")
out=$(realpath -m "${2:?usage: build-rpm.sh KERNEL_DIR OUT_DIR [VERSION]}")
here=$(dirname "$(realpath "$0")")
pkg=$(dirname "$here")
top=$(dirname "$pkg")
version=${3:-$(sed -n 's/^AC_INIT(\[moat\], *\[\([^]]*\)\].*/\1/p' "$top/configure.ac")}
[[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || { echo "build-rpm: no usable version (configure.ac's AC_INIT): '$version'" >&2; exit 2; }

command -v rpmbuild >/dev/null || { echo "build-rpm: rpmbuild missing (apt-get install rpm)" >&2; exit 2; }
for f in vmlinuz initramfs; do
	[[ -s $kdir/$f ]] || { echo "build-rpm: $kdir/$f missing" >&2; exit 2; }
done

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
src=$t/SOURCES
mkdir -p "$src" "$out"
cp "$kdir/vmlinuz" "$kdir/initramfs" "$src/"
cp "$pkg/dom0/moat-rules" "$pkg/dom0/60-moat.policy" "$src/"
cp "$pkg/dom0/70-moat.policy" "$pkg/dom0/moat.StoredRules" "$src/"
cp "$pkg/salt/moat/init.sls" "$pkg/salt/moat/rollback.sls" "$pkg/salt/moat.top" "$src/"
cp "$pkg/salt/pillar/moat.sls" "$src/pillar-moat.sls"
cp "$pkg/salt/pillar/moat.top" "$src/pillar-moat.top"
cp "$top/docs/install.md" "$top/docs/rules.md" "$src/"
cp "$top/man/moat.8" "$top/man/moatctl.8" "$top/man/moat-rules.8" "$top/man/moat-rules.json.5" "$src/"

# --nodeps: the Requires name Qubes packages that Debian's empty rpm
# database cannot satisfy; they only matter when dom0 installs the package.
rpmbuild -bb --nodeps --quiet \
	--define "_topdir $t" \
	--define "_sourcedir $src" \
	--define "_rpmdir $out" \
	--define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
	--define "dist .fc37" \
	--define "moat_version $version" \
	--define "_binary_payload w9.gzdio" \
	--target x86_64 \
	"$here/moat-dom0.spec" >"$t/log" 2>&1 || { cat "$t/log" >&2; exit 1; }
ls "$out"/moat-dom0-"$version"-*.x86_64.rpm
