#!/bin/bash
# The fake Xen over its socket, as `moat --backend xen` would use it:
# fakexen serves a world, a test program (nbh_main) hands it to the Xen
# backend (MOAT_FAKEXEN names it; the shipped netbackd has no fake Xen),
# dom0 adds a vif, a client VM process ARPs and gets its frame echoed by
# the loopback core, and dom0's detach leaves nothing behind.
B=${MOAT_BUILDDIR:-.}/tests/xen
dir=$(mktemp -d /tmp/moatxen.XXXXXX)
sock=$dir/fakexen.sock
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../integ/tap.sh"

"$B/fakexen" serve "$sock" 1 2>"$dir/serve.log" & pids+=($!)
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
check "fakexen serves a world on a socket" test -S "$sock"
MOAT_FAKEXEN=$sock MOAT_FAKEXEN_DOMID=1 "$B/nbh_main" 2>"$dir/nb.log" & pids+=($!)
sleep 0.3
check "nbh_main opened the fake Xen named by MOAT_FAKEXEN" grep -q "FAKE Xen" "$dir/nb.log"
check "dom0 adds a vif for client 10" "$B/fakexen" add-vif "$sock" 1 10 00:16:3e:5e:6c:0a 10.137.0.10
"$B/fakexen" client "$sock" 1 10 1 10.137.0.1 >"$dir/client.out" 2>&1
check "client 10 connects" grep -q "^connected 10" "$dir/client.out"
check "its ARP request comes back through netback" grep -q "^rx 42 0806 00:16:3e:5e:6c:0a" "$dir/client.out"
check "dom0 detaches the vif and the backend removes its dir" "$B/fakexen" rm-vif "$sock" 1 10
check "the backend is still running" kill -0 "${pids[1]}"
done_testing

