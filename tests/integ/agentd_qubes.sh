#!/bin/bash
# agentd against Qubes' own dom0 daemons (qubesdb-daemon, qrexec-daemon,
# qrexec-client from release4.2, built with the socket vchan backend):
# the real wire, not our reading of it. Skipped unless QUBES_DOM0_BIN
# names a directory holding those binaries (and qubesdb-cmd with its
# libqubesdb.so), or they are in <builddir>/qubes-dom0:
#   QUBES_DOM0_BIN=DIR: Qubes 4.2's qubesdb-daemon, qrexec-daemon and qrexec-client
#   built for the socket vchan, supplied from outside (the project does not build them)
#
# qubesdb-daemon uses compiled-in paths under /var/run/qubes and
# /var/log/qubes, so the test runs in its own mount namespace with tmpfs
# over /run and /var/log: nothing on the host changes.
set -u
B=${MOAT_BUILDDIR:-$(pwd)}
S=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
Q=${QUBES_DOM0_BIN:-}
[[ -z $Q && -x $B/qubes-dom0/qubesdb-daemon ]] && Q=$B/qubes-dom0
if [[ -z $Q || ! -x $Q/qubesdb-daemon || ! -x $Q/qrexec-daemon ]]; then
	echo "ok 1 - real Qubes dom0 daemons # SKIP set QUBES_DOM0_BIN to Qubes' own dom0 daemons built for the socket vchan"
	echo "1..1"
	exit 0
fi
if [[ -z ${AGENTD_QUBES_NS:-} ]]; then
	AGENTD_QUBES_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
mount -t tmpfs moat-test /run && mkdir -p /run/qubes || exit 1
mount -t tmpfs moat-test /var/log && mkdir -p /var/log/qubes || exit 1

