#!/bin/bash
# Frames with a forged source IP are dropped, never reach the uplink, and are counted in moat.Stats.
. "$(dirname "$0")/lib.sh"
topo_up

sp0=0
kernel_mode || sp0=$(moat_stat 'client(s, "'"$C2_IP"'")["drops"]["spoofed"]')
# The same raw path (scapy, gateway MAC) with c2's real address: proves the
# probe itself gets through, so the spoofed ones' absence means something.
check "c2: raw UDP frames with c2's own source are sent" pkt "$NS_C2" spoof eth0 "$FW_IP" "$C2_IP" "$WWW_IP" 9 3 LEGIT
check "c2: raw frames with source = c1's address ($C1_IP) are sent" pkt "$NS_C2" spoof eth0 "$FW_IP" "$C1_IP" "$WWW_IP" 9 5 SPOOFC1
check "c2: raw frames with source = an outside address are sent" pkt "$NS_C2" spoof eth0 "$FW_IP" 198.51.100.99 "$WWW_IP" 9 5 SPOOFOUT
check "c2: raw frames with source = the firewall's address are sent" pkt "$NS_C2" spoof eth0 "$FW_IP" "$FW_IP" "$WWW_IP" 9 5 SPOOFFW
sleep 0.5
check "the legitimate frames reached the uplink host" grep -q LEGIT-2 "$RUN/udp9.log"
check "they arrive translated to the firewall's address" bash -c "grep LEGIT '$RUN/udp9.log' | awk '{print \$1}' | sort -u | grep -qx '$FW_IP'"
check_not "no frame with c1's forged address reached the uplink" grep -q SPOOFC1 "$RUN/udp9.log"
check_not "no frame with an outside forged address reached the uplink" grep -q SPOOFOUT "$RUN/udp9.log"
check_not "no frame with the firewall's own address as source reached the uplink" grep -q SPOOFFW "$RUN/udp9.log"

# The uplink side must not be able to pose as a client either.
ip -n "$NS_UP" route add "$C1_IP/32" via "$FW_IP" dev eth0
client_services 1
check "uplink: raw frames with source = c2's address towards c1 are sent" \
	pkt "$NS_UP" spoof eth0 "$FW_IP" "$C2_IP" "$C1_IP" 9 3 UPSPOOF
sleep 0.5
check_not "c1 never receives frames from the uplink posing as c2" grep -q UPSPOOF "$RUN/c1-udp9.log"

if ! kernel_mode; then
	sp1=$(moat_stat 'client(s, "'"$C2_IP"'")["drops"]["spoofed"]')
	if [[ $sp1 =~ ^[0-9]+$ && $((sp1 - sp0)) -ge 15 ]]; then
		ok "moat.Stats counts the 15 spoofed frames on c2's port (spoofed $sp0 -> $sp1)"
	else
		not_ok "moat.Stats counts the 15 spoofed frames on c2's port (spoofed $sp0 -> $sp1)"
	fi
else
	skip "moat.Stats counts spoofed frames" "kernel baseline has no moat control service"
fi
