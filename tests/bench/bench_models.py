"""Model latency: Loom (loomctl run) against ONNX Runtime and OpenVINO, in the same run.

    build/venv/bin/python tests/bench/bench_models.py --loomctl build/bin/loomctl \
        --models build/models --threads 1,2 --runs 50

For every model directory (model.onnx from tests/models/export_torchvision.py)
the runtimes get the same inputs: the model's test_data_set_1 (batch 1; the
encoders' 128 tokens) where it exists, else random batch-1 data. Each runs a
warm-up and then --runs timed inferences, split into --rounds rounds that
alternate between the runtimes; each runtime's figure is its best round's p50,
so a stretch of host noise that lasts a round does not decide a ratio. The
figures are printed with the ratios Loom / ORT and Loom / OpenVINO (below 1.0
means Loom is faster).
OpenVINO runs on its CPU plugin with the latency hint, f32 inference
precision and the same thread count; it is skipped when not installed. With
--qdq, int8 QDQ versions of the models are made first with ONNX Runtime's
static quantizer (per-channel weights, MinMax calibration on the same inputs
plus random variations) and measured the same way; models that are int8
already (bert_encoder_int8_*, from tests/models/quantize_models.py) are
measured as they are. The default set is every *_opset13 directory: the
torchvision models, the encoders, yolov8_tiny (a 320x192 image), byte_cnn
(200 int64 bytes) and the int8 encoders (ids and mask inputs).
--baseline LOOMCTL adds the figure of another loomctl build (say main's) in
the same run.
Timings are noisy on shared machines: compare the columns, not runs.
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


def graph_inputs(model_path):
    model = onnx.load(model_path, load_external_data=False)
    init = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in init]


def input_shape(model_path):
    """Name and shape (symbolic dims 1) of the first input (bench_planner.py)."""
    inp = graph_inputs(model_path)[0]
    return inp.name, [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]


def model_inputs(model_dir, model_path):
    """{name: array}: test_data_set_1's .pb files in input order, else random
    float data of the first input's shape with symbolic dims set to 1."""
    inputs = graph_inputs(model_path)
    data_dir = os.path.join(model_dir, "test_data_set_1")
    if os.path.exists(os.path.join(data_dir, "input_0.pb")):
        feeds = {}
        for i, inp in enumerate(inputs):
            t = onnx.TensorProto()
            with open(os.path.join(data_dir, f"input_{i}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            feeds[inp.name] = numpy_helper.to_array(t)
        return feeds
    name, dims = input_shape(model_path)
    return {name: np.random.default_rng(1).standard_normal(dims).astype(np.float32)}


def timed(fn, runs):
    for _ in range(5):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def guarded(what, fn, *args):
    """fn(*args), or None with the reason on stderr when that runtime fails."""
    try:
        return fn(*args)
    except Exception as e:  # a peer that cannot compile a graph gets a "-"
        print(f"# {what}: {str(e).strip().splitlines()[-1] if str(e).strip() else e!r}",
              file=sys.stderr)
        return None


def ov_runner(model_path, feeds, threads):
    """A function of a run count that times OpenVINO (None: not installed)."""
    try:
        import openvino as ov
    except ImportError:
        return None
    core = ov.Core()
    compiled = core.compile_model(core.read_model(model_path), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1})
    req = compiled.create_infer_request()
    return lambda runs: timed(lambda: req.infer(feeds), runs)


def ort_runner(model_path, feeds, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    return lambda runs: timed(lambda: sess.run(None, feeds), runs)


def loom_runner(loomctl, model_path, npys, threads):
    """Each call is one loomctl process: load, warm-up, then the timed runs."""
    def run(runs):
        args = [loomctl, "run", model_path, "--threads", str(threads), "--repeat", str(runs)]
        for name, npy in npys.items():
            args += ["--input", f"{name}={npy}"]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"loomctl failed: {(r.stderr or r.stdout).strip()}")
        m = re.search(r"p50 ([0-9.]+) ms", r.stdout)
        if not m:
            raise RuntimeError(f"cannot parse loomctl output:\n{r.stdout}")
        return float(m.group(1))
    return run


def best_round_p50(runners, runs, rounds):
    """Times every runner (None: skipped) in @rounds alternating rounds; each
    one's best round p50, or None where it was skipped or failed."""
    best = [None] * len(runners)
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for i, (what, fn) in enumerate(runners):
            if fn is None:
                continue
            p50 = guarded(what, fn, per_round)
            if p50 is None:
                runners[i] = (what, None)
            else:
                best[i] = p50 if best[i] is None else min(best[i], p50)
    return best


class RandomReader:
    """Calibration data for ORT's quantizer: the benchmark's inputs and a few
    variations (float inputs jittered, integer ones as they are)."""

    def __init__(self, feeds):
        rng = np.random.default_rng(0)
        batches = []
        for _ in range(4):
            batches.append({k: (v + 0.5 * rng.standard_normal(v.shape).astype(v.dtype)
                                if v.dtype.kind == "f" else v) for k, v in feeds.items()})
        self.batches = iter(batches)

    def get_next(self):
        return next(self.batches, None)


def make_qdq(model_path, out_path, feeds=None):
    """QDQ int8 version of @model_path; calibrated on @feeds and variations
    (random data of the first input's shape when None)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    if feeds is None:
        feeds = model_inputs("", model_path)
    quantize_static(model_path, out_path, RandomReader(feeds), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)


QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
                 "ConvInteger", "QLinearConv", "QLinearMatMul"}


def is_quantized(model_path):
    """True when the model is int8 already (the int8 test models from
    quantize_models.py): --qdq must not quantize it a second time."""
    model = onnx.load(model_path, load_external_data=False)
    return any(n.op_type in QUANTIZED_OPS for n in model.graph.node)


def ratio(a, b):
    return f"{a / b:6.2f}" if a and b else "     -"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loomctl", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--only", default="opset13",
                    help="comma-separated substrings; a model directory must contain one")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating rounds the runs are split into")
    ap.add_argument("--qdq", action="store_true")
    ap.add_argument("--baseline", help="another loomctl (say main's) timed in the same run")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="loom-bench-")
    only = args.only.split(",")
    hdr = (f"{'model':32s} thr {'loom':>9s} {'base':>9s} {'ORT':>9s} {'OpenVINO':>9s}"
           f"  loom/ORT loom/OV base/ORT")
    print(hdr + "\n" + "-" * len(hdr) + "    (p50 ms)", flush=True)
    for d in sorted(os.listdir(args.models)):
        mdir = os.path.join(args.models, d)
        path = os.path.join(mdir, "model.onnx")
        if not any(o in d for o in only) or not os.path.exists(path):
            continue
        feeds = model_inputs(mdir, path)
        variants = [(d, path)]
        if args.qdq and not is_quantized(path):
            qpath = os.path.join(tmp, f"{d}_qdq.onnx")
            try:
                make_qdq(path, qpath, feeds)
                variants.append((d + "_qdq", qpath))
            except Exception as e:  # the quantizer cannot handle every graph
                print(f"# {d}: no QDQ version ({e})", file=sys.stderr)
        npys = {}
        for name, x in feeds.items():
            npys[name] = os.path.join(tmp, f"{d}_{len(npys)}.npy")
            np.save(npys[name], x)
        for label, mpath in variants:
            for t in (int(t) for t in args.threads.split(",")):
                runners = [
                    (f"{label}: Loom", loom_runner(args.loomctl, mpath, npys, t)),
                    ("baseline", loom_runner(args.baseline, mpath, npys, t)
                     if args.baseline else None),
                    (f"{label}: ORT", guarded(f"{label}: ORT", ort_runner, mpath, feeds, t)),
                    (f"{label}: OpenVINO",
                     guarded(f"{label}: OpenVINO", ov_runner, mpath, feeds, t)),
                ]
                ours, base, peer, ov = best_round_p50(runners, args.runs, args.rounds)
                fmt = lambda v: f"{v:9.3f}" if v else "        -"
                print(f"{label:32s} {t:3d} {fmt(ours)} {fmt(base)} {fmt(peer)} {fmt(ov)}"
                      f"  {ratio(ours, peer)}   {ratio(ours, ov)}  {ratio(base, peer)}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
