#!/bin/bash
# The VM's init (packaging/vm/init.c) as PID 1 of a PID + mount namespace,
# chrooted into an image built with the stand-in supervisor: it mounts the
# kernel filesystems, starts /sbin/moat, and on SIGTERM, SIGINT
# (Ctrl-Alt-Del) or /sbin/poweroff it stops moat cleanly and powers off.
# In a child PID namespace "power off" ends the namespace, which is what we
# can observe here; the QEMU boot test (make check-vm) covers the real one.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${MOAT_BUILDDIR:-$src/build}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
init=$build/packaging/vm/moat-init
standin=$build/packaging/vm/standin-moat
if [[ ! -x $init || ! -x $standin ]]; then
	nok "init and stand-in built ($init, $standin)"
	done_testing
	exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
	skip "VM init" "needs root (namespaces, chroot)"
	done_testing
	exit
fi
tmp=$(mktemp -d)
ipid=
cleanup() {
	[[ -n $ipid ]] && kill -KILL "$ipid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

"$src/packaging/vm/mkinitramfs.sh" --out "$tmp/img" --init "$init" --moat "$standin" 2>/dev/null
mkdir "$tmp/root"
(cd "$tmp/root" && zcat "$tmp/img" | cpio -idm --quiet 2>/dev/null)
check "initramfs unpacks with /init, /sbin/moat and /sbin/poweroff" \
	test -x "$tmp/root/init" -a -x "$tmp/root/sbin/moat" -a -L "$tmp/root/sbin/poweroff"

# run_init NAME: start init as PID 1 of fresh namespaces; sets $upid, $ipid.
run_init() {
	: >"$tmp/$1.out"
	unshare --pid --fork --mount --propagation private --kill-child \
		chroot "$tmp/root" /init >"$tmp/$1.out" 2>&1 &
	upid=$!
	ipid=
	for _ in $(seq 50); do
		ipid=$(pgrep -P "$upid" | head -n1)
		[[ -n $ipid ]] && break
		sleep 0.1
	done
}
wait_for() {	# file, regex: up to 10 s
	for _ in $(seq 100); do
		grep -qE "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}
finish() {	# wait for unshare; its status in $rc
	for _ in $(seq 150); do
		kill -0 "$upid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$upid"
	rc=$?
	ipid=
}
stop_scenario() {	# name, how to ask for the power-off
	local name=$1 how=$2 out=$tmp/$1.out
	run_init "$name"
	check "$name: init starts moat and every daemon gets ready" \
		wait_for "$out" 'moat: info: all 4 daemons ready'
	check "$name: init mounted proc, sysfs, devtmpfs, /dev/shm and /run" test "$(awk '{ print $2, $3 }' \
		"/proc/$ipid/mounts" | grep -cxE '/proc proc|/sys sysfs|/dev devtmpfs|/dev/shm tmpfs|/run tmpfs')" -eq 5
	case $how in
	sigterm) kill -TERM "$ipid" ;;
	sigint) kill -INT "$ipid" ;;
	poweroff) nsenter -t "$ipid" -p -m -r /sbin/poweroff ;;
	esac
	check "$name: shutdown requested" wait_for "$out" 'moat-init: .*shutdown requested'
	check "$name: moat is stopped with SIGTERM and exits 0" \
		wait_for "$out" 'moat-init: .*moat \(pid [0-9]+\) exited with status 0'
	check "$name: moat's daemons were stopped first" grep -q 'moat: info: stopped' "$out"
	check "$name: init reports memory before shutdown" \
		grep -q 'memory before shutdown: MemTotal [0-9]* kB' "$out"
	check "$name: init powers off" wait_for "$out" 'moat-init: .*powering off'
	finish
	# reboot(RB_POWER_OFF) in a child PID namespace kills its init with SIGINT.
	check "$name: the namespace ends by init's power-off (status $rc)" test "$rc" -eq 130
}
stop_scenario sigterm sigterm
stop_scenario ctrl-alt-del sigint
stop_scenario poweroff-helper poweroff

# /sbin/poweroff must never signal a PID 1 that is not the VM's init (a
# developer running it on their machine).  Checked read-only: it must refuse
# before signalling, so run it where PID 1 is this namespace's own shell.
unshare --pid --fork --mount-proc sh -c "chroot '$tmp/root' /sbin/poweroff; echo rc=\$?" >"$tmp/helper.out" 2>&1
check "poweroff helper refuses when PID 1 is not moat's init" \
	bash -c "grep -q 'rc=1' '$tmp/helper.out' && grep -q 'not moat' '$tmp/helper.out'"
done_testing
