#!/bin/bash
# Build the moat-dom0 RPM with rpmbuild (Debian's "rpm" package works).
#
#   build-rpm.sh KERNEL_DIR OUT_DIR [VERSION]
#
# KERNEL_DIR holds vmlinuz and initramfs (packaging/vm output, or a stand-in
# for tests).  Prints the path of the built .rpm.
set -euo pipefail
kdir=$(realpath "${1:?usage: build-rpm.sh KERNEL_DIR OUT_DIR [VERSION]}")
out=$(realpath -m "${2:?usage: build-rpm.sh KERNEL_DIR OUT_DIR [VERSION]}")
version=${3:-0.1.0}
here=$(dirname "$(realpath "$0")")
pkg=$(dirname "$here")
top=$(dirname "$pkg")

command -v rpmbuild >/dev/null || { echo "build-rpm: rpmbuild missing (apt-get install rpm)" >&2; exit 2; }
for f in vmlinuz initramfs; do
	[[ -s $kdir/$f ]] || { echo "build-rpm: $kdir/$f missing" >&2; exit 2; }
done

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
src=$t/SOURCES
mkdir -p "$src" "$out"
cp "$kdir/vmlinuz" "$kdir/initramfs" "$src/"
if [[ -s $kdir/default-kernelopts-common.txt ]]; then
	cp "$kdir/default-kernelopts-common.txt" "$src/"
else
	printf 'console=hvc0 ' >"$src/default-kernelopts-common.txt"
fi
cp "$pkg/dom0/moat-rules" "$pkg/dom0/70-moat.policy" "$src/"
cp "$pkg/salt/moat/init.sls" "$pkg/salt/moat/rollback.sls" "$pkg/salt/moat.top" "$src/"
cp "$pkg/salt/pillar/moat.sls" "$src/pillar-moat.sls"
cp "$pkg/salt/pillar/moat.top" "$src/pillar-moat.top"
cp "$top/docs/install.md" "$src/"

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
