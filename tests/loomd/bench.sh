#!/bin/bash
# bench.sh - loomd's benchmarks (make bench-loomd). Timings never gate anything.
#
#  1. Round trip over the Unix socket for a tiny model (p50, concurrency 1) minus
#     the same model run in-process through libloom: the daemon's overhead, next to
#     a raw Unix-socket echo (the peer), and loomd's instructions per request.
#  2. Throughput of two small CNNs at concurrency 1, 4, 16, 64 with and without
#     dynamic batching (same model file; two configs): the MNIST CNN whose 3 MB
#     classifier stays in cache, and cnn_fc4096, whose 59 MB classifier does not.
#  3. 60 s at concurrency 64 with models reloaded every second: wrong answers,
#     dropped connections, failures by status.
#  4. Triton's perf_analyzer (tritonclient 2.40.0's binary, make deps) against the
#     loopback TCP listener at concurrency 1, 6, 11, 16, batching on and off.
set -u
BUILD=${BUILD:-build}
B=$(cd "$BUILD" && pwd)
STRESS_S=${LOOMD_STRESS_SECONDS:-60}
T=$(mktemp -d /tmp/loomd-bench.XXXXXX)
SOCK=$T/loomd.sock
trap 'kill $D 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

REPO=$B/loomd-bench-repo # make_repo.py --bench: loomd-repo's models and the large CNN
"$B/bin/loomd" --model-repository "$REPO" --socket "$SOCK" --http-port 0 \
    --model-control-mode explicit --load-model tiny --load-model small_cnn \
    --load-model small_cnn_nobatch --load-model cnn_fc4096 --load-model cnn_fc4096_nobatch \
    --load-model simple --log-file "$T/log" --access-log off &
D=$!
for _ in $(seq 100); do curl -s --unix-socket "$SOCK" http://localhost/v2/health/ready >/dev/null && break; sleep 0.1; done
# The socket answers before the "listening" line (which names the TCP port) is written.
for _ in $(seq 100); do grep -q '"event":"listening"' "$T/log" && break; sleep 0.1; done
PORT=$(sed -n 's/.*tcp=127.0.0.1:\([0-9]*\).*/\1/p' "$T/log" | head -1)
PERF="$B/bin/loom-perf"
p50() { sed -n 's/.*latency p50 \([0-9.]*\) us.*/\1/p' | head -1; }
tput() { sed -n "s/^concurrency $1: \([0-9.]*\) infer\/s.*/\1/p"; }

echo "== 1. tiny model: socket round trip vs in-process (p50, concurrency 1)"
SOCKET_OUT=$("$PERF" -m tiny --socket "$SOCK" --concurrency 1 --window-ms 1000 --stability 5)
INPROC_OUT=$("$PERF" --in-process "$REPO/tiny/2/model.onnx" --concurrency 1 --window-ms 1000)
TCP_OUT=$("$PERF" -m tiny --tcp "127.0.0.1:$PORT" --concurrency 1 --window-ms 1000 --stability 5)
echo "$SOCKET_OUT" | tail -1
echo "$INPROC_OUT" | tail -1
echo "$TCP_OUT" | tail -1 | sed 's/^/(loopback TCP) /'
S=$(echo "$SOCKET_OUT" | p50)
I=$(echo "$INPROC_OUT" | p50)
# The peer: the same socket type with nothing but an echo behind it (the floor).
RTT_OUT=$("$PERF" --socket-rtt 20000 --bytes 300)
echo "$RTT_OUT" | tail -1 | sed 's/^/(raw Unix socket pair) /'
R=$(echo "$RTT_OUT" | p50)
awk -v s="$S" -v i="$I" -v r="$R" 'BEGIN { printf "bench-loomd: tiny p50 over the socket %.0f us, in-process %.1f us: overhead %.0f us (target <= 50); raw socket round trip %.1f us: loomd is %.1fx it\n", s, i, s - i, r, (r > 0 ? (s - i) / r : 0) }'

# Wall-clock figures swing with the machine's load; instruction counts do not.
# loomd under callgrind, instrumentation on only while loom-perf sends tiny requests.
if command -v valgrind >/dev/null && [ "${LOOMD_BENCH_CALLGRIND:-1}" != 0 ]; then
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$T/cg.%p" \
        "$B/bin/loomd" --model-repository "$REPO" --socket "$T/cg.sock" \
        --model-control-mode explicit --load-model tiny --log-file "$T/cg.log" --access-log off 2>/dev/null &
    CG=$!
    for _ in $(seq 300); do curl -s --unix-socket "$T/cg.sock" http://localhost/v2/health/ready >/dev/null && break; sleep 0.2; done
    ok_count() { curl -s --unix-socket "$T/cg.sock" http://localhost/metrics |
        sed -n 's/^loom_inference_request_success_total{model="tiny",version="2"} //p'; }
    "$PERF" -m tiny --socket "$T/cg.sock" --concurrency 1 --duration 1 >/dev/null # warm-up
    N0=$(ok_count)
    callgrind_control -i on "$CG" >/dev/null 2>&1
    "$PERF" -m tiny --socket "$T/cg.sock" --concurrency 1 --duration 3 >/dev/null
    callgrind_control -i off "$CG" >/dev/null 2>&1
    N1=$(ok_count)
    callgrind_control -d "$CG" >/dev/null 2>&1
    kill "$CG"
    wait "$CG" 2>/dev/null
    IR=$(callgrind_annotate "$(grep -l 'Trigger: dump' "$T"/cg.* | head -1)" 2>/dev/null |
        sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    awk -v ir="${IR:-0}" -v n=$((${N1:-0} - ${N0:-0})) 'BEGIN { if (n > 0 && ir > 0)
        printf "bench-loomd: loomd executes %.0f instructions per tiny request (callgrind, %d requests, all threads)\n", ir / n, n
        else print "bench-loomd: callgrind measurement failed" }'
