#!/bin/bash
# No test code in a shipped program. The programs moat installs (moat,
# moatctl, the four daemons, moat-dom0) and the VM's /init must not define
# a symbol that code under tests/ defines (the fake Xen, the harnesses,
# stubs) nor carry the fake Xen's switch, in this build directory and in
# the release tree "make vm-image" builds (packaging/vm/release-build,
# unstripped; packaging_release.sh scans the stripped image's bytes).
# A build without --enable-test-hooks (the release tree always) must also
# hold none of the test hooks.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${MOAT_BUILDDIR:-$src/build}
release=${MOAT_RELEASE_BUILD:-$build/packaging/vm/release-build}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

shipped=(moat/moat moat/moatctl netbackd/netbackd natd/natd policyd/policyd agentd/agentd
	tools/moat-dom0/moat-dom0 packaging/vm/moat-init)

# What test code defines: the global symbols of every object compiled from
# a source under tests/ (they land in build/tests/), less those a
# non-test object defines too (main; stubs standing in for common/'s log
# and clock). Derived from the objects, so a new harness is covered.
globals() {	# OBJECT...: the names they define globally
	[[ $# -gt 0 ]] || return 0
	nm -g --defined-only --format=posix "$@" 2>/dev/null |
		awk 'NF >= 2 && $2 ~ /^[TDBRVWGS]$/ { print $1 }' | sort -u
}
# Objects of sources that still exist: a build directory keeps the objects
# of a file moved away (netbackd/fakexen.o after the fake Xen went to
# tests/xen/), which must not count as production code.
current() {	# OBJECT...: those whose source is in the tree
	local o d dir base
	for o in "$@"; do
		d=${o#"$build"/}; dir=${d%/*}; base=${d##*/}; base=${base%.o}
		# automake names per-target objects <target>-<source>.o
		if [[ -f $src/$dir/$base.c || ( $base == *-* && -f $src/$dir/${base#*-}.c ) ]]; then
			echo "$o"
		fi
	done
}
mapfile -t testobj < <(current $(find "$build/tests" -name '*.o' 2>/dev/null))
mapfile -t prodobj < <(current $(find "$build" -name '*.o' -not -path "$build/tests/*" \
	-not -path "$release/*" 2>/dev/null))
if [[ ${#testobj[@]} -eq 0 || ! -x $build/netbackd/netbackd ]]; then
	skip "shipped programs hold no test code" "not built in $build"
	done_testing
	exit
fi
globals "${testobj[@]}" >"$tmp/test.all"
globals "${prodobj[@]}" >"$tmp/prod"
comm -23 "$tmp/test.all" "$tmp/prod" >"$tmp/test"
# The fake Xen's names, however it would get in (as sources, an archive
# member, a copy): its API, the link-time redirect the test netbackd uses,
# and the switch the shipped netbackd once read.
fake_sym='^(fx_[a-z_]+|__wrap_[a-z_]+|.*fakexen.*)$'
fake_str='MOAT_FAKEXEN|FAKE Xen'
# The test hooks (--enable-test-hooks), as a hooks build and one without
# differ: the supervisor's moat.TestSyscall and moat.TestBreakRing services
# (static functions, kept in the symbol table of these unstripped builds),
# the daemons' MSG_TEST_RING handling and agentd's forbidden call. Not
# markers: shm_test_break and sandbox_test_forbidden are in every build
# (a stub, and unreachable without the hooks).
hook_sym='^svc_test_[a-z_]+$'
hook_str='moat\.Test[A-Za-z]+|MSG_TEST_RING for a ring|test hook: making forbidden call'

scan() {	# BINARY HOOKS(0/1): print "what: name" for each finding
	local b=$1 hooks=$2
	nm --defined-only "$b" 2>/dev/null | awk '{ print $NF }' | sort -u >"$tmp/syms"
	comm -12 "$tmp/syms" "$tmp/test" | sed 's/^/test code: /'
	grep -E "$fake_sym" "$tmp/syms" | sed 's/^/fake Xen: /'
	grep -aoE "$fake_str" "$b" | sort -u | sed 's/^/fake Xen switch: /'
	if [[ $hooks == 1 ]]; then
		grep -E "$hook_sym" "$tmp/syms" | sed 's/^/test hook: /'
		grep -aoE "$hook_str" "$b" | sort -u | sed 's/^/test hook: /'
	fi
}
check_tree() {	# DIR LABEL HOOKS
	local dir=$1 label=$2 hooks=$3 p found
	for p in "${shipped[@]}"; do
		[[ -x $dir/$p ]] || continue
		if ! nm "$dir/$p" >/dev/null 2>&1; then
			nok "$label $p has a symbol table to check"
			continue
		fi
		found=$(scan "$dir/$p" "$hooks")
		local what="no test code or fake Xen"
		[[ $hooks == 1 ]] && what="no test code, fake Xen or test hook"
		if [[ -z $found ]]; then
			ok "$label $p: $what"
		else
			nok "$label $p: $what"
			diag "$(head -20 <<<"$found")"
		fi
	done
}

if [[ -s $tmp/test ]] && grep -qx fx_open "$tmp/test"; then
	ok "the test code's symbols are known ($(wc -l <"$tmp/test") names, fx_open among them)"
else
	nok "the test code's symbols are known (fx_open among them)"
fi
hooks=1
grep -q '^#define MOAT_TEST_HOOKS 1' "$build/config.h" 2>/dev/null && hooks=0
check_tree "$build" "build:" "$hooks"

# The scan must be able to fail: the test netbackd is the shipped one's
# objects plus the fake Xen; in a test-hooks build, moat and natd have
# their hooks.
if [[ -x $build/tests/xen/netbackd-fakexen ]]; then
	found=$(scan "$build/tests/xen/netbackd-fakexen" 0)
	if grep -q '^fake Xen: fx_open$' <<<"$found" && grep -q '^test code: ' <<<"$found"; then
		ok "the scan finds the fake Xen in tests/xen/netbackd-fakexen"
	else
		nok "the scan finds the fake Xen in tests/xen/netbackd-fakexen"
	fi
fi
if [[ $hooks == 0 && -x $build/moat/moat && -x $build/natd/natd ]]; then
	if scan "$build/moat/moat" 1 | grep -q '^test hook: svc_test_syscall$' &&
	    scan "$build/natd/natd" 1 | grep -q '^test hook: MSG_TEST_RING'; then
		ok "the scan finds the test hooks of this (test-hooks) build's moat and natd"
	else
		nok "the scan finds the test hooks of this (test-hooks) build's moat and natd"
	fi
fi

# The release tree: always without hooks.
if [[ -x $release/netbackd/netbackd ]]; then
	if grep -q '^#define MOAT_TEST_HOOKS 1' "$release/config.h" 2>/dev/null; then
		nok "the release tree is configured without test hooks"
	else
		ok "the release tree is configured without test hooks"
	fi
	check_tree "$release" "release:" 1
else
	skip "release tree" "none in $release (make vm-image)"
fi
done_testing
