#!/usr/bin/python3
"""Write loomd's example model repository: small ONNX models built with onnx.helper.

Run with Debian's Python (/usr/bin/python3, python3-onnx, python3-numpy):

    make_repo.py OUT [--bench]

    OUT/simple/      Triton's "simple" example: INPUT0, INPUT1 int32 [N,16] ->
                     OUTPUT0 = sum, OUTPUT1 = difference (dynamic batching)
    OUT/tiny/1, 2/   float [N,16]: version 1 y = 2x + 1, version 2 y = 3x + 1;
                     policy "all" so both serve (the default is the latest)
    OUT/small_cnn/   an MNIST-sized CNN [N,1,28,28] -> 10 softmax scores, batching on
    OUT/small_cnn_nobatch/  the same file with batching off (for the benchmark)
    OUT/int8_mlp/    QuantizeLinear -> QLinearMatMul -> DequantizeLinear, the int8
                     path the emulated card runs when it exists

With --bench, also (for make bench-loomd only: 59 MB each):

    OUT/cnn_fc4096/  the MNIST-sized CNN with an AlexNet-style classifier
                     (1568 -> 4096 -> 2048 -> 10), batching on
    OUT/cnn_fc4096_nobatch/  the same file with batching off

Weights come from a fixed seed, so every build writes identical files; each
config.json pins the sha256 of its model files, which loomd checks on load.
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def save(model, out, name, version, config):
    model = helper.make_model(model, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="loom-make-repo")
    model.ir_version = 7
    onnx.checker.check_model(model)
    vdir = os.path.join(out, name, str(version))
    os.makedirs(vdir, exist_ok=True)
    path = os.path.join(vdir, "model.onnx")
    data = model.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    config.setdefault("sha256", {})[f"{version}/model.onnx"] = hashlib.sha256(data).hexdigest()
    return config


def write_config(out, name, config):
    with open(os.path.join(out, name, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def simple(out):
    x0 = helper.make_tensor_value_info("INPUT0", TensorProto.INT32, ["N", 16])
    x1 = helper.make_tensor_value_info("INPUT1", TensorProto.INT32, ["N", 16])
    y0 = helper.make_tensor_value_info("OUTPUT0", TensorProto.INT32, ["N", 16])
    y1 = helper.make_tensor_value_info("OUTPUT1", TensorProto.INT32, ["N", 16])
    g = helper.make_graph([helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
                           helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])],
                          "simple", [x0, x1], [y0, y1])
    cfg = {"max_batch_size": 8,
           "dynamic_batching": {"max_queue_delay_microseconds": 100}}
    write_config(out, "simple", save(g, out, "simple", 1, cfg))


def tiny(out):
    cfg = {"max_batch_size": 64, "version_policy": {"all": {}}}
    for version, scale in ((1, 2.0), (2, 3.0)):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16])
        a = numpy_helper.from_array(np.array([scale], np.float32), "a")
        b = numpy_helper.from_array(np.array([1.0], np.float32), "b")
        g = helper.make_graph([helper.make_node("Mul", ["x", "a"], ["t"]),
                               helper.make_node("Add", ["t", "b"], ["y"])],
                              "tiny", [x], [y], [a, b])
        cfg = save(g, out, "tiny", version, cfg)
    write_config(out, "tiny", cfg)


def small_cnn_graph(name="small_cnn", hidden=(512,)):
    """An MNIST-sized CNN: two strided conv layers and a fully connected head.

    The head's weights are what make batching pay on a CPU: at batch 1 each
    layer is a matrix-vector product that streams its whole weight matrix per
    request; batched, each weight is loaded once for all rows. The default head
    (1568x512, 3 MB) fits in cache, so little is saved; hidden=(4096, 2048)
    (59 MB) does not, and batch 1 is bound by memory bandwidth."""
    rng = np.random.default_rng(7)

    def w(name, *shape):
        fan_in = np.prod(shape[1:]) if len(shape) > 1 else shape[0]
        return numpy_helper.from_array(
            (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name)

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])
    y = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10])
    inits = [w("w1", 16, 1, 3, 3), w("b1", 16), w("w2", 32, 16, 3, 3), w("b2", 32)]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Flatten", ["r2"], ["flat"]),
    ]
    # Layer names stay those of the original two-layer head (fc1, fc2), so the
    # default model's file, and the sha256 users may have pinned, do not change.
    prev, src, sizes = 32 * 7 * 7, "flat", list(hidden) + [10]
    for i, n in enumerate(sizes, start=1):
        inits += [w(f"fc{i}", n, prev), w(f"fc{i}b", n)]
        last = i == len(sizes)
        out = "logits" if last else ("h" if i == 1 else f"h{i}")
        nodes.append(helper.make_node("Gemm", [src, f"fc{i}", f"fc{i}b"], [out], transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [out + "r"]))
            src = out + "r"
        prev = n
    nodes.append(helper.make_node("Softmax", ["logits"], ["scores"], axis=1))
    return helper.make_graph(nodes, name, [x], [y], inits)


def batching_pair(out, name, graph):
    """NAME with dynamic batching and NAME_nobatch without: one file, two configs."""
    cfg = {"max_batch_size": 32,
           "dynamic_batching": {"preferred_batch_size": [16, 32],
                                "max_queue_delay_microseconds": 500}}
    write_config(out, name, save(graph, out, name, 1, cfg))
    cfg = {"max_batch_size": 32}
    write_config(out, name + "_nobatch", save(graph, out, name + "_nobatch", 1, cfg))


def small_cnn(out):
    batching_pair(out, "small_cnn", small_cnn_graph())


def cnn_fc4096(out):
    batching_pair(out, "cnn_fc4096", small_cnn_graph("cnn_fc4096", (4096, 2048)))


def int8_mlp(out):
    rng = np.random.default_rng(11)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 32])
    w = rng.integers(-127, 128, size=(64, 32), dtype=np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "xs"),
        numpy_helper.from_array(np.array(0, np.int8), "xz"),
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.array(0.01, np.float32), "ws"),
        numpy_helper.from_array(np.array(0, np.int8), "wz"),
        numpy_helper.from_array(np.array(0.5, np.float32), "ys"),
        numpy_helper.from_array(np.array(0, np.int8), "yz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("QLinearMatMul", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
    ]
    g = helper.make_graph(nodes, "int8_mlp", [x], [y], inits)
    # "auto" lets the planner place it (the emulated card once it exists; the CPU now).
    cfg = {"max_batch_size": 16, "instance_group": [{"count": 1, "kind": "KIND_AUTO"}],
           "parameters": {"device": "auto"},
           "dynamic_batching": {"max_queue_delay_microseconds": 200}}
    write_config(out, "int8_mlp", save(g, out, "int8_mlp", 1, cfg))


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--bench"):
        sys.exit("usage: make_repo.py OUT [--bench]")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    simple(out)
    tiny(out)
    small_cnn(out)
    int8_mlp(out)
    if sys.argv[2:] == ["--bench"]:
        cnn_fc4096(out)


if __name__ == "__main__":
    main()
