#!/bin/bash
# make check-xen: Xen 4.17 under QEMU (TCG), a busybox dom0, a client domU
# with Debian's kernel, and moat's VM as the client's network backend.
#
# Builds the images (tests/xen/build-images.sh, cached; dom0 gets the build's
# moat-dom0), boots QEMU once, lets dom0's /init (tests/xen/dom0-init) run
# the scenario and power off, streams the serial console, and prints one TAP
# line per check plus the timings.  Not part of "make check": a run takes a few minutes of both cores.
#
# Environment:
#   MOAT_BUILDDIR, MOAT_SRCDIR   set by make
#   MOAT_XEN_VM=DIR              moat's VM (vmlinuz + initramfs) every step
#                                boots; default $MOAT_BUILDDIR/packaging/vm/moat
#                                ("make vm-image", the release image)
#   MOAT_XEN_HOOKS_VM=DIR        the image with test hooks, booted only for the
#                                step that needs one (netbackd killed through
#                                moat.TestSyscall); default
#                                $MOAT_BUILDDIR/packaging/vm/moat-hooks
#                                ("make vm-image-hooks"); absent: that step SKIPs
#   MOAT_XEN_TIMEOUT=S           QEMU's wall-clock limit (default 900; 5400
#                                with MOAT_XEN_BENCH)
#   MOAT_XEN_SELFTEST=1          also run the client steps against dom0's
#                                kernel netback in moat's place (tests the
#                                harness itself)
#   MOAT_XEN_VERBOSE=1           stream the whole serial console (default:
#                                dom0's and the domUs' lines only)
#   MOAT_XEN_LOG=FILE            where the timestamped console goes (default
#                                $MOAT_BUILDDIR/tests/xen/console.log)
#   MOAT_XEN_BENCH=1             "make bench-xen": instead of the checks, bulk
#                                TCP both ways between a client and dom0,
#                                on dom0's kernel netback and through moat's
#                                VM, with and without TSO; prints the table
#                                (log: $MOAT_BUILDDIR/tests/xen/bench.log)
#   MOAT_XEN_BENCH_MB=N          MiB per transfer (default 64)
#   MOAT_XEN_BENCH_ROUNDS=N      rounds of the 4 transfers per path (default 2)
#   MOAT_XEN_BENCH_TOOL=PATH     the static xbench (tests/xen/xbench.c)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
builddir=${MOAT_BUILDDIR:-$PWD}
out=$builddir/tests/xen/images
vm=${MOAT_XEN_VM:-$builddir/packaging/vm/moat}
hooksvm=${MOAT_XEN_HOOKS_VM:-$builddir/packaging/vm/moat-hooks}
bench=${MOAT_XEN_BENCH:-}
if [[ -n $bench ]]; then
	log=${MOAT_XEN_LOG:-$builddir/tests/xen/bench.log}
	benchmb=${MOAT_XEN_BENCH_MB:-64}
	[[ $benchmb =~ ^[1-9][0-9]{0,3}$ ]] || { echo "MOAT_XEN_BENCH_MB: 1 to 9999" >&2; exit 2; }
	benchrounds=${MOAT_XEN_BENCH_ROUNDS:-2}
	[[ $benchrounds =~ ^[1-4]$ ]] || { echo "MOAT_XEN_BENCH_ROUNDS: 1 to 4" >&2; exit 2; }
	[[ -x ${MOAT_XEN_BENCH_TOOL:-} ]] || { echo "MOAT_XEN_BENCH_TOOL: no xbench" >&2; exit 2; }
	hooksvm=	# no step of the bench needs the test hooks
else
	log=${MOAT_XEN_LOG:-$builddir/tests/xen/console.log}
	unset MOAT_XEN_BENCH_TOOL
fi
limit=${MOAT_XEN_TIMEOUT:-$([[ -n ${MOAT_XEN_BENCH:-} ]] && echo 5400 || echo 900)}
mkdir -p "$(dirname "$log")"

n=0 pass=0 fail=0 skip=0
tap() {	# "ok - what" | "not ok - what # why" | "ok - what # SKIP why"
	local l=$1
	n=$((n + 1))
	case $l in
	"ok - "*"# SKIP"*) skip=$((skip + 1)) ;;
	"ok - "*) pass=$((pass + 1)) ;;
	*) fail=$((fail + 1)) ;;
	esac
	echo "${l%% - *} $n - ${l#* - }"
}
summary() {
	echo "$pass passed, $fail failed, $skip skipped"
	[[ $fail -eq 0 ]]
}
wall0=$(date +%s)

command -v qemu-system-x86_64 >/dev/null || {
	tap "not ok - qemu-system-x86_64 present # apt-get install qemu-system-x86 (scripts/deps vm)"
	summary; exit 1
}
if ! "$here/build-images.sh" "$out" "$vm" "$builddir/tools/moat-dom0/moat-dom0" "$hooksvm" >"$out.build.log" 2>&1; then
	sed 's/^/# /' "$out.build.log"
	tap "not ok - images built from Debian's packages # see above"
	summary; exit 1
