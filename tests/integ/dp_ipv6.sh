#!/bin/bash
# IPv6 through moat (issue 14), with real Linux stacks on every side: ping6,
# TCP and UDP masqueraded to /qubes-ip6; Qubes dst6 rules and JSON dst6
# rules allow and deny, a deny fails at once; hop limit 1 answered by moat;
# a forged source and a client's router advertisement go nowhere; client to
# client IPv6 only with a JSON rule naming the target; path-MTU
# discovery through moat when a link behind the NetVM is smaller; without
# IPv6 configuration nothing IPv6 crosses and every frame is counted.
. "$(dirname "$0")/lib.sh"
topo_up --ipv6

pkt6() { local ns=$1; shift; ip netns exec "$ns" "$PY" "$INTEG_DIR/pkt6.py" "$@"; }
# sniff_start NS IFACE SECONDS NAME KIND [TAG]: a capture in the background;
# sniff_count NAME waits for its end and prints the count. The windows are
# long (8 s) because starting scapy for each probe takes seconds under load:
# a probe sent after a short window closed made the positive controls flaky.
sniff_start() {
	local ns=$1 iface=$2 secs=$3 name=$4 i; shift 4
	rm -f "$RUN/sniff-$name" "$RUN/sniff-$name.up"
	ip netns exec "$ns" "$PY" "$INTEG_DIR/pkt6.py" sniff "$iface" "$secs" \
		"$RUN/sniff-$name" "$@" >"$RUN/sniff-$name.log" 2>&1 &
	for i in $(seq 100); do [[ -e $RUN/sniff-$name.up ]] && return 0; sleep 0.05; done
	bail "capture $name did not start: $(cat "$RUN/sniff-$name.log")"
}
sniff_count() {
	local i
	for i in $(seq 400); do [[ -s $RUN/sniff-$1 ]] && break; sleep 0.05; done
	cat "$RUN/sniff-$1" 2>/dev/null || echo none
}
c1_stat() { moat_stat 'client(s, "'"$C1_IP"'")["drops"].get("'"$1"'", 0)'; }

# ---- forwarding and NAT66
check "c1: ping6 of its gateway $FW_IP6, answered by moat" in_c1 ping -6 -c 1 -W 2 "$FW_IP6"
check "c1: ping6 $WWW_IP6 through moat" in_c1 ping -6 -c 2 -W 2 "$WWW_IP6"
is "$(http_code "$NS_C1" "http://[$WWW_IP6]/")" 200 "c1: HTTP over IPv6 to [$WWW_IP6]:80 (Qubes dst6 accept)"
check "the server saw moat's /qubes-ip6 $FW_IP6, not c1's address" \
	bash -c 'grep -q "^'"$FW_IP6"' " "$1" && ! grep -q "^'"$C1_IP6"' " "$1"' _ "$RUN/http.log"
check "c1: UDP echo over IPv6 ($WWW_IP6:7)" pkt6 "$NS_C1" udp "$WWW_IP6" 7 hello6
is "$(http_code "$NS_C1" "http://[$WWW2_IP6]/")" 200 "c1: HTTP to [$WWW2_IP6] (dsthost rule, resolved to its AAAA)"

# ---- denies, at once
check "c1: TCP to [$BLOCKED_IP6]:80 (Qubes action=drop dst6) fails in < 1 s" \
	fails_fast "$NS_C1" "http://[$BLOCKED_IP6]/" 1000
check "c1: TCP to [$WWW_IP6]:8080 (Qubes policy drop) fails in < 1 s" \
	fails_fast "$NS_C1" "http://[$WWW_IP6]:8080/" 1000
udp6_fast() {	# the reject is an ICMPv6 error the socket reports, not silence
	local t0 t1 out
	t0=$(now_ms); out=$(pkt6 "$NS_C1" udp "$1" "$2" probe --timeout 3); t1=$(now_ms)
	echo "$out after $((t1 - t0)) ms"
	[[ $out == error* ]] && [[ $((t1 - t0)) -lt 1000 ]]
}
check "c1: UDP to [$WWW_IP6]:9 (policy drop) gets an ICMPv6 error back in < 1 s" udp6_fast "$WWW_IP6" 9
json_rules "$RUN/r6.json" <<EOF2
{"version": 1, "rules": [{"from": "$C2_IP", "action": "reject", "proto": "tcp", "dst6": "$WWW_IP6/128", "dstports": "80"}]}
EOF2
is "$(http_code "$NS_C2" "http://[$WWW_IP6]/")" 200 "c2: HTTP over IPv6 to [$WWW_IP6] before the JSON rule"
check "SetRules: reject c2 -> [$WWW_IP6]:80 (dst6)" fw_setrules "$RUN/r6.json"
check "c2: TCP to [$WWW_IP6]:80 (JSON dst6 reject) fails in < 1 s" fails_fast "$NS_C2" "http://[$WWW_IP6]/" 1000
is "$(http_code "$NS_C2" "http://[$WWW2_IP6]/")" 200 "c2: another IPv6 destination still works"
json_rules "$RUN/r0.json" <<<'{"version": 1, "rules": []}'
fw_setrules "$RUN/r0.json" >/dev/null

# ---- hop limit
out=$(pkt6 "$NS_C1" hop1 "$WWW_IP6" 33434)
is "$out" "time-exceeded from $FW_IP6" "c1: a hop-limit-1 probe is answered by moat (time exceeded)"

