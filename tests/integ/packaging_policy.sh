#!/bin/bash
# The qrexec policy file shipped in the dom0 package parses in the Qubes 4.2
# policy format (a bad file makes dom0 refuse every qrexec call), denies every
# moat.* service the supervisor serves to every qube, and follows Qubes'
# multi-file convention: a package's denies live in a 60- file.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
chk=$src/packaging/dom0/check-policy.py
pol=$src/packaging/dom0/60-moat.policy
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check "shipped 60-moat.policy parses" $PY "$chk" "$pol"

# Every service in the supervisor's table (test-hook services aside, they
# are not in a release build) must be denied: a service added to moat
# without a line here would be open to any qube a broad user rule allows.
svcs=$(sed -n '/^} services\[\] = {/,/^};/p' "$src/moat/services.c" |
	sed '/#ifdef MOAT_TEST_HOOKS/,/#endif/d' | sed -n 's/^\t{ "\(moat\.[A-Za-z]*\)".*/\1/p')
eq "the supervisor's service table is found" "$(wc -w <<<"$svcs")" 7
for s in $svcs; do
	eq "$s from a qube to the moat qube: deny" \
		"$($PY "$chk" "$pol" --eval "$s+x" work sys-moat --tag sys-moat:moat)" deny
done
# dom0's calls are never evaluated against policy, so a rule for dom0 is
# dead text that suggests otherwise.
eq "no rule names dom0 (its calls skip policy)" "$(grep -vE '^[[:space:]]*(#|$)' "$pol" | grep -cE '@adminvm|[[:space:]]dom0[[:space:]]')" 0
eq "a 60- file holds only deny rules" "$(grep -vE '^[[:space:]]*(#|$)' "$pol" | awk '$5 != "deny"' | wc -l)" 0
case ${pol##*/} in 60-*) ok "the deny file is a 60- file (Qubes' place for a package's denies)" ;;
*) nok "the deny file is a 60- file (Qubes' place for a package's denies)" ;; esac
eq "moat.SetRules from the moat qube to itself: deny" \
	"$($PY "$chk" "$pol" --eval moat.SetRules sys-moat sys-moat --tag sys-moat:moat)" deny
eq "other services are left to other files" \
	"$($PY "$chk" "$pol" --eval qubes.Filecopy work sys-moat --tag sys-moat:moat)" nomatch

# 70-moat.policy: the moat qube (tag "moat", as the Salt formula sets it)
# may fetch its stored rules from dom0; no other qube may, and nothing else
# is allowed there. Read with 60-moat.policy, as qrexec does.
pol70=$src/packaging/dom0/70-moat.policy
check "shipped 70-moat.policy parses" $PY "$chk" "$pol70"
ev() { $PY "$chk" "$pol" "$pol70" --eval "$@"; }
eq "moat.StoredRules from a qube tagged moat to dom0: allow" "$(ev moat.StoredRules sys-moat @adminvm --tag sys-moat:moat)" allow
eq "moat.StoredRules from any other qube: no allow (qrexec denies)" "$(ev moat.StoredRules work @adminvm)" nomatch
eq "moat.StoredRules from the moat qube to another qube: no allow" "$(ev moat.StoredRules sys-moat work --tag sys-moat:moat)" nomatch
eq "a 70- file holds only allow rules, all for moat.StoredRules" \
	"$(grep -vE '^[[:space:]]*(#|$)' "$pol70" | awk '$5 != "allow" || $1 != "moat.StoredRules"' | wc -l)" 0
if grep -q "tags:" "$src/packaging/salt/moat/init.sls" && grep -A2 "tags:" "$src/packaging/salt/moat/init.sls" | grep -q -- "- moat"; then
	ok "the Salt formula gives the qube the tag the policy allows"
else
	nok "the Salt formula gives the qube the tag the policy allows"
fi

# The commented example, uncommented into 30-user.policy, must also parse
# and take precedence (read first) for the management qube only.
sed -n 's/^#\(moat\.[A-Za-z]*  .*\)$/\1/p' "$pol" >"$tmp/30-user.policy"
eq "commented example has 4 rules" "$(wc -l <"$tmp/30-user.policy")" 4
cp "$pol" "$tmp/"
check "commented example parses" $PY "$chk" "$tmp/30-user.policy"
eq "example: mgmt-qube may read rules" \
	"$($PY "$chk" "$tmp/30-user.policy" "$tmp/60-moat.policy" --eval moat.GetRules mgmt-qube sys-moat)" allow
eq "example: mgmt-qube setting rules asks" \
	"$($PY "$chk" "$tmp/30-user.policy" "$tmp/60-moat.policy" --eval moat.SetRules mgmt-qube sys-moat)" ask
eq "example: other qubes still denied" \
	"$($PY "$chk" "$tmp/30-user.policy" "$tmp/60-moat.policy" --eval moat.GetRules work sys-moat)" deny

# The checker itself must reject what qrexec rejects.
bad() {	# what, policy line
	printf '%s\n' "$2" >"$tmp/50-bad.policy"
	check_not "checker rejects $1" $PY "$chk" "$tmp/50-bad.policy"
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
check_not "checker rejects an upper-case file name" $PY "$chk" "$tmp/70-Moat.policy"
done_testing
