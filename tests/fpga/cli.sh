#!/bin/sh
# The FPGA commands of loomctl on the emulated card: examine, program, run,
# quantize. Prints one line per check, then "N passed, N failed".
#
# usage: cli.sh LOOMCTL XCLBIN FP32_MODEL CALIB_DIR
set -u
loomctl=$1
export LOOM_XCLBIN=$2
fp32=$3
calib=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() { # check NAME COMMAND
	if sh -c "$2" >"$tmp/out" 2>&1; then
		echo "ok - $1"
		pass=$((pass + 1))
	else
		echo "not ok - $1"
		sed 's/^/#   /' "$tmp/out" | tail -5
		fail=$((fail + 1))
	fi
}
export loomctl fp32 calib tmp

check "examine lists the emulated card, its xclbin and CUs" \
	'out=$(LOOM_EMULATED_CARDS=1 $loomctl examine) &&
	 echo "$out" | grep -q "^card:0  loom-emulated-0" &&
	 echo "$out" | grep -q "kind: *card (emulated)" &&
	 echo "$out" | grep -q "xclbin: *loom-emu.xclbin [0-9a-f-]*" &&
	 echo "$out" | grep -q "features: .*loom_qconv:loom_qconv_0" &&
	 echo "$out" | grep -q "^cpu  " &&
	 LOOM_EMULATED_CARDS=1 $loomctl examine --json | grep -q "\"name\": *\"card:0\""'
check "examine without LOOM_EMULATED_CARDS lists no Loom card" \
	'out=$(LOOM_EMULATED_CARDS= $loomctl examine) && ! echo "$out" | grep -q "^card:"'
check "examine shows only LOOM_VISIBLE_CARDS, under their own names" \
	'out=$(LOOM_EMULATED_CARDS=3 LOOM_VISIBLE_CARDS=0,card:2 $loomctl examine) &&
	 echo "$out" | grep -q "^card:0  " && echo "$out" | grep -q "^card:2  " &&
	 ! echo "$out" | grep -q "^card:1  " &&
	 out=$(LOOM_EMULATED_CARDS=3 LOOM_VISIBLE_CARDS= $loomctl examine) &&
	 ! echo "$out" | grep -q "^card:" && echo "$out" | grep -q "^cpu  "'
check "program loads an xclbin onto card:0" \
	'LOOM_EMULATED_CARDS=1 $loomctl program card:0 "$LOOM_XCLBIN" | grep -q "6 compute units"'
check "program refuses a file that is not an xclbin, saying why" \
	'! LOOM_EMULATED_CARDS=1 $loomctl program card:0 /etc/hostname 2>"$tmp/e" && grep -q "xclbin refused" "$tmp/e"'
check "program names a card that does not exist" \
	'! $loomctl program card:3 "$LOOM_XCLBIN" 2>"$tmp/e" && grep -q "no card .card:3." "$tmp/e"'
check "quantize minmax, percentile and entropy" \
	'for m in minmax percentile entropy; do
	     $loomctl quantize "$fp32" --calibrate "$calib" -o "$tmp/q_$m.onnx" --method $m || exit 1; done'
check "quantize refuses an unknown method" \
	'! $loomctl quantize "$fp32" --calibrate "$calib" -o "$tmp/x.onnx" --method magic'
check "run QDQ_MODEL --device card:0 runs its convolutions there" \
	'LOOM_EMULATED_CARDS=1 $loomctl -v run "$tmp/q_minmax.onnx" --device card:0 \
	     --repeat 3 --stats >"$tmp/o" 2>"$tmp/e" && grep -q "5 QDQ groups to int8" "$tmp/o" &&
	 grep -q "card:0: 4 segment runs, 20 commands" "$tmp/e"'
check "run without -v keeps libloom quiet" \
	'LOOM_EMULATED_CARDS=1 $loomctl run "$tmp/q_minmax.onnx" --device card:0 --repeat 1 \
	     >/dev/null 2>"$tmp/e" && ! [ -s "$tmp/e" ]'
check "run --device card:0 with no card says so" \
	'! LOOM_EMULATED_CARDS= $loomctl run "$tmp/q_minmax.onnx" --device card:0 2>"$tmp/e" &&
	 grep -q "card:0" "$tmp/e"'
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
