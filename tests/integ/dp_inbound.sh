#!/bin/bash
# Unsolicited traffic from the uplink never reaches a client (TCP, UDP, ICMP), while replies to the client's own flows do.
. "$(dirname "$0")/lib.sh"
topo_up
client_services 1
client_services 2
# The uplink host (a hostile NetVM) routes the clients' addresses to the firewall.
ip -n "$NS_UP" route add 10.137.0.0/24 via "$FW_IP" dev eth0

is "$(banner "$NS_UP" "$C2_IP")" fail "uplink -> c2:2222 (TCP) gets no connection"
is "$(banner "$NS_UP" "$C1_IP")" fail "uplink -> c1:2222 (TCP) gets no connection"
check_not "no inbound connection reached c1's or c2's server at all" \
	bash -c "cat '$RUN/c1-peers.log' '$RUN/c2-peers.log' 2>/dev/null | grep -q ."
pkt "$NS_UP" udp "$C2_IP" 9 inbound-udp --timeout 0.5 >/dev/null
check_not "uplink -> c2 UDP 9 is not delivered" bash -c "sleep 0.3; grep -q inbound-udp '$RUN/c2-udp9.log'"
check_not "uplink -> c2 ping gets no reply" in_up ping -n -c2 -i0.3 -W1 "$C2_IP"
check_not "uplink -> the firewall's own address, TCP 2222, gets no connection" \
	ip netns exec "$NS_UP" "$PY" -c "import socket; socket.create_connection(('$FW_IP', 2222), 2)"

# Control: a client's own flow does get its replies through the same path.
check "c2 -> $WWW_IP UDP echo: the reply comes back" pkt "$NS_C2" udp "$WWW_IP" 7 solicited --sport 40777
