# lib.sh: the network-namespace topology and TAP helpers shared by the moat
# integration scripts (tests/integ/dp_*.sh), the demo and the benchmark.
#
#   net (192.0.2.10) ── up ("NetVM": DNS, HTTP, echo) ── fw (moat) ─┬─ c1 ("work",  10.137.0.5)
#                                                                    └─ c2 ("vault", 10.137.0.9)
#
# Every namespace and run directory carries a per-run prefix, so parallel runs
# never collide, and the EXIT trap removes all of it. The firewall namespace
# runs moat (MOAT_INTEG_FW=moat, the default) or the Linux kernel configured
# to do the same job (MOAT_INTEG_FW=kernel: ip_forward + nftables, see
# kfw.py), which checks the tests themselves and is the benchmark baseline.
#
# A script sets the C1_*/C2_* rule variables if it needs other rules, then:
#   . "$(dirname "$0")/lib.sh"; topo_up [moat options...]
# and reports with ok/not_ok/check/skip; the trap prints the plan.
#
# IPv6 (opt-in: topo_up --ipv6 [moat options...], which sets TOPO_IPV6=1):
# the addresses Qubes gives with the `ipv6` feature, on top of the IPv4 ones
# (fd09:24ef:4179::a89:<qid in hex>, the qid being the last byte of the
# 10.137.0.x address; a netvm's gateway6 is its own address):
#   FW_IP6  fd09:24ef:4179::a89:2   /qubes-ip6 = /qubes-netvm-gateway6: moat's
#                                   uplink address and the clients' gateway
#   UP_IP6  fd09:24ef:4179::a89:1   /qubes-gateway6: the uplink host
#   C1_IP6  fd09:24ef:4179::a89:5   c1, given as --client vif1=C1_IP,C1_IP6
#   C2_IP6  fd09:24ef:4179::a89:9   c2
#   WWW_IP6 2001:db8:100::10        www.example.test's AAAA: HTTP on 80, TCP/UDP
#                                   echo on 7 (the IPv4 services listen on IPv6 too)
#   BLOCKED_IP6 2001:db8:100::20, WWW2_IP6 2001:db8:100::30 (AAAA, HTTP on 80)
#   FAR_IP6 2001:db8:2::10          far.example.test: one router hop behind up
# net.fake-ip: set C1_VIS_IP (and C1_VIS_GW) before topo_up to show c1 another
# address (and gateway) than the one moat routes it by, as dom0 does with
# /mapped-ip/<C1_IP>/visible-ip, visible-gateway (c1's namespace has the
# visible ones; /connected-ips lists the visible address, as dom0's does).
#
# Clients route FW_IP6/128 on eth0 and default via it, as Qubes' setup-ip
# does; /connected-ips6 lists both; each client's Qubes rules are written to
# /qubes-firewall/<IPv6>/ too, numbered as dom0 numbers them (one list; the
# IPv4 tree leaves out dst6 rules, the IPv6 tree dst4 rules). The firewall's
# own kernel still has IPv6 disabled: moat answers neighbour discovery. The
# kernel baseline (MOAT_INTEG_FW=kernel) has no IPv6: --ipv6 skips there.
#
# Running (as root):
#   make -C build check-integ              every script against moat
#   make -C build check-kernel             the same against the kernel baseline
#   MOAT_BUILDDIR=build tests/integ/dp_dns.sh    one script
# Knobs: MOAT_INTEG_FW=kernel (baseline), MOAT_INTEG_KEEP=1 (keep the run
# directory: QubesDB file, moat and daemon logs, service logs),
# MOAT_NS_PREFIX (namespace prefix), KFW_BREAK=... (kfw.py: break one piece
# of the baseline on purpose and watch its test fail).

INTEG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=${MOAT_SRCDIR:-$(cd "$INTEG_DIR/../.." && pwd)}
BUILDDIR=${MOAT_BUILDDIR:-$SRCDIR/build}
PY=/usr/bin/python3
FW_MODE=${MOAT_INTEG_FW:-moat}
MOAT_BIN=${MOAT_BIN:-$BUILDDIR/moat/moat}
MOATCTL_BIN=${MOATCTL_BIN:-$BUILDDIR/moat/moatctl}
DAEMONS=(netbackd natd policyd agentd)

