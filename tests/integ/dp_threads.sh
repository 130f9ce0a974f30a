#!/bin/bash
# netbackd's transmit thread (devnet): every thread of netbackd is as
# sandboxed as its main thread (same filter, no privileges, same empty
# root and mount namespace), and restarting natd mid-transfer, which
# parks that thread while the buffers natd held are taken back, loses
# nothing.
. "$(dirname "$0")/lib.sh"
kernel_mode && { skip "netbackd's threads" "moat only"; exit 0; }
topo_up --tx-thread

daemon_pid() { moatctl status 2>/dev/null | awk -v d="$1" '$1 == d && $3 == "ready" { print $2 }'; }
f() { awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }' "$2"; }

pid=$(daemon_pid netbackd)
tasks=$(ls "/proc/$pid/task" 2>/dev/null | sort -n)
check "netbackd (devnet) runs a transmit thread beside its main thread ($(echo $tasks | wc -w) threads)" \
	test "$(echo $tasks | wc -w)" -ge 2
main_root=$(stat -L -c %d:%i "/proc/$pid/root/" 2>/dev/null)
main_mnt=$(readlink "/proc/$pid/ns/mnt")
for t in $tasks; do
	st=/proc/$pid/task/$t/status
	bad=
	[[ $(f Seccomp "$st") == 2 ]] || bad+=" seccomp=$(f Seccomp "$st")"
	[[ $(f NoNewPrivs "$st") == 1 ]] || bad+=" nnp=$(f NoNewPrivs "$st")"
	for id in Uid Gid; do
		# real, effective, saved and filesystem ids: none is root
		[[ " $(f $id "$st") " != *" 0 "* ]] || bad+=" $id=$(f $id "$st")"
	done
	for c in CapEff CapPrm CapBnd CapAmb; do
		[[ $(f $c "$st") == 0000000000000000 ]] || bad+=" $c=$(f $c "$st")"
	done
	r=$(stat -L -c %d:%i "/proc/$pid/task/$t/root/" 2>/dev/null)
	[[ $(readlink "/proc/$pid/task/$t/root") != / && $r == "$main_root" ]] ||
		bad+=" root=$(readlink "/proc/$pid/task/$t/root")($r, main $main_root)"
	[[ $(readlink "/proc/$pid/task/$t/ns/mnt") == "$main_mnt" ]] ||
		bad+=" mnt=$(readlink "/proc/$pid/task/$t/ns/mnt") (main $main_mnt)"
	if [[ -z $bad ]]; then
		ok "netbackd thread $t: seccomp filter, no_new_privs, no root id, no capabilities, the main thread's chroot and mount namespace"
	else
		not_ok "netbackd thread $t is sandboxed like the main thread:$bad"
	fi
done

# Each start of netbackd starts its thread inside the sandbox: restarts,
# none killed by the filter (a thread started before the uid change was
# still leaving libc's signal handler for it when the filter came: SIGSYS
# on rt_sigreturn, under load). Spaced out: a daemon that dies young is
# restarted with a growing delay.
for i in $(seq 6); do
	old=$(daemon_pid netbackd)
	kill -9 "$old"
	back() { p=$(daemon_pid netbackd); [[ -n $p && $p != "$old" ]]; }
	wait_for 10 back || break
done
check "netbackd killed six times is back" back
check "no start of netbackd was killed by its sandbox (SIGSYS)" \
	eval '! grep -h "netbackd .* killed by signal 31" "$RUN"/moat.out "$RUN"/log/* 2>/dev/null | grep -q .'
both_ready() { [[ -n $(daemon_pid netbackd) && -n $(daemon_pid natd) ]]; }
wait_for 10 both_ready
sleep 5.5	# natd died with each netbackd: past moat's 5 s, its restart delay is reset
pid=$(daemon_pid netbackd)

# natd restarted three times under a download: each time netbackd parks
# its transmit thread, takes back natd's buffers and lets it go again.
want=$(sha256sum <"$RUN/www/1m.bin" | cut -d' ' -f1)
ip netns exec "$NS_C2" curl -s --limit-rate 256k --max-time 60 -o "$RUN/got.bin" \
	"http://$WWW_IP/1m.bin" &
curl_pid=$!
sleep 0.7
for i in 1 2 3; do
	old=$(daemon_pid natd)
	kill -9 "$old"
	back() { p=$(daemon_pid natd); [[ -n $p && $p != "$old" ]]; }
	wait_for 2 back || not_ok "natd is back after kill $i"
	sleep 0.7
done
if wait "$curl_pid"; then ok "the download under three natd restarts completed"; else not_ok "the download under three natd restarts completed (curl failed)"; fi
is "$(sha256sum <"$RUN/got.bin" 2>/dev/null | cut -d' ' -f1)" "$want" "and arrived intact"
is "$(daemon_pid netbackd)" "$pid" "netbackd itself was not restarted"
n=$(grep -c "natd restarted: .* buffers it held are back" "$RUN"/log/* 2>/dev/null | awk -F: '{ s += $NF } END { print s + 0 }')
check "netbackd took back natd's buffers at each restart ($n log lines)" test "$n" -ge 3
# and the transmit thread still moves bulk traffic
is "$(ip netns exec "$NS_C2" curl -s --max-time 20 "http://$WWW_IP/1m.bin" | sha256sum | cut -d' ' -f1)" "$want" \
	"a download at full speed afterwards arrives intact"
