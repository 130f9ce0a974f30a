# tap.sh: the TAP helpers every shell test sources (lib.sh for the namespace
# scripts, the packaging and demo scripts directly). tests/run counts the
# "ok"/"not ok" lines; done_testing prints the plan and fails the script
# when anything failed. The counters have names no script uses for itself.
_tap_n=0 _tap_failed=0
ok()     { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
nok()    { not_ok "$@"; }
skip()   { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP $2"; }
diag()   { sed 's/^/# /' <<<"$*"; }
# check DESC CMD...: ok when CMD succeeds; its output goes to the TAP stream
# as comments when it fails (never as TAP lines of its own).
check() {
	local desc=$1 out rc; shift
	out=$("$@" 2>&1); rc=$?
	if [[ $rc -eq 0 ]]; then ok "$desc"; else not_ok "$desc"; [[ -n $out ]] && diag "$out"; fi
	return $rc
}
# check_not DESC CMD...: ok when CMD fails.
check_not() {
	local desc=$1 out rc; shift
	out=$("$@" 2>&1); rc=$?
	if [[ $rc -ne 0 ]]; then ok "$desc"; else not_ok "$desc"; [[ -n $out ]] && diag "$out"; fi
	[[ $rc -ne 0 ]]
}
# eq DESC GOT WANT; is GOT WANT DESC: ok when equal, else both shown (a
# diff when either spans lines).
eq() {
	if [[ $2 == "$3" ]]; then ok "$1"; return 0; fi
	not_ok "$1"
	if [[ $2 == *$'\n'* || $3 == *$'\n'* ]]; then
		diff <(echo "$3") <(echo "$2") | sed 's/^/# /'
	else
		diag "got '$2', want '$3'"
	fi
	return 1
}
is() { eq "$3" "$1" "$2"; }
bail() { echo "Bail out! $*"; _tap_failed=$((_tap_failed + 1)); exit 1; }
# done_testing: the plan, and the script's status.
done_testing() { echo "1..$_tap_n"; [[ $_tap_failed -eq 0 ]]; }
