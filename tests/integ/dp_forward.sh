#!/bin/bash
# Inbound port forwarding: a JSON "forward" rule lets the uplink reach one port of one client through moat's address (TCP and UDP, from4 narrowing the source); it survives a natd restart; removing it cuts the connection; bad forwards are refused whole; without one nothing comes in.
# The kernel baseline forwards with DNAT and re-checks every packet, so a
# removed forward cuts its connection there too (kfw.py); moat's own
# checks (GetRules, natd's restart, refusals) are skipped there.
KERNEL_RECHECK=1
. "$(dirname "$0")/lib.sh"
topo_up
client_services 1
client_services 2
# TCP and UDP echo on port 7 of each client, besides the banner on 2222.
for c in 1 2; do
	ns=NS_C$c
	rm -f "$RUN/c$c-echo.ready"
	ip netns exec "${!ns}" "$PY" "$INTEG_DIR/services.py" --tcp-echo 7 --udp-echo 7 \
		--ready "$RUN/c$c-echo.ready" >"$RUN/c$c-echo.log" 2>&1 &
	disown
done
for i in $(seq 50); do [[ -e $RUN/c1-echo.ready && -e $RUN/c2-echo.ready ]] && break; sleep 0.1; done
# The uplink host could route the clients' addresses to moat: that must
# still reach nothing (the forward is to moat's address only).
ip -n "$NS_UP" route add 10.137.0.0/24 via "$FW_IP" dev eth0

# setrules FILE: moat.SetRules; prints its stdout and stderr, returns its status.
setrules() { fw_setrules "$1" 2>&1; }

# ---- without a forward, nothing comes in
is "$(fbanner "$NS_UP" 8022)" fail "no forward: uplink -> moat:8022 (TCP) gets no connection"
is "$(pkt "$NS_UP" udp "$FW_IP" 8007 before --timeout 1)" timeout "no forward: uplink -> moat:8007 (UDP) gets no answer"

json_rules "$RUN/fwd.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [
  {"from": "*", "action": "drop", "proto": "tcp", "dstports": "25"},
  {"action": "forward", "proto": "tcp", "dstports": "8022", "to": "work", "toport": 2222, "comment": "ssh-ish"},
  {"action": "forward", "proto": "tcp", "dstports": "8007", "to": "work", "toport": 7},
  {"action": "forward", "proto": "tcp", "dstports": "8023", "to": "vault", "toport": 2222, "from4": "192.0.2.0/24"},
  {"action": "forward", "proto": "udp", "dstports": "8007-8009", "to": "$C2_IP", "toport": 7}
 ]}
EOF2
check "SetRules accepts forwards" setrules "$RUN/fwd.json"
got=$(kernel_mode || moat_call moat.GetRules </dev/null)
moat_only "GetRules prints the forwards back in the same form" \
	grep -q '"action": "forward"' <<<"$got"
moat_only "GetRules keeps toport and from4 as written" \
	bash -c 'grep -q "\"toport\": 2222" <<<"$1" && grep -q "\"from4\": \"192.0.2.0/24\"" <<<"$1"' _ "$got"

# ---- TCP and UDP get through, to the named client and port
is "$(fbanner "$NS_UP" 8022)" "hello from work" "uplink host -> moat:8022 reaches work's server on 2222"
is "$(fbanner "$NS_NET" 8022)" "hello from work" "a host beyond the uplink ($FAR_IP) -> moat:8022 reaches work too"
check "work's server sees the remote's own address (no source NAT inward)" \
	grep -q "^$FAR_IP " "$RUN/c1-peers.log"
is "$(pkt "$NS_UP" udp "$FW_IP" 8007 udp-fwd --timeout 2)" "reply 7 udp-fwd" "uplink -> moat:8007 (UDP) is echoed by vault's port 7"
is "$(pkt "$NS_NET" udp "$FW_IP" 8008 udp-far --timeout 2)" "refused" "moat:8008 goes to vault's port 8, where nothing listens: its port-unreachable comes back translated"
# ---- from4 narrows the source
is "$(fbanner "$NS_NET" 8023)" "hello from vault" "$FAR_IP (in from4 192.0.2.0/24) -> moat:8023 reaches vault"
is "$(fbanner "$NS_UP" 8023)" fail "$UP_IP (not in from4) -> moat:8023 gets no connection"
# ---- nothing else
is "$(fbanner "$NS_UP" 8024)" fail "uplink -> moat:8024 (no forward) gets no connection"
is "$(pkt "$NS_UP" udp "$FW_IP" 8022 wrongproto --timeout 1)" timeout "uplink -> moat:8022 over UDP (the forward is TCP) gets nothing"
is "$(banner "$NS_UP" "$C1_IP")" fail "uplink -> work's own address:2222 is still dropped"
pkt "$NS_UP" udp "$C2_IP" 9 direct-udp --timeout 0.5 >/dev/null
check_not "uplink -> vault's own address UDP 9 is still not delivered" bash -c "sleep 0.3; grep -q direct-udp '$RUN/c2-udp9.log'"
check "a client's outbound traffic is unchanged" pkt "$NS_C2" udp "$WWW_IP" 7 out-ok

