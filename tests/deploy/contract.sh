#!/bin/bash
# contract.sh - loomd started exactly as KServe starts deploy/kserve/loomd-runtime.yaml's
# container: the same arguments ({{.Name}} = detector), a model in /mnt/models (a
# temporary directory mounted there in a mount namespace of our own), in a network
# namespace of our own where loomd binds 0.0.0.0:8080 and is reached through a veth
# address (10.251.0.1), as the kubelet and KServe's router reach a pod. Checks live,
# ready, model ready, infer and the metrics at the runtime's annotated port and path.
#
#   BUILD=build tests/deploy/contract.sh     (root; make test-deploy runs it)
#
# Prints one ok/FAIL line per check and ends with "N passed, N failed".
set -u
BUILD=${BUILD:-build}
B=$(cd "$BUILD" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/loom-contract.XXXXXX)
trap 'rm -rf "$T"' EXIT

# What the runtime says, read with the venv's YAML parser: one argument per line,
# then the annotated metrics port and path, then the container port.
"$B/venv/bin/python" - "$ROOT/deploy/kserve/loomd-runtime.yaml" >"$T/runtime" <<'PY' || exit 1
import sys, yaml
rt = yaml.safe_load(open(sys.argv[1]))
c = [c for c in rt["spec"]["containers"] if c["name"] == "kserve-container"][0]
for a in c.get("command", []) + c["args"]:
    print(a.replace("{{.Name}}", "detector"))
print("--")
print(rt["spec"]["annotations"]["prometheus.kserve.io/port"])
print(rt["spec"]["annotations"]["prometheus.kserve.io/path"])
print(c["ports"][0]["containerPort"])
PY
sed -n '1,/^--$/p' "$T/runtime" | sed '$d' >"$T/args"
{ read -r _; read -r METRICS_PORT; read -r METRICS_PATH; read -r PORT; } < <(sed -n '/^--$/,$p' "$T/runtime")

# What the storage initializer leaves: one model's directory.
mkdir -p "$T/models/1"
cp "$B/loomd-repo/tiny/1/model.onnx" "$T/models/1/"
echo '{"max_batch_size": 8}' >"$T/models/config.json"

cat >"$T/pod.sh" <<'SH'
set -u
T=$1 LOOMD=$2 PORT=$3 METRICS_PORT=$4 METRICS_PATH=$5
. "$6" # tests/lib/checks.sh
# The pod's filesystem: /mnt/models and /run (the socket's emptyDir) exist only here.
mount -t tmpfs tmpfs /mnt && mkdir /mnt/models && mount --bind "$T/models" /mnt/models &&
    mount -t tmpfs tmpfs /run || { bad "mount namespace setup"; echo "0 passed, 1 failed"; exit 1; }
# The pod's network: loopback and a veth end at 10.251.0.1.
ip link set lo up && ip link add eth0 type veth peer name peer0 &&
    ip addr add 10.251.0.1/24 dev eth0 && ip link set eth0 up && ip link set peer0 up ||
    { bad "network namespace setup"; echo "0 passed, 1 failed"; exit 1; }
mapfile -t ARGS <"$T/args"
"$LOOMD" "${ARGS[@]}" >"$T/loomd.out" 2>&1 &
PID=$!
URL=http://10.251.0.1:$PORT
for _ in $(seq 100); do curl -sf --max-time 1 "$URL/v2/health/live" >/dev/null && break; sleep 0.1; done
get() { BODY=$(curl -s --max-time 10 -w ' %{http_code}' "$@"); }
get "$URL/v2/health/live"
[ "$BODY" = '{"live":true} 200' ] && ok "live on 0.0.0.0:$PORT through the pod's address" || bad live "$BODY"
grep -q 'tcp=0.0.0.0:8080' "$T/loomd.out" && ok "loomd says it listens on 0.0.0.0:8080" ||
    bad "listening line" "$(tail -3 "$T/loomd.out")"
get "$URL/v2/health/ready"
[ "$BODY" = '{"ready":true} 200' ] && ok "ready" || bad ready "$BODY"
get "$URL/v2/models/detector/ready"
[ "${BODY##* }" = 200 ] && ok "the InferenceService's model (detector) is ready" || bad "model ready" "$BODY"
get -X POST "$URL/v2/models/detector/infer" \
    -d '{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]}'
case "$BODY" in *'"model_name":"detector"'*'"outputs":[{"name":"y","datatype":"FP32","shape":[1,16]'*' 200')
    ok "infer answers";; *) bad infer "$BODY";; esac
get "http://10.251.0.1:$METRICS_PORT$METRICS_PATH"
case "$BODY" in *'loom_inference_request_success_total{model="detector",version="1"} 1'*' 200')
    ok "metrics at the annotated port and path ($METRICS_PORT$METRICS_PATH) count it";;
    *) bad "metrics" "${BODY:0:200}";; esac
kill -TERM "$PID"
wait "$PID"
[ $? -eq 0 ] && [ ! -e /run/loom/loomd.sock ] && ok "SIGTERM (pod deletion) drains and exits 0" ||
    bad "SIGTERM exit"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
SH
timeout 120 unshare --mount --net --propagation private bash "$T/pod.sh" "$T" "$B/bin/loomd" \
    "$PORT" "$METRICS_PORT" "$METRICS_PATH" "$(cd "$(dirname "$0")/../lib" && pwd)/checks.sh"
