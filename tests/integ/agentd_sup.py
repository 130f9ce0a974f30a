#!/usr/bin/python3
"""A small stand-in for moat's supervisor, for agentd's integration tests.

Runs agentd with its control channel (SOCK_SEQPACKET) on fd 3, sends START,
and writes one line per message agentd sends to the event log (--log), e.g.
  READY sandbox=1
  NETCONF ip=10.137.0.5 netmask=255.255.255.255 ... debug=0
  QRULES_BEGIN 4 10.137.0.12 drop 3
  QRULE 1 action=accept proto=tcp
  SVC_REQ moat.Echo arg= source=dom0 in_len=5
It answers MSG_SVC_REQ itself, as the supervisor's moat.* handlers would:
  moat.Echo      stdout = the input, exit 0
  moat.Fail      stderr = "failing as asked", exit 3
  moat.Big       stdout = N bytes ('x'), N = the argument, exit 0
  moat.Slow      like Echo, after 1 s
  moat.Silence   never answers (tests the agentd's timeout)
  anything else  stderr = "unknown service", exit 127
Commands on the --control UNIX datagram socket: "shutdown", "loglevel N",
"kill" (SIGKILL agentd), "restart" (start a new agentd with START_F_RESTART).
Exits when agentd exits, with its status.
"""
import argparse
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

T = dict(NONE=0, QUEUES=1, EVENTFD=2, START=3, READY=4, LOGLEVEL=5, SHUTDOWN=6,
         CALL=7, CALL_DONE=8, SVC_REQ=9, SVC_REPLY=10, POWEROFF=11, NETCONF=12,
         DEVNET_LINK=13, LINK=14, QRULES_BEGIN=15, QRULE=16, QRULES_END=17,
         RULES_CHANGED=18, DNS_QUERY=19, DNS_ANSWER=20, FLOWTAB=21,
         TEST_SYSCALL=22, CLIENTS=23, PEER_DIED=24, TEST_RING=25, CLIENTS6=26)
NAME = {v: k for k, v in T.items()}


def ip4(b):
    return socket.inet_ntop(socket.AF_INET, b)


def addr(fam, b):
    if fam == 4:
        return ip4(b[:4])
    return socket.inet_ntop(socket.AF_INET6, b)


def cstr(b):
    return b.split(b"\0", 1)[0].decode(errors="replace")


