#!/bin/bash
# agentd in file mode (--qubesdb FILE, no dom0) under a stand-in supervisor:
# it sandboxes, says READY, and hands the file's configuration to the
# daemons exactly as a dom0 dump would (NETCONF, CLIENTS, CLIENTS6, QRULES).
set -u
T=$(mktemp -d /tmp/agentd_file.XXXXXX)
trap 'rm -rf "$T"' EXIT
NOK_LOGS=(ev err)
. "$(dirname "$0")/agentd_lib.sh"
run_sup() {
	: >"$T/ev"; : >"$T/err"
	$PY "$S/tests/integ/agentd_sup.py" --agentd "$AGENTD" --log "$T/ev" \
	    --stderr "$T/err" --control "$T/ctl" -- "$@" &
	SUP=$!
}

qdb_json >"$T/db.json" <<'EOF'
 "/mapped-ip/10.137.0.12/visible-ip": "10.137.0.12",
 "/mapped-ip/10.137.0.12/visible-gateway": "10.137.0.5",
 "/qubes-ip6": "fd09:24ef:4179::a89:5", "/qubes-gateway6": "fd09:24ef:4179::a89:8",
 "/qubes-netvm-gateway6": "fd09:24ef:4179::a89:5",
 "/connected-ips6": "fd09:24ef:4179::a89:c",
 "/mapped-ip/fd09:24ef:4179::a89:c/visible-ip": "fd09:24ef:4179::a89:c",
 "/mapped-ip/fd09:24ef:4179::a89:c/visible-gateway": "fd09:24ef:4179::a89:5",
 "/qubes-firewall/10.137.0.12": "",
 "/qubes-firewall/10.137.0.12/policy": "drop",
 "/qubes-firewall/10.137.0.12/0000": "action=accept proto=tcp dstports=443-443",
 "/qubes-firewall/10.137.0.12/0003": "action=accept specialtarget=dns",
 "/qubes-firewall/fd09:24ef:4179::a89:c": "",
 "/qubes-firewall/fd09:24ef:4179::a89:c/policy": "drop",
 "/qubes-firewall/fd09:24ef:4179::a89:c/0001": "action=accept dst6=2001:db8::/32"
EOF

run_sup --qubesdb "$T/db.json"
check "agentd sandboxes and says READY" 'waitfor "READY sandbox=" 5'
check "NETCONF carries every address from the file" 'waitfor "NETCONF ip=10.137.0.5 netmask=255.255.255.255 gateway=10.137.0.8 dns0=10.139.1.1 dns1=10.139.1.2 netvm_gateway=10.137.0.5 netvm_netmask=255.255.255.255 netvm_network=10.137.0.5 netvm_dns0=10.139.1.1 netvm_dns1=10.139.1.2 debug=0"'
check "CLIENTS carries connected-ips and mapped-ip" 'waitfor "CLIENTS 1 10.137.0.12+c,vis=10.137.0.12,gw=10.137.0.5"'
check "NETCONF carries /qubes-ip6, /qubes-gateway6, /qubes-netvm-gateway6" \
    'waitfor "NETCONF6 ip6=fd09:24ef:4179::a89:5 gateway6=fd09:24ef:4179::a89:8 netvm_gateway6=fd09:24ef:4179::a89:5"'
check "CLIENTS6 carries connected-ips6 and the IPv6 mapped-ip" \
    'waitfor "CLIENTS6 1 fd09:24ef:4179::a89:c+c,vis=fd09:24ef:4179::a89:c,gw=fd09:24ef:4179::a89:5"'
waitfor "QRULES_END 6" 5
check "IPv4 client rules: BEGIN, rules in key order with gaps, END" \
    '[[ "$(grep -A3 "QRULES_BEGIN 4" "$T/ev")" == "QRULES_BEGIN 4 10.137.0.12 drop 2
QRULE 0000 action=accept proto=tcp dstports=443-443
QRULE 0003 action=accept specialtarget=dns
QRULES_END 4 10.137.0.12" ]]'
check "IPv6 client rules" \
    '[[ "$(grep -A2 "QRULES_BEGIN 6" "$T/ev")" == "QRULES_BEGIN 6 fd09:24ef:4179::a89:c drop 1
QRULE 0001 action=accept dst6=2001:db8::/32
QRULES_END 6 fd09:24ef:4179::a89:c" ]]'
pid=$(pgrep -P "$SUP" -x agentd)
if grep -q "READY sandbox=0" "$T/ev"; then
	n=$((n + 1)); echo "ok $n - agentd runs as its own uid # SKIP built --with-sandbox=none"
else
	check "agentd runs as its own uid, not root" \
	    '[[ -n $pid ]] && awk "/^Uid:/ {exit !(\$2 == 64504)}" /proc/$pid/status'
fi
ctl shutdown
wait "$SUP"; rc=$?
check "SHUTDOWN: agentd exits 0" '[[ $rc -eq 0 ]] && grep -q "EXIT 0" "$T/ev"'

# An unexpected message type from the supervisor is fatal (exit 1).
run_sup --qubesdb "$T/db.json"
waitfor "READY" 5
ctl "raw 21 16"	# FLOWTAB is natd's, and comes without its memfd
wait "$SUP"; rc=$?
check "an unexpected control message makes agentd exit 1" '[[ $rc -eq 1 ]]'
run_sup --qubesdb "$T/db.json"
waitfor "READY" 5
ctl "raw 12 96"	# NETCONF is agentd's to send, not to receive
wait "$SUP"; rc=$?
check "a well-formed but unexpected type is fatal too" '[[ $rc -eq 1 ]] && grep -q "unexpected NETCONF" "$T/err"'

# A bad file never gets past startup, and the error names the key.
echo '{"/qubes-ip": "10.137.0.5", "/qubes-gateway": "10.137.0.300"}' >"$T/bad.json"
run_sup --qubesdb "$T/bad.json"
wait "$SUP"; rc=$?
check "a malformed address in the file: exit 1 naming the key" \
    '[[ $rc -eq 1 ]] && grep -q "/qubes-gateway" "$T/err" && ! grep -q READY "$T/ev"'
echo '{"/qubes-ip": ' >"$T/bad.json"
run_sup --qubesdb "$T/bad.json"
wait "$SUP"; rc=$?
check "a broken JSON file: exit 1 with file:line" '[[ $rc -eq 1 ]] && grep -q "bad.json:[0-9]*: " "$T/err"'
echo "1..$n"
