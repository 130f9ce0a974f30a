#!/bin/bash
# The shipped VM image ("make vm-image": packaging/vm/moat/ in the build
# directory, or MOAT_VM_IMAGE=DIR) is a release build: none of its programs
# carries a test hook, the sandbox's debug reporter or a sanitizer, whatever
# the build directory itself was configured with.  Run by "make check-vm"
# after the image is built, and by "make check" when an image is there.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${MOAT_BUILDDIR:-$src/build}
img=${MOAT_VM_IMAGE:-$build/packaging/vm/moat}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ ! -s $img/initramfs ]]; then
	skip "release image" "no image in $img (make vm-image)"
	done_testing
	exit
fi

# What each kind of non-release build leaves in the binaries' bytes (the
# image's programs are stripped, so strings, not symbols):
#   test hooks: the moat.TestSyscall service and agentd's "test hook:" lines,
#     both compiled only with MOAT_TEST_HOOKS (common/sandbox.c's
#     sandbox_test_forbidden is compiled in every build, unreachable without
#     the hooks, so its strings are not a marker)
#   --enable-sandbox-debug: the SIGSYS reporter's message
#   sanitizers: their runtime entry points (dynamic symbols survive strip)
#   the fake Xen of the tests: its switch and its log line (symbol by
#     symbol, unstripped, shipped_symbols.sh checks the release tree for
#     any test code)
markers='moat\.TestSyscall|test hook: making forbidden call|sandbox: forbidden system call|__asan_init|__ubsan_handle|__msan_init|__tsan_init|MOAT_FAKEXEN|FAKE Xen'
scan() {	# FILE...: print "file: marker" for each marker found
	local f
	for f in "$@"; do
		grep -aoE "$markers" "$f" | sort -u | sed "s|^|${f##*/}: |"
	done
}

mkdir -p "$tmp/root"
if ! (cd "$tmp/root" && zcat "$img/initramfs" | cpio -idm --quiet 2>/dev/null); then
	nok "the initramfs unpacks"
	done_testing
	exit 1
fi
progs=("$tmp/root/init" "$tmp/root/sbin/moat" "$tmp/root"/usr/libexec/moat/*)
names=$(for p in "${progs[@]}"; do [[ -f $p ]] && echo "${p##*/}"; done | sort | tr '\n' ' ')
if [[ $names == "agentd init moat natd netbackd policyd " ]]; then
	ok "the image holds init, moat and the four daemons"
else
	nok "the image holds init, moat and the four daemons (got: $names)"
fi
found=$(scan "${progs[@]}")
if [[ -z $found ]]; then
	ok "no test hook, fake Xen, sandbox debug or sanitizer in the image's programs"
else
	nok "no test hook, fake Xen, sandbox debug or sanitizer in the image's programs"
	sed 's/^/# /' <<<"$found"
fi
if [[ -z $(find "$tmp/root" -name 'lib*san.so*') ]]; then
	ok "no sanitizer runtime library in the image"
else
	nok "no sanitizer runtime library in the image"
fi
if [[ -f $build/packaging/vm/moat.build ]]; then
	b=$(cat "$build/packaging/vm/moat.build")
	case $b in
	*test-hooks=no*) ok "the image's build configuration: $b" ;;
	*) nok "the image's build configuration: $b" ;;
	esac
fi

# The scan must be able to fail: this build directory's own supervisor,
# when it was configured with --enable-test-hooks, carries the marker.
if grep -q '^#define MOAT_TEST_HOOKS 1' "$build/config.h" 2>/dev/null && [[ -x $build/moat/moat ]]; then
	if [[ -n $(scan "$build/moat/moat") ]]; then
		ok "the scan finds the test hooks of this (test-hooks) build's moat"
	else
		nok "the scan finds the test hooks of this (test-hooks) build's moat"
	fi
fi
if [[ -x $build/tests/xen/netbackd-fakexen ]]; then
	if [[ -n $(scan "$build/tests/xen/netbackd-fakexen") ]]; then
		ok "the scan finds the fake Xen in tests/xen/netbackd-fakexen"
	else
		nok "the scan finds the fake Xen in tests/xen/netbackd-fakexen"
	fi
fi
done_testing
