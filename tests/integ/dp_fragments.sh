#!/bin/bash
# Fragmented IP (ping -s 4000, large UDP) crosses the firewall both ways; big TCP transfers arrive intact.
. "$(dirname "$0")/lib.sh"
topo_up

check "c1: ping -s 4000 $WWW_IP (fragmented request and reply)" in_c1 ping -n -c2 -i0.3 -W2 -s 4000 "$WWW_IP"
check "c2: ping -s 8000 $FAR_IP, two hops away" in_c2 ping -n -c2 -i0.3 -W2 -s 8000 "$FAR_IP"
check "c1: 6000-byte UDP datagram echoed back whole" pkt "$NS_C1" udp "$WWW_IP" 7 big --size 6000
check "c2: 30000-byte UDP datagram echoed back whole" pkt "$NS_C2" udp "$WWW_IP" 7 big --size 30000
check "c2: 1472-byte UDP (a full frame, no fragments) echoed back" pkt "$NS_C2" udp "$WWW_IP" 7 full --size 1472
check "c2: 1473-byte UDP (just over one frame) echoed back" pkt "$NS_C2" udp "$WWW_IP" 7 over --size 1473
want=$(sha256sum <"$RUN/www/1m.bin")
got=$(ip netns exec "$NS_C2" curl -s --max-time 10 "http://$WWW_IP/1m.bin" | sha256sum)
is "$got" "$want" "c2: a 1 MB HTTP download arrives intact"
got=$(head -c 2000000 /dev/urandom | tee "$RUN/up.bin" | ip netns exec "$NS_C1" "$PY" -c '
import socket, sys, hashlib, threading
d = sys.stdin.buffer.read()
s = socket.create_connection(("'"$WWW_IP"'", 7), 5)
s.settimeout(10)
threading.Thread(target=lambda: s.sendall(d), daemon=True).start()
h = hashlib.sha256(); n = 0
while n < len(d):
    b = s.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(h.hexdigest() + "  -")')
is "$got" "$(sha256sum <"$RUN/up.bin")" "c1: 2 MB sent through a TCP echo come back intact (both directions)"
