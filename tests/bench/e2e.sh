#!/bin/bash
# End-to-end benchmark (make bench): TCP throughput client -> uplink through
# moat vs through the Linux kernel doing the same job (ip_forward + nftables
# masquerade + the same rules, tests/integ/kfw.py) in the same namespace
# topology, and the resident memory of all moat processes idle and holding
# 10,000 flows. Goal: moat/kernel >= 0.5.
#   E2E_SECONDS=N   length of each iperf3 run (default 4); 0: latency only
#   E2E_REPS=N      runs per figure, the median is shown (default 3): the
#                   machine is shared, single runs vary by 30 % or more
#   E2E_FLOWS=N     flows for the memory figure (default 10000)
#   E2E_PINGS=N     pings and TCP round trips per latency figure (default 500)
#   E2E_MOAT_ARGS=..., E2E_BASE_ARGS=...  extra moat options for this build's
#                   run and for the base's (e.g. E2E_BASE=$PWD
#                   E2E_BASE_ARGS=--tx-thread: netbackd's transmit thread
#                   against none, same build)
#   E2E_BASE=DIR    also run the moat built in DIR (say, main's build) in the
#                   same rounds, and print its figures and ratios beside
#                   this tree's: a before/after under the same load
# Latency, same rounds: the median round-trip time of a ping c2 -> uplink
# host, of a 64-byte TCP request/response on one open connection (the echo
# service, TCP_NODELAY), and of a whole short connection (connect, 64-byte
# request, reply, close: a new flow through the firewall every time).
# veth offloads are left at their defaults (TSO/GSO on), as the kernel path
# and a vnet_hdr-aware moat both see 64 KB super-frames (packet(7), PACKET_VNET_HDR).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integ/lib.sh"
secs=${E2E_SECONDS:-4}
reps=${E2E_REPS:-3}
nflows=${E2E_FLOWS:-10000}
npings=${E2E_PINGS:-500}
[[ $(id -u) -eq 0 ]] || { echo "e2e: needs root"; exit 1; }
command -v iperf3 >/dev/null || { echo "e2e: iperf3 missing (bash scripts/deps)"; exit 1; }
trap topo_down EXIT
trap 'exit 130' INT TERM
topo_create
qdb_write
ip netns exec "$NS_UP" iperf3 -s -B "$WWW_IP" -p 5201 >"$RUN/iperf3-s.log" 2>&1 &
disown
# The flow sprayer's datagrams are dropped quietly at the uplink host.
in_up nft -f - <<<'table inet sink { chain sink_in { type filter hook input priority 0; udp dport 20000-59999 drop; }; }'
sleep 0.5

