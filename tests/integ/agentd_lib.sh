# Sourced by the agentd_*.sh integration scripts: their TAP helpers and the
# waits on agentd's event log. Before sourcing, set T (the script's scratch
# directory) and NOK_LOGS (the files in $T whose last lines a failure shows);
# a script may define nok_extra for more. Every helper here reads the log
# $T/ev unless told another file.
B=${MOAT_BUILDDIR:-$(pwd)}
S=${MOAT_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PY=/usr/bin/python3
AGENTD=$B/agentd/agentd
DOM0=$B/tools/moat-dom0/moat-dom0
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() {
	local f
	n=$((n + 1)); echo "not ok $n - $1"
	for f in "${NOK_LOGS[@]}"; do [[ -s $T/$f ]] && tail -8 "$T/$f" | sed "s/^/# $f: /"; done
	if declare -F nok_extra >/dev/null; then nok_extra; fi
}
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
# A command to agentd_sup.py's control socket.
ctl() { $PY -c "import socket,sys;s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM);s.sendto(sys.argv[1].encode(),sys.argv[2])" "$1" "$T/ctl"; }
waitfor() { # pattern [seconds] [file]
	local i
	for ((i = 0; i < ${2:-5} * 20; i++)); do
		grep -q -- "$1" "${3:-$T/ev}" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
count() { grep -c -- "$1" "$T/ev"; }
waitn() { # pattern count seconds: wait until pattern occurs count times
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		[[ $(count "$1") -ge $2 ]] && return 0
		sleep 0.05
	done
	return 1
}
# The QubesDB every agentd script starts from, as JSON: sys-moat at
# 10.137.0.5 with one client, 10.137.0.12; then the keys on stdin (the
# client's firewall and more; the last line without a comma).
qdb_json() {
	cat <<'EOF'
{
 "/name": "sys-moat",
 "/qubes-ip": "10.137.0.5", "/qubes-netmask": "255.255.255.255",
 "/qubes-gateway": "10.137.0.8",
 "/qubes-primary-dns": "10.139.1.1", "/qubes-secondary-dns": "10.139.1.2",
 "/qubes-netvm-gateway": "10.137.0.5", "/qubes-netvm-netmask": "255.255.255.255",
 "/qubes-netvm-network": "10.137.0.5",
 "/qubes-netvm-primary-dns": "10.139.1.1", "/qubes-netvm-secondary-dns": "10.139.1.2",
 "/qubes-debug-mode": "0",
 "/connected-ips": "10.137.0.12",
EOF
	cat
	echo "}"
}
# On exit: stop the processes whose pids the variables named in KILL_VARS
# hold (empty: not started), then remove $T.
agentd_cleanup() {
	local v
	for v in ${KILL_VARS-}; do
		[[ -n ${!v-} ]] && kill "${!v}" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$T"
}
