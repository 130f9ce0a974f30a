#!/bin/bash
# ICMP errors from beyond the firewall reach the client translated back (traceroute, port unreachable).
. "$(dirname "$0")/lib.sh"
topo_up

# Traceroute: UDP probes with growing TTL; the client's kernel only reports an
# ICMP error to the probing socket when the quoted header inside it was
# translated back to the client's address and port.
out=$(pkt "$NS_C1" ttl "$FAR_IP" 33434 5); rc=$?
diag "$out"
check "c1: a TTL-limited probe to $FAR_IP gets 'time exceeded' from the router behind the uplink" \
	grep -Eq "icmp type=11 code=0 from=($UP_IP|192\.0\.2\.1)$" <<<"$out"
check "c1: the probe that reaches $FAR_IP gets 'port unreachable' from it" \
	grep -Eq "icmp type=3 code=3 from=$FAR_IP$" <<<"$out"
is "$rc" 0 "c1: traceroute-like run completes (time exceeded, then port unreachable)"
is "$(pkt "$NS_C1" udp "$FAR_IP" 5555 x --timeout 2)" refused "c1: UDP to a closed port two hops away: connection refused (ICMP port unreachable translated back)"
is "$(pkt "$NS_C2" udp "$WWW_IP" 5555 x --timeout 2)" refused "c2: UDP to a closed port on the uplink host: connection refused"
is "$(ip netns exec "$NS_C2" "$PY" -c "
import socket
try:
    socket.create_connection(('$WWW_IP', 9), 3); print('connected')
except ConnectionRefusedError: print('refused')
except OSError as e: print(e)")" refused "c2: TCP to a closed port on the uplink host: connection refused (the RST comes back)"
check "c1: ping $FAR_IP (two hops) is answered" in_c1 ping -n -c2 -i0.3 -W2 "$FAR_IP"
check "c1: ping with TTL 1 or 2 towards $FAR_IP reports time exceeded" \
	bash -c "ip netns exec $NS_C1 ping -n -c1 -W2 -t2 $FAR_IP 2>&1 | grep -qi 'time to live exceeded' || ip netns exec $NS_C1 ping -n -c1 -W2 -t1 $FAR_IP 2>&1 | grep -qi 'time to live exceeded'"
