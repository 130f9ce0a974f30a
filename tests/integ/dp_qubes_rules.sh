#!/bin/bash
# Qubes rules from QubesDB decide per client: allowed traffic flows, denied traffic fails.
. "$(dirname "$0")/lib.sh"
topo_up

# c1: policy drop with a few accepts (lib.sh C1_RULES).
is "$(http_code "$NS_C1" "http://$WWW_IP/")" 200 "c1: HTTP to $WWW_IP:80 (accept dst4 tcp 80) works"
is "$(http_code "$NS_C1" "http://$WWW_IP:8080/" 3)" 000 "c1: HTTP to $WWW_IP:8080 (no rule, policy drop) fails"
is "$(http_code "$NS_C1" "http://$BLOCKED_IP/" 3)" 000 "c1: HTTP to $BLOCKED_IP (action=drop dst4) fails"
is "$(http_code "$NS_C1" "http://$WWW2_IP/")" 200 "c1: HTTP to www2.example.test's address (accept dsthost) works"
check "c1: TCP echo on $WWW_IP:7 (accept tcp 7) works" \
	in_c1 "$PY" -c "import socket; s=socket.create_connection(('$WWW_IP',7),3); s.sendall(b'hi'); assert s.recv(2)==b'hi'"
check "c1: UDP echo on $WWW_IP:7 (accept udp 7) works" pkt "$NS_C1" udp "$WWW_IP" 7 hello
check_not "c1: UDP to $WWW_IP:9 (no rule) gets nothing back and is not delivered" \
	pkt "$NS_C1" udp "$WWW_IP" 9 "c1-denied-udp" --timeout 1
sleep 0.3
check_not "c1: the denied datagram never reached the uplink host" grep -q c1-denied-udp "$RUN/udp9.log"
check "c1: ping $WWW_IP (accept proto=icmp) works" in_c1 ping -c1 -W2 "$WWW_IP"

# c2: policy accept, no rules: everything outbound works.
is "$(http_code "$NS_C2" "http://$BLOCKED_IP/")" 200 "c2: HTTP to $BLOCKED_IP (policy accept) works"
check "c2: UDP echo on $WWW_IP:7 (policy accept) works" pkt "$NS_C2" udp "$WWW_IP" 7 c2-allowed
pkt "$NS_C2" udp "$WWW_IP" 9 c2-allowed-udp9 --timeout 0.5 >/dev/null
sleep 0.3
check "c2: the allowed datagram reached the uplink host" grep -q c2-allowed-udp9 "$RUN/udp9.log"
