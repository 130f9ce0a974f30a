#!/bin/bash
# Boot the moat VM image as a Xen guest: Xen 4.17 + a Debian dom0 inside
# QEMU (TCG), all from Debian's archive (unpacked, never installed).  Checks
# what plain QEMU cannot: the image boots as a PV and as a PVH guest (how
# Qubes 4.2 starts it), init sees the Xen devices, every daemon gets ready
# in 32 MB, and "xl shutdown" (what qvm-shutdown does) powers it off through
# /sbin/poweroff.  TAP output.  ~1 min; the first run downloads ~75 MB.
#
#   xen-smoke.sh VMLINUZ INITRAMFS [MOAT_ARGS]
#
# PV always; PVH too with MOAT_XEN_PVH=1 ("make check-vm-xen" sets it).
# PVH under QEMU's emulated SVM is known to be flaky on this QEMU (nested
# SVM bugs in dom0, not in the guest); a PVH failure is reported, not hidden.
set -u
vmlinuz=$(realpath "$1") initramfs=$(realpath "$2")
args=${3:---backend none --domid @domid}
here=$(dirname "$(realpath "$0")")
W=${MOAT_XEN_WORK:-/var/cache/moat/xen}
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }

mkdir -p "$W/debs"
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{ print $2 }')
debs="xen-hypervisor-4.17-amd64 $kpkg xen-utils-4.17 xen-utils-common xenstore-utils
	libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1 libxengnttab1
	libxenhypfs1 libxenmisc4.17 libxenstore4 libxentoolcore1 libxentoollog1 libyajl2"
stamp=$(echo "$debs" | tr -s ' \n\t' ' ')
if [[ $(cat "$W/.stamp" 2>/dev/null) != "$stamp" ]]; then
	rm -rf "$W/stage" "$W/debs"/*.deb
	(cd "$W/debs" && apt-get download $debs >/dev/null 2>&1) || { nok "download Xen packages"; echo "1..$n"; exit 1; }
	mkdir -p "$W/stage"
	for d in "$W"/debs/*.deb; do dpkg-deb -x "$d" "$W/stage"; done
	echo "$stamp" >"$W/.stamp"
fi
S=$W/stage
KV=${kpkg#linux-image-}
zcat "$S"/boot/xen-4.17-amd64.gz >"$W/xen"

R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc/xen,var/lib/xen,var/log/xen,guest,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list-full); do [[ -e $R/$a ]] || ln -s /bin/busybox "$R/$a"; done
md=$S/lib/modules/$KV
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
	f=$(find "$md/kernel" -name "$m.ko*")
	d=$R/lib/modules/$KV/${f#$md/}
	mkdir -p "$(dirname "$d")"
	cp "$f" "$d"
done
cp "$md"/modules.builtin "$md"/modules.order "$R/lib/modules/$KV/"
depmod -b "$R" "$KV"
X=usr/lib/xen-4.17/bin
mkdir -p "$R/$X"
for b in xl xenstored xenconsoled xen-init-dom0 libxl-save-helper; do cp "$S/$X/$b" "$R/$X/"; done
ln -s /$X/xl "$R/usr/sbin/xl"
ln -s /run "$R/var/run"
export LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu
for b in "$R/$X"/*; do ldd "$b" | awk '/=> \//{ print $3 }'; done | sort -u |
	while read -r l; do cp -L "$l" "$R/lib/x86_64-linux-gnu/"; done
unset LD_LIBRARY_PATH
cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$R/lib/x86_64-linux-gnu/"
printf 'autoballoon="off"\n' >"$R/etc/xen/xl.conf"
cp "$vmlinuz" "$R/guest/vmlinuz"
cp "$initramfs" "$R/guest/initramfs"
for t in pv pvh; do
	cat >"$R/etc/xen/moat-$t.cfg" <<CFG
name = "moat-$t"
type = "$t"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/initramfs"
memory = 32
vcpus = 1
extra = "console=hvc0 moat.args=\\"$args\\""
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
done
# No moat.args at all: init must start moat with the Qubes defaults.
sed -e 's/moat-pv"/moat-pvq"/' -e 's/^extra = .*/extra = "console=hvc0"/' \
	"$R/etc/xen/moat-pv.cfg" >"$R/etc/xen/moat-pvq.cfg"
install -m 0755 "$here/xen/dom0-init" "$R/init"
(cd "$R" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$W/dom0.cpio.gz"

log=$W/xen-smoke.log
timeout 300 qemu-system-x86_64 -accel tcg -machine pc -cpu max,-smap,-rdtscp,-avx,-avx2,-xsave,-xsaveopt,-xsavec,-xsaves \
	-m 1024 -smp 2 -display none -serial stdio -monitor none -no-reboot -nodefaults \
	-kernel "$W/xen" \
	-append "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem=512M,max:512M dom0_max_vcpus=1 noreboot" \
	-initrd "$S/boot/vmlinuz-$KV console=hvc0 quiet xsmoke=pv,,pvq${MOAT_XEN_PVH:+,,pvh},$W/dom0.cpio.gz" \
	</dev/null >"$log" 2>&1
sed -i "s/\r//g" "$log"
echo "# log: $log"
for t in pv ${MOAT_XEN_PVH:+pvh}; do
	g="\[moat-$t\]"
	check "$t: init sees a Xen ${t^^} guest with its devices" \
		grep -qE "$g moat-init: .*xen ${t^^} guest; /dev/xen: evtchn gntdev gntalloc privcmd xenbus" "$log"
	want=${args//@domid/[0-9]+}
	check "$t: init starts moat with moat.args, @domid replaced by the domain id" \
		grep -qE "$g moat-init: .*starting /sbin/moat $want\$" "$log"
	check "$t: every daemon ready with seccomp in 32 MB" \
		test "$(grep -cE "$g moat: info: [a-z]+ ready \(pid [0-9]+, sandbox seccomp\)" "$log")" -ge 4
	check "$t: xl shutdown reaches init (via /sbin/poweroff)" grep -qE "$g moat-init: .*shutdown requested" "$log"
	check "$t: moat stops cleanly" grep -qE "$g moat-init: .*moat \(pid [0-9]+\) exited with status 0" "$log"
	check "$t: the domain is gone" bash -c "grep -qE 'XSMOKE $t gone' '$log' && ! grep -q 'XSMOKE $t still-running' '$log'"
	grep -E "$g moat-init: .*memory" "$log" | sed 's/^/# /'
done
g='\[moat-pvq\]'
check "no moat.args: init starts moat with the Qubes defaults and the domain id" \
	grep -qE "$g moat-init: .*starting /sbin/moat --backend xen --vchan xen --domid [0-9]+\$" "$log"
check "no moat.args: the domain still shuts down" \
	bash -c "grep -qE 'XSMOKE pvq gone' '$log' && ! grep -q 'XSMOKE pvq still-running' '$log'"
echo "1..$n"
