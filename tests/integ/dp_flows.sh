#!/bin/bash
# moat.Flows as dom0 calls it (moat-dom0 over socket vchans): a running download shows with its
# client, remote, port, accepting rule and bytes both ways; the client filter works; moat-rules
# renders it as a table and as top; a long list is cut and says so; GetRules counts the hits of
# the rule that accepted each new flow, and its output goes back into SetRules (issue 17).
. "$(dirname "$0")/lib.sh"
kernel_mode && { skip "moat.Flows over vchan" "moat only"; exit 0; }
moat_require
DOM0=$BUILDDIR/tools/moat-dom0/moat-dom0
DOMID=9
VIEW_MAX=6	# --flows-view-max: small, so that a few flows make it cut

DOM0_PID=
# dom0's daemon is no namespace's: stop it before topo_down waits for
# every child
stop_all() { local rc=$?; [[ -n $DOM0_PID ]] && kill "$DOM0_PID" 2>/dev/null; (exit $rc); topo_down; }
trap stop_all EXIT
topo_create
qdb_write
VD=$RUN/vchan
mkdir -p "$VD"
dom0() { "$DOM0" "$1" --vchan-dir "$VD" --domid "$DOMID" "${@:2}"; }
"$DOM0" serve --vchan-dir "$VD" --domid "$DOMID" --qubesdb "$QDB" --name sys-moat \
	>>"$RUN/dom0.out" 2>&1 &
DOM0_PID=$!
CTL=$RUN/moat.sock
mkdir -p "$RUN/log"
ip netns exec "$NS_FW" "$MOAT_BIN" --backend devnet --uplink uplink \
	--client "vif1=$C1_IP" --client "vif2=$C2_IP" --flows-view-max $VIEW_MAX \
	--vchan socket --vchan-dir "$VD" --domid "$DOMID" --control "$CTL" --log-dir "$RUN/log" \
	>"$RUN/moat.out" 2>&1 &
MOAT_PID=$!
for i in $(seq 100); do _moat_status_up && break; sleep 0.2; done
check "moat with agentd on socket vchans comes up" _moat_status_up
wait_ready 1 2 || bail "the data plane did not come up from dom0's QubesDB"

# moat-rules as dom0 runs it, its qvm-run replaced by a call through moat-dom0, qvm-ls and
# qvm-prefs by what dom0 would answer for c1 ("work").
cat >"$RUN/qvm-run" <<EOF
#!/bin/bash
# --pass-io --no-gui --no-autostart --service -- VM SERVICE
exec "$DOM0" call --vchan-dir "$VD" --domid $DOMID "\${@: -1}"
EOF
cat >"$RUN/qvm-ls" <<EOF
#!/bin/bash
printf 'dom0|-\n$C1_NAME|$C1_IP\n'
EOF
cat >"$RUN/qvm-prefs" <<EOF
#!/bin/bash
[[ \$2 == $C1_NAME && \$3 == ip ]] && echo $C1_IP
EOF
chmod +x "$RUN/qvm-run" "$RUN/qvm-ls" "$RUN/qvm-prefs"
moat_rules() {
	MOAT_QVM_RUN=$RUN/qvm-run MOAT_QVM_LS=$RUN/qvm-ls MOAT_QVM_PREFS=$RUN/qvm-prefs \
		"$SRCDIR/packaging/dom0/moat-rules" sys-moat "$@"
}

# fl JSONFILE EXPR: EXPR (Python) over the flow of c1 to www:80 as f, the answer as d.
fl() {
	"$PY" - "$1" "$2" "$C1_IP" "$WWW_IP" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = [f for f in d["flows"] if f["client"] == sys.argv[3] and f["remote"] == sys.argv[4]
     and f["proto"] == "tcp" and f["rport"] == 80]
f = m[0] if m else None
print(eval(sys.argv[2]))
PYEOF
}

