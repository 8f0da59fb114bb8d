"""Model latency: Loom (loomctl run) against ONNX Runtime, in the same run.

    build/venv/bin/python tests/bench/bench_models.py --loomctl build/bin/loomctl \
        --models build/models --threads 1,2 --runs 50

For every model directory (model.onnx from tests/models/export_torchvision.py)
both runtimes get the same batch-1 input; each runs a warm-up and then --runs
timed inferences, and the p50 latencies are printed with their ratio
(Loom / ORT: below 1.0 means Loom is faster). With --qdq, int8 QDQ versions of
the models are made first with ONNX Runtime's static quantizer (per-channel
weights, MinMax calibration on random data) and measured the same way.
Timings are noisy on shared machines: compare the two columns, not runs.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def input_shape(model_path):
    model = onnx.load(model_path, load_external_data=False)
    init = {i.name for i in model.graph.initializer}
    inp = [i for i in model.graph.input if i.name not in init][0]
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    return inp.name, dims


def ort_p50(model_path, name, x, threads, runs):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    for _ in range(5):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def loom_p50(loomctl, model_path, name, npy, threads, runs):
    out = subprocess.run(
        [loomctl, "run", model_path, "--input", f"{name}={npy}", "--threads", str(threads),
         "--repeat", str(runs)],
        check=True, capture_output=True, text=True).stdout
    m = re.search(r"p50 ([0-9.]+) ms", out)
    if not m:
        sys.exit(f"cannot parse loomctl output for {model_path}:\n{out}")
    return float(m.group(1))


class RandomReader:
    """Calibration data for ORT's quantizer: a few random batches."""

    def __init__(self, name, dims):
        rng = np.random.default_rng(0)
        self.batches = iter([{name: rng.standard_normal(dims).astype(np.float32)}
                             for _ in range(4)])

    def get_next(self):
        return next(self.batches, None)


def make_qdq(model_path, out_path):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    name, dims = input_shape(model_path)
    quantize_static(model_path, out_path, RandomReader(name, dims), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loomctl", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--only", default="opset13", help="substring a model directory must contain")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--qdq", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="loom-bench-")
    rows = []
    for d in sorted(os.listdir(args.models)):
        path = os.path.join(args.models, d, "model.onnx")
        if args.only not in d or not os.path.exists(path):
            continue
        variants = [(d, path)]
        if args.qdq:
            qpath = os.path.join(tmp, f"{d}_qdq.onnx")
            try:
                make_qdq(path, qpath)
                variants.append((d + "_qdq", qpath))
            except Exception as e:  # the quantizer cannot handle every graph
                print(f"# {d}: no QDQ version ({e})", file=sys.stderr)
        for label, mpath in variants:
            name, dims = input_shape(mpath)
            x = np.random.default_rng(1).standard_normal(dims).astype(np.float32)
            npy = os.path.join(tmp, f"{label}.npy")
            np.save(npy, x)
            for t in (int(t) for t in args.threads.split(",")):
                ours = loom_p50(args.loomctl, mpath, name, npy, t, args.runs)
                peer = ort_p50(mpath, name, x, t, args.runs)
                rows.append((label, t, ours, peer))
                print(f"{label:32s} threads {t}  loom p50 {ours:9.3f} ms  "
                      f"onnxruntime p50 {peer:9.3f} ms  ratio {ours / peer:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
