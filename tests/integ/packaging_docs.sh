#!/bin/bash
# docs/install.md, walked as a dom0 user would: every moat-rules command it
# shows is one moat-rules takes, every manual page it names is shipped,
# every Salt state and pillar key it names exists, every path of its
# package table is in the RPM's file list, the hand-made qube gets the
# formula's features, and it tells nobody to run a command in the moat qube
# (which has no shell).
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
doc=$src/docs/install.md
spec=$src/packaging/rpm/moat-dom0.spec
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# moat-rules lines of the guide, run against a fake qvm-run: each must be
# accepted (exit 0) and make exactly one call.
cat >"$tmp/qvm-run" <<'FAKE'
#!/bin/bash
echo call >>"$FAKE_DIR/calls"
cat >/dev/null
FAKE
chmod +x "$tmp/qvm-run"
printf '{"version": 1, "rules": []}\n' >"$tmp/rules.json"
grep -oE '^moat-rules [^#<>]*' "$doc" | sed 's/ *$//' | sort -u >"$tmp/cmds"
[[ -s $tmp/cmds ]] && ok "the guide shows moat-rules commands ($(wc -l <"$tmp/cmds"))" || nok "the guide shows moat-rules commands"
while read -r -a cmd; do
	rm -f "$tmp/calls"
	(cd "$tmp" && FAKE_DIR=$tmp MOAT_QVM_RUN=$tmp/qvm-run "$src/packaging/dom0/${cmd[0]}" "${cmd[@]:1}" \
		>/dev/null 2>&1 </dev/null); rc=$?
	calls=$(cat "$tmp/calls" 2>/dev/null | wc -l)
	if [[ ${cmd[1]} == help ]]; then want=0; else want=1; fi
	if [[ $rc -eq 0 && $calls -eq $want ]]; then ok "guide: '${cmd[*]}' works"; else nok "guide: '${cmd[*]}' works (rc $rc, $calls calls)"; fi
done < <(sed 's/rejects$/rejects/' "$tmp/cmds" | grep -v ' rejects$')
# rejects refuses a terminal; the guide redirects it to a file.
grep -q '^moat-rules sys-moat rejects > rejects.pcap' "$doc" && ok "guide: rejects is redirected to a file" || nok "guide: rejects is redirected to a file"

for m in $(grep -oE '`man [a-z.-]+`' "$doc" | tr -d '`' | cut -d' ' -f2 | sort -u); do
	if ls "$src/man/$m".[0-9] >/dev/null 2>&1 && grep -q "man[0-9]/$m\.[0-9]" "$spec"; then
		ok "guide: man $m is written and shipped"
	else
		nok "guide: man $m is written and shipped"
	fi
done

for st in $(grep -oE 'state\.sls [a-z.]+' "$doc" | cut -d' ' -f2 | sort -u); do
	f=$src/packaging/salt/${st//.//}
	if [[ -f $f.sls || -f $f/init.sls ]]; then ok "guide: state $st exists"; else nok "guide: state $st exists"; fi
done

# The pillar table lists exactly the example pillar's settings.
table=$(sed -n '/^| key | default | meaning |$/,/^$/p' "$doc" | sed -n 's/^| `\([a-z_]*\)` .*/\1/p' | sort | tr '\n' ' ')
pillar=$(sed -nE 's/^  # ([a-z_]+):.*/\1/p' "$src/packaging/salt/pillar/moat.sls" | sort -u | tr '\n' ' ')
eq "guide: the settings table is the example pillar's" "$table" "$pillar"

# Every path in the package table is in the RPM's %files.
files=$(sed -n '/^%files$/,/^%changelog$/p' "$spec" | sed -e 's|%{kdir}|/var/lib/qubes/vm-kernels/moat|' \
	-e 's|%{_bindir}|/usr/bin|' -e 's|%{_sysconfdir}|/etc|' -e 's|%{_mandir}|/usr/share/man|' \
	-e 's|%{_docdir}/%{name}|/usr/share/doc/moat-dom0|' -e 's|%{_localstatedir}|/var|')
for p in $(sed -n '/^| path | what |$/,/^$/p' "$doc" | grep -oE '^\| `/[^`]+`' | tr -d '|` '); do
	if grep -qF "$p" <<<"$files"; then ok "package table: $p is packaged"; else nok "package table: $p is packaged"; fi
done
# ... and the kernel directory holds what the table says, nothing unused.
eq "package table: the kernel directory's files" \
	"$(grep -oE '/vm-kernels/moat/[a-z-]+(\.txt)?' <<<"$files" | sort | tr '\n' ' ')" \
	"/vm-kernels/moat/initramfs /vm-kernels/moat/vmlinuz "

# The hand-made qube gets the formula's features.
formula=$(sed -n '/- enable:/,/- disable:/p' "$src/packaging/salt/moat/init.sls" | sed -n 's/^ *- \([a-z-]*\)$/\1/p' | sort | tr '\n' ' ')
byhand=$(sed -n 's/^for f in \(.*\); do qvm-features sys-moat .*/\1/p' "$doc" | tr ' ' '\n' | sort | tr '\n' ' ')
eq "guide: the qube made by hand gets the formula's features" "$byhand" "$formula"

# No instruction to run something inside the qube, and no option list the
# user cannot print there.
eq "guide: no 'moat --help' or moatctl command to type" \
	"$(grep -cE '^moatctl|`moat --help`|in the moat (VM|qube) itself' "$doc")" 0
eq "rules.md: no command to type inside the moat qube" \
	"$(grep -cE 'in the moat (VM|qube) itself' "$src/docs/rules.md")" 0
# The qubes-firewall feature is explained as what it does (the GUI warning),
# not as what makes dom0 send the rules.
eq "guide: the qubes-firewall feature is not said to make dom0 hand over rules" \
	"$(grep -ciE 'qubes-firewall. feature so dom0 hands|feature so dom0 hands it' "$doc")" 0
done_testing
