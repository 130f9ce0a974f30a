#!/usr/bin/python3
"""IPv6 probes for tests/integ/dp_ipv6.sh, run inside a namespace.

Each subcommand prints one result line and exits 0 when the thing a user
would want happened, 1 when it did not, 2 on a usage/setup error:
  udp DST PORT MSG [--timeout S]    one datagram, wait for the echo:
                                    "reply LEN" / "timeout" / "error E"
  hop1 DST PORT                     a UDP probe with hop limit 1; the ICMPv6
                                    error read from the socket's error queue
                                    (so only one whose quote was translated
                                    back to this socket counts):
                                    "time-exceeded from ADDR" / "nothing"
  upload DST PORT NBYTES [--timeout S]
                                    TCP: send NBYTES, half-close, read the
                                    byte count the sink answers: "sent N ok"
  sink PORT READY                   TCP server (IPv6): answer each connection
                                    with the number of bytes it sent
  sniff IFACE SECONDS OUT KIND [TAG]
                                    count IPv6 frames on IFACE for SECONDS:
                                    KIND tag (payload holds TAG) or ra (router
                                    advertisements); OUT gets the count, OUT.up
                                    appears once capturing (scapy)
  spoof IFACE GW SRC DST PORT N TAG N UDP datagrams from the forged source
                                    SRC, sent raw to GW's MAC (scapy)
  ra IFACE                          a router advertisement from IFACE's
                                    link-local address (scapy): default router
                                    and prefix 2001:db8:bad::/64
"""
import argparse
import os
import socket
import struct
import subprocess
import sys
import time

IPV6_RECVERR = 25


def cmd_udp(o):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(o.timeout)
    s.connect((o.dst, o.port))
    s.send(o.msg.encode())
    try:
        b = s.recv(65535)
    except socket.timeout:
        print("timeout")
        return 1
    except OSError as e:
        print("error", e.errno)
        return 1
    print("reply", len(b))
    return 0


def cmd_hop1(o):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 1)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    s.sendto(b"hop1", (o.dst, o.port))
    end = time.time() + 2
    while time.time() < end:
        try:
            _, anc, _, _ = s.recvmsg(100, 1024, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        for lvl, typ, d in anc:
            if lvl != socket.IPPROTO_IPV6 or typ != IPV6_RECVERR:
                continue
            # struct sock_extended_err, then the offender's sockaddr_in6
            _, origin, etype, ecode = struct.unpack_from("IBBB", d, 0)
            off = struct.calcsize("IBBBxII")
            addr = socket.inet_ntop(socket.AF_INET6, d[off + 8:off + 24])
            if etype == 3:
                print("time-exceeded from", addr)
                return 0
            print("icmpv6 type %d code %d from %s" % (etype, ecode, addr))
            return 1
    print("nothing")
    return 1


def cmd_upload(o):
    s = socket.create_connection((o.dst, o.port), o.timeout)
    s.settimeout(o.timeout)
    data = os.urandom(o.nbytes)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(100)
            if not b:
                break
            got += b
    except (socket.timeout, OSError) as e:
        print("failed:", e)
        return 1
    n = int(got.decode().strip() or -1)
    print("sent", o.nbytes, "ok" if n == o.nbytes else "sink got %d" % n)
    return 0 if n == o.nbytes else 1


def cmd_sink(o):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", o.port))
    s.listen(8)
    open(o.ready, "w").close()
    while True:
        c, _ = s.accept()
        n = 0
        c.settimeout(60)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                n += len(b)
            c.sendall(b"%d\n" % n)
        except OSError:
            pass
        c.close()


def cmd_sniff(o):
    from scapy.all import AsyncSniffer, IPv6, ICMPv6ND_RA
    n = 0

    def seen(p):
        nonlocal n
        if IPv6 not in p:
            return
        if o.kind == "ra" and ICMPv6ND_RA in p:
            n += 1
        elif o.kind == "tag" and o.tag.encode() in bytes(p):
            n += 1
    sn = AsyncSniffer(iface=o.iface, prn=seen, store=False)
    sn.start()
    time.sleep(0.3)
    open(o.out + ".up", "w").close()
    time.sleep(o.seconds)
    sn.stop()
    with open(o.out, "w") as f:
        f.write("%d\n" % n)
    return 0


def neigh_mac(iface, ip):
    out = subprocess.run(["ip", "-6", "neigh", "show", ip, "dev", iface],
                         capture_output=True, text=True).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def cmd_spoof(o):
    from scapy.all import Ether, IPv6, UDP, Raw, sendp
    subprocess.run(["ping", "-6", "-c", "1", "-W", "1", o.gw], capture_output=True)
    mac = neigh_mac(o.iface, o.gw)
    if mac is None:
        print("no neighbour entry for", o.gw)
        return 2
    f = Ether(dst=mac) / IPv6(src=o.src, dst=o.dst) / UDP(sport=40000, dport=o.port) / Raw(o.tag.encode())
    sendp(f, iface=o.iface, count=o.n, verbose=False)
    print("sent", o.n)
    return 0


def cmd_ra(o):
    from scapy.all import (Ether, IPv6, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo,
                           ICMPv6NDOptSrcLLAddr, get_if_hwaddr, sendp)
    mac = get_if_hwaddr(o.iface)
    b = bytes.fromhex(mac.replace(":", ""))
    ll = "fe80::%02x%02x:%02xff:fe%02x:%02x%02x" % (b[0] ^ 2, b[1], b[2], b[3], b[4], b[5])
    f = (Ether(src=mac, dst="33:33:00:00:00:01") /
         IPv6(src=ll, dst="ff02::1", hlim=255) /
         ICMPv6ND_RA(routerlifetime=1800, prf=1) /
         ICMPv6NDOptSrcLLAddr(lladdr=mac) /
         ICMPv6NDOptPrefixInfo(prefix="2001:db8:bad::", prefixlen=64, L=1, A=1))
    sendp(f, iface=o.iface, count=3, inter=0.1, verbose=False)
    print("sent 3")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest="cmd", required=True)
    p = sp.add_parser("udp")
    p.add_argument("dst"); p.add_argument("port", type=int); p.add_argument("msg")
    p.add_argument("--timeout", type=float, default=2)
    p = sp.add_parser("hop1")
    p.add_argument("dst"); p.add_argument("port", type=int)
    p = sp.add_parser("upload")
    p.add_argument("dst"); p.add_argument("port", type=int); p.add_argument("nbytes", type=int)
    p.add_argument("--timeout", type=float, default=10)
    p = sp.add_parser("sink")
    p.add_argument("port", type=int); p.add_argument("ready")
    p = sp.add_parser("sniff")
    p.add_argument("iface"); p.add_argument("seconds", type=float); p.add_argument("out")
    p.add_argument("kind", choices=["tag", "ra"]); p.add_argument("tag", nargs="?", default="")
    p = sp.add_parser("spoof")
    for a in ("iface", "gw", "src", "dst"):
        p.add_argument(a)
    p.add_argument("port", type=int); p.add_argument("n", type=int); p.add_argument("tag")
    p = sp.add_parser("ra")
    p.add_argument("iface")
    o = ap.parse_args()
    try:
        return globals()["cmd_" + o.cmd](o)
    except OSError as e:
        print("error:", e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
