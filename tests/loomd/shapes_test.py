"""Shapes that change every request (issue 17): loomd serving a BERT-style encoder.

    shapes_test.py --loomd BIN --model MODEL.onnx --work DIR [--requests 2000]
                   [--threads 1] [--bench]

Starts loomd (explicit model control, one kernel thread by default) on a
repository holding MODEL as version 1 of "bert", then:

  1. sends --requests requests of random batch 1..16 and sequence 1..128
     (random token ids, attention masks with random lengths) and checks every
     answer against ONNX Runtime on the same inputs (run in a second process
     while loomd computes);
  2. checks loomd's RSS at the end against weights x 1.5 + 200 MiB, and that
     it does not grow over the last half of the requests (at most 5% + 16 MiB
     above the largest RSS of the first half: the plan cache fills during the
     first half, then only replaces plans within its budget);
  3. times shapes held out of step 1: the first request of each (never seen,
     so it is planned) against the p50 of the same shape once cached, and
     prints both (never asserted: timings depend on the machine's load);
  4. loads version 2, a copy of the same file, and checks that it adds less
     than 10% of the weights to the RSS;
  5. checks that /metrics exports the plan cache and packed-weight figures.

With --bench (and --loomctl BIN) it also runs the same sequence of shapes,
then the held-out shapes, in-process through `loomctl run --shapes` (libloom
without HTTP) and through ONNX Runtime (and OpenVINO when build/venv has it),
each in a process of its own at --threads, and prints a table of figures:
loom's, each peer's and their ratio (loom / peer; below 1 is better for
loom). Timings are printed, never asserted.
Prints one ok/FAIL line per check and ends with "N passed, N failed".
"""
import argparse
import concurrent.futures
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import onnxruntime as ort
import tritonclient.http as httpclient

MIB = 1 << 20
passed = failed = 0
_ref_sess = None


def _ref_init(model):
    global _ref_sess
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    _ref_sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def _ref_run(ids, mask):
    return _ref_sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]


class Reference:
    """ONNX Runtime's answers, computed in a process of its own while loomd
    computes its answer to the same request: the two share the machine's
    cores instead of taking turns."""

    def __init__(self, model):
        ctx = multiprocessing.get_context("spawn")
        self.pool = concurrent.futures.ProcessPoolExecutor(1, ctx, _ref_init, (model,))

    def submit(self, ids, mask):
        return self.pool.submit(_ref_run, ids, mask)

    def close(self):
        self.pool.shutdown()


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   shapes: {name}")
    else:
        failed += 1
        print(f"FAIL shapes: {name}: {detail}")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_repo(root, model, versions, plan_cache_mb, name="bert", bucket=None):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    for v in range(1, versions + 1):
        os.makedirs(os.path.join(d, str(v)), exist_ok=True)
        dst = os.path.join(d, str(v), "model.onnx")
        if not os.path.exists(dst):
            shutil.copyfile(model, dst)  # a copy, as a new version would be
    cfg = {"max_batch_size": 16,
           "version_policy": {"all": {}},
           "parameters": {"warmup": "false", "plan_cache_mb": str(plan_cache_mb)}}
    if bucket:
        cfg["parameters"]["shape_bucket"] = bucket
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)


def start_loomd(a, repo):
    log = open(os.path.join(a.work, "loomd.log"), "w")
    conf = os.path.join(a.work, "loomd.json")
    with open(conf, "w") as f:
        json.dump({"control": {"allow_tcp": True},
                   "limits": {"max_request_bytes": 64 * MIB}}, f)
    p = subprocess.Popen([a.loomd, "--model-repository", repo, "--socket",
                          os.path.join(a.work, "loomd.sock"), "--http-port", "0",
                          "--model-control-mode", "explicit", "--load-model", "bert",
                          "--threads", str(a.threads), "--config", conf,
                          "--access-log", "off", "--log-file", log.name],
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        with open(log.name) as f:
            text = f.read()
        if '"event":"listening"' in text and "tcp=127.0.0.1:" in text:
            port = text.split("tcp=127.0.0.1:")[1].split('"')[0].split(",")[0].split()[0]
            c = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}", network_timeout=600)
            for _ in range(600):
                if c.is_model_ready("bert"):
                    return p, c, f"127.0.0.1:{port}"
                time.sleep(0.1)
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    sys.exit(f"loomd did not start: {open(log.name).read()[-2000:]}")


