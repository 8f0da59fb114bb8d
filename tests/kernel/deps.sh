#!/bin/sh
# Install what the kernel tests need on a Debian 12 host, idempotently, and
# unpack Debian's own 6.1 and 6.12 kernels (image + headers) into $1/kernels
# with dpkg -x. Nothing here installs a kernel on the host.
#
# usage: tests/kernel/deps.sh BUILD_DIR
set -eu

BUILD=${1:-build}
KROOT=$BUILD/kernels
APT="apt-get -o DPkg::Lock::Timeout=600 -q"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

PKGS="qemu-system-x86 qemu-system-data busybox-static linux-headers-amd64 \
linux-source-6.1 dwarves kmod clang xz-utils cpio libxrt-dev uuid-dev libdrm-dev \
build-essential bc flex bison libelf-dev"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done

BPO=/etc/apt/sources.list.d/bookworm-backports.sources
updated=
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "deps-kernel: enabling bookworm-backports"
	printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
		'Suites: bookworm-backports' 'Components: main' \
		'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
		$SUDO tee $BPO >/dev/null
	$SUDO $APT update >/dev/null
	updated=1
fi
if ! apt-cache policy linux-image-amd64 2>/dev/null | grep -q bpo; then
	[ -n "$updated" ] || $SUDO $APT update >/dev/null
	updated=1
fi
if [ -n "$missing" ]; then
	echo "deps-kernel: installing$missing"
	[ -n "$updated" ] || $SUDO $APT update >/dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO $APT install -y --no-install-recommends $missing >/dev/null
fi

# dep_of PKG[/release] PREFIX: the dependency of a metapackage that starts with PREFIX
dep_of() {
	apt-cache depends "$1" 2>/dev/null | sed -n "s/^ *Depends: \($2[^ ]*\).*/\1/p" | head -n1
}

# unpack TAG RELEASE: resolve linux-image/-headers from the metapackages of
# RELEASE (empty = the default candidate) and dpkg -x them into $KROOT/TAG.
unpack() {
	tag=$1
	rel=$2
	img=$(dep_of "linux-image-amd64$rel" linux-image-)
	hdr=$(dep_of "linux-headers-amd64$rel" linux-headers-)
	[ -n "$img" ] && [ -n "$hdr" ] || {
		echo "deps-kernel: cannot resolve kernel packages for $tag" >&2
		exit 1
	}
	abi=${img#linux-image-}
	dir=$KROOT/$tag
	if [ -f "$dir/.done" ] && [ "$(cat "$dir/.done")" = "$abi" ]; then
		return 0
	fi
	common=$(dep_of "$hdr" linux-headers-)
	kbuild=$(dep_of "$hdr" linux-kbuild-)
	[ -n "$common" ] || common=$(dep_of "$hdr" "linux-headers-${abi%-amd64}-common")
	echo "deps-kernel: unpacking $img $hdr $common $kbuild into $dir"
	rm -rf "$dir"
	mkdir -p "$dir/debs" "$dir/root"
	(cd "$dir/debs" && apt-get -q -o APT::Sandbox::User=root download "$img" "$hdr" "$common" "$kbuild" >/dev/null)
	for d in "$dir"/debs/*.deb; do
		dpkg -x "$d" "$dir/root"
	done
	rm -rf "$dir/debs"
	# The -amd64 headers include the -common tree by absolute path.
	kdir=$dir/root/usr/src/$hdr
	sed -i "s|^include /usr/src/|include $(cd "$dir/root/usr/src" && pwd)/|" "$kdir/Makefile"
	echo "$abi" >"$dir/.done"
}

unpack 6.1 ""
unpack 6.12 /bookworm-backports

# checkpatch.pl and its data files live only in linux-source-6.1's tarball.
CP=$BUILD/checkpatch
if [ ! -x "$CP/scripts/checkpatch.pl" ] || [ ! -f "$CP/scripts/kernel-doc" ]; then
	mkdir -p "$CP"
	tar -C "$CP" --strip-components=1 -xaf /usr/src/linux-source-6.1.tar.xz \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch \
		linux-source-6.1/scripts/kernel-doc \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h
fi
exit 0
