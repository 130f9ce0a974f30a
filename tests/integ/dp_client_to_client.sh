#!/bin/bash
# Clients cannot reach each other unless a JSON rule allows it (even with a Qubes accept-all policy).
. "$(dirname "$0")/lib.sh"
topo_up
client_services 1
client_services 2

is "$(banner "$NS_C1" "$C1_IP")" "hello from work" "c1's own server answers locally (probe works)"
is "$(banner "$NS_C1" "$C2_IP")" fail "c1 -> c2:2222 blocked by default"
is "$(banner "$NS_C2" "$C1_IP")" fail "c2 -> c1:2222 blocked by default, although c2's Qubes policy is accept"
pkt "$NS_C2" udp "$C1_IP" 9 c2-to-c1-udp --timeout 0.5 >/dev/null
sleep 0.3
check_not "c2 -> c1 UDP blocked by default" grep -q c2-to-c1-udp "$RUN/c1-udp9.log"

json_rules "$RUN/r.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [{"from": "work", "action": "accept", "proto": "tcp", "to": "vault", "dstports": "2222"}]}
EOF2
check "SetRules: accept work -> vault tcp 2222" fw_setrules "$RUN/r.json"
is "$(banner "$NS_C1" "$C2_IP")" "hello from vault" "c1 -> c2:2222 works once the JSON rule allows it"
is "$(banner "$NS_C2" "$C1_IP")" fail "c2 -> c1:2222 still blocked (the rule is one way)"
check "c2's server saw c1's real address (no NAT between clients)" grep -q "^$C1_IP " "$RUN/c2-peers.log"
check_not "c1 -> c2 on another port (8080) is still blocked" \
	ip netns exec "$NS_C1" curl -s -o /dev/null --max-time 2 "http://$C2_IP:8080/"
