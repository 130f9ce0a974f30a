#!/usr/bin/python3
"""A hostile client: sends malformed and random frames out of IFACE for SECONDS.

usage: hostile.py IFACE GW_MAC_OR_BROADCAST SRC_IP SECONDS [RATE]

Frames: truncated and inconsistent IPv4 headers, bogus IHL and total lengths,
fragments that overlap or run past 64 KiB, TCP with silly data offsets, ARP
with wrong sizes, random bytes with random ethertypes, ICMP errors quoting
garbage. The point is that moat survives it all and keeps serving everyone.
"""
import os
import random
import socket
import struct
import sys
import time

iface, dst_mac, src_ip, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rate = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src_mac = open(f"/sys/class/net/{iface}/address").read().strip()
mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
eth = mac(dst_mac) + mac(src_mac)
sip = socket.inet_aton(src_ip)
rnd = random.Random(int(os.environ.get("SEED", "1")))


def ip4(payload, proto=17, ihl=5, tot=None, frag=0, opts=b"", dst=None):
    dst = dst or socket.inet_aton(f"198.51.100.{rnd.randrange(1, 255)}")
    tot = tot if tot is not None else 20 + len(opts) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot & 0xFFFF, rnd.getrandbits(16), frag, rnd.choice([0, 1, 64, 255]),
                    proto, 0, sip, dst)
    return h + opts + payload


def frame():
    k = rnd.randrange(12)
    r = lambda n: bytes(rnd.getrandbits(8) for _ in range(n))
    if k == 0:
        return eth + struct.pack("!H", rnd.getrandbits(16)) + r(rnd.randrange(0, 200))
    if k == 1:
        return eth + b"\x08\x00" + ip4(r(8), ihl=rnd.randrange(0, 16))
    if k == 2:
        return eth + b"\x08\x00" + ip4(r(20), tot=rnd.randrange(0, 65536))
    if k == 3:
        return eth + b"\x08\x00" + ip4(r(rnd.randrange(0, 40)), frag=rnd.getrandbits(16))
    if k == 4:
        tcp = struct.pack("!HHIIBBHHH", rnd.getrandbits(16), 80, 0, 0, rnd.getrandbits(8), rnd.getrandbits(8), 0, 0, 0)
        return eth + b"\x08\x00" + ip4(tcp[:rnd.randrange(0, 21)], proto=6)
    if k == 5:
        return eth + b"\x08\x06" + r(rnd.randrange(0, 40))
    if k == 6:
        quote = ip4(r(8), proto=rnd.choice([1, 6, 17]))[: rnd.randrange(0, 28)]
        return eth + b"\x08\x00" + ip4(bytes([rnd.choice([3, 11, 12]), 0, 0, 0, 0, 0, 0, 0]) + quote, proto=1)
    if k == 7:
        return eth + b"\x86\xdd" + r(rnd.randrange(0, 80))
    if k == 8:
        return eth + b"\x81\x00" + r(rnd.randrange(0, 80))
    if k == 9:
        return eth + b"\x08\x00" + ip4(r(16), ihl=15, opts=r(rnd.choice([0, 4, 40])))
    if k == 10:
        return eth + b"\x08\x00" + ip4(r(rnd.randrange(8, 1400)), proto=17, frag=0x2000 | rnd.randrange(0, 8192))
    return eth[:rnd.randrange(0, 14)]


end = time.time() + seconds
sent = 0
while time.time() < end:
    t0 = time.time()
    for _ in range(max(1, rate // 100)):
        try:
            s.send(frame())
            sent += 1
        except OSError:
            pass
    time.sleep(max(0, 0.01 - (time.time() - t0)))
print(f"hostile: sent {sent} malformed frames")
