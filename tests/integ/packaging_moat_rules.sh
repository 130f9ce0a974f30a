#!/bin/bash
# moat-rules (dom0 helper) makes exactly the qrexec calls it documents,
# through a fake qvm-run: arguments, stdin and stdout pass through untouched,
# the service's exit status comes back, and bad input never reaches qrexec.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
mr=$src/packaging/dom0/moat-rules
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Fake qvm-run: records its arguments (one per line) and stdin, writes
# $FAKE_OUT to stdout and exits with $FAKE_RC.
cat >"$tmp/qvm-run" <<'FAKE'
#!/bin/bash
printf '%s\n' "$@" >"$FAKE_DIR/args"
printf '%s\n' "${@: -1}" >>"$FAKE_DIR/calls"
cat >"$FAKE_DIR/stdin"
[[ -n ${FAKE_OUT:-} ]] && cat "$FAKE_OUT"
# FAKE_SEQ: answer N of a series (DIR/1, DIR/2, ...), one per call
if [[ -n ${FAKE_SEQ:-} ]]; then
	n=$(( $(cat "$FAKE_SEQ/n" 2>/dev/null || echo 0) + 1 ))
	echo "$n" >"$FAKE_SEQ/n"
	cat "$FAKE_SEQ/$n"
fi
exit "${FAKE_RC:-0}"
FAKE
# Fake qvm-prefs (QUBE ip) and qvm-ls (NAME|IP lines) for flows and top.
cat >"$tmp/qvm-prefs" <<'FAKE'
#!/bin/bash
[[ $1 == -- ]] && shift
case "$1:$2" in
work:ip) echo 10.137.0.10 ;;
nonet:ip) echo ;;
*) echo "no such domain: $1" >&2; exit 1 ;;
esac
FAKE
cat >"$tmp/qvm-ls" <<'FAKE'
#!/bin/bash
[[ "$*" == "--raw-data --fields NAME,IP" ]] || exit 2
printf 'dom0|-\nsys-net|10.137.0.1\nwork|10.137.0.10\n'
FAKE
chmod +x "$tmp/qvm-run" "$tmp/qvm-prefs" "$tmp/qvm-ls"
export FAKE_DIR=$tmp MOAT_QVM_RUN=$tmp/qvm-run MOAT_STORE_DIR=$tmp/store
export MOAT_QVM_PREFS=$tmp/qvm-prefs MOAT_QVM_LS=$tmp/qvm-ls
run() { rm -f "$tmp/args" "$tmp/stdin"; "$mr" "$@"; }
args() { [[ -f $tmp/args ]] && tr '\n' ' ' <"$tmp/args" | sed 's/ $//'; }
pre="--pass-io --no-gui --no-autostart --service -- sys-moat"

printf '{"rules": [{"action": "accept", "proto": "tcp", "dstports": "443"}]}\n' >"$tmp/rules.json"
run sys-moat set "$tmp/rules.json"; rc=$?
eq "set: exit 0" "$rc" 0
eq "set: calls moat.SetRules" "$(args)" "$pre moat.SetRules"
if cmp -s "$tmp/rules.json" "$tmp/stdin"; then ok "set: the file is the service's stdin"; else nok "set: the file is the service's stdin"; fi

printf '{"rules": []}\n' >"$tmp/out"
out=$(FAKE_OUT=$tmp/out run sys-moat get)
eq "get: calls moat.GetRules" "$(args)" "$pre moat.GetRules"
eq "get: prints the service's output" "$out" '{"rules": []}'
eq "get: sends no stdin" "$(wc -c <"$tmp/stdin")" 0

for d in moat netbackd natd policyd agentd; do
	run sys-moat logs "$d" >/dev/null
	eq "logs $d: calls moat.Logs+$d" "$(args)" "$pre moat.Logs+$d"
done
run sys-moat stats >/dev/null
eq "stats: calls moat.Stats" "$(args)" "$pre moat.Stats"
for v in on off; do
	run sys-moat debug $v >/dev/null
	eq "debug $v: calls moat.Debug+$v" "$(args)" "$pre moat.Debug+$v"
done
for h in help -h --help; do
	rm -f "$tmp/args"
	out=$("$mr" $h 2>/dev/null); rc=$?
	if [[ $rc -eq 0 && ! -f $tmp/args && $out == usage:* ]]; then ok "$h: usage on stdout, exit 0, no call"; else nok "$h: usage on stdout, exit 0, no call (rc $rc)"; fi
