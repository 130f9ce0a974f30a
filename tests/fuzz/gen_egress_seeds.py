#!/usr/bin/env python3
"""Writes the seed scripts of fuzz_egress (tests/fuzz/fuzz_egress.c).

Each seed is a short story a real client and NetVM could tell (a DNS
lookup, a TCP connection, a rule change that cuts it...), written with the
event encoding documented at the top of fuzz_egress.c, so the fuzzer starts
from flows that get created, answered, re-checked and cut.

  python3 tests/fuzz/gen_egress_seeds.py            # tests/fuzz/corpus/egress

An input that breaks the invariant before its fix is in is kept out of the
replayed corpus (e.g. in tests/fuzz/pending/egress/, with FUZZ_EGRESS_KNOWN
to fuzz past it) and moves into the corpus with the fix.
"""
import os
import sys

# addresses (index into fuzz_egress.c's table)
R0, R1, R2, VDNS1, VDNS2, DNS1, DNS2, C1, C2, C3, VGW, US, ROUTER, GW = range(14)
# PORTS[]
P53, P80, P443, P22, P25, P1024, P5000, P40000 = range(8)
# TCPFL[]
SYN, SYNACK, ACK, ACKPSH, FINACK, RST = range(6)
TCP, UDP, ECHO, ECHOREPLY = range(4)
# frame variants
PLAIN, BAD_IP, BAD_L4, TTL1, OPTS, LSRR, SSRR, FIRST, LATER, SPOOF, BIG = \
    0, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15


def pick(lo, addr):
    """The first byte >= lo that selects address index addr (byte % 14)."""
    return next(b for b in range(lo, 256) if b % 14 == addr)


def client(c, proto, dst, sport, dport, variant=PLAIN, length=10, fl=SYN, b=0):
    """c: 1..3. fl: TCP flags index, also the fragment selector."""
    return bytes([0, c - 1, proto, dst, sport, dport, variant, length, fl, b])


def client_error(c, newest=0, to=None, err=0, bad=False, extra=0):
    """ICMP error from client c quoting the newest-but-`newest` frame it
    received; to=None: to the quoted sender, else an address index."""
    ds = 0 if to is None else pick(0x80, to)
    return bytes([4, c - 1, newest, ds, err, (extra << 2) | int(bad), 0])


def reply(newest=0, variant=PLAIN, length=10, fl=SYNACK, fs=0):
    """The uplink answers the newest-but-`newest` frame natd sent it."""
    return bytes([5, newest, variant, length, fl, fs])


def made_up(src, proto, sport=P80, d1=0, d2=0, variant=PLAIN, to_us=True):
    return bytes([7, src, 0 if to_us else pick(0xc0, R1), proto, sport, d1, d2,
                  variant])


def uplink_error(newest=0, err=0, from_peer=True, bad=False, a=0):
    return bytes([8, newest, err, 0 if from_peer else pick(0x80, ROUTER), int(bad), a])


def arp(port, kind):
    return bytes([9, port, kind])


def qubes(c, policy_accept, rules=(), bad=False):
    """rules: (accept, dst, proto, extra) with dst 0..9, proto 0 any, 1 tcp,
    2 udp, 3 icmp (see QDST, QPORTS, QIT in fuzz_egress.c)."""
    b = len(rules) | (4 if policy_accept else 0) | (0xe0 if bad else 0)
    out = bytes([10, c - 1, b])
    for r in rules:
        out += bytes(r)
    return out


def json(rules=(), refused=False):
    """rules: (from, action, dst, proto, ports, expire); from 0 '*', 1 c1,
    2 'work' (c2), 3 c3; action 0 accept 1 drop 2 reject; dst see JDST."""
    out = bytes([11, 0xf0 if refused else len(rules)])
    for r in rules:
        out += bytes(r)
    return out


