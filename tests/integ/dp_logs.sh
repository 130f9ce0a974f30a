#!/bin/bash
# moat.Logs+DAEMON returns the recent log lines of each daemon; an unknown daemon is an error.
. "$(dirname "$0")/lib.sh"
topo_up
if kernel_mode; then skip "moat.Logs" "kernel baseline has no moat control service"; exit 0; fi

for d in natd policyd netbackd agentd moat; do
	out=$(moat_call "moat.Logs+$d" </dev/null); rc=$?
	n=$(grep -c . <<<"$out")
	if [[ $rc -eq 0 && $n -ge 1 ]]; then ok "moat.Logs+$d: exit 0, $n lines"
	else not_ok "moat.Logs+$d: exit 0 and at least one line (exit $rc, $n lines)"; diag "$out"; fi
done
out=$(moat_call moat.Logs+natd </dev/null)
check_not "moat.Logs+natd holds only natd's lines (no policyd/agentd tags)" grep -Eq '(^|[^a-z])(policyd|agentd)\[' <<<"$out"
check_not "moat.Logs+nosuchd fails" moat_call moat.Logs+nosuchd </dev/null
check_not "moat.Logs+../../etc/passwd fails" moat_call "moat.Logs+../../etc/passwd" </dev/null
check "the log directory holds natd's log" bash -c "ls '$RUN/log' | grep -q natd"