done
# Every command the usage lists is a command moat-rules takes, and is in
# its manual page.
cmds=$("$mr" help | sed -n 's/^\(usage:\)\{0,1\} *moat-rules VM \([a-z]*\).*/\2/p' | sort -u | tr '\n' ' ')
eq "help lists every command" "$cmds" "clear debug flows get logs rejects set stats top "
for c in $cmds help; do
	if grep -q "^\.Cm $c\b" "$src/man/moat-rules.8"; then ok "moat-rules(8) documents $c"; else nok "moat-rules(8) documents $c"; fi
done

# Binary pcap data must come through byte for byte (NULs included).
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\xff\x00\n\x00' >"$tmp/pcap"
FAKE_OUT=$tmp/pcap run sys-moat rejects >"$tmp/got.pcap"
eq "rejects: calls moat.DumpRejects" "$(args)" "$pre moat.DumpRejects"
if cmp -s "$tmp/pcap" "$tmp/got.pcap"; then ok "rejects: pcap bytes unchanged"; else nok "rejects: pcap bytes unchanged"; fi
rm -f "$tmp/args"
script -qec "$mr sys-moat rejects" /dev/null >"$tmp/tty.out" 2>&1; rc=$?
if [[ $rc -eq 2 && ! -f $tmp/args ]] && grep -q 'redirect' "$tmp/tty.out"; then
	ok "rejects: refuses to write pcap to a terminal"
else
	nok "rejects: refuses to write pcap to a terminal (rc $rc)"
fi

FAKE_RC=3 run sys-moat set "$tmp/rules.json" 2>/dev/null; rc=$?
eq "the service's exit status is moat-rules' exit status" "$rc" 3
FAKE_RC=1 run sys-moat stats >/dev/null 2>&1; rc=$?
eq "a failed call (qube not running) fails" "$rc" 1

# Stored rules (issue 14): what the qube accepted is kept for its next start,
# 0600 in a 0700 directory, answered by the dom0 service script; a refused
# document is never kept; an empty set and "clear" remove it.
svc=$src/packaging/dom0/moat.StoredRules
stored() { QREXEC_REMOTE_DOMAIN=${1:-sys-moat} "$svc"; }
rm -rf "$tmp/store"
run sys-moat set "$tmp/rules.json"
if cmp -s "$tmp/rules.json" "$tmp/store/sys-moat.json"; then ok "set: the accepted document is stored for the qube"; else nok "set: the accepted document is stored for the qube"; fi
eq "stored file is 0600" "$(stat -c %a "$tmp/store/sys-moat.json")" 600
eq "store directory is 0700" "$(stat -c %a "$tmp/store")" 700
eq "no temporary file left behind" "$(ls -A "$tmp/store" | tr '\n' ' ')" "sys-moat.json "
if cmp -s "$tmp/rules.json" <(stored); then ok "moat.StoredRules prints it to that qube"; else nok "moat.StoredRules prints it to that qube"; fi
out=$(stored sys-other); rc=$?
eq "moat.StoredRules: another qube gets nothing (exit 0)" "$rc:$out" "0:"
out=$(stored '../etc/x' 2>/dev/null); rc=$?
eq "moat.StoredRules: a caller name that is a path is refused" "$rc:$out" "1:"
printf '{"version": 1, "rules": [{"from": "*", "action": "bogus"}]}\n' >"$tmp/refused.json"
FAKE_RC=1 run sys-moat set "$tmp/refused.json" 2>/dev/null; rc=$?
eq "set refused by the qube: its exit status" "$rc" 1
if cmp -s "$tmp/rules.json" "$tmp/store/sys-moat.json"; then ok "a refused document is not stored (the old one stays)"; else nok "a refused document is not stored (the old one stays)"; fi
printf '{"version": 1, "rules": []}\n' >"$tmp/empty.json"
run sys-moat set "$tmp/empty.json"
if [[ ! -e $tmp/store/sys-moat.json ]]; then ok "set of an empty rule set removes the stored one"; else nok "set of an empty rule set removes the stored one"; fi
eq "moat.StoredRules prints nothing then" "$(stored | wc -c)" 0
run sys-moat set "$tmp/rules.json"
run sys-moat clear; rc=$?
eq "clear: exit 0" "$rc" 0
eq "clear: calls moat.SetRules" "$(args)" "$pre moat.SetRules"
eq "clear: sends an empty rule set" "$(tr -d ' \n' <"$tmp/stdin")" '{"version":1,"rules":[]}'
if [[ ! -e $tmp/store/sys-moat.json ]]; then ok "clear removes the stored rules"; else nok "clear removes the stored rules"; fi
run sys-moat set "$tmp/rules.json"
FAKE_RC=1 run sys-moat clear 2>/dev/null
if [[ -e $tmp/store/sys-moat.json ]]; then ok "a clear the qube did not take keeps them stored"; else nok "a clear the qube did not take keeps them stored"; fi
for w in forward '"toport"'; do
	if "$mr" help | grep -q -- "$w"; then ok "help shows a forward example ($w)"; else nok "help shows a forward example ($w)"; fi
