#!/usr/bin/python3
"""Probes the integration tests run inside a host namespace.

Each subcommand prints one result line and exits 0 when the thing a user
would want happened, 1 when it did not, 2 on a usage/setup error:
  arp IFACE TARGET             ARP who-has TARGET; prints the answering MAC
  spoof IFACE GW SRC DST PORT N TAG
                               N UDP frames with a forged source SRC, sent
                               raw to the gateway's MAC (scapy)
  udp DST PORT MSG [--timeout S] [--size N]
                               one datagram, wait for the reply:
                               prints "reply LEN" / "timeout" / "refused"
  ttl DST PORT MAXTTL          traceroute-like: UDP probes with TTL 1..MAXTTL,
                               ICMP errors read from the socket's error queue
                               (so only errors whose quoted header was
                               translated back to this socket count)
  tcphold DST PORT STATUSFILE  keep one TCP connection, echo a line every
                               0.2 s, write "alive N" or "dead WHY" to the file
  spray DST PORT0 N [--pps R] [--sport P]
                               N UDP datagrams to ports PORT0..PORT0+N-1:
                               N new flows through the firewall
  tcpflood DST PORT0 N         N non-blocking TCP connects (new flows that
                               stay pending)
  sniff IFACE READY STOP TAG...
                               capture on IFACE (touching READY once it runs)
                               until the file STOP exists (at most 120 s);
                               print one line per IPv4 frame carrying a TAG:
                               "TAG proto=P type=T src=S dst=D csum=ok|bad opts=N"
  icmperr DST PORT TYPE CODE TAG [--to ADDR] [--badsum] [--quote-len N]
                               open a UDP flow to DST:PORT (its echo answers),
                               then send an ICMP error about the answer, its
                               quote padded with TAG to N bytes, to ADDR
                               (default DST: the quoted sender)
  uperr SRC FWIP DST PORT SPORT TYPE CODE TAG [--badsum]
                               from the uplink side: an ICMP error from SRC to
                               FWIP quoting FWIP:SPORT -> DST:PORT (a packet the
                               firewall sent for a client), TAG in the quote
  srcroute DST PORT TAG --opt lsrr|ssrr|rr [--sport P] [--src S]
                               one UDP datagram with that IPv4 option
  fragecho DST PORT SYNCDIR    a client's fragmented UDP echo, ordered around
                               another client's flood: head of datagram A,
                               touch SYNCDIR/head, wait for SYNCDIR/flooded,
                               tail of A, then datagram B tail first; prints
                               "replies N" (both echoes back: N = 2)
  fragflood DST PORT SYNCDIR N TAILS
                               after an echoed datagram opens the flow, wait
                               for SYNCDIR/head, send N first fragments and
                               TAILS orphan tails, touch SYNCDIR/flooded
"""
import argparse
import errno
import os
import select
import socket
import struct
import sys
import time

IP_RECVERR = 11
SO_EE_ORIGIN_ICMP = 2


def cmd_arp(o):
    from scapy.all import ARP, Ether, srp, conf, get_if_hwaddr
    conf.verb = 0
    mac = get_if_hwaddr(o.iface)
    psrc = o.src
    if psrc is None:
        from scapy.all import get_if_addr
        psrc = get_if_addr(o.iface)
    ans, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff", src=mac) /
                 ARP(op=1, hwsrc=mac, psrc=psrc, pdst=o.target),
                 iface=o.iface, timeout=o.timeout, retry=1)
    for _, r in ans:
        if r.haslayer(ARP) and r[ARP].op == 2 and r[ARP].psrc == o.target:
            print("reply %s" % r[ARP].hwsrc)
            return 0
    print("none")
    return 1


def gw_mac(iface, gw):
    from scapy.all import ARP, Ether, srp, get_if_hwaddr, get_if_addr
    mac = get_if_hwaddr(iface)
    ans, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff", src=mac) /
                 ARP(op=1, hwsrc=mac, psrc=get_if_addr(iface), pdst=gw),
                 iface=iface, timeout=2, retry=2, verbose=0)
    for _, r in ans:
        return r[ARP].hwsrc
    return None


