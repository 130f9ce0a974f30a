#!/bin/bash
# The dom0 RPM builds from the spec and installs exactly the files dom0
# needs, with the right modes, config flags and removal guard.  Uses the
# real VM kernel directory when "make vm-image" has built it, else a
# stand-in, so this stays fast.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${MOAT_BUILDDIR:-}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v rpmbuild >/dev/null; then
	skip "dom0 rpm" "rpmbuild not installed (Debian package rpm)"
	done_testing
	exit
fi

kdir=
if [[ -n $build && -s $build/packaging/vm/moat/vmlinuz ]]; then
	kdir=$build/packaging/vm/moat
	echo "# using the built kernel directory $kdir"
else
	kdir=$tmp/kdir
	mkdir -p "$kdir"
	printf 'stand-in vmlinuz' >"$kdir/vmlinuz"
	printf 'stand-in initramfs' >"$kdir/initramfs"
fi

# No version given: build-rpm.sh takes configure.ac's, the only place the
# version is written.
acver=$(sed -n 's/^AC_INIT(\[moat\], *\[\([^]]*\)\].*/\1/p' "$src/configure.ac")
if rpm=$("$src/packaging/rpm/build-rpm.sh" "$kdir" "$tmp/out" 2>"$tmp/err"); then
	ok "rpmbuild builds the package"
else
	nok "rpmbuild builds the package"
	sed 's/^/# /' "$tmp/err"
	done_testing
	exit 1
fi
eq "package name, version, release, arch" \
	"$(rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH}' "$rpm")" "moat-dom0 $acver 1.fc37 x86_64"
eq "no version number is written in the packaging files (configure.ac has it)" \
	"$(grep -lE '[0-9]+\.[0-9]+\.[0-9]+' "$src/packaging/rpm/moat-dom0.spec" "$src/packaging/rpm/build-rpm.sh")" ""