# A download kept open: c1 reads 1 MiB at 20 KiB/s, so it runs for the whole test. Its small
# receive buffer makes the server keep to that pace (else the whole file would sit in it).
in_c1 sysctl -qw net.ipv4.tcp_rmem="4096 16384 65536"
in_c1 curl -s -o /dev/null --limit-rate 20k "http://$WWW_IP/1m.bin" &
CURL=$!
sleep 2.5
dom0 call "moat.Flows+$C1_IP" </dev/null >"$RUN/f1.json" 2>"$RUN/f1.err"; rc=$?
is "$rc" 0 "moat.Flows+$C1_IP through qrexec from dom0 answers"
is "$(fl "$RUN/f1.json" 'len(m)')" 1 "c1's download to www:80 is listed once"
is "$(fl "$RUN/f1.json" '(f["client"], f["link"], f["family"], f["kind"], f["state"])')" \
	"('$C1_IP', 'vif1', 4, 'nat', 'established')" "its client (address and link), family, kind and state"
is "$(fl "$RUN/f1.json" 'f["rule"]')" "qubes:2" "the rule that accepted it: c1's Qubes rule 0002 (tcp to www:80)"
is "$(fl "$RUN/f1.json" 'f["nat_port"] > 0 and f["sport"] > 0')" True "its client port and translated port"
is "$(fl "$RUN/f1.json" 'f["bytes_in"] > 30000 and f["packets_in"] > 10 and f["bytes_out"] > 0 and f["packets_out"] > 5')" True \
	"bytes and packets both ways ($(fl "$RUN/f1.json" '(f["bytes_in"], f["packets_in"], f["bytes_out"], f["packets_out"])'))"
is "$(fl "$RUN/f1.json" 'f["age"] >= 1 and f["idle"] <= 1')" True "its age and idle time ($(fl "$RUN/f1.json" '(f["age"], f["idle"])'))"
is "$(fl "$RUN/f1.json" '(d["truncated"], d["total"] == d["shown"] == len(d["flows"]))')" "(False, True)" \
	"c1's list is whole and says so"
sleep 1
dom0 call "moat.Flows+$C1_IP" </dev/null >"$RUN/f2.json"
is "$(fl "$RUN/f2.json" 'f["bytes_in"] > '"$(fl "$RUN/f1.json" 'f["bytes_in"]')")" True \
	"a second later it has received more ($(fl "$RUN/f1.json" 'f["bytes_in"]') -> $(fl "$RUN/f2.json" 'f["bytes_in"]') bytes)"

# The filter: c2's flows are not c1's; c1 by its link name; an unknown client has none.
in_c2 curl -s -o /dev/null "http://$WWW_IP/" 
dom0 call "moat.Flows+$C2_IP" </dev/null >"$RUN/c2.json"
is "$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["total"] >= 1 and all(f["client"] == sys.argv[2] for f in d["flows"]))' "$RUN/c2.json" "$C2_IP")" True \
	"moat.Flows+$C2_IP lists c2's flows and only them"
is "$(fl "$RUN/c2.json" 'len(m)')" 0 "c1's download is not in c2's list"
dom0 call moat.Flows+vif1 </dev/null >"$RUN/vif1.json"
is "$(fl "$RUN/vif1.json" 'len(m)')" 1 "moat.Flows+vif1 (c1's link) lists c1's download"
dom0 call moat.Flows+10.137.0.99 </dev/null >"$RUN/none.json"
is "$(fl "$RUN/none.json" '(d["total"], d["flows"])')" "(0, [])" "a client that is not there has no flows"

# moat-rules renders it: the client by qube name, remote:port, the rule.
moat_rules flows "$C1_NAME" >"$RUN/table" 2>&1; rc=$?
row=$(grep "$WWW_IP:80 " "$RUN/table" | tr -s ' ')
case "$rc:$row" in
"0:$C1_NAME tcp $WWW_IP:80 "[0-9]*" established "*" qubes:2") ok "moat-rules flows $C1_NAME: $row" ;;
*) not_ok "moat-rules flows $C1_NAME renders the download (rc $rc)"; diag "$(cat "$RUN/table")" ;;
esac
moat_rules flows --json "$C1_NAME" >"$RUN/mr.json"
is "$(fl "$RUN/mr.json" 'f["rule"]')" "qubes:2" "moat-rules flows --json passes moat.Flows' JSON through"
# curl reads in bursts at its limit: over three one-second screens the download shows a rate.
moat_rules top -n 3 "$C1_NAME" >"$RUN/top" 2>&1; rc=$?
rate=$(grep "$WWW_IP:80 " "$RUN/top" | tr -s ' ' | cut -d' ' -f7 | grep -m1 '^[1-9][0-9.]*K$')
case "$rc:$rate:$(grep -c '^CLIENT' "$RUN/top")" in
0:[1-9]*K:3) ok "moat-rules top -n 3: three screens, the download's rate in ($rate/s; curl reads in bursts, 20K/s on average)" ;;
*) not_ok "moat-rules top -n 3 shows the download's rate in (rc $rc, got '$rate')"; diag "$(cat "$RUN/top")" ;;
esac