class Sup:
    def __init__(self, args):
        self.args = args
        self.log = open(args.log, "a", buffering=1)
        self.proc = None
        self.chan = None
        self.pending = []  # (due, reply) for moat.Slow

    def ev(self, line):
        self.log.write(line + "\n")

    def send(self, typ, payload=b"", fd=None, id=0):
        hdr = struct.pack("<IIII", typ, len(payload), id, 0)
        try:
            if fd is None:
                self.chan.send(hdr + payload)
            else:
                socket.send_fds(self.chan, [hdr + payload], [fd])
        except (BrokenPipeError, ConnectionResetError):
            pass  # agentd is gone; its exit is reported by run()

    def spawn(self, restart=False):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.chan = a

        def child():
            os.dup2(b.fileno(), 3)
        self.proc = subprocess.Popen([self.args.agentd] + self.args.rest,
                                     pass_fds=(b.fileno(), 3), preexec_fn=child,
                                     stderr=open(self.args.stderr, "a") if self.args.stderr else None)
        b.close()
        if self.args.loglevel is not None:
            self.send(T["LOGLEVEL"], struct.pack("<II", self.args.loglevel, 0))
        self.send(T["START"], struct.pack("<II", 1 if restart else 0, 0))

    def reply(self, callid, status, out, err):
        data = out + err
        fd = os.memfd_create("reply", os.MFD_CLOEXEC)
        os.write(fd, data)
        self.send(T["SVC_REPLY"], struct.pack("<IiII", callid, status, len(out), len(err)), fd=fd)
        os.close(fd)

    def svc(self, p, fds):
        callid, in_len = struct.unpack_from("<II", p, 0)
        service = cstr(p[8:72])
        arg = cstr(p[72:136])
        source = cstr(p[136:200])
        data = b""
        if fds:
            os.lseek(fds[0], 0, 0)
            data = os.read(fds[0], 2 << 20)
            for f in fds:
                os.close(f)
        self.ev("SVC_REQ %s arg=%s source=%s in_len=%d got=%d" %
                (service, arg, source, in_len, len(data)))
        if service == "moat.Echo":
            self.reply(callid, 0, data, b"")
        elif service == "moat.Fail":
            self.reply(callid, 3, b"", b"failing as asked\n")
        elif service == "moat.Big":
            self.reply(callid, 0, b"x" * int(arg or "0"), b"")
        elif service == "moat.Slow":
            self.pending.append((time.monotonic() + 1.0, callid, data))
        elif service == "moat.Silence":
            pass
        else:
            self.reply(callid, 127, b"", b"unknown service\n")

    def handle(self, m, fds):
        if len(m) < 16:
            self.ev("SHORT")
            return
        typ, ln, _id, _pad = struct.unpack_from("<IIII", m, 0)
        p = m[16:]
        n = NAME.get(typ, str(typ))
        if typ == T["READY"]:
            sb, pid = struct.unpack_from("<II", p)
            self.ev("READY sandbox=%d" % sb)
        elif typ == T["NETCONF"]:
            f = struct.unpack_from("<12I", p)
            names = ["ip", "netmask", "gateway", "dns0", "dns1", "netvm_gateway",
                     "netvm_netmask", "netvm_network", "netvm_dns0", "netvm_dns1"]
            s = " ".join("%s=%s" % (k, ip4(p[i * 4:i * 4 + 4])) for i, k in enumerate(names))
            self.ev("NETCONF %s debug=%d" % (s, f[10]))
            if len(p) >= 96:
                self.ev("NETCONF6 ip6=%s gateway6=%s netvm_gateway6=%s" %
                        tuple(addr(6, p[o:o + 16]) for o in (48, 64, 80)))
        elif typ == T["CLIENTS"]:
            cnt = struct.unpack_from("<I", p)[0]
            cl = []
            for i in range(cnt):
                o = 8 + 16 * i
                fl = struct.unpack_from("<I", p, o + 12)[0]
                cl.append("%s%s,vis=%s,gw=%s" % (ip4(p[o:o + 4]), "+c" if fl & 1 else "",
                                                  ip4(p[o + 4:o + 8]), ip4(p[o + 8:o + 12])))
            self.ev("CLIENTS %d %s" % (cnt, " ".join(cl)))
        elif typ == T["CLIENTS6"]:
            cnt = struct.unpack_from("<I", p)[0]
            cl = []
            for i in range(cnt):
                o = 8 + 52 * i
                fl = struct.unpack_from("<I", p, o + 48)[0]
                cl.append("%s%s,vis=%s,gw=%s" % (addr(6, p[o:o + 16]), "+c" if fl & 1 else "",
                                                  addr(6, p[o + 16:o + 32]), addr(6, p[o + 32:o + 48])))
            self.ev("CLIENTS6 %d %s" % (cnt, " ".join(cl)))
        elif typ == T["QRULES_BEGIN"]:
            fam = p[0]
            cnt = struct.unpack_from("<I", p, 28)[0]
            self.ev("QRULES_BEGIN %d %s %s %d" % (fam, addr(fam, p[4:20]), cstr(p[20:28]) or "-", cnt))
        elif typ == T["QRULE"]:
            key, ln2 = struct.unpack_from("<II", p)
            self.ev("QRULE %04d %s" % (key, p[8:8 + ln2].decode(errors="replace")))
        elif typ == T["QRULES_END"]:
            self.ev("QRULES_END %d %s" % (p[0], addr(p[0], p[4:20])))
        elif typ == T["SVC_REQ"]:
            self.svc(p, fds)
            return
        elif typ == T["POWEROFF"]:
            self.ev("POWEROFF reboot=%d" % struct.unpack_from("<I", p)[0])
        else:
            self.ev("MSG %s len=%d" % (n, len(p)))
        for f in fds:
            os.close(f)

    def run(self):
        ctl = None
        if self.args.control:
            try:
                os.unlink(self.args.control)
            except FileNotFoundError:
                pass
            ctl = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            ctl.bind(self.args.control)
        self.spawn()
        while True:
            rl = [self.chan] + ([ctl] if ctl else [])
            timeout = 0.2
            r, _, _ = select.select(rl, [], [], timeout)
            now = time.monotonic()
            for due, callid, data in list(self.pending):
                if due <= now:
                    self.pending.remove((due, callid, data))
                    self.reply(callid, 0, data, b"")
            if self.chan in r:
                try:
                    m, fds, _fl, _ad = socket.recv_fds(self.chan, 70000, 4)
                except ConnectionResetError:
                    m, fds = b"", []
                if not m:
                    rc = self.proc.wait()
                    self.ev("EXIT %d" % rc)
                    if self.args.respawn and not getattr(self, "stopping", False):
                        self.spawn(restart=True)
                        continue
                    return rc
                self.handle(m, fds)
            if ctl and ctl in r:
                cmd = ctl.recv(200).decode().split()
                if not cmd:
                    continue
                if cmd[0] == "shutdown":
                    self.stopping = True
                    self.send(T["SHUTDOWN"])
                elif cmd[0] == "loglevel":
                    self.send(T["LOGLEVEL"], struct.pack("<II", int(cmd[1]), 0))
                elif cmd[0] == "kill":
                    self.proc.kill()
                elif cmd[0] == "raw":
                    # raw TYPE SIZE: e.g. an unexpected type (agentd must exit 1)
                    self.send(int(cmd[1]), bytes(int(cmd[2]) if len(cmd) > 2 else 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agentd", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--stderr")
    ap.add_argument("--control")
    ap.add_argument("--loglevel", type=int)
    ap.add_argument("--respawn", action="store_true")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.rest and a.rest[0] == "--":
        a.rest = a.rest[1:]
    signal.signal(signal.SIGTERM, lambda *x: sys.exit(0))
    s = Sup(a)
    try:
        sys.exit(s.run())
    finally:
        if s.proc and s.proc.poll() is None:
            s.proc.kill()


if __name__ == "__main__":
    main()
