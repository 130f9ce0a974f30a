#!/bin/bash
# A Qubes dsthost that the C library reads as an IPv4 address blocks exactly that address (as on sys-firewall), with no DNS lookup; an accept-all after it passes everything else.
. "$(dirname "$0")/lib.sh"

# What glibc's inet_aton (sys-firewall's getaddrinfo) makes of a name.
aton() { "$PY" -c 'import socket, sys; print(socket.inet_ntoa(socket.inet_aton(sys.argv[1])))' "$1"; }
dec() { "$PY" -c 'import ipaddress, sys; print(int(ipaddress.IPv4Address(sys.argv[1])))' "$1"; }

HEX_BLOCKED=0xc6.51.100.20			# BLOCKED_IP, first part in hex
DEC_WWW2=$(dec "$WWW2_IP")			# WWW2_IP as one 32-bit number
DECOY=198.051.100.010				# reads as WWW_IP in decimal; octal parts make it 198.41.100.8

# c1: accept-all after the drops; each drop must stop exactly its address.
C1_POLICY=drop
C1_RULES=(
	"action=accept specialtarget=dns"
	"action=drop dsthost=$HEX_BLOCKED"
	"action=drop dsthost=$DEC_WWW2 proto=tcp dstports=8080-8080"
	"action=drop dsthost=$DECOY"
	"action=accept"
)
topo_up

is "$(aton "$HEX_BLOCKED")" "$BLOCKED_IP" "the C library reads dsthost=$HEX_BLOCKED as $BLOCKED_IP"
is "$(aton "$DEC_WWW2")" "$WWW2_IP" "the C library reads dsthost=$DEC_WWW2 as $WWW2_IP"
is "$(aton "$DECOY")" 198.41.100.8 "the C library reads dsthost=$DECOY as 198.41.100.8, not $WWW_IP"

check "c1: HTTP to $BLOCKED_IP (drop dsthost=$HEX_BLOCKED) is rejected at once" fails_fast "$NS_C1" "http://$BLOCKED_IP/" 1000
check_not "c1: UDP to $BLOCKED_IP:7 gets nothing back" pkt "$NS_C1" udp "$BLOCKED_IP" 7 hello --timeout 1
is "$(http_code "$NS_C1" "http://$WWW2_IP/")" 200 "c1: HTTP to $WWW2_IP:80 works (the drop dsthost=$DEC_WWW2 is for port 8080)"
check "c1: HTTP to $WWW2_IP:8080 (drop dsthost=$DEC_WWW2 tcp 8080) is rejected at once" fails_fast "$NS_C1" "http://$WWW2_IP:8080/" 1000
is "$(http_code "$NS_C1" "http://$WWW_IP/")" 200 "c1: HTTP to $WWW_IP works (dsthost=$DECOY is another address)"
is "$(http_code "$NS_C1" "http://$WWW_IP:8080/")" 200 "c1: HTTP to $WWW_IP:8080 works (accept-all)"
check "c1: UDP echo on $WWW_IP:7 works (accept-all)" pkt "$NS_C1" udp "$WWW_IP" 7 hello

if kernel_mode; then
	skip "moat's log names the address of each number-like dsthost" "kernel baseline"
	skip "no DNS query for a number-like dsthost" "kernel baseline"
	exit 0
fi
logs=$(cat "$RUN"/log/* "$RUN"/moat.out 2>/dev/null)
check "moat's log: dsthost=$HEX_BLOCKED is the IPv4 address $BLOCKED_IP" \
	grep -q "rule 0001: dsthost=$HEX_BLOCKED is the IPv4 address $BLOCKED_IP" <<<"$logs"
check "moat's log: dsthost=$DECOY is the IPv4 address 198.41.100.8" \
	grep -q "rule 0003: dsthost=$DECOY is the IPv4 address 198.41.100.8" <<<"$logs"
check_not "no DNS query for the number-like names reached the resolver" \
	grep -E "query.*($HEX_BLOCKED|$DEC_WWW2|$DECOY)" "$RUN/dnsmasq.log"

