#!/bin/bash
# The whole firewall on the fake Xen: moat --backend xen with netbackd
# attached to a fake Xen, natd, policyd and agentd as in production. The
# shipped netbackd only knows the real Xen: moat starts the daemons from a
# MOAT_LIBEXEC directory in which netbackd is tests/xen/netbackd-fakexen
# (the same objects, opening the fake named by MOAT_FAKEXEN instead). dom0 gives moat an uplink to a NetVM and a vif for client 10;
# the client's ARP for its gateway is answered by natd through netback, and
# its UDP datagram (checksum offloaded, two slots) leaves through the
# uplink netfront to the NetVM.
B=${MOAT_BUILDDIR:-.}
X=$B/tests/xen/fakexen
dir=$(mktemp -d /tmp/moatxen.XXXXXX)
sock=$dir/fx.sock
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../integ/tap.sh"
if [[ ! -x $B/moat/moat || ! -x $X || ! -x $B/tests/xen/netbackd-fakexen ]]; then
	skip "moat on the fake Xen" "not built"; done_testing; exit
fi
B=$(cd "$B" && pwd)
mkdir "$dir/libexec"
ln -s "$B/tests/xen/netbackd-fakexen" "$dir/libexec/netbackd"
for d in natd policyd agentd; do ln -s "$B/$d/$d" "$dir/libexec/$d"; done

cat >"$dir/qdb.json" <<'J'
{"/qubes-ip": "10.138.0.5", "/qubes-gateway": "10.138.0.1", "/qubes-netmask": "255.255.255.0",
 "/qubes-primary-dns": "10.139.1.1", "/qubes-secondary-dns": "10.139.1.2",
 "/qubes-netvm-gateway": "10.137.0.1", "/qubes-netvm-netmask": "255.255.255.255",
 "/qubes-netvm-primary-dns": "10.139.1.1", "/qubes-netvm-secondary-dns": "10.139.1.2",
 "/qubes-netvm-network": "10.137.0.0", "/connected-ips": "10.137.0.10", "/qubes-debug-mode": "0",
 "/qubes-firewall/10.137.0.10/policy": "accept", "/qubes-firewall/10.137.0.10": ""}
J
"$X" serve "$sock" 1 2>"$dir/serve.log" & pids+=($!)
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
MOAT_LIBEXEC=$dir/libexec MOAT_FAKEXEN=$sock MOAT_FAKEXEN_DOMID=1 "$B/moat/moat" --backend xen --qubesdb "$dir/qdb.json" \
	--control "$dir/ctl" --log-dir "$dir/log" >"$dir/moat.out" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q "netbackd ready" "$dir/moat.out" && break; sleep 0.05; done
check "moat --backend xen starts netbackd on the fake Xen" grep -q "netbackd ready" "$dir/moat.out"
check "dom0 gives moat an uplink to NetVM 2" "$X" add-uplink "$sock" 1 2 00:16:3e:5e:6c:01
"$X" netvm "$sock" 1 2 15 >"$dir/netvm.out" 2>&1 & pids+=($!)
# natd resolves its gateway over the uplink (the NetVM answers ARP)
for _ in $(seq 100); do grep -q "gateway is at" "$dir/moat.out" && break; sleep 0.1; done
check "natd learned the uplink gateway's MAC through the netfront" grep -q "gateway is at 00:16:3e:00:00:02" "$dir/moat.out"
check "dom0 gives client 10 a vif" "$X" add-vif "$sock" 1 10 00:16:3e:5e:6c:0a 10.137.0.10
"$X" client "$sock" 1 10 3 10.137.0.1 198.51.100.7 >"$dir/client.out" 2>&1
check "client 10 connects through netback" grep -q "^connected 10" "$dir/client.out"
check "natd answers its ARP for the gateway with moat's MAC" \
	grep -q "^rx 42 0806 fe:ff:ff:ff:ff:ff" "$dir/client.out"
sleep 1
check "the uplink netfront connects to the NetVM" grep -q "^connected 2" "$dir/netvm.out"
check "moat's traffic reaches the NetVM through the uplink" grep -q "^rx .* 00:16:3e:5e:6c:01" "$dir/netvm.out"
check "the client's UDP datagram leaves through the uplink (routed by natd)" \
	grep -q "^rx 100 0800 00:16:3e:5e:6c:01" "$dir/netvm.out"
check_not "netbackd logged no protocol violation" grep -q "disconnected:" "$dir/moat.out"
check "dom0 detaches client 10; the backend removes its dir" "$X" rm-vif "$sock" 1 10
check "moat is still running" kill -0 "${pids[1]}"
if [[ -n ${MOAT_TEST_VERBOSE:-} ]]; then sed 's/^/# /' "$dir/moat.out" "$dir/netvm.out" "$dir/client.out"; fi
done_testing