def cmd_spoof(o):
    from scapy.all import Ether, IP, UDP, Raw, sendp, get_if_hwaddr
    dmac = gw_mac(o.iface, o.gw)
    if dmac is None:
        print("no ARP answer for the gateway %s" % o.gw)
        return 2
    smac = get_if_hwaddr(o.iface)
    frames = [Ether(src=smac, dst=dmac) / IP(src=o.src, dst=o.dst) /
              UDP(sport=40000 + i, dport=o.port) / Raw(("%s-%d" % (o.tag, i)).encode())
              for i in range(o.n)]
    sendp(frames, iface=o.iface, verbose=0, inter=0.002)
    print("sent %d" % o.n)
    return 0


def cmd_udp(o):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if o.sport:
        s.bind(("0.0.0.0", o.sport))
    s.connect((o.dst, o.port))
    msg = o.msg.encode()
    if o.size:
        msg = (msg + b"." * o.size)[:o.size]
    s.settimeout(o.timeout)
    try:
        s.send(msg)
        b = s.recv(65535)
    except socket.timeout:
        print("timeout")
        return 1
    except ConnectionRefusedError:
        print("refused")
        return 1
    except OSError as e:
        print("error %s" % errno.errorcode.get(e.errno, e.errno))
        return 1
    if o.size and len(b) != len(msg):
        print("reply %d (sent %d)" % (len(b), len(msg)))
        return 1
    print("reply %d %s" % (len(b), b[:40].decode("ascii", "replace")))
    return 0


def read_errqueue(s, timeout):
    """One ICMP error from the socket's error queue: (type, code, offender) or None."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, x = select.select([], [], [s], max(0, deadline - time.time()))
        try:
            _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
        except BlockingIOError:
            if not x:
                time.sleep(0.05)
            continue
        for lvl, typ, data in anc:
            if lvl == socket.IPPROTO_IP and typ == IP_RECVERR:
                # struct sock_extended_err: u32 errno; u8 origin, type, code, pad;
                # u32 info, data; then the offender's sockaddr_in
                ee_errno, origin, itype, code = struct.unpack_from("=IBBB", data)
                off = socket.inet_ntoa(data[16 + 4:16 + 8]) if len(data) >= 24 else "?"
                if origin == SO_EE_ORIGIN_ICMP:
                    return itype, code, off
    return None


def cmd_ttl(o):
    seen_exceeded = False
    reached = False
    for ttl in range(1, o.maxttl + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        s.setblocking(False)
        s.connect((o.dst, o.port + ttl))
        s.send(b"probe ttl %d" % ttl)
        e = read_errqueue(s, o.timeout)
        s.close()
        if e is None:
            print("ttl=%d no answer" % ttl)
            continue
        print("ttl=%d icmp type=%d code=%d from=%s" % (ttl, e[0], e[1], e[2]))
        if e[0] == 11:
            seen_exceeded = True
        if e[0] == 3:
            reached = True
            break
    return 0 if seen_exceeded and reached else 1


def cmd_tcphold(o):
    def status(text):
        tmp = o.statusfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.rename(tmp, o.statusfile)

    try:
        s = socket.create_connection((o.dst, o.port), timeout=3)
    except OSError as e:
        status("dead connect %s" % e)
        return 1
    s.settimeout(1.5)
    n = 0
    while True:
        line = b"keepalive %d\n" % n
        try:
            s.sendall(line)
            got = b""
            while len(got) < len(line):
                b = s.recv(len(line) - len(got))
                if not b:
                    status("dead closed after %d" % n)
                    return 1
                got += b
        except socket.timeout:
            status("dead timeout after %d" % n)
            return 1
        except OSError as e:
            status("dead %s after %d" % (errno.errorcode.get(e.errno, e.errno), n))
            return 1
        n += 1
        status("alive %d" % n)
        time.sleep(0.2)


def cmd_spray(o):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    if o.sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", o.sport))
    gap = 1.0 / o.pps if o.pps else 0
    t0 = time.time()
    for i in range(o.n):
        while True:
            try:
                s.sendto(b"flow %d" % i, (o.dst, o.port0 + i))
                break
            except (BlockingIOError, ConnectionRefusedError):
                time.sleep(0.001)
            except OSError as e:
                if e.errno in (errno.ENOBUFS, errno.EAGAIN):
                    time.sleep(0.001)
                    continue
                raise
        if gap:
            ahead = t0 + (i + 1) * gap - time.time()
            if ahead > 0:
                time.sleep(ahead)
    print("sent %d in %.2fs" % (o.n, time.time() - t0))
    return 0


def cmd_tcpflood(o):
    socks = []
    for i in range(o.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((o.dst, o.port0 + i % 1000))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        socks.append(s)
    print("started %d" % len(socks))
    time.sleep(o.hold)
    return 0


def _csum_ok(raw):
    from scapy.all import checksum
    return checksum(raw) == 0


def cmd_sniff(o):
    from scapy.all import AsyncSniffer, IP, ICMP, raw
    tags = [t.encode() for t in o.tags]
    sn = AsyncSniffer(iface=o.iface, store=True)
    sn.start()
    time.sleep(0.5)
    open(o.ready, "w").close()
    _wait_file(o.stop, 120)
    time.sleep(0.5)
    pkts = sn.stop() or []
    for p in pkts:
        if not p.haslayer(IP):
            continue
        b = bytes(p[IP])
        for t in tags:
            if t not in b:
                continue
            ip = p[IP]
            hl = ip.ihl * 4
            l4 = b[hl:ip.len]
            typ = l4[0] if ip.proto == 1 and l4 else -1
            ok = "ok" if ip.proto != 1 or _csum_ok(l4) else "bad"
            print("%s proto=%d type=%d src=%s dst=%s csum=%s opts=%d" %
                  (t.decode(), ip.proto, typ, ip.src, ip.dst, ok, hl - 20))
    sys.stdout.flush()
    return 0


def _udp_flow(dst, port, sport=0):
    """A connected UDP socket whose first datagram was echoed: the flow is open.
    None (and a line saying so) when three tries got no echo."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport))
    s.connect((dst, port))
    s.settimeout(1.0)
    for _ in range(3):
        s.send(b"open")
        try:
            s.recv(65535)
            return s
        except socket.timeout:
            continue
    print("flow to %s:%d not answered" % (dst, port))
    return None


