#!/bin/bash
# A bad JSON rule set is refused with an error naming the rule and field; the old rules stay in force.
. "$(dirname "$0")/lib.sh"
topo_up
if kernel_mode; then skip "bad rule sets refused by moat.SetRules" "kernel baseline has no moat control service"; exit 0; fi

json_rules "$RUN/good.json" <<EOF2
{"version": 1, "names": {"vault": "$C2_IP"},
 "rules": [{"from": "vault", "action": "reject", "proto": "tcp", "dst4": "$WWW_IP", "dstports": "8080"}]}
EOF2
check "SetRules: a good rule set is accepted" fw_setrules "$RUN/good.json"
before=$(moat_call moat.GetRules </dev/null)

# refused NAME INDEX FIELD JSON: SetRules exits non-zero and its message
# names the rule index and the field.
refused() {
	local name=$1 idx=$2 field=$3 out rc
	printf '%s\n' "$4" >"$RUN/bad.json"
	out=$(moat_call moat.SetRules <"$RUN/bad.json" 2>&1); rc=$?
	if [[ $rc -ne 0 && $out == *"$field"* ]] &&
	   grep -Eiq "(rule|index)[^0-9a-z]{0,3}$idx([^0-9]|\$)|\[$idx\]" <<<"$out"; then
		ok "refused ($name): exit $rc, message names rule $idx and '$field'"
	else
		not_ok "refused ($name): want non-zero exit and a message naming rule $idx and '$field'"
		diag "exit $rc: $out"
	fi
}
# R0 is a valid rule naming vault, so the error must come from the later rule.
NAMES="\"names\": {\"vault\": \"$C2_IP\"}"
R0="{\"from\": \"vault\", \"action\": \"accept\", \"proto\": \"tcp\", \"dstports\": \"22\"}"
refused "unknown action" 1 action "{\"version\": 1, $NAMES, \"rules\": [$R0, {\"from\": \"vault\", \"action\": \"allow\"}]}"
refused "port out of range" 0 dstports '{"version": 1, "rules": [{"from": "*", "action": "accept", "proto": "tcp", "dstports": "70000"}]}'
refused "reversed port range" 1 dstports "{\"version\": 1, $NAMES, \"rules\": [$R0, {\"from\": \"*\", \"action\": \"accept\", \"proto\": \"udp\", \"dstports\": \"90-80\"}]}"
refused "bad IPv4 prefix" 0 dst4 '{"version": 1, "rules": [{"from": "*", "action": "drop", "dst4": "300.1.2.3/24"}]}'
refused "unknown name in from" 2 from "{\"version\": 1, $NAMES, \"rules\": [$R0, $R0, {\"from\": \"nosuchvm\", \"action\": \"drop\"}]}"
refused "unknown proto" 0 proto '{"version": 1, "rules": [{"from": "*", "action": "drop", "proto": "sctp"}]}'
refused "ports without tcp/udp" 0 dstports '{"version": 1, "rules": [{"from": "*", "action": "drop", "proto": "icmp", "dstports": "80"}]}'
refused "two destinations" 0 dst '{"version": 1, "rules": [{"from": "*", "action": "drop", "dst4": "192.0.2.1", "dsthost": "www.example.test"}]}'
refused "unknown field" 0 colour '{"version": 1, "rules": [{"from": "*", "action": "drop", "colour": "red"}]}'
printf 'not json at all {' >"$RUN/bad.json"
check_not "refused: text that is not JSON" moat_call moat.SetRules <"$RUN/bad.json"
printf '{"version": 2, "rules": []}' >"$RUN/bad.json"
check_not "refused: an unknown version" moat_call moat.SetRules <"$RUN/bad.json"
head -c 300000 /dev/zero | tr '\0' ' ' >"$RUN/bad.json"; echo '[' >>"$RUN/bad.json"
check_not "refused: 300 KB of whitespace and a bracket" moat_call moat.SetRules <"$RUN/bad.json"

after=$(moat_call moat.GetRules </dev/null)
is "$after" "$before" "GetRules after the refused sets is unchanged"
check "old rules still in force: c2 -> $WWW_IP:8080 is still rejected at once" fails_fast "$NS_C2" "http://$WWW_IP:8080/" 1000
is "$(http_code "$NS_C2" "http://$WWW_IP/")" 200 "old rules still in force: c2 -> $WWW_IP:80 still works"
