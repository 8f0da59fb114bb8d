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
"""
import argparse
import os
import sys

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper


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


MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(), (3, 224, 224)),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), (3, 224, 224)),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(), (3, 224, 224)),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(), (3, 224, 224)),
    "shufflenet_v2_x1_0": (lambda: torchvision.models.shufflenet_v2_x1_0(), (3, 224, 224)),
    "mlp": (MLP, (3, 32, 32)),
    "encoder_mlp": (EncoderMLP, (16, 64)),
    "conv_silu_mish": (ConvSiLUMish, (3, 32, 32)),
}


def randomize_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def save_tensor(array, name, path):
    tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())


def export(name, opset, out_dir):
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
    parser.add_argument("--opsets", default="11,13")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in args.models.split(","):
        if name not in MODELS:
            sys.exit(f"unknown model '{name}'; known: {', '.join(MODELS)}")
        for opset in (int(o) for o in args.opsets.split(",")):
            export(name, opset, args.out_dir)


if __name__ == "__main__":
    main()
