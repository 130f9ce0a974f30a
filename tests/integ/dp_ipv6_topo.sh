#!/bin/bash
# The IPv6 test topology (topo_up --ipv6) comes up, and moat is given its
# IPv6 configuration: /qubes-ip6 and the gateways, each client's IPv6
# address (--client IFACE=IPV4,IPV6, MSG_LINK.ip6), and the clients' Qubes
# rules for their IPv6 addresses. Nothing here needs moat to forward IPv6.
. "$(dirname "$0")/lib.sh"
topo_up --ipv6
log() { cat "$RUN/log/$1.log" 2>/dev/null; }

# the hosts around moat
check "the uplink host has /qubes-gateway6 ($UP_IP6) and the AAAA addresses" \
    bash -c "ip -n $NS_UP -6 addr show dev eth0 | grep -q ' $UP_IP6/128' &&
             ip -n $NS_UP -6 addr show dev eth0 | grep -q ' $WWW_IP6/128'"
check "c1 has $C1_IP6 and a default route via the gateway it sees ($FW_IP6)" \
    bash -c "ip -n $NS_C1 -6 addr show dev eth0 | grep -q ' $C1_IP6/128' &&
             ip -n $NS_C1 -6 route show default | grep -q 'via $FW_IP6 dev eth0'"
check "c2 has $C2_IP6" bash -c "ip -n $NS_C2 -6 addr show dev eth0 | grep -q ' $C2_IP6/128'"
check "the far host is one IPv6 router hop behind the uplink host" \
    in_up ping -6 -n -q -c1 -W2 "$FAR_IP6"
is "$(http_code "$NS_UP" "http://[$WWW_IP6]/" 3)" 200 "www answers HTTP on $WWW_IP6"
check "TCP echo listens on IPv6 on the uplink host" in_up "$PY" -c "
import socket; s = socket.create_connection(('$WWW_IP6', 7), 2); s.sendall(b'x'); assert s.recv(1) == b'x'"
is "$(in_up dig +short +time=1 +tries=1 "@$DNS1_REAL" AAAA www.example.test)" "$WWW_IP6" \
    "the uplink DNS answers AAAA for www.example.test"
# DNS stays IPv4: a client asks the virtual server for AAAA over IPv4
is "$(in_c1 dig +short +time=2 +tries=2 "@$DNS1_VIRT" AAAA www.example.test)" "$WWW_IP6" \
    "c1 gets www's AAAA through moat's IPv4 DNS"
check "the firewall's own kernel still has no IPv6" \
    bash -c "[[ \$(ip netns exec $NS_FW sysctl -n net.ipv6.conf.all.disable_ipv6) == 1 ]]"

# what moat was given
check "moat's QubesDB has /qubes-ip6, /qubes-gateway6, /qubes-netvm-gateway6, /connected-ips6" "$PY" -c "
import json; d = json.load(open('$QDB'))
assert d['/qubes-ip6'] == '$FW_IP6' and d['/qubes-gateway6'] == '$UP_IP6', d
assert d['/qubes-netvm-gateway6'] == '$FW_IP6' and d['/connected-ips6'] == '$C1_IP6 $C2_IP6', d
v6 = sorted(k for k in d if k.startswith('/qubes-firewall/$C1_IP6/0'))
assert v6 and not any('dst4=' in d[k] for k in v6), v6
assert not any('dst6=' in d[k] for k in d if k.startswith('/qubes-firewall/$C1_IP/')), d"
check "agentd read the IPv6 addresses" \
    grep -q "IPv6 address $FW_IP6, gateway $UP_IP6, clients' gateway $FW_IP6" "$RUN/log/agentd.log"
check "netbackd: vif1 carries c1's IPv6 address" grep -q "link vif1 up: .*client IPv6 $C1_IP6\$" "$RUN/log/netbackd.log"
check "netbackd: vif2 carries c2's IPv6 address" grep -q "link vif2 up: .*client IPv6 $C2_IP6\$" "$RUN/log/netbackd.log"
check "netbackd: the uplink has no client address" bash -c "grep 'link uplink up' '$RUN/log/netbackd.log' | grep -vq 'client IPv6'"
check "policyd installed c1's Qubes rules for its IPv6 address" \
    grep -q "Qubes rules for $C1_IP6: [0-9]* rules and policy drop" "$RUN/log/policyd.log"
check "policyd installed c2's Qubes rules for its IPv6 address" \
    grep -q "Qubes rules for $C2_IP6: 0 rules and policy accept" "$RUN/log/policyd.log"
# IPv4 is as it is without --ipv6
is "$(http_code "$NS_C1" "http://$WWW_IP/" 5)" 200 "c1 still fetches over IPv4"
