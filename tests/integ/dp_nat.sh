#!/bin/bash
# NAT keeps clients apart: the same source port or ICMP id from two clients to the same server gives two working flows.
. "$(dirname "$0")/lib.sh"
topo_up

# Two TCP connections, one per client, same source port, same server: each
# gets its own bytes back.
tcp_same_port() {
	local ns
	for ns in "$NS_C1" "$NS_C2"; do
		ip netns exec "$ns" "$PY" - "$WWW_IP" "$ns" <<'PYEOF' >"$RUN/tcp-$ns.out" 2>&1 &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 41000))
s.settimeout(3)
s.connect((sys.argv[1], 7))
ok = 0
for i in range(10):
    msg = ("%s %d\n" % (sys.argv[2], i)).encode()
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += s.recv(len(msg) - len(got))
    ok += got == msg
    time.sleep(0.1)
print("echoed %d/10" % ok)
PYEOF
	done
	wait %% 2>/dev/null; sleep 1.5
}
tcp_same_port
is "$(cat "$RUN/tcp-$NS_C1.out")" "echoed 10/10" "c1: TCP from port 41000 to $WWW_IP:7 echoes its own bytes while c2 uses the same port"
is "$(cat "$RUN/tcp-$NS_C2.out")" "echoed 10/10" "c2: TCP from port 41000 to $WWW_IP:7 echoes its own bytes while c1 uses the same port"

# UDP, same source port, one after the other (the first flow is still live).
is "$(pkt "$NS_C1" udp "$WWW_IP" 7 from-c1 --sport 42000)" "reply 7 from-c1" "c1: UDP from port 42000 gets its reply"
is "$(pkt "$NS_C2" udp "$WWW_IP" 7 from-c2 --sport 42000)" "reply 7 from-c2" "c2: UDP from the same port 42000 gets its own reply"
is "$(pkt "$NS_C1" udp "$WWW_IP" 7 again-c1 --sport 42000)" "reply 8 again-c1" "c1: and its flow still works afterwards"

# ICMP echo with the same identifier from both clients, interleaved.
icmp_same_id() {
	ip netns exec "$1" "$PY" - "$WWW_IP" "$2" <<'PYEOF'
import socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.5)
ok = 0
for seq in range(5):
    payload = ("%s-%d" % (sys.argv[2], seq)).encode()
    h = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq)
    h = struct.pack("!BBHHH", 8, 0, csum(h + payload), 0x4242, seq)
    s.sendto(h + payload, (sys.argv[1], 0))
    end = time.time() + 0.5
    while time.time() < end:
        try:
            b = s.recv(2048)
        except socket.timeout:
            break
        t, _, _, i, q = struct.unpack("!BBHHH", b[20:28])
        if t == 0 and i == 0x4242 and q == seq and b[28:] == payload:
            ok += 1
            break
    time.sleep(0.1)
print("replies %d/5" % ok)
PYEOF
}
icmp_same_id "$NS_C1" c1 >"$RUN/icmp1" & icmp_same_id "$NS_C2" c2 >"$RUN/icmp2"; wait %% 2>/dev/null; sleep 0.5
is "$(cat "$RUN/icmp1")" "replies 5/5" "c1: ICMP echo id 0x4242 gets its own replies while c2 uses the same id"
is "$(cat "$RUN/icmp2")" "replies 5/5" "c2: ICMP echo id 0x4242 gets its own replies while c1 uses the same id"
