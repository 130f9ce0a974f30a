#!/bin/bash
# The manual pages (man/, mdoc) pass mandoc's lint, name themselves after
# their files, document every option moat and moatctl take and every
# command moat-rules takes, and "make install" installs all four.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${MOAT_BUILDDIR:-}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pages="moat.8 moatctl.8 moat-rules.8 moat-rules.json.5"

if ! command -v mandoc >/dev/null; then
	skip "manual pages" "mandoc not installed (Debian package mandoc)"
	done_testing
	exit
fi

# -W warning: warnings and errors fail; "style" notes such as a referenced
# page (qvm-prefs(1)) not installed on this machine do not.
for p in $pages; do
	f=$src/man/$p
	if [[ ! -f $f ]]; then nok "man/$p exists"; continue; fi
	if mandoc -Tlint -W warning "$f" >"$tmp/lint" 2>&1; then ok "mandoc -Tlint: $p"; else nok "mandoc -Tlint: $p"; sed 's/^/# /' "$tmp/lint"; fi
	name=${p%.*} sec=${p##*.}
	eq "$p: .Dt and .Nm name the file" \
		"$(sed -n 's/^\.Dt \([^ ]*\) \([0-9]\)$/\1 \2/p' "$f") $(sed -n '0,/^\.Nm /s/^\.Nm \(.*\)$/\1/p' "$f")" \
		"${name^^} $sec $name"
done
# The lint must be able to fail.
sed 's/^\.Xr qvm-prefs 1/.Xr qvm-prefs/' "$src/man/moat.8" >"$tmp/bad.8"
if mandoc -Tlint -W warning "$tmp/bad.8" >/dev/null 2>&1; then nok "lint rejects a broken page"; else ok "lint rejects a broken page"; fi

# Every long option in the programs' own usage text is in their page.
opts_of() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
documented() {	# page, options...
	local page=$1 o missing=
	shift
	for o in "$@"; do
		grep -qE "Fl -${o#--}( |$)" "$src/man/$page" || missing="$missing $o"
	done
	eq "$page documents every option of the program's --help" "${missing# }" ""
}
if [[ -n $build && -x $build/moat/moat && -x $build/moat/moatctl ]]; then
	# shellcheck disable=SC2046
	documented moat.8 $("$build/moat/moat" --help | opts_of)
	# shellcheck disable=SC2046
	documented moatctl.8 $("$build/moat/moatctl" --help | opts_of)
	for c in status call; do
		if grep -q "^\.Cm $c" "$src/man/moatctl.8"; then ok "moatctl.8 documents $c"; else nok "moatctl.8 documents $c"; fi
	done
else
	skip "options of moat and moatctl" "not built (MOAT_BUILDDIR)"
fi

# "make install" (its install-man part) installs every page.
if [[ -n $build && -f $build/Makefile ]]; then
	if make -s -C "$build" install-man DESTDIR="$tmp/root" >"$tmp/inst" 2>&1; then
		got=$(cd "$tmp/root" && find . -type f | sed 's|.*/share/man/||' | sort | tr '\n' ' ')
		eq "make install installs the four pages" "$got" "man5/moat-rules.json.5 man8/moat-rules.8 man8/moat.8 man8/moatctl.8 "
	else
		nok "make install-man"; sed 's/^/# /' "$tmp/inst"
	fi
else
	skip "make install-man" "no build directory (MOAT_BUILDDIR)"
fi
done_testing
