#!/bin/sh
# check-kernel: checkpatch, the xclbin fuzzer (in the background) and the
# QEMU selftests on each kernel, in the two-card guest and the two-node one;
# prints every result line, then, last, "N passed, N failed". Exits non-zero
# on any failure.
#
# usage: check.sh BUILD MAKE TAG...
set -u
BUILD=$1
MAKE=$2
shift 2
out=$BUILD/run
mkdir -p "$out"
start=$(date +%s)

$MAKE --no-print-directory -s fuzz-xclbin BUILD="$BUILD" >"$out/fuzz.txt" 2>&1 &
fuzzpid=$!

{
	$MAKE --no-print-directory -s checkpatch-kernel BUILD="$BUILD" 2>&1 | sed 's/^/checkpatch: /'
	"$BUILD/tests/kernel/card_model_test" 2>&1 | sed 's/^/card: /'
	for tag in "$@"; do
		sh tests/kernel/run-qemu.sh "$tag" "$BUILD" 2>&1 ||
			echo "not ok - $tag: run failed"
		sh tests/kernel/run-qemu.sh "$tag" "$BUILD" numa 2>&1 ||
			echo "not ok - $tag-numa: run failed"
	done
} | tee "$out/results.txt"

wait $fuzzpid
sed 's/^/fuzz: /' "$out/fuzz.txt" | tee -a "$out/results.txt"

# "not ok - ..." lines are run-level failures; count them once each.
passed=$(grep -cE ': ok [0-9]+ ' "$out/results.txt")
failed=$(grep -cE '(: not ok [0-9]+ |not ok - )' "$out/results.txt")
echo "# check-kernel took $(($(date +%s) - start))s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
