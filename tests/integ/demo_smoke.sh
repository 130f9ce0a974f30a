#!/bin/bash
# scripts/demo --no-wait runs its whole tour against the built tree, every step behaves, and it leaves nothing behind.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=${MOAT_SRCDIR:-$(cd "$here/../.." && pwd)}
build=${MOAT_BUILDDIR:-$top/build}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
prefix=ds$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
out=$(MOAT_NS_PREFIX=$prefix timeout 180 bash "$top/scripts/demo" --no-wait --builddir "$build" 2>&1); rc=$?
if [[ $rc -eq 0 ]]; then ok "scripts/demo --no-wait exits 0"; else not_ok "scripts/demo --no-wait exits 0 (got $rc)"; fi
for want in "resolved" "page fetched" "fails at once" "rules accepted" "after: vault's request to www.example.test is refused" \
	"before: the uplink host gets nothing" "forwarded: the uplink host reached vault" \
	"Tour complete: every step behaved as described"; do
	if grep -qF "$want" <<<"$out"; then ok "the tour shows: $want"; else not_ok "the tour shows: $want"; fi
done
if [[ ${MOAT_INTEG_FW:-moat} != kernel ]]; then
	for want in "[ok] logs" "[ok] stats" "[ok] page fetched over IPv6" \
		"[ok] by address, without a lookup: refused" "[ok] by name: vault looked www.example.test up" \
		"[ok] flows: vault's web flow, accepted by JSON rule 0"; do
		if grep -qF "$want" <<<"$out"; then ok "the tour shows: $want"; else not_ok "the tour shows: $want"; fi
	done
fi
left=$(ip netns list | grep -c "^$prefix-")
if [[ $left -eq 0 ]]; then ok "no namespace left behind"; else not_ok "no namespace left behind ($left remain)"; fi
if ls -d /tmp/moat-integ."$prefix".* >/dev/null 2>&1; then not_ok "no run directory left behind"; else ok "no run directory left behind"; fi
if ls -d /etc/netns/"$prefix"-* >/dev/null 2>&1; then not_ok "no /etc/netns entry left behind"; else ok "no /etc/netns entry left behind"; fi
[[ $_tap_failed -gt 0 ]] && sed 's/^/# /' <<<"$out" | tail -40
done_testing