declare -A R
# run_iperf ARGS...: Gbit/s received, client c2 -> uplink host
run_iperf() {
	local j
	j=$(ip netns exec "$NS_C2" iperf3 -c "$WWW_IP" -p 5201 -t "$secs" -J "$@" 2>&1)
	"$PY" -c '
import json, sys
try:
    d = json.loads(sys.argv[1]); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception:
    print("fail")' "$j"
}
median() { printf '%s\n' "$@" | "$PY" -c '
import sys, statistics
v = [float(x) for x in sys.stdin.read().split() if x != "fail"]
print("%.2f" % statistics.median(v) if v else "fail")'; }
# run_ping: median ping RTT in microseconds, c2 -> uplink host
run_ping() {
	ip netns exec "$NS_C2" ping -n -c "$npings" -i 0.002 "$WWW_IP" 2>&1 | "$PY" -c '
import re, statistics, sys
v = [float(m.group(1)) * 1000 for m in re.finditer(r"time=([0-9.]+) ms", sys.stdin.read())]
print("%.0f" % statistics.median(v) if len(v) > 10 else "fail")'
}
# run_rr rr|conn: median microseconds of a 64-byte TCP request/response to
# the echo service (rr: on one connection; conn: a new connection each time)
run_rr() {
	ip netns exec "$NS_C2" "$PY" - "$1" "$WWW_IP" "$npings" <<'PYEOF' 2>&1 | tail -1
import socket, statistics, sys, time
mode, host, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "conn":
    n = max(n // 5, 20)		# each one is a new flow in the table
msg, v = b"x" * 64, []
def conn():
    c = socket.create_connection((host, 7), 2)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c
def rr(c):
    c.sendall(msg)
    got = 0
    while got < len(msg):
        b = c.recv(4096)
        if not b:
            raise OSError("closed")
        got += len(b)
try:
    c = conn() if mode == "rr" else None
    if c:
        rr(c)		# warm
    for _ in range(n):
        t = time.perf_counter()
        if mode == "conn":
            with conn() as k:
                rr(k)
        else:
            rr(c)
        v.append((time.perf_counter() - t) * 1e6)
    print("%.0f" % statistics.median(v))
except OSError:
    print("fail")
PYEOF
}
declare -A ALL
one_round() {	# one_round MODE: one run of each figure
	ALL[$1,ping]+=" $(run_ping)"
	ALL[$1,rr]+=" $(run_rr rr)"
	ALL[$1,conn]+=" $(run_rr conn)"
	[[ $secs != 0 ]] || return 0
	ALL[$1,1]+=" $(run_iperf -P 1)"
	ALL[$1,4]+=" $(run_iperf -P 4)"
	ALL[$1,R1]+=" $(run_iperf -P 1 -R)"
	ALL[$1,R4]+=" $(run_iperf -P 4 -R)"
}
# rss_kb / pss_kb: sum over every process in the firewall namespace (moat's)
mem_kb() {
	local field=$1 file=$2 pid sum=0 v
	for pid in $(ip netns pids "$NS_FW"); do
		v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/$file" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

moat_up() {
	FW_MODE=moat
	_moat_launch --flows $((nflows + nflows / 2)) --client-quota $((nflows + 1000)) \
		--timeout-udp 300 --timeout-udp-stream 300 "$@" || {
		echo "e2e: MOAT DID NOT COME UP: $MOAT_START_ERR"; moat_logs_tail 10; return 1; }
	wait_ready 2 >/dev/null || {
		echo "e2e: MOAT CAME UP BUT c2 CANNOT RESOLVE THROUGH IT"; moat_logs_tail 10; return 1; }
}

# Kernel and moat rounds alternate, so both see the same background load on
# a shared machine; each figure is the median of its rounds.
echo "== kernel baseline (ip_forward + nftables masquerade) vs moat: ${secs}s per run, $reps rounds each, alternating"
moat_ok=1
if [[ ! -x $MOAT_BIN || ! -x $MOATCTL_BIN ]]; then
	echo "e2e: MOAT MISSING: no $MOAT_BIN / $MOATCTL_BIN (build first)"
	moat_ok=
fi
base=${E2E_BASE:-}
if [[ -n $base && ! -x $base/moat/moat ]]; then
	echo "e2e: E2E_BASE=$base has no moat/moat (build it first)"; exit 1
fi
for round in $(seq "$reps"); do
	echo "  round $round: load average $(cut -d' ' -f1-3 /proc/loadavg)"
	FW_MODE=kernel
	fw_start
	wait_ready 2 >/dev/null || echo "kernel baseline: DNS check failed"
	one_round kernel
	fw_stop
	[[ -n $moat_ok ]] || continue
	if [[ -n $base ]]; then
		this_bin=$MOAT_BIN MOAT_BIN=$base/moat/moat
		# shellcheck disable=SC2086
		moat_up ${E2E_BASE_ARGS:-} && one_round base
		_moat_stop
		MOAT_BIN=$this_bin
	fi
	# shellcheck disable=SC2086
	moat_up ${E2E_MOAT_ARGS:-} || { moat_ok=; continue; }
	if [[ $round == 1 ]]; then
		sleep 1
		rss_idle=$(mem_kb VmRSS status) pss_idle=$(mem_kb Pss smaps_rollup)
	fi
	one_round moat
	[[ $round == "$reps" ]] || _moat_stop
done
for m in kernel ${base:+base} moat; do
	for k in 1 4 R1 R4 ping rr conn; do
		[[ -n ${ALL[$m,$k]:-} ]] || continue
		R[$m,$k]=$(median ${ALL[$m,$k]})
		echo "  $m ${k/R/-R }: runs${ALL[$m,$k]} -> median ${R[$m,$k]}"
	done
done
# cpu_per_gb DIR: CPU seconds per GB that moat's netbackd (all threads,
# and its busiest thread) and natd spend on 1 GB sent by 4 streams (DIR:
# "" upload, -R download). Unlike Gbit/s on a shared machine, this does
# not depend on how much of the machine moat was given; the busiest
# thread's figure bounds what one core can carry.
cpu_per_gb() {
	local nb nd a z an zn out
	nb=$(moatctl status 2>/dev/null | awk '$1 == "netbackd" { print $2 }')
	nd=$(moatctl status 2>/dev/null | awk '$1 == "natd" { print $2 }')
	[[ -n $nb && -n $nd ]] || { echo "no daemons"; return; }
	ticks() { local t; for t in /proc/$1/task/*; do echo -n "$(awk '{ print $14 + $15 }' "$t/stat") "; done; }
	a=$(ticks "$nb") an=$(ticks "$nd")
	out=$(ip netns exec "$NS_C2" iperf3 -c "$WWW_IP" -p 5201 -n 1G -P 4 $1 -J 2>&1)
	z=$(ticks "$nb") zn=$(ticks "$nd")
	"$PY" - "$(getconf CLK_TCK)" "$a" "$z" "$an" "$zn" "$out" <<'PYEOF'
import json, sys
hz, a, z, an, zn, out = sys.argv[1:]
try:
    gb = json.loads(out)["end"]["sum_received"]["bytes"] / 1e9
    a, z = [int(x) for x in a.split()], [int(x) for x in z.split()]
    if len(a) != len(z):
        raise ValueError("threads changed")
    th = [(y - x) / int(hz) / gb for x, y in zip(a, z)]
    nd = (sum(map(int, zn.split())) - sum(map(int, an.split()))) / int(hz) / gb
    print("netbackd %.2f (%d threads, busiest %.2f: one core carries %.0f Gbit/s), natd %.2f" % (
        sum(th), len(th), max(th), 8 / max(th) if max(th) else 0, nd))
except (ValueError, KeyError, ZeroDivisionError) as e:
    print("fail (%s)" % e)
PYEOF
}
if [[ -n $moat_ok ]]; then
	sleep 1
	cpu_up=$(cpu_per_gb "") cpu_down=$(cpu_per_gb -R)
	# Two passes over the same ports: a flow whose first datagram was
	# dropped under the burst (see drops below) gets made by the second.
	for pass in 1 2; do
		ip netns exec "$NS_C2" "$PY" "$INTEG_DIR/pkt.py" spray "$WWW_IP" 20000 "$nflows" --pps 10000 --sport 33333 >/dev/null
		sleep 1
		[[ $pass == 1 ]] && flows1=$(moat_stat 's["flows"]' 2>/dev/null || echo "?")
	done
	flows=$(moat_stat 's["flows"]' 2>/dev/null || echo "?")
	drops=$(moat_stat '", ".join("%s %d" % kv for kv in client(s, "'"$C2_IP"'")["drops"].items() if kv[1])' 2>/dev/null)
	rss_full=$(mem_kb VmRSS status) pss_full=$(mem_kb Pss smaps_rollup)
	nproc_fw=$(ip netns pids "$NS_FW" | wc -l)
fi

echo
ratio() { "$PY" -c 'import sys
try: print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))
except Exception: print("-")' "$1" "$2"; }
# with E2E_BASE: the base's figure and its ratio to the kernel as well
bhead() { [[ -z $base ]] || printf ' %12s %8s' "base $1" "ratio"; }
bcol() { [[ -z $base ]] || printf ' %12s %8s' "${R[base,$1]:-missing}" "$(ratio "${R[kernel,$1]:-}" "${R[base,$1]:-}")"; }
printf '%-34s %12s %12s %8s%s\n' "TCP c2 -> uplink (iperf3)" "kernel Gb/s" "moat Gb/s" "ratio" "$(bhead Gb/s)"
worst=
for k in 1 4 R1 R4; do
	case $k in 1) l="1 stream, upload" ;; 4) l="4 streams, upload" ;; R1) l="1 stream, download (-R)" ;; R4) l="4 streams, download (-R)" ;; esac
	m=${R[moat,$k]:-missing}
	r=$(ratio "${R[kernel,$k]:-}" "$m")
	printf '%-34s %12s %12s %8s%s\n' "$l" "${R[kernel,$k]:-missing}" "$m" "$r" "$(bcol $k)"
	[[ $k == 1 || $k == 4 ]] && worst=$("$PY" -c 'import sys
a = [x for x in sys.argv[1:] if x not in ("", "-")]
print(min(map(float, a)) if a else "-")' $worst "$r")
done
echo
# latency: moat/kernel, so here above 1 is worse
printf '%-34s %12s %12s %8s%s\n' "round trip c2 -> uplink (median)" "kernel us" "moat us" "ratio" "$(bhead us)"
for k in ping rr conn; do
	case $k in ping) l="ping" ;; rr) l="TCP 64 B request/response" ;; conn) l="TCP connect+request+close" ;; esac
	m=${R[moat,$k]:-missing}
	printf '%-34s %12s %12s %8s%s\n' "$l" "${R[kernel,$k]:-missing}" "$m" "$(ratio "${R[kernel,$k]:-}" "$m")" "$(bcol $k)"
done
echo
if [[ -n $moat_ok ]]; then
	printf '%-34s %12s %12s\n' "moat memory ($nproc_fw processes)" "sum RSS" "sum PSS"
	printf '%-34s %9d kB %9d kB\n' "idle" "$rss_idle" "$pss_idle"
	printf '%-34s %9d kB %9d kB\n' "holding $flows flows" "$rss_full" "$pss_full"
	echo "(flows after the first pass of $nflows datagrams at 10k/s: $flows1; c2 drops: ${drops:-none})"
	echo
	echo "moat CPU seconds per GB, 4 streams (utime+stime, /proc/PID/task/*/stat):"
	echo "  upload:   $cpu_up"
	echo "  download: $cpu_down"
	echo
fi
if [[ -z $moat_ok ]]; then
	echo "e2e: FAIL: moat missing or not running"; exit 1
fi
[[ $secs != 0 ]] || exit 0	# latency only: no throughput goal
# Issue 15's goals, said but not enforced: on a shared 2-core machine a
# single run is too noisy to fail a build on.
g15=$("$PY" - "${R[kernel,1]:-}" "${R[moat,1]:-}" "${R[kernel,R1]:-}" "${R[moat,R1]:-}" \
	"${R[kernel,4]:-}" "${R[moat,4]:-}" "${R[kernel,R4]:-}" "${R[moat,R4]:-}" <<'PYEOF'
import sys
a = sys.argv[1:]
try:
    r = [float(a[i + 1]) / float(a[i]) for i in range(0, 8, 2)]
except (ValueError, ZeroDivisionError):
    print("no ratio"); sys.exit()
miss = [n for n, x, g in zip(("1 stream up", "1 stream down", "4 streams up", "4 streams down"), r,
                             (0.9, 0.9, 0.8, 0.8)) if x < g]
print("met" if not miss else "NOT met (" + ", ".join(miss) + ")")
PYEOF
)
echo "e2e: issue 15's goals (1 stream >= 0.9, 4 streams >= 0.8 of the kernel, both ways): $g15"
if [[ $worst == - ]]; then echo "e2e: FAIL: no ratio"; exit 1; fi
if "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.5 else 1)' "$worst"; then
	echo "e2e: upload ratio moat/kernel >= 0.5 (worst $worst): goal met"
else
	echo "e2e: upload ratio moat/kernel $worst < 0.5: goal NOT met"
	exit 1
fi
