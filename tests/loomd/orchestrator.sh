#!/bin/bash
# orchestrator.sh - loomd as orchestrators run it: the socket's group and mode,
# --http-address (inside a network namespace of its own, with a veth pair:
# nothing outside it is ever reached), KServe's single-model
# /mnt/models layout (--model-name), Triton's config.json input/output and
# model_warmup on a detector with symbolic height and width, and
# LOOM_VISIBLE_CARDS. Run by e2e.sh (make test-loomd), or alone:
#
#   BUILD=build tests/loomd/orchestrator.sh
#
# Needs root (network namespaces, setpriv), $BUILD/bin/loomd and
# $BUILD/loomd-repo. Prints one ok/FAIL line per check and ends with
# "N passed, N failed".
set -u
BUILD=${BUILD:-build}
B=$(cd "$BUILD" && pwd)
LOOMD=$B/bin/loomd
T=$(mktemp -d /tmp/loomd-orch.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/checks.sh"
# req SOCKET METHOD PATH [curl args...] - sets STATUS and BODY.
req() {
    local s=$1 m=$2 p=$3
    shift 3
    STATUS=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 30 --unix-socket "$s" -X "$m" \
        "$@" "http://localhost$p")
    BODY=$(cat "$T/body" 2>/dev/null)
}
has() { grep -qF -- "$1" <<<"$BODY"; }
wait_live() { # wait_live SOCKET - up to 10 s
    for _ in $(seq 100); do
        curl -s --max-time 1 --unix-socket "$1" http://localhost/v2/health/live >/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# start NAME ARGS... - loomd with socket $T/NAME.sock and log $T/NAME.log, in the background.
start() {
    local name=$1
    shift
    "$LOOMD" --socket "$T/$name.sock" --log-file "$T/$name.log" --access-log off "$@" &
    PIDS+=($!)
    LAST=$!
    wait_live "$T/$name.sock" || bad "loomd $name starts" "$(tail -3 "$T/$name.log")"
}
stop() { kill -TERM "$LAST" 2>/dev/null; wait "$LAST" 2>/dev/null; }

# ------------------------------------------------------------------ models
# detector: images [N, 3, H, W] -> 3x3 Conv (2 filters) -> y [N, 2, H-2, W-2]. Binding H and W
# to 1 (the old warm-up) cannot run; each config below gives the sizes another way.
mkdir -p "$T/repo"
/usr/bin/python3 - "$T/detector.onnx" <<'PY'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
w = numpy_helper.from_array((np.arange(54, dtype=np.float32) % 5 / 10).reshape(2, 3, 3, 3), "w")
g = helper.make_graph([helper.make_node("Conv", ["images", "w"], ["y"])], "detector",
                      [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, "h", "w"])], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.save(m, sys.argv[1])
PY
for name in detector detector_fixed detector_nowarm detector_badwarm; do
    mkdir -p "$T/repo/$name/1"
    cp "$T/detector.onnx" "$T/repo/$name/1/model.onnx"
done
cat >"$T/repo/detector/config.json" <<'JSON'
{"max_batch_size": 4,
 "input": [{"name": "images", "data_type": "TYPE_FP32", "dims": [3, -1, -1]}],
 "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [2, -1, -1]}],
 "model_warmup": [{"name": "640-ish", "batch_size": 2, "count": 2,
                   "inputs": {"images": {"data_type": "TYPE_FP32", "dims": [3, 32, 40],
                                         "random_data": true}}},
                  {"name": "file", "inputs": {"images": {"data_type": "TYPE_FP32",
                   "dims": [3, 4, 4], "input_data_file": "images_3x4x4"}}}]}
JSON
mkdir -p "$T/repo/detector/warmup"
head -c 192 /dev/zero >"$T/repo/detector/warmup/images_3x4x4"
echo '{"max_batch_size": 4, "input": [{"name": "images", "data_type": "TYPE_FP32", "dims": [3, 16, 16]}]}' \
    >"$T/repo/detector_fixed/config.json"
