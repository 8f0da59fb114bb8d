#!/bin/busybox sh
# Runs in the kernel test VM (tests/kernel/init.sh): the int8 Fashion-MNIST
# model through libloom, loom.ko and loom-cardsim; its logits must be
# bit-identical to the emulated card's, computed on the host.
#
# usage: run.sh DEVICE_NODE
d=/e2e
. $d/params.sh
LOOM_NODE=$1 LOOM_NO_XRT=1 LOOM_XCLBIN=$d/loom-emu.xclbin $d/fmnist_eval --device card:0 \
	--int8 $d/model.onnx --images $d/images.u8 --count "$COUNT" --batch "$BATCH" \
	--expect $d/expected.bin
