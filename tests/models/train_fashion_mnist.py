#!/usr/bin/python3
"""Train a small CNN on Fashion-MNIST and export it to ONNX (fp32).

Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) and
writes into OUT_DIR:
  fashion_mnist.onnx     the fp32 model, input "x" [batch,1,28,28] (pixels/255),
                         output "logits" [batch,10]
  t10k-images.u8         the 10,000 test images, raw uint8, 28x28 each
  t10k-labels.u8         their labels, one byte each
  calib/NNN.npy          256 training images for loomctl quantize --calibrate,
                         as float32 [32,1,28,28] batches

The network uses only layers the card's int8 CUs run once quantized: 3x3
convolutions (stride 2 instead of pooling) with ReLU, and the classifier as a
7x7 convolution, so that the whole quantized graph is one segment on the card.
Two epochs take about a minute on two cores.

usage: train_fashion_mnist.py OUT_DIR [--epochs N] [--seed S]
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def load_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),             # 28x28
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),  # 14x14
            nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.ReLU(),  # depthwise
            nn.Conv2d(32, 48, 3, stride=2, padding=1), nn.ReLU(),  # 7x7
            nn.Conv2d(48, 10, 7),                                  # classifier, 1x1
            nn.Flatten())

    def forward(self, x):
        return self.body(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.makedirs(os.path.join(args.out, "calib"), exist_ok=True)

    xtr = load_idx("train-images-idx3-ubyte.gz")
    ytr = load_idx("train-labels-idx1-ubyte.gz")
    xte = load_idx("t10k-images-idx3-ubyte.gz")
    yte = load_idx("t10k-labels-idx1-ubyte.gz")
    xtr_t = torch.from_numpy(xtr.astype(np.float32) / 255.0).unsqueeze(1)
    ytr_t = torch.from_numpy(ytr.astype(np.int64))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=args.epochs * (len(xtr) // 128))
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr))
        for i in range(len(xtr) // 128):
            idx = perm[i * 128:(i + 1) * 128]
            opt.zero_grad()
            loss = loss_fn(net(xtr_t[idx]), ytr_t[idx])
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)

    net.eval()
    with torch.no_grad():
        xte_t = torch.from_numpy(xte.astype(np.float32) / 255.0).unsqueeze(1)
        pred = net(xte_t).argmax(1).numpy()
    print(f"fp32 test accuracy (PyTorch): {100.0 * (pred == yte).mean():.2f}%")

    path = os.path.join(args.out, "fashion_mnist.onnx")
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), path, input_names=["x"],
                      output_names=["logits"], opset_version=13,
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    xte.tofile(os.path.join(args.out, "t10k-images.u8"))
    yte.tofile(os.path.join(args.out, "t10k-labels.u8"))
    pick = np.random.permutation(len(xtr))[:256]
    for b in range(8):
        batch = xtr[pick[b * 32:(b + 1) * 32]].astype(np.float32)[:, None] / 255.0
        np.save(os.path.join(args.out, "calib", f"{b:03d}.npy"), batch)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