def forward(to, proto, toport, rng=False, from_net=False, v6=False):
    """A JSON forward rule (for json()): rule i forwards port 8000 + 100 i
    (rng: 8000 + 100 i .. + 3) to client `to` (0 c1, 1 'work' = c2, 2 c3)
    at PORTS[toport]; from_net: only 198.51.100.0/24; v6: IPv6 only.
    proto: TCP or UDP."""
    ds = int(rng) | (2 if from_net else 0) | (4 if v6 else 0)
    return (to, 0xc0, ds, 1 if proto == UDP else 0, toport, 0)


def limit(frm, rate=0, burst=1, how=0):
    """A JSON rate limit (for json()): from as for rules; rate 0 64kbit,
    1 200kbit, 2 1mbit, 3 8mbit; burst 0 the default, 1 2kb, 2 3kb, 3 8kb;
    how 0 "rate", 1 "up", 2 "down", 3 "up" and a faster "down"."""
    return (frm, 0xb8, how, rate, burst, 0)


def to_fwd(src, proto, sport, rule, off=0, fl=SYN, variant=PLAIN):
    """A made-up uplink frame from src:PORTS[sport] to moat's forwarded
    port 8000 + 100 rule + off."""
    return made_up(src, proto, 0x80 | sport, rule, (off << 3) | fl, variant)


def time(i):
    """50 ms, 400 ms, 1 s, 2.6 s, 5.2 s, 31 s, 130 s, 700 ms"""
    return bytes([12, i])


def auto():
    return bytes([14, 0])


def decide():
    return bytes([14, 1])


def deliver_one():
    return bytes([14, 2])


def deliver_all():
    return bytes([14, 3])


def notify():
    return bytes([14, 4])


def ring_full():
    return bytes([14, 5])


ACCEPT_ALL = lambda c: qubes(c, True)

# wildcard name rules (fuzz_egress.c, its "wildcard name rules" section)
A_W, B_W, W_BARE, X_OTHER, ALIAS = range(5)        # NAMES[]
GOOD, BADID, BADQ, TC, NX, OFFCHAIN = range(6)      # the answer's variant
WILD_W = (0x82, 0, 8, 1, 0, 0)      # from "*", accept tcp "*.w.example"
WILD_OTHER = (0x82, 0, 9, 1, 0, 0)  # from "*", accept tcp "*.Other.example"
REJECT_TCP = (0, 2, 0, 1, 0, 0)


def dns(c, name, var=GOOD, addr=0, ttl=2, sport=0, qid=5):
    """Client c asks NAMES[name] through 10.139.1.1 from port 5300 + sport,
    the resolver answers (variant var) with R0 + addr; ttl: 0, 3, 30, 7200 s."""
    return bytes([14, 0xf0, c - 1, name, var, addr, ttl, sport, qid])



