#!/bin/sh
# Boot one of Debian's kernels in QEMU (TCG) with loom-cardsim behind an
# ivshmem-doorbell device, run the selftests, and print one TAP-style line
# per test prefixed with the kernel tag. Exit status: 0 only if every test
# passed and the console shows no oops, warning, lockdep or KASAN report.
#
# With "numa", the guest is instead a q35 machine of two NUMA nodes with
# one card behind a PCI expander bridge on node 1 (init-numa.sh); its lines
# are prefixed TAG-numa.
#
# usage: run-qemu.sh TAG BUILD [numa]   (after mk/kernel.mk built module, tests, cardsim)
set -u
BUILD=$2
mode=${3:-}
ktag=$1
root=$BUILD/kernels/$ktag/root
ver=$(ls "$root/lib/modules" | head -n1)
tag=$ktag${mode:+-$mode}
run=$BUILD/run/$tag
ird=$run/initramfs
mkdir -p "$run"
rm -rf "$ird"
mkdir -p "$ird/bin" "$ird/modules" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/tmp"

# Modules loom.ko needs, in load order, from depmod over the unpacked image.
mkdir -p "$root/lib/modules/$ver/extra"
cp "$BUILD/kmod/$ktag/loom.ko" "$root/lib/modules/$ver/extra/loom.ko"
depmod -b "$root" "$ver"
: >"$ird/modules/order"
modprobe -d "$root" -S "$ver" --show-depends loom | while read -r kind path _; do
	[ "$kind" = insmod ] || continue
	name=$(basename "$path")
	case $name in
	loom.ko) continue ;;
	*.ko.xz) xz -dc "$path" >"$ird/modules/${name%.xz}"; name=${name%.xz} ;;
	*.ko.zst) zstd -qdc "$path" >"$ird/modules/${name%.zst}"; name=${name%.zst} ;;
	*) cp "$path" "$ird/modules/$name" ;;
	esac
	echo "$name" >>"$ird/modules/order"
done
cp /bin/busybox "$ird/bin/busybox"
cp tests/kernel/init.sh "$ird/init"
cp tests/kernel/init-numa.sh "$ird/init-numa.sh"
chmod +x "$ird/init"
cp "$BUILD/kmod/$ktag/loom.ko" "$ird/loom.ko"
cp "$BUILD/tests/kernel/loom_test" "$ird/loom_test"
# The runtime's end-to-end test (mk/fpga-rt.mk), when it was built.
[ -d "$BUILD/tests/fpga/e2e" ] && cp -r "$BUILD/tests/fpga/e2e" "$ird/e2e"
(cd "$ird" && find . | cpio -o -H newc --quiet) | gzip -1 >"$run/initramfs.gz"

# Two cards: card 0 takes the fault tests, card 1 shows instances stay apart.
sock=$run/card.sock
sock1=$run/card1.sock
rm -f "$sock" "$sock1"
"$BUILD/bin/loom-cardsim" -s "$sock" -m 64 -n 256 >"$run/cardsim.log" 2>&1 &
simpid=$!
"$BUILD/bin/loom-cardsim" -s "$sock1" -m 32 -n 64 -N loom-cardsim-1 >"$run/cardsim1.log" 2>&1 &
simpid1=$!
i=0
while { [ ! -S "$sock" ] || [ ! -S "$sock1" ]; } && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if [ "$mode" = numa ]; then
	# One socket of one CPU and 256 MiB per node (CPUs of one socket on two
	# nodes make the kernel warn); card 0 behind an expander bridge on node 1.
	machine="-machine q35 -smp 2,sockets=2,cores=1,threads=1
		-object memory-backend-ram,id=mem0,size=256M -numa node,nodeid=0,cpus=0,memdev=mem0
		-object memory-backend-ram,id=mem1,size=256M -numa node,nodeid=1,cpus=1,memdev=mem1
		-device pxb-pcie,id=pxb1,bus_nr=64,numa_node=1,bus=pcie.0
		-device pcie-root-port,id=rp1,bus=pxb1,chassis=1
		-chardev socket,path=$sock,id=card -device ivshmem-doorbell,chardev=card,vectors=2,bus=rp1"
	append=" loomguest=numa"
else
	machine="-smp ${LOOM_QEMU_SMP:-2}
		-chardev socket,path=$sock,id=card -device ivshmem-doorbell,chardev=card,vectors=2,addr=0x4
		-chardev socket,path=$sock1,id=card1 -device ivshmem-doorbell,chardev=card1,vectors=2,addr=0x5"
	append=
fi

# Crash card 0's firmware, or restart it, each time the guest asks (the
# failover and dead-card tests): loom-cardsim's SIGUSR2 and SIGUSR1.
rm -f "$run/console.log" "$run/qemu.done"
(
	i=0 kills=0 restarts=0
	while [ $i -lt 4000 ] && [ ! -e "$run/qemu.done" ]; do
		k=$(grep -c LOOM-KILL-CARD "$run/console.log" 2>/dev/null)
		r=$(grep -c LOOM-RESTART-CARD "$run/console.log" 2>/dev/null)
		if [ "${k:-0}" -gt $kills ]; then
			kill -USR2 $simpid 2>/dev/null
			kills=$k
		fi
		if [ "${r:-0}" -gt $restarts ]; then
			kill -USR1 $simpid 2>/dev/null
			restarts=$r
		fi
		sleep 0.1
		i=$((i + 1))
	done
) &
watcher=$!

start=$(date +%s)
# $machine is split into words on purpose: the paths in it have no spaces.
# shellcheck disable=SC2086
timeout 400 qemu-system-x86_64 -accel tcg -m 512 $machine -nographic -no-reboot \
	-kernel "$root/boot/vmlinuz-$ver" -initrd "$run/initramfs.gz" \
	-append "console=ttyS0 loglevel=5 panic=-1 oops=panic$append" \
	-nic none -monitor none -serial stdio </dev/null >"$run/console.log" 2>&1
qrc=$?
touch "$run/qemu.done"
wait $watcher 2>/dev/null
kill -TERM $simpid $simpid1 2>/dev/null
wait $simpid $simpid1 2>/dev/null
secs=$(($(date +%s) - start))

tr -d '\r' <"$run/console.log" >"$run/console.txt"
fail=0
grep -E '^(not )?ok [0-9]+ ' "$run/console.txt" | sed "s/^/$tag: /"
grep -E '^# PERF' "$run/console.txt" | sed "s/^/$tag: /"
# The harness's own words on each failure (file:line:test:Expected ...),
# for a log read only from its end.
grep -E '^# [a-z_]+\.c:[0-9]+:' "$run/console.txt" | sed "s/^# /$tag: FAIL detail: /"
if ! grep -q '^LOOM-DONE' "$run/console.txt"; then
	echo "not ok - $tag: guest did not finish (qemu rc $qrc), see $run/console.txt"
	fail=1
fi
if grep -nE 'Oops|BUG:|WARNING:|Call Trace|KASAN|lockdep|possible circular locking|general protection|LOOM-FAIL|Kernel panic|UBSAN' \
	"$run/console.txt" >"$run/reports.txt"; then
	echo "not ok - $tag: kernel reports in the console:"
	sed 's/^/#   /' "$run/reports.txt" | head -20
	fail=1
fi
grep -q '^not ok' "$run/console.txt" && fail=1
echo "# $tag: guest ran ${secs}s; $(tail -n1 "$run/cardsim.log")"
exit $fail
