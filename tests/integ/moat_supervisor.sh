#!/bin/bash
# The supervisor: four sandboxed daemons come up, a killed daemon is logged
# and back within a second, a forbidden system call is fatal, SIGTERM leaves
# no process behind.
set -u
. "$(dirname "$0")/lib.sh"	# TAP helpers only: no topology here
B=${MOAT_BUILDDIR:?}
dir=$(mktemp -d)
ctl=$dir/control
cleanup() {
	[[ -n ${mpid:-} ]] && kill -9 "$mpid" 2>/dev/null
	for p in $(daemons_of "$B"); do kill -9 "$p"; done
	rm -rf "$dir"
}
trap cleanup EXIT

"$B/moat/moat" --backend none --control "$ctl" >"$dir/log" 2>&1 &
mpid=$!

daemon_pid() { "$B/moat/moatctl" --control "$ctl" status 2>/dev/null | awk -v d="$1" '$1 == d && $3 == "ready" { print $2 }'; }
all_ready() { [[ $("$B/moat/moatctl" --control "$ctl" status 2>/dev/null | grep -c ' ready ') -eq 4 ]]; }

wait_for 5 all_ready
check "moat --backend none brings up four daemons" all_ready
"$B/moat/moatctl" --control "$ctl" status | sed 's/^/# /'

for d in netbackd natd policyd agentd; do
	pid=$(daemon_pid "$d")
	if [[ -z $pid ]]; then
		not_ok "$d is sandboxed (not running)"
		continue
	fi
	st=/proc/$pid/status
	seccomp=$(awk '/^Seccomp:/ {print $2}' "$st")
	nnp=$(awk '/^NoNewPrivs:/ {print $2}' "$st")
	uid=$(awk '/^Uid:/ {print $2}' "$st")
	capeff=$(awk '/^CapEff:/ {print $2}' "$st")
	capbnd=$(awk '/^CapBnd:/ {print $2}' "$st")
	root=$(readlink "/proc/$pid/root")
	if [[ $seccomp == 2 && $nnp == 1 && $uid != 0 && $capeff == 0000000000000000 &&
	      $capbnd == 0000000000000000 && $root != / ]]; then
		ok "$d is sandboxed (seccomp filter, no_new_privs, uid $uid, no capabilities, chrooted)"
	else
		not_ok "$d is sandboxed: seccomp=$seccomp nnp=$nnp uid=$uid capeff=$capeff capbnd=$capbnd root=$root"
	fi
done

for d in natd policyd agentd netbackd; do
	old=$(daemon_pid "$d")
	kill -9 "$old" 2>/dev/null
	start=$(date +%s%N)
	back() { p=$(daemon_pid "$d"); [[ -n $p && $p != "$old" ]]; }
	if wait_for 1 back; then
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		ok "kill -9 $d: back within a second ($ms ms)"
	else
		not_ok "kill -9 $d: not back within a second"
	fi
	if grep -q "$d (pid $old) killed by signal 9" "$dir/log"; then
		ok "kill -9 $d: the death is logged with its signal"
	else
		not_ok "kill -9 $d: no log line naming signal 9"
	fi
done

if grep -q 'test-hooks=yes' "$B/config.log" 2>/dev/null || grep -q 'define MOAT_TEST_HOOKS 1' "$B/config.h"; then
	# netbackd's death above restarted natd as well: let that settle first.
	sleep 0.5
	wait_for 5 all_ready
	# netbackd last: its death restarts natd too (the packet rings start empty),
	# and a natd pid read in that window would already be on its way out.
	for d in natd policyd agentd netbackd; do
		old=$(daemon_pid "$d")
		"$B/moat/moatctl" --control "$ctl" call "moat.TestSyscall+$d" </dev/null >/dev/null
		back() { p=$(daemon_pid "$d"); [[ -n $p && $p != "$old" ]]; }
		if wait_for 2 back && grep -q "$d (pid $old) killed by signal 31" "$dir/log"; then
			ok "a forbidden system call kills $d (SIGSYS) and it is restarted"
		else
			not_ok "a forbidden system call kills $d (SIGSYS) and it is restarted"
		fi
	done
	wait_for 5 all_ready	# moat.Stats is natd's to answer
	restarts=$("$B/moat/moatctl" --control "$ctl" call moat.Stats </dev/null |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["daemons"]["natd"]["restarts"])' 2>/dev/null)
	check "moat.Stats counts natd's restarts" test "${restarts:-0}" -ge 2
else
	skip "forbidden system calls" "built without --enable-test-hooks"
fi

kill -TERM "$mpid"
gone() { ! kill -0 "$mpid" 2>/dev/null; }
wait_for 5 gone
check "SIGTERM stops moat" gone
sleep 0.2
left=$(daemons_of "$B" | wc -l)
check "SIGTERM leaves no daemon behind ($left left)" test "$left" -eq 0
check "the control socket is removed" test ! -e "$ctl"
mpid=
done_testing
