#!/bin/bash
# test-deb.sh DEB_DIR CHROOT_TAR - installs the .debs of DEB_DIR with apt into a
# fresh copy of a clean Debian 12 chroot (CHROOT_TAR, from debootstrap), which
# fetches their dependencies from the chroot's own mirror, then checks what the
# packages promise: loomctl examine runs from the installed files, loomd starts
# and answers on its socket, the loom user and group exist, the udev rule, the
# DKMS source and the systemd units are in place. The copy is removed on exit
# (KEEP=1 keeps it, to look around).
#
# Prints one ok/FAIL line per check and ends with "N passed, N failed".
set -u
DEB_DIR=$(cd "$1" && pwd)
TAR=$2
R=$(mktemp -d /tmp/loom-deb-root.XXXXXX)
. "$(dirname "$0")/../lib/checks.sh"
expect() { # expect NAME COMMAND... - the command runs inside the chroot
    local name=$1
    shift
    local out
    if out=$(chroot "$R" "$@" 2>&1); then ok "$name"; else bad "$name" "${out:0:400}"; fi
}
cleanup() {
    umount "$R/proc" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then
        echo "kept the chroot in $R"
    elif mountpoint -q "$R/proc"; then
        echo "$R/proc is still mounted: $R left in place"
    else
        rm -rf "$R"
    fi
}
trap cleanup EXIT

tar -C "$R" -xf "$TAR" || { bad "unpack the clean chroot"; echo "0 passed, 1 failed"; exit 1; }
# dkms needs /proc and /dev/fd, as a real system has them (debootstrap made
# the device nodes; the host's /dev is never mounted here).
mount -t proc proc "$R/proc"
[ -e "$R/dev/fd" ] || ln -s /proc/self/fd "$R/dev/fd"
cp /etc/resolv.conf "$R/etc/resolv.conf" # the mirror is named; the chroot resolves it as the host does
mkdir -p "$R/tmp/debs"
for d in "$DEB_DIR"/*.deb; do
    case $d in *-dbgsym_*) ;; *) cp "$d" "$R/tmp/debs/" ;; esac
done
echo "installing: $(cd "$R/tmp/debs" && echo *.deb)"
# The postinsts must not try to start services in the chroot (policy-rc.d says no).
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
if chroot "$R" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends /tmp/debs/*.deb' >"$DEB_DIR/test-deb.log" 2>&1; then
    ok "apt installs every package and its dependencies into a clean Debian 12"
else
    bad "apt install" "$(tail -15 "$DEB_DIR/test-deb.log")"
fi
expect "loomctl examine runs from the installed files (lists the CPU)" \
    sh -c 'loomctl examine | grep -q "^cpu  "'
expect "and sees a Loom card with the packaged runtime and bitstreams" \
    sh -c 'LOOM_EMULATED_CARDS=1 loomctl examine | grep -q "^card:0  loom-emulated-0"'
expect "the system user and group loom exist" \
    sh -c 'getent group loom && id -gn loom | grep -qx loom'
expect "the udev rule gives group loom the cards' nodes" \
    grep -q 'DRIVERS=="loom", GROUP="loom"' /lib/udev/rules.d/70-loom.rules
expect "loom.ko's source is registered with DKMS" \
    sh -c 'test -f /usr/src/loom-1.0/dkms.conf && dkms status | grep -q "^loom/1.0"'
expect "loomd's units are installed, loomd.service enabled" \
    sh -c 'test -f /lib/systemd/system/loomd.socket &&
           grep -q "^ExecStart=/usr/bin/loomd " /lib/systemd/system/loomd.service &&
           test -L /etc/systemd/system/multi-user.target.wants/loomd.service'
expect "loomd starts as user loom with the packaged config and answers on its socket" \
    sh -c 'mkdir -p /run/loom && chown loom:loom /run/loom &&
           setpriv --reuid=loom --regid=loom --init-groups /usr/bin/loomd \
               --model-repository /var/lib/loom/models --config /etc/loom/loomd.json \
               --socket /run/loom/loomd.sock --log-file /tmp/loomd.log & pid=$!;
           for i in $(seq 50); do [ -S /run/loom/loomd.sock ] && break; sleep 0.1; done;
           test -S /run/loom/loomd.sock && test "$(stat -c %G /run/loom/loomd.sock)" = loom;
           rc=$?; kill $pid; wait $pid; exit $rc'
expect "libloom-dev: header and pkg-config file" \
    sh -c 'test -f /usr/include/loom/loom.h && test -f /usr/lib/libloom.a &&
           grep -qx "prefix=/usr" /usr/lib/pkgconfig/libloom.pc'
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
