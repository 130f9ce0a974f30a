#!/bin/bash
# Issue 12, holes 1-4 with real clients: an ICMP error leaves only towards the host it quotes, with a checksum that was good on arrival; source-routed packets never cross; a client flooding fragments breaks nobody else's; reply fragments of a client-to-client flow arrive.
. "$(dirname "$0")/lib.sh"
topo_up

# Sniffers on the uplink host's and both clients' links: whatever crosses
# moat with one of these tags in it is printed, with its ICMP checksum.
TAGS=(EXFILTAG PMTUTAG BADSUMTAG UPGOODTAG UPBADTAG UPNOFLOWTAG SRLTAG SRSTAG RROUTTAG SRINTAG RRINTAG)
for h in up c1 c2; do
	ns=NS_${h^^}
	ip netns exec "${!ns}" "$PY" "$INTEG_DIR/pkt.py" sniff eth0 "$RUN/sniff.$h.ready" "$RUN/sniff.stop" "${TAGS[@]}" \
		>"$RUN/sniff.$h" 2>"$RUN/sniff.$h.err" &
	eval "SNIFF_${h}=$!"
done
for h in up c1 c2; do wait_for 10 test -e "$RUN/sniff.$h.ready" || bail "sniffer on $h did not start: $(cat "$RUN/sniff.$h.err")"; done

# Hole 1. c1 may talk UDP to $WWW_IP:7 and nothing to $BLOCKED_IP. An error
# about the echo it got, addressed to $BLOCKED_IP, would carry 1200 bytes of
# its own to a host no rule allows; to $WWW_IP (the quoted sender) it is the
# ordinary path-MTU message.
pkt "$NS_C1" icmperr "$WWW_IP" 7 3 3 EXFILTAG --to "$BLOCKED_IP" >/dev/null
pkt "$NS_C1" icmperr "$WWW_IP" 7 3 4 PMTUTAG >/dev/null
# Hole 2: the same legitimate error, its checksum broken.
pkt "$NS_C1" icmperr "$WWW_IP" 7 3 3 BADSUMTAG --badsum >/dev/null
# From the uplink: errors about c1's flow from port 41000 (kept by NAT), one
# good, one with a bad checksum, one quoting a port of no flow.
pkt "$NS_C1" udp "$WWW_IP" 7 open --sport 41000 >/dev/null
pkt "$NS_UP" uperr 192.0.2.1 "$FW_IP" "$WWW_IP" 7 41000 3 4 UPGOODTAG >/dev/null
pkt "$NS_UP" uperr 192.0.2.1 "$FW_IP" "$WWW_IP" 7 41000 3 4 UPBADTAG --badsum >/dev/null
pkt "$NS_UP" uperr 192.0.2.1 "$FW_IP" "$WWW_IP" 7 41001 3 4 UPNOFLOWTAG >/dev/null
# Hole 3: c2 may send anything, but not source-routed; record route passes.
pkt "$NS_C2" srcroute "$WWW_IP" 9 SRLTAG --opt lsrr >/dev/null
pkt "$NS_C2" srcroute "$WWW_IP" 9 SRSTAG --opt ssrr >/dev/null
pkt "$NS_C2" srcroute "$WWW_IP" 9 RROUTTAG --opt rr >/dev/null
# Inbound, on c2's open flow from port 42000.
pkt "$NS_C2" udp "$WWW_IP" 7 open --sport 42000 >/dev/null
pkt "$NS_UP" srcroute "$FW_IP" 42000 SRINTAG --opt ssrr --src "$WWW_IP" --sport 7 >/dev/null
pkt "$NS_UP" srcroute "$FW_IP" 42000 RRINTAG --opt rr --src "$WWW_IP" --sport 7 >/dev/null

sleep 0.5
touch "$RUN/sniff.stop"
for h in up c1 c2; do v=SNIFF_$h; wait "${!v}"; done
up=$(cat "$RUN/sniff.up") c1=$(cat "$RUN/sniff.c1") c2=$(cat "$RUN/sniff.c2")
diag "uplink saw:"$'\n'"$up"
diag "c1 saw:"$'\n'"$c1"
diag "c2 saw:"$'\n'"$c2"
check_not "hole 1: c1's ICMP error quoting its flow to $WWW_IP but addressed to $BLOCKED_IP never reaches the uplink" \
	grep -q EXFILTAG <<<"$up"
check "hole 1: c1's frag-needed to $WWW_IP (the quoted sender) reaches it, from $FW_IP, checksum good" \
	grep -q "^PMTUTAG proto=1 type=3 src=$FW_IP dst=$WWW_IP csum=ok" <<<"$up"
check_not "hole 2: c1's ICMP error with a bad checksum never reaches the uplink with a good one" \
	grep -q "^BADSUMTAG .*csum=ok" <<<"$up"
