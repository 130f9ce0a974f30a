#!/bin/bash
# Flows expire after the configured idle timeout: a UDP reply later than --timeout-udp is dropped.
. "$(dirname "$0")/lib.sh"
topo_up --timeout-udp 3 --timeout-udp-stream 3

# The uplink's port 9999 answers "delay N" after N seconds, to the same flow.
is "$(pkt "$NS_C1" udp "$WWW_IP" 9999 "delay 1" --timeout 4)" "reply 6 late 1" "c1: a reply 1 s later (inside the 3 s timeout) arrives"
t0=$(now_ms)
is "$(pkt "$NS_C1" udp "$WWW_IP" 9999 "delay 6" --timeout 9)" timeout "c1: a reply 6 s later (the flow expired after 3 s) is dropped"
is "$(pkt "$NS_C2" udp "$WWW_IP" 9999 "delay 2" --timeout 4)" "reply 6 late 2" "c2: a reply 2 s later arrives"
if kernel_mode; then
	skip "moat.Stats: c1's flows are gone once idle past the timeout" "kernel baseline has no moat control service"
else
	sleep 4
	n=$(moat_stat 'client(s, "'"$C1_IP"'")["flows"]')
	is "$n" 0 "moat.Stats: c1 has no flows left after 4 s idle (timeout 3 s)"
fi
# A TCP connection held open with traffic is not affected by the UDP timeout.
check "c1: TCP echo still works" in_c1 "$PY" -c "import socket; s=socket.create_connection(('$WWW_IP',7),3); s.sendall(b'hi'); assert s.recv(2)==b'hi'"
