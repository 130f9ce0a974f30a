#!/bin/bash
# moat.DumpRejects returns a pcap that tshark reads, holding the frames just rejected and dropped.
. "$(dirname "$0")/lib.sh"
topo_up
if kernel_mode; then skip "moat.DumpRejects pcap" "kernel baseline has no moat control service"; exit 0; fi

http_code "$NS_C1" "http://$BLOCKED_IP/" 2 >/dev/null		# Qubes drop -> reject
http_code "$NS_C1" "http://$WWW_IP:8080/" 2 >/dev/null		# policy drop -> reject
pkt "$NS_C2" spoof eth0 "$FW_IP" 198.51.100.99 "$WWW_IP" 9 2 PCAPSPOOF >/dev/null
sleep 0.3
moat_call moat.DumpRejects </dev/null >"$RUN/rejects.pcap"; rc=$?
is "$rc" 0 "moat.DumpRejects exits 0"
check "the dump is a pcap file (magic number)" \
	bash -c "od -An -tx1 -N4 '$RUN/rejects.pcap' | tr -d ' ' | grep -Eq '^(d4c3b2a1|a1b2c3d4|4d3cb2a1|a1b23c4d|0a0d0d0a)$'"
check "tshark reads it without error" tshark -r "$RUN/rejects.pcap" -c 1000
fields=$(tshark -r "$RUN/rejects.pcap" -T fields -e ip.src -e ip.dst -e tcp.dstport -e udp.dstport 2>/dev/null)
diag "$(head -20 <<<"$fields")"
check "it holds c1's rejected SYN to $BLOCKED_IP:80" grep -Pq "^$C1_IP\t$BLOCKED_IP\t80\t" <<<"$fields"
check "it holds c1's rejected SYN to $WWW_IP:8080" grep -Pq "^$C1_IP\t$WWW_IP\t8080\t" <<<"$fields"
check "it holds c2's spoofed frames (source 198.51.100.99)" grep -Pq "^198\.51\.100\.99\t$WWW_IP\t\t9$" <<<"$fields"
check_not "it holds no allowed traffic (c1's DNS to the real resolver)" grep -Pq "\t$DNS1_REAL\t" <<<"$fields"
n=$(tshark -r "$RUN/rejects.pcap" 2>/dev/null | wc -l)
check "at most 256 frames in the dump (got $n)" test "$n" -le 256 -a "$n" -ge 3

# The dump keeps the last 256: after 300 more denied datagrams the oldest of
# them is gone and the newest is there.
pkt "$NS_C1" spray "$WWW_IP" 30000 300 --pps 2000 >/dev/null
sleep 0.5
moat_call moat.DumpRejects </dev/null >"$RUN/rejects2.pcap"
ports=$(tshark -r "$RUN/rejects2.pcap" -T fields -e udp.dstport 2>/dev/null)
n=$(tshark -r "$RUN/rejects2.pcap" 2>/dev/null | wc -l)
is "$n" 256 "after 300 more rejects the dump holds exactly 256 frames"
check "it holds the newest (port 30299)" grep -qx 30299 <<<"$ports"
check_not "it no longer holds the oldest (port 30000)" grep -qx 30000 <<<"$ports"