T=$(mktemp -d /tmp/aq.XXXXXX)	# qrexec-daemon truncates socket dirs over ~28 chars
chmod 755 "$T"
QDB_PID= QX_PID= SUP=
cleanup() {
	[[ -n $SUP ]] && kill "$SUP" 2>/dev/null
	[[ -n $QX_PID ]] && kill "$QX_PID" 2>/dev/null
	[[ -n $QDB_PID ]] && kill "$QDB_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
NOK_LOGS=(ev err qx.err out err2)
nok_extra() { tail -6 /var/log/qubes/qubesdb.sys-moat.log 2>/dev/null | sed 's/^/# qubesdb: /'; }
. "$(dirname "$0")/agentd_lib.sh"
# Sockets the vchan-socket library creates follow the umask; agentd runs
# as its own uid and needs to connect to them.
qdb() { (cd "$Q" && LD_LIBRARY_PATH=$Q ./qubesdb-cmd -c "$1" -d sys-moat "${@:2}"); }
qcall() {
	(umask 000; VCHAN_DOMAIN=0 VCHAN_SOCKET_DIR=$T "$Q/qrexec-client" \
	    --socket-dir="$T" -d sys-moat "$@")
}
qdb_start() {
	local i
	rm -f /var/run/qubes/qubesdb.sys-moat.pid
	(umask 000; VCHAN_DOMAIN=0 VCHAN_SOCKET_DIR=$T "$Q/qubesdb-daemon" 5 sys-moat) || return 1
	# the parent exits once the vchan exists; the child writes its pid
	QDB_PID=
	for ((i = 0; i < 100; i++)); do
		QDB_PID=$(cat /var/run/qubes/qubesdb.sys-moat.pid 2>/dev/null)
		[[ -n $QDB_PID ]] && return 0
		sleep 0.05
	done
	return 1
}
qx_start() {
	(umask 000; VCHAN_DOMAIN=0 VCHAN_SOCKET_DIR=$T exec "$Q/qrexec-daemon" \
	    --socket-dir="$T" --policy-program=/bin/false --direct 5 sys-moat user) \
	    2>>"$T/qx.err" &
	QX_PID=$!
}

qdb_start
check "Qubes' qubesdb-daemon (dom0 role) is up" '[[ -n $QDB_PID ]] && kill -0 "$QDB_PID"'
qdb write /qubes-ip 10.137.0.5
qdb write /qubes-netmask 255.255.255.255
qdb write /qubes-gateway 10.137.0.8
qdb write /qubes-primary-dns 10.139.1.1
qdb write /qubes-debug-mode 0
qdb write /connected-ips 10.137.0.12
qdb write /qubes-firewall/10.137.0.12/policy drop
qdb write /qubes-firewall/10.137.0.12/0000 "action=accept proto=tcp dstports=443-443"
qdb write /qubes-firewall/10.137.0.12/0002 "action=accept specialtarget=dns"
qdb write /qubes-firewall/10.137.0.12 ""

$PY "$S/tests/integ/agentd_sup.py" --agentd "$AGENTD" --log "$T/ev" --stderr "$T/err" \
    --control "$T/ctl" --respawn -- --vchan socket --vchan-dir "$T" --domid 5 &
SUP=$!
qx_start

check "NETCONF from the real dump" 'waitfor "NETCONF ip=10.137.0.5 netmask=255.255.255.255 gateway=10.137.0.8 dns0=10.139.1.1 " 5'
check "the client's rules from the real dump" \
    'waitfor "QRULES_END 4 10.137.0.12" && [[ "$(grep -A3 "QRULES_BEGIN 4" "$T/ev")" == "QRULES_BEGIN 4 10.137.0.12 drop 2
QRULE 0000 action=accept proto=tcp dstports=443-443
QRULE 0002 action=accept specialtarget=dns
QRULES_END 4 10.137.0.12" ]]'
qdb write /qubes-debug-mode 1
check "a push from qubesdb-write arrives live" 'waitfor "NETCONF .* debug=1"'
qdb rm /qubes-firewall/10.137.0.12/
qdb write /qubes-firewall/10.137.0.12/policy drop
qdb write /qubes-firewall/10.137.0.12/0001 "action=drop proto=icmp"
qdb write /qubes-firewall/10.137.0.12 ""
check "dom0's rule reload through the real daemon: one commit, new rules" \
    'waitfor "QRULE 0001 action=drop proto=icmp" && [[ $(count "QRULES_BEGIN 4 10.137.0.12 drop 1") -eq 1 ]]'
check "qrexec-daemon got the agent's HELLO (its socket exists)" 'for i in $(seq 100); do [[ -S $T/qrexec.5 ]] && break; sleep 0.05; done; [[ -S $T/qrexec.5 ]]'

echo user | qcall 'DEFAULT:QUBESRPC qubes.WaitForSession dom0' >"$T/out" 2>"$T/err2"; rc=$?
check "qrexec-client: qubes.WaitForSession exits 0" '[[ $rc -eq 0 ]]'
qcall 'DEFAULT:QUBESRPC qubes.VMShell dom0' <<<"ls; exit" >"$T/out" 2>"$T/err2"; rc=$?
check "qrexec-client: qubes.VMShell exits 127" '[[ $rc -eq 127 ]]'
qcall 'user:ls -l' </dev/null >"$T/out" 2>"$T/err2"; rc=$?
check "qrexec-client: a plain command exits 127" '[[ $rc -eq 127 ]]'
head -c 200000 /dev/urandom >"$T/in"
qcall 'DEFAULT:QUBESRPC moat.Echo+x dom0' <"$T/in" >"$T/out" 2>"$T/err2"; rc=$?
check "qrexec-client: moat.Echo, 200 kB through the supervisor and back" \
    '[[ $rc -eq 0 ]] && cmp -s "$T/in" "$T/out" && waitfor "SVC_REQ moat.Echo arg=x source=dom0 in_len=200000"'
qcall 'DEFAULT:QUBESRPC moat.Fail dom0' </dev/null >"$T/out" 2>"$T/err2"; rc=$?
check "qrexec-client: exit code 3 and the stderr line" '[[ $rc -eq 3 ]] && grep -q "failing as asked" "$T/err2"'
qcall 'DEFAULT:QUBESRPC moat.Stats+ work' </dev/null >/dev/null 2>&1
check "a VM-style command line carries its source name" 'waitfor "SVC_REQ moat.Stats arg= source=work"'
fails=0
for ((i = 0; i < 300; i++)); do
	qcall 'DEFAULT:QUBESRPC qubes.WaitForSession dom0' </dev/null || fails=$((fails + 1))
done
check "300 calls in a row (more than dom0's 256 ports): every port came back" '[[ $fails -eq 0 ]]'

# dom0 restarts its daemons: agentd reconnects to both
kill "$QX_PID"; wait "$QX_PID" 2>/dev/null
qx_start
qcall_retry() { for i in $(seq 50); do qcall "$@" && return 0; sleep 0.1; done; return 1; }
check "after qrexec-daemon restarts, calls work again" \
    'qcall_retry "DEFAULT:QUBESRPC qubes.WaitForSession dom0" </dev/null 2>/dev/null'
kill "$QDB_PID"
for i in $(seq 50); do kill -0 "$QDB_PID" 2>/dev/null || break; sleep 0.05; done
qdb_start
qdb write /qubes-ip 10.137.0.6
check "after qubesdb-daemon restarts, agentd re-reads the new database" 'waitfor "NETCONF ip=10.137.0.6 " 10'
# agentd restarts: the real daemons take it back
ctl kill
check "a restarted agentd is served again by both daemons" \
    'waitfor "EXIT" 5 && waitn "READY sandbox" 2 15 && waitn "NETCONF ip=10.137.0.6 " 2 15 && qcall_retry "DEFAULT:QUBESRPC qubes.WaitForSession dom0" </dev/null 2>/dev/null'
alive() { kill -0 "$1" 2>/dev/null && echo up || echo gone; }
echo "# qubesdb-daemon $(alive "$QDB_PID"), qrexec-daemon $(alive "$QX_PID")"
check "neither dom0 daemon gave up on the VM" \
    '[[ -n $QDB_PID ]] && kill -0 "$QDB_PID" && kill -0 "$QX_PID" && ! grep -qi "fatal" /var/log/qubes/qubesdb.sys-moat.log'
ctl shutdown
echo "1..$n"
