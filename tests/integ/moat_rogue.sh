#!/bin/bash
# A daemon that breaks the control protocol (unknown type, wrong size, a type only the supervisor
# may send, an unexpected fd) is killed and restarted; the other daemons are untouched.
set -u
. "$(dirname "$0")/lib.sh"	# TAP helpers only: no topology here
B=${MOAT_BUILDDIR:?}
dir=$(mktemp -d)
trap 'for p in $(daemons_of "$B") $(daemons_of "$dir"); do kill -9 $p; done 2>/dev/null; rm -rf "$dir"' EXIT
for d in netbackd policyd agentd; do ln -s "$B/$d/$d" "$dir/$d"; done
cp "$B/tests/unit/rogue_daemon" "$dir/natd"

for mode in unknown size forbidden fd; do
	ctl=$dir/ctl-$mode
	MOAT_LIBEXEC=$dir MOAT_ROGUE=$mode "$B/moat/moat" --backend none --control "$ctl" >"$dir/log-$mode" 2>&1 &
	mpid=$!
	killed() { grep -q "natd broke the control protocol" "$dir/log-$mode"; }
	wait_for 5 killed
	check "rogue natd ($mode): the supervisor logs the violation and kills it" killed
	grep -m1 "broke the control protocol" "$dir/log-$mode" | sed 's/^/# /'
	restarted() { [[ $(grep -c "natd ready" "$dir/log-$mode") -ge 2 ]]; }
	wait_for 5 restarted
	check "rogue natd ($mode): it is restarted" restarted
	pol_ok() { "$B/moat/moatctl" --control "$ctl" status | awk '$1 == "policyd" && $3 == "ready" && $4 == 0' | grep -q .; }
	check "rogue natd ($mode): policyd is untouched" pol_ok
	kill -TERM "$mpid"; wait "$mpid"
done

# A flood of routed messages with garbage content reaches policyd, which must
# refuse them without dying (DNS answers nobody asked for).
ctl=$dir/ctl-flood
MOAT_LIBEXEC=$dir MOAT_ROGUE=flood "$B/moat/moat" --backend none --control "$ctl" >"$dir/log-flood" 2>&1 &
mpid=$!
sleep 2
pol_ok() { "$B/moat/moatctl" --control "$ctl" status | awk '$1 == "policyd" && $3 == "ready" && $4 == 0' | grep -q .; }
check "a flood of garbage DNS answers from natd does not kill policyd" pol_ok
pol_ok || { "$B/moat/moatctl" --control "$ctl" status; tail -5 "$dir/log-flood"; } | sed 's/^/# /'
kill -TERM "$mpid"; wait "$mpid"
done_testing
