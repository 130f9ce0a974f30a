#!/bin/bash
# Wildcard name rules ("dsthost": "*.example.org"): a client reaches an address (IPv4, or IPv6 from an AAAA answer) only after it resolved a matching name through moat's DNS (a CNAME chain into the wildcard too), only for the answer's TTL, and never on another client's lookup.
. "$(dirname "$0")/lib.sh"
NAME_A=$WWW_IP NAME_B=$BLOCKED_IP NAME_C=$WWW2_IP
DNSMASQ_EXTRA=(
	"--host-record=a.example.org,$NAME_A"
	"--host-record=b.example.org,$NAME_B"
	"--host-record=c.example.org,$NAME_C"
	"--cname=alias.other.test,c.example.org"
	"--host-record=six.example.org,$WWW_IP6"
	"--local-ttl=1"
)
topo_up --ipv6
if kernel_mode; then skip "wildcard name rules" "the kernel baseline has no name rules learned from DNS"; exit 0; fi

# c2 (Qubes policy accept) reaches the web only on names under example.org:
# a learning lasts the answer's TTL (1 s) clamped to exactly 3 s here.
json_rules "$RUN/names.json" <<EOF2
{"version": 1, "learn": {"ttl_min": 3, "ttl_max": 3}, "rules": [
 {"from": "*", "action": "accept", "proto": "tcp", "dstports": 80, "dsthost": "*.example.org"},
 {"from": "*", "action": "reject", "proto": "tcp", "dstports": 80}
]}
EOF2
check "SetRules takes a wildcard dsthost" fw_setrules "$RUN/names.json"

url() { echo "http://$1/"; }
resolve() {	# resolve C NAME: the last address c$C got for NAME through moat
	local ns=NS_C$1
	ip netns exec "${!ns}" dig +short +time=2 +tries=1 "@$DNS1_VIRT" "$2" | tail -1
}

# wait_ready had c2 resolve ready.example.test to $NAME_A: not a matching name
is "$(http_code "$NS_C2" "$(url "$NAME_A")" 3)" 000 "c2: $NAME_A refused before any matching lookup (a hard-coded address, or a name outside the wildcard)"
is "$(resolve 2 a.example.org)" "$NAME_A" "c2: a.example.org resolves through $DNS1_VIRT"
is "$(http_code "$NS_C2" "$(url "$NAME_A")" 3)" 200 "c2: $NAME_A reachable right after resolving a.example.org"

is "$(resolve 1 b.example.org)" "$NAME_B" "c1: b.example.org resolves"
is "$(http_code "$NS_C2" "$(url "$NAME_B")" 3)" 000 "c2: $NAME_B still refused: c1's lookup opens nothing for c2"
is "$(resolve 2 B.Example.ORG)" "$NAME_B" "c2: B.Example.ORG (any case) resolves"
is "$(http_code "$NS_C2" "$(url "$NAME_B")" 3)" 200 "c2: $NAME_B reachable after its own lookup"

is "$(http_code "$NS_C2" "$(url "$NAME_C")" 3)" 000 "c2: $NAME_C refused before the CNAME lookup"
is "$(resolve 2 alias.other.test)" "$NAME_C" "c2: alias.other.test -> CNAME c.example.org -> $NAME_C"
is "$(http_code "$NS_C2" "$(url "$NAME_C")" 3)" 200 "c2: $NAME_C reachable through the CNAME chain into *.example.org"

# AAAA answers (asked over IPv4) open IPv6 connections
is "$(http_code "$NS_C2" "http://[$WWW_IP6]/" 3)" 000 "c2: [$WWW_IP6] refused before the AAAA lookup"
is "$(ip netns exec "$NS_C2" dig +short +time=2 +tries=1 "@$DNS1_VIRT" AAAA six.example.org | tail -1)" "$WWW_IP6" "c2: six.example.org AAAA resolves"
is "$(http_code "$NS_C2" "http://[$WWW_IP6]/" 3)" 200 "c2: [$WWW_IP6] reachable after the AAAA lookup"

sleep 3.5
is "$(http_code "$NS_C2" "$(url "$NAME_A")" 3)" 000 "c2: $NAME_A refused again once the learning's 3 s are over"
is "$(resolve 2 a.example.org)" "$NAME_A" "c2: a.example.org resolves again"
is "$(http_code "$NS_C2" "$(url "$NAME_A")" 3)" 200 "c2: and $NAME_A is reachable again"

learned=$(moat_call moat.GetRules </dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["learned"]["learned"])')
check "GetRules counts the learnings (\"learned\": $learned)" test "${learned:-0}" -ge 3
taught=$(moat_stat 's["dns_learn"]["learned"]')
check "Stats counts the answers that taught (\"dns_learn\": \"learned\": $taught)" test "${taught:-0}" -ge 5

# Patterns moat refuses, naming the rule
for bad in '*' 'a*.b' '*.*.x' '*example.org' '*.' "*.$(printf 'a%.0s' $(seq 64)).org"; do
	json_rules "$RUN/bad.json" <<EOF2
{"version": 1, "rules": [{"from": "*", "action": "drop"}, {"from": "*", "action": "accept", "dsthost": "$bad"}]}
EOF2
	out=$(fw_setrules "$RUN/bad.json" 2>&1)
	check "SetRules refuses dsthost \"${bad:0:20}\" naming rule 1 ($out)" grep -q 'rule 1: "dsthost"' <<<"$out"
done