check "uplink's frag-needed about c1's flow reaches c1, checksum good" \
	grep -q "^UPGOODTAG proto=1 type=3 src=192.0.2.1 dst=$C1_IP csum=ok" <<<"$c1"
check_not "hole 2: the uplink's ICMP error with a bad checksum never reaches c1 with a good one" \
	grep -q "^UPBADTAG .*csum=ok" <<<"$c1"
check_not "hole 1: an uplink ICMP error quoting no flow of ours reaches no client" \
	grep -q UPNOFLOWTAG <<<"$c1$c2"
check_not "hole 3: c2's loose-source-routed datagram never reaches the uplink" \
	grep -q SRLTAG <<<"$up"
check_not "hole 3: c2's strict-source-routed datagram never reaches the uplink" \
	grep -q SRSTAG <<<"$up"
check "c2's datagram with record route (another option) reaches the uplink" \
	grep -q "^RROUTTAG proto=17 " <<<"$up"
check_not "hole 3: a source-routed reply on c2's open flow never reaches c2" \
	grep -q SRINTAG <<<"$c2"
check "a record-route reply on c2's open flow reaches c2" \
	grep -q "^RRINTAG proto=17 .*dst=$C2_IP" <<<"$c2"
if ! kernel_mode; then
	for r in icmp_mismatch bad_checksum srcroute; do
		moat_only "moat.Stats names the drop reason $r" moat_stat "s[\"uplink\"][\"drops\"][\"$r\"] >= 0"
	done
	check "moat.Stats: c1's exfiltrating error counted as icmp_mismatch" \
		test "$(moat_stat 'client(s, "'"$C1_IP"'")["drops"]["icmp_mismatch"]')" -ge 1
	check "moat.Stats: bad checksums counted (c1 and uplink)" \
		test "$(moat_stat 'client(s, "'"$C1_IP"'")["drops"]["bad_checksum"] + s["uplink"]["drops"]["bad_checksum"]')" -ge 2
	check "moat.Stats: source-routed datagrams counted (c2 and uplink)" \
		test "$(moat_stat 'client(s, "'"$C2_IP"'")["drops"]["srcroute"] + s["uplink"]["drops"]["srcroute"]')" -ge 3
fi

# Hole 4: c2 sends the head of a fragmented echo; c1 floods 600 first
# fragments and 40 orphan tails on its own allowed flow; then c2 sends the
# rest, and a second datagram tail first. Both echoes must come back.
# The uplink host (the "internet" here, not what is tested) must hold c1's
# 600 incomplete datagrams (more than its default 4 MB), and must not
# flush c2's half datagram because 600 fragments from the same source came
# in between (ipfrag_max_dist, 64 by default): moat forwards fragments
# without reassembling them, so both clients' fragments leave from
# $FW_IP. The kernel baseline reassembles and is unaffected.
in_up sysctl -qw net.ipv4.ipfrag_high_thresh=67108864 net.ipv4.ipfrag_max_dist=0
mkdir -p "$RUN/frag"
pkt "$NS_C2" fragecho "$WWW_IP" 7 "$RUN/frag" >"$RUN/fragecho" 2>&1 &
fe=$!
pkt "$NS_C1" fragflood "$WWW_IP" 7 "$RUN/frag" 600 40 >"$RUN/fragflood" 2>&1
wait $fe
diag "$(cat "$RUN/fragflood")"
is "$(tail -1 "$RUN/fragecho")" "replies 2" "hole 4: c2's fragmented echoes (one split by c1's flood, one tail first) both come back"
check "hole 4: c2's ping -s 4000 works while c1 floods first fragments" bash -c "
	ip netns exec $NS_C1 $PY $INTEG_DIR/pkt.py fragflood $WWW_IP 7 $RUN/frag 600 40 >/dev/null 2>&1 &
	ip netns exec $NS_C2 ping -n -c4 -i0.2 -W2 -s 4000 $WWW_IP"

# Hole 4, second part: a JSON rule lets c2 open flows to c1; c1's answer to a large
# datagram comes back in fragments, each after the first mapped as a reply
# on that client-to-client flow (they used to be looked up as c1's own
# outbound fragments, found nothing, and were dropped).
in_c1 "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7007))
open("'"$RUN"'/c1echo.ready", "w").close()
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)' >/dev/null 2>&1 &
wait_for 5 test -e "$RUN/c1echo.ready"
json_rules "$RUN/c2c.json" <<EOF2
{"version": 1, "names": {"work": "$C1_IP", "vault": "$C2_IP"},
 "rules": [{"from": "vault", "action": "accept", "proto": "udp", "to": "work", "dstports": "7007"}]}
EOF2
check "SetRules: accept vault -> work udp 7007" fw_setrules "$RUN/c2c.json"
check "hole 4: c2's 3000-byte datagram to c1 is echoed back whole (c1's reply fragments reach c2)" \
	pkt "$NS_C2" udp "$C1_IP" 7007 c2c --size 3000
