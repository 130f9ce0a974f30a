#!/bin/bash
# JSON rules kept in dom0 (issue 14): moat-rules stores what moat accepted; after a restart of the
# whole moat, moat fetches them from dom0 (moat.StoredRules through moat-dom0 running the real dom0
# script) and they are in force before the first client packet is forwarded; a refused document is
# not stored; clear removes it.
C1_POLICY=accept
C1_RULES=()
. "$(dirname "$0")/lib.sh"
kernel_mode && { skip "stored rules over dom0" "moat only"; exit 0; }
moat_require
DOM0=$BUILDDIR/tools/moat-dom0/moat-dom0
SRC=$(cd "$INTEG_DIR/../.." && pwd)
DOMID=7

trap topo_down EXIT
topo_create
qdb_write
VD=$RUN/vchan
# agentd (its own uid) serves the data vchan of its call to dom0: it creates a socket here
mkdir -p -m 1777 "$VD"
STORE=$RUN/store
export MOAT_STORE_DIR=$STORE
# dom0's service is the real script; $RUN/stored.delay makes it answer late, so that the data
# plane is up well before the answer (the hold, not luck, keeps the first packets back)
cat >"$RUN/stored-slow" <<EOF2
#!/bin/sh
sleep "\$(cat "$RUN/stored.delay" 2>/dev/null || echo 0)"
exec "$SRC/packaging/dom0/moat.StoredRules" "\$@"
EOF2
chmod +x "$RUN/stored-slow"
"$DOM0" serve --vchan-dir "$VD" --domid "$DOMID" --qubesdb "$QDB" --name sys-moat \
	--rpc "moat.StoredRules=$RUN/stored-slow" >>"$RUN/dom0.out" 2>&1 &
DOM0_PID=$!
CTL=$RUN/moat.sock
mkdir -p "$RUN/log"
moat_up() {
	ip netns exec "$NS_FW" "$MOAT_BIN" --backend devnet --uplink uplink \
		--client "vif1=$C1_IP" --client "vif2=$C2_IP" \
		--vchan socket --vchan-dir "$VD" --domid "$DOMID" --control "$CTL" --log-dir "$RUN/log" \
		>>"$RUN/moat.out" 2>&1 &
	MOAT_PID=$!
	local i
	for i in $(seq 100); do _moat_status_up && return 0; sleep 0.2; done
	return 1
}
# moat-rules as in dom0, its qvm-run making the call through moat-dom0
cat >"$RUN/qvm-run" <<EOF2
#!/bin/bash
exec "$DOM0" call --vchan-dir "$VD" --domid $DOMID "\${@: -1}"
EOF2
chmod +x "$RUN/qvm-run"
export MOAT_QVM_RUN=$RUN/qvm-run
rules() { "$SRC/packaging/dom0/moat-rules" sys-moat "$@"; }
# send_udp NS TAG SECONDS: a datagram to www:9 every 20 ms, each from a new socket (a new flow)
send_udp() {
	ip netns exec "$1" "$PY" - "$WWW_IP" "$2" "$3" <<'PYEOF' &
import socket, sys, time
end, n = time.monotonic() + float(sys.argv[3]), 0
while time.monotonic() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(("%s-%d" % (sys.argv[2], n)).encode(), (sys.argv[1], 9))
    except OSError:
        pass
    s.close()
    n += 1
    time.sleep(0.02)
PYEOF
}
arrived() { grep -c " $1-" "$RUN/udp9.log" 2>/dev/null || true; }

moat_up || bail "moat with dom0 over socket vchans did not come up"
wait_ready 1 2 || bail "the data plane did not come up"
check "no stored rules yet: moat says so and decides flows" grep -q "stored rules: none stored in dom0" "$RUN/moat.out"
send_udp "$NS_C1" before 0.5; wait $!
sleep 0.3
check "before: c1's UDP to www:9 reaches the far side" test "$(arrived before)" -gt 0

cat >"$RUN/r.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP"},
 "rules": [{"from": "work", "action": "drop", "proto": "udp", "dst4": "$WWW_IP", "dstports": "9", "comment": "kept in dom0"}]}
