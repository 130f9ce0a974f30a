#!/bin/bash
# agentd on a real Xen 4.17, booted in QEMU (TCG), in one boot:
#  1. tests/unit/test_agentd_xenvchan in dom0 (a server and a client
#     process in one domain, real grants and event channels);
#  2. agentd in a PV domU (under agentd_minisup, sandboxed, --vchan xen)
#     against Qubes' own dom0 daemons built for Xen (qubesdb-daemon,
#     qrexec-daemon, qrexec-client from release4.2 on qubes-core-vchan-xen),
#     started the way qubesd starts a VM; xl shutdown ends it through
#     control/shutdown.
# Uses the images "make check-xen" caches (/var/cache/moat/xen/<hash>/:
# xen, vmlinuz, dom0-base.cpio.gz, client-base.cpio.gz); skips when they or
# QEMU are missing, and unless MOAT_CHECK_XEN=1 (minutes of both cores).
# Part 2 needs QUBES_XEN_BIN (default <builddir>/qubes-xen): qubesdb-daemon,
# qubesdb-cmd, qrexec-daemon, qrexec-client and their libraries
# (libvchan-xen.so.1, libqrexec-utils.so.3, libqubesdb.so), built by
# supplied from outside as QUBES_XEN_BIN (built for the Xen vchan); without them part 2 is skipped.
set -u
if [[ ${MOAT_CHECK_XEN:-} != 1 ]]; then
	echo "ok 1 - agentd on Xen in QEMU # SKIP set MOAT_CHECK_XEN=1 (boots Xen in QEMU, minutes)"
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
	echo "ok 1 - agentd on Xen in QEMU # SKIP no cached Xen images (make check-xen builds them) or no QEMU"
	echo "1..1"
	exit 0
