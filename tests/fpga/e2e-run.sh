#!/bin/busybox sh
# Runs in the kernel test VM (tests/kernel/init.sh) against loom.ko's cards:
# the int8 Fashion-MNIST model through libloom, loom.ko and loom-cardsim (its
# logits must be bit-identical to the emulated card's, computed on the host),
# then loomctl program and examine.
#
# usage: run.sh DEVICE_NODE_OF_CARD_0
d=/e2e
. $d/params.sh
export LOOM_NO_XRT=1
LOOM_NODE=$1 LOOM_XCLBIN=$d/loom-emu.xclbin $d/fmnist_eval --device card:0 \
	--int8 $d/model.onnx --images $d/images.u8 --count "$COUNT" --batch "$BATCH" \
	--expect $d/expected.bin

n=10
tap() { # tap STATUS NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n fpga.$2"; else echo "not ok $n fpga.$2"; fi
}
out=$($d/loomctl program card:0 $d/loom-emu.xclbin 2>&1)
r=$?
echo "$out" | sed 's/^/# /'
tap $r loomctl_program_card0
out=$($d/loomctl examine 2>&1)
echo "$out" | sed 's/^/# /'
# card:N in PCI order: card:0 is 00:04.0, the card init.sh calls card 0.
echo "$out" | grep -A3 '^card:0 ' | grep -q 'driver: *loom.ko, /dev/' &&
	echo "$out" | grep -A8 '^card:0 ' | grep -q 'pci: *0000:00:04.0' &&
	echo "$out" | grep -A8 '^card:1 ' | grep -q 'pci: *0000:00:05.0' &&
	echo "$out" | grep -A8 '^card:0 ' | grep -q 'units: *6' &&
	echo "$out" | grep -q 'features: .*loom_qconv:loom_qconv_0'
tap $? loomctl_examine_lists_loom_ko_cards
