#!/bin/bash
# An outside review's IPv6 findings, against real Linux stacks: an ICMPv6
# error from beyond the NetVM whose source address makes the pseudo-header
# word sum end just under 2^32 (a sender picks its own address). Its right
# checksum must get it to c1; one off by one in a byte must not (natd lost
# that carry, verified the wrong one and sent it on re-summed: laundered).
. "$(dirname "$0")/lib.sh"
topo_up --ipv6

# c1 keeps a UDP socket "talking" to www:7 from a fixed port, so the quote
# below names a flow of moat's (moat keeps the client's port when free).
CPORT=45678
ip netns exec "$NS_C1" "$PY" - "$WWW_IP6" "$CPORT" >"$RUN/flow.log" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", int(sys.argv[2])))
s.settimeout(0.5)
for i in range(40):
    s.sendto(b"review-flow", (sys.argv[1], 7))
    try:
        s.recv(100)
    except OSError:
        pass
    time.sleep(0.5)
EOF
disown
sleep 1

# sniff c1's link for the three errors, each tagged in its quoted payload
rm -f "$RUN/seen" "$RUN/seen.up"
ip netns exec "$NS_C1" "$PY" - "$RUN/seen" >"$RUN/sniff.log" 2>&1 <<'EOF' &
import sys, time
from scapy.all import AsyncSniffer, IPv6, ICMPv6DestUnreach, in6_chksum, raw
seen = []
def cb(p):
    if IPv6 not in p or ICMPv6DestUnreach not in p:
        return
    b = bytes(p)
    for t in (b"revGOOD", b"revBADx", b"revBADy"):
        if t in b:
            ip = p[IPv6]
            body = raw(ip.payload)[:ip.plen]
            ok = in6_chksum(58, ip.payload, body) == 0
            seen.append("%s:%s" % (t.decode(), "ok" if ok else "badsum"))
sn = AsyncSniffer(iface="eth0", prn=cb, store=False)
sn.start()
time.sleep(0.3)
open(sys.argv[1] + ".up", "w").close()
time.sleep(4)
sn.stop()
open(sys.argv[1], "w").write(" ".join(sorted(seen)) + "\n")
EOF
for i in $(seq 100); do [[ -e $RUN/seen.up ]] && break; sleep 0.05; done

ip netns exec "$NS_UP" "$PY" - "$FW_IP6" "$WWW_IP6" "$CPORT" >"$RUN/send.log" 2>&1 <<'EOF'
import socket, struct, subprocess, sys
from scapy.all import (Ether, IPv6, UDP, Raw, ICMPv6DestUnreach, raw,
                       in6_chksum, sendp)
fw, www, cport = sys.argv[1], sys.argv[2], int(sys.argv[3])
subprocess.run(["ping", "-6", "-c", "1", "-W", "1", fw], capture_output=True)
out = subprocess.run(["ip", "-6", "neigh", "show", fw, "dev", "eth0"],
                     capture_output=True, text=True).stdout.split()
mac = out[out.index("lladdr") + 1]
def err(tag, delta):
    quote = raw(IPv6(src=fw, dst=www) / UDP(sport=cport, dport=7) /
                Raw(tag + b"-" * 24))
    l4len = 8 + len(quote)
    # a router address whose 32-bit words (as a little-endian machine
    # sums them), with moat's address and the length, come to 0xffffff00
    r = bytearray(socket.inet_pton(socket.AF_INET6, "2001:db8:ffff::"))
    s = sum(struct.unpack("<3I", bytes(r[:12])))
    s += sum(struct.unpack("<4I", socket.inet_pton(socket.AF_INET6, fw)))
    s += struct.unpack("<I", struct.pack(">I", l4len))[0]
    while s >> 32:
        s = (s & 0xffffffff) + (s >> 32)
    r[12:16] = struct.pack("<I", (0xffffff00 + 0xffffffff - s) % 0xffffffff)
    src = socket.inet_ntop(socket.AF_INET6, bytes(r))
    pkt = IPv6(src=src, dst=fw, hlim=64) / ICMPv6DestUnreach(code=4, cksum=0) / Raw(quote)
    u = pkt[ICMPv6DestUnreach]
    c = in6_chksum(58, u, raw(u))
    u.cksum = (c + delta) & 0xffff
    sendp(Ether(dst=mac) / pkt, iface="eth0", verbose=False)
err(b"revBADx", 0x100)
err(b"revBADy", -0x100)
err(b"revGOOD", 0)
print("sent 3")
EOF
for i in $(seq 300); do [[ -s $RUN/seen ]] && break; sleep 0.05; done
seen=$(cat "$RUN/seen" 2>/dev/null)
check "the errors were sent from beyond the NetVM ($(cat "$RUN/send.log"))" grep -q 'sent 3' "$RUN/send.log"
is "$seen" "revGOOD:ok" "c1 got the error with the right checksum, and neither one off by a byte"
