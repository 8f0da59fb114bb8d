#!/bin/bash
# e2e.sh - loomd end to end: curl over the Unix socket against every endpoint,
# the C client, Triton's Python client over loopback TCP, loomctl infer, load and
# unload (RSS stays flat), poll mode, SIGHUP, overload 503, timeouts, peer
# credentials, a short loom-perf run with model churn, SIGTERM drain, the requests
# `make run` prints (run as printed, one on an emulated card), loomd as
# orchestrators run it (orchestrator.sh), and (when
# $LOOMD_FUZZ is set) the libFuzzer target over the request handler.
#
#   BUILD=build tests/loomd/e2e.sh
#
# Needs $BUILD/bin/{loomd,loomctl,loom-perf}, $BUILD/tests/loomd-client-test,
# $BUILD/loomd-repo (make loomd-repo) and $BUILD/venv (make deps). Prints one
# ok/FAIL line per check and ends with "N passed, N failed".
set -u
BUILD=${BUILD:-build}
B=$(cd "$BUILD" && pwd)
T=$(mktemp -d /tmp/loomd-e2e.XXXXXX)
SOCK=$T/loomd.sock
LOG=$T/loomd.log
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/checks.sh"

# req METHOD PATH [curl args...] - sets STATUS, BODY and HEADERS ($T/h).
req() {
    local m=$1 p=$2
    shift 2
    STATUS=$(curl -s --path-as-is -o "$T/body" -D "$T/h" -w '%{http_code}' --max-time 30 \
        --unix-socket "$SOCK" -X "$m" "$@" "http://localhost$p")
    BODY=$(cat "$T/body" 2>/dev/null)
}
is() { [ "$STATUS" = "$1" ]; }
has() { grep -qF -- "$1" <<<"$BODY"; }
st_has() { is "$1" && has "$2"; }

wait_live() { # wait_live SOCKET
    for _ in $(seq 100); do
        curl -s --max-time 1 --unix-socket "$1" http://localhost/v2/health/live >/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Adds the counts of a sub-suite's closing "N passed, N failed" line; shows its checks.
sub_suite() {
    local out p f
    out=$("$@" 2>&1)
    echo "$out" | grep -E '^(ok|FAIL) |^\[  (FAILED|ERROR)'
    p=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
    f=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
    PASS=$((PASS + ${p:-0}))
    FAIL=$((FAIL + ${f:-1}))
}

# ------------------------------------------------------------------ unit tests
if [ -n "${LOOMD_UNIT:-}" ]; then
    sub_suite "$LOOMD_UNIT"
    echo "     unit tests (config, codec, scheduler): total now $PASS passed, $FAIL failed"
fi

# ------------------------------------------------------------------ setup
cp -rL "$B/loomd-repo" "$T/repo"
rm -f "$T/repo/.stamp"
# A test-only model with a two-deep queue that 32-row requests keep busy: sixteen
# 1024x1024 products, about 1 GFLOP a request, so 24 at once overflow the queue
# however fast the kernels get (a copy of small_cnn stopped doing so when its
# first conv got faster).
mkdir -p "$T/repo/slow/1"
/usr/bin/python3 - "$T/repo/slow/1/model.onnx" <<'PY'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
w = numpy_helper.from_array(
    (np.random.default_rng(3).standard_normal((1024, 1024)) / 32).astype(np.float32), "w")
nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "w"], [f"h{i + 1}"])
         for i in range(15)]
nodes.append(helper.make_node("MatMul", ["h15", "w"], ["y"]))
g = helper.make_graph(nodes, "slow",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1024])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1024])], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.save(m, sys.argv[1])
PY
cat >"$T/repo/slow/config.json" <<'JSON'
{"max_batch_size": 32,
 "dynamic_batching": {"preferred_batch_size": [32], "max_queue_delay_microseconds": 0,
                      "default_queue_policy": {"max_queue_size": 2}}}
JSON
# A batching model that waits 5 s for company (cancellation test).
mkdir -p "$T/repo/lazy/1"
cp "$T/repo/tiny/1/model.onnx" "$T/repo/lazy/1/"
echo '{"max_batch_size": 64, "dynamic_batching": {"max_queue_delay_microseconds": 5000000}}' \
    >"$T/repo/lazy/config.json"
# Three versions under a "latest 2" policy (version policy test).
for v in 1 2 3; do mkdir -p "$T/repo/multi/$v"; cp "$T/repo/tiny/$((v < 3 ? v : 2))/model.onnx" "$T/repo/multi/$v/"; done
echo '{"max_batch_size": 4, "version_policy": {"latest": {"num_versions": 2}}}' >"$T/repo/multi/config.json"
# A model whose pinned checksum is wrong: it must never load.
mkdir -p "$T/repo/badsum/1"
cp "$T/repo/tiny/1/model.onnx" "$T/repo/badsum/1/"
echo '{"sha256": {"1/model.onnx": "0000000000000000000000000000000000000000000000000000000000000000"}}' \
    >"$T/repo/badsum/config.json"
