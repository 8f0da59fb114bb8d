#!/bin/busybox sh
# /init of the test initramfs: load the DRM modules and loom.ko, run the
# selftests, the module unload/reload loop, then power off. Every result is
# a TAP line on the console; the host runner reads them.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
echo 5 >/proc/sys/kernel/printk 2>/dev/null

echo "LOOM-BOOT $(uname -r)"
for m in $(cat /modules/order); do
	insmod "/modules/$m" || echo "LOOM-FAIL insmod $m"
done
# The runtime's binaries are the host's own, with the libraries they load.
if [ -d /e2e/lib ]; then
	mkdir -p /lib64
	ln -s /e2e/lib/ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2
	export LD_LIBRARY_PATH=/e2e/lib
fi

# The device node of the card at PCI address $1.
node_of() {
	for d in /sys/bus/pci/devices/$1/accel/accel* /sys/bus/pci/devices/$1/drm/renderD*; do
		[ -e "$d" ] && echo "/dev/${d#/sys/bus/pci/devices/$1/}" | sed 's|/drm/|/dri/|' && return
	done
}
CARD0=0000:00:04.0
CARD1=0000:00:05.0
# The debugfs fault file of the card at PCI address $1 (accel or DRM minor).
sim_fault_file() {
	for f in /sys/kernel/debug/accel/$1/sim_fault /sys/bus/pci/devices/$1/drm/card*; do
		case $f in
		*/sim_fault) [ -e "$f" ] && echo "$f" && return ;;
		*) [ -e "$f" ] && echo "/sys/kernel/debug/dri/${f##*/card}/sim_fault" && return ;;
		esac
	done
}
# The runtime inside the guest: loom.ko's cards only, the emulated card's
# xclbin, and quick health probes for the failover runs.
export LOOM_NO_XRT=1 LOOM_XCLBIN=/e2e/loom-emu.xclbin LOOM_HEALTH_PROBE_MS=100

n=0
tap() { # tap STATUS NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n shell.$2"; else echo "not ok $n shell.$2"; fi
}

# The two-node guest (run-qemu.sh TAG BUILD numa) has its own short script;
# the kernel hands its loomguest=numa parameter to init as a variable.
if [ "${loomguest:-}" = numa ]; then
	. /init-numa.sh
	echo "LOOM-DONE"
	sync
	poweroff -f
fi

insmod /loom.ko sim=1
tap $? insmod
node=$(node_of $CARD0)
node1=$(node_of $CARD1)
[ -n "$node" ]
tap $? device_node
# The second card is its own device: its own name, memory and jobs.
sysdev1=/sys/bus/pci/drivers/loom/$CARD1
[ -n "$node1" ] && [ "$(cat "$sysdev1/loom/card_name")" = loom-cardsim-1 ] &&
	[ "$(cat "$sysdev1/loom/mem_total")" = $((31 << 20)) ] && LOOM_NODE=$node1 /loom_test --smoke
tap $? second_card
sysdev=/sys/bus/pci/drivers/loom/$CARD0
[ -r "$sysdev/loom/mem_total" ] && [ -r "$sysdev/numa_node" ] && grep -q . "$sysdev/loom/jobs"
r=$?
tap $r sysfs_present
[ $r = 0 ] || ls -la /sys/bus/pci/drivers/loom/ "$sysdev/" | sed 's/^/# /'
for f in card_name interface_version mem_total mem_used xclbin_uuid temp_mc; do
	echo "# sysfs $f: $(cat "$sysdev/loom/$f" 2>&1)"
done

echo "LOOM-SELFTESTS-BEGIN"
LOOM_NODE=$node /loom_test
echo "LOOM-SELFTESTS-END rc=$?"

# libloom end to end (tests/fpga): an int8 model through loom.ko and the card.
[ -x /e2e/run.sh ] && /e2e/run.sh "$node"
# Failover: card 0 hangs under 200 runs from 32 threads; no run is lost, and
# the card comes back by itself (tests/fpga/failover_guest.c).
[ -x /e2e/failover_guest ] && LOOM_NODE=$node /e2e/failover_guest /e2e/model.onnx \
	/e2e/images.u8 200 32 hang "$(sim_fault_file $CARD0)"

# Hot-unplug under an open file, then rescan.
LOOM_NODE=$node /loom_test --unplug
tap $? hot_unplug_with_files_open
node=$(node_of $CARD0)
LOOM_NODE=$node /loom_test --smoke
tap $? works_after_rescan

# Unload/reload with nothing open, several times.
ok=0
for i in 1 2 3 4 5; do
	rmmod loom || ok=1
	insmod /loom.ko sim=1 || ok=1
done
tap $ok unload_reload_loop
# The card still works after reloads.
node=$(node_of $CARD0)
LOOM_NODE=$node /loom_test --smoke
tap $? info_after_reload
# rmmod is refused while a file is open, and works once it is closed.
sleep 30 <"$node" &
holder=$!
sleep 1
if rmmod loom 2>/dev/null; then r=1; insmod /loom.ko sim=1; else r=0; fi
kill $holder
wait $holder 2>/dev/null
rmmod loom && insmod /loom.ko sim=1 || r=1
tap $r unload_refused_while_open
node=$(node_of $CARD0)

# The card's firmware crashes under 200 runs from 32 threads (failover_guest
# prints the marker on which the host runner kills it): no run is lost. It
# restarts (LOOM-RESTART-CARD), and loom.ko and the runtime take it back.
[ -x /e2e/failover_guest ] &&
	LOOM_NODE=$node /e2e/failover_guest /e2e/model.onnx /e2e/images.u8 200 32 kill
# The Kubernetes device plugin on both cards, with a fake kubelet
# (tests/device-plugin/guest_device_plugin.cc): card 0's firmware is killed
# and restarted under it. loom.ko's watchdog then resets card 0 back into
# service; the dead-card test below needs it alive when it kills it again.
if [ -x /e2e/device-plugin-guest ]; then
	# A guest without NUMA nodes: no topology for either card.
	/e2e/device-plugin-guest /e2e/loom-device-plugin --kill "$CARD0,$node,none" \
		"$CARD1,$(node_of $CARD1),none"
	i=0
	until LOOM_NODE=$node /loom_test --smoke >/dev/null 2>&1 || [ $i -ge 30 ]; do
		sleep 1
		i=$((i + 1))
	done
	[ $i -lt 30 ]
	tap $? card0_back_after_device_plugin_restart
else
	echo "# no /e2e/device-plugin-guest (built without gRPC): device plugin not tested"
fi
# It crashes again and stays down: the dead-card test.
echo "LOOM-KILL-CARD"
sleep 1
LOOM_NODE=$node /loom_test --dead-card
tap $? dead_card_detected
# The other card is unaffected by its neighbour's death.
LOOM_NODE=$(node_of $CARD1) /loom_test --smoke
tap $? second_card_survives
rmmod loom
tap $? final_unload

echo "LOOM-DONE"
sync
poweroff -f
