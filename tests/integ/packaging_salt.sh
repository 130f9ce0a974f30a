#!/bin/bash
# Every Salt file of the dom0 package renders (Jinja) to valid YAML with only
# the keys Qubes 4.2's qvm states accept, and the qube it creates is set up
# the way a kernel-only firewall qube must be.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
salt=$src/packaging/salt
PY=/usr/bin/python3
chk=$salt/check-salt.py
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! $PY -c 'import jinja2, yaml' 2>/dev/null; then
	skip "salt files" "python3-jinja2 / python3-yaml not installed"
	done_testing
	exit
fi

# The example pillar with every setting uncommented must be valid too.
sed -E 's/^  # ([a-z_]+:)/  \1/; s/^  #   - /    - /' "$salt/pillar/moat.sls" >"$tmp/moat-full.sls"
full=$($PY -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$tmp/moat-full.sls")
eq "example pillar uncomments to all settings" \
	"$(jq -r '.moat | keys | join(",")' <<<"$full")" \
	"autostart,clients,default_netvm,fallback,force,kernelopts,label,memory,name,netvm,vcpus"

pillars=('{}' '{"moat": null}' '{"moat": {"default_netvm": true, "clients": ["work", "personal"], "name": "fw", "memory": 48, "vcpus": 1}}' "$full")
names=(empty null "default_netvm+clients" "example-uncommented")
for sls in moat/init.sls moat/rollback.sls; do
	for i in "${!pillars[@]}"; do
		check "$sls renders to valid qvm states (pillar ${names[$i]})" \
			$PY "$chk" check "$salt/$sls" --pillar "${pillars[$i]}"
	done
done
check "moat.top is a valid dom0 top naming existing states" $PY "$chk" top "$salt/moat.top" "$salt"
check "pillar moat.top is valid" $PY "$chk" top "$salt/pillar/moat.top" "$salt/pillar"
check "example pillar is valid" $PY "$chk" pillar "$salt/pillar/moat.sls"
check "example pillar, uncommented, is valid" $PY "$chk" pillar "$tmp/moat-full.sls"
sed 's/^  # name: sys-moat/  name: "a\x27; reboot #"/' "$salt/pillar/moat.sls" >"$tmp/moat-badname.sls"
check_not "a pillar name that is not a qube name is refused (it reaches shell commands)" $PY "$chk" pillar "$tmp/moat-badname.sls"

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
eq "features: qrexec, qubes-firewall, own kernelopts, no updates, service qube" "$(jq -r '.enable | sort | join(",")' <<<"$features")" \
	"no-default-kernelopts,qrexec,qubes-firewall,servicevm,skip-update"
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
eq "moat is started (qvm.start, not the qvm.running check) before qubes move to it" \
	"$(jq -r '."moat-started"."qvm.start"[0].name' "$tmp/clients.json")" fw
eq "switching clients requires moat-started" \
	"$(jq -r '[."moat-client-work"."qvm.prefs"[] | .require // empty | .[] | .qvm] | join(",")' "$tmp/clients.json")" moat-started

# Create-only by default, as the stock formulas: the qube's settings are
# written only while it does not exist; pillar force: true makes Salt own them.
eq "create-only: qvm.vm is skipped once the qube exists" \
	"$(jq -r '[."sys-moat"."qvm.vm"[] | .unless // empty] | join(",")' "$tmp/default.json")" "qvm-check --quiet sys-moat"
$PY "$chk" render "$salt/moat/init.sls" --pillar '{"moat": {"force": true}}' >"$tmp/force.json"
eq "force: settings applied to an existing qube too" \
	"$(jq -r '[."sys-moat"."qvm.vm"[] | .unless // empty] | length' "$tmp/force.json")" 0
$PY "$chk" render "$salt/moat/init.sls" --pillar '{"moat": {"clients": ["work"]}}' >"$tmp/c1.json"
eq "create-only still switches the clients the pillar names" \
	"$(jq -r '."moat-client-work"."qvm.prefs"[1].netvm' "$tmp/c1.json")" sys-moat

$PY "$chk" render "$salt/moat/rollback.sls" --pillar "${pillars[2]}" >"$tmp/rollback.json"
eq "rollback restores default_netvm only if it was moat" \
	"$(jq -r '."moat-restore-default-netvm"."cmd.run"[1].onlyif' "$tmp/rollback.json")" \
	'test "$(qubes-prefs default_netvm)" = "fw"'
eq "rollback starts sys-firewall (qvm.start)" \
	"$(jq -r '."moat-fallback-started"."qvm.start"[0].name' "$tmp/rollback.json")" sys-firewall
eq "rollback turns sys-firewall's autostart back on" \
	"$(jq -c '."moat-fallback-autostart"."qvm.prefs" | add | {name, autostart}' "$tmp/rollback.json")" \
	'{"name":"sys-firewall","autostart":true}'
eq "rollback turns moat's autostart off" \
	"$(jq -c '."moat-no-autostart"."qvm.prefs" | add | {name, autostart}' "$tmp/rollback.json")" \
	'{"name":"fw","autostart":false}'

# Run rollback's commands, in the order their requisites give, against fake
# Qubes tools holding a dom0's state: default_netvm is moat, "follow" uses
# the default, "listed" (in pillar clients) and "byhand" (switched by hand,
# not in the pillar) have netvm moat explicitly, "other" is on sys-net.
mkdir -p "$tmp/bin" "$tmp/q"
cat >"$tmp/bin/qvm-ls" <<'FAKE'
#!/bin/bash
# --raw-data --fields NAME,NETVM: effective netvm, default resolved.
def=$(cat "$Q/default_netvm")
for f in "$Q"/vm.*; do v=$(cat "$f"); [[ $v == DEFAULT ]] && v=$def; echo "${f##*/vm.}|$v"; done
FAKE
cat >"$tmp/bin/qvm-prefs" <<'FAKE'
#!/bin/bash
[[ $# -eq 3 && $2 == netvm ]] || { echo "fake qvm-prefs: $*" >&2; exit 2; }
[[ -f $Q/vm.$1 ]] || { echo "no such qube $1" >&2; exit 1; }
echo "$3" >"$Q/vm.$1"; echo "qvm-prefs $*" >>"$Q/log"
FAKE
cat >"$tmp/bin/qubes-prefs" <<'FAKE'
#!/bin/bash
if [[ $# -eq 1 ]]; then cat "$Q/$1"; else echo "$2" >"$Q/$1"; echo "qubes-prefs $*" >>"$Q/log"; fi
FAKE
chmod +x "$tmp/bin/"*
echo fw >"$tmp/q/default_netvm"
echo DEFAULT >"$tmp/q/vm.follow"; echo fw >"$tmp/q/vm.work"; echo fw >"$tmp/q/vm.byhand"
echo sys-net >"$tmp/q/vm.other"; echo sys-net >"$tmp/q/vm.fw"
: >"$tmp/q/log"
runcmd() {	# state ID: run its cmd.run if its onlyif holds
	local only name
	only=$(jq -r ".\"$1\".\"cmd.run\" | add | .onlyif" "$tmp/rollback.json")
	name=$(jq -r ".\"$1\".\"cmd.run\" | add | .name" "$tmp/rollback.json")
	if Q=$tmp/q PATH=$tmp/bin:$PATH sh -c "$only"; then Q=$tmp/q PATH=$tmp/bin:$PATH sh -c "$name"; fi
}
runcmd moat-restore-default-netvm && runcmd moat-restore-clients; rc=$?
eq "rollback commands succeed" "$rc" 0
eq "rollback: default_netvm back, then every qube still on moat moved, hand-switched ones too" \
	"$(cat "$tmp/q/log")" "qubes-prefs default_netvm sys-firewall
qvm-prefs byhand netvm sys-firewall
qvm-prefs work netvm sys-firewall"
eq "rollback: nothing left on moat" "$(Q=$tmp/q "$tmp/bin/qvm-ls" | grep -c '|fw$')" 0
eq "rollback: qubes following the default and other netvms untouched" \
	"$(cat "$tmp/q/vm.follow") $(cat "$tmp/q/vm.other")" "DEFAULT sys-net"
: >"$tmp/q/log"
runcmd moat-restore-default-netvm && runcmd moat-restore-clients
eq "rollback run twice changes nothing" "$(cat "$tmp/q/log")" ""
eq "the clients step comes after the default_netvm step" \
	"$(jq -c '[."moat-restore-clients"."cmd.run"[] | .require // empty | .[]]' "$tmp/rollback.json")" \
	'[{"qvm":"moat-fallback-started"},{"cmd":"moat-restore-default-netvm"}]'

# The checker must catch the mistakes that only show up on a real dom0, and
# for the reason the test names (its message), not some other one.
refuse() {	# what, file, message pattern
	if $PY "$chk" check "$2" --pillar '{"moat": {"default_netvm": true, "clients": ["work"]}}' >"$tmp/why" 2>&1; then
		nok "checker rejects $1 (it passed)"
	elif grep -qE -- "$3" "$tmp/why"; then
		ok "checker rejects $1"
	else
		nok "checker rejects $1 (for another reason)"; sed 's/^/# /' "$tmp/why"
	fi
}
bad() {	# what, sed expression applied to init.sls, message pattern
	sed "$2" "$salt/moat/init.sls" >"$tmp/bad.sls"
	refuse "$1" "$tmp/bad.sls" "$3"
}
bad "a property qvm.prefs cannot set" 's/- maxmem: 0/- shutdown-timeout: 5/' "'shutdown-timeout' is not settable"
bad "an underscore property name" 's/- provides-network: true/- provides_network: true/' "'provides_network' is not settable"
bad "a property only Qubes 4.3 accepts" 's/- maxmem: 0/- devices-denied: ""/' "new in Qubes 4.3"
bad "an unknown qvm.vm action" 's/- features:/- feature:/' "unknown qvm.vm action 'feature'"
bad "a requisite naming no state" 's/- file: moat-kernel-installed/- file: moat-kernel/' "require names no state: file: moat-kernel$"
bad "a non-integer vcpus" "s/vcpus', 2)/vcpus', 'lots')/" "vcpus must be a non-negative integer"
bad "an unknown label" "s/'orange'/'pink'/" "label must be one of"
bad "a duplicate state ID" 's/^moat-kernel-installed:/{{ name }}:/' "duplicate key"
bad "broken YAML" 's/^    - present:/  - present:/' "expected|mapping|block"
bad "an undefined Jinja variable" 's/{{ name }}:/{{ nme }}:/' "undefined"
bad "qvm.running (a check) before switching clients to moat" 's/qvm\.start:/qvm.running:/' \
	"moat-client-work: attaches qubes to sys-moat but only requires moat-started, a check"
bad "switching clients with no start of moat at all" '/^moat-client/,$ { /require:/d; /qvm: moat-started/d }' \
	"moat-client-work: attaches qubes to sys-moat without requiring a qvm.start"
bad "an option qvm.start does not take" 's/^    - name: {{ name }}$/&\n    - wait: true/' "qvm.start does not take 'wait'"
bad "a qvm.start flag that does not exist" 's/^  qvm\.start:$/&\n    - flags: [wait]/' "qvm.start flags are"
bad "an unless that is not a command" 's/- unless: qvm-check --quiet {{ name }}/- unless: {a: b}/' "unless must be a command"
rbad() {	# what, sed expression applied to rollback.sls, message pattern
	sed "$2" "$salt/moat/rollback.sls" >"$tmp/bad.sls"
	refuse "$1" "$tmp/bad.sls" "$3"
}
rbad "rollback with qvm.running (a check) for sys-firewall" 's/qvm\.start:/qvm.running:/' \
	"moat-restore-clients: attaches qubes to sys-firewall but only requires moat-fallback-started, a check"
rbad "rollback moving qubes without starting sys-firewall" '/- qvm: moat-fallback-started/d' \
	"moat-restore-default-netvm: attaches qubes to sys-firewall without"
done_testing
