#!/bin/bash
# moat.Debug+on makes moat log each new flow; moat.Debug+off stops it.
. "$(dirname "$0")/lib.sh"
topo_up
if kernel_mode; then skip "moat.Debug" "kernel baseline has no moat control service"; exit 0; fi

all_logs() { local d; for d in natd policyd netbackd agentd moat; do moat_call "moat.Logs+$d" </dev/null; done; }
check "moat.Debug+on exits 0" moat_call moat.Debug+on </dev/null
pkt "$NS_C2" udp "$WWW_IP" 47123 debug-on --timeout 0.3 >/dev/null
sleep 0.5
check "with debug on, the new flow to port 47123 shows in the logs" grep -q 47123 <<<"$(all_logs)"
check "moat.Debug+off exits 0" moat_call moat.Debug+off </dev/null
pkt "$NS_C2" udp "$WWW_IP" 47124 debug-off --timeout 0.3 >/dev/null
sleep 0.5
check_not "with debug off, the new flow to port 47124 does not show in the logs" grep -q 47124 <<<"$(all_logs)"
check_not "moat.Debug+maybe fails" moat_call moat.Debug+maybe </dev/null