# Addresses (Qubes layout: the firewall's uplink address is also the
# clients' gateway; clients are /32 point-to-point links).
FW_IP=10.137.0.2		# /qubes-ip = /qubes-netvm-gateway
UP_IP=10.137.0.1		# /qubes-gateway: the uplink host
C1_IP=10.137.0.5 C1_NAME=work
C2_IP=10.137.0.9 C2_NAME=vault
DNS1_VIRT=10.139.1.1 DNS2_VIRT=10.139.1.2
DNS1_REAL=203.0.113.1 DNS2_REAL=203.0.113.2
WWW_IP=198.51.100.10		# www.example.test: HTTP, TCP/UDP echo
BLOCKED_IP=198.51.100.20	# blocked.example.test
WWW2_IP=198.51.100.30		# www2.example.test (a dsthost rule)
FAR_IP=192.0.2.10		# far.example.test: one router hop behind the uplink host
HOSTS="www.example.test=$WWW_IP,blocked.example.test=$BLOCKED_IP,www2.example.test=$WWW2_IP,far.example.test=$FAR_IP,ready.example.test=$WWW_IP"
# IPv6 (used only with topo_up --ipv6; see the top of this file)
TOPO_IPV6=
QUBES_IP6_PREFIX=fd09:24ef:4179:
FW_IP6=${QUBES_IP6_PREFIX}:a89:2
UP_IP6=${QUBES_IP6_PREFIX}:a89:1
C1_IP6=${QUBES_IP6_PREFIX}:a89:5
C2_IP6=${QUBES_IP6_PREFIX}:a89:9
WWW_IP6=2001:db8:100::10
BLOCKED_IP6=2001:db8:100::20
WWW2_IP6=2001:db8:100::30
FAR_IP6=2001:db8:2::10
HOSTS6="www.example.test=$WWW_IP6,blocked.example.test=$BLOCKED_IP6,www2.example.test=$WWW2_IP6,far.example.test=$FAR_IP6"

# Default Qubes rules. c1 is restricted (policy drop), c2 allows everything.
C1_POLICY=${C1_POLICY:-drop}
if [[ -z ${C1_RULES+x} ]]; then
	C1_RULES=(
		"action=accept specialtarget=dns"
		"action=accept proto=icmp"
		"action=accept dst4=$WWW_IP/32 proto=tcp dstports=80-80"
		"action=accept dst4=$WWW_IP/32 proto=tcp dstports=7-7"
		"action=accept dst4=$WWW_IP/32 proto=udp dstports=7-7"
		"action=accept dst4=$WWW_IP/32 proto=udp dstports=9999-9999"
		"action=accept dst4=192.0.2.0/24 proto=udp"
		"action=drop dst4=$BLOCKED_IP/32"
		"action=accept dsthost=www2.example.test proto=tcp dstports=80-80"
		# IPv6 twins (only in the IPv6 tree, which exists with --ipv6)
		"action=accept dst6=$WWW_IP6/128 proto=tcp dstports=80-80"
		"action=accept dst6=$WWW_IP6/128 proto=tcp dstports=7-7"
		"action=accept dst6=$WWW_IP6/128 proto=udp dstports=7-7"
		"action=accept dst6=2001:db8:2::/64 proto=udp"
		"action=drop dst6=$BLOCKED_IP6/128"
	)
fi
C2_POLICY=${C2_POLICY:-accept}
[[ -z ${C2_RULES+x} ]] && C2_RULES=()

# ---------------------------------------------------------------- TAP
. "$INTEG_DIR/tap.sh"
# moat_only DESC CMD...: a check of moat's control interface; the kernel
# baseline has none, so there it is skipped (and says so).
moat_only() {
	if [[ $FW_MODE == kernel ]]; then skip "$1" "kernel baseline has no moat control service"; return 1; fi
	check "$@"
}
# wait_for SECONDS COMMAND...: poll every 20 ms until the command succeeds
wait_for() {
	local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
	while (( $(date +%s%N) < end )); do
		"$@" && return 0
		sleep 0.02
	done
	"$@"
}
# (done_testing, from tap.sh: the plan, for scripts that build no topology;
# topo_down prints it otherwise)
# daemons_of DIR: pids of processes running a binary from that tree
daemons_of() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$1"/* ]] && echo "${p#/proc/}"
	done
}
kernel_mode() { [[ $FW_MODE == kernel ]]; }

