#!/bin/bash
# Kill -9 each daemon in turn while a long TCP transfer runs through moat: the transfer completes
# intact, every daemon comes back, and a natd restart loses no established flow.
. "$(dirname "$0")/lib.sh"
kernel_mode && { skip "daemon restarts" "moat only"; exit 0; }
topo_up

size=$(stat -c %s "$RUN/www/1m.bin")
want=$(sha256sum <"$RUN/www/1m.bin" | cut -d' ' -f1)
# ~8 s at 128 KiB/s: long enough to kill four daemons under it.
ip netns exec "$NS_C2" curl -s --limit-rate 128k --max-time 60 -o "$RUN/got.bin" \
	"http://$WWW_IP/1m.bin" &
curl_pid=$!
sleep 1

daemon_pid() { moatctl status 2>/dev/null | awk -v d="$1" '$1 == d && $3 == "ready" { print $2 }'; }
nf0=$(moat_stat 's["uplink"]["drops"].get("no_flow", 0)')
for d in agentd policyd natd netbackd; do
	old=$(daemon_pid "$d")
	[[ -n $old ]] || { not_ok "$d is running before the kill"; continue; }
	kill -9 "$old"
	back() { p=$(daemon_pid "$d"); [[ -n $p && $p != "$old" ]]; }
	t0=$(now_ms)
	for i in $(seq 100); do back && break; sleep 0.01; done
	if back; then ok "$d killed mid-transfer is back in $(( $(now_ms) - t0 )) ms"; else not_ok "$d is back within a second"; fi
	if [[ $d == natd ]]; then
		# With the flow kept, the server's next segments are translated
		# at once; with it lost they would be dropped as unsolicited.
		sleep 1
		nf1=$(moat_stat 's["uplink"]["drops"].get("no_flow", 0)')
		is "$nf1" "$nf0" "no inbound segment of the transfer was dropped as unsolicited after natd's restart"
	fi
	sleep 1
done

if wait "$curl_pid"; then ok "the transfer completed"; else not_ok "the transfer completed (curl failed)"; fi
got=$(sha256sum <"$RUN/got.bin" 2>/dev/null | cut -d' ' -f1)
is "$got" "$want" "all $size bytes arrived intact"
restarts=$(moat_stat 'sum(s["daemons"][d]["restarts"] for d in ("netbackd","natd","policyd","agentd"))')
check "moat.Stats counts at least the four restarts ($restarts)" test "${restarts:-0}" -ge 4
