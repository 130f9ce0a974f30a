#!/bin/bash
# moat answers a client's ARP for the gateway, the DNS addresses and any other address, but never for the client's own.
. "$(dirname "$0")/lib.sh"
topo_up

arp_reply() { pkt "$NS_C1" arp eth0 "$1" --timeout 1; }
gw=$(arp_reply "$FW_IP"); check "ARP who-has $FW_IP (gateway) is answered" test "${gw%% *}" = reply
dns=$(arp_reply "$DNS1_VIRT"); check "ARP who-has $DNS1_VIRT (virtual DNS) is answered" test "${dns%% *}" = reply
dns2=$(arp_reply "$DNS2_VIRT"); check "ARP who-has $DNS2_VIRT (virtual DNS 2) is answered" test "${dns2%% *}" = reply
any=$(arp_reply 198.51.100.77); check "ARP who-has 198.51.100.77 (any outside address) is answered" test "${any%% *}" = reply
peer=$(arp_reply "$C2_IP"); check "ARP who-has $C2_IP (another client) is answered by the firewall" test "${peer%% *}" = reply
is "$dns" "$gw" "the DNS address is answered with the gateway's MAC"
c2mac=$(ip -n "$NS_C2" link show eth0 | awk '/link\/ether/ {print $2}')
check "another client's address is answered with the gateway's MAC, not c2's ($c2mac)" \
	test "$peer" = "$gw" -a "$peer" != "reply $c2mac"
own=$(arp_reply "$C1_IP"); is "$own" none "ARP who-has $C1_IP (c1's own address) is not answered"
