#!/bin/bash
# A JSON rate limit holds a client's TCP near its rate, each way, while an unlimited client keeps its speed; lifting it restores speed; it survives natd and policyd restarts.
#
# iperf3 through moat: c1 ("work") limited to 50 Mbit/s, c2 ("vault") not,
# both in the same run, each direction. The window for the limited client
# is issue 17's, 45-52 Mbit/s of TCP payload received: the limit counts
# IP bytes (headers too), so at 50 Mbit/s the payload tops out near
# 48.3 Mbit/s (1448 of every 1500 bytes), and anything above 52 means the
# limiter let more through than it should. Runs are 6 s with the first
# second left out (-O 1: slow start and the initial burst are not the
# settled rate). The unlimited client only has to do 4x better: the
# machine is shared and its figure wobbles by tens of percent.
C1_POLICY=accept
C1_RULES=()
. "$(dirname "$0")/lib.sh"
if kernel_mode; then
	skip "rate limits" "the kernel baseline has no per-client limits"
	done_testing
	exit 0
fi
command -v iperf3 >/dev/null || { skip "rate limits" "iperf3 missing (bash scripts/deps)"; done_testing; exit 0; }
topo_up

in_up iperf3 -s -B "$WWW_IP" -p 5201 >"$RUN/iperf3-s1.log" 2>&1 &
disown
in_up iperf3 -s -B "$WWW_IP" -p 5202 >"$RUN/iperf3-s2.log" 2>&1 &
disown
sleep 0.5

# mbit NS PORT ARGS...: TCP payload received, Mbit/s (one decimal), or fail
mbit() {
	local ns=$1 port=$2 j
	shift 2
	j=$(ip netns exec "$ns" iperf3 -c "$WWW_IP" -p "$port" -t 6 -O 1 -J "$@" 2>&1)
	"$PY" -c '
import json, sys
try:
    d = json.loads(sys.argv[1]); print("%.1f" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    print("fail")' "$j"
}
# both ARGS...: c1 on 5201 and c2 on 5202 at the same time; sets M1, M2
both() {
	mbit "$NS_C1" 5201 "$@" >"$RUN/m1" &
	local p=$!
	M2=$(mbit "$NS_C2" 5202 "$@")
	wait "$p"
	M1=$(cat "$RUN/m1")
	echo "# c1 $M1 Mbit/s, c2 $M2 Mbit/s ($*)"
}
# within LO HI X: LO <= X <= HI
within() { "$PY" -c 'import sys; lo, hi, x = sys.argv[1:]; sys.exit(not (float(lo) <= float(x) <= float(hi)))' "$@" 2>/dev/null; }
# times K A B: B > K * A
times() { "$PY" -c 'import sys; k, a, b = sys.argv[1:]; sys.exit(not (float(b) > float(k) * float(a)))' "$@" 2>/dev/null; }
stat_c1() { moat_stat 'client(s, "'"$C1_IP"'")'"$1"; }

json_rules "$RUN/limit.json" <<EOF
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [{"from": "work", "rate": "50mbit", "comment": "work at 50 Mbit/s"}]}
EOF
check "SetRules takes a rate limit for work" fw_setrules "$RUN/limit.json"
moat_call moat.GetRules </dev/null >"$RUN/get.json"
check "GetRules prints the limit back" "$PY" -c "
import json; d = json.load(open('$RUN/get.json'))
assert d['rules'] == [{'from': 'work', 'rate': '50mbit', 'comment': 'work at 50 Mbit/s'}], d"
check "GetRules' output goes back into SetRules" fw_setrules "$RUN/get.json"
is "$(stat_c1 '["rate"]["up_bits_per_s"]')" 50000000 "moat.Stats: work's up limit is 50 Mbit/s"
is "$(moat_stat 'client(s, "'"$C2_IP"'")["rate"]["rule"]')" -1 "moat.Stats: vault has no limit"

both
check "up: limited c1 settles at 45-52 Mbit/s ($M1)" within 45 52 "$M1"
check "up: unlimited c2 in the same run goes > 4x faster ($M2 vs $M1)" times 4 "$M1" "$M2"
both -R
check "down: limited c1 settles at 45-52 Mbit/s ($M1)" within 45 52 "$M1"
check "down: unlimited c2 in the same run goes > 4x faster ($M2 vs $M1)" times 4 "$M1" "$M2"

up=$(stat_c1 '["rate"]["up_drops"]') down=$(stat_c1 '["rate"]["down_drops"]')
check "moat.Stats: work's rate drops counted both ways (up $up, down $down)" test "$up" -gt 0 -a "$down" -gt 0
is "$(stat_c1 '["drops"]["rate"]')" "$((up + down))" "moat.Stats: work's drops[\"rate\"] is their sum"
is "$(moat_stat 'client(s, "'"$C2_IP"'")["drops"]["rate"]')" 0 "moat.Stats: vault has no rate drops"
check "DNS through moat's resolvers is not limited away" \
	test "$(ip netns exec "$NS_C1" getent hosts www.example.test | awk '{print $1}')" = "$WWW_IP"

# A restarted natd gets the limits again before its first frame.
old=$(daemon_pid natd)
kill -9 "$old"
back() { p=$(daemon_pid natd); [[ -n $p && $p != "$old" ]]; }
wait_for 5 back
check "natd is back after a kill" back
M1=$(mbit "$NS_C1" 5201)
echo "# c1 $M1 Mbit/s after natd's restart"
check "after natd's restart the limit still holds ($M1, 30-52 Mbit/s)" within 30 52 "$M1"

# A restarted policyd gets the JSON rules back and sends the same limits.
old=$(daemon_pid policyd)
kill -9 "$old"
back() { p=$(daemon_pid policyd); [[ -n $p && $p != "$old" ]]; }
wait_for 5 back
check "policyd is back after a kill" back
# policyd answers only once started, and it sends its limits as it starts
moat_call moat.GetRules </dev/null >"$RUN/get2.json"
check "policyd has its JSON rules back" grep -q '"rate": "50mbit"' "$RUN/get2.json"
is "$(stat_c1 '["rate"]["down_bits_per_s"]')" 50000000 "after policyd's restart work is still limited (moat.Stats)"

json_rules "$RUN/none.json" <<EOF
{"version": 1, "rules": []}
EOF
check "SetRules without the limit" fw_setrules "$RUN/none.json"
is "$(stat_c1 '["rate"]["up_bits_per_s"]')" 0 "moat.Stats: work's limit is gone"
M1=$(mbit "$NS_C1" 5201)
echo "# c1 $M1 Mbit/s without the limit"
check "without the limit c1 goes > 4x faster than the limit ($M1 > 200)" times 4 50 "$M1"
M1=$(mbit "$NS_C1" 5201 -R)
echo "# c1 $M1 Mbit/s down without the limit"
check "and down too ($M1 > 200)" times 4 50 "$M1"