# ---- a forwarded connection survives a natd restart
ip netns exec "$NS_NET" "$PY" "$INTEG_DIR/pkt.py" tcphold "$FW_IP" 8007 "$RUN/hold" & disown
sleep 1
check "a long-lived connection $FAR_IP -> moat:8007 -> work:7 is up" alive "$RUN/hold"
if kernel_mode; then
	skip "natd is back after a kill" "no natd in the kernel baseline"
	skip "the forwarded connection lives on across natd's restart" "no natd in the kernel baseline"
	skip "new forwarded connections work after natd's restart" "no natd in the kernel baseline"
	skip "policyd is back after a kill" "no policyd in the kernel baseline"
	skip "the forwarded connection lives on across policyd's restart" "no policyd in the kernel baseline"
	skip "the forwards are in force after policyd's restart" "no policyd in the kernel baseline"
else
	old=$(daemon_pid natd)
	kill -9 "$old"
	back() { p=$(daemon_pid natd); [[ -n $p && $p != "$old" ]]; }
	wait_for 5 back
	check "natd is back after a kill" back
	check "the forwarded connection lives on across natd's restart" alive "$RUN/hold"
	is "$(fbanner "$NS_UP" 8022)" "hello from work" "new forwarded connections work after natd's restart"
	# policyd comes back with the same rules (the supervisor replays
	# them) and hands natd the same forwards: nothing is cut
	old=$(daemon_pid policyd)
	kill -9 "$old"
	back() { p=$(daemon_pid policyd); [[ -n $p && $p != "$old" ]]; }
	wait_for 5 back
	check "policyd is back after a kill" back
	check "the forwarded connection lives on across policyd's restart" alive "$RUN/hold"
	is "$(fbanner "$NS_NET" 8023)" "hello from vault" "the forwards are in force after policyd's restart"
fi

# ---- removing the rule cuts it; the other forwards stay
json_rules "$RUN/fwd2.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [
  {"action": "forward", "proto": "tcp", "dstports": "8022", "to": "work", "toport": 2222}
 ]}
EOF2
check "SetRules: the forward of 8007 removed" setrules "$RUN/fwd2.json"
check "its live connection is cut within 5 s" dead_within "$RUN/hold" 5
is "$(fbanner "$NS_NET" 8007)" fail "a new connection to moat:8007 gets none"
is "$(fbanner "$NS_UP" 8022)" "hello from work" "the forward that stayed still works"

# ---- refused, whole, with the rule named
refused() {	# refused FILE WANT...: SetRules fails and says each WANT
	local out rc w
	out=$(setrules "$1"); rc=$?
	echo "status $rc: $out"
	[[ $rc -ne 0 ]] || return 1
	for w in "${@:2}"; do grep -qF -- "$w" <<<"$out" || return 1; done
}
json_rules "$RUN/bad1.json" <<'EOF2'
{"version": 1, "names": {"work": "10.137.0.5"}, "rules": [
 {"action": "forward", "proto": "tcp", "dstports": "8030", "to": "work", "toport": 80},
 {"action": "forward", "proto": "tcp", "dstports": "8031", "to": "nosuch", "toport": 80}]}
EOF2
moat_only "a forward to an unknown client is refused, naming rule 1" refused "$RUN/bad1.json" "rule 1:" '"to"' nosuch
json_rules "$RUN/bad2.json" <<'EOF2'
{"version": 1, "names": {"work": "10.137.0.5"}, "rules": [
 {"action": "forward", "proto": "udp", "dstports": "8040-8049", "to": "work", "toport": 7},
 {"action": "forward", "proto": "udp", "dstports": "8045", "to": "work", "toport": 9}]}
EOF2
moat_only "overlapping forwards are refused, naming both rules" refused "$RUN/bad2.json" "rule 1:" "overlaps the forward of rule 0"
json_rules "$RUN/bad3.json" <<'EOF2'
{"version": 1, "names": {"work": "10.137.0.5"}, "rules": [
 {"action": "forward", "proto": "tcp", "dstports": "40000", "to": "work", "toport": 80}]}
EOF2
moat_only "a port moat's NAT uses (40000) is refused, naming the range kept for forwards" refused "$RUN/bad3.json" "rule 0:" "8000-8999"
if kernel_mode; then
	skip "after the refusals the forwards in force are unchanged" "moat's refusals"
	skip "and nothing of a refused document is in force" "moat's refusals"
else
	is "$(fbanner "$NS_UP" 8022)" "hello from work" "after the refusals the forwards in force are unchanged"
	is "$(fbanner "$NS_UP" 8030)" fail "and nothing of a refused document is in force"
fi

# ---- no rules: inbound is dropped again
json_rules "$RUN/none.json" <<<'{"version": 1, "rules": []}'
check "SetRules: no rules" setrules "$RUN/none.json"
is "$(fbanner "$NS_UP" 8022)" fail "without the forward, uplink -> moat:8022 gets no connection again"
