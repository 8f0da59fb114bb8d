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

n=0
tap() { # tap STATUS NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n shell.$2"; else echo "not ok $n shell.$2"; fi
}

insmod /loom.ko sim=1
tap $? insmod
node=$(ls /dev/accel/accel* /dev/dri/renderD* 2>/dev/null | head -n1)
[ -n "$node" ]
tap $? device_node
sysdev=$(ls -d /sys/bus/pci/drivers/loom/0000:* 2>/dev/null | head -n1)
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

# Hot-unplug under an open file, then rescan.
LOOM_NODE= /loom_test --unplug
tap $? hot_unplug_with_files_open
LOOM_NODE= /loom_test --smoke
tap $? works_after_rescan

# Unload/reload with nothing open, several times.
ok=0
for i in 1 2 3 4 5; do
	rmmod loom || ok=1
	insmod /loom.ko sim=1 || ok=1
done
tap $ok unload_reload_loop
# The card still works after reloads.
node=$(ls /dev/accel/accel* /dev/dri/renderD* 2>/dev/null | head -n1)
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
node=$(ls /dev/accel/accel* /dev/dri/renderD* 2>/dev/null | head -n1)

# The simulator process dies (the host runner kills it on this marker).
echo "LOOM-KILL-CARD"
sleep 1
LOOM_NODE= /loom_test --dead-card
tap $? dead_card_detected
rmmod loom
tap $? final_unload

echo "LOOM-DONE"
sync
poweroff -f