SEEDS = {
    "dns": qubes(1, False, [(1, 7, 0, 0)]) +
    client(1, UDP, VDNS1, P1024, P53) + reply(fl=0) +
    client(1, UDP, VDNS2, P1024, P53) + reply() +
    client(1, UDP, R0, P1024, P80) + client(1, TCP, VDNS1, P1024, P53) +
    reply() + time(2),
    "tcp": ACCEPT_ALL(1) + client(1, TCP, R0, P40000, P443) +
    reply(fl=SYNACK) + client(1, TCP, R0, P40000, P443, fl=ACK) +
    client(1, TCP, R0, P40000, P443, fl=ACKPSH, length=200) +
    reply(fl=ACKPSH, length=250) + client(1, TCP, R0, P40000, P443, fl=FINACK) +
    reply(fl=FINACK) + time(5) + time(6),
    "cut": ACCEPT_ALL(1) + client(1, TCP, R0, P40000, P443) + reply() +
    client(1, TCP, R0, P40000, P443, fl=ACK) + qubes(1, False) +
    client(1, TCP, R0, P40000, P443, fl=ACKPSH) + reply(fl=ACKPSH) +
    client(1, UDP, R1, P5000, P53) + time(2),
    "delayed": auto() + ACCEPT_ALL(1) + client(1, UDP, R0, P5000, P5000) +
    client(1, UDP, R0, P5000, P5000) + decide() + notify() + deliver_one() +
    reply(fl=0) + qubes(1, True, [(0, 1, 0, 0)]) +
    client(1, UDP, R0, P5000, P5000) + notify() +
    client(1, UDP, R0, P5000, P5000) + decide() + deliver_all() +
    client(1, UDP, R0, P5000, P5000) + decide() + deliver_all() + time(4),
    "c2c": json([(1, 0, 4, 2, 5, 0)]) + ACCEPT_ALL(2) +
    client(1, UDP, C2, P1024, P5000) + client(2, UDP, C1, P5000, P1024) +
    client(2, UDP, C1, P5000, P80) + client(1, TCP, C2, P1024, P22) +
    client(1, ECHO, C3, P80, P80) + json([(1, 0, 4, 0, 0, 0)]) +
    client(1, TCP, C2, P1024, P22) + client(2, TCP, C1, P22, P1024, fl=SYNACK) +
    json() + client(1, TCP, C2, P1024, P22, fl=ACK) + time(2),
    "frag": ACCEPT_ALL(1) + client(1, UDP, R0, P5000, P5000, FIRST, 100, 0) +
    client(1, UDP, R0, P5000, P5000, LATER, 40, 0) +
    client(1, UDP, R0, P5000, P5000, LATER, 40, 1) +
    reply(variant=FIRST, fs=2) + reply(1, variant=LATER, fs=2) +
    client(2, UDP, R0, P5000, P5000, LATER, 40, 0) + time(2) +
    client(1, UDP, R1, P5000, P5000, LATER, 40, 3) +
    client(1, UDP, R1, P5000, P5000, FIRST, 40, 3) + time(2),
    "icmp_errors": ACCEPT_ALL(1) + qubes(2, False, [(1, 7, 0, 0)]) +
    client(1, UDP, R0, P5000, P5000) + reply(fl=0) +
    client_error(1) + uplink_error() + uplink_error(err=2, from_peer=False) +
    client(2, UDP, VDNS1, P1024, P53) + reply() + client_error(2) +
    uplink_error(err=1) + client(1, ECHO, R1, P80, P80) + reply() +
    client_error(1) + uplink_error() + client(1, UDP, R2, P80, P80, TTL1) +
    client(1, TCP, R2, P80, P80, TTL1) + client(1, TCP, R2, P80, P80, BIG, 0, 1) +
    client(1, UDP, R2, P80, P80, BIG, 0, 0),
    "arp_ping": arp(1, 0) + arp(1, 1) + arp(1, 2) + arp(1, 3) + arp(0, 0) +
    arp(0, 1) + arp(0, 2) + arp(0, 3) + client(1, ECHO, VGW, P80, P80) +
    client(1, ECHO, US, P80, P80) + made_up(R0, ECHO, d2=1) +
    qubes(1, False, [(1, 0, 3, 1)]) + client(1, ECHO, R0, P80, P80) + reply() +
    client(1, ECHO, R0, P80, P80) + reply() + client(1, TCP, R0, P80, P80) +
    time(7) + time(2),
    "json_expire": json([(1, 0, 0, 1, 0, 2)]) + qubes(1, False) +
    client(1, TCP, R0, P1024, P80) + reply() + client(1, TCP, R0, P1024, P80,
    fl=ACK) + time(4) + client(1, TCP, R0, P1024, P80, fl=ACKPSH) +
    reply(fl=ACK) + json([(0, 2, 1, 0, 0, 3), (0, 1, 0, 0, 0, 0)]) +
    client(1, UDP, R0, P1024, P80) + client(1, UDP, R2, P1024, P80) +
    json(refused=True) + client(1, UDP, R2, P1024, P80),
    "ring_full": ACCEPT_ALL(1) + client(1, TCP, R0, P1024, P80) + reply() +
    client(1, UDP, R1, P1024, P80) + ring_full() + qubes(1, False) +
    client(1, TCP, R0, P1024, P80, fl=ACK) + time(1) +
    client(1, TCP, R0, P1024, P80, fl=ACK) + ring_full() + time(1) +
    client(1, TCP, R0, P1024, P80, fl=ACK) + client(1, UDP, R1, P1024, P80) +
    auto() + qubes(1, True) + client(1, UDP, R1, P1024, P80) + ring_full() +
    qubes(1, False) + decide() + deliver_all() + ring_full() + notify() +
    time(0) + decide() + deliver_all() + client(1, UDP, R1, P1024, P80),
    "variants": ACCEPT_ALL(3) + client(3, UDP, R1, P1024, P80) +
    client(3, UDP, R1, P1024, P80, BAD_IP) + client(3, UDP, R1, P1024, P80,
    BAD_L4) + client(3, UDP, R1, P1024, P80, OPTS) + client(3, UDP, R1, P1024,
    P80, OPTS, fl=1) + client(3, UDP, R1, P1024, P80, SPOOF) +
    client(3, TCP, R1, P1024, P80, BAD_L4) + reply(variant=BAD_L4) +
    reply(variant=TTL1) + reply(variant=OPTS) + reply(variant=SPOOF) +
    reply(variant=BAD_IP) + client(3, ECHO, R1, P80, P80, BAD_L4) +
    reply(variant=BAD_L4),
    "made_up": ACCEPT_ALL(1) + made_up(R0, TCP) + made_up(R1, UDP, P53) +
    made_up(C2, UDP) + made_up(US, TCP) + made_up(R0, ECHOREPLY, d2=2) +
    made_up(R0, UDP, to_us=False) + made_up(R2, UDP, variant=LATER) +
    uplink_error(newest=0x80, a=0) + uplink_error(newest=0x81, a=0x21) +
    client(1, UDP, R0, P1024, P5000) + made_up(R0, UDP, P5000, 0, 5) +
    client_error(1, newest=0x80) + time(3),
    "quota": ACCEPT_ALL(1) + ACCEPT_ALL(2) + b"".join(
        client(1, UDP, R0 + i % 3, i % 8, (i // 3) % 8) for i in range(24)) +
    client(2, UDP, R0, P80, P80) + reply() + time(5) +
    client(2, UDP, R0, P80, P80) + time(6),
    # DNS names in rules: resolved by a stub (r0/net/c2.example), failing
    # (nx.example) or never answered (slow.example: the flow waits, then
    # the rule does not match)
    "dsthost": qubes(1, False, [(1, 10, 1, 0), (1, 14, 2, 0), (0, 13, 0, 0)]) +
    json([(1, 0, 9, 2, 0, 0), (0, 0, 10, 0, 0, 0)]) +
    client(1, TCP, R0, P1024, P80) + reply() + client(1, UDP, R1, P1024, P53) +
    client(1, UDP, R2, P1024, P5000) + reply() + client(1, UDP, R0, P1024, P53) +
    client(1, ECHO, C2, P80, P80) + time(3) + client(1, UDP, R0, P1024, P53) +
    time(6) + client(1, TCP, R0, P1024, P443) + auto() +
    client(1, UDP, R0, P5000, P5000) + time(3) + decide() + deliver_all() +
    client(2, UDP, R1, P1024, P80),
    # found by the fuzzer (natd fixes with their own unit tests): a
    # re-check refused by a full ring after a pending flow's verdict was
    # lost for good...
    "recheck_lost": auto() + qubes(1, True) + notify() +
    client(1, UDP, R0, P5000, P5000) + decide() + qubes(1, False) + notify() +
    ring_full() + deliver_all() + ring_full() + time(0) +
    client(1, UDP, R0, P5000, P5000),
    # ...and a refused re-check made natd ignore the deny already decided
    "recheck_stale": ACCEPT_ALL(1) + client(1, UDP, R0, P5000, P5000) +
    auto() + qubes(1, False) + notify() + decide() + ring_full() +
    qubes(1, True, [(0, 1, 0, 0)]) + notify() + deliver_all() +
    client(1, UDP, R0, P5000, P5000) + ring_full() + time(0) + decide() +
    deliver_all() + client(1, UDP, R0, P5000, P5000),
    # holes 1-3 of issue 12, found by review before the fuzzer existed;
    # they broke the invariant until natd's fixes landed (the fuzzer's own
    # find, fuzzed_holes1_3_exfil_to_virtual_dns, is kept as it made it)
    # hole 1: an ICMP error quoting an allowed DNS flow, addressed elsewhere
    "hole1_icmp_exfil": qubes(1, False, [(1, 7, 0, 0)]) +
    client(1, UDP, VDNS1, P1024, P53) + reply(fl=0) +
    client_error(1, to=R1, extra=40),
    # hole 2: a bad ICMP checksum must not come out good
    "hole2_icmp_csum": ACCEPT_ALL(1) + client(1, UDP, R0, P5000, P5000) +
    reply(fl=0) + client_error(1, bad=True),
    # hole 3: a source-routed packet on an allowed flow
    "hole3_lsrr": ACCEPT_ALL(1) + client(1, TCP, R0, P1024, P443, LSRR),
    # ... in both directions
    "hole3_ssrr_inbound": ACCEPT_ALL(1) + client(1, UDP, R0, P1024, P5000) +
    reply(variant=SSRR, fl=0),
    # inbound port forwards: a TCP connection and UDP through them, from4,
    # ICMP errors both ways, the client's frames that are not the reverse
    # (new flows for policyd), a removed forward cutting its flows
    "forward": json([forward(0, TCP, P80), forward(1, UDP, P5000, rng=True,
    from_net=True), forward(2, TCP, P22, v6=True)]) +
    to_fwd(R0, TCP, P1024, 0) + client(1, TCP, R0, P80, P1024, fl=SYNACK) +
    to_fwd(R0, TCP, P1024, 0, fl=ACK) +
    client(1, TCP, R0, P80, P1024, fl=ACKPSH, length=100) +
    to_fwd(R1, UDP, P53, 1) + client(2, UDP, R1, P5000, P53) +
    to_fwd(R0, UDP, P53, 1) + to_fwd(R1, UDP, P53, 1, off=4) +
    to_fwd(R1, UDP, P53, 1, off=2) + client_error(2) + uplink_error() +
    to_fwd(R2, TCP, P443, 2) + to_fwd(R0, TCP, P25, 0, fl=ACK) +
    client(1, TCP, R1, P80, P1024, fl=SYNACK) +
    json([forward(0, TCP, P80)]) + client(2, UDP, R1, P5000, P53) +
    to_fwd(R0, TCP, P1024, 0, fl=ACKPSH) + json() +
    client(1, TCP, R0, P80, P1024, fl=ACK) + to_fwd(R0, TCP, P1024, 0, fl=ACK) +
    time(5),
    # ...mixed with the client's own flows: its outbound flow on the same
    # 5-tuple is not taken over; NAT keeps off the forwarded ports;
    # fragments; the forward changed to another client
    "forward_nat": ACCEPT_ALL(1) + ACCEPT_ALL(2) + client(1, TCP, R0, P80, P1024) +
    json([forward(0, TCP, P80), forward(1, UDP, P5000)]) +
    to_fwd(R0, TCP, P1024, 0) + to_fwd(R0, TCP, P443, 0) +
    client(1, TCP, R0, P80, P443, fl=SYNACK) + to_fwd(R2, UDP, P80, 1,
    variant=FIRST) + to_fwd(R2, UDP, P80, 1, variant=LATER) +
    client(2, UDP, R2, P5000, P80, FIRST, 100, 0) +
    client(2, UDP, R2, P5000, P80, LATER, 40, 0) +
    client(2, UDP, R0, P5000, P80) + reply() +
    json([forward(0, TCP, P80), forward(2, UDP, P5000)]) +
    to_fwd(R2, UDP, P80, 1) + client(3, UDP, R2, P5000, P80) +
    client(2, UDP, R2, P5000, P80) + time(2),
    # a wildcard opens an address only after the client's own lookup of a
    # name under it (a CNAME chain into it too), for the answer's TTL; an
    # open connection outlives it
    "names_wildcard": ACCEPT_ALL(1) + ACCEPT_ALL(2) + json([WILD_W, REJECT_TCP]) +
    client(1, TCP, R0, P40000, P80) + dns(1, A_W, addr=0) +
    client(1, TCP, R0, P5000, P80) + reply() +
    dns(2, B_W, addr=2) + client(1, TCP, R2, P5000, P80) +
    dns(2, B_W, addr=2) + client(2, TCP, R2, P5000, P80) +
    dns(1, ALIAS, addr=1, ttl=0, qid=9) + client(1, TCP, R1, P5000, P80) + reply() +
    time(4) + client(1, TCP, R1, P1024, P80) +
    client(1, TCP, R1, P5000, P80, fl=ACK) + reply(fl=ACK) +
    json([WILD_OTHER, WILD_W, REJECT_TCP]) + client(1, TCP, R1, P5000, P80, fl=ACK) +
    client(1, TCP, R0, P443, P80) + dns(1, W_BARE, addr=2, sport=1) +
    client(1, TCP, R2, P443, P80) + time(6),
    # answers that teach nothing: wrong id, another question, truncated,
    # no such name, addresses off the chain, a second answer
    "names_wrong": ACCEPT_ALL(1) + json([WILD_W, WILD_OTHER, REJECT_TCP]) +
    dns(1, A_W, BADID, addr=1) + dns(1, A_W, BADQ, addr=1, qid=6) +
    dns(1, A_W, TC, addr=1, qid=7) + dns(1, A_W, NX, addr=1, qid=8) +
    dns(1, A_W, OFFCHAIN, addr=1, qid=10) + client(1, TCP, R1, P5000, P80) +
    dns(1, X_OTHER, addr=1, ttl=3, sport=2) + client(1, TCP, R1, P1024, P80) +
    time(2) + time(2) + time(2) + time(2) + client(1, TCP, R1, P443, P80),
    # verdicts by hand: a query held while its flow waits, its answer
    # dropped; asked again, the learning is in the ring before the flow
    "names_manual": ACCEPT_ALL(1) + json([WILD_W, REJECT_TCP]) + auto() +
    dns(1, A_W, addr=0) + decide() + deliver_all() + dns(1, A_W, addr=0) +
    client(1, TCP, R0, P5000, P80) + decide() + deliver_all() + reply() +
    ring_full() + dns(1, B_W, addr=2, qid=11) + ring_full() +
    client(1, TCP, R2, P5000, P80) + decide() + deliver_all() + auto() +
    dns(1, B_W, addr=2, qid=11) + client(1, TCP, R2, P1024, P80),
    # rate limits: c1 at 64 kbit/s with a 2 kb burst, c2 not; c1's UDP
    # both ways goes over it, c2's does not; time refills it; a limit
    # per direction for every client; two limits for c1 refused; lifted
    "rate": ACCEPT_ALL(1) + ACCEPT_ALL(2) + json([limit(1)]) +
    client(1, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(1, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(1, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(1, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(1, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(1, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(2, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(2, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(1, TCP, R1, P1024, P80) + reply() + time(0) +
    client(1, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    time(2) + client(1, UDP, R0, P5000, P80, length=200) +
    json([limit(0, 1, 2, 3)]) +
    client(2, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(2, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    client(2, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    json([limit(1), limit(1, 2)]) +
    client(3, UDP, R0, P5000, P80, length=200) + reply(length=200, fl=0) +
    json() + client(1, UDP, R0, P5000, P80, length=200) +
    reply(length=200, fl=0) + time(1),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "corpus", "egress")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
