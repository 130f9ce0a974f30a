#!/bin/bash
# Build the images "make check-xen" boots: Xen 4.17 and a busybox dom0 under
# QEMU, a client domU, and moat's VM as a domU.
#
#   build-images.sh OUTDIR [MOAT_VM_DIR [MOAT_DOM0 [MOAT_HOOKS_VM_DIR]]]
#
# With MOAT_XEN_BENCH_TOOL=PATH (make bench-xen: the build's static
# tests/xen/xbench), both images also get it, and dom0 its bench scenario.
#
# MOAT_DOM0 is the build's tools/moat-dom0/moat-dom0, which plays Qubes' dom0 daemons
# (QubesDB, qrexec) for moat's VM over Xen vchans; it is required with a
# moat VM.  MOAT_VM_DIR is the release image ("make vm-image"), which every
# step boots; MOAT_HOOKS_VM_DIR the test-hooks image ("make vm-image-hooks"),
# booted only for the step that needs a test hook.
#
# Everything comes from Debian's packages (apt-get download, dpkg-deb -x: the
# Xen packages are unpacked, never installed on the host) plus busybox-static
# and the host's own libc & co. (the host is the same Debian release).
#
# Two layers, because Linux takes an initramfs made of several gzip'd cpio
# archives one after the other:
#   - the base (slow: ~1 min, ~25 MB): busybox, xl and the Xen daemons with
#     every library they load, libxenvchan (for moat-dom0), dom0's kernel
#     modules, the guest kernel and the client's base initramfs.  Cached in $MOAT_XEN_CACHE/<key> (default
#     /var/cache/moat/xen), where <key> hashes the package versions and this
#     script's recipe version, so a second run is instant.
#   - the overlay (fast, rebuilt every run): the scripts and xl configs from
#     tests/xen/, moat's VM (kernel + initramfs, as "make vm-image" made
#     them) when MOAT_VM_DIR has one, and then moat-dom0, the libraries it
#     loads that the base lacks, and the test's QubesDB file it serves.
#
# OUTDIR gets: xen (the hypervisor, gunzipped: QEMU's multiboot loader does not
# gunzip), vmlinuz (dom0's kernel), dom0.cpio.gz, and moat-vm.status and
# moat-hooks-vm.status (one line each: "present DIR" or "absent REASON").
set -euo pipefail

RECIPE=2	# bump when the base layer's recipe changes (2: libxenvchan)
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build-images.sh OUTDIR [MOAT_VM_DIR [MOAT_DOM0 [MOAT_HOOKS_VM_DIR]]]}")
vmdir=${2:-}
dom0tool=${3:-}
hooksdir=${4:-}
cache=${MOAT_XEN_CACHE:-/var/cache/moat/xen}

log() { echo "build-images: $*" >&2; }
die() { log "$*"; exit 1; }

for t in apt-get apt-cache dpkg-deb cpio gzip depmod modinfo ldd flock; do
	command -v $t >/dev/null || die "$t missing"
done
BB=/bin/busybox
[[ -x $BB ]] && $BB --list-full >/dev/null 2>&1 ||
	die "$BB missing: apt-get install busybox-static (scripts/deps vm)"

