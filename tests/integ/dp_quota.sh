#!/bin/bash
# A client flooding new flows cannot stop another client from opening one (per-client quota).
. "$(dirname "$0")/lib.sh"
topo_up --flows 512 --client-quota 100 --timeout-udp 30
# The far host drops the flood silently (no ICMP storm back).
in_net nft -f - <<<'table inet sink { chain sink_in { type filter hook input priority 0; udp dport 20000-59999 drop; }; }'

# c1's own established connection, answered, must outlive its flood of
# unanswered flows.
ip netns exec "$NS_C1" "$PY" "$INTEG_DIR/pkt.py" tcphold "$WWW_IP" 7 "$RUN/hold" & disown
sleep 0.5
ip netns exec "$NS_C1" "$PY" "$INTEG_DIR/pkt.py" spray "$FAR_IP" 20000 4000 --pps 2000 >"$RUN/spray.out" 2>&1 &
spray=$!
sleep 0.5
okc=0
for i in 1 2 3; do
	[[ $(http_code "$NS_C2" "http://$WWW_IP/" 3) == 200 ]] && okc=$((okc + 1))
	sleep 0.3
done
is "$okc" 3 "c2: 3 of 3 HTTP requests work while c1 opens 4000 flows (flow table 512, quota 100)"
wait "$spray"
diag "c1 spray: $(cat "$RUN/spray.out")"
is "$(http_code "$NS_C2" "http://$WWW_IP/" 3)" 200 "c2: a new connection works right after the flood"
a=$(cat "$RUN/hold"); sleep 0.6; b=$(cat "$RUN/hold")
check "c1: its established TCP connection survived its own flood ($a -> $b)" test "${a%% *}" = alive -a "${b%% *}" = alive -a "$a" != "$b"
check "c2: DNS still works after the flood" \
	bash -c "ip netns exec $NS_C2 dig +short +time=2 +tries=1 @$DNS1_VIRT www.example.test | grep -qx $WWW_IP"
if kernel_mode; then
	skip "moat.Stats: c1 holds at most its quota of flows" "kernel baseline has no moat control service"
else
	n=$(moat_stat 'client(s, "'"$C1_IP"'")["flows"]')
	if [[ $n =~ ^[0-9]+$ && $n -le 100 && $n -ge 50 ]]; then ok "moat.Stats: c1 holds $n flows, within its quota of 100"
	else not_ok "moat.Stats: c1 holds between 50 and 100 flows (its quota), got '$n'"; fi
	m=$(moat_stat 's["flows_max"]')
	is "$m" 512 "moat.Stats: flows_max is the --flows value"
fi
