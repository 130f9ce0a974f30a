#!/bin/bash
# make soak: minutes of mixed load through moat — a long TCP transfer, many short connections, and
# a hostile client sending malformed frames — while the resident memory of every moat process is
# sampled. Passes when memory stays flat, no daemon dies, and every legitimate transfer completes.
# SOAK_SECONDS (default 300) sets the length.
. "$(dirname "$0")/../integ/lib.sh"
kernel_mode && { skip "soak" "moat only"; exit 0; }
secs=${SOAK_SECONDS:-300}
topo_up

# Resident memory of moat and its daemons, in KiB: private (RssAnon: heap,
# stacks; a leak shows here) and shared (RssShmem: the packet pool and the
# flow table, which grow as buffers and table pages are first touched, up to
# their fixed size, and are counted once per process that maps them).
rss_kb() {	# rss_kb RssAnon|RssShmem
	local t=0 p
	for p in $MOAT_PID $(pgrep -P "$MOAT_PID"); do
		t=$((t + $(awk -v f="$1:" '$1 == f {print $2}' /proc/$p/status 2>/dev/null || echo 0)))
	done
	echo $t
}

gw_mac=$(ip -n "$NS_C2" neigh show "$FW_IP" | awk '{print $5; exit}')
[[ -n $gw_mac ]] || gw_mac=ff:ff:ff:ff:ff:ff

# 1. a long transfer for the whole run, from c2 (whose Qubes policy is accept)
ip netns exec "$NS_UP" iperf3 -s -B "$WWW_IP" -p 5201 -1 >"$RUN/iperf-s.log" 2>&1 &
sleep 0.5
ip netns exec "$NS_C2" iperf3 -c "$WWW_IP" -p 5201 -t "$secs" -J >"$RUN/iperf.json" 2>"$RUN/iperf.err" &
iperf_pid=$!

# 2. many short connections from c1, each checked
(
	okn=0 badn=0 end=$(( $(date +%s) + secs ))
	while (( $(date +%s) < end )); do
		if ip netns exec "$NS_C1" curl -s --max-time 5 "http://$WWW_IP/" | grep -q 'moat integ www'; then
			okn=$((okn + 1))
		else
			badn=$((badn + 1))
		fi
	done
	echo "$okn $badn" >"$RUN/short.result"
) &
short_pid=$!

# 3. a hostile client: malformed frames out of c2's link
ip netns exec "$NS_C2" "$PY" "$(dirname "$0")/hostile.py" eth0 "$gw_mac" "$C2_IP" "$secs" 2000 \
	>"$RUN/hostile.log" 2>&1 &
hostile_pid=$!

samples=() shmem=()
start=$(date +%s)
while kill -0 "$iperf_pid" 2>/dev/null; do
	samples+=("$(rss_kb RssAnon)")
	shmem+=("$(rss_kb RssShmem)")
	sleep 10
done
wait "$short_pid"; wait "$hostile_pid"
wait "$iperf_pid"; iperf_rc=$?

read -r okn badn <"$RUN/short.result"
first=${samples[1]:-${samples[0]}}
last=${samples[-1]}
max=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
gbps=$("$PY" -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9))' "$RUN/iperf.json" 2>/dev/null)
restarts=$(moat_stat 'sum(s["daemons"][d]["restarts"] for d in ("netbackd","natd","policyd","agentd"))')

echo "# soak: $secs s; private RSS (KiB) every 10 s: ${samples[*]}"
echo "# soak: shared RSS (pool + flow table pages touched, summed over processes): ${shmem[*]}"
echo "# soak: iperf3 long transfer ${gbps:-?} Gbit/s; short connections ok $okn, failed $badn"
echo "# soak: $(cat "$RUN/hostile.log"); daemon restarts $restarts"
is "$iperf_rc" 0 "the long transfer ran for $secs s and completed"
is "$badn" 0 "every one of $okn short connections completed"
is "$restarts" 0 "no daemon died under the hostile client"
check "private resident memory stays flat (end $last KiB <= 1.1 x $first KiB + 1 MiB; max $max)" \
	test "$last" -le $(( first * 11 / 10 + 1024 ))
