#!/bin/bash
# agentd against moat-dom0 (dom0's qubesdb-daemon + qrexec-daemon) over
# socket vchans, sandboxed, under a stand-in supervisor: configuration
# from QubesDB, live changes and commits, qrexec calls (WaitForSession,
# refusals, moat.* with input and output, calls from another VM), 1000
# calls without leaks, and both sides restarting.
set -u
T=$(mktemp -d /tmp/agv.XXXXXX)
chmod 755 "$T"	# agentd's root once sandboxed: it searches it as its own uid
D0PID= SUP= KILL_VARS="SUP D0PID"
trap agentd_cleanup EXIT	# agentd_lib.sh
NOK_LOGS=(ev err dom0.err out)
. "$(dirname "$0")/agentd_lib.sh"
A=(--vchan-dir "$T" --domid 5)
call() { "$DOM0" call "${A[@]}" "$@"; }
agentd_pid() { pgrep -P "$SUP" -x agentd; }
dom0_start() {
	"$DOM0" serve "${A[@]}" --qubesdb "$1" 2>>"$T/dom0.err" &
	D0PID=$!
}

qdb_json >"$T/db.json" <<'EOF'
 "/qubes-vm-type": "ProxyVM",
 "/mapped-ip/10.137.0.12/visible-ip": "10.137.0.12",
 "/mapped-ip/10.137.0.12/visible-gateway": "10.137.0.5",
 "/qubes-firewall/10.137.0.12": "",
 "/qubes-firewall/10.137.0.12/policy": "drop",
 "/qubes-firewall/10.137.0.12/0000": "action=accept proto=tcp dstports=443-443",
 "/qubes-firewall/10.137.0.12/0002": "action=accept specialtarget=dns"
EOF

dom0_start "$T/db.json"
$PY "$S/tests/integ/agentd_sup.py" --agentd "$AGENTD" --log "$T/ev" --stderr "$T/err" \
    --control "$T/ctl" --respawn -- --vchan socket --vchan-dir "$T" --domid 5 &
SUP=$!

# --- configuration from dom0's QubesDB
check "agentd sandboxes and says READY" 'waitfor "READY sandbox=" 5'
check "NETCONF from dom0's QubesDB" 'waitfor "NETCONF ip=10.137.0.5 netmask=255.255.255.255 gateway=10.137.0.8 dns0=10.139.1.1 dns1=10.139.1.2 netvm_gateway=10.137.0.5 netvm_netmask=255.255.255.255 netvm_network=10.137.0.5 netvm_dns0=10.139.1.1 netvm_dns1=10.139.1.2 debug=0"'
check "CLIENTS from /connected-ips and /mapped-ip" 'waitfor "CLIENTS 1 10.137.0.12+c,vis=10.137.0.12,gw=10.137.0.5"'
waitfor "QRULES_END 4" 5
check "the client's rules from the dump" \
    '[[ "$(grep -A3 "QRULES_BEGIN 4" "$T/ev")" == "QRULES_BEGIN 4 10.137.0.12 drop 2
QRULE 0000 action=accept proto=tcp dstports=443-443
QRULE 0002 action=accept specialtarget=dns
QRULES_END 4 10.137.0.12" ]]'
check "dom0 sees one sync and a connected agent" \
    'waitfor "qrexec: agent connected" 5 "$T/dom0.err" && "$DOM0" status "${A[@]}" | grep -q "qubesdb synced syncs 1"'

# --- live changes
"$DOM0" write "${A[@]}" /qubes-debug-mode 1
check "a /qubes-debug-mode write re-sends NETCONF" 'waitfor "NETCONF .* debug=1"'
nc=$(count NETCONF)
"$DOM0" write "${A[@]}" /qubes-debug-mode 1 /name other
sleep 0.3
check "an unchanged value or an unrelated key sends nothing" '[[ $(count NETCONF) -eq $nc ]]'
"$DOM0" write "${A[@]}" /connected-ips "10.137.0.12 10.137.0.14"
check "a /connected-ips write re-sends CLIENTS" 'waitfor "CLIENTS 2 10.137.0.12+c,vis=10.137.0.12,gw=10.137.0.5 10.137.0.14+c"'
"$DOM0" rules "${A[@]}" 10.137.0.14 "action=accept proto=udp dstports=53-53" "action=drop proto=icmp"
check "dom0's rule reload (rm, writes, marker) delivers the rules once" \
    'waitfor "QRULES_END 4 10.137.0.14" && [[ "$(grep -A3 "QRULES_BEGIN 4 10.137.0.14" "$T/ev")" == "QRULES_BEGIN 4 10.137.0.14 drop 2
QRULE 0000 action=accept proto=udp dstports=53-53
QRULE 0001 action=drop proto=icmp
QRULES_END 4 10.137.0.14" ]] && [[ $(count "QRULES_BEGIN 4 10.137.0.14") -eq 1 ]]'
"$DOM0" write "${A[@]}" /qubes-firewall/fd09:24ef:4179::a89:e/policy drop \
    /qubes-firewall/fd09:24ef:4179::a89:e/0003 "action=accept dst6=2001:db8::/32"
check "write under /qubes-firewall/<ipv6>/ commits that client" \
    'waitfor "QRULES_END 6 fd09:24ef:4179::a89:e" && grep -q "QRULE 0003 action=accept dst6=2001:db8::/32" "$T/ev"'

