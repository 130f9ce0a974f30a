#!/bin/bash
# Shared memory split by who needs it, and broken rings brought back.
#
# 1. Each daemon maps only the queue memory it has a ring in: the packet
#    pool with RX/TX (memfd "moat-packets") in netbackd and natd, the flow
#    rings (memfd "moat-flowreq") in natd and policyd. policyd holds no packet
#    memory at all, neither mapped nor as an open fd.
# 2. A producer that corrupts its index (test hook moat.TestBreakRing, one
#    ring after the other) is caught by the consumer, which exits naming
#    the ring and the producer; the supervisor restarts both ends with the
#    ring formatted afresh, and a ping running through it all keeps
#    working: no gap of a second or more between replies.
. "$(dirname "$0")/lib.sh"
kernel_mode && { skip "shared memory and ring faults" "moat only"; exit 0; }
topo_up

daemon_pid() { moatctl status 2>/dev/null | awk -v d="$1" '$1 == d && $3 == "ready" { print $2 }'; }
# memfd NAMEs a process maps (one per line, sorted, unique), and those it holds open
maps_of() { sed -n 's|.*/memfd:\([^ ]*\).*|\1|p' "/proc/$1/maps" | sort -u; }
fds_of() { for f in /proc/"$1"/fd/*; do readlink "$f"; done 2>/dev/null | sed -n 's|^/memfd:\([^ ]*\).*|\1|p' | sort -u; }
bytes_of() {	# bytes PID maps from memfds named moat-*: NAME only, or (with -v) all others
	"$PY" -c '
import sys
pid, name, others = sys.argv[1], sys.argv[2], len(sys.argv) > 3
n = 0
for l in open("/proc/%s/maps" % pid):
    f = l.split()
    if len(f) < 6 or not f[5].startswith("/memfd:moat-"):
        continue
    if (f[5] == "/memfd:" + name) != others:
        a, b = f[0].split("-")
        n += int(b, 16) - int(a, 16)
print(n)' "$@"
}

# ---------------------------------------------------------------- 1. the split
for d in netbackd natd policyd agentd; do
	p=$(daemon_pid "$d")
	[[ -n $p ]] || { not_ok "$d is running"; continue; }
	maps=$(maps_of "$p" | grep '^moat-' | tr '\n' ' ')
	fds=$(fds_of "$p" | grep '^moat-' | tr '\n' ' ')
	case $d in
	netbackd) want="moat-packets " ;;
	natd) want="moat-flowreq moat-flows moat-packets " ;;	# moat-flows: the connection table
	policyd) want="moat-flowreq " ;;
	agentd) want="" ;;
	esac
	is "$maps" "$want" "$d maps exactly the shared memory it has a ring in (${want:-none})"
	is "$fds" "" "$d keeps no fd of the shared memory once it is mapped"
done
p=$(daemon_pid policyd)
if [[ -n $p ]]; then
	pb=$(bytes_of "$p" moat-flowreq -v) fb=$(bytes_of "$p" moat-flowreq)
	nb=$(bytes_of "$(daemon_pid netbackd)" moat-packets)
	is "$pb" 0 "policyd maps no byte of shared memory but its flow rings (netbackd maps $nb of packets)"
	check "policyd's flow rings are small ($fb bytes)" test "$fb" -gt 0 -a "$fb" -le $((256 * 1024))
fi

# ---------------------------------------------------------------- 2. broken rings
# ping -D stamps each reply; the largest gap between two replies while a
# ring is broken and both its ends restart must stay under a second.
max_gap_ms() {
	awk -F'[][]' '/bytes from/ { t = $2 * 1000; if (n++ && t - last > g) g = t - last; last = t }
		END { printf "%d\n", g }' "$1"
}
replies_after() {	# replies stamped after epoch ms $2
	awk -F'[][]' -v t0="$2" '/bytes from/ && $2 * 1000 > t0 { n++ } END { print n + 0 }' "$1"
}

declare -A culprit=([RX]=netbackd [TX]=natd [FLOWREQ]=natd [VERDICT]=policyd)
declare -A finder=([RX]=natd [TX]=netbackd [FLOWREQ]=policyd [VERDICT]=natd)
for ring in RX TX FLOWREQ VERDICT; do
	c=${culprit[$ring]} f=${finder[$ring]}
	oc=$(daemon_pid "$c") of=$(daemon_pid "$f")
	log="$RUN/ping-$ring.log"
	ip netns exec "$NS_C1" ping -D -n -i 0.05 -w 4 "$WWW_IP" >"$log" 2>&1 &
	ping_pid=$!
	sleep 1
	t0=$(now_ms)
	out=$(moat_call "moat.TestBreakRing+$ring" </dev/null 2>&1)
	is "$out" "sent" "moat.TestBreakRing+$ring reaches $c"
	back() { a=$(daemon_pid "$c"); b=$(daemon_pid "$f"); [[ -n $a && -n $b && $a != "$oc" && $b != "$of" ]]; }
	if wait_for 3 back; then
		ok "$ring: $f and $c are both back ($(( $(now_ms) - t0 )) ms)"
	else
		not_ok "$ring: $f and $c are both back within 3 s (status: $(moatctl status 2>&1 | tr '\n' ';'))"
	fi
	check "$ring: $f's exit names the ring and $c" grep -q "ring $ring broken by $c" "$RUN/moat.out"
	check "$ring: the supervisor restarts $c as the guilty side" grep -q "$f found ring $ring broken by $c" "$RUN/moat.out"
	wait "$ping_pid"
	gap=$(max_gap_ms "$log")
	after=$(replies_after "$log" "$t0")
	check "$ring: ping through the fault: longest gap ${gap} ms < 1000 ms" test "$gap" -lt 1000
	check "$ring: ping replies keep coming after the fault ($after)" test "$after" -ge 20
	# Let every daemon settle before the next ring: a restart within 5 s
	# of a start doubles the back-off, which this test is not about.
	sleep 1
done

wait_for 5 _moat_status_up	# moat.Stats is natd's to answer
breaks=$(moat_stat 's["daemons"]["natd"]["ring_breaks"], s["daemons"]["netbackd"]["ring_breaks"], s["daemons"]["policyd"]["ring_breaks"]')
is "$breaks" "(2, 1, 1)" "moat.Stats counts the rings each daemon broke (natd, netbackd, policyd)"
# New flows need verdicts: the flow rings work again after both resets.
wait_ready 1 2 && ok "new flows get verdicts again (both clients resolve through $DNS1_VIRT)"
