#!/bin/bash
# moat driven by dom0 as Qubes drives it (moat-dom0 over socket vchans): Qubes rules committed in
# QubesDB are enforced within 100 ms, moat.SetRules over qrexec replaces rules atomically, and
# dom0 restarting its daemon is survived without disturbing traffic.
. "$(dirname "$0")/lib.sh"
kernel_mode && { skip "dom0 over vchan" "moat only"; exit 0; }
moat_require
DOM0=$BUILDDIR/tools/moat-dom0/moat-dom0
DOMID=7

trap topo_down EXIT
topo_create
qdb_write
VD=$RUN/vchan
mkdir -p "$VD"
dom0() { "$DOM0" "$1" --vchan-dir "$VD" --domid "$DOMID" "${@:2}"; }
dom0_serve() {
	"$DOM0" serve --vchan-dir "$VD" --domid "$DOMID" --qubesdb "$QDB" --name sys-moat \
		>>"$RUN/dom0.out" 2>&1 &
	DOM0_PID=$!
}
dom0_serve
CTL=$RUN/moat.sock
mkdir -p "$RUN/log"
ip netns exec "$NS_FW" "$MOAT_BIN" --backend devnet --uplink uplink \
	--client "vif1=$C1_IP" --client "vif2=$C2_IP" \
	--vchan socket --vchan-dir "$VD" --domid "$DOMID" --control "$CTL" --log-dir "$RUN/log" \
	>"$RUN/moat.out" 2>&1 &
MOAT_PID=$!
for i in $(seq 100); do _moat_status_up && break; sleep 0.2; done
check "moat with agentd on socket vchans comes up" _moat_status_up
wait_ready 1 2 || bail "the data plane did not come up from dom0's QubesDB"
ok "the configuration came from dom0's QubesDB: both clients resolve names through the virtual DNS"

# How long after a commit until a new connection from c1 to www:80 is refused.
refused_after_ms() {
	in_c1 "$PY" - "$WWW_IP" <<'PYEOF'
import socket, sys, time
t0 = time.monotonic()
while time.monotonic() - t0 < 2:
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect((sys.argv[1], 80))
    except OSError:
        print(int((time.monotonic() - t0) * 1000))
        sys.exit(0)
    finally:
        s.close()
    time.sleep(0.002)
print("never")
PYEOF
}
is "$(http_code "$NS_C1" "http://$WWW_IP/" 3)" 200 "c1 reaches www:80 under its first rules"
dom0 rules "$C1_IP" "action=drop dst4=$WWW_IP/32 proto=tcp dstports=80-80" "action=accept" >/dev/null
ms=$(refused_after_ms)
if [[ $ms =~ ^[0-9]+$ && $ms -le 100 ]]; then
	ok "new Qubes rules committed through QubesDB are enforced within 100 ms ($ms ms)"
else
	not_ok "new Qubes rules committed through QubesDB are enforced within 100 ms (got: $ms)"
fi
check "the rest of c1's new rules apply too (accept: DNS still answers)" \
	bash -c "ip netns exec '$NS_C1' dig +short +time=1 @$DNS1_VIRT www.example.test | grep -qx '$WWW_IP'"

# moat.SetRules through qrexec: a JSON drop narrows c1's Qubes accept (www:8080), a JSON
# accept cannot open its Qubes drop (www:80).
is "$(http_code "$NS_C1" "http://$WWW_IP:8080/" 3)" 200 "c1 reaches www:8080 (its Qubes rules accept)"
cat >"$RUN/r.json" <<EOF2
{"version": 1, "rules": [{"from": "$C1_IP", "action": "accept", "proto": "tcp", "dst4": "$WWW_IP/32", "dstports": "80"},
  {"from": "$C1_IP", "action": "drop", "proto": "tcp", "dst4": "$WWW_IP/32", "dstports": "8080"}]}
EOF2
check "moat.SetRules through qrexec from dom0 succeeds" bash -c "'$DOM0' call --vchan-dir '$VD' --domid $DOMID moat.SetRules <'$RUN/r.json' >/dev/null"
is "$(http_code "$NS_C1" "http://$WWW_IP:8080/" 3)" 000 "the JSON drop is in force: c1 no longer reaches www:8080"
is "$(http_code "$NS_C1" "http://$WWW_IP/" 3)" 000 "the JSON accept does not open www:80, which c1's Qubes rules drop"
before=$(dom0 call moat.GetRules </dev/null)
printf '{"version": 1, "rules": [{"from": "*", "action": "accept"}, {"from": "*", "action": "bogus"}]}' >"$RUN/bad.json"
dom0 call moat.SetRules <"$RUN/bad.json" >/dev/null 2>"$RUN/bad.err"; rc=$?
check "a bad rule set through qrexec is refused (exit $rc, names rule 1)" bash -c "[[ $rc -ne 0 ]] && grep -q 'rule 1' '$RUN/bad.err'"
is "$(dom0 call moat.GetRules </dev/null)" "$before" "after the refusal the rules in force are exactly the old ones"
dom0 call qubes.VMShell </dev/null >/dev/null 2>&1; rc=$?
is "$rc" 127 "qubes.VMShell is refused with 127: there is no shell in this VM"

# dom0 restarts its daemons while c2 pings through moat: no loss, agentd reconnects.
in_c2 ping -n -q -c 40 -i 0.05 "$WWW_IP" >"$RUN/ping.out" 2>&1 &
ping_pid=$!
sleep 0.5
kill "$DOM0_PID"; wait "$DOM0_PID" 2>/dev/null
sleep 0.3
dom0_serve
wait "$ping_pid"
check "c2's traffic is not disturbed while dom0's daemon restarts ($(grep -o '[0-9]*% packet loss' "$RUN/ping.out"))" \
	grep -q ' 0% packet loss' "$RUN/ping.out"
reconnected() { dom0 call qubes.WaitForSession </dev/null >/dev/null 2>&1; }
wait_for_ok=0
for i in $(seq 50); do reconnected && { wait_for_ok=1; break; }; sleep 0.2; done
is "$wait_for_ok" 1 "agentd reconnects to the restarted dom0 daemon (qrexec answers)"
dom0 rules "$C2_IP" "action=drop dst4=$WWW_IP/32 proto=icmp" "action=accept" >/dev/null
sleep 0.3
check_not "and QubesDB pushes reach it again: c2's new rule blocks its pings" \
	ip netns exec "$NS_C2" ping -n -q -c 1 -W 1 "$WWW_IP"
kill "$DOM0_PID" 2>/dev/null
