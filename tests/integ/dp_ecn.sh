#!/bin/bash
# An ECN-negotiated TCP flow keeps its CWR super-frames through moat.
#
# c2 (tcp_ecn=1, TSO on: veth's default) uploads a few MB to a sink on the
# uplink host (tcp_ecn=1). The uplink host marks CE on some of the flow's
# arriving packets (nftables: this kernel has no netem or red), so its ACKs
# carry ECE and c2 answers with CWR on its next super-frame, which Linux
# tags SKB_GSO_TCP_ECN: devnet reads it with VIRTIO_NET_HDR_GSO_ECN set.
# Every CWR super-frame c2 sends must reach the uplink host, still tagged
# (read there through AF_PACKET + PACKET_VNET_HDR, as devnet reads), c2
# must retransmit nothing, moat.Stats must count no "malformed" drop (natd
# refusing the descriptor's ECN bit) and devnet must log no refused virtio
# header. devnet's own header drops are not in moat.Stats, so the lost
# frames and the retransmissions are what catch a devnet that drops them.
MOAT_NS_PREFIX=${MOAT_NS_PREFIX:-ecn$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')}
. "$(dirname "$0")/lib.sh"
topo_up
if kernel_mode; then
	skip "ECN super-frames" "kernel baseline has no moat counters; the transfer alone proves little"
	exit 0
fi

PORT=5001 MB=${ECN_MB:-8}
in_c2 sysctl -qw net.ipv4.tcp_ecn=1
in_up sysctl -qw net.ipv4.tcp_ecn=1
# One in 8 of the flow's ECN-capable packets arrives CE-marked.
in_up nft -f - <<EOF
table ip ecnmark {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		tcp dport $PORT ip ecn { ect0, ect1 } numgen random mod 8 == 0 ip ecn set ce
	}
}
EOF
# The sink: reads to EOF, answers with the SHA-256 of what it read.
in_up "$PY" - "$WWW_IP" "$PORT" "$RUN/sink.ready" >"$RUN/sink.log" 2>&1 <<'PYEOF' &
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
open(sys.argv[3], "w").close()
while True:
    c, _ = s.accept()
    h = hashlib.sha256()
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
    c.sendall(h.hexdigest().encode())
    c.close()
PYEOF
disown
for i in $(seq 50); do [[ -e $RUN/sink.ready ]] && break; sleep 0.1; done
[[ -e $RUN/sink.ready ]] || bail "sink did not start: $(cat "$RUN/sink.log")"

# CWR (not SYN: an ECN SYN carries CWR too) on a frame bigger than the MTU.
CWR_GSO="tcp dst port $PORT and tcp[13] & 0x82 == 0x80 and greater 1600"
capture() {	# capture NS FILE: tcpdump of every frame to the sink, in the background
	ip netns exec "$1" tcpdump -Z root --immediate-mode -i eth0 -nn -s 96 -U -w "$2" "tcp dst port $PORT" >"$2.log" 2>&1 &
	CAP_PIDS+=($!)
}
count() { tcpdump -r "$1" -nn "$2" 2>/dev/null | wc -l; }
# vnet_sniff FILE: on the uplink host's eth0, through AF_PACKET with
# PACKET_VNET_HDR as devnet itself reads, count the CWR super-frames to the
# sink and those still tagged VIRTIO_NET_HDR_GSO_ECN; "N M LOST" into FILE when
# FILE.stop appears.
vnet_sniff() {
	rm -f "$1" "$1.stop" "$1.ready"
	in_up "$PY" - "$PORT" "$1" <<'PYEOF' >"$1.log" 2>&1 &
import os, select, socket, struct, sys
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.setsockopt(263, 15, 1)	# SOL_PACKET, PACKET_VNET_HDR
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)	# SO_RCVBUFFORCE: the upload outruns us
s.bind(("eth0", 0))
open(out + ".ready", "w").close()
cwr = ecn = 0
while not os.path.exists(out + ".stop"):
    if not select.select([s], [], [], 0.05)[0]:
        continue
    f = s.recv(1 << 17)
    gso_type = f[1]
    ip = f[10 + 14:]
    if len(ip) < 40 or ip[9] != 6:
        continue
    tcp = ip[(ip[0] & 15) * 4:]
    if struct.unpack("!H", tcp[2:4])[0] != port or tcp[13] & 0x82 != 0x80 or len(f) - 10 < 1600:
        continue
    cwr += 1
    ecn += (gso_type & 0x80) != 0