EOF2
check "moat-rules set: moat takes the rules" rules set "$RUN/r.json"
check "and dom0 keeps them (0600)" test "$(stat -c %a "$STORE/sys-moat.json" 2>/dev/null)" = 600
check "what dom0 keeps is the document set" cmp "$RUN/r.json" "$STORE/sys-moat.json"
printf '{"version": 1, "rules": [{"from": "*", "action": "bogus"}]}\n' >"$RUN/bad.json"
check_not "moat-rules set of a document moat refuses fails" rules set "$RUN/bad.json"
check "a refused document is not stored: the accepted one stays" cmp "$RUN/r.json" "$STORE/sys-moat.json"

# Restart the whole moat while c1 and c2 send, dom0 answering 3 s late: from the first forwarded
# packet on, c1's are dropped.
_moat_stop
echo 3 >"$RUN/stored.delay"
send_udp "$NS_C1" c1restart 10; p1=$!
send_udp "$NS_C2" c2restart 10; p2=$!
sleep 0.5
moat_up || bail "moat did not come back"
wait "$p1" "$p2"
sleep 0.3
c2n=$(arrived c2restart)
check "control: c2's datagrams were forwarded during the restart ($c2n)" test "$c2n" -gt 0
is "$(arrived c1restart)" 0 "c1's datagrams to the dropped destination: none reached the far side, not even the first"
check "moat logs that the stored rules are in force" grep -q "the JSON rules stored in dom0 are in force" "$RUN/moat.out"
rm -f "$RUN/stored.delay"
check "GetRules after the restart shows the stored rules" bash -c "'$DOM0' call --vchan-dir '$VD' --domid $DOMID moat.GetRules </dev/null | grep -q 'kept in dom0'"

# dom0 answering after moat's 10 s bound: flows are decided by the Qubes rules alone from then on
# (logged), and the late answer is applied when it comes.
_moat_stop
echo 14 >"$RUN/stored.delay"
t0=$(now_ms)
moat_up || bail "moat did not come back"
wait_for 15 grep -q "dom0 did not answer in time" "$RUN/moat.out"
t1=$(now_ms)
check "dom0 silent: after about 10 s moat says so and decides flows ($((t1 - t0)) ms)" \
	bash -c "grep -q 'dom0 did not answer in time' '$RUN/moat.out' && [[ $((t1 - t0)) -ge 9000 ]]"
send_udp "$NS_C1" latebound 0.5; wait $!
sleep 0.3
check "until the answer, the Qubes rules alone: c1's UDP to www:9 passes" test "$(arrived latebound)" -gt 0
for i in $(seq 100); do [[ $(grep -c "the JSON rules stored in dom0 are in force" "$RUN/moat.out") -ge 2 ]] && break; sleep 0.1; done
send_udp "$NS_C1" lateanswer 0.5; wait $!
sleep 0.3
is "$(arrived lateanswer)" 0 "the late answer is applied: c1's UDP to www:9 is dropped again"
rm -f "$RUN/stored.delay"

# A stored document this moat refuses: logged, not applied, the Qubes rules alone decide.
printf '{"version": 1, "rules": [{"from": "*", "action": "drop", "dstport": "9"}]}\n' >"$STORE/sys-moat.json"
_moat_stop
moat_up || bail "moat did not come back"
check "a stored document moat refuses is logged" grep -q "the JSON rules stored in dom0 were refused" "$RUN/moat.out"
send_udp "$NS_C1" refusedstored 0.5; wait $!
sleep 0.3
check "and not applied: c1's UDP to www:9 passes (Qubes rules alone)" test "$(arrived refusedstored)" -gt 0

# clear: moat drops the rules and dom0 forgets them; after a restart none come back.
cp "$RUN/r.json" "$STORE/sys-moat.json"
check "moat-rules clear succeeds" rules clear
check "clear removes the stored rules" test ! -e "$STORE/sys-moat.json"
_moat_stop
moat_up || bail "moat did not come back"
send_udp "$NS_C1" afterclear 0.5; wait $!
sleep 0.3
check "after clear and a restart: c1's UDP to www:9 passes" test "$(arrived afterclear)" -gt 0
kill "$DOM0_PID" 2>/dev/null