# A long list is cut at --flows-view-max and says so: c2 opens 20 UDP flows.
pkt "$NS_C2" spray "$FAR_IP" 30000 20 >/dev/null
sleep 0.5
dom0 call moat.Flows </dev/null >"$RUN/all.json"
is "$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["truncated"], d["shown"], len(d["flows"]), d["total"] >= 21)' "$RUN/all.json")" \
	"True $VIEW_MAX $VIEW_MAX True" "more flows than --flows-view-max $VIEW_MAX: that many shown, \"truncated\": true, the total counted"
moat_rules flows >"$RUN/all.table"
check "moat-rules flows says the list was cut ($(tail -1 "$RUN/all.table"))" \
	grep -q "^$VIEW_MAX of [0-9]* flows shown (the qube cut the list)" "$RUN/all.table"

# GetRules: hit counts. Qubes rule 0002 accepted c1's HTTP flows so far; a JSON accept
# for the same traffic then decides (and is counted for) each new one.
dom0 call moat.GetRules </dev/null >"$RUN/r0.json"
q=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hits"]["qubes"][sys.argv[2]]["0002"])' "$RUN/r0.json" "$C1_IP" 2>&1)
case $q in [1-9]*) ok "GetRules counts c1's Qubes rule 0002: $q hits" ;; *) not_ok "GetRules counts c1's Qubes rule 0002 (got: $q)" ;; esac
cat >"$RUN/r.json" <<EOF
{"version": 1, "rules": [{"from": "$C1_IP", "action": "accept", "proto": "tcp", "dst4": "$WWW_IP/32", "dstports": "80", "comment": "web"}]}
EOF
check "moat.SetRules from dom0" bash -c "'$DOM0' call --vchan-dir '$VD' --domid $DOMID moat.SetRules <'$RUN/r.json' >/dev/null"
hits() { dom0 call moat.GetRules </dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["rules"][0]["hits"])'; }
h0=$(hits)
for i in 1 2 3; do http_code "$NS_C1" "http://$WWW_IP/" 3 >/dev/null; done
h1=$(hits)
is "$h1" "$((h0 + 3))" "three new connections: rule 0's hit count goes $h0 -> $((h0 + 3))"
in_c1 curl -s -o /dev/null --limit-rate 10k "http://$WWW_IP/1m.bin" &
CURL2=$!
sleep 1
dom0 call "moat.Flows+$C1_IP" </dev/null >"$RUN/f3.json"
is "$("$PY" -c 'import json,sys; print(sorted(set(f["rule"] for f in json.load(open(sys.argv[1]))["flows"] if f["rport"] == 80 and f["state"] == "established")))' "$RUN/f3.json")" \
	"['json:0', 'qubes:2']" "moat.Flows: the new download accepted by JSON rule 0, the older one still by qubes:2"
dom0 call moat.GetRules </dev/null >"$RUN/back.json"
check "GetRules' output, counts and all, goes back into SetRules" \
	bash -c "'$DOM0' call --vchan-dir '$VD' --domid $DOMID moat.SetRules <'$RUN/back.json' >/dev/null"
is "$(hits)" 0 "... as the same rules, their counts started again"
kill "$CURL" "$CURL2" 2>/dev/null
wait "$CURL" "$CURL2" 2>/dev/null
true	# the downloads' "killed" status is not the test's