fi

# throughput MODEL: MODEL (batching on) against MODEL_nobatch, then what the model
# itself gains from batching with no server in the way.
throughput() {
    local m=$1 c a b r
    ON=$("$PERF" -m "$m" --socket "$SOCK" --concurrency 1,4,16,64 --window-ms 1500 --check)
    OFF=$("$PERF" -m "${m}_nobatch" --socket "$SOCK" --concurrency 1,4,16,64 --window-ms 1500 --check)
    echo "$ON"
    echo "$OFF"
    printf "bench-loomd: %-12s %-12s %12s %12s %8s\n" model concurrency batching no-batching ratio
    for c in 1 4 16 64; do
        a=$(echo "$ON" | tput $c)
        b=$(echo "$OFF" | tput $c)
        awk -v m="$m" -v c="$c" -v a="$a" -v b="$b" 'BEGIN { printf "bench-loomd: %-12s %-12s %10.0f/s %10.0f/s %7.2fx\n", m, c, a, b, (b > 0 ? a / b : 0) }'
    done
    # The ratio at 16 again, alternating, to show its spread on this machine.
    for r in 1 2 3; do
        a=$("$PERF" -m "$m" --socket "$SOCK" --concurrency 16 --window-ms 1500 | tput 16)
        b=$("$PERF" -m "${m}_nobatch" --socket "$SOCK" --concurrency 16 --window-ms 1500 | tput 16)
        awk -v m="$m" -v r="$r" -v a="$a" -v b="$b" 'BEGIN { printf "bench-loomd: %s at concurrency 16, run %d: %.0f/s vs %.0f/s: %.2fx\n", m, r, a, b, (b > 0 ? a / b : 0) }'
    done
    # What the model gains from batching in-process: one kernel thread per run and
    # a run per core, so every core is busy as at concurrency 16 and no thread pool
    # is oversubscribed. A batch shares the model's work only, not the per-request
    # HTTP and JSON work, so the ratio above cannot go far beyond this.
    local nc r1 r16
    nc=$(nproc)
    r1=$("$PERF" --in-process "$REPO/$m/1/model.onnx" -b 1 --threads 1 --concurrency "$nc" --window-ms 1000 | tput "$nc")
    r16=$("$PERF" --in-process "$REPO/$m/1/model.onnx" -b 16 --threads 1 --concurrency "$nc" --window-ms 1000 | tput "$nc")
    awk -v m="$m" -v a="$r1" -v b="$r16" -v c="$nc" 'BEGIN { printf "bench-loomd: %s in-process, %d runs of one thread: batch 1 %.0f rows/s, batch 16 %.0f rows/s: the model gains %.2fx from batching\n", m, c, a, b * 16, (a > 0 ? b * 16 / a : 0) }'
    grep -E "^loom_inference_batch_size_(sum|count)\\{model=\"$m\"" <(curl -s --unix-socket "$SOCK" http://localhost/metrics) |
        awk -v m="$m" '{v[$1 ~ /sum/ ? "s" : "c"] = $2} END { if (v["c"] > 0) printf "bench-loomd: mean batch of %s: %.1f rows\n", m, v["s"] / v["c"] }'
}

echo "== 2. small CNN throughput, dynamic batching on (MODEL) and off (MODEL_nobatch)"
throughput small_cnn
throughput cnn_fc4096
echo "(target: batching at least 3x at concurrency 16; cnn_fc4096 is the CNN whose batch-1 cost, streaming its classifier from memory, is what batching shares)"

echo "== 3. ${STRESS_S} s at concurrency 64, small_cnn reloaded and tiny unloaded/loaded every second"
"$PERF" -m small_cnn --socket "$SOCK" --concurrency 64 --duration "$STRESS_S" --check --churn small_cnn,tiny
echo "bench-loomd: stress exit code $? (0: no wrong answers, no dropped connections); loomd $(kill -0 $D 2>/dev/null && echo alive || echo DEAD)"

echo "== 4. Triton perf_analyzer (loopback TCP)"
# make deps installs the pinned wheel that still ships the binary (mk/loomd.mk).
PA_DIR=${PERF_ANALYZER_DIR:-$B/perf-analyzer}
PA=$PA_DIR/bin/perf_analyzer
PA_ENV=(env LD_LIBRARY_PATH="$PA_DIR/nvidia/cuda_runtime/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
if [ ! -x "$PA" ]; then
    echo "bench-loomd: perf_analyzer not run: $PA is missing (make deps installs" \
         "$(cat "$PA_DIR/.packages" 2>/dev/null || echo 'tritonclient==2.40.0') there)"
elif ! PA_ERR=$("${PA_ENV[@]}" "$PA" --version 2>&1); then
    echo "bench-loomd: perf_analyzer not run: it does not start here: $PA_ERR"
    "${PA_ENV[@]}" ldd "$PA" | grep 'not found' | sed 's/^/bench-loomd:   /'
else
    for m in small_cnn small_cnn_nobatch cnn_fc4096 cnn_fc4096_nobatch; do
        OUT=$("${PA_ENV[@]}" "$PA" -m "$m" -u "127.0.0.1:$PORT" -i http --concurrency-range 1:16:5 \
            --measurement-interval 2000 --stability-percentage 30 --max-trials 12 2>&1)
        echo "$OUT" | sed -n '/^Inferences\/Second vs/,$p' | sed "s/^/($m) /"
        echo "$OUT" | grep -q '^Concurrency: ' || { echo "$OUT" | tail -5; echo "bench-loomd: perf_analyzer failed on $m"; }
    done
fi
