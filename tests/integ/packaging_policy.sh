#!/bin/bash
# The qrexec policy file shipped in the dom0 package parses in the Qubes 4.2
# policy format (a bad file makes dom0 refuse every qrexec call) and gives
# the moat.* services to dom0 only.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
chk=$src/packaging/dom0/check-policy.py
pol=$src/packaging/dom0/70-moat.policy
PY=/usr/bin/python3
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
t() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else nok "$what"; fi; }
tnot() { local what=$1; shift; if "$@" >/dev/null 2>&1; then nok "$what"; else ok "$what"; fi; }
eq() { if [[ $2 == "$3" ]]; then ok "$1"; else nok "$1 (got '$2', want '$3')"; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

t "shipped 70-moat.policy parses" $PY "$chk" "$pol"

svcs="moat.SetRules moat.GetRules moat.Logs+natd moat.Stats moat.DumpRejects"
for s in $svcs; do
	eq "$s from dom0 to the moat qube: allow" \
		"$($PY "$chk" "$pol" --eval "$s" dom0 sys-moat --tag sys-moat:moat)" allow
	eq "$s from a qube to the moat qube: deny" \
		"$($PY "$chk" "$pol" --eval "$s" work sys-moat --tag sys-moat:moat)" deny
done
eq "moat.SetRules from the moat qube to itself: deny" \
	"$($PY "$chk" "$pol" --eval moat.SetRules sys-moat sys-moat --tag sys-moat:moat)" deny
eq "other services are left to other files" \
	"$($PY "$chk" "$pol" --eval qubes.Filecopy work sys-moat --tag sys-moat:moat)" nomatch

# The commented example, uncommented into 30-user.policy, must also parse
# and take precedence (read first) for the management qube only.
sed -n 's/^#\(moat\.[A-Za-z]*  .*\)$/\1/p' "$pol" >"$tmp/30-user.policy"
eq "commented example has 4 rules" "$(wc -l <"$tmp/30-user.policy")" 4
cp "$pol" "$tmp/"
t "commented example parses" $PY "$chk" "$tmp/30-user.policy"
eq "example: mgmt-qube may read rules" \
	"$($PY "$chk" "$tmp/30-user.policy" "$tmp/70-moat.policy" --eval moat.GetRules mgmt-qube sys-moat)" allow
eq "example: mgmt-qube setting rules asks" \
	"$($PY "$chk" "$tmp/30-user.policy" "$tmp/70-moat.policy" --eval moat.SetRules mgmt-qube sys-moat)" ask
eq "example: other qubes still denied" \
	"$($PY "$chk" "$tmp/30-user.policy" "$tmp/70-moat.policy" --eval moat.GetRules work sys-moat)" deny

# The checker itself must reject what qrexec rejects.
bad() {	# what, policy line
	printf '%s\n' "$2" >"$tmp/50-bad.policy"
	tnot "checker rejects $1" $PY "$chk" "$tmp/50-bad.policy"
}
bad "an unknown action" "moat.Stats * @adminvm @anyvm permit"
bad "service * with an argument" "* +x @anyvm @anyvm deny"
bad "an argument without +" "moat.Logs natd @anyvm @anyvm deny"
bad "an inline comment" "moat.Stats * @anyvm @anyvm deny # no"
bad "@default as source" "moat.Stats * @default @anyvm deny"
bad "a parameter deny does not take" "moat.Stats * @anyvm @anyvm deny target=dom0"
bad "a missing field" "moat.Stats * @anyvm deny"
bad "an unknown keyword" "moat.Stats * @everyone @anyvm deny"
bad "a bad qube name" "moat.Stats * 1work @anyvm deny"
bad "notify=maybe" "moat.Stats * @anyvm @anyvm deny notify=maybe"
cp "$pol" "$tmp/70-Moat.policy"
tnot "checker rejects an upper-case file name" $PY "$chk" "$tmp/70-Moat.policy"
echo "1..$n"