if "$src/packaging/rpm/build-rpm.sh" "$kdir" "$tmp/out2" 9.8.7 >/dev/null 2>&1 &&
    [[ $(rpm -qp --qf '%{VERSION}' "$tmp/out2"/*.rpm) == 9.8.7 ]]; then
	ok "the version make rpm passes (PACKAGE_VERSION) is the package's"
else
	nok "the version make rpm passes (PACKAGE_VERSION) is the package's"
fi
desc=$(rpm -qp --qf '%{DESCRIPTION}' "$rpm")
if [[ $(wc -l <<<"$desc") -ge 10 ]] && grep -q sys-firewall <<<"$desc" && grep -q install.md <<<"$desc"; then
	ok "rpm -qi: a description of what moat is and what the package installs"
else
	nok "rpm -qi: a description of what moat is and what the package installs"
fi

expected="/etc/qubes-rpc/moat.StoredRules
/etc/qubes/policy.d/60-moat.policy
/etc/qubes/policy.d/70-moat.policy
/srv/pillar/base/moat.sls
/srv/pillar/base/moat.top
/srv/salt/moat
/srv/salt/moat.top
/srv/salt/moat/init.sls
/srv/salt/moat/rollback.sls
/usr/bin/moat-rules
/usr/share/doc/moat-dom0/install.md
/usr/share/doc/moat-dom0/rules.md
/usr/share/man/man5/moat-rules.json.5
/usr/share/man/man8/moat-rules.8
/usr/share/man/man8/moat.8
/usr/share/man/man8/moatctl.8
/var/lib/moat
/var/lib/qubes/vm-kernels/moat
/var/lib/qubes/vm-kernels/moat/initramfs
/var/lib/qubes/vm-kernels/moat/vmlinuz"
# Fedora's rpmbuild compresses man pages; Debian's does not.
eq "file list is exactly the expected one" "$(rpm -qlp "$rpm" | sed 's/\.gz$//' | sort)" "$expected"
eq "modes and owners" "$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm" | sed 's/\.gz$//' | sort -k3)" \
"-rwxr-xr-x root:root /etc/qubes-rpc/moat.StoredRules
-rw-r--r-- root:root /etc/qubes/policy.d/60-moat.policy
-rw-r--r-- root:root /etc/qubes/policy.d/70-moat.policy
-rw-r--r-- root:root /srv/pillar/base/moat.sls
-rw-r--r-- root:root /srv/pillar/base/moat.top
drwxr-xr-x root:root /srv/salt/moat
-rw-r--r-- root:root /srv/salt/moat.top
-rw-r--r-- root:root /srv/salt/moat/init.sls
-rw-r--r-- root:root /srv/salt/moat/rollback.sls
-rwxr-xr-x root:root /usr/bin/moat-rules
-rw-r--r-- root:root /usr/share/doc/moat-dom0/install.md
-rw-r--r-- root:root /usr/share/doc/moat-dom0/rules.md
-rw-r--r-- root:root /usr/share/man/man5/moat-rules.json.5
-rw-r--r-- root:root /usr/share/man/man8/moat-rules.8
-rw-r--r-- root:root /usr/share/man/man8/moat.8
-rw-r--r-- root:root /usr/share/man/man8/moatctl.8
drwx------ root:root /var/lib/moat
drwxr-xr-x root:root /var/lib/qubes/vm-kernels/moat
-rw-r--r-- root:root /var/lib/qubes/vm-kernels/moat/initramfs
-rw-r--r-- root:root /var/lib/qubes/vm-kernels/moat/vmlinuz"
eq "user-editable files are %config(noreplace)" "$(rpm -qcp "$rpm" | sort)" \
"/etc/qubes/policy.d/60-moat.policy
/etc/qubes/policy.d/70-moat.policy
/srv/pillar/base/moat.sls
/srv/pillar/base/moat.top"
eq "requires the Qubes tools it calls" \
	"$(rpm -qRp "$rpm" | grep -E '^qubes' | sort -u | tr '\n' ' ')" \
	"qubes-core-admin-client qubes-mgmt-salt-dom0-qvm "

# Payload: every file is the one from the tree.
mkdir -p "$tmp/root"
(cd "$tmp/root" && rpm2cpio "$rpm" | cpio -idm --quiet)
same() {	# packaged path, source file
	if cmp -s "$tmp/root$1" "$2"; then ok "payload $1 is the tree's file"; else nok "payload $1 is the tree's file"; fi
}
same /var/lib/qubes/vm-kernels/moat/vmlinuz "$kdir/vmlinuz"
same /var/lib/qubes/vm-kernels/moat/initramfs "$kdir/initramfs"
same /usr/bin/moat-rules "$src/packaging/dom0/moat-rules"
same /etc/qubes/policy.d/60-moat.policy "$src/packaging/dom0/60-moat.policy"
same /etc/qubes/policy.d/70-moat.policy "$src/packaging/dom0/70-moat.policy"
same /etc/qubes-rpc/moat.StoredRules "$src/packaging/dom0/moat.StoredRules"
same /srv/salt/moat/init.sls "$src/packaging/salt/moat/init.sls"
same /srv/salt/moat.top "$src/packaging/salt/moat.top"
same /srv/pillar/base/moat.sls "$src/packaging/salt/pillar/moat.sls"
same /usr/share/doc/moat-dom0/rules.md "$src/docs/rules.md"
for m in man8/moat.8 man8/moatctl.8 man8/moat-rules.8 man5/moat-rules.json.5; do
	same /usr/share/man/$m "$src/man/${m#*/}"
done
# The formula sets no-default-kernelopts, so qubesd never reads
# default-kernelopts-common.txt: the package must not ship one that looks
# as if it mattered.
eq "no unused default-kernelopts file in the kernel directory" \
	"$(ls "$tmp/root/var/lib/qubes/vm-kernels/moat" | tr '\n' ' ')" "initramfs vmlinuz "
eq "the formula does set no-default-kernelopts" \
	"$(grep -c '^        - no-default-kernelopts$' "$src/packaging/salt/moat/init.sls")" 1

# %preun refuses to remove the kernel while a qube boots it.
rpm -qp --qf '%{PREUN}' "$rpm" >"$tmp/preun.sh"
mkdir -p "$tmp/bin"
cat >"$tmp/bin/qvm-ls" <<'FAKE'
#!/bin/sh
printf '%s\n' "$FAKE_QVM_LS"
FAKE
cat >"$tmp/bin/qubes-prefs" <<'FAKE'
#!/bin/sh
[ "$1" = default_kernel ] && echo "${FAKE_DEFAULT_KERNEL:-6.6.48-1.fc37}"
FAKE
chmod +x "$tmp/bin/qvm-ls" "$tmp/bin/qubes-prefs"
preun() {	# $1 = rpm's argument (0 erase, 1 upgrade), qvm-ls output[, default kernel]
	FAKE_QVM_LS=$2 FAKE_DEFAULT_KERNEL=${3:-} PATH=$tmp/bin:$PATH sh "$tmp/preun.sh" "$1" >/dev/null 2>&1
	echo $?
}
eq "%preun: erase refused while sys-moat uses kernel moat" "$(preun 0 $'dom0|\nsys-moat|moat\nwork|6.6.48-1')" 1
eq "%preun: erase allowed once no qube uses it" "$(preun 0 $'dom0|\nwork|6.6.48-1\nmoat-old|moat2')" 0
eq "%preun: erase refused while moat is qubes-prefs default_kernel" "$(preun 0 $'dom0|\nwork|6.6.48-1' moat)" 1
eq "%preun: erase allowed with another default kernel" "$(preun 0 $'dom0|\nwork|6.6.48-1' moat2)" 0
eq "%preun: upgrade always allowed" "$(preun 1 'sys-moat|moat' moat)" 0
eq "%post changes no qube (no install scriptlet)" "$(rpm -qp --qf '%{POSTIN}' "$rpm")" "(none)"
if command -v rpmlint >/dev/null; then
	# The spec as build-rpm.sh hands it to rpmbuild: with the version defined.
	{ echo "%global moat_version $acver"; cat "$src/packaging/rpm/moat-dom0.spec"; } >"$tmp/moat-dom0.spec"
	if rpmlint -r "$src/packaging/rpm/moat-dom0.rpmlintrc" "$rpm" "$tmp/moat-dom0.spec" >"$tmp/lint" 2>&1 &&
	    grep -q ' 0 errors' "$tmp/lint"; then
		ok "rpmlint: no errors"
	else
		nok "rpmlint: no errors"
		grep -E ': [EW]: ' "$tmp/lint" | sed 's/^/# /'
	fi
else
	skip "rpmlint" "rpmlint not installed (Debian package rpmlint)"
fi
done_testing
