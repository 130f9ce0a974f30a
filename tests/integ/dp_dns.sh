#!/bin/bash
# DNS through the virtual addresses 10.139.1.1/.2 reaches the real resolvers, over UDP and TCP, and obeys the rules.
. "$(dirname "$0")/lib.sh"
topo_up

for c in 1 2; do
	ns=NS_C$c
	is "$(ip netns exec "${!ns}" dig +short +time=2 +tries=1 "@$DNS1_VIRT" www.example.test)" "$WWW_IP" "c$c: dig @$DNS1_VIRT (UDP) answers"
	is "$(ip netns exec "${!ns}" dig +short +tcp +time=2 +tries=1 "@$DNS1_VIRT" www.example.test)" "$WWW_IP" "c$c: dig +tcp @$DNS1_VIRT answers"
	is "$(ip netns exec "${!ns}" dig +short +time=2 +tries=1 "@$DNS2_VIRT" blocked.example.test)" "$BLOCKED_IP" "c$c: dig @$DNS2_VIRT (secondary) answers"
done
is "$(ip netns exec "$NS_C1" getent ahostsv4 www.example.test | awk 'NR==1 {print $1}')" "$WWW_IP" "c1: the system resolver (resolv.conf -> $DNS1_VIRT) resolves names"
is "$(http_code "$NS_C1" "http://www.example.test/")" 200 "c1: browsing http://www.example.test/ by name works"
check "the queries reached the real resolver from the firewall's address" grep -q "from $FW_IP" "$RUN/dnsmasq.log"
is "$(ip netns exec "$NS_C2" dig +short +time=2 +tries=1 @$DNS1_REAL www.example.test)" "$WWW_IP" \
	"c2: the real resolver $DNS1_REAL is reachable directly too (policy accept)"

json_rules "$RUN/r.json" <<EOF2
{"version": 1, "rules": [{"from": "$C2_IP", "action": "reject", "specialtarget": "dns"}]}
EOF2
check "SetRules: reject DNS (specialtarget dns) for c2" fw_setrules "$RUN/r.json"
check_not "c2: dig @$DNS1_VIRT now fails" ip netns exec "$NS_C2" dig +short +time=1 +tries=1 "@$DNS1_VIRT" www.example.test
check_not "c2: dig +tcp @$DNS1_VIRT now fails" ip netns exec "$NS_C2" dig +short +tcp +time=1 +tries=1 "@$DNS1_VIRT" www.example.test
is "$(ip netns exec "$NS_C1" dig +short +time=2 +tries=1 "@$DNS1_VIRT" www.example.test)" "$WWW_IP" "c1: DNS still works (the rule is c2's)"
is "$(http_code "$NS_C2" "http://$WWW_IP/")" 200 "c2: other traffic still works"
