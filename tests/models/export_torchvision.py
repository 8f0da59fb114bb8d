#!/usr/bin/python3
"""Export real architectures to ONNX test directories, with PyTorch's outputs.

Run with Debian's Python (/usr/bin/python3: python3-torch, python3-torchvision,
python3-onnx). For each model and opset it writes

    OUT/<model>_opset<N>/model.onnx                 dynamic batch dimension
    OUT/<model>_opset<N>/test_data_set_0/input_0.pb  batch 2
    OUT/<model>_opset<N>/test_data_set_0/output_0.pb PyTorch's result
    OUT/<model>_opset<N>/test_data_set_1/...         batch 1

which is the layout of ONNX's backend tests, so `loom-conformance OUT` checks
Loom against PyTorch. Weights are random with a fixed seed (no network here to
fetch pretrained ones); BatchNorm statistics are randomized too, so that folding
and normalization are exercised with non-trivial values.

Models with their own exporter (EXPORTERS) choose their inputs and data sets:
bert_encoder (ids + mask, dynamic batch and sequence), and from arch_zoo.py
yolov8_tiny (images with dynamic batch, height and width; 2x3x256x256 and
1x3x320x192; BatchNorm statistics measured on images) and byte_cnn (int64
bytes, dynamic batch and length), these two at opsets 13 and 17 (OPSETS), the
rest at 11 and 13. A test directory may get a `tolerance` file for
loom-conformance (yolov8_tiny: box coordinates in pixels). quantize_models.py
(the venv's Python) adds int8 forms of bert_encoder_opset13 afterwards.
"""
import argparse
import os
import sys

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arch_zoo  # noqa: E402  (tests/models/arch_zoo.py)


class MLP(torch.nn.Module):
    """A small MLP head: Flatten, Gemm, Relu, Gemm, Softmax."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(3 * 32 * 32, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 128),
            torch.nn.GELU(),
            torch.nn.Linear(128, 10),
            torch.nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.net(x)


class EncoderMLP(torch.nn.Module):
    """A transformer block's feed-forward half on [batch, 16, 64] tokens:
    LayerNorm, Linear, GELU (tanh form), Linear, residual, LayerNorm, Linear,
    GELU (erf). Before opset 17 the exporter writes each LayerNorm and GELU
    out as elementwise chains, which Loom's load-time fusions rebuild."""

    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(64)
        self.fc1 = torch.nn.Linear(64, 256)
        self.fc2 = torch.nn.Linear(256, 64)
        self.ln2 = torch.nn.LayerNorm(64)
        self.head = torch.nn.Linear(64, 32)

    def forward(self, x):
        y = self.fc2(torch.nn.functional.gelu(self.fc1(self.ln1(x)), approximate="tanh"))
        return torch.nn.functional.gelu(self.head(self.ln2(x + y)))


