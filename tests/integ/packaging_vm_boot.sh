#!/bin/bash
# Boot test of the moat VM image (run by "make check-vm", which builds the
# image first): under QEMU with software emulation and 32 MB of memory,
# every daemon reaches ready with its sandbox on, the VM powers off cleanly
# on Ctrl-Alt-Del, and boot time and memory are measured against the floor
# (the same kernel with a trivial init).
#
# Environment: MOAT_BUILDDIR (image in packaging/vm/), MOAT_VM_MEM (MB,
# default 32), MOAT_VM_SMP (default 1), MOAT_VM_ARGS (moat's arguments,
# default "--backend none"), MOAT_VM_DAEMONS (expected ready lines),
# MOAT_VM_RUNS (boots of each image for the timing medians, default 5).
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${MOAT_BUILDDIR:-$src/build}
vm=$build/packaging/vm
mem=${MOAT_VM_MEM:-32}
smp=${MOAT_VM_SMP:-1}
args=${MOAT_VM_ARGS:---backend none}
daemons=${MOAT_VM_DAEMONS:-netbackd natd policyd agentd}
boot=$src/packaging/vm/qemu-boot.py
logdir=${MOAT_VM_LOGDIR:-$vm/logs}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
val() { sed -n "s/^$1=//p" "$2"; }
mkdir -p "$logdir"

if ! command -v qemu-system-x86_64 >/dev/null; then
	skip "VM boot" "qemu-system-x86_64 not installed (Debian package qemu-system-x86)"
	done_testing
	exit
fi
for f in "$vm/moat/vmlinuz" "$vm/moat/initramfs" "$vm/floor.cpio.gz"; do
	if [[ ! -s $f ]]; then
		nok "image built ($f missing: run make vm-image)"
		done_testing
		exit 1
	fi
done

ksize=$(stat -c %s "$vm/moat/vmlinuz")
isize=$(stat -c %s "$vm/moat/initramfs")
echo "# kernel $ksize bytes, initramfs $isize bytes (gzip), $(zcat "$vm/moat/initramfs" | wc -c) bytes as cpio"
check "kernel is under 2 MB ($ksize bytes)" test "$ksize" -lt 2000000

# $runs boots of each image, floor and image boots alternating so that load
# from other work on a shared machine hits both alike.  The first boot of the image is the one whose log is checked.
runs=${MOAT_VM_RUNS:-5}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "none"; else print v[int((NR + 1) / 2)] }'; }
kopts="console=ttyS0 quiet panic=-1"
ready_re='moat: info: [a-z]+ ready \(pid [0-9]+, sandbox [a-z]+\)'
ndaemons=$(wc -w <<<"$daemons")
floors=() readies=() fok=0
for i in $(seq "$runs"); do
	# The floor: same kernel, init starts a stand-in that says ready and exits.
	$boot --kernel "$vm/moat/vmlinuz" --initrd "$vm/floor.cpio.gz" \
		--append "$kopts moat.args=\"--floor\"" --mem "$mem" --smp "$smp" \
		--log "$logdir/floor-$i.log" --ready 'moat: info: floor ready' \
		--timeout 60 >"$logdir/floor-$i.res"
	f=$(val ready_s "$logdir/floor-$i.res")
	[[ $f != none ]] && floors+=("$f")
	[[ $(val qemu_status "$logdir/floor-$i.res") == 0 ]] &&
		grep -q 'reboot: Power down' "$logdir/floor-$i.log" && fok=$((fok + 1))
	# The image: moat with every daemon, then Ctrl-Alt-Del.
	$boot --kernel "$vm/moat/vmlinuz" --initrd "$vm/moat/initramfs" \
		--append "$kopts moat.args=\"$args\"" --mem "$mem" --smp "$smp" \
		--log "$logdir/boot-$i.log" --ready "$ready_re" --ready-count "$ndaemons" \
		--powerdown --timeout 120 >"$logdir/boot-$i.res"
	r=$(val ready_s "$logdir/boot-$i.res")
	[[ $r != none ]] && readies+=("$r")
done
floor=$(printf '%s\n' "${floors[@]}" | median)
check "floor image boots to its ready line, $runs of $runs (median ${floor} s)" test "${#floors[@]}" -eq "$runs"
check "floor image powers itself off, $runs of $runs" test "$fok" -eq "$runs"
log=$logdir/boot-1.log
res=$logdir/boot-1.res
ready=$(printf '%s\n' "${readies[@]}" | median)
echo "# floor runs: ${floors[*]:-none}; image runs: ${readies[*]:-none}"
check "init starts /sbin/moat with the command line's arguments" \
	grep -qF "starting /sbin/moat $args" "$log"
for d in $daemons; do
	check "$d ready with its sandbox on (${mem} MB VM)" \
		grep -qE "moat: info: $d ready \(pid [0-9]+, sandbox seccomp\)" "$log"
done
check "all $ndaemons daemons ready, $runs of $runs boots (median ${ready} s after QEMU start)" \
	test "${#readies[@]}" -eq "$runs"
if [[ $ready != none && $floor != none ]]; then
	# The goal compares the best of the runs on each side: load from other
	# work only ever adds time, so the minimum is the least noisy estimate.
	rmin=$(printf '%s\n' "${readies[@]}" | sort -n | head -n1)
	fmin=$(printf '%s\n' "${floors[@]}" | sort -n | head -n1)
	ratio=$(awk -v r="$rmin" -v f="$fmin" 'BEGIN { printf "%.2f", r / f }')
	echo "# ready: median ${ready} s, best ${rmin} s; floor: median ${floor} s, best ${fmin} s"
	check "ready within 1.5x of the floor (best of $runs: ${rmin} s vs ${fmin} s: ${ratio}x)" \
		awk -v x="$ratio" 'BEGIN { exit !(x <= 1.5) }'
else
	nok "ready within 1.5x of the floor (no timing)"
fi
memline=$(grep -o 'memory before shutdown: .*' "$log" | head -n1)
avail=$(sed -n 's/.*MemAvailable \([0-9]*\) kB.*/\1/p' <<<"$memline")
echo "# ${memline:-no memory line}"
check "memory after ready: ${avail:-?} kB available of ${mem} MB" test "${avail:-0}" -ge 4096

check "Ctrl-Alt-Del reaches init as a shutdown request" grep -q 'moat-init: .*shutdown requested' "$log"
check "moat stops cleanly on SIGTERM (exit status 0)" \
	grep -qE 'moat-init: .*moat \(pid [0-9]+\) exited with status 0' "$log"
check "init powers off" grep -q 'moat-init: .*powering off' "$log"
sent=$(val powerdown_sent_s "$res")
exit_s=$(val qemu_exit_s "$res")
check "the kernel powers the machine off" grep -q 'reboot: Power down' "$log"
check "QEMU exits with status 0 after the request (sent ${sent} s, exited ${exit_s} s)" \
	test "$(val qemu_status "$res")" = 0 -a "$sent" != none
check "no kernel panic or oops" bash -c "! grep -qE 'Kernel panic|Oops|BUG:|Attempted to kill init' '$log'"
echo "# logs: $logdir/floor-N.log $logdir/boot-N.log"
done_testing
