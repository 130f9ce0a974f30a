#!/bin/bash
# Inbound port forwarding over IPv6 (issue 14): a JSON "forward" rule lets the uplink reach one port of one client through moat's /qubes-ip6 (TCP and UDP, from6 narrowing the source); family "4" forwards open nothing over IPv6 and family "6" ones nothing over IPv4; a forwarded connection survives a natd restart; removing the rule cuts it.
. "$(dirname "$0")/lib.sh"
topo_up --ipv6
client_services 1
client_services 2
# TCP and UDP echo on port 7 of work (IPv4 and IPv6).
rm -f "$RUN/c1-echo.ready"
ip netns exec "$NS_C1" "$PY" "$INTEG_DIR/services.py" --tcp-echo 7 --udp-echo 7 --ipv6 \
	--ready "$RUN/c1-echo.ready" >"$RUN/c1-echo.log" 2>&1 &
disown
for i in $(seq 50); do [[ -e $RUN/c1-echo.ready ]] && break; sleep 0.1; done
[[ -e $RUN/c1-echo.ready ]] || bail "echo services did not start: $(cat "$RUN/c1-echo.log")"

pkt6() { local ns=$1; shift; ip netns exec "$ns" "$PY" "$INTEG_DIR/pkt6.py" "$@"; }

# ---- without a forward, nothing comes in over IPv6
is "$(fbanner "$NS_UP" 8022 "$FW_IP6")" fail "no forward: uplink -> [moat]:8022 (TCP) gets no connection"
is "$(pkt6 "$NS_UP" udp "$FW_IP6" 8007 before --timeout 1)" timeout "no forward: uplink -> [moat]:8007 (UDP) gets no answer"

json_rules "$RUN/fwd.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [
  {"action": "forward", "proto": "tcp", "dstports": "8022", "to": "work", "toport": 2222},
  {"action": "forward", "proto": "tcp", "dstports": "8023", "to": "vault", "toport": 2222, "from6": "2001:db8:2::/48"},
  {"action": "forward", "proto": "tcp", "dstports": "8024", "to": "work", "toport": 2222, "family": "4"},
  {"action": "forward", "proto": "tcp", "dstports": "8025", "to": "work", "toport": 2222, "family": "6"},
  {"action": "forward", "proto": "udp", "dstports": "8007", "to": "work", "toport": 7, "family": "6"},
  {"action": "forward", "proto": "tcp", "dstports": "8009", "to": "work", "toport": 7, "family": "6"}
 ]}
EOF2
check "SetRules accepts IPv6 forwards" fw_setrules "$RUN/fwd.json"

# ---- TCP and UDP get through, to the named client and port
is "$(fbanner "$NS_UP" 8022 "$FW_IP6")" "hello from work" "uplink host -> [moat]:8022 reaches work's server on 2222 over IPv6"
check "work's server sees the remote's own IPv6 address (no source NAT inward)" \
	grep -q "^$UP_IP6 " "$RUN/c1-peers.log"
is "$(fbanner "$NS_UP" 8022 "$FW_IP")" "hello from work" "the same forward (family both) still works over IPv4"
is "$(pkt6 "$NS_UP" udp "$FW_IP6" 8007 udp-fwd6 --timeout 2)" "reply 8" "uplink -> [moat]:8007 (UDP) is echoed by work's port 7"
# ---- from6 narrows the source
is "$(fbanner "$NS_NET" 8023 "$FW_IP6")" "hello from vault" "$FAR_IP6 (in from6 2001:db8:2::/48) -> [moat]:8023 reaches vault"
is "$(fbanner "$NS_UP" 8023 "$FW_IP6")" fail "$UP_IP6 (not in from6) -> [moat]:8023 gets no connection"
# ---- each family only its own
is "$(fbanner "$NS_UP" 8024 "$FW_IP6")" fail "a family \"4\" forward (8024) opens nothing over IPv6"
is "$(fbanner "$NS_UP" 8024 "$FW_IP")" "hello from work" "... and works over IPv4"
is "$(fbanner "$NS_UP" 8025 "$FW_IP")" fail "a family \"6\" forward (8025) opens nothing over IPv4"
is "$(fbanner "$NS_UP" 8025 "$FW_IP6")" "hello from work" "... and works over IPv6"
is "$(fbanner "$NS_NET" 8023 "$FW_IP")" fail "a forward with only from6 is IPv6-only: $FAR_IP -> moat:8023 gets nothing"
# ---- nothing else
is "$(fbanner "$NS_UP" 8026 "$FW_IP6")" fail "uplink -> [moat]:8026 (no forward) gets no connection"
is "$(fbanner "$NS_UP" 2222 "$C1_IP6")" fail "uplink -> work's own IPv6 address:2222 is still dropped"

# ---- a forwarded IPv6 connection survives a natd restart
ip netns exec "$NS_NET" "$PY" "$INTEG_DIR/pkt.py" tcphold "$FW_IP6" 8009 "$RUN/hold" & disown
sleep 1
check "a long-lived connection [$FAR_IP6] -> [moat]:8009 -> work:7 is up" alive "$RUN/hold"
old=$(daemon_pid natd)
kill -9 "$old"
back() { p=$(daemon_pid natd); [[ -n $p && $p != "$old" ]]; }
wait_for 5 back
check "natd is back after a kill" back
check "the forwarded IPv6 connection lives on across natd's restart" alive "$RUN/hold"
is "$(fbanner "$NS_UP" 8022 "$FW_IP6")" "hello from work" "new forwarded IPv6 connections work after natd's restart"

# ---- removing the rule cuts it; the other forwards stay
json_rules "$RUN/fwd2.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP"},
 "rules": [
  {"action": "forward", "proto": "tcp", "dstports": "8022", "to": "work", "toport": 2222}
 ]}
EOF2
check "SetRules: the forward of 8009 removed" fw_setrules "$RUN/fwd2.json"
check "its live IPv6 connection is cut within 5 s" dead_within "$RUN/hold" 5
is "$(fbanner "$NS_NET" 8009 "$FW_IP6")" fail "a new connection to [moat]:8009 gets none"
is "$(fbanner "$NS_UP" 8022 "$FW_IP6")" "hello from work" "the forward that stayed still works over IPv6"
json_rules "$RUN/none.json" <<<'{"version": 1, "rules": []}'
check "SetRules: no rules" fw_setrules "$RUN/none.json"
is "$(fbanner "$NS_UP" 8022 "$FW_IP6")" fail "without the forward, uplink -> [moat]:8022 gets no connection again"
