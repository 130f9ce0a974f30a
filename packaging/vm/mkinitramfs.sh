#!/bin/bash
# Build the moat VM's initramfs (a gzip'd newc cpio).
#
#   mkinitramfs.sh --out FILE --init INIT --moat SUPERVISOR [--libexec DIR]
#
# Layout: /init (INIT), /sbin/poweroff -> /init (the kernel runs it on a Xen
# poweroff request), /sbin/moat (SUPERVISOR), /usr/libexec/moat/* (the
# daemons, from DIR), /dev/console, empty mount points, and exactly the
# shared libraries the ELF files need (from ldd, at the paths ldd gives, so
# the dynamic loader finds them with no ld.so.cache).  Binaries are stripped;
# owners, modes and times are normalised so the same inputs give the same
# bytes.
set -euo pipefail
out= init= moat= libexec=
while [[ $# -gt 0 ]]; do
	case $1 in
	--out) out=$2; shift 2 ;;
	--init) init=$2; shift 2 ;;
	--moat) moat=$2; shift 2 ;;
	--libexec) libexec=$2; shift 2 ;;
	*) echo "mkinitramfs: unknown argument $1" >&2; exit 2 ;;
	esac
done
[[ -n $out && -x $init && -x $moat ]] || {
	echo "usage: mkinitramfs.sh --out FILE --init INIT --moat SUPERVISOR [--libexec DIR]" >&2
	exit 2
}

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{dev,proc,sys,run,tmp,sbin,usr/libexec/moat}
chmod 1777 "$root/tmp"
mknod -m 600 "$root/dev/console" c 5 1
install -m 0755 "$init" "$root/init"
ln -s /init "$root/sbin/poweroff"
install -m 0755 "$moat" "$root/sbin/moat"
if [[ -n $libexec ]]; then
	for f in "$libexec"/*; do
		[[ -f $f && -x $f ]] && install -m 0755 "$f" "$root/usr/libexec/moat/"
	done
fi

elves=()
while IFS= read -r -d '' f; do
	if [[ $(head -c 4 "$f" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
		strip --strip-unneeded "$f"
		elves+=("$f")
	fi
done < <(find "$root" -type f -print0)

# Libraries: every "=> /path" and the loader line of ldd, for every ELF.
libs=$(for f in "${elves[@]}"; do
	ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u)
for l in $libs; do
	mkdir -p "$root$(dirname "$l")"
	cp -L "$l" "$root$l"
done

find "$root" -exec touch -h -d @0 {} +
mkdir -p "$(dirname "$out")"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: $out: $(stat -c %s "$out") bytes compressed, $(du -sb "$root" | cut -f1) bytes unpacked" >&2
echo "mkinitramfs: contents: $(cd "$root" && find . -type f -o -type l | LC_ALL=C sort | tr '\n' ' ')" >&2