cat >"$T/loomd.json" <<'JSON'
{"limits": {"max_request_bytes": 1048576, "max_tensor_elements": 100000},
 "control": {"uids": [65534]},
 "drain_timeout_seconds": 20}
JSON

"$B/bin/loomd" --model-repository "$T/repo" --socket "$SOCK" --http-port 0 \
    --model-control-mode explicit --config "$T/loomd.json" --log-file "$LOG" \
    --load-model tiny --load-model simple --load-model small_cnn --load-model small_cnn_nobatch \
    --load-model slow --load-model int8_mlp --load-model badsum --load-model lazy --load-model multi &
D1=$!
PIDS+=("$D1")
if ! wait_live "$SOCK"; then
    bad "loomd starts" "$(tail -5 "$LOG")"
    echo "$PASS passed, $FAIL failed"
    exit 1
fi
ok "loomd starts and listens on $SOCK"
# The socket answers before the "listening" line (which names the TCP port) is written.
for _ in $(seq 100); do grep -q '"event":"listening"' "$LOG" && break; sleep 0.1; done
PORT=$(sed -n 's/.*tcp=127.0.0.1:\([0-9]*\).*/\1/p' "$LOG" | head -1)
expect "socket mode is 0660" test "$(stat -c %a "$SOCK")" = 660

# ------------------------------------------------------------------ health, metadata
req GET /v2/health/live
expect "GET /v2/health/live" st_has 200 '{"live":true}'
req GET /v2/health/ready
expect "GET /v2/health/ready" st_has 200 '{"ready":true}'
req GET /v2
expect "GET /v2 (server metadata)" st_has 200 '"extensions":["binary_tensor_data","model_repository"'
req GET /v2/models/tiny
expect "GET /v2/models/tiny (metadata)" st_has 200 '"versions":["1","2"],"platform":"onnx","inputs":[{"name":"x","datatype":"FP32","shape":[-1,16]}]'
req GET /v2/models/tiny/versions/1
expect "GET /v2/models/tiny/versions/1" st_has 200 '"name":"tiny"'
req GET /v2/models/tiny/versions/3
expect "GET a missing version is 404" st_has 404 'no version 3'
req GET /v2/models/tiny/ready
expect "GET /v2/models/tiny/ready" st_has 200 '"ready":true'
req GET /v2/models/tiny/versions/2/ready
expect "GET /v2/models/tiny/versions/2/ready" is 200
req GET /v2/models/nope/ready
expect "GET ready of an unknown model is 404" st_has 404 '"error":"unknown model'
req GET /v2/models/simple/config
expect "GET /v2/models/simple/config (Triton form)" st_has 200 '"max_batch_size":8,"input":[{"name":"INPUT0","data_type":"TYPE_INT32","dims":[16]}'
req GET /v2/models/simple/stats
expect "GET /v2/models/simple/stats" st_has 200 '"model_stats":[{"name":"simple"'
req GET /v2/models/simple/plan
expect "GET /v2/models/simple/plan: every node's device and reason" \
    st_has 200 '"nodes":[{"name":"Add_0","op":"Add","shape":"[1,16]","device":"cpu"'
expect "  with the solver and the totals" \
    has '"solver":{"algorithm":"dp","exact":true'
req GET /v2/models/nosuch/plan
expect "GET /v2/models/nosuch/plan is 404" st_has 404 "unknown model 'nosuch'"


# ------------------------------------------------------------------ inference
X16='[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]'
req POST /v2/models/tiny/infer -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":'"$X16"'}]}'
expect "infer JSON (latest version: 3x+1)" st_has 200 '"model_version":"2","outputs":[{"name":"y","datatype":"FP32","shape":[1,16],"data":[1,4,7,10,13,16,19,22,25,28,31,34,37,40,43,46]}]'
req POST /v2/models/tiny/versions/1/infer -d '{"id":"r1","inputs":[{"name":"x","shape":[2,16],"datatype":"FP32","data":['"$X16,$X16"']}]}'
expect "infer JSON on version 1, batch 2, id echoed" st_has 200 '"model_version":"1","id":"r1"'
has '"shape":[2,16],"data":[1,3,5,7' || bad "version 1 values"
# The KServe v2 spec's example request, as written there (nested data, whitespace).
cat >"$T/spec.json" <<'JSON'
{
  "id" : "42",
  "inputs" : [
    {
      "name" : "INPUT0",
      "shape" : [ 2, 16 ],
      "datatype" : "INT32",
      "data" : [ [ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 ],
                 [ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 ] ]
    },
    {
      "name" : "INPUT1",
      "shape" : [ 2, 16 ],
      "datatype" : "INT32",
      "data" : [ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2 ]
    }
  ],
  "outputs" : [
    {
      "name" : "OUTPUT1"
    }
  ]
}
JSON
req POST /v2/models/simple/infer -H 'Content-Type: application/json' --data-binary @"$T/spec.json"
expect "a request written from the KServe v2 spec" st_has 200 '"id":"42","outputs":[{"name":"OUTPUT1","datatype":"INT32","shape":[2,16],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,-1,-1'
# Binary tensor data extension: 16 floats of 1.0 in, 16 floats of 4.0 out.
HDR='{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","parameters":{"binary_data_size":64}}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}'
{ printf '%s' "$HDR"; for _ in $(seq 16); do printf '\x00\x00\x80\x3f'; done; } >"$T/bin.req"
req POST /v2/models/tiny/infer -H "Inference-Header-Content-Length: ${#HDR}" \
    -H 'Content-Type: application/octet-stream' --data-binary @"$T/bin.req"