echo '{"max_batch_size": 4}' >"$T/repo/detector_nowarm/config.json"
cat >"$T/repo/detector_badwarm/config.json" <<'JSON'
{"max_batch_size": 4,
 "model_warmup": [{"name": "too-small", "inputs": {"images": {"data_type": "TYPE_FP32",
                   "dims": [3, 2, 2], "zero_data": true}}}]}
JSON
# An "auto" copy of tiny, for the cards a context sees.
mkdir -p "$T/repo/tiny_auto/1"
cp "$B/loomd-repo/tiny/1/model.onnx" "$T/repo/tiny_auto/1/"
echo '{"parameters": {"device": "auto"}}' >"$T/repo/tiny_auto/config.json"
# KServe's storage initializer leaves one model's files in /mnt/models.
mkdir -p "$T/mnt/models"
cp -r "$T/repo/detector/." "$T/mnt/models/"

# ------------------------------------------------------------------ Triton input/output, model_warmup
start triton --model-repository "$T/repo"
S=$T/triton.sock
req "$S" GET /v2/models/detector/ready
expect "a detector with symbolic H, W loads, warmed up with model_warmup's dims" \
    test "$STATUS" = 200
req "$S" POST /v2/models/detector/infer \
    -d "{\"inputs\":[{\"name\":\"images\",\"shape\":[1,3,20,24],\"datatype\":\"FP32\",\"data\":[$(seq -s, 1440 | sed 's/[0-9]*/0.5/g')]}]}"
expect "it infers at a size of the request's choosing (1x3x20x24 -> 1x2x18x22)" \
    has '"shape":[1,2,18,22]'
req "$S" GET /v2/models/detector_fixed
expect "declared dims bind the symbolic ones: metadata says [-1,3,16,16]" \
    has '"shape":[-1,3,16,16]'
req "$S" POST /v2/models/detector_fixed/infer \
    -d "{\"inputs\":[{\"name\":\"images\",\"shape\":[1,3,4,4],\"datatype\":\"FP32\",\"data\":[$(seq -s, 48 | sed 's/[0-9]*/1/g')]}]}"
expect "and other sizes are refused (400)" test "$STATUS" = 400
req "$S" GET /v2/models/detector_nowarm/ready
expect "without model_warmup the default warm-up is skipped, not failed" test "$STATUS" = 200
expect "the skip is logged, naming the symbolic dim" \
    grep -q '"event":"warmup_skipped".*detector_nowarm.*(H) is symbolic' "$T/triton.log"
req "$S" POST /v2/repository/index -d '{}'
expect "a warm-up sample the model cannot run fails its load, naming the sample" \
    has '"name":"detector_badwarm","state":"UNAVAILABLE","reason":"load failed: 1/model.onnx: model_warmup \"too-small\"'
stop

# ------------------------------------------------------------------ KServe's /mnt/models layout
start kserve --model-repository="$T/mnt/models" --model-name=my-detector
req "$T/kserve.sock" GET /v2/models/my-detector/ready
expect "/mnt/models holding one model serves it under --model-name (--flag=value form)" \
    test "$STATUS" = 200 -a "$(grep -c warmup_skipped "$T/kserve.log")" = 0
req "$T/kserve.sock" POST /v2/repository/index -d '{}'
expect "and nothing else (the index lists it alone)" \
    test "$BODY" = '[{"name":"my-detector","version":"1","state":"READY"}]'
stop
start kserve-repo --model-repository "$T/repo" --model-name my-detector
req "$T/kserve-repo.sock" GET /v2/models/detector/ready
expect "/mnt/models holding a repository stays a repository" test "$STATUS" = 200
stop

# ------------------------------------------------------------------ the socket's group and mode
chmod 755 "$T"
start group --model-repository "$T/repo" --model-control-mode explicit --load-model detector \
    --socket-group nogroup --socket-mode 0660
expect "--socket-group and --socket-mode set the socket file's (nogroup, 660)" \
    test "$(stat -c '%G %a' "$T/group.sock")" = "nogroup 660"