fi
tap "ok - images built from Debian's packages ($(sed -n 's/^kernel //p' "$out/versions"), $(awk '$1 ~ /^xen-hypervisor/ { print $1, $2 }' "$out/versions"))"
echo "# moat VM, every step: $(cat "$out/moat-vm.status")"
echo "# moat VM with test hooks, only the step marked [test-hooks image]: $(cat "$out/moat-hooks-vm.status")"

# -cpu: no SVM (PV guests only; QEMU 7.2's nested SVM is not reliable), no
# SMAP (Xen's PV stack writes fault under TCG's SMAP), no RDTSCP/AVX, no
# XSAVE (with it, dom0's fresh processes crashed now and then under TCG:
# busybox and xl segfaults at small or garbage addresses, even xl create
# failing to parse the guest kernel; 1 run in 5 on main, every other run
# with moat-dom0's vchans in dom0; none in 16 runs without; see
# docs/xen-e2e.md).  Commas inside -initrd's module arguments are doubled.
[[ $out != *,* ]] || { tap "not ok - build directory path has no comma # $out"; summary; exit 1; }
qemu=(qemu-system-x86_64 -accel tcg -machine pc
	-cpu max,-svm,-smap,-rdtscp,-avx,-avx2,-xsave,-xsaveopt,-xsavec,-xsaves -m 1536 -smp 2
	-display none -serial stdio -monitor none -no-reboot -nodefaults
	-kernel "$out/xen"
	-append "console=com1 com1=115200,8n1 console_timestamps=boot loglvl=all guest_loglvl=all dom0_mem=768M,max:768M dom0_max_vcpus=1 noreboot"
	-initrd "$out/vmlinuz console=hvc0 earlyprintk=xen${MOAT_XEN_SELFTEST:+ xe2e.selftest=1}${bench:+ xe2e.bench=1 xe2e.benchmb=$benchmb xe2e.benchrounds=$benchrounds},$out/dom0.cpio.gz")

# Each console line gets the seconds since QEMU started (host clock).
us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
t0=$(us)
echo "# booting: nice -n 19 ${qemu[*]}"
: >"$log"
set +e
nice -n 19 timeout -k 5 "$limit" "${qemu[@]}" </dev/null 2>&1 | {
	while IFS= read -r line; do
		line=${line//$'\r'/}
		d=$(( ($(us) - t0) / 10000 ))
		printf -v ts '%4d.%02d' $((d / 100)) $((d % 100))
		echo "$ts $line" >>"$log"
		case $line in
		XE2E-TAP*) echo "# $ts ${line#XE2E-TAP }" >&2 ;;
		XE2E*) echo "# $ts $line" >&2 ;;
		*)	if [[ -n ${MOAT_XEN_VERBOSE:-} || $line =~ ^\[[a-z][a-z0-9-]*\]\  ]]; then
				echo "# $ts $line" >&2
			fi ;;
		esac
	done
}
qrc=${PIPESTATUS[0]}
tq=$(( ($(us) - t0) / 1000000 ))