# ---- a forged source goes nowhere
sniff_start "$NS_UP" eth0 8 spoof tag v6spoofTAG
before=$(c1_stat spoofed)
pkt6 "$NS_C1" spoof eth0 "$FW_IP6" "$C2_IP6" "$WWW_IP6" 7 5 v6spoofTAG >/dev/null
pkt6 "$NS_C1" spoof eth0 "$FW_IP6" "${QUBES_IP6_PREFIX}:a89:99" "$WWW_IP6" 7 5 v6spoofTAG >/dev/null
# The control: the same tag from c1's own address crosses (and is echoed).
pkt6 "$NS_C1" udp "$WWW_IP6" 7 v6spoofTAG >/dev/null
n=$(sniff_count spoof)
check "the uplink host saw c1's own tagged datagram and its echo (2), none of the 10 forged ones (saw $n)" \
	test "$n" = 2
after=$(c1_stat spoofed)
check "moat.Stats: c1's forged IPv6 sources counted as spoofed ($before -> $after)" test $((after - before)) -ge 10

# ---- a client's router advertisement changes nothing
sniff_start "$NS_UP" eth0 8 ra-up ra
sniff_start "$NS_C2" eth0 8 ra-c2 ra
sniff_start "$NS_C1" eth0 8 ra-c1 ra
before=$(c1_stat nd)
pkt6 "$NS_C1" ra eth0 >/dev/null
is "$(sniff_count ra-c1)" 3 "c1 sent 3 router advertisements (the capture works)"
is "$(sniff_count ra-up)" 0 "none reached the uplink host"
is "$(sniff_count ra-c2)" 0 "none reached c2"
after=$(c1_stat nd)
check "moat.Stats: they were counted as nd drops ($before -> $after)" test $((after - before)) -ge 3
check_not "c2 took no address or route from 2001:db8:bad::/64" \
	bash -c '{ ip -n "$1" -6 addr; ip -n "$1" -6 route; } | grep 2001:db8:bad' _ "$NS_C2"
check "c2: IPv6 still goes through moat afterwards" in_c2 ping -6 -c 1 -W 2 "$WWW_IP6"

# ---- path MTU: a smaller link behind the NetVM
rm -f "$RUN/sink.ready"
ip netns exec "$NS_NET" "$PY" "$INTEG_DIR/pkt6.py" sink 9000 "$RUN/sink.ready" >"$RUN/sink.log" 2>&1 &
disown
for i in $(seq 50); do [[ -e $RUN/sink.ready ]] && break; sleep 0.1; done
# Only the router's side is smaller: neither end knows (each announces an
# MSS for 1500 bytes), so only packet-too-big from the router can tell c2.
ip -n "$NS_UP" link set far0 mtu 1280
check "c2: 2 MB uploaded over TCP to [$FAR_IP6]:9000 across the 1280-byte link (packet-too-big reached c2)" \
	pkt6 "$NS_C2" upload "$FAR_IP6" 9000 2097152 --timeout 15
check "c2 learned the path MTU 1280 to $FAR_IP6" \
	bash -c 'ip -n "$1" -6 route get "$2" | grep -q "mtu 1280"' _ "$NS_C2" "$FAR_IP6"

# ---- client to client over IPv6: denied, unless a JSON rule names the target
client_services 2
is "$(banner "$NS_C2" "$C2_IP6")" "hello from vault" "c2's own server answers on IPv6 locally (probe works)"
is "$(banner "$NS_C1" "$C2_IP6")" fail "c1 -> [$C2_IP6]:2222 blocked by default"
json_rules "$RUN/c2c.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [{"from": "work", "to": "vault", "action": "accept", "proto": "tcp", "dstports": "2222"}]}
EOF2
check "SetRules: work -> vault tcp 2222" fw_setrules "$RUN/c2c.json"
is "$(banner "$NS_C1" "$C2_IP6")" "hello from vault" "c1 -> [$C2_IP6]:2222 works once the JSON rule allows it"
check "c2's server saw c1's own IPv6 address (client to client is not translated)" \
	grep -q "^$C1_IP6 " "$RUN/c2-peers.log"
is "$(banner "$NS_C2" "$C1_IP6")" fail "c2 -> [$C1_IP6]:2222 still blocked (the rule is one way)"
fw_setrules "$RUN/r0.json" >/dev/null

# ---- without IPv6 configuration nothing IPv6 crosses, and it is counted
_moat_stop
TOPO_IPV6= qdb_write
TOPO_IPV6= _moat_launch || bail "moat without IPv6 did not start: $MOAT_START_ERR"
wait_ready 1 || true
sniff_start "$NS_UP" eth0 8 nov6 tag v6offTAG
before=$(c1_stat ipv6)
check_not "c1: ping6 $WWW_IP6 fails when moat has no IPv6 configuration" in_c1 ping -6 -c 2 -W 1 "$WWW_IP6"
pkt6 "$NS_C1" udp "$WWW_IP6" 7 v6offTAG --timeout 1 >/dev/null
is "$(sniff_count nov6)" 0 "the uplink host saw none of it"
after=$(c1_stat ipv6)
check "moat.Stats: c1's IPv6 frames counted as ipv6 drops ($before -> $after)" test $((after - before)) -ge 3
is "$(http_code "$NS_C1" "http://$WWW_IP/")" 200 "c1: IPv4 still works"