# --- qrexec
echo user | call qubes.WaitForSession >"$T/out" 2>&1; rc=$?
check "qubes.WaitForSession exits 0" '[[ $rc -eq 0 && ! -s $T/out ]]'
call qubes.VMShell <<<"ls; exit" >"$T/out" 2>"$T/err2"; rc=$?
check "qubes.VMShell is refused: 127 and a message on stderr" \
    '[[ $rc -eq 127 && ! -s $T/out ]] && grep -q "qubes.VMShell is not available" "$T/err2"'
call my.Service </dev/null >"$T/out" 2>"$T/err2"; rc=$?
check "an unknown service exits 127" '[[ $rc -eq 127 ]] && grep -q "not available" "$T/err2"'
head -c 300000 /dev/urandom >"$T/in"
call moat.Echo+a1 <"$T/in" >"$T/out"; rc=$?
check "moat.* goes to the supervisor: input and output intact" \
    '[[ $rc -eq 0 ]] && cmp -s "$T/in" "$T/out" && waitfor "SVC_REQ moat.Echo arg=a1 source=dom0 in_len=300000 got=300000"'
call --source work moat.Stats </dev/null >/dev/null 2>&1
check "a call from another VM carries its source name" 'waitfor "SVC_REQ moat.Stats arg= source=work"'
call moat.Fail </dev/null >"$T/out" 2>"$T/err2"; rc=$?
check "a service's exit code and stderr come back" '[[ $rc -eq 3 ]] && grep -q "failing as asked" "$T/err2"'
call moat.Big+5000000 </dev/null >"$T/out"; rc=$?
check "5 MB of output arrive whole" '[[ $rc -eq 0 && $(stat -c %s "$T/out") -eq 5000000 ]]'
apid=$(agentd_pid)
head -c $((1024 * 1024 + 1)) /dev/zero | call moat.Echo >"$T/out" 2>"$T/err2"; rc=$?
check "input over 1 MiB is an error (125), not a crash" \
    '[[ $rc -eq 125 ]] && grep -q "input too large" "$T/err2" && [[ $(agentd_pid) == "$apid" ]]'
head -c $((1024 * 1024)) /dev/zero | call moat.Echo | cmp -s - <(head -c $((1024 * 1024)) /dev/zero)
check "exactly 1 MiB of input is fine" '[[ $? -eq 0 ]]'

# --- 1000 calls: no ports, descriptors or memory left behind
apid=$(agentd_pid)
fds0=$(ls /proc/"$apid"/fd | wc -l)
rss0=$(awk '/^VmRSS/ {print $2}' /proc/"$apid"/status)
fails=0 start=$(date +%s.%N)
for ((i = 0; i < 1000; i++)); do
	if ((i % 2)); then
		echo "call $i" | call moat.Echo >/dev/null || fails=$((fails + 1))
	else
		call qubes.WaitForSession </dev/null || fails=$((fails + 1))
	fi
done
secs=$(echo "$(date +%s.%N) - $start" | bc)
fds1=$(ls /proc/"$apid"/fd | wc -l)
rss1=$(awk '/^VmRSS/ {print $2}' /proc/"$apid"/status)
echo "# 1000 calls in ${secs}s; agentd fds $fds0 -> $fds1, VmRSS ${rss0} -> ${rss1} kB"
check "1000 calls in a row all succeed" '[[ $fails -eq 0 ]]'
check "... and dom0 has every port back" \
    '"$DOM0" status "${A[@]}" | grep -q "ports-in-use 0"'
check "... agentd holds no more descriptors" '[[ $fds1 -le $fds0 ]]'
if grep -q "READY sandbox=0" "$T/ev"; then
	# sanitizer builds (the only ones without a sandbox) keep freed memory
	n=$((n + 1)); echo "ok $n - ... and no more memory # SKIP sanitizer build"
else
	check "... and no more memory (VmRSS +<1 MiB)" '[[ $((rss1 - rss0)) -lt 1024 ]]'
fi

# --- dom0 restarts its daemons (sockets closed): agentd reconnects
sed 's/"10.137.0.8"/"10.137.0.9"/' "$T/db.json" >"$T/db2.json"
kill "$D0PID"; wait "$D0PID" 2>/dev/null
dom0_start "$T/db2.json"
check "after dom0 restarts, agentd re-reads QubesDB" 'waitfor "NETCONF ip=10.137.0.5 netmask=255.255.255.255 gateway=10.137.0.9" 10'
check "... and qrexec works again" \
    'waitfor "agent connected" 10 "$T/dom0.err" && call qubes.WaitForSession </dev/null'

# --- agentd restarts (the supervisor restarts it): dom0 sees a reconnect
ctl kill
check "a restarted agentd gets READY and the configuration again" \
    'waitfor "EXIT" 5 && waitn "READY sandbox" 2 15 && waitn "gateway=10.137.0.9" 2 15'
check "... dom0's daemons stayed up and served it again" \
    'kill -0 "$D0PID" && "$DOM0" status "${A[@]}" | grep -q "qubesdb synced syncs 2" && call qubes.WaitForSession </dev/null'
check "dom0 never saw a message that would have made it drop the VM" '! grep -q FATAL "$T/dom0.err"'
ctl shutdown
echo "1..$n"
