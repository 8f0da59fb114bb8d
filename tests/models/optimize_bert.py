#!/usr/bin/env python3
"""The BERT encoder as ONNX Runtime's transformer optimizer rewrites it.

Run with the venv's Python (build/venv/bin/python: onnxruntime, onnx, numpy,
sympy for the optimizer's shape inference) after export_torchvision.py has
written MODELS/bert_encoder_opset13:

    optimize_bert.py MODELS

Many published "optimized" ONNX encoders come out of
onnxruntime.transformers.optimizer: its Python fusions replace the float
subgraphs by ONNX Runtime's com.microsoft operators (EmbedLayerNormalization,
Attention with a mask_index, SkipLayerNormalization with its bias, BiasGelu or
FastGelu). This writes that form as

    MODELS/bert_encoder_ortopt_opset13

with the source's data sets as inputs and ONNX Runtime's outputs on the
optimized model as references (they agree with PyTorch's on the source to
2e-6, so loom-conformance's default tolerance holds). The export fails when
the optimizer fused fewer operators than expected, so that the test cannot
pass on a graph that kept the plain ONNX operators.
"""
import argparse
import collections
import os
import shutil
import sys

import onnx
import onnxruntime as ort
from onnxruntime.transformers import optimizer

from quantize_models import write_data_sets

SOURCE = "bert_encoder_opset13"
TARGET = "bert_encoder_ortopt_opset13"
HEADS, HIDDEN, LAYERS = 4, 256, 4  # BertEncoder in export_torchvision.py

# com.microsoft operators the optimizer must have produced, and how many.
EXPECTED = {"EmbedLayerNormalization": 1, "Attention": LAYERS,
            "SkipLayerNormalization": 2 * LAYERS}
GELUS = ("BiasGelu", "FastGelu", "Gelu")



def check_fused(path):
    ops = collections.Counter(n.op_type for n in onnx.load(path).graph.node
                              if n.domain == "com.microsoft")
    missing = [f"{op} x{n} (got {ops[op]})" for op, n in EXPECTED.items() if ops[op] != n]
    if sum(ops[g] for g in GELUS) != LAYERS:
        missing.append(f"{LAYERS} of {'/'.join(GELUS)}")
    if missing:
        # no test directory left behind for loom-conformance to pass on
        shutil.rmtree(os.path.dirname(path))
        sys.exit(f"{path}: the optimizer did not fuse {', '.join(missing)}: {dict(ops)}")
    return ops


def write_references(src_dir, test_dir):
    sess = ort.InferenceSession(os.path.join(test_dir, "model.onnx"),
                                providers=["CPUExecutionProvider"])
    write_data_sets(sess, src_dir, test_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models_dir")
    args = ap.parse_args()
    src_dir = os.path.join(args.models_dir, SOURCE)
    test_dir = os.path.join(args.models_dir, TARGET)
    if not os.path.exists(os.path.join(src_dir, "model.onnx")):
        sys.exit(f"{src_dir}/model.onnx missing: run export_torchvision.py first")
    os.makedirs(test_dir, exist_ok=True)
    dst = os.path.join(test_dir, "model.onnx")
    # opt_level 0: the optimizer's Python fusions only, not ORT's own graph
    # passes, which would bake CPU-specific layouts into the file.
    model = optimizer.optimize_model(os.path.join(src_dir, "model.onnx"), model_type="bert",
                                     num_heads=HEADS, hidden_size=HIDDEN, opt_level=0)
    model.save_model_to_file(dst)
    onnx.checker.check_model(onnx.load(dst))
    ops = check_fused(dst)
    write_references(src_dir, test_dir)
    print(f"optimized {test_dir}: {dict(ops)}")


if __name__ == "__main__":
    main()