# make bench-xen's table, from bench-hook's XE2E-BENCH lines: each transfer
# timed by its receiver; "moat/kernel" divides moat's MiB/s by the kernel
# netback's in the same run, TSO setting and direction; CPU: seconds each
# domain ran during the transfer (Xen's accounting, xl vcpu-list; dom0's
# includes the hook's two xl runs); "frame": the average size of the data's
# frames on the client's eth0 and on dom0's vif of the link (the client's,
# or moat's uplink): over 1514 means super-frames crossed it; "rtx": TCP
# segments the sender retransmitted.  The idle lines: the same CPU samples
# around 5 s of nothing, what the columns hold that is not the transfer's.
bench_table() {
	echo "# bench-xen, $(date -u '+%Y-%m-%d %H:%M UTC'), host load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) host cores"
	echo "# (Xen 4.17 in QEMU TCG: compare the rows, don't quote the figures)"
	grep -E '^ *[0-9.]+ XE2E-BENCH ' "$log" | sed 's/^ *[0-9.]* XE2E-BENCH //' | awk '
	function f(k,   i, a) {
		for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] }
		return "?"
	}
	{
		n++
		p[n] = f("path"); t[n] = f("tso"); d[n] = f("dir")
		# the round: how many times this path, setting and direction came
		key = p[n] "," t[n] "," d[n]
		rd[n] = ++seen[key]
		if (rd[n] > rounds) rounds = rd[n]
		mib[n] = f("bytes") / 1048576; s[n] = f("ns") / 1e9
		r[n] = s[n] > 0 ? mib[n] / s[n] : 0
		cm[n] = f("moat_cpu"); cd[n] = f("dom0_cpu"); cc[n] = f("client_cpu")
		eff[n] = f("client_tso") "/" f("dom0_tso")
		fc[n] = f("client_frames") > 0 ? int(f("client_bytes") / f("client_frames")) : "-"
		fv[n] = f("vif_frames") > 0 ? int(f("vif_bytes") / f("vif_frames")) : "-"
		rt[n] = f("retrans")
		if (p[n] == "kernel") k[rd[n] "," t[n] "," d[n]] = r[n]
	}
	END {
		printf "# %2s %-4s %-5s %-7s %4s %7s %7s %7s  %-19s %-14s %5s  %s\n", "rd", "TSO", "dir", "path",
		    "MiB", "s", "MiB/s", "moat/", "CPU s moat/dom0/cl", "frame B cl/vif", "rtx", "TSO in effect cl/dom0"
		printf "# %2s %-4s %-5s %-7s %4s %7s %7s %7s\n", "", "", "", "", "", "", "", "kernel"
		# kernel and moat side by side, per round, TSO setting and direction
		split("on off", ts, " "); split("up down", ds, " "); split("kernel moat", ps, " ")
		for (o = 1; o <= rounds; o++)
		for (a = 1; a <= 2; a++) for (b = 1; b <= 2; b++) for (c = 1; c <= 2; c++)
		for (i = 1; i <= n; i++) {
			if (rd[i] != o || t[i] != ts[a] || d[i] != ds[b] || p[i] != ps[c])
				continue
			kk = k[o "," t[i] "," d[i]]
			ratio = "-"
			if (p[i] == "moat" && kk > 0) {
				ratio = sprintf("%.2f", r[i] / kk)
				all[t[i] "," d[i]] = all[t[i] "," d[i]] " " ratio
			}
			printf "# %2d %-4s %-5s %-7s %4d %7.2f %7.2f %7s  %-19s %-14s %5s  %s\n", o, t[i], d[i], p[i],
			    mib[i], s[i], r[i], ratio, cm[i] "/" cd[i] "/" cc[i], fc[i] "/" fv[i], rt[i], eff[i]
		}
		if (n == 0) print "# no transfer was measured"
		for (a = 1; a <= 2; a++) for (b = 1; b <= 2; b++)
			if ((ts[a] "," ds[b]) in all)
				printf "# moat/kernel, TSO %s, %s:%s\n", ts[a], ds[b], all[ts[a] "," ds[b]]
	}'
	grep -E '^ *[0-9.]+ XE2E-BENCH-IDLE ' "$log" | sed 's/^ *[0-9.]* XE2E-BENCH-IDLE //' |
		awk '{ for (i = 1; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
			printf "# idle, %s s, %s path: CPU s moat/dom0/client %s/%s/%s\n", v["secs"], v["path"],
			    v["path"] == "moat" ? v["moat_cpu"] : "-", v["dom0_cpu"], v["client_cpu"] }'
	# natd's counters (the uplink's, then each client's), the zeros left out
	grep -E '^ *[0-9.]+ XE2E-BENCH-DROPS ' "$log" | sed -E 's/^ *[0-9.]* XE2E-BENCH-DROPS /# drops, whole bench: /;
		s/[a-z_0-9]+:0(,|\})/\1/g; s/,+/,/g; s/\{,/{/g; s/,\}/}/g'
}

# Host time of a milestone line.
at() { awk -v p="$1" 'index($0, p) { print $1; exit }' "$log"; }

grep '^ *[0-9.]* XE2E-TAP ' "$log" | sed 's/^ *[0-9.]* XE2E-TAP //' | while IFS= read -r l; do
	echo "$l"
done >"$log.tap"
while IFS= read -r l; do tap "$l"; done <"$log.tap"
rm -f "$log.tap"

# Checks of the log as a whole.
if grep -q 'XE2E-END' "$log"; then
	tap "ok - dom0 ran the whole scenario"
else
	tap "not ok - dom0 ran the whole scenario # no XE2E-END; last lines: $(tail -n 3 "$log" | tr '\n' '|')"
fi
bad=$(grep -E 'segfault|Segmentation fault|Kernel panic|\(XEN\) Panic|general protection|XE2E modprobe .* failed|xc_dom_boot_mem_init' "$log" | head -n 3 | tr '\n' '|')
if [[ -z $bad ]]; then
	tap "ok - no crash, panic or segfault in the console log"
else
	tap "not ok - no crash, panic or segfault in the console log # $bad"
fi
if [[ $qrc -eq 0 ]]; then
	tap "ok - dom0 powered off and QEMU exited by itself (${tq} s)"
else
	tap "not ok - dom0 powered off and QEMU exited by itself # status $qrc after ${tq} s$([[ $qrc -eq 124 ]] && echo ": killed at the ${limit} s limit")"
fi

echo "# timings (seconds; 'host' = since QEMU started):"
for m in dom0-userspace dom0-ready scenario-end; do
	t=$(at "XE2E $m ")
	[[ -n $t ]] && echo "#   $m: host $t"
done
grep -E '^ *[0-9.]+ XE2E-TIME ' "$log" | awk '{ printf "#   %s: %s\n", $3, $4 }'
grep -E 'XE2E moat-init ' "$log" | sed 's/^ *[0-9.]* XE2E moat-init /#   moat VM /'
echo "#   QEMU total: ${tq} s; $([[ -n $bench ]] && echo bench-xen || echo check-xen) wall time: $(( $(date +%s) - wall0 )) s"
echo "# console log: $log"
[[ -z $bench ]] || bench_table
summary