def make_inputs(rng, batch, seq, vocab):
    ids = rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)
    mask = np.zeros((batch, seq), dtype=np.int64)
    for i in range(batch):
        mask[i, :rng.integers(1, seq + 1)] = 1
    return ids, mask


def infer(c, ids, mask, version="1", model="bert"):
    ins = [httpclient.InferInput("input_ids", list(ids.shape), "INT64"),
           httpclient.InferInput("attention_mask", list(mask.shape), "INT64")]
    ins[0].set_data_from_numpy(ids, binary_data=True)
    ins[1].set_data_from_numpy(mask, binary_data=True)
    out = [httpclient.InferRequestedOutput("last_hidden_state", binary_data=True)]
    t0 = time.perf_counter()
    r = c.infer(model, ins, model_version=version, outputs=out)
    ms = (time.perf_counter() - t0) * 1e3
    return r.as_numpy("last_hidden_state"), ms


def serve_random(a, c, pid, ref, vocab, held):
    rng = np.random.default_rng(17)
    shapes = []
    while len(shapes) < a.requests:
        s = (int(rng.integers(1, 17)), int(rng.integers(1, 129)))
        if s not in held:
            shapes.append(s)
    worst, rss, lat = 0.0, [], []
    for i, (b, s) in enumerate(shapes):
        ids, mask = make_inputs(rng, b, s, vocab)
        want = ref.submit(ids, mask)
        y, ms = infer(c, ids, mask)
        want = want.result()
        worst = max(worst, float(np.max(np.abs(y - want) / (1 + np.abs(want)))))
        rss.append(rss_mib(pid))
        lat.append(ms)
        if (i + 1) % max(1, a.requests // 10) == 0:
            print(f"  {i + 1} requests, rss {rss[-1]:.1f} MiB, worst error {worst:.2e}")
    return shapes, worst, rss, lat


def unseen_vs_cached(c, vocab, held):
    rng = np.random.default_rng(5)
    first, cached = [], []
    for b, s in held:
        ids, mask = make_inputs(rng, b, s, vocab)
        first.append(infer(c, ids, mask)[1])
        cached.append(np.median([infer(c, ids, mask)[1] for _ in range(5)]))
    return float(np.median(first)), float(np.median(cached))


def bucketed(a, c, url, repo, ref, n):
    """A copy of the model with "shape_bucket": "sequence:16": answers still
    match ONNX Runtime on the unpadded inputs, with one plan per bucket (the
    plan cache is large enough here that no plan is evicted and planned again)."""
    make_repo(repo, a.model, 1, 4096, "bert16", "sequence:16")
    c.load_model("bert16")
    rng = np.random.default_rng(23)
    worst, buckets = 0.0, set()
    for _ in range(n):
        b, s = int(rng.integers(1, 17)), int(rng.integers(1, 129))
        buckets.add((b, (s + 15) // 16))
        ids, mask = make_inputs(rng, b, s, a.vocab)
        want = ref.submit(ids, mask)
        y, _ = infer(c, ids, mask, model="bert16")
        want = want.result()
        assert y.shape == want.shape, (y.shape, want.shape)
        worst = max(worst, float(np.max(np.abs(y - want) / (1 + np.abs(want)))))
    built = metric_value(metrics(url), "loom_model_plans_built_total", 1, "bert16")
    return worst, len(buckets), built


def metrics(url):
    with urllib.request.urlopen(f"http://{url}/metrics") as r:
        return r.read().decode()


def metric_sum(text, name):
    """The sum of @name over every model and version."""
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + "{"))


def idle_arenas(url, pid, limit_s=30):
    """Arena bytes every loaded version's plans hold, arena bytes released
    so far, and loomd's RSS: now, and once no request came for
    LOOM_ARENA_IDLE_MS (10 s): loomd releases idle arenas every second (at
    most limit_s waited)."""
    def figures():
        text = metrics(url)
        return (metric_sum(text, "loom_model_arena_bytes_held"),
                metric_sum(text, "loom_model_arena_bytes_released_total"), rss_mib(pid))
    first = last = figures()
    end = time.time() + limit_s
    while last[0] and time.time() < end:
        time.sleep(0.5)
        last = figures()
    time.sleep(1.5)  # the release is followed by malloc_trim
    return first, figures()


def metric_value(text, name, version, model="bert"):
    for line in text.splitlines():
        if line.startswith(name + "{") and f'model="{model}"' in line and \
                f'version="{version}"' in line:
            return float(line.split()[-1])
    return None


PEER_RUNNER = """
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from shapes_test import make_inputs, rss_mib
peer, model, shapes, held, vocab, threads = json.load(open(sys.argv[2]))
if peer == "onnxruntime":
    import onnxruntime as ort
    def load():
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        return lambda ids, mask: sess.run(None, {"input_ids": ids, "attention_mask": mask})
    version = ort.__version__
else:
    import openvino as ov
    core = ov.Core()
    def load():
        cm = core.compile_model(core.read_model(model), "CPU",
                                {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1})
        req = cm.create_infer_request()
        return lambda ids, mask: req.infer({"input_ids": ids, "attention_mask": mask})
    version = ov.__version__
start = rss_mib("self")
run = load()
loaded = rss_mib("self")
rng = np.random.default_rng(17)

def timed(ids, mask):
    t0 = time.perf_counter()
    run(ids, mask)
    return (time.perf_counter() - t0) * 1e3

lat, rss = [], []
for b, s in shapes:
    lat.append(timed(*make_inputs(rng, b, s, vocab)))
    rss.append(rss_mib("self"))
rng = np.random.default_rng(5)
first, cached = [], []
for b, s in held:
    ids, mask = make_inputs(rng, b, s, vocab)
    first.append(timed(ids, mask))
    cached.append(float(np.median([timed(ids, mask) for _ in range(5)])))
before = rss_mib("self")
run2 = load()  # a second version of the same file
ids, mask = make_inputs(rng, 2, 16, vocab)
run2(ids, mask)
print(json.dumps({"version": version, "p50": float(np.median(lat)), "rss": rss[-1],
                  "loaded": loaded, "start": start,
                  "growth": max(rss[len(rss) // 2:]) - max(rss[:len(rss) // 2]),
                  "new": float(np.median(first)), "cached": float(np.median(cached)),
                  "second": rss_mib("self") - before}))
"""


def peer_figures(a, peer, shapes, held):
    """A peer on the same sequence of shapes then the held-out ones, in a
    process of its own: p50 over the sequence, RSS, never-seen vs cached p50
    and what a second session of the same file adds."""
    job = os.path.join(a.work, f"{peer}_job.json")
    with open(job, "w") as f:
        json.dump([peer, a.model, shapes, held, a.vocab, a.threads], f)
    out = subprocess.run([sys.executable, "-c", PEER_RUNNER, os.path.dirname(__file__), job],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def loomctl_figures(a, shapes, held):
    """libloom in-process on the same sequence (`loomctl run --shapes`, each
    line run twice: the first run is what a request of that shape costs,
    planning included when the shape is new), then the held-out shapes."""
    path = os.path.join(a.work, "shapes.txt")
    with open(path, "w") as f:
        for b, s in list(shapes) + list(held):
            f.write(f"batch={b} sequence={s}\n")
    env = dict(os.environ, LOOM_PLAN_CACHE_MB=str(a.plan_cache_mb))
    out = subprocess.run([a.loomctl, "run", a.model, "--threads", str(a.threads), "--device",
                          "cpu", "--shapes", path, "--repeat", "1"],
                         check=True, capture_output=True, text=True, env=env).stdout
    rows = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "shape":
            rows.append((float(f[f.index("first") + 1]), float(f[f.index("p50") + 1]),
                         float(f[f.index("rss") + 1])))
    n = len(shapes)
    if len(rows) != n + len(held):
        sys.exit(f"loomctl printed {len(rows)} shapes of {n + len(held)}:\n{out[-2000:]}")
    rss = [r[2] for r in rows[:n]]
    return {"p50": float(np.median([r[0] for r in rows[:n]])), "rss": rss[-1],
            "growth": max(rss[n // 2:]) - max(rss[:n // 2]),
            "new": float(np.median([r[0] for r in rows[n:]])),
            "cached": float(np.median([r[1] for r in rows[n:]]))}


def have_openvino():
    return subprocess.run([sys.executable, "-c", "import openvino"],
                          capture_output=True).returncode == 0


def print_table(rows, peers):
    """rows: (figure, loom value, {peer: value}); ratio = loom / peer."""
    head = f"{'figure':<46} {'loom':>10}"
    for p in peers:
        head += f" {p:>12} {'ratio':>7}"
    print(head)
    for name, mine, theirs in rows:
        line = f"{name:<46} {mine:>10.2f}"
        for p in peers:
            t = theirs.get(p)
            if t is None:
                line += f" {'-':>12} {'-':>7}"
            else:
                ratio = f"{mine / t:.2f}" if t > 0 else "-"
                line += f" {t:>12.2f} {ratio:>7}"
        print(line)


def opencl_figures(a, shapes, count=8):
    """libloom on opencl:0 alone over the first @count distinct shapes
    (`loomctl run --shapes --stats`): a new shape's first run against its
    p50, RSS per new shape (PoCL's device memory is the host's), and the
    constants kept on the device, which go there once for every plan.
    None without an OpenCL device."""
    ex = subprocess.run([a.loomctl, "examine"], capture_output=True, text=True).stdout
    if "opencl:0" not in ex:
        return None
    seen = []
    for sh in shapes:
        if sh not in seen:
            seen.append(sh)
    path = os.path.join(a.work, "shapes_opencl.txt")
    with open(path, "w") as f:
        for b, q in seen[:count]:
            f.write(f"batch={b} sequence={q}\n")
    out = subprocess.run([a.loomctl, "run", a.model, "--threads", str(a.threads), "--device",
                          "opencl:0", "--shapes", path, "--repeat", "2", "--stats"],
                         check=True, capture_output=True, text=True).stdout
    rows, dev = [], None
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "shape":
            rows.append((float(f[f.index("first") + 1]), float(f[f.index("p50") + 1]),
                         float(f[f.index("rss") + 1])))
        if "on devices" in line:
            dev = float(line.split("on devices")[1].split()[0])
    ratios = [r[0] / r[1] for r in rows[1:]]  # the first shape also builds programs
    return {"ratio": float(np.median(ratios)), "rss_step": (rows[-1][2] - rows[0][2]) /
            max(1, len(rows) - 1), "device_mib": dev, "n": len(rows)}


def bench(a, shapes, held, weights, fig):
    """The figures of the run above next to libloom in-process and the peers'
    on the same shapes (each in a process of its own, one at a time)."""
    peers = ["onnxruntime"] + (["openvino"] if have_openvino() else [])
    lc = loomctl_figures(a, shapes, held) if a.loomctl else None
    theirs = {p: peer_figures(a, p, shapes, held) for p in peers}
    print(f"bench-shapes: BERT-style encoder ({weights:.1f} MiB of weights), {len(shapes)} "
          f"requests of random batch 1..16 and sequence 1..128, then {len(held)} never-seen "
          f"shapes; {a.threads} thread; plan cache {a.plan_cache_mb} MiB")
    for p in peers:
        print(f"  {p} {theirs[p]['version']}: Python process (numpy), {theirs[p]['start']:.1f} "
              f"MiB before loading the model")
    if "openvino" not in peers:
        print("  openvino: not in build/venv, no figures")

    def col(key):
        return {p: theirs[p][key] for p in peers}

    rows = []
    if lc:
        rows += [("p50 latency over the sequence, in-process (ms)", lc["p50"], col("p50")),
                 ("never-seen shape p50, in-process (ms)", lc["new"], col("new")),
                 ("same shapes cached p50, in-process (ms)", lc["cached"], col("cached")),
                 ("never-seen / cached, in-process", lc["new"] / lc["cached"],
                  {p: theirs[p]["new"] / theirs[p]["cached"] for p in peers}),
                 ("rss at the end, loomctl (MiB)", lc["rss"], col("rss")),
                 ("rss growth, last half vs first (MiB)", lc["growth"], col("growth"))]
    rows += [("p50 latency over the sequence, loomd HTTP (ms)", fig["p50"], col("p50")),
             ("never-seen shape p50, loomd HTTP (ms)", fig["new"], col("new")),
             ("same shapes cached p50, loomd HTTP (ms)", fig["cached"], col("cached")),
             ("never-seen / cached, loomd HTTP", fig["new"] / fig["cached"],
              {p: theirs[p]["new"] / theirs[p]["cached"] for p in peers}),
             ("rss after load, loomd (MiB)", fig["loaded"], col("loaded")),
             ("rss at the end, loomd (MiB)", fig["end"], col("rss")),
             ("rss growth, last half vs first, loomd (MiB)", fig["growth"], col("growth")),
             ("second identical version adds (MiB)", fig["second"], col("second")),
             ("planning a new shape, mean (ms)", fig["plan_ms"], {})]
    print_table(rows, peers)
    cl = opencl_figures(a, shapes) if a.loomctl else None
    if cl:
        print(f"opencl:0 alone, {cl['n']} new shapes: first run / p50 of the same shape "
              f"{cl['ratio']:.2f} (median), rss +{cl['rss_step']:.1f} MiB per new shape (its "
              f"segment's buffers for intermediates), "
              f"constants on the device {cl['device_mib']:.1f} MiB for {weights:.1f} MiB of "
              f"weights (uploaded once, shared by every plan)")
    else:
        print("opencl:0: no OpenCL device, no figures")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loomd", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--plan-cache-mb", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--loomctl", help="with --bench: loomctl for the in-process figures")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    repo = os.path.join(a.work, "repo")
    make_repo(repo, a.model, 1, a.plan_cache_mb)
    weights = os.path.getsize(a.model) / MIB  # initializers are nearly all of the file
    ref = Reference(a.model)
    p, c, url = start_loomd(a, repo)
    try:
        rss_load = rss_mib(p.pid)
        print(f"weights {weights:.1f} MiB; loomd rss after load {rss_load:.1f} MiB")
        held = [(1 + 5 * i % 16, 9 + 13 * i) for i in range(9)]  # never in the random stream
        shapes, worst, rss, lat = serve_random(a, c, p.pid, ref, a.vocab, set(held))
        check(f"{a.requests} requests of random batch 1..16, sequence 1..128 match ONNX Runtime "
              f"(worst relative error {worst:.2e})", worst < 1e-3, f"{worst:.2e}")
        half = len(rss) // 2
        limit = weights * 1.5 + 200
        check(f"rss at the end {rss[-1]:.1f} MiB <= weights x 1.5 + 200 = {limit:.1f} MiB",
              rss[-1] <= limit, f"{rss[-1]:.1f} MiB")
        first_half_max = max(rss[:half])
        check(f"rss does not grow over the last {len(rss) - half} requests "
              f"(max {max(rss[half:]):.1f} MiB, first half max {first_half_max:.1f} MiB)",
              max(rss[half:]) <= first_half_max * 1.05 + 16, f"{max(rss[half:]):.1f} MiB")
        fig = {"loaded": rss_load, "end": rss[-1],
               "growth": max(rss[half:]) - first_half_max, "p50": float(np.median(lat))}
        new_p50, cached_p50 = unseen_vs_cached(c, a.vocab, held)
        fig["new"], fig["cached"] = new_p50, cached_p50
        print(f"  never-seen shape p50 {new_p50:.2f} ms, same shapes cached p50 "
              f"{cached_p50:.2f} ms: ratio {new_p50 / cached_p50:.2f} (target <= 1.2, "
              f"{a.threads} thread)")
        text = metrics(url)
        names = ["loom_model_prepared_weight_bytes", "loom_model_plans", "loom_model_plan_bytes",
                 "loom_model_arena_bytes", "loom_model_planning_seconds_total",
                 "loom_prepared_weight_bytes", "loom_model_device_weight_bytes",
                 "loom_device_weight_bytes", "loom_model_arena_bytes_held",
                 "loom_model_arena_bytes_released_total", "process_resident_memory_bytes"]
        missing = [n for n in names if f"\n{n}" not in text]
        check("/metrics exports packed weights, plans, arenas, planning time", not missing,
              f"missing {missing}")
        built = metric_value(text, "loom_model_plans_built_total", 1)
        plan_s = metric_value(text, "loom_model_planning_seconds_total", 1)
        fig["plan_ms"] = plan_s / built * 1e3 if built else float("nan")
        if built:
            print(f"  plans built {built:.0f}, planning {plan_s / built * 1e3:.2f} ms mean, "
                  f"prepared weights "
                  f"{metric_value(text, 'loom_model_prepared_weight_bytes', 1) / MIB:.1f} MiB, "
                  f"plan cache {metric_value(text, 'loom_model_plan_bytes', 1) / MIB:.1f} MiB")
        # Both figures are taken right after a load, when loomd has handed freed
        # heap pages back (repo.c), and after the same requests on version 1.
        ids, mask = make_inputs(np.random.default_rng(3), 2, 16, a.vocab)
        c.load_model("bert")
        infer(c, ids, mask, "1")
        before = rss_mib(p.pid)
        make_repo(repo, a.model, 2, a.plan_cache_mb)
        c.load_model("bert")
        y1, _ = infer(c, ids, mask, "1")
        y2, _ = infer(c, ids, mask, "2")
        after = rss_mib(p.pid)
        fig["second"] = after - before
        check(f"version 2 (identical weights) adds {after - before:.1f} MiB < 10% of the "
              f"weights ({weights * 0.1:.1f} MiB; {before:.1f} -> {after:.1f} MiB)",
              after - before < weights * 0.1, f"{after - before:.1f} MiB")
        check("versions 1 and 2 answer alike", np.array_equal(y1, y2), "outputs differ")
        worst_b, n_buckets, built_b = bucketed(a, c, url, repo, ref, max(40, a.requests // 10))
        check(f"shape buckets (sequence:16): answers match ONNX Runtime (worst relative error "
              f"{worst_b:.2e})", worst_b < 1e-3, f"{worst_b:.2e}")
        check(f"shape buckets: {built_b:.0f} plans for {n_buckets} (batch, bucket) pairs",
              built_b == n_buckets, f"{built_b}")
        busy, idle = idle_arenas(url, p.pid)
        check(f"idle plans give their arenas back (held {busy[0] / MIB:.1f} -> {idle[0] / MIB:.1f} "
              f"MiB, {idle[1] / MIB:.1f} MiB released in all; rss {busy[2]:.1f} -> "
              f"{idle[2]:.1f} MiB)", idle[0] == 0 and idle[1] > 0, f"{busy} -> {idle}")
        loom_p50 = float(np.median(lat))
        print(f"loomd: p50 {loom_p50:.2f} ms over the sequence (HTTP included), "
              f"rss {rss[-1]:.1f} MiB at the end (after load {rss_load:.1f})")
        if a.bench:
            bench(a, shapes, held, weights, fig)
    finally:
        ref.close()
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
