#!/usr/bin/python3
"""Test services for the uplink host ("NetVM") and the client hosts.

One process, one thread per service, so the suite starts and kills one pid
per namespace. Services (each enabled by an option):
  --tcp-echo PORT     echo every byte back
  --udp-echo PORT     echo every datagram back (any size, so fragments too)
  --udp-delay PORT    "delay N" -> reply "late N" after N seconds, to the
                      sender's address: tests that a NAT flow has expired
  --udp-log PORT:FILE append "srcip srcport payload" per datagram: tests
                      what did (and did not) arrive
  --tcp-banner PORT:TEXT  send TEXT and close: a client's listening server
  --peer-log FILE     append "ip port" of each banner connection
  --ipv6              every service listens on IPv6 too (its own socket,
                      so the IPv4 addresses in the logs stay as they are)
"""
import argparse
import socket
import sys
import threading
import time

IP_PKTINFO = 8


def v6only(s):
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)


def tcp_sock(port, fam=socket.AF_INET):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        v6only(s)
        s.bind(("::", port))
    else:
        s.bind(("0.0.0.0", port))
    s.listen(128)
    return s


def tcp_echo(s):

    def serve(c):
        with c:
            while True:
                try:
                    b = c.recv(65536)
                except OSError:
                    return
                if not b:
                    return
                try:
                    c.sendall(b)
                except OSError:
                    return

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def udp_sock(port, fam=socket.AF_INET):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    if fam == socket.AF_INET6:
        v6only(s)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        s.bind(("::", port))
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("0.0.0.0", port))
    return s


def udp_recv(s, n):
    """A datagram, its sender, and the pktinfo to answer from the address it
    was sent to (the host has many; a reply from another one would not match
    the client's socket or the firewall's flow)."""
    b, anc, _, a = s.recvmsg(n, 256)
    info = [(lvl, t, d) for lvl, t, d in anc
            if (lvl, t) in ((socket.IPPROTO_IP, IP_PKTINFO), (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO))]
    return b, a, info


def udp_reply(s, b, a, info):
    s.sendmsg([b], info, 0, a)


def udp_echo(s):
    while True:
        b, a, info = udp_recv(s, 65535)
        udp_reply(s, b, a, info)


def udp_delay(s):

    def later(n, a, info):
        time.sleep(n)
        udp_reply(s, b"late %g" % n, a, info)

    while True:
        b, a, info = udp_recv(s, 2048)
        try:
            n = float(b.split()[1])
        except (IndexError, ValueError):
            continue
        threading.Thread(target=later, args=(n, a, info), daemon=True).start()


def udp_log(s, path):
    with open(path, "a", buffering=1) as f:
        while True:
            b, a = s.recvfrom(65535)
            f.write("%s %d %s\n" % (a[0], a[1], b[:200].decode("ascii", "replace").strip()))


PEER_LOG = None


def tcp_banner(s, text):
    while True:
        c, peer = s.accept()
        if PEER_LOG:
            with open(PEER_LOG, "a") as f:
                f.write("%s %d\n" % peer[:2])
        with c:
            try:
                c.sendall(text.encode() + b"\n")
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp-echo", type=int, action="append", default=[])
    ap.add_argument("--udp-echo", type=int, action="append", default=[])
    ap.add_argument("--udp-delay", type=int, action="append", default=[])
    ap.add_argument("--udp-log", action="append", default=[])
    ap.add_argument("--tcp-banner", action="append", default=[])
    ap.add_argument("--peer-log", help="file to append each --tcp-banner peer's address to")
    ap.add_argument("--ready", help="file to create once every socket is bound")
    ap.add_argument("--ipv6", action="store_true", help="listen on IPv6 too")
    o = ap.parse_args()
    global PEER_LOG
    PEER_LOG = o.peer_log
    # Bind everything before announcing readiness, so a test never races
    # a service that is not listening yet.
    fams = [socket.AF_INET] + ([socket.AF_INET6] if o.ipv6 else [])
    jobs = []
    for fam in fams:
        jobs += [(tcp_echo, (tcp_sock(p, fam),)) for p in o.tcp_echo]
        jobs += [(udp_echo, (udp_sock(p, fam),)) for p in o.udp_echo]
        jobs += [(udp_delay, (udp_sock(p, fam),)) for p in o.udp_delay]
        for spec in o.udp_log:
            port, path = spec.split(":", 1)
            jobs.append((udp_log, (udp_sock(int(port), fam), path)))
        for spec in o.tcp_banner:
            port, text = spec.split(":", 1)
            jobs.append((tcp_banner, (tcp_sock(int(port), fam), text)))
    for fn, args in jobs:
        threading.Thread(target=fn, args=args, daemon=True).start()
    if o.ready:
        open(o.ready, "w").close()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
