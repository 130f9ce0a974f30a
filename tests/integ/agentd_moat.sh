#!/bin/bash
# agentd under the real supervisor: moat --backend none --vchan socket,
# with moat-dom0 playing dom0. qrexec calls reach the supervisor's moat.*
# handlers and come back; the configuration arrives; a killed agentd is
# restarted and dom0 takes it back. Skipped while the tree cannot start
# every daemon yet.
set -u
T=$(mktemp -d /tmp/agm.XXXXXX)
chmod 755 "$T"
D0PID= MPID= KILL_VARS="MPID D0PID"
trap agentd_cleanup EXIT	# agentd_lib.sh
NOK_LOGS=(moat.out dom0.err out err2)
. "$(dirname "$0")/agentd_lib.sh"
MOAT=$B/moat/moat
A=(--vchan-dir "$T" --domid 5)
call() { "$DOM0" call "${A[@]}" "$@"; }
retry() { local i; for ((i = 0; i < 50; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }

qdb_json >"$T/db.json" <<'EOF'
 "/qubes-firewall/10.137.0.12": "",
 "/qubes-firewall/10.137.0.12/policy": "drop",
 "/qubes-firewall/10.137.0.12/0000": "action=accept proto=tcp dstports=443-443"
EOF
"$DOM0" serve "${A[@]}" --qubesdb "$T/db.json" 2>"$T/dom0.err" &
D0PID=$!
"$MOAT" --backend none --vchan socket --vchan-dir "$T" --domid 5 \
    --control "$T/moat.ctl" >"$T/moat.out" 2>&1 &
MPID=$!
for ((i = 0; i < 100; i++)); do
	kill -0 "$MPID" 2>/dev/null || break
	grep -q "agentd: info: qrexec: dom0 connected" "$T/moat.out" && break
	sleep 0.05
done
if ! kill -0 "$MPID" 2>/dev/null && grep -q "cannot find the .* binary" "$T/moat.out"; then
	echo "ok 1 - agentd under moat # SKIP $(grep -o "cannot find the [a-z]* binary" "$T/moat.out")"
	echo "1..1"
	exit 0
fi

check "moat starts agentd, which reaches dom0" 'waitfor "agentd: info: qrexec: dom0 connected" 10 "$T/moat.out"'
check "qubes.WaitForSession through moat's agentd" 'retry call qubes.WaitForSession </dev/null 2>/dev/null'
call moat.Logs+agentd </dev/null >"$T/out" 2>"$T/err2"; rc=$?
check "moat.Logs+agentd: answered by the supervisor through qrexec" \
    '[[ $rc -eq 0 ]] && grep -q "qubesdb: rules for 10.137.0.12: 1, policy drop" "$T/out"'
call --source mgmt moat.Logs+agentd </dev/null >"$T/out" 2>"$T/err2"; rc=$?
check "the same from another VM" '[[ $rc -eq 0 ]] && grep -q "moat.Logs+agentd from mgmt" "$T/out"'
call moat.NoSuchService </dev/null >"$T/out" 2>"$T/err2"; rc=$?
check "an unknown moat.* service: the supervisor's refusal comes back" '[[ $rc -ne 0 && -s $T/err2 ]]'
"$DOM0" rules "${A[@]}" 10.137.0.12 "action=accept proto=udp dstports=53-53" "action=drop"
check "a rule reload in dom0 reaches agentd under moat" \
    'sleep 0.5; call moat.Logs+agentd </dev/null | grep -q "rules for 10.137.0.12: 2, policy drop"'
apid=$(pgrep -P "$MPID" -x agentd)
[[ -n $apid ]] && kill -9 "$apid"
check "a killed agentd is restarted and dom0 serves it again" \
    'retry call qubes.WaitForSession </dev/null 2>/dev/null && [[ $(pgrep -P "$MPID" -x agentd) != "$apid" ]] && "$DOM0" status "${A[@]}" | grep -q "syncs 2"'
check "moat-dom0 never saw a message that would make dom0 drop the VM" '! grep -q FATAL "$T/dom0.err"'
echo "1..$n"