done

# flows (issue 17): moat.Flows, all or one client's (a qube name becomes
# its address), rendered as a table naming clients by qube, or the JSON as
# it came; top: the flows sorted by bytes per second between two samples.
flow() {	# client remote rport bytes_in bytes_out rule
	printf '{"client": "%s", "link": "vif", "family": 4, "proto": "tcp", "kind": "nat", "src": "%s", "sport": 40000, "remote": "%s", "rport": %s, "nat_port": 40001, "state": "established", "age": 75, "idle": 0, "bytes_out": %s, "bytes_in": %s, "packets_out": 1, "packets_in": 1, "rule": "%s"}' \
		"$1" "$1" "$2" "$3" "$5" "$4" "$6"
}
printf '{"flows": [%s,\n%s], "shown": 2, "total": 2, "truncated": false}\n' \
	"$(flow 10.137.0.10 192.0.2.80 443 5678901 1234 qubes:1)" \
	"$(flow 10.137.0.11 192.0.2.81 80 10 20 json:2)" >"$tmp/flows.json"
out=$(FAKE_OUT=$tmp/flows.json run sys-moat flows); rc=$?
eq "flows: calls moat.Flows" "$(args)" "$pre moat.Flows"
eq "flows: exit 0" "$rc" 0
line=$(grep '192.0.2.80' <<<"$out" | tr -s ' ')
eq "flows: a row names the client by qube, remote:port, state, age, bytes each way, rule" \
	"$line" "work tcp 192.0.2.80:443 40001 established 1m15s 5.4M 1.2K qubes:1"
line=$(grep '192.0.2.81' <<<"$out" | tr -s ' ')
eq "flows: a client qvm-ls does not name shows as its address" "${line%% *}" 10.137.0.11
eq "flows: a header names the columns" "$(head -1 <<<"$out" | tr -s ' ')" "CLIENT PROTO REMOTE NAT STATE AGE IN OUT RULE"
eq "flows: the last line counts the flows" "$(tail -1 <<<"$out")" "2 flows"
out=$(FAKE_OUT=$tmp/flows.json run sys-moat flows --json)
if cmp -s "$tmp/flows.json" <(printf '%s\n' "$out"); then ok "flows --json: the service's JSON unchanged"; else nok "flows --json: the service's JSON unchanged"; fi
FAKE_OUT=$tmp/flows.json run sys-moat flows work >/dev/null
eq "flows QUBE: the qube's address is the filter" "$(args)" "$pre moat.Flows+10.137.0.10"
FAKE_OUT=$tmp/flows.json run sys-moat flows --json 10.137.0.11 >/dev/null
eq "flows ADDRESS: passed as it is" "$(args)" "$pre moat.Flows+10.137.0.11"
FAKE_OUT=$tmp/flows.json run sys-moat flows vif12.0 >/dev/null
eq "flows LINK: passed as it is" "$(args)" "$pre moat.Flows+vif12.0"
sed 's/"truncated": false/"truncated": true/; s/"total": 2/"total": 9000/' "$tmp/flows.json" >"$tmp/cut.json"
out=$(FAKE_OUT=$tmp/cut.json run sys-moat flows)
eq "flows: a cut list says so" "$(tail -1 <<<"$out")" "2 of 9000 flows shown (the qube cut the list)"
printf 'not json' >"$tmp/bad.out"
FAKE_OUT=$tmp/bad.out run sys-moat flows >/dev/null 2>"$tmp/err"; rc=$?
if [[ $rc -ne 0 ]] && grep -q 'no flow list' "$tmp/err"; then ok "flows: an answer that is not a flow list is an error"; else nok "flows: an answer that is not a flow list is an error (rc $rc)"; fi
# The qube is not trusted: its strings reach dom0's terminal printable only,
# and fields of the wrong type do not stop the table.
printf '{"flows": [{"client": "\\u001b]0;pwned\\u0007x", "proto": 6, "remote": ["a"], "rport": "80", "age": "x", "bytes_in": -5, "bytes_out": 1.5, "state": "\\u009b2J", "rule": null}], "total": "many"}\n' >"$tmp/hostile.json"
out=$(FAKE_OUT=$tmp/hostile.json run sys-moat flows); rc=$?
if [[ $rc -eq 0 ]] && ! LC_ALL=C grep -q '[^[:print:]]' <<<"$out" && grep -q '?]0;pwned?x' <<<"$out"; then
	ok "flows: a hostile answer prints, control characters replaced"
