# init-numa.sh - sourced by init.sh in the two-node guest (run-qemu.sh TAG
# BUILD numa): one card behind a PCI expander bridge that QEMU puts on NUMA
# node 1. The guest's sysfs, loom.ko's GET_INFO and the runtime (hwloc over
# the real sysfs) must all put card:0 on node 1, and the runtime must feed
# it from node 1's CPUs, and the device plugin report node 1. Uses
# init.sh's tap() and node_of().
insmod /loom.ko sim=1
tap $? numa_insmod
bdf=$(ls /sys/bus/pci/drivers/loom | grep '^0000:' | head -n1)
node=$(node_of "$bdf")
echo "# card at ${bdf:-none} (${node:-no node}); online NUMA nodes $(cat /sys/devices/system/node/online)"
[ "$(cat /sys/devices/system/node/online)" = 0-1 ]
tap $? numa_guest_has_two_nodes
[ -n "$bdf" ] && [ "$(cat "/sys/bus/pci/devices/$bdf/numa_node")" = 1 ]
tap $? numa_sysfs_card_on_node_1
LOOM_NODE=$node /loom_test --numa-node 1
tap $? numa_get_info_card_on_node_1

export LOOM_NODE=$node
out=$(/e2e/loomctl examine --json 2>&1)
card=$(echo "$out" | awk '/"name":"card:0"/ { f = 1 } f && /"name":/ && !/card:0/ { exit } f')
echo "$card" | grep -E '"(pci_bus_id|numa_node|cpuset)"' | sed 's/^ */# examine card:0 /'
echo "$card" | grep -q '"numa_node":1,' && echo "$card" | grep -q "\"pci_bus_id\":\"$bdf\"" &&
	echo "$card" | grep -q "\"cpuset\":\"$(cat /sys/devices/system/node/node1/cpulist)\""
tap $? numa_loomctl_examine_card0_on_node_1
out=$(/e2e/loomctl plan /e2e/model.onnx --device card:0,cpu --dim batch=1 2>&1)
echo "$out" | sed -n '/^NUMA placement/,$p' | sed 's/^/# plan: /'
echo "$out" | grep -A1 -E '^  card:0 +node 1 ' | grep -q 'threads: CPUs 1 of node 1'
tap $? numa_loomctl_plan_feeds_card0_from_node_1
/e2e/numa_guest /e2e/model.onnx 1
# The Kubernetes device plugin reports the card with NUMA node 1 in its
# TopologyInfo, so the kubelet's topology manager can align pods with it.
if [ -x /e2e/device-plugin-guest ]; then
	/e2e/device-plugin-guest /e2e/loom-device-plugin "$bdf,$node,1"
else
	echo "# no /e2e/device-plugin-guest (built without gRPC): device plugin not tested"
fi
