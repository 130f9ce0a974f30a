#!/bin/bash
# The dom0 RPM builds from the spec and installs exactly the files dom0
# needs, with the right modes, config flags and removal guard.  Uses the
# real VM kernel directory when "make vm-image" has built it, else a
# stand-in, so this stays fast.
set -u
src=${MOAT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${MOAT_BUILDDIR:-}
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
eq() { if [[ $2 == "$3" ]]; then ok "$1"; else nok "$1"; diff <(echo "$3") <(echo "$2") | sed 's/^/# /'; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v rpmbuild >/dev/null; then
	echo "ok 1 - dom0 rpm # SKIP rpmbuild not installed (Debian package rpm)"
	exit 0
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

if rpm=$("$src/packaging/rpm/build-rpm.sh" "$kdir" "$tmp/out" 0.1.0 2>"$tmp/err"); then
	ok "rpmbuild builds the package"
else
	nok "rpmbuild builds the package"
	sed 's/^/# /' "$tmp/err"
	echo "1..$n"
	exit 1
fi
eq "package name, version, release, arch" \
	"$(rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH}' "$rpm")" "moat-dom0 0.1.0 1.fc37 x86_64"

expected="/etc/qubes/policy.d/70-moat.policy
/srv/pillar/base/moat.sls
/srv/pillar/base/moat.top
/srv/salt/moat
/srv/salt/moat.top
/srv/salt/moat/init.sls
/srv/salt/moat/rollback.sls
/usr/bin/moat-rules
/usr/share/doc/moat-dom0/install.md
/var/lib/qubes/vm-kernels/moat
/var/lib/qubes/vm-kernels/moat/default-kernelopts-common.txt
/var/lib/qubes/vm-kernels/moat/initramfs
/var/lib/qubes/vm-kernels/moat/vmlinuz"
eq "file list is exactly the expected one" "$(rpm -qlp "$rpm" | sort)" "$expected"
eq "modes and owners" "$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm" | sort -k3)" \
"-rw-r--r-- root:root /etc/qubes/policy.d/70-moat.policy
-rw-r--r-- root:root /srv/pillar/base/moat.sls
-rw-r--r-- root:root /srv/pillar/base/moat.top
drwxr-xr-x root:root /srv/salt/moat
-rw-r--r-- root:root /srv/salt/moat.top
-rw-r--r-- root:root /srv/salt/moat/init.sls
-rw-r--r-- root:root /srv/salt/moat/rollback.sls
-rwxr-xr-x root:root /usr/bin/moat-rules
-rw-r--r-- root:root /usr/share/doc/moat-dom0/install.md
drwxr-xr-x root:root /var/lib/qubes/vm-kernels/moat
-rw-r--r-- root:root /var/lib/qubes/vm-kernels/moat/default-kernelopts-common.txt
-rw-r--r-- root:root /var/lib/qubes/vm-kernels/moat/initramfs
-rw-r--r-- root:root /var/lib/qubes/vm-kernels/moat/vmlinuz"
eq "user-editable files are %config(noreplace)" "$(rpm -qcp "$rpm" | sort)" \
"/etc/qubes/policy.d/70-moat.policy
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
same /etc/qubes/policy.d/70-moat.policy "$src/packaging/dom0/70-moat.policy"
same /srv/salt/moat/init.sls "$src/packaging/salt/moat/init.sls"
same /srv/salt/moat.top "$src/packaging/salt/moat.top"
same /srv/pillar/base/moat.sls "$src/packaging/salt/pillar/moat.sls"
eq "common kernelopts keep their trailing space" \
	"$(od -An -c "$tmp/root/var/lib/qubes/vm-kernels/moat/default-kernelopts-common.txt" | tr -s ' ')" \
	"$(printf 'console=hvc0 ' | od -An -c | tr -s ' ')"

# %preun refuses to remove the kernel while a qube boots it.
rpm -qp --qf '%{PREUN}' "$rpm" >"$tmp/preun.sh"
mkdir -p "$tmp/bin"
cat >"$tmp/bin/qvm-ls" <<'FAKE'
#!/bin/sh
printf '%s\n' "$FAKE_QVM_LS"
FAKE
chmod +x "$tmp/bin/qvm-ls"
preun() {	# $1 = rpm's argument (0 erase, 1 upgrade), qvm-ls output
	FAKE_QVM_LS=$2 PATH=$tmp/bin:$PATH sh "$tmp/preun.sh" "$1" >/dev/null 2>&1
	echo $?
}
eq "%preun: erase refused while sys-moat uses kernel moat" "$(preun 0 $'dom0|\nsys-moat|moat\nwork|6.6.48-1')" 1
eq "%preun: erase allowed once no qube uses it" "$(preun 0 $'dom0|\nwork|6.6.48-1\nmoat-old|moat2')" 0
eq "%preun: upgrade always allowed" "$(preun 1 'sys-moat|moat')" 0
eq "%post changes no qube (no install scriptlet)" "$(rpm -qp --qf '%{POSTIN}' "$rpm")" "(none)"
if command -v rpmlint >/dev/null; then
	if rpmlint -r "$src/packaging/rpm/moat-dom0.rpmlintrc" "$rpm" "$src/packaging/rpm/moat-dom0.spec" >"$tmp/lint" 2>&1 &&
	    grep -q ' 0 errors' "$tmp/lint"; then
		ok "rpmlint: no errors"
	else
		nok "rpmlint: no errors"
		grep -E ': [EW]: ' "$tmp/lint" | sed 's/^/# /'
	fi
else
	n=$((n + 1)); echo "ok $n - rpmlint # SKIP rpmlint not installed (Debian package rpmlint)"
fi
echo "1..$n"
