#!/usr/bin/python3
"""The kernel baseline: the firewall namespace's Linux kernel doing moat's job.

Prints an nftables script equivalent to what moat is configured to do with the
same QubesDB file (and optional JSON rules): anti-spoofing per client port,
DNS redirect of the virtual resolvers to the real ones, masquerade to the
uplink, Qubes rules per client (drop = reject with ICMP admin-prohibited, as
the Linux sys-firewall does), JSON drop/reject rules first, a JSON accept
to the outside still subject to the Qubes rules, client-to-client only when a
JSON rule allows it (the Qubes rules play no part there), no unsolicited
inbound but the JSON "forward" rules (DNAT of moat's address and port to the
client's, one rule per port). The integration suite runs
against it to show its tests are meaningful, and the benchmark uses it as the
baseline.

  kfw.py --qubesdb FILE --uplink IF --client IF=IP... [--json FILE]
         [--hosts NAME=IP,...] [--recheck] [--client-quota N]

KFW_BREAK=antispoof,reject,c2c,inbound,jsonlast,recheck,dns (environment)
leaves out one piece on purpose, to watch the matching test fail.

--recheck evaluates rules on every original-direction packet instead of only
on new flows, which is how the kernel gets "a rule change cuts the newly
denied flows" without conntrack -D.
"""
import argparse
import ipaddress
import json
import os
import socket
import sys

BREAK = set(os.environ.get("KFW_BREAK", "").split(","))


class Bad(Exception):
    pass


def ports(spec):
    s = str(spec)
    lo, _, hi = s.partition("-")
    lo, hi = int(lo), int(hi or lo)
    if not (0 <= lo <= hi <= 65535):
        raise ValueError(s)
    return str(lo) if lo == hi else "%d-%d" % (lo, hi)


def match(r, hosts, dns_real, clients_by_name):
    """nft match expression for one rule (a dict of Qubes or JSON fields)."""
    m = []
    proto = r.get("proto")
    if "dst4" in r:
        m.append("ip daddr %s" % ipaddress.ip_network(r["dst4"], strict=False))
    if "dst6" in r:
        return None  # an IPv6 rule never matches IPv4 traffic
    if "dsthost" in r:
        h = r["dsthost"]
        try:
            # as getaddrinfo on sys-firewall: what inet_aton reads is an address
            m.append("ip daddr %s" % socket.inet_ntoa(socket.inet_aton(h)))
        except OSError:
            if h not in hosts:
                return None  # unresolvable: the rule is skipped
            m.append("ip daddr %s" % hosts[h])
    if "to" in r:
        ip = clients_by_name.get(r["to"], r["to"])
        m.append("ip daddr %s" % ipaddress.ip_address(ip))
    if r.get("specialtarget") == "dns":
        m.append("ip daddr { %s }" % ", ".join(dns_real))
        if proto is None:
            m.append("meta l4proto { tcp, udp } th dport 53")
        elif proto in ("tcp", "udp"):
            m.append("%s dport 53" % proto)
    if proto:
        if proto not in ("tcp", "udp", "icmp"):
            raise Bad("proto")
        m.append("meta l4proto %s" % proto)
        if "dstports" in r and proto in ("tcp", "udp"):
            m.append("%s dport %s" % (proto, ports(r["dstports"])))
        if "icmptype" in r and proto == "icmp":
            m.append("icmp type %d" % int(r["icmptype"]))
    elif "dstports" in r:
        m.append("meta l4proto { tcp, udp } th dport %s" % ports(r["dstports"]))
    return " ".join(m)


def verdict(action, qubes):
    if action == "accept":
        return "accept"
    if action == "drop" and not qubes:
        return "drop"
    if action in ("drop", "reject"):
        return "drop" if "reject" in BREAK else "reject with icmp type admin-prohibited"
    raise Bad("action")


def forwards(jr, names, fw_ip, uplink):
    """The JSON "forward" rules (IPv4 ones) as (dnat rules, accept rules):
    one of each per forwarded port. The accept rules name the connection's
    original destination, so that with --recheck an open connection dies
    with its forward."""
    dn, acc = [], []
    for r in jr.get("rules", []):
        if r.get("action") != "forward" or r.get("family") == "6" or \
                ("from6" in r and "from4" not in r and "family" not in r):
            continue
        to = names.get(r["to"], r["to"])
        lo, _, hi = str(r["dstports"]).partition("-")
        lo, hi = int(lo), int(hi or lo)
        tlo = int(str(r["toport"]).partition("-")[0])
        src = ""
        if "from4" in r:
            src = "ip saddr %s " % ipaddress.ip_network(r["from4"])
        for p in range(lo, hi + 1):
            tp = tlo + p - lo
            dn.append('  iifname "%s" ip daddr %s %s%s dport %d dnat to %s:%d' %
                      (uplink, fw_ip, src, r["proto"], p, to, tp))
            acc.append('  iifname "%s" %sip daddr %s %s dport %d ct status dnat '
                       'ct original proto-dst %d accept' % (uplink, src, to, r["proto"], tp, p))
    return dn, acc