fi
T=$(mktemp -d /tmp/agx.XXXXXX)
trap 'rm -rf "$T"' EXIT
QX=${QUBES_XEN_BIN:-}
[[ -z $QX && -x $B/qubes-xen/qubesdb-daemon ]] && QX=$B/qubes-xen
copy_libs() { # dest binaries...
	local d=$1 l
	shift
	mkdir -p "$d"
	for l in $(ldd "$@" 2>/dev/null | awk '$3 ~ /^\// {print $3}' | sort -u); do
		cp -L "$l" "$d/"
	done
	# the dynamic loader too: the busybox base images are static
	mkdir -p "$d/../../lib64"
	cp -L /lib64/ld-linux-x86-64.so.2 "$d/../../lib64/"
}
mkcpio() { # root out
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
	    cpio -o -H newc -R 0:0 --quiet) | gzip -6n >"$2"
}
R=$T/root
mkdir -p "$R/usr/local/bin" "$R/guest"
cp "$TEST" "$R/usr/local/bin/"
copy_libs "$R/lib/x86_64-linux-gnu" "$TEST"
e2e=0
if [[ -n $QX && -x $QX/qubesdb-daemon && -f $img/client-base.cpio.gz ]]; then
	e2e=1
	cp "$QX"/qubesdb-daemon "$QX"/qubesdb-cmd "$QX"/qrexec-daemon "$QX"/qrexec-client "$R/usr/local/bin/"
	cp "$QX"/*.so* "$R/lib/x86_64-linux-gnu/"
	(export LD_LIBRARY_PATH=$QX; copy_libs "$R/lib/x86_64-linux-gnu" \
	    "$QX"/qubesdb-daemon "$QX"/qrexec-daemon "$QX"/qrexec-client)
	# the domU: the busybox client base + agentd, the stand-in
	# supervisor and their libraries
	U=$T/domu
	mkdir -p "$U/usr/local/bin"
	cp "$B/agentd/agentd" "$B/tests/integ/agentd_minisup" "$U/usr/local/bin/"
	copy_libs "$U/lib/x86_64-linux-gnu" "$B/agentd/agentd" "$B/tests/integ/agentd_minisup"
	cat >"$U/init" <<'DOMU'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmpfs /run
mkdir -p /tmp
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do modprobe $m; done
mount -t xenfs xenfs /proc/xen
echo "MOAT-DOMU up"
agentd_minisup /usr/local/bin/agentd --vchan xen 2>&1
echo "MOAT-DOMU done"
poweroff -f
DOMU
	chmod +x "$U/init"
	# One gzip stream, not two concatenated: libxenguest gunzips a PV
	# ramdisk itself, sized by the gzip trailer at the end of the file,
	# so with two members it keeps only the first (the base, no /init).
	(cd "$U" && find . -mindepth 1 | LC_ALL=C sort |
	    cpio -o -H newc -R 0:0 --quiet) >"$T/domu-overlay.cpio"
	(zcat "$img/client-base.cpio.gz"; cat "$T/domu-overlay.cpio") |
	    gzip -6n >"$R/guest/moat.cpio.gz"
	cp "$img/vmlinuz" "$R/guest/vmlinuz"
fi
echo "#!/bin/sh" >"$R/init"
echo "E2E=$e2e" >>"$R/init"
cat >>"$R/init" <<'DOM0'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /run/qubes /var/lib/xenstored /var/log/xen/console /var/log/qubes /tmp
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc; do
	modprobe $m || echo "AXV modprobe $m failed"
done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file /run/xenstored.pid
xen-init-dom0 >/dev/null
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
tap() { echo "AXV-TAP $*"; }
check() { if [ "$2" = 0 ]; then tap "ok - $1"; else tap "not ok - $1 # $3"; fi; }
con=/var/log/xen/console/guest-moat.log
waitcon() { # pattern seconds
	_n=$(($2 * 5))
	while [ $_n -gt 0 ]; do
		grep -q -- "$1" $con 2>/dev/null && return 0
		sleep 0.2; _n=$((_n - 1))
	done
	return 1
}
main() {
echo "AXV begin"
XEN_DOMID=0 test_agentd_xenvchan 2>&1 | sed 's/^/AXV-OUT /'
if [ "$E2E" = 1 ]; then
	cat >/etc/xen/moat.cfg <<CFG
name = "moat"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/moat.cpio.gz"
memory = 256
vcpus = 1
extra = "console=hvc0 quiet"
on_poweroff = "destroy"
on_crash = "destroy"
CFG
	# as qubesd: create paused, QubesDB first, unpause, then qrexec
	xl create -p /etc/xen/moat.cfg >/tmp/xl.log 2>&1
	rc=$?
	check "xl create -p moat (PV domU)" $rc "$(tail -n 4 /tmp/xl.log | tr '\n' '|')"
	[ $rc = 0 ] && e2e
fi
echo "AXV end"
sync
poweroff -f
}

e2e() {
	id=$(xl domid moat)
	qubesdb-daemon $id moat
	w() { qubesdb-cmd -c write -d moat "$1" "$2"; }
	w /name moat; w /qubes-ip 10.137.0.5; w /qubes-netmask 255.255.255.255
	w /qubes-gateway 10.137.0.8; w /qubes-primary-dns 10.139.1.1; w /qubes-debug-mode 0
	w /qubes-firewall/10.137.0.12/policy drop
	w /qubes-firewall/10.137.0.12/0000 "action=accept proto=tcp dstports=443-443"
	w /qubes-firewall/10.137.0.12 ""
	xl unpause moat
	qrexec-daemon --policy-program=/bin/false --direct $id moat user 2>/tmp/qrexec.log &
	n=0
	while [ ! -e /var/run/qubes/qrexec.$id ] && [ $n -lt 300 ]; do sleep 0.2; n=$((n + 1)); done
	[ -e /var/run/qubes/qrexec.$id ]
	rc=$?
	check "qrexec-daemon and agentd exchanged HELLO over a Xen vchan" $rc "$(tail -n 3 /tmp/qrexec.log | tr '\n' '|')"
	if [ $rc != 0 ]; then
		grep -v '^$' $con | sed 's/^/AXV-DOMU /' | tail -n 150
		return
	fi
	waitcon "SUP READY sandbox=1" 30
	check "agentd in the domU is sandboxed (seccomp, private /dev/xen root)" $? "$(grep -v '^$' $con | tail -n 4 | tr '\n' '|')"
	waitcon "SUP NETCONF ip=10.137.0.5 gateway=10.137.0.8 dns0=10.139.1.1 debug=0" 30
	check "QubesDB over Xen: NETCONF from qubesdb-daemon's dump" $? "$(grep SUP $con | tail -n 3 | tr '\n' '|')"
	waitcon "SUP QRULE 0000 action=accept proto=tcp dstports=443-443" 10
	check "QubesDB over Xen: the client's rules" $? ""
	qrexec-client -d moat 'DEFAULT:QUBESRPC qubes.WaitForSession dom0' </dev/null
	check "qrexec over Xen: qubes.WaitForSession exits 0" $? ""
	out=$(echo hello-from-dom0 | qrexec-client -d moat 'DEFAULT:QUBESRPC moat.Echo+a dom0')
	rc=$?
	[ $rc = 0 ] && [ "$out" = hello-from-dom0 ]
	check "qrexec over Xen: moat.Echo through the supervisor and back" $? "rc=$rc out=$out"
	qrexec-client -d moat 'DEFAULT:QUBESRPC qubes.VMShell dom0' </dev/null 2>/tmp/err
	rc=$?
	[ $rc = 127 ] && grep -q "not available" /tmp/err
	check "qrexec over Xen: qubes.VMShell exits 127 with a message" $? "rc=$rc"
	f=0
	i=0
	while [ $i -lt 300 ]; do
		qrexec-client -d moat 'DEFAULT:QUBESRPC qubes.WaitForSession dom0' </dev/null || f=$((f + 1))
		i=$((i + 1))
	done
	check "qrexec over Xen: 300 calls in a row (dom0 has 256 ports)" $f "$f failed"
	w /qubes-gateway 10.137.0.9
	waitcon "SUP NETCONF ip=10.137.0.5 gateway=10.137.0.9" 10
	check "QubesDB over Xen: a pushed write arrives" $? ""
	qubesdb-cmd -c rm -d moat /qubes-firewall/10.137.0.12/
	w /qubes-firewall/10.137.0.12/policy drop
	w /qubes-firewall/10.137.0.12/0003 "action=drop proto=icmp"
	w /qubes-firewall/10.137.0.12 ""
	waitcon "SUP QRULE 0003 action=drop proto=icmp" 10
	check "QubesDB over Xen: dom0's rule reload" $? ""
	# Qubes' qvm-shutdown: libxl writes "poweroff" to control/shutdown.
	# A Linux domU's own Xen shutdown handler (drivers/xen/manage.c)
	# takes it first: it clears the key and runs kernel.poweroff_cmd, so
	# agentd's poll usually finds it empty (docs/qubes.md, "Xen control").
	xl shutdown moat >/dev/null 2>&1
	sleep 4
	if grep -q "SUP POWEROFF reboot=0" $con; then
		tap "ok - xl shutdown: control/shutdown became MSG_POWEROFF"
	else
		tap "ok - xl shutdown: control/shutdown became MSG_POWEROFF # SKIP the domU kernel's Xen shutdown handler took the request first"
	fi
	! grep -q "SUP EXIT" $con
	check "agentd ran the whole scenario under its Xen sandbox (no exit, no SIGSYS)" $? "$(grep 'SUP EXIT\|sandbox' $con | tr '\n' '|')"
	xl destroy moat >/dev/null 2>&1
	grep -v '^$' $con | grep -v '^\[ *[0-9.]*\]  ' | sed 's/^/AXV-DOMU /' | tail -n 150
}
main
DOM0
chmod +x "$R/init"
mkcpio "$R" "$T/overlay.cpio.gz"
cat "$img/dom0-base.cpio.gz" "$T/overlay.cpio.gz" >"$T/dom0.cpio.gz"
nice -n 19 timeout -k 5 "${MOAT_XEN_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -machine pc \
    -cpu max,-svm,-smap,-rdtscp,-avx,-avx2,-xsave,-xsaveopt,-xsavec,-xsaves -m 1536 -smp 2 \
    -display none -serial stdio -monitor none -no-reboot -nodefaults \
    -kernel "$img/xen" \
    -append "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem=768M,max:768M dom0_max_vcpus=1 noreboot" \
    -initrd "$img/vmlinuz console=hvc0 earlyprintk=xen,$T/dom0.cpio.gz" \
    </dev/null >"$T/console.log" 2>&1
tr -d '\r' <"$T/console.log" >"$T/c.log"
[[ -n ${MOAT_XEN_LOG:-} ]] && cp "$T/c.log" "$MOAT_XEN_LOG"
if ! grep -q "^AXV end" "$T/c.log"; then
	echo "not ok 1 - agentd on Xen in QEMU: dom0 did not finish"
	tail -n 25 "$T/c.log" | sed 's/^/# /'
	echo "1..1"
	exit 1
fi
grep "^AXV modprobe" "$T/c.log" | sed 's/^/# /'
n=0
while IFS= read -r l; do
	n=$((n + 1))
	echo "${l%% - *} $n - ${l#* - }"
done < <(sed -n -e 's/^AXV-OUT \(ok\|not ok\) [0-9]* - /\1 - /p' -e 's/^AXV-TAP //p' "$T/c.log")
sed -n 's/^AXV-OUT \(# .*\)/\1/p' "$T/c.log"
if grep -q "^AXV-TAP not ok" "$T/c.log"; then
	sed -n 's/^AXV-DOMU /# domU: /p' "$T/c.log"
fi
if [[ $e2e != 1 ]]; then
	n=$((n + 1))
	echo "ok $n - agentd in a domU against Qubes' dom0 daemons # SKIP no QUBES_XEN_BIN (Qubes' dom0 daemons built for the Xen vchan)"
fi
echo "1..$n"
