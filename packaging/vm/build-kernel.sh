#!/bin/bash
# Build (or fetch from the cache) the moat VM kernel.
#
#   build-kernel.sh FRAGMENT [OUT]
#
# Prints the path of the cached bzImage on stdout (and copies it to OUT if
# given).  The cache key is the SHA-256 of the fragment, the Debian version of
# linux-source-6.1, the compiler version and this script's recipe version, so
# a change to any of them gives a fresh build and anything else is instant.
# Cache root: $MOAT_KERNEL_CACHE (default /var/cache/moat/kernel).  Builds are
# serialised with a lock so CI and a developer never build the same tree twice.
set -euo pipefail

RECIPE=2	# bump when the steps below change in a way that changes the output
frag=$(realpath "${1:?usage: build-kernel.sh FRAGMENT [OUT]}")
out=${2:+$(realpath -m "$2")}
cache=${MOAT_KERNEL_CACHE:-/var/cache/moat/kernel}
src_tar=/usr/src/linux-source-6.1.tar.xz
jobs=${MOAT_KERNEL_JOBS:-2}

log() { echo "build-kernel: $*" >&2; }

[[ -r $src_tar ]] || { log "$src_tar missing (apt-get install linux-source-6.1)"; exit 2; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
ccver=$(${CC:-gcc} --version | head -n1)
key=$( { cat "$frag"; echo "linux-source-6.1 $srcver"; echo "$ccver"; echo "recipe $RECIPE"; } |
	sha256sum | cut -c1-16)
dir=$cache/$key
mkdir -p "$cache"

finish() {
	if [[ -n $out ]]; then cp "$dir/bzImage" "$out"; fi
	echo "$dir/bzImage"
}

if [[ -s $dir/bzImage ]]; then
	log "cached: $dir ($(stat -c %s "$dir/bzImage") bytes)"
	finish
	exit 0
fi

exec 9>"$cache/.lock"
log "waiting for the build lock"
flock 9
if [[ -s $dir/bzImage ]]; then	# someone else built it while we waited
	finish
	exit 0
fi

# One work tree is kept and reused (same source version), so a changed
# fragment rebuilds only what the changed options touch; the first build is
# ~12 min on 2 cores.  MOAT_KBUILD_CLEAN=1 removes it after the build.
work=${MOAT_KERNEL_WORK:-/var/tmp/moat-kbuild}
ksrc=$work/linux-source-6.1
if [[ $(cat "$work/.srcver" 2>/dev/null) != "$srcver" ]]; then
	rm -rf "$work"
	mkdir -p "$work"
	tar -C "$work" -xf "$src_tar"
	echo "$srcver" >"$work/.srcver"
fi
[[ -z ${MOAT_KBUILD_CLEAN:-} ]] || trap 'rm -rf "$work"' EXIT
log "building kernel $key in $work (linux-source-6.1 $srcver, -j$jobs)"
start=$(date +%s)
blog=$work/build.log
(
	cd "$ksrc"
	rm -f .config
	make tinyconfig
	scripts/kconfig/merge_config.sh -m .config "$frag"
	make olddefconfig
) >"$blog" 2>&1 || { tail -n 30 "$blog" >&2; exit 1; }

# Every line of the fragment must have survived olddefconfig: a silently
# dropped option (unmet dependency) is exactly the bug this guards against.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$ksrc/.config" || { log "not in .config: $line"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		if grep -qE "^$opt=[ym]" "$ksrc/.config"; then log "should be off: $opt"; bad=1; fi ;;
	esac
done <"$frag"
[[ $bad -eq 0 ]] || exit 1

nice -n 19 make -C "$ksrc" -j"$jobs" bzImage >>"$blog" 2>&1 || { tail -n 40 "$blog" >&2; exit 1; }
tmp=$cache/.tmp-$key
rm -rf "$tmp"
mkdir -p "$tmp"
cp "$ksrc/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$ksrc/.config" "$tmp/config"
cp "$frag" "$tmp/fragment"
echo "linux-source-6.1 $srcver" >"$tmp/version"
gzip -9 <"$blog" >"$tmp/build.log.gz"
rm -rf "$dir"
mv "$tmp" "$dir"
log "built in $(( $(date +%s) - start ))s: $dir/bzImage ($(stat -c %s "$dir/bzImage") bytes)"
finish
