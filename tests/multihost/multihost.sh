#!/bin/bash
# multihost.sh - several loomd hosts behind a load balancer, on one machine:
# three network namespaces each run loomd on 0.0.0.0:8080, a fourth runs
# HAProxy (tests/multihost/haproxy.cfg.in: health checks on /v2/health/ready,
# L7 retries) and loom-perf, joined by veth pairs with addresses of our own
# (10.253.N.0/24; nothing outside these namespaces is ever a target). Checks
# that load spreads over all three, that killing one host (SIGKILL) mid-run
# costs the client no request, and that the host rejoins after a restart.
# Every loop is bounded; everything is torn down on exit.
#
#   BUILD=build tests/multihost/multihost.sh     (root; make test-multihost)
#
# Prints one ok/FAIL line per check and ends with "N passed, N failed".
set -u
BUILD=${BUILD:-build}
B=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/loom-multihost.XXXXXX)
NS=loommh$$ # namespace prefix: unique per run
declare -A LOOMD_PID

. "$(dirname "$0")/../lib/checks.sh"
in_ns() { ip netns exec "$NS$1" "${@:2}"; }

cleanup() {
    for h in "${!LOOMD_PID[@]}"; do kill -9 "${LOOMD_PID[$h]}" 2>/dev/null; done
    [ -n "${HAPROXY:-}" ] && kill "$HAPROXY" 2>/dev/null
    { wait; } 2>/dev/null
    for n in lb h1 h2 h3; do ip netns del "$NS$n" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

# ------------------------------------------------------------------ network
# lb <-> hN over veth pair N: lb side 10.253.N.1, host side 10.253.N.2.
setup_network() {
    for n in lb h1 h2 h3; do
        ip netns add "$NS$n" && in_ns "$n" ip link set lo up || return 1
    done
    for i in 1 2 3; do
        ip link add "lb$i" netns "${NS}lb" type veth peer name eth0 netns "${NS}h$i" &&
            in_ns lb ip addr add "10.253.$i.1/24" dev "lb$i" && in_ns lb ip link set "lb$i" up &&
            in_ns "h$i" ip addr add "10.253.$i.2/24" dev eth0 && in_ns "h$i" ip link set eth0 up ||
            return 1
    done
}

# ------------------------------------------------------------------ hosts
# work: four 1024x1024 products per row, a few milliseconds a request, so requests
# are on every host when one dies (with a trivial model they rarely would be),
# and a four-value answer, so a host never dies halfway through writing one
# (a balancer cannot retry an answer it has started to forward).
mkdir -p "$T/repo/work/1"
/usr/bin/python3 - "$T/repo/work/1/model.onnx" <<'PY' || exit 1
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
w = numpy_helper.from_array(
    (np.random.default_rng(5).standard_normal((1024, 1024)) / 32).astype(np.float32), "w")
v = numpy_helper.from_array(np.full((1024, 4), 0.01, np.float32), "v")
nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "w"], [f"h{i + 1}"])
         for i in range(4)]
nodes.append(helper.make_node("MatMul", ["h4", "v"], ["y"]))  # a small answer: one packet
g = helper.make_graph(nodes, "work",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1024])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w, v])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.save(m, sys.argv[1])
PY
echo '{"max_batch_size": 8}' >"$T/repo/work/config.json"