def cmd_icmperr(o):
    from scapy.all import IP, UDP, ICMP, Raw, send, conf
    conf.verb = 0
    s = _udp_flow(o.dst, o.port)
    if s is None:
        return 2
    me, sport = s.getsockname()
    pad = (o.tag.encode() * (o.quote_len // len(o.tag) + 1))[:max(0, o.quote_len - 28)]
    quote = IP(src=o.dst, dst=me, ttl=60) / UDP(sport=o.port, dport=sport) / Raw(pad)
    err = ICMP(type=o.type, code=o.code)
    if o.type == 3 and o.code == 4:
        err.nexthopmtu = 1280
    pkt = IP(dst=o.to or o.dst) / err / Raw(bytes(quote))
    if o.badsum:
        b = bytearray(bytes(pkt))
        hl = (b[0] & 15) * 4
        b[hl + 2] ^= 0x5a
        pkt = IP(bytes(b))
    send(pkt)
    print("sent %s to %s" % (o.tag, o.to or o.dst))
    return 0


def cmd_uperr(o):
    from scapy.all import IP, UDP, ICMP, Raw, send, conf
    conf.verb = 0
    quote = IP(src=o.fwip, dst=o.dst, ttl=63) / UDP(sport=o.sport, dport=o.port) / Raw(o.tag.encode() * 4)
    pkt = IP(src=o.src, dst=o.fwip) / ICMP(type=o.type, code=o.code) / Raw(bytes(quote))
    if o.badsum:
        b = bytearray(bytes(pkt))
        b[22] ^= 0x5a
        pkt = IP(bytes(b))
    send(pkt)
    print("sent %s" % o.tag)
    return 0


def cmd_srcroute(o):
    from scapy.all import IP, UDP, Raw, send, conf, IPOption_LSRR, IPOption_SSRR, IPOption_RR
    conf.verb = 0
    opt = {"lsrr": lambda: IPOption_LSRR(routers=[o.dst]),
           "ssrr": lambda: IPOption_SSRR(routers=[o.dst]),
           "rr": lambda: IPOption_RR(routers=["0.0.0.0"])}[o.opt]()
    ip = IP(dst=o.dst, options=[opt])
    if o.src:
        ip.src = o.src
    send(ip / UDP(sport=o.sport, dport=o.port) / Raw(o.tag.encode()))
    print("sent %s with %s" % (o.tag, o.opt))
    return 0


def _wait_file(path, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return True
        time.sleep(0.01)
    return False


def _dgram_frags(src, dst, sport, dport, size, ident):
    from scapy.all import IP, UDP, Raw, fragment
    d = IP(src=src, dst=dst, id=ident) / UDP(sport=sport, dport=dport) / Raw(b"F" * size)
    return fragment(d, fragsize=1400)


def cmd_fragecho(o):
    from scapy.all import send, conf
    conf.verb = 0
    s = _udp_flow(o.dst, o.port)
    if s is None:
        return 2
    me, sport = s.getsockname()
    a = _dgram_frags(me, o.dst, sport, o.port, 3000, 0x1a1a)
    b = _dgram_frags(me, o.dst, sport, o.port, 3000, 0x1b1b)
    send(a[0])
    open(os.path.join(o.syncdir, "head"), "w").close()
    if not _wait_file(os.path.join(o.syncdir, "flooded"), 30):
        print("no flood")
        return 2
    send(a[1:])
    send(list(reversed(b)))
    s.settimeout(3)
    n = 0
    try:
        while n < 2:
            if len(s.recv(65535)) == 3000:
                n += 1
    except socket.timeout:
        pass
    print("replies %d" % n)
    return 0 if n == 2 else 1


def cmd_fragflood(o):
    from scapy.all import send, conf, IP
    conf.verb = 0
    s = _udp_flow(o.dst, o.port)
    if s is None:
        return 2
    me, sport = s.getsockname()
    heads, tails = [], []
    for i in range(o.n):
        heads.append(_dgram_frags(me, o.dst, sport, o.port, 3000, 0x8000 + i)[0])
    for i in range(o.tails):
        tails.append(_dgram_frags(me, o.dst, sport, o.port, 3000, 0x100 + i)[-1])
    if not _wait_file(os.path.join(o.syncdir, "head"), 30):
        print("no head")
        return 2
    send(heads + tails)
    open(os.path.join(o.syncdir, "flooded"), "w").close()
    print("flooded %d heads %d tails" % (o.n, o.tails))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("arp")
    p.add_argument("iface")
    p.add_argument("target")
    p.add_argument("--src")
    p.add_argument("--timeout", type=float, default=1.0)
    p = sub.add_parser("spoof")
    for a in ("iface", "gw", "src", "dst"):
        p.add_argument(a)
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("tag")
    p = sub.add_parser("udp")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("msg")
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--sport", type=int, default=0)
    p = sub.add_parser("ttl")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("maxttl", type=int)
    p.add_argument("--timeout", type=float, default=2.0)
    p = sub.add_parser("tcphold")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("statusfile")
    p = sub.add_parser("spray")
    p.add_argument("dst")
    p.add_argument("port0", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--pps", type=float, default=0)
    p.add_argument("--sport", type=int, default=0)
    p = sub.add_parser("tcpflood")
    p.add_argument("dst")
    p.add_argument("port0", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--hold", type=float, default=5)
    p = sub.add_parser("sniff")
    p.add_argument("iface")
    p.add_argument("ready")
    p.add_argument("stop")
    p.add_argument("tags", nargs="+")
    p = sub.add_parser("icmperr")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("type", type=int)
    p.add_argument("code", type=int)
    p.add_argument("tag")
    p.add_argument("--to")
    p.add_argument("--badsum", action="store_true")
    p.add_argument("--quote-len", type=int, default=1200)
    p = sub.add_parser("uperr")
    for a in ("src", "fwip", "dst"):
        p.add_argument(a)
    p.add_argument("port", type=int)
    p.add_argument("sport", type=int)
    p.add_argument("type", type=int)
    p.add_argument("code", type=int)
    p.add_argument("tag")
    p.add_argument("--badsum", action="store_true")
    p = sub.add_parser("srcroute")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("tag")
    p.add_argument("--opt", required=True, choices=("lsrr", "ssrr", "rr"))
    p.add_argument("--sport", type=int, default=40999)
    p.add_argument("--src")
    p = sub.add_parser("fragecho")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("syncdir")
    p = sub.add_parser("fragflood")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("syncdir")
    p.add_argument("n", type=int)
    p.add_argument("tails", type=int)
    o = ap.parse_args()
    return globals()["cmd_" + o.cmd](o)


if __name__ == "__main__":
    sys.exit(main())
