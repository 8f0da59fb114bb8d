#!/usr/bin/env python3
"""Int8 forms of exported test models, with ONNX Runtime's outputs as references.

Run with the venv's Python (build/venv/bin/python: onnxruntime, onnx, numpy)
after export_torchvision.py has written MODELS/bert_encoder_opset13:

    quantize_models.py MODELS

It writes two more test directories in the layout of ONNX's backend tests:

    MODELS/bert_encoder_int8_qdq_opset13   quantize_static, QuantFormat.QDQ:
        QuantizeLinear/DequantizeLinear pairs around MatMul, Gemm, Gather,
        Transpose, Reshape...; per-channel int8 weights, uint8 activations,
        MinMax calibration on random ids and masks (ORT's transformer recipe)
    MODELS/bert_encoder_int8_dynamic_opset13   quantize_dynamic: MatMulInteger
        on DynamicQuantizeLinear'd activations and int8 weights

and the QOperator form of three CNNs, as the ONNX model zoo's int8 models
are made (QLinearConv and ONNX Runtime's com.microsoft QLinearAdd, QLinearMul,
QLinearSigmoid, QLinearConcat, QLinearSoftmax, QLinearGlobalAveragePool,
QGemm):

    MODELS/mobilenet_v2_int8_qop_opset13, squeezenet1_1_int8_qop_opset13,
    MODELS/yolov8_tiny_int8_qop_opset13   quantize_static, QuantFormat.QOperator,
        per-channel int8 weights, uint8 activations, calibrated on the data
        set's images with noise

with the float model's data sets as inputs. PyTorch has no reference for
these graphs, so the expected outputs are ONNX Runtime's (CPU provider,
graph optimisations off, so that ORT evaluates the graph as written rather
than its fused int8 kernels). A runtime that rounds one intermediate value
to the neighbouring int8 step differs from ORT by a quantisation step there,
which the following layers carry on; each directory's `tolerance` file
(read by loom-conformance) widens the comparison by that much.
"""
import argparse
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

SOURCE = "bert_encoder_opset13"
VOCAB = 1000  # BertEncoder.VOCAB in export_torchvision.py

# Comparison with ORT's outputs (loom-conformance's "tolerance" file): a loose
# element-wise bound for gross errors and a normalised MSE for systematic
# ones. The figures are about twice to four times what a runtime computing
# the same int8 graph with other (valid) rounding shows: ORT's own fused
# int8 kernels (optimisations on) against the unfused graph differ by up to
# 0.12 at an element and 3e-4 NMSE for QDQ, 0.012 and 4e-5 for the dynamic
# form; the int8 models differ from the float model by 3.5e-3 and 1.4e-4.
TOLERANCE = {
    "qdq": {"rtol": 0, "atol": 0.25, "nmse": 1e-3},
    "dynamic": {"rtol": 0, "atol": 0.05, "nmse": 1e-4},
    # Loom computes these bit for bit as ORT does (its com.microsoft
    # kernels requantize in float32 too); what is left is the float tail of
    # the detector (box decoding after DequantizeLinear) summed in another
    # order.
    "qop": {"rtol": 1e-5, "atol": 1e-4},
}
CNNS = ("mobilenet_v2_opset13", "squeezenet1_1_opset13", "yolov8_tiny_opset13")
WHY = ("int8: where a runtime rounds an intermediate value to the neighbouring "
       "quantisation step, later layers carry the difference on; see "
       "tests/models/quantize_models.py")


class BertCalibration(CalibrationDataReader):
    """Random token ids and attention masks (some sequences padded at the
    end) in a few shapes, for MinMax calibration."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.batches = []
        for batch, seq in ((2, 32), (1, 64), (2, 16), (1, 128)):
            ids = rng.integers(0, VOCAB, (batch, seq), dtype=np.int64)
            mask = np.ones((batch, seq), dtype=np.int64)
            mask[0, rng.integers(seq // 2, seq):] = 0
            self.batches.append({"input_ids": ids, "attention_mask": mask})
        self.it = iter(self.batches)

    def get_next(self):
        return next(self.it, None)


class ImageCalibration(CalibrationDataReader):
    """The data set's first image and noisy copies of it."""

    def __init__(self, name, image):
        rng = np.random.default_rng(0)
        self.it = iter([{name: image + rng.standard_normal(image.shape).astype(np.float32) * s}
                        for s in (0.0, 0.1, 0.2, 0.3)])

    def get_next(self):
        return next(self.it, None)


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t


def write_data_sets(sess, src_dir, test_dir):
    """Copies the source's data set inputs and writes @sess's outputs for them."""
    names = [i.name for i in sess.get_inputs()]
    k = 0
    while os.path.isdir(os.path.join(src_dir, f"test_data_set_{k}")):
        src = os.path.join(src_dir, f"test_data_set_{k}")
        dst = os.path.join(test_dir, f"test_data_set_{k}")
        os.makedirs(dst, exist_ok=True)
        feeds = {}
        for i, name in enumerate(names):
            shutil.copyfile(os.path.join(src, f"input_{i}.pb"), os.path.join(dst, f"input_{i}.pb"))
            feeds[name] = numpy_helper.to_array(load_pb(os.path.join(src, f"input_{i}.pb")))
        for j, (out, y) in enumerate(zip(sess.get_outputs(), sess.run(None, feeds))):
            t = numpy_helper.from_array(np.ascontiguousarray(y), out.name)
            with open(os.path.join(dst, f"output_{j}.pb"), "wb") as f:
                f.write(t.SerializeToString())
        k += 1


def write_references(src_dir, test_dir, form):
    """The data sets with ORT's outputs (unoptimized), and the tolerance."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(os.path.join(test_dir, "model.onnx"), opts,
                                providers=["CPUExecutionProvider"])
    write_data_sets(sess, src_dir, test_dir)
    with open(os.path.join(test_dir, "tolerance"), "w") as f:
        f.write(f"# {WHY}\n")
        f.writelines(f"{key} {value:g}\n" for key, value in TOLERANCE[form].items())


def quantize(models_dir, form, source=SOURCE):
    src_dir = os.path.join(models_dir, source)
    test_dir = os.path.join(models_dir, source.replace("_opset", f"_int8_{form}_opset"))
    os.makedirs(test_dir, exist_ok=True)
    dst = os.path.join(test_dir, "model.onnx")
    # ORT's recommended first step: shape inference and its basic (ONNX-only)
    # graph optimisations such as constant folding.
    src = os.path.join(test_dir, "preprocessed.onnx")
    quant_pre_process(os.path.join(src_dir, "model.onnx"), src, skip_symbolic_shape=True)
    if form == "qdq":
        quantize_static(src, dst, BertCalibration(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
    elif form == "qop":
        name = onnx.load(src).graph.input[0].name
        image = numpy_helper.to_array(load_pb(os.path.join(src_dir, "test_data_set_0",
                                                           "input_0.pb")))
        quantize_static(src, dst, ImageCalibration(name, image),
                        quant_format=QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    else:
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
    os.remove(src)
    onnx.checker.check_model(onnx.load(dst))
    write_references(src_dir, test_dir, form)
    print(f"quantized {test_dir}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models_dir")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.models_dir, SOURCE, "model.onnx")):
        sys.exit(f"{args.models_dir}/{SOURCE}/model.onnx missing: run export_torchvision.py first")
    for form in ("qdq", "dynamic"):
        quantize(args.models_dir, form)
    for cnn in CNNS:
        quantize(args.models_dir, "qop", cnn)


if __name__ == "__main__":
    main()
