#!/bin/bash
# A rule change cuts only the flows it newly denies: a live TCP connection survives a rule set that still allows it, and dies when denied.
KERNEL_RECHECK=1
. "$(dirname "$0")/lib.sh"
topo_up

ip netns exec "$NS_C1" "$PY" "$INTEG_DIR/pkt.py" tcphold "$WWW_IP" 7 "$RUN/hold1" & disown
ip netns exec "$NS_C2" "$PY" "$INTEG_DIR/pkt.py" tcphold "$WWW_IP" 7 "$RUN/hold2" & disown
sleep 1
check "c1: long-lived TCP connection to $WWW_IP:7 is up" alive "$RUN/hold1"
check "c2: long-lived TCP connection to $WWW_IP:7 is up" alive "$RUN/hold2"

json_rules "$RUN/keep.json" <<EOF2
{"version": 1, "rules": [
 {"from": "$C1_IP", "action": "accept", "proto": "tcp", "dst4": "$WWW_IP", "dstports": "7"},
 {"from": "*", "action": "reject", "proto": "tcp", "dst4": "$BLOCKED_IP"}]}
EOF2
check "SetRules: a rule set that still allows port 7" fw_setrules "$RUN/keep.json"
check "c1: the connection survives the change" alive "$RUN/hold1"

json_rules "$RUN/deny.json" <<EOF2
{"version": 1, "rules": [{"from": "$C1_IP", "action": "reject", "proto": "tcp", "dst4": "$WWW_IP", "dstports": "7"}]}
EOF2
check "SetRules: deny c1 -> $WWW_IP:7" fw_setrules "$RUN/deny.json"
check "c1: the now-denied connection dies within 5 s" dead_within "$RUN/hold1" 5
check "c2: its connection to the same port (still allowed for c2) lives on" alive "$RUN/hold2"
check_not "c1: a new connection to $WWW_IP:7 is refused" \
	in_c1 "$PY" -c "import socket; socket.create_connection(('$WWW_IP', 7), 2)"
is "$(http_code "$NS_C1" "http://$WWW_IP/")" 200 "c1: its other allowed traffic (port 80) still works"