# Debian's kernel of the day: linux-image-amd64 names the versioned package.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[[ -n $kpkg ]] || die "cannot resolve linux-image-amd64 (run apt-get update)"
KV=${kpkg#linux-image-}
pkgs=(xen-hypervisor-4.17-amd64 "$kpkg" xen-utils-4.17 xen-utils-common
	xenstore-utils libxencall1 libxendevicemodel1 libxenevtchn1
	libxenforeignmemory1 libxengnttab1 libxenhypfs1 libxenmisc4.17
	libxenstore4 libxentoolcore1 libxentoollog1 libyajl2)
versions=$(apt-cache policy "${pkgs[@]}" | awk '/^[^ ]/ { p = $1 } /Candidate:/ { print p, $2 }')
[[ $(grep -vc '(none)' <<<"$versions") -eq ${#pkgs[@]} ]] ||
	die "some packages have no candidate version: $(tr '\n' ' ' <<<"$versions")"
key=$( { echo "recipe $RECIPE"; echo "$versions"; sha256sum "$BB" | cut -c1-64;
	} | sha256sum | cut -c1-16)
base=$cache/$key
mkdir -p "$cache"

# Modules and the modules they depend on (modinfo's "depends"), skipping the
# built-in ones; then depmod so modprobe works in the initramfs.
addmods() {	# root stage module...
	local r=$1 s=$2; shift 2
	local md=$s/lib/modules/$KV m f rel dep
	local -a todo=("$@")
	mkdir -p "$r/lib/modules/$KV"
	while [[ ${#todo[@]} -gt 0 ]]; do
		m=${todo[0]}; todo=("${todo[@]:1}")
		grep -q "/${m//-/[-_]}.ko\$" "$md/modules.builtin" && continue
		f=$(find "$md/kernel" \( -name "$m.ko" -o -name "${m//-/_}.ko" \) | head -n1)
		[[ -n $f ]] || die "module $m not found in $kpkg"
		rel=${f#"$md"/}
		[[ -e $r/lib/modules/$KV/$rel ]] && continue
		mkdir -p "$(dirname "$r/lib/modules/$KV/$rel")"
		cp "$f" "$r/lib/modules/$KV/$rel"
		for dep in $(modinfo -F depends "$f" | tr ',' ' '); do todo+=("$dep"); done
	done
	cp "$md"/modules.builtin "$md"/modules.order "$r/lib/modules/$KV/"
	cp "$md"/modules.builtin.modinfo "$r/lib/modules/$KV/" 2>/dev/null || true
	depmod -b "$r" "$KV"
}

mkbusybox() {	# root
	local r=$1 a
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc,var,root}
	cp $BB "$r/bin/busybox"
	for a in $($BB --list-full); do
		[[ -e $r/$a ]] || ln -s /bin/busybox "$r/$a"
	done
}

mkcpio() {	# root out
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) | gzip -6n >"$2"
}

build_base() {
	local tmp=$cache/.tmp-$key s r X b
	rm -rf "$tmp"; mkdir -p "$tmp/debs"
	# apt-get download drops privileges to _apt, who must be able to write here.
	chown _apt "$tmp/debs" 2>/dev/null || true
	log "downloading ${#pkgs[@]} packages into $tmp/debs"
	(cd "$tmp/debs" && apt-get download -qq "${pkgs[@]}" >/dev/null) ||
		die "apt-get download failed"
	s=$tmp/stage; mkdir -p "$s"
	for b in "$tmp"/debs/*.deb; do dpkg-deb -x "$b" "$s"; done
	zcat "$s"/boot/xen-4.17-amd64.gz >"$tmp/xen"
	cp "$s/boot/vmlinuz-$KV" "$tmp/vmlinuz"

	# The client's base initramfs: busybox, the Xen device modules, netfront.
	r=$tmp/root-client; mkbusybox "$r"
	addmods "$r" "$s" xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-netfront
	mkcpio "$r" "$tmp/client-base.cpio.gz"

	# dom0's base: busybox, the Xen tools and everything they load.
	r=$tmp/root-dom0; mkbusybox "$r"
	addmods "$r" "$s" xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs \
		xen-netback xen-netfront
	X=usr/lib/xen-4.17/bin
	mkdir -p "$r/etc/xen/scripts" "$r/$X" "$r/lib/x86_64-linux-gnu" "$r/lib64" \
		"$r/usr/lib" "$r/var/lib/xen" "$r/var/log/xen" "$r/guest"
	ln -s ../../lib/x86_64-linux-gnu "$r/usr/lib/x86_64-linux-gnu"
	for b in xl xenstored xenconsoled xenconsole xen-init-dom0 \
		libxl-save-helper xenstore-control; do
		cp "$s/$X/$b" "$r/$X/"
	done
	ln -s /$X/xl "$r/usr/sbin/xl"
	cp "$s/usr/bin/xenstore" "$r/usr/bin/"
	for b in read write ls list rm exists chmod watch; do
		ln -sf xenstore "$r/usr/bin/xenstore-$b"
	done
	# ldd with the unpacked libxen* first; libgcc_s is dlopen()ed by glibc
	# for pthread_cancel (xl aborts without it) and ldd does not list it.
	for b in "$r/$X"/* "$r/usr/bin/xenstore"; do
		LD_LIBRARY_PATH=$s/usr/lib/x86_64-linux-gnu ldd "$b" |
			awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
	done | sort -u | while read -r l; do cp -L "$l" "$r/lib/x86_64-linux-gnu/"; done
	# moat-dom0's vchans (Debian's libxenmisc4.17; its other Xen
	# libraries are xl's too).
	cp -L "$s/usr/lib/x86_64-linux-gnu/libxenvchan.so.4.17" "$r/lib/x86_64-linux-gnu/"
	cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/"
	cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$r/lib/x86_64-linux-gnu/"
	# Without /var/run -> /run, xl's teardown cannot take its lock and
	# every destroyed domU leaks its memory.
	rm -rf "$r/var/run"; ln -s /run "$r/var/run"
	printf 'autoballoon="off"\n' >"$r/etc/xen/xl.conf"
	cp "$tmp/vmlinuz" "$r/guest/vmlinuz-debian"
	cp "$tmp/client-base.cpio.gz" "$r/guest/client-base.cpio.gz"
	mkcpio "$r" "$tmp/dom0-base.cpio.gz"

	{ echo "kernel $KV"; echo "$versions"; } >"$tmp/versions"
	rm -rf "$tmp/stage" "$tmp/root-client" "$tmp/root-dom0" "$tmp/debs"
	rm -rf "$base"; mv "$tmp" "$base"
	log "base built: $base ($(du -sh "$base" | cut -f1))"
}

if [[ ! -s $base/dom0-base.cpio.gz ]]; then
	exec 9>"$cache/.lock"
	flock 9
	[[ -s $base/dom0-base.cpio.gz ]] || build_base
	exec 9>&-
else
	log "cached base: $base"
fi

# ---- overlay: scripts, configs, moat's VM
mkdir -p "$out"
ov=$(mktemp -d)
trap 'rm -rf "$ov"' EXIT
mkdir -p "$ov/etc/xen/scripts" "$ov/guest" "$ov/root-client"
install -m 0755 "$here/dom0-init" "$ov/init"
install -m 0755 "$here/vif-direct" "$here/vif-uplink" "$here/vif-selftest" \
	"$ov/etc/xen/scripts/"
# The client initramfs = its cached base + a one-file cpio with /init.
install -m 0755 "$here/client-init" "$ov/root-client/init"
# make bench-xen: its transfer tool (static) on both ends, dom0's scenario
# and hook; check-xen's images go without them.
if [[ -n ${MOAT_XEN_BENCH_TOOL:-} ]]; then
	install -D -s -m 0755 "$MOAT_XEN_BENCH_TOOL" "$ov/root-client/usr/bin/xbench"
	install -D -s -m 0755 "$MOAT_XEN_BENCH_TOOL" "$ov/usr/bin/xbench"
	install -m 0644 "$here/dom0-bench" "$ov/etc/xen/dom0-bench"
	install -m 0755 "$here/bench-hook" "$ov/etc/xen/scripts/bench-hook"
fi
mkcpio "$ov/root-client" "$ov/client-init.cpio.gz"
cat "$base/client-base.cpio.gz" "$ov/client-init.cpio.gz" >"$ov/guest/client.cpio.gz"
rm -rf "$ov/root-client" "$ov/client-init.cpio.gz"

status="absent no moat VM directory given"
if [[ -n $vmdir ]]; then
	if [[ -s $vmdir/vmlinuz && -s $vmdir/initramfs ]]; then
		# The VM as it is: its configuration comes from QubesDB, which
		# moat-dom0 serves from dom0 over a Xen vchan.
		cp "$vmdir/vmlinuz" "$ov/guest/moat-vmlinuz"
		cp "$vmdir/initramfs" "$ov/guest/moat-initramfs"
		status="present $vmdir"
	else
		status="absent $vmdir has no vmlinuz + initramfs (run make vm-image)"
	fi
fi

# The test-hooks image, beside the release one: dom0-init boots it for the
# one step that needs a hook.  Its kernel is the release image's (make
# vm-image-hooks copies it): a link then, not a second copy in dom0's memory.
hstatus="absent no test-hooks image given (make vm-image-hooks)"
if [[ -n $hooksdir && $status == present* ]]; then
	if [[ -s $hooksdir/vmlinuz && -s $hooksdir/initramfs ]]; then
		if cmp -s "$hooksdir/vmlinuz" "$vmdir/vmlinuz"; then
			ln -s moat-vmlinuz "$ov/guest/moat-hooks-vmlinuz"
		else
			cp "$hooksdir/vmlinuz" "$ov/guest/moat-hooks-vmlinuz"
		fi
		cp "$hooksdir/initramfs" "$ov/guest/moat-hooks-initramfs"
		hstatus="present $hooksdir"
	else
		hstatus="absent $hooksdir has no vmlinuz + initramfs (run make vm-image-hooks)"
	fi
fi

# moat-dom0 from the build, with the libraries it loads that the base does
# not have (the host is the same Debian release as the base's packages).
if [[ $status == present* ]]; then
	[[ -n $dom0tool && -x $dom0tool ]] ||
		die "a moat VM needs moat-dom0 in dom0 (got '${dom0tool}'; run make)"
	install -D -m 0755 "$dom0tool" "$ov/usr/bin/moat-dom0"
	mkdir -p "$ov/lib/x86_64-linux-gnu" "$ov/etc/moat-test"
	have=$(zcat "$base/dom0-base.cpio.gz" | cpio -t --quiet 2>/dev/null |
		sed -n 's|^\(\./\)\{0,1\}lib/x86_64-linux-gnu/||p')
	ldd "$dom0tool" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r l; do
		grep -qxF "${l##*/}" <<<"$have" ||
			cp -L "$l" "$ov/lib/x86_64-linux-gnu/${l##*/}"
	done
	install -m 0644 "$here/qubesdb.json" "$ov/etc/moat-test/qubesdb.json"
fi
echo "$status" >"$ov/guest/moat-vm.status"
echo "$status" >"$out/moat-vm.status"
echo "$hstatus" >"$ov/guest/moat-hooks-vm.status"
echo "$hstatus" >"$out/moat-hooks-vm.status"
mkcpio "$ov" "$out/overlay.cpio.gz"
cat "$base/dom0-base.cpio.gz" "$out/overlay.cpio.gz" >"$out/dom0.cpio.gz.tmp"
mv "$out/dom0.cpio.gz.tmp" "$out/dom0.cpio.gz"
rm -f "$out/overlay.cpio.gz"
ln -sf "$base/xen" "$out/xen"
ln -sf "$base/vmlinuz" "$out/vmlinuz"
cp "$base/versions" "$out/versions"
log "images in $out: dom0.cpio.gz $(stat -c %s "$out/dom0.cpio.gz") bytes; moat VM: $status; test-hooks VM: $hstatus"