JL=$(sed -n 's/^Inference-Header-Content-Length: \([0-9]*\).*/\1/ip' "$T/h" | tr -d '\r')
TAIL=$(tail -c 64 "$T/body" | od -An -v -tx1 | tr -d ' \n')
expect "infer with binary tensors both ways" test "$STATUS" = 200 -a -n "$JL" \
    -a "$TAIL" = "$(for _ in $(seq 16); do printf 00008040; done)"
expect "binary response header names its JSON length" grep -q '"binary_data_size":64' <(head -c "${JL:-0}" "$T/body")
# Keep-alive: two requests on one connection, written by hand.
KA=$(/usr/bin/python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
r = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall(r + r); data = b""
while data.count(b"HTTP/1.1 200") < 2:
    chunk = s.recv(4096)
    if not chunk: break
    data += chunk
print(data.count(b"HTTP/1.1 200"))
PY
)
expect "HTTP/1.1 keep-alive (two requests, one connection)" test "$KA" = 2
req GET /v2/health/live -H 'X-Request-ID: my-req-1'
expect "X-Request-ID echoed in the response" grep -qi '^X-Request-ID: my-req-1' "$T/h"
expect "access log is JSON lines with the request id" grep -q '"event":"access","request_id":"my-req-1"' "$LOG"

# ------------------------------------------------------------------ errors
req GET /v2/models/nope
expect "unknown model is 404" st_has 404 '{"error":"unknown model'
req POST /v2/models/tiny/infer -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":[1,2'
expect "truncated JSON is 400" st_has 400 'invalid JSON'
req POST /v2/models/tiny/infer -d "$(printf '%.0s[' $(seq 5000))"
expect "deeply nested JSON is 400" is 400
req POST /v2/models/tiny/infer -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP64","data":'"$X16"'}]}'
expect "wrong datatype is 400" st_has 400 'has datatype FP64, the model expects FP32'
req POST /v2/models/tiny/infer -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":[1,2,3]}]}'
expect "too few elements is 400" st_has 400 'data elements'
req POST /v2/models/tiny/infer -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":["a"]}]}'
expect "a string element is 400" is 400
req POST /v2/models/tiny/infer -d '{"inputs":[{"name":"x","shape":[100,16],"datatype":"FP32","data":[]}]}'
expect "batch above max_batch_size is 400" st_has 400 'batch dimension'
req POST /v2/models/int8_mlp/infer -d '{"inputs":[{"name":"x","shape":[1,1000000],"datatype":"FP32","data":[]}]}'
expect "tensor element limit is 400" st_has 400 'at most 100000 elements'
req POST /v2/models/tiny/infer -d '{"inputs":[]}'
expect "missing inputs is 400" st_has 400 'takes 1 inputs'
req POST /v2/models/tiny/infer -H 'Inference-Header-Content-Length: 9999' -d '{}'
expect "header length beyond the body is 400" st_has 400 'exceeds the body'
req POST /v2/models/tiny/infer -H 'Inference-Header-Content-Length: -5' -d '{}'
expect "negative header length is 400" is 400
req GET /v2/models/tiny/infer
expect "GET on infer is 405" is 405
req GET /v2/models/../../etc/passwd
expect "path traversal (..) is refused" is 400
req GET /v2/models/%2e%2e/ready
expect "encoded path traversal (%2e%2e) is refused" st_has 400 'invalid model name'
req GET /v2/nothing/here
expect "unknown endpoint is 404" is 404
head -c 2000000 /dev/zero >"$T/big"
req POST /v2/models/tiny/infer --data-binary @"$T/big"
expect "body above max_request_bytes is 413" st_has 413 'larger than'
req POST /v2/models/badsum/infer -d '{}'
expect "a model with a wrong sha256 does not load (503 not ready)" st_has 503 'not ready'
grep -q 'sha256 does not match' "$LOG" && ok "the checksum failure is logged" || bad "checksum failure logged"

# ------------------------------------------------------------------ repository
req POST /v2/repository/index
expect "POST /v2/repository/index" st_has 200 '{"name":"int8_mlp","version":"1","state":"READY"}'
has '"name":"badsum","state":"UNAVAILABLE","reason":"load failed' || bad "index shows the failed load"
req POST /v2/repository/index -d '{"ready":true}'
expect "index with ready=true omits unloaded models" test "$STATUS" = 200 -a -z "$(grep -o badsum <<<"$BODY")"
req POST /v2/repository/models/tiny/unload
expect "unload tiny" is 200
req GET /v2/models/tiny/ready
expect "unloaded model is not ready" is 400
req POST /v2/models/tiny/infer -d '{}'
expect "infer on an unloaded model is 503" is 503
req POST /v2/repository/models/tiny/load
expect "load tiny" is 200
req POST /v2/models/tiny/infer -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":'"$X16"'}]}'
expect "infer after reload" st_has 200 '"data":[1,4,7'
req POST /v2/repository/models/nothere/load
expect "loading a missing model is 404" is 404
req POST /v2/repository/models/..%2Fetc/load
expect "loading ..%2Fetc is refused" test "$STATUS" = 400 -o "$STATUS" = 404