class ConvSiLUMish(torch.nn.Module):
    """Detector-style blocks: Conv, BatchNorm, SiLU (YOLOv5/v8) and Conv,
    BatchNorm, Mish (YOLOv4), which exporters write as x * Sigmoid(x) and
    x * Tanh(Softplus(x))."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.b1 = torch.nn.BatchNorm2d(16)
        self.c2 = torch.nn.Conv2d(16, 16, 3, stride=2, padding=1, bias=False)
        self.b2 = torch.nn.BatchNorm2d(16)

    def forward(self, x):
        x = torch.nn.functional.silu(self.b1(self.c1(x)))
        return torch.nn.functional.mish(self.b2(self.c2(x)))


class BertEncoder(torch.nn.Module):
    """A BERT-style encoder written the way Hugging Face's BertModel is:
    word and position embeddings, LayerNorm, and per layer Q/K/V projections,
    scores scaled by 1/sqrt(head dim) plus the additive mask
    (1 - mask) * -10000, Softmax, context, output projection, residual Add +
    LayerNorm, a GELU (erf) feed-forward and another residual Add + LayerNorm;
    a tanh pooler on the first token. Inputs are token ids and an attention
    mask, both [batch, sequence] with dynamic batch and sequence."""

    VOCAB, HIDDEN, HEADS, LAYERS, FFN, MAX_POS = 1000, 256, 4, 4, 1024, 512

    def __init__(self):
        super().__init__()
        h = self.HIDDEN
        self.word = torch.nn.Embedding(self.VOCAB, h)
        self.pos = torch.nn.Embedding(self.MAX_POS, h)
        self.ln0 = torch.nn.LayerNorm(h, eps=1e-12)
        self.layers = torch.nn.ModuleList()
        for _ in range(self.LAYERS):
            self.layers.append(torch.nn.ModuleDict({
                "q": torch.nn.Linear(h, h), "k": torch.nn.Linear(h, h),
                "v": torch.nn.Linear(h, h), "o": torch.nn.Linear(h, h),
                "ln1": torch.nn.LayerNorm(h, eps=1e-12),
                "f1": torch.nn.Linear(h, self.FFN), "f2": torch.nn.Linear(self.FFN, h),
                "ln2": torch.nn.LayerNorm(h, eps=1e-12)}))
        self.pool = torch.nn.Linear(h, h)

    def forward(self, input_ids, attention_mask):
        b, s = input_ids.shape
        nh, hd = self.HEADS, self.HIDDEN // self.HEADS
        pos = torch.arange(s, dtype=torch.long).unsqueeze(0)
        x = self.ln0(self.word(input_ids) + self.pos(pos))
        ext = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for L in self.layers:
            def heads(t):
                return t.view(b, s, nh, hd).permute(0, 2, 1, 3)
            q, k, v = heads(L["q"](x)), heads(L["k"](x)), heads(L["v"](x))
            scores = torch.matmul(q, k.transpose(-1, -2)) / (hd ** 0.5) + ext
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
            ctx = ctx.permute(0, 2, 1, 3).reshape(b, s, self.HIDDEN)
            x = L["ln1"](L["o"](ctx) + x)
            x = L["ln2"](L["f2"](torch.nn.functional.gelu(L["f1"](x))) + x)
        return x, torch.tanh(self.pool(x[:, 0]))


def bert_inputs(batch, seq, gen):
    ids = torch.randint(0, BertEncoder.VOCAB, (batch, seq), generator=gen)
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[0, seq * 3 // 4:] = 0  # padding at the end of the first sequence
    return ids, mask


def export_sets(model, test_dir, opset, input_names, output_names, dynamic_axes, data_sets,
                tolerance=None):
    """Exports @model to test_dir/model.onnx (traced on the first data set)
    and writes test_data_set_K with each data set's inputs (a tuple of
    tensors) and PyTorch's outputs. @tolerance, (why, {key: value}), becomes
    the directory's `tolerance` file for loom-conformance."""
    os.makedirs(test_dir, exist_ok=True)
    path = os.path.join(test_dir, "model.onnx")
    torch.onnx.export(
        model, data_sets[0], path, opset_version=opset,
        input_names=input_names, output_names=output_names,
        dynamic_axes=dynamic_axes, do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(path))
    for k, inputs in enumerate(data_sets):
        with torch.no_grad():
            outs = model(*inputs)
        if isinstance(outs, torch.Tensor):
            outs = (outs,)
        data_dir = os.path.join(test_dir, f"test_data_set_{k}")
        os.makedirs(data_dir, exist_ok=True)
        for i, (x, iname) in enumerate(zip(inputs, input_names)):
            save_tensor(x.numpy(), iname, os.path.join(data_dir, f"input_{i}.pb"))
        for j, (y, oname) in enumerate(zip(outs, output_names)):
            save_tensor(y.numpy(), oname, os.path.join(data_dir, f"output_{j}.pb"))
    if tolerance:
        why, limits = tolerance
        with open(os.path.join(test_dir, "tolerance"), "w") as f:
            f.write(f"# {why}\n")
            f.writelines(f"{key} {value:g}\n" for key, value in limits.items())
    print(f"exported {test_dir}")


