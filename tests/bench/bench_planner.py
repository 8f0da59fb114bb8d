"""The planner's plan against every single-device plan, measured, with its estimates.

    build/venv/bin/python tests/bench/bench_planner.py --loomctl build/bin/loomctl \
        --models build/models --runs 20

Models that mix int8 and float layers: int8 QDQ versions of the exported CNNs
(ONNX Runtime's static quantizer, as bench_models.py makes them), whose
quantized convolutions the emulated card, the CPU and (dequantized) OpenCL can
all run, while their float head runs on the CPU or OpenCL. With one emulated
card and PoCL present, each model runs:

  planned   --device card:0,opencl:0,cpu (the planner chooses among all three)
  cpu       --device cpu
  card:0    --device card:0 (the CPU only for what the card cannot run)
  opencl:0  --device opencl:0 (likewise)

and prints, per configuration, the measured end-to-end latency (min and p50:
the ratio of the planned plan to the best single-device plan is taken on the
p50, with an emulated card's measured p50 replaced by its cycle model's
time; the acceptance bound is 1.05) and
the planner's estimate. The emulated card's wall time is the emulation's (a C
model of its CUs on this CPU); the column card@model replaces it with the
card's cycle-model time, what the card itself would take, and the ratio is
taken on that column. Per device, the measured time next to the
estimate. The emulated card's measured time is the emulation's wall time on
this CPU, not the card's: the planner prices the card by its cycle model,
so card-heavy plans are expected to measure far above their estimates here.
Timings are noisy on shared machines.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from bench_models import input_shape, make_qdq  # noqa: E402

import numpy as np  # noqa: E402

CONFIGS = [("planned", "card:0,opencl:0,cpu"), ("cpu", "cpu"), ("card:0", "card:0"),
           ("opencl:0", "opencl:0")]


def run(loomctl, model, name, npy, device, runs, threads, tmp):
    prof = os.path.join(tmp, "profile.json")
    env = dict(os.environ, LOOM_EMULATED_CARDS="1")
    out = subprocess.run(
        [loomctl, "run", model, "--input", f"{name}={npy}", "--device", device, "--threads",
         str(threads), "--repeat", str(runs), "--profile-json", prof],
        capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr else "failed"
    with open(prof) as f:
        prof = json.load(f)
    m = re.search(r"min ([0-9.]+) ms, p50 ([0-9.]+) ms", out.stdout)
    prof["min_ms"], prof["p50_ms"] = (float(m.group(1)), float(m.group(2))) if m else (
        float("nan"), float("nan"))
    return prof, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loomctl", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--only", default="resnet18_opset13,mobilenet_v2_opset13,squeezenet1_1_opset13")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for d in args.only.split(","):
            src = os.path.join(args.models, d, "model.onnx")
            if not os.path.exists(src):
                print(f"# {d}: not exported", file=sys.stderr)
                continue
            model = os.path.join(tmp, f"{d}_qdq.onnx")
            make_qdq(src, model)
            name, dims = input_shape(model)
            npy = os.path.join(tmp, "x.npy")
            np.save(npy, np.random.default_rng(1).standard_normal(dims).astype(np.float32))
            print(f"\n{d}_qdq ({args.threads} thread{'s' if args.threads > 1 else ''}, "
                  f"p50 of {args.runs} runs)")
            print(f"  {'plan':<10} {'min ms':>8} {'p50 ms':>8} {'card@model':>9} {'estimate ms':>12}"
                  "  per device (measured p50 / estimated ms)")
            measured = {}
            for label, device in CONFIGS:
                prof, err = run(args.loomctl, model, name, npy, device, args.runs,
                                args.threads, tmp)
                if not prof:
                    print(f"  {label:<10} {'-':>8} {'-':>8} {'-':>9} {'-':>12}  {err}")
                    continue
                # The emulated card's wall time is a C model of the CUs on this CPU;
                # the card itself would take its cycle model's time. The ratio is
                # taken with the card at that time, the wall figure printed too.
                # The card's measured time is a p50, so it comes off the p50 total
                # (off the min, the two statistics' difference on a 100 ms
                # emulation, several ms, would swamp a 2 ms result), and every
                # configuration is compared on its p50.
                emu = [x for x in prof["devices"] if x["emulated"]]
                shift = sum(x["est_us"] - x["measured_us"] for x in emu) / 1e3
                measured[label] = prof["p50_ms"] + shift
                devs = ", ".join(
                    f"{x['name']} {x['measured_us'] / 1e3:.2f} / {x['est_us'] / 1e3:.2f}"
                    + (" (emulated)" if x["emulated"] else "")
                    for x in prof["devices"] if x["measured_us"] > 0 or x["est_us"] > 0)
                print(f"  {label:<10} {prof['min_ms']:8.2f} {prof['p50_ms']:8.2f} "
                      f"{measured[label]:9.2f} {prof['total_est_us'] / 1e3:12.2f}  {devs}")
            singles = [v for k, v in measured.items() if k != "planned"]
            if "planned" in measured and singles:
                ratio = measured["planned"] / min(singles)
                worst = max(worst, ratio)
                print(f"  planned / best single-device plan (p50 latency, card at its model): "
                      f"{ratio:.3f}")
    print(f"\nworst planned / best single ratio: {worst:.3f} (bound 1.05)")


if __name__ == "__main__":
    main()
