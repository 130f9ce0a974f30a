#!/bin/bash
# Every Salt file of the dom0 package renders (Jinja) to valid YAML with only
# the keys Qubes 4.2's qvm states accept, and the qube it creates is set up
# the way a kernel-only firewall qube must be.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
salt=$src/packaging/salt
PY=/usr/bin/python3
chk=$salt/check-salt.py
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
t() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else nok "$what"; "$@" 2>&1 | sed 's/^/# /'; fi; }
tnot() { local what=$1; shift; if "$@" >/dev/null 2>&1; then nok "$what"; else ok "$what"; fi; }
eq() { if [[ $2 == "$3" ]]; then ok "$1"; else nok "$1 (got '$2', want '$3')"; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! $PY -c 'import jinja2, yaml' 2>/dev/null; then
	echo "ok 1 - salt files # SKIP python3-jinja2 / python3-yaml not installed"
	exit 0
fi

# The example pillar with every setting uncommented must be valid too.
sed -E 's/^  # ([a-z_]+:)/  \1/; s/^  #   - /    - /' "$salt/pillar/moat.sls" >"$tmp/moat-full.sls"
full=$($PY -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$tmp/moat-full.sls")
eq "example pillar uncomments to all settings" \
	"$(jq -r '.moat | keys | join(",")' <<<"$full")" \
	"autostart,clients,default_netvm,fallback,kernelopts,label,memory,name,netvm,vcpus"

pillars=('{}' '{"moat": null}' '{"moat": {"default_netvm": true, "clients": ["work", "personal"], "name": "fw", "memory": 48, "vcpus": 1}}' "$full")
names=(empty null "default_netvm+clients" "example-uncommented")
for sls in moat/init.sls moat/rollback.sls; do
	for i in "${!pillars[@]}"; do
		t "$sls renders to valid qvm states (pillar ${names[$i]})" \
			$PY "$chk" check "$salt/$sls" --pillar "${pillars[$i]}"
	done
done
t "moat.top is a valid dom0 top naming existing states" $PY "$chk" top "$salt/moat.top" "$salt"
t "pillar moat.top is valid" $PY "$chk" top "$salt/pillar/moat.top" "$salt/pillar"
t "example pillar is valid" $PY "$chk" pillar "$salt/pillar/moat.sls"
t "example pillar, uncommented, is valid" $PY "$chk" pillar "$tmp/moat-full.sls"

# What the default state creates: the unikernel-firewall deployment.
$PY "$chk" render "$salt/moat/init.sls" >"$tmp/default.json"
vm() { jq -c "[.\"sys-moat\".\"qvm.vm\"[] | select(has(\"$1\")) | .\"$1\"[]] | add" "$tmp/default.json"; }
prefs=$(vm prefs)
present=$(vm present)
features=$(vm features)
pref() { jq -c ".\"$1\"" <<<"$prefs"; }
eq "qube is a StandaloneVM" "$(jq -r .class <<<"$present")" StandaloneVM
eq "kernel is moat's directory" "$(pref kernel)" '"moat"'
eq "virt-mode pvh" "$(pref virt-mode)" '"pvh"'
eq "provides network" "$(pref provides-network)" true
eq "uplink is sys-net" "$(pref netvm)" '"sys-net"'
eq "memory balancing off (maxmem 0)" "$(pref maxmem)" 0
m=$(pref memory)
if [[ $m -ge 32 && $m -le 128 ]]; then ok "fixed small memory ($m MiB)"; else nok "fixed small memory (got $m)"; fi
v=$(pref vcpus)
if [[ $v -ge 1 && $v -le 2 ]]; then ok "1-2 vCPUs ($v)"; else nok "1-2 vCPUs (got $v)"; fi
eq "no audio or GUI qube" "$(pref audiovm)$(pref guivm)" '""""'
eq "features: qrexec, qubes-firewall, own kernelopts, no updates" "$(jq -r '.enable | sort | join(",")' <<<"$features")" \
	"no-default-kernelopts,qrexec,qubes-firewall,skip-update"
eq "GUI feature off" "$(jq -r '.disable | join(",")' <<<"$features")" gui
eq "tagged moat (the policy targets @tag:moat)" "$(vm tags | jq -r '.add | join(",")')" moat
eq "qube requires the installed kernel" \
	"$(jq -r '."moat-kernel-installed"."file.exists"[0].name' "$tmp/default.json")" \
	/var/lib/qubes/vm-kernels/moat/vmlinuz
eq "default pillar switches no qube" "$(jq -r 'keys | join(",")' "$tmp/default.json")" "moat-kernel-installed,sys-moat"

$PY "$chk" render "$salt/moat/init.sls" --pillar "${pillars[2]}" >"$tmp/clients.json"
eq "clients get netvm = moat" \
	"$(jq -r '[."moat-client-work"."qvm.prefs"[], ."moat-client-personal"."qvm.prefs"[] | .netvm // empty] | join(",")' "$tmp/clients.json")" "fw,fw"
eq "default_netvm runs qubes-prefs" \
	"$(jq -r '."moat-default-netvm"."cmd.run"[0].name' "$tmp/clients.json")" "qubes-prefs default_netvm fw"
eq "moat is started before qubes move to it" \
	"$(jq -r '."moat-running"."qvm.running"[0].name' "$tmp/clients.json")" fw

$PY "$chk" render "$salt/moat/rollback.sls" --pillar "${pillars[2]}" >"$tmp/rollback.json"
eq "rollback moves clients to sys-firewall" \
	"$(jq -r '[."moat-restore-work"."qvm.prefs"[] | .netvm // empty] | join(",")' "$tmp/rollback.json")" sys-firewall
eq "rollback restores default_netvm only if it was moat" \
	"$(jq -r '."moat-restore-default-netvm"."cmd.run"[1].onlyif' "$tmp/rollback.json")" \
	'test "$(qubes-prefs default_netvm)" = "fw"'
eq "rollback starts sys-firewall" \
	"$(jq -r '."moat-fallback-running"."qvm.running"[0].name' "$tmp/rollback.json")" sys-firewall

# The checker must catch the mistakes that only show up on a real dom0.
bad() {	# what, sed expression applied to init.sls
	sed "$2" "$salt/moat/init.sls" >"$tmp/bad.sls"
	tnot "checker rejects $1" $PY "$chk" check "$tmp/bad.sls"
}
bad "a property qvm.prefs cannot set" 's/- maxmem: 0/- shutdown-timeout: 5/'
bad "an underscore property name" 's/- provides-network: true/- provides_network: true/'
bad "an unknown qvm.vm action" 's/- features:/- feature:/'
bad "a requisite naming no state" 's/- file: moat-kernel-installed/- file: moat-kernel/'
bad "a non-integer memory" "s/memory', 64)/memory', 'lots')/"
bad "an unknown label" "s/'orange'/'pink'/"
bad "a duplicate state ID" 's/^moat-kernel-installed:/{{ name }}:/'
bad "broken YAML" 's/^    - present:/  - present:/'
bad "an undefined Jinja variable" 's/{{ name }}:/{{ nme }}:/'
echo "1..$n"
