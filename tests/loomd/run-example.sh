#!/bin/bash
# run-example.sh LOOMD REPO SOCKET - runs loomd on the example repository, shows
# that a curl example works, prints it, and stays in the foreground until Ctrl-C
# (which loomd takes as a drain-and-stop).
set -u
LOOMD=$1 REPO=$2 SOCK=$3
"$LOOMD" --model-repository "$REPO" --socket "$SOCK" --access-log off &
D=$!
trap 'kill -INT $D 2>/dev/null; wait $D; exit $?' INT TERM
for _ in $(seq 100); do
    curl -s --unix-socket "$SOCK" http://localhost/v2/health/ready >/dev/null && break
    kill -0 $D 2>/dev/null || exit 1
    sleep 0.1
done
EXAMPLE="curl --unix-socket $SOCK http://localhost/v2/models/simple/infer -d '{\"inputs\":[{\"name\":\"INPUT0\",\"shape\":[1,16],\"datatype\":\"INT32\",\"data\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},{\"name\":\"INPUT1\",\"shape\":[1,16],\"datatype\":\"INT32\",\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}'"
echo
echo "loomd is serving $REPO on the Unix socket $SOCK"
echo "models: $(curl -s -X POST --unix-socket "$SOCK" http://localhost/v2/repository/index)"
echo
echo "try (from another terminal):"
echo "  curl --unix-socket $SOCK http://localhost/v2/models/simple"
echo "  $EXAMPLE"
echo
echo "which answers:"
echo "  $(eval "$EXAMPLE -s")"
echo
INT8="curl --unix-socket $SOCK http://localhost/v2/models/int8_mlp/infer -d '{\"inputs\":[{\"name\":\"x\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":[$(seq 0 63 | awk '{ printf("%s%g", (NR > 1 ? "," : ""), ($1 - 32) / 32) }')]}]}'"
ON="the CPU"
[ "${LOOM_EMULATED_CARDS:-0}" != 0 ] && ON="the CPU and the emulated card (card:0)"
echo "the int8 model, placed by the planner on $ON:"
echo "  $INT8"
echo "which answers:"
echo "  $(eval "$INT8 -s")"
echo "where each of its nodes runs, and why: curl --unix-socket $SOCK http://localhost/v2/models/int8_mlp/plan"
echo "  $(curl -s --unix-socket "$SOCK" http://localhost/v2/models/int8_mlp/plan |
    grep -o '"name":"QLinearMatMul_1"[^}]*' | head -1)"
if [ "${LOOM_EMULATED_CARDS:-0}" != 0 ]; then
    echo "card:0's jobs, busy time and health: curl --unix-socket $SOCK http://localhost/metrics | grep card:0"
fi
echo
echo "metrics: curl --unix-socket $SOCK http://localhost/metrics"
echo "Ctrl-C stops loomd (it drains in-flight requests first)."
wait $D
