#!/bin/bash
# Denied connections fail at once (ICMP admin-prohibited), never by a timeout.
. "$(dirname "$0")/lib.sh"
topo_up

check "c1: TCP to $BLOCKED_IP:80 (Qubes action=drop) fails in < 1 s" fails_fast "$NS_C1" "http://$BLOCKED_IP/" 1000
check "c1: TCP to $WWW_IP:8080 (Qubes policy drop) fails in < 1 s" fails_fast "$NS_C1" "http://$WWW_IP:8080/" 1000
udp_fast() {	# a connected UDP socket learns of the reject (an error, not silence)
	local t0 t1 out
	t0=$(now_ms); out=$(pkt "$NS_C1" udp "$1" "$2" probe --timeout 3); t1=$(now_ms)
	echo "$out after $((t1 - t0)) ms"
	[[ $out == error* || $out == refused ]] && [[ $((t1 - t0)) -lt 1000 ]]
}
check "c1: UDP to $WWW_IP:9 (policy drop) gets an error back in < 1 s" udp_fast "$WWW_IP" 9

json_rules "$RUN/r.json" <<EOF2
{"version": 1, "rules": [{"from": "$C2_IP", "action": "reject", "proto": "tcp", "dst4": "$WWW_IP", "dstports": "80"}]}
EOF2
check "SetRules: reject c2 -> $WWW_IP:80" fw_setrules "$RUN/r.json"
check "c2: TCP to $WWW_IP:80 (JSON reject) fails in < 1 s" fails_fast "$NS_C2" "http://$WWW_IP/" 1000
is "$(http_code "$NS_C1" "http://$WWW_IP/")" 200 "c1: TCP to $WWW_IP:80 still works (the JSON rule is c2's)"
