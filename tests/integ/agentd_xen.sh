#!/bin/bash
# agentd's Xen vchan transport on a real Xen 4.17, booted in QEMU (TCG):
# runs tests/unit/test_agentd_xenvchan in dom0 (a server and a client
# process in one domain, real grants and event channels). Uses the dom0
# base image "make check-xen" caches (/var/cache/moat/xen/<hash>/:
# xen, vmlinuz, dom0-base.cpio.gz); skips when it or QEMU is missing, and
# unless MOAT_CHECK_XEN=1 (a minute of both cores under TCG).
set -u
if [[ ${MOAT_CHECK_XEN:-} != 1 ]]; then
	echo "ok 1 - xen vchan in dom0 under QEMU # SKIP set MOAT_CHECK_XEN=1 (boots Xen in QEMU, ~70 s)"
	echo "1..1"
	exit 0
fi
B=${MOAT_BUILDDIR:-$(pwd)}
TEST=$B/tests/unit/test_agentd_xenvchan
CACHE=${MOAT_XEN_CACHE:-/var/cache/moat/xen}
img=
for d in $(ls -dt "$CACHE"/*/ 2>/dev/null); do
	if [[ -f $d/xen && -f $d/vmlinuz && -f $d/dom0-base.cpio.gz ]]; then
		img=${d%/}
		break
	fi
done
if [[ -z $img ]] || ! command -v qemu-system-x86_64 >/dev/null || [[ ! -x $TEST ]]; then
	echo "ok 1 - xen vchan in dom0 under QEMU # SKIP no cached Xen images (make check-xen builds them) or no QEMU"
	echo "1..1"
	exit 0
fi
T=$(mktemp -d /tmp/agx.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/root/usr/local/bin" "$T/root/lib/x86_64-linux-gnu"
cp "$TEST" "$T/root/usr/local/bin/"
for l in $(ldd "$TEST" | awk '$3 ~ /^\// {print $3}'); do
	cp -L "$l" "$T/root/lib/x86_64-linux-gnu/"
done
cat >"$T/root/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /var/lib/xenstored /var/log/xen /tmp
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc; do
	modprobe $m || echo "AXV modprobe $m failed"
done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file /run/xenstored.pid
xen-init-dom0 >/dev/null
echo "AXV begin"
XEN_DOMID=0 test_agentd_xenvchan 2>&1 | sed 's/^/AXV-OUT /'
echo "AXV end"
sync
poweroff -f
EOF
chmod +x "$T/root/init"
(cd "$T/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$T/overlay.cpio.gz"
cat "$img/dom0-base.cpio.gz" "$T/overlay.cpio.gz" >"$T/dom0.cpio.gz"
nice -n 19 timeout -k 5 ${MOAT_XEN_TIMEOUT:-300} qemu-system-x86_64 -accel tcg -machine pc \
    -cpu max,-svm,-smap,-rdtscp,-avx,-avx2 -m 1024 -smp 2 \
    -display none -serial stdio -monitor none -no-reboot -nodefaults \
    -kernel "$img/xen" \
    -append "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem=512M,max:512M dom0_max_vcpus=1 noreboot" \
    -initrd "$img/vmlinuz console=hvc0 earlyprintk=xen,$T/dom0.cpio.gz" \
    </dev/null >"$T/console.log" 2>&1
tr -d '\r' <"$T/console.log" >"$T/c.log"
if ! grep -q "^AXV end" "$T/c.log"; then
	echo "not ok 1 - xen vchan in dom0 under QEMU: dom0 did not finish"
	tail -n 25 "$T/c.log" | sed 's/^/# /'
	echo "1..1"
	exit 1
fi
grep "^AXV modprobe" "$T/c.log" | sed 's/^/# /'
# the unit test's own TAP, as dom0 printed it
sed -n 's/^AXV-OUT //p' "$T/c.log" | grep -E '^(ok|not ok|#|1\.\.)'
