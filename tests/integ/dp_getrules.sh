#!/bin/bash
# moat.GetRules returns the rule set moat.SetRules installed (round trip).
. "$(dirname "$0")/lib.sh"
topo_up
if kernel_mode; then skip "moat.GetRules" "kernel baseline has no moat control service"; exit 0; fi

# covers GOT WANT: every rule field and name sent comes back with its value.
covers() {
	"$PY" - "$1" "$2" <<'PYEOF'
import json, sys
got, want = json.loads(open(sys.argv[1]).read()), json.load(open(sys.argv[2]))
assert got.get("version") == 1, "version %r" % got.get("version")
for k, v in want.get("names", {}).items():
    assert got.get("names", {}).get(k) == v, "name %s: %r" % (k, got.get("names"))
gr = got.get("rules")
assert len(gr) == len(want["rules"]), "%d rules, want %d" % (len(gr), len(want["rules"]))
for i, (g, w) in enumerate(zip(gr, want["rules"])):
    for k, v in w.items():
        gv = g.get(k)
        if k == "dst4" and isinstance(gv, str) and "/" in gv and "/" not in v:
            gv = gv.split("/")[0] if gv.endswith("/32") else gv
        assert str(gv) == str(v) or gv == v, "rule %d field %s: got %r want %r" % (i, k, gv, v)
PYEOF
}
moat_call moat.GetRules </dev/null >"$RUN/got0.json"
check "GetRules before any SetRules: valid JSON, version 1, no rules" "$PY" -c "
import json; d = json.load(open('$RUN/got0.json')); assert d['version'] == 1 and d['rules'] == [], d"
json_rules "$RUN/r.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [
   {"from": "work", "action": "accept", "proto": "tcp", "to": "vault", "dstports": "22"},
   {"from": "*", "action": "reject", "proto": "tcp", "dst4": "192.0.2.0/24", "dstports": "25"},
   {"from": "$C1_IP", "action": "drop", "dsthost": "ads.example.com", "log": true},
   {"from": "vault", "action": "accept", "proto": "icmp", "icmptype": 8, "comment": "ping only"},
   {"from": "vault", "action": "accept", "specialtarget": "dns"},
   {"from": "work", "action": "drop", "proto": "udp", "dst4": "198.51.100.0/24", "dstports": "1000-2000"}]}
EOF2
check "SetRules accepts the rule set" fw_setrules "$RUN/r.json"
moat_call moat.GetRules </dev/null >"$RUN/got1.json"
check "GetRules returns every name, rule and field that was set, in order" covers "$RUN/got1.json" "$RUN/r.json"
check "SetRules accepts GetRules' own output back" fw_setrules "$RUN/got1.json"
moat_call moat.GetRules </dev/null >"$RUN/got2.json"
check "and GetRules then returns the same thing again" cmp "$RUN/got1.json" "$RUN/got2.json"