req GET /v2/models/multi
expect "version policy latest 2 serves versions 2 and 3" st_has 200 '"versions":["2","3"]'
req GET /v2/models/multi/versions/1/ready
expect "a version outside the policy is 404" is 404
echo '{"max_batch_size": 4, "version_policy": {"specific": {"versions": [1, 3]}}}' >"$T/repo/multi/config.json"
req POST /v2/repository/models/multi/load
req GET /v2/models/multi
expect "reload with a specific policy serves versions 1 and 3" st_has 200 '"versions":["1","3"]'
req POST /v2/models/multi/versions/1/infer -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":'"$X16"'}]}'
expect "infer on a specific version" st_has 200 '"model_version":"1"'

# ------------------------------------------------------------------ peer credentials
chmod 755 "$T"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
"${NOBODY[@]}" curl -s -o /dev/null --unix-socket "$SOCK" http://localhost/v2/health/live
expect "mode 0660 keeps other users out (connect refused)" test $? -eq 7
chmod 666 "$SOCK"
S=$("${NOBODY[@]}" curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://localhost/v2/models/tiny)
expect "SO_PEERCRED: a user outside the socket's group gets 403" test "$S" = 403
S=$("${NOBODY[@]}" curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket "$SOCK" http://localhost/v2/repository/models/tiny/load)
expect "a uid in control.uids may load models" test "$S" = 200
S=$(setpriv --reuid=65533 --regid=65533 --clear-groups curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket "$SOCK" http://localhost/v2/repository/models/tiny/unload)
expect "a uid not in control.uids may not unload" test "$S" = 403
chmod 660 "$SOCK"
chmod 700 "$T"
S=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/v2/repository/models/tiny/unload")
expect "model control over TCP is off by default" test "$S" = 403

# ------------------------------------------------------------------ overload, timeouts
/usr/bin/python3 - "$T/slow.req" <<'PY'
import json, struct, sys
h = json.dumps({"inputs": [{"name": "x", "shape": [32, 1024], "datatype": "FP32",
                            "parameters": {"binary_data_size": 32 * 1024 * 4}}]}).encode()
open(sys.argv[1] + ".len", "w").write(str(len(h)))
open(sys.argv[1], "wb").write(h + struct.pack("<%df" % (32 * 1024), *([0.5] * 32 * 1024)))
PY
SL=$(cat "$T/slow.req.len")
seq 24 | xargs -P 24 -I{} curl -s -o /dev/null -D "$T/ov.{}" -w '%{http_code}\n' --unix-socket "$SOCK" \
    -H "Inference-Header-Content-Length: $SL" --data-binary @"$T/slow.req" \
    http://localhost/v2/models/slow/infer >"$T/ov.codes"
N503=$(grep -c '^503$' "$T/ov.codes")
N200=$(grep -c '^200$' "$T/ov.codes")
expect "overload: a full queue answers 503 ($N503 of 24), the rest 200 ($N200)" test "$N503" -ge 1 -a $((N503 + N200)) -eq 24
expect "503 carries Retry-After" grep -qi '^Retry-After: 1' $(grep -li '^HTTP/1.1 503' "$T"/ov.[0-9]* | head -1)
TH="$(head -c "$SL" "$T/slow.req" | sed 's/}$/,"parameters":{"timeout":1}}/')"
{ printf '%s' "$TH"; tail -c +$((SL + 1)) "$T/slow.req"; } >"$T/slow-timeout.req"
req POST /v2/models/slow/infer -H "Inference-Header-Content-Length: ${#TH}" --data-binary @"$T/slow-timeout.req"
expect "a request past its timeout is 503" st_has 503 'timed out'

# company_start: a request that stays in flight, its body trickling in at 100
# bytes/s, so the batcher has company on its way and waits (a request with none
# goes at once). company_stop hangs it up.
company_start() {
    head -c 4000 /dev/zero | tr '\0' ' ' >"$T/company.body"
    curl -s -o /dev/null --limit-rate 100 --unix-socket "$SOCK" --data-binary @"$T/company.body" \
        http://localhost/v2/models/lazy/infer &
    COMPANY=$!
    for _ in $(seq 300); do
        N=$(curl -s --unix-socket "$SOCK" http://localhost/metrics | sed -n 's/^loom_inflight_requests //p')
        [ "${N:-0}" -ge 2 ] && break # the company and this metrics request
        sleep 0.01
    done
}
company_stop() { kill "$COMPANY" 2>/dev/null; wait "$COMPANY" 2>/dev/null; }

# A client that gives up while queued: its job is cancelled, never run. "lazy"
# holds a request for 5 s waiting for the company, so the hang-up comes first.
company_start
curl -s -o /dev/null --max-time 0.3 --unix-socket "$SOCK" \
    -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":'"$X16"'}]}' \
    http://localhost/v2/models/lazy/infer
sleep 0.1
company_stop
req GET /metrics
expect "a client hanging up cancels its queued request" \
    grep -qE 'failure_total\{model="lazy",version="1",reason="cancelled"\} [1-9]' <<<"$BODY"

# ------------------------------------------------------------------ metrics
req GET /metrics
expect "GET /metrics (Prometheus text)" st_has 200 'loom_inference_request_success_total{model="tiny",version="2"}'
has 'loom_inference_request_failure_total{model="slow",version="1",reason="queue_full"}' || bad "metrics: failures by reason"
has 'loom_inference_compute_duration_seconds_bucket{model="small_cnn"' || has 'loom_inference_compute_duration_seconds_bucket{model="slow"' || bad "metrics: histograms"
has 'loom_device_busy_seconds_total{device="cpu"}' && has 'loom_device_jobs_total{device="cpu"}' &&
    has 'loom_device_healthy{device="cpu"} 1' || bad "metrics: CPU busy time, jobs, health"
has 'loom_inflight_requests' && has 'loom_inference_batch_size_bucket' && ok "metrics: in-flight gauge and batch sizes" || bad "metrics: in-flight and batch sizes"

# ------------------------------------------------------------------ clients
sub_suite "$B/tests/loomd-client-test" "$SOCK"
if [ -x "$B/venv/bin/python" ] && "$B/venv/bin/python" -c 'import tritonclient.http' 2>/dev/null; then
    sub_suite "$B/venv/bin/python" tests/loomd/triton_client_test.py "127.0.0.1:$PORT"
else
    bad "Triton's Python client" "no $B/venv with tritonclient: run make deps"
fi
/usr/bin/python3 -c "import numpy as np; np.save('$T/x.npy', np.arange(16, dtype=np.float32).reshape(1, 16))"
OUT=$("$B/bin/loomctl" infer tiny --socket "$SOCK" --version 1 --input "x=$T/x.npy")
expect "loomctl infer with .npy input" grep -q '"model_version":"1","outputs":\[{"name":"y","datatype":"FP32","shape":\[1,16\],"data":\[1.0,3.0,5.0' <<<"$OUT"
OUT=$(LOOM_SOCKET="$SOCK" "$B/bin/loomctl" infer simple --json "$T/spec.json")
expect "loomctl infer with a JSON request (\$LOOM_SOCKET)" grep -q '"id":"42"' <<<"$OUT"

# ------------------------------------------------------------------ load/unload 200 times
rss() { awk '/^VmRSS/ {print $2}' "/proc/$D1/status"; }
cycle() { for _ in $(seq "$1"); do
    curl -s -o /dev/null -X POST --unix-socket "$SOCK" http://localhost/v2/repository/models/small_cnn_nobatch/unload
    curl -s -o /dev/null -X POST --unix-socket "$SOCK" http://localhost/v2/repository/models/small_cnn_nobatch/load
done; }
cycle 20
R0=$(rss)
cycle 200
R1=$(rss)
expect "200 load/unload cycles: RSS flat (${R0} kB -> ${R1} kB)" test $((R1 - R0)) -lt 16384
req GET /v2/models/small_cnn_nobatch/ready
expect "the model serves after 220 reloads" is 200

# ------------------------------------------------------------------ loom-perf with churn
OUT=$("$B/bin/loom-perf" -m small_cnn --socket "$SOCK" --concurrency 64 --duration 8 --check \
    --churn small_cnn,tiny 2>&1)
echo "$OUT" | sed 's/^/     /'
expect "loom-perf at concurrency 64 with reloads: no wrong answers, no dropped connections" \
    grep -q ' 0 wrong, 0 transport errors' <<<"$OUT"

# ------------------------------------------------------------------ poll mode and SIGHUP
mkdir -p "$T/repo2"
cp -r "$T/repo/tiny" "$T/repo2/"
echo '{"limits": {"max_request_bytes": 1048576}}' >"$T/cfg2.json"
"$B/bin/loomd" --model-repository "$T/repo2" --socket "$T/d2.sock" --model-control-mode poll \
    --repository-poll-secs 1 --config "$T/cfg2.json" --log-file "$T/d2.log" &
D2=$!
PIDS+=("$D2")
wait_live "$T/d2.sock"
SOCK_SAVE=$SOCK
SOCK=$T/d2.sock
req GET /v2/models/simple/ready
expect "poll mode: simple absent at start" is 404
cp -r "$T/repo/simple" "$T/repo2/"
for _ in $(seq 40); do req GET /v2/models/simple/ready; is 200 && break; sleep 0.1; done
expect "poll mode: a new model directory loads" is 200
rm -rf "$T/repo2/simple"
for _ in $(seq 40); do req GET /v2/models/simple/ready; is 200 || break; sleep 0.1; done
expect "poll mode: a removed model stops serving" test "$STATUS" = 400 -o "$STATUS" = 404
echo '{"sha256": {"2/model.onnx": "1111111111111111111111111111111111111111111111111111111111111111"}}' >"$T/repo2/tiny/config.json"
for _ in $(seq 40); do grep -q 'tiny: 2/model.onnx: sha256' "$T/d2.log" && break; sleep 0.1; done
req POST /v2/models/tiny/infer -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":'"$X16"'}]}'
expect "a failed reload keeps the old version serving" st_has 200 '"data":[1,4,7'
echo '{"limits": {"max_request_bytes": 2048}}' >"$T/cfg2.json"
kill -HUP "$D2"
for _ in $(seq 40); do grep -q '"event":"reloaded"' "$T/d2.log" && break; sleep 0.1; done
head -c 4096 /dev/zero >"$T/4k"
req POST /v2/models/tiny/infer --data-binary @"$T/4k"
expect "SIGHUP rereads the config (new request limit)" is 413
kill -TERM "$D2"
wait "$D2"
expect "SIGTERM on an idle daemon exits 0" test $? -eq 0
SOCK=$SOCK_SAVE

# ------------------------------------------------------------------ socket activation
# systemd's protocol (LISTEN_PID/LISTEN_FDS, fd 3) through systemd-socket-activate.
if command -v systemd-socket-activate >/dev/null; then
    systemd-socket-activate -l "$T/act.sock" "$B/bin/loomd" --model-repository "$T/repo" \
        --model-control-mode explicit --load-model tiny \
        --log-file "$T/act.log" >/dev/null 2>&1 &
    ACT=$!
    PIDS+=("$ACT")
    for _ in $(seq 50); do [ -S "$T/act.sock" ] && break; sleep 0.1; done
    S=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' --unix-socket "$T/act.sock" http://localhost/v2/models/tiny/ready)
    expect "socket activation: loomd serves the socket systemd passed" test "$S" = 200 -a -n "$(grep -o activated "$T/act.log")"
    kill -TERM "$ACT" 2>/dev/null
    wait "$ACT" 2>/dev/null
else
    echo "skip socket activation: systemd-socket-activate is not installed"
fi

# ------------------------------------------------------------------ devices: card busy time and health
# The int8 model on an emulated card (LOOM_EMULATED_CARDS=1, device "auto"): the card's
# busy time, jobs and command count rise with inferences; health is what the card reports.
metric() { # metric NAME LABELS - the value of one series in $BODY
    grep -F -- "$1{$2} " <<<"$BODY" | awk '{print $2}' | head -1
}
CSOCK=$T/card.sock
FAULTS=$T/card.faults
# A repository whose int8_mlp names card:0: with "auto" the planner may keep
# so small a model on the CPU; naming the card leaves the CPU only its fallback.
cp -r "$T/repo" "$T/card-repo"
sed -i 's/"device": *"auto"/"device": "card:0"/' "$T/card-repo/int8_mlp/config.json"
# The same file on the CPU, for the failover load test's expected answers.
cp -r "$T/card-repo/int8_mlp" "$T/card-repo/int8_mlp_cpu"
sed -i 's/"device": *"card:0"/"device": "cpu"/' "$T/card-repo/int8_mlp_cpu/config.json"
echo ok >"$FAULTS"
LOOM_EMULATED_CARDS=1 LOOM_EMULATED_CARD_FAULTS="$FAULTS" LOOM_EMULATED_CARD_TIMEOUT_MS=300 \
    LOOM_HEALTH_PROBE_MS=100 \
    "$B/bin/loomd" --model-repository "$T/card-repo" --socket "$CSOCK" \
    --model-control-mode explicit --load-model int8_mlp \
    --log-file "$T/card.log" --access-log off &
CARD_D=$!
PIDS+=("$CARD_D")
SOCK_SAVE=$SOCK
SOCK=$CSOCK
if wait_live "$CSOCK"; then
    req GET /metrics
    BUSY0=$(metric loom_device_busy_seconds_total 'device="card:0"')
    JOBS0=$(metric loom_device_jobs_total 'device="card:0"')
    CMDS0=$(metric loom_card_commands_total 'device="card:0"')
    X64=$(python3 -c 'print([0.25 * ((i % 9) - 4) for i in range(128)])')
    for _ in $(seq 20); do
        req POST /v2/models/int8_mlp/infer -d '{"inputs":[{"name":"x","shape":[2,64],"datatype":"FP32","data":'"$X64"'}]}'
        is 200 || break
    done
    expect "int8_mlp answers on the emulated card" is 200
    req GET /metrics
    BUSY1=$(metric loom_device_busy_seconds_total 'device="card:0"')
    JOBS1=$(metric loom_device_jobs_total 'device="card:0"')
    CMDS1=$(metric loom_card_commands_total 'device="card:0"')
    expect "card:0 busy time rises with inferences ($BUSY0 -> $BUSY1 s)" \
        awk -v a="${BUSY0:-x}" -v b="${BUSY1:-x}" 'BEGIN { exit !(a ~ /^[0-9.e+-]+$/ && b > a) }'
    expect "card:0 jobs rise by the 20 inferences ($JOBS0 -> $JOBS1)" \
        test -n "$JOBS0" -a -n "$JOBS1" -a "$((${JOBS1:-0} - ${JOBS0:-0}))" -ge 20
    expect "the card's own command count rises ($CMDS0 -> $CMDS1)" \
        test -n "$CMDS0" -a "${CMDS1:-0}" -gt "${CMDS0:-0}"
    expect "card:0 is healthy: ready, programmed, not dead" \
        test "$(metric loom_device_healthy 'device="card:0"')" = 1 -a \
        "$(metric loom_card_status 'device="card:0",status="ready"')" = 1 -a \
        "$(metric loom_card_status 'device="card:0",status="programmed"')" = 1 -a \
        "$(metric loom_card_status 'device="card:0",status="dead"')" = 0
    TEMP=$(metric loom_card_temperature_celsius 'device="card:0"')
    expect "the card's temperature, power, resets and memory as it reports them (${TEMP} C)" \
        test -n "$TEMP" -a -n "$(metric loom_card_power_watts 'device="card:0"')" -a \
        "$(metric loom_card_resets_total 'device="card:0"')" = 0 -a \
        "$(metric loom_card_memory_used_bytes 'device="card:0"')" -gt 0
    expect "each device is labelled with its NUMA node (the emulated card's is unknown)" \
        test "$(metric loom_device_info 'device="cpu",numa_node="0"')" = 1 -a \
        "$(metric loom_device_info 'device="card:0",numa_node=""')" = 1
    expect "the CPU is listed too, with no card series" \
        test -n "$(metric loom_device_busy_seconds_total 'device="cpu"')" -a \
        -z "$(metric loom_card_temperature_celsius 'device="cpu"')"
    # Device faults (the card's fault file). int8_mlp may fall back to the CPU:
    # a dead or hung card costs no request, the run resumes on the CPU with the
    # same answer; the card leaves service and comes back by itself once it
    # answers and passes its known-answer test. (A fail-closed model answers
    # 503 instead, naming the card and the policy: unit_loomd and
    # test_device_errors.)
    INFER_X='{"inputs":[{"name":"x","shape":[2,64],"datatype":"FP32","data":'"$X64"'}]}'
    req POST /v2/models/int8_mlp/infer -d "$INFER_X"
    WANT=$BODY
    healthy_again() {
        for _ in $(seq 100); do
            req GET /metrics
            [ "$(metric loom_device_state 'device="card:0",state="healthy"')" = 1 ] && return 0
            sleep 0.1
        done
        return 1
    }
    echo die >"$FAULTS"
    req POST /v2/models/int8_mlp/infer -d "$INFER_X"
    expect "a dead card costs no request: 200, the CPU's answer" test "$STATUS" = 200 -a "$BODY" = "$WANT"
    req GET /metrics
    expect "  the run failed over; card:0 is quarantined, dead and unhealthy" \
        test "$(metric loom_device_failovers_total 'device="card:0"')" -ge 1 -a \
        "$(metric loom_device_state 'device="card:0",state="quarantined"')" = 1 -a \
        "$(metric loom_card_status 'device="card:0",status="dead"')" = 1 -a \
        "$(metric loom_device_healthy 'device="card:0"')" = 0
    req POST /v2/models/int8_mlp/infer -d "$INFER_X"
    expect "  and the next request is planned without it" test "$STATUS" = 200 -a "$BODY" = "$WANT"
    req GET /metrics
    JOBS2=$(metric loom_device_jobs_total 'device="card:0"')
    echo ok >"$FAULTS"
    expect "once its fault file says ok, the card passes its known-answer test and serves" healthy_again
    expect "  re-admitted once" test "$(metric loom_device_readmissions_total 'device="card:0"')" = 1
    req POST /v2/models/int8_mlp/infer -d "$INFER_X"
    req GET /metrics
    expect "  and takes work again (card:0 jobs $JOBS2 -> $(metric loom_device_jobs_total 'device="card:0"'))" \
        test "$(metric loom_device_jobs_total 'device="card:0"')" -gt "${JOBS2:-0}"
    echo hang >"$FAULTS"
    req POST /v2/models/int8_mlp/infer -d "$INFER_X"
    expect "a hung card costs no request either: 200 after its deadline" \
        test "$STATUS" = 200 -a "$BODY" = "$WANT"
    req GET /metrics
    expect "  card:0 is out of service" \
        test "$(metric loom_device_state 'device="card:0",state="quarantined"')" = 1
    echo ok >"$FAULTS"
    expect "  and back after its known-answer test" healthy_again
    req POST /v2/models/int8_mlp/infer -d "$INFER_X"
    expect "the card answers again once its fault file says ok" is 200
    # Under load: 1000 requests at concurrency 64, the card made to die (then
    # to hang) after 300 answers; every answer must be the CPU's, and the card
    # must come back (tests/loomd/failover_load.py).
    sub_suite /usr/bin/python3 tests/loomd/failover_load.py "$CSOCK" "$FAULTS"
else
    bad "loomd with an emulated card starts" "$(tail -3 "$T/card.log")"
fi
SOCK=$SOCK_SAVE
kill -TERM "$CARD_D" 2>/dev/null
wait "$CARD_D" 2>/dev/null
# libloom reports the card's totals as its context closes; loomd logs them as its own events.
expect "libloom's messages reach loomd's log, with their level" \
    grep -q '"level":"info","event":"libloom","msg":"card:0: [0-9]* segment runs' "$T/card.log"

# ------------------------------------------------------------------ SIGTERM drain
# Two requests on "lazy" would wait 5 s for a batch (with company on its way);
# the drain runs them at once.
company_start
BG=()
for i in 1 2; do
    curl -s -o "$T/drain.body.$i" -w '%{http_code}\n' --unix-socket "$SOCK" \
        -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":'"$X16"'}]}' \
        http://localhost/v2/models/lazy/infer >"$T/drain.$i" &
    BG+=($!)
done
for _ in $(seq 300); do # both queued (the company and the metrics request count too)
    N=$(curl -s --unix-socket "$SOCK" http://localhost/metrics | sed -n 's/^loom_inflight_requests //p')
    [ "${N:-0}" -ge 4 ] && break
    sleep 0.01
done
T0=$(date +%s%N)
kill -TERM "$D1"
company_stop
wait "$D1"
RC=$?
MS=$((($(date +%s%N) - T0) / 1000000))
wait "${BG[@]}"
CODES=$(cat "$T"/drain.[12] | tr '\n' ' ')
expect "SIGTERM drains: queued requests answered 200 ($CODES), exit 0 after $MS ms" \
    test $RC -eq 0 -a "$CODES" = "200 200 " -a "$MS" -lt 4000
expect "the answers are right" grep -q '"data":\[1,3,5' "$T/drain.body.1"
DRAIN_LINE=$(grep -h "\"event\":\"draining\"" "$LOG")
expect "the drain is logged with requests in flight ($DRAIN_LINE)" grep -qE "\"event\":\"draining\",\"msg\":\"[1-9][0-9]* request" <<<"$DRAIN_LINE"
expect "the socket file is removed on exit" test ! -e "$SOCK"

# ------------------------------------------------------------------ make run's example
# run-example.sh (what `make run` starts, with one emulated card) prints curl requests
# and their answers: each printed request, run exactly as printed, answers the same.
RSOCK=$T/run.sock
LOOM_EMULATED_CARDS=1 "$(dirname "$0")/run-example.sh" "$B/bin/loomd" "$T/repo" "$RSOCK" \
    >"$T/run.out" 2>&1 &
RUN_D=$!
PIDS+=("$RUN_D")
for _ in $(seq 300); do
    grep -q '^Ctrl-C stops' "$T/run.out" && break
    sleep 0.1
done
mapfile -t RUN_REQS < <(grep '^  curl --unix-socket .* -d ' "$T/run.out")
mapfile -t RUN_ANS < <(grep -A1 '^which answers:' "$T/run.out" | grep '^  {')
expect "make run prints two requests and their answers (${#RUN_REQS[@]}, ${#RUN_ANS[@]})" \
    test "${#RUN_REQS[@]}" -eq 2 -a "${#RUN_ANS[@]}" -eq 2
for i in "${!RUN_REQS[@]}"; do
    GOT=$(eval "${RUN_REQS[$i]} -s")
    WANT=${RUN_ANS[$i]#  }
    expect "printed request $((i + 1)) answers as printed (${GOT:0:60})" \
        test -n "$GOT" -a "$GOT" = "$WANT" -a "${GOT#*\"outputs\"}" != "$GOT"
done
RUN_PLAN=$(curl -s --unix-socket "$RSOCK" http://localhost/v2/models/int8_mlp/plan)
expect "make run's int8 model: its plan says where each node runs and why" \
    grep -q '"name":"QLinearMatMul_1","op":"QLinearMatMul",.*"reason":"' <<<"$RUN_PLAN"
kill -TERM "$RUN_D"
wait "$RUN_D"
expect "make run's loomd stops cleanly on a signal" test $? -eq 0 -a ! -e "$RSOCK"

# ------------------------------------------------------------------ orchestrators
# Socket group and mode, --http-address in a network namespace, KServe's layout,
# Triton's input/output and model_warmup, LOOM_VISIBLE_CARDS (orchestrator.sh).
sub_suite env BUILD="$B" "$(dirname "$0")/orchestrator.sh"

# ------------------------------------------------------------------ fuzzing
if [ -n "${LOOMD_FUZZ:-}" ]; then
    if OUT=$($LOOMD_FUZZ 2>&1); then ok "libFuzzer over the request handler"; else
        echo "$OUT" | tail -20
        bad "libFuzzer over the request handler"
    fi
    echo "$OUT" | grep -E '^(#[0-9]+ *DONE|Done)' | sed 's/^/     /'
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
