#!/bin/sh
# guest-libs.sh DEST BINARY... - copies every shared library the binaries
# load (as ldd resolves them on this host, the dynamic loader included) into
# DEST under the names they are loaded by, so the QEMU guest runs the very
# binaries the host built: init.sh points /lib64's loader and
# LD_LIBRARY_PATH at DEST.
set -eu
dest=$1
shift
mkdir -p "$dest"
for bin in "$@"; do
	ldd "$bin" >/dev/null || { echo "guest-libs.sh: $bin is not a dynamic executable" >&2; exit 1; }
	ldd "$bin" | while read -r first second third _; do
		case $first in
		linux-vdso.so.*) ;;
		/*) cp -L "$first" "$dest/$(basename "$first")" ;;        # the loader
		*) [ "$second" = "=>" ] && [ -f "$third" ] && cp -L "$third" "$dest/$first" ||
			{ echo "guest-libs.sh: $bin: $first not found" >&2; exit 1; } ;;
		esac
	done
done