else
	nok "flows: a hostile answer prints, control characters replaced (rc $rc)"; diag "$(cat -v <<<"$out")"
fi
FAKE_RC=75 run sys-moat flows >/dev/null 2>&1; rc=$?
eq "flows: the service's failure is moat-rules' exit status" "$rc" 75
# top: three samples a second apart; 192.0.2.81 moves 300000 bytes a
# second in, 192.0.2.80 only 1000: the busier one comes first (its rate,
# 293K a second, reads lower by the time each call takes).
mkdir -p "$tmp/seq"
for k in 1 2 3; do
	printf '{"flows": [%s,\n%s], "shown": 2, "total": 2, "truncated": false}\n' \
		"$(flow 10.137.0.10 192.0.2.80 443 $((5000000 + k * 1000)) 1234 qubes:1)" \
		"$(flow 10.137.0.11 192.0.2.81 80 $((k * 300000)) 20 json:2)" >"$tmp/seq/$k"
done
rm -f "$tmp/calls" "$tmp/seq/n"
out=$(FAKE_SEQ=$tmp/seq timeout 20 "$mr" sys-moat top -n 2 work); rc=$?
eq "top -n 2: exit 0" "$rc" 0
eq "top: one moat.Flows+CLIENT call per second, plus the first sample" "$(sort -u "$tmp/calls"):$(wc -l <"$tmp/calls")" "moat.Flows+10.137.0.10:3"
eq "top: two screens" "$(grep -c '^CLIENT' <<<"$out")" 2
first=$(grep -A1 '^CLIENT' <<<"$out" | sed -n 2p | tr -s ' ')
case $first in
"10.137.0.11 tcp 192.0.2.81:80 40001 established 1m15s "[12][0-9][0-9].[0-9]K" 0 "*" json:2") ok "top: sorted by bytes per second, the rate from two samples ($first)" ;;
*) nok "top: sorted by bytes per second, the rate from two samples (got: $first)" ;;
esac

refused() {	# what, args...
	local what=$1; shift
	rm -f "$tmp/args"
	"$mr" "$@" >/dev/null 2>&1 </dev/null; local rc=$?
	if [[ $rc -eq 2 && ! -f $tmp/args ]]; then ok "refused without calling qvm-run: $what"; else nok "refused without calling qvm-run: $what (rc $rc)"; fi
}
printf '{"rules": [' >"$tmp/broken.json"
refused "invalid JSON" sys-moat set "$tmp/broken.json"
refused "a missing rules file" sys-moat set "$tmp/nope.json"
refused "an unknown daemon" sys-moat logs sshd
refused "debug without on or off" sys-moat debug
refused "debug with another word" sys-moat debug maybe
refused "a daemon name with a +" sys-moat logs "natd+x"
refused "a qube name that is an option" -x get
refused "a qube name with shell characters" 'a;b' get
refused "an unknown command" sys-moat reboot
refused "extra arguments" sys-moat get extra
refused "no arguments"
refused "flows with a bad qube name" sys-moat flows 'a;b'
refused "flows of a qube qvm-prefs does not know" sys-moat flows nosuch
refused "flows of a qube without an address" sys-moat flows nonet
refused "top --json" sys-moat top --json
refused "flows -n" sys-moat flows -n 3
refused "top -n 0" sys-moat top -n 0
refused "flows with two clients" sys-moat flows work sys-net
done_testing