lost = struct.unpack("II", s.getsockopt(263, 6, 8))[1]	# PACKET_STATISTICS: tp_drops
open(out, "w").write("%d %d %d\n" % (cwr, ecn, lost))
PYEOF
	local i
	for i in $(seq 50); do [[ -e $1.ready ]] && return 0; sleep 0.1; done
	bail "vnet_sniff did not start: $(cat "$1.log")"
}
mal() { moat_stat 'client(s, "'"$C2_IP"'")["drops"]["malformed"] + s["uplink"]["drops"]["malformed"]'; }

# Up to three uploads: CE marks are random, so a short run may see no CWR.
mal0=$(mal)
retx0=$(in_c2 nstat -asz TcpRetransSegs | awk '$1 == "TcpRetransSegs" { print $2 }')
sent=0 got=0 got_ecn=0 gso=0 round=0 res=
while [[ $round -lt 3 && $sent -eq 0 ]]; do
	round=$((round + 1))
	CAP_PIDS=()
	capture "$NS_C2" "$RUN/c2-$round.pcap"
	vnet_sniff "$RUN/up-$round.vnet"
	sleep 1	# tcpdump attaches
	res=$(in_c2 "$PY" - "$WWW_IP" "$PORT" "$MB" <<'PYEOF' 2>&1
import hashlib, os, socket, sys, time
data = os.urandom(int(sys.argv[3]) << 20)
t0 = time.monotonic()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
s.settimeout(30)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
r = b""
while True:
    b = s.recv(100)
    if not b:
        break
    r += b
ok = r.decode() == hashlib.sha256(data).hexdigest()
print("%s %.2f" % ("intact" if ok else "corrupt", time.monotonic() - t0))
PYEOF
)
	sleep 0.5
	kill -INT "${CAP_PIDS[@]}" 2>/dev/null
	wait "${CAP_PIDS[@]}" 2>/dev/null
	touch "$RUN/up-$round.vnet.stop"
	for i in $(seq 50); do [[ -s $RUN/up-$round.vnet ]] && break; sleep 0.1; done
	[[ $res == intact* ]] || break
	sent=$(count "$RUN/c2-$round.pcap" "$CWR_GSO")
	read -r got got_ecn lost <"$RUN/up-$round.vnet" || got=none
	[[ $lost == 0 ]] || bail "the uplink host's sniffer lost $lost frames: it cannot count"
	grep -q "^0 packets dropped by kernel" "$RUN/c2-$round.pcap.log" ||
		bail "c2's tcpdump lost frames: $(cat "$RUN/c2-$round.pcap.log")"
	gso=$(count "$RUN/c2-$round.pcap" "greater 1600")
done
retx1=$(in_c2 nstat -asz TcpRetransSegs | awk '$1 == "TcpRetransSegs" { print $2 }')
mal1=$(mal)
diag "round $round: $res; c2 sent $gso super-frames, $sent with CWR; $got CWR super-frames reached the uplink host, $got_ecn of them tagged GSO_ECN"

check "a ${MB} MB upload from c2 arrives intact in under 10 s ($res)" \
	awk -v r="$res" 'BEGIN { split(r, a, " "); exit !(a[1] == "intact" && a[2] < 10) }'
check "c2 sent TCP super-frames ($gso bigger than the MTU): GSO is on" test "$gso" -gt 0
check "the flow negotiated ECN and c2 answered CE with CWR super-frames ($sent)" test "$sent" -gt 0
is "$got" "$sent" "every CWR super-frame c2 sent reached the uplink host"
is "$got_ecn" "$got" "each still tagged GSO_ECN in its virtio header (devnet sets it on transmit)"
check "c2 retransmitted nothing (TcpRetransSegs $retx0 -> $retx1)" test "$retx1" -eq "$retx0"
is "$mal1" "$mal0" "moat.Stats: no malformed drops on c2 or the uplink"
check_not "no virtio header refused by devnet in the logs" grep -q "refused" "$RUN"/log/netbackd*