def export_bert(name, opset, out_dir):
    """BertEncoder: two inputs, two outputs, dynamic batch and sequence; data
    sets of batch 2 x 32 tokens and batch 1 x 128 tokens (the benchmark's)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = BertEncoder().eval()
    dyn = {0: "batch", 1: "sequence"}
    export_sets(model, os.path.join(out_dir, f"{name}_opset{opset}"), opset,
                ["input_ids", "attention_mask"], ["last_hidden", "pooled"],
                {"input_ids": dyn, "attention_mask": dyn, "last_hidden": dyn,
                 "pooled": {0: "batch"}},
                [bert_inputs(2, 32, gen), bert_inputs(1, 128, gen)])


def export_yolo(name, opset, out_dir):
    """YoloV8Tiny: images [batch, 3, height, width] with all three dims
    dynamic (multiples of 32), detections [batch, 4 + classes, anchors];
    data sets of 2 x 256x256 and 1 x 320x192 (the benchmark's)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = arch_zoo.YoloV8Tiny()
    calibrate_batchnorm(model, torch.rand((4, 3, 256, 256), generator=gen), gen)
    images = [(torch.rand((2, 3, 256, 256), generator=gen),),
              (torch.rand((1, 3, 320, 192), generator=gen),)]
    export_sets(model, os.path.join(out_dir, f"{name}_opset{opset}"), opset,
                ["images"], ["detections"],
                {"images": {0: "batch", 2: "height", 3: "width"},
                 "detections": {0: "batch", 2: "anchors"}}, images, YOLO_TOLERANCE)


# Box centres near the image's edge are differences of like terms (anchor
# centre - predicted distance, both ~stride): float32 rounding through ~60
# layers moves them by ~1e-4 pixel, far beyond rtol 1e-3 of a value near 0.
# Loom and ONNX Runtime both need atol ~1e-4 here; 1e-3 px leaves a margin
# and is still tight for the [0, 1] class scores.
YOLO_TOLERANCE = ("box coordinates in pixels cancel near the image edge (anchor - distance): "
                  "absolute error in pixels; see export_torchvision.py",
                  {"rtol": 1e-3, "atol": 1e-3})


def export_byte_cnn(name, opset, out_dir):
    """ByteCNN: int64 byte values [batch, length], both dims dynamic, logits
    [batch, classes]; data sets of 2 x 64 and 1 x 200 bytes."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = arch_zoo.ByteCNN().eval()
    ids = [(torch.randint(0, 256, (2, 64), generator=gen),),
           (torch.randint(0, 256, (1, 200), generator=gen),)]
    export_sets(model, os.path.join(out_dir, f"{name}_opset{opset}"), opset,
                ["bytes"], ["logits"],
                {"bytes": {0: "batch", 1: "length"}, "logits": {0: "batch"}}, ids)


MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(), (3, 224, 224)),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), (3, 224, 224)),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(), (3, 224, 224)),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(), (3, 224, 224)),
    "shufflenet_v2_x1_0": (lambda: torchvision.models.shufflenet_v2_x1_0(), (3, 224, 224)),
    "mlp": (MLP, (3, 32, 32)),
    "encoder_mlp": (EncoderMLP, (16, 64)),
    "conv_silu_mish": (ConvSiLUMish, (3, 32, 32)),
    "bert_encoder": (BertEncoder, None),
    "yolov8_tiny": (arch_zoo.YoloV8Tiny, None),
    "byte_cnn": (arch_zoo.ByteCNN, None),
}

# Models with their own export function (several inputs, other data sets).
EXPORTERS = {"bert_encoder": export_bert, "yolov8_tiny": export_yolo,
             "byte_cnn": export_byte_cnn}

# Opsets each model is exported at unless --opsets says otherwise.
OPSETS = {"yolov8_tiny": (13, 17), "byte_cnn": (13, 17)}
DEFAULT_OPSETS = (11, 13)


def randomize_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def calibrate_batchnorm(model, images, gen):
    """Sets every BatchNorm's statistics to those of its input on @images, as
    training would, and randomizes its scale and shift; leaves @model in eval
    mode. With random weights and made-up statistics a deep network's features
    fade to constants (a detector's outputs then repeat across most anchors);
    with matching statistics they stay unit-scale and vary across the image."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def save_tensor(array, name, path):
    tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())


def export(name, opset, out_dir):
    if name in EXPORTERS:
        return EXPORTERS[name](name, opset, out_dir)
    factory, shape = MODELS[name]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = factory().eval()
    randomize_batchnorm(model, gen)
    test_dir = os.path.join(out_dir, f"{name}_opset{opset}")
    os.makedirs(test_dir, exist_ok=True)
    example = torch.randn((2,) + shape, generator=gen)
    path = os.path.join(test_dir, "model.onnx")
    torch.onnx.export(
        model, example, path, opset_version=opset,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(path))
    for i, batch in enumerate((2, 1)):
        x = torch.randn((batch,) + shape, generator=gen)
        with torch.no_grad():
            y = model(x).numpy()
        data_dir = os.path.join(test_dir, f"test_data_set_{i}")
        os.makedirs(data_dir, exist_ok=True)
        save_tensor(x.numpy(), "input", os.path.join(data_dir, "input_0.pb"))
        save_tensor(y, "output", os.path.join(data_dir, "output_0.pb"))
    print(f"exported {test_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--opsets", help="comma-separated; default: each model's own "
                        f"({DEFAULT_OPSETS} unless listed in OPSETS)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in args.models.split(","):
        if name not in MODELS:
            sys.exit(f"unknown model '{name}'; known: {', '.join(MODELS)}")
        opsets = ([int(o) for o in args.opsets.split(",")] if args.opsets
                  else OPSETS.get(name, DEFAULT_OPSETS))
        for opset in opsets:
            export(name, opset, args.out_dir)


if __name__ == "__main__":
    main()