def qubes_rules(db, ip):
    base = "/qubes-firewall/%s/" % ip
    if base[:-1] not in db:
        return None  # no commit: nothing allowed yet
    out = []
    keys = sorted(k for k in db if k.startswith(base) and k[len(base):].isdigit())
    try:
        for k in keys:
            r = dict(kv.split("=", 1) for kv in db[k].split())
            out.append(r)
        out.append({"action": db[base + "policy"]})
    except (KeyError, ValueError):
        return [{"action": "drop"}]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qubesdb", required=True)
    ap.add_argument("--uplink", required=True)
    ap.add_argument("--client", action="append", default=[])
    ap.add_argument("--json")
    ap.add_argument("--hosts", default="")
    ap.add_argument("--recheck", action="store_true")
    ap.add_argument("--client-quota", type=int, default=0)
    o = ap.parse_args()
    db = json.load(open(o.qubesdb))
    hosts = dict(h.split("=", 1) for h in o.hosts.split(",") if h)
    clients = [c.split("=", 1) for c in o.client]
    dns_virt = [db["/qubes-netvm-primary-dns"], db["/qubes-netvm-secondary-dns"]]
    dns_real = [db["/qubes-primary-dns"], db["/qubes-secondary-dns"]]
    jr = {"names": {}, "rules": []}
    if o.json:
        jr = json.load(open(o.json))
        if jr.get("version") != 1 or not isinstance(jr.get("rules"), list):
            print("bad JSON rule set", file=sys.stderr)
            return 1
    names = jr.get("names", {})
    fwd_dnat, fwd_accept = forwards(jr, names, db["/qubes-ip"], o.uplink)
    cl = "{ %s }" % ", ".join(ip for _, ip in clients)
    vifs = "{ %s }" % ", ".join('"%s"' % i for i, _ in clients)
    L = []
    w = L.append
    w("table ip moatk")
    w("delete table ip moatk")
    w("table ip moatk {")
    w(" chain k_antispoof {")
    w("  type filter hook prerouting priority -300; policy accept;")
    for ifc, ip in clients if "antispoof" not in BREAK else []:
        w('  iifname "%s" ether type arp accept' % ifc)
        w('  iifname "%s" ip saddr != %s counter drop' % (ifc, ip))
    if "antispoof" not in BREAK:
        w('  iifname "%s" ip saddr %s counter drop' % (o.uplink, cl))
    w(" }")
    w(" chain k_dns {")
    w("  type nat hook prerouting priority dstnat; policy accept;")
    for v, r in zip(dns_virt, dns_real) if "dns" not in BREAK else []:
        w("  iifname %s ip daddr %s meta l4proto { tcp, udp } th dport 53 dnat to %s" % (vifs, v, r))
    w(" }")
    w(" chain k_fwd {")
    w("  type nat hook prerouting priority dstnat; policy accept;")
    L.extend(fwd_dnat)
    w(" }")
    w(" chain k_masq {")
    w("  type nat hook postrouting priority srcnat; policy accept;")
    w('  oifname "%s" masquerade' % o.uplink)
    w(" }")
    if o.client_quota:
        w(" set cquota { type ipv4_addr; flags dynamic; size 65535; }")
    w(" chain k_forward {")
    w("  type filter hook forward priority filter; policy drop;")
    w("  ct state invalid drop")
    if o.recheck and "recheck" not in BREAK:
        w("  ct direction reply ct state established accept")
        w("  ct state related accept")
    else:
        w("  ct state established,related accept")
    L.extend(fwd_accept)
    w('  iifname "%s" counter %s comment "unsolicited inbound"' % (o.uplink, "accept" if "inbound" in BREAK else "drop"))
    if o.client_quota:
        w("  ct state new add @cquota { ip saddr ct count over %d } counter drop" % o.client_quota)
    for ifc, ip in clients:
        w('  iifname "%s" jump from_%s' % (ifc, ip.replace(".", "_")))
    w(" }")
    by_name = dict(names)
    for ifc, ip in clients:
        q = "q_%s" % ip.replace(".", "_")
        w(" chain from_%s {" % ip.replace(".", "_"))
        jl = []
        for i, r in enumerate(jr["rules"]):
            if r.get("action") == "forward":
                continue
            frm = r.get("from", "*")
            if frm != "*" and names.get(frm, frm) != ip:
                continue
            if r.get("expire") is not None:
                import time
                if int(r["expire"]) < time.time():
                    continue
            try:
                m = match(r, hosts, dns_real, by_name)
                v = verdict(r.get("action"), False)
            except (Bad, ValueError) as e:
                print("rule %d: bad %s" % (i, e), file=sys.stderr)
                return 1
            # A JSON accept opens only client-to-client ("to"); to the
            # outside it hands the flow to the Qubes rules (goto: they end
            # in a verdict), which must accept it too.
            if r.get("action") == "accept" and "to" not in r:
                v = "goto %s" % q
            if m is not None:
                jl.append("  %s %s" % (m, v))
        ql = []
        qr = qubes_rules(db, ip)
        for r in qr or [{"action": "drop"}]:
            m = match(r, hosts, dns_real, by_name)
            if m is not None:
                ql.append("  %s %s" % (m, verdict(r["action"], True)))
        c2c = [] if "c2c" in BREAK else ["  oifname %s drop comment \"client to client\"" % vifs]
        if "jsonlast" in BREAK:
            L.extend(c2c + ql[:-1] + jl + ql[-1:])
        else:
            L.extend(jl + c2c + ql)
        w(" }")
        w(" chain %s {" % q)
        L.extend(c2c + ql)
        w(" }")
    w(" chain k_input {")
    w("  type filter hook input priority filter; policy drop;")
    w("  ct state established,related accept")
    w("  iifname %s meta l4proto icmp accept" % vifs)
    w("  iifname %s reject with icmp type host-prohibited" % vifs)
    w(" }")
    w("}")
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