# ---------------------------------------------------------------- topology
P=${MOAT_NS_PREFIX:-mi$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}
NS_FW=${P}-fw NS_UP=${P}-up NS_C1=${P}-c1 NS_C2=${P}-c2 NS_NET=${P}-net
ALL_NS=("$NS_FW" "$NS_UP" "$NS_C1" "$NS_C2" "$NS_NET")
RUN=
MOAT_PID=
CTL=
QDB=
FW_ARGS=()

in_fw()  { ip netns exec "$NS_FW" "$@"; }
in_up()  { ip netns exec "$NS_UP" "$@"; }
in_c1()  { ip netns exec "$NS_C1" "$@"; }
in_c2()  { ip netns exec "$NS_C2" "$@"; }
in_net() { ip netns exec "$NS_NET" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

_ns_new() {	# _ns_new NS: a namespace with lo up and its own resolv.conf
	ip netns add "$1" || bail "cannot create namespace $1 (root needed)"
	ip -n "$1" link set lo up
	mkdir -p "/etc/netns/$1"
	printf 'nameserver %s\nnameserver %s\noptions timeout:1 attempts:2\n' \
		"$DNS1_VIRT" "$DNS2_VIRT" >"/etc/netns/$1/resolv.conf"
}

_veth() {	# _veth NS1 IF1 NS2 IF2
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" ||
		bail "cannot create veth $1:$2 <-> $3:$4"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

topo_create() {
	RUN=$(mktemp -d "/tmp/moat-integ.$P.XXXX")
	chmod 755 "$RUN"
	for ns in "${ALL_NS[@]}"; do _ns_new "$ns"; done
	# Nothing but moat may talk on the firewall's ports: no IPv6 there, no
	# addresses (the kernel mode adds its own).
	in_fw sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	_veth "$NS_FW" uplink "$NS_UP" eth0
	_veth "$NS_FW" vif1 "$NS_C1" eth0
	_veth "$NS_FW" vif2 "$NS_C2" eth0
	_veth "$NS_UP" far0 "$NS_NET" eth0

	# Uplink host: a /32 plus a host route to the firewall, as sys-net has.
	# The "internet" addresses live on the same interface.
	ip -n "$NS_UP" addr add "$UP_IP/32" dev eth0
	ip -n "$NS_UP" route add "$FW_IP/32" dev eth0
	for a in "$DNS1_REAL" "$DNS2_REAL" "$WWW_IP" "$BLOCKED_IP" "$WWW2_IP"; do
		ip -n "$NS_UP" addr add "$a/32" dev eth0
	done
	ip -n "$NS_UP" addr add 192.0.2.1/24 dev far0
	in_up sysctl -qw net.ipv4.ip_forward=1
	ip -n "$NS_NET" addr add "$FAR_IP/24" dev eth0
	ip -n "$NS_NET" route add default via 192.0.2.1

	local ns ip gw
	for c in 1 2; do
		ns=NS_C$c ip=C${c}_IP gw=$FW_IP
		[[ $c == 1 && -n ${C1_VIS_IP:-} ]] && ip=C1_VIS_IP gw=${C1_VIS_GW:-$FW_IP}
		ip -n "${!ns}" addr add "${!ip}/32" dev eth0
		ip -n "${!ns}" route add "$gw/32" dev eth0
		ip -n "${!ns}" route add default via "$gw" dev eth0
	done
	[[ -n $TOPO_IPV6 ]] && _topo_ipv6

	# Uplink services: DNS for the names above, HTTP on every address,
	# (80 and 8080), TCP/UDP echo on 7, delayed UDP replies on 9999, a UDP log on 9.
	local dm=() h
	IFS=, read -ra h <<<"$HOSTS"
	for x in "${h[@]}"; do dm+=("--address=/${x%%=*}/${x#*=}"); done
	if [[ -n $TOPO_IPV6 ]]; then
		IFS=, read -ra h <<<"$HOSTS6"
		for x in "${h[@]}"; do dm+=("--address=/${x%%=*}/${x#*=}"); done
	fi
	# a script's own records (DNSMASQ_EXTRA: dnsmasq options, an array)
	[[ -n ${DNSMASQ_EXTRA+x} ]] && dm+=("${DNSMASQ_EXTRA[@]}")
	ip netns exec "$NS_UP" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
		--listen-address="$DNS1_REAL" --listen-address="$DNS2_REAL" \
		--except-interface=lo --user=root --pid-file="$RUN/dnsmasq.pid" \
		--log-queries=extra --log-facility="$RUN/dnsmasq.log" "${dm[@]}" &
	disown
	mkdir -p "$RUN/www"
	echo "moat integ www" >"$RUN/www/index.html"
	head -c 1048576 /dev/urandom >"$RUN/www/1m.bin"
	local port
	for port in 80 8080; do
		ip netns exec "$NS_UP" "$PY" -m http.server $port --bind 0.0.0.0 --directory "$RUN/www" >>"$RUN/http.log" 2>&1 &
		disown
	done
	if [[ -n $TOPO_IPV6 ]]; then
		# http.server binds one address per process; the IPv4 ones
		# keep 0.0.0.0
		for a in "$WWW_IP6" "$BLOCKED_IP6" "$WWW2_IP6"; do
			ip netns exec "$NS_UP" "$PY" -m http.server 80 --bind "$a" --directory "$RUN/www" >>"$RUN/http.log" 2>&1 &
			disown
		done
	fi
	ip netns exec "$NS_UP" "$PY" "$INTEG_DIR/services.py" --tcp-echo 7 --udp-echo 7 --udp-delay 9999 \
		--udp-log "9:$RUN/udp9.log" ${TOPO_IPV6:+--ipv6} --ready "$RUN/up.ready" >"$RUN/services.log" 2>&1 &
	disown
	local i
	for i in $(seq 50); do
		[[ -e $RUN/up.ready ]] && in_up "$PY" -c 'import socket; socket.create_connection(("'"$WWW_IP"'", 80), 1)' 2>/dev/null && break
		sleep 0.1
	done
	[[ -e $RUN/up.ready ]] || bail "uplink services did not start: $(cat "$RUN/services.log")"
	if [[ -n $TOPO_IPV6 ]]; then
		for i in $(seq 50); do
			in_up "$PY" -c 'import socket; socket.create_connection(("'"$WWW_IP6"'", 80), 1)' 2>/dev/null && break
			sleep 0.1
		done
	fi
}

# The IPv6 half of topo_create (topo_up --ipv6). Addresses without duplicate
# address detection (nodad): usable at once, and no DAD probe reaches moat.
_topo_ipv6() {
	local a c ns ip
	ip -n "$NS_UP" -6 addr add "$UP_IP6/128" dev eth0 nodad
	ip -n "$NS_UP" -6 route add "$FW_IP6/128" dev eth0
	for a in "$WWW_IP6" "$BLOCKED_IP6" "$WWW2_IP6"; do
		ip -n "$NS_UP" -6 addr add "$a/128" dev eth0 nodad
	done
	ip -n "$NS_UP" -6 addr add 2001:db8:2::1/64 dev far0 nodad
	in_up sysctl -qw net.ipv6.conf.all.forwarding=1
	ip -n "$NS_NET" -6 addr add "$FAR_IP6/64" dev eth0 nodad
	ip -n "$NS_NET" -6 route add default via 2001:db8:2::1
	for c in 1 2; do
		ns=NS_C$c ip=C${c}_IP6
		ip -n "${!ns}" -6 addr add "${!ip}/128" dev eth0 nodad
		ip -n "${!ns}" -6 route add "$FW_IP6/128" dev eth0
		ip -n "${!ns}" -6 route add default via "$FW_IP6" dev eth0
	done
}

# QubesDB as moat's devnet agent reads it: one JSON object, key -> string.
# Each client's rules go to /qubes-firewall/<IPv4>/ and, with --ipv6, to
# /qubes-firewall/<IPv6>/, as dom0 writes them: one numbering for the rule
# list, the IPv4 tree without dst6 rules, the IPv6 tree without dst4 ones.
qdb_write() {
	QDB=$RUN/qubesdb.json
	{
		local args=(
			/qubes-ip "$FW_IP" /qubes-gateway "$UP_IP" /qubes-netmask 255.255.255.0
			/qubes-primary-dns "$DNS1_REAL" /qubes-secondary-dns "$DNS2_REAL"
			/qubes-netvm-gateway "$FW_IP" /qubes-netvm-netmask 255.255.255.255
			/qubes-netvm-primary-dns "$DNS1_VIRT" /qubes-netvm-secondary-dns "$DNS2_VIRT"
			/qubes-netvm-network 10.137.0.0 /connected-ips "${C1_VIS_IP:-$C1_IP} $C2_IP"
			/qubes-debug-mode 0
		)
		if [[ -n ${C1_VIS_IP:-} ]]; then
			args+=("/mapped-ip/$C1_IP/visible-ip" "$C1_VIS_IP"
			    "/mapped-ip/$C1_IP/visible-gateway" "${C1_VIS_GW:-$FW_IP}")
		fi
		if [[ -n $TOPO_IPV6 ]]; then
			args+=(/qubes-ip6 "$FW_IP6" /qubes-gateway6 "$UP_IP6"
			    /qubes-netvm-gateway6 "$FW_IP6" /connected-ips6 "$C1_IP6 $C2_IP6")
		fi
		local c ip pol rules i fam skip
		for c in 1 2; do
			for fam in 4 6; do
				[[ $fam == 6 && -z $TOPO_IPV6 ]] && continue
				if [[ $fam == 4 ]]; then ip=C${c}_IP skip=dst6=; else ip=C${c}_IP6 skip=dst4=; fi
				pol=C${c}_POLICY
				rules="C${c}_RULES[@]"
				args+=("/qubes-firewall/${!ip}/policy" "${!pol}")
				i=0
				for r in "${!rules}"; do
					[[ " $r" != *" $skip"* ]] &&
						args+=("$(printf '/qubes-firewall/%s/%04d' "${!ip}" $i)" "$r")
					i=$((i + 1))
				done
				args+=("/qubes-firewall/${!ip}" "")
			done
		done
		"$PY" -c 'import json, sys; a = sys.argv[1:]; print(json.dumps(dict(zip(a[::2], a[1::2])), indent=1))' "${args[@]}"
	} >"$RUN/qubesdb.json"
}

# ---------------------------------------------------------------- the firewall
moat_require() {
	if [[ ! -x $MOAT_BIN || ! -x $MOATCTL_BIN ]]; then
		not_ok "moat is built (looked for $MOAT_BIN and $MOATCTL_BIN; MOAT_BUILDDIR=$BUILDDIR)"
		bail "moat is missing: build it, or run with MOAT_INTEG_FW=kernel for the kernel baseline"
	fi
}

moatctl() { "$MOATCTL_BIN" --control "$CTL" "$@"; }
# moat_call SERVICE[+ARG] [< input]
moat_call() { "$MOATCTL_BIN" --control "$CTL" call "$@"; }

_moat_status_up() {	# every daemon "ready" in moatctl status (DAEMON PID STATE ...)
	local s d
	s=$(moatctl status 2>/dev/null) || return 1
	for d in "${DAEMONS[@]}"; do
		awk -v d="$d" '$1 == d && $2 > 0 && $3 == "ready" { f = 1 } END { exit !f }' <<<"$s" || return 1
	done
	return 0
}

moat_logs_tail() {
	local f
	for f in "$RUN"/moat.out "$RUN"/log/*; do
		[[ -f $f ]] || continue
		echo "--- $f"; tail -n "${1:-15}" "$f"
	done
}

# _moat_launch [options]: start moat, wait for its daemons; 0 when up, else 1
# with the reason in MOAT_START_ERR.
MOAT_START_ERR=
_moat_launch() {
	CTL=$RUN/moat.sock
	mkdir -p "$RUN/log"
	ip netns exec "$NS_FW" "$MOAT_BIN" --backend devnet --uplink uplink \
		--client "vif1=$C1_IP${TOPO_IPV6:+,$C1_IP6}" --client "vif2=$C2_IP${TOPO_IPV6:+,$C2_IP6}" \
		--qubesdb "$QDB" --control "$CTL" --log-dir "$RUN/log" "$@" \
		>"$RUN/moat.out" 2>&1 &
	MOAT_PID=$!
	local i rc
	for i in $(seq 100); do
		if ! kill -0 "$MOAT_PID" 2>/dev/null; then
			wait "$MOAT_PID"; rc=$?
			MOAT_START_ERR="moat exited with status $rc"
			MOAT_PID=
			return 1
		fi
		_moat_status_up && return 0
		# A daemon dying over and over will not come up: say so now
		# rather than after the whole wait.
		if moatctl status 2>/dev/null | awk 'NR > 1 && $4 >= 3 { f = 1 } END { exit !f }'; then
			MOAT_START_ERR="a daemon is in a crash loop; moatctl status: $(moatctl status 2>&1)"
			return 1
		fi
		sleep 0.2
	done
	MOAT_START_ERR="daemons not all up within 20 s; moatctl status: $(moatctl status 2>&1)"
	return 1
}

_moat_start() {
	moat_require
	if ! _moat_launch "$@"; then
		not_ok "moat starts and its daemons come up ($MOAT_START_ERR)"
		diag "$(moat_logs_tail 20)"
		_logs_shown=1
		bail "moat did not come up"
	fi
}

_moat_stop() {
	[[ -n $MOAT_PID ]] || return 0
	kill -TERM "$MOAT_PID" 2>/dev/null
	local i
	for i in $(seq 50); do kill -0 "$MOAT_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$MOAT_PID" 2>/dev/null
	wait "$MOAT_PID" 2>/dev/null
	MOAT_PID=
}

# Kernel baseline. moat's timeout/quota options map onto conntrack sysctls
# and an nft ct count; the others have no kernel equivalent here.
KFW_JSON=
KFW_ARGS=()
_kernel_apply() {
	local out
	out=$(in_fw "$PY" "$INTEG_DIR/kfw.py" --qubesdb "$QDB" --uplink uplink \
		--client "vif1=$C1_IP" --client "vif2=$C2_IP" --hosts "$HOSTS" \
		${KFW_JSON:+--json "$KFW_JSON"} "${KFW_ARGS[@]}") || return 1
	in_fw nft -f - <<<"$out"
}

_kernel_start() {
	local a
	while [[ $# -gt 0 ]]; do
		a=$1; shift
		case $a in
		--timeout-udp) in_fw sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$1"; shift ;;
		--timeout-udp-stream) in_fw sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream="$1"; shift ;;
		--timeout-icmp) in_fw sysctl -qw net.netfilter.nf_conntrack_icmp_timeout="$1"; shift ;;
		--timeout-tcp-established) in_fw sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established="$1"; shift ;;
		--timeout-tcp-syn) in_fw sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_syn_sent="$1"; shift ;;
		--timeout-tcp-closing) shift ;;
		--client-quota) KFW_ARGS+=(--client-quota "$1"); shift ;;
		--flows) shift ;;
		*) bail "kernel baseline: unknown option $a" ;;
		esac
	done
	# The kernel re-checks rules on every packet of a flow only when a test
	# needs rule changes to cut flows (moat does it by tracking flows).
	[[ -n ${KERNEL_RECHECK:-} ]] && KFW_ARGS+=(--recheck)
	in_fw sysctl -qw net.ipv4.ip_forward=1
	ip -n "$NS_FW" addr add "$FW_IP/32" dev uplink
	ip -n "$NS_FW" route replace "$UP_IP/32" dev uplink
	ip -n "$NS_FW" route replace default via "$UP_IP" dev uplink
	local c ip
	for c in 1 2; do
		ip=C${c}_IP
		ip -n "$NS_FW" addr add "$FW_IP/32" dev "vif$c"
		ip -n "$NS_FW" route replace "${!ip}/32" dev "vif$c"
		in_fw sysctl -qw "net.ipv4.conf.vif$c.proxy_arp=1"
	done
	_kernel_apply || bail "kernel baseline: nft rules did not load"
}

_kernel_stop() {
	in_fw nft delete table ip moatk 2>/dev/null
	in_fw sysctl -qw net.ipv4.ip_forward=0
	ip -n "$NS_FW" addr flush dev uplink
	ip -n "$NS_FW" addr flush dev vif1
	ip -n "$NS_FW" addr flush dev vif2
	KFW_JSON= KFW_ARGS=()
}

# fw_start [moat options...]: start the firewall in the chosen mode.
fw_start() {
	FW_ARGS=("$@")
	if kernel_mode; then _kernel_start "$@"; else _moat_start "$@"; fi
}
fw_stop() { if kernel_mode; then _kernel_stop; else _moat_stop; fi; }

# fw_setrules FILE: moat.SetRules (or the kernel's equivalent); prints the
# service's output, returns its status.
fw_setrules() {
	if kernel_mode; then
		cp "$1" "$RUN/json-rules.json"
		local prev=$KFW_JSON
		KFW_JSON=$RUN/json-rules.json
		if ! _kernel_apply; then KFW_JSON=$prev; _kernel_apply; return 1; fi
		return 0
	fi
	moat_call moat.SetRules <"$1"
}

# moat_stat EXPR: a value from moat.Stats, EXPR a python expression over s
# (e.g. 's["clients"][0]["drops"]["spoofed"]'); clients are found by ip with
# client(s, ip).
moat_stat() {
	moat_call moat.Stats </dev/null | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
def client(s, ip):
    for c in s["clients"]:
        if c.get("ip") == ip:
            return c
    raise KeyError("no client " + ip)
print(eval(sys.argv[1]))' "$1"
}

# Wait until each client resolves a name through the virtual DNS address:
# the whole path (ARP, rules, DNS redirect, NAT) is up.
wait_ready() {
	local c ns i okc=0
	for c in "$@"; do
		ns=NS_C$c
		for i in $(seq 30); do
			if ip netns exec "${!ns}" dig +short +time=1 +tries=1 "@$DNS1_VIRT" ready.example.test 2>/dev/null |
				grep -qx "$WWW_IP"; then
				okc=$((okc + 1)); break
			fi
			sleep 0.3
		done
	done
	if [[ $okc -ne $# ]]; then
		not_ok "data plane ready: clients ($*) resolve names through $DNS1_VIRT within 10 s"
		kernel_mode || diag "$(moat_logs_tail 10)"
		return 1
	fi
	return 0
}

# topo_up [--ipv6] [firewall options...]: build everything, start the
# firewall, wait (for IPv4 DNS through moat, which needs no IPv6).
topo_up() {
	[[ $(id -u) -eq 0 ]] || bail "needs root (network namespaces)"
	if [[ -n ${C1_VIS_IP:-} ]] && kernel_mode; then
		skip "net.fake-ip topology" "the kernel baseline (kfw.py) has no address mapping"
		echo "1..$_tap_n"
		exit 0
	fi
	if [[ ${1:-} == --ipv6 ]]; then
		shift
		TOPO_IPV6=1
		if kernel_mode; then
			skip "IPv6 topology" "the kernel baseline (kfw.py) is IPv4 only"
			echo "1..$_tap_n"
			exit 0
		fi
	fi
	trap topo_down EXIT
	trap 'exit 130' INT TERM
	kernel_mode || moat_require
	topo_create
	qdb_write
	fw_start "$@"
	wait_ready ${READY_CLIENTS:-1 2}
}

topo_down() {
	local rc=$?
	if [[ $_tap_failed -gt 0 && -n $RUN && -z ${_logs_shown:-} ]] && ! kernel_mode; then
		diag "moat logs (last lines), run dir $RUN:"
		diag "$(moat_logs_tail 25)"
	fi
	fw_stop >/dev/null 2>&1
	local ns pid
	for ns in "${ALL_NS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
	done
	for ns in "${ALL_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	wait 2>/dev/null
	if [[ -n $RUN && -z ${MOAT_INTEG_KEEP:-} ]]; then rm -rf "$RUN"; fi
	[[ $_tap_n -gt 0 ]] && echo "1..$_tap_n"
	[[ $_tap_failed -gt 0 ]] && exit 1
	exit "$rc"
}

# ---------------------------------------------------------------- probes
# client_services N: in client N, a TCP banner "hello from NAME" on 2222 and
# a UDP log on 9 ($RUN/cN-udp9.log); banner peers go to $RUN/cN-peers.log.
client_services() {
	local ns=NS_C$1 name=C${1}_NAME i
	rm -f "$RUN/c$1.ready"
	ip netns exec "${!ns}" "$PY" "$INTEG_DIR/services.py" --tcp-banner "2222:hello from ${!name}" \
		--udp-log "9:$RUN/c$1-udp9.log" --peer-log "$RUN/c$1-peers.log" ${TOPO_IPV6:+--ipv6} --ready "$RUN/c$1.ready" >"$RUN/c$1-services.log" 2>&1 &
	disown
	for i in $(seq 50); do [[ -e $RUN/c$1.ready ]] && return 0; sleep 0.1; done
	bail "client $1 services did not start: $(cat "$RUN/c$1-services.log")"
}
# banner NS IP [timeout]: what the TCP server on IP:2222 says, or "fail".
banner() {
	ip netns exec "$1" "$PY" - "$2" "${3:-2}" <<'PYEOF' 2>/dev/null || echo fail
import socket, sys
s = socket.create_connection((sys.argv[1], 2222), float(sys.argv[2]))
s.settimeout(float(sys.argv[2]))
print(s.recv(100).decode().strip())
PYEOF
}
# fbanner NS PORT [ADDR]: what answers a TCP connection to moat's address
# (FW_IP, or ADDR) and PORT (a forwarded port), or "fail".
fbanner() {
	ip netns exec "$1" "$PY" - "${3:-$FW_IP}" "$2" <<'PYEOF' 2>/dev/null || echo fail
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 2)
s.settimeout(2)
print(s.recv(100).decode().strip())
PYEOF
}
# alive FILE: pkt.py tcphold's counter in FILE is moving.
alive() {
	local a b
	a=$(cat "$1"); sleep 1; b=$(cat "$1")
	echo "$a -> $b"
	[[ $a == alive* && $b == alive* && $a != "$b" ]]
}
# dead_within FILE SECONDS: tcphold's connection in FILE dies within SECONDS.
dead_within() {
	local i
	for i in $(seq $(($2 * 5))); do
		[[ $(cat "$1") == dead* ]] && { cat "$1"; return 0; }
		sleep 0.2
	done
	cat "$1"; return 1
}
# daemon_pid NAME: the pid of moat's daemon NAME while it is ready.
daemon_pid() { moatctl status 2>/dev/null | awk -v d="$1" '$1 == d && $3 == "ready" { print $2 }'; }
# json_rules FILE <<< JSON: write a rule set (for fw_setrules).
json_rules() { cat >"$1"; }
# http_code NS URL [max-seconds]: the HTTP status, or 000 on failure.
http_code() {
	ip netns exec "$1" curl -s -o /dev/null -w '%{http_code}' --max-time "${3:-5}" "$2" 2>/dev/null
}
# fails_fast NS URL MS: the request fails, within MS milliseconds.
fails_fast() {
	local t0 t1 code
	t0=$(now_ms)
	code=$(ip netns exec "$1" curl -s -o /dev/null -w '%{http_code}' --connect-timeout 5 --max-time 6 "$2" 2>/dev/null)
	t1=$(now_ms)
	echo "http $code after $((t1 - t0)) ms"
	[[ $code == 000 && $((t1 - t0)) -lt $3 ]]
}
# times_out NS URL S: the request fails only by timing out after ~S seconds
# (a silent drop, no answer at all).
times_out() {
	local t0 t1 code
	t0=$(now_ms)
	code=$(ip netns exec "$1" curl -s -o /dev/null -w '%{http_code}' --connect-timeout "$3" --max-time $(($3 + 1)) "$2" 2>/dev/null)
	t1=$(now_ms)
	echo "http $code after $((t1 - t0)) ms"
	[[ $code == 000 && $((t1 - t0)) -ge $(($3 * 1000 - 200)) ]]
}
pkt() { local ns=$1; shift; ip netns exec "$ns" "$PY" "$INTEG_DIR/pkt.py" "$@"; }
