#!/bin/bash
# JSON rules (moat.SetRules) deny per client before the client's Qubes rules; a JSON accept
# cannot open what the Qubes rules deny (issue 14).
. "$(dirname "$0")/lib.sh"
topo_up

is "$(http_code "$NS_C1" "http://$BLOCKED_IP/" 3)" 000 "before: c1 cannot reach $BLOCKED_IP:80 (Qubes drop)"
is "$(http_code "$NS_C2" "http://$WWW_IP:8080/")" 200 "before: c2 reaches $WWW_IP:8080 (Qubes policy accept)"
pkt "$NS_C2" udp "$WWW_IP" 9 c2-before-json --timeout 0.5 >/dev/null
sleep 0.3
check "before: c2's UDP to $WWW_IP:9 reaches the uplink" grep -q c2-before-json "$RUN/udp9.log"

json_rules "$RUN/r1.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [
  {"from": "work", "action": "accept", "proto": "tcp", "dst4": "$BLOCKED_IP", "dstports": "80"},
  {"from": "vault", "action": "reject", "proto": "tcp", "dst4": "$WWW_IP", "dstports": "8080"},
  {"from": "vault", "action": "drop", "proto": "udp", "dst4": "$WWW_IP/32", "dstports": "9-10"},
  {"from": "*", "action": "drop", "proto": "tcp", "dsthost": "www2.example.test", "log": true, "comment": "no www2"}
 ]}
EOF2
check "SetRules accepts a valid rule set" fw_setrules "$RUN/r1.json"
is "$(http_code "$NS_C1" "http://$BLOCKED_IP/" 3)" 000 "c1: a JSON accept to $BLOCKED_IP:80 does not open what c1's Qubes rules drop"
is "$(http_code "$NS_C1" "http://$BLOCKED_IP:8080/" 3)" 000 "c1: $BLOCKED_IP:8080 still denied (JSON rule is port 80 only, Qubes drop applies)"
check "c2: JSON reject of $WWW_IP:8080 fails at once (< 1 s)" fails_fast "$NS_C2" "http://$WWW_IP:8080/" 1000
is "$(http_code "$NS_C2" "http://$WWW_IP/")" 200 "c2: $WWW_IP:80 still allowed (the reject names port 8080 only)"
pkt "$NS_C2" udp "$WWW_IP" 9 c2-json-dropped --timeout 1 >/dev/null
sleep 0.3
check_not "c2: UDP to $WWW_IP:9 (JSON drop, port range 9-10) never reaches the uplink" grep -q c2-json-dropped "$RUN/udp9.log"
check "c2: JSON drop (dsthost www2.example.test) is silent: the connection times out" \
	times_out "$NS_C2" "http://$WWW2_IP/" 2
is "$(http_code "$NS_C1" "http://$WWW2_IP/" 3)" 000 "c1: a from=\"*\" JSON drop overrides c1's Qubes dsthost accept"

json_rules "$RUN/r0.json" <<<'{"version": 1, "rules": []}'
check "SetRules accepts an empty rule set" fw_setrules "$RUN/r0.json"
is "$(http_code "$NS_C2" "http://$WWW_IP:8080/")" 200 "after clearing: c2 reaches $WWW_IP:8080 again"
is "$(http_code "$NS_C1" "http://$BLOCKED_IP/" 3)" 000 "after clearing: c1 is back to its Qubes drop for $BLOCKED_IP"
is "$(http_code "$NS_C1" "http://$WWW2_IP/")" 200 "after clearing: c1 reaches www2 again (Qubes dsthost accept)"