STATUS=$(setpriv --reuid=65534 --regid=65534 --clear-groups curl -s -o /dev/null -w '%{http_code}' \
    --unix-socket "$T/group.sock" http://localhost/v2/models/detector)
expect "a user of that group (a proxy's worker) may use it" test "$STATUS" = 200
stop
chmod 700 "$T"
"$LOOMD" --model-repository "$T/repo" --socket "$T/x.sock" --socket-mode 0777 2>"$T/err"
expect "--socket-mode refuses execute bits" test $? -eq 2 -a ! -e "$T/x.sock"
"$LOOMD" --model-repository "$T/repo" --socket "$T/x.sock" --socket-group no-such-group 2>"$T/err"
expect "--socket-group refuses an unknown group" grep -q "no group 'no-such-group'" "$T/err"

# ------------------------------------------------------------------ --http-address
# In a network namespace of our own with a veth end at 10.250.0.1: loopback
# by default, every interface with 0.0.0.0, IPv6 with ::.
cat >"$T/netns.sh" <<'SH'
set -u
ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 10.250.0.1/24 dev v0 &&
    ip link set v0 up && ip link set v1 up || { echo "netns setup failed"; exit 1; }
T=$1 LOOMD=$2
run() { # run NAME ARGS... - starts loomd, waits for its listening line
    "$LOOMD" --model-repository "$T/repo" --model-control-mode explicit --load-model detector \
        --socket "$T/$1.sock" --log-file "$T/$1.log" --http-port 8080 "${@:2}" &
    PID=$!
    for _ in $(seq 100); do grep -q '"event":"listening"' "$T/$1.log" 2>/dev/null && return; sleep 0.1; done
}
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }
run lo
echo "default: $(code http://127.0.0.1:8080/v2/health/ready) $(code http://10.250.0.1:8080/v2/health/ready)"
kill $PID; wait $PID
run any --http-address 0.0.0.0
echo "0.0.0.0: $(code http://127.0.0.1:8080/v2/health/ready) $(code http://10.250.0.1:8080/v2/health/ready)"
kill $PID; wait $PID
run v6 --http-address ::
echo "::: $(code 'http://[::1]:8080/v2/health/ready')"
kill $PID; wait $PID
SH
OUT=$(timeout 60 unshare --net bash "$T/netns.sh" "$T" "$LOOMD" 2>&1)
expect "TCP is loopback only by default (the log says tcp=127.0.0.1:8080)" \
    test "$(grep '^default:' <<<"$OUT")" = "default: 200 000" -a \
    "$(grep -c 'tcp=127.0.0.1:8080' "$T/lo.log")" = 1
expect "--http-address 0.0.0.0 answers on every interface (tcp=0.0.0.0:8080)" \
    test "$(grep '^0.0.0.0:' <<<"$OUT")" = "0.0.0.0: 200 200" -a \
    "$(grep -c 'tcp=0.0.0.0:8080' "$T/any.log")" = 1
expect "--http-address :: listens on IPv6 (tcp=[::]:8080)" \
    test "$(grep '^:::' <<<"$OUT")" = "::: 200" -a "$(grep -c 'tcp=\[::\]:8080' "$T/v6.log")" = 1
"$LOOMD" --model-repository "$T/repo" --socket "$T/x.sock" --http-port 0 --http-address localhost \
    2>"$T/err"
expect "--http-address takes numeric addresses only, saying so" \
    grep -q "http-address localhost: .*numeric" "$T/err"

# ------------------------------------------------------------------ LOOM_VISIBLE_CARDS
LOOM_EMULATED_CARDS=2 LOOM_VISIBLE_CARDS=1 start cards --model-repository "$T/repo" \
    --model-control-mode explicit --load-model tiny_auto
req "$T/cards.sock" GET /metrics
expect "LOOM_VISIBLE_CARDS=1 of two cards: loomd sees card:1 only" \
    test "$(grep -c 'loom_device_healthy{device="card:1"} 1' <<<"$BODY")" = 1 -a \
    "$(grep -c 'device="card:0"' <<<"$BODY")" = 0
stop

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
