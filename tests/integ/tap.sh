# tap.sh: TAP helpers for integration scripts (sourced).
_tap_n=0
_tap_failed=0
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP $2"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# wait_for SECONDS COMMAND...: poll every 20 ms until the command succeeds
wait_for() {
	local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
	while (( $(date +%s%N) < end )); do
		"$@" && return 0
		sleep 0.02
	done
	"$@"
}
done_testing() { echo "1..$_tap_n"; [[ $_tap_failed -eq 0 ]]; }
# daemons_of BUILDDIR: pids of processes running a binary from that tree
daemons_of() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$1"/* ]] && echo "${p#/proc/}"
	done
}