start_host() { # start_host hN - loomd in namespace hN, waits until it is live (10 s)
    # Not through in_ns: a backgrounded function is a subshell, and $! must be
    # loomd itself (ip netns exec execs it) for the SIGKILL below to hit it.
    ip netns exec "$NS$1" "$B/bin/loomd" --model-repository "$T/repo" --socket "$T/$1.sock" \
        --http-address 0.0.0.0 --http-port 8080 --log-file "$T/$1.log" --access-log off \
        >/dev/null 2>>"$T/$1.log" &
    LOOMD_PID[$1]=$!
    for _ in $(seq 100); do
        curl -sf --max-time 1 --unix-socket "$T/$1.sock" http://localhost/v2/health/ready \
            >/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Requests host hN has answered (from its metrics, over its Unix socket).
served() {
    curl -s --max-time 5 --unix-socket "$T/$1.sock" http://localhost/metrics |
        sed -n 's/^loom_inference_request_success_total{model="work",version="1"} //p'
}

# HAProxy's state of server hN ("UP", "DOWN", ...), from its stats page.
lb_state() {
    in_ns lb curl -s --max-time 2 'http://127.0.0.1:8404/stats;csv' |
        awk -F, -v s="$1" '$1 == "loomd" && $2 == s { print $18 }'
}
wait_state() { # wait_state hN STATE - up to 10 s
    for _ in $(seq 50); do [ "$(lb_state "$1")" = "$2" ] && return 0; sleep 0.2; done
    return 1
}
# Seconds since $1 (an $EPOCHREALTIME): how long a host or the balancer took.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# One loom-perf run through the balancer; its summary line goes to $T/perf.N.
perf() { # perf N SECONDS
    in_ns lb "$B/bin/loom-perf" -m work -b 4 --tcp 127.0.0.1:8000 --concurrency 8 \
        --duration "$2" --check >"$T/perf.$1" 2>&1
}
clean_run() { grep -q ' 0 errors, 0 wrong, 0 transport errors' "$T/perf.$1"; }

if ! setup_network; then
    bad "network namespaces and veth pairs"
    echo "$PASS passed, $FAIL failed"
    exit 1
fi
ok "four network namespaces joined by veth pairs (10.253.1-3.0/24)"
for h in h1 h2 h3; do
    start_host "$h" || bad "loomd on $h starts" "$(tail -3 "$T/$h.log")"
done
sed -e "s|@DIR@|$T|g" -e 's|@H1@|10.253.1.2|' -e 's|@H2@|10.253.2.2|' -e 's|@H3@|10.253.3.2|' \
    "$HERE/haproxy.cfg.in" >"$T/haproxy.cfg"
# In the foreground (-db), as this shell's child: killed and reaped by cleanup.
ip netns exec "${NS}lb" haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.out" 2>&1 </dev/null &
HAPROXY=$!
UP=0
for h in h1 h2 h3; do wait_state "$h" UP && UP=$((UP + 1)); done
[ "$UP" = 3 ] && ok "HAProxy in its namespace sees all three hosts ready" ||
    bad "HAProxy sees three hosts UP ($UP)" "$(cat "$T/haproxy.out")"

# ------------------------------------------------------------------ spread
perf 1 4
BEFORE=()
for h in h1 h2 h3; do BEFORE+=("$(served "$h")"); done
TOTAL=$((${BEFORE[0]:-0} + ${BEFORE[1]:-0} + ${BEFORE[2]:-0}))
clean_run 1 && ok "loom-perf through the balancer: no failed request ($(grep -o '[0-9.]* infer/s' "$T/perf.1"))" ||
    bad "first run is clean" "$(cat "$T/perf.1")"
SPREAD=1
for i in 0 1 2; do [ "$((${BEFORE[$i]:-0} * 5))" -ge "$TOTAL" ] || SPREAD=0; done
[ "$SPREAD" = 1 ] && [ "$TOTAL" -gt 0 ] &&
    ok "load spreads over all three hosts (${BEFORE[*]} of $TOTAL, each at least a fifth)" ||
    bad "load spreads over all three hosts" "${BEFORE[*]}"

# ------------------------------------------------------------------ one host dies
perf 2 8 &
PERF=$!
sleep 3
kill -9 "${LOOMD_PID[h2]}"
KILLED=$EPOCHREALTIME
# Watched while the load runs, so the time is the balancer's, not loom-perf's.
(wait_state h2 DOWN && since "$KILLED" >"$T/down") &
WATCH=$!
{ wait "${LOOMD_PID[h2]}"; } 2>/dev/null
unset 'LOOMD_PID[h2]'
wait "$PERF"
wait "$WATCH"
clean_run 2 && ok "h2 killed (SIGKILL) mid-run: zero failed client requests ($(grep -o '[0-9]* ok' "$T/perf.2"))" ||
    bad "no failed request while h2 dies" "$(cat "$T/perf.2")"
[ -s "$T/down" ] && [ "$(lb_state h2)" = DOWN ] &&
    ok "the balancer marks h2 down ($(cat "$T/down") s after the kill)" ||
    bad "h2 marked down" "$(lb_state h2)"

# ------------------------------------------------------------------ it comes back
rm -f "$T/h2.sock"
RESTART=$EPOCHREALTIME
start_host h2 || bad "loomd on h2 restarts" "$(tail -3 "$T/h2.log")"
READY=$(since "$RESTART")
wait_state h2 UP && ok "restarted, h2 is back in rotation ($READY s to ready, $(since "$RESTART") s to UP)" ||
    bad "h2 back UP" "$(lb_state h2)"
perf 3 3
H2=$(served h2)
clean_run 3 && [ "${H2:-0}" -gt 0 ] && ok "and serves again ($H2 requests)" ||
    bad "h2 serves after rejoining" "h2=${H2:-none}: $(cat "$T/perf.3")"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
