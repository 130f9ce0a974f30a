#!/bin/bash
# net.fake-ip: dom0 shows c1 another address (10.137.0.55) and gateway
# (10.137.0.254) than moat routes it by (10.137.0.5, gateway 10.137.0.2),
# through /mapped-ip/10.137.0.5/visible-ip and visible-gateway. As the
# stock NetVM does, moat translates at c1's port: c1 lives with its visible
# addresses, and everything else (its Qubes rules, anti-spoofing, NAT) works
# with the real ones.
C1_VIS_IP=10.137.0.55 C1_VIS_GW=10.137.0.254
. "$(dirname "$0")/lib.sh"
topo_up

check "c1 has only its visible address" bash -c "ip -n $NS_C1 addr show dev eth0 | grep -q ' $C1_VIS_IP/32' &&
    ! ip -n $NS_C1 addr show dev eth0 | grep -q ' $C1_IP/'"
# wait_ready has already resolved a name from c1 through the virtual DNS
is "$(http_code "$NS_C1" "http://$WWW_IP/" 5)" 200 "c1 fetches over HTTP (its Qubes rules, for $C1_IP, allow it)"
check "c1's Qubes rules still apply: $BLOCKED_IP is rejected at once" \
    fails_fast "$NS_C1" "http://$BLOCKED_IP/" 1500
check "c1 pings its visible gateway $C1_VIS_GW" in_c1 ping -n -q -c1 -W2 "$C1_VIS_GW"
check "c1 resolves its gateway's MAC by ARP for $C1_VIS_GW" \
    bash -c "ip -n $NS_C1 neigh show $C1_VIS_GW | grep -q lladdr"
check "UDP echo through moat answers c1 at its visible address" in_c1 "$PY" -c "
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.bind(('$C1_VIS_IP', 0)); s.sendto(b'fake', ('$WWW_IP', 7)); b, a = s.recvfrom(100)
assert b == b'fake' and a[0] == '$WWW_IP', (b, a)"
# a client that sends from its real (hidden) address is spoofing: the
# stock namespace drops what does not come from the visible address
sp0=$(moat_stat 'client(s, "'"$C1_IP"'")["drops"]["spoofed"]')
in_c1 ip addr add "$C1_IP/32" dev eth0
in_c1 "$PY" -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$C1_IP', 0))
for i in range(5): s.sendto(b'real', ('$WWW_IP', 7))"
in_c1 ip addr del "$C1_IP/32" dev eth0
sleep 0.3
sp1=$(moat_stat 'client(s, "'"$C1_IP"'")["drops"]["spoofed"]')
check "c1 sending from its real address $C1_IP is dropped as spoofed ($sp0 -> $sp1)" test $((sp1 - sp0)) -ge 5
# a traceroute-style probe: time exceeded from moat comes from the visible gateway
check "an ICMP error from moat to c1 names c1's visible address" in_c1 "$PY" -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1); u.bind(('$C1_VIS_IP', 40999)); u.sendto(b'x', ('$WWW_IP', 33434))
while True:
    b, a = s.recvfrom(2000)
    if b[20] == 11:
        break
inner = b[28:48]
assert a[0] == '$C1_VIS_GW', a
assert socket.inet_ntoa(inner[12:16]) == '$C1_VIS_IP', socket.inet_ntoa(inner[12:16])"
check "natd says how it shows c1" grep -q "client $C1_IP is shown as $C1_VIS_IP, gateway $C1_VIS_GW" "$RUN/log/natd.log"
is "$(http_code "$NS_C2" "http://$WWW_IP/" 5)" 200 "c2 (not mapped) is unaffected"
